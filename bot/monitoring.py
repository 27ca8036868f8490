"""Metrics for Prometheus, served at ``/metrics`` on kefu's HTTP server (docs/deploy.md, "Metrics").

Two kinds, which a fleet of processes aggregates differently:

- **Per instance** (``sum()`` them over instances): the counters and the histogram, counted in
  this process where things happen — updates handled, Bot API calls out and their errors, the
  time from an update's arrival to its handling finished, take-overs, updates set aside,
  webhook answers. Every known label value is there from the start, at 0, so that ``rate()``
  sees the first event too.
- **Fleet-wide** (aggregate with ``max()``, never ``sum()``): the gauges read from the shared
  database at each scrape — open tickets, the outbox's backlog, the inbox — which every instance
  reports alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from tortoise.functions import Count

from bot import sql
from scheduler.models import OutboxMessage
from ticketing.models import Ticket

PER_INSTANCE: Final = " (this instance: sum over instances)"
FLEET_WIDE: Final = " (fleet-wide, from the shared database: aggregate with max, not sum)"

CHAT_TYPES: Final = ("private", "group", "supergroup", "channel", "none")
SENDING_METHODS: Final = (
    "sendMessage", "editMessageText", "editMessageReplyMarkup", "copyMessage", "sendPhoto", "sendDocument",
)
"""The Bot API methods kefu sends with most: their series are there from the start (others from their first call)."""
ERROR_KINDS: Final = ("flood", "blocked", "timeout", "bad_request", "server_or_network", "other")
WEBHOOK_CODES: Final = (200, 400, 403, 500, 503)
TICKET_STATUSES: Final = ("new", "open", "pending")
OUTBOX_STATUSES: Final = ("queued", "sending")
INBOX_STATUSES: Final = ("new", "processing", "unknown", "failed")
REPLY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds: a chat answer within a second or two is good, 30 s is bad, past a minute something broke."""

# -- per instance ------------------------------------------------------------------------------

MESSAGES_IN = Counter("kefu_messages_in_total", "Updates handled, by chat type" + PER_INSTANCE, ["chat"])
MESSAGES_OUT = Counter(
    "kefu_messages_out_total", "Messages sent or edited by the bot, by Bot API method" + PER_INSTANCE, ["method"]
)
SEND_ERRORS = Counter("kefu_send_errors_total", "Bot API calls that failed, by kind" + PER_INSTANCE, ["kind"])
REPLY_SECONDS = Histogram(
    "kefu_reply_seconds",
    "Seconds from an update's arrival (stored in the inbox) to its handling finished" + PER_INSTANCE,
    buckets=REPLY_BUCKETS,
)
INBOX_TAKEOVERS = Counter(
    "kefu_inbox_takeovers_total",
    "Updates a process that is gone had been handling, taken over to be handled again" + PER_INSTANCE,
)
INBOX_FAILED = Counter(
    "kefu_inbox_failed_total",
    "Updates set aside as failed: unreadable, or their handling failed too often" + PER_INSTANCE,
)
WEBHOOK_RESPONSES = Counter(
    "kefu_webhook_responses_total",
    "Webhook calls from Telegram by HTTP status of the answer: 200 stored, 400 not an update, "
    "403 wrong secret token, 500 not stored, 503 not taking updates (starting or stopping)" + PER_INSTANCE,
    ["code"],
)

# -- fleet-wide, from the database -------------------------------------------------------------

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

for _chat in CHAT_TYPES:
    MESSAGES_IN.labels(_chat)
for _method in SENDING_METHODS:
    MESSAGES_OUT.labels(_method)
for _kind in ERROR_KINDS:
    SEND_ERRORS.labels(_kind)
for _code in WEBHOOK_CODES:
    WEBHOOK_RESPONSES.labels(str(_code))
for _gauge, _statuses in ((TICKETS_OPEN, TICKET_STATUSES), (OUTBOX_BACKLOG, OUTBOX_STATUSES),
                         (INBOX_UPDATES, INBOX_STATUSES)):
    for _status in _statuses:
        _gauge.labels(_status).set(0)

SENDING = ("send", "copy", "forward", "edit")


def count_call(endpoint: str) -> None:
    if endpoint.startswith(SENDING):
        MESSAGES_OUT.labels(endpoint).inc()


def count_error(error: Exception) -> None:
    SEND_ERRORS.labels(error_kind(error)).inc()


def error_kind(error: Exception) -> str:
    if isinstance(error, RetryAfter):
        return "flood"
    if isinstance(error, Forbidden):
        return "blocked"
    if isinstance(error, TimedOut):
        return "timeout"
    if isinstance(error, BadRequest):
        return "bad_request"
    if isinstance(error, NetworkError):
        return "server_or_network"
    return "other"


def observe_reply(seconds: float) -> None:
    """An update was finished ``seconds`` after it was stored in the inbox (clocks of two
    processes may differ a little: a negative time counts as 0)."""
    REPLY_SECONDS.observe(max(seconds, 0.0))


def count_takeovers(count: int) -> None:
    """This process took over ``count`` updates that a process that is gone had been handling."""
    if count > 0:
        INBOX_TAKEOVERS.inc(count)


def count_failed_updates(count: int) -> None:
    """This process set ``count`` updates aside as ``failed``."""
    if count > 0:
        INBOX_FAILED.inc(count)


def count_webhook(status: int) -> None:
    """The webhook answered a call from Telegram with HTTP ``status``."""
    WEBHOOK_RESPONSES.labels(str(status)).inc()


_INBOX_NOW = """SELECT status, COUNT(*) AS n, MIN(received_at) AS oldest FROM inbox_update
    WHERE status IN ANY_OF(?) GROUP BY status"""


async def read_database() -> None:
    """Set the fleet-wide gauges from the database: three small GROUP BYs on indexed columns."""
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
    oldest = next((sql.as_datetime(row["oldest"]) for row in inbox if row["status"] == "new"), None)
    INBOX_OLDEST_WAITING.set(max((datetime.now(UTC) - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)


async def metrics(_request: web.Request) -> web.Response:
    await read_database()
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
