"""Experiment files validate, and the shipped default equals the built-in defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from features.catalogue import FEATURE_NAMES
from training.experiment import ExperimentConfig, load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def test_every_shipped_experiment_loads() -> None:
    files = sorted(EXPERIMENTS.glob("*.toml"))
    assert any(path.name == "default.toml" for path in files)
    for path in files:
        config = load_experiment(path)
        assert config.name == path.stem
        assert set(config.exclude_features) <= set(FEATURE_NAMES), path


def test_default_file_matches_built_in_defaults_apart_from_model_params() -> None:
    shipped = load_experiment(EXPERIMENTS / "default.toml")
    built_in = ExperimentConfig()
    assert shipped.model_dump(exclude={"model", "description"}) == built_in.model_dump(
        exclude={"model", "description"}
    )


def test_unknown_keys_and_labels_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nlearning_rate = 0.1\n')
    with pytest.raises(ValidationError, match="learning_rate"):
        load_experiment(bad)
    with pytest.raises(ValidationError, match="label"):
        ExperimentConfig(label="everything")
