"""Reasons an inspector can act on, as the served list, the API and the pages show them.

On the session's served home: the list's reasons are distinct facts with their peers in
words, the chart rolls the rest up by family without any roll-up outgrowing a drawn bar,
and supervisors see what speaks for a licensee.
"""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

from features.catalogue import describe
from models.reasons import MAX_REASONS, STAND_INS, fact_of
from serving.explain import explain_licensee
from serving.pages.charts import chart_contributions, family_rollups, waterfall_svg
from tests.serving.conftest import ServedHome
from tests.serving.signing_in import sign_in as sign_in_with_form

#: Where a reason's comparison with its peers begins.
PEER_CLAUSE = re.compile(r" (?=Higher than|Lower than|The highest|The lowest|So are)")


def _state(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.holder.current  # type: ignore[attr-defined]


def test_listed_reasons_are_distinct_facts_compared_with_peers(client: TestClient) -> None:
    state = _state(client)
    seen_comparison = False
    for number in state.ranked.license_numbers[:100]:
        explanation = explain_licensee(state, str(number))
        assert explanation is not None
        reasons = state.ranked.items[state.ranked.positions[str(number)]].top_reasons
        assert len(reasons) <= MAX_REASONS
        facts = []
        for reason in reasons:
            assert "than 100%" not in reason and "Sells an estimated" not in reason
            fact = PEER_CLAUSE.split(reason)[0]
            seen_comparison |= fact != reason
            # The reason is a contribution's own sentence (several features may share one,
            # "Never inspected." say) ...
            told = {row.feature for row in explanation.contributions if row.description == fact}
            assert told
            # ... of one that raised the score, or the value a raising percentile ranks.
            raising = [r for r in explanation.contributions if r.shap_value > 0
                       and (r.feature in told or STAND_INS.get(r.feature) in told)]
            assert raising
            facts.append(fact_of(raising[0].feature))
        assert len(set(facts)) == len(facts)
    assert seen_comparison


def test_the_chart_rolls_the_rest_up_by_family_never_larger_than_a_drawn_bar(
    client: TestClient,
) -> None:
    state = _state(client)
    for number in state.ranked.license_numbers[:60]:
        explanation = explain_licensee(state, str(number))
        assert explanation is not None
        drawn = chart_contributions(explanation.contributions)
        smallest = min(abs(row.shap_value) for row in drawn)
        rollups = family_rollups(explanation.contributions, {row.feature for row in drawn})
        assert all(abs(total) <= smallest for _, total, _ in rollups)
        svg = waterfall_svg(explanation, license_type="01")
        assert "other features together" not in svg
        assert svg.count('class="waterfall-row waterfall-rest"') == len(rollups)
        # The bars still add up: the last one ends on the licensee's raw score.
        ends = re.findall(r'font-weight="600" fill="#1f2328">(-?[\d.]+)</text>', svg)
        assert ends[-1] == f"{explanation.raw_score:.2f}"


def test_supervisors_see_what_speaks_for_a_licensee(
    client: TestClient, served_home: ServedHome
) -> None:
    state = _state(client)
    number = str(state.ranked.license_numbers[len(state.ranked.license_numbers) // 2])
    body = client.get(f"/api/v1/dealers/{number}/explanation",
                      headers=served_home.headers("supervisor")).json()
    lowering = body["lowering_reasons"]
    assert 0 < len(lowering) <= MAX_REASONS
    negative = {describe(row["feature"], row["value"]): row for row in body["contributions"]
                if row["shap_value"] < 0}
    assert all(text in negative for text in lowering)
    assert len({fact_of(negative[text]["feature"]) for text in lowering}) == len(lowering)
    # Still exact: base value plus every contribution is the raw score.
    total = body["base_value"] + sum(row["shap_value"] for row in body["contributions"])
    assert abs(total - body["raw_score"]) < 1e-6

    def page(user: str) -> str:
        own = TestClient(client.app, follow_redirects=False)
        assert sign_in_with_form(own, served_home.tokens[user], next="/").status_code == 303
        return unescape(own.get(f"/dealers/{number}").text)

    supervisor, inspector = page("supervisor"), page("inspector")
    assert "What speaks for this licensee" in supervisor
    assert lowering[0] in supervisor
    assert "What speaks for this licensee" not in inspector
