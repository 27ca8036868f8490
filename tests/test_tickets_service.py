"""The ticket service, directly: receive, classify, work, resolve, close — with the database's rules."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise.exceptions import IntegrityError

from ticketing.customers import record_customer
from ticketing.models import Ticket, TicketEvent
from ticketing.service import (
    SlaPolicy,
    add_agent_reply,
    add_customer_message,
    assign,
    claim,
    close,
    close_resolved,
    list_tickets,
    open_ticket,
    record_agent,
    reopen,
    resolve,
    resolve_stale_pending,
    set_category,
    set_pending,
    set_priority,
)
from ticketing.snippets import SnippetError, delete_snippet, list_snippets, render_snippet, save_snippet

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
POLICY = SlaPolicy()


async def test_a_complaint_about_a_late_parcel_is_a_logistics_ticket(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    opened = await open_ticket(customer, text="快递一周了还没到，我要投诉", source="complaint", now=MONDAY_10, policy=POLICY)
    ticket = opened.ticket
    assert opened.created and ticket.category == "logistics" and ticket.is_complaint
    assert ticket.priority == "high" and ticket.status == "new" and ticket.repeat_of_id is None
    assert await TicketEvent.filter(ticket=ticket, kind="created").count() == 1


async def test_a_second_complaint_in_the_same_category_within_30_days_is_a_repeat(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    first = (await open_ticket(customer, text="快递还没到", source="complaint", now=MONDAY_10, policy=POLICY)).ticket
    await close(first, "agent:1", MONDAY_10 + timedelta(hours=2))
    second = (await open_ticket(customer, text="物流太慢了，又没到", source="complaint", now=MONDAY_10 + timedelta(days=20), policy=POLICY)).ticket
    assert second.repeat_of_id == first.id
    await close(second, "agent:1", MONDAY_10 + timedelta(days=20, hours=1))
    other = (await open_ticket(customer, text="扣了两次钱", source="complaint", now=MONDAY_10 + timedelta(days=21), policy=POLICY)).ticket
    assert other.category == "payment" and other.repeat_of_id is None
    await close(other, "agent:1", MONDAY_10 + timedelta(days=21, hours=1))
    late = (await open_ticket(customer, text="快递又丢件了", source="complaint", now=MONDAY_10 + timedelta(days=55), policy=POLICY)).ticket
    assert late.repeat_of_id is None  # the last logistics complaint is 35 days old


async def test_one_active_ticket_per_customer_messages_join_it(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    first = await open_ticket(customer, text="I want a person", source="handoff", now=MONDAY_10, policy=POLICY)
    again = await open_ticket(customer, text="hello??", source="handoff", now=MONDAY_10 + timedelta(minutes=1), policy=POLICY)
    assert not again.created and again.ticket.id == first.ticket.id
    assert await Ticket.all().count() == 1
    assert await first.ticket.messages.all().count() == 2


async def test_the_database_refuses_a_second_active_ticket_for_a_customer(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    common = dict(customer=customer, active_customer_id=customer.id, source="handoff", waiting_since=MONDAY_10,
                  created_at=MONDAY_10, updated_at=MONDAY_10)
    await Ticket.create(**common)
    with pytest.raises(IntegrityError):
        await Ticket.create(**common)


async def test_two_agents_claiming_at_once_exactly_one_wins(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    li = await record_agent(11, "Li", None, supervisor=False)
    wu = await record_agent(12, "Wu", None, supervisor=False)
    results = await asyncio.gather(claim(ticket.id, li, MONDAY_10), claim(ticket.id, wu, MONDAY_10))
    assert sorted(results) == [False, True]
    assert (await Ticket.get(id=ticket.id)).status == "open"


async def test_first_response_and_resolution_are_due_in_business_hours(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    friday_5pm = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)
    ticket = (await open_ticket(customer, text="where is my refund", source="handoff", now=friday_5pm, policy=POLICY)).ticket
    assert ticket.priority == "normal"
    assert ticket.first_response_due == datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)  # 1 h Friday + 3 h Monday
    # Before National Day: Sept 30, 17:00 + 4 business hours → Oct 8, 12:00 (Oct 1–7 are holidays).
    other = await record_customer(2, first_name="Wei")
    holiday = (await open_ticket(other, text="help", source="handoff", now=datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI), policy=POLICY)).ticket
    assert holiday.first_response_due == datetime(2026, 10, 8, 12, 0, tzinfo=SHANGHAI)


async def test_waiting_for_the_customer_pauses_the_sla_clock(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    agent = await record_agent(11, "Li", None, supervisor=False)
    await add_agent_reply(ticket, agent, text="Could you send a photo?", now=MONDAY_10 + timedelta(minutes=5), policy=POLICY)
    due = ticket.resolution_due
    await set_pending(ticket, "agent:11", MONDAY_10 + timedelta(hours=1))
    await add_customer_message(ticket, text="here it is", now=MONDAY_10 + timedelta(hours=3), policy=POLICY)
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "open"
    assert ticket.resolution_due == POLICY.calendar.add(due, timedelta(hours=2))
    assert ticket.first_response_at == MONDAY_10 + timedelta(minutes=5) and ticket.assignee_id == agent.id


async def test_a_closed_ticket_can_be_reopened_and_a_new_problem_opens_a_new_ticket(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    await close(ticket, "agent:11", MONDAY_10 + timedelta(hours=1))
    assert await reopen(ticket, "customer", MONDAY_10 + timedelta(hours=2))
    assert (await Ticket.get(id=ticket.id)).reopen_count == 1
    await close(ticket, "agent:11", MONDAY_10 + timedelta(hours=3))
    new = await open_ticket(customer, text="another thing", source="handoff", now=MONDAY_10 + timedelta(hours=4), policy=POLICY)
    assert new.created and new.ticket.id != ticket.id
    assert not await reopen(ticket, "customer", MONDAY_10 + timedelta(hours=5))  # the new one is active


async def test_a_hundred_customers_opening_tickets_at_once_get_a_hundred_tickets(database: str) -> None:
    customers = [await record_customer(1000 + n, first_name=f"C{n}") for n in range(100)]
    await asyncio.gather(*(
        open_ticket(c, text="我要投诉，快递没到", source="complaint", now=MONDAY_10, policy=POLICY) for c in customers
    ))
    assert await Ticket.all().count() == 100
    assert len({t.customer_id for t in await Ticket.all()}) == 100


async def test_first_response_and_resolution_times_are_kept_in_business_time(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    friday_17 = datetime(2026, 11, 27, 17, 0, tzinfo=SHANGHAI)
    ticket = (await open_ticket(customer, text="help", source="handoff", now=friday_17, policy=POLICY)).ticket
    agent = await record_agent(11, "Li", None, supervisor=False)
    await add_agent_reply(ticket, agent, text="Hello!", now=datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI), policy=POLICY)
    await resolve(ticket, "agent:11", datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI), POLICY.calendar)
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.first_response_business_seconds == 90 * 60  # Friday 17–18 and Monday 9–9:30
    assert ticket.resolution_business_seconds == 120 * 60


async def test_a_higher_priority_brings_the_due_times_forward(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="a question", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    assert ticket.priority == "normal"
    await set_priority(ticket, "urgent", "agent:11", MONDAY_10 + timedelta(minutes=5), POLICY)
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.priority == "urgent" and ticket.first_response_due == MONDAY_10 + timedelta(minutes=30)
    assert await TicketEvent.filter(ticket=ticket, kind="priority").count() == 1


async def test_a_supervisor_assigns_a_ticket_someone_else_claimed(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    li = await record_agent(11, "Li", "li", supervisor=False)
    wu = await record_agent(12, "Wu", "wu", supervisor=False)
    assert await claim(ticket.id, li, MONDAY_10)
    await assign(ticket, wu, "agent:900001", MONDAY_10 + timedelta(minutes=1))
    assert (await Ticket.get(id=ticket.id)).assignee_id == wu.id


async def test_correcting_the_category_moves_the_repeat_link(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    earlier = (await open_ticket(customer, text="付款扣了两次，我要投诉", source="complaint", now=MONDAY_10, policy=POLICY)).ticket
    await close(earlier, "agent:1", MONDAY_10 + timedelta(hours=1))
    later = (await open_ticket(customer, text="我要投诉", source="complaint", now=MONDAY_10 + timedelta(days=2), policy=POLICY)).ticket
    assert earlier.category == "payment" and later.category == "other" and later.repeat_of_id is None
    await set_category(later, "payment", "customer", MONDAY_10 + timedelta(days=2, minutes=1))
    assert (await Ticket.get(id=later.id)).repeat_of_id == earlier.id


async def test_a_pending_ticket_without_reply_is_resolved_and_later_closed(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=MONDAY_10, policy=POLICY)).ticket
    await set_pending(ticket, "agent:11", MONDAY_10)
    assert await resolve_stale_pending(MONDAY_10 + timedelta(days=2), timedelta(days=3)) == []
    resolved = await resolve_stale_pending(MONDAY_10 + timedelta(days=3), timedelta(days=3))
    assert [t.id for t in resolved] == [ticket.id]
    assert await resolve_stale_pending(MONDAY_10 + timedelta(days=3), timedelta(days=3)) == []  # once
    assert await close_resolved(MONDAY_10 + timedelta(days=9), timedelta(days=7)) == []
    assert [t.id for t in await close_resolved(MONDAY_10 + timedelta(days=10), timedelta(days=7))] == [ticket.id]
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "closed" and ticket.active_customer_id is None


async def test_the_queue_views_show_open_mine_unassigned_and_breaching(database: str) -> None:
    li = await record_agent(11, "Li", "li", supervisor=False)
    tickets = []
    for n in range(3):
        customer = await record_customer(100 + n, first_name=f"C{n}")
        tickets.append((await open_ticket(customer, text="help", source="handoff", now=MONDAY_10 + timedelta(hours=n), policy=POLICY)).ticket)
    await claim(tickets[0].id, li, MONDAY_10)
    await close(tickets[2], "agent:11", MONDAY_10 + timedelta(hours=3))
    now = MONDAY_10 + timedelta(hours=4, minutes=30)
    ids = lambda found: [t.id for t in found]  # noqa: E731
    assert ids(await list_tickets("open", li, now)) == [tickets[0].id, tickets[1].id]
    assert ids(await list_tickets("mine", li, now)) == [tickets[0].id]
    assert ids(await list_tickets("unassigned", li, now)) == [tickets[1].id]
    assert ids(await list_tickets("breaching", li, now)) == [tickets[0].id]  # due 14:00, the other 15:00


async def test_a_snippet_fills_in_the_customer_and_the_order(database: str) -> None:
    customer = await record_customer(1, first_name="Fang", last_name="Wang")
    ticket = (await open_ticket(customer, text="help", source="order", now=MONDAY_10, policy=POLICY, order_no="SO100245")).ticket
    li = await record_agent(11, "Li", "li", supervisor=False)
    assert await save_snippet("Sorry", "{customer_name}，您的订单 {order_no} 我们已加急处理。—{agent_name}", li)
    assert not await save_snippet("sorry", "{customer_name}，订单 {order_no} 已加急。", li)  # replaced
    assert await render_snippet("SORRY", ticket, customer, li) == "Fang Wang，订单 SO100245 已加急。"
    assert await render_snippet("missing", ticket, customer, li) is None
    with pytest.raises(SnippetError) as refused:
        await save_snippet("bad", "Hi {name}", li)
    assert refused.value.details == {"placeholder": "{name}"}
    assert [s.name for s in await list_snippets()] == ["sorry"]
    assert await delete_snippet("sorry") and await list_snippets() == []
