"""Monitoring: what the plans found, whether the model still fits the world, and the report.

- :mod:`monitoring.outcomes` links inspections to the plans that chose the licensees;
- :mod:`monitoring.figures` holds the interval and stability formulas;
- :mod:`monitoring.drift` compares the feature table on a date with the model's training
  population;
- :mod:`monitoring.monitor` assembles ``dealer-risk monitor``'s figures and the retraining
  recommendation;
- :mod:`monitoring.report` writes the public transparency report, with small-cell
  suppression.

Definitions and formulas are in ``docs/monitoring.md``. Only facts known strictly before
the monitoring date count.
"""
