"""The per-state memo of rendered answers: bounded by count and by bytes, oldest out first."""

from __future__ import annotations

from dataclasses import dataclass

from serving.state import Memo


@dataclass(frozen=True)
class _Answer:
    nbytes: int


def test_the_oldest_entries_go_first_when_the_count_is_reached() -> None:
    memo: Memo[_Answer] = Memo(entries=3, nbytes=1_000)
    for key in "abcd":
        memo.put(key, _Answer(10))
    assert [memo.get(key) is not None for key in "abcd"] == [False, True, True, True]
    assert (len(memo), memo.nbytes) == (3, 30)


def test_the_byte_bound_holds_and_an_answer_over_it_is_not_kept() -> None:
    memo: Memo[_Answer] = Memo(entries=100, nbytes=100)
    memo.put("a", _Answer(60))
    memo.put("b", _Answer(30))
    memo.put("c", _Answer(30))  # 120 bytes: "a" goes
    assert (memo.get("a"), len(memo), memo.nbytes) == (None, 2, 60)
    memo.put("huge", _Answer(101))
    assert memo.get("huge") is None and memo.nbytes == 60


def test_a_key_keeps_its_first_answer() -> None:
    memo: Memo[_Answer] = Memo(entries=10, nbytes=1_000)
    first, second = _Answer(5), _Answer(7)
    memo.put("a", first)
    memo.put("a", second)
    assert memo.get("a") is first and memo.nbytes == 5
