"""The console's queue (ticketing/queue.py), on the service: each filter narrows to what it says,
SLA states are those the desk uses, and keyset paging walks forward and back without gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.config import DeskSettings, Settings
from ticketing.customers import record_customer
from ticketing.models import Ticket
from ticketing.presence import Desk
from ticketing.queue import QueueFilter, queue_page, sla_state
from ticketing.service import (
    SlaPolicy,
    add_agent_reply,
    assign,
    close,
    list_tickets,
    open_ticket,
    record_agent,
    set_pending,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
POLICY = SlaPolicy()


async def opened(telegram_id: int, text: str, at: datetime = NOW, **kwargs: object) -> Ticket:
    customer = await record_customer(telegram_id, first_name=f"Customer {telegram_id}")
    return (await open_ticket(customer, text=text, source="handoff", now=at, policy=POLICY, **kwargs)).ticket  # type: ignore[arg-type]


async def ids(wanted: QueueFilter, now: datetime = NOW, **paging: object) -> list[int]:
    return [t.id for t in (await queue_page(wanted, now, **paging)).tickets]  # type: ignore[arg-type]


async def test_each_filter_narrows_the_queue(database: str) -> None:
    parcel = await opened(1, "快递还没到")  # logistics
    invoice = await opened(2, "发票怎么开", category="payment")
    urgent = await opened(3, "投诉！！！ urgent", category="service_attitude")
    done = await opened(4, "thanks, all good")
    wang = await record_agent(70, "Wang", "wang", supervisor=False)
    li = await record_agent(71, "Li", "li_desk", supervisor=False)
    await assign(parcel, wang, "agent:70", NOW)
    await assign(invoice, li, "agent:70", NOW)
    await close(done, "agent:70", NOW)
    urgent.priority = "urgent"
    await urgent.save(update_fields=["priority"])

    assert await ids(QueueFilter()) == [urgent.id, invoice.id, parcel.id]  # the working tickets, newest first
    assert await ids(QueueFilter(status="all")) == [done.id, urgent.id, invoice.id, parcel.id]
    assert await ids(QueueFilter(status="closed")) == [done.id]
    assert await ids(QueueFilter(category="logistics")) == [parcel.id]
    assert await ids(QueueFilter(priority="urgent")) == [urgent.id]
    assert await ids(QueueFilter(assignee_id=wang.id)) == [parcel.id]
    assert await ids(QueueFilter(assignee_id=0)) == [urgent.id]
    desk = Desk.from_settings(Settings(desk=DeskSettings(teams={"payment": ["@LI_desk"]})), POLICY.calendar)
    assert await ids(QueueFilter(team=desk.teams["payment"])) == [invoice.id]
    assert await ids(QueueFilter(category="logistics", assignee_id=li.id)) == []


async def test_sla_states_are_the_desks(database: str) -> None:
    """Breached is what the agent group's /tickets breaching lists; due soon is within the lead."""
    late = await opened(1, "where is my parcel")  # normal: first response due 4 business hours later
    answered = await opened(2, "my refund", at=NOW + timedelta(minutes=1))
    waiting = await opened(3, "a question", at=NOW + timedelta(minutes=2))
    agent = await record_agent(70, "Wang", "wang", supervisor=False)
    await add_agent_reply(answered, agent, text="on it", now=NOW + timedelta(minutes=5), policy=POLICY)
    await set_pending(waiting, "agent:70", NOW + timedelta(minutes=6))
    later = late.first_response_due + timedelta(minutes=1)
    soon_before = late.first_response_due - timedelta(minutes=10)

    assert await ids(QueueFilter(sla="breached"), later) == [late.id]
    assert [t.id for t in await list_tickets("breaching", None, later)] == [late.id]
    assert await ids(QueueFilter(sla="due_soon"), soon_before) == [late.id]
    assert await ids(QueueFilter(sla="on_track"), soon_before) == [answered.id]
    assert await ids(QueueFilter(sla="paused"), later) == [waiting.id]
    fresh = await Ticket.get(id=late.id)
    assert (sla_state(fresh, later), sla_state(fresh, soon_before), sla_state(fresh, NOW)) == ("breached", "due_soon", "on_track")
    assert sla_state(await Ticket.get(id=waiting.id), later) == "paused"


async def test_paging_walks_forward_and_back_by_ticket_number(database: str) -> None:
    tickets = [await opened(n, f"problem {n}") for n in range(1, 12)]
    newest_first = [t.id for t in reversed(tickets)]
    first = await queue_page(QueueFilter(), NOW, limit=4)
    assert [t.id for t in first.tickets] == newest_first[:4] and first.newer is None
    second = await queue_page(QueueFilter(), NOW, after=first.older, limit=4)
    assert [t.id for t in second.tickets] == newest_first[4:8] and second.newer == newest_first[4]
    third = await queue_page(QueueFilter(), NOW, after=second.older, limit=4)
    assert [t.id for t in third.tickets] == newest_first[8:] and third.older is None
    back = await queue_page(QueueFilter(), NOW, before=third.newer, limit=4)
    assert [t.id for t in back.tickets] == newest_first[4:8] and back.older == newest_first[7]
    assert back.newer == newest_first[4]
    top = await queue_page(QueueFilter(), NOW, before=back.newer, limit=4)
    assert [t.id for t in top.tickets] == newest_first[:4] and top.newer is None
    assert (await queue_page(QueueFilter(), NOW, after=newest_first[-1])).tickets == []
