"""Scoring every licensee with a model and keeping the scored list as one artifact."""
