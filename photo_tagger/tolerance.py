"""What counts as a right estimate: one test for confidences, estimates, cards and reports.

A confidence is the probability of exactly the event the figures count, so the window a
confidence sums over and the test a card or `phototag report` applies are the same object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EDGE = 1e-9  # a value exactly one tolerance away counts as within, despite float rounding


@dataclass(frozen=True)
class Tolerance:
    """Which true values count as right for an estimate e: those with low <= true/e <= high."""

    low: float
    high: float

    @classmethod
    def factor(cls, factor: float) -> Tolerance:
        """Within a factor either way (one stop is a factor of sqrt(2) in FNumber)."""
        return cls(1.0 / factor, factor)

    @property
    def centre(self) -> float:
        """Log of true/estimate at the window's middle: 0 for a symmetric tolerance."""
        return (np.log(self.low) + np.log(self.high)) / 2

    def holds(self, log_true_over_estimate: np.ndarray | float) -> np.ndarray:
        x = np.asarray(log_true_over_estimate)
        return (x >= np.log(self.low) - _EDGE) & (x <= np.log(self.high) + _EDGE)

    def hits(self, estimate: np.ndarray | float, true: np.ndarray | float) -> np.ndarray:
        return self.holds(np.log(np.asarray(true, dtype=np.float64) / estimate))


ONE_STOP = Tolerance.factor(float(np.sqrt(2.0)))
THIRD_STOP = Tolerance.factor(2 ** (1 / 6))
# The published focal-length figure: |estimate - true| <= 20% of the true value, that is
# true/estimate between 1/1.2 and 1/0.8 (a window a little wider above the estimate).
WITHIN_20_PERCENT = Tolerance(1 / 1.2, 1 / 0.8)

