"""Automatic assignment: a new ticket goes to a free online agent, or waits in the queue.

``[desk] assignment`` = ``least_loaded`` (the default: the online agent with the fewest open
tickets), ``round_robin`` (the online agent given a ticket longest ago) or ``manual`` (nothing
here happens: agents /claim, as before). Whatever the mode:

- a ticket of a category with a team (``[desk.teams]``) goes to an agent of that team only; any
  other ticket to any online agent (ticketing/presence.py says who is online);
- no agent is given more than ``max_open`` open tickets (new, open, pending) automatically;
- a returning customer goes first to the agent who last served them, if that agent is online and
  under the cap, and served them within ``sticky_hours``;
- nobody free: the ticket waits. Its topic is posted as ever, any agent can /claim it, and
  :func:`assign_waiting` gives the waiting tickets, oldest first, as soon as someone is free (an
  agent comes online, a ticket is resolved or closed or handed to someone else; and the desk
  watch every 20 seconds, whichever process of a fleet takes its turn).

Fleet-safe: two processes placing tickets at once never give one ticket twice nor an agent more
than ``max_open``. :func:`take` is one transaction that first *writes* the agent's row (its
``last_assigned_at``): on PostgreSQL that locks the row as ``SELECT … FOR UPDATE`` would, so two
transactions giving tickets to one agent count that agent's tickets one after the other; on
SQLite the first write takes the database's write lock, so the count and the claim are never
interleaved with another writer's. Then the count, then a conditional ``UPDATE ticket SET
assignee_id = … WHERE id = … AND assignee_id IS NULL``: of two processes placing one ticket,
exactly one changes a row. Over the cap, or taken meanwhile: the transaction rolls back.

Every assignment is heard by ``lifecycle.on_assigned``'s listeners (the bot announces it in the
topic, naming the agent, and tells a customer who was told their place in the queue).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ticketing.lifecycle import (
    NEW,
    OPEN,
    Assigned,
    change_status,
    log_event,
    ticket_assigned,
)
from ticketing.models import WORKING, Agent, Ticket
from ticketing.presence import Assignment, Desk, Presence, open_counts

log = logging.getLogger(__name__)
WAITING_LIMIT = 200
"""Waiting tickets looked at per pass of :func:`assign_waiting` (the oldest)."""
POSTING_GRACE = timedelta(minutes=2)
"""A ticket whose card is not posted yet is left to the update posting it (which places it), unless
it was opened this long ago (a crash: the watch posts it)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Queued:
    """Nobody was free: the ticket waits, ``position`` th in the queue (1: next)."""

    position: int
    agents_at_work: bool
    """Some agent is online or away: the customer is told their place (at night nobody is)."""


class _Full(Exception):
    """The agent reached ``max_open`` meanwhile, or the ticket was taken: roll back."""


async def place(ticket: Ticket, desk: Desk, now: datetime) -> Assigned | Queued | None:
    """Give a ticket that reached the desk to a free online agent; else it waits. None: nothing to
    do (manual assignment, or the ticket has its agent, or is not being worked)."""
    now = now.astimezone(UTC)
    if not desk.automatic or ticket.assignee_id is not None or ticket.status not in WORKING:
        return None
    agents = await Agent.filter(active=True)
    online = [agent for agent in agents if desk.status(agent, now) is Presence.ONLINE]
    given = await _give(ticket, online, desk, now)
    if given is not None:
        return given
    ahead = await Ticket.filter(
        status__in=WORKING, assignee_id__isnull=True, created_at__lte=ticket.created_at, id__lt=ticket.id,
    ).count()
    at_work = any(desk.status(agent, now) is not Presence.OFFLINE for agent in agents)
    return Queued(ahead + 1, at_work)


async def assign_waiting(desk: Desk, now: datetime) -> list[Assigned]:
    """The waiting tickets, oldest first, each to a free online agent while there are any."""
    now = now.astimezone(UTC)
    if not desk.automatic:
        return []
    online = [agent for agent in await Agent.filter(active=True) if desk.status(agent, now) is Presence.ONLINE]
    if not online:
        return []
    waiting = await (
        Ticket.filter(status__in=WORKING, assignee_id__isnull=True)
        .filter(Q(card_message_id__isnull=False) | Q(created_at__lte=now - POSTING_GRACE))
        .order_by("created_at", "id").limit(WAITING_LIMIT)
    )
    given: list[Assigned] = []
    for ticket in waiting:
        assigned = await _give(ticket, online, desk, now)
        if assigned is not None:
            given.append(assigned)
        elif not await _anyone_free(online, desk):
            break
    return given


async def _anyone_free(online: list[Agent], desk: Desk) -> bool:
    counts = await open_counts([a.id for a in online])
    return any(counts.get(a.id, 0) < desk.max_open for a in online)


async def _give(ticket: Ticket, online: list[Agent], desk: Desk, now: datetime) -> Assigned | None:
    """The returning customer's agent first, then the team's (or anyone's) in the mode's order."""
    if not online:
        return None
    previous = await previous_agent(ticket, desk, now)
    if previous is not None and any(a.id == previous for a in online):
        agent = next(a for a in online if a.id == previous)
        if await take(ticket, agent, desk.max_open, now):
            return await _assigned(ticket, agent, "returning", now)
        if ticket.assignee_id is not None:  # another process gave it meanwhile
            return None
    serving = [agent for agent in online if desk.serves(agent, ticket.category)]
    counts = await open_counts([a.id for a in serving])
    serving = [agent for agent in serving if counts.get(agent.id, 0) < desk.max_open]
    if desk.mode is Assignment.ROUND_ROBIN:
        serving.sort(key=lambda a: (a.last_assigned_at or _EPOCH, a.id))
    else:
        serving.sort(key=lambda a: (counts.get(a.id, 0), a.last_assigned_at or _EPOCH, a.id))
    for agent in serving:
        if await take(ticket, agent, desk.max_open, now):
            return await _assigned(ticket, agent, str(desk.mode), now)
        if ticket.assignee_id is not None:  # another process gave it meanwhile
            return None
    return None


async def previous_agent(ticket: Ticket, desk: Desk, now: datetime) -> int | None:
    """The id of the agent who last served the ticket's customer within ``sticky_hours``, if any."""
    if desk.sticky <= timedelta(0):
        return None
    earlier = await (
        Ticket.filter(customer_id=ticket.customer_id, assignee_id__isnull=False, updated_at__gte=now - desk.sticky)
        .exclude(id=ticket.id).order_by("-updated_at", "-id").first()
    )
    return earlier.assignee_id if earlier else None


async def take(ticket: Ticket, agent: Agent, max_open: int, now: datetime) -> bool:
    """Give ``ticket`` to ``agent`` if it has nobody and the agent has fewer than ``max_open`` open
    tickets, both checked in one transaction that holds the agent's row (see the module's
    docstring). False, and nothing changed, otherwise (``ticket.assignee_id`` then tells whether
    someone else has it)."""
    now = now.astimezone(UTC)
    try:
        async with in_transaction() as connection:
            # The row lock first: a write (PostgreSQL locks the row; SQLite takes its write lock).
            await Agent.filter(id=agent.id).using_db(connection).update(last_assigned_at=now)
            held = await Ticket.filter(assignee_id=agent.id, status__in=WORKING).using_db(connection).count()
            if held >= max_open:
                raise _Full()
            won = await Ticket.filter(id=ticket.id, assignee_id__isnull=True, status__in=WORKING).using_db(connection).update(
                assignee_id=agent.id, updated_at=now
            )
            if not won:
                raise _Full()
    except _Full:
        fresh = await Ticket.get_or_none(id=ticket.id).only("id", "assignee_id")
        ticket.assignee_id = fresh.assignee_id if fresh else None
        return False
    ticket.assignee_id, ticket.updated_at = agent.id, now
    agent.last_assigned_at = now
    return True


async def _assigned(ticket: Ticket, agent: Agent, how: str, now: datetime) -> Assigned:
    """The audit row, the move to open (someone has it, as a claim does), and the listeners."""
    await log_event(ticket, "assigned", "system", now, agent=agent.telegram_id, how=how)
    if ticket.status == NEW:
        await change_status(ticket, OPEN, "system", now)
    assigned = Assigned(ticket, agent, "system", how, now)
    await ticket_assigned(assigned)
    return assigned


async def mark_queued(ticket: Ticket, now: datetime) -> bool:
    """Record that the customer is told their place (once: a conditional UPDATE); False if they
    were already, or the ticket has its agent meanwhile."""
    now = now.astimezone(UTC)
    done = await Ticket.filter(id=ticket.id, queued_at__isnull=True, assignee_id__isnull=True).update(queued_at=now)
    if done:
        ticket.queued_at = now
    return bool(done)


async def unqueue(ticket: Ticket) -> bool:
    """The queued customer's ticket was taken: True once (they are told, once)."""
    done = await Ticket.filter(id=ticket.id, queued_at__isnull=False).update(queued_at=None)
    ticket.queued_at = None
    return bool(done)
