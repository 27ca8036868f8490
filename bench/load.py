"""Load benchmark: ``python bench/load.py [--databases sqlite,postgres] [--customers N] [--messages N] [--quick]``.

Simulated customers talk to the real bot (``python -m bot run``, a subprocess in polling mode)
through the Bot API emulator served by this process, and the same load is then offered to a bare
python-telegram-bot echo bot (this file run with ``--echo-bot``: one MessageHandler that echoes
the text, the same 64 concurrent updates as kefu) on a fresh emulator, so kefu's throughput can be
given as a share of what the client library alone achieves on this machine.

Customers (1,000 by default, each sending 5 messages, complaints always last since a ticket's
customer is then relayed to the agent group rather than answered):

* 45 % ask FAQ questions and make small talk, in Chinese or English ("运费怎么算", "how long
  does shipping take", "谢谢");
* 35 % ask where their order is (``where is my order SO…``), prove it is theirs by sharing their
  own contact or by the last 4 digits of the order's phone, then ask about their other order;
* 20 % ask a question, ask where their order is, share their contact (and get the list of their
  orders), ask again and then complain ("我要投诉，东西坏了"): a ticket, whose topic and card are
  posted in the agent group (a forum supergroup in the emulator).

Every customer's orders are imported into the bot's throw-away database beforehand (a temporary
SQLite file, or a PostgreSQL database created and dropped here) with the importer behind
``kefu orders import``. A reply is the bot's first message into the customer's chat after the
customer's message; its latency runs from the moment the emulator queued the customer's update
to the moment it took the bot's sendMessage. A customer sends the next message only once the
bot has sent everything it answers the previous one with (two messages after a shared contact
or the right 4 digits: "verified" and the order).

Both bots run side by side, each on an emulator of its own, and are measured in turn, each
measurement with customers of its own (so no one's ticket or verified phone carries over),
after a short warm-up:

1. throughput, ``--rounds`` times (3): all customers at once, each as fast as the bot answers;
   messages answered per second from the first message offered to the last reply. kefu and the
   echo bot take turns, so the machine's drift (on a shared machine its speed wanders by a
   quarter within minutes) hits both alike: the ratio given is the median of the rounds' ratios;
2. latency at a paced load (``--rate``, 50 messages/s): messages offered at even intervals over
   all customers (round after round), p50 / p99 / max reply latency.

Afterwards every customer's chat is checked: each message answered, no bot message missing or
extra, and (kefu) exactly one ticket per complaint in the database, one topic and card each in
the agent group. ``--quick``: 100 customers, SQLite, under a minute. ``--profile DIR`` runs kefu
under cProfile (slower: for finding where the time goes, not for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import KEFU_RUN, POSTGRES_ADMIN_URL, PRIVACY_KEY, BotProcess, base_env, throwaway_database  # noqa: E402

TOKEN = "123456789:BENCH-load-token-not-a-secret"
CONCURRENT_UPDATES = 64  # kefu's ChatOrderedProcessor default; the echo bot gets the same
PHASES = {"warm-up": 7, "throughput": 8, "paced": 9}  # a digit of the customers' ids, phones and orders


# --------------------------------------------------------------------------- the traffic

FAQ = {
    "zh": ["运费怎么算", "多久能到货", "怎么退货", "可以开发票吗", "退款多久到账", "怎么修改地址", "有优惠券吗", "你好"],
    "en": [
        "how long does shipping take", "how much is shipping", "can I return it", "do you ship abroad",
        "what payment methods do you accept", "can I cancel my order", "hello",
    ],
}
THANKS = {"zh": "谢谢", "en": "thanks"}
WHERE_IS = {"zh": "我的订单{}到哪了", "en": "where is my order {}"}
WHERE_IS_MINE = {"zh": "我的快递到哪了", "en": "where is my order"}
WHAT_ABOUT = {"zh": "还有订单{}呢", "en": "what about {}?"}
COMPLAINT = {"zh": "我要投诉，东西坏了", "en": "the item arrived broken, I want to file a complaint"}
KINDS = (("faq", 0.45), ("order", 0.35), ("complaint", 0.20))


@dataclass(frozen=True)
class Step:
    kind: str  # faq, order, contact, last4, complaint
    text: str | None  # None: the customer shares their own contact
    replies: int  # messages kefu answers with (the echo bot: always one)


@dataclass
class Customer:
    user_id: int
    language: str
    kind: str
    phone: str
    orders: tuple[str, str]
    steps: list[Step]


def make_customers(phase: str, count: int, messages: int, seed: int, round_: int = 0) -> list[Customer]:
    """Customers of their own for each phase and round (so no one's ticket or verified phone carries over)."""
    rng = random.Random(f"{seed}-{phase}" + (f"-{round_}" if round_ else ""))
    digit = PHASES[phase]
    customers = []
    for n in range(round_ * count, (round_ + 1) * count):
        language = rng.choice(("zh", "en"))
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        phone = f"+86139{digit}{n:07d}"
        orders = (f"SO{digit}{n:06d}1", f"SO{digit}{n:06d}2")
        steps = _script(kind, language, phone, orders, messages, rng)
        customers.append(Customer(700_000_000 + digit * 1_000_000 + n, language, kind, phone, orders, steps))
    return customers


def _script(kind: str, lang: str, phone: str, orders: tuple[str, str], messages: int, rng: random.Random) -> list[Step]:
    def faq() -> Step:
        return Step("faq", rng.choice(FAQ[lang]), 1)

    if kind == "order":
        if rng.random() < 0.5:  # proof by the shared contact
            core = [Step("order", WHERE_IS[lang].format(orders[0]), 1), Step("contact", None, 2)]
        else:  # proof by the last 4 digits of the order's phone
            core = [Step("order", WHERE_IS[lang].format(orders[0]), 1), Step("last4", phone[-4:], 2)]
        core += [Step("order", WHAT_ABOUT[lang].format(orders[1]), 1), faq(), Step("faq", THANKS[lang], 1)]
        return (core + [faq() for _ in range(messages)])[:messages]
    if kind == "complaint":
        core = [faq(), Step("order", WHERE_IS_MINE[lang], 1), Step("contact", None, 2), faq()]
        head = (core + [faq() for _ in range(messages)])[: messages - 1]
        return head + [Step("complaint", COMPLAINT[lang], 1)]
    return [faq() for _ in range(messages)]


def order_rows(customers: Sequence[Customer]) -> list[dict[str, Any]]:
    """Two orders for each customer who asks about orders, in the importer's JSON-lines form."""
    now = datetime.now(UTC)
    rows = []
    for customer in customers:
        if customer.kind == "faq":
            continue
        for number, status in zip(customer.orders, ("in_transit", "delivered"), strict=True):
            created = now - timedelta(days=5)
            rows.append({
                "order_no": number, "phone": customer.phone, "status": status,
                "items": [{"name": "西湖龙井 250g", "quantity": 2, "price": "88.00"}, {"name": "Cotton T-shirt (M)", "quantity": 1, "price": "59.00"}],
                "amount": "235.00", "currency": "CNY", "carrier": "顺丰速运", "tracking_no": f"SF{number[2:]}",
                "created_at": created.isoformat(), "shipped_at": (created + timedelta(days=1)).isoformat(),
                "delivered_at": (created + timedelta(days=3)).isoformat() if status == "delivered" else None,
                "events": [{"time": (created + timedelta(days=1)).isoformat(), "place": "杭州", "description": "顺丰速运 已收取快件"}],
            })
    return rows


# --------------------------------------------------------------------------- replies


@dataclass
class Chat:
    """One customer's chat as the emulator sees it."""

    awaited: int = 0  # bot messages still expected for the message in flight
    sent_at: float = 0.0
    first_reply: float | None = None
    done: asyncio.Future[None] | None = None
    expected: int = 0  # over the whole run
    received: int = 0

    def arrived(self, moment: float) -> None:
        self.received += 1
        if self.first_reply is None:
            self.first_reply = moment
        self.awaited -= 1
        if self.awaited <= 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


class Tracker:
    """Bot messages per chat, with the moment the emulator took them."""

    def __init__(self, emulator: Any) -> None:
        self.chats: dict[int, Chat] = {}
        self.elsewhere: Counter[int] = Counter()  # e.g. the agent group
        emulator.subscribe(self._on_event)

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        if kind != "message":
            return
        moment = time.monotonic()
        chat_id = int(payload["chat"]["id"])
        if (chat := self.chats.get(chat_id)) is not None:
            chat.arrived(moment)
        else:
            self.elsewhere[chat_id] += 1


@dataclass
class Sample:
    kind: str
    latency: float | None  # None: never answered
    offered: float  # monotonic moment the update was queued
    late: float = 0.0  # paced: seconds after its slot that the message could go (previous reply not complete)


async def converse(
    emulator: Any, tracker: Tracker, customer: Customer, echo: bool, timeout: float,
    slot: Callable[[int], float] | None, samples: list[Sample],
) -> None:
    """One customer's messages, each after the previous one's replies (and, paced, not before its slot)."""
    chat = tracker.chats.setdefault(customer.user_id, Chat())
    loop = asyncio.get_running_loop()
    for index, step in enumerate(customer.steps):
        late = 0.0
        if slot is not None:
            due = slot(index)
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            late = max(0.0, time.monotonic() - due)
        replies = 1 if echo else step.replies
        chat.awaited, chat.first_reply, chat.done = replies, None, loop.create_future()
        chat.expected += replies
        offered = time.monotonic()
        if step.text is None:
            emulator.send_contact(customer.user_id, customer.phone)
        else:
            emulator.send_text(customer.user_id, step.text)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(chat.done, timeout)
        latency = None if chat.first_reply is None else chat.first_reply - offered
        samples.append(Sample(step.kind, latency, offered, late))


# --------------------------------------------------------------------------- the bot processes


def kefu_process(emulator: Any, group_id: int, url: str, folder: Path, profile: Path | None) -> BotProcess:
    env = base_env()
    env.update(
        KEFU_TELEGRAM__TOKEN=TOKEN,
        KEFU_PRIVACY__KEYS=json.dumps([PRIVACY_KEY]),
        KEFU_TELEGRAM__BASE_URL=emulator.base_url,
        KEFU_TELEGRAM__AGENT_CHAT_ID=str(group_id),
        KEFU_TELEGRAM__POLL_TIMEOUT="10",
        # The emulator has no flood limits: kefu's own must not be what is measured.
        KEFU_TELEGRAM__MESSAGES_PER_SECOND="100000",
        KEFU_TELEGRAM__GROUP_MESSAGES_PER_MINUTE="1000000",
        KEFU_TELEGRAM__CHAT_MESSAGES_PER_SECOND="100000",
        KEFU_DATABASE__URL=url,
        KEFU_API__LISTEN="127.0.0.1:0",
        KEFU_SCHEDULER__ENABLED="false",
        KEFU_REPORTS__WEEKLY="",
        KEFU_KNOWLEDGE_BASE__LEARNED_FILE=str(folder / "kb-learned.yaml"),
    )
    argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *KEFU_RUN[1:]] if profile is not None else KEFU_RUN
    return BotProcess(env, folder, "kefu", argv)


def echo_process(emulator: Any, folder: Path, profile: Path | None) -> BotProcess:
    argv = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile is not None else [])
    return BotProcess(base_env(), folder, "echo", [*argv, str(Path(__file__).resolve()), "--echo-bot", emulator.base_url])


def run_echo_bot(base_url: str) -> None:
    """The reference: python-telegram-bot with nothing but an echo (``--echo-bot BASE_URL``)."""
    import logging

    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None
        said = message.text or (message.contact.phone_number if message.contact else "?")
        await message.reply_text(said)

    app = ApplicationBuilder().token(TOKEN).base_url(base_url).concurrent_updates(CONCURRENT_UPDATES).build()
    app.add_handler(MessageHandler(filters.ALL, echo))
    app.run_polling(poll_interval=0, timeout=10, allowed_updates=Update.ALL_TYPES)


# --------------------------------------------------------------------------- the database


async def seed_orders(customers: Sequence[Customer], folder: Path) -> str:
    from orders.importer import import_orders

    path = folder / "orders.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in order_rows(customers)), encoding="utf-8")
    report = await import_orders(path)
    if report.skipped:
        raise RuntimeError(report.summary())
    return f"{report.created:,} orders imported in {report.seconds:.1f} s"


async def tickets_by_customer(customers: Sequence[Customer]) -> Counter[int]:
    from ticketing.models import Ticket

    ids = [c.user_id for c in customers]
    rows = await Ticket.filter(customer__telegram_id__in=ids).values_list("customer__telegram_id", flat=True)
    return Counter(int(r) for r in rows)


# --------------------------------------------------------------------------- one measurement


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of unsorted values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


@dataclass
class Phase:
    database: str
    bot: str
    name: str
    customers: int
    messages: int
    seconds: float
    samples: list[Sample]
    expected: int  # bot messages into customers' chats
    received: int
    bot_cpu: float  # cores
    bench_cpu: float
    topics: int  # created in the agent group
    group_posts: int
    checks: list[str] = field(default_factory=list)
    round: int = 0

    @property
    def answered(self) -> int:
        return sum(1 for s in self.samples if s.latency is not None)

    @property
    def throughput(self) -> float:
        return self.answered / self.seconds if self.seconds else math.nan

    def latencies(self, kind: str | None = None) -> list[float]:
        return [s.latency for s in self.samples if s.latency is not None and (kind is None or s.kind == kind)]

    def latency_line(self, kind: str | None = None) -> str:
        values = self.latencies(kind)
        if not values:
            return "—"
        return f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 99) * 1000:.0f} / {max(values) * 1000:.0f}"

    @property
    def offered_rate(self) -> float:
        moments = sorted(s.offered for s in self.samples)
        return (len(moments) - 1) / (moments[-1] - moments[0]) if len(moments) > 1 and moments[-1] > moments[0] else math.nan


async def run_phase(
    ctx: BotRun, name: str, customers: Sequence[Customer], rate: float | None, timeout: float,
) -> Phase:
    """All customers at once; paced (``rate``): message (round r, customer c) offered at t0 + (r·N + c)/rate."""
    samples: list[Sample] = []
    order = list(range(len(customers)))
    random.Random(name).shuffle(order)
    start = time.monotonic() + 0.2
    bot_cpu, bench_cpu = ctx.bot.cpu_seconds(), time.process_time()
    topics, posts = ctx.emulator.count("createForumTopic"), ctx.tracker.elsewhere[ctx.group_id]

    def slot_of(position: int) -> Callable[[int], float] | None:
        if rate is None:
            return None
        return lambda index: start + (index * len(customers) + position) / rate

    await asyncio.gather(*(
        converse(ctx.emulator, ctx.tracker, customers[c], ctx.echo, timeout, slot_of(p), samples)
        for p, c in enumerate(order)
    ))
    first = min(s.offered for s in samples)
    last = max((s.offered + s.latency for s in samples if s.latency is not None), default=first)
    await asyncio.sleep(0.5)  # anything extra the bot still had to say
    wall = time.monotonic() - start
    chats = [ctx.tracker.chats[c.user_id] for c in customers]
    phase = Phase(
        ctx.database, ctx.name, name, len(customers), len(samples), last - first, samples,
        sum(c.expected for c in chats), sum(c.received for c in chats),
        (ctx.bot.cpu_seconds() - bot_cpu) / wall, (time.process_time() - bench_cpu) / wall,
        ctx.emulator.count("createForumTopic") - topics, ctx.tracker.elsewhere[ctx.group_id] - posts,
    )
    missing = phase.messages - phase.answered
    phase.checks.append(
        f"answered {phase.answered:,} of {phase.messages:,} messages"
        + (f" (**{missing} unanswered**)" if missing else "")
        + f"; bot messages into the customers' chats {phase.received:,} of {phase.expected:,} expected"
        + ("" if phase.received == phase.expected else f" (**{phase.received - phase.expected:+,}**)")
    )
    return phase


@dataclass
class BotRun:
    database: str
    name: str
    echo: bool
    emulator: Any
    tracker: Tracker
    bot: BotProcess
    group_id: int


async def start_bot(kind: str, bot_name: str, url: str, folder: Path, customers: Sequence[Customer], plan: Plan) -> BotRun:
    """The bot on an emulator of its own, polling."""
    from bot.emulator import BotAPIEmulator

    echo = bot_name == "echo"
    folder.mkdir(parents=True, exist_ok=True)
    emulator = BotAPIEmulator(bot_username="kefu_load_bot", token=TOKEN)
    await emulator.start("127.0.0.1", 0)
    group = emulator.add_group(title="Agents", is_forum=True)
    for c in customers:
        emulator.add_user(c.user_id, first_name=f"Cust{c.user_id}", language_code="zh-CN" if c.language == "zh" else "en")
    profile = plan.profile / f"{bot_name}-{kind}.prof" if plan.profile else None
    bot = echo_process(emulator, folder, profile) if echo else kefu_process(emulator, group["id"], url, folder, profile)
    ctx = BotRun(kind, bot_name, echo, emulator, Tracker(emulator), bot, group["id"])
    await bot.start()
    started = time.monotonic()
    while emulator.count("getUpdates") == 0:
        if not bot.alive() or time.monotonic() - started > 120:
            await bot.stop()
            await emulator.stop()
            raise RuntimeError(f"{bot_name} did not start:\n{bot.log_tail()}")
        await asyncio.sleep(0.1)
    print(f"  [{bot_name}] polling after {time.monotonic() - started:.1f} s")
    return ctx


async def measure(ctx: BotRun, name: str, customers: Sequence[Customer], plan: Plan, round_: int = 0) -> Phase | None:
    rate = plan.rate if name == "paced" else None
    phase = await run_phase(ctx, name, customers, rate, plan.step_timeout)
    phase.round = round_
    await asyncio.sleep(1.0)
    if name == "warm-up":
        print(f"  [{ctx.name}] warm-up: {phase.messages} messages, p50 {percentile(phase.latencies(), 50) * 1000:.0f} ms")
        return None
    if not ctx.echo:
        phase.checks += await ticket_checks(phase, customers)
    report_phase(phase)
    return phase


async def stop_bot(ctx: BotRun) -> None:
    code = await ctx.bot.stop()
    await ctx.emulator.stop()
    problems = ctx.bot.problems()
    calls = ", ".join(f"{name} {count:,}" for name, count in sorted(ctx.emulator.stats["methods"].items(), key=lambda kv: -kv[1]))
    print(f"  [{ctx.name}] Bot API calls: {calls}")
    print(f"  [{ctx.name}] exit code {code}" + (f"; logged: {dict(problems)}" if problems else ""))


async def ticket_checks(phase: Phase, customers: Sequence[Customer]) -> list[str]:
    """One ticket per complaint in the database, and one topic and card per ticket in the group."""
    complainers = {c.user_id for c in customers if c.kind == "complaint"}
    tickets = await tickets_by_customer(customers)
    wrong = sum(1 for c in customers if tickets.get(c.user_id, 0) != (1 if c.user_id in complainers else 0))
    line = (
        f"complaints {len(complainers)}: tickets {sum(tickets.values())}"
        + (f" (**{wrong} customers with a wrong number of tickets**)" if wrong else ", exactly one each")
        + f"; agent group: {phase.topics} topics, {phase.group_posts} posts"
        + ("" if phase.topics == phase.group_posts == len(complainers) else " (**not one each**)")
    )
    return [line]


def report_phase(phase: Phase) -> None:
    rate = f"offered {phase.offered_rate:.1f}/s" if phase.name == "paced" else f"{phase.throughput:.1f} messages/s"
    late = [s.late for s in phase.samples if s.late > 0.05]
    print(
        f"  [{phase.bot}] {phase.name}: {phase.messages:,} messages in {phase.seconds:.1f} s, {rate}; "
        f"latency p50/p99/max {phase.latency_line()} ms; CPU bot {phase.bot_cpu:.2f}, bench {phase.bench_cpu:.2f} cores"
        + (f"; {len(late)} messages held back > 50 ms waiting for the previous reply" if late else "")
    )
    if phase.bot == "kefu":
        kinds = sorted({s.kind for s in phase.samples})
        print("    by message: " + "; ".join(f"{k} {phase.latency_line(k)}" for k in kinds))
    for check in phase.checks:
        print(f"    {check}")


# --------------------------------------------------------------------------- running it all


@dataclass
class Plan:
    databases: list[str]
    customers: int
    messages: int
    warmup: int
    rate: float
    step_timeout: float
    seed: int
    admin_url: str
    profile: Path | None
    bots: list[str]
    logs: str | None
    rounds: int = 3


async def run_database(kind: str, plan: Plan, folder: Path) -> list[Phase]:
    from bot import privacy
    from bot.core import crypto, db

    print(f"\n== {kind} ==")
    folder.mkdir(parents=True, exist_ok=True)
    warmup = make_customers("warm-up", plan.warmup, plan.messages, plan.seed)
    rounds = [make_customers("throughput", plan.customers, plan.messages, plan.seed, r) for r in range(plan.rounds)]
    paced = make_customers("paced", plan.customers, plan.messages, plan.seed)
    everyone = [*warmup, *(c for cs in rounds for c in cs), *paced]
    results: list[Phase] = []
    async with throwaway_database(kind, folder, plan.admin_url, "load") as url:
        crypto.install([PRIVACY_KEY])
        await db.connect(url, ready=privacy.prepare)
        try:
            print(f"  {await seed_orders(everyone, folder)}")
            mix = Counter(c.kind for c in rounds[0])
            print(f"  customers per measurement: {plan.customers:,} ({dict(mix)}) × {plan.messages} messages")
            # Both bots run side by side, each on its own emulator, and are measured in turn:
            # the machine's drift (this one's speed wanders by a quarter) hits both alike.
            runs = []
            try:
                for bot_name in plan.bots:
                    runs.append(await start_bot(kind, bot_name, url, folder / bot_name, everyone, plan))
                for ctx in runs:
                    await measure(ctx, "warm-up", warmup, plan)
                for r, customers in enumerate(rounds):
                    for ctx in runs:
                        results.append(await measure(ctx, "throughput", customers, plan, r))  # type: ignore[arg-type]
                for ctx in runs:
                    results.append(await measure(ctx, "paced", paced, plan))  # type: ignore[arg-type]
            finally:
                for ctx in runs:
                    await stop_bot(ctx)
        finally:
            await db.disconnect()
    return results


def report(results: Sequence[Phase], plan: Plan) -> None:
    """The table for bench/README.md: throughput is the median of the rounds, and the ratio the
    median of each round's kefu/echo (the two measured one right after the other)."""
    paced = {(p.database, p.bot): p for p in results if p.name == "paced"}
    rounds: dict[tuple[str, str], list[Phase]] = {}
    for p in results:
        if p.name == "throughput":
            rounds.setdefault((p.database, p.bot), []).append(p)
    print(
        f"\n| database | bot | throughput (messages/s) | vs echo | p50 / p99 / max at {plan.rate:g}/s (ms) "
        "| same, at full throughput (ms) | CPU bot / bench (cores) | answered |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios: dict[str, list[float]] = {}
    for database in plan.databases:
        kefu, echo = rounds.get((database, "kefu"), []), rounds.get((database, "echo"), [])
        if kefu and echo:
            ratios[database] = [k.throughput / e.throughput for k, e in zip(kefu, echo)]
        for bot in plan.bots:
            measured, slow = rounds.get((database, bot), []), paced.get((database, bot))
            if not measured or slow is None:
                continue
            middle = sorted(measured, key=lambda p: p.throughput)[len(measured) // 2]
            ratio = f"{statistics.median(ratios[database]):.2f}" if bot == "kefu" and database in ratios else "—"
            answered = sum(p.answered for p in measured) + slow.answered
            offered = sum(p.messages for p in measured) + slow.messages
            print(
                f"| {database} | {bot} | {middle.throughput:.0f} | {ratio} | {slow.latency_line()} | {middle.latency_line()} "
                f"| {middle.bot_cpu:.2f} / {middle.bench_cpu:.2f} | {answered:,} / {offered:,} |"
            )
    for database in plan.databases:
        kefu, echo = rounds.get((database, "kefu"), []), rounds.get((database, "echo"), [])
        slow = paced.get((database, "kefu"))
        if database in ratios and slow is not None:
            ratio = statistics.median(ratios[database])
            each = " / ".join(f"{k.throughput:.0f}:{e.throughput:.0f} = {r:.2f}" for k, e, r in zip(kefu, echo, ratios[database]))
            p99 = percentile(slow.latencies(), 99) * 1000
            print(
                f"{database}: kefu/echo throughput {ratio:.2f}, median of rounds {each} (target ≥ 0.7: "
                f"{'met' if ratio >= 0.7 else 'MISSED'}); p99 at {plan.rate:g}/s {p99:.0f} ms (target ≤ 250 ms: "
                f"{'met' if p99 <= 250 else 'MISSED'})"
            )


def parse_args(argv: Sequence[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", help="sqlite,postgres (default both; --quick: sqlite)")
    parser.add_argument("--customers", type=int, help="customers per measurement (default 1000; --quick: 100)")
    parser.add_argument("--messages", type=int, default=5, help="messages per customer (default %(default)s)")
    parser.add_argument("--rate", type=float, default=50, help="offered messages/s of the latency run (default %(default)s)")
    parser.add_argument("--bots", default="kefu,echo", help="kefu and/or echo (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (SQLite, 100 customers, under a minute)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, metavar="URL", help=f"admin URL (default {POSTGRES_ADMIN_URL})")
    parser.add_argument("--logs", metavar="DIR", help="keep the bots' logs (and the SQLite file) in DIR")
    parser.add_argument("--profile", metavar="DIR", help="run the bots under cProfile, writing DIR/<bot>-<database>.prof")
    parser.add_argument("--rounds", type=int, help="throughput measurements per bot, taken in turn (default 3; --quick: 1)")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--echo-bot", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_bot:
        run_echo_bot(args.echo_bot)
        sys.exit(0)
    databases = (args.databases or ("sqlite" if args.quick else "sqlite,postgres")).split(",")
    if set(databases) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    bots = args.bots.split(",")
    if set(bots) - {"kefu", "echo"}:
        parser.error("--bots takes kefu and/or echo")
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    customers = args.customers or (100 if args.quick else 1000)
    profile = Path(args.profile).resolve() if args.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    plan = Plan(
        databases, customers, args.messages, warmup=min(20, customers), rate=args.rate, step_timeout=60,
        seed=args.seed, admin_url=args.postgres, profile=profile, bots=bots, logs=args.logs,
        rounds=args.rounds or (1 if args.quick else 3),
    )
    return plan


async def main_async(plan: Plan) -> list[Phase]:
    results: list[Phase] = []
    with contextlib.ExitStack() as stack:
        folder = Path(plan.logs) if plan.logs else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-load-")))
        for kind in plan.databases:
            results += await run_database(kind, plan, folder / kind)
    return results


def main() -> None:
    plan = parse_args()
    started = time.perf_counter()
    print(f"load average before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    results = asyncio.run(main_async(plan))
    report(results, plan)
    print(f"load average after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
