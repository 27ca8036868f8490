"""A metric per category, agent or segment over the report's periods, with the trend of each.

The report (reports/__init__.py) gives its breakdowns for its own period only, and the headline
series for everyone together. A supervisor comparing agents or categories over time needs both
at once: this module runs the report's own queries (reports/metrics.py) over the same period
boundaries, asking for the breakdown key, so the last value of each series is the figure the
report gives for that key (``Report.satisfaction.csat_by_agent`` …) and no figure is computed a
second way. No Telegram or HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Final, get_args

from reports import HIGHER_IS_BETTER, UNASSIGNED, metrics, period_bounds, plain
from reports.metrics import Breakdown, Csat, Durations, Key, by_key, ratio
from reports.trend import TrendReading, read_trend

BREAKDOWNS: Final[tuple[Breakdown, ...]] = get_args(Breakdown)


@dataclass(frozen=True)
class Metric:
    breakdowns: tuple[Breakdown, ...]
    """The breakdowns the metric has (the complaint rate is the customers', so only per segment)."""


METRICS: Final[dict[str, Metric]] = {
    "csat_score": Metric(BREAKDOWNS),
    "first_response_median_seconds": Metric(BREAKDOWNS),
    "resolution_median_seconds": Metric(BREAKDOWNS),
    "sla_breach_rate": Metric(BREAKDOWNS),
    "reopen_rate": Metric(BREAKDOWNS),
    "repeat_complaint_rate": Metric(BREAKDOWNS),
    "complaint_rate": Metric(("segment",)),
}
"""The metrics that can be broken down (which way each improves: reports.HIGHER_IS_BETTER)."""


@dataclass(frozen=True)
class KeyedSeries:
    key: str
    """The category, the agent's id (``unassigned`` without one) or the customer segment."""
    values: list[float | None]
    """One value per period, oldest first; None for a period without data."""
    trend: TrendReading


@dataclass(frozen=True)
class BreakdownSeries:
    metric: str
    by: Breakdown
    higher_is_better: bool
    period_starts: list[datetime]
    series: list[KeyedSeries]
    """One series per key with a value in any of the periods, in the key's order."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, as ``Report.to_dict``."""
        return plain(asdict(self))


def _score(csat: Csat) -> float | None:
    return csat.score


def _median(durations: Durations) -> float | None:
    return durations.median_seconds


def _ratio_of(numerator: str, denominator: str) -> Callable[[Mapping[str, int]], float | None]:
    return lambda counts: ratio(counts[numerator], counts[denominator]).value


async def _figures(metric: str, bounds: list[datetime], by: Breakdown) -> tuple[dict[Key, Any], Callable[[Any], float | None]]:
    """The report's query for ``metric`` over ``bounds`` by ``by``, and how a row gives the value."""
    if metric == "csat_score":
        return await metrics.csat(bounds, by), _score
    if metric in ("first_response_median_seconds", "resolution_median_seconds"):
        kind = "first_response" if metric.startswith("first") else "resolution"
        return await metrics.durations(bounds, kind, by), _median
    if metric == "sla_breach_rate":
        return await metrics.tickets_created(bounds, by), _ratio_of("escalated", "created")
    if metric == "repeat_complaint_rate":
        return await metrics.tickets_created(bounds, by), _ratio_of("repeats", "complaints")
    if metric == "reopen_rate":
        return await metrics.tickets_resolved(bounds, by), _ratio_of("reopened", "resolved")
    if metric == "complaint_rate":
        return await metrics.active_customers(bounds), _ratio_of("complained", "active")
    raise KeyError(metric)


async def breakdown_series(
    start: datetime, end: datetime, *, metric: str, by: Breakdown, periods: int = 6
) -> BreakdownSeries:
    """``metric`` per ``by`` over ``periods`` periods as long as [start, end), ending at ``end``
    (the periods of ``compute_report``'s series); ValueError for a metric without that breakdown."""
    if metric not in METRICS or by not in METRICS[metric].breakdowns:
        raise ValueError(f"{metric} has no breakdown by {by}")
    bounds = period_bounds(start, end, periods)
    rows, value = await _figures(metric, bounds, by)
    label = UNASSIGNED if by == "agent" else None
    per_period = [by_key(rows, b, label) for b in range(periods)]
    keys = sorted({key for found in per_period for key in found}, key=_order)
    higher_is_better = HIGHER_IS_BETTER[metric]
    series = []
    for key in keys:
        values = [value(found[key]) if key in found else None for found in per_period]
        if all(v is None for v in values):  # e.g. a category with tickets but no complaint to repeat
            continue
        series.append(KeyedSeries(key, values, read_trend(values, higher_is_better=higher_is_better)))
    return BreakdownSeries(metric, by, higher_is_better, bounds[:-1], series)


def _order(key: str) -> tuple[int, int, str]:
    """Agents by id (numbers as numbers), ``unassigned`` and ``none`` last, other keys by name."""
    if key.isdigit():
        return 0, int(key), ""
    return (2 if key in (UNASSIGNED, "none") else 1), 0, key
