"""A ticket's life cycle (ticketing/lifecycle.py): every move of its status is made once, follows
the allowed moves, leaves its audit row and is heard by the listeners — whoever makes it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.config import SchedulerSettings, Settings, TicketsSettings
from tests.harness import Person
from ticketing.customers import record_customer
from ticketing.lifecycle import MOVES, StatusChange, on_status_change, status_listeners
from ticketing.models import Ticket, TicketEvent, TicketStatus
from ticketing.service import (
    SlaPolicy,
    add_agent_reply,
    add_customer_message,
    assign,
    claim,
    close,
    close_resolved,
    open_ticket,
    record_agent,
    reopen,
    resolve,
    resolve_stale_pending,
    set_pending,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
POLICY = SlaPolicy()
NEW, OPEN, PENDING, RESOLVED, CLOSED = TicketStatus
customer_ids = itertools.count(1_000)


@pytest.fixture
def heard() -> Iterator[list[StatusChange]]:
    """What a listener hears while the test runs."""
    changes: list[StatusChange] = []

    async def listen(change: StatusChange) -> None:
        changes.append(change)

    on_status_change(listen)
    try:
        yield changes
    finally:
        status_listeners.remove(listen)


async def new_ticket(now: datetime = MONDAY_10) -> Ticket:
    customer = await record_customer(next(customer_ids), first_name="Fang")
    return (await open_ticket(customer, text="the parcel is late", source="complaint", now=now, policy=POLICY)).ticket


def moves(changes: list[StatusChange], ticket: Ticket) -> list[tuple[str, str, str, str | None]]:
    return [(c.before, c.after, c.by, c.reason) for c in changes if c.ticket.id == ticket.id]


async def test_each_move_is_heard_once_with_who_made_it_and_why(database: str, heard: list[StatusChange]) -> None:
    ticket = await new_ticket()
    agent = await record_agent(7, "Lei Li", "agent_li", supervisor=False)
    at = MONDAY_10 + timedelta(minutes=5)
    assert await claim(ticket.id, agent, at)
    ticket = await Ticket.get(id=ticket.id)
    await set_pending(ticket, "agent:7", at)
    await add_customer_message(ticket, text="here is the photo", now=at, policy=POLICY)
    assert await resolve(ticket, "agent:7", at)
    await add_agent_reply(ticket, agent, text="one more thing", now=at, policy=POLICY)  # not solved after all
    assert await close(ticket, "agent:7", at)
    assert await reopen(ticket, "agent:7", at)
    assert moves(heard, ticket) == [
        (NEW, OPEN, "agent:7", None),
        (OPEN, PENDING, "agent:7", None),
        (PENDING, OPEN, "customer", None),
        (OPEN, RESOLVED, "agent:7", None),
        (RESOLVED, OPEN, "agent:7", "replied"),
        (OPEN, CLOSED, "agent:7", None),
        (CLOSED, OPEN, "agent:7", None),
    ]
    assert [c.reopened for c in heard] == [False, False, False, False, True, False, True]
    assert {c.agent_telegram_id for c in heard if c.by != "customer"} == {7}
    assert all(c.at == at and c.ticket is ticket for c in heard[1:])
    audit = await TicketEvent.filter(ticket=ticket, kind="status").order_by("id").values_list("data", flat=True)
    assert [row["status"] for row in audit] == [c.after for c in heard]
    stored = await Ticket.get(id=ticket.id)
    assert stored.status == OPEN and stored.reopen_count == 2 and stored.active_customer_id == stored.customer_id


async def test_a_move_its_status_does_not_allow_is_neither_made_nor_heard(database: str, heard: list[StatusChange]) -> None:
    ticket = await new_ticket()
    assert await close(ticket, "agent:7", MONDAY_10)
    assert not await resolve(ticket, "agent:7", MONDAY_10)
    assert not await close(ticket, "agent:7", MONDAY_10)
    await set_pending(ticket, "agent:7", MONDAY_10)
    assert moves(heard, ticket) == [(NEW, CLOSED, "agent:7", None)]
    assert (await Ticket.get(id=ticket.id)).status == CLOSED
    assert await TicketEvent.filter(ticket=ticket, kind="status").count() == 1


async def test_of_two_closes_racing_one_closes_and_is_heard(database: str, heard: list[StatusChange]) -> None:
    """An agent's /close and the life-cycle job, or two bot instances, each with the ticket as they read it."""
    ticket = await new_ticket()
    copies = [await Ticket.get(id=ticket.id), await Ticket.get(id=ticket.id)]
    done = await asyncio.gather(*(close(c, by, MONDAY_10) for c, by in zip(copies, ("agent:7", "system"))))
    assert sorted(done) == [False, True]
    assert len(moves(heard, ticket)) == 1
    assert await TicketEvent.filter(ticket=ticket, kind="status").count() == 1


async def test_a_broken_listener_stops_neither_the_others_nor_the_move(database: str, heard: list[StatusChange]) -> None:
    async def broken(change: StatusChange) -> None:
        raise RuntimeError("the listener fell over")

    status_listeners.insert(0, broken)
    try:
        ticket = await new_ticket()
        assert await resolve(ticket, "customer", MONDAY_10)
    finally:
        status_listeners.remove(broken)
    assert moves(heard, ticket) == [(NEW, RESOLVED, "customer", None)]
    assert (await Ticket.get(id=ticket.id)).status == RESOLVED


async def test_the_life_cycle_job_moves_with_its_reasons(database: str, heard: list[StatusChange]) -> None:
    ticket = await new_ticket()
    await set_pending(ticket, "agent:7", MONDAY_10)
    assert await resolve_stale_pending(MONDAY_10 + timedelta(days=3), timedelta(days=3)) == [ticket]
    assert await close_resolved(MONDAY_10 + timedelta(days=10), timedelta(days=7)) == [ticket]
    assert moves(heard, ticket)[1:] == [
        (PENDING, RESOLVED, "system", "no reply"),
        (RESOLVED, CLOSED, "system", "reopen window over"),
    ]


OPERATIONS = ("claim", "assign", "answer", "pending", "customer writes", "resolve", "close", "reopen",
              "stale pending", "reopen window over")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(done=st.lists(st.sampled_from(OPERATIONS), max_size=10))
async def test_whatever_is_done_to_a_ticket_its_moves_follow_the_life_cycle(
    database: str, heard: list[StatusChange], done: list[str]
) -> None:
    ticket = await new_ticket()
    agent = await record_agent(7, "Lei Li", "agent_li", supervisor=False)
    for minute, operation in enumerate(done, start=1):
        at = MONDAY_10 + timedelta(days=minute)
        ticket = await Ticket.get(id=ticket.id)
        match operation:
            case "claim":
                await claim(ticket.id, agent, at)
            case "assign":
                await assign(ticket, agent, "agent:1", at)
            case "answer":
                await add_agent_reply(ticket, agent, text="hello", now=at, policy=POLICY)
            case "pending":
                await set_pending(ticket, "agent:7", at)
            case "customer writes":
                await add_customer_message(ticket, text="hello?", now=at, policy=POLICY)
            case "resolve":
                await resolve(ticket, "agent:7", at, POLICY.calendar)
            case "close":
                await close(ticket, "agent:7", at, POLICY.calendar)
            case "reopen":
                await reopen(ticket, "customer", at)
            case "stale pending":
                await resolve_stale_pending(at, timedelta(hours=1))
            case "reopen window over":
                await close_resolved(at, timedelta(hours=1))
    made = moves(heard, ticket)
    assert [before for before, *_ in made] == [NEW, *(after for _, after, *_ in made)][: len(made)]  # one chain
    assert all(after in MOVES[before] for before, after, *_ in made)
    stored = await Ticket.get(id=ticket.id)
    assert stored.status == (made[-1][1] if made else NEW)
    assert (stored.active_customer_id is None) == (stored.status == CLOSED)
    assert (stored.resolved_at is not None) == (stored.status in (RESOLVED, CLOSED))
    audit = await TicketEvent.filter(ticket=stored, kind="status").order_by("id").values_list("data", flat=True)
    assert [row["status"] for row in audit] == [after for _, after, *_ in made]


def test_the_sla_policy_follows_the_shops_hours_and_time_zone() -> None:
    shop = Settings(
        tickets=TicketsSettings(business_hours="10:00-16:00", workdays=[1, 2, 3, 4, 5, 6], holidays=None),
        scheduler=SchedulerSettings(timezone="Europe/Berlin"),
    )
    policy = SlaPolicy.from_settings(shop)
    friday_15 = datetime(2026, 11, 27, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    first_response, resolution = policy.dues("normal", friday_15)  # 4 and 27 business hours
    assert first_response == datetime(2026, 11, 28, 13, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Saturday is a workday
    assert resolution == datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Thursday


# -- through the bot --------------------------------------------------------------------------


async def test_an_agent_answering_a_resolved_ticket_reopens_it_and_the_topic_hears_only_the_answer(
    customer: Person, agent: Person
) -> None:
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    topic = agent.in_topic(ticket)
    await topic.say("/resolve")
    before = customer.bot.emulator.seq
    await topic.say("one more thing: the refund is on its way")
    assert [m["text"] for m in customer.bot.emulator.bot_messages(customer.chat_id, since=before)] == [
        "one more thing: the refund is on its way\n\n— Lei Li, customer service"
    ]
    assert customer.bot.emulator.bot_messages(agent.chat_id, since=before) == []
    stored = await Ticket.get(id=ticket.id)
    assert stored.status == OPEN and stored.reopen_count == 1


async def test_the_close_button_tells_the_customer_and_the_topic_and_closes_it(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    before = bot.emulator.seq
    await bot.handled(bot.emulator.press_button(agent.id, ticket.card_message_id, f"tk:close:{ticket.id}", chat_id=agent.chat_id))
    assert [m["text"] for m in bot.emulator.bot_messages(customer.chat_id, since=before)] == [
        f"Your ticket #{ticket.id} is closed. Thank you for your patience! If anything is still not right, just write to us."
    ]
    posted = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert [m["text"] for m in posted] == [f"✅ 工单 #{ticket.id} 已由 Lei Li 关闭，已通知客户。"]
    assert bot.emulator.topics[agent.chat_id][ticket.topic_id]["closed"]
    assert (await Ticket.get(id=ticket.id)).status == CLOSED
