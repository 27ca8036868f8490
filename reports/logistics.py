"""Logistics performance by carrier: speed, reliability and exceptions, from the order feed.

Customers blame the shop for the carrier, and the service-management literature measures
delivery by speed (how long to ship, how long on the road), reliability (on time against what
was promised) and exceptions (lost, damaged, failed, sent back). The shop's feed and imports
give each order its ``carrier``, ``created_at``, ``shipped_at`` and ``delivered_at`` (set by the
order or by its status events) and optionally ``expected_delivery``; status and tracking events
may carry an ``exception``. Everything is aggregated in the database, percentiles through
bot/core/sql.py. Definitions: reports/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.core import sql
from bot.core.sql import local_dates
from reports.metrics import QUANTILES
from ticketing.triage import CATEGORIES

HOUR: Final = 3600.0
RETURNED: Final = "returned"


@dataclass(frozen=True)
class CarrierFigures:
    carrier: str | None
    """As the shop names it; None for orders sent without one."""
    shipped: int
    """Orders shipped in the period (shipped_at)."""
    ship_median_hours: float | None
    ship_p90_hours: float | None
    """Order to ship: shipped_at − created_at, over the orders shipped in the period."""
    delivered: int
    """Orders delivered in the period (delivered_at), after a shipped_at."""
    deliver_median_hours: float | None
    deliver_p90_hours: float | None
    """Ship to deliver: delivered_at − shipped_at, over the orders delivered in the period."""
    on_time: int
    on_time_rate: float | None
    """Delivered by the promise ÷ delivered: the promise is the order's expected_delivery (its
    whole day, shop time), else shipped_at + promised_days."""
    exceptions: int
    exception_rate: float | None
    """Orders shipped in the period that were returned or had an exception event ÷ shipped."""


@dataclass(frozen=True)
class LogisticsReport:
    promised_days: int
    """Days after shipping that delivery is due for an order without its own expected_delivery."""
    by_carrier: list[CarrierFigures]
    orders: int
    """Orders placed in the period (created_at)."""
    complaints_per_1000_orders: dict[str, float | None]
    """Per complaint category, complaints created in the period × 1,000 ÷ orders placed in it."""


async def logistics(start: datetime, end: datetime, *, timezone: str, promised_days: int) -> LogisticsReport:
    """The logistics figures of [start, end) (``timezone``: the shop's, for expected_delivery's day)."""
    params = {"start": start, "end": end}
    times = await _times(params)
    counts = await _counts(start, end, timezone, promised_days, params)
    carriers = sorted(counts.keys() | {k for _, k in times}, key=lambda k: (k == "", k))
    by_carrier = []
    for k in carriers:
        shipped, exceptions, delivered, on_time = counts.get(k, (0, 0, 0, 0))
        _, (ship_median, ship_p90) = times.get(("ship", k), (0, [None, None]))
        _, (deliver_median, deliver_p90) = times.get(("deliver", k), (0, [None, None]))
        by_carrier.append(CarrierFigures(
            carrier=k or None, shipped=shipped, ship_median_hours=ship_median, ship_p90_hours=ship_p90,
            delivered=delivered, deliver_median_hours=deliver_median, deliver_p90_hours=deliver_p90,
            on_time=on_time, on_time_rate=on_time / delivered if delivered else None,
            exceptions=exceptions, exception_rate=exceptions / shipped if shipped else None,
        ))
    orders, complaints = await _complaints(params)
    return LogisticsReport(
        promised_days=promised_days,
        by_carrier=by_carrier,
        orders=orders,
        complaints_per_1000_orders={
            c: round(complaints.get(c, 0) * 1000 / orders, 3) if orders else None for c in CATEGORIES
        },
    )


async def _times(params: dict[str, datetime]) -> dict[tuple[str, str], tuple[int, list[float | None]]]:
    """Count, median and p90 in hours of order-to-ship and ship-to-deliver, per (measure, carrier)."""
    ship, deliver = sql.seconds_between("o.shipped_at", "o.created_at"), sql.seconds_between("o.delivered_at", "o.shipped_at")
    source = f"""
        SELECT 'ship' AS m, COALESCE(o.carrier, '') AS k, {ship} / {HOUR} AS x FROM shop_order o
        WHERE o.shipped_at >= :start AND o.shipped_at < :end AND o.shipped_at >= o.created_at
        UNION ALL
        SELECT 'deliver', COALESCE(o.carrier, ''), {deliver} / {HOUR} FROM shop_order o
        WHERE o.delivered_at >= :start AND o.delivered_at < :end AND o.delivered_at >= o.shipped_at
    """
    found = await sql.percentiles(source, QUANTILES, ("m", "k"), **params)
    return {(m, k): (n, [round(q, 3) for q in qs]) for (m, k), (n, qs) in found.items()}


async def _counts(
    start: datetime, end: datetime, timezone: str, promised_days: int, params: dict[str, datetime]
) -> dict[str, tuple[int, int, int, int]]:
    """Per carrier: shipped, of them exceptions; delivered, of them on time."""
    days = local_dates(timezone, start - timedelta(days=1), end + timedelta(days=1))
    shipped = "o.shipped_at >= :start AND o.shipped_at < :end"
    delivered = "o.delivered_at >= :start AND o.delivered_at < :end AND o.shipped_at IS NOT NULL AND o.delivered_at >= o.shipped_at"
    on_time = (
        f"CASE WHEN o.expected_delivery IS NOT NULL THEN (CASE WHEN {days.of('o.delivered_at')} <= o.expected_delivery THEN 1 ELSE 0 END)"
        f" WHEN {sql.seconds_between('o.delivered_at', 'o.shipped_at')} <= :promised THEN 1 ELSE 0 END"
    )
    rows = await sql.rows(
        f"""
        WITH flagged AS (
            SELECT DISTINCT v.order_id AS order_id FROM order_event v
            WHERE v.exception IS NOT NULL OR v.status = '{RETURNED}'
        )
        SELECT COALESCE(o.carrier, '') AS k,
            SUM(CASE WHEN {shipped} THEN 1 ELSE 0 END) AS shipped,
            SUM(CASE WHEN ({shipped}) AND (o.status = '{RETURNED}' OR f.order_id IS NOT NULL) THEN 1 ELSE 0 END) AS exceptions,
            SUM(CASE WHEN {delivered} THEN 1 ELSE 0 END) AS delivered,
            SUM(CASE WHEN {delivered} THEN {on_time} ELSE 0 END) AS on_time
        FROM shop_order o LEFT JOIN flagged f ON f.order_id = o.id
        WHERE ({shipped}) OR (o.delivered_at >= :start AND o.delivered_at < :end)
        GROUP BY COALESCE(o.carrier, '')
        """,
        **params, **days.params, promised=float(promised_days * 86400),
    )
    return {
        str(r["k"]): (int(r["shipped"] or 0), int(r["exceptions"] or 0), int(r["delivered"] or 0), int(r["on_time"] or 0))
        for r in rows
    }


async def _complaints(params: dict[str, datetime]) -> tuple[int, dict[str, int]]:
    """Orders placed in the period, and complaints created in it by category."""
    [placed] = await sql.rows(
        "SELECT COUNT(*) AS n FROM shop_order o WHERE o.created_at >= :start AND o.created_at < :end", **params
    )
    rows = await sql.rows(
        """
        SELECT t.category AS category, COUNT(*) AS n FROM ticket t
        WHERE t.is_complaint AND t.created_at >= :start AND t.created_at < :end GROUP BY t.category
        """,
        **params,
    )
    return int(placed["n"]), {r["category"]: int(r["n"]) for r in rows}
