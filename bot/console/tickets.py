"""The console's Tickets page: the queue with its filters, the search box, and keyset paging.

The queue itself is ticketing/queue.py (filters and paging in one statement over indexed
columns, never OFFSET) and the search ticketing/search.py (found through the blind full-text
index, confirmed on the decrypted messages); this module reads the page's query string into a
:class:`~ticketing.queue.QueueFilter` and renders. A value the page never offers (a hand-edited
address) narrows nothing: the form shows "any" for it. Every ticket links to its Ticket page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiMapping

from bot.console.auth import CONSOLE_BOT
from bot.console.staff import STAFF
from bot.core.db import ROW_ID_MAX
from scheduler.jobs import REMINDER_LEAD
from ticketing.models import Agent
from ticketing.presence import Desk
from ticketing.queue import (
    SLA_STATES,
    STATUS_CHOICES,
    QueueFilter,
    queue_page,
    sla_state,
)
from ticketing.triage import CATEGORIES, PRIORITIES

routes = web.RouteTableDef()

QUERY_LIMIT = 200
"""Characters of a search kept (a search is a few words)."""


@dataclass(frozen=True)
class Row:
    """One ticket as the queue shows it."""

    id: int
    subject: str
    customer: str
    status: str
    priority: str
    category: str
    agent: str | None
    sla: str | None
    created: str
    hit: str | None
    """For a search: the words found, in their message."""


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) <= ROW_ID_MAX else None


def _chosen(query: MultiMapping[str], key: str, allowed: tuple[str, ...] | list[str]) -> str:
    value = query.get(key, "")
    return value if value in allowed else ""


@routes.get("/console/tickets")
async def tickets_page(request: web.Request) -> web.Response:
    staff = request[STAFF]
    bot = request.app[CONSOLE_BOT]
    settings = bot.bot_data.settings
    now = bot.bot_data.now()
    query = request.query
    desk = Desk.from_settings(settings, bot.bot_data.sla.calendar)
    agents = sorted(await Agent.filter(active=True), key=lambda a: (a.name or "").casefold())
    agent_ids = [str(a.id) for a in agents]

    search = " ".join(query.get("q", "").split())[:QUERY_LIMIT]
    status = _chosen(query, "status", STATUS_CHOICES)  # "": the tickets to work on, or all of them for a search
    team = _chosen(query, "team", tuple(desk.teams))
    agent = _chosen(query, "agent", ["none", "me", *agent_ids])
    sla = _chosen(query, "sla", SLA_STATES)
    if query.get("breaching") and not sla:  # the agent group's /tickets breaching, as a box to tick
        sla = "breached"
    wanted = QueueFilter(
        status=status or ("all" if search else "working"),  # type: ignore[arg-type]
        category=_chosen(query, "category", CATEGORIES) or None,
        priority=_chosen(query, "priority", PRIORITIES) or None,
        assignee_id=0 if agent == "none" else staff.agent.id if agent == "me" else int(agent) if agent else None,
        team=desk.teams[team] if team else None,
        sla=sla or None,  # type: ignore[arg-type]
        query=search,
    )
    page = await queue_page(
        wanted, now, after=_number(query.get("after")), before=_number(query.get("before")), soon=REMINDER_LEAD
    )
    zone = ZoneInfo(settings.scheduler.timezone)
    rows = [
        Row(
            id=t.id, subject=t.subject, customer=t.customer.display_name, status=t.status, priority=t.priority,
            category=t.category, agent=t.assignee.name if t.assignee else None,
            sla=sla_state(t, now, REMINDER_LEAD), created=_local(t.created_at, zone), hit=page.hits.get(t.id),
        )
        for t in page.tickets
    ]
    kept = {"status": status, "team": team, "agent": agent, "category": wanted.category or "",
            "priority": wanted.priority or "", "sla": sla, "q": search}
    return aiohttp_jinja2.render_template("tickets.html", request, {
        "rows": rows,
        "filters": kept,
        "statuses": STATUS_CHOICES,
        "categories": CATEGORIES,
        "priorities": PRIORITIES,
        "sla_states": SLA_STATES,
        "teams": [(name, ", ".join(desk.team_names.get(name, ()))) for name in desk.teams],
        "agents": [(str(a.id), a.name or str(a.telegram_id)) for a in agents],
        "older": _page_link(kept, after=page.older) if page.older else None,
        "newer": _page_link(kept, before=page.newer) if page.newer else None,
        "first": _page_link(kept) if page.newer else None,
    })


def _page_link(kept: dict[str, str], **cursor: Any) -> str:
    values = {k: v for k, v in kept.items() if v} | {k: v for k, v in cursor.items() if v is not None}
    return "/console/tickets" + (f"?{urlencode(values)}" if values else "")


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
