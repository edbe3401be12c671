"""The per-state memo of rendered answers: kept when asked for twice, bounded, oldest out first."""

from __future__ import annotations

from dataclasses import dataclass

from serving.memo import Memo


@dataclass(frozen=True)
class _Answer:
    nbytes: int


def _put_twice(memo: Memo[_Answer], key: str, answer: _Answer) -> None:
    assert memo.put(key, answer) is False  # the first time, only noted
    assert memo.put(key, answer) is True


def test_an_answer_is_kept_the_second_time_it_is_asked_for() -> None:
    memo: Memo[_Answer] = Memo(entries=3, nbytes=1_000)
    assert memo.put("a", _Answer(10)) is False
    assert (memo.get("a"), len(memo), memo.nbytes) == (None, 0, 0)
    assert memo.put("a", _Answer(10)) is True
    assert memo.get("a") == _Answer(10) and memo.nbytes == 10
    # Noted keys are forgotten after `entries` others: one-off requests are never kept.
    for key in "bcd":
        assert memo.put(key, _Answer(10)) is False
    assert memo.put("e", _Answer(10)) is False
    assert memo.put("b", _Answer(10)) is False  # "b" was forgotten when "e" came
    assert len(memo) == 1


def test_the_oldest_entries_go_first_when_the_count_is_reached() -> None:
    memo: Memo[_Answer] = Memo(entries=3, nbytes=1_000)
    for key in "abcd":
        _put_twice(memo, key, _Answer(10))
    assert [memo.get(key) is not None for key in "abcd"] == [False, True, True, True]
    assert (len(memo), memo.nbytes) == (3, 30)


def test_the_byte_bound_holds_and_an_answer_over_it_is_not_kept() -> None:
    memo: Memo[_Answer] = Memo(entries=100, nbytes=100)
    _put_twice(memo, "a", _Answer(60))
    _put_twice(memo, "b", _Answer(30))
    _put_twice(memo, "c", _Answer(30))  # 120 bytes: "a" goes
    assert (memo.get("a"), len(memo), memo.nbytes) == (None, 2, 60)
    assert memo.put("huge", _Answer(101)) is False
    assert memo.put("huge", _Answer(101)) is False
    assert memo.get("huge") is None and memo.nbytes == 60


def test_a_key_keeps_its_first_answer() -> None:
    memo: Memo[_Answer] = Memo(entries=10, nbytes=1_000)
    first, second = _Answer(5), _Answer(7)
    _put_twice(memo, "a", first)
    assert memo.put("a", second) is False
    assert memo.get("a") is first and memo.nbytes == 5
