"""A ticket's life cycle: its moves between statuses, made in one place and heard by listeners.

    new ─→ open ⇄ pending          any status but closed ─→ closed
     └──────┴───────┴──→ resolved ─→ closed          resolved, closed ─→ open (reopened)

Every move goes through :func:`change_status`, whoever makes it (an agent's command, the
customer's button or message, the life-cycle job, forgetting a customer):

- it is one conditional UPDATE from the status the ticket was read with, so of two moves racing
  (an agent's /close and the job, two bot instances) exactly one happens;
- it writes the audit trail's ``status`` row (:class:`~ticketing.models.TicketEvent`);
- the listeners registered with :func:`on_status_change` hear of it as a :class:`StatusChange`,
  the way order status events are heard (orders/events.py).

Listeners hold what a move means for the people around the ticket — the customer is told it was
resolved, the agent group's topic hears of it and is closed — so the /close command and the job
close a ticket the same way, and ticketing knows nothing of Telegram (the bot registers its
listener while it runs: handlers/agent_group.py). A move made inside a caller's transaction
(forgetting a customer) is heard before that transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ticketing.models import Agent, Ticket, TicketEvent, TicketStatus

log = logging.getLogger(__name__)

NEW, OPEN, PENDING, RESOLVED, CLOSED = TicketStatus
MOVES: Mapping[TicketStatus, frozenset[TicketStatus]] = {
    NEW: frozenset({OPEN, PENDING, RESOLVED, CLOSED}),
    OPEN: frozenset({PENDING, RESOLVED, CLOSED}),
    PENDING: frozenset({OPEN, RESOLVED, CLOSED}),
    RESOLVED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset({OPEN}),
}
"""Where a ticket may go from each status; anything else is no move at all."""
DONE = frozenset({RESOLVED, CLOSED})
"""Statuses a move to open *reopens* from."""


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One move of a ticket, as its listeners hear it (the audit row is a ``TicketEvent``)."""

    ticket: Ticket
    """The ticket as it is after the move."""
    before: TicketStatus
    after: TicketStatus
    by: str
    """Who moved it, as the audit trail says: ``agent:TELEGRAM_ID``, ``customer`` or ``system``."""
    at: datetime
    reason: str | None = None
    """Why, when it was not someone's plain decision: ``no reply``, ``reopen window over``,
    ``forgotten`` (the customer's data was deleted), ``replied`` (an agent wrote to a resolved ticket)."""

    @property
    def reopened(self) -> bool:
        return self.after is OPEN and self.before in DONE

    @property
    def agent_telegram_id(self) -> int | None:
        """The Telegram id of the agent who moved it, None if no agent did."""
        kind, _, who = self.by.partition(":")
        return int(who) if kind == "agent" and who.isdigit() else None


StatusListener = Callable[[StatusChange], Awaitable[None]]

status_listeners: list[StatusListener] = []
"""Called as ``await listener(change)`` after each move, in the order registered."""


def on_status_change(listener: StatusListener) -> StatusListener:
    """Register ``listener`` (usable as a decorator); remove it with ``status_listeners.remove``."""
    status_listeners.append(listener)
    return listener


def can_move(ticket: Ticket, to: TicketStatus) -> bool:
    """Whether ``to`` is a move from the ticket's status (as it was read)."""
    return to in MOVES[TicketStatus(ticket.status)]


async def log_event(ticket: Ticket, kind: str, actor: str, now: datetime, **data: Any) -> None:
    """A row of the ticket's audit trail."""
    await TicketEvent.create(ticket=ticket, kind=kind, actor=actor, data=data, at=now)


async def change_status(
    ticket: Ticket, to: TicketStatus, by: str, now: datetime, *, reason: str | None = None,
    columns: Mapping[str, Any] | None = None,
) -> StatusChange | None:
    """Move ``ticket`` to ``to``, setting ``columns`` with it; None (and nothing changed) when
    that is no move from its status, or when the ticket moved since it was read.

    The ticket object follows the stored row. May raise ``IntegrityError`` (a reopened ticket
    whose customer has another active one): then nothing changed.
    """
    now = now.astimezone(UTC)  # SQLite compares stored times as text: always in UTC
    before = TicketStatus(ticket.status)
    if to not in MOVES[before]:
        return None
    values = {**(columns or {}), "status": to, "updated_at": now}
    if not await Ticket.filter(id=ticket.id, status=before).update(**values):
        return None
    for name, value in values.items():
        setattr(ticket, name, value)
    change = StatusChange(ticket, before, to, by, now, reason)
    audit: dict[str, Any] = {"status": str(to)}
    if change.reopened:
        audit["reopened"] = True
    if reason is not None:
        audit["reason"] = reason
    await log_event(ticket, "status", by, now, **audit)
    for listener in list(status_listeners):
        try:
            await listener(change)
        except Exception:  # one broken listener must not stop the others, nor undo the move
            log.exception("ticket status listener %r failed for ticket %s (%s → %s)", listener, ticket.id, before, to)
    return change


# -- a ticket reaching the desk, and a ticket given to an agent --------------------------------
#
# Heard the same way as moves: automatic assignment (ticketing/assignment.py) listens for tickets
# reaching the desk, and the bot for assignments (to announce them in the topic and tell a queued
# customer). A ticket *reaches the desk* when its card is posted in the agent group (the bot says
# so: handlers/agent_group.py ``post_ticket``), after its customer was answered, so that what
# follows — its assignment, the customer's place in the queue — comes after, in order.


@dataclass(frozen=True, slots=True)
class Assigned:
    """A ticket given to an agent: automatically, claimed, or handed by a supervisor."""

    ticket: Ticket
    agent: Agent
    by: str
    """``system`` (automatic assignment) or ``agent:TELEGRAM_ID``."""
    how: str
    """``least_loaded``, ``round_robin``, ``returning`` (the customer's previous agent), ``claimed``, ``assigned``."""
    at: datetime
    before: int | None = None
    """The agent id the ticket had before (a supervisor's /assign over a claim), if any."""


OpenedListener = Callable[[Ticket], Awaitable[None]]
AssignedListener = Callable[[Assigned], Awaitable[None]]
opened_listeners: list[OpenedListener] = []
assigned_listeners: list[AssignedListener] = []


def on_ticket_opened(listener: OpenedListener) -> OpenedListener:
    """Register ``listener`` for tickets reaching the desk; remove it with ``opened_listeners.remove``."""
    opened_listeners.append(listener)
    return listener


def on_assigned(listener: AssignedListener) -> AssignedListener:
    """Register ``listener`` for assignments; remove it with ``assigned_listeners.remove``."""
    assigned_listeners.append(listener)
    return listener


async def ticket_opened(ticket: Ticket) -> None:
    """The ticket reached the desk: its listeners hear of it (a broken one is logged)."""
    await _tell_all(opened_listeners, ticket, f"ticket {ticket.id} opened")


async def ticket_assigned(assignment: Assigned) -> None:
    """The ticket was given to an agent: its listeners hear of it (a broken one is logged)."""
    await _tell_all(assigned_listeners, assignment, f"ticket {assignment.ticket.id} assigned")


async def _tell_all(listeners: list[Callable[[Any], Awaitable[None]]], what: Any, told: str) -> None:
    for listener in list(listeners):
        try:
            await listener(what)
        except Exception:  # one broken listener must not stop the others
            log.exception("listener %r failed: %s", listener, told)
