"""The emulated world: users, chats, forum topics, messages, files and the updates they make.

A user's private chat has the user's id; a supergroup's first message is its creation (and its
General topic), so neither messages nor topics ever get id 1 there; a topic's id is the id of
its ``forum_topic_created`` service message. Everything the bot sends is recorded with a global
sequence number, so a test can ask "what did the bot say since?" without races.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import mimetypes
import secrets
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from .limits import (
    DEFAULT_ALLOWED_UPDATES,
    FILE_KINDS,
    GENERAL_TOPIC_ID,
    JSON,
    MEMBER_STATUSES,
    ApiError,
)
from .records import (
    BotRecord,
    ChatState,
    Fault,
    Signal,
    StoredFile,
    chat_member,
    compact,
    now,
    snapshot,
    update_type,
)
from .wire import Params

log = logging.getLogger("bot.emulator")  # the name it had before the split into modules

EventCallback = Callable[[str, JSON], None]


class World:
    """The state of an in-memory Telegram with one bot, and what happens in it.

    Users, chats, forum topics, messages and files; the queue of updates waiting for the bot;
    the messages the bot sent, as tests observe them; the faults injected into its next calls.
    The Bot API methods (:mod:`.methods`), acting as users (:mod:`.control`) and the HTTP
    server (:mod:`.server`) are built on it.
    """

    def __init__(
        self, *, bot_username: str = "kefu_bot", bot_first_name: str = "Kefu", token: str | None = None
    ) -> None:
        self._token = token
        bot_id = int(token.split(":")[0]) if token and token.split(":")[0].isdigit() else 7_000_000_001
        self.bot_user: JSON = {
            "id": bot_id, "is_bot": True, "first_name": bot_first_name, "username": bot_username,
            "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # The short User form Telegram puts in Message.from.
        self._sender: JSON = {key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")}
        self._closing = False

        self._users: dict[int, JSON] = {}
        self._chats: dict[int, ChatState] = {}
        self._usernames: dict[str, int] = {}
        self._blocked: set[int] = set()
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(1)
        self.topics: dict[int, dict[int, JSON]] = {}
        self.keyboards: dict[int, JSON] = {}  # chat id -> the reply keyboard currently shown
        self.menu_buttons: dict[int | None, JSON] = {}  # private chat id (None: the default) -> its menu button

        self._pending: deque[JSON] = deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._updates_signal = Signal()
        self._poll_generation = 0
        self.webhook: JSON = {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": 40}
        self._webhook_task: asyncio.Task[None] | None = None
        self._commands: dict[tuple[str, str], list[JSON]] = {}

        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._open_callbacks: set[str] = set()
        self._callback_ids = itertools.count(1)
        self._poll_ids = itertools.count(5_000_000_001)
        self._media_group_ids = itertools.count(13_000_000_000_001)

        self._seq = 0
        self._records: list[BotRecord] = []
        self._records_by_chat: dict[int, list[BotRecord]] = {}
        self._record_index: dict[tuple[int, int], BotRecord] = {}
        self._bot_message_signal = Signal()
        self._stop_signal = Signal()
        self._subscribers: list[EventCallback] = []

        self.callback_answers: list[JSON] = []
        self.calls: list[tuple[str, JSON]] = []
        self._method_counts: Counter[str] = Counter()
        self._error_counts: Counter[int] = Counter()
        self._counters: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._received: list[float] = []
        self._received_in: dict[int, list[float]] = {}

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    # ----------------------------------------------------------------- the world

    def add_user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Wang",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """Create (or update) a user and their private chat with the bot (chat id == user id)."""
        uid = user_id if user_id is not None else self._free_id(self._user_ids)
        user = compact(
            {"id": uid, "is_bot": False, "first_name": first_name, "last_name": last_name,
             "username": username, "language_code": language_code}
        )
        chat = compact(
            {"id": uid, "type": "private", "first_name": first_name, "last_name": last_name,
             "username": username}
        )
        self._users[uid] = user
        state = self._chats.get(uid)
        if state is None:
            members = {uid: "member", self.bot_id: "member"}
            self._chats[uid] = ChatState(chat, secrets.token_hex(8), members)
        else:
            state.chat = chat
        return dict(user)

    def add_group(
        self,
        chat_id: int | None = None,
        *,
        title: str = "Agents",
        is_forum: bool = True,
        username: str | None = None,
    ) -> JSON:
        """Create (or update) a supergroup in which the bot is an administrator."""
        if chat_id is None:
            chat_id = self._free_id(-1_001_000_000_000 - n for n in self._group_ids)
        chat = compact(
            {"id": chat_id, "type": "supergroup", "title": title, "username": username, "is_forum": is_forum}
        )
        state = self._chats.get(chat_id)
        if state is None:
            # Message 1 of a supergroup is its creation (and the General topic), so
            # neither new messages nor topic ids ever get that id.
            members = {self.bot_id: "administrator"}
            state = self._chats[chat_id] = ChatState(chat, secrets.token_hex(8), members, last_message_id=1)
        state.chat = chat
        if username:
            self._usernames[username.lower()] = chat_id
        return dict(chat)

    def _free_id(self, candidates: Iterable[int]) -> int:
        return next(candidate for candidate in candidates if candidate not in self._chats)

    def set_member(self, chat_id: int, user_id: int, status: str = "member") -> None:
        """Set a user's (or the bot's) membership status in a chat."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        if user_id != self.bot_id:
            self._user(user_id)
        self._state(chat_id).members[user_id] = status

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        """Have a user block (or unblock) the bot; queues a my_chat_member update like Telegram."""
        user = self._user(user_id)
        if (user_id in self._blocked) == blocked:
            return
        if blocked:
            self._blocked.add(user_id)
        else:
            self._blocked.discard(user_id)
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        change = {
            "chat": self._state(user_id).chat, "from": user, "date": now(),
            "old_chat_member": chat_member(self._sender, old),
            "new_chat_member": chat_member(self._sender, new),
        }
        self._enqueue({"my_chat_member": change})

    def user(self, user_id: int) -> JSON:
        return dict(self._users[user_id])

    def _user(self, user_id: int) -> JSON:
        """A known user; unknown ids are created with default names, for convenience."""
        if user_id not in self._users:
            self.add_user(user_id)
        return self._users[user_id]

    def _state(self, chat_id: int) -> ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            raise ValueError(f"unknown chat {chat_id}")
        return state

    # ----------------------------------------------------------------- messages, files, topics

    def _append_message(
        self, state: ChatState, sender: JSON, content: JSON, thread_id: int | None, reply_to: JSON | None
    ) -> JSON:
        state.last_message_id += 1
        message: JSON = {
            "message_id": state.last_message_id, "from": sender, "chat": state.chat, "date": now(),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            reply_to = reply_to or state.messages.get(thread_id)  # the topic's creation message
        if reply_to is not None:
            message["reply_to_message"] = snapshot(reply_to)
        message.update(content)
        state.add(message)
        return message

    def _record_bot_message(self, state: ChatState, message: JSON, keyboard: JSON | None) -> None:
        self._seq += 1
        record = BotRecord(self._seq, message, keyboard)
        self._records.append(record)
        self._records_by_chat.setdefault(state.id, []).append(record)
        self._record_index[(state.id, message["message_id"])] = record
        self._bot_message_signal.fire()
        self._emit("message", record.view())

    def _track_keyboard(self, chat_id: int, keyboard: JSON | None) -> None:
        if keyboard is None:
            return
        if "keyboard" in keyboard:
            self.keyboards[chat_id] = keyboard
        elif keyboard.get("remove_keyboard"):
            self.keyboards.pop(chat_id, None)

    def _store_file(
        self, kind: str, data: bytes, *, file_name: str | None = None, mime_type: str | None = None,
        duration: int | None = None,
    ) -> StoredFile:
        directory, default_extension, default_mime = FILE_KINDS[kind]
        number = next(self._file_counter)
        if kind != "document":
            mime_type = file_name = None
        elif not mime_type or mime_type == "application/octet-stream":
            mime_type = mimetypes.guess_type(file_name or "")[0] or mime_type
        extension = PurePosixPath(file_name).suffix if file_name else default_extension
        stored = StoredFile(
            file_id=f"{kind[:2].upper()}{number:06d}{secrets.token_urlsafe(12)}",
            file_unique_id=f"U{number:06d}{secrets.token_hex(3)}",
            kind=kind,
            data=data,
            file_path=f"{directory}/file_{number}{extension}",
            mime_type=mime_type or default_mime,
            file_name=file_name,
            duration=duration,
        )
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _mark_deleted(self, chat_id: int, message_id: int) -> None:
        record = self._record_index.get((chat_id, message_id))
        if record is not None:
            record.deleted = True

    def delete_topic(self, chat_id: int, message_thread_id: int) -> None:
        """An administrator deletes a topic, with all its messages (by hand, or via the API)."""
        state = self._state(chat_id)
        topic = self.topics.get(chat_id, {}).get(message_thread_id)
        if topic is None or topic["deleted"]:
            raise ValueError(f"no topic {message_thread_id} in chat {chat_id}")
        topic["deleted"] = True
        for message_id in list(state.threads.pop(message_thread_id, {})):
            state.messages.pop(message_id, None)
            self._mark_deleted(state.id, message_id)
        self._emit_topic(state.id, message_thread_id, "deleted")

    def _emit_topic(self, chat_id: int, thread_id: int, action: str) -> None:
        topic = self.topics[chat_id][thread_id]
        self._emit("topic", {"chat_id": chat_id, "message_thread_id": thread_id, "action": action, **topic})

    # ----------------------------------------------------------------- the update queue

    def _enqueue(self, payload: JSON) -> JSON:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, **payload}
        self._counters["updates_injected"] += 1
        if update_type(update) in self._allowed_updates:
            self._pending.append(update)
            self._updates_signal.fire()
        else:
            self._counters["updates_filtered"] += 1
        return update

    # ----------------------------------------------------------------- observing

    def history(self, chat_id: int, *, message_thread_id: int | None = None) -> list[JSON]:
        """Messages in a chat (or one topic), both directions, oldest first; deleted ones are gone."""
        state = self._state(chat_id)
        if message_thread_id is None:
            messages = state.messages.values()
        elif message_thread_id == GENERAL_TOPIC_ID and state.is_forum:
            messages = (m for m in state.messages.values() if "message_thread_id" not in m)
        else:
            messages = state.threads.get(message_thread_id, {}).values()
        return [dict(message) for message in messages]

    def bot_messages(self, chat_id: int | None = None, *, since: int = 0) -> list[JSON]:
        """Messages the bot sent (sends, copies, forwards) with seq > since, oldest first.

        Each carries "_seq", plus "_reply_markup" when sent with a reply keyboard (which
        Telegram does not echo back) and "_deleted" once deleted. Topic service messages
        are not included. Edits are reflected.
        """
        return [record.view() for record in self._records_after(chat_id, since)]

    def _records_after(self, chat_id: int | None, since: int) -> list[BotRecord]:
        records = self._records if chat_id is None else self._records_by_chat.get(chat_id, [])
        return records[bisect_right(records, since, key=lambda record: record.seq) :]

    @property
    def seq(self) -> int:
        """Sequence number of the last bot-sent message, across all chats."""
        return self._seq

    async def wait_for_bot_message(
        self, chat_id: int | None = None, *, since: int = 0, timeout: float = 5.0
    ) -> JSON:
        """The first bot message (in chat_id, if given) with seq > since; raises asyncio.TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (found := self._records_after(chat_id, since)):
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._bot_message_signal.wait(remaining):
                raise TimeoutError(
                    f"no bot message in chat {chat_id} after seq {since} within {timeout}s"
                )
        return found[0].view()

    def subscribe(self, callback: EventCallback) -> None:
        """Call ``callback(kind, payload)`` on every bot action.

        Kinds: "message", "edit", "delete", "callback_answer", "topic" and "chat_action".
        Callbacks run synchronously inside the API request; exceptions are logged.
        """
        self._subscribers.append(callback)

    def unsubscribe(self, callback: EventCallback) -> None:
        self._subscribers.remove(callback)

    def count(self, method: str) -> int:
        return self._method_counts[method]

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

    def busiest(self, seconds: float, chat_id: int | None = None) -> int:
        """The most requests with a chat_id (sends, copies, edits, topics…; not get*) received
        within any ``seconds`` (a sliding window), overall or into ``chat_id``: what Telegram's
        flood limits count."""
        times = self._received if chat_id is None else self._received_in.get(chat_id, [])
        most, first = 0, 0
        for last, moment in enumerate(times):
            while times[first] <= moment - seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def _count_received(self, name: str, params: Params, moment: float) -> None:
        if "chat_id" not in params or name.lower().startswith("get"):
            return
        self._received.append(moment)
        chat = self._fault_chat_id(params)
        if isinstance(chat, int):
            self._received_in.setdefault(chat, []).append(moment)

    @property
    def stats(self) -> JSON:
        """Counters; ``max_per_second``: the most requests with a chat_id in any second, and
        ``max_per_minute``: per group (by id), the most into it in any 60 seconds (:meth:`busiest`)."""
        return {
            "calls": len(self.calls),
            "methods": dict(self._method_counts),
            "errors": {str(status): count for status, count in self._error_counts.items()},
            "faults_triggered": self._counters["faults_triggered"],
            "updates_injected": self._counters["updates_injected"],
            "updates_filtered": self._counters["updates_filtered"],
            "updates_delivered": self._counters["updates_delivered"],
            "updates_pending": len(self._pending),
            "bot_messages": self._seq,
            "users": len(self._users),
            "chats": len(self._chats),
            "files": len(self.files),
            "max_per_second": self.busiest(1.0),
            "max_per_minute": {str(chat): self.busiest(60.0, chat) for chat in self._received_in if chat < 0},
        }

    def _emit(self, kind: str, payload: JSON) -> None:
        for callback in list(self._subscribers):
            try:
                callback(kind, payload)
            except Exception:
                log.exception("emulator subscriber failed on %s event", kind)

    # ----------------------------------------------------------------- faults

    def inject_fault(
        self,
        method: str = "*",
        *,
        status: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` after ``delay`` seconds.

        "*" matches every method except getUpdates. status=200 with a delay is merely
        slow. 429 carries parameters.retry_after (default 1), like Telegram's flood control.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if not 200 <= status <= 599:
            raise ValueError(f"invalid HTTP status {status}")
        self._faults.append(Fault(method, status, retry_after, description, times, delay, chat_id))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults_left(self) -> int:
        """Injected faults not yet triggered (a slow answer counts as triggered once its call arrived)."""
        return sum(fault.remaining for fault in self._faults)

    def _take_fault(self, method: str, params: Params) -> Fault | None:
        chat_id = self._fault_chat_id(params)
        for fault in self._faults:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_chat_id(self, params: Params) -> int | None:
        try:
            ref = params.get_chat_id()
        except ApiError:
            return None
        if isinstance(ref, str):
            return self._usernames.get(ref[1:].lower())
        return ref

    async def _apply_fault(self, method: str, params: Params) -> None:
        fault = self._take_fault(method, params)
        if fault is None:
            return
        self._counters["faults_triggered"] += 1
        if fault.delay > 0 and not self._closing:
            await self._stop_signal.wait(fault.delay)
        if fault.status != 200:
            raise fault.error()
