"""The queue as the console shows it: tickets by filters and search, newest first, a page at a time.

Paging is by keyset (the last ticket number seen), never OFFSET: page 500 of 100,000 tickets
costs what page 1 costs. Filters and the keyset are one SQL statement over indexed columns
(bot/migrations/0019_search.py); a search adds the full-text index's candidates, which are then
checked against the decrypted messages (ticketing/search.py), so a page holds only real hits.

SLA states, one home for what the console and the desk call them:

- ``breached``: new or open, past its first-response due time unanswered, or past its
  resolution due time (the agent group's ``/tickets breaching``);
- ``due_soon``: new or open, not breached, one of those due within ``soon``;
- ``on_track``: new or open, neither;
- ``paused``: pending, the clock stopped while the customer is asked;
- none for resolved and closed tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.core import sql
from bot.core.fit import cut
from ticketing import search
from ticketing.models import ACTIVE, WORKING, Ticket, TicketMessage, TicketStatus

SlaState = Literal["breached", "due_soon", "on_track", "paused"]
SLA_STATES: tuple[SlaState, ...] = ("breached", "due_soon", "on_track", "paused")
StatusChoice = Literal["working", "active", "all", "new", "open", "pending", "resolved", "closed"]
STATUS_CHOICES: tuple[StatusChoice, ...] = ("working", "active", "all", "new", "open", "pending", "resolved", "closed")
PAGE_SIZE = 50
SOON = timedelta(minutes=15)
"""How near a due time is "due soon" by default: the SLA reminder's lead (scheduler/jobs.py)."""
SNIPPET_LIMIT = 140
"""Characters of a search hit's message shown under its ticket."""

_CLOCK = "t.status IN ('new', 'open')"
_DUE_BY = "((t.first_response_at IS NULL AND t.first_response_due <= :{at}) OR t.resolution_due <= :{at})"
_SLA_SQL: dict[SlaState, str] = {
    "breached": f"{_CLOCK} AND {_DUE_BY.format(at='now')}",
    "due_soon": f"{_CLOCK} AND NOT {_DUE_BY.format(at='now')} AND {_DUE_BY.format(at='soon')}",
    "on_track": f"{_CLOCK} AND NOT {_DUE_BY.format(at='soon')}",
    "paused": "t.status = 'pending'",
}


def sla_state(ticket: Ticket, now: datetime, soon: timedelta = SOON) -> SlaState | None:
    """The ticket's SLA state now (see the module's docstring), as the queue's filter has it."""
    if ticket.status == TicketStatus.PENDING:
        return "paused"
    if ticket.status not in (TicketStatus.NEW, TicketStatus.OPEN):
        return None

    def due_by(at: datetime) -> bool:
        first = ticket.first_response_at is None and ticket.first_response_due is not None and ticket.first_response_due <= at
        return first or (ticket.resolution_due is not None and ticket.resolution_due <= at)

    if due_by(now):
        return "breached"
    return "due_soon" if due_by(now + soon) else "on_track"


@dataclass(frozen=True)
class QueueFilter:
    """What the agent asked to see; every field narrows the queue (empty: no narrowing)."""

    status: StatusChoice = "working"
    category: str | None = None
    priority: str | None = None
    assignee_id: int | None = None
    """An agent's tickets; 0 for the tickets nobody has."""
    team: frozenset[str] | None = None
    """The blind indexes of a team's usernames (``Desk.teams``): tickets one of them has."""
    sla: SlaState | None = None
    query: str = ""
    """Words that one of the ticket's messages holds, all of them (ticketing/search.py)."""


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    older: int | None
    """The cursor of the next page (``after``), None on the last."""
    newer: int | None
    """The cursor of the previous page (``before``), None on the first."""
    hits: dict[int, str] = field(default_factory=dict)
    """For a search, each ticket's first matching message, cut to :data:`SNIPPET_LIMIT`."""


def _statuses(choice: StatusChoice) -> tuple[str, ...] | None:
    if choice == "all":
        return None
    if choice == "working":
        return tuple(WORKING)
    if choice == "active":
        return tuple(ACTIVE)
    return (TicketStatus(choice).value,)


async def _where(wanted: QueueFilter, now: datetime, soon: timedelta) -> tuple[list[str], dict[str, Any]] | None:
    """The filter's conditions on ``ticket t`` and their parameters; None when nothing can match
    (a search without a single word)."""
    where: list[str] = []
    params: dict[str, Any] = {}
    statuses = _statuses(wanted.status)
    if statuses is not None:
        where.append("t.status IN ANY_OF(:statuses)")
        params["statuses"] = sql.any_of(statuses)
    if wanted.category:
        where.append("t.category = :category")
        params["category"] = wanted.category
    if wanted.priority:
        where.append("t.priority = :priority")
        params["priority"] = wanted.priority
    if wanted.assignee_id == 0:
        where.append("t.assignee_id IS NULL")
    elif wanted.assignee_id is not None:
        where.append("t.assignee_id = :assignee")
        params["assignee"] = wanted.assignee_id
    if wanted.team is not None:
        where.append("t.assignee_id IN (SELECT a.id FROM agent a WHERE a.username_hash IN ANY_OF(:team))")
        params["team"] = sql.any_of(sorted(wanted.team))
    if wanted.sla:
        where.append(_SLA_SQL[wanted.sla])
        params["now"] = now
        if wanted.sla != "breached":
            params["soon"] = now + soon
    if wanted.query.strip():
        searched = await search.searched_tickets(wanted.query)
        if searched is None:
            return None
        where.append(searched[0])
        params |= searched[1]
    return where, params


async def queue_page(
    wanted: QueueFilter, now: datetime, *, after: int | None = None, before: int | None = None,
    limit: int = PAGE_SIZE, soon: timedelta = SOON,
) -> QueuePage:
    """A page of the queue, newest ticket first: the first page, the one older than ticket
    ``after``, or the one newer than ticket ``before``."""
    now = now.astimezone(UTC)
    found = await _where(wanted, now, soon)
    if found is None:
        return QueuePage([], None, None)
    where, params = found
    backwards = before is not None and after is None
    ids: list[int] = []
    hits: dict[int, int] = {}
    cursor = before if backwards else after
    exhausted = False
    while len(ids) <= limit and not exhausted:  # a search: candidates checked until the page is full
        chunk = await _ids(where, params, cursor, backwards, limit + 1 - len(ids))
        exhausted = len(chunk) < limit + 1 - len(ids)
        if chunk:
            cursor = chunk[-1]
        if wanted.query.strip():
            verified = await search.verified(chunk, wanted.query)
            hits |= verified
            chunk = [i for i in chunk if i in verified]
        ids += chunk
    more = len(ids) > limit
    ids = ids[:limit]
    if backwards:
        ids.reverse()
    tickets = {t.id: t for t in await Ticket.filter(id__in=ids).prefetch_related("customer", "assignee")}
    page = [tickets[i] for i in ids if i in tickets]
    if not page:
        return QueuePage([], None, None)
    if backwards:  # came from an older page: there is one
        older, newer = page[-1].id, (page[0].id if more else None)
    else:
        older, newer = (page[-1].id if more else None), (page[0].id if after is not None else None)
    return QueuePage(page, older, newer, await _snippets(hits, ids))


async def _ids(where: list[str], params: dict[str, Any], cursor: int | None, backwards: bool, limit: int) -> list[int]:
    conditions = list(where)
    if cursor is not None:
        conditions.append("t.id > :cursor" if backwards else "t.id < :cursor")
    statement = (
        "SELECT t.id FROM ticket t"
        + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
        + f" ORDER BY t.id {'ASC' if backwards else 'DESC'} LIMIT {int(limit)}"
    )
    return [row["id"] for row in await sql.rows(statement, **params, **({"cursor": cursor} if cursor is not None else {}))]


async def _snippets(hits: dict[int, int], shown: list[int]) -> dict[int, str]:
    if not hits:
        return {}
    wanted = {hits[i]: i for i in shown if i in hits}
    messages = await TicketMessage.filter(id__in=list(wanted)).only("id", "text")
    return {wanted[m.id]: cut(" ".join(m.text.split()), SNIPPET_LIMIT) for m in messages}

