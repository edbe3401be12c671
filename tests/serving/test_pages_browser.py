"""The pages in a real browser: headless Chromium (Debian's) against ``dealer-risk serve``.

Playwright drives the system Chromium at /usr/bin/chromium; nothing is downloaded. Without
that browser the tests skip on a developer's machine, but under CI=true they run (and fail
if the browser or Playwright is missing). Each page is saved as a screenshot: into
docs/screenshots/ when DEALER_RISK_SCREENSHOTS=update, else into a temporary folder (a
test run changes no tracked file).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import ROOT, ServedHome, Server, start_server, stop_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
if os.environ.get("DEALER_RISK_SCREENSHOTS") == "update":
    SCREENSHOTS = ROOT / "docs" / "screenshots"
else:
    SCREENSHOTS = Path(tempfile.mkdtemp(prefix="dealer-risk-screenshots-"))
    atexit.register(shutil.rmtree, SCREENSHOTS, ignore_errors=True)
VIEWPORT = {"width": 1366, "height": 900}

if os.environ.get("CI") != "true":
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs these",
                    allow_module_level=True)
    pytest.importorskip("playwright", reason="pip install playwright; CI runs these")

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``dealer-risk serve`` (uvicorn, one worker) on a free port of 127.0.0.1."""
    running = start_server(served_home.env(), tmp_path_factory.mktemp("pages") / "serve.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


#: Console errors of every page since the current test began (see ``_no_console_errors``).
_console_errors: list[str] = []


def _new_page(chromium: Browser, server: Server) -> Page:
    """A page in a fresh context whose console errors fail the test.

    A script error or a resource the Content-Security-Policy blocks shows up there.
    """
    page = chromium.new_context(viewport=VIEWPORT, base_url=server.base_url).new_page()
    # 403 and 404 pages are expected in these tests; the browser logs their status too.
    page.on("console", lambda message: _console_errors.append(message.text)
            if message.type == "error" and "status of 40" not in message.text else None)
    page.on("pageerror", lambda error: _console_errors.append(str(error)))
    return page


@pytest.fixture(autouse=True)
def _no_console_errors() -> Iterator[None]:
    _console_errors.clear()
    yield
    assert not _console_errors, f"console errors: {_console_errors}"


def _signed_in(chromium: Browser, server: Server, token: str) -> Page:
    page = _new_page(chromium, server)
    page.goto("/dealers")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Access token").fill(token)
    page.keyboard.press("Enter")  # submitting by keyboard, as a keyboard user would
    expect(page).to_have_url(re.compile(r"/dealers$"))
    return page


@pytest.fixture(scope="module")
def supervisor(chromium: Browser, server: Server, served_home: ServedHome) -> Iterator[Page]:
    page = _signed_in(chromium, server, served_home.tokens["supervisor"])
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def inspector(chromium: Browser, server: Server, served_home: ServedHome) -> Iterator[Page]:
    page = _signed_in(chromium, server, served_home.tokens["inspector"])
    yield page
    page.context.close()


def _screenshot(page: Page, name: str, until: str | None = None) -> None:
    """Save the page as SCREENSHOTS/NAME.png: the view, or down to ``until``'s end."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"path": str(SCREENSHOTS / f"{name}.png")}
    if until is not None:
        box = page.locator(until).first.bounding_box()
        assert box is not None
        bottom = box["y"] + box["height"] + 24 + page.evaluate("window.scrollY")
        options.update(full_page=True,
                       clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": bottom})
    page.screenshot(**options)


def _fits_the_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_sign_in_page_is_keyboard_friendly(chromium: Browser, server: Server) -> None:
    page = _new_page(chromium, server)
    page.goto("/login")
    expect(page.locator(".synthetic-banner")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    expect(page.locator(".skip-link")).to_be_in_viewport()
    page.locator("#token").fill("drk_wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
    _screenshot(page, "login")
    page.context.close()


def test_the_list_loads_and_a_filter_narrows_it(supervisor: Page) -> None:
    rows = supervisor.locator("table.ranked tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() == 50
    everything = supervisor.locator("#result-count").inner_text()
    assert _fits_the_width(supervisor)
    _screenshot(supervisor, "dealers")

    supervisor.get_by_label("State").select_option("TX")
    supervisor.get_by_label("Minimum score").fill("0.05")
    supervisor.get_by_role("button", name="Apply filters").click()
    expect(supervisor).to_have_url(re.compile(r"state=TX"))
    narrowed = supervisor.locator("#result-count").inner_text()
    total = int(re.search(r"of ([\d,]+) matching", narrowed).group(1).replace(",", ""))  # type: ignore[union-attr]
    before = int(re.search(r"of ([\d,]+) matching", everything).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < total < before
    states = supervisor.locator("table.ranked tbody tr td.where .state").all_inner_texts()
    assert set(states) == {"TX"}
    scores = [float(s) for s in
              supervisor.locator("table.ranked tbody tr td:nth-child(2)").all_inner_texts()]
    assert min(scores) >= 0.05
    _screenshot(supervisor, "dealers-filtered")


def test_a_click_opens_the_dealer_page_whose_chart_shows_the_top_reason(
    supervisor: Page,
) -> None:
    supervisor.goto("/dealers")
    first = supervisor.locator("table.ranked tbody tr").first
    # The list shows a reason's fact; its comparison with peers is for screen readers and
    # the tooltip (the licensee page shows it in full).
    top_reason = first.locator("td.reasons li").first.evaluate("li => li.firstChild.textContent")
    number = first.locator(".license-number").inner_text()
    first.get_by_role("link").click()
    expect(supervisor).to_have_url(re.compile(re.escape(f"/dealers/{number}") + "$"))
    chart = supervisor.locator("svg.waterfall")
    expect(chart).to_be_visible()
    # The reason's sentence is drawn as wrapped lines and named in full in the row's title.
    titles = chart.locator("g.waterfall-feature title").all_text_contents()
    assert any(title.startswith(top_reason) for title in titles)
    expect(supervisor.get_by_role("heading", name="Every feature")).to_be_visible()
    expect(supervisor.locator("#what-if-form")).to_be_visible()
    assert _fits_the_width(supervisor)
    _screenshot(supervisor, "dealer-supervisor", until="svg.waterfall")


def test_a_supervisor_scores_a_what_if(supervisor: Page) -> None:
    supervisor.goto("/dealers")
    supervisor.locator("table.ranked tbody tr").first.get_by_role("link").click()
    form = supervisor.locator("#what-if-form")
    # The first field is the feature that moves this score most: zero it.
    field = form.locator(".what-if-grid input").first
    feature = field.get_attribute("name")
    field.fill("0")
    expect(form.locator("[data-changed-count]")).to_have_text("1 value changed")
    form.get_by_role("button", name="Score with these values").click()
    expect(supervisor).to_have_url(re.compile(r"/what-if$"))
    result = supervisor.locator(".result-card")
    expect(result).to_be_visible()
    expect(result).to_be_focused()  # the script moves focus to the answer
    expect(result.locator("table")).to_contain_text(str(feature))
    before, after = result.locator(".big-number").inner_text().split(" → ")
    assert float(after) != float(before)
    expect(supervisor.locator("svg#what-if-chart")).to_be_visible()
    _screenshot(supervisor, "what-if", until="svg#what-if-chart")


def test_an_edited_what_if_field_looks_edited_and_its_feature_is_charted(
    supervisor: Page,
) -> None:
    supervisor.goto("/dealers")
    supervisor.locator("table.ranked tbody tr").nth(1).get_by_role("link").click()
    form = supervisor.locator("#what-if-form")
    form.locator("details.more-features summary").click()
    # The last field of the folded ones: a feature whose push is among the smallest, which
    # the chart would leave out were it not changed.
    field = form.locator("details.more-features input").last
    feature = str(field.get_attribute("name"))
    label = form.locator(f"label[for='whatif-{feature}'] .field-help").inner_text()
    field.fill("7")
    edited = field.evaluate("e => getComputedStyle(e).borderTopColor")
    form.locator(".what-if-grid input").first.fill("many")  # an invalid value
    invalid_form = form.locator(".what-if-grid input").first
    invalid = invalid_form.evaluate("e => getComputedStyle(e).borderTopColor")
    assert edited == "rgb(23, 92, 211)"  # the blue "lowers" colour, not the invalid red
    expect(form.locator(".changed-field .edited-note").first).to_be_visible()
    invalid_form.fill(str(invalid_form.get_attribute("data-original")))
    form.get_by_role("button", name="Score with these values").click()
    expect(supervisor).to_have_url(re.compile(r"/what-if$"))
    rows = supervisor.locator("table.changed-values tbody tr")
    expect(rows).to_have_count(1)
    header = rows.first.locator("th").inner_text()
    assert header.startswith(label) and feature in header  # the catalogue's words first
    assert invalid != edited
    chart = supervisor.locator("svg#what-if-chart")
    expect(chart).to_be_visible()
    assert feature in chart.locator("g.waterfall-feature").all_text_contents().__str__()
    # Re-shown after the post, the field is still marked as edited (no script needed).
    expect(supervisor.locator(f"#whatif-{feature}")).to_have_class(re.compile("changed"))


def test_docs_and_redoc_render_with_the_network_blocked(
    chromium: Browser, server: Server
) -> None:
    context = chromium.new_context(viewport=VIEWPORT, base_url=server.base_url)
    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server.base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.goto("/docs")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 10
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/dealers/ranked").first
           ).to_be_visible()
    _screenshot(page, "docs")
    page.goto("/redoc")
    expect(page.get_by_text("/api/v1/dealers/ranked").first).to_be_attached()
    expect(page.locator("h2").filter(has_text=re.compile("ranked", re.I)).first).to_be_visible()
    _screenshot(page, "redoc")
    context.close()
    assert not elsewhere, f"the docs asked another host: {elsewhere}"


def test_the_models_page_shows_its_plots(supervisor: Page) -> None:
    supervisor.goto("/models")
    expect(supervisor.get_by_role("heading", name="Metrics beside the baselines")).to_be_visible()
    for image in supervisor.locator(".plot img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(supervisor.locator("table.fairness")).to_be_visible()
    assert _fits_the_width(supervisor)
    _screenshot(supervisor, "models", until=".plots")


def test_an_inspector_cannot_open_the_what_if_form_or_the_models(inspector: Page) -> None:
    inspector.goto("/dealers")
    expect(inspector.get_by_role("link", name="Models")).to_have_count(0)
    inspector.locator("table.ranked tbody tr").first.get_by_role("link").click()
    expect(inspector.locator("svg.waterfall")).to_be_visible()
    expect(inspector.locator("#what-if-form")).to_have_count(0)
    expect(inspector.get_by_role("heading", name="Every feature")).to_have_count(0)
    _screenshot(inspector, "dealer-inspector", until="svg.waterfall")
    what_if = inspector.url + "/what-if"
    for url in (what_if, "/models"):
        response = inspector.goto(url)
        assert response is not None and response.status == 403
        expect(inspector.get_by_role("heading", level=1)).to_contain_text("Forbidden")
        expect(inspector.locator(".synthetic-banner")).to_be_visible()
    _screenshot(inspector, "forbidden")
    response = inspector.goto("/dealers/0-00-000-00-XX-00000")
    assert response is not None and response.status == 404
    expect(inspector.get_by_role("heading", level=1)).to_contain_text("Not Found")


@pytest.fixture(scope="module")
def houston_inspector(chromium: Browser, server: Server,
                      served_home: ServedHome) -> Iterator[Page]:
    page = _signed_in(chromium, server, served_home.tokens["houston_inspector"])
    yield page
    page.context.close()


def test_my_plan_lists_the_divisions_plan_in_priority_order(houston_inspector: Page) -> None:
    houston_inspector.get_by_role("link", name="My plan").click()
    expect(houston_inspector).to_have_url(re.compile(r"/plan$"))
    expect(houston_inspector.get_by_role("heading", level=1)).to_have_text(
        "My plan: Houston field division")
    rows = houston_inspector.locator("table.plan-table tbody tr")
    expect(rows.first).to_be_visible()
    priorities = [int(p) for p in
                  houston_inspector.locator("table.plan-table tbody td:nth-child(1)")
                  .all_inner_texts()]
    assert priorities == list(range(1, len(priorities) + 1))
    paths = houston_inspector.locator("td.selection-path").all_inner_texts()
    assert len(paths) == len(priorities)
    assert all("chosen for its risk score" in p or "drawn at random" in p for p in paths)
    assert any("drawn at random" in p and "chance" in p for p in paths)
    expect(houston_inspector.get_by_role("link", name=re.compile("Export CSV"))).to_be_visible()
    expect(houston_inspector.get_by_role("link", name="Plan overview")).to_have_count(0)
    assert _fits_the_width(houston_inspector)
    _screenshot(houston_inspector, "my-plan")
    houston_inspector.emulate_media(media="print")
    expect(houston_inspector.locator(".site-header nav")).to_be_hidden()
    expect(rows.first).to_be_visible()
    houston_inspector.emulate_media(media="screen")


def test_the_plan_overview_shows_every_division_and_a_chart(supervisor: Page) -> None:
    supervisor.goto("/dealers")
    supervisor.get_by_role("link", name="Plan overview").click()
    expect(supervisor).to_have_url(re.compile(r"/plans$"))
    names = supervisor.locator("table.plan-divisions tbody th").all_inner_texts()
    assert sorted(names) == ["Columbus", "Houston", "Phoenix"]
    chart = supervisor.locator("svg.findings-chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() == 3 + 3 * len(names)
    expect(supervisor.get_by_role("heading", name="Not eligible")).to_be_visible()
    assert _fits_the_width(supervisor)
    _screenshot(supervisor, "plan-overview", until="table.plan-divisions")


def test_the_list_shows_movement_since_the_previous_list(supervisor: Page) -> None:
    supervisor.goto("/dealers?per_page=200")
    expect(supervisor.locator("#movement-legend")).to_contain_text("Movement since the list")
    markers = supervisor.locator("table.ranked .movement, table.ranked .new-badge")
    assert markers.count() > 0
    text = markers.first.inner_text()
    assert re.match(r"(▲|▼)[\d,]+|new", text)
    assert _fits_the_width(supervisor)
    _screenshot(supervisor, "dealers-movement")
    supervisor.locator("table.ranked tbody tr").first.get_by_role("link").click()
    history = supervisor.locator("svg.history")
    expect(history).to_be_visible()
    expect(history).to_contain_text("model v1")


# --- every page kind at 1366 px on a generated world -------------------------------------

#: Problems a page has with the width: the document wider than the window, or a table
#: wider than the box that scrolls it (a column cut off, reachable only by scrolling).
_WIDTH_PROBLEMS = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) {
    problems.push(`page ${doc.scrollWidth} px wide in a ${window.innerWidth} px window`);
  }
  for (const table of document.querySelectorAll("table")) {
    if (table.offsetParent === null) continue;  // not rendered (a closed <details>)
    const right = table.getBoundingClientRect().right;
    if (right > window.innerWidth + 0.5) {
      problems.push(`table ${table.className || table.id} ends at ${right} px`);
    }
    for (let box = table.parentElement; box; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow !== "visible" && box.scrollWidth > box.clientWidth + 1) {
        problems.push(`table ${table.className || "(plain)"} is ${box.scrollWidth} px in a ` +
                      `${box.clientWidth} px box`);
      }
    }
  }
  return problems;
}"""

#: How many licensees at the top of the generated list the width test opens.
TOP_LICENSEES = 40
#: Whole list rows a 1366 x 768 window shows before scrolling (about three before).
ROWS_ABOVE_THE_FOLD = 4


def _width_problems(page: Page) -> list[str]:
    return list(page.evaluate(_WIDTH_PROBLEMS))


@pytest.fixture(scope="module")
def generated_server(generated_home: ServedHome,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(generated_home.env(),
                           tmp_path_factory.mktemp("generated-pages") / "serve.log")
    yield running
    stop_server(running)


def test_every_page_kind_fits_1366_px_on_a_generated_world(
    chromium: Browser, generated_server: Server, generated_home: ServedHome
) -> None:
    page = _new_page(chromium, generated_server)
    page.goto("/login")
    seen: dict[str, list[str]] = {"/login": _width_problems(page)}
    page.locator("#token").fill(generated_home.tokens["supervisor"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dealers$"))
    page.goto("/dealers?per_page=50")
    seen["/dealers?per_page=50"] = _width_problems(page)
    # The list starts high on the page: at 1366 x 768 at least four whole rows show.
    page.set_viewport_size({"width": 1366, "height": 768})
    above_fold = page.evaluate("""() => [...document.querySelectorAll("table.ranked tbody tr")]
        .filter(row => row.getBoundingClientRect().bottom <= window.innerHeight).length""")
    assert above_fold >= ROWS_ABOVE_THE_FOLD, f"{above_fold} list rows above the fold"
    _screenshot(page, "generated-dealers-768")
    page.set_viewport_size(VIEWPORT)
    numbers = page.locator("table.ranked .license-number").all_inner_texts()[:TOP_LICENSEES]
    assert len(numbers) == TOP_LICENSEES
    for number in numbers:
        page.goto(f"/dealers/{number}")
        seen[f"/dealers/{number}"] = _width_problems(page)
    page.locator("details.explanation-details").evaluate("d => d.open = true")
    seen[f"/dealers/{numbers[-1]} (every feature open)"] = _width_problems(page)
    _screenshot(page, "generated-dealer-supervisor")
    page.goto(f"/dealers/{numbers[0]}/what-if")
    seen["what-if form"] = _width_problems(page)
    field = page.locator("#what-if-form .what-if-grid input").first
    field.fill("0")
    page.get_by_role("button", name="Score with these values").click()
    expect(page.locator(".result-card")).to_be_visible()
    seen["what-if result"] = _width_problems(page)
    for path in ("/models", "/plan", "/plans", "/dealers/0-00-000-00-XX-00000"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        seen[path] = _width_problems(page)
    _screenshot(page, "generated-404")
    page.goto("/models")
    _screenshot(page, "generated-models", until="table.fairness")
    page.context.close()
    inspector = _new_page(chromium, generated_server)
    inspector.goto("/login")
    inspector.locator("#token").fill(generated_home.tokens["division_inspector"])
    inspector.keyboard.press("Enter")
    expect(inspector).to_have_url(re.compile(r"/dealers$"))
    seen["/dealers (division inspector)"] = _width_problems(inspector)
    inspector.goto(f"/dealers/{inspector.locator('.license-number').first.inner_text()}")
    seen["licensee (division inspector)"] = _width_problems(inspector)
    inspector.goto("/models")
    seen["/models (403 page)"] = _width_problems(inspector)
    inspector.context.close()
    wide = {path: problems for path, problems in seen.items() if problems}
    assert not wide, f"{len(wide)} of {len(seen)} pages do not fit 1366 px: {wide}"
