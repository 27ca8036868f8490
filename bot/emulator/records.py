"""The records the emulated world is made of: chats with their messages, stored files, the
messages the bot sent, injected faults, and the small helpers that shape Telegram objects.

Plain data with no behaviour of the Bot API in it, so the world, the methods and the control
API can all share them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .limits import BLOCKED, CONFLICT_POLLING, JSON, PHOTO_SIZE, ApiError


def now() -> int:
    return int(time.time())


def compact(data: JSON) -> JSON:
    return {key: value for key, value in data.items() if value is not None}


def snapshot(message: JSON) -> JSON:
    """A message as embedded in another one: Telegram never nests replies twice."""
    return {key: value for key, value in message.items() if key != "reply_to_message"}


def update_chat_id(update: JSON) -> int | None:
    for value in update.values():
        if isinstance(value, dict):
            chat = value.get("chat") or (value.get("message") or {}).get("chat")
            if isinstance(chat, dict):
                return chat.get("id")
    return None


def update_type(update: JSON) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class Signal:
    """Wakes every current waiter on fire(); safe to fire from synchronous code on the loop."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """True when fired within ``timeout`` seconds."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), max(timeout, 0))
        except TimeoutError:
            return False
        return True


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_path: str
    mime_type: str
    file_name: str | None = None
    duration: int | None = None

    def file_info(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }

    def payload(self, duration: int | None = None) -> Any:
        """The message field for this file: a PhotoSize list, Document or Voice."""
        common = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": len(self.data)}
        if self.kind == "photo":
            width, height = PHOTO_SIZE
            return [{**common, "width": width, "height": height}]
        if self.kind == "voice":
            return {**common, "duration": duration or self.duration or 1, "mime_type": self.mime_type}
        return compact({**common, "file_name": self.file_name, "mime_type": self.mime_type})


@dataclass
class ChatState:
    chat: JSON
    chat_instance: str
    members: dict[int, str] = field(default_factory=dict)
    messages: dict[int, JSON] = field(default_factory=dict)  # message_id -> message, in order
    threads: dict[int, dict[int, JSON]] = field(default_factory=dict)  # thread -> id -> message
    last_message_id: int = 0

    @property
    def id(self) -> int:
        return int(self.chat["id"])

    @property
    def is_private(self) -> bool:
        return self.chat["type"] == "private"

    @property
    def is_forum(self) -> bool:
        return bool(self.chat.get("is_forum"))

    def add(self, message: JSON) -> None:
        self.messages[message["message_id"]] = message
        thread_id = message.get("message_thread_id")
        if thread_id is not None:
            self.threads.setdefault(thread_id, {})[message["message_id"]] = message

    def remove(self, message_id: int) -> JSON | None:
        message = self.messages.pop(message_id, None)
        if message is not None and message.get("message_thread_id") is not None:
            self.threads.get(message["message_thread_id"], {}).pop(message_id, None)
        return message


@dataclass
class BotRecord:
    """A message the bot sent; ``message`` is the live stored dict, so edits show."""

    seq: int
    message: JSON
    keyboard: JSON | None = None  # a reply keyboard / remove / force_reply sent with it
    deleted: bool = False

    def view(self) -> JSON:
        view = {**self.message, "_seq": self.seq}
        if self.keyboard is not None:
            view["_reply_markup"] = self.keyboard
        if self.deleted:
            view["_deleted"] = True
        return view


@dataclass
class Fault:
    method: str
    status: int
    retry_after: int | None
    description: str | None
    remaining: int
    delay: float
    chat_id: int | None

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method == "*":
            if method == "getUpdates":
                return False
        elif self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def error(self) -> ApiError:
        if self.status == 429:
            seconds = self.retry_after if self.retry_after is not None else 1
            description = self.description or f"Too Many Requests: retry after {seconds}"
            return ApiError(429, description, {"retry_after": seconds})
        parameters = {"retry_after": self.retry_after} if self.retry_after is not None else None
        return ApiError(self.status, self.description or _default_description(self.status), parameters)


def _default_description(status: int) -> str:
    if status == 403:
        return BLOCKED
    if status == 400:
        return "Bad Request: injected fault"
    if status == 409:
        return CONFLICT_POLLING
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"


def chat_member(user: JSON, status: str) -> JSON:
    """A ChatMember of the given status with every field PTB requires."""
    if status == "creator":
        return {"status": status, "user": user, "is_anonymous": False}
    if status == "administrator":
        rights = (
            "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
            "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
            "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics",
        )
        return {
            "status": status, "user": user, "can_be_edited": False, "is_anonymous": False,
            "can_promote_members": False, **dict.fromkeys(rights, True),
        }
    if status == "restricted":
        permissions = (
            "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
            "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
            "can_send_other_messages", "can_add_web_page_previews", "can_change_info",
            "can_invite_users", "can_pin_messages", "can_manage_topics", "can_edit_tag",
            "can_react_to_messages",
        )
        return {
            "status": status, "user": user, "is_member": True, "until_date": 0,
            **dict.fromkeys(permissions, False),
        }
    if status == "kicked":
        return {"status": status, "user": user, "until_date": 0}
    return {"status": status, "user": user}


def forward_origin(message: JSON) -> JSON:
    if "forward_origin" in message:
        return message["forward_origin"]
    if "sender_chat" in message:
        return {"type": "chat", "date": message["date"], "sender_chat": message["sender_chat"]}
    return {"type": "user", "date": message["date"], "sender_user": message["from"]}
