"""The plan pages and the list's movement markers without a browser: rules, audit, CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from planning.plans import PLAN_CSV_COLUMNS
from serving.pages.charts import findings_svg, history_svg
from tests.serving.conftest import AS_OF, EARLIER_AS_OF, ServedHome
from tests.serving.signing_in import sign_in as sign_in_with_form

Browser = Callable[[str], TestClient]


@pytest.fixture
def browser(client: TestClient, served_home: ServedHome) -> Iterator[Browser]:
    """Signed-in clients of the session's app, each with a cookie jar of its own."""
    opened: list[TestClient] = []

    def sign_in(user: str) -> TestClient:
        own = TestClient(client.app, follow_redirects=False)  # the lifespan already runs
        answer = sign_in_with_form(own, served_home.tokens[user], next="/")
        assert answer.status_code == 303, answer.text
        opened.append(own)
        return own

    yield sign_in
    for own in opened:
        own.close()


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _audit(client: TestClient, served_home: ServedHome, user: str, action: str
           ) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/audit?user={user}&action={action}&limit=3",
                        headers=served_home.headers("supervisor"))
    rows: list[dict[str, Any]] = answer.json()["items"]
    return rows


def test_my_plan_shows_the_division_inspectors_plan_only(
        browser: Browser, client: TestClient, served_home: ServedHome) -> None:
    page = browser("houston_inspector").get("/plan")
    assert page.status_code == 200
    numbers = re.findall(r'<tr class="plan-row[^"]*" id="row-[^"]+" data-priority="(\d+)">',
                         page.text)
    row = _audit(client, served_home, "houston_inspector", "plan.read")[0]
    assert row["detail"]["page"] == "/plan" and row["detail"]["field_division"] == "Houston"
    api = client.get(f"/api/v1/plans/{served_home.plan_id}",
                     headers=served_home.headers("houston_inspector")).json()
    assert [int(n) for n in numbers] == [row["priority"] for row in api["items"]]
    text = _text(page.text)
    assert "My plan: Houston field division" in text
    assert "chosen for its risk score" in text and "drawn at random so the plan" in text
    assert numbers and all(row["field_division"] == "Houston" for row in api["items"])


def test_my_plan_refuses_another_division_to_a_division_account(browser: Browser) -> None:
    page = browser("houston_inspector").get("/plan?division=Phoenix")
    assert page.status_code == 403 and "text/html" in page.headers["content-type"]
    csv_page = browser("houston_inspector").get("/plan.csv?division=Phoenix")
    assert csv_page.status_code == 403


def test_my_plan_lets_an_account_without_a_division_choose(browser: Browser) -> None:
    page = browser("inspector").get("/plan?division=Columbus")
    assert page.status_code == 200
    assert "My plan: Columbus field division" in _text(page.text)
    assert browser("inspector").get("/plan?division=Atlantis").status_code == 404
    assert browser("inspector").get("/plan?plan=999999").status_code == 404
    assert browser("inspector").get("/plan?plan=x").status_code == 422


def test_my_plan_csv_is_the_apis_csv_of_the_division(
        browser: Browser, client: TestClient, served_home: ServedHome) -> None:
    answer = browser("houston_inspector").get("/plan.csv")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(answer.text))
    assert tuple(reader.fieldnames or ()) == PLAN_CSV_COLUMNS
    assert _audit(client, served_home, "houston_inspector", "plan.export")[0][
        "detail"]["page"] == "/plan.csv"
    api = client.get(f"/api/v1/plans/{served_home.plan_id}?format=csv",
                     headers=served_home.headers("houston_inspector"))
    assert answer.text == api.text
    assert {row["field_division"] for row in reader} == {"Houston"}


def test_plan_overview_is_for_supervisors(browser: Browser, client: TestClient,
                                          served_home: ServedHome) -> None:
    assert browser("inspector").get("/plans").status_code == 403
    page = browser("supervisor").get("/plans")
    assert page.status_code == 200
    text = _text(page.text)
    for division in ("Houston", "Phoenix", "Columbus"):
        assert division in text
    assert 'class="findings-chart"' in page.text and "Demand Letter 2 rule" in text
    assert "a collector" in text  # the exclusions, counted
    assert _audit(client, served_home, "supervisor", "plan.read")[0]["detail"]["view"] == \
        "overview"


def test_navigation_links_the_plan_pages_by_role(browser: Browser) -> None:
    inspector = browser("inspector").get("/dealers").text
    supervisor = browser("supervisor").get("/dealers").text
    assert 'href="/plan"' in inspector and 'href="/plans"' not in inspector
    assert 'href="/plan"' in supervisor and 'href="/plans"' in supervisor


def test_the_list_page_marks_movement_since_the_previous_list(browser: Browser) -> None:
    page = browser("supervisor").get("/dealers?per_page=200")
    text = _text(page.text)
    assert f"Movement since the list as of {EARLIER_AS_OF}" in text
    assert re.search(r"(▲|▼)\d", text) or "new on this list" in text


def test_history_chart_labels_each_point_with_model_and_as_of() -> None:
    chart = str(history_svg([(EARLIER_AS_OF, "1", 0.1), (AS_OF, "2", 0.2)]))
    assert EARLIER_AS_OF in chart and AS_OF in chart
    assert "model v1" in chart and "model v2" in chart
    assert history_svg([(AS_OF, "1", 0.2)]) is None


def test_findings_chart_draws_three_bars_per_division() -> None:
    chart = str(findings_svg([("Houston", 5.0, 3.0, 1.0), ("Phoenix", 4.0, None, 1.0)]))
    assert chart.count("<rect") == 3 + 6  # the legend's three, then the bars
    assert "Phoenix, Demand Letter 2 rule: n/a" in chart
    assert findings_svg([]) is None


def test_my_plan_shows_a_page_of_rows_at_a_time_and_all_of_them_to_print(
        browser: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.pages.routes

    monkeypatch.setattr(serving.pages.routes, "PLAN_PAGE_ROWS", 5)
    inspector = browser("houston_inspector")
    rows = re.compile(r'<tr class="plan-row[^"]*" id="row-[^"]+" data-priority="(\d+)">')
    first = inspector.get("/plan")
    total = int(re.search(r"([\d,]+) planned inspections", _text(first.text)).group(1)  # type: ignore[union-attr]
                .replace(",", ""))
    assert total > 10
    assert [int(n) for n in rows.findall(first.text)] == [1, 2, 3, 4, 5]
    assert "showing 1 to 5" in _text(first.text) and 'rel="next"' in first.text
    second = inspector.get("/plan?page=2")
    assert [int(n) for n in rows.findall(second.text)] == [6, 7, 8, 9, 10]
    assert 'rel="prev"' in second.text
    beyond = inspector.get("/plan?page=999999")  # past the end: the last page
    assert len(rows.findall(beyond.text)) >= 1
    everything = inspector.get("/plan?rows=all")
    assert [int(n) for n in rows.findall(everything.text)] == list(range(1, total + 1))
