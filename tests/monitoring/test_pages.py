"""The monitoring and enforcement pages and the "not inspected" marks, over HTTP, on both
stores: the session cycle's store served by the real app (no browser)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from data.settings import Settings
from serving.app import create_app
from serving.monitoring import ENFORCEMENT_CSV_COLUMNS, MONITORING_CSV_COLUMNS
from tests.monitoring.conftest import AFTER, Cycle
from tests.serving.conftest import loaded_client

SignIn = Callable[[str], TestClient]


@pytest.fixture(scope="session")
def cycle_client(cycle: Cycle) -> Iterator[TestClient]:
    """The app on the cycle's store and MLflow, its state loaded."""
    settings = Settings(DEALER_RISK_HOME=cycle.home,  # type: ignore[call-arg]
                        DEALER_RISK_DATABASE_URL=cycle.url,
                        MLFLOW_TRACKING_URI=cycle.tracking_uri)
    with loaded_client(create_app(settings)) as client:
        yield client


@pytest.fixture
def sign_in(cycle_client: TestClient, cycle: Cycle) -> Iterator[SignIn]:
    """Signed-in page clients with cookie jars of their own."""
    opened: list[TestClient] = []

    def open_as(user: str) -> TestClient:
        own = TestClient(cycle_client.app, follow_redirects=False)
        form = own.get("/login").text
        hidden = re.search(r'name="csrf" value="([^"]*)"', form)
        data = {"token": cycle.tokens[user], "next": "/"}
        if hidden:
            data["csrf"] = unescape(hidden.group(1))
        answer = own.post("/login", data=data)
        assert answer.status_code == 303, answer.text
        opened.append(own)
        return own

    yield open_as
    for own in opened:
        own.close()


def _api(client: TestClient, cycle: Cycle, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cycle.tokens[user]}"}


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _audit(client: TestClient, cycle: Cycle, action: str) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/audit?action={action}&limit=20",
                        headers=_api(client, cycle, "supervisor"))
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["items"]
    return rows


def _rows(cycle: Cycle, division: str, exclude: set[str]) -> list[str]:
    plan = cycle.plan
    return [n for n in plan.loc[plan["field_division"] == division, "license_number"]
            if n not in exclude]


def test_marks_through_the_api_are_shown_audited_and_limited_to_the_division(
        cycle_client: TestClient, cycle: Cycle) -> None:
    plan_id = int(cycle.plan["plan_id"].iloc[0])
    mine = _rows(cycle, cycle.division, set(cycle.marks))[-1]
    theirs = _rows(cycle, cycle.other_division, set(cycle.marks))[-1]
    url = f"/api/v1/plans/{plan_id}/rows/{{}}/mark"
    headers = _api(cycle_client, cycle, "division_inspector")
    answer = cycle_client.put(url.format(mine), headers=headers,
                              json={"reason": "moved", "note": "new address unknown"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["reason"] == "moved" and answer.json()["marked_by"] == \
        "division_inspector"
    rows = cycle_client.get(f"/api/v1/plans/{plan_id}", headers=headers).json()["items"]
    shown = {row["license_number"]: row["mark"] for row in rows}
    assert shown[mine]["reason_text"] == "moved away"
    assert shown[mine]["note"] == "new address unknown"
    # Another division's row is hidden: 404, as an unknown one, and nothing is stored.
    other = cycle_client.put(url.format(theirs), headers=headers, json={"reason": "refused"})
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    everyone = cycle_client.get(f"/api/v1/plans/{plan_id}",
                                headers=_api(cycle_client, cycle, "supervisor")).json()
    assert next(r for r in everyone["items"] if r["license_number"] == theirs)["mark"] is None
    assert cycle_client.put(url.format("no-such-licensee"), headers=headers,
                            json={"reason": "moved"}).status_code == 404
    marked = _audit(cycle_client, cycle, "plan.mark")[0]
    assert marked["user_name"] == "division_inspector"
    assert marked["detail"]["license_number"] == mine and marked["detail"]["reason"] == "moved"
    assert cycle_client.delete(url.format(mine), headers=headers).status_code == 204
    assert cycle_client.delete(url.format(mine), headers=headers).status_code == 404
    assert _audit(cycle_client, cycle, "plan.unmark")[0]["detail"]["license_number"] == mine
    rows = cycle_client.get(f"/api/v1/plans/{plan_id}", headers=headers).json()["items"]
    assert next(r for r in rows if r["license_number"] == mine)["mark"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"reason": "asleep"}, "reason"),
    ({"reason": "moved", "note": "x" * 501}, "note"),
    ({"reason": "moved", "colour": "red"}, "colour"),
    ({}, "reason"),
    ({"reason": "moved", "note": "a\x00b"}, "note"),
])
def test_bad_marks_are_problems(cycle_client: TestClient, cycle: Cycle,
                                body: dict[str, Any], field: str) -> None:
    plan_id = int(cycle.plan["plan_id"].iloc[0])
    number = _rows(cycle, cycle.division, set(cycle.marks))[0]
    answer = cycle_client.put(f"/api/v1/plans/{plan_id}/rows/{number}/mark", json=body,
                              headers=_api(cycle_client, cycle, "division_inspector"))
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    assert cycle_client.put(f"/api/v1/plans/{plan_id}/rows/{number}/mark",
                            json={"reason": "moved"}).status_code == 401
    nul = cycle_client.put(f"/api/v1/plans/{plan_id}/rows/a%00b/mark", json={"reason": "moved"},
                           headers=_api(cycle_client, cycle, "division_inspector"))
    assert nul.status_code == 422


def test_my_plan_marks_a_row_with_its_form(sign_in: SignIn, cycle_client: TestClient,
                                          cycle: Cycle) -> None:
    page = sign_in("division_inspector")
    plan_id = int(cycle.plan["plan_id"].iloc[0])
    html = page.get("/plan").text
    assert "Mark not inspected" in html
    token = unescape(re.search(r'name="csrf" value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    number = _rows(cycle, cycle.division, set(cycle.marks))[1]
    form = {"csrf": token, "plan": str(plan_id), "license_number": number,
            "reason": "refused", "note": "owner declined", "action": "mark"}
    assert page.post("/plan/mark", data={**form, "csrf": "forged"}).status_code == 403
    answer = page.post("/plan/mark", data=form)
    assert answer.status_code == 303 and answer.headers["location"].startswith(
        f"/plan?plan={plan_id}")
    row = _text(re.search(rf'<tr[^>]*id="row-{re.escape(number)}".*?</tr>',
                          page.get("/plan?rows=all").text, re.S).group(0))  # type: ignore[union-attr]
    assert "Not inspected: refused the inspection. owner declined" in row
    assert "marked by division_inspector" in row
    audit = _audit(cycle_client, cycle, "plan.mark")[0]
    assert audit["detail"]["page"] == "/plan/mark" and audit["detail"]["license_number"] == number
    theirs = _rows(cycle, cycle.other_division, set(cycle.marks))[1]
    assert page.post("/plan/mark", data={**form, "license_number": theirs}).status_code == 404
    assert page.post("/plan/mark", data={**form, "reason": "bored"}).status_code == 422
    cleared = page.post("/plan/mark", data={**form, "action": "clear"})
    assert cleared.status_code == 303
    assert "owner declined" not in page.get("/plan?rows=all").text


def test_the_monitoring_page_shows_the_stored_result(sign_in: SignIn, cycle: Cycle) -> None:
    page = sign_in("supervisor")
    answer = page.get("/monitoring")
    assert answer.status_code == 200, answer.text
    text = _text(answer.text)
    output = cycle.monitor
    assert f"model version {output['model_version']} as of {AFTER.isoformat()}" in text
    heading = "Retraining is recommended" if output["retrain_recommended"] \
        else "No retraining needed"
    assert heading in text
    for reason in output["reasons"]:
        assert _text(reason) in text
    assert len(re.findall(r'<tr class="drift-row', answer.text)) == len(output["drift"])
    for chart in ("plans-chart", "calibration-chart"):
        assert f'id="{chart}"' in answer.text
    (plan,) = output["plans"]
    risk = re.search(r'<tr class="plan-path" data-plan="[^"]+" data-path="risk">(.*?)</tr>',
                     answer.text, re.S).group(1)  # type: ignore[union-attr]
    figures = plan["by_selection"]["risk"]
    cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", risk, re.S)]
    assert cells[2:5] == [f"{figures['planned']:,}", f"{figures['inspected']:,}",
                          f"{figures['serious']:,}"]
    # Both monitoring dates are points of the over-time chart.
    assert answer.text.count("<circle") >= 4
    assert sign_in("inspector").get("/monitoring").status_code == 403
    assert page.get("/monitoring?result=999999").status_code == 404
    assert page.get("/monitoring?result=abc").status_code == 422


def test_the_monitoring_csv_has_the_results_figures(sign_in: SignIn, cycle: Cycle) -> None:
    answer = sign_in("supervisor").get("/monitoring.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(answer.text))
    assert tuple(reader.fieldnames or ()) == MONITORING_CSV_COLUMNS
    rows = list(reader)
    (plan,) = cycle.monitor["plans"]
    for path, figures in plan["by_selection"].items():
        for metric in ("planned", "inspected", "serious", "marked_not_inspected"):
            (row,) = [r for r in rows if r["section"] == "plan" and r["selected_by"] == path
                      and r["metric"] == metric and r["item"] == ""]
            assert int(row["value"]) == figures[metric]
    drift = [r for r in rows if r["section"] == "drift" and r["metric"] == "psi"]
    assert len(drift) == len(cycle.monitor["drift"])


def test_the_enforcement_page_for_a_division_inspector_shows_that_division_only(
        sign_in: SignIn, cycle: Cycle) -> None:
    page = sign_in("division_inspector")
    answer = page.get("/enforcement")
    assert answer.status_code == 200, answer.text
    text = _text(answer.text)
    assert f"Enforcement: {cycle.division} field division" in text
    assert 'id="division"' not in answer.text  # no division to choose
    figures = cycle.monitor["enforcement"]
    year = figures["years"][-1]
    expected = sum(r["inspections"] for r in figures["by_division_year"]
                   if r["field_division"] == cycle.division and r["year"] == year)
    row = re.search(rf'<tr class="year-row" data-year="{year}">(.*?)</tr>', answer.text,
                    re.S).group(1)  # type: ignore[union-attr]
    assert _text(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2]) == f"{expected:,}"
    for chart in ("inspections-chart", "hit-chart", "coverage-chart", "since-chart",
                  "traces-chart"):
        assert f'id="{chart}"' in answer.text, chart
    assert "Demand Letter 2 rule" in text
    assert page.get(f"/enforcement?division={cycle.other_division}").status_code == 403
    exported = page.get("/enforcement.csv")
    reader = csv.DictReader(io.StringIO(exported.text))
    assert tuple(reader.fieldnames or ()) == ENFORCEMENT_CSV_COLUMNS
    assert {r["field_division"] for r in reader} == {cycle.division}


def test_the_enforcement_page_lets_a_supervisor_choose_a_division(
        sign_in: SignIn, cycle: Cycle) -> None:
    page = sign_in("supervisor")
    everything = page.get("/enforcement")
    assert everything.status_code == 200 and 'id="division"' in everything.text
    assert "every field division together" in _text(everything.text)
    one = page.get(f"/enforcement?division={cycle.other_division}")
    assert f"Enforcement: {cycle.other_division} field division" in _text(one.text)
    assert page.get("/enforcement?division=Atlantis").status_code == 404
    rows = list(csv.DictReader(io.StringIO(page.get(
        f"/enforcement.csv?division={cycle.other_division}").text)))
    assert rows and {r["field_division"] for r in rows} == {cycle.other_division}


def test_concurrent_marks_of_one_row_leave_one_mark(cycle: Cycle) -> None:
    """Inspectors saving the same row at once: each save succeeds, one mark remains."""
    from concurrent.futures import ThreadPoolExecutor

    from data.store import open_store
    from planning.marks import clear_mark, read_marks, set_mark

    plan_id = int(cycle.plan["plan_id"].iloc[0])
    number = _rows(cycle, cycle.other_division, set(cycle.marks))[2]
    engine = open_store(cycle.url)
    reasons = ["moved", "refused", "deferred", "out_of_business"] * 2
    try:
        with ThreadPoolExecutor(max_workers=len(reasons)) as pool:
            marks = list(pool.map(lambda reason: set_mark(
                engine, plan_id, number, reason=reason, note=None, marked_by="race",
                marked_at=dt.datetime.now(dt.UTC)), reasons))
        assert all(mark is not None for mark in marks)
        stored = read_marks(engine, plan_id)
        assert stored[(plan_id, number)].reason in reasons
        assert clear_mark(engine, plan_id, number)
    finally:
        engine.dispose()
