"""`kefu sandbox`: the whole bot in a terminal, no Telegram token needed.

It starts the local Bot API emulator, runs the real bot against it on a throw-away SQLite
database, and lets you chat as a customer (a private chat) or, after ``:agent``, as an agent in
the agent group (a forum supergroup with one topic per ticket). Every message the bot sends
anywhere is printed, so you see ticket topics appear as customers complain.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from bot.app import build_application
from bot.console.auth import login_url, mint_link, staff_language
from bot.context import KefuApp
from bot.core.config import Settings
from bot.emulator import BotAPIEmulator
from bot.http import serving_http
from bot.privacy import install_throwaway_key
from bot.runtime import open_database, running_bot
from bot.telegram.updates import ChatOrderedProcessor
from orders.importer import load_samples
from reports.sample import load_sample_history
from scheduler.models import OutboxMessage
from ticketing.service import record_agent

SANDBOX_TOKEN = "123456789:SANDBOX-token-for-the-local-emulator"
# A 1×1 PNG, for `:photo`.
SAMPLE_PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000157a5d1e20000000049454e44ae426082"
)

PROMPT = "you › "
HELP = """\
You are {who}. Type a message and press Enter.
Sandbox commands (the bot never sees these):
  :customer [N]     be customer N (default 1) in their private chat with the bot
  :agent            be the agent in the agent group (General)
  :topic [N]        as the agent, write in ticket topic N (default: the newest; topics are printed as they appear)
  :press N          press button N of the last message with buttons in your chat
  :contact          share your own phone number (as a customer)
  :photo [caption]  send a small photo
  :later 10m|2h|7d  move the bot's clock forward and send what fell due (surveys, revisits, SLA)
  :console          a new sign-in link to the web console, as the agent (each link signs in once)
  :help             this text
  :quit             leave (Ctrl-D does too)"""


@dataclass
class Persona:
    user: dict
    chat_id: int
    thread_id: int | None = None
    label: str = ""


@dataclass
class Sandbox:
    emulator: BotAPIEmulator
    processor: ChatOrderedProcessor
    out: TextIO
    group: dict
    agent: dict
    language_code: str = "en"
    customers: list[dict] = field(default_factory=list)
    me: Persona | None = None
    buttons: dict[int, tuple[int, list[str]]] = field(default_factory=dict)  # chat → (message_id, data)
    app: KefuApp | None = None
    ahead: timedelta = timedelta(0)  # how far :later moved the bot's clock
    api: str = ""  # the HTTP server's address (the console is under /console/)

    # what the bot does, printed as it happens
    def on_bot_action(self, kind: str, payload: dict) -> None:
        if kind in ("message", "edit"):
            self._show(payload, edited=kind == "edit")
        elif kind == "topic":
            self._print(f"   · topic {payload.get('message_thread_id')} “{payload.get('name')}” {payload.get('event', '')}")
        elif kind == "callback_answer" and payload.get("text"):
            self._print(f"   · (popup) {payload['text']}")

    def _show(self, message: dict, *, edited: bool) -> None:
        chat = message["chat"]
        where = self._where(chat, message.get("message_thread_id"))
        media = _media_kind(message) if "text" not in message else ""
        body = " ".join(p for p in (media, message.get("text") or message.get("caption") or "") if p)
        if message.get("photo") and not edited:  # e.g. the /report chart: saved, so that you can look at it
            path = Path(tempfile.gettempdir()) / "kefu-sandbox" / f"photo-{chat['id']}-{message['message_id']}.png"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(self.emulator.file_bytes(message["photo"][-1]["file_id"]))
            body += f" saved to {path}"
        self._print(f"🤖 → {where}{' (edited)' if edited else ''}:\n" + _indent(body))
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        labels, data = [], []
        for row in rows:
            for button in row:
                data.append(button.get("callback_data") or "")
                label = button["text"] + (f" ({button['url']})" if button.get("url") else "")
                labels.append(f"[{len(data)}] {label}")
        if labels:
            self.buttons[chat["id"]] = (message["message_id"], data)
            self._print("   " + "  ".join(labels) + "   ← :press N")
        keyboard = (message.get("_reply_markup") or {}).get("keyboard") or []
        keys = [k["text"] + ("   ← :contact" if k.get("request_contact") else "") for row in keyboard for k in row]
        if keys:
            self._print("   ⌨ " + "  ".join(f"[{k}]" for k in keys))

    def _where(self, chat: dict, thread_id: int | None) -> str:
        if chat["id"] == self.group["id"]:
            return f"agent group, topic {thread_id}" if thread_id else "agent group"
        name = " ".join(p for p in (chat.get("first_name"), chat.get("last_name")) if p)
        return f"{name} (private chat)"

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    # what you do
    async def handle(self, line: str) -> bool:
        """Act on one input line; False means leave."""
        line = line.strip()
        if not line:
            return True
        try:
            if line.startswith(":"):
                return await self._command(line[1:])
            assert self.me is not None
            update = self.emulator.send_text(
                self.me.user["id"], line, chat_id=self.me.chat_id, message_thread_id=self.me.thread_id
            )
        except ValueError as error:  # the emulator refuses what a Telegram client could not do
            self._print(f"— {error}")
            return True
        await self._settle(update)
        return True

    async def _command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("quit", "q", "exit"):
            return False
        if name == "help":
            self._print(HELP.format(who=self.me.label if self.me else "nobody"))
        elif name == "customer":
            self.be_customer(int(arg) if arg.isdigit() else 1)
        elif name == "agent":
            self.me = Persona(self.agent, self.group["id"], None, "the agent Li Lei in the agent group (General)")
            self._print(f"— you are now {self.me.label}")
        elif name == "topic":
            topics = self.emulator.topics.get(self.group["id"], {})
            number = int(arg) if arg.isdigit() else max(topics, default=None)
            if number not in topics:
                self._print("— no such topic yet: a ticket's topic appears when a customer asks for a person")
            else:
                self.me = Persona(self.agent, self.group["id"], number, f"the agent Li Lei in topic {number} “{topics[number]['name']}”")
                self._print(f"— you are now {self.me.label}")
        elif name == "press" and arg.isdigit():
            await self._press(int(arg))
        elif name == "contact" and self.me and self.me.user in self.customers:
            number = self.customers.index(self.me.user) + 1  # the sample orders are customer 1's and 2's
            await self._settle(self.emulator.send_contact(self.me.user["id"], f"+861380000{number:04d}"))
        elif name == "later" and (step := _duration(arg)) is not None and self.app is not None:
            await self._later(step)
        elif name == "console" and self.app is not None:
            self._print(f"— the web console, signed in as the agent Li Lei: {await self.console_link()}")
        elif name == "photo" and self.me:
            update = self.emulator.send_photo(
                self.me.user["id"], SAMPLE_PHOTO, caption=arg or None,
                chat_id=self.me.chat_id, message_thread_id=self.me.thread_id,
            )
            await self._settle(update)
        else:
            self._print("— unknown sandbox command; :help lists them")
        return True

    async def console_link(self) -> str:
        """A one-time login link to the console for the sandbox's agent (a supervisor too)."""
        assert self.app is not None
        settings = self.app.bot_data.settings
        name = f"{self.agent['first_name']} {self.agent['last_name']}"
        agent = await record_agent(self.agent["id"], name, self.agent.get("username"), supervisor=True)
        language = staff_language(self.agent.get("language_code"), settings.telegram.agent_language)
        token = await mint_link(agent.id, language, self.app.bot_data.now(), settings.console.link_minutes)
        return login_url(self.api, token)

    async def _later(self, step: timedelta) -> None:
        """Time travel for trying the scheduler: everything that reads the bot's clock moves on."""
        self.ahead += step
        ahead = self.ahead
        self.app.bot_data.clock = lambda: datetime.now(UTC) + ahead
        self._print(f"— the bot's clock is now {datetime.now(UTC) + ahead:%Y-%m-%d %H:%M} UTC")
        schedule = self.app.bot_data.schedule  # what fell due: the scheduler's jobs, run now
        await schedule.check_sla()
        await schedule.check_life_cycle()
        await schedule.sweep()
        while await self.app.bot_data.sender.tick():
            pass
        now = datetime.now(UTC) + ahead
        waiting = await OutboxMessage.filter(status="queued", not_before__gt=now).count()
        if waiting:
            quiet = self.app.bot_data.settings.scheduler.quiet_hours
            self._print(f"— {waiting} message(s) wait for the end of quiet hours ({quiet}) or a retry; :later moves on")
        await asyncio.sleep(0.1)

    async def _press(self, number: int) -> None:
        assert self.me is not None
        message_id, data = self.buttons.get(self.me.chat_id, (0, []))
        if not 1 <= number <= len(data) or not data[number - 1]:
            self._print("— no such button here (link buttons open in a browser)")
            return
        update = self.emulator.press_button(self.me.user["id"], message_id, data[number - 1], chat_id=self.me.chat_id)
        await self._settle(update)

    async def _settle(self, update: dict) -> None:
        """Wait until the bot has handled the update, then a moment for follow-ups to print."""
        with contextlib.suppress(TimeoutError):
            await self.processor.wait_finished(update["update_id"], timeout=15)
        await asyncio.sleep(0.05)

    def be_customer(self, number: int) -> None:
        while len(self.customers) < number:
            n = len(self.customers) + 1
            first, last = _NAMES[(n - 1) % len(_NAMES)]
            self.customers.append(self.emulator.add_user(first_name=first, last_name=last, language_code=self.language_code))
        user = self.customers[number - 1]
        self.me = Persona(user, user["id"], None, f"customer {number}, {user['first_name']} {user['last_name']}, in a private chat with the bot")
        self._print(f"— you are now {self.me.label}")


def _duration(value: str) -> timedelta | None:
    """"10m", "2h", "7d" → a timedelta (None if it is not one)."""
    unit = {"m": "minutes", "h": "hours", "d": "days"}.get(value[-1:])
    return timedelta(**{unit: int(value[:-1])}) if unit and value[:-1].isdigit() else None


_NAMES = [("Fang", "Wang"), ("Wei", "Zhang"), ("Emma", "Smith"), ("Mei", "Chen")]


def _media_kind(message: dict) -> str:
    for kind in ("photo", "document", "voice", "video", "sticker", "contact", "location"):
        if kind in message:
            return f"[{kind}]"
    return ""


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines() or [""])


async def _lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """stdin, read in a thread so the bot keeps running while you type; None at end of input."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, daemon=True, name="sandbox-stdin").start()
    return queue


async def run_sandbox(
    settings: Settings,
    *,
    database_url: str | None = None,
    language_code: str = "en",
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    install_throwaway_key(settings)  # the temporary database's personal data dies with the process
    emulator = BotAPIEmulator(bot_username="kefu_sandbox_bot", bot_first_name="Kefu")
    await emulator.start("127.0.0.1", 0)
    agent = emulator.add_user(first_name="Lei", last_name="Li", username="agent_li", language_code="zh-CN")
    group = emulator.add_group(title="kefu agents", is_forum=True)
    emulator.set_member(group["id"], agent["id"], "administrator")
    with tempfile.TemporaryDirectory(prefix="kefu-sandbox-") as tmp:
        url = database_url or f"sqlite://{Path(tmp) / 'kefu.db'}"
        sandbox_settings = settings.model_copy(
            update={
                "telegram": settings.telegram.model_copy(
                    update={
                        "token": SecretStr(SANDBOX_TOKEN),
                        "base_url": emulator.base_url,
                        "base_file_url": emulator.base_file_url,
                        "agent_chat_id": group["id"],
                        "supervisors": [agent["id"]],
                        "poll_timeout": 10,
                    }
                ),
                "database": settings.database.model_copy(update={"url": url}),
            }
        )
        processor = ChatOrderedProcessor()
        sandbox = Sandbox(emulator, processor, out, group, agent, language_code=language_code)
        emulator.subscribe(sandbox.on_bot_action)
        app = sandbox.app = build_application(sandbox_settings, processor)
        try:
            async with (
                open_database(sandbox_settings),
                serving_http(sandbox_settings, "127.0.0.1:0", app=app) as api,
                running_bot(app, sandbox_settings),
            ):
                await load_samples()
                await load_sample_history()
                print("kefu sandbox — the bot runs against a local Bot API emulator; nothing leaves this machine.", file=out)
                print(f"Sample orders: customer 1 has two, customer 2 one (:contact verifies you); 12 weeks of sample service history for /report. HTTP API: {api}", file=out)
                sandbox.api = api
                minutes = sandbox_settings.console.link_minutes
                print(f"Web console, signed in as the agent Li Lei (one use, {minutes} minutes; :console for another): {await sandbox.console_link()}", file=out)
                sandbox.be_customer(1)
                print(HELP.format(who=sandbox.me.label), file=out, flush=True)
                lines = await _lines(stdin)
                interactive = stdin.isatty()
                while True:
                    if interactive:
                        print(PROMPT, end="", file=out, flush=True)
                    line = await lines.get()
                    if line is None:
                        break
                    if not interactive and line.strip():
                        print(f"{PROMPT}{line.rstrip()}", file=out)  # echo piped input, so the transcript reads right
                    if not await sandbox.handle(line):
                        break
                await asyncio.sleep(0.2)
        finally:
            await emulator.stop()
    print("bye", file=out)
    return 0
