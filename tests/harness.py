"""Talking to the real bot through the Bot API emulator, as a customer or an agent would.

Everything test modules share lives here, public and documented, or in tests/conftest.py as a
fixture: the test settings (token, secrets, the privacy key, the supervisor), the people
(`Bot.add_customer`, `Bot.add_agent`, `Person.in_topic`), the database administrator's
connection, and real ``kefu`` processes. A test module never imports another test module, nor a
private name, so each one reads on its own as a specification.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest
from telegram.ext import Application

from bot.console.auth import sign_init_data
from bot.core.config import Settings
from bot.emulator import BotAPIEmulator
from bot.telegram.updates import ChatOrderedProcessor

if TYPE_CHECKING:
    from scheduler.jobs import Schedule
    from ticketing.models import Ticket

TEST_TOKEN = "987654321:TEST-token-that-must-never-be-logged"
WEBHOOK_SECRET = "TEST-webhook-secret-never-logged"
SUPERVISOR_ID = 900_001
"""The one supervisor of the bot the fixtures start (listed in its [telegram] supervisors)."""
TEST_PRIVACY_KEY = "PYedMfiVeWyEuJa0UkCSBnjCpbOryWZh2ZIUXepp26E="
"""The key personal data is encrypted with in the tests (a `kefu run` they start gets it as
KEFU_PRIVACY__KEYS, since it shares their database)."""
POSTGRES_ADMIN_URL = os.environ.get("KEFU_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("KEFU_TEST_REQUIRE_POSTGRES") == "1"
"""Set in CI: a PostgreSQL that does not answer fails the tests instead of skipping them."""
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, which the browser tests drive (.ci/run installs it when missing)."""
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REQUIRE_CHROMIUM = os.environ.get("KEFU_TEST_REQUIRE_CHROMIUM") == "1"
"""Set in CI: without chromium the browser tests fail instead of being skipped."""
BOTH_DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The parameters of a fixture that gives a database: each test using it runs on both (the
PostgreSQL runs are marked ``postgres``: ``-m "not postgres"`` leaves them out)."""


async def postgres_admin(*statements: str) -> None:
    """Run ``statements`` as PostgreSQL's administrator (creating and dropping databases, roles)."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on (for a server to take, or for a refusal)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kefu_env(**settings: str) -> dict[str, str]:
    """The environment of a ``kefu`` the tests start: this one's, without its KEFU_* variables,
    with the tests' privacy key (the process shares their database) and ``settings`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["KEFU_PRIVACY__KEYS"] = f'["{TEST_PRIVACY_KEY}"]'
    env.update(settings)
    return env


class Replies(list[dict]):
    """The messages the bot sent into a chat while handling one update."""

    @property
    def texts(self) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self]

    @property
    def text(self) -> str:
        """The last reply's text ('' when the bot said nothing)."""
        return self.texts[-1] if self else ""

    @property
    def buttons(self) -> list[str]:
        """Labels of the inline buttons under the last reply that has any."""
        for message in reversed(self):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard")
            if rows:
                return [button["text"] for row in rows for button in row]
        return []


@dataclass
class Bot:
    """The running bot under test."""

    emulator: BotAPIEmulator
    app: Application
    processor: ChatOrderedProcessor
    settings: Settings
    group: dict
    token: str

    async def handled(self, update: dict) -> None:
        await self.processor.wait_finished(update["update_id"], timeout=10)

    @property
    def schedule(self) -> Schedule:
        """The bot's timed jobs (scheduler/jobs.py): a test runs one as its time would."""
        return self.app.bot_data.schedule

    def travel(self, moment: datetime) -> None:
        """Set the bot's clock (tickets, SLA, scheduler) to ``moment``."""
        self.app.bot_data.clock = lambda: moment

    async def albums_relayed(self) -> None:
        """Wait until the albums whose parts came are relayed (each waits for its last part, then
        [tickets] album_wait_ms, in the background: handlers/media.py)."""
        while tasks := list(self.app.bot_data.albums.values()):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)

    async def campaigns_queued(self) -> None:
        """Wait until the campaigns started have their outbox rows written (a background task)."""
        await asyncio.gather(*self.app.bot_data.queueing.values())

    def add_customer(self, user_id: int | None = None, **user: str | None) -> Person:
        """A new Telegram user (``user``: the emulator's add_user fields) in their private chat."""
        created = self.emulator.add_user(user_id, **user)
        return Person(self, created, created["id"])

    def add_agent(self, user_id: int | None = None, **user: str | None) -> Person:
        """A new member of the agent group, writing in its General topic."""
        created = self.emulator.add_user(user_id, **user)
        self.emulator.set_member(self.group["id"], created["id"], "member")
        return Person(self, created, self.group["id"])

    def add_supervisor(self, **user: str | None) -> Person:
        """The supervisor (the first of [telegram] supervisors), a member of the agent group."""
        return self.add_agent(self.settings.telegram.supervisors[0], **user)

    async def run_scheduler(self, moment: datetime | None = None) -> int:
        """What the scheduler's jobs do at ``moment``: sweep, then send until nothing more is due."""
        if moment is not None:
            self.travel(moment)
        await self.schedule.sweep()
        sent = 0
        while (batch := await self.app.bot_data.sender.tick()) > 0:
            sent += batch
        return sent


@dataclass
class Person:
    """Someone writing to the bot: a customer in their private chat, or an agent in the group."""

    bot: Bot
    user: dict
    chat_id: int
    thread_id: int | None = None
    seen: list[Replies] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.user["id"]

    def privately(self) -> Person:
        """The same person, writing to the bot in their private chat (an agent opening the bot)."""
        return Person(self.bot, self.user, self.id)

    def in_topic(self, ticket: Ticket) -> Person:
        """The same agent, writing in the ticket's topic of the agent group."""
        return Person(self.bot, self.user, self.chat_id, thread_id=ticket.topic_id)

    async def exchange(self, update: dict) -> Replies:
        """Hand the bot ``update`` (made by the emulator as this person) and collect its replies."""
        before = self.bot.emulator.seq
        await self.bot.handled(update)
        replies = Replies(self.bot.emulator.bot_messages(self.chat_id, since=before))
        self.seen.append(replies)
        return replies

    async def say(self, text: str) -> Replies:
        return await self.exchange(
            self.bot.emulator.send_text(self.id, text, chat_id=self.chat_id, message_thread_id=self.thread_id)
        )

    async def reply(self, message_id: int, text: str) -> Replies:
        """Write ``text`` as a reply to a message of this chat (how agents answer in a plain group)."""
        return await self.exchange(self.bot.emulator.send_text(
            self.id, text, chat_id=self.chat_id, message_thread_id=self.thread_id, reply_to_message_id=message_id
        ))

    async def press(self, label: str, replies: Replies | None = None) -> Replies:
        """Press the button with this label under the latest message that has it."""
        for message in reversed(replies or [m for r in self.seen for m in r]):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        update = self.bot.emulator.press_button(
                            self.id, message["message_id"], button["callback_data"], chat_id=self.chat_id
                        )
                        return await self.exchange(update)
        raise AssertionError(f"no button {label!r} in this chat")

    async def share_contact(self, phone: str) -> Replies:
        """Share one's own phone number, as the bot's "share my phone number" button does."""
        return await self.exchange(self.bot.emulator.send_contact(self.id, phone))

    async def send_photo(self, data: bytes, caption: str | None = None) -> Replies:
        return await self.exchange(
            self.bot.emulator.send_photo(self.id, data, caption=caption, chat_id=self.chat_id, message_thread_id=self.thread_id)
        )

    async def send_album(self, photos: list[bytes], captions: list[str | None] | None = None) -> Replies:
        """Send photos as one album (one update per photo, as Telegram delivers them) and wait
        until the bot relayed it; the replies in this chat."""
        before = self.bot.emulator.seq
        updates = self.bot.emulator.send_album(
            self.id, photos, captions=captions, chat_id=self.chat_id, message_thread_id=self.thread_id
        )
        for update in updates:
            await self.bot.handled(update)
        await self.bot.albums_relayed()
        replies = Replies(self.bot.emulator.bot_messages(self.chat_id, since=before))
        self.seen.append(replies)
        return replies

    async def send(self, content: dict, reply_to_message_id: int | None = None) -> Replies:
        """Send a message of any kind, its fields as the Bot API has them (``{"location": …}``)."""
        return await self.exchange(self.bot.emulator.send_content(
            self.id, content, chat_id=self.chat_id, message_thread_id=self.thread_id,
            reply_to_message_id=reply_to_message_id,
        ))

    async def edit(self, message_id: int, text: str) -> Replies:
        """Edit one's own text message (or the caption of one's photo or file)."""
        message = self.message(message_id)
        emulator = self.bot.emulator
        update = (
            emulator.edit_text(self.id, message_id, text, chat_id=self.chat_id) if "text" in message
            else emulator.edit_caption(self.id, message_id, text, chat_id=self.chat_id)
        )
        return await self.exchange(update)

    def message(self, message_id: int) -> dict:
        """A message of this chat as it is now (after edits)."""
        return next(m for m in self.bot.emulator.history(self.chat_id) if m["message_id"] == message_id)


class KefuProcess:
    """A real ``kefu run`` in a subprocess. What it logs is read as it comes (a ``--verbose`` kefu
    writes hundreds of KB: unread, the pipe would fill and stop it mid-answer) and is in ``log``
    once it has stopped."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log = ""
        self._logged: list[bytes] = []
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._logged.append(chunk)

    async def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit code (what it logged is then in ``log``)."""
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.wait(), timeout=30)
        await asyncio.wait_for(self._reading, timeout=10)
        self.log = b"".join(self._logged).decode()
        return self.process.returncode


@contextlib.asynccontextmanager
async def kefu_run(cwd: Path, env: dict[str, str], *options: str) -> AsyncIterator[KefuProcess]:
    """``kefu [options] run`` configured by ``env``; killed if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *options, "run", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    kefu = KefuProcess(process)
    try:
        yield kefu
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        kefu._reading.cancel()


# -- the console (bot/console/) -------------------------------------------------------------


@dataclass
class Page:
    """A console answer, read."""

    status: int
    headers: Mapping[str, str]
    text: str
    url: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class ConsoleClient:
    """Someone at the console: signed in by the Mini App (``token``, sent as the bearer) or by a
    login link (the cookie in ``http``'s jar); ``csrf`` goes with every change as X-CSRF-Token."""

    http: aiohttp.ClientSession
    base_url: str
    token: str | None = None
    csrf: str | None = None

    def _headers(self, csrf: bool) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        return headers

    async def get(self, path: str, params: Mapping[str, str] | None = None, **options: Any) -> Page:
        async with self.http.get(self.base_url + path, params=params, headers=self._headers(False), **options) as answer:
            return Page(answer.status, answer.headers, await answer.text(), str(answer.url))

    async def post(self, path: str, data: Mapping[str, str] | None = None, *, csrf: bool = True, **options: Any) -> Page:
        """A form posted to ``path``; ``csrf=False``: without the CSRF token."""
        async with self.http.post(self.base_url + path, data=data or {}, headers=self._headers(csrf), **options) as answer:
            return Page(answer.status, answer.headers, await answer.text(), str(answer.url))


@dataclass
class Console:
    """kefu's HTTP server with the console, for the running bot (the ``console`` fixture)."""

    bot: Bot
    url: str
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    def init_data(self, person: Person, *, token: str | None = None, auth_date: datetime | None = None) -> str:
        """The initData Telegram gives a Mini App ``person`` opens: signed with the bot's token
        (or ``token``), dated now by the bot's clock (or ``auth_date``)."""
        user = {key: value for key, value in person.user.items() if key != "is_bot"} | {"allows_write_to_pm": True}
        moment = auth_date or self.bot.app.bot_data.now()
        return sign_init_data(token or self.bot.token, user, moment, query_id="AAHdF6IQAAAAAN0XohDhrOrc", chat_type="sender")

    def client(self) -> ConsoleClient:
        """Someone not signed in, with a browser's cookie jar (a login link signs them in)."""
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for 127.0.0.1
        self.clients.append(http)
        return ConsoleClient(http, self.url)

    async def sign_in(self, init_data: str) -> Page:
        """POST /console/auth as the Mini App does."""
        return await self.client().post("/console/auth", {"initData": init_data}, csrf=False)

    async def signed_in(self, person: Person) -> ConsoleClient:
        """``person`` signed in through the Mini App with a real initData (the bearer token)."""
        client = self.client()
        answer = await client.post("/console/auth", {"initData": self.init_data(person)}, csrf=False)
        assert answer.status == 200, answer.text
        client.token, client.csrf = answer.json()["token"], answer.json()["csrf"]
        return client

    async def close(self) -> None:
        for http in self.clients:
            await http.close()

    def mini_app_url(self, init_data: str, path: str = "/console/", theme: Mapping[str, str] | None = None) -> str:
        """The address Telegram opens a Mini App at: its initData in the hash, as tgWebAppData
        (and the app's colours as tgWebAppThemeParams)."""
        launch = {"tgWebAppData": init_data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "tdesktop"}
        if theme is not None:
            launch["tgWebAppThemeParams"] = json.dumps(theme)
        return f"{self.url}{path}#{urlencode(launch)}"


def browser_errors(page: Any) -> list[str]:
    """What the browser page reports as errors from now on (a script that failed, a CSP refusal)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors
