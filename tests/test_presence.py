"""Agents' presence, teams and automatic assignment, as agents and customers see them: tickets
reach a free online agent of their team, never more than max_open each; the rest wait in a queue
whose customers know their place; a returning customer gets their previous agent; a shop whose
agents never say /online loses nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.config import DeskSettings
from tests.harness import Bot, Person
from ticketing.models import Agent, Ticket, TicketEvent
from ticketing.triage import CATEGORIES

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
"""A working day, within the shop's business hours (09:00-18:00)."""


async def ticket_of(customer: Person) -> Ticket:
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first().prefetch_related("assignee")


def topic(bot: Bot, ticket: Ticket) -> list[str]:
    return [m.get("text", "") for m in bot.emulator.history(bot.group["id"], message_thread_id=ticket.topic_id)]


def staff(bot: Bot) -> tuple[Person, Person, Person]:
    wang = bot.add_agent(first_name="Fang", last_name="Wang", username="wang", language_code="zh-CN")
    li = bot.add_agent(first_name="Lei", last_name="Li", username="li", language_code="zh-CN")
    zhao = bot.add_agent(first_name="Min", last_name="Zhao", username="zhao", language_code="zh-CN")
    return wang, li, zhao


async def test_four_complaints_are_spread_between_the_two_online_agents_and_the_fifth_waits_its_turn(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", max_open=2)) as bot:
        bot.travel(MONDAY_10)
        wang, li, zhao = staff(bot)
        assert (await wang.say("/online")).text == "🟢 Fang Wang 已上线：新工单可以分配给 TA。"
        await li.say("/online")
        assert (await zhao.say("/offline")).text == "⚫ Min Zhao 已下线：/online 之前不会分配新工单。"
        customers = [bot.add_customer(first_name=f"C{i}", language_code="en") for i in range(5)]
        for customer in customers[:4]:
            replies = await customer.say("/complaint my parcel is late")
            assert "queue" not in replies.text
        tickets = [await ticket_of(c) for c in customers[:4]]
        assert [t.assignee.username for t in tickets] == ["wang", "li", "wang", "li"]
        assert f"👤 工单 #{tickets[0].id} 已分配给 @wang。" in topic(bot, tickets[0])
        assert all(t.status == "open" for t in tickets)

        fifth = await customers[4].say("/complaint where is my order")
        waiting = await ticket_of(customers[4])
        assert waiting.assignee is None
        assert fifth.texts[-1] == (
            f"All our agents are busy right now. You are number 1 in the queue (ticket #{waiting.id}): "
            "we will tell you as soon as an agent takes it."
        )
        assert topic(bot, waiting)[-1].startswith(f"⏳ 工单 #{waiting.id} 正在排队（第 1 位）")
        listed = await wang.say("/agents")
        assert "Fang Wang @wang — 在线，未结 2 个" in listed.text and "Lei Li @li — 在线，未结 2 个" in listed.text
        assert "Min Zhao @zhao — 下线，未结 0 个" in listed.text

        await wang.in_topic(tickets[0]).say("/resolve")  # a place is free: the fifth goes to wang
        waiting = await ticket_of(customers[4])
        assert waiting.assignee.username == "wang"
        told = bot.emulator.bot_messages(customers[4].chat_id)[-1]["text"]
        assert told == f"An agent has taken your ticket #{waiting.id} and will answer you here shortly."
        assert not await Ticket.filter(assignee__telegram_id=zhao.id).exists()


async def test_a_waiting_ticket_goes_to_the_agent_who_resolves_one(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", max_open=1)) as bot:
        bot.travel(MONDAY_10)
        wang, _li, _zhao = staff(bot)
        await wang.say("/online")
        first, second = bot.add_customer(first_name="A"), bot.add_customer(first_name="B")
        await first.say("/complaint broken")
        queued = await second.say("/complaint broken too")
        assert "You are number 1 in the queue" in queued.text
        waiting = await ticket_of(second)
        assert waiting.assignee is None
        await wang.in_topic(await ticket_of(first)).say("/resolve")
        waiting = await ticket_of(second)
        assert waiting.assignee.username == "wang"
        assert bot.emulator.bot_messages(second.chat_id)[-1]["text"].startswith(f"An agent has taken your ticket #{waiting.id}")
        events = await TicketEvent.filter(ticket_id=waiting.id, kind="assigned").values_list("data", flat=True)
        assert events == [{"agent": wang.id, "how": "least_loaded"}]


async def test_a_returning_customer_gets_the_agent_who_served_them_last_time(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", max_open=5)) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        await wang.say("/online")
        returning = bot.add_customer(first_name="Ada")
        await returning.say("/complaint the zipper is broken")
        served = await ticket_of(returning)
        assert served.assignee.username == "wang"
        await wang.in_topic(served).say("/close")
        await li.say("/online")
        bot.travel(MONDAY_10 + timedelta(minutes=1))
        await bot.add_customer(first_name="B").say("/complaint late")  # → li (no ticket given yet)
        bot.travel(MONDAY_10 + timedelta(minutes=2))
        await bot.add_customer(first_name="C").say("/complaint late")  # → wang (fewest, then longest ago)
        bot.travel(MONDAY_10 + timedelta(minutes=3))
        # 1 open each, li given one longest ago: least_loaded alone would pick li.
        await returning.say("/complaint the zipper broke again")
        again = await ticket_of(returning)
        assert again.id != served.id and again.assignee.username == "wang"
        assert f"👤 工单 #{again.id} 已分配给 @wang（上次接待该客户的客服）。" in topic(bot, again)


async def test_a_shop_whose_agents_never_say_online_loses_nothing(start_bot) -> None:
    """The default (least_loaded) with agents who never write: tickets wait, posted as ever, and /claim takes them."""
    async with start_bot(desk=DeskSettings(assignment="least_loaded")) as shop:
        shop.travel(MONDAY_10)
        customer = shop.add_customer(first_name="Emma", language_code="en")
        opened = await customer.say("/complaint my parcel is late")
        assert not any("queue" in said for said in opened.texts)  # no agent at work: the due time says when
        ticket = await ticket_of(customer)
        assert ticket.assignee is None and ticket.card_message_id is not None
        agent = shop.add_agent(first_name="Lei", username="li", language_code="zh-CN")
        claimed = await agent.in_topic(ticket).say("/claim")  # writing made Lei online: it came to them, as claimed
        assert claimed.text == "🙋 Lei 认领了这个工单。"
        assert (await ticket_of(customer)).assignee.username == "li"


async def test_an_agent_is_online_from_their_first_message_and_away_when_idle(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", idle_minutes=15)) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        customer = bot.add_customer(first_name="Ada")
        await customer.say("/complaint broken")
        assert (await ticket_of(customer)).assignee is None
        await wang.say("早上好")  # the first message of the day: online, and the waiting ticket comes
        assert (await ticket_of(customer)).assignee.username == "wang"
        bot.travel(MONDAY_10 + timedelta(minutes=16))
        listed = await li.say("/agents")
        assert "Fang Wang @wang — 离开，未结 1 个" in listed.text
        later = bot.add_customer(first_name="Bo")
        await later.say("/complaint broken")
        assert (await ticket_of(later)).assignee.username == "li"  # li wrote /agents: online; wang is away


async def test_away_and_offline_hold_until_online_and_outside_hours_nobody_is_online(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", hours={"@li": "sat-sun 10:00-16:00"})) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        assert (await wang.say("/away")).text == "🟡 Fang Wang 暂时离开：/online 之前不会分配新工单。"
        await wang.say("我先写个备注")  # a message does not undo /away
        customer = bot.add_customer(first_name="Ada")
        await customer.say("/complaint broken")
        assert (await ticket_of(customer)).assignee is None
        told = await li.say("/online")  # li works weekends only
        assert told.text.startswith("⚫ Lei Li，现在不在您的工作时间（10:00-16:00）内")
        assert (await ticket_of(customer)).assignee is None
        await wang.say("/online")
        assert (await ticket_of(customer)).assignee.username == "wang"
        assert (await Agent.get(telegram_id=wang.id)).presence == "online"


async def test_a_category_with_a_team_goes_to_its_agents_only(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="round_robin", teams={"logistics": ["@wang"]})) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        await li.say("/online")
        late = bot.add_customer(first_name="Ada")
        await late.say("/complaint my parcel is late")  # logistics: wang's, who is not here
        assert (await ticket_of(late)).category == "logistics"
        assert (await ticket_of(late)).assignee is None
        paid = bot.add_customer(first_name="Bo")
        await paid.say("/complaint I was charged twice")  # payment: no team, anyone
        assert (await ticket_of(paid)).assignee.username == "li"
        await wang.say("/online")
        assert (await ticket_of(late)).assignee.username == "wang"
        listed = await li.say("/agents")
        assert "Fang Wang @wang — 在线，未结 1 个 · 物流" in listed.text


async def test_manual_assignment_gives_nothing(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="manual")) as bot:
        bot.travel(MONDAY_10)
        wang, _li, _zhao = staff(bot)
        await wang.say("/online")
        customer = bot.add_customer(first_name="Ada")
        replies = await customer.say("/complaint broken")
        assert (await ticket_of(customer)).assignee is None and "queue" not in replies.text


def test_teams_name_the_categories_triage_has() -> None:
    from bot.core.config import _TEAM_CATEGORIES

    assert _TEAM_CATEGORIES == CATEGORIES


async def test_waiting_tickets_go_oldest_first_and_a_claim_tells_the_waiting_customer_too(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", max_open=1)) as bot:
        bot.travel(MONDAY_10)
        wang, li, zhao = staff(bot)
        await wang.say("/online")
        first, second, third = (bot.add_customer(first_name=n) for n in ("A", "B", "C"))
        await first.say("/complaint broken")
        assert "You are number 1 in the queue" in (await second.say("/complaint broken")).texts[-1]
        assert "You are number 2 in the queue" in (await third.say("/complaint broken")).texts[-1]
        await li.say("/online")  # the oldest waiting ticket comes to li, the newer one still waits
        assert (await ticket_of(second)).assignee.username == "li"
        assert (await ticket_of(third)).assignee is None
        waiting = await ticket_of(third)
        claimed = await zhao.in_topic(waiting).say("/claim")
        assert claimed.text == "🙋 Min Zhao 认领了这个工单。"
        assert bot.emulator.bot_messages(third.chat_id)[-1]["text"].startswith(f"An agent has taken your ticket #{waiting.id}")
        # Told once: an answer from zhao is just the answer.
        before = bot.emulator.seq
        await zhao.in_topic(waiting).say("Hello!")
        assert [m["text"] for m in bot.emulator.bot_messages(third.chat_id, since=before)] == ["Hello!\n\n— Min Zhao, customer service"]


@pytest.mark.parametrize(("mode", "expected"), [("round_robin", "wang"), ("least_loaded", "li")])
async def test_round_robin_takes_turns_where_least_loaded_gives_the_agent_with_fewest(start_bot, mode: str, expected: str) -> None:
    async with start_bot(desk=DeskSettings(assignment=mode)) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        await wang.say("/online")
        await li.say("/online")
        customers = [bot.add_customer(first_name=n) for n in ("A", "B", "C")]
        await customers[0].say("/complaint broken")  # → wang
        bot.travel(MONDAY_10 + timedelta(minutes=1))
        await customers[1].say("/complaint broken")  # → li
        await li.in_topic(await ticket_of(customers[1])).say("/resolve")  # li has none open now
        bot.travel(MONDAY_10 + timedelta(minutes=2))
        await customers[2].say("/complaint broken")
        assert (await ticket_of(customers[2])).assignee.username == expected


async def test_a_customer_returning_after_sticky_hours_is_given_like_anyone(start_bot) -> None:
    async with start_bot(desk=DeskSettings(assignment="least_loaded", sticky_hours=72)) as bot:
        bot.travel(MONDAY_10)
        wang, li, _zhao = staff(bot)
        await wang.say("/online")
        returning = bot.add_customer(first_name="Ada")
        await returning.say("/complaint the zipper is broken")
        await wang.in_topic(await ticket_of(returning)).say("/close")
        thursday = MONDAY_10 + timedelta(days=3, minutes=1)  # 72 h and a minute later
        bot.travel(thursday)
        await wang.say("/online")
        await li.say("/online")
        await bot.add_customer(first_name="B").say("/complaint late")  # → li (never given one)
        bot.travel(thursday + timedelta(minutes=1))
        await bot.add_customer(first_name="C").say("/complaint late")  # → wang (fewer)
        bot.travel(thursday + timedelta(minutes=2))
        await returning.say("/complaint the zipper broke again")
        assert (await ticket_of(returning)).assignee.username == "li"  # not wang's any more: li's turn
