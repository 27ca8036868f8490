"""The uniqueness rules the order services rely on are the database's, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tortoise.exceptions import IntegrityError

from orders.models import EventKind, Order, OrderEvent, OrderGrant, OrderStatus
from ticketing.models import Customer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _order(order_no: str = "SO1") -> Order:
    return await Order.create(
        order_no=order_no, phone="+8613800000001", status=OrderStatus.PAID, items=[{"name": "茶杯", "quantity": 1}],
        amount=Decimal("45.00"), currency="CNY", created_at=NOW, updated_at=NOW,
    )


async def test_one_order_per_order_number(database: str) -> None:
    await _order("SO1")
    with pytest.raises(IntegrityError):
        await _order("SO1")


async def test_an_event_id_is_recorded_once(database: str) -> None:
    order = await _order()
    await OrderEvent.create(order=order, event_id="evt-1", kind=EventKind.TRACKING, happened_at=NOW, recorded_at=NOW)
    with pytest.raises(IntegrityError):
        await OrderEvent.create(
            order=await _order("SO2"), event_id="evt-1", kind=EventKind.TRACKING, happened_at=NOW, recorded_at=NOW
        )


async def test_events_without_an_id_are_not_duplicates_of_each_other(database: str) -> None:
    order = await _order()
    for _ in range(2):
        await OrderEvent.create(order=order, kind=EventKind.STATUS, status=OrderStatus.PAID, happened_at=NOW, recorded_at=NOW)
    assert await OrderEvent.filter(order=order).count() == 2


async def test_an_order_is_granted_to_a_customer_once(database: str) -> None:
    customer = await Customer.create(telegram_id=1, first_name="Wei")
    await OrderGrant.create(customer=customer, order_no="SO1", granted_at=NOW)
    with pytest.raises(IntegrityError):
        await OrderGrant.create(customer=customer, order_no="SO1", granted_at=NOW)
    other = await Customer.create(telegram_id=2, first_name="Emma")
    await OrderGrant.create(customer=other, order_no="SO1", granted_at=NOW)  # each customer proves it for themselves
