"""Everything serving needs to score and explain, saved and loaded as one folder.

A bundle holds the booster (LightGBM's own text format, stable across versions), the
calibration map, the ordered feature list, the feature catalogue it was trained with and
the training metadata (as-of date, data fingerprint, experiment). The MLflow model
version stores this folder as its artifact; ``models.registry`` wraps it for pyfunc.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.explainer import Explanation, RiskExplainer

_BOOSTER = "booster.txt"
_MANIFEST = "bundle.json"


@dataclass
class ModelBundle:
    """A fitted model with its calibration, features, catalogue and metadata."""

    model: RiskModel
    calibrator: PlattCalibrator
    catalogue: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    _explainer: RiskExplainer | None = field(default=None, repr=False)

    @property
    def features(self) -> list[str]:
        return list(self.model.feature_names_)

    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        """``raw_score`` (log-odds) and calibrated ``score`` per row of ``X``."""
        raw = self.model.predict_raw(X)
        return pd.DataFrame(
            {"raw_score": raw, "score": self.calibrator.transform(raw)}, index=X.index
        )

    def explain(self, X: pd.DataFrame) -> Explanation:
        """Exact SHAP contributions on the raw score (built once, then reused)."""
        if self._explainer is None:
            self._explainer = RiskExplainer(self.model)
        return self._explainer.explain(X)

    def save(self, folder: Path) -> Path:
        """Write the bundle into ``folder`` (created) and return it."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _BOOSTER).write_text(self.model.booster_.model_to_string())
        manifest = {
            "features": self.features,
            "calibration": {
                "kind": "platt",
                "slope": self.calibrator.slope,
                "intercept": self.calibrator.intercept,
            },
            "model_params": {
                "params": self.model.params,
                "num_boost_round": self.model.num_boost_round,
                "monotone": self.model.monotone,
                "balance_classes": self.model.balance_classes,
                "seed": self.model.seed,
            },
            "catalogue": self.catalogue,
            "metadata": self.metadata,
        }
        (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> ModelBundle:
        """Read a bundle written by :meth:`save`."""
        manifest = json.loads((folder / _MANIFEST).read_text())
        import lightgbm as lgb  # here: importing the bundle alone stays light

        booster = lgb.Booster(model_str=(folder / _BOOSTER).read_text())
        model = RiskModel.from_booster(booster, **manifest["model_params"])
        if model.feature_names_ != manifest["features"]:
            raise ValueError("the booster's features differ from the bundle's feature list")
        calibration = manifest["calibration"]
        return cls(
            model=model,
            calibrator=PlattCalibrator(calibration["slope"], calibration["intercept"]),
            catalogue=manifest["catalogue"],
            metadata=manifest["metadata"],
        )


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a training frame: same rows and values, same fingerprint."""
    import hashlib

    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    digest = hashlib.sha256(np.ascontiguousarray(hashed).tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()[:16]
