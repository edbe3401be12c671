"""Benchmark ``features``: the feature table and a training panel on a national-size world.

``python -m benchmarks features [--dealers=N] [--pairs=N] [--seed=S] [--throwaway]`` generates an
80,000-licensee world (millions of traces) once into a temporary folder, then times each
step in a fresh process (so peak memory is the step's own, see ``harness.run_isolated``):

* ``features``: ``build_features`` on one date (target under 10 s);
* ``panel``: ``build_panel`` on about 100,000 (licensee, date) pairs, one per inspection,
  dated 120 days before the inspection closed as training does (target under 60 s);
* ``groupby``: a plain ``traces.groupby("license_number").size()`` over the same trace
  rows, measured in the same run, to express both as a machine-independent ratio.

The world comes from ``synthetic.generate_world`` when that generator exists
(unless ``--throwaway``), and otherwise from the simple generator below (rates per sale
with heavy tails; enough to exercise the same code paths and volumes, not calibrated).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.harness import (
    benchmark,
    markdown_table,
    option,
    peak_rss_mib,
    record,
    run_isolated,
)

AS_OF = dt.date(2025, 1, 1)
TABLE_NAMES = ("dealers", "traces", "multiple_sales", "inspections", "theft_loss")
TARGET_SECONDS = {"features": 10.0, "panel": 60.0}
_START = np.datetime64("2009-01-01", "D")
_END = np.datetime64("2024-12-31", "D")
_BORDER_STATES = ("TX", "AZ", "CA", "NM")
_STATES = ("TX", "FL", "PA", "NC", "OH", "AZ", "CA", "GA", "MI", "TN", "NM", "NY", "WA", "CO")
_STATE_WEIGHTS = np.array([8.4, 4.3, 3.2, 3.0, 2.9, 2.6, 2.5, 2.4, 2.3, 2.2, 0.9, 1.9, 1.8, 1.7])


def _dates(generator: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """One uniform day in ``[low, high]`` per row (datetime64[D] arrays)."""
    span = (high - low).astype(np.int64) + 1
    return low + (generator.random(low.size) * span).astype(np.int64).astype("timedelta64[D]")


def throwaway_world(n_dealers: int, seed: int) -> dict[str, pd.DataFrame]:
    """A quick national-size world in contract form (not the calibrated generator)."""
    generator = np.random.default_rng(seed)
    license_type = generator.choice(
        np.array(["01", "02", "07", "08", "03", "06"]),
        n_dealers,
        p=[0.62, 0.08, 0.24, 0.02, 0.03, 0.01],
    )
    state = generator.choice(np.array(_STATES), n_dealers, p=_STATE_WEIGHTS / _STATE_WEIGHTS.sum())
    sequence = pd.Series(np.arange(n_dealers)).astype(str).str.zfill(5)
    numbers = (
        "5-74-"
        + pd.Series(np.arange(n_dealers) // 1000 % 1000).astype(str).str.zfill(3)
        + "-"
        + license_type
        + "-4A-"
        + sequence
    ).to_numpy(dtype=object)
    issue = _dates(
        generator, np.full(n_dealers, np.datetime64("1985-01-01", "D")), np.full(n_dealers, _END)
    )
    sales = np.round(generator.lognormal(np.log(250), 1.0, n_dealers))
    dealers = pd.DataFrame(
        {
            "license_number": numbers,
            "license_type": license_type,
            "business_name": "Synthetic Arms",
            "premise_state": state,
            "license_issue_date": issue.astype("datetime64[s]"),
            "annual_firearm_sales": pd.array(
                np.where(generator.random(n_dealers) < 0.05, np.nan, sales), dtype="Int64"
            ),
            "urbanicity": generator.choice(np.array(["urban", "suburban", "rural"]), n_dealers),
        }
    )
    first_day = np.maximum(issue, _START)
    years_active = ((_END - first_day).astype(np.int64) + 1) / 365.25
    retail = np.isin(license_type, ["01", "02"])
    risk = generator.lognormal(0.0, 1.3, n_dealers)

    def events(rate_per_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = generator.poisson(np.clip(rate_per_year * years_active, 0, None))
        owner = np.repeat(np.arange(n_dealers), counts)
        return owner, _dates(generator, first_day[owner], np.full(owner.size, _END))

    # Traces: about 4.5 per retail licensee-year, proportional to sales, heavy-tailed.
    owner, trace_day = events(np.where(retail, 4.5 * sales / 250 * risk / np.exp(1.3**2 / 2), 0.05))
    n = owner.size
    recovery = trace_day - generator.integers(0, 60, n).astype("timedelta64[D]")
    purchase = recovery - np.round(generator.exponential(6 * 365, n)).astype(np.int64).astype(
        "timedelta64[D]"
    )
    border = np.isin(state[owner], _BORDER_STATES)
    traces = pd.DataFrame(
        {
            "trace_id": ("T" + pd.Series(np.arange(n)).astype(str)).to_numpy(dtype=object),
            "license_number": numbers[owner],
            "firearm_type": generator.choice(
                np.array(["pistol", "revolver", "rifle", "shotgun", "derringer", "other"]),
                n,
                p=[0.6, 0.1, 0.15, 0.1, 0.02, 0.03],
            ),
            "purchase_date": purchase.astype("datetime64[s]"),
            "recovery_date": recovery.astype("datetime64[s]"),
            "trace_date": trace_day.astype("datetime64[s]"),
            "recovery_country": np.where(border & (generator.random(n) < 0.05), "MX", "US"),
            "purchaser_is_possessor": pd.array(
                np.where(generator.random(n) < 0.3, None, generator.random(n) < 0.7),
                dtype="boolean",
            ),
            "serial_obliterated": pd.array(generator.random(n) < 0.03, dtype="boolean"),
        }
    )
    # Multiple sales: about 2 reports per retail licensee-year; 3310.12 in border states.
    owner, report_day = events(np.where(retail, 2.0 * risk, 0.0))
    m = owner.size
    rifle_form = np.isin(state[owner], _BORDER_STATES) & (generator.random(m) < 0.3)
    multiple_sales = pd.DataFrame(
        {
            "report_id": ("M" + pd.Series(np.arange(m)).astype(str)).to_numpy(dtype=object),
            "license_number": numbers[owner],
            "report_date": report_day.astype("datetime64[s]"),
            "form": np.where(rifle_form, "3310.12", "3310.4"),
            "firearm_count": 2 + generator.geometric(0.6, m) - 1,
            # A buyer's key is local to the shop, so some buyers come back.
            "purchaser_key": (
                "P" + pd.Series(owner * 40 + generator.integers(0, 40, m)).astype(str)
            ).to_numpy(dtype=object),
        }
    )
    # Inspections: about 0.12 per licensee-year.
    owner, closed = events(np.full(n_dealers, 0.12))
    k = owner.size
    outcome = generator.choice(
        np.array(
            [
                "no_violations",
                "violations_cited",
                "warning_letter",
                "warning_conference",
                "revocation",
            ]
        ),
        k,
        p=[0.62, 0.2, 0.13, 0.03, 0.02],
    )
    inspections = pd.DataFrame(
        {
            "inspection_id": ("I" + pd.Series(np.arange(k)).astype(str)).to_numpy(dtype=object),
            "license_number": numbers[owner],
            "inspection_date": closed.astype("datetime64[s]"),
            "inspection_type": "compliance",
            "outcome": outcome,
            "violation_count": generator.poisson(1.5, k),
            "missing_firearms": pd.array(generator.poisson(0.5, k), dtype="Int64"),
        }
    )
    owner, reported = events(np.full(n_dealers, 0.1))
    theft_loss = pd.DataFrame(
        {
            "report_id": ("R" + pd.Series(np.arange(owner.size)).astype(str)).to_numpy(
                dtype=object
            ),
            "license_number": numbers[owner],
            "report_date": reported.astype("datetime64[s]"),
            "kind": generator.choice(np.array(["theft", "loss"]), owner.size),
            "firearm_count": 1 + generator.poisson(1.0, owner.size),
        }
    )
    return {
        "dealers": dealers,
        "traces": traces,
        "multiple_sales": multiple_sales,
        "inspections": inspections,
        "theft_loss": theft_loss,
    }


def generate(
    n_dealers: int, seed: int, throwaway: bool
) -> tuple[dict[str, pd.DataFrame], str, dt.date]:
    """The world, the name of the generator that made it, and the as_of date to use."""
    if not throwaway:
        try:
            from synthetic import generate_world
        except ImportError:
            pass
        else:
            world = generate_world(seed=seed, dealers=n_dealers)
            as_of = world.end + dt.timedelta(days=1)
            return world.tables(), "synthetic.generate_world", as_of
    tables = throwaway_world(n_dealers, seed)
    return tables, "the throwaway generator in benchmarks/bench_features.py", AS_OF


def _load(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(folder / f"{name}.parquet")
        for name in TABLE_NAMES
        if (folder / f"{name}.parquet").exists()
    }


def _pairs(tables: dict[str, pd.DataFrame], count: int, seed: int) -> pd.DataFrame:
    """One pair per inspection (opened 120 days before it closed), sampled or topped up
    with random (licensee, date) pairs to exactly ``count``."""
    inspections = tables["inspections"]
    opened = pd.to_datetime(inspections["inspection_date"]) - pd.Timedelta(days=120)
    pairs = pd.DataFrame({"license_number": inspections["license_number"], "as_of": opened})
    if len(pairs) > count:
        pairs = pairs.sample(count, random_state=seed)
    elif len(pairs) < count:
        generator = np.random.default_rng(seed)
        extra = count - len(pairs)
        low, high = opened.min(), opened.max()
        days = generator.integers(0, max((high - low).days, 1), extra)
        pairs = pd.concat(
            [
                pairs,
                pd.DataFrame(
                    {
                        "license_number": generator.choice(
                            tables["dealers"]["license_number"].to_numpy(), extra
                        ),
                        "as_of": low + pd.to_timedelta(days, unit="D"),
                    }
                ),
            ]
        )
    return pairs.reset_index(drop=True)


def step(name: str, folder: Path, pair_count: int, seed: int, as_of: dt.date) -> dict[str, Any]:
    """Run one measured step on the world saved in ``folder`` (in this process)."""
    from features.pipelines import build_features, build_panel

    tables = _load(folder)
    pairs = _pairs(tables, pair_count, seed) if name == "panel" else None
    rss_before = peak_rss_mib()
    start = time.perf_counter()
    rows: int
    if name == "groupby":
        rows = len(tables["traces"].groupby("license_number").size())
    elif name == "features":
        rows = len(build_features(tables, as_of))
    elif name == "panel":
        assert pairs is not None
        rows = len(build_panel(tables, pairs))
    else:
        raise ValueError(f"unknown step {name!r}")
    seconds = time.perf_counter() - start
    return {
        "step": name,
        "seconds": seconds,
        "rows": rows,
        "pairs": 0 if pairs is None else len(pairs),
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": rss_before,
    }




def _measure_world(
    tables: dict[str, pd.DataFrame], source: str, as_of: dt.date, pair_count: int, seed: int
) -> str:
    """Time the three steps on one world, each in a fresh process; a Markdown report."""
    with tempfile.TemporaryDirectory(prefix="bench-features-") as directory:
        folder = Path(directory)
        for name, frame in tables.items():
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        counts = {name: len(frame) for name, frame in tables.items()}
        tables.clear()  # free the generator's frames before the measured processes start
        print(f"world: {counts} from {source}", flush=True)
        results = {}
        for name in ("groupby", "features", "panel"):
            results[name] = run_isolated(
                "benchmarks.bench_features",
                name,
                str(folder),
                str(pair_count),
                str(seed),
                as_of.isoformat(),
            )
            print(json.dumps(results[name]), flush=True)

    baseline = results["groupby"]["seconds"]
    table_rows = []
    for name in ("features", "panel"):
        result = results[name]
        label = "feature table, one date" if name == "features" else "panel"
        table_rows.append(
            {
                "step": f"{label}, {result['pairs']:,} pairs" if name == "panel" else label,
                "rows out": result["rows"],
                "seconds": result["seconds"],
                "target s": TARGET_SECONDS[name],
                "meets target": "yes" if result["seconds"] < TARGET_SECONDS[name] else "NO",
                "x group-by count": result["seconds"] / baseline,
                "peak RSS MiB": result["peak_rss_mib"],
                "RSS with tables loaded MiB": result["rss_before_mib"],
            }
        )
    table_rows.append(
        {
            "step": "baseline: traces.groupby(license_number).size()",
            "rows out": results["groupby"]["rows"],
            "seconds": baseline,
            "target s": "-",
            "meets target": "-",
            "x group-by count": 1.0,
            "peak RSS MiB": results["groupby"]["peak_rss_mib"],
            "RSS with tables loaded MiB": results["groupby"]["rss_before_mib"],
        }
    )
    world = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    return f"World from {source}: {world} rows; as_of {as_of.isoformat()}.\n\n" + markdown_table(
        table_rows
    )


@benchmark("features")
def run(options: list[str]) -> None:
    """Time the steps on the synthetic world and on the larger throwaway one; record both.

    ``--throwaway`` measures only the throwaway world (e.g. before the generator exists).
    """
    n_dealers = int(option(options, "dealers", "80000"))
    pair_count = int(option(options, "pairs", "100000"))
    seed = int(option(options, "seed", "1"))
    sections = []
    for throwaway in (False, True) if "--throwaway" not in options else (True,):
        tables, source, as_of = generate(n_dealers, seed, throwaway)
        if not throwaway and source.startswith("the throwaway"):
            continue  # no synthetic generator: the throwaway run below is the only one
        sections.append(_measure_world(tables, source, as_of, pair_count, seed))
    body = (
        f"`python -m benchmarks features` (seed {seed}, {n_dealers:,} licensees). Panel pairs: "
        "one per inspection, opened 120 days before it closed, topped up with random "
        "licensee-dates to the pair count (pairs of licensees not active on their date are "
        "dropped, hence fewer rows out). Each step ran in a fresh process on tables already "
        "in memory (loading them is not timed, peak RSS includes them); the ratio divides "
        "by the plain group-by count over the same trace rows, measured in the same run. "
        "The throwaway world has about twice the synthetic world's traces and multiple "
        "sales: a stress case.\n\n" + "\n\n".join(sections)
    )
    record("Features", body)
    print(body)


def main(argv: list[str]) -> None:
    """Isolated step: ``python -m benchmarks.bench_features STEP DIR PAIRS SEED AS_OF``."""
    name, folder, pair_count, seed, as_of = argv
    result = step(name, Path(folder), int(pair_count), int(seed), dt.date.fromisoformat(as_of))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
