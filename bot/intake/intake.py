"""How updates come in: by long polling or by webhook, always through the inbox (bot/intake/inbox.py).

Either way an update is stored before Telegram is told it arrived, then claimed and put on
python-telegram-bot's update queue. Just before its handlers run, the conversation memory of
its user and chat is loaded (bot/intake/conversation.py); after, the memory is saved, the update is
marked done and the chat's next update is claimed. A process that starts takes over what it
held when it died; every second it also takes updates that a process which is gone left behind
(bot/intake/fleet.py: its heartbeat lapsed). A process that stops (SIGTERM) takes no more, finishes what
it holds within ``shutdown_seconds``, and gives back the rest.

An update python-telegram-bot cannot read (a field it requires is missing), or one whose handling
kept killing its process, is set aside (``failed``): stored as Telegram sent it, reported once in
the agent group, and never in the way of its chat's later updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut
from telegram.ext import Application

from bot.core import metrics
from bot.core.config import Settings
from bot.core.i18n import text
from bot.intake import conversation, fleet, inbox
from bot.telegram.request import UpdatesRequest, watch_task
from bot.telegram.updates import ChatOrderedProcessor

log = logging.getLogger(__name__)

LOOK_AGAIN = timedelta(seconds=1)
READ_ONLY_CALLS = ("get", "answerCallbackQuery", "logOut", "close")
UNKNOWN_PER_NOTICE = 100
PTB_PERSISTENCE_NOTES = (
    "_user_ids_to_be_updated_in_persistence", "_user_ids_to_be_deleted_in_persistence",
    "_chat_ids_to_be_updated_in_persistence", "_chat_ids_to_be_deleted_in_persistence",
)


@dataclass
class _Handling:
    """The update this task handles, watching its Bot API requests (bot/telegram/request.py): the
    first one with an effect marks it ``replying``, and while such a request is on the wire it is
    ``on_wire`` — a process that dies then leaves it in doubt, and only then.

    For a customer's update only requests into the customer's own chat count: what it posts in
    the agent group on the way (the ticket's topic and card, the message copied into the topic)
    is found, or made again once, if the update is handled again after a crash (ticketing keeps
    its own intents for those), and the customer is then answered instead of left in doubt.
    """

    update_id: int
    customer_chat: int | None = None
    """The private chat of a customer's update (None for an update from the agent group)."""
    on_wire: int = 0
    """Its requests being written or awaiting their answer now."""

    def _counts(self, endpoint: str, parameters: Mapping[str, Any]) -> bool:
        if endpoint.startswith(READ_ONLY_CALLS):
            return False
        chat = parameters.get("chat_id")
        return self.customer_chat is None or chat is None or str(chat) == str(self.customer_chat)

    async def writing(self, endpoint: str, parameters: dict[str, Any]) -> None:
        if self._counts(endpoint, parameters):
            self.on_wire += 1
            if self.on_wire == 1:
                await inbox.mark_on_wire(self.update_id, True)

    async def answered(self, endpoint: str, parameters: dict[str, Any]) -> None:
        if self._counts(endpoint, parameters):
            self.on_wire -= 1
            if self.on_wire == 0:
                await inbox.mark_on_wire(self.update_id, False)


instance_name = fleet.instance_name


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
        self._held: dict[int, tuple[int | None, datetime]] = {}  # update id → chat, arrival: claimed here, not finished
        self._failed: set[int] = set()  # being handled, but set aside
        self._memory: dict[int, tuple[str, str]] = {}  # update id → memory as loaded
        self._using: Counter[tuple[str, int]] = Counter()  # ("user"/"chat", id) → its updates being handled
        self._tasks: list[asyncio.Task[None]] = []
        self._emptied = asyncio.Event()
        processor.before, processor.after = self._before, self._after

    # -- taking updates in ---------------------------------------------------------------------

    async def receive(self, payloads: Sequence[Mapping[str, Any]], updates: Sequence[Update] = ()) -> None:
        """Store updates (after this they may be acknowledged), then take what may be handled:
        ``updates`` are the same ones already parsed (long polling), which spares parsing them again.
        One that cannot be read is set aside at once."""
        await inbox.store(payloads, _utcnow())
        parsed = {update.update_id: update for update in updates}
        unreadable = {}
        for payload in payloads:
            if payload["update_id"] not in parsed:
                try:
                    parsed[payload["update_id"]] = Update.de_json(dict(payload), self.app.bot)
                except Exception as error:  # noqa: BLE001 - whatever python-telegram-bot raises
                    unreadable[payload["update_id"]] = f"cannot be read: {type(error).__name__}: {error}"
        await self._set_aside(unreadable)
        if not self.accepting:
            return
        for claimed in await inbox.claim(list(parsed), self.name, _utcnow(), payloads=False):
            await self._hand_over(claimed, parsed[claimed.update_id])

    async def take(self, update_ids: Sequence[int]) -> None:
        """Take these stored updates now (released from being held: bot/intake/inbox.py), rather
        than at the next look; those another process takes first are its to handle."""
        await self._take(update_ids)

    async def _take(self, update_ids: Sequence[int]) -> None:
        """Take updates stored earlier (by this process or another)."""
        if not self.accepting:
            return
        for claimed in await inbox.claim(update_ids, self.name, _utcnow()):
            await self._hand_over_stored(claimed)

    async def _hand_over_stored(self, claimed: inbox.Claimed) -> None:
        try:
            update = Update.de_json(claimed.payload, self.app.bot)
        except Exception as error:  # noqa: BLE001
            await self._set_aside({claimed.update_id: f"cannot be read: {type(error).__name__}: {error}"})
            if self.accepting and (following := await inbox.claim_next(claimed.chat_id, self.name)) is not None:
                await self._hand_over_stored(following)
            return
        await self._hand_over(claimed, update)

    async def _hand_over(self, claimed: inbox.Claimed, update: Update) -> None:
        self._held[claimed.update_id] = (claimed.chat_id, claimed.received_at)
        self._emptied.clear()
        await self.app.update_queue.put(update)

    async def _set_aside(self, failures: Mapping[int, str]) -> None:
        if not failures:
            return
        marked = await inbox.set_aside(failures, _utcnow())
        for update_id in failures:
            log.error("update %d set aside: %s", update_id, failures[update_id])
        await self._report("agent_inbox_failed", marked)
        metrics.count_failed_updates(len(marked))

    async def _before(self, update: Update) -> None:
        self._use(update, 1)
        user_id = update.effective_user.id if update.effective_user else None
        chat_id = update.effective_chat.id if update.effective_chat else None
        private = update.effective_chat is not None and update.effective_chat.type == "private"
        watch_task(_Handling(update.update_id, customer_chat=chat_id if private else None))
        try:
            user_data, chat_data = await conversation.load(user_id, chat_id)
        except Exception as error:
            self._failed.add(update.update_id)
            await self._set_aside({update.update_id: f"its conversation memory cannot be read: {error}"})
            raise
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
        chat_id, received_at = self._held.get(update.update_id, (None, None))
        try:
            if update.update_id not in self._failed:
                await self._save_memory(update)
                await inbox.finish(update.update_id)
                if received_at is not None:
                    metrics.observe_reply((_utcnow() - received_at).total_seconds())
        finally:
            self._use(update, -1)
            self._failed.discard(update.update_id)
            self._held.pop(update.update_id, None)
            if not self._held:
                self._emptied.set()
        if self.accepting and (following := await inbox.claim_next(chat_id, self.name)) is not None:
            await self._hand_over_stored(following)

    def _use(self, update: Update, change: int) -> None:
        """Count the updates being handled per user and chat. Their memory lives in the database,
        so python-telegram-bot's copy (``user_data``/``chat_data``) is dropped once no update uses
        it: the process holds none for the customers who are not writing right now."""
        for scope, owner in (("user", update.effective_user), ("chat", update.effective_chat)):
            if owner is None:
                continue
            key = (scope, owner.id)
            self._using[key] += change
            if self._using[key] <= 0:
                del self._using[key]
                (self.app.drop_user_data if scope == "user" else self.app.drop_chat_data)(owner.id)
        if change < 0 and self.app.persistence is None:
            # python-telegram-bot notes every id it saw or dropped, for a persistence: kefu has none
            # (the database is its memory), and those notes would only grow.
            for notes in PTB_PERSISTENCE_NOTES:
                getattr(self.app, notes, set()).clear()

    async def _save_memory(self, update: Update) -> None:
        user_before, chat_before = self._memory.pop(update.update_id, ("{}", "{}"))
        if (user := update.effective_user) is not None:
            data = self.app.user_data[user.id]
            if conversation.snapshot(data) != user_before:
                await conversation.save("user", user.id, data)
        if (chat := update.effective_chat) is not None:
            data = self.app.chat_data[chat.id]
            if conversation.snapshot(data) != chat_before:
                await conversation.save("chat", chat.id, data)

    # -- the life of the process ---------------------------------------------------------------

    async def start(self) -> None:
        """Beat, take over what this process held when it last died, then keep beating and looking
        for updates that processes which are gone left behind."""
        await fleet.beat(self.name, _utcnow(), starting=True)
        await self._recover()
        self.accepting = True
        self._tasks.append(asyncio.create_task(self._look_again(), name="inbox-look-again"))

    async def _recover(self) -> None:
        recovered = await inbox.recover(_utcnow())
        if recovered.unknown:
            numbers = ", ".join(str(update_id) for update_id, _chat in recovered.unknown[:10])
            log.warning(
                "%d updates were on the wire when their process died; not answered again: %s", len(recovered.unknown), numbers
            )
            await self._report("agent_inbox_unknown", recovered.unknown)
        if recovered.failed:
            log.error("%d updates set aside: their process died each time it handled them", len(recovered.failed))
            await self._report("agent_inbox_failed", recovered.failed)
            metrics.count_failed_updates(len(recovered.failed))
        if recovered.answered or recovered.taken_over:
            log.info("took over %d updates of a process that is gone (%d had been answered)",
                     recovered.taken_over + recovered.answered, recovered.answered)
        metrics.count_takeovers(recovered.taken_over)

    async def _look_again(self) -> None:
        next_beat = _utcnow() + fleet.BEAT
        while self.accepting:
            try:
                now = _utcnow()
                if now >= next_beat:
                    await fleet.beat(self.name, now)
                    await self._recover()
                    next_beat = now + fleet.BEAT
                await self._take(await inbox.waiting(now - LOOK_AGAIN))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away: look again later
                log.exception("could not look at the inbox")
            await asyncio.sleep(LOOK_AGAIN.total_seconds())

    async def _report(self, message: str, rows: Sequence[tuple[int, int | None]]) -> None:
        """Tell the agent group which chats to look at, 100 updates to a notice."""
        group = self.settings.telegram.agent_chat_id
        if group is None or not rows:
            return
        language = self.settings.telegram.agent_language
        for start in range(0, len(rows), UNKNOWN_PER_NOTICE):
            some = rows[start:start + UNKNOWN_PER_NOTICE]
            chats = ", ".join(sorted({str(chat) for _update, chat in some if chat is not None}))
            with contextlib.suppress(Exception):
                await self.app.bot.send_message(group, text(language, message, count=len(some), chats=chats))

    async def poll(self) -> None:
        """Long polling: the next getUpdates (whose offset acknowledges) only after storing.

        A batch python-telegram-bot cannot read is stored as Telegram sent it (the request kept
        it), each update read on its own, and the unreadable ones set aside: the offset moves past
        them, so one odd update never stops the bot."""
        offset = 0
        timeout = self.settings.telegram.poll_timeout
        pause = 1.0
        while self.accepting:
            payloads: list[dict[str, Any]] = []
            updates: Sequence[Update] = ()
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset, timeout=timeout, read_timeout=timeout + 10, allowed_updates=Update.ALL_TYPES
                )
                payloads = self._as_sent(updates)
            except asyncio.CancelledError:
                raise
            except InvalidToken:
                raise
            except TimedOut:
                continue
            except Conflict as exc:
                log.error("getUpdates refused: %s (is another kefu polling, or a webhook set?)", exc.message)
                await asyncio.sleep(5)
                continue
            except (NetworkError, OSError) as exc:
                log.warning("getUpdates failed (%s); trying again in %.0f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30)
                continue
            except Exception as error:  # noqa: BLE001 - python-telegram-bot could not read the batch
                sent = self.updates_request.last_updates if self.updates_request is not None else []
                payloads = [payload for payload in sent if isinstance(payload.get("update_id"), int)]
                if not payloads:
                    raise
                log.warning("getUpdates: python-telegram-bot could not read the batch (%s); reading each update", error)
            try:
                if payloads:
                    await self.receive(payloads, updates)
                    offset = max(payload["update_id"] for payload in payloads) + 1
                pause = 1.0
            except asyncio.CancelledError:
                raise
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
