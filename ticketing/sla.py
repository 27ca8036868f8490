"""The SLA: targets per priority in business time, and its watch — remind agents before a first
response is due, escalate to supervisors at a breach.

Reminders and escalations are claimed with a conditional UPDATE (``reminded_at IS NULL``), so
with several bot instances each ticket is reminded and escalated exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import Settings
from ticketing.business_hours import BusinessCalendar
from ticketing.models import Ticket, TicketStatus

CLOCK_RUNS = (TicketStatus.NEW, TicketStatus.OPEN)  # a pending ticket waits for the customer: its clock is paused


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per priority, in business time (the calendar's opening hours)."""

    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    first_response: dict[str, timedelta] = field(
        default_factory=lambda: {"urgent": timedelta(minutes=30), "high": timedelta(hours=1),
                                 "normal": timedelta(hours=4), "low": timedelta(hours=8)}
    )
    resolution: dict[str, timedelta] = field(
        default_factory=lambda: {"urgent": timedelta(hours=4), "high": timedelta(hours=9),
                                 "normal": timedelta(hours=27), "low": timedelta(hours=45)}
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        """The shop's business hours, workdays and holidays (``[tickets]``), in its time zone
        (``[scheduler] timezone``), with the default targets."""
        opens, closes = settings.tickets.business_hours.split("-")
        calendar = BusinessCalendar(
            timezone=ZoneInfo(settings.scheduler.timezone),
            opens=time.fromisoformat(opens),
            closes=time.fromisoformat(closes),
            workdays=frozenset(d - 1 for d in settings.tickets.workdays),
            country=settings.tickets.holidays or None,
        )
        return cls(calendar=calendar)

    def dues(self, priority: str, start: datetime) -> tuple[datetime, datetime]:
        return (
            self.calendar.add(start, self.first_response[priority]),
            self.calendar.add(start, self.resolution[priority]),
        )


async def due_reminders(now: datetime, calendar: BusinessCalendar, lead: timedelta) -> list[Ticket]:
    """Unanswered tickets with at most ``lead`` of business time left before the first response is due."""
    now = now.astimezone(UTC)  # SQLite compares stored times as text: always in UTC
    candidates = await Ticket.filter(
        status__in=CLOCK_RUNS, first_response_at__isnull=True, reminded_at__isnull=True, escalated_at__isnull=True,
        first_response_due__isnull=False, first_response_due__gt=now,
    )
    due = [t for t in candidates if calendar.between(now, t.first_response_due) <= lead]
    return [t for t in due if await _claim(t, "reminded_at", now)]


async def due_escalations(now: datetime) -> list[Ticket]:
    """Tickets past their first-response or resolution due time, not escalated yet."""
    now = now.astimezone(UTC)
    unanswered = Ticket.filter(status__in=CLOCK_RUNS, first_response_at__isnull=True, first_response_due__lte=now)
    unresolved = Ticket.filter(status__in=CLOCK_RUNS, resolution_due__lte=now)
    found = {t.id: t for q in (unanswered, unresolved) for t in await q.filter(escalated_at__isnull=True)}
    return [t for t in found.values() if await _claim(t, "escalated_at", now)]


async def _claim(ticket: Ticket, field: str, now: datetime) -> bool:
    won = await Ticket.filter(id=ticket.id, **{f"{field}__isnull": True}).update(**{field: now})
    if won:
        setattr(ticket, field, now)
    return bool(won)
