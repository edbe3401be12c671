"""Benchmark ``quality``: how much of the gap to the truth ceiling the model closes, per world.

``python -m benchmarks quality [--dealers=20000] [--seeds=unseen|dev] [--worlds=a,b]
[--experiment=experiments/default.toml] [--fractions=0.01,0.02,0.05]``

For each world of :data:`WORLDS` (a mechanism mix and a seed), in a fresh process:

1. generate the world (``synthetic.config_for(mix)``, 2014-2023);
2. train the experiment as of 2024-01-01, the day after the window, timing it and taking
   the process's peak memory;
3. rank every **eligible** licensee on that day (``planning.design.eligibility``: active,
   not a collector, no compliance inspection in the last 365 days, never revoked) by the
   model, by logistic regression on the model's features and training examples
   (``training.baselines.LogisticBaseline``), by the Demand Letter 2 rule and by traces
   per 1,000 sales;
4. for each list size k (1%, 2%, 5% of eligible licensees) take the mean **true**
   probability of a serious finding among the top k (the truth file's
   ``true_serious_probability`` for an inspection opened that day), beside the eligible
   mean (random) and the list ranked by the truth itself (the ceiling), and report the
   share of the gap from random to the ceiling each ranker closes
   (``training.truth.gap_closed_table``). ``behaviour_oracle`` ranks by the truth without
   the unobserved licensee effect (it knows who is careless or diverting, not the
   idiosyncrasy no table shows): how much of the ceiling is reachable at all.
   ``features_ceiling`` (:func:`features_ceiling`) is a regression of that oracle on the
   model's own features, fitted with the oracle known for every eligible licensee
   (cross-fitted): how much of it the features carry, whatever the learning.

Seeds: ``--seeds=unseen`` (the default, the figures reported in docs/model.md) uses
:data:`UNSEEN_SEEDS`, which no development run uses; ``--seeds=dev`` uses
:data:`DEV_SEEDS`, the same mixes on seeds meant for tuning features and parameters.
Iterate on ``dev``; report ``unseen``.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    ROOT,
    benchmark,
    markdown_table,
    option,
    peak_rss_mib,
    record,
    run_isolated,
)

#: The worlds: a name, its mechanism mixes (``synthetic.mechanisms``).
WORLDS: dict[str, tuple[str, ...]] = {
    "default": (),
    "random_onset_diversion+risk_regulator": ("random_onset_diversion", "risk_regulator"),
    "straw_rings": ("straw_rings",),
    "careless_records": ("careless_records",),
    "hidden_licensee_effect": ("hidden_licensee_effect",),
}
#: Worlds the 0.75 target applies to: those where a ranking that knows every licensee's
#: behaviour but not its unobserved effect (``behaviour_oracle``) closes 0.78-0.87 of the
#: gap at 2%. In ``careless_records`` (a quarter of licensees careless, ranked among
#: themselves by what no table shows) and ``hidden_licensee_effect`` that oracle closes
#: only 0.55-0.65: no model can reach 0.75 there, so they are reported, with their
#: oracle, as stress tests.
TARGET_WORLDS = ("default", "random_onset_diversion+risk_regulator", "straw_rings")
#: Seeds of the reported figures: never used while developing features, parameters or
#: the generator (tests use 0-21, 515, 4242; the demo 2026; ``train``'s benchmark 90210).
UNSEEN_SEEDS: dict[str, int] = {
    "default": 61001,
    "random_onset_diversion+risk_regulator": 61002,
    "straw_rings": 61003,
    "careless_records": 61004,
    "hidden_licensee_effect": 61005,
}
#: Seeds for development: tune on these, never on :data:`UNSEEN_SEEDS`.
DEV_SEEDS: dict[str, int] = {
    "default": 101,
    "random_onset_diversion+risk_regulator": 102,
    "straw_rings": 103,
    "careless_records": 104,
    "hidden_licensee_effect": 105,
}
DEFAULT_EXPERIMENT = "experiments/default.toml"
FRACTIONS = (0.01, 0.02, 0.05)
#: Issue 15: the model must close at least this share of the gap at 2% on every world.
TARGET_GAP_AT_2PCT = 0.75
#: Issue 15: training with the search on 80,000 licensees within 10 minutes, 4 GiB.
TARGET_SEARCH_SECONDS = 600.0
TARGET_PEAK_MIB = 4096.0
RANKERS = ("model", "logistic_regression", "demand_letter_2", "traces_per_sales",
           "behaviour_oracle", "features_ceiling")


def features_ceiling(rows: Any, oracle: Any, seed: int, folds: int = 5) -> Any:
    """What the model's features could say with perfect labels: a cross-fitted regression
    of the behaviour oracle's probability on them.

    No model could train on this (the oracle is hidden truth, known for every eligible
    licensee, not only the inspected few); it bounds what the features carry about each
    licensee's behaviour, so a model close to it is held back by its inputs, not its
    learning. Each licensee is scored by a LightGBM fit on the other folds, with the
    cross-entropy objective on the probability itself: its prediction is the expected
    probability given the features, the order that maximises the mean true probability of
    a list, which is what the gap measures (a regression of the log-odds ranks by their
    expectation instead and came out 0.01-0.05 lower on the development worlds).
    """
    import lightgbm as lgb
    import numpy as np

    matrix = rows.to_numpy(dtype=float)
    fold = np.random.default_rng(seed).integers(0, folds, len(matrix))
    scores = np.zeros(len(matrix))
    for held in range(folds):
        model = lgb.LGBMRegressor(objective="cross_entropy", n_estimators=400,
                                  learning_rate=0.03, num_leaves=15, min_child_samples=40,
                                  random_state=seed, n_jobs=1, deterministic=True,
                                  force_row_wise=True, verbose=-1)
        model.fit(matrix[fold != held], oracle[fold != held])
        scores[fold == held] = model.predict(matrix[fold == held])
    return scores


def evaluate_world(
    mechanisms: tuple[str, ...], seed: int, dealers: int, experiment: Path,
    fractions: tuple[float, ...] = FRACTIONS,
) -> dict[str, Any]:
    """Generate, train and rank one world; the gap table and the training's cost."""
    import numpy as np

    from features.pipelines.tables import EventTables
    from planning.design import eligibility
    from scoring.score import rankable_features
    from synthetic import config_for, generate_world, true_serious_probability
    from training.baselines import LogisticBaseline, demand_letter_2_rule
    from training.experiment import load_experiment
    from training.pipeline import build_training_data, train
    from training.truth import gap_closed_table

    started = time.perf_counter()
    world = generate_world(config_for(mechanisms), seed=seed, dealers=dealers)
    generate_seconds = time.perf_counter() - started
    tables = EventTables.from_mapping(world.tables())
    as_of = world.end + dt.timedelta(days=1)
    config = load_experiment(experiment)

    started, cpu_started = time.perf_counter(), time.process_time()
    data = build_training_data(tables, as_of, config)
    result = train(tables, as_of, config, data=data)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started
    train_peak = peak_rss_mib()

    features = rankable_features(tables, as_of)
    profile = tables.dealers.drop_duplicates("license_number").set_index("license_number")
    listed = profile.reindex(features.index)[["license_type", "field_division"]]
    listed = listed.rename_axis("license_number").reset_index()
    listed["score"] = 0.0  # eligibility does not read the score
    eligible, _excluded = eligibility(listed, tables.dealers, tables.inspections, as_of)
    rows = features.loc[eligible["license_number"].to_numpy()]
    truth = (world.truth.set_index("license_number")["true_serious_probability"]
             .reindex(rows.index).to_numpy(dtype=float))
    known = ~np.isnan(truth)  # empty only for a revoked licensee, which is not eligible
    rows, truth = rows[known], truth[known]
    columns = data.model_columns
    logistic = LogisticBaseline(config.seed).fit(data.features[columns], data.labels)
    scores = {
        "model": result.bundle.model.predict_raw(rows[result.bundle.features]),
        "logistic_regression": logistic.score(rows[columns]),
        "demand_letter_2": demand_letter_2_rule().score(rows),
        "traces_per_sales": rows["traces_per_1k_sales_3y"].astype(float).fillna(-1.0)
        .to_numpy(),
    }
    # What a ranking that knows every licensee's behaviour (careless, diverting, reformed,
    # repeat) but not its unobserved idiosyncrasy finds: the reachable part of the ceiling.
    known_behaviour = world.truth.assign(
        severity_logit_base=world.truth["severity_logit_base"]
        - world.truth["unobserved_severity"])
    scores["behaviour_oracle"] = (
        true_serious_probability(known_behaviour, world.inspections, as_of.isoformat())
        .reindex(rows.index).to_numpy(dtype=float))
    scores["features_ceiling"] = features_ceiling(
        rows[result.bundle.features], scores["behaviour_oracle"], config.seed)
    table = gap_closed_table(scores, truth, fractions)
    return {
        "seed": seed, "mechanisms": list(mechanisms), "dealers": dealers,
        "eligible": len(rows), "generate_seconds": generate_seconds,
        "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds,
        "train_peak_rss_mib": train_peak,
        "training_inspections": int(result.summary["training_inspections"]),
        "search_trials": int(result.summary.get("search_trials", 0)),
        "chosen": None if result.search is None else {
            "trial": result.search.best.number, "value": result.search.best.value,
            "params": result.search.best.params},
        "table": table.to_dict(orient="records"),
    }


def _world_rows(name: str, measured: dict[str, Any]) -> list[dict[str, Any]]:
    table = measured["table"]
    fractions = sorted({row["fraction"] for row in table})
    by = {(row["ranker"], row["fraction"]): row for row in table}
    out = []
    for ranker in RANKERS:
        row: dict[str, Any] = {"world": name, "seed": measured["seed"], "ranker": ranker}
        for fraction in fractions:
            row[f"gap closed @{fraction:.0%}"] = f"{by[(ranker, fraction)]['gap_closed']:.2f}"
        out.append(row)
    ceiling: dict[str, Any] = {"world": name, "seed": measured["seed"],
                               "ranker": "mean true p: random / ceiling"}
    for fraction in fractions:
        first = by[(RANKERS[0], fraction)]
        ceiling[f"gap closed @{fraction:.0%}"] = f"{first['random']:.3f} / {first['ceiling']:.3f}"
    out.append(ceiling)
    return out


@benchmark("quality")
def run(options: list[str]) -> None:
    """Train on mechanism-mix worlds; share of the gap to the truth ceiling closed per ranker."""
    dealers = int(option(options, "dealers", "20000"))
    which = option(options, "seeds", "unseen")
    if which not in ("unseen", "dev"):
        sys.exit("--seeds must be unseen or dev")
    seeds = UNSEEN_SEEDS if which == "unseen" else DEV_SEEDS
    names = option(options, "worlds", ",".join(WORLDS)).split(",")
    unknown = [name for name in names if name not in WORLDS]
    if unknown:
        sys.exit(f"unknown world(s) {unknown}; known: {list(WORLDS)}")
    experiment = option(options, "experiment", DEFAULT_EXPERIMENT)
    fractions = option(options, "fractions", ",".join(str(f) for f in FRACTIONS))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        measured = run_isolated("benchmarks.bench_quality", "--child", ",".join(WORLDS[name]),
                                str(seeds[name]), str(dealers), experiment, fractions)
        results[name] = measured
        print(f"{name} (seed {seeds[name]}): "
              + json.dumps([r for r in measured["table"] if r["ranker"] == "model"]),
              flush=True)
    rows = [row for name in names for row in _world_rows(name, results[name])]
    at_2 = {name: next(r["gap_closed"] for r in results[name]["table"]
                       if r["ranker"] == "model" and abs(r["fraction"] - 0.02) < 1e-9)
            for name in names if any(abs(r["fraction"] - 0.02) < 1e-9
                                     for r in results[name]["table"])}
    beats_logistic = {
        name: all(
            m["gap_closed"] > lr["gap_closed"]
            for m in results[name]["table"] if m["ranker"] == "model"
            for lr in results[name]["table"]
            if lr["ranker"] == "logistic_regression" and lr["fraction"] == m["fraction"])
        for name in names}
    cost = [{"world": name, "eligible": results[name]["eligible"],
             "training inspections": results[name]["training_inspections"],
             "search trials": results[name]["search_trials"],
             "train seconds": results[name]["train_seconds"],
             "train CPU seconds": results[name]["train_cpu_seconds"],
             "peak RSS (MiB)": results[name]["train_peak_rss_mib"]} for name in names]
    verdict = []
    for name, gap in at_2.items():
        oracle = next(r["gap_closed"] for r in results[name]["table"]
                      if r["ranker"] == "behaviour_oracle" and abs(r["fraction"] - 0.02) < 1e-9)
        held = (f"{'meets' if gap >= TARGET_GAP_AT_2PCT else 'misses'} the "
                f"{TARGET_GAP_AT_2PCT} target" if name in TARGET_WORLDS
                else "stress test, not held to the target")
        carried = next(r["gap_closed"] for r in results[name]["table"]
                       if r["ranker"] == "features_ceiling"
                       and abs(r["fraction"] - 0.02) < 1e-9)
        verdict.append(f"- {name}: {gap:.2f} of the gap at 2% ({held}; behaviour oracle "
                       f"{oracle:.2f}, of which the features carry {carried:.2f}); "
                       f"{'beats' if beats_logistic[name] else 'does NOT beat'} logistic "
                       f"regression at every list size.")
    targeted = [gap for name, gap in at_2.items() if name in TARGET_WORLDS]
    if targeted:
        verdict.append(f"- median over the target worlds at 2%: "
                       f"{statistics.median(targeted):.2f}.")
    searched = [name for name in names if results[name]["search_trials"]]
    for name in searched:
        seconds, peak = results[name]["train_seconds"], results[name]["train_peak_rss_mib"]
        met = seconds <= TARGET_SEARCH_SECONDS and peak <= TARGET_PEAK_MIB
        verdict.append(
            f"- training with the search ({results[name]['search_trials']} trials) on "
            f"{name}: {seconds:.0f} s, peak {peak:,.0f} MiB (targets at 80,000 licensees: "
            f"{TARGET_SEARCH_SECONDS:.0f} s, {TARGET_PEAK_MIB:,.0f} MiB: "
            f"{'met' if met else 'NOT met'}"
            f"{'' if dealers >= 80_000 else ', but this world is smaller'}); chose trial "
            f"{results[name]['chosen']['trial']} (validation "
            f"{results[name]['chosen']['value']:.3f}): `{results[name]['chosen']['params']}`.")
    body = "\n".join([
        f"`python -m benchmarks quality --dealers={dealers} --seeds={which}"
        f"{'' if experiment == DEFAULT_EXPERIMENT else f' --experiment={experiment}'}`: "
        f"{dealers:,} licensees per world, 2014-2023, `{experiment}` trained as of "
        "2024-01-01; every eligible licensee on that day ranked, and the mean true "
        "probability of a serious finding among the top k% compared with the eligible mean "
        "(random) and the list ranked by the truth (ceiling). Share of that gap closed:",
        "",
        markdown_table(rows),
        "",
        *verdict,
        "",
        "Cost of training per world (panel, validation folds, search if on, calibration "
        "and final refit; each world in a fresh process):",
        "",
        markdown_table(cost),
    ])
    suffix = "" if which == "unseen" else ", development seeds"
    search_note = "" if experiment == DEFAULT_EXPERIMENT else f", {Path(experiment).stem}"
    record(f"Quality on generated worlds ({dealers:,} licensees{suffix}{search_note})", body)
    print(body)


def _child(mechanisms: str, seed: int, dealers: int, experiment: str, fractions: str) -> None:
    names = tuple(name for name in mechanisms.split(",") if name)
    measured = evaluate_world(names, seed, dealers, ROOT / experiment,
                              tuple(float(f) for f in fractions.split(",")))
    print(json.dumps(measured))


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
