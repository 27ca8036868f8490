"""Live counters for Prometheus, served at ``/metrics`` on kefu's HTTP server.

Counters are counted where things happen (updates in, Bot API calls out, their errors); the
gauges (open tickets, outbox backlog) are read from the database at each scrape, so every
instance sharing one database reports the same backlog.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from tortoise.functions import Count

from scheduler.models import OutboxMessage
from ticketing.models import Ticket

MESSAGES_IN = Counter("kefu_messages_in_total", "Updates received, by chat type", ["chat"])
MESSAGES_OUT = Counter("kefu_messages_out_total", "Messages sent or edited by the bot, by Bot API method", ["method"])
SEND_ERRORS = Counter("kefu_send_errors_total", "Bot API calls that failed, by kind", ["kind"])
TICKETS_OPEN = Gauge("kefu_tickets_open", "Tickets not yet resolved, by status", ["status"])
OUTBOX_BACKLOG = Gauge("kefu_outbox_backlog", "Outbox messages waiting or in flight, by status", ["status"])

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


async def metrics(_request: web.Request) -> web.Response:
    for status in ("new", "open", "pending"):
        TICKETS_OPEN.labels(status).set(0)
    for row in await Ticket.filter(status__in=("new", "open", "pending")).annotate(n=Count("id")).group_by("status").values("status", "n"):
        TICKETS_OPEN.labels(row["status"]).set(row["n"])
    for status in ("queued", "sending"):
        OUTBOX_BACKLOG.labels(status).set(0)
    for row in await OutboxMessage.filter(status__in=("queued", "sending")).annotate(n=Count("id")).group_by("status").values("status", "n"):
        OUTBOX_BACKLOG.labels(row["status"]).set(row["n"])
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
