"""询单转化率: how many customers who asked before buying went on to buy, and what they spent.

A Chinese shop judges its pre-sale service (售前客服) by whether consultations turn into orders,
so the report counts them from what kefu already stores, aggregated in the database:

- a **consultation** is a customer's pre-sale contact in the period: a question the bot routed to
  a knowledge-base entry tagged ``presale`` (``kb_question.entry_id``), or a ticket of category
  ``presale`` (ticketing/triage.py) created then, the ticket's assignee being the agent who took
  part;
- it **converted** when the customer placed an order (``shop_order.created_at``) within
  ``conversion_days`` after one of those contacts (0 ≤ order − contact ≤ days × 24 h, to the
  millisecond). An order
  is the customer's when its phone is the one they shared (the blind indexes are equal) or when
  they proved it with its phone's last digits (``order_grant``).

Each customer counts once per period (and once per agent), however often they asked. The value
is 客单价 of the converted: the orders they placed within the window, summed once each, ÷ the
converted customers (amounts as the shop sent them, in its currency).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final

from bot.core import sql
from knowledge_base.loader import KBError, load_entries
from reports.metrics import Ratio, ratio

log = logging.getLogger(__name__)

PRESALE: Final = "presale"
"""The knowledge-base tag and the ticket category of a pre-sale consultation."""
OVERALL: Final = "*"
WINDOW_SLACK: Final = 0.001
"""Seconds: SQLite measures times through julianday, a float, so exactly ``days`` may come out
a few microseconds over; times are compared to the millisecond."""


@dataclass(frozen=True)
class ConversionFigures:
    consultations: int
    """Customers with a pre-sale consultation in the period."""
    converted: int
    """Of them, those who ordered within conversion_days of a consultation."""
    rate: float | None
    """converted ÷ consultations, None without consultations."""
    revenue: float | None
    """The converted customers' orders in the window, each once; None when nobody converted."""
    value: float | None
    """客单价: revenue ÷ converted, None when nobody converted."""


@dataclass(frozen=True)
class ConversionReport(ConversionFigures):
    days: int
    """The window after a consultation an order counts in ([reports] conversion_days)."""
    by_agent: dict[str, ConversionFigures]
    """Per agent id (as the report's ``agents``), over the presale tickets assigned to them."""


def presale_entries(files: Sequence[str] = ()) -> frozenset[str]:
    """Ids of the knowledge-base entries tagged ``presale``: the shipped KB and ``files`` merged as
    the bot merges them. A KB that does not load leaves the shipped one's (and a warning)."""
    stamps = tuple((f, _mtime(f)) for f in files)
    return _presale_entries(stamps)


def _mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return -1.0


@lru_cache(maxsize=8)
def _presale_entries(stamps: tuple[tuple[str, float], ...]) -> frozenset[str]:
    try:
        entries = load_entries([f for f, _ in stamps])
    except KBError as exc:
        log.warning("presale entries from the shipped knowledge base only: %s", exc)
        entries = load_entries([])
    return frozenset(e.id for e in entries.values() if PRESALE in e.tags)


async def conversion(
    start: datetime, end: datetime, *, days: int, presale: Collection[str] | None = None
) -> ConversionReport:
    """Consultations in [start, end) and how many of them converted within ``days``.

    ``presale`` are the entry ids counted as pre-sale questions (default: :func:`presale_entries`
    of the shipped knowledge base).
    """
    entries = sorted(presale_entries() if presale is None else presale)
    params = {
        "start": start, "end": end, "until": end + timedelta(days=days), "entries": sql.any_of(entries),
        "window": days * 86400 + WINDOW_SLACK, "presale": PRESALE,
    }
    # Every contact twice: once for the whole shop (k = '*'), once for the agent when there is one.
    contacts = f"""
        contact AS (
            SELECT q.customer_id AS customer_id, q.asked_at AS at, NULL AS agent
            FROM kb_question q
            WHERE q.asked_at >= :start AND q.asked_at < :end AND q.entry_id IN ANY_OF(:entries)
            UNION ALL
            SELECT t.customer_id, t.created_at, t.assignee_id
            FROM ticket t
            WHERE t.created_at >= :start AND t.created_at < :end AND t.category = :presale
        ), keyed AS (
            SELECT customer_id, at, '{OVERALL}' AS k FROM contact
            UNION ALL
            SELECT customer_id, at, CAST(agent AS TEXT) FROM contact WHERE agent IS NOT NULL
        )"""
    gap = sql.seconds_between("o.created_at", "e.at")
    # One statement: the contacts are listed once, for the counts and for the orders that followed.
    found = await sql.rows(
        f"""
        WITH {contacts}, own AS (
            SELECT c.id AS customer_id, o.id AS order_id
            FROM customer c JOIN shop_order o ON o.phone_hash = c.phone_hash
            WHERE o.created_at >= :start AND o.created_at < :until
                AND c.id IN (SELECT customer_id FROM contact)
            UNION
            SELECT g.customer_id, o.id
            FROM order_grant g JOIN shop_order o ON o.order_no = g.order_no
            WHERE o.created_at >= :start AND o.created_at < :until
                AND g.customer_id IN (SELECT customer_id FROM contact)
        ), hit AS (
            SELECT DISTINCT e.k AS k, e.customer_id AS customer_id, o.id AS order_id,
                {sql.number("o.amount")} AS amount
            FROM keyed e
            JOIN own ON own.customer_id = e.customer_id
            JOIN shop_order o ON o.id = own.order_id
            WHERE o.created_at >= e.at AND {gap} <= :window
        )
        SELECT 'asked' AS what, k, COUNT(DISTINCT customer_id) AS n, 0 AS revenue FROM keyed GROUP BY k
        UNION ALL
        SELECT 'bought', k, COUNT(DISTINCT customer_id), SUM(amount) FROM hit GROUP BY k
        """,
        **params,
    )
    asked = [r for r in found if r["what"] == "asked"]
    bought = [{"k": r["k"], "converted": r["n"], "revenue": r["revenue"]} for r in found if r["what"] == "bought"]
    counts = {str(r["k"]): int(r["n"]) for r in asked}
    sales = {str(r["k"]): (int(r["converted"]), float(r["revenue"] or 0)) for r in bought}
    figures = {k: _figures(n, *sales.get(k, (0, 0.0))) for k, n in counts.items()}
    overall = figures.pop(OVERALL, _figures(0, 0, 0.0))
    return ConversionReport(
        consultations=overall.consultations, converted=overall.converted, rate=overall.rate,
        revenue=overall.revenue, value=overall.value, days=days,
        by_agent=dict(sorted(figures.items(), key=lambda item: int(item[0]))),
    )


def _figures(consultations: int, converted: int, revenue: float) -> ConversionFigures:
    rate: Ratio = ratio(converted, consultations)
    return ConversionFigures(
        consultations=consultations,
        converted=converted,
        rate=rate.value,
        revenue=round(revenue, 2) if converted else None,
        value=round(revenue / converted, 2) if converted else None,
    )
