"""The plan's estimate of the serious rate among eligible licensees, against the truth.

On a generated world, the plan is made from a real scored list (the session world of the
monitoring tests, trained once); outcomes are drawn from the generator's own truth (each
licensee's true chance that an inspection opened on the plan's date ends serious), many
times, each time with a new exploration draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planning.design import PlanOptions
from planning.design import select as select_plan
from planning.estimate import naive_rate, serious_rate
from planning.plans import make_design
from scoring.score import ScoredList
from tests.monitoring.conftest import AS_OF, TrainedWorld

REPETITIONS = 300


def test_the_estimate_is_unbiased_and_the_naive_rate_is_not(
    scored_world: tuple[ScoredList, dict[str, pd.DataFrame]], trained_world: TrainedWorld,
) -> None:
    scored, frames = scored_world
    truth = trained_world.truth_on(AS_OF)
    estimates, naive, covered = [], [], 0
    target = None
    rng = np.random.default_rng(99)
    first = make_design(scored, frames["dealers"], frames["inspections"],
                        PlanOptions(as_of=AS_OF, seed=0))
    # Who is eligible does not depend on the seed, only the draw does: each repetition
    # draws again from the first design's eligible licensees (the same plan for seed 0).
    candidates = first.eligible.drop(columns="selection_probability")
    rule = candidates["demand_letter_2"] if "demand_letter_2" in candidates else None
    again = select_plan(candidates, PlanOptions(as_of=AS_OF, seed=0), rule)
    pd.testing.assert_frame_equal(again.rows, first.rows)
    for seed in range(REPETITIONS):
        design = select_plan(candidates, PlanOptions(as_of=AS_OF, seed=seed), rule)
        if target is None:
            # The truth: the mean true chance over every licensee the plan covers.
            eligible = design.eligible["license_number"]
            target = float(truth.reindex(eligible).mean())
            assert truth.reindex(eligible).notna().all()
        rows = design.rows[["license_number", "field_division", "selected_by"]].copy()
        chance = truth.reindex(rows["license_number"]).to_numpy()
        rows["inspected"] = True
        rows["serious"] = rng.random(len(rows)) < chance
        eligible_counts = pd.Series({d.field_division: d.eligible for d in design.divisions})
        estimate = serious_rate(rows, eligible_counts)
        assert estimate.value is not None and estimate.ci_low is not None
        estimates.append(estimate.value)
        naive.append(naive_rate(rows))
        covered += estimate.ci_low <= target <= (estimate.ci_high or 0)
    assert target is not None
    values = np.asarray(estimates)
    standard_error = values.std(ddof=1) / np.sqrt(values.size)
    # Unbiased: the mean estimate is within three standard errors of the truth.
    assert abs(values.mean() - target) < 3 * standard_error, (values.mean(), target)
    # The naive rate over the plan is far off: the plan chose high-risk licensees.
    naive_values = np.asarray(naive, dtype=float)
    naive_error = naive_values.std(ddof=1) / np.sqrt(naive_values.size)
    assert naive_values.mean() - target > 10 * naive_error
    # The 95% interval covers the truth in at least 90% of the repetitions.
    assert covered / REPETITIONS >= 0.90, covered / REPETITIONS
