"""The explainable model: estimator, calibration, SHAP explainer, reason texts, registry."""
