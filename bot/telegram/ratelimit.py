"""Outgoing Bot API calls: Telegram's flood limits for the whole bot, and retries that lose no reply.

Telegram's limits are per bot, however many processes send for it: about 30 messages a second
overall, 20 a minute into one group, and about one a second into one private chat (a short
burst is tolerated there). kefu keeps them with one limiter shared by all its processes:

* **Buckets.** ``global`` (``[telegram] messages_per_second``), ``chat:<id>`` for each group
  (negative id or @username: ``group_messages_per_minute``, bursts of up to 3) and for each
  private chat (one a second, bursts of up to 3). Each is GCRA's one number, the theoretical
  arrival time ``next_at``: a request reserves a slot at ``max(arrival, next_at - tolerance)``
  and moves ``next_at`` on by one interval. On PostgreSQL the buckets are rows of
  ``rate_bucket``, each moved once per batch of concurrent requests by an ``INSERT … ON
  CONFLICT (name) DO UPDATE … RETURNING`` (the global row by one of its own, the chats' rows of
  a batch by one for them all, locked in the order of their names), on the database's clock (so
  the hosts' clocks need not agree); on SQLite (one process anyway) they live in this process,
  same algorithm.
* **The guarantee**: in any sliding second at most ``messages_per_second`` requests with a
  chat_id reach Telegram, and in any sliding minute at most ``group_messages_per_minute`` reach
  one group. A slot counts only if the request goes *at* that moment: a slot used late would
  let later requests crowd into the same window. So a request takes its global slot first and
  then its chat's slot *for that very moment*; if the chat is busy it lets that global slot go,
  waits for the chat's slot, and takes a new global slot ahead of the queue (below). A chat
  slot may be used at most :data:`LATE` seconds late (a group's interval is stretched by that
  much, plus :data:`SAFETY`); later, the chat is asked again. The global slot is used within
  :data:`SLACK` of its moment, or let go: checked after the request's sleep, and again right
  before its bytes are written (:class:`_OnTime`, told by bot/telegram/request.py after the wait
  for a free connection), since a busy event loop wakes a sleeper late.
* **Throughput.** Each process reserves global slots for the requests waiting in it, a few at a
  time (:data:`GRANT` seconds' worth per statement) and at most :data:`LOOKAHEAD` seconds ahead,
  so the fleet's queue in the database stays short. Requests that already hold a chat slot go
  first, and so do requests into a group (at most 20 a minute each: a group's few slots are
  not left unused while customers' answers queue). Chat slots of concurrent requests are
  reserved together (bot/core/batch.py).
* **Safety margin.** The slots of one window are spread over the window plus :data:`SAFETY`
  (30 a second: one every 36.7 ms, not 33.3), for :data:`SLACK` and the jitter between the
  moment a request is written and its arrival (the network, the server's own event loop).
  The database's clock is read against this process's by the smallest offset seen in recent
  answers: an answer read late must not make its slots late.
* **Old rows**: a row whose ``next_at`` is past is the same as no row; each process deletes
  those more than a minute past every :data:`PURGE_EVERY` seconds, with its next reservation.

Read-only calls (``get*``, ``answerCallbackQuery``) and calls without a chat_id are not limited.

A 429 is waited out (its ``retry_after``) and retried, up to ``rate_limit_retries`` times; it
pushes the global bucket and the chat's forward, so every process backs off. Otherwise only
what can succeed when sent again is retried, with back-off: a 5xx or a connection error
(Telegram did not take the request, so it cannot arrive twice), and a timeout of a read-only
call — never a sending call's timeout (the message may have arrived), nor a 400, 403 or 404.
An edit that changes nothing (``TOPIC_NOT_MODIFIED``, "message is not modified") is a success.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient

from bot.core import metrics
from bot.core.batch import Batch
from bot.telegram.request import watch

log = logging.getLogger(__name__)

READ_ONLY = ("get", "answerCallbackQuery")
NOT_MODIFIED = ("topic_not_modified", "message is not modified")
"""BadRequest descriptions (lower case) of an edit that changes nothing: the edit's effect is there."""

SAFETY = 0.1
"""Seconds added to each window: its requests are spread over the window plus this, for the
jitter between the moment a request is written and its arrival, and :data:`SLACK`."""
LATE = 1.0
"""Seconds a chat slot may be used after its moment (waiting for a global slot)."""
SLACK = 0.02
"""Seconds after its slot's moment a request may still be written (checked right before: a
request later than that, after a busy event loop or a slow wait for a connection, takes a new
slot)."""
LOOKAHEAD = 0.2
"""A process reserves global slots at most so far ahead of now (plus one grant)."""
GRANT = 0.1
"""Seconds' worth of global slots one statement reserves at most."""
PRIVATE_BURST = 3
GROUP_BURST = 3
"""Requests a group may take at once (a ticket: its topic, its card, the customer's message),
when the limit is 12 a minute or more; fewer below."""
CLOCK_WINDOW = 30.0
"""Seconds of answers from the database its clock is read against the event loop's by."""
PURGE_EVERY = 600.0
PURGE_AFTER = 60.0
"""Rows whose next_at is more than this many seconds past are deleted."""


class _Reply(NamedTuple):
    next_at: float
    """The bucket's new next_at."""
    now: float
    """The bucket clock when it was moved."""
    offset: float
    """The event loop's clock minus the bucket clock."""

    def local_time(self, moment: float) -> float:
        return moment + self.offset


class _Slot(NamedTuple):
    at: float
    """The moment on the bucket clock."""
    deadline: float
    """The same moment on the event loop's clock."""
    later: bool = False
    """Later than asked for: the bucket was busy."""


@dataclass(frozen=True)
class _Bucket:
    name: str
    interval: float
    tolerance: float
    """GCRA's burst tolerance: (burst - 1) × interval."""
    group: bool = False


class _MemoryBuckets:
    """This process's buckets (SQLite: one process), on the wall clock."""

    def __init__(self) -> None:
        self._next_at: dict[str, float] = {}

    async def move(self, name: str, span: float, arrival: float = 0.0, delay: float = 0.0) -> _Reply:
        now = time.time()
        moved = max(self._next_at.get(name, -math.inf) + span, max(arrival, now + delay) + span)
        self._next_at[name] = moved
        return _Reply(moved, now, asyncio.get_running_loop().time() - now)

    async def move_many(self, moves: Sequence[tuple[str, float, float]]) -> dict[str, _Reply]:
        """(name, span, arrival) of different buckets: :meth:`move` for each."""
        return {name: await self.move(name, span, arrival) for name, span, arrival in moves}

    async def purge(self) -> None:
        before = time.time() - PURGE_AFTER
        for name in [name for name, moment in self._next_at.items() if moment < before]:
            del self._next_at[name]


_MOVE = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t)
INSERT INTO rate_bucket AS bucket (name, next_at)
SELECT $1, GREATEST($2::float8, clock.t + $3::float8) + $4::float8 FROM clock
ON CONFLICT (name) DO UPDATE SET next_at = GREATEST(bucket.next_at + $4::float8, EXCLUDED.next_at)
RETURNING bucket.next_at, (SELECT t FROM clock) AS now
"""
_MOVE_MANY = """
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t),
asks AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS ask(name, span, arrival))
INSERT INTO rate_bucket AS bucket (name, next_at)
SELECT ask.name, GREATEST(ask.arrival, clock.t) + ask.span FROM asks ask, clock ORDER BY ask.name
ON CONFLICT (name) DO UPDATE
SET next_at = GREATEST(bucket.next_at + (SELECT span FROM asks WHERE asks.name = bucket.name), EXCLUDED.next_at)
RETURNING bucket.name, bucket.next_at, (SELECT t FROM clock) AS now
"""
_PURGE = "DELETE FROM rate_bucket WHERE next_at < extract(epoch FROM clock_timestamp())::float8 - $1::float8"


def _client() -> BaseDBAsyncClient:
    """The database connection outside any transaction: a bucket row is locked for a moment,
    never until the transaction of whoever happens to send commits."""
    client = connections.get("default")
    while isinstance(client, TransactionalDBClient) and getattr(client, "_parent", None) is not None:
        client = client._parent  # type: ignore[attr-defined]
    return client


class _DatabaseBuckets:
    """The ``rate_bucket`` rows every process of the bot shares (PostgreSQL), on its clock."""

    def __init__(self) -> None:
        self._offsets: deque[tuple[float, float]] = deque()
        """(when, offset) of recent answers, offsets increasing: their minimum first."""

    async def move(self, name: str, span: float, arrival: float = 0.0, delay: float = 0.0) -> _Reply:
        """``next_at = max(next_at + span, max(arrival, now + delay) + span)``, atomically."""
        [row] = await _client().execute_query_dict(_MOVE, [name, arrival, delay, span])
        now = float(row["now"])
        return _Reply(float(row["next_at"]), now, self._offset(asyncio.get_running_loop().time(), now))

    async def move_many(self, moves: Sequence[tuple[str, float, float]]) -> dict[str, _Reply]:
        """(name, span, arrival) of different buckets, each moved as by :meth:`move`, in one
        statement (rows locked in the order of their names: no deadlock between processes)."""
        names, spans, arrivals = zip(*moves, strict=True)
        rows = await _client().execute_query_dict(_MOVE_MANY, [list(names), list(spans), list(arrivals)])
        local = asyncio.get_running_loop().time()
        return {
            row["name"]: _Reply(float(row["next_at"]), float(row["now"]), self._offset(local, float(row["now"])))
            for row in rows
        }

    def _offset(self, local: float, now: float) -> float:
        """The event loop's clock minus the database's: the least of the last :data:`CLOCK_WINDOW`
        seconds' answers. An answer read late (the round trip, a busy event loop) only seems to
        come from further in the past; taken as it is, it would make its slots late, and slots
        used late crowd into one window with the next ones."""
        offset = local - now
        while self._offsets and self._offsets[-1][1] >= offset:
            self._offsets.pop()
        self._offsets.append((local, offset))
        while self._offsets[0][0] < local - CLOCK_WINDOW:
            self._offsets.popleft()
        return self._offsets[0][1]

    async def purge(self) -> None:
        await _client().execute_query(_PURGE, [PURGE_AFTER])


def _on_postgres() -> bool:
    try:
        return connections.get("default").capabilities.dialect == "postgres"
    except Exception:  # no database (yet): nothing to share
        return False


@dataclass(eq=False)
class _Ask:
    """One request's reservation in a chat's bucket, for the moment of its global slot."""

    bucket: _Bucket
    arrival: float


async def _sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


def _slots(reply: _Reply, bucket: _Bucket, arrivals: Sequence[float]) -> list[_Slot]:
    """The slots of requests (arriving at ``arrivals``, in order) that moved ``bucket`` together,
    by one interval each, with the latest of their arrivals."""
    latest = max(max(arrivals), reply.now)
    base = reply.next_at - len(arrivals) * bucket.interval  # max(old next_at, latest)
    slots = []
    for k, arrival in enumerate(arrivals):
        moment = max(latest, base + k * bucket.interval - bucket.tolerance)
        slots.append(_Slot(moment, reply.local_time(moment), moment > max(arrival, reply.now) + 1e-6))
    return slots


class _GlobalQueue:
    """This process's requests waiting for a global slot, served a few at a time, those that
    already hold a chat slot first, and never more than :data:`LOOKAHEAD` ahead."""

    def __init__(self, limiter: ResilientRateLimiter) -> None:
        self._limiter = limiter
        self._waiting: list[tuple[int, int, asyncio.Future[_Slot]]] = []
        self._order = itertools.count()
        self._serving: asyncio.Task[None] | None = None
        self._reserved_until = -math.inf
        """The event loop's time of the end of what this process reserved last."""

    async def slot(self, urgent: bool) -> _Slot:
        loop = asyncio.get_running_loop()
        if self._serving is not None and self._serving.get_loop() is not loop:  # a closed loop's (tests)
            self._serving, self._waiting, self._reserved_until = None, [], -math.inf
        future: asyncio.Future[_Slot] = loop.create_future()
        heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), future))
        if self._serving is None:
            self._serving = asyncio.create_task(self._serve(), name="kefu-rate-global")
        return await future

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        bucket = self._limiter.global_bucket
        most = max(1, min(1000, math.ceil(GRANT / bucket.interval)))
        try:
            while self._waiting:
                await _sleep_until(self._reserved_until - LOOKAHEAD)
                takers = []
                while self._waiting and len(takers) < most:
                    future = heapq.heappop(self._waiting)[2]
                    if not future.done():  # not cancelled meanwhile
                        takers.append(future)
                if not takers:
                    continue
                try:
                    reply = await self._limiter.buckets().move(bucket.name, len(takers) * bucket.interval)
                except Exception as error:
                    for future in takers:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for future, slot in zip(takers, _slots(reply, bucket, [reply.now] * len(takers)), strict=True):
                    if not future.done():
                        future.set_result(slot)
                self._reserved_until = reply.local_time(reply.next_at)
                await self._limiter.purge_now_and_then(loop)
        finally:
            self._serving = None
            for _, _, future in self._waiting:
                future.cancel()
            self._waiting.clear()

    def stop(self) -> None:
        if self._serving is not None and not self._serving.done():
            self._serving.cancel()


@dataclass
class _OnTime:
    """Told by the HTTP client (bot/telegram/request.py) that the request is written next: if its
    slot has gone by meanwhile (the wait for a connection, a busy event loop), it waits for a
    new one first."""

    limiter: ResilientRateLimiter
    chat: _Bucket | None
    deadline: float
    held: float | None

    async def writing(self, endpoint: str, parameters: dict[str, Any]) -> None:
        while asyncio.get_running_loop().time() > self.deadline + SLACK:
            later = await self.limiter._turn(self.chat, urgent=True, held=self.held)
            self.deadline, self.held = later.deadline, later.held

    async def answered(self, endpoint: str, parameters: dict[str, Any]) -> None:
        pass


class ResilientRateLimiter(BaseRateLimiter):
    """Telegram's flood limits for every process of the bot together, and retries (see the module)."""

    def __init__(
        self, *, max_retries: int = 3, server_error_retries: int = 3, backoff: float = 0.5,
        messages_per_second: float = 30, group_messages_per_minute: float = 20, group_period: float = 60.0,
        chat_messages_per_second: float = 1.0,
    ) -> None:
        """``group_period``: the group limit's window in seconds (tests shorten it)."""
        self.max_retries = max_retries
        self.server_error_retries = server_error_retries
        self.backoff = backoff
        self.global_bucket = _Bucket("global", (1.0 + SAFETY) / messages_per_second, 0.0)
        burst = max(1, min(GROUP_BURST, int(group_messages_per_minute // 4)))
        interval = (group_period + SAFETY + LATE) / (group_messages_per_minute - burst + 1)
        self._group = (interval, (burst - 1) * interval)
        private = 1.0 / chat_messages_per_second
        self._private = (private, (PRIVATE_BURST - 1) * private)
        self._buckets: _MemoryBuckets | _DatabaseBuckets | None = None
        self._global = _GlobalQueue(self)
        self._chats: Batch[_Ask, _Slot] = Batch(self._reserve_in_chats)
        self._held_until = -math.inf
        """After a 429: no request of this process goes before this (event loop time)."""
        self._purged = -math.inf

    async def initialize(self) -> None:
        """Nothing to open: the buckets are chosen at the first limited request (the database
        is open by then)."""

    async def shutdown(self) -> None:
        self._global.stop()

    def buckets(self) -> _MemoryBuckets | _DatabaseBuckets:
        if self._buckets is None:
            self._buckets = _DatabaseBuckets() if _on_postgres() else _MemoryBuckets()
        return self._buckets

    async def purge_now_and_then(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.time() - self._purged < PURGE_EVERY:
            return
        self._purged = loop.time()
        try:
            await self.buckets().purge()
        except Exception:
            log.exception("could not delete old rate buckets")

    def bucket_of(self, endpoint: str, data: dict[str, Any]) -> _Bucket | None:
        """The chat's bucket of a limited request; None: not limited."""
        chat_id = data.get("chat_id")
        if chat_id is None or endpoint.startswith(READ_ONLY):
            return None
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            pass  # "@username": a channel or supergroup
        group = not isinstance(chat_id, int) or chat_id < 0
        interval, tolerance = self._group if group else self._private
        return _Bucket(f"chat:{chat_id}"[:48], interval, tolerance, group)

    async def _reserve_in_chats(self, asks: Sequence[_Ask]) -> dict[_Ask, _Slot]:
        """One statement for all the requests asking at once (several into one chat: its bucket
        moved once, by as many intervals)."""
        by_chat: dict[str, list[_Ask]] = {}
        for ask in asks:
            by_chat.setdefault(ask.bucket.name, []).append(ask)
        for together in by_chat.values():
            together.sort(key=lambda ask: ask.arrival)
        replies = await self.buckets().move_many([
            (name, len(together) * together[0].bucket.interval, together[-1].arrival) for name, together in by_chat.items()
        ])
        found: dict[_Ask, _Slot] = {}
        for name, together in by_chat.items():
            slots = _slots(replies[name], together[0].bucket, [ask.arrival for ask in together])
            found.update(zip(together, slots, strict=True))
        return found

    async def _turn(self, chat: _Bucket | None, urgent: bool = False, held: float | None = None) -> _OnTime:
        """Until this request may go: its global slot, and its chat's slot at (nearly) the same
        moment. ``held``: the moment of the chat slot the request holds already."""
        loop = asyncio.get_running_loop()
        slot = await self._global.slot(urgent=urgent or (chat is not None and chat.group))
        while True:
            if chat is not None and (held is None or slot.at - held > LATE):
                reserved = await self._chats(_Ask(chat, slot.at))
                assert reserved is not None
                held = reserved.at
                if reserved.later:  # the chat is busy: this global slot goes unused
                    await _sleep_until(reserved.deadline)
                    slot = await self._global.slot(urgent=True)
                    continue
            if loop.time() > slot.deadline + SLACK or loop.time() < self._held_until:
                await _sleep_until(self._held_until)
                slot = await self._global.slot(urgent=True)
                continue
            await _sleep_until(slot.deadline)
            if loop.time() > slot.deadline + SLACK:  # woken late (a busy event loop): the slot has gone by
                slot = await self._global.slot(urgent=True)
                continue
            return _OnTime(self, chat, slot.deadline, held)

    async def _back_off(self, chat: _Bucket | None, seconds: float) -> None:
        """After a 429: nothing goes for ``seconds``, from any process."""
        loop = asyncio.get_running_loop()
        self._held_until = max(self._held_until, loop.time() + seconds)
        if chat is None:
            return
        buckets = self.buckets()
        for bucket in (self.global_bucket, chat):
            await buckets.move(bucket.name, 0.0, delay=seconds + bucket.tolerance)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        try:
            result = await self._with_retries(callback, args, kwargs, endpoint, data, rate_limit_args)
        except Exception as error:
            metrics.count_error(error)
            raise
        metrics.count_call(endpoint)
        return result

    async def _with_retries(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = self.bucket_of(endpoint, data)
        limited = chat is not None
        flood_retries = rate_limit_args if isinstance(rate_limit_args, int) else self.max_retries
        floods = failures = 0
        while True:
            try:
                if not limited:
                    return await callback(*args, **kwargs)
                with watch(await self._turn(chat)):  # checked again right before it is written
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if floods >= flood_retries:
                    raise
                floods += 1
                seconds = _seconds(exc)
                log.info("%s: flood limit, retry %d of %d after %.0f s", endpoint, floods, flood_retries, seconds)
                await self._back_off(chat, seconds)
                if not limited:
                    await asyncio.sleep(seconds)
                continue
            except BadRequest as exc:
                if any(phrase in exc.message.lower() for phrase in NOT_MODIFIED):
                    return True  # what the edit asked for is already so
                raise
            except TimedOut:
                if not endpoint.startswith(READ_ONLY) or failures >= self.server_error_retries:
                    raise
            except NetworkError as exc:  # a 5xx, or no connection: Telegram did not take it
                if failures >= self.server_error_retries:
                    raise
                log.warning("%s failed (%s); retry %d of %d", endpoint, exc, failures + 1, self.server_error_retries)
            await asyncio.sleep(self.backoff * 2**failures)
            failures += 1


def _seconds(exc: RetryAfter) -> float:
    wait = getattr(exc, "_retry_after", None)  # PTB 22: a timedelta (the public property warns)
    if wait is None:
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
