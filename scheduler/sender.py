"""Sending what is due in the outbox, within Telegram's limits, each row at most once.

Every tick claims the due rows (marked ``sending`` and committed *before* the Bot API call) and
settles each after it: ``sent``, ``blocked`` (403: the customer blocked the bot, nothing more is
sent to them), ``failed`` (Telegram refused it for good, or retries ran out), back to ``queued``
for later (429 with its ``retry_after``, a 5xx, a connection that never reached Telegram), or
``unknown`` when the request may have arrived but no answer came (a read timeout): such a row is
reported, never resent blindly. See ``scheduler/README.md`` for the guarantee.

Limits: ``rate_per_second`` over all chats (an :class:`aiolimiter.AsyncLimiter`) and at most one
message a second per chat. Quiet hours and opt-outs are checked at sending time, so a row queued
days ago still respects what the customer wants today.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.config import SchedulerSettings
from scheduler import outbox
from scheduler.messages import render
from scheduler.models import OutboxMessage
from scheduler.quiet_hours import customer_zone, next_allowed
from ticketing.models import Ticket

log = logging.getLogger(__name__)
PER_CHAT_GAP = timedelta(seconds=1)
MAX_ATTEMPTS = 5
SERVICE_KINDS = ("notice",)  # sent even to customers who opted out of care and marketing


class Sender:
    def __init__(
        self, bot: Bot, settings: SchedulerSettings, clock: Callable[[], datetime] | None = None,
        worker: str | None = None, concurrency: int = 8,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.limiter = AsyncLimiter(settings.rate_per_second, 1)
        self._slots = asyncio.Semaphore(concurrency)
        self._last_sent: dict[int, datetime] = {}
        self._busy = asyncio.Lock()

    async def tick(self) -> int:
        """Send what is due now; returns how many rows were settled as sent."""
        if self._busy.locked():  # the previous tick is still sending
            return 0
        async with self._busy:
            now = self.clock()
            batch = await outbox.claim_due(now, self.worker, limit=max(1, int(self.settings.rate_per_second * 2)))
            if not batch:
                return 0
            first, later, chats = [], [], set()
            for message in batch:  # in due order: a chat's second message waits its second
                (later if message.customer_id in chats else first).append(message)
                chats.add(message.customer_id)
            for message in later:
                await outbox.defer(message, now + PER_CHAT_GAP, attempted=False)
            results = await asyncio.gather(*(self._deliver(m, now) for m in first))
            return sum(results)

    async def _deliver(self, message: OutboxMessage, now: datetime) -> bool:
        customer = await message.customer
        if customer.blocked:
            await outbox.mark_blocked(message, now, "the customer has blocked the bot")
            return False
        if customer.opted_out and message.kind not in SERVICE_KINDS:
            await outbox.mark_cancelled(message, now, "the customer unsubscribed")
            return False
        stale = await self._stale(message, now)
        if stale == "later":
            await outbox.defer(message, now + timedelta(minutes=max(1, self.settings.survey_delay_minutes)), attempted=False)
            return False
        if stale:
            await outbox.mark_cancelled(message, now, stale)
            return False
        zone = customer_zone(customer.timezone, self.settings.timezone)
        allowed = next_allowed(now, self.settings.quiet_hours, zone)
        if allowed > now:
            await outbox.defer(message, allowed, attempted=False)
            return False
        last = self._last_sent.get(customer.telegram_id)
        if last is not None and now - last < PER_CHAT_GAP:
            await outbox.defer(message, last + PER_CHAT_GAP, attempted=False)
            return False
        self._last_sent[customer.telegram_id] = now
        text, buttons = render(message, customer)
        async with self._slots, self.limiter:
            try:
                sent = await self.bot.send_message(customer.telegram_id, text, reply_markup=buttons)
            except Forbidden as exc:
                await outbox.mark_blocked(message, self.clock(), exc.message)
                return False
            except RetryAfter as exc:
                delay = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
                await outbox.retry_later(message, self.clock(), "429 flood control", delay, MAX_ATTEMPTS)
                return False
            except TimedOut as exc:
                if _never_reached_telegram(exc):
                    await outbox.retry_later(message, self.clock(), "timed out connecting", _backoff(message), MAX_ATTEMPTS)
                else:
                    await outbox.mark_unknown(message, self.clock(), "timed out waiting for Telegram's answer")
                    log.warning("outbox row %s (%s): Telegram did not answer; it may or may not have arrived", message.id, message.key)
                return False
            except BadRequest as exc:
                await outbox.mark_failed(message, self.clock(), exc.message)
                log.warning("outbox row %s (%s) refused: %s", message.id, message.key, exc.message)
                return False
            except NetworkError as exc:  # 5xx or a refused connection, after the bot's own retries
                await outbox.retry_later(message, self.clock(), str(exc), _backoff(message), MAX_ATTEMPTS)
                return False
        await outbox.mark_sent(message, self.clock(), sent.message_id)
        return True


    async def _stale(self, message: OutboxMessage, now: datetime) -> str | None:
        """Why a row should not go out now after all: "later" for a survey of a ticket that was
        reopened (it waits for the next resolution); a reason for a greeting whose day is over."""
        payload = message.payload or {}
        if message.kind == "survey" and "ticket_id" in payload:
            status = await Ticket.filter(id=payload["ticket_id"]).values_list("status", flat=True)
            return None if status and status[0] in ("resolved", "closed") else "later"
        if message.kind == "greeting" and "day" in payload:
            today = now.astimezone(ZoneInfo(self.settings.timezone)).date()
            if date.fromisoformat(payload["day"]) < today:
                return "the day of the greeting is over"
        return None


def _backoff(message: OutboxMessage) -> timedelta:
    return timedelta(seconds=min(300, 2 ** message.attempts))


def _never_reached_telegram(exc: TimedOut) -> bool:
    """A connect or pool timeout: the request never left, so sending again cannot duplicate it."""
    return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout) or "pool" in exc.message.lower()
