"""A column bundle: one numpy array per field, all of one length, one entry per event."""

from __future__ import annotations

from typing import Self

import numpy as np


class EventColumns:
    """Base of the generator's event dataclasses (traces, reports, inspections).

    Every field is an array with one entry per event, and ``licensee`` is among them.
    """

    licensee: np.ndarray

    def __len__(self) -> int:
        return len(self.licensee)

    def subset(self, keep: np.ndarray) -> Self:
        """The events selected by a boolean mask or index array."""
        return type(self)(**{name: value[keep] for name, value in vars(self).items()})
