"""Labels, temporal validation, baselines, metrics, MLflow logging and promotion."""
