"""Drift and the retraining recommendation: a stable world against one that shifts.

A world generated through 2024 is trained as of 2024-01-01; ``monitor`` as of 2025-01-01
compares the licensees then with those the model was trained on. In the stable world the
generator's behaviour is the same in both years: nothing reaches the act level and no
retraining is recommended. Then half the licensees start selling crime guns at a pace
never seen in training (short time-to-crime traces recovered in Mexico, ingested for
2024): the trace features and the score drift past the act level and retraining is
recommended for that reason.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from data.contract import TABLES_BY_NAME
from monitoring.drift import ACT, PSI_ACT
from tests.monitoring.conftest import (
    AS_OF,
    TrainedWorld,
    build_world,
    invoke,
    train_world,
    use_store,
)

MONITOR_ON = dt.date(2025, 1, 1)


@pytest.fixture(scope="module")
def world_through_2024(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    root = tmp_path_factory.mktemp("drift-world")
    world, truth = build_world(root, dealers=3_000, seed=515, end=dt.date(2024, 12, 31))
    return train_world(root, world, truth)


def _shift(world: Path, out: Path, share: float = 0.5, per_licensee: int = 12) -> Path:
    """Half the licensees' new crime-gun traces in 2024, as a contract directory."""
    dealers = pd.read_csv(world / "dealers.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(8)
    chosen = dealers[rng.random(len(dealers)) < share]
    owners = np.repeat(chosen["license_number"].to_numpy(), per_licensee)
    purchase = pd.Timestamp("2024-01-15") + pd.to_timedelta(
        rng.integers(0, 200, owners.size), unit="D")
    recovery = purchase + pd.to_timedelta(rng.integers(5, 90, owners.size), unit="D")
    traces = pd.DataFrame({
        "trace_id": [f"SHIFT{i:07d}" for i in range(owners.size)],
        "license_number": owners, "firearm_type": "pistol", "caliber": "9mm",
        "purchase_date": purchase.strftime("%Y-%m-%d"),
        "recovery_date": recovery.strftime("%Y-%m-%d"),
        "trace_date": (recovery + pd.Timedelta(days=20)).strftime("%Y-%m-%d"),
        "recovery_country": "MX", "recovery_state": "Sonora", "purchaser_is_possessor": "false",
        "serial_obliterated": "true"})
    out.mkdir(parents=True)
    chosen.to_csv(out / "dealers.csv", index=False)
    traces.to_csv(out / "traces.csv", index=False)
    for name in ("multiple_sales", "inspections", "theft_loss"):
        pd.DataFrame(columns=TABLES_BY_NAME[name].column_names).to_csv(
            out / f"{name}.csv", index=False)
    return out


def _monitor() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(invoke("monitor", "--as-of", MONITOR_ON.isoformat()))
    return result


def test_a_stable_world_raises_no_flag_and_a_shifted_one_recommends_retraining(
    world_through_2024: TrainedWorld, module_store_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_store(monkeypatch, world_through_2024, module_store_url)
    invoke("ingest", str(world_through_2024.world))
    # Without a plan there is nothing to monitor: one line, exit 2.
    refused = CliRunner().invoke(cli_app, ["monitor", "--as-of", MONITOR_ON.isoformat()])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.output.strip().startswith("error: no plan made before")
    invoke("score", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "scores.csv"))
    invoke("plan", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "plan.csv"))

    stable = _monitor()
    assert stable["drift_reference"]["source"].startswith("stored list")
    acting = [row for row in stable["drift"] if row["level"] == ACT]
    assert acting == [], acting
    assert stable["retrain_recommended"] is False, stable["reasons"]
    assert stable["reasons"] == []
    assert 0 <= stable["no_history_share"]["current"] <= 1

    invoke("ingest", str(_shift(world_through_2024.world, tmp_path / "shift")))
    shifted = _monitor()
    psi = {row["feature"]: row for row in shifted["drift"]}
    for name in ("traces_1y", "score"):
        assert psi[name]["flagged"] and psi[name]["psi"] >= PSI_ACT, psi[name]
    assert shifted["retrain_recommended"] is True
    assert any(reason.startswith("drift:") for reason in shifted["reasons"])
