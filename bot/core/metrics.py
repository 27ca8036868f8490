"""kefu's own counters for Prometheus, counted in this process where things happen (sum them over
the instances of a fleet): updates handled, Bot API calls out and their errors, the time from an
update's arrival to its handling finished, take-overs, updates set aside, webhook answers. Every
known label value is there from the start, at 0, so that ``rate()`` sees the first event too.

The floors count here and know nothing of the endpoint that serves them (``bot/monitoring.py``,
with the fleet-wide gauges read from the database).
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

PER_INSTANCE: Final = " (this instance: sum over instances)"
CHAT_TYPES: Final = ("private", "group", "supergroup", "channel", "none")
SENDING_METHODS: Final = (
    "sendMessage", "editMessageText", "editMessageReplyMarkup", "copyMessage", "sendPhoto", "sendDocument",
)
"""The Bot API methods kefu sends with most: their series are there from the start (others from their first call)."""
ERROR_KINDS: Final = ("flood", "blocked", "timeout", "bad_request", "server_or_network", "other")
WEBHOOK_CODES: Final = (200, 400, 403, 500, 503)
REPLY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds: a chat answer within a second or two is good, 30 s is bad, past a minute something broke."""

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

for _chat in CHAT_TYPES:
    MESSAGES_IN.labels(_chat)
for _method in SENDING_METHODS:
    MESSAGES_OUT.labels(_method)
for _kind in ERROR_KINDS:
    SEND_ERRORS.labels(_kind)
for _code in WEBHOOK_CODES:
    WEBHOOK_RESPONSES.labels(str(_code))

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
