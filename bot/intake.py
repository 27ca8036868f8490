"""How updates come in: by long polling or by webhook, always through the inbox (bot/inbox.py).

Either way an update is stored before Telegram is told it arrived, then claimed and put on
python-telegram-bot's update queue. Just before its handlers run, the conversation memory of
its user and chat is loaded (bot/conversation.py); after, the memory is saved, the update is
marked done and the chat's next update is claimed. A process that starts takes over what it
held when it died; every second it also takes updates another process left behind. A process
that stops (SIGTERM) takes no more, finishes what it holds within ``shutdown_seconds``, and
gives back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut
from telegram.ext import Application

from bot import conversation, inbox
from bot.config import Settings
from bot.i18n import text
from bot.telegram_http import UpdatesRequest
from bot.updates import ChatOrderedProcessor

log = logging.getLogger(__name__)

STALE_PROCESSING = timedelta(minutes=2)
"""An update still ``processing`` after this long belongs to a process that died."""
LOOK_AGAIN = timedelta(seconds=1)
READ_ONLY_CALLS = ("get", "answerCallbackQuery", "logOut", "close")
UNKNOWN_PER_NOTICE = 100


@dataclass
class _Handling:
    update_id: int
    customer_chat: int | None = None
    """The private chat of a customer's update (None for an update from the agent group)."""
    replying: bool = False


_handling: contextvars.ContextVar[_Handling | None] = contextvars.ContextVar("kefu_handling", default=None)


async def before_request(endpoint: str, data: Mapping[str, Any] | None = None) -> None:
    """Called before every Bot API request: the first one with an effect, while an update is
    handled, marks it ``replying`` (see bot/inbox.py).

    For a customer's update only requests into the customer's own chat count: what it posts in
    the agent group on the way (the ticket's topic and card, the message copied into the topic)
    is made again, once, if the update is handled again after a crash, and the customer is then
    answered instead of left in doubt.
    """
    current = _handling.get()
    if current is None or current.replying or endpoint.startswith(READ_ONLY_CALLS):
        return
    chat = (data or {}).get("chat_id")
    if current.customer_chat is not None and chat is not None and str(chat) != str(current.customer_chat):
        return
    current.replying = True
    await inbox.mark_replying(current.update_id)


def instance_name(settings: Settings) -> str:
    """Stable across restarts of one service (its host and port), so that a restarted process
    takes over the updates it held when it died."""
    if settings.telegram.instance:
        return settings.telegram.instance
    port = settings.api.listen.rpartition(":")[2]
    return f"{socket.gethostname()}:{port if port not in ('', '0') else f'pid{os.getpid()}'}"[:64]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Intake:
    def __init__(
        self, app: Application, processor: ChatOrderedProcessor, settings: Settings, updates_request: UpdatesRequest | None = None
    ) -> None:
        self.app = app
        self.updates_request = updates_request
        self.processor = processor
        self.settings = settings
        self.name = instance_name(settings)
        self.accepting = False
        self._held: dict[int, int | None] = {}  # update id → chat id: claimed here, not finished
        self._memory: dict[int, tuple[str, str]] = {}  # update id → memory as loaded
        self._tasks: list[asyncio.Task[None]] = []
        self._emptied = asyncio.Event()
        processor.before, processor.after = self._before, self._after

    # -- taking updates in ---------------------------------------------------------------------

    async def receive(self, payloads: Sequence[Mapping[str, Any]], updates: Sequence[Update] = ()) -> None:
        """Store updates (after this they may be acknowledged), then take what may be handled:
        ``updates`` are the same ones already parsed (long polling), which spares parsing them again."""
        await inbox.store(payloads, _utcnow())
        if not self.accepting:
            return
        parsed = {update.update_id: update for update in updates}
        received = {payload["update_id"]: payload for payload in payloads}
        for claimed in await inbox.claim(list(received), self.name, _utcnow(), payloads=False):
            update = parsed.get(claimed.update_id) or Update.de_json(dict(received[claimed.update_id]), self.app.bot)
            await self._hand_over(claimed, update)

    async def _take(self, update_ids: Sequence[int]) -> None:
        """Take updates stored earlier (by this process or another)."""
        if not self.accepting:
            return
        for claimed in await inbox.claim(update_ids, self.name, _utcnow()):
            await self._hand_over(claimed, Update.de_json(claimed.payload, self.app.bot))

    async def _hand_over(self, claimed: inbox.Claimed, update: Update) -> None:
        self._held[claimed.update_id] = claimed.chat_id
        self._emptied.clear()
        await self.app.update_queue.put(update)

    async def _before(self, update: Update) -> None:
        user_id = update.effective_user.id if update.effective_user else None
        chat_id = update.effective_chat.id if update.effective_chat else None
        private = update.effective_chat is not None and update.effective_chat.type == "private"
        _handling.set(_Handling(update.update_id, customer_chat=chat_id if private else None))
        user_data, chat_data = await conversation.load(user_id, chat_id)
        if user_id is not None:
            self._replace(self.app.user_data[user_id], user_data)
        if chat_id is not None:
            self._replace(self.app.chat_data[chat_id], chat_data)
        self._memory[update.update_id] = (conversation.snapshot(user_data), conversation.snapshot(chat_data))

    @staticmethod
    def _replace(target: dict[str, Any], loaded: dict[str, Any]) -> None:
        target.clear()
        target.update(loaded)

    async def _after(self, update: Update) -> None:
        try:
            user_before, chat_before = self._memory.pop(update.update_id, ("{}", "{}"))
            if (user := update.effective_user) is not None:
                data = self.app.user_data[user.id]
                if conversation.snapshot(data) != user_before:
                    await conversation.save("user", user.id, data)
            if (chat := update.effective_chat) is not None:
                data = self.app.chat_data[chat.id]
                if conversation.snapshot(data) != chat_before:
                    await conversation.save("chat", chat.id, data)
            await inbox.finish(update.update_id)
        finally:
            chat_id = self._held.pop(update.update_id, None)
            if not self._held:
                self._emptied.set()
        if self.accepting and (following := await inbox.claim_next(chat_id, self.name)) is not None:
            await self._hand_over(following, Update.de_json(following.payload, self.app.bot))

    # -- the life of the process ---------------------------------------------------------------

    async def start(self) -> None:
        """Take over what this process held when it last died, then keep looking for updates
        that other processes left behind."""
        await self._report_unknown(await inbox.recover(_utcnow(), holder=self.name))
        self.accepting = True
        self._tasks.append(asyncio.create_task(self._look_again(), name="inbox-look-again"))

    async def _look_again(self) -> None:
        while self.accepting:
            try:
                now = _utcnow()
                await self._report_unknown(await inbox.recover(now, stale=STALE_PROCESSING))
                await self._take(await inbox.waiting(now - LOOK_AGAIN))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away: look again later
                log.exception("could not look at the inbox")
            await asyncio.sleep(LOOK_AGAIN.total_seconds())

    async def _report_unknown(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        numbers = ", ".join(str(row.update_id) for row in rows[:10])
        log.warning("%d updates were being answered when a process died; not answered again: %s", len(rows), numbers)
        group = self.settings.telegram.agent_chat_id
        if group is not None:  # every chat named (the agents follow each up), 100 to a message
            for start in range(0, len(rows), UNKNOWN_PER_NOTICE):
                some = rows[start:start + UNKNOWN_PER_NOTICE]
                chats = ", ".join(sorted({str(row.chat_id) for row in some if row.chat_id is not None}))
                language = self.settings.telegram.agent_language
                notice = text(language, "agent_inbox_unknown", count=len(some), chats=chats)
                with contextlib.suppress(Exception):
                    await self.app.bot.send_message(group, notice)

    async def poll(self) -> None:
        """Long polling: the next getUpdates (whose offset acknowledges) only after storing."""
        offset = 0
        timeout = self.settings.telegram.poll_timeout
        pause = 1.0
        while self.accepting:
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=timeout, read_timeout=timeout + 10, allowed_updates=Update.ALL_TYPES
                )
                if updates:
                    await self.receive(self._as_sent(updates), updates)
                    offset = updates[-1].update_id + 1
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                raise
            except TimedOut:
                continue
            except Conflict as exc:
                log.error("getUpdates refused: %s (is another kefu polling, or a webhook set?)", exc.message)
                await asyncio.sleep(5)
            except (NetworkError, OSError) as exc:
                log.warning("getUpdates failed (%s); trying again in %.0f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30)
            except Exception:  # the database: the updates were not stored, so not acknowledged
                log.exception("could not store updates; asking for them again in %.0f s", pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30)

    def _as_sent(self, updates: Sequence[Update]) -> list[dict[str, Any]]:
        """The updates as Telegram sent them (kept by the request), else rebuilt from the objects."""
        sent = self.updates_request.last_updates if self.updates_request is not None else []
        if [payload.get("update_id") for payload in sent] == [update.update_id for update in updates]:
            return sent
        return [update.to_dict() for update in updates]

    def start_polling(self) -> None:
        self._tasks.append(asyncio.create_task(self.poll(), name="getUpdates"))

    async def stop(self) -> None:
        """Take no more updates; wait up to ``shutdown_seconds`` for those being handled; give
        back the ones not started."""
        self.accepting = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        unstarted = []
        while not self.app.update_queue.empty():
            update = self.app.update_queue.get_nowait()
            self.app.update_queue.task_done()
            if isinstance(update, Update):
                unstarted.append(update.update_id)
                self._held.pop(update.update_id, None)
        await inbox.release(unstarted)
        if self._held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), self.settings.telegram.shutdown_seconds)
        if self._held:
            log.warning("%d updates still being handled at shutdown; another process takes them over", len(self._held))
