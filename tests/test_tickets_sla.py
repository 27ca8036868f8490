"""SLA timers count business hours: reminders before a breach, escalation at it, none on days off."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ticketing.customers import record_customer
from ticketing.service import SlaPolicy, add_agent_reply, open_ticket, record_agent
from ticketing.sla import due_escalations, due_reminders

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = SlaPolicy()
LEAD = timedelta(minutes=15)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def test_over_a_weekend_the_reminder_and_escalation_wait_for_monday(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    # Friday 17:00, normal priority: 4 business hours → due Monday 12:00.
    ticket = (await open_ticket(customer, text="help me", source="handoff", now=at(2026, 11, 27, 17, 0), policy=POLICY)).ticket
    assert ticket.first_response_due == at(2026, 11, 30, 12, 0)
    for quiet in (at(2026, 11, 27, 17, 59), at(2026, 11, 28, 12, 0), at(2026, 11, 29, 23, 0), at(2026, 11, 30, 11, 44)):
        assert await due_reminders(quiet, POLICY.calendar, LEAD) == []
        assert await due_escalations(quiet) == []
    assert [t.id for t in await due_reminders(at(2026, 11, 30, 11, 45), POLICY.calendar, LEAD)] == [ticket.id]
    assert await due_reminders(at(2026, 11, 30, 11, 50), POLICY.calendar, LEAD) == []  # once
    assert await due_escalations(at(2026, 11, 30, 11, 59)) == []
    assert [t.id for t in await due_escalations(at(2026, 11, 30, 12, 0))] == [ticket.id]
    assert await due_escalations(at(2026, 11, 30, 12, 5)) == []  # once


async def test_over_national_day_the_clock_stands_still(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    # Wednesday Sept 30, 17:30, urgent: 30 business minutes → 30 min that day (17:30–18:00).
    ticket = (await open_ticket(customer, text="紧急！快递丢件", source="complaint", now=at(2026, 9, 30, 17, 30), policy=POLICY)).ticket
    assert ticket.priority == "urgent" and ticket.first_response_due == at(2026, 9, 30, 18, 0)
    other = await record_customer(2, first_name="Wei")
    # Same day 17:50, normal: 10 minutes on Sept 30, then Oct 1–7 are holidays → Oct 8 12:50.
    later = (await open_ticket(other, text="help", source="handoff", now=at(2026, 9, 30, 17, 50), policy=POLICY)).ticket
    assert later.first_response_due == at(2026, 10, 8, 12, 50)
    assert [t.id for t in await due_escalations(at(2026, 9, 30, 18, 0))] == [ticket.id]
    assert await due_reminders(at(2026, 10, 3, 10, 0), POLICY.calendar, LEAD) == []
    assert [t.id for t in await due_reminders(at(2026, 10, 8, 12, 35), POLICY.calendar, LEAD)] == [later.id]


async def test_an_answered_ticket_is_not_reminded(database: str) -> None:
    customer = await record_customer(1, first_name="Fang")
    ticket = (await open_ticket(customer, text="help", source="handoff", now=at(2026, 11, 23, 10, 0), policy=POLICY)).ticket
    agent = await record_agent(11, "Li", None, supervisor=False)
    await add_agent_reply(ticket, agent, text="Hi!", now=at(2026, 11, 23, 10, 5), policy=POLICY)
    assert await due_reminders(at(2026, 11, 23, 13, 50), POLICY.calendar, LEAD) == []
    assert await due_escalations(at(2026, 11, 23, 14, 30)) == []
