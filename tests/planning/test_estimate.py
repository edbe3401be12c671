"""The plan's estimate of the serious rate among eligible licensees, against the truth.

On a generated world, the plan is made from a real scored list; outcomes are drawn from
the generator's own truth (each licensee's true chance that an inspection opened on the
plan's date ends serious), many times, each time with a new exploration draw.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.settings import get_settings
from data.store import open_store
from data.store.read import read_tables
from data.truth_files import truth_companions
from planning.design import PlanOptions
from planning.estimate import naive_rate, serious_rate
from planning.plans import make_design
from scoring.lists import latest_list, read_score_list
from scoring.score import ScoredList
from synthetic import generate_world, true_serious_probability, write_world
from synthetic.config import GeneratorConfig
from tests.serving.conftest import invoke

AS_OF = dt.date(2024, 1, 1)
REPETITIONS = 300


@pytest.fixture(scope="module")
def scored_world(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[ScoredList, dict[str, pd.DataFrame], pd.Series]]:
    """A 4,000-licensee world, ingested, trained, scored; its list, frames and truth."""
    root = tmp_path_factory.mktemp("plan-world")
    out = root / "world"
    world = generate_world(GeneratorConfig(), seed=4242, dealers=4_000)
    write_world(world, out)
    experiment = root / "fast.toml"
    experiment.write_text('name = "fast"\nseed = 5\nn_folds = 2\n[model]\nnum_boost_round = 40\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEALER_RISK_HOME", str(root / "home"))
        patch.delenv("DEALER_RISK_DATABASE_URL", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        get_settings.cache_clear()
        try:
            invoke("ingest", str(out))
            invoke("train", "--as-of", AS_OF.isoformat(), "--experiment", str(experiment))
            invoke("promote", "1")
            invoke("score", "--as-of", AS_OF.isoformat(), "--out", str(root / "scores.csv"))
            engine = open_store(get_settings().database_url)
            try:
                listing = latest_list(engine, servable=True)
                assert listing is not None
                scored = read_score_list(engine, listing.list_id)
                frames = read_tables(engine, known_before=AS_OF,
                                     names=("dealers", "inspections"))
            finally:
                engine.dispose()
        finally:
            get_settings.cache_clear()
    companions = truth_companions(Path(str(out) + ".truth.csv"))
    truth = true_serious_probability(pd.read_csv(companions["licensees"]),
                                     pd.read_csv(out / "inspections.csv"), pd.Timestamp(AS_OF))
    yield scored, frames, truth


def test_the_estimate_is_unbiased_and_the_naive_rate_is_not(
    scored_world: tuple[ScoredList, dict[str, pd.DataFrame], pd.Series],
) -> None:
    scored, frames, truth = scored_world
    estimates, naive, covered = [], [], 0
    target = None
    rng = np.random.default_rng(99)
    for seed in range(REPETITIONS):
        design = make_design(scored, frames["dealers"], frames["inspections"],
                             PlanOptions(as_of=AS_OF, seed=seed))
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
