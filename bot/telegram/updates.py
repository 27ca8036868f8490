"""How incoming updates are run: many chats at once, each chat's messages in order.

python-telegram-bot runs updates one at a time by default, so one slow customer would hold up
all others; fully concurrent processing could answer one customer's two messages out of order.
:class:`ChatOrderedProcessor` does both right, and tells waiters when an update is finished
(the sandbox and the tests wait for the bot to have answered before they go on).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import BaseUpdateProcessor

_REMEMBERED = 10_000


Hook = Callable[[Update], Awaitable[None]]


class ChatOrderedProcessor(BaseUpdateProcessor):
    """``before`` and ``after`` (set by bot/intake/intake.py) run around each update's handlers, in its
    chat's turn: they load and save the conversation memory and keep the inbox up to date."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self.before: Hook | None = None
        self.after: Hook | None = None
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down: the Application awaits running updates itself."""

    async def do_process_update(self, update: object, coroutine: Awaitable[object]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        chat = update.effective_chat
        try:
            if chat is None:
                await self._handle(update, coroutine)
            else:
                await self._in_chat_order(chat.id, self._handle(update, coroutine))
        finally:
            self.mark_finished(update.update_id)

    async def _handle(self, update: Update, coroutine: Awaitable[object]) -> None:
        if self.before is not None:
            try:
                await self.before(update)
            except BaseException:
                coroutine.close()  # type: ignore[attr-defined]
                if self.after is not None:
                    await self.after(update)
                raise
        try:
            await coroutine
        finally:
            if self.after is not None:
                await self.after(update)

    async def _in_chat_order(self, chat_id: int, coroutine: Awaitable[object]) -> None:
        lock, users = self._chats.get(chat_id) or (asyncio.Lock(), 0)
        self._chats[chat_id] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._chats[chat_id]
            if users == 1:
                del self._chats[chat_id]
            else:
                self._chats[chat_id] = (lock, users - 1)

    def mark_finished(self, update_id: int) -> None:
        self._finished[update_id] = None
        if len(self._finished) > _REMEMBERED:
            self._finished.popitem(last=False)
        for waiter in self._waiters.pop(update_id, []):
            if not waiter.done():
                waiter.set_result(None)

    async def wait_finished(self, update_id: int, timeout: float = 10.0) -> None:
        """Return once the update has been handled (at once if it already was)."""
        if update_id in self._finished:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(update_id, []).append(waiter)
        await asyncio.wait_for(waiter, timeout)
