"""A customer asks where their order is: proof that it is theirs first, then the status card."""

from __future__ import annotations

import pytest

from orders.importer import load_samples
from tests.harness import Person

PHONE_1 = "+8613800000001"  # two sample orders: SO100231 (in transit) and SO100187 (delivered)
PHONE_2 = "+8613800000002"  # one sample order: SO100245 (shipped)


@pytest.fixture
async def orders(bot) -> None:
    await load_samples()


async def test_a_verified_customer_with_two_orders_picks_one_and_sees_its_card(customer: Person, orders: None) -> None:
    asked = await customer.say("where is my order")
    assert asked.text.startswith("To keep your orders private")
    assert asked[-1]["_reply_markup"]["keyboard"][0][0]["request_contact"] is True

    shared = await customer.share_contact(PHONE_1)
    assert shared.texts[0] == "Thank you, your phone number is verified."
    assert shared.text == "Which order do you mean?"
    assert [b.split(" · ")[0] for b in shared.buttons] == ["SO100231", "SO100187"]

    card = await customer.press(shared.buttons[0], shared)
    assert card.text.startswith("📦 Order SO100231\nStatus: In transit")
    assert "• 西湖龙井 明前特级 250g ×2" in card.text
    assert "Carrier: 顺丰速运 · Tracking no. SF1402384756021" in card.text
    assert "快件到达上海浦东集散中心" in card.text
    assert card.buttons == ["⚠️ Problem with this order", "💬 Talk to a person"]


async def test_chinese_phrasing_gets_the_chinese_card(make_customer, orders: None) -> None:
    customer: Person = make_customer(language_code="zh-CN")
    await customer.share_contact(PHONE_2)
    card = await customer.say("我的快递到哪了")
    assert card.text.startswith("📦 订单 SO100245\n状态：已发货")
    assert "快递：中通快递" in card.text


async def test_an_order_number_in_a_message_shows_that_order(customer: Person, orders: None) -> None:
    await customer.share_contact(PHONE_1)
    card = await customer.say("hi, what about SO100187?")
    assert card.text.startswith("📦 Order SO100187\nStatus: Delivered")
    assert "Delivered: " in card.text


async def test_someone_elses_order_is_answered_like_a_made_up_one(make_customer, orders: None) -> None:
    owner, stranger = make_customer(), make_customer()
    await owner.share_contact(PHONE_1)
    await stranger.share_contact(PHONE_2)
    real = await stranger.say("/order SO100231")
    made_up = await stranger.say("/order SO999999")
    assert real.text == made_up.text.replace("SO999999", "SO100231")
    assert "SO100231" in real.text and "西湖龙井" not in real.text


async def test_last_four_digits_verify_one_order_and_the_sixth_wrong_try_is_refused(make_customer, orders: None) -> None:
    customer: Person = make_customer()
    asked = await customer.say("/order SO100245")
    assert "last 4 digits of the phone number on order SO100245" in asked.text
    for tries_left in (4, 3, 2, 1, 0):
        wrong = await customer.say("1234")
        assert wrong.text == f"Sorry, I could not find order SO100245 with those digits. You have {tries_left} more tries this hour."
    await customer.say("/order SO100245")
    refused = await customer.say("0002")  # the right digits, but the sixth try in the hour
    assert refused.text.startswith("Too many tries.")
    assert "📦" not in refused.text


async def test_the_right_last_four_digits_show_the_order(make_customer, orders: None) -> None:
    customer: Person = make_customer()
    await customer.say("where is SO100245")
    shown = await customer.say("0002")
    assert shown.texts[0] == "Thank you, your phone number is verified."
    assert shown.text.startswith("📦 Order SO100245")


async def test_last_four_digits_of_someone_elses_order_are_no_key_to_it(make_customer, orders: None) -> None:
    customer: Person = make_customer()
    await customer.say("/order SO100231")
    assert (await customer.say("9999")).text == (
        "Sorry, I could not find order SO100231 with those digits. You have 4 more tries this hour."
    )


async def test_someone_elses_contact_does_not_verify(customer: Person, orders: None) -> None:
    forwarded = await customer.exchange(
        customer.bot.emulator.send_contact(customer.id, PHONE_1, contact_user_id=424242)
    )
    assert forwarded.text == "Please share your own phone number with the button below, not someone else's contact."
    assert (await customer.say("/order")).text.startswith("To keep your orders private")


async def test_a_forged_pick_of_someone_elses_order_shows_nothing(make_customer, orders: None) -> None:
    customer: Person = make_customer()
    await customer.share_contact(PHONE_2)
    card = await customer.say("/order")
    update = customer.bot.emulator.press_button(customer.id, card[-1]["message_id"], "ord:SO100231", forged=True)
    await customer.bot.handled(update)
    last = customer.bot.emulator.bot_messages(customer.chat_id)[-1]
    assert "SO100231" in last["text"] and "📦" not in last["text"]


async def test_when_the_shops_order_api_is_down_the_customer_gets_an_apology_and_a_person(start_bot) -> None:
    from bot.core.config import OrdersSettings

    down = OrdersSettings(provider="http", url="http://127.0.0.1:9/orders/{order_no}",
                          phone_url="http://127.0.0.1:9/orders?phone={phone}", timeout=1.0, retries=1)
    async with start_bot(orders=down) as bot:
        customer = bot.add_customer(first_name="Emma")
        await customer.share_contact(PHONE_1)
        sorry = await customer.say("where is my order")
        assert sorry.text == "Sorry, I can't look up orders right now. Please try again in a few minutes, or talk to a person."
        assert sorry.buttons == ["💬 Talk to a person"]
        assert (await customer.press("💬 Talk to a person")).text.startswith("I've passed this on to our team")


async def test_customers_are_told_when_their_order_ships_and_arrives_unless_opted_out(make_customer, orders: None) -> None:
    from datetime import UTC, datetime, time, timedelta

    from orders.events import apply_event
    from orders.models import EventKind, OrderStatus
    from ticketing.models import Customer

    customer: Person = make_customer(language_code="zh-CN")
    await customer.share_contact(PHONE_2)
    emulator = customer.bot.emulator
    before = emulator.seq
    # After the sample orders' times (moved to just before today), in the afternoon: no quiet hours.
    now = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(6, 0), UTC)  # 14:00 in Shanghai
    customer.bot.travel(now)
    await apply_event("SO100245", kind=EventKind.STATUS, status=OrderStatus.DELIVERED, at=now, now=now, event_id="e-1")
    await customer.bot.run_scheduler(now)  # the notice is an outbox row: the scheduler sends it
    notice = emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in notice] == ["✅ 您的订单 SO100245 已签收，祝您使用愉快！"]

    await Customer.filter(telegram_id=customer.id).update(opted_out=True)
    before = emulator.seq
    await apply_event("SO100245", kind=EventKind.STATUS, status=OrderStatus.RETURNED, at=now, now=now, event_id="e-2")
    await apply_event("SO100245", kind=EventKind.STATUS, status=OrderStatus.SHIPPED, at=now, now=now, event_id="e-3")
    await customer.bot.run_scheduler(now + timedelta(minutes=1))
    assert emulator.bot_messages(customer.chat_id, since=before) == []
