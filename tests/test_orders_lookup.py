""""Where is my order?": a customer sees their own orders, and nothing tells them about anyone else's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from orders.events import OrderNotFound, apply_event, on_status_change, save_order, status_listeners
from orders.models import EventKind, Order, OrderEvent, OrderStatus
from orders.schema import OrderIn
from orders.service import Lookup, LookupResult, orders_for
from orders.sources import LocalOrderSource
from orders.verification import link_phone, verify_by_last4
from ticketing.models import Customer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MINE, THEIRS = "+8613800000001", "+8613900000009"
source = LocalOrderSource()


async def _order(order_no: str, phone: str = MINE, *, days_ago: int = 1, status: str = "shipped", **extra: object) -> Order:
    data = OrderIn.model_validate(
        {
            "order_no": order_no, "phone": phone, "status": status, "items": [{"name": "茶杯", "quantity": 2, "price": "45.00"}],
            "amount": "90.00", "currency": "CNY", "created_at": NOW - timedelta(days=days_ago), **extra,
        }
    )
    return (await save_order(data, now=NOW)).order


async def _customer(telegram_id: int = 1, phone: str | None = MINE) -> Customer:
    customer = await Customer.create(telegram_id=telegram_id, first_name="Wei")
    if phone:
        await link_phone(customer, phone.removeprefix("+"))  # as Telegram shares it: digits, no "+"
    return customer


@pytest.fixture
def heard() -> Iterator[list[tuple[str, OrderStatus | None, OrderStatus, datetime]]]:
    """What a scheduler listening with on_status_change would hear."""
    calls: list[tuple[str, OrderStatus | None, OrderStatus, datetime]] = []

    async def listener(order: Order, old: OrderStatus | None, new: OrderStatus, at: datetime) -> None:
        calls.append((order.order_no, old, new, at))

    on_status_change(listener)
    yield calls
    status_listeners.remove(listener)


async def test_a_verified_customer_sees_their_recent_orders_newest_first(database: str) -> None:
    for n in range(7):
        await _order(f"SO{n}", days_ago=n)
    await _order("SO-OTHER", THEIRS, days_ago=0)
    result = await orders_for(await _customer(), source=source)
    assert result.outcome is Lookup.FOUND
    assert [o.order_no for o in result.orders] == ["SO0", "SO1", "SO2", "SO3", "SO4"]


async def test_someone_elses_order_is_answered_like_one_that_does_not_exist(database: str) -> None:
    await _order("SO-THEIRS", THEIRS)
    customer = await _customer()
    theirs = await orders_for(customer, "SO-THEIRS", source=source)
    made_up = await orders_for(customer, "SO-MADE-UP", source=source)
    assert theirs == made_up == LookupResult(Lookup.NOT_FOUND)


async def test_an_order_number_of_their_own_shows_the_status_card(database: str) -> None:
    await _order("SO1", carrier="顺丰速运", tracking_no="SF123", expected_delivery="2026-03-12", shipped_at=NOW - timedelta(hours=20))
    for hours, place in [(20, "杭州"), (15, "杭州转运中心"), (9, "上海"), (3, "上海浦东")]:
        await apply_event("SO1", kind=EventKind.TRACKING, at=NOW - timedelta(hours=hours), now=NOW, place=place, description="…")
    result = await orders_for(await _customer(), " ＳＯ１ ", source=source)  # typed full-width, with spaces

    assert result.outcome is Lookup.FOUND
    (card,) = result.orders
    assert (card.order_no, card.status, card.carrier, card.tracking_no) == ("SO1", OrderStatus.SHIPPED, "顺丰速运", "SF123")
    assert [e.place for e in card.events] == ["上海浦东", "上海", "杭州转运中心"]  # the latest 3, newest first
    assert card.items[0].name == "茶杯" and card.items[0].quantity == 2 and str(card.amount) == "90.00"
    assert card.expected_delivery is not None and card.expected_delivery.isoformat() == "2026-03-12"
    assert MINE not in repr(card)  # the phone is for the ownership check, not for logs


async def test_a_customer_who_has_not_verified_is_asked_to(database: str) -> None:
    await _order("SO1")
    customer = await _customer(phone=None)
    assert (await orders_for(customer, source=source)).outcome is Lookup.UNVERIFIED
    assert await orders_for(customer, "SO1", source=source) == await orders_for(customer, "SO-NONE", source=source)
    assert (await orders_for(customer, "SO1", source=source)).outcome is Lookup.UNVERIFIED


async def test_an_order_proved_with_the_last_4_digits_is_shown_from_then_on(database: str) -> None:
    await _order("SO1", THEIRS, days_ago=2)
    await _order("SO2", MINE, days_ago=1)
    customer = await _customer()
    await verify_by_last4(customer, "SO1", "0009", NOW, source=source)

    assert (await orders_for(customer, "SO1", source=source)).outcome is Lookup.FOUND
    assert [o.order_no for o in (await orders_for(customer, source=source)).orders] == ["SO2", "SO1"]
    stranger = await _customer(2, phone=None)
    assert (await orders_for(stranger, "SO1", source=source)).outcome is Lookup.UNVERIFIED


async def test_a_verified_customer_without_orders_is_told_so(database: str) -> None:
    assert await orders_for(await _customer(), source=source) == LookupResult(Lookup.NOT_FOUND)


async def test_delivery_sets_delivered_at_and_the_scheduler_hears_of_it(database: str, heard: list) -> None:
    await _order("SO1")
    heard.clear()
    at = NOW - timedelta(minutes=5)
    outcome = await apply_event("SO1", kind=EventKind.STATUS, status=OrderStatus.DELIVERED, at=at, now=NOW, event_id="e1")

    assert outcome.changed and outcome.status is OrderStatus.DELIVERED
    order = await Order.get(order_no="SO1")
    assert order.status is OrderStatus.DELIVERED and order.delivered_at == at
    assert heard == [("SO1", OrderStatus.SHIPPED, OrderStatus.DELIVERED, at)]
    change = await OrderEvent.get(event_id="e1")
    assert (change.previous_status, change.status, change.happened_at) == (OrderStatus.SHIPPED, OrderStatus.DELIVERED, at)


async def test_a_repeated_event_is_applied_once(database: str, heard: list) -> None:
    await _order("SO1")
    heard.clear()
    for _ in range(2):
        last = await apply_event("SO1", kind=EventKind.STATUS, status=OrderStatus.DELIVERED, at=NOW, now=NOW, event_id="e1")
    assert last.duplicate and len(heard) == 1
    assert await OrderEvent.filter(event_id="e1").count() == 1


async def test_a_late_event_is_kept_but_does_not_turn_the_clock_back(database: str, heard: list) -> None:
    await _order("SO1")
    await apply_event("SO1", kind=EventKind.STATUS, status=OrderStatus.DELIVERED, at=NOW, now=NOW, event_id="late-2")
    outcome = await apply_event(
        "SO1", kind=EventKind.STATUS, status=OrderStatus.OUT_FOR_DELIVERY, at=NOW - timedelta(hours=2), now=NOW, event_id="late-1"
    )
    assert not outcome.changed and outcome.status is OrderStatus.DELIVERED
    assert await OrderEvent.filter(event_id="late-1").exists()


async def test_a_new_or_changed_order_is_news_for_the_listeners(database: str, heard: list) -> None:
    await _order("SO1", status="paid")
    await _order("SO1", status="paid")  # the same again: no news
    await _order("SO1", status="cancelled")
    assert [(no, old, new) for no, old, new, _ in heard] == [
        ("SO1", None, OrderStatus.PAID), ("SO1", OrderStatus.PAID, OrderStatus.CANCELLED)
    ]
    assert await Order.all().count() == 1


async def test_a_failing_listener_does_not_stop_the_others(database: str, heard: list) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("scheduler bug")

    status_listeners.insert(0, broken)
    try:
        await _order("SO1")
    finally:
        status_listeners.remove(broken)
    assert [no for no, *_ in heard] == ["SO1"]


async def test_an_event_for_an_unknown_order_is_refused(database: str) -> None:
    with pytest.raises(OrderNotFound):
        await apply_event("SO-NONE", kind=EventKind.TRACKING, at=NOW, now=NOW, description="?")
