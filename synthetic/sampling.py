"""Vectorised sampling helpers shared by the mechanisms."""

from __future__ import annotations

import numpy as np


class StateCurves:
    """Monthly intensities per state, for drawing event months by inverse CDF.

    ``intensity`` has shape (states, months). Drawing a month for each of millions of
    events, each restricted to its own licensee's month range, is one ``searchsorted``
    over all states' cumulative sums laid end to end.
    """

    def __init__(self, intensity: np.ndarray) -> None:
        self.intensity = intensity
        n_states, n_months = intensity.shape
        self.n_months = n_months
        cumulative = np.zeros((n_states, n_months + 1))
        np.cumsum(intensity, axis=1, out=cumulative[:, 1:])
        self.cumulative = cumulative
        # A gap of 1 between states keeps every draw inside its own state's stretch.
        offsets = np.concatenate([[0.0], np.cumsum(cumulative[:, -1] + 1.0)[:-1]])
        self._offsets = offsets
        self._flat = (cumulative + offsets[:, None]).ravel()

    def total(self, state: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Sum of intensity over months ``first`` (inclusive) to ``stop`` (exclusive)."""
        stop = np.maximum(stop, first)
        total: np.ndarray = self.cumulative[state, stop] - self.cumulative[state, first]
        return total

    def sample(
        self,
        rng: np.random.Generator,
        state: np.ndarray,
        first: np.ndarray,
        stop: np.ndarray,
    ) -> np.ndarray:
        """One month position per row, drawn in proportion to the state's intensity."""
        row = state * (self.n_months + 1)
        low = self._flat[row + first]
        high = self._flat[row + np.maximum(stop, first)]
        draw = low + rng.random(len(state)) * (high - low)
        position = np.searchsorted(self._flat, draw, side="right") - 1 - row
        clipped: np.ndarray = np.clip(position, first, np.maximum(stop - 1, first))
        return clipped


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """Row numbers repeated ``counts`` times (which unit each drawn event belongs to)."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
    """Lognormal draws with mean 1 and log-standard deviation ``sigma``."""
    return np.exp(rng.normal(-0.5 * sigma * sigma, sigma, size))


def categorical(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """Draws from one categorical distribution (indices into ``probabilities``)."""
    cumulative = np.cumsum(probabilities / probabilities.sum())
    return np.minimum(
        np.searchsorted(cumulative, rng.random(size), side="right"), len(cumulative) - 1
    )


def geometric_extra(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    """Non-negative geometric counts with the given mean (0 when mean is 0)."""
    if mean <= 0:
        return np.zeros(size, dtype=np.int64)
    return rng.geometric(1.0 / (1.0 + mean), size).astype(np.int64) - 1
