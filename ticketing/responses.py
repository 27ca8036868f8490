"""Response-time discipline, as Chinese shop platforms measure it: every customer message is
answered, and quickly.

Each customer message (``ticket_message``, direction ``in``) records when the first agent reply
after it came (``answered_at``) and how long it waited: ``response_seconds`` on the wall clock and
``response_business_seconds`` within business hours. The 3-minute response rate of the reports
is the share of customer messages answered within 180 s (reports read these columns).

A message left waiting ``[desk] nudge_seconds`` of business time (default 100) nudges its ticket's
agent in the topic, once; twice that, the supervisors, once (``nudged``: 1, then 2, each step a
conditional UPDATE, so that of a fleet's processes one nudges). Messages of a ticket waiting for
the customer (pending), resolved or closed, and those of a shadowbanned customer (no agent sees
them) nudge nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ticketing.business_hours import BusinessCalendar
from ticketing.lifecycle import NEW, OPEN
from ticketing.models import Ticket, TicketMessage

FAST = timedelta(seconds=180)
"""The response time the 3-minute response rate counts."""
AGENT, SUPERVISORS, UNKNOWN = 1, 2, 3
"""Values of ``ticket_message.nudged`` (0: nobody yet); 3: written before response times were kept
(0016_presence): nobody is nudged about it, and its response time is unknown."""


async def answered(ticket: Ticket, now: datetime, calendar: BusinessCalendar) -> int:
    """An agent replied: the customer's messages still waiting are answered now; how many."""
    now = now.astimezone(UTC)
    waiting = await TicketMessage.filter(
        ticket_id=ticket.id, direction="in", answered_at__isnull=True, created_at__lte=now
    ).only("id", "created_at")
    count = 0
    for message in waiting:
        count += await TicketMessage.filter(id=message.id, answered_at__isnull=True).update(
            answered_at=now,
            response_seconds=max(0, int((now - message.created_at).total_seconds())),
            response_business_seconds=int(calendar.between(message.created_at, now).total_seconds()),
        )
    return count


@dataclass(frozen=True, slots=True)
class Overdue:
    """A ticket whose customer's message waited past a nudge: ``level`` 1 its agent, 2 the supervisors."""

    ticket: Ticket
    level: int
    waited: int
    """Business seconds the oldest such message has waited."""


async def overdue(now: datetime, calendar: BusinessCalendar, nudge: timedelta) -> list[Overdue]:
    """Tickets to nudge about now, each message counted once per level (across a fleet)."""
    now = now.astimezone(UTC)
    waiting = await (
        TicketMessage.filter(
            direction="in", answered_at__isnull=True, nudged__lt=SUPERVISORS, created_at__lte=now - nudge,
            ticket__status__in=(NEW, OPEN),
        )
        .exclude(ticket__customer__standing="shadow")
        .order_by("created_at", "id").only("id", "ticket_id", "created_at", "nudged")
    )
    found: dict[int, tuple[int, int]] = {}
    for message in waiting:
        waited = calendar.between(message.created_at, now)
        level = SUPERVISORS if waited >= 2 * nudge else AGENT if waited >= nudge else 0
        if level <= message.nudged:
            continue
        if not await TicketMessage.filter(id=message.id, nudged=message.nudged).update(nudged=level):
            continue  # another process nudged about it
        best = found.get(message.ticket_id, (0, 0))
        found[message.ticket_id] = (max(best[0], level), max(best[1], int(waited.total_seconds())))
    tickets = {t.id: t for t in await Ticket.filter(id__in=list(found))} if found else {}
    return [Overdue(tickets[i], level, waited) for i, (level, waited) in sorted(found.items()) if i in tickets]


@dataclass(frozen=True, slots=True)
class ResponseRate:
    """Customer messages of a period and how many were answered within :data:`FAST`."""

    messages: int
    fast: int

    @property
    def rate(self) -> float | None:
        """The 3-minute response rate; None when no customer wrote."""
        return self.fast / self.messages if self.messages else None


async def response_rate(start: datetime, end: datetime, *, business: bool = True) -> ResponseRate:
    """Customer messages written in [start, end) and those answered within 180 s — of business
    time (``business``: a message written at night and answered as the shop opens counts as fast,
    as shop platforms count it) or of the wall clock. Unanswered messages count as slow; messages
    from before response times were kept (``nudged`` 3, by 0016_presence) are left out."""
    written = TicketMessage.filter(
        direction="in", created_at__gte=start.astimezone(UTC), created_at__lt=end.astimezone(UTC)
    ).exclude(nudged=UNKNOWN)
    column = "response_business_seconds" if business else "response_seconds"
    messages = await written.count()
    fast = await written.filter(**{f"{column}__lte": int(FAST.total_seconds())}).count()
    return ResponseRate(messages, fast)
