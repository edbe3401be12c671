"""Benchmark the loop's commands: ``plan``, ``monitor`` and ``report`` at national size.

``python -m benchmarks cycle [--dealers=N] [--seed=S] [--rounds=R]`` builds once, with the
CLI as a user would (cached under ``benchmarks/.data/cycle-N-S/``), a full cycle: a
generated world of 80,000 licensees running to 2025-06-30 (so the plan's year and its grace
period have events), ``ingest``, ``train --as-of 2024-01-01``, ``promote``, ``score``,
``plan``, ``simulate-outcomes`` for the plan's year, and ``ingest`` of the outcomes. Then,
R rounds (3 by default), each command as a whole process (interpreter start-up included),
medians and each process's peak RSS:

- ``dealer-risk plan --as-of 2024-01-01`` on a copy of the store (each run stores a plan,
  which must not enter the monitored figures), beside a process that only reads the list
  artifact the plan is made from (``latest_list`` + ``read_score_list``): the plan's own
  work is plan minus that read. Target (issue 13): at most 5 s beyond reading the list;
- ``dealer-risk monitor --as-of 2025-04-01 --no-log``. Target (issue 14): at most 15 s;
- ``dealer-risk report --as-of 2025-04-01 --out DIR``. Target (issue 14): at most 30 s.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import DEALER_RISK, ROOT, benchmark, markdown_table, option, record, run_cli

DATA_DIR = ROOT / "benchmarks" / ".data"
TRAIN_AS_OF = "2024-01-01"
WORLD_END = "2025-06-30"
MONITOR_AS_OF = "2025-04-01"
TARGET_PLAN_BEYOND_READ_SECONDS = 5.0
TARGET_MONITOR_SECONDS = 15.0
TARGET_REPORT_SECONDS = 30.0

#: What a process that only reads the plan's list does (plan_commands.plan_and_store's reads).
_READ_LIST = f"""
import datetime as dt
from data.settings import get_settings
from data.store import open_store
from models.registry import champion_version
from scoring.lists import latest_list, read_score_list
settings = get_settings()
engine = open_store(settings.database_url)
version = champion_version(settings.mlflow_tracking_uri)
day = dt.date.fromisoformat("{TRAIN_AS_OF}")
listing = latest_list(engine, model_version=version, servable=True, on_or_before=day)
assert listing is not None
scored = read_score_list(engine, listing.list_id)
engine.dispose()
"""


#: Where ``monitor``'s time goes: its steps timed in one process (one extra run).
_MONITOR_STEPS = ("model_record", "read_score_list", "load_bundle", "load_tables",
                  "link_outcomes", "build_features", "drift_rows", "first_known_event",
                  "read_marks", "plan_figures", "calibration", "enforcement_figures")


def _monitor_steps(as_of: str) -> None:
    """Child: run ``monitoring.monitor.monitor`` with its steps timed; print JSON."""
    import datetime as dt
    import json
    from collections.abc import Callable

    started = time.perf_counter()
    import monitoring.monitor as monitoring
    from data.settings import get_settings
    from data.store import open_store

    seconds: dict[str, float] = {"imports": time.perf_counter() - started}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - begun
        return wrapper

    for name in _MONITOR_STEPS:
        setattr(monitoring, name, timed(name, getattr(monitoring, name)))
    settings = get_settings()
    engine = open_store(settings.database_url)
    begun = time.perf_counter()
    monitoring.monitor(engine, settings.mlflow_tracking_uri, dt.date.fromisoformat(as_of))
    total = time.perf_counter() - begun
    seconds["other"] = total - sum(seconds[name] for name in _MONITOR_STEPS)
    engine.dispose()
    print(json.dumps(seconds))


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process, from its own rusage."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=errors)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{errors.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def _run(env: dict[str, str], *args: str) -> str:
    print(f"   dealer-risk {' '.join(args)}", flush=True)
    started = time.perf_counter()
    output = run_cli(env, *args)
    print(f"     {time.perf_counter() - started:.0f} s", flush=True)
    return output


def build_cycle(folder: Path, dealers: int, seed: int) -> dict[str, str]:
    """The environment of a home holding a full cycle, built with the CLI once."""
    env = {**os.environ, "DEALER_RISK_HOME": str(folder / "home")}
    env.pop("DEALER_RISK_DATABASE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    done = folder / "done"
    if done.exists():
        return env
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    world = folder / "world"
    _run(env, "generate", str(world), "--dealers", str(dealers), "--seed", str(seed),
         "--end", WORLD_END)
    _run(env, "ingest", str(world))
    version = _run(env, "train", "--as-of", TRAIN_AS_OF).strip().splitlines()[-1]
    _run(env, "promote", version)
    _run(env, "score", "--as-of", TRAIN_AS_OF, "--out", str(folder / "scores.csv"))
    _run(env, "plan", "--as-of", TRAIN_AS_OF, "--out", str(folder / "plan.csv"))
    _run(env, "simulate-outcomes", str(folder / "plan.csv"), "--world", str(world),
         "--out", str(folder / "outcomes"), "--seed", "1")
    _run(env, "ingest", str(folder / "outcomes"))
    done.write_text("built\n")
    return env


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _seconds(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


@benchmark("cycle")
def run(options: list[str]) -> None:
    """Time plan, outcome ingestion, monitor and report on a trained national home."""
    dealers = int(option(options, "dealers", "80000"))
    seed = int(option(options, "seed", "4711"))
    rounds = int(option(options, "rounds", "3"))
    folder = DATA_DIR / f"cycle-{dealers}-{seed}"
    env = build_cycle(folder, dealers, seed)
    store = folder / "home" / "store.db"
    scratch = folder / "scratch"
    scratch.mkdir(exist_ok=True)
    plan_env = {**env, "DEALER_RISK_DATABASE_URL": f"sqlite:///{scratch / 'store.db'}"}
    load_before = os.getloadavg()[0]
    timings: dict[str, list[tuple[float, float]]] = {
        "read list": [], "plan": [], "monitor": [], "report": []}
    for number in range(rounds):
        # A fresh copy per round: every plan run stores a plan.
        shutil.copyfile(store, scratch / "store.db")
        for wal in ("-wal", "-shm"):
            (scratch / f"store.db{wal}").unlink(missing_ok=True)
        order = ["read list", "plan", "monitor", "report"]
        if number % 2:
            order.reverse()
        for name in order:
            if name == "read list":
                command = [sys.executable, "-c", _READ_LIST]
                seconds, peak = _timed(command, plan_env)
            elif name == "plan":
                command = [str(DEALER_RISK), "plan", "--as-of", TRAIN_AS_OF,
                           "--out", str(scratch / "plan.csv")]
                seconds, peak = _timed(command, plan_env)
            elif name == "monitor":
                command = [str(DEALER_RISK), "monitor", "--as-of", MONITOR_AS_OF, "--no-log"]
                seconds, peak = _timed(command, env)
            else:
                command = [str(DEALER_RISK), "report", "--as-of", MONITOR_AS_OF,
                           "--out", str(scratch / "report")]
                seconds, peak = _timed(command, env)
            timings[name].append((seconds, peak))
            print(f"   round {number + 1} {name}: {seconds:.2f} s", flush=True)
    load_after = os.getloadavg()[0]
    steps = subprocess.run([sys.executable, "-m", "benchmarks.bench_cycle", "--monitor-steps",
                            MONITOR_AS_OF], env=env, cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()[-1]
    step_seconds = json.loads(steps)
    medians = {name: _median([s for s, _ in values]) for name, values in timings.items()}
    peaks = {name: max(p for _, p in values) for name, values in timings.items()}
    beyond = medians["plan"] - medians["read list"]
    rows: list[dict[str, Any]] = [
        {"process": name, "median s": medians[name], "rounds (s)": _seconds(
            [s for s, _ in timings[name]]), "peak RSS (MiB)": peaks[name]}
        for name in timings]
    verdict = {True: "met", False: "NOT met"}
    body = "\n".join([
        f"Generated world: {dealers:,} licensees, seed {seed}, to {WORLD_END}; built with the "
        f"CLI (`generate --end {WORLD_END}`, `ingest`, `train --as-of {TRAIN_AS_OF}`, "
        "`promote`, `score`, `plan`, `simulate-outcomes --seed 1` for the plan's year, "
        "`ingest` of the outcomes), SQLite store. Each command a whole process (interpreter "
        f"start-up included), {rounds} rounds, order alternating, medians; "
        f"`plan` on a fresh copy of the store each round. `read list` is a process that only "
        "opens the store and reads the champion's list artifact as `plan` does.",
        "",
        markdown_table(rows),
        "",
        "Peak RSS: the largest over the rounds, each process's own (`wait4`'s rusage).",
        "",
        f"- `plan` beyond reading its list: {beyond:.2f} s (target <= "
        f"{TARGET_PLAN_BEYOND_READ_SECONDS:.0f} s: "
        f"{verdict[beyond <= TARGET_PLAN_BEYOND_READ_SECONDS]})",
        f"- `monitor --as-of {MONITOR_AS_OF}`: {medians['monitor']:.2f} s (target <= "
        f"{TARGET_MONITOR_SECONDS:.0f} s: "
        f"{verdict[medians['monitor'] <= TARGET_MONITOR_SECONDS]})",
        f"- `report --as-of {MONITOR_AS_OF}`: {medians['report']:.2f} s (target <= "
        f"{TARGET_REPORT_SECONDS:.0f} s: {verdict[medians['report'] <= TARGET_REPORT_SECONDS]})",
        "",
        f"Machine load (1-minute load average) {load_before:.1f} before the rounds and "
        f"{load_after:.1f} after: the 2 cores are shared, so the figures move with it. Where "
        "`monitor`'s time goes (its steps timed in one more process, seconds): "
        + ", ".join(f"{name} {value:.2f}" for name, value in step_seconds.items())
        + ". Reading the store's event tables (`load_tables`) and the feature table as of "
        "the date (`build_features`, for drift) are most of it.",
    ])
    record("Plan, monitor and report", body)
    print(body)


# --- the loop: does retraining learn from the plans' own inspections? ---------------------

#: A regulator whose own selection is strongly biased: few cycle or random picks, a steep
#: risk rule on what it sees (short time-to-crime traces, thefts, multiple sales, recalls).
BIASED_INSPECTIONS = {
    "cycle_monthly_hazard": 0.005,
    "random_monthly_probability": 0.0001,
    "risk_intercept": -4.5,
    "risk_short_ttc_coefficient": 2.0,
    "risk_theft_loss_coefficient": 2.0,
    "risk_multiple_sale_coefficient": 1.0,
}
LOOP_PLAN_AS_OF = "2024-01-01"
LOOP_RETRAIN_AS_OF = "2025-04-01"


def _truth_figures(bundle: Any, features: Any, true_p: Any, capacity: float) -> dict[str, float]:
    """A model's list against the truth, over every active licensee on the date."""
    import numpy as np

    score = bundle.score(features[bundle.features])["score"].to_numpy(dtype=float)
    p = np.asarray(true_p, dtype=float)
    k = max(1, round(len(p) * capacity))
    top = np.argsort(-score, kind="stable")[:k]
    best = np.argsort(-p, kind="stable")[:k]
    return {
        "true precision at capacity": float(p[top].mean()),
        "ceiling at capacity": float(p[best].mean()),
        "predicted at capacity": float(score[top].mean()),
        "mean predicted, all": float(score.mean()),
        "true rate, all": float(p.mean()),
        "Brier vs true p": float(np.mean((score - p) ** 2)),
    }


def _loop(dealers: int, seed: int, exploration_share: float) -> list[dict[str, Any]]:
    import datetime as dt

    import pandas as pd

    from features.pipelines.tables import EventTables
    from monitoring.outcomes import selection_probabilities
    from planning.design import PlanOptions
    from planning.plans import PlanInfo, make_design
    from scoring.score import rankable_features, score_list
    from synthetic import GeneratorConfig, generate_world, true_serious_probability, write_world
    from synthetic.outcomes import simulate_plan_outcomes
    from training.experiment import ExperimentConfig, WeightsConfig
    from training.pipeline import train

    plan_day = dt.date.fromisoformat(LOOP_PLAN_AS_OF)
    retrain_day = dt.date.fromisoformat(LOOP_RETRAIN_AS_OF)
    folder = DATA_DIR / f"loop-{dealers}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    config = GeneratorConfig.model_validate({"inspections": BIASED_INSPECTIONS})
    print("   generating the biased world", flush=True)
    world = generate_world(config, seed=seed, dealers=dealers, end=dt.date(2025, 12, 31))
    write_world(world, folder / "world")
    truth_path = folder / "world.truth.csv"
    tables = EventTables.from_mapping(world.tables())
    print("   training as of the plan's date", flush=True)
    first = train(tables, plan_day, ExperimentConfig())
    features = rankable_features(tables, plan_day)
    scored = score_list(features, first.bundle, tables.dealers, model_version="1",
                        as_of=plan_day)
    design = make_design(scored, tables.dealers, tables.inspections,
                         PlanOptions(as_of=plan_day, exploration_share=exploration_share))
    plan_csv = folder / "plan.csv"
    design.rows.assign(plan_id=1, model_version="1", list_id=1,
                       as_of=plan_day.isoformat()).to_csv(plan_csv, index=False)
    outcomes = simulate_plan_outcomes(truth_path, plan_csv, folder / "world",
                                      folder / "outcomes", seed=1, config=config)
    # The regulator follows the plan in its year: its own compliance inspections closing
    # from the plan's date to the retraining date give way to the plan's.
    inspections = world.inspections
    closing = pd.to_datetime(inspections["inspection_date"])
    own = (inspections["inspection_type"] == "compliance") & (
        closing >= pd.Timestamp(plan_day)) & (closing < pd.Timestamp(retrain_day))
    drawn = pd.read_csv(outcomes.out_dir / "inspections.csv", dtype={"license_number": str})
    drawn["inspection_date"] = pd.to_datetime(drawn["inspection_date"])
    looped = pd.concat([inspections[~own], drawn.astype({"violation_codes": object})],
                       ignore_index=True)
    after = EventTables.from_mapping({**world.tables(), "inspections": looped})
    plan = PlanInfo(plan_id=1, list_id=1, model_name="dealer-risk", model_version="1",
                    as_of=plan_day, period_start=plan_day,
                    period_end=plan_day + dt.timedelta(days=364), seed=0, options={},
                    summary={}, created_by="benchmark", created_at=dt.datetime.now(dt.UTC))
    selection = selection_probabilities([(plan, design.rows)], after.inspections, retrain_day)
    now_features = rankable_features(after, retrain_day)
    true_p = true_serious_probability(world.truth, looped, pd.Timestamp(retrain_day))
    true_p = true_p.reindex(now_features.index)
    known = true_p.notna().to_numpy()
    now_features, true_p = now_features[known], true_p[known]
    rows: list[dict[str, Any]] = []
    capacity = ExperimentConfig().capacity_share
    for label, bundle, summary in [("plan's model (as of 2024-01-01)", first.bundle,
                                    first.summary)]:
        rows.append({"model": label, **_truth_figures(bundle, now_features, true_p, capacity),
                     "validation precision at capacity": summary["precision_at_capacity"],
                     "validation IPW precision at capacity": float("nan"),
                     "validation IPW Brier": float("nan"),
                     "validation IPW mean predicted": float("nan"),
                     "validation IPW observed": float("nan")})
    for label, on in (("retrained, unweighted", False), ("retrained, IPW weights", True)):
        print(f"   {label}", flush=True)
        experiment = ExperimentConfig(weights=WeightsConfig(inverse_probability=on))
        result = train(after, retrain_day, experiment, selection=selection)
        rows.append({"model": label,
                     **_truth_figures(result.bundle, now_features, true_p, capacity),
                     "validation precision at capacity": result.summary["precision_at_capacity"],
                     "validation IPW precision at capacity":
                         result.summary["ipw_precision_at_capacity"],
                     "validation IPW Brier": result.summary["ipw_brier"],
                     "validation IPW mean predicted": result.summary["ipw_mean_predicted"],
                     "validation IPW observed": result.summary["ipw_observed_rate"]})
    linked = int(result.summary["plan_linked_inspections"])
    propensity = world.inspection_truth["propensity"]
    explored = outcomes.rows[(outcomes.rows["selected_by"] == "exploration")
                             & outcomes.rows["inspected"]]
    rows.append({"model": "_facts", "linked": linked,
                 "exploration inspected": len(explored),
                 "exploration serious share": float(explored["serious"].mean()),
                 "exploration true p": float(explored["true_probability"].mean()),
                 "plan rows": len(design.rows),
                 "inspected": int(outcomes.rows["inspected"].sum()),
                 "median propensity": float(propensity.median()),
                 "p10 propensity": float(propensity.quantile(0.1)),
                 "p90 propensity": float(propensity.quantile(0.9))})
    return rows


@benchmark("loop")
def run_loop(options: list[str]) -> None:
    """Run the plan-outcome-monitor loop on worlds and compare its estimates with the truth."""
    dealers = int(option(options, "dealers", "20000"))
    seeds = [int(s) for s in option(options, "seeds", "5150,5151").split(",")]
    share = float(option(options, "exploration-share", "0.2"))
    tables, all_facts = [], []
    for seed in seeds:
        rows = _loop(dealers, seed, share)
        facts = rows.pop()
        all_facts.append(f"seed {seed}: {facts['exploration inspected']:,} exploration picks "
                         f"inspected, {facts['exploration serious share']:.3f} serious "
                         f"against a mean true probability of {facts['exploration true p']:.3f}")
        tables.append(f"Seed {seed}:\n\n" + markdown_table(
            [{key: (f"{value:.4f}" if isinstance(value, float) else value)
              for key, value in row.items()} for row in rows]))
    seed = seeds[0]
    body = "\n".join([
        f"Generated worlds: {dealers:,} licensees, seeds {', '.join(map(str, seeds))}, to "
        "2025-12-31, with the "
        f"regulator's own selection strongly biased towards what it sees "
        f"(`[inspections]` {', '.join(f'{k} = {v}' for k, v in BIASED_INSPECTIONS.items())}; "
        f"seed {seed}'s propensity of its inspections: median {facts['median propensity']:.3f}, "
        f"10th percentile {facts['p10 propensity']:.4f}, 90th {facts['p90 propensity']:.3f}). "
        f"Loop: train as of {LOOP_PLAN_AS_OF} (default experiment), score, plan the year "
        f"with exploration share {share} ({facts['plan rows']:,} planned), simulate the plan's "
        f"outcomes from the truth ({facts['inspected']:,} inspected), the regulator's own "
        f"compliance inspections of that year replaced by the plan's, retrain as of "
        f"{LOOP_RETRAIN_AS_OF} without and with `[weights] inverse_probability` "
        f"({facts['linked']:,} training inspections linked to the plan). Against the truth "
        f"over every active licensee on {LOOP_RETRAIN_AS_OF}: true precision at capacity = "
        "the mean true probability of a serious outcome over the model's top 12%; ceiling = "
        "the same for the top 12% by true probability; calibration = mean predicted against "
        "true, over the list and over all, and the Brier score against the true probability. "
        "Validation figures are the runs' own (mean of 3 yearly folds over held-out "
        "inspections; IPW: weighted by 1/selection probability). Plan's exploration: "
        + "; ".join(all_facts) + ".",
        "",
        "\n\n".join(tables),
    ])
    record("Learning from the loop (inverse-probability weights)", body)
    print(body)


if __name__ == "__main__" and sys.argv[1:2] == ["--monitor-steps"]:
    _monitor_steps(sys.argv[2])
