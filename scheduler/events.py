"""What the scheduler's jobs have to tell people, as typed events, and who listens to them.

A job's body is domain work: find the tickets whose first response is near, the tickets left
without a card, the knowledge base that stopped loading, last week's figures. Telling the agents
(a post in a ticket's topic, a chart in the group) is Telegram's, and the scheduler knows nothing
of Telegram: the job emits an event, and the listeners registered for its kind do the Telegram
part (handlers/watch.py, handlers/reports.py, handlers/campaigns.py; bot/app.py wires them), the
way a ticket's moves (ticketing/lifecycle.py) and an order's status changes (orders/events.py)
are heard.

The listeners belong to one :class:`Listeners` (a :class:`~scheduler.jobs.Schedule`'s) rather
than to the module: two bots in one process (the tests) each hear their own jobs only. A broken
listener stops neither the others nor the job: it is logged, and the job goes on (the next
reminder is posted all the same).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from knowledge_base.live import KBNews
from reports import Report
from scheduler.models import Campaign, OutboxMessage
from ticketing.models import Customer, Ticket
from ticketing.responses import Overdue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TicketUnposted:
    """A ticket still without its card in the agent group a while after it was opened: its
    customer was answered, then the process died before it posted the ticket (or a live one is
    still waiting for its turn in the group: the listener asks the inbox)."""

    ticket: Ticket
    customer: Customer


@dataclass(frozen=True, slots=True)
class AlbumsWaiting:
    """Albums whose parts wait since well after they were complete: the process that was to relay
    them stopped first (ticketing/albums.py). Any process may relay them: each part goes once."""

    albums: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SlaReminder:
    """The ticket's first response is due soon (:data:`~scheduler.jobs.REMINDER_LEAD` of business
    time); emitted once per ticket."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class SlaBreached:
    """Tickets past their first-response or resolution due time, each emitted once."""

    tickets: tuple[Ticket, ...]


@dataclass(frozen=True, slots=True)
class ResponsesOverdue:
    """Tickets whose customer's message waited past ``[desk] nudge_seconds`` (level 1: its agent is
    nudged) or twice that (level 2: the supervisors); each message once per level (ticketing/responses.py)."""

    tickets: tuple[Overdue, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeBaseNews:
    """The knowledge base files stopped loading (``news.error``; the last good KB keeps serving)
    or load again. One process of a fleet emits it per state of the files."""

    news: KBNews


@dataclass(frozen=True, slots=True)
class OutboxUnknown:
    """Outbox rows a crash left ``sending``: now ``unknown``, never resent (scheduler/README.md)."""

    rows: tuple[OutboxMessage, ...]


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    """The last seven days' report, for the agent group (``[reports] weekly``)."""

    report: Report


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    """A campaign's counts by outcome as they are now (its status updated by
    :func:`scheduler.campaigns.progress`), for its progress message."""

    campaign: Campaign
    counts: Mapping[str, int]


E = TypeVar("E")


class Listeners:
    """Listeners by the kind of event they hear, called in the order registered."""

    def __init__(self) -> None:
        self._by_kind: dict[type, list[Callable[[Any], Awaitable[None]]]] = {}

    def on(self, kind: type[E], listener: Callable[[E], Awaitable[None]]) -> None:
        self._by_kind.setdefault(kind, []).append(listener)

    async def emit(self, event: object) -> None:
        for listener in list(self._by_kind.get(type(event), ())):
            try:
                await listener(event)
            except Exception:  # one broken listener must not stop the others, nor the job
                log.exception("%s listener %r failed", type(event).__name__, listener)
