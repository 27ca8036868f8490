"""RFM segments: what customers bought, from the shop's orders linked to them by phone (its blind index).

Recency (days since the last purchase), frequency (purchases) and monetary value (the sum of
their amounts) are read at a moment, counting the purchases made before it. Fixed thresholds,
not quantiles, turn them into a segment: a quantile moves with the data, so a customer could
change segment without buying anything, and the movement between two periods would mean little.
The rule, first match wins (see reports/README.md):

1. ``lost``: no purchase for more than LOST_AFTER days;
2. ``at_risk``: none for more than AT_RISK_AFTER days;
3. ``vip``: at least VIP_MIN_PURCHASES purchases worth at least VIP_MIN_SPENT together;
4. ``loyal``: at least LOYAL_MIN_PURCHASES purchases;
5. ``new``: a single, recent purchase.

Amounts are summed as they are, whatever their currency (shops sell in one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from orders.models import OrderStatus
from bot.core import sql
from reports.metrics import Ratio, ratio
from ticketing.models import Customer

LOST_AFTER: Final = timedelta(days=180)
AT_RISK_AFTER: Final = timedelta(days=90)
VIP_MIN_PURCHASES: Final = 5
VIP_MIN_SPENT: Final = 1000
LOYAL_MIN_PURCHASES: Final = 2
NOT_PURCHASES: Final = (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.RETURNED)
"""Orders that were never paid for, or whose money went back: not purchases."""
SEGMENTS: Final = ("vip", "loyal", "new", "at_risk", "lost")
NONE: Final = "none"
"""The 'from' of customers who had not bought anything at the start of the period."""


@dataclass(frozen=True)
class RfmReport:
    segments: dict[str, int]
    """Customers per segment at the end of the period."""
    previous: dict[str, int]
    """Customers per segment at its start (the end of the previous period)."""
    movement: dict[str, dict[str, int]]
    """Customers by segment at the start (or "none") and at the end: movement[from][to]."""
    repeat_purchase: Ratio
    """Customers with 2 or more purchases ÷ customers with 1 or more, at the end."""


def _segment(moment: str) -> str:
    """The CASE giving a customer's segment at ``moment`` (start or end) from their purchases.

    Purchases are aggregated per customer over all of them (before the end); those made before
    the moment are picked with a CASE inside each aggregate.
    """
    before = f"p.created_at < :{moment}"
    last = f"MAX(CASE WHEN {before} THEN p.created_at END)"
    count = f"COUNT(CASE WHEN {before} THEN 1 END)"
    spent = f"SUM(CASE WHEN {before} THEN {sql.number('p.amount')} END)"
    return f"""CASE
            WHEN {count} = 0 THEN '{NONE}'
            WHEN {last} < :lost_{moment} THEN 'lost'
            WHEN {last} < :at_risk_{moment} THEN 'at_risk'
            WHEN {count} >= {int(VIP_MIN_PURCHASES)} AND {spent} >= {int(VIP_MIN_SPENT)} THEN 'vip'
            WHEN {count} >= {int(LOYAL_MIN_PURCHASES)} THEN 'loyal'
            ELSE 'new' END"""


async def rfm(start: datetime, end: datetime) -> RfmReport:
    """Segments at ``start`` and at ``end``, and how customers moved between them, in one query.

    One pass over the purchases before ``end``, grouped by customer, gives both segments (no
    join between derived tables, whose plan could go wrong on stale statistics).
    """
    excluded = ", ".join(f":not{i}" for i in range(len(NOT_PURCHASES)))
    rows = await sql.rows(
        f"""
        WITH p AS (
            SELECT c.id AS customer_id, o.created_at AS created_at, o.amount AS amount
            FROM customer c JOIN shop_order o ON o.phone_hash = c.phone_hash
            WHERE o.created_at < :end AND o.status NOT IN ({excluded})
        ), customer_segment AS (
            SELECT {_segment("start")} AS previous, {_segment("end")} AS segment, COUNT(*) AS purchases
            FROM p GROUP BY p.customer_id
        )
        SELECT previous, segment, COUNT(*) AS customers, SUM(CASE WHEN purchases >= 2 THEN 1 ELSE 0 END) AS repeaters
        FROM customer_segment GROUP BY previous, segment
        """,
        start=start, end=end,
        lost_end=end - LOST_AFTER, at_risk_end=end - AT_RISK_AFTER,
        lost_start=start - LOST_AFTER, at_risk_start=start - AT_RISK_AFTER,
        **{f"not{i}": status.value for i, status in enumerate(NOT_PURCHASES)},
    )
    segments = dict.fromkeys(SEGMENTS, 0)
    previous = dict.fromkeys(SEGMENTS, 0)
    movement = {origin: dict.fromkeys(SEGMENTS, 0) for origin in (NONE, *SEGMENTS)}
    buyers = repeaters = 0
    for r in rows:
        customers = int(r["customers"])
        segments[r["segment"]] += customers
        if r["previous"] != NONE:
            previous[r["previous"]] += customers
        movement[r["previous"]][r["segment"]] += customers
        buyers += customers
        repeaters += int(r["repeaters"] or 0)
    return RfmReport(segments, previous, movement, ratio(repeaters, buyers))


async def refresh_customer_segments(end: datetime) -> dict[str, int]:
    """Write each buying customer's RFM segment into ``Customer.segment`` (campaigns and the customer
    card read it there); customers who bought nothing keep theirs. Returns customers per segment."""
    excluded = ", ".join(f":not{i}" for i in range(len(NOT_PURCHASES)))
    rows = await sql.rows(
        f"""
        WITH p AS (
            SELECT c.id AS customer_id, o.created_at AS created_at, o.amount AS amount
            FROM customer c JOIN shop_order o ON o.phone_hash = c.phone_hash
            WHERE o.created_at < :end AND o.status NOT IN ({excluded})
        )
        SELECT p.customer_id AS customer_id, {_segment("end")} AS segment FROM p GROUP BY p.customer_id
        """,
        end=end, lost_end=end - LOST_AFTER, at_risk_end=end - AT_RISK_AFTER,
        **{f"not{i}": status.value for i, status in enumerate(NOT_PURCHASES)},
    )
    by_segment: dict[str, list[int]] = {}
    for row in rows:
        by_segment.setdefault(row["segment"], []).append(int(row["customer_id"]))
    for segment, ids in by_segment.items():
        for first in range(0, len(ids), 500):
            await Customer.filter(id__in=ids[first:first + 500]).exclude(segment=segment).update(segment=segment)
    return {segment: len(ids) for segment, ids in by_segment.items()}
