"""Reading a headline metric over the last periods: improving, stable, worsening or volatile.

The rule (see reports/README.md): fit a least-squares line through the known values (oldest
first, one x step per period). Its slope divided by the mean level is the relative slope, the
share of its level the metric moves per period. The root mean square of the residuals divided
by the same level is the noise (the coefficient of variation of the residuals). A trend is read
when the metric moves enough per period and the noise is small next to that move; without a
trend, a large noise is volatile and a small one stable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

MIN_POINTS: Final = 3
"""Fewer known values than this say nothing about a direction: read as stable."""
MIN_RELATIVE_SLOPE: Final = 0.02
"""A trend moves the metric by at least 2 % of its level per period."""
MAX_NOISE_TO_SLOPE: Final = 2.0
"""...and its residuals spread at most twice that move: otherwise the line is not the story."""
VOLATILE_NOISE: Final = 0.10
"""Without a trend, residuals spreading 10 % of the level or more read as volatile."""


class Verdict(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    WORSENING = "worsening"
    VOLATILE = "volatile"


@dataclass(frozen=True)
class TrendReading:
    verdict: Verdict
    points: int
    """How many of the values were known (None values are periods without data)."""
    level: float | None
    """The mean of the absolute known values: the scale slope and noise are relative to."""
    slope: float | None
    """Least-squares slope per period, in the metric's unit."""
    relative_slope: float | None
    noise: float | None


def read_trend(values: Sequence[float | None], *, higher_is_better: bool) -> TrendReading:
    """The verdict on ``values`` (oldest first); None marks a period without data, kept in place on x."""
    known = [(x, float(y)) for x, y in enumerate(values) if y is not None]
    if len(known) < MIN_POINTS:
        return TrendReading(Verdict.STABLE, len(known), None, None, None, None)
    xs = np.array([x for x, _ in known], dtype=float)
    ys = np.array([y for _, y in known], dtype=float)
    slope, intercept = np.polyfit(xs, ys, 1)
    residuals = ys - (slope * xs + intercept)
    level = float(np.mean(np.abs(ys)))
    if level == 0.0:  # all zero: nothing moves
        return TrendReading(Verdict.STABLE, len(known), 0.0, 0.0, 0.0, 0.0)
    relative_slope = float(slope) / level
    noise = math.sqrt(float(np.mean(residuals**2))) / level
    return TrendReading(
        _verdict(relative_slope, noise, higher_is_better), len(known), level, float(slope), relative_slope, noise
    )


def _verdict(relative_slope: float, noise: float, higher_is_better: bool) -> Verdict:
    steep = abs(relative_slope)
    if steep >= MIN_RELATIVE_SLOPE and noise <= MAX_NOISE_TO_SLOPE * steep:
        return Verdict.IMPROVING if (relative_slope > 0) == higher_is_better else Verdict.WORSENING
    return Verdict.VOLATILE if noise >= VOLATILE_NOISE else Verdict.STABLE
