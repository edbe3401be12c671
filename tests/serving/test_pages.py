"""The pages' rules without a browser: sign-in and cookies, 403/404 pages, same numbers and
audit rows as the API, the synthetic banner, nothing fetched from elsewhere."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data.contract import is_synthetic_license_number
from data.settings import get_settings
from data.store import open_store
from serving.app import create_app
from serving.models_info import fairness_guidance
from serving.pages.charts import chart_contributions, waterfall_svg
from serving.pages.render import STATIC_DIR, TEMPLATES_DIR
from serving.pages.sessions import COOKIE_NAME
from serving.schemas import FairnessRowPublic
from serving.users import Role, create_user
from tests.serving.conftest import AS_OF, ServedHome, add_user_at, loaded_client
from tests.serving.signing_in import sign_in as sign_in_with_form

Browser = Callable[[str], TestClient]


@pytest.fixture
def browser(client: TestClient, served_home: ServedHome) -> Iterator[Browser]:
    """Signed-in clients of the session's app, each with a cookie jar of its own."""
    opened: list[TestClient] = []

    def sign_in(user: str) -> TestClient:
        # Not entered: the session client already ran the app's lifespan.
        own = TestClient(client.app, follow_redirects=False)
        answer = sign_in_with_form(own, served_home.tokens[user], next="/dealers")
        assert answer.status_code == 303, answer.text
        opened.append(own)
        return own

    yield sign_in
    for own in opened:
        own.close()


def _state(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.holder.current  # type: ignore[attr-defined]


def _licensee(client: TestClient, division: str, inside: bool = True) -> str:
    state = _state(client)
    for number, found in zip(state.ranked.license_numbers, state.ranked.field_divisions,
                             strict=True):
        if (found == division) == inside:
            return str(number)
    raise AssertionError("no such licensee in the planted world")


def _text(html: str) -> str:
    """The visible text of a page, whitespace collapsed, entities decoded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_pages_send_a_browser_without_a_session_to_sign_in(client: TestClient) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    number = _licensee(client, "Houston")
    for path in ("/dealers?state=TX", f"/dealers/{number}", "/models", "/dealers.csv"):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=%2F")
    assert anonymous.get("/").headers["location"] == "/dealers"
    page = anonymous.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert '<label for="token">' in page.text


def test_sign_in_sets_an_httponly_samesite_cookie_that_hides_the_token(
    client: TestClient, served_home: ServedHome
) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    token = served_home.tokens["supervisor"]
    answer = sign_in_with_form(anonymous, token, next="/models")
    assert answer.status_code == 303 and answer.headers["location"] == "/models"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert token not in cookie and token.removeprefix("drk_") not in cookie
    assert anonymous.get("/models").status_code == 200
    # Another site is never a place to go back to.
    elsewhere = sign_in_with_form(TestClient(client.app), token, next="//evil.example/")
    assert elsewhere.headers["location"] == "/dealers"
    assert anonymous.post("/logout").headers["location"].startswith("/login")


def test_a_wrong_token_is_refused_on_the_form(client: TestClient) -> None:
    anonymous = TestClient(client.app, follow_redirects=False)
    answer = sign_in_with_form(anonymous, "drk_not-a-real-token")
    assert answer.status_code == 401 and COOKIE_NAME not in answer.cookies
    assert "That token is not valid." in answer.text and 'role="alert"' in answer.text


def test_forged_or_ended_sessions_are_not_accepted(client: TestClient,
                                                   served_home: ServedHome) -> None:
    # More in tests/serving/security/test_sessions_tokens.py, on both stores.
    signed = TestClient(client.app, follow_redirects=False)
    sign_in_with_form(signed, served_home.tokens["admin"])
    good = signed.cookies[COOKIE_NAME]
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    anonymous = TestClient(client.app, follow_redirects=False)
    for value in (forged, "not-a-session", served_home.tokens["admin"]):
        anonymous.cookies.set(COOKIE_NAME, value)
        assert anonymous.get("/dealers").status_code == 303
    anonymous.cookies.set(COOKIE_NAME, good)
    assert anonymous.get("/dealers").status_code == 200
    signed.post("/logout")
    assert anonymous.get("/dealers").status_code == 303


def test_an_inspector_gets_readable_403_pages_for_models_and_what_if(
    client: TestClient, browser: Browser
) -> None:
    inspector = browser("inspector")
    number = _licensee(client, "Houston")
    for method, path in (("GET", "/models"), ("GET", "/models/plots/reliability.png"),
                         ("GET", f"/dealers/{number}/what-if"),
                         ("POST", f"/dealers/{number}/what-if")):
        answer = inspector.request(method, path)
        assert answer.status_code == 403, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "Forbidden" in answer.text and "supervisors" in answer.text
        assert "Traceback" not in answer.text
    page = inspector.get(f"/dealers/{number}")
    assert page.status_code == 200
    assert "what-if-form" not in page.text and 'href="/models"' not in page.text


def test_unknown_licensee_is_a_404_page(browser: Browser) -> None:
    answer = browser("supervisor").get("/dealers/0-00-000-00-XX-00000")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "No licensee has the license number 0-00-000-00-XX-00000." in _text(answer.text)


def test_a_division_bound_inspector_sees_only_that_division(
    client: TestClient, browser: Browser
) -> None:
    inspector = browser("houston_inspector")
    page = inspector.get("/dealers", params={"per_page": 200})
    state = _state(client)
    numbers = re.findall(r'<a href="/dealers/([0-9A-Z-]+)">', page.text)
    divisions = {state.ranked.field_divisions[state.ranked.positions[n]] for n in numbers}
    assert numbers and divisions == {"Houston"}
    # The division's own ranks beside the national ones: 1, 2, 3... of the division's size.
    size = int((state.ranked.field_divisions == "Houston").sum())
    text = _text(page.text)
    assert "Rank in division" in text and "National rank" in text
    assert f"{size:,} licensees of the Houston field division ranked" in text
    in_division = [int(r) for r in re.findall(
        r'<td class="num division-rank">([\d,]+)<span class="hint"> of', page.text)]
    assert in_division == list(range(1, len(numbers) + 1))
    for name in ("division", "field_division"):  # the API's name and the page's old one
        assert inspector.get("/dealers", params={name: "Phoenix"}).status_code == 403
    assert inspector.get(f"/dealers/{_licensee(client, 'Houston', inside=False)}"
                         ).status_code == 404  # as an unknown licensee (docs/security.md)
    assert inspector.get(f"/dealers/{_licensee(client, 'Houston')}").status_code == 200


def test_the_list_page_shows_the_api_rows_and_filters_them(
    client: TestClient, served_home: ServedHome, browser: Browser
) -> None:
    supervisor = browser("supervisor")
    api = client.get("/api/v1/dealers/ranked", params={"limit": 25, "state": "TX"},
                     headers=served_home.headers("supervisor")).json()
    page = supervisor.get("/dealers", params={"state": "TX", "per_page": 25})
    assert page.status_code == 200
    numbers = re.findall(r'<a href="/dealers/([0-9A-Z-]+)">', page.text)
    assert numbers == [item["license_number"] for item in api["items"]]
    text = _text(page.text)
    first = api["items"][0]
    assert f"{first['score']:.3f}" in text and first["top_reasons"][0] in text
    assert f"of {api['total']:,} matching licensees" in text
    everything = _text(supervisor.get("/dealers").text)
    assert f"of {len(_state(client).ranked):,} matching licensees" in everything
    by_name = supervisor.get("/dealers", params={"sort": "name", "per_page": 200}).text
    names = re.findall(r'<a href="/dealers/[0-9A-Z-]+">([^<]+)</a>', by_name)
    assert names == sorted(names, key=str.casefold)
    second = supervisor.get("/dealers", params={"state": "TX", "per_page": 25, "page": 2})
    assert re.findall(r'<a href="/dealers/([0-9A-Z-]+)">', second.text)[0] not in numbers
    bad = supervisor.get("/dealers", params={"min_score": "2"})
    assert bad.status_code == 422 and "Minimum score" in bad.text


def test_csv_export_is_the_api_csv(
    client: TestClient, served_home: ServedHome, browser: Browser
) -> None:
    params = {"state": "AZ", "license_type": "01"}
    total = client.get("/api/v1/dealers/ranked", params={**params, "limit": 1},
                       headers=served_home.headers("supervisor")).json()["total"]
    api = client.get("/api/v1/dealers/ranked", params={**params, "limit": total, "format": "csv"},
                     headers=served_home.headers("supervisor"))
    page = browser("supervisor").get("/dealers.csv", params=params)
    assert page.headers["content-type"].startswith("text/csv")
    assert page.headers["content-disposition"] == api.headers["content-disposition"]
    assert page.text == api.text
    assert len(list(csv.reader(io.StringIO(page.text)))) == total + 1


def test_the_dealer_page_shows_the_api_numbers_and_the_top_reason_on_the_chart(
    client: TestClient, served_home: ServedHome, browser: Browser
) -> None:
    number = str(_state(client).ranked.license_numbers[0])
    api = client.get(f"/api/v1/dealers/{number}", headers=served_home.headers("supervisor")
                     ).json()
    explanation = client.get(f"/api/v1/dealers/{number}/explanation",
                             headers=served_home.headers("supervisor")).json()
    inspector_page = browser("inspector").get(f"/dealers/{number}").text
    text = _text(inspector_page)
    assert f"{api['current']['score']:.3f}" in text
    assert f"Rank {api['current']['rank']} of {api['current']['licensees_ranked']:,}" in text
    chart = re.search(r'<svg class="waterfall".*?</svg>', inspector_page, re.S)
    # The first reason's fact (its text before the comparison with peers) is on the chart.
    fact = re.split(r" (?=Higher than|Lower than|The highest|The lowest|So are)",
                    api["current"]["top_reasons"][0])[0]
    assert chart and fact in unescape(chart.group(0))
    assert "percentile among type" in chart.group(0)
    assert "Every feature" not in text  # the full table is for supervisors
    supervisor_page = _text(browser("supervisor").get(f"/dealers/{number}").text)
    assert "Every feature" in supervisor_page
    for row in explanation["contributions"][:5]:
        assert f"{row['shap_value']:+.4f}".replace("-", "\u2212") in supervisor_page


def test_the_what_if_page_gives_the_api_answer(
    client: TestClient, served_home: ServedHome, browser: Browser
) -> None:
    number = str(_state(client).ranked.license_numbers[3])
    api = client.post("/api/v1/score", headers=served_home.headers("supervisor"),
                      json={"license_number": number, "changes": {"traces_3y": 0}}).json()
    supervisor = browser("supervisor")
    form = supervisor.get(f"/dealers/{number}/what-if").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    fields = dict(re.findall(r'name="([a-z0-9_]+)" type="text" inputmode="decimal" '
                             r'value="([^"]*)"', form))
    assert len(fields) == len(_state(client).explanations.features)
    answer = supervisor.post(f"/dealers/{number}/what-if",
                             data={**fields, "traces_3y": "0", "csrf": csrf.group(1)})
    assert answer.status_code == 200, _text(answer.text)
    text = _text(answer.text)
    assert f"{api['current_score']:.3f} → {api['score']:.3f}" in text
    assert f"rank {api['rank_if_rescored']:,} if scored" in text
    # The changed value in the catalogue's words, not only its code name.
    changed = re.search(r'<table class="changed-values">.*?</table>', answer.text, re.S)
    assert changed and "crime guns sold by this licensee were traced in the last 3 years" \
        in _text(changed.group(0))
    refused = supervisor.post(f"/dealers/{number}/what-if", data={**fields, "csrf": "forged"})
    assert refused.status_code == 403
    wrong = supervisor.post(f"/dealers/{number}/what-if",
                            data={**fields, "traces_3y": "many", "csrf": csrf.group(1)})
    assert wrong.status_code == 422 and "is not a number" in wrong.text


def test_page_reads_write_the_api_audit_rows(
    client: TestClient, served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = add_user_at(served_home.home, monkeypatch, "page_audited_supervisor", "supervisor")
    own = TestClient(client.app, follow_redirects=False)
    sign_in_with_form(own, token)
    number = str(_state(client).ranked.license_numbers[0])
    own.get("/dealers", params={"state": "TX"})
    own.get("/dealers.csv", params={"state": "TX"})
    own.get(f"/dealers/{number}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', own.get(f"/dealers/{number}").text)
    assert csrf
    own.post(f"/dealers/{number}/what-if", data={"traces_3y": "1", "csrf": csrf.group(1)})
    page = client.get("/api/v1/audit", params={"user": "page_audited_supervisor"},
                      headers=served_home.headers("supervisor")).json()
    rows = list(reversed(page["items"]))
    assert [row["action"] for row in rows] == [
        "ranked.read", "ranked.export", "dealer.read", "explanation.read",
        "dealer.read", "explanation.read", "whatif.score"]
    assert rows[0]["detail"]["filters"] == {"state": "TX"}
    assert rows[-1]["detail"]["changes"] == {"traces_3y": 1.0}
    assert all((row["model_version"], row["as_of"]) == ("1", AS_OF) for row in rows)


def test_the_models_page_shows_metrics_plots_and_fairness(browser: Browser) -> None:
    supervisor = browser("supervisor")
    page = supervisor.get("/models")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Metrics beside the baselines" in text and "demand letter 2" in text
    assert "Fairness" in text and "<table class=\"fairness\">" in page.text
    for name in ("precision_at_k.png", "reliability.png"):
        assert f'src="/models/plots/{name}"' in page.text
        plot = supervisor.get(f"/models/plots/{name}")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    assert supervisor.get("/models/plots/secrets.png").status_code == 404


def test_every_page_carries_the_synthetic_banner(client: TestClient, browser: Browser) -> None:
    # Every planted licensee has the generator's ZZ expiration code.
    banner = f"All {len(_state(client).ranked):,} licensees on this list were made up"
    anonymous = TestClient(client.app, follow_redirects=False)
    assert banner in anonymous.get("/login").text
    supervisor = browser("supervisor")
    number = str(_state(client).ranked.license_numbers[0])
    for path in ("/dealers", f"/dealers/{number}", f"/dealers/{number}/what-if", "/models",
                 "/dealers/0-00-000-00-XX-00000"):
        assert banner in supervisor.get(path).text, path
    assert is_synthetic_license_number("9-99-001-01-ZZ-00001")
    assert not is_synthetic_license_number("9-99-001-01-3A-00001")
    assert not is_synthetic_license_number("ZZ")


def test_pages_load_nothing_from_elsewhere_and_stay_out_of_the_api_schema(
    client: TestClient, browser: Browser
) -> None:
    for path in [*TEMPLATES_DIR.glob("*.html"), *STATIC_DIR.iterdir()]:
        urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", path.read_text())
        assert not [u for u in urls if "w3.org" not in u], path
    page = browser("supervisor").get("/dealers")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    for link in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(link).status_code == 200
    assert not [p for p in client.get("/openapi.json").json()["paths"]
                if not p.startswith(("/api/", "/healthz", "/readyz"))]


def test_the_chart_always_draws_the_top_reasons(client: TestClient) -> None:
    from serving.explain import explain_licensee

    state = _state(client)
    for number in state.ranked.license_numbers[:50]:
        explanation = explain_licensee(state, str(number))
        assert explanation is not None
        drawn = {row.feature for row in chart_contributions(explanation.contributions)}
        positive = sorted((r for r in explanation.contributions if r.shap_value > 0),
                          key=lambda r: -r.shap_value)[:3]
        assert {r.feature for r in positive} <= drawn
        svg = waterfall_svg(explanation, license_type="01")
        assert svg.count('class="waterfall-row waterfall-feature"') == len(drawn)


def test_pages_before_a_model_is_loaded_answer_a_readable_503(
    dealer_risk_home: Path,
) -> None:
    # A home with a store and a user but no trained model: the app starts, not ready.
    settings = get_settings()
    engine = open_store(settings.database_url)
    _, token = create_user(engine, "early", Role.SUPERVISOR, None, dt.datetime.now(dt.UTC))
    engine.dispose()
    with loaded_client(create_app(settings), follow_redirects=False) as early:
        assert sign_in_with_form(early, token).status_code == 303
        answer = early.get("/dealers")
        assert answer.status_code == 503 and answer.headers["retry-after"] == "10"
        assert "still loading" in answer.text and "Traceback" not in answer.text
        assert "synthetic-banner" not in answer.text  # nothing loaded, nothing to tell


# --- words and numbers a person reads (issue 17) -----------------------------------------


def test_the_list_takes_the_api_filter_name_and_refuses_unknown_filters(
    client: TestClient, browser: Browser
) -> None:
    supervisor = browser("supervisor")
    page = supervisor.get("/dealers", params={"field_division": "Houston", "per_page": 200})
    assert page.status_code == 200
    numbers = re.findall(r'<a href="/dealers/([0-9A-Z-]+)">', page.text)
    state = _state(client)
    assert numbers and {state.ranked.field_divisions[state.ranked.positions[n]]
                        for n in numbers} == {"Houston"}
    assert 'name="field_division"' in page.text and 'name="division"' not in page.text
    # The page's old name still works, as an alias.
    old = supervisor.get("/dealers", params={"division": "Houston", "per_page": 200})
    assert re.findall(r'<a href="/dealers/([0-9A-Z-]+)">', old.text) == numbers
    both = supervisor.get("/dealers", params={"field_division": "Houston",
                                              "division": "Phoenix"})
    assert both.status_code == 422 and "disagree" in _text(both.text)
    # A filter the list does not know is an error on the page, never silently ignored.
    unknown = supervisor.get("/dealers", params={"premise_state": "TX"})
    assert unknown.status_code == 422
    assert "Unknown filter 'premise_state'" in _text(unknown.text)
    assert supervisor.get("/dealers.csv", params={"premise_state": "TX"}).status_code == 422
    text = _text(supervisor.get("/dealers").text)
    assert "Highest risk first" in text and "best first" not in text


def test_a_licensee_page_says_rank_and_counts_in_plain_words(
    client: TestClient, browser: Browser
) -> None:
    state = _state(client)
    first = str(state.ranked.license_numbers[0])
    supervisor = browser("supervisor")
    html = supervisor.get(f"/dealers/{first}").text
    text = _text(html)
    assert f"Rank 1 of {len(state.ranked):,} nationally · in the top 0.1% of the list" in text
    assert "100.0%" not in text and "above 100" not in text
    # Decision-relevant parts first; the table of every feature last, folded away.
    order = [html.index(f'id="{name}-heading"')
             for name in ("score", "why", "history", "inspections", "what-if", "table")]
    assert order == sorted(order)
    assert re.search(r'<details class="explanation-details">', html)  # closed
    # No composed address: city, state and ZIP code each have a line of their own.
    assert not re.search(r"Testville, [A-Z]{2} \d{5}", text)
    assert "City Testville State" in text
    # One of a thing is singular wherever the pages print a count (the catalogue's
    # sentences are features/catalogue.py's).
    models = _text(supervisor.get("/models").text)
    assert "1 registered version." in models  # the session home has one version
    one = _text(supervisor.get("/dealers", params={"min_score": "0.999"}).text)
    assert "No licensee matches these filters." in one or " 1 licensees" not in one
    for page_text in (text, models, one):
        assert not re.search(r"(?<![\d,.])1 (licensees|versions|flags|comparisons)\b",
                             page_text)


def test_the_models_page_orders_and_names_metrics_and_compares_versions(
    browser: Browser,
) -> None:
    html = browser("supervisor").get("/models").text
    text = _text(html)
    metrics = re.search(r'<table class="metrics">.*?</table>', html, re.S)
    assert metrics
    rows = [_text(row) for row in re.findall(r'<th scope="row">(.*?)</th>', metrics.group(0),
                                             re.S)]
    assert rows[0] == "Precision at capacity"
    assert not [row for row in rows if "_" in row or " pct" in row or "2pct" in row]
    selected = re.findall(r'<tr class="selection-metric">\s*<th scope="row">(.*?)</th>',
                          metrics.group(0), re.S)
    assert [_text(row) for row in selected] == ["Precision in the top 2% selection metric"]
    assert "The champion against recent versions" in text
    versions = re.search(r'<table class="versions">.*?</table>', html, re.S)
    assert versions and "champion" in _text(versions.group(0))
    assert "ratio to the largest group of its grouping" in text
    assert "(reference)" in text
    assert re.search(r"\d+ flags?; about \d+ would be expected by chance alone", text)
    assert "Holm's correction" in text


def _fairness_row(grouping: str, group: str, licensees: int, flagged: int,
                  serious_flagged: int, negatives: int, reference: str,
                  flags: list[str]) -> FairnessRowPublic:
    precision = serious_flagged / flagged if flagged else None
    fpr = (flagged - serious_flagged) / negatives
    return FairnessRowPublic.model_validate({
        "grouping": grouping, "group": group, "licensees": licensees, "flagged": flagged,
        "flagged_share": flagged / licensees, "precision": precision,
        "false_positive_rate": fpr, "flags": flags, "reference_group": reference,
        "judged": licensees >= 30})


def test_fairness_guidance_counts_chance_flags_and_keeps_signal_after_holm() -> None:
    # Equal rates in small groups: flags happen, but none is signal.
    noise = [_fairness_row("field_division", "Big", 2000, 100, 20, 1900, "Big", []),
             *[_fairness_row("field_division", f"D{i}", 40, 2 + i % 3, 0, 39, "Big",
                             ["flagged_share"]) for i in range(12)]]
    guide = fairness_guidance(noise)
    assert guide["flags"] == 12 and guide["signal"] == set()
    assert guide["expected_by_chance"] > 6  # small groups fall outside 0.8-1.25 by chance
    assert guide["references"] == {"field_division": "Big"}
    # A large group flagged four times as often is signal, even among the noise.
    real = [*noise, _fairness_row("field_division", "Hot", 1500, 300, 60, 1400, "Big",
                                  ["flagged_share", "false_positive_rate"])]
    guide = fairness_guidance(real)
    assert ("field_division", "Hot", "flagged_share") in guide["signal"]
    assert not {key for key in guide["signal"] if key[1] != "Hot"}


def test_docs_pages_use_the_packaged_viewers(client: TestClient) -> None:
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = client.get(path)
        assert page.status_code == 200
        assert not re.findall(r"https?://", page.text), path
        assert f"/docs/assets/{asset}" in page.text
        assert "img-src 'self' data:" in page.headers["content-security-policy"]
        served = client.get(f"/docs/assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 100_000
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404


def test_standing_and_plural_never_overstate() -> None:
    from serving.pages.render import ENVIRONMENT

    standing, plural = ENVIRONMENT.filters["standing"], ENVIRONMENT.filters["plural"]
    assert standing(1, 3907) == "in the top 0.1%"  # not "above 100.0% of the list"
    assert standing(40, 3907) == "in the top 1.1%"  # 1.02% rounded up, never down
    assert standing(500, 1000) == "in the top 50%"
    assert standing(3907, 3907) == "in the bottom 0.1%"
    assert standing(1, 1) == "the only licensee ranked"
    assert [plural("violation", n) for n in (0, 1, 2)] == ["violations", "violation",
                                                           "violations"]


def test_the_version_comparison_keeps_the_champion_beside_the_newest(
    served_home: ServedHome,
) -> None:
    from serving.models_info import version_comparison
    from serving.schemas import ModelVersionPublic

    uri = served_home.settings.mlflow_tracking_uri
    # Version 1 is the session home's real champion; 2-9 are not registered, so they are
    # shown without numbers (their runs cannot be read), never a 500.
    versions = [ModelVersionPublic(version=str(v), run_id=None, created_at=None,
                                   is_champion=v == 1, is_serving=v == 1, trained_as_of=None,
                                   experiment=None, selection_metric=None,
                                   selection_metric_value=None)
                for v in range(9, 0, -1)]
    rows = version_comparison(uri, versions)
    assert [row["version"].version for row in rows] == ["9", "8", "7", "6", "5", "1"]
    champion = rows[-1]["metrics"]
    assert champion["precision_at_capacity"] is not None and 0 <= champion["roc_auc"] <= 1
    assert all(value is None for value in rows[0]["metrics"].values())
