"""Proving an order is yours: your own contact, or the order number and its phone's last 4 digits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import privacy
from bot.core import db
from orders.events import save_order
from orders.models import OrderGrant, VerificationAttempt
from orders.phones import InvalidPhone
from orders.schema import OrderIn
from orders.sources import LocalOrderSource, OrderSourceUnavailable
from orders.verification import Verification, VerifyResult, link_phone, verify_by_last4
from orders.views import OrderView
from ticketing.models import Customer

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
source = LocalOrderSource()


@pytest.fixture
async def order(database: str) -> str:
    data = OrderIn.model_validate(
        {"order_no": "SO1", "phone": "+8613800004321", "status": "shipped", "items": [{"name": "茶杯"}],
         "amount": "45", "currency": "CNY", "created_at": NOW - timedelta(days=2)}
    )
    await save_order(data, now=NOW)
    return "SO1"


@pytest.fixture
async def customer(database: str) -> Customer:
    return await Customer.create(telegram_id=1, first_name="Wei")


async def _fail(customer: Customer, times: int, at: datetime) -> None:
    for _ in range(times):
        result = await verify_by_last4(customer, "SO1", "0000", at, source=source)
        assert result.outcome is Verification.NO_MATCH


async def test_sharing_their_contact_links_the_phone_in_e164(customer: Customer) -> None:
    assert await link_phone(customer, "8613800000001") == "+8613800000001"  # Telegram: no "+"
    assert (await Customer.get(id=customer.id)).phone == "+8613800000001"
    assert await link_phone(customer, "0912 345 678", region="TW") == "+886912345678"
    with pytest.raises(InvalidPhone):
        await link_phone(customer, "12345")


async def test_the_right_last_4_digits_grant_that_order(order: str, customer: Customer) -> None:
    result = await verify_by_last4(customer, order, "４３２１", NOW, source=source)  # typed full-width
    assert result.outcome is Verification.VERIFIED
    assert await OrderGrant.filter(customer=customer, order_no=order).exists()
    again = await verify_by_last4(customer, order, "4321", NOW, source=source)
    assert again.outcome is Verification.VERIFIED and await OrderGrant.filter(customer=customer).count() == 1


async def test_someone_elses_order_and_a_made_up_one_get_the_same_answer(order: str, customer: Customer) -> None:
    wrong_digits = await verify_by_last4(customer, order, "1234", NOW, source=source)
    made_up = await verify_by_last4(customer, "SO-MADE-UP", "1234", NOW, source=source)
    assert wrong_digits.outcome is made_up.outcome is Verification.NO_MATCH
    assert (wrong_digits.tries_left, made_up.tries_left) == (4, 3)  # both count, alike
    assert await OrderGrant.all().count() == 0


async def test_the_sixth_try_within_an_hour_is_refused_without_checking(order: str, customer: Customer) -> None:
    await _fail(customer, 5, NOW)
    refused = await verify_by_last4(customer, order, "4321", NOW + timedelta(minutes=59), source=source)
    assert refused == VerifyResult(Verification.COOLING_DOWN, retry_at=NOW + timedelta(hours=1))
    assert not await OrderGrant.exists()
    assert await VerificationAttempt.all().count() == 5  # the refused try was not even recorded


async def test_the_hour_is_rolling(order: str, customer: Customer) -> None:
    await _fail(customer, 3, NOW)
    await _fail(customer, 2, NOW + timedelta(minutes=30))
    assert (await verify_by_last4(customer, order, "4321", NOW + timedelta(minutes=59), source=source)).outcome is Verification.COOLING_DOWN
    an_hour_later = NOW + timedelta(hours=1)  # the first three tries have expired: two remain
    result = await verify_by_last4(customer, order, "4321", an_hour_later, source=source)
    assert result.outcome is Verification.VERIFIED


async def test_the_limit_holds_across_a_restart_and_for_one_customer_only(
    order: str, customer: Customer, database: str
) -> None:
    await _fail(customer, 5, NOW)
    await db.disconnect()
    await db.connect(database, ready=privacy.prepare)  # another process, or kefu restarted
    again = await Customer.get(id=customer.id)
    assert (await verify_by_last4(again, order, "4321", NOW, source=source)).outcome is Verification.COOLING_DOWN
    other = await Customer.create(telegram_id=2, first_name="Emma")
    assert (await verify_by_last4(other, order, "4321", NOW, source=source)).outcome is Verification.VERIFIED


async def test_when_orders_cannot_be_looked_up_the_try_does_not_count(customer: Customer) -> None:
    class Down:
        async def find(self, order_no: str) -> OrderView | None:
            raise OrderSourceUnavailable("shop API down")

        async def recent_for_phone(self, phone: str, limit: int = 5) -> list[OrderView]:
            raise OrderSourceUnavailable("shop API down")

    with pytest.raises(OrderSourceUnavailable):
        await verify_by_last4(customer, "SO1", "4321", NOW, source=Down())
    assert await VerificationAttempt.all().count() == 0
