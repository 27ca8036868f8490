"""Automatic assignment under concurrency, as a fleet does it: several placers racing over the
same 200 new tickets (two processes' worth of workers, on connections of their own on PostgreSQL;
SQLite serialises writers) give each ticket exactly once and no agent more than max_open."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ticketing.assignment import assign_waiting, place
from ticketing.business_hours import BusinessCalendar
from ticketing.models import Agent, Customer, Ticket, TicketEvent
from ticketing.presence import Assignment, Desk

MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TICKETS = 200
AGENTS = 4
MAX_OPEN = 40


async def _desk_with_waiting_tickets(mode: Assignment) -> Desk:
    now = MONDAY_10.astimezone(UTC)
    for n in range(AGENTS):
        await Agent.create(telegram_id=500 + n, name=f"agent {n}", username=f"agent{n}", last_seen=now)
    await Customer.bulk_create([Customer(telegram_id=10_000 + n, first_name=f"C{n}") for n in range(TICKETS)])
    customers = await Customer.all().order_by("id")
    await Ticket.bulk_create([
        Ticket(customer_id=c.id, active_customer_id=c.id, source="complaint", is_complaint=True, status="new",
               subject="late", waiting_since=now, created_at=now, updated_at=now, card_message_id=1000 + c.id)
        for c in customers
    ])
    return Desk(mode=mode, max_open=MAX_OPEN, calendar=BusinessCalendar())


async def _placer(ids: list[int], desk: Desk) -> None:
    for ticket_id in ids:
        ticket = await Ticket.get(id=ticket_id)  # each placer reads the ticket itself, as a process would
        await place(ticket, desk, MONDAY_10)


async def _check_each_ticket_given_once() -> None:
    holders = Counter(await Ticket.filter(assignee_id__isnull=False).values_list("assignee_id", flat=True))
    assert sum(holders.values()) == AGENTS * MAX_OPEN  # every place taken, not one more
    assert set(holders.values()) == {MAX_OPEN}  # nobody beyond max_open
    given = Counter(await TicketEvent.filter(kind="assigned").values_list("ticket_id", flat=True))
    assert len(given) == AGENTS * MAX_OPEN and set(given.values()) == {1}  # each once
    assert set(given) == set(await Ticket.filter(assignee_id__isnull=False).values_list("id", flat=True))


async def test_racing_placers_give_each_of_200_tickets_once_and_nobody_more_than_max_open(database: str) -> None:
    desk = await _desk_with_waiting_tickets(Assignment.LEAST_LOADED)
    ids = await Ticket.all().order_by("id").values_list("id", flat=True)
    # Two processes' worth: each places every ticket, in its own order, two workers each.
    orders = [ids, ids[::-1], ids[::2] + ids[1::2], ids[1::2][::-1] + ids[::2]]
    await asyncio.gather(*(_placer(order, desk) for order in orders), assign_waiting(desk, MONDAY_10))
    await _check_each_ticket_given_once()
    waiting = await Ticket.filter(assignee_id__isnull=True).count()
    assert waiting == TICKETS - AGENTS * MAX_OPEN


async def test_racing_queue_drains_in_round_robin_give_each_ticket_once(database: str) -> None:
    desk = await _desk_with_waiting_tickets(Assignment.ROUND_ROBIN)
    await asyncio.gather(*(assign_waiting(desk, MONDAY_10) for _ in range(4)))
    await _check_each_ticket_given_once()
    oldest = await Ticket.filter(assignee_id__isnull=True).order_by("id").values_list("id", flat=True)
    assert oldest == list(range(AGENTS * MAX_OPEN + 1, TICKETS + 1))  # oldest first: the newest wait
