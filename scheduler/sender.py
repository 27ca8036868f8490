"""Sending what is due in the outbox, within Telegram's limits, each row at most once.

A tick claims due rows for this worker and keeps about a tick's worth of them in hand, claiming
more as they go out, until nothing more is due. Each row is marked ``sending`` (committed) right
*before* its Bot API call and settled after it: ``sent``, ``blocked`` (403: the customer blocked
the bot, nothing more is sent to them), ``failed`` (Telegram refused it for good, or retries ran
out), back to ``queued`` for later (429 with its ``retry_after``, a 5xx, a connection that never
reached Telegram), or ``unknown`` when the request may have arrived but no answer came (a read
timeout): such a row is reported, never resent blindly. See ``scheduler/README.md`` for the
guarantee.

Limits: ``rate_per_second`` over all chats (an :class:`aiolimiter.AsyncLimiter` leaking at that
rate with room for two: a wait that ends late is made up by the next one, so the rate achieved
is the rate configured, and no second ever holds more than the rate and one) and at most one
message a second per chat. Quiet hours and opt-outs are checked at sending time,
so a row queued days ago still respects what the customer wants today.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.core.config import SchedulerSettings
from bot.telegram.request import NotSent, watch
from scheduler import outbox
from scheduler.campaigns import CANCELLED
from scheduler.messages import render
from scheduler.models import Campaign, OutboxMessage
from scheduler.quiet_hours import customer_zone, next_allowed
from ticketing.models import Ticket, TicketStatus
from ticketing.moderation import Standing

log = logging.getLogger(__name__)
PER_CHAT_GAP = timedelta(seconds=1)
MAX_ATTEMPTS = 5
SERVICE_KINDS = ("notice",)  # sent even to customers who opted out of care and marketing


def _always() -> bool:
    return True


class Sender:
    def __init__(
        self, bot: Bot, settings: SchedulerSettings, clock: Callable[[], datetime] | None = None,
        worker: str | None = None, concurrency: int = 8,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.limiter = AsyncLimiter(2, 2 / settings.rate_per_second)
        # ``concurrency`` requests at most on the wire at once (Telegram answers in ~0.1 s, so at
        # 25/s a few overlap); only those can be left of unknown fate by a crash.
        self._slots = asyncio.Semaphore(concurrency)
        self.in_hand = max(concurrency, math.ceil(settings.rate_per_second * settings.tick_seconds))
        self._last_sent: dict[int, datetime] = {}
        self._busy = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A tick is sending."""
        return self._busy.locked()

    async def tick(self, running: Callable[[], bool] = _always) -> int:
        """Send what is due, and what comes due meanwhile, until nothing is; how many were sent.

        Claims are topped up as rows go out, so the rate holds however long the queue. Once
        ``running()`` is false (the bot is stopping) nothing more is claimed and the tick ends
        when the rows in hand are settled. A second call while one runs returns 0 at once.
        """
        if self._busy.locked():
            return 0
        async with self._busy:
            sent = 0
            pending: set[asyncio.Task[bool]] = set()
            try:
                while True:
                    if running() and len(pending) <= self.in_hand // 2:
                        pending |= await self._claim(self.in_hand - len(pending))
                    if not pending:
                        return sent
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    sent += sum(task.result() for task in done)
            finally:
                if pending:  # an error: the rows in hand are still settled, none left half-sent
                    await asyncio.wait(pending)

    async def _claim(self, limit: int) -> set[asyncio.Task[bool]]:
        """Claim due rows and start their deliveries (which wait for the rate limiter)."""
        now = self.clock()
        if len(self._last_sent) > 10_000:  # forget chats whose gap is long over
            self._last_sent = {chat: at for chat, at in self._last_sent.items() if now - at < PER_CHAT_GAP}
        batch = await outbox.claim_due(now, self.worker, limit)
        first, chats = [], set()
        for message in batch:  # in due order: a chat's second message waits its second
            if message.customer_id in chats:
                await outbox.defer(message, now + PER_CHAT_GAP, attempted=False)
            else:
                first.append(message)
                chats.add(message.customer_id)
        return {asyncio.create_task(self._deliver(message, now)) for message in first}

    async def _deliver(self, message: OutboxMessage, now: datetime) -> bool:
        customer = await message.customer
        if customer.blocked:
            await outbox.mark_blocked(message, now, "the customer has blocked the bot")
            return False
        if customer.opted_out and message.kind not in SERVICE_KINDS:
            await outbox.mark_cancelled(message, now, "the customer unsubscribed")
            return False
        if customer.standing == Standing.BANNED and message.kind not in SERVICE_KINDS:  # ticketing/moderation.py
            await outbox.mark_cancelled(message, now, "the customer is banned")
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
        sending = _Sending(message, self.clock)
        async with self._slots, self.limiter:
            try:
                with watch(sending):
                    sent = await self.bot.send_message(customer.telegram_id, text, reply_markup=buttons)
            except _ClaimLost:
                return False  # cancelled meanwhile, or the claim ran out and another worker has it
            except Forbidden as exc:
                await outbox.mark_blocked(message, self.clock(), exc.message)
                return False
            except RetryAfter as exc:
                delay = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
                await outbox.retry_later(message, self.clock(), "429 flood control", delay, MAX_ATTEMPTS)
                return False
            except TimedOut:
                if not sending.started:  # it timed out waiting for a connection: it never left
                    await outbox.retry_later(message, self.clock(), "timed out before sending", _backoff(message), MAX_ATTEMPTS)
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
        reopened (it waits for the next resolution); a reason for a greeting whose day is over, or
        for a row of a campaign cancelled while it was on the wire and then queued for a retry."""
        payload = message.payload or {}
        if message.campaign_id is not None and await Campaign.filter(id=message.campaign_id, status="cancelled").exists():
            return CANCELLED
        if message.kind == "survey" and "ticket_id" in payload:
            status = await Ticket.filter(id=payload["ticket_id"]).values_list("status", flat=True)
            return None if status and status[0] in (TicketStatus.RESOLVED, TicketStatus.CLOSED) else "later"
        if message.kind == "greeting" and "day" in payload:
            today = now.astimezone(ZoneInfo(self.settings.timezone)).date()
            if date.fromisoformat(payload["day"]) < today:
                return "the day of the greeting is over"
        return None


def _backoff(message: OutboxMessage) -> timedelta:
    return timedelta(seconds=min(300, 2 ** message.attempts))


class _ClaimLost(NotSent):
    """The row is no longer this worker's to send."""


class _Sending:
    """Marks the row ``sending`` (committed) as its request is written: after the rate limits and
    the wait for a connection, so a crash leaves in doubt only what may really have gone out."""

    def __init__(self, message: OutboxMessage, clock: Callable[[], datetime]) -> None:
        self.message, self.clock, self.started = message, clock, False

    async def writing(self, endpoint: str, parameters: dict[str, Any]) -> None:
        if not self.started:
            if not await outbox.start_sending(self.message, self.clock()):
                raise _ClaimLost()
            self.started = True

    async def answered(self, endpoint: str, parameters: dict[str, Any]) -> None:
        """Nothing: the sender settles the row."""
