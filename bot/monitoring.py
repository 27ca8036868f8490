"""Metrics for Prometheus, served at ``/metrics`` on kefu's HTTP server (docs/deploy.md, "Metrics").

Two kinds, which a fleet of processes aggregates differently:

- **Per instance** (``sum()`` them over instances): the counters and the histogram of
  ``bot/core/metrics.py``, counted in this process where things happen.
- **Fleet-wide** (aggregate with ``max()``, never ``sum()``): the gauges here, read from the shared
  database at each scrape — open tickets, the outbox's backlog, the inbox — which every instance
  reports alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from tortoise.functions import Count

from bot.core import sql
from reports.agents import responses
from scheduler.models import OutboxMessage
from ticketing.models import WORKING, Ticket

FLEET_WIDE: Final = " (fleet-wide, from the shared database: aggregate with max, not sum)"
TICKET_STATUSES: Final = WORKING
OUTBOX_STATUSES: Final = ("queued", "sending")
INBOX_STATUSES: Final = ("new", "processing", "unknown", "failed")

TICKETS_OPEN = Gauge("kefu_tickets_open", "Tickets not yet resolved, by status" + FLEET_WIDE, ["status"])
OUTBOX_BACKLOG = Gauge("kefu_outbox_backlog", "Outbox messages waiting or in flight, by status" + FLEET_WIDE, ["status"])
INBOX_UPDATES = Gauge(
    "kefu_inbox_updates",
    "Updates in the inbox, by status: new (waiting), processing, unknown (a process died while "
    "answering: not answered again) and failed (set aside), the last two kept a week" + FLEET_WIDE,
    ["status"],
)
INBOX_OLDEST_WAITING = Gauge(
    "kefu_inbox_oldest_waiting_seconds",
    "Age of the oldest update waiting to be handled (status new), 0 when none" + FLEET_WIDE,
)
AGENT_MESSAGES = Gauge(
    "kefu_agent_customer_messages_24h",
    "Customer messages of the last 24 hours, by the agent they belong to (reports/agents.py; none: "
    "unanswered and unassigned)" + FLEET_WIDE, ["agent"],
)
AGENT_FAST = Gauge(
    "kefu_agent_answered_within_180s_24h",
    "Of those, answered within 180 s of business time: ÷ kefu_agent_customer_messages_24h is the "
    "3-minute response rate" + FLEET_WIDE, ["agent"],
)
RESPONSE_WINDOW: Final = timedelta(hours=24)

for _gauge, _statuses in ((TICKETS_OPEN, TICKET_STATUSES), (OUTBOX_BACKLOG, OUTBOX_STATUSES),
                         (INBOX_UPDATES, INBOX_STATUSES)):
    for _status in _statuses:
        _gauge.labels(_status).set(0)


_INBOX_NOW = """SELECT status, COUNT(*) AS n, MIN(received_at) AS oldest FROM inbox_update
    WHERE status IN ANY_OF(?) GROUP BY status"""


async def read_database() -> None:
    """Set the fleet-wide gauges from the database: three small GROUP BYs on indexed columns, and
    the last 24 hours' customer messages per agent (one GROUP BY over a day of messages)."""
    tickets = await Ticket.filter(status__in=TICKET_STATUSES).annotate(n=Count("id")).group_by("status").values("status", "n")
    outbox = (
        await OutboxMessage.filter(status__in=OUTBOX_STATUSES).annotate(n=Count("id")).group_by("status").values("status", "n")
    )
    inbox = await sql.rows(_INBOX_NOW, sql.any_of(INBOX_STATUSES))
    for gauge, statuses, rows in ((TICKETS_OPEN, TICKET_STATUSES, tickets), (OUTBOX_BACKLOG, OUTBOX_STATUSES, outbox),
                                  (INBOX_UPDATES, INBOX_STATUSES, inbox)):
        counts = {row["status"]: row["n"] for row in rows}
        for status in statuses:
            gauge.labels(status).set(counts.get(status, 0))
    now = datetime.now(UTC)
    by_agent = await responses(now - RESPONSE_WINDOW, now)
    for gauge in (AGENT_MESSAGES, AGENT_FAST):
        gauge.clear()  # an agent without messages in the window drops out
    for agent, counts in by_agent.items():
        AGENT_MESSAGES.labels(agent).set(counts["messages"])
        AGENT_FAST.labels(agent).set(counts["fast"])
    oldest = next((sql.as_datetime(row["oldest"]) for row in inbox if row["status"] == "new"), None)
    INBOX_OLDEST_WAITING.set(max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)


async def metrics(_request: web.Request) -> web.Response:
    await read_database()
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
