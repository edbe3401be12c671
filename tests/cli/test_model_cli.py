"""train, promote and score from the command line, as the contract says."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from data.settings import get_settings
from data.store import open_store, schema
from data.store.write import upsert_frame
from features.catalogue import CATALOGUE_VERSION
from models.registry import _client, download_run_artifact, list_run_artifacts, version_run

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


@pytest.fixture
def loaded_home(dealer_risk_home: Path, planted_world: dict[str, pd.DataFrame]) -> Path:
    engine = open_store(get_settings().database_url)
    with engine.begin() as connection:
        for name in ("dealers", "traces", "multiple_sales", "inspections", "theft_loss"):
            frame = planted_world[name].copy()
            for column in frame.columns:
                if str(frame[column].dtype).startswith("datetime64"):
                    frame[column] = frame[column].dt.date
            upsert_frame(connection, schema.CONTRACT_TABLES[name], frame)
    engine.dispose()
    return dealer_risk_home


def planted_world_later_rows(home: Path) -> int:
    """Store traces and inspections known on or after 2023-01-01; returns how many."""
    engine = open_store(get_settings().database_url)
    with engine.begin() as connection:
        dealers = pd.read_sql("SELECT license_number FROM dealers LIMIT 40", connection)
        numbers = dealers["license_number"].tolist()
        traces = pd.DataFrame({
            "trace_id": [f"LATE-T{i}" for i in range(len(numbers))],
            "license_number": numbers,
            "firearm_type": "pistol",
            "purchase_date": [pd.Timestamp("2022-12-01").date()] * len(numbers),
            "recovery_date": [pd.Timestamp("2022-12-20").date()] * len(numbers),
            "trace_date": [pd.Timestamp("2023-01-01").date()] * len(numbers),
            "recovery_country": "MX",
        })
        inspections = pd.DataFrame({
            "inspection_id": [f"LATE-I{i}" for i in range(len(numbers))],
            "license_number": numbers,
            "inspection_date": [pd.Timestamp("2023-02-01").date()] * len(numbers),
            "inspection_type": "compliance",
            "outcome": "revocation",
            "violation_count": 9,
        })
        sent = upsert_frame(connection, schema.traces, traces)
        sent += upsert_frame(connection, schema.inspections, inspections)
    engine.dispose()
    return sent


def _experiment(tmp_path: Path, name: str, rounds: int) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nseed = 3\n[model]\nnum_boost_round = {rounds}\n')
    return str(path)


def test_train_promote_score_round_trip(loaded_home: Path, tmp_path: Path) -> None:
    fast = _experiment(tmp_path, "fast", 60)
    before = time.time()
    first = _invoke("train", "--as-of", "2023-01-01", "--experiment", fast)
    elapsed = time.time() - before
    assert first.strip().splitlines()[-1] == "1"
    second = json.loads(_invoke("train", "--as-of", "2023-01-01", "--experiment", fast,
                                "--json", "--quiet"))
    assert second["version"] == "2" and second["label"] == "serious"
    assert second["metrics"]["training_inspections"] > 0

    # The run lasts as long as the training did, not just the logging that ends it.
    first_run = _client(get_settings().mlflow_tracking_uri).get_run(version_run(
        get_settings().mlflow_tracking_uri, "1")["run_id"]).info
    assert before * 1000 <= first_run.start_time
    assert (first_run.end_time - first_run.start_time) / 1000 > 0.5 * elapsed - 3

    promoted = _invoke("promote", "1")
    assert "now champion" in promoted
    # Without a stored list the promotion says what to run next.
    assert "version 1 has no stored list yet" in promoted and "dealer-risk score" in promoted
    out1, out2 = tmp_path / "v1.csv", tmp_path / "v2.csv"
    stored1 = _invoke("score", "--as-of", "2023-01-01", "--out", str(out1))
    stored2 = _invoke("score", "--as-of", "2023-01-01", "--out", str(out2),
                      "--model", "models:/dealer-risk/2")
    # Every score makes a new list; none replaces another.
    assert stored1.strip().endswith("stored as list 1")
    assert stored2.strip().endswith("stored as list 2")
    # Version 2 has a list now, so promoting it says which list serving will show.
    promoted2 = _invoke("promote", "2")
    assert "serving will show version 2's list 2 as of 2023-01-01" in promoted2
    _invoke("promote", "1", "--force")
    scores1, scores2 = pd.read_csv(out1), pd.read_csv(out2)
    # Same data and seed: the second version scores identically.
    pd.testing.assert_frame_equal(scores1, scores2)
    assert {"license_number", "score", "rank", "percentile", "reason_1"} <= set(scores1.columns)
    assert scores1["rank"].tolist() == list(range(1, len(scores1) + 1))
    assert scores1["score"].is_monotonic_decreasing
    assert scores1["reason_1"].fillna("").str.len().gt(0).sum() > len(scores1) / 2

    # Rows known on or after the as-of date change no score.
    later = planted_world_later_rows(loaded_home)
    assert later > 0
    out3 = tmp_path / "v1-later.csv"
    _invoke("score", "--as-of", "2023-01-01", "--out", str(out3))
    assert out3.read_bytes() == out1.read_bytes()

    # The run shows everything a data scientist needs to compare and reproduce it.
    tracking = get_settings().mlflow_tracking_uri
    run = version_run(tracking, "1")
    assert {"git_commit", "catalogue_version", "data_fingerprint", "as_of"} <= set(run["tags"])
    assert run["tags"]["catalogue_version"] == CATALOGUE_VERSION
    assert {"seed", "label", "n_folds", "num_boost_round", "as_of"} <= set(run["params"])
    assert {"precision_at_2pct", "fold1_precision_at_2pct", "recall_at_capacity", "roc_auc",
            "baseline_demand_letter_2_precision_at_2pct", "brier"} <= set(run["metrics"])
    artifacts = set(list_run_artifacts(tracking, run["run_id"]))
    assert {"model_card.md", "precision_at_k.png", "reliability.png", "shap_summary.png",
            "fairness.csv", "fairness.png", "shap_family_importance.csv"} <= artifacts

    status = json.loads(_invoke("status"))
    assert [v["version"] for v in status["model_versions"]] == ["1", "2"]
    assert status["champion"] == "1" and status["store_exists"] is True
    # ISO dates and the model card's summary, as the UI shows them.
    created = dt.datetime.fromisoformat(status["model_versions"][0]["created"])
    assert created.tzinfo is not None and created.year >= 2024
    description = status["model_versions"][0]["description"]
    assert "label serious, as of 2023-01-01" in description
    assert "precision at capacity" in description and "Demand Letter 2 rule" in description
    assert (loaded_home / "mlflow-artifacts").is_dir()


def test_promote_refuses_a_worse_version_unless_forced(loaded_home: Path, tmp_path: Path) -> None:
    good = _invoke("train", "--as-of", "2023-01-01", "--experiment",
                   _experiment(tmp_path, "good", 60)).strip().splitlines()[-1]
    _invoke("promote", good)
    weak_path = tmp_path / "weak.toml"
    # Only one feature, and a metric that is stable on a small world (precision@2% of a
    # few hundred held-out inspections is a handful of rows).
    weak_path.write_text('name = "weak"\nselection_metric = "roc_auc"\nexclude_features = '
                         + json.dumps(_all_but_one()) +
                         '\n[model]\nnum_boost_round = 20\n')
    weak = _invoke("train", "--as-of", "2023-01-01", "--experiment",
                   str(weak_path)).strip().splitlines()[-1]
    refused = runner.invoke(app, ["promote", weak])
    assert refused.exit_code == 1
    assert "worse than champion" in refused.output and "roc_auc" in refused.output
    forced = runner.invoke(app, ["promote", weak, "--force"])
    assert forced.exit_code == 0 and "by --force" in forced.stdout

    # A model of another label answers another question: refused unless forced.
    other = tmp_path / "other_label.toml"
    other.write_text('name = "other_label"\nlabel = "any_violation"\n[model]\n'
                     'num_boost_round = 60\n')
    trained = runner.invoke(app, ["train", "--as-of", "2023-01-01", "--experiment", str(other)])
    assert trained.exit_code == 0, trained.output
    version = trained.stdout.strip().splitlines()[-1]
    # The count is of the run's own label, not of "serious" outcomes.
    assert "positive for label any_violation)" in trained.stderr
    assert "serious)" not in trained.stderr
    tracking = get_settings().mlflow_tracking_uri
    card = download_run_artifact(tracking, version_run(tracking, version)["run_id"],
                                 "model_card.md", tmp_path / "card")
    assert "positive (label `any_violation`)" in card.read_text()
    refused = runner.invoke(app, ["promote", version])
    assert refused.exit_code == 1 and "not comparable" in refused.output


def _all_but_one() -> list[str]:
    from features.catalogue import FEATURE_NAMES

    return [name for name in FEATURE_NAMES if name != "traces_3y"]


def test_score_without_a_champion_says_so(dealer_risk_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", "--as-of", "2023-01-01", "--out",
                                 str(tmp_path / "s.csv")])
    assert result.exit_code == 1
    assert "train and promote a model first" in result.output
    assert not (tmp_path / "s.csv").exists()


def test_train_with_too_little_history_says_so(loaded_home: Path) -> None:
    result = runner.invoke(app, ["train", "--as-of", "2014-02-01"])
    assert result.exit_code == 1
    assert "too few" in result.output
