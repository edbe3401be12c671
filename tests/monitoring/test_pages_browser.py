"""The monitoring, enforcement and My plan pages in a real browser, on the session cycle.

Headless Chromium (Debian's, driven by Playwright, as in tests/serving/test_pages_browser.py)
at 1366 px against ``dealer-risk serve`` on the cycle's SQLite store: what a person sees,
that the CSV downloads work, that nothing scrolls sideways, and the "not inspected" form.
Screenshots go to a temporary folder (or docs/screenshots with DEALER_RISK_SCREENSHOTS=update).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator

import pytest

from serving.monitoring import ENFORCEMENT_CSV_COLUMNS, MONITORING_CSV_COLUMNS
from tests.monitoring.conftest import Cycle
from tests.serving.conftest import Server, start_server, stop_server
from tests.serving.test_pages_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    VIEWPORT,
)

if os.environ.get("CI") != "true":
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these",
                    allow_module_level=True)
    pytest.importorskip("playwright", reason="pip install playwright; CI runs these")

from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def sqlite_cycle(cycle: Cycle) -> Cycle:
    if not cycle.url.startswith("sqlite"):
        pytest.skip("the browser tests run once, on the SQLite cycle")
    return cycle


@pytest.fixture(scope="module")
def server(sqlite_cycle: Cycle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("DEALER_RISK_DATABASE_URL", "MLFLOW_TRACKING_URI")},
           "DEALER_RISK_HOME": str(sqlite_cycle.home),
           "DEALER_RISK_DATABASE_URL": sqlite_cycle.url,
           "MLFLOW_TRACKING_URI": sqlite_cycle.tracking_uri}
    running = start_server(env, tmp_path_factory.mktemp("monitoring-pages") / "serve.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _signed_in(chromium: Browser, server: Server, token: str) -> Page:
    page = chromium.new_context(viewport=VIEWPORT, base_url=server.base_url,
                                accept_downloads=True).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/dealers")
    page.get_by_label("Access token").fill(token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dealers$"))
    assert not errors, errors
    return page


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"{page.url} is {width} px wide"


def _download(page: Page, name: str) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    path = info.value.path()
    assert info.value.suggested_filename.endswith(".csv")
    text = open(path, encoding="utf-8").read()
    (SCREENSHOTS / f"{name}.csv").parent.mkdir(parents=True, exist_ok=True)
    return list(csv.DictReader(io.StringIO(text)))


def test_a_supervisor_reads_the_monitoring_page(chromium: Browser, server: Server,
                                                sqlite_cycle: Cycle) -> None:
    page = _signed_in(chromium, server, sqlite_cycle.tokens["supervisor"])
    page.get_by_role("link", name="Monitoring", exact=True).click()
    expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
    output = sqlite_cycle.monitor
    verdict = "Retraining is recommended" if output["retrain_recommended"] \
        else "No retraining needed"
    expect(page.get_by_role("heading", name=verdict)).to_be_visible()
    for chart in ("#plans-chart", "#calibration-chart"):
        expect(page.locator(chart)).to_be_visible()
        box = page.locator(chart).bounding_box()
        assert box is not None and box["width"] > 300 and box["x"] + box["width"] <= 1366
    expect(page.locator("tr.drift-row")).to_have_count(len(output["drift"]))
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / "monitoring.png"), full_page=True)
    rows = _download(page, "monitoring")
    assert rows and tuple(rows[0]) == MONITORING_CSV_COLUMNS
    assert {r["as_of"] for r in rows} == {output["as_of"]}
    page.context.close()


def test_a_division_inspector_reads_the_enforcement_page(chromium: Browser, server: Server,
                                                          sqlite_cycle: Cycle) -> None:
    page = _signed_in(chromium, server, sqlite_cycle.tokens["division_inspector"])
    expect(page.get_by_role("link", name="Monitoring", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Enforcement", exact=True).click()
    expect(page.get_by_role("heading", name=f"Enforcement: {sqlite_cycle.division} field "
                                            "division")).to_be_visible()
    for chart in ("#inspections-chart", "#hit-chart", "#coverage-chart", "#since-chart",
                  "#traces-chart"):
        expect(page.locator(chart)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Demand Letter 2 rule's plan")).to_be_visible()
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / "enforcement.png"), full_page=True)
    rows = _download(page, "enforcement")
    assert rows and {r["field_division"] for r in rows} == {sqlite_cycle.division}
    assert tuple(rows[0]) == ENFORCEMENT_CSV_COLUMNS
    page.context.close()


def test_an_inspector_marks_a_planned_licensee_not_inspected(
        chromium: Browser, server: Server, sqlite_cycle: Cycle) -> None:
    page = _signed_in(chromium, server, sqlite_cycle.tokens["division_inspector"])
    page.get_by_role("link", name="My plan", exact=True).click()
    row = page.locator("tr.plan-row:not(.marked)").last
    number = row.get_attribute("id")
    assert number is not None
    row.get_by_text("Mark not inspected").click()
    row.get_by_label("Reason").select_option(label="out of business")
    row.get_by_label("Note (optional)").fill("shop closed, sign on the door")
    row.get_by_role("button", name="Save").click()
    marked = page.locator(f"#{number}")
    expect(marked).to_contain_text("Not inspected: out of business. shop closed, sign on "
                                   "the door")
    expect(marked).to_have_class(re.compile("marked"))
    _no_sideways_scroll(page)
    page.screenshot(path=str(SCREENSHOTS / "plan-marked.png"))
    marked.get_by_role("button", name=re.compile("Clear the mark")).click()
    expect(page.locator(f"#{number}")).not_to_contain_text("shop closed")
    page.context.close()
