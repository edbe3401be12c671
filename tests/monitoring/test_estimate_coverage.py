"""Monitoring's estimate against the truth: 50 seeded plans, outcomes drawn from the truth.

Each repetition makes a new plan from the session world's real scored list (a new
exploration draw), simulates its outcomes with ``synthetic.outcomes`` (10% of planned
licensees not inspected, at random), links them as ``monitor`` does and takes the plan's
figures. The target is the truth: the mean true serious chance over the plan's eligible
licensees.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from monitoring.monitor import plan_figures
from monitoring.outcomes import GRACE_DAYS, link_outcomes
from planning.design import PlanOptions
from planning.estimate import serious_rate
from planning.plans import PlanInfo, _summary, make_design
from scoring.score import ScoredList
from synthetic.outcomes import simulate_plan_outcomes
from tests.monitoring.conftest import AS_OF, TrainedWorld

REPETITIONS = 50
EXPLORATION_SHARE = 0.3


def test_the_interval_covers_the_truth_in_90_percent_of_50_plans_and_the_naive_does_not(
    scored_world: tuple[ScoredList, dict[str, pd.DataFrame]], trained_world: TrainedWorld,
    tmp_path: Path,
) -> None:
    scored_list, frames = scored_world
    truth = trained_world.truth_on(AS_OF)
    after = AS_OF + dt.timedelta(days=365 + GRACE_DAYS + 1)
    covered = naive_covered = collapsed = 0
    errors = []
    for seed in range(REPETITIONS):
        options = PlanOptions(as_of=AS_OF, seed=seed, exploration_share=EXPLORATION_SHARE)
        design = make_design(scored_list, frames["dealers"], frames["inspections"], options)
        target = float(truth.reindex(design.eligible["license_number"]).mean())
        plan = PlanInfo(plan_id=seed + 1, list_id=1, model_name="dealer-risk",
                        model_version="1", as_of=AS_OF, period_start=AS_OF,
                        period_end=options.period_end, seed=seed, options={},
                        summary=_summary(design), created_by="test",
                        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        plan_csv = tmp_path / f"plan-{seed}.csv"
        design.rows.assign(plan_id=plan.plan_id, as_of=AS_OF.isoformat()).to_csv(
            plan_csv, index=False)
        out = tmp_path / f"outcomes-{seed}"
        simulate_plan_outcomes(trained_world.truth, plan_csv, trained_world.world, out,
                               seed=seed)  # the default: 10% not inspected, at random
        inspections = pd.read_csv(out / "inspections.csv", dtype={"license_number": str})
        linked = link_outcomes(plan, design.rows, inspections, after)
        figures = plan_figures(plan, linked, after)
        estimate, naive = figures["estimated_serious_rate"], figures["naive_rate"]
        assert estimate["value"] is not None, seed
        collapsed += bool(estimate["collapsed_strata"])
        if not estimate["collapsed_strata"]:  # then it is planning's own estimate
            eligible = pd.Series({d.field_division: d.eligible for d in design.divisions
                                  if d.capacity > 0})
            assert estimate["value"] == pytest.approx(serious_rate(linked, eligible).value)
        errors.append(estimate["value"] - target)
        covered += estimate["ci_low"] <= target <= estimate["ci_high"]
        naive_covered += naive["ci_low"] <= target <= naive["ci_high"]
    # Some plans had a stratum with no inspected licensee, bridged by collapsing.
    assert collapsed > 0
    assert covered >= 0.9 * REPETITIONS, covered
    assert naive_covered <= 0.1 * REPETITIONS, naive_covered
    # And no systematic error: the mean error is small against the rate itself.
    assert abs(sum(errors) / len(errors)) < 0.15 * target
