"""Acting as Telegram's users: what tests, the sandbox and other processes do to the bot.

In-process, a test calls :class:`Control`'s methods (a user writes, shares a contact, sends a
photo, presses a button, edits a message); from another process the same acts are JSON posts
under ``/_emulator/`` (``users``, ``text``, ``button``, ``faults``…), with ``messages``,
``history``, ``stats`` and ``files`` to observe. A user can only do what a real client lets them:
write in their own private chat or a group they belong to, press a button the message has
(unless ``forged``, like a modified client), write in a closed topic only as an administrator.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from .limits import ADMIN_STATUSES, GENERAL_TOPIC_ID, JSON, MEDIA_KEYS
from .markup import command_entities, has_callback_button
from .records import ChatState, compact, now
from .wire import dumps, ok_response
from .world import World

ControlHandler = Callable[[JSON], Any]

_ABSENT: Any = object()


class Control(World):
    """The world as its users act in it, in-process and over the control API."""

    # ----------------------------------------------------------------- injecting updates

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        """A user writes ``text``; a leading /command gets its bot_command entity."""
        if not text.strip():
            raise ValueError("message text is empty")
        content: JSON = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        return self._user_message(user_id, content, chat_id, message_thread_id, reply_to_message_id)

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = _ABSENT,
        first_name: str | None = None,
        chat_id: int | None = None,
    ) -> JSON:
        """A user shares a contact: by default their own (contact.user_id == sender)."""
        user = self._user(user_id)
        own = contact_user_id is _ABSENT
        contact = compact(
            {
                "phone_number": phone_number,
                "first_name": first_name or user["first_name"],
                "last_name": user.get("last_name") if own and first_name is None else None,
                "user_id": user_id if own else contact_user_id,
            }
        )
        return self._user_message(user_id, {"contact": contact}, chat_id, None, None)

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        stored = self._store_file("photo", data)
        content = compact({"photo": stored.payload(), "caption": caption or None})
        return self._user_message(user_id, content, chat_id, message_thread_id, reply_to_message_id)

    def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "file.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        stored = self._store_file("document", data, file_name=file_name, mime_type=mime_type)
        content = compact({"document": stored.payload(), "caption": caption or None})
        return self._user_message(user_id, content, chat_id, message_thread_id, reply_to_message_id)

    def send_voice(
        self,
        user_id: int,
        data: bytes,
        *,
        duration: int = 1,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        stored = self._store_file("voice", data, duration=duration)
        content = {"voice": stored.payload()}
        return self._user_message(user_id, content, chat_id, message_thread_id, reply_to_message_id)

    def send_album(
        self,
        user_id: int,
        photos: list[bytes],
        *,
        captions: list[str | None] | None = None,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> list[JSON]:
        """A user sends 2–10 photos as one album: one message update per photo, sharing a
        media_group_id, as Telegram delivers them (the bot never gets the album whole)."""
        if not 2 <= len(photos) <= 10:
            raise ValueError("an album has 2 to 10 items")
        group = str(next(self._media_group_ids))
        said = captions or [None] * len(photos)
        updates = []
        for data, caption in zip(photos, said, strict=True):
            stored = self._store_file("photo", data)
            content = compact({"photo": stored.payload(), "caption": caption or None, "media_group_id": group})
            updates.append(self._user_message(user_id, content, chat_id, message_thread_id, None))
        return updates

    def send_content(
        self,
        user_id: int,
        content: JSON,
        *,
        chat_id: int | None = None,
        message_thread_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        """A user sends a message of any other kind, its fields as the Bot API has them:
        ``{"location": {...}}``, ``{"sticker": {...}}``, ``{"poll": {...}}``, a text with
        ``forward_origin``…"""
        return self._user_message(user_id, dict(content), chat_id, message_thread_id, reply_to_message_id)

    def press_button(
        self,
        user_id: int,
        message: JSON | int,
        data: str,
        *,
        chat_id: int | None = None,
        forged: bool = False,
    ) -> JSON:
        """A user presses the inline button with ``callback_data == data`` on a bot message.

        ``message`` is a Message dict or a message id in ``chat_id`` (default: the
        user's private chat). Like a real client, only buttons the stored message
        currently has can be pressed (ValueError otherwise) — unless ``forged``: a modified
        client can send any callback data, and the bot must refuse what it did not offer.
        """
        user = self._user(user_id)
        if isinstance(message, dict):
            chat_id, message_id = int(message["chat"]["id"]), int(message["message_id"])
        else:
            chat_id, message_id = (user_id if chat_id is None else chat_id), message
        state = self._state(chat_id)
        stored = state.messages.get(message_id)
        if stored is None:
            raise ValueError(f"message {message_id} not found in chat {chat_id}")
        if not forged and not has_callback_button(stored, data):
            raise ValueError(f"message {message_id} has no inline button with callback_data {data!r}")
        query_id = str(next(self._callback_ids))
        self._open_callbacks.add(query_id)
        query = {
            "id": query_id, "from": user, "message": dict(stored),
            "chat_instance": state.chat_instance, "data": data,
        }
        return self._enqueue({"callback_query": query})

    def edit_text(self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None) -> JSON:
        """A user edits one of their text messages: an edited_message update."""
        state = self._state(user_id if chat_id is None else chat_id)
        message = state.messages.get(message_id)
        if message is None or message.get("from", {}).get("id") != user_id or "text" not in message:
            raise ValueError(f"user {user_id} has no text message {message_id} in chat {state.id}")
        message.pop("entities", None)
        message.update(text=text, edit_date=now())
        if entities := command_entities(text):
            message["entities"] = entities
        return self._enqueue({"edited_message": dict(message)})

    def edit_caption(self, user_id: int, message_id: int, caption: str, *, chat_id: int | None = None) -> JSON:
        """A user edits the caption of one of their photos or files: an edited_message update."""
        state = self._state(user_id if chat_id is None else chat_id)
        message = state.messages.get(message_id)
        if message is None or message.get("from", {}).get("id") != user_id or not any(k in message for k in MEDIA_KEYS):
            raise ValueError(f"user {user_id} has no media message {message_id} in chat {state.id}")
        message.pop("caption_entities", None)
        message.update(caption=caption, edit_date=now())
        return self._enqueue({"edited_message": dict(message)})

    def inject_update(self, update: JSON) -> JSON:
        """Queue a raw update; update_id is assigned when missing and must otherwise increase."""
        update = dict(update)
        if "update_id" in update:
            if update["update_id"] <= self._last_update_id:
                raise ValueError(f"update_id must be greater than {self._last_update_id}")
            self._last_update_id = update["update_id"] - 1
            update.pop("update_id")
        if "callback_query" in update:
            self._open_callbacks.add(str(update["callback_query"]["id"]))
        return self._enqueue(update)

    def _user_message(
        self,
        user_id: int,
        content: JSON,
        chat_id: int | None,
        thread_id: int | None,
        reply_to_message_id: int | None,
    ) -> JSON:
        user = self._user(user_id)
        state = self._chat_for_user(user_id, chat_id)
        reply_to = None
        if reply_to_message_id is not None:
            reply_to = state.messages.get(reply_to_message_id)
            if reply_to is None:
                raise ValueError(f"message {reply_to_message_id} not found in chat {state.id}")
            if thread_id is None:
                thread_id = reply_to.get("message_thread_id")
        thread_id = self._user_thread(state, user_id, thread_id)
        message = self._append_message(state, user, content, thread_id, reply_to)
        return self._enqueue({"message": dict(message)})

    def _chat_for_user(self, user_id: int, chat_id: int | None) -> ChatState:
        state = self._state(user_id if chat_id is None else chat_id)
        if state.is_private:
            if state.id != user_id:
                raise ValueError("users can only write to the bot in their own private chat")
            if user_id in self._blocked:
                self.block_bot(user_id, False)  # writing to a blocked bot means restarting it
            return state
        status = state.members.setdefault(user_id, "member")
        if status in ("left", "kicked"):
            raise ValueError(f"user {user_id} is {status} in chat {state.id}")
        return state

    def _user_thread(self, state: ChatState, user_id: int, thread_id: int | None) -> int | None:
        if thread_id is None or not state.is_forum or thread_id == GENERAL_TOPIC_ID:
            return None
        topic = self.topics.get(state.id, {}).get(thread_id)
        if topic is None or topic["deleted"]:
            raise ValueError(f"message thread {thread_id} not found in chat {state.id}")
        if topic["closed"] and state.members.get(user_id) not in ADMIN_STATUSES:
            raise ValueError(f"topic {thread_id} is closed")
        return thread_id

    # ----------------------------------------------------------------- HTTP: control API

    def _add_control_routes(self, router: web.UrlDispatcher) -> None:
        posts: dict[str, ControlHandler] = {
            "users": lambda body: self.add_user(**body),
            "groups": lambda body: self.add_group(**body),
            "members": lambda body: self.set_member(**body) or True,
            "block": lambda body: self.block_bot(**body) or True,
            "text": lambda body: self.send_text(**body),
            "contact": lambda body: self.send_contact(**body),
            "photo": lambda body: self.send_photo(**_decoded_data(body)),
            "document": lambda body: self.send_document(**_decoded_data(body)),
            "voice": lambda body: self.send_voice(**_decoded_data(body)),
            "button": lambda body: self.press_button(**_button_args(body)),
            "edit": lambda body: self.edit_text(**body),
            "caption": lambda body: self.edit_caption(**body),
            "content": lambda body: self.send_content(**body),
            "update": self.inject_update,
            "faults": lambda body: self.inject_fault(**body) or True,
        }
        for name, handler in posts.items():
            router.add_post(f"/_emulator/{name}", partial(self._control, handler))
        router.add_get("/_emulator/messages", self._control_messages)
        router.add_get("/_emulator/history", self._control_history)
        router.add_get("/_emulator/stats", self._control_stats)
        router.add_get("/_emulator/files/{file_id}", self._control_file)

    async def _control(self, handler: ControlHandler, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.body_exists else {}
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            return ok_response(handler(body))
        except (ValueError, KeyError, TypeError) as exc:
            return _control_error(str(exc))

    async def _control_stats(self, _request: web.Request) -> web.Response:
        return ok_response(self.stats)

    async def _control_messages(self, request: web.Request) -> web.Response:
        """Bot messages; with ``timeout`` (seconds) waits for the first one after ``since``."""
        try:
            chat_id = _query_int(request, "chat_id")
            since = _query_int(request, "since") or 0
            timeout = float(request.query.get("timeout") or 0)
        except ValueError as exc:
            return _control_error(str(exc))
        if timeout > 0:
            try:
                await self.wait_for_bot_message(chat_id, since=since, timeout=timeout)
            except TimeoutError:
                pass
        return ok_response(self.bot_messages(chat_id, since=since))

    async def _control_history(self, request: web.Request) -> web.Response:
        try:
            chat_id = _query_int(request, "chat_id")
            if chat_id is None:
                raise ValueError("chat_id is required")
            thread_id = _query_int(request, "message_thread_id")
            return ok_response(self.history(chat_id, message_thread_id=thread_id))
        except ValueError as exc:
            return _control_error(str(exc))

    async def _control_file(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return _control_error("unknown file_id", status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)


def _control_error(description: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status, dumps=dumps)


def _query_int(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{key} must be an integer") from None


def _decoded_data(body: JSON) -> JSON:
    try:
        return {**body, "data": base64.b64decode(body["data"], validate=True)}
    except (binascii.Error, TypeError):
        raise ValueError("data must be base64") from None


def _button_args(body: JSON) -> JSON:
    """The control API names the pressed message "message_id"."""
    args = dict(body)
    if "message_id" in args:
        args["message"] = args.pop("message_id")
    return args
