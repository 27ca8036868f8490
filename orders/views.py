"""An order as the bot shows it: everything a status card needs, whichever source it came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from orders.models import Order, OrderEvent, OrderStatus
from orders.schema import OrderIn

CARD_EVENTS = 3


@dataclass(frozen=True, slots=True)
class OrderItem:
    name: str
    quantity: int
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    at: datetime
    place: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class OrderView:
    order_no: str
    status: OrderStatus
    items: tuple[OrderItem, ...]
    amount: Decimal
    currency: str
    carrier: str | None
    tracking_no: str | None
    events: tuple[TrackingEvent, ...]
    """The latest tracking events, newest first, at most three."""
    expected_delivery: date | None
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    phone: str = field(repr=False, default="")
    """Whose order it is (E.164): for the ownership check, never for display."""


def _latest(events: Iterable[TrackingEvent]) -> tuple[TrackingEvent, ...]:
    return tuple(sorted(events, key=lambda e: e.at, reverse=True)[:CARD_EVENTS])


def view_of_order(order: Order, tracking: Iterable[OrderEvent]) -> OrderView:
    return OrderView(
        order_no=order.order_no,
        status=OrderStatus(order.status),
        items=tuple(
            OrderItem(i["name"], int(i.get("quantity", 1)), Decimal(i["price"]) if i.get("price") is not None else None)
            for i in order.items
        ),
        amount=Decimal(order.amount),
        currency=order.currency,
        carrier=order.carrier,
        tracking_no=order.tracking_no,
        events=_latest(TrackingEvent(e.happened_at, e.place, e.description) for e in tracking),
        expected_delivery=order.expected_delivery,
        created_at=order.created_at,
        paid_at=order.paid_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        phone=order.phone or "",  # none once the customer asked to be forgotten
    )


def view_of_input(data: OrderIn) -> OrderView:
    """An order as the shop's API described it (provider "http")."""
    return OrderView(
        order_no=data.order_no,
        status=data.status,
        items=tuple(OrderItem(i.name, i.quantity, i.price) for i in data.items),
        amount=data.amount,
        currency=data.currency,
        carrier=data.carrier,
        tracking_no=data.tracking_no,
        events=_latest(TrackingEvent(e.time, e.place, e.description) for e in data.events),
        expected_delivery=data.expected_delivery,
        created_at=data.created_at,
        paid_at=data.paid_at,
        shipped_at=data.shipped_at,
        delivered_at=data.delivered_at,
        phone=data.phone,
    )
