"""Talking to the real bot through the Bot API emulator, as a customer or an agent would."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.ext import Application

from bot.core.config import Settings
from bot.emulator import BotAPIEmulator
from bot.telegram.updates import ChatOrderedProcessor

if TYPE_CHECKING:
    from scheduler.jobs import Schedule


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

    async def campaigns_queued(self) -> None:
        """Wait until the campaigns started have their outbox rows written (a background task)."""
        await asyncio.gather(*self.app.bot_data.queueing.values())

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

    async def _exchange(self, update: dict) -> Replies:
        before = self.bot.emulator.seq
        await self.bot.handled(update)
        replies = Replies(self.bot.emulator.bot_messages(self.chat_id, since=before))
        self.seen.append(replies)
        return replies

    async def say(self, text: str) -> Replies:
        return await self._exchange(
            self.bot.emulator.send_text(self.id, text, chat_id=self.chat_id, message_thread_id=self.thread_id)
        )

    async def reply(self, message_id: int, text: str) -> Replies:
        """Write ``text`` as a reply to a message of this chat (how agents answer in a plain group)."""
        return await self._exchange(self.bot.emulator.send_text(
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
                        return await self._exchange(update)
        raise AssertionError(f"no button {label!r} in this chat")

    async def send_photo(self, data: bytes, caption: str | None = None) -> Replies:
        return await self._exchange(
            self.bot.emulator.send_photo(self.id, data, caption=caption, chat_id=self.chat_id, message_thread_id=self.thread_id)
        )

    def message(self, message_id: int) -> dict:
        """A message of this chat as it is now (after edits)."""
        return next(m for m in self.bot.emulator.history(self.chat_id) if m["message_id"] == message_id)


@dataclass
class KefuProcess:
    """A real ``kefu run`` in a subprocess."""

    process: asyncio.subprocess.Process
    log: str = ""

    async def stop(self) -> int | None:
        """SIGTERM, as systemd stops it; the exit code (what it logged is then in ``log``)."""
        self.process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(self.process.communicate(), timeout=30)
        self.log = stderr.decode()
        return self.process.returncode


@contextlib.asynccontextmanager
async def kefu_run(cwd: Path, env: dict[str, str], *options: str) -> AsyncIterator[KefuProcess]:
    """``kefu [options] run`` configured by ``env``; killed if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *options, "run", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield KefuProcess(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

