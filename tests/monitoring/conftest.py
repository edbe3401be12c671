"""Generated worlds for the monitoring tests: trained and scored once per session.

``trained_world`` is a 4,000-licensee world (2014-2023) ingested into a SQLite home,
trained as of 2024-01-01 with a fast experiment, promoted and scored: the champion, its
list and the truth are shared by every monitoring test. A test on another store loads
the same world there and scores it with the same champion (no second training).

The fixtures ``trained_world`` and ``scored_world`` themselves live in ``tests.worlds``, a
plugin of the root conftest, so every folder's tests share one instance of each: a
fixture imported into a second conftest is a second fixture, trained a second time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from cli.main import app as cli_app
from data.settings import get_settings
from data.store import open_store
from data.truth_files import default_truth_path
from monitoring.outcomes import GRACE_DAYS
from planning.marks import set_mark
from synthetic import GeneratorConfig, generate_world, true_serious_probability, write_world
from tests.conftest import postgres_schema
from tests.homes import home_settings

AS_OF = dt.date(2024, 1, 1)
FAST_EXPERIMENT = 'name = "fast"\nseed = 5\nn_folds = 2\n[model]\nnum_boost_round = 40\n'


def invoke(*args: str, code: int = 0) -> str:
    """Run a CLI command in-process; its stdout (the exit code must be ``code``)."""
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == code, f"{args}: {result.output}"
    return result.stdout


@dataclass(frozen=True)
class TrainedWorld:
    """A generated world on disk, with the home its champion was trained in."""

    root: Path
    world: Path
    truth: Path
    home: Path
    experiment: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.home / 'mlflow.db'}"

    def truth_on(self, day: dt.date) -> pd.Series:
        """Each licensee's true chance that an inspection opened on ``day`` ends serious."""
        return true_serious_probability(pd.read_csv(self.truth),
                                        pd.read_csv(self.world / "inspections.csv"),
                                        pd.Timestamp(day))


def use_store(monkeypatch: pytest.MonkeyPatch, trained: TrainedWorld, url: str) -> None:
    """Point the CLI at ``url`` for the store and at the trained world's MLflow."""
    monkeypatch.setenv("DEALER_RISK_HOME", str(trained.home))
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    get_settings.cache_clear()


def build_world(root: Path, *, dealers: int, seed: int, end: dt.date,
                config: GeneratorConfig | None = None) -> tuple[Path, Path]:
    """Generate and write a world under ``root``; its directory and truth file."""
    out = root / "world"
    world = generate_world(config or GeneratorConfig(), seed=seed, dealers=dealers, end=end)
    write_world(world, out)
    return out, default_truth_path(out)


def train_world(root: Path, world: Path, truth: Path) -> TrainedWorld:
    """Ingest ``world`` into a SQLite home under ``root``, train as of AS_OF, promote."""
    experiment = root / "fast.toml"
    experiment.write_text(FAST_EXPERIMENT)
    home = root / "home"
    with home_settings(home):
        invoke("ingest", str(world))
        invoke("train", "--as-of", AS_OF.isoformat(), "--experiment", str(experiment))
        invoke("promote", "1")
    return TrainedWorld(root=root, world=world, truth=truth, home=home, experiment=experiment)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def module_store_url(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh store URL per module and backend (a schema of its own on PostgreSQL)."""
    yield from _fresh_store_url(request, tmp_path_factory, "store", "dr_mon")


def _fresh_store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     folder: str, prefix: str) -> Iterator[str]:
    """A new SQLite file under ``folder``, or a PostgreSQL schema named from ``prefix``,
    by the fixture's parameter (``sqlite`` or ``postgres``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp(folder) / 'store.db'}"
        return
    if os.environ.get("DEALER_RISK_SKIP_POSTGRES") == "1":
        pytest.skip("DEALER_RISK_SKIP_POSTGRES=1")
    admin: Engine = request.getfixturevalue("postgres_admin")
    with postgres_schema(admin, prefix) as url:
        yield url


#: The cycle's monitoring date: the plan's whole window (a year plus grace) is known.
AFTER = AS_OF + dt.timedelta(days=365 + GRACE_DAYS + 1)
#: An earlier monitoring date, while the plan was still running (a second point in time).
MIDWAY = AS_OF + dt.timedelta(days=200)


@dataclass(frozen=True)
class Cycle:
    """A store that went through the whole cycle, monitored twice, with some marks."""

    url: str
    home: Path
    tracking_uri: str
    plan: pd.DataFrame
    outcomes: pd.DataFrame  # the ingested inspections
    monitor: dict[str, Any]
    report: Path
    #: The "not inspected" marks set before monitoring: license number -> reason.
    marks: dict[str, str]
    #: Tokens of the users added to the cycle's store, by name.
    tokens: dict[str, str]
    #: The field division of the division-bound inspector, and one of another division.
    division: str
    other_division: str


def _set_marks(url: str, plan: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, str]:
    """Marks on some uninspected planned licensees of each path, and one inspected one."""
    engine = open_store(url)
    at = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    inspected = set(outcomes["license_number"])
    marks: dict[str, str] = {}
    reasons = ["refused", "out_of_business", "moved", "deferred", "refused"]
    try:
        for path in ("risk", "exploration"):
            rows = plan[plan["selected_by"] == path]
            missed = [n for n in rows["license_number"] if n not in inspected][:len(reasons)]
            for number, reason in zip(missed, reasons, strict=False):
                marks[number] = reason
        seen = next(n for n in plan["license_number"] if n in inspected)
        marks[seen] = "deferred"  # marked, then inspected all the same
        for number, reason in marks.items():
            set_mark(engine, int(plan["plan_id"].iloc[0]), number, reason=reason,
                     note=f"test note for {reason}", marked_by="field-inspector",
                     marked_at=at)
    finally:
        engine.dispose()
    return marks


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def cycle_store_url(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh store URL per backend for the session's cycle."""
    yield from _fresh_store_url(request, tmp_path_factory, "cycle-store", "dr_cyc")


@pytest.fixture(scope="session")
def cycle(trained_world: TrainedWorld, cycle_store_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    """The session world through the whole cycle on each store, once per backend:
    score, plan, outcomes drawn from the truth and ingested, marks, ``monitor`` midway and
    after the plan's window, ``report``, and users to sign in with."""
    root = tmp_path_factory.mktemp("cycle")
    with pytest.MonkeyPatch.context() as patch:
        use_store(patch, trained_world, cycle_store_url)
        try:
            invoke("ingest", str(trained_world.world))
            invoke("score", "--as-of", AS_OF.isoformat(), "--out", str(root / "scores.csv"))
            invoke("plan", "--as-of", AS_OF.isoformat(), "--out", str(root / "plan.csv"),
                   "--exploration-share", "0.3", "--seed", "11")
            invoke("simulate-outcomes", str(root / "plan.csv"), "--world",
                   str(trained_world.world), "--out", str(root / "outcomes"), "--seed", "3")
            invoke("ingest", str(root / "outcomes"))
            plan = pd.read_csv(root / "plan.csv", dtype=str)
            outcomes = pd.read_csv(root / "outcomes" / "inspections.csv", dtype=str)
            marks = _set_marks(cycle_store_url, plan, outcomes)
            invoke("monitor", "--as-of", MIDWAY.isoformat(), "--no-log")
            output = json.loads(invoke("monitor", "--as-of", AFTER.isoformat()))
            invoke("report", "--as-of", AFTER.isoformat(), "--out", str(root / "report"))
            divisions = plan["field_division"].value_counts()
            division, other = str(divisions.index[0]), str(divisions.index[1])
            tokens = {}
            for name, spec in {"supervisor": ("supervisor",), "inspector": ("inspector",),
                               "division_inspector": ("inspector", division)}.items():
                args = ["users", "add", name, "--role", spec[0]]
                if len(spec) > 1:
                    args += ["--division", spec[1]]
                tokens[name] = invoke(*args).strip().splitlines()[-1]
        finally:
            get_settings.cache_clear()
    return Cycle(url=cycle_store_url, home=trained_world.home,
                 tracking_uri=trained_world.tracking_uri, plan=plan, outcomes=outcomes,
                 monitor=output, report=root / "report", marks=marks, tokens=tokens,
                 division=division, other_division=other)
