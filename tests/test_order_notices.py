"""A customer is told that their order shipped or arrived: through the outbox, like every other
message kefu sends unasked.

The shop's side is the order service (what the feed calls); the customer's side is the emulator.
A notice waits for the end of the quiet hours, never reaches a customer who sent /unsubscribe,
and goes once per order and status however often the shop reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.config import OrdersSettings
from orders.events import apply_event, save_order
from orders.models import EventKind, OrderStatus
from orders.schema import OrderIn
from scheduler.models import OutboxMessage
from tests.harness import Person
from ticketing.models import Customer

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the shop's zone; quiet hours 21:00-09:00 by default
AFTERNOON = datetime(2026, 3, 10, 14, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 3, 10, 22, 30, tzinfo=SHANGHAI)
MORNING = datetime(2026, 3, 11, 9, 0, tzinfo=SHANGHAI)
PHONE = "+8613800000001"
ORDER = {
    "order_no": "SO1", "phone": "13800000001", "status": "paid", "items": [{"name": "西湖龙井 250g", "quantity": 2}],
    "amount": "176.00", "currency": "CNY", "created_at": "2026-03-08T10:00:00+08:00", "paid_at": "2026-03-08T10:05:00+08:00",
}
SHIPPED_EN = "🚚 Good news: your order SO1 has shipped!"
DELIVERED_EN = "✅ Your order SO1 has been delivered. We hope you enjoy it!"


async def ordered(now: datetime) -> None:
    """The shop sends the paid order: a new order tells nobody."""
    await save_order(OrderIn.model_validate(ORDER), now=now)


async def moves(status: OrderStatus, now: datetime, event_id: str | None = None, version: int | None = None) -> None:
    """The shop reports a status change, as the order feed does."""
    await apply_event("SO1", kind=EventKind.STATUS, status=status, at=now, now=now, event_id=event_id, version=version)


async def share_contact(customer: Person, phone: str = PHONE) -> None:
    """The customer proves the order's phone is theirs (the orders handler links it)."""
    await customer.bot.handled(customer.bot.emulator.send_contact(customer.id, phone))


def told(customer: Person, since: int) -> list[str]:
    return [m["text"] for m in customer.bot.emulator.bot_messages(customer.chat_id, since=since)]


async def test_a_shipped_order_queues_one_notice_and_the_customer_gets_it_as_before(customer: Person) -> None:
    bot = customer.bot
    bot.travel(AFTERNOON)
    await share_contact(customer)
    await ordered(AFTERNOON)
    before = bot.emulator.seq
    await moves(OrderStatus.SHIPPED, AFTERNOON, event_id="evt-shipped")

    row = await OutboxMessage.get(kind="order_status")
    assert (row.status, row.payload) == ("queued", {"order_no": "SO1", "status": "shipped"})
    assert told(customer, before) == []  # not sent by the event, but by the sender
    assert await bot.run_scheduler(AFTERNOON) == 1
    notice = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in notice] == [SHIPPED_EN]
    assert (await OutboxMessage.get(id=row.id)).status == "sent"

    card = await customer.press("Order details", notice)
    assert card.text.startswith("📦 Order SO1\nStatus: Shipped")


async def test_the_notice_comes_in_the_customers_language(make_customer: Callable[..., Person]) -> None:
    customer: Person = make_customer(language_code="zh-TW")
    customer.bot.travel(AFTERNOON)
    await share_contact(customer)
    await ordered(AFTERNOON)
    before = customer.bot.emulator.seq
    await moves(OrderStatus.DELIVERED, AFTERNOON)
    await customer.bot.run_scheduler(AFTERNOON)
    notice = customer.bot.emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in notice] == ["✅ 您的訂單 SO1 已簽收，祝您使用愉快！"]
    assert notice[0]["reply_markup"]["inline_keyboard"] == [[{"text": "檢視訂單詳情", "callback_data": "ord:SO1"}]]


async def test_a_notice_in_quiet_hours_waits_for_the_morning(customer: Person) -> None:
    bot = customer.bot
    bot.travel(NIGHT)
    await share_contact(customer)
    await ordered(NIGHT)
    before = bot.emulator.seq
    await moves(OrderStatus.SHIPPED, NIGHT)
    assert await bot.run_scheduler(NIGHT) == 0
    assert await bot.run_scheduler(MORNING - timedelta(minutes=1)) == 0
    assert told(customer, before) == []
    assert await bot.run_scheduler(MORNING) == 1
    assert told(customer, before) == [SHIPPED_EN]


async def test_a_customer_who_unsubscribed_is_told_nothing(customer: Person) -> None:
    bot = customer.bot
    bot.travel(AFTERNOON)
    await share_contact(customer)
    await customer.say("/unsubscribe")
    await ordered(AFTERNOON)
    before = bot.emulator.seq
    await moves(OrderStatus.SHIPPED, AFTERNOON)
    assert await bot.run_scheduler(AFTERNOON) == 0
    assert told(customer, before) == []
    assert not await OutboxMessage.exists(kind="order_status")


async def test_unsubscribing_while_a_notice_waits_cancels_it(customer: Person) -> None:
    bot = customer.bot
    bot.travel(NIGHT)
    await share_contact(customer)
    await ordered(NIGHT)
    await moves(OrderStatus.SHIPPED, NIGHT)
    await customer.say("/unsubscribe")
    before = bot.emulator.seq
    assert await bot.run_scheduler(MORNING) == 0
    assert told(customer, before) == []
    assert (await OutboxMessage.get(kind="order_status")).status == "cancelled"


async def test_a_customer_who_blocked_the_bot_is_marked_blocked_and_told_nothing_more(customer: Person) -> None:
    bot = customer.bot
    bot.travel(AFTERNOON)
    await share_contact(customer)
    await ordered(AFTERNOON)
    await moves(OrderStatus.SHIPPED, AFTERNOON)
    bot.emulator.block_bot(customer.id)
    assert await bot.run_scheduler(AFTERNOON) == 0
    assert (await OutboxMessage.get(kind="order_status")).status == "blocked"
    assert (await Customer.get(telegram_id=customer.id)).blocked
    await moves(OrderStatus.DELIVERED, AFTERNOON)
    assert await OutboxMessage.filter(kind="order_status").count() == 1


async def test_a_status_reported_twice_is_told_once(customer: Person) -> None:
    """The same event delivered twice, and a shop that corrects "delivered" back to "shipped" and
    then delivers again: the customer hears of each status once."""
    bot = customer.bot
    bot.travel(AFTERNOON)
    await share_contact(customer)
    await ordered(AFTERNOON)
    before = bot.emulator.seq
    await moves(OrderStatus.SHIPPED, AFTERNOON, event_id="evt-1", version=1)
    await moves(OrderStatus.SHIPPED, AFTERNOON, event_id="evt-1", version=1)
    await moves(OrderStatus.DELIVERED, AFTERNOON, event_id="evt-2", version=2)
    await moves(OrderStatus.SHIPPED, AFTERNOON, event_id="evt-3", version=3)
    await moves(OrderStatus.DELIVERED, AFTERNOON, event_id="evt-4", version=4)

    rows = await OutboxMessage.filter(kind="order_status").order_by("id").values_list("key", flat=True)
    customer_id = (await OutboxMessage.get(kind="order_status", key=rows[0])).customer_id
    assert rows == [f"order_status:SO1:shipped:customer:{customer_id}", f"order_status:SO1:delivered:customer:{customer_id}"]
    await bot.run_scheduler(AFTERNOON)
    await bot.run_scheduler(AFTERNOON + timedelta(seconds=1))  # one message a second per chat
    assert told(customer, before) == [SHIPPED_EN, DELIVERED_EN]


async def test_only_the_statuses_the_shop_chose_are_told(start_bot: Callable[..., Any]) -> None:
    async with start_bot(orders=OrdersSettings(notify_statuses=["out_for_delivery"])) as bot:
        user = bot.emulator.add_user(first_name="Emma", language_code="en")
        customer = Person(bot, user, user["id"])
        bot.travel(AFTERNOON)
        await share_contact(customer)
        await ordered(AFTERNOON)
        before = bot.emulator.seq
        for status in (OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED):
            await moves(status, AFTERNOON)
        assert await bot.run_scheduler(AFTERNOON) == 1
        assert told(customer, before) == ["📬 Your order SO1 is out for delivery today."]


async def test_no_statuses_chosen_tells_nobody(start_bot: Callable[..., Any]) -> None:
    async with start_bot(orders=OrdersSettings(notify_statuses=[])) as bot:
        user = bot.emulator.add_user(first_name="Emma", language_code="en")
        customer = Person(bot, user, user["id"])
        bot.travel(AFTERNOON)
        await share_contact(customer)
        await ordered(AFTERNOON)
        await moves(OrderStatus.SHIPPED, AFTERNOON)
        assert not await OutboxMessage.exists(kind="order_status")
