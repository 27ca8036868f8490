"""A fleet: two real `kefu run` processes behind one load balancer, sharing one PostgreSQL database.

Telegram calls one webhook URL; a load balancer (here a small proxy) hands each call to one of
two kefu processes, taking the other when one does not answer. What is proven, as customers
and agents see it in the Bot API emulator:

* 500 customers, all at once, each asking a question and then complaining, get exactly one
  answer per message and exactly one ticket per complaint, each ticket with a topic of its own
  in the agent group, while both processes take a share of the work;
* when one process is killed (SIGKILL) in the middle of that traffic and started again under the
  same instance name, every update Telegram delivered is answered once, never twice. An update
  the process was killed *while answering* may or may not have been answered (see bot/intake/inbox.py):
  it is not answered again, the agent group is warned naming the customer's chat instead. Only
  the updates it was answering at that instant are in doubt (at most as many as one process
  handles at once); those it held but had not begun are answered once after the restart.

PostgreSQL only: SQLite is one writer, one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.config import TelegramSettings
from bot.core.i18n import text
from bot.emulator import BotAPIEmulator
from bot.intake.models import InboxUpdate
from tests.harness import TEST_TOKEN, WEBHOOK_SECRET, free_port, kefu_env
from ticketing.models import Agent, Ticket, TicketEvent

WEBHOOK_PATH = "/telegram/webhook"
QUESTIONS = {
    "en": ("how long does shipping take", "hello"),
    "zh-CN": ("运费怎么算", "你好"),
}
COMPLAINTS = {  # `kefu kb match --json`: action complaint, band high
    "en": "I want to make a complaint, the item is damaged",
    "zh-CN": "快递一周了还没到，我要投诉",
}
ON_THE_WIRE_AT_MOST = TelegramSettings().connections
"""Requests one process has on the wire at most: only so many updates can be in doubt when it dies."""
TOPICS_IN_DOUBT_AT_MOST = 2 * ON_THE_WIRE_AT_MOST
"""Tickets whose topic (or card) may have been made when the process died: a request on the wire
then (one per connection at most), or one whose answer had come but was not saved yet (its
connection already serving the next request). The second kind is few, a save takes milliseconds,
but the connections do not bound it: on a loaded machine 9 were seen with 8 connections."""
ANSWER_WITHIN = 60.0
"""Seconds a customer waits for the answer to one message before the test calls it unanswered."""


def _unknown_warnings() -> list[re.Pattern[str]]:
    """The agent group's warning about updates a dying process was answering, in each agent language."""
    patterns = []
    for language in ("zh-Hans", "zh-Hant", "en"):
        template = re.escape(text(language, "agent_inbox_unknown", count="COUNT", chats="CHATS"))
        patterns.append(re.compile(template.replace("COUNT", r"\d+").replace("CHATS", r"(?P<chats>[-\d, ]+)")))
    return patterns


UNKNOWN_WARNINGS = _unknown_warnings()


def warned_chats(message_text: str) -> list[int]:
    """The chats a warning about unknown answers names ([] for any other message)."""
    for pattern in UNKNOWN_WARNINGS:
        if (match := pattern.fullmatch(message_text)) is not None:
            return [int(chat) for chat in match["chats"].split(",") if chat.strip()]
    return []


# -- the load balancer -------------------------------------------------------------------------


class LoadBalancer:
    """Round robin over the backends; a backend that refuses the connection, drops it or answers
    5xx is skipped for the next one, and 502 when none answers (Telegram then sends it again)."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.answered: Counter[str] = Counter()  # backend → webhook calls it answered 2xx
        self._turn = itertools.cycle(range(len(backends)))
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(WEBHOOK_PATH, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{WEBHOOK_PATH}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")
                   if name in request.headers}
        first = next(self._turn)
        for backend in self.backends[first:] + self.backends[:first]:
            try:
                async with self._session.post(backend + WEBHOOK_PATH, data=body, headers=headers) as answer:
                    payload = await answer.read()
                    if answer.status >= 500:
                        continue
                    if answer.status < 300:
                        self.answered[backend] += 1
                    return web.Response(status=answer.status, body=payload)
            except (aiohttp.ClientError, TimeoutError, OSError):
                continue
        return web.Response(status=502, text="no backend answered")


# -- kefu processes ----------------------------------------------------------------------------


@dataclass
class Kefu:
    """One `kefu run` process, configured by KEFU_* variables only."""

    instance: str
    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.cwd / f"{self.instance}.log"

    async def start(self) -> None:
        self.starts += 1
        env = {**self.env, "KEFU_TELEGRAM__INSTANCE": self.instance, "KEFU_API__LISTEN": f"127.0.0.1:{self.port}"}
        with self.log.open("a") as log:
            log.write(f"\n==== start {self.starts} of {self.instance} ====\n")
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=env, cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )

    async def ready(self, timeout: float = 60.0) -> None:
        """Until /readyz answers 200; fails with the log's end if the process exits first."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    pytest.fail(f"{self.instance} exited with {self.process.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with http.get(f"{self.url}/readyz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.1)
        pytest.fail(f"{self.instance} not ready within {timeout:.0f} s:\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@dataclass
class Fleet:
    emulator: BotAPIEmulator
    group: dict
    balancer: LoadBalancer
    kefus: dict[str, Kefu]

    def logs(self) -> str:
        return "\n".join(f"---- {name} ----\n{kefu.tail()}" for name, kefu in self.kefus.items())

    async def webhook_set_by(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` setWebhook calls in all: a process calls it once it takes updates."""
        deadline = time.monotonic() + timeout
        while self.emulator.count("setWebhook") < count:
            if time.monotonic() > deadline:
                calls = self.emulator.count("setWebhook")
                pytest.fail(f"only {calls} setWebhook calls, {count} expected:\n{self.logs()}")
            await asyncio.sleep(0.05)
        assert self.emulator.webhook["url"] == self.balancer.url


@contextlib.asynccontextmanager
async def running_fleet(emulator: BotAPIEmulator, database: str, tmp_path: Path, **settings: str) -> AsyncIterator[Fleet]:
    """``settings``: more KEFU_* variables for both processes."""
    group = emulator.add_group(title="Agents", is_forum=True)
    env = kefu_env(**{
        "KEFU_TELEGRAM__TOKEN": TEST_TOKEN,
        "KEFU_TELEGRAM__BASE_URL": emulator.base_url,
        "KEFU_TELEGRAM__AGENT_CHAT_ID": str(group["id"]),
        "KEFU_TELEGRAM__MODE": "webhook",
        "KEFU_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET,
        # The emulator enforces no flood limits, and these customers type faster than people.
        "KEFU_TELEGRAM__MESSAGES_PER_SECOND": "10000",
        "KEFU_TELEGRAM__GROUP_MESSAGES_PER_MINUTE": "100000",
        "KEFU_TELEGRAM__CHAT_MESSAGES_PER_SECOND": "10000",
        "KEFU_TELEGRAM__FLOOD_MESSAGES": "10000",
        "KEFU_DATABASE__URL": database,
        "KEFU_SCHEDULER__ENABLED": "false",
        "KEFU_KNOWLEDGE_BASE__LEARNED_FILE": str(tmp_path / "kb-learned.yaml"),
        **settings,
    })
    kefus = {name: Kefu(name, env, tmp_path) for name in ("kefu-a", "kefu-b")}
    balancer = LoadBalancer([kefu.url for kefu in kefus.values()])
    await balancer.start()
    for kefu in kefus.values():
        kefu.env["KEFU_TELEGRAM__WEBHOOK_URL"] = balancer.url
    fleet = Fleet(emulator, group, balancer, kefus)
    try:
        for kefu in kefus.values():
            await kefu.start()
        for kefu in kefus.values():
            await kefu.ready()
        await fleet.webhook_set_by(2)
        yield fleet
    finally:
        await asyncio.gather(*(kefu.stop() for kefu in kefus.values()))
        await balancer.stop()


# -- customers ---------------------------------------------------------------------------------


class Watch:
    """What people see as it happens: the bot's messages in each chat, and the agent group's
    warnings naming a chat whose answer is of unknown fate."""

    def __init__(self, emulator: BotAPIEmulator, group_id: int) -> None:
        self.group_id = group_id
        self.replies: dict[int, list[dict]] = defaultdict(list)  # chat → the bot's messages in it
        self.warnings: dict[int, list[int]] = defaultdict(list)  # chat → seq of the warnings naming it
        self.customer_replies = 0
        self._wake: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        emulator.subscribe(self._seen)

    def _seen(self, kind: str, message: dict) -> None:
        if kind != "message":
            return
        chat = message["chat"]["id"]
        if chat == self.group_id:
            for named in warned_chats(message.get("text") or ""):
                self.warnings[named].append(message["_seq"])
                self._wake[named].set()
            return
        self.replies[chat].append(message)
        self.customer_replies += 1
        self._wake[chat].set()

    def warned(self, chat: int) -> bool:
        return bool(self.warnings.get(chat))

    async def answer(self, chat: int, since: int, timeout: float) -> bool:
        """Until the bot wrote into ``chat`` after ``since`` (an emulator seq), or the agent group
        was warned about it since; False after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        wake = self._wake[chat]
        while True:
            wake.clear()
            if any(m["_seq"] > since for m in self.replies.get(chat, ())) or any(
                seq > since for seq in self.warnings.get(chat, ())
            ):
                return True
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)


@dataclass
class Customer:
    """Asks a question (or says hello), waits for the answer, then complains."""

    user: dict
    language: str
    question: str
    complaint: str
    updates: list[int] = field(default_factory=list)  # update ids of what they sent
    sent_at: list[int] = field(default_factory=list)  # emulator seq when each was sent

    @property
    def chat(self) -> int:
        return self.user["id"]

    async def converse(self, emulator: BotAPIEmulator, watch: Watch) -> None:
        for said in (self.question, self.complaint):
            self.sent_at.append(emulator.seq)
            self.updates.append(emulator.send_text(self.chat, said)["update_id"])
            await watch.answer(self.chat, self.sent_at[-1], ANSWER_WITHIN)

    def answers(self, watch: Watch) -> list[list[dict]]:
        """The bot's messages after each of this customer's messages, before their next one."""
        bounds = [*self.sent_at, sys.maxsize]
        return [[m for m in watch.replies.get(self.chat, []) if bounds[n] < m["_seq"] <= bounds[n + 1]]
                for n in range(len(self.sent_at))]


def make_customers(emulator: BotAPIEmulator, count: int) -> list[Customer]:
    customers = []
    for n in range(count):
        language = "zh-CN" if n % 2 else "en"
        user = emulator.add_user(first_name=f"Customer{n}", language_code=language)
        customers.append(Customer(user, language, QUESTIONS[language][(n // 2) % 2], COMPLAINTS[language]))
    return customers


async def all_settled(fleet: Fleet, timeout: float = 60.0) -> None:
    """Until Telegram has nothing left to deliver and the inbox nothing left to handle."""
    deadline = time.monotonic() + timeout
    while True:
        pending = fleet.emulator.stats["updates_pending"]
        open_rows = await InboxUpdate.filter(status__in=("new", "processing")).count()
        if pending == 0 and open_rows == 0:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"{pending} updates undelivered, {open_rows} unhandled after {timeout:.0f} s:\n{fleet.logs()}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a straggler answering twice would show by now


def skip_unless_postgres(database: str) -> None:
    if not database.startswith("postgres"):
        pytest.skip("SQLite is single-writer: one process per database file")


def topic_of_each_ticket(fleet: Fleet, tickets: list[Ticket], *, crashed: bool = False) -> None:
    """One topic per ticket, never two; after a crash a ticket whose topic was being made as the
    process died (the request on the wire) has none of its own: its card is in the group."""
    topics = fleet.emulator.topics.get(fleet.group["id"], {})
    names = [str(topic.get("name", "")) for topic in topics.values()]
    # The customer was answered, then the process died before it posted the ticket: the watch
    # posts it within two minutes (tests/test_tickets_desk.py); nothing of it is in the group yet.
    unposted = [ticket for ticket in tickets if ticket.topic_requested_at is None and ticket.card_requested_at is None]
    assert all(not any(name.startswith(f"#{ticket.id} ") for name in names) for ticket in unposted)
    assert not unposted or crashed
    tickets = [ticket for ticket in tickets if ticket not in unposted]
    in_doubt = [ticket for ticket in tickets if ticket.topic_id is None]
    assert all(ticket.topic_requested_at is not None for ticket in in_doubt)
    # The topic was made, then the process died before it asked for the card: the watch posts the
    # card (tests/test_tickets_desk.py), as for a ticket never posted at all.
    cards_unasked = [ticket for ticket in tickets if ticket.card_message_id is None and ticket.card_requested_at is None]
    assert not cards_unasked or crashed
    cards_in_doubt = [ticket for ticket in tickets if ticket.card_message_id is None and ticket not in cards_unasked]
    assert len(in_doubt) + len(cards_in_doubt) <= (TOPICS_IN_DOUBT_AT_MOST if crashed else 0)
    assert all(ticket.topic_id in topics for ticket in tickets if ticket.topic_id is not None)
    assert len({ticket.topic_id for ticket in tickets if ticket.topic_id is not None}) == len(tickets) - len(in_doubt)
    for ticket in tickets:
        assert sum(name.startswith(f"#{ticket.id} ") for name in names) <= 1  # never a second topic


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_two_processes_behind_one_load_balancer_answer_500_customers_once_each(
    database: str, emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    skip_unless_postgres(database)
    async with running_fleet(emulator, database, tmp_path) as fleet:
        watch = Watch(emulator, fleet.group["id"])
        customers = make_customers(emulator, 500)
        await asyncio.gather(*(customer.converse(emulator, watch) for customer in customers))
        await all_settled(fleet)

        for customer in customers:
            first, second = customer.answers(watch)
            assert len(first) == 1 and len(second) == 1, (customer.chat, first, second, fleet.logs())
        tickets = await Ticket.all().prefetch_related("customer")
        assert len(tickets) == len(customers)
        by_customer = {ticket.customer.telegram_id: ticket for ticket in tickets}
        assert set(by_customer) == {customer.chat for customer in customers}  # one ticket each
        for customer in customers:
            ticket = by_customer[customer.chat]
            assert ticket.is_complaint
            assert f"#{ticket.id}" in customer.answers(watch)[1][0]["text"]  # their answer names their ticket
        topic_of_each_ticket(fleet, tickets)
        assert watch.warnings == {}
        assert await InboxUpdate.filter(status="done").count() == 2 * len(customers)
        shares = [fleet.balancer.answered[kefu.url] for kefu in fleet.kefus.values()]
        assert sum(shares) >= 2 * len(customers) and min(shares) >= len(customers) // 2, shares


@pytest.mark.slow
async def test_a_process_killed_mid_traffic_and_restarted_answers_nothing_twice(
    database: str, emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    skip_unless_postgres(database)
    async with running_fleet(emulator, database, tmp_path) as fleet:
        watch = Watch(emulator, fleet.group["id"])
        customers = make_customers(emulator, 200)
        victim = fleet.kefus["kefu-a"]
        at_death: dict[int, bool] = {}  # update id → whether a reply of kefu-a's to it was on the wire

        async def crash_mid_traffic() -> None:
            while watch.customer_replies < len(customers) * 5 // 4:  # questions answered, complaints coming in
                await asyncio.sleep(0.01)
            await victim.kill()
            await asyncio.sleep(0.3)  # a statement it sent just before is committed by now
            held = InboxUpdate.filter(status="processing", claimed_by=victim.instance)
            at_death.update(await held.values_list("update_id", "on_wire"))
            await victim.start()  # same instance name: it takes over what it held
            await victim.ready()
            await fleet.webhook_set_by(3)  # it takes updates again, having reported what it could not

        await asyncio.gather(crash_mid_traffic(), *(customer.converse(emulator, watch) for customer in customers))
        await all_settled(fleet)

        statuses = dict(await InboxUpdate.all().values_list("update_id", "status"))
        sent = [update for customer in customers for update in customer.updates]
        assert {statuses[update] for update in sent} <= {"done", "unknown"}  # all delivered, all handled
        in_doubt = {update for update, status in statuses.items() if status == "unknown"}
        assert at_death, "kefu-a was killed holding nothing: not mid-traffic"
        on_the_wire = {update for update, on_wire in at_death.items() if on_wire}
        assert in_doubt == on_the_wire  # exactly those whose reply was on the wire when killed; the others were taken over
        assert len(in_doubt) <= ON_THE_WIRE_AT_MOST, f"{len(in_doubt)} of {len(sent)} answers of unknown fate"
        chat_of = dict(await InboxUpdate.filter(update_id__in=list(in_doubt)).values_list("update_id", "chat_id"))
        assert set(watch.warnings) == set(chat_of.values())  # the agents were told every such chat

        tickets = await Ticket.all().prefetch_related("customer")
        ticket_of = {ticket.customer.telegram_id: ticket for ticket in tickets}
        assert len(ticket_of) == len(tickets)  # never two tickets for one complaint
        for customer in customers:
            for update, answers in zip(customer.updates, customer.answers(watch), strict=True):
                assert len(answers) <= 1, (customer.chat, answers)  # never answered twice
                if statuses[update] == "done":
                    assert len(answers) == 1, (customer.chat, update, fleet.logs())  # handled: answered once
                else:
                    assert watch.warned(customer.chat)  # in doubt: the agents know whom to ask
            if statuses[customer.updates[1]] == "done":  # the complaint: a ticket, and they were told its number
                assert f"#{ticket_of[customer.chat].id}" in customer.answers(watch)[1][0]["text"]
        topic_of_each_ticket(fleet, tickets, crashed=True)
        shares = [fleet.balancer.answered[kefu.url] for kefu in fleet.kefus.values()]
        assert min(shares) > 0, shares


@pytest.mark.slow
async def test_two_processes_assign_each_of_200_new_tickets_exactly_once(
    database: str, emulator: BotAPIEmulator, tmp_path: Path
) -> None:
    """Four agents online around the clock (their own hours), at most 40 open tickets each: of 200
    complaints handled by two processes at once, 160 are given, each once, 40 each; 40 wait."""
    skip_unless_postgres(database)
    names = [f"fleet_agent{n}" for n in range(4)]
    for n, name in enumerate(names):
        await Agent.create(telegram_id=800_000 + n, name=name, username=name, last_seen=datetime.now(UTC))
    desk = {
        "KEFU_DESK__ASSIGNMENT": "least_loaded", "KEFU_DESK__MAX_OPEN": "40", "KEFU_DESK__IDLE_MINUTES": "1440",
        "KEFU_DESK__HOURS": json.dumps({f"@{name}": "mon-sun 00:00-23:59" for name in names}),
        "KEFU_TICKETS__HOLIDAYS": "",
    }
    async with running_fleet(emulator, database, tmp_path, **desk) as fleet:
        watch = Watch(emulator, fleet.group["id"])
        customers = make_customers(emulator, 200)
        await asyncio.gather(*(customer.converse(emulator, watch) for customer in customers))
        await all_settled(fleet)
        tickets = await Ticket.all()
        assert len(tickets) == 200
        holders = Counter(ticket.assignee_id for ticket in tickets if ticket.assignee_id is not None)
        assert sorted(holders.values()) == [40, 40, 40, 40], (holders, fleet.logs())
        given = Counter(await TicketEvent.filter(kind="assigned").values_list("ticket_id", flat=True))
        assert len(given) == 160 and set(given.values()) == {1}  # each given once, by one process
        shares = [fleet.balancer.answered[kefu.url] for kefu in fleet.kefus.values()]
        assert min(shares) > 0, shares  # both processes took part
