""""Where is my order?": a customer's own orders, and never anyone else's.

A customer's orders are those of the phone they verified by sharing their contact, and those
they proved one by one with the last 4 digits of the order's phone. Someone else's order is
answered exactly like an order number that does not exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from bot.core.config import OrdersSettings
from orders.http_source import HttpOrderSource
from orders.schema import normalize_order_no
from orders.sources import LocalOrderSource, OrderSource
from orders.verification import granted_order_numbers
from orders.views import OrderView
from ticketing.models import Customer

RECENT = 5


class Lookup(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    """No order of this customer by that number (or, without one, none at all)."""
    UNVERIFIED = "unverified"
    """The customer has not shown which orders are theirs: ask for their contact or the last 4 digits."""


@dataclass(frozen=True, slots=True)
class LookupResult:
    outcome: Lookup
    orders: tuple[OrderView, ...] = ()
    """Most recent first."""


async def orders_for(customer: Customer, order_no: str | None = None, *, source: OrderSource) -> LookupResult:
    """With ``order_no``: that order, if it is the customer's. Without: their recent orders, up to 5.

    Raises OrderSourceUnavailable when orders cannot be looked up right now.
    """
    granted = await granted_order_numbers(customer)
    if order_no is not None:
        order_no = normalize_order_no(order_no)
        if customer.phone is None and order_no not in granted:
            return LookupResult(Lookup.UNVERIFIED)
        order = await source.find(order_no)
        if order is not None and (order.phone == customer.phone or order.order_no in granted):
            return LookupResult(Lookup.FOUND, (order,))
        return LookupResult(Lookup.NOT_FOUND)

    if customer.phone is None and not granted:
        return LookupResult(Lookup.UNVERIFIED)
    by_phone = await source.recent_for_phone(customer.phone, RECENT) if customer.phone else []
    by_grant = await asyncio.gather(*(source.find(n) for n in granted[:RECENT]))
    orders = {o.order_no: o for o in [*by_phone, *by_grant] if o is not None}
    recent = sorted(orders.values(), key=lambda o: o.created_at, reverse=True)[:RECENT]
    return LookupResult(Lookup.FOUND if recent else Lookup.NOT_FOUND, tuple(recent))


def make_source(settings: OrdersSettings) -> OrderSource:
    """The source ``[orders] provider`` names; ``await source.close()`` when done (the "http" one holds connections)."""
    if settings.provider == "http":
        return HttpOrderSource(settings)
    return LocalOrderSource()
