"""Crash benchmark: ``python bench/crash.py [--runs N] [--scenarios 1,2,3] [--group-per-minute N] [--logs DIR]``.

Issue 17 ("Reliability under real deployment") promises what a fleet does when processes die:
an update is answered once, never twice; only the updates whose reply was *on the wire* when
their process died are in doubt (left unanswered and reported in the agent group), at most
``[telegram] connections`` (8) of them; a ticket's forum topic and card are asked of Telegram
once, crash or not; and one flood limit holds for the whole bot. tests/test_fleet.py proves
the first points once; this measures them, on real processes, the way they are deployed:
every scenario gets a Bot API emulator (served here), a throw-away PostgreSQL database, and
real ``kefu run`` processes in webhook mode behind a round-robin load balancer (two unless said;
bench/common.py), killed with SIGKILL and started again under the same instance name.

1. **100 complaints at once, no crash** (``--complaints``), kefu's default flood limits (30
   messages a second, 20 a minute into the agent group): each ticket needs a topic and a card in
   the group, 200 group requests, so at 20 a minute this takes about ten minutes — Telegram's
   real pace. Reported: when every customer had their ticket's confirmation (the message whose
   buttons carry ``tc:cat:<ticket id>``) and when every ticket had its card, the most requests
   the emulator saw in any second and into the group in any 60 s; checked: one confirmation and
   one ticket per customer, one topic and one card (in it) per ticket, no inbox update
   ``unknown`` or ``failed``. ``--group-per-minute`` runs it faster for a quick check (not the
   figure to record).
2. **kill -9 mid-traffic** (``--customers``, 150): each customer asks three FAQ questions, each
   after the previous answer, then complains. Once ``--kill-at`` (2.5) answers per customer have
   gone out, one of the two processes is killed the instant the emulator takes a reply of its
   (sent on one of its connections: that reply's answer is lost, so at least one request is on
   the wire), and started again 2 s later. The inbox rows it held, and which of them had a request
   on the wire, are read right after the kill (as tests/test_fleet.py does). Checked: updates in
   doubt (inbox ``unknown``) = those on the wire, at most 8; no message answered twice; none
   unanswered but those in doubt, whose chats the agent group is told; one ticket per complaint,
   never two topics or cards. Reported too: how long the restarted process took to be ready and
   to take updates again (its setWebhook). ``--kill-limits``: ``default`` (30/s, 20/min: the
   questions flow at 30 answers a second while the tickets queue for the group) and/or
   ``raised`` (10,000/s, 100,000/min, as bench/load.py: everything at full speed, the most
   requests on the wire).
3. **kill -9 during ticket creation**, ``--runs`` (10) times, ``--run-complaints`` (40) customers
   complaining at once to **one** process (so the process killed is the one making the
   requests), limits raised (10,000/s, 100,000/min) so that ten runs take minutes. A random one
   of the 80 topic and card requests is picked; in odd runs the process is killed the instant the
   emulator takes that request (it has made the topic or posted the card, its answer is lost: the
   worst case), in even runs a random fraction of the mean gap between requests later (whatever
   is then being written or awaited). Restarted 2 s later. Counted, from what the emulator holds:
   topics per ticket (a topic's name starts ``#<ticket id> ·``, handlers/agent_group.py ``topic_name``),
   cards per ticket (group messages whose buttons carry ``tk:claim:<ticket id>``, ``card_buttons``);
   tickets with more than one of either (must be none), with none, cards outside a topic (a ticket
   whose topic was in doubt gets its card in the group itself), and what the database holds in
   doubt (asked of Telegram, no answer recorded).

A customer is answered before their ticket is posted in the group, so a process that dies in
between leaves a ticket the ticket watch (a job every minute) posts later: after a crash the
benchmark waits for every ticket's card until none has come for ``--post-wait`` seconds (150).

Nothing here tunes the product: it only reads what the emulator and the database hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    POSTGRES_ADMIN_URL,
    PRIVACY_KEY,
    BotProcess,
    LoadBalancer,
    base_env,
    free_port,
    throwaway_database,
    wait_ready,
)
from bench.load import FAQ  # noqa: E402

TOKEN = "123456789:BENCH-crash-token-not-a-secret"
WEBHOOK_SECRET = "BENCH-crash-webhook-secret"
CONNECTIONS = 8
"""kefu's ``[telegram] connections`` default: the most requests one process has on the wire."""
RAISED = {"KEFU_TELEGRAM__MESSAGES_PER_SECOND": "10000", "KEFU_TELEGRAM__GROUP_MESSAGES_PER_MINUTE": "100000"}
"""Limits far above what the emulator is sent, as bench/load.py sets them."""
LANGUAGES = ("en", "zh-CN", "zh-TW")  # the customers' Telegram apps
COMPLAINTS = {  # `kefu kb match --json`: action complaint, band high
    "en": ("I want to make a complaint, the item is damaged",),
    "zh-CN": ("快递一周了还没到，我要投诉", "我要投诉，东西坏了"),
    "zh-TW": ("我要投訴，東西壞了",),
}
RESTART_AFTER = 2.0
"""Seconds between a kill and the start of the process again (systemd's RestartSec)."""

CARD = re.compile(r"^tk:claim:(\d+)$")  # the Claim button under a ticket's card
CONFIRMATION = re.compile(r"^tc:cat:(\d+):")  # the category buttons under the customer's confirmation
TOPIC = re.compile(r"^#(\d+) ·")  # handlers/agent_group.py topic_name


def _warning_patterns() -> list[re.Pattern[str]]:
    """The agent group's warning naming chats whose answer is of unknown fate, in each agent language."""
    from bot.core.i18n import text

    patterns = []
    for language in ("zh-Hans", "zh-Hant", "en"):
        template = re.escape(text(language, "agent_inbox_unknown", count="COUNT", chats="CHATS"))
        patterns.append(re.compile(template.replace("COUNT", r"\d+").replace("CHATS", r"(?P<chats>[-\d, ]+)")))
    return patterns


WARNINGS = _warning_patterns()


def callbacks(message: dict) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button.get("callback_data", "") for row in rows for button in row]


def first_match(pattern: re.Pattern[str], values: Sequence[str]) -> int | None:
    for value in values:
        if match := pattern.match(value):
            return int(match[1])
    return None


# -- who sent a request -------------------------------------------------------------------------

SENDER: contextvars.ContextVar[int | None] = contextvars.ContextVar("sender_port", default=None)
"""The client port of the Bot API request the emulator is handling (its subscribers run inside it)."""


def emulator_noting_senders(**options: Any) -> Any:
    """A BotAPIEmulator whose subscribers can tell which connection a request came on (SENDER)."""
    from aiohttp import web

    from bot.emulator import BotAPIEmulator

    class Emulator(BotAPIEmulator):
        def make_app(self) -> web.Application:
            app = super().make_app()

            @web.middleware
            async def note_sender(request: web.Request, handler: Any) -> web.StreamResponse:
                peer = request.transport.get_extra_info("peername") if request.transport is not None else None
                token = SENDER.set(peer[1] if peer else None)
                try:
                    return await handler(request)
                finally:
                    SENDER.reset(token)

            app.middlewares.append(note_sender)
            return app

    return Emulator(**options)


def holds_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` owns the local TCP socket on 127.0.0.1:``port`` (Linux /proc)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return True
    return False


# -- what the emulator sees ----------------------------------------------------------------------


class Watch:
    """The bot's requests as the emulator takes them: messages in each customer's chat, ticket
    confirmations, topics and cards per ticket, warnings naming chats, and when each happened
    (seconds since the watch began)."""

    def __init__(self, emulator: Any, group: int) -> None:
        self.group = group
        self.started = time.monotonic()
        self.last = self.started
        self.replies: dict[int, list[dict]] = defaultdict(list)  # customer chat → the bot's messages
        self.confirmations: dict[int, list[tuple[float, int]]] = defaultdict(list)  # chat → (moment, ticket)
        self.topics: dict[int, list[float]] = defaultdict(list)  # ticket → moments its topics were made
        self.cards: dict[int, list[dict]] = defaultdict(list)  # ticket → its card messages ("_at": moment)
        self.warnings: dict[int, list[int]] = defaultdict(list)  # chat → seq of the warnings naming it
        self.requests: list[tuple[float, str]] = []  # (moment, method-ish) of every effect into a chat
        self.ticket_requests = 0  # topics made and cards posted, in order
        self.on_ticket_request: Callable[[int, str, int], None] | None = None  # (count, "topic"/"card", ticket)
        self.on_customer_reply: Callable[[int], None] | None = None  # (chat), in the emulator's handler
        self._wake: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        emulator.subscribe(self._seen)

    def moment(self) -> float:
        return time.monotonic() - self.started

    def _seen(self, kind: str, payload: dict) -> None:
        self.last = time.monotonic()
        if kind != "callback_answer":
            chat = payload["chat"]["id"] if "chat" in payload else payload.get("chat_id")
            self.requests.append((self.moment(), f"{kind} {'group' if chat == self.group else 'customer'}"))
        if kind == "topic" and payload.get("action") == "created" and payload.get("chat_id") == self.group:
            if (match := TOPIC.match(payload.get("name", ""))) is not None:
                self._ticket_request("topic", int(match[1]))
                self.topics[int(match[1])].append(self.moment())
            return
        if kind != "message":
            return
        chat = payload["chat"]["id"]
        if chat == self.group:
            for pattern in WARNINGS:
                if (match := pattern.fullmatch(payload.get("text") or "")) is not None:
                    for named in (int(c) for c in match["chats"].split(",") if c.strip()):
                        self.warnings[named].append(payload["_seq"])
                        self._wake[named].set()
            if (ticket := first_match(CARD, callbacks(payload))) is not None:
                self.cards[ticket].append({**payload, "_at": self.moment()})
                self._ticket_request("card", ticket)
            return
        self.replies[chat].append(payload)
        if (ticket := first_match(CONFIRMATION, callbacks(payload))) is not None:
            self.confirmations[chat].append((self.moment(), ticket))
        self._wake[chat].set()
        if self.on_customer_reply is not None:
            self.on_customer_reply(chat)

    def _ticket_request(self, what: str, ticket: int) -> None:
        self.ticket_requests += 1
        if self.on_ticket_request is not None:
            self.on_ticket_request(self.ticket_requests, what, ticket)

    def busiest_second(self) -> tuple[int, float, Counter[str]]:
        """The most effects the emulator reported within one second (as the bench's event loop
        saw them), when that second began, and what they were: to tell a flood-limit overrun from
        requests the bench's own loop took in late and all at once (see :class:`LoopLag`)."""
        best, start, first = 0, 0.0, 0
        for last, (moment, _) in enumerate(self.requests):
            while self.requests[first][0] <= moment - 1.0:
                first += 1
            if last - first + 1 > best:
                best, start = last - first + 1, self.requests[first][0]
        window = Counter(kind for moment, kind in self.requests if start <= moment < start + 1.0)
        return best, start, window

    @property
    def customer_replies(self) -> int:
        return sum(len(messages) for messages in self.replies.values())

    async def answer(self, chat: int, since: int, timeout: float) -> bool:
        """Until the bot wrote into ``chat`` after emulator seq ``since``, or the agent group was
        warned about the chat since; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        wake = self._wake[chat]
        while True:
            wake.clear()
            if any(m["_seq"] > since for m in self.replies.get(chat, ())) or any(s > since for s in self.warnings.get(chat, ())):
                return True
            if (remaining := deadline - time.monotonic()) <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)


class LoopLag:
    """How late this process's event loop wakes up (it serves the emulator, which timestamps a
    request when the loop reads it): a loop busy for 100 ms takes in 100 ms of requests at once."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.lags: list[tuple[float, float]] = []  # (moment, seconds late)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            late = time.monotonic() - before - 0.005
            if late > 0.02:
                self.lags.append((self.watch.moment(), late))

    def worst(self, start: float = 0.0, end: float = float("inf")) -> float:
        return max((late for moment, late in self.lags if start <= moment <= end + late), default=0.0)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# -- a fleet -------------------------------------------------------------------------------------


@dataclass
class Kefu:
    name: str
    port: int
    bot: BotProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    emulator: Any
    group: int
    database: str
    balancer: LoadBalancer
    kefus: list[Kefu]
    watch: Watch
    lag: LoopLag | None = None
    restart_ready: float = 0.0  # seconds from the restart to /readyz 200
    restart_taking: float = 0.0  # to its setWebhook: taking updates again

    def busiest_line(self) -> str:
        """The busiest second as the bench saw it, and how late its event loop was then."""
        most, start, window = self.watch.busiest_second()
        assert self.lag is not None
        return (
            f"busiest second (bench's view) {start:.1f}–{start + 1:.1f} s: {most} ({dict(window)}); the bench's event loop "
            f"up to {self.lag.worst(start - 0.5, start + 1) * 1000:.0f} ms late then, {self.lag.worst() * 1000:.0f} ms at worst"
        )

    async def rows(self, statement: str, *args: Any) -> list[Any]:
        """The throw-away database, read directly (inbox statuses and tickets are not encrypted)."""
        import asyncpg

        connection = await asyncpg.connect(self.database, timeout=10)
        try:
            return await connection.fetch(statement, *args)
        finally:
            await connection.close()

    async def webhook_set_by(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` setWebhook calls in all: a process calls it once it takes updates."""
        deadline = time.monotonic() + timeout
        while self.emulator.count("setWebhook") < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.emulator.count('setWebhook')} setWebhook calls of {count}:\n{self.tails()}")
            await asyncio.sleep(0.05)

    async def settled(self, timeout: float, quiet: float = 3.0) -> float:
        """Until Telegram has nothing left to deliver, the inbox nothing left to handle and the bot
        has sent nothing for ``quiet`` seconds; the moment (watch time) of its last request."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self.emulator.stats["updates_pending"]
            open_rows = (await self.rows("SELECT count(*) FROM inbox_update WHERE status IN ('new', 'processing')"))[0][0]
            if pending == 0 and open_rows == 0 and time.monotonic() - self.watch.last >= quiet:
                return self.watch.last - self.watch.started
            if time.monotonic() > deadline:
                raise RuntimeError(f"not settled after {timeout:.0f} s: {pending} undelivered, {open_rows} unhandled\n{self.tails()}")
            await asyncio.sleep(0.5)

    async def cards_posted(self, wait: float) -> float:
        """After a crash: until every ticket has a card in the agent group, or no new card came for
        ``wait`` seconds. A customer is answered before their ticket is posted, so a ticket whose process died in
        between is posted later by the ticket watch (a job every minute, for tickets opened over a
        minute ago with nothing of them asked of Telegram); the seconds waited."""
        started = last_card = time.monotonic()
        cards = len(self.watch.cards)
        while time.monotonic() - last_card < wait:  # cards still coming (20 a minute) keep it waiting
            if all(self.watch.cards.get(ticket) for ticket in await self.tickets()):
                break
            if len(self.watch.cards) > cards:
                cards, last_card = len(self.watch.cards), time.monotonic()
            await asyncio.sleep(1.0)
        return time.monotonic() - started

    async def kill_and_restart(self, victim: Kefu, *, killed_already: bool = False) -> dict[int, bool]:
        """SIGKILL (unless the caller sent it), then what ``victim`` held: inbox update → whether a
        request of its handling was on the wire; started again after :data:`RESTART_AFTER`."""
        if not killed_already:
            await victim.bot.kill9()
        assert victim.bot.process is not None
        await victim.bot.process.wait()
        killed = time.monotonic()
        await asyncio.sleep(0.3)  # a statement it sent just before is committed by now
        held = await self.rows(
            "SELECT update_id, on_wire FROM inbox_update WHERE status = 'processing' AND claimed_by = $1", victim.name
        )
        await asyncio.sleep(max(0.0, RESTART_AFTER - (time.monotonic() - killed)))
        calls = self.emulator.count("setWebhook")
        started = time.monotonic()
        await victim.bot.start()
        await wait_ready(victim.bot, victim.url)
        self.restart_ready = time.monotonic() - started
        # It takes updates (setWebhook) once it has told the agent group of the updates in doubt:
        # that message waits for the group's flood limit like any other.
        await self.webhook_set_by(calls + 1, timeout=3600)
        self.restart_taking = time.monotonic() - started
        return {row["update_id"]: row["on_wire"] for row in held}

    async def inbox(self) -> dict[int, tuple[str, int | None]]:
        """update id → (status, chat)."""
        return {r["update_id"]: (r["status"], r["chat_id"]) for r in await self.rows("SELECT update_id, status, chat_id FROM inbox_update")}

    async def tickets(self) -> dict[int, dict]:
        """ticket id → its customer's chat and what the database knows of its topic and card."""
        rows = await self.rows(
            "SELECT t.id, c.telegram_id AS chat, t.topic_id, t.card_message_id, "
            "t.topic_requested_at IS NOT NULL AS topic_asked, t.card_requested_at IS NOT NULL AS card_asked "
            "FROM ticket t JOIN customer c ON c.id = t.customer_id"
        )
        return {r["id"]: dict(r) for r in rows}

    def problems(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for kefu in self.kefus:
            found += kefu.bot.problems()
        return found

    def tails(self, lines: int = 15) -> str:
        return "\n".join(f"---- {k.name} ----\n{k.bot.log_tail(lines)}" for k in self.kefus)


def kefu_env(emulator: Any, group: int, database: str, webhook: str, folder: Path, name: str, port: int, limits: dict[str, str]) -> dict[str, str]:
    env = base_env()
    env.update(
        KEFU_TELEGRAM__TOKEN=TOKEN,
        KEFU_TELEGRAM__BASE_URL=emulator.base_url,
        KEFU_TELEGRAM__AGENT_CHAT_ID=str(group),
        KEFU_TELEGRAM__MODE="webhook",
        KEFU_TELEGRAM__WEBHOOK_URL=webhook,
        KEFU_TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        KEFU_TELEGRAM__INSTANCE=name,
        KEFU_API__LISTEN=f"127.0.0.1:{port}",
        KEFU_DATABASE__URL=database,
        KEFU_PRIVACY__KEYS=json.dumps([PRIVACY_KEY]),
        KEFU_SCHEDULER__ENABLED="false",
        KEFU_REPORTS__WEEKLY="",
        KEFU_KNOWLEDGE_BASE__LEARNED_FILE=str(folder / "kb-learned.yaml"),
    )
    env.update(limits)  # nothing: kefu's defaults (30 a second, 20 a minute into a group)
    return env


@contextlib.asynccontextmanager
async def running_fleet(plan: argparse.Namespace, folder: Path, label: str, processes: int, limits: dict[str, str]) -> AsyncIterator[Fleet]:
    """An emulator with a forum agent group, a throw-away database, ``processes`` kefu processes
    behind a load balancer, each ready and taking updates."""
    folder.mkdir(parents=True, exist_ok=True)
    emulator = emulator_noting_senders(bot_username="kefu_crash_bot", token=TOKEN)
    await emulator.start("127.0.0.1", 0)
    group = emulator.add_group(title="Agents", is_forum=True)["id"]
    balancer = LoadBalancer([])
    kefus: list[Kefu] = []
    try:
        async with throwaway_database("postgres", folder, plan.postgres, label) as database:
            ports = [free_port() for _ in range(processes)]
            balancer.backends = [f"http://127.0.0.1:{port}" for port in ports]
            await balancer.start()
            for n, port in enumerate(ports):
                name = f"kefu-{'abcdefgh'[n]}"
                env = kefu_env(emulator, group, database, balancer.url, folder, name, port, limits)
                kefus.append(Kefu(name, port, BotProcess(env, folder, name)))
            print(f"  [{label}: {processes} kefu run on {code_version()}]")
            for kefu in kefus:
                await kefu.bot.start()
            for kefu in kefus:
                await wait_ready(kefu.bot, kefu.url)
            fleet = Fleet(emulator, group, database, balancer, kefus, Watch(emulator, group))
            await fleet.webhook_set_by(processes)
            await asyncio.sleep(1.0)  # start-up requests are over
            emulator.unsubscribe(fleet.watch._seen)
            fleet.watch = Watch(emulator, group)  # the clock starts now
            fleet.lag = LoopLag(fleet.watch)
            try:
                yield fleet
            finally:
                await fleet.lag.stop()
                for kefu in kefus:
                    await kefu.bot.stop()
    finally:
        for kefu in kefus:
            await kefu.bot.stop()
        await emulator.stop()  # first: it stops delivering updates to the balancer
        await balancer.stop()


def add_customers(emulator: Any, count: int, first: int = 0) -> list[tuple[int, str]]:
    """``count`` customers (chat, language), the three languages in turn."""
    customers = []
    for n in range(first, first + count):
        language = LANGUAGES[n % len(LANGUAGES)]
        user = emulator.add_user(first_name=f"Customer{n}", language_code=language)
        customers.append((user["id"], language))
    return customers


def complaint(language: str, n: int) -> str:
    return COMPLAINTS[language][(n // len(LANGUAGES)) % len(COMPLAINTS[language])]


def spread(counts: Sequence[int]) -> str:
    """How many have each count, e.g. "1×99, 0×1"."""
    return ", ".join(f"{value}×{times}" for value, times in sorted(Counter(counts).items(), key=lambda kv: -kv[1])) or "—"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1)] if ordered else float("nan")


@dataclass
class Outcome:
    """One scenario's figures (printed as they come, and as the table at the end) and its checks."""

    name: str
    figures: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def figure(self, line: str) -> None:
        self.figures.append(line)
        print(f"  {line}")

    def check(self, ok: bool, line: str, evidence: str = "") -> None:
        print(f"  [{'ok' if ok else 'FAILED'}] {line}" + (f"\n      {evidence}" if not ok and evidence else ""))
        if not ok:
            self.failures.append(line + (f" — {evidence}" if evidence else ""))


def ticket_checks(out: Outcome, fleet: Fleet, tickets: dict[int, dict], chats: Sequence[int], *, crashed: bool) -> dict[str, int]:
    """One ticket per customer, one topic and one card per ticket; what is odd, counted."""
    watch = fleet.watch
    per_customer = Counter(t["chat"] for t in tickets.values())
    wrong = {chat: per_customer.get(chat, 0) for chat in chats if per_customer.get(chat, 0) != 1}
    out.check(not wrong, f"tickets per customer: {spread([per_customer.get(c, 0) for c in chats])}", f"customers → tickets: {wrong}")
    topics = {t: len(watch.topics.get(t, ())) for t in tickets}
    cards = {t: len(watch.cards.get(t, ())) for t in tickets}
    strangers = sorted((set(watch.topics) | set(watch.cards)) - set(tickets))
    counts = {
        "tickets": len(tickets),
        "topics_twice": sum(1 for n in topics.values() if n > 1),
        "cards_twice": sum(1 for n in cards.values() if n > 1),
        "no_topic": sum(1 for n in topics.values() if n == 0),
        "no_card": sum(1 for n in cards.values() if n == 0),
        "card_outside_topic": sum(1 for t in tickets for card in watch.cards.get(t, ()) if "message_thread_id" not in card),
        "topic_without_card": sum(
            1 for t in tickets if topics[t] and not any("message_thread_id" in card for card in watch.cards.get(t, ()))
        ),
    }
    out.check(counts["topics_twice"] == 0, f"topics per ticket: {spread(list(topics.values()))}",
              f"tickets with several topics: { {t: n for t, n in topics.items() if n > 1} }")
    out.check(counts["cards_twice"] == 0, f"cards per ticket: {spread(list(cards.values()))}",
              f"tickets with several cards: { {t: n for t, n in cards.items() if n > 1} }")
    out.check(not strangers, "no topic or card names a ticket the database does not have", f"{strangers}")
    odd = {
        t: (topics[t], cards[t], r["topic_id"], r["card_message_id"], r["topic_asked"], r["card_asked"]) for t, r in tickets.items()
        if topics[t] != 1 or cards[t] != 1 or any("message_thread_id" not in card for card in watch.cards.get(t, ()))
    }
    if odd:
        print(f"      {len(odd)} tickets without exactly one topic and one card in it (topics, cards, topic_id, "
              f"card_message_id, topic asked, card asked), the first 12: {dict(sorted(odd.items())[:12])}")
    if not crashed:  # without a crash nothing may be missing
        out.check(counts["no_topic"] == 0 and counts["card_outside_topic"] == 0, "every ticket has its topic, its card in it",
                  f"no topic: {[t for t, n in topics.items() if n == 0]}")
        out.check(counts["no_card"] == 0, "every ticket has its card", f"no card: {[t for t, n in cards.items() if n == 0]}")
    return counts


# -- scenario 1: 100 complaints at once, no crash ----------------------------------------------------


async def complaints_at_once(plan: argparse.Namespace, folder: Path) -> Outcome:
    limits = {} if plan.group_per_minute is None else {"KEFU_TELEGRAM__GROUP_MESSAGES_PER_MINUTE": str(plan.group_per_minute)}
    said = "kefu's default limits" if not limits else f"group limit {plan.group_per_minute:g}/min (a quick check, not the figure)"
    out = Outcome(f"1. {plan.complaints} complaints at once, no crash ({said})")
    print(f"\n== {out.name} ==")
    async with running_fleet(plan, folder, "crash1", 2, limits) as fleet:
        watch, emulator = fleet.watch, fleet.emulator
        customers = add_customers(emulator, plan.complaints)
        for n, (chat, language) in enumerate(customers):
            emulator.send_text(chat, complaint(language, n))
        chats = [chat for chat, _ in customers]
        deadline, report_at = time.monotonic() + plan.timeout, time.monotonic() + 30
        while True:
            confirmed = sum(1 for chat in chats if watch.confirmations.get(chat))
            carded = len(watch.cards)
            if confirmed == len(chats) and carded >= len(chats):
                break
            if time.monotonic() > deadline:
                out.check(False, f"all confirmed and carded within {plan.timeout:.0f} s", f"{confirmed} confirmed, {carded} cards")
                break
            if time.monotonic() > report_at:
                report_at += 30
                print(f"    {watch.moment():.0f} s: {confirmed} customers confirmed, {carded} cards, {sum(map(len, watch.topics.values()))} topics")
            await asyncio.sleep(0.2)
        await fleet.settled(plan.timeout)
        stats = emulator.stats
        first_confirmations = [watch.confirmations[c][0][0] for c in chats if watch.confirmations.get(c)]
        first_cards = [cards[0]["_at"] for cards in watch.cards.values()]
        out.figure(
            f"all {len(first_confirmations)} customers confirmed after {max(first_confirmations, default=float('nan')):.1f} s "
            f"(p50 {percentile(first_confirmations, 50):.1f} s); all {len(first_cards)} cards posted after "
            f"{max(first_cards, default=float('nan')):.1f} s"
        )
        group_minute = stats["max_per_minute"].get(str(fleet.group), 0)
        out.figure(
            f"most requests with a chat_id in any 1 s: {stats['max_per_second']} (limit 30); into the agent group in "
            f"any 60 s: {group_minute} (limit {plan.group_per_minute or 20:g}); webhook calls per process "
            f"{[fleet.balancer.answered[k.url] for k in fleet.kefus]}"
        )
        out.figure(fleet.busiest_line())
        per_customer = [len(watch.confirmations.get(chat, ())) for chat in chats]
        out.check(all(n == 1 for n in per_customer), f"confirmations per customer: {spread(per_customer)}",
                  f"{ {c: n for c, n in zip(chats, per_customer) if n != 1} }")
        ticket_checks(out, fleet, await fleet.tickets(), chats, crashed=False)
        statuses = Counter(status for status, _ in (await fleet.inbox()).values())
        out.check(statuses.get("unknown", 0) == 0 and statuses.get("failed", 0) == 0, f"inbox: {dict(statuses)}")
        out.figure(f"Bot API calls: {dict(stats['methods'])}; errors {stats['errors'] or 'none'}; logged: {dict(fleet.problems()) or 'nothing'}")
    return out


# -- scenario 2: kill -9 one of two processes mid-traffic ------------------------------------------------


@dataclass
class Customer:
    """Asks three FAQ questions, each after the previous answer, then complains."""

    chat: int
    says: list[str]
    updates: list[int] = field(default_factory=list)
    sent_at: list[int] = field(default_factory=list)  # emulator seq when each was sent

    async def converse(self, emulator: Any, watch: Watch, timeout: float) -> None:
        for said in self.says:
            self.sent_at.append(emulator.seq)
            self.updates.append(emulator.send_text(self.chat, said)["update_id"])
            await watch.answer(self.chat, self.sent_at[-1], timeout)

    def answers(self, watch: Watch) -> list[list[dict]]:
        """The bot's messages after each of this customer's messages, before their next one."""
        bounds = [*self.sent_at, sys.maxsize]
        return [[m for m in watch.replies.get(self.chat, []) if bounds[n] < m["_seq"] <= bounds[n + 1]] for n in range(len(self.sent_at))]


async def kill_mid_traffic(plan: argparse.Namespace, folder: Path, limits_name: str) -> Outcome:
    limits = RAISED if limits_name == "raised" else {}
    described = "kefu's default limits (30/s, 20/min)" if not limits else "raised limits (10,000/s, 100,000/min)"
    out = Outcome(f"2. {plan.customers} customers × 4 messages, kill -9 mid-traffic, {described}")
    print(f"\n== {out.name} ==")
    async with running_fleet(plan, folder, f"crash2{limits_name}", 2, limits) as fleet:
        watch, emulator = fleet.watch, fleet.emulator
        customers = []
        for n, (chat, language) in enumerate(add_customers(emulator, plan.customers)):
            questions = FAQ["en" if language == "en" else "zh"]
            customers.append(Customer(chat, [questions[(n + i) % len(questions)] for i in range(3)] + [complaint(language, n)]))
        victim = fleet.kefus[0]
        at_death: dict[int, bool] = {}
        kill_after = int(plan.customers * plan.kill_at)
        killed_at: list[float] = []
        killed = asyncio.Event()

        def kill_on_reply(chat: int) -> None:
            """Once ``kill_after`` answers went out: SIGKILL the victim the instant a reply of its
            arrives (sent on a connection of its), before it reads the answer."""
            if killed.is_set() or watch.customer_replies < kill_after:
                return
            assert victim.bot.process is not None
            if (port := SENDER.get()) is not None and holds_port(victim.bot.process.pid, port):
                victim.bot.process.send_signal(signal.SIGKILL)
                killed.set()

        async def crash_mid_traffic() -> None:
            watch.on_customer_reply = kill_on_reply
            try:
                await asyncio.wait_for(killed.wait(), 120)
                killed_at.append(watch.moment())
                at_death.update(await fleet.kill_and_restart(victim, killed_already=True))
            except TimeoutError:  # no reply of the victim's came: killed all the same
                killed_at.append(watch.moment())
                at_death.update(await fleet.kill_and_restart(victim))
            finally:
                watch.on_customer_reply = None

        await asyncio.gather(crash_mid_traffic(), *(c.converse(emulator, watch, plan.timeout) for c in customers))
        last = await fleet.settled(plan.timeout)
        waited = await fleet.cards_posted(plan.post_wait)
        tickets_now = await fleet.tickets()
        inbox = await fleet.inbox()
        statuses = {update: status for update, (status, _) in inbox.items()}
        sent = [update for c in customers for update in c.updates]
        in_doubt = {u for u, s in statuses.items() if s == "unknown"}
        on_wire = {u for u, wire in at_death.items() if wire}
        out.figure(
            f"{victim.name} killed {killed_at[0]:.1f} s in, after {kill_after} answers, holding {len(at_death)} updates, "
            f"{len(on_wire)} with a request on the wire; restarted: ready after {fleet.restart_ready:.1f} s, taking updates "
            f"(setWebhook) after {fleet.restart_taking:.1f} s; all settled {last:.1f} s in; then {waited:.0f} s for every ticket's card"
            + ("" if all(watch.cards.get(t) for t in tickets_now) else f" (**not all: none came for {plan.post_wait:.0f} s**)")
        )
        out.figure(f"updates in doubt (inbox unknown): {len(in_doubt)}; on the wire at the kill: {len(on_wire)} (at most {CONNECTIONS})")
        out.check(bool(at_death), "killed holding updates (mid-traffic)")
        out.check(in_doubt == on_wire, "in doubt = those on the wire at the kill",
                  f"in doubt {sorted(in_doubt)}; on the wire {sorted(on_wire)}; held {sorted(at_death)}")
        out.check(len(in_doubt) <= CONNECTIONS, f"in doubt ≤ {CONNECTIONS}: {len(in_doubt)}")
        not_final = {u: statuses.get(u) for u in sent if statuses.get(u) not in ("done", "unknown")}
        out.check(not not_final, f"every message handled (inbox done or unknown): {Counter(statuses.get(u) for u in sent)}", f"{not_final}")
        doubles, unanswered, unwarned = [], [], []
        for c in customers:
            for update, answers in zip(c.updates, c.answers(watch), strict=True):
                if len(answers) > 1:
                    doubles.append((c.chat, update, [m.get("text", "")[:40] for m in answers]))
                if statuses.get(update) == "unknown":
                    if not watch.warnings.get(c.chat):
                        unwarned.append((c.chat, update))
                elif not answers:
                    unanswered.append((c.chat, update, statuses.get(update)))
        out.figure(f"messages {len(sent)}: answered twice {len(doubles)}, unanswered (not in doubt) {len(unanswered)}")
        out.check(not doubles, f"double answers: {len(doubles)}", f"{doubles[:10]}")
        out.check(not unanswered, f"unanswered messages other than those in doubt: {len(unanswered)}", f"(chat, update, status) {unanswered[:10]}")
        out.check(not unwarned, "the agent group was warned of every chat in doubt", f"{unwarned}")
        tickets = await fleet.tickets()
        complained = [c.chat for c in customers]
        counts = ticket_checks(out, fleet, tickets, complained, crashed=True)
        out.figure(
            f"tickets {counts['tickets']}: no topic {counts['no_topic']}, no card {counts['no_card']}, card outside its topic "
            f"{counts['card_outside_topic']}; webhook calls per process {[fleet.balancer.answered[k.url] for k in fleet.kefus]}"
        )
        stats = emulator.stats
        out.figure(
            f"most requests in any 1 s: {stats['max_per_second']}; into the group in any 60 s: "
            f"{stats['max_per_minute'].get(str(fleet.group), 0)}; errors {stats['errors'] or 'none'}; logged: {dict(fleet.problems()) or 'nothing'}"
        )
        out.figure(fleet.busiest_line())
    return out


# -- scenario 3: kill -9 while topics and cards are being made, --runs times -------------------------------


@dataclass
class Run:
    number: int
    how: str
    tickets: int = 0
    held: int = 0
    on_wire: int = 0
    in_doubt: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    confirmed: int = 0
    confirmed_twice: int = 0
    unanswered: int = 0
    seconds: float = 0.0
    waited: float = 0.0  # after settling, for every ticket's card
    late_cards: int = 0  # first posted over 10 s after the restart: by the ticket watch
    topics_in_doubt: list[int] = field(default_factory=list)  # the database: asked, no topic_id
    cards_in_doubt: list[int] = field(default_factory=list)  # asked, no card_message_id


async def kill_during_ticket_creation(plan: argparse.Namespace, folder: Path) -> Outcome:
    out = Outcome(f"3. {plan.runs} runs: {plan.run_complaints} complaints at once to one process, kill -9 during topics and cards (raised limits)")
    print(f"\n== {out.name} ==")
    rng = random.Random(plan.seed)
    runs: list[Run] = []
    for number in range(1, plan.runs + 1):
        at_request = rng.randint(1, 2 * plan.run_complaints - (0 if number % 2 else 1))
        within = 0.0 if number % 2 else rng.random()  # as it arrives, or this far towards the next request
        async with running_fleet(plan, folder / f"run{number}", f"crash3r{number}", 1, RAISED) as fleet:
            watch, emulator, victim = fleet.watch, fleet.emulator, fleet.kefus[0]
            killed = asyncio.Event()
            what_then: list[str] = []

            moments: list[float] = []
            delay: list[float] = []

            def kill(count: int, what: str, ticket: int) -> None:
                moments.append(time.monotonic())
                if count != at_request:
                    return
                what_then.append(f"{what} of #{ticket}")
                assert victim.bot.process is not None
                if not within:  # in the emulator's handler: the request has its effect, its answer is lost
                    victim.bot.process.send_signal(signal.SIGKILL)
                    killed.set()
                    return
                # a random moment before the next request is due (the mean gap between them so far)
                gap = (moments[-1] - moments[0]) / (len(moments) - 1) if len(moments) > 1 else 0.02
                delay.append(within * gap)
                asyncio.get_running_loop().call_later(delay[0], lambda: (victim.bot.process.send_signal(signal.SIGKILL), killed.set()))

            watch.on_ticket_request = kill
            customers = add_customers(emulator, plan.run_complaints, first=number * 1000)
            for n, (chat, language) in enumerate(customers):
                emulator.send_text(chat, complaint(language, n))
            try:
                await asyncio.wait_for(killed.wait(), 120)
            except TimeoutError:
                out.check(False, f"run {number}: killed", f"only {watch.ticket_requests} topic and card requests came")
                continue
            watch.on_ticket_request = None
            how = f"at request {at_request} ({what_then[0]})" + (f" + {delay[0] * 1000:.1f} ms" if delay else ", as it arrived")
            at_death = await fleet.kill_and_restart(victim, killed_already=True)
            restarted = watch.moment()
            last = await fleet.settled(plan.timeout)
            waited = await fleet.cards_posted(plan.post_wait)
            chats = [chat for chat, _ in customers]
            inbox = await fleet.inbox()
            in_doubt = {u for u, (s, _) in inbox.items() if s == "unknown"}
            doubt_chats = {inbox[u][1] for u in in_doubt}
            run = Run(number, how, held=len(at_death), on_wire=sum(at_death.values()), in_doubt=len(in_doubt), seconds=last)
            run.waited = waited
            run.late_cards = sum(1 for cards in watch.cards.values() if cards and cards[0]["_at"] > restarted + 10)
            sub = Outcome(f"run {number}")
            sub.check(bool(at_death), "killed holding updates (during ticket creation)")
            tickets = await fleet.tickets()
            run.tickets = len(tickets)
            run.counts = ticket_checks(sub, fleet, tickets, chats, crashed=True)
            per_customer = {chat: len(watch.confirmations.get(chat, ())) for chat in chats}
            run.confirmed = sum(1 for n in per_customer.values() if n >= 1)
            run.confirmed_twice = sum(1 for n in per_customer.values() if n > 1)
            run.unanswered = sum(1 for chat, n in per_customer.items() if n == 0 and chat not in doubt_chats)
            on_wire = {u for u, wire in at_death.items() if wire}
            sub.check(in_doubt == on_wire, "in doubt = on the wire at the kill", f"in doubt {sorted(in_doubt)}, on the wire {sorted(on_wire)}")
            sub.check(run.confirmed_twice == 0, "no customer confirmed twice", f"{ {c: n for c, n in per_customer.items() if n > 1} }")
            sub.check(run.unanswered == 0, "every customer not in doubt confirmed",
                      f"{[c for c, n in per_customer.items() if n == 0 and c not in doubt_chats]}")
            statuses = Counter(s for s, _ in inbox.values())
            sub.check(statuses.get("failed", 0) == 0, f"inbox: {dict(statuses)}")
            # What the database holds in doubt: asked of Telegram, its answer never recorded.
            run.topics_in_doubt = sorted(t for t, r in tickets.items() if r["topic_asked"] and r["topic_id"] is None)
            run.cards_in_doubt = sorted(t for t, r in tickets.items() if r["card_asked"] and r["card_message_id"] is None)
            doubts = len(run.topics_in_doubt) + len(run.cards_in_doubt)
            sub.check(doubts <= CONNECTIONS, f"topics and cards in doubt ≤ {CONNECTIONS} (tests/test_fleet.py's bound): {doubts}",
                      f"topics in doubt {run.topics_in_doubt}, cards in doubt {run.cards_in_doubt}")
            c = run.counts
            print(
                f"  run {number}: killed {how}; held {run.held}, on the wire {run.on_wire}, in doubt {run.in_doubt}; "
                f"{run.tickets} tickets: topics twice {c['topics_twice']}, cards twice {c['cards_twice']}, no topic {c['no_topic']}, "
                f"no card {c['no_card']}, card outside its topic {c['card_outside_topic']}; in doubt in the database: topics "
                f"{len(run.topics_in_doubt)}, cards {len(run.cards_in_doubt)}; customers confirmed {run.confirmed}/{len(chats)}"
                f"; settled {last:.1f} s, then {waited:.0f} s for the cards ({run.late_cards} posted by the watch)"
            )
            for failure in sub.failures:
                out.failures.append(f"run {number}: {failure}")
            runs.append(run)
    total = {key: sum(r.counts.get(key, 0) for r in runs) for key in ("topics_twice", "cards_twice", "no_topic", "no_card", "card_outside_topic", "topic_without_card")}
    out.figure(
        f"{len(runs)} runs, {sum(r.tickets for r in runs)} tickets: more than one topic {total['topics_twice']}, more than one card "
        f"{total['cards_twice']}; no topic {total['no_topic']}, no card {total['no_card']}, card outside its topic "
        f"{total['card_outside_topic']}, topic without its card {total['topic_without_card']}"
    )
    out.figure(f"cards posted by the ticket watch after the restart per run {[r.late_cards for r in runs]}")
    out.figure(
        f"topics + cards in doubt in the database per run {[len(r.topics_in_doubt) + len(r.cards_in_doubt) for r in runs]}"
    )
    out.figure(
        f"updates in doubt per run {[r.in_doubt for r in runs]} (on the wire {[r.on_wire for r in runs]}); customers confirmed "
        f"{sum(r.confirmed for r in runs)}/{len(runs) * plan.run_complaints}, twice {sum(r.confirmed_twice for r in runs)}, "
        f"unanswered and not in doubt {sum(r.unanswered for r in runs)}"
    )
    out.check(total["topics_twice"] == 0 and total["cards_twice"] == 0, "no ticket with two topics or two cards")
    return out


# -- running it ------------------------------------------------------------------------------------------


async def main_async(plan: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    with contextlib.ExitStack() as stack:
        folder = Path(plan.logs).resolve() if plan.logs else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-crash-")))
        if "1" in plan.scenarios:
            outcomes.append(await complaints_at_once(plan, folder / "1-complaints"))
        if "2" in plan.scenarios:
            for limits in plan.kill_limits:
                outcomes.append(await kill_mid_traffic(plan, folder / f"2-kill-{limits}", limits))
        if "3" in plan.scenarios:
            outcomes.append(await kill_during_ticket_creation(plan, folder / "3-ticket-creation"))
    return outcomes


def code_version() -> str:
    """The commit, and the product's files changed in the working tree (the bot imports those)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--short", "--", "bot", "handlers", "ticketing", "scheduler", "knowledge_base", "reports")
    return git("rev-parse", "--short", "HEAD") + (f", changed: {' '.join(line.split()[-1] for line in changed.splitlines())}" if changed else ", product files clean")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="1,2,3", help="which to run (default %(default)s)")
    parser.add_argument("--complaints", type=int, default=100, help="scenario 1: customers complaining at once (default %(default)s)")
    parser.add_argument("--group-per-minute", type=float, help="scenario 1: [telegram] group_messages_per_minute (default: kefu's, 20)")
    parser.add_argument("--customers", type=int, default=150, help="scenario 2: customers, 4 messages each (default %(default)s)")
    parser.add_argument("--kill-at", type=float, default=2.5, help="scenario 2: kill after this many answers per customer (default %(default)s)")
    parser.add_argument("--kill-limits", default="default,raised", help="scenario 2: under default and/or raised limits (default %(default)s)")
    parser.add_argument("--runs", type=int, default=10, help="scenario 3: runs (default %(default)s)")
    parser.add_argument("--run-complaints", type=int, default=40, help="scenario 3: customers complaining at once per run (default %(default)s)")
    parser.add_argument("--post-wait", type=float, default=150,
                        help="scenarios 2 and 3: seconds after settling to wait for every ticket's card (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=2400, help="seconds any wait may take at most (default %(default)s)")
    parser.add_argument("--seed", type=int, default=20261217)
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, metavar="URL", help=f"admin URL (default {POSTGRES_ADMIN_URL})")
    parser.add_argument("--logs", metavar="DIR", help="keep the processes' logs in DIR")
    plan = parser.parse_args(argv)
    plan.scenarios = set(plan.scenarios.split(","))
    plan.kill_limits = plan.kill_limits.split(",")
    if plan.scenarios - {"1", "2", "3"} or set(plan.kill_limits) - {"default", "raised"}:
        parser.error("--scenarios takes 1, 2, 3; --kill-limits takes default, raised")
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it comes, also into a file
    started = time.perf_counter()
    print(f"code: {code_version()}")
    print(f"load average before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    outcomes = asyncio.run(main_async(plan))
    print("\n== summary ==")
    for outcome in outcomes:
        print(f"{outcome.name}: {'all checks passed' if not outcome.failures else f'{len(outcome.failures)} checks FAILED'}")
        for line in outcome.figures:
            print(f"  {line}")
        for failure in outcome.failures:
            print(f"  FAILED: {failure}")
    print(f"load average after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"code: {code_version()} (the product may have changed under a long run: compare with the start)")
    print(f"{time.perf_counter() - started:.0f} s in all")
    sys.exit(1 if any(outcome.failures for outcome in outcomes) else 0)


if __name__ == "__main__":
    main()
