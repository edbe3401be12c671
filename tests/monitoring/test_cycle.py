"""The full cycle on both stores: plan, simulated outcomes ingested, monitor, report.

The champion of the session's world is used on each store (SQLite, PostgreSQL): the world
is ingested there, scored, planned, its outcomes drawn from the truth and ingested; then
``monitor`` must report exactly the ingested counts, and ``report`` must publish only
suppressed aggregates and nothing that identifies a licensee.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from data.contract import recovered_abroad
from data.store import open_store
from data.store.read import read_tables
from monitoring.report import COUNT_COLUMNS, MIN_DENOMINATOR, RATES, SMALL_COUNT, SUPPRESSED
from tests.monitoring.conftest import AFTER, MIDWAY, Cycle


def test_monitor_reports_exactly_the_ingested_counts_per_path(cycle: Cycle) -> None:
    (plan,) = cycle.monitor["plans"]
    assert plan["plan_id"] == str(cycle.plan["plan_id"].iloc[0])
    assert plan["window_closed"] is True
    outcomes = cycle.outcomes.merge(cycle.plan[["license_number", "selected_by", "score"]],
                                    on="license_number")
    outcomes["serious"] = outcomes["outcome"].isin(["warning_conference", "revocation"])
    for path in ("risk", "exploration"):
        figures = plan["by_selection"][path]
        ours = outcomes[outcomes["selected_by"] == path]
        planned = int((cycle.plan["selected_by"] == path).sum())
        assert figures["planned"] == planned
        assert figures["inspected"] == len(ours)
        assert figures["serious"] == int(ours["serious"].sum())
        assert figures["not_inspected"] == planned - len(ours)
        assert figures["pending"] == 0
        assert figures["predicted_serious"] == pytest.approx(ours["score"].astype(float).sum())
        hit = figures["hit_rate"]
        assert hit["ci_low"] <= hit["value"] <= hit["ci_high"]
    # Most planned licensees were inspected, not all.
    inspected = len(cycle.outcomes) / len(cycle.plan)
    assert 0.8 < inspected < 0.97
    estimate = plan["estimated_serious_rate"]
    assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]
    assert {"drift", "retrain_recommended", "reasons"} <= set(cycle.monitor)


def _published_files(report: Path) -> dict[str, pd.DataFrame]:
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
            for path in sorted(report.glob("*.csv"))}


def test_every_small_count_and_every_rate_on_a_small_denominator_is_suppressed(
    cycle: Cycle,
) -> None:
    files = _published_files(cycle.report)
    assert {"by_year", "by_state", "by_field_division", "by_license_type",
            "plan_performance"} <= set(files)
    small_seen = suppressed_seen = 0
    for name, frame in files.items():
        for column in COUNT_COLUMNS:
            if column not in frame:
                continue
            for cell in frame[column]:
                assert cell == SMALL_COUNT or (cell.isdigit() and not 1 <= int(cell) <= 9), \
                    (name, column, cell)
                small_seen += cell == SMALL_COUNT
        for rate, (_, denominator) in RATES.items():
            if rate not in frame or denominator not in frame:
                continue
            for value, base in zip(frame[rate], frame[denominator], strict=True):
                small = base == SMALL_COUNT or int(base) < MIN_DENOMINATOR
                assert (value == SUPPRESSED) == small, (name, rate, value, base)
                suppressed_seen += value == SUPPRESSED
    # The small world has small cells: the rule was exercised, not vacuous.
    assert small_seen > 0 and suppressed_seen > 0


def test_the_report_counts_what_the_store_holds(cycle: Cycle) -> None:
    engine = open_store(cycle.url)
    try:
        frames = read_tables(engine, known_before=AFTER, names=("inspections",))
    finally:
        engine.dispose()
    inspections = frames["inspections"]
    compliance = inspections[inspections["inspection_type"] == "compliance"]
    per_year = pd.to_datetime(compliance["inspection_date"]).dt.year.value_counts()
    by_year = _published_files(cycle.report)["by_year"]
    for year, cell in zip(by_year["year"].astype(int), by_year["inspections"], strict=True):
        count = int(per_year.get(year, 0))
        assert cell == (SMALL_COUNT if 1 <= count <= 9 else str(count))
    assert 2024 in set(by_year["year"].astype(int))  # the plan's year, from the outcomes


def test_no_license_number_business_name_or_address_appears_in_the_report(
    cycle: Cycle,
) -> None:
    engine = open_store(cycle.url)
    try:
        dealers = read_tables(engine, names=("dealers",))["dealers"]
    finally:
        engine.dispose()
    texts = {path.name: path.read_text(encoding="utf-8") for path in cycle.report.iterdir()}
    assert "index.html" in texts and "<svg" in texts["index.html"]
    page = texts["index.html"]
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert not re.search(r"<script|<link|<img|src=|href=[\"']?https?:", page)
    everything = "\n".join(texts.values())
    for value in pd.concat([dealers["license_number"], dealers["business_name"]]).dropna():
        assert str(value) not in everything, value
    # Cities and ZIP codes are short words that may also be names of offices or states
    # (a field division is named after its city): none may be a cell of a CSV, and none
    # may be a word of the page other than an office or state name.
    offices = set(dealers["field_division"].dropna()) | set(dealers["premise_state"].dropna())
    places = (set(dealers["premise_city"].dropna()) | set(dealers["premise_zip"].dropna())) \
        - offices
    for name, frame in _published_files(cycle.report).items():
        cells = set(frame.to_numpy().ravel().tolist()) | set(frame.columns)
        assert not cells & places, (name, sorted(cells & places)[:5])
    shown = re.sub(r"<[^>]*>", " ", page)  # what a reader sees (chart drawing removed)
    found = [place for place in places
             if re.search(rf"(?<![\w.,]){re.escape(place)}(?![\w.,])", shown)]
    assert not found, found[:5]


def test_marked_licensees_are_counted_apart_from_inspections_that_found_nothing(
    cycle: Cycle,
) -> None:
    (plan,) = cycle.monitor["plans"]
    inspected = set(cycle.outcomes["license_number"])
    paths = dict(zip(cycle.plan["license_number"], cycle.plan["selected_by"], strict=True))
    divisions = dict(zip(cycle.plan["license_number"], cycle.plan["field_division"],
                         strict=True))
    for path in ("risk", "exploration"):
        figures = plan["by_selection"][path]
        ours = {n: r for n, r in cycle.marks.items() if paths[n] == path and n not in inspected}
        assert ours, path  # the fixture marked some licensees of each path
        assert figures["marked_not_inspected"] == len(ours)
        assert figures["marked_not_inspected_by_reason"] == {
            reason: sum(r == reason for r in ours.values())
            for reason in ("out_of_business", "refused", "moved", "deferred")}
        assert figures["inspected_not_serious"] == figures["inspected"] - figures["serious"]
        # A mark never turns an unmarked count into another: status counts are unchanged.
        assert figures["not_inspected"] == figures["planned"] - figures["inspected"]
    assert sum(f["marked_but_inspected"] for f in plan["by_selection"].values()) == 1
    for row in plan["by_division"]:
        expected = sum(1 for n in cycle.marks if n not in inspected
                       and paths[n] == row["selected_by"]
                       and divisions[n] == row["field_division"])
        assert row["marked_not_inspected"] == expected


def test_monitor_stores_its_output_for_the_pages(cycle: Cycle) -> None:
    from monitoring.results import result_by_id, result_keys

    engine = open_store(cycle.url)
    try:
        keys = result_keys(engine)
        assert [day.isoformat() for _, day, _ in keys] == [AFTER.isoformat(),
                                                          MIDWAY.isoformat()]
        stored = result_by_id(engine, keys[0][0])
    finally:
        engine.dispose()
    assert stored is not None and stored.output == json.loads(json.dumps(cycle.monitor))


def test_enforcement_counts_what_the_store_and_the_plan_hold(cycle: Cycle) -> None:
    figures = cycle.monitor["enforcement"]
    year = AFTER.year - 1
    assert figures["years"][-1] == year
    engine = open_store(cycle.url)
    try:
        inspections = read_tables(engine, known_before=AFTER,
                                  names=("inspections",))["inspections"]
    finally:
        engine.dispose()
    compliance = inspections[inspections["inspection_type"] == "compliance"]
    in_year = compliance[pd.to_datetime(compliance["inspection_date"]).dt.year == year]
    rows = [r for r in figures["by_division_year"] if r["year"] == year]
    assert sum(r["inspections"] for r in rows) == len(in_year)
    by_path = [r for r in figures["by_selection"] if r["year"] == year]
    planned = sum(r["inspections"] for r in by_path if r["selected_by"] != "outside plans")
    outcomes_in_year = pd.to_datetime(cycle.outcomes["inspection_date"]).dt.year == year
    assert planned == int(outcomes_in_year.sum())
    for row in figures["by_division_year"]:
        assert 0 <= row["uninspected_5_years"] <= row["eligible_for_coverage"] \
            <= row["licensees"]
    since = sum(r["licensees"] for r in figures["time_since_inspection"])
    assert since == sum(r["licensees"] for r in rows)  # every active licensee, once
    abroad = sum(r["recovered_abroad"] for r in figures["recovered_abroad_by_state"])
    assert abroad == sum(r["recovered_abroad"] for r in figures["traces"])
    # The same traces, counted from the store by the contract's rule (features use it too).
    engine = open_store(cycle.url)
    try:
        traces = read_tables(engine, known_before=AFTER, names=("traces",))["traces"]
    finally:
        engine.dispose()
    trace_year = pd.to_datetime(traces["trace_date"]).dt.year
    counted = trace_year.isin(figures["years"]).to_numpy()
    assert abroad == int(recovered_abroad(traces["recovery_country"])[counted].sum()) > 0


def test_a_list_scored_on_the_monitoring_date_is_reused_for_drift(
    cycle: Cycle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Scoring on the monitoring date stores the feature table drift needs: monitor reads
    it instead of rebuilding it, and finds the same drift."""
    if not cycle.url.startswith("sqlite"):
        pytest.skip("copies the SQLite store; the reuse does not depend on the backend")
    import shutil

    from data.settings import get_settings
    from monitoring.monitor import monitor
    from tests.monitoring.conftest import invoke

    source = Path(cycle.url.removeprefix("sqlite:///"))
    copy = tmp_path / "store.db"
    with open_store(cycle.url).connect():  # nothing open for writing: a plain copy is whole
        shutil.copyfile(source, copy)
    url = f"sqlite:///{copy}"
    monkeypatch.setenv("DEALER_RISK_HOME", str(cycle.home))
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cycle.tracking_uri)
    get_settings.cache_clear()
    try:
        invoke("score", "--as-of", AFTER.isoformat(), "--out", str(tmp_path / "scores.csv"))
    finally:
        get_settings.cache_clear()
    engine = open_store(url)
    try:
        reused = monitor(engine, cycle.tracking_uri, AFTER)
    finally:
        engine.dispose()
    assert reused["drift_reference"]["current_source"].startswith("stored list ")
    assert cycle.monitor["drift_reference"]["current_source"] == \
        f"feature table as of {AFTER.isoformat()}"
    rebuilt = {row["feature"]: row["psi"] for row in cycle.monitor["drift"]}
    for row in reused["drift"]:
        assert row["psi"] == pytest.approx(rebuilt[row["feature"]], abs=1e-9), row["feature"]
