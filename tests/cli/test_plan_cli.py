"""``dealer-risk plan`` as the contract says: capacity, paths, probabilities, determinism."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from data.settings import get_settings
from data.store import open_store
from planning.plans import plan_info, read_plan_rows
from tests.homes import home_settings
from tests.serving.conftest import AS_OF, ServedHome, copy_home
from tests.serving.conftest import served_home as served_home  # the session fixture

runner = CliRunner()


@pytest.fixture
def home(served_home: ServedHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the session home (trained, promoted, scored) as DEALER_RISK_HOME."""
    copied = copy_home(served_home.home, tmp_path / "home")
    with home_settings(copied, patch=monkeypatch):
        yield copied


def _plan(out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", "--as-of", AS_OF, "--out", str(out), *extra])
    return result.exit_code, result.output


def test_plan_writes_and_stores_a_plan_under_the_capacity(home: Path, tmp_path: Path) -> None:
    capacity = tmp_path / "capacity.csv"
    capacity.write_text("field_division,inspections\nHouston,30\nPhoenix,5\n")
    code, output = _plan(tmp_path / "plan.csv", "--capacity", str(capacity), "--seed", "3")
    assert code == 0, output
    plan_id = int(output.strip().splitlines()[-1])
    plan = pd.read_csv(tmp_path / "plan.csv")
    assert {"license_number", "field_division", "selected_by", "selection_probability",
            "score", "priority"} <= set(plan.columns)
    counts = plan.groupby("field_division").size().to_dict()
    assert counts["Houston"] == 30 and counts["Phoenix"] == 5
    # Columbus is not in the file: the default share, said so.
    assert "no capacity in the file for Columbus" in output
    assert plan["selection_probability"].between(0, 1, inclusive="right").all()
    assert set(plan["selected_by"]) == {"risk", "exploration"}
    for _, rows in plan.groupby("field_division"):
        assert rows["priority"].sort_values().tolist() == list(range(1, len(rows) + 1))
        risk = rows[rows["selected_by"] == "risk"]
        assert (risk["selection_probability"] == 1).all()
    # Stored as written, with its options and seed.
    engine = open_store(get_settings().database_url)
    try:
        info = plan_info(engine, plan_id)
        stored = read_plan_rows(engine, plan_id)
    finally:
        engine.dispose()
    assert info is not None and info.seed == 3 and info.options["capacity"] == {
        "Houston": 30, "Phoenix": 5}
    assert sorted(stored["license_number"]) == sorted(plan["license_number"])
    assert info.summary["totals"]["planned"] == len(plan)


def test_the_same_seed_gives_the_same_plan(home: Path, tmp_path: Path) -> None:
    outs = [tmp_path / f"plan-{i}.csv" for i in range(3)]
    ids = []
    for out, seed in zip(outs, ("1", "1", "2"), strict=True):
        code, output = _plan(out, "--seed", seed)
        assert code == 0, output
        ids.append(int(output.strip().splitlines()[-1]))
    assert ids[0] < ids[1] < ids[2]  # a new plan each time, never a replaced one
    first, again, other = (pd.read_csv(out).drop(columns=["plan_id"]) for out in outs)
    pd.testing.assert_frame_equal(first, again)
    explored = [set(f.loc[f["selected_by"] == "exploration", "license_number"])
                for f in (first, other)]
    assert explored[0] != explored[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--exploration-share", "0"], "--exploration-share must be above 0"),
    (["--period-days", "0"], "--period-days must be from 1"),
])
def test_bad_options_exit_2_with_one_line(home: Path, tmp_path: Path, args: list[str],
                                          message: str) -> None:
    code, output = _plan(tmp_path / "plan.csv", *args)
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "plan.csv").exists()


def test_a_date_before_any_list_says_to_score_first(home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "--as-of", "2020-01-01", "--out",
                                 str(tmp_path / "plan.csv")])
    assert result.exit_code == 2
    assert "has no stored list as of 2020-01-01 or earlier" in result.output
    assert "dealer-risk score --as-of 2020-01-01" in result.output
