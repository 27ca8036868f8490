"""Outbox delivery benchmark: ``python bench/outbox.py [--rate-run] [--max-run] [--faults-run] [--crash-run] [--quick]``.

Runs the real bot (``python -m bot run``, a subprocess) against the Bot API emulator served by
this process, on a throw-away database (a temporary SQLite file, and/or a PostgreSQL database
created and dropped here). This process creates the customers (emulator users and
``record_customer`` rows), queues ``notice`` rows with ``scheduler.outbox.enqueue`` (each with
a text of its own), and afterwards compares the outbox with what the emulator received.

1. ``--rate-run``: 10,000 rows at the default 25 messages/s; after a warm-up, the messages the
   emulator receives are counted per second over a 60 s window: achieved vs configured rate.
2. ``--max-run``: the same at higher ``rate_per_second`` (``--rates``, default 100,200,250,300,400,800),
   with the bot's own PTB limiter (``messages_per_second``) set above it.
3. ``--faults-run``: 429s, 5xx, never-ending 5xx and answers slower than the client's read
   timeout injected on a few percent of sendMessage calls (by chat); the run goes on until every
   row is settled, then duplicates and losses are counted.
4. ``--crash-run``: ``kill -9`` of the bot at random moments while it sends 5,000 rows, restart,
   five times; then wait for the restarted bot's own recovery (``recover_after_crash``: the
   restarted process finds what it left ``sending`` at its next sweep) to settle those rows.

No part named: all four. ``--quick`` is a smoke version (SQLite, small numbers, the bench itself
recovers crashed rows itself) that finishes in under a minute.

Counts come from the emulator's side: a message "received" is a sendMessage the emulator took
(it records it before answering), whatever the bot concluded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import POSTGRES_ADMIN_URL, PRIVACY_KEY, BotProcess, base_env, throwaway_database  # noqa: E402
from bot import privacy  # noqa: E402
from bot.core import crypto, db  # noqa: E402
from bot.emulator import BotAPIEmulator  # noqa: E402
from scheduler import outbox  # noqa: E402
from scheduler.models import OutboxMessage  # noqa: E402
from ticketing.customers import record_customer  # noqa: E402
from ticketing.models import Customer  # noqa: E402

TOKEN = "123456789:BENCH-outbox-token-not-a-secret"
FIRST_USER_ID = 610_000_001
FINAL = ("sent", "blocked", "failed", "cancelled", "unknown")


# --------------------------------------------------------------------------- what was received


class Receipts:
    """Every message the emulator stored for the bot, with the moment it was stored."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.times: list[float] = []
        self.texts: list[str] = []
        emulator.subscribe(self._on_event)

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "message":
            self.times.append(time.monotonic())
            self.texts.append(str(payload.get("text", "")))

    def of(self, tag: str) -> Counter[str]:
        """How often each text of run ``tag`` was received."""
        prefix = _text_prefix(tag)
        return Counter(t for t in self.texts if t.startswith(prefix))

    def count(self, tag: str) -> int:
        return sum(self.of(tag).values())

    def moments(self, tag: str) -> list[float]:
        prefix = _text_prefix(tag)
        return [moment for moment, text in zip(self.times, self.texts, strict=True) if text.startswith(prefix)]

    async def wait_for(self, tag: str, at_least: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count(tag) < at_least:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def _text_prefix(tag: str) -> str:
    return f"[{tag}] "


def _key_prefix(tag: str) -> str:
    return f"bench:{tag}:"


# --------------------------------------------------------------------------- the bot process


class Cpu:
    """CPU used from now on by the bot process (from /proc) and by this one, in cores."""

    def __init__(self, bot: BotProcess) -> None:
        self.bot = bot
        self.started = (time.monotonic(), self._bot_seconds(), time.process_time())

    def _bot_seconds(self) -> float:
        assert self.bot.process is not None
        fields = Path(f"/proc/{self.bot.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def shares(self) -> tuple[float, float]:
        wall = time.monotonic() - self.started[0]
        return (self._bot_seconds() - self.started[1]) / wall, (time.process_time() - self.started[2]) / wall


def bot_env(emulator: BotAPIEmulator, url: str, folder: Path, rate: float, ptb_rate: float, tick: float) -> dict[str, str]:
    env = base_env()
    env.update(
        KEFU_TELEGRAM__TOKEN=TOKEN,
        KEFU_TELEGRAM__BASE_URL=emulator.base_url,
        KEFU_TELEGRAM__MESSAGES_PER_SECOND=str(ptb_rate),
        KEFU_TELEGRAM__POLL_TIMEOUT="10",
        KEFU_DATABASE__URL=url,
        KEFU_API__LISTEN="127.0.0.1:0",
        KEFU_SCHEDULER__RATE_PER_SECOND=str(rate),
        KEFU_SCHEDULER__TICK_SECONDS=str(tick),
        KEFU_SCHEDULER__QUIET_HOURS="",
        # No festival or birthday greetings to all 10,000 customers in the middle of a run.
        KEFU_SCHEDULER__GREETINGS="[]",
        KEFU_KNOWLEDGE_BASE__LEARNED_FILE=str(folder / "kb-learned.yaml"),
        KEFU_PRIVACY__KEYS=json.dumps([PRIVACY_KEY]),
    )
    return env


# --------------------------------------------------------------------------- the database


async def _in_chunks(coroutines: Iterable[Any], size: int) -> list[Any]:
    """Run coroutines ``size`` at a time (PostgreSQL uses its pool; SQLite serialises anyway)."""
    results: list[Any] = []
    chunk: list[Any] = []
    for coroutine in coroutines:
        chunk.append(coroutine)
        if len(chunk) == size:
            results += await asyncio.gather(*chunk)
            chunk = []
    return results + list(await asyncio.gather(*chunk))


async def seed_customers(emulator: BotAPIEmulator, count: int) -> list[Customer]:
    """Customers who wrote to the bot once: an emulator user and a ``record_customer`` row each."""
    ids = range(FIRST_USER_ID, FIRST_USER_ID + count)
    for user_id in ids:
        emulator.add_user(user_id, first_name=f"Cust{user_id}", language_code="en")
    return await _in_chunks((record_customer(i, first_name=f"Cust{i}", language_code="en") for i in ids), 50)


async def enqueue_run(tag: str, customers: Sequence[Customer], rows: int, due: datetime) -> float:
    """``rows`` notices for run ``tag``, round-robin over the customers (a customer's next one is
    ``len(customers)`` rows later, far beyond the one-message-a-second-per-chat gap); seconds taken."""
    started = time.perf_counter()
    made = await _in_chunks(
        (
            outbox.enqueue(customers[n % len(customers)], "notice", f"{_key_prefix(tag)}{n}", due, {"text": f"{_text_prefix(tag)}#{n:06d}"})
            for n in range(rows)
        ),
        50,
    )
    assert all(made), "a bench key was taken already"
    return time.perf_counter() - started


async def statuses(tag: str) -> Counter[str]:
    rows = await OutboxMessage.filter(key__startswith=_key_prefix(tag)).values_list("status", flat=True)
    return Counter(rows)


async def sending(tag: str) -> dict[str, str]:
    """The rows of ``tag`` now ``sending``: key -> text."""
    rows = await OutboxMessage.filter(key__startswith=_key_prefix(tag), status="sending").values_list("key", "payload")
    return {key: payload["text"] for key, payload in rows}


async def cancel_leftovers(tag: str) -> int:
    """The queue a rate run did not drain is cancelled, so the next run sends only its own rows."""
    return await OutboxMessage.filter(key__startswith=_key_prefix(tag), status="queued").update(
        status="cancelled", settled_at=datetime.now(UTC), last_error="bench: not needed"
    )


# --------------------------------------------------------------------------- checking the outcome


@dataclass
class Audit:
    """The outbox of one run against what the emulator received."""

    rows: int
    by_status: Counter[str]
    received: int  # distinct texts received
    duplicates: int  # extra copies of texts received more than once
    sent_not_received: int  # rows marked sent that never arrived
    received_not_sent: int  # arrived, but the row is queued/failed/cancelled/blocked: a resend risk
    unknown_received: int  # rows of unknown fate that did arrive
    not_final: int  # rows still queued or sending

    @property
    def lost(self) -> int:
        """Messages that went neither out nor into a reported final state (once all is settled),
        or arrived while their row says they did not (they would be sent again)."""
        return self.sent_not_received + self.not_final + self.received_not_sent

    @property
    def lost_so_far(self) -> int:
        """The same for a run stopped before its queue drained: queued rows are simply not due yet."""
        return self.sent_not_received + self.by_status["sending"] + self.received_not_sent

    def line(self) -> str:
        shown = ", ".join(f"{s} {n}" for s, n in sorted(self.by_status.items()))
        return (
            f"rows {self.rows:,} ({shown}); received {self.received:,}; duplicates {self.duplicates}; "
            f"sent-but-not-received {self.sent_not_received}; received-but-not-sent {self.received_not_sent}; "
            f"unknown that arrived {self.unknown_received}; not final {self.not_final}"
        )


async def audit(tag: str, receipts: Receipts) -> Audit:
    rows = await OutboxMessage.filter(key__startswith=_key_prefix(tag)).values("status", "payload")
    got = receipts.of(tag)
    by_status = Counter(row["status"] for row in rows)
    texts = {row["payload"]["text"]: row["status"] for row in rows}
    return Audit(
        rows=len(rows),
        by_status=by_status,
        received=len(got),
        duplicates=sum(n - 1 for n in got.values() if n > 1),
        sent_not_received=sum(1 for t, s in texts.items() if s == "sent" and t not in got),
        received_not_sent=sum(1 for t, s in texts.items() if s not in ("sent", "unknown", "sending") and t in got),
        unknown_received=sum(1 for t, s in texts.items() if s == "unknown" and t in got),
        not_final=by_status["queued"] + by_status["sending"],
    )


async def wait_until_settled(tag: str, timeout: float, bot: BotProcess, every: float = 2.0) -> bool:
    """Poll the outbox (lightly) until no row of ``tag`` is queued or sending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = await statuses(tag)
        if counts["queued"] + counts["sending"] == 0:
            return True
        if not bot.alive():
            print(f"    the bot died:\n{bot.log_tail()}")
            return False
        await asyncio.sleep(every)
    return False


# --------------------------------------------------------------------------- 1 and 2: rates


@dataclass
class RateResult:
    database: str
    configured: float
    ptb_rate: float
    rows: int
    window: float
    achieved: float
    per_second: list[int]
    audit: Audit
    stop_code: int | None
    bot_cpu: float  # CPU time of the bot process over the window, in cores
    emulator_cpu: float  # the same for this process (the emulator, mostly)
    warnings: Counter[str] = field(default_factory=Counter)

    @property
    def deviation(self) -> float:
        return (self.achieved - self.configured) / self.configured

    def row(self) -> str:
        low, high = min(self.per_second, default=0), max(self.per_second, default=0)
        median = statistics.median(self.per_second) if self.per_second else 0
        ok = "yes" if abs(self.deviation) <= 0.05 else "**no**"
        return (
            f"| {self.database} | {self.configured:g} | {self.ptb_rate:g} | {self.rows:,} | {self.window:g} s | "
            f"{self.achieved:.1f} | {self.deviation:+.1%} | {low} / {median:g} / {high} | {ok} | "
            f"{self.audit.duplicates} | {self.audit.lost_so_far} | {self.bot_cpu:.2f} / {self.emulator_cpu:.2f} |"
        )


async def rate_run(
    ctx: Context, rate: float, ptb_rate: float, warmup: float, window: float, min_rows: int
) -> RateResult:
    """Queue enough rows for warm-up + window at ``rate``, run the bot, count arrivals per second."""
    tag = f"{ctx.kind}-rate{rate:g}"
    # Enough that the queue outlasts the window, even if the bot beat the configured rate by 20 %.
    rows = max(min_rows, math.ceil(rate * (warmup + window + 5) * 1.2))
    seconds = await enqueue_run(tag, ctx.customers, rows, datetime.now(UTC) - timedelta(seconds=1))
    print(f"  [{tag}] {rows:,} rows queued in {seconds:.1f} s; bot at {rate:g}/s (PTB limiter {ptb_rate:g}/s)")
    bot = BotProcess(bot_env(ctx.emulator, ctx.url, ctx.folder, rate, ptb_rate, ctx.tick), ctx.folder, tag)
    await bot.start()
    try:
        if not await ctx.receipts.wait_for(tag, 1, timeout=60):
            raise RuntimeError(f"the bot sent nothing within 60 s:\n{bot.log_tail()}")
        start = ctx.receipts.moments(tag)[0] + warmup
        # Nothing else runs in this event loop while the window passes: the emulator answers alone.
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu = Cpu(bot)
        await asyncio.sleep(max(0.0, start + window - time.monotonic()))
        bot_cpu, emulator_cpu = cpu.shares()
        await asyncio.sleep(0.5)
    finally:
        code = await bot.stop()
    moments = ctx.receipts.moments(tag)
    bins = [0] * int(window)
    for moment in moments:
        if start <= moment < start + int(window):
            bins[int(moment - start)] += 1
    result = RateResult(
        ctx.kind, rate, ptb_rate, rows, int(window), sum(bins) / len(bins), bins, await audit(tag, ctx.receipts), code,
        bot_cpu, emulator_cpu, bot.problems(),
    )
    cancelled = await cancel_leftovers(tag)
    print(
        f"    achieved {result.achieved:.1f}/s ({result.deviation:+.1%}); per second min {min(bins)} max {max(bins)}; "
        f"CPU: bot {bot_cpu:.2f}, emulator {emulator_cpu:.2f} cores"
    )
    print(f"    per second: {' '.join(map(str, bins))}")
    print(f"    {result.audit.line()}; {cancelled:,} left queued (cancelled); bot exit code {code}")
    if result.warnings:
        print(f"    bot log: {dict(result.warnings)}")
    return result


# --------------------------------------------------------------------------- 3: faults


@dataclass(frozen=True)
class FaultKind:
    label: str
    share: float  # of the run's chats
    status: int
    times: int
    retry_after: int | None = None
    delay: float = 0.0


# What each kind exercises: kefu's ResilientRateLimiter waits out up to 3 429s itself (rate_limit_retries), and
# retries a 5xx 3 times with back-off; beyond that the Sender sees the
# error and requeues the row (retry_later), failing it after MAX_ATTEMPTS (5) claims. A 200 that
# comes after PTB's 5 s read timeout is TimedOut after the request went out: the row is unknown.
FAULT_KINDS = (
    FaultKind("429 once (PTB waits it out)", 0.02, 429, 1, retry_after=1),
    FaultKind("429 x4 (reaches the Sender)", 0.005, 429, 4, retry_after=1),
    FaultKind("500 once (kefu retries)", 0.02, 500, 1),
    FaultKind("502 once (kefu retries)", 0.01, 502, 1),
    FaultKind("503 x4 (reaches the Sender)", 0.005, 503, 4),
    FaultKind("500 forever (fails)", 0.002, 500, 10_000),
    FaultKind("answer after 8 s (timeout)", 0.002, 200, 1, delay=8.0),
)


@dataclass
class FaultResult:
    database: str
    rate: float
    rows: int
    planned: dict[str, int]
    triggered: int
    errors: dict[str, int]
    calls: int  # sendMessage calls the emulator answered during the run
    seconds: float  # from the bot's start until every row was settled
    seconds_95: float  # from the bot's start until 95 % of the rows had arrived
    audit: Audit
    settled: bool
    warnings: Counter[str]


async def faults_run(ctx: Context, rows: int, rate: float, kinds: Sequence[FaultKind], seed: int) -> FaultResult:
    tag = f"{ctx.kind}-faults"
    await enqueue_run(tag, ctx.customers, rows, datetime.now(UTC) - timedelta(seconds=1))
    rng = random.Random(seed)
    chats = [c.telegram_id for c in ctx.customers[: min(rows, len(ctx.customers))]]
    rng.shuffle(chats)
    planned: dict[str, int] = {}
    for kind in kinds:  # each chat gets at most one kind of fault
        count = max(1, round(kind.share * len(chats)))
        chosen, chats = chats[:count], chats[count:]
        planned[kind.label] = count
        for chat in chosen:
            ctx.emulator.inject_fault(
                "sendMessage", status=kind.status, times=kind.times, retry_after=kind.retry_after,
                delay=kind.delay, chat_id=chat,
            )
    before, calls_before = ctx.emulator.stats, ctx.emulator.count("sendMessage")
    print(f"  [{tag}] {rows:,} rows at {rate:g}/s; faulty chats: {planned}")
    bot = BotProcess(bot_env(ctx.emulator, ctx.url, ctx.folder, rate, max(rate * 2, 30), ctx.tick), ctx.folder, tag)
    started = time.monotonic()
    await bot.start()
    try:
        settled = await wait_until_settled(tag, timeout=rows / rate * 3 + 180, bot=bot)
    finally:
        await bot.stop()
        ctx.emulator.clear_faults()  # the never-ending 500s are still armed
    seconds = time.monotonic() - started
    after = ctx.emulator.stats
    errors = {s: n - int(before["errors"].get(s, 0)) for s, n in after["errors"].items() if n - int(before["errors"].get(s, 0))}
    moments = ctx.receipts.moments(tag)
    # The never-ending 5xx rows keep the run going ~50 s after the rest is out: say when most was.
    most = moments[math.ceil(0.95 * rows) - 1] - started if len(moments) >= 0.95 * rows else math.nan
    result = FaultResult(
        ctx.kind, rate, rows, planned, after["faults_triggered"] - before["faults_triggered"], errors,
        ctx.emulator.count("sendMessage") - calls_before, seconds, most, await audit(tag, ctx.receipts), settled,
        bot.problems(),
    )
    print(
        f"    {result.triggered} faults triggered (HTTP errors {errors}) in {result.calls:,} sendMessage calls; "
        f"95 % delivered after {most:.0f} s, all settled ({settled}) after {seconds:.0f} s"
    )
    print(f"    {result.audit.line()}")
    print(f"    bot log: {dict(result.warnings)}")
    return result


# --------------------------------------------------------------------------- 4: crashes


@dataclass
class Crash:
    after: float  # seconds into this life of the bot
    received_before: int
    left_sending: int  # rows the dead process had claimed and not settled
    of_which_arrived: int  # of those, messages the emulator did take


@dataclass
class CrashResult:
    database: str
    rate: float
    rows: int
    crashes: list[Crash]
    seconds: float
    audit: Audit
    settled: bool
    recovered_by: str
    warnings: Counter[str]


async def crash_run(ctx: Context, rows: int, rate: float, crashes: int, seed: int, bench_recovers: bool) -> CrashResult:
    """Kill -9 the bot at a random moment of each life (once it is sending), restart it a second later."""
    tag = f"{ctx.kind}-crash"
    await enqueue_run(tag, ctx.customers, rows, datetime.now(UTC) - timedelta(seconds=1))
    rng = random.Random(seed)
    # A life lasts a random part of a sixth of the run, so the crashes fall all through it.
    span = rows / rate / (crashes + 1)
    print(f"  [{tag}] {rows:,} rows at {rate:g}/s; {crashes} kill -9 at random moments (0–{span:.0f} s into a life)")
    bot = BotProcess(bot_env(ctx.emulator, ctx.url, ctx.folder, rate, max(rate * 2, 30), ctx.tick), ctx.folder, tag)
    started = time.monotonic()
    done: list[Crash] = []
    try:
        for _ in range(crashes):
            sent_before = ctx.receipts.count(tag)
            earlier = set(await sending(tag))  # left by earlier crashes, not yet recovered
            await bot.start()
            if not await ctx.receipts.wait_for(tag, sent_before + 1, timeout=90):
                raise RuntimeError(f"the restarted bot sent nothing:\n{bot.log_tail()}")
            life_started = time.monotonic()
            await asyncio.sleep(rng.uniform(0, span))
            await bot.kill9()
            await asyncio.sleep(0.2)  # let the emulator finish requests that were already inside it
            left = {key: text for key, text in (await sending(tag)).items() if key not in earlier}
            got = ctx.receipts.of(tag)
            crash = Crash(time.monotonic() - life_started, sum(got.values()), len(left), sum(1 for t in left.values() if t in got))
            done.append(crash)
            print(
                f"    crash {len(done)} after {crash.after:.1f} s: {crash.left_sending} rows left sending, "
                f"{crash.of_which_arrived} of them arrived; {crash.received_before:,} received so far"
            )
            if bench_recovers:
                # Quick mode only: no bot is running, so every sending row is a dead one's.
                await outbox.recover_after_crash(datetime.now(UTC))
            await asyncio.sleep(1.0)
        await bot.start()
        # The last crash's rows: the restarted process (a new start under the same name) finds them at a sweep (every 60 s).
        settled = await wait_until_settled(tag, timeout=rows / rate * 2 + 240, bot=bot)
    finally:
        await bot.stop()
    seconds = time.monotonic() - started
    result = CrashResult(
        ctx.kind, rate, rows, done, seconds, await audit(tag, ctx.receipts), settled,
        "the bench (recover_after_crash, bot stopped)" if bench_recovers else "the bot (its sweep)",
        bot.problems(),
    )
    print(f"    settled: {settled} in {seconds:.0f} s; {result.audit.line()}")
    print(f"    bot log: {dict(result.warnings)}")
    return result


# --------------------------------------------------------------------------- running it all


@dataclass
class Context:
    kind: str
    url: str
    folder: Path
    emulator: BotAPIEmulator
    receipts: Receipts
    customers: list[Customer]
    tick: float


@dataclass
class Plan:
    databases: list[str]
    parts: set[str]
    customers: int
    rate: float
    warmup: float
    window: float
    min_rows: int
    rates: list[float]
    max_window: float
    fault_rows: int
    fault_rate: float
    fault_kinds: tuple[FaultKind, ...]
    crash_rows: int
    crash_rate: float
    crashes: int
    bench_recovers: bool
    tick: float
    seed: int
    admin_url: str


@dataclass
class Results:
    rates: list[RateResult] = field(default_factory=list)
    faults: list[FaultResult] = field(default_factory=list)
    crashes: list[CrashResult] = field(default_factory=list)


async def run_database(kind: str, plan: Plan, results: Results, folder: Path) -> None:
    print(f"\n== {kind} ==")
    folder.mkdir(parents=True, exist_ok=True)
    async with throwaway_database(kind, folder, plan.admin_url, "outbox") as url:
        crypto.install([PRIVACY_KEY])
        await db.connect(url, ready=privacy.prepare)
        emulator = BotAPIEmulator(bot_username="kefu_bench_bot", token=TOKEN)
        await emulator.start("127.0.0.1", 0)
        try:
            started = time.perf_counter()
            customers = await seed_customers(emulator, plan.customers)
            print(f"  {len(customers):,} customers in {time.perf_counter() - started:.1f} s; emulator at {emulator.base_url}")
            ctx = Context(kind, url, folder, emulator, Receipts(emulator), customers, plan.tick)
            if "rate" in plan.parts:
                results.rates.append(await rate_run(ctx, plan.rate, 30, plan.warmup, plan.window, plan.min_rows))
            if "max" in plan.parts:
                for rate in plan.rates:
                    results.rates.append(await rate_run(ctx, rate, rate * 2, plan.warmup, plan.max_window, plan.min_rows))
            if "faults" in plan.parts:
                results.faults.append(await faults_run(ctx, plan.fault_rows, plan.fault_rate, plan.fault_kinds, plan.seed))
            if "crash" in plan.parts:
                results.crashes.append(
                    await crash_run(ctx, plan.crash_rows, plan.crash_rate, plan.crashes, plan.seed, plan.bench_recovers)
                )
        finally:
            await emulator.stop()
            await db.disconnect()


def report(results: Results) -> None:
    """The tables for bench/README.md."""
    if results.rates:
        print(
            "\n| database | configured /s | PTB limit /s | rows | window | achieved /s | vs configured "
            "| per second min / median / max | within 5 % | duplicates | lost | CPU bot / emulator (cores) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for rate in results.rates:
            print(rate.row())
    if results.faults:
        print(
            "\n| database | rows | rate /s | sendMessage calls | faults injected (HTTP errors) | sent | failed "
            "| unknown (arrived) | duplicates | lost | 95 % out / all settled |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for f in results.faults:
            a = f.audit
            errors = ", ".join(f"{n}×{s}" for s, n in sorted(f.errors.items()))
            print(
                f"| {f.database} | {f.rows:,} | {f.rate:g} | {f.calls:,} | {f.triggered} ({f.triggered / f.calls:.1%}; {errors}) | "
                f"{a.by_status['sent']:,} | {a.by_status['failed']} | {a.by_status['unknown']} ({a.unknown_received}) | "
                f"{a.duplicates} | {a.lost} | {f.seconds_95:.0f} s / {f.seconds:.0f} s |"
            )
    if results.crashes:
        print("\n| database | crashes | rows | rate /s | sent | unknown (arrived) | left sending per crash | duplicates | lost | time |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in results.crashes:
            a = c.audit
            per_crash = ", ".join(f"{x.left_sending} ({x.of_which_arrived})" for x in c.crashes)
            print(
                f"| {c.database} | {len(c.crashes)} | {c.rows:,} | {c.rate:g} | {a.by_status['sent']:,} | "
                f"{a.by_status['unknown']} ({a.unknown_received}) | {per_crash} | {a.duplicates} | "
                f"{a.lost} | {c.seconds:.0f} s |"
            )


def parse_args(argv: Sequence[str] | None = None) -> tuple[Plan, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-run", action="store_true", help="achieved rate at the default 25/s")
    parser.add_argument("--max-run", action="store_true", help="achieved rate at higher rates (--rates)")
    parser.add_argument("--faults-run", action="store_true", help="injected 429s and 5xx: duplicates and losses")
    parser.add_argument("--crash-run", action="store_true", help="kill -9 and restart: duplicates, losses, unknowns")
    parser.add_argument("--quick", action="store_true", help="a small smoke version (SQLite, under a minute)")
    parser.add_argument("--databases", help="sqlite,postgres (default both; --quick: sqlite)")
    parser.add_argument("--rates", default="100,200,250,300,400,800", help="rates for --max-run (default %(default)s; --quick: the first)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, metavar="URL", help=f"admin URL (default {POSTGRES_ADMIN_URL})")
    parser.add_argument("--logs", metavar="DIR", help="keep the bot's logs (and SQLite files) in DIR")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    parts = {p for p in ("rate", "max", "faults", "crash") if getattr(args, f"{p}_run")} or {"rate", "max", "faults", "crash"}
    databases = (args.databases or ("sqlite" if args.quick else "sqlite,postgres")).split(",")
    if set(databases) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    rates = [float(r) for r in args.rates.split(",")]
    if args.quick:
        plan = Plan(
            databases, parts, customers=1_000, rate=25, warmup=2, window=6, min_rows=300, rates=rates[:1],
            max_window=4, fault_rows=400, fault_rate=100,
            # A never-ending 5xx takes ~50 s to use up its five attempts (back-off 2-16 s).
            fault_kinds=tuple(k for k in FAULT_KINDS if k.times < 100), crash_rows=400, crash_rate=100, crashes=2,
            bench_recovers=True, tick=1, seed=args.seed, admin_url=args.postgres,
        )
    else:
        plan = Plan(
            databases, parts, customers=10_000, rate=25, warmup=10, window=60, min_rows=10_000, rates=rates,
            max_window=30, fault_rows=5_000, fault_rate=100, fault_kinds=FAULT_KINDS, crash_rows=5_000, crash_rate=25, crashes=5,
            bench_recovers=False, tick=1, seed=args.seed, admin_url=args.postgres,
        )
    return plan, args.logs


async def main_async(plan: Plan, logs: str | None) -> Results:
    results = Results()
    with contextlib.ExitStack() as stack:
        folder = Path(logs) if logs else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-bench-")))
        folder.mkdir(parents=True, exist_ok=True)
        for kind in plan.databases:
            await run_database(kind, plan, results, folder / kind)
    return results


def main() -> None:
    plan, logs = parse_args()
    started = time.perf_counter()
    results = asyncio.run(main_async(plan, logs))
    report(results)
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
