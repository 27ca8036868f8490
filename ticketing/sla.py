"""SLA watch: remind agents before a first response is due, escalate to supervisors at a breach.

Both are claimed with a conditional UPDATE (``reminded_at IS NULL``), so with several bot
instances each ticket is reminded and escalated exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ticketing.business_hours import BusinessCalendar
from ticketing.models import Ticket

WORKING = ("new", "open")  # a pending ticket waits for the customer: its clock is paused


async def due_reminders(now: datetime, calendar: BusinessCalendar, lead: timedelta) -> list[Ticket]:
    """Unanswered tickets with at most ``lead`` of business time left before the first response is due."""
    now = now.astimezone(UTC)  # SQLite compares stored times as text: always in UTC
    candidates = await Ticket.filter(
        status__in=WORKING, first_response_at__isnull=True, reminded_at__isnull=True, escalated_at__isnull=True,
        first_response_due__isnull=False, first_response_due__gt=now,
    )
    due = [t for t in candidates if calendar.between(now, t.first_response_due) <= lead]
    return [t for t in due if await _claim(t, "reminded_at", now)]


async def due_escalations(now: datetime) -> list[Ticket]:
    """Tickets past their first-response or resolution due time, not escalated yet."""
    now = now.astimezone(UTC)
    unanswered = Ticket.filter(status__in=WORKING, first_response_at__isnull=True, first_response_due__lte=now)
    unresolved = Ticket.filter(status__in=WORKING, resolution_due__lte=now)
    found = {t.id: t for q in (unanswered, unresolved) for t in await q.filter(escalated_at__isnull=True)}
    return [t for t in found.values() if await _claim(t, "escalated_at", now)]


async def _claim(ticket: Ticket, field: str, now: datetime) -> bool:
    won = await Ticket.filter(id=ticket.id, **{f"{field}__isnull": True}).update(**{field: now})
    if won:
        setattr(ticket, field, now)
    return bool(won)
