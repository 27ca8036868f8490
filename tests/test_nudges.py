"""Response-time discipline: a customer's message left unanswered nudges its agent at
nudge_seconds (business time), the supervisors at twice that, once each; every customer message
keeps how long it waited for the first agent reply after it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import DeskSettings
from tests.harness import Bot, Person
from ticketing.models import Ticket, TicketMessage
from ticketing.responses import response_rate

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)


def topic(bot: Bot, ticket: Ticket) -> list[str]:
    return [m.get("text", "") for m in bot.emulator.history(bot.group["id"], message_thread_id=ticket.topic_id)]


async def watch(bot: Bot, moment: datetime) -> list[str]:
    """What the desk watch posts at ``moment`` (the posts it added in the group)."""
    before = bot.emulator.seq
    bot.travel(moment)
    await bot.schedule.watch_desk()
    return [m.get("text", "") for m in bot.emulator.bot_messages(bot.group["id"], since=before)]


async def test_a_message_unanswered_for_100_seconds_nudges_its_agent_once_then_the_supervisors(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded")) as bot:
        bot.travel(MONDAY_10)
        wang = bot.add_agent(first_name="Fang", last_name="Wang", username="wang", language_code="zh-CN")
        boss = bot.add_supervisor(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")
        await wang.say("/online")
        await boss.say("/agents")  # known by name; a supervisor takes no tickets unless /online
        customer = bot.add_customer(first_name="Emma", language_code="en")
        await customer.say("/complaint my parcel is late")
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        assert await watch(bot, MONDAY_10 + timedelta(seconds=90)) == []
        nudged = await watch(bot, MONDAY_10 + timedelta(seconds=101))
        assert nudged == [f"⏰ @wang，工单 #{ticket.id} 的客户已等待回复 101 秒。"]
        assert await watch(bot, MONDAY_10 + timedelta(seconds=150)) == []  # once
        escalated = await watch(bot, MONDAY_10 + timedelta(seconds=201))
        assert escalated == [f"⏰ 工单 #{ticket.id}：客户已等待 201 秒仍未得到回复。请主管关注： Min Zhao"]
        assert await watch(bot, MONDAY_10 + timedelta(seconds=400)) == []
        assert topic(bot, ticket)[-2:] == nudged + escalated

        bot.travel(MONDAY_10 + timedelta(seconds=240))
        await wang.in_topic(ticket).say("Sorry for the wait, it ships today")
        first = await TicketMessage.filter(ticket=ticket, direction="in").first()
        assert (first.response_seconds, first.response_business_seconds) == (240, 240)


async def test_each_customer_message_keeps_its_response_time_for_the_3_minute_rate(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="manual")) as bot:
        bot.travel(MONDAY_10)
        agent = bot.add_agent(first_name="Lei", username="li", language_code="zh-CN")
        customer = bot.add_customer(first_name="Emma", language_code="en")
        await customer.say("/human")
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        bot.travel(MONDAY_10 + timedelta(seconds=30))
        await agent.in_topic(ticket).say("Hello, how can I help?")
        bot.travel(MONDAY_10 + timedelta(seconds=60))
        await customer.say("My parcel is late")
        bot.travel(MONDAY_10 + timedelta(seconds=70))
        await customer.say("It was due Friday")
        bot.travel(MONDAY_10 + timedelta(seconds=300))
        await agent.in_topic(ticket).say("Let me look")
        waited = await TicketMessage.filter(ticket=ticket, direction="in").order_by("id").values_list("response_seconds", flat=True)
        assert waited == [30, 240, 230]
        rate = await response_rate(MONDAY_10, MONDAY_10 + timedelta(hours=1))  # what the reports give
        assert (rate.messages, rate.fast, round(rate.rate, 2)) == (3, 1, 0.33)
        night = await response_rate(MONDAY_10 - timedelta(hours=12), MONDAY_10)
        assert (night.messages, night.rate) == (0, None)


async def test_time_outside_business_hours_does_not_count_and_a_pending_ticket_nudges_nobody(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="manual")) as bot:
        bot.travel(datetime(2026, 12, 7, 17, 59, 30, tzinfo=SHANGHAI))
        agent: Person = bot.add_agent(first_name="Lei", username="li", language_code="zh-CN")
        customer = bot.add_customer(first_name="Emma", language_code="en")
        await customer.say("/human")
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        assert await watch(bot, datetime(2026, 12, 7, 21, 0, tzinfo=SHANGHAI)) == []  # 30 s of business time
        nudged = await watch(bot, datetime(2026, 12, 8, 9, 1, 15, tzinfo=SHANGHAI))  # 105 s
        assert nudged == [f"⏰ 工单 #{ticket.id} 的客户已等待回复 105 秒，且无人接手：/claim 可接手。"]
        await agent.in_topic(ticket).say("/pending")
        assert await watch(bot, datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)) == []


async def test_the_3_minute_rate_counts_business_time_unless_asked_for_the_wall_clock(start_bot) -> None:
    """A message written at night and answered as the shop opens was answered fast, as shop platforms count it."""
    async with start_bot(desk=DeskSettings(assignment="manual")) as bot:
        bot.travel(datetime(2026, 12, 7, 8, 0, tzinfo=SHANGHAI))
        agent = bot.add_agent(first_name="Lei", username="li", language_code="zh-CN")
        customer = bot.add_customer(first_name="Emma", language_code="en")
        await customer.say("/human")
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        bot.travel(datetime(2026, 12, 7, 9, 2, tzinfo=SHANGHAI))
        await agent.in_topic(ticket).say("Good morning!")
        day = (datetime(2026, 12, 7, 0, 0, tzinfo=SHANGHAI), datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI))
        assert (await response_rate(*day)).rate == 1.0
        assert (await response_rate(*day, business=False)).rate == 0.0
