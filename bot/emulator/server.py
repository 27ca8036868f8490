"""A local emulator of the Telegram Bot API, for tests and the offline sandbox.

The real python-telegram-bot client talks to it over HTTP exactly as it talks to
api.telegram.org (``Bot(base_url=emu.base_url, base_file_url=emu.base_file_url)``).
Tests and the sandbox drive "the world" in-process (users, groups, incoming messages,
button presses) or, from another process, through the JSON control API under
``/_emulator/``.

Only what a customer-service bot needs is emulated, but what is emulated follows
Telegram closely, error descriptions included, so failure paths can be tested
offline. Telegram behaviours worth knowing about because bots trip over them:

* parse_mode text is parsed server-side: the stored text has no markup, entities
  carry UTF-16 offsets, malformed markup is a 400 "can't parse entities";
* editMessageText without reply_markup removes the inline keyboard;
* in a forum topic, a message that is not a reply has ``reply_to_message`` set to
  the topic's ``forum_topic_created`` service message, and ``message_thread_id`` of
  a topic equals the id of that service message;
* a second getUpdates call terminates a pending one with 409 Conflict;
* message and caption length (4,096 and 1,024) and entity offsets count UTF-16 code units:
  an emoji outside the BMP counts 2.

The emulator is not thread-safe: use the Python API from the event loop that runs it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import itertools
import json
import logging
import mimetypes
import re
import secrets
import time
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from bot.core.fit import utf16_len

__all__ = ["ApiError", "BotAPIEmulator", "EntityParseError", "parse_formatted", "serve"]

log = logging.getLogger(__name__)

JSON = dict[str, Any]
EventCallback = Callable[[str, JSON], None]
ApiHandler = Callable[["Params"], Any]
ControlHandler = Callable[[JSON], Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_REQUEST_BYTES = 64 * 1024 * 1024
GENERAL_TOPIC_ID = 1
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
PHOTO_SIZE = (100, 100)
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)
UPDATE_TYPES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages",
        "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
        "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
        "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
        "removed_chat_boost",
    }
)
# Telegram's default when allowed_updates was never set (or set to []).
DEFAULT_ALLOWED_UPDATES = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
MEDIA_KEYS = ("photo", "document", "voice", "audio", "video", "animation")
# Top-level message fields that make up its content (what copy/forward carry over).
CONTENT_KEYS = (
    "text", "entities", "link_preview_options", "caption", "caption_entities", "contact",
    "location", "venue", "sticker", "video_note", "dice", *MEDIA_KEYS,
)
PRIMARY_CONTENT_KEYS = frozenset(CONTENT_KEYS) - {
    "entities", "link_preview_options", "caption", "caption_entities",
}
INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
FILE_KINDS = {  # kind -> (file_path directory, default extension, default MIME type)
    "photo": ("photos", ".jpg", "image/jpeg"),
    "document": ("documents", "", "application/octet-stream"),
    "voice": ("voice", ".oga", "audio/ogg"),
}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,64})?(?![A-Za-z0-9_@])")
BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WEBHOOK_TIMEOUT = 30.0
WEBHOOK_FIRST_PAUSE = 0.05
WEBHOOK_LONGEST_PAUSE = 2.0

_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


class ApiError(Exception):
    """A Bot API error, rendered as ``{"ok": false, "error_code": ..., ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def _now() -> int:
    return int(time.time())


def _compact(data: JSON) -> JSON:
    return {key: value for key, value in data.items() if value is not None}


def _snapshot(message: JSON) -> JSON:
    """A message as embedded in another one: Telegram never nests replies twice."""
    return {key: value for key, value in message.items() if key != "reply_to_message"}


def _update_chat_id(update: JSON) -> int | None:
    for value in update.values():
        if isinstance(value, dict):
            chat = value.get("chat") or (value.get("message") or {}).get("chat")
            if isinstance(chat, dict):
                return chat.get("id")
    return None


def _update_type(update: JSON) -> str | None:
    return next((key for key in update if key != "update_id"), None)


# --------------------------------------------------------------------------- formatting


class EntityParseError(Exception):
    """Formatted text Telegram would refuse; the message uses Telegram's wording."""


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _entity(kind: str, offset: int, length: int, **extra: Any) -> JSON:
    return {"type": kind, "offset": offset, "length": length, **_compact(extra)}


def _link_entity(offset: int, length: int, url: str, users: Mapping[int, JSON]) -> JSON | None:
    """text_link, or text_mention for tg://user?id=N links to a known user."""
    parts = urlsplit(url)
    if parts.scheme == "tg" and parts.netloc == "user":
        user_id = parse_qs(parts.query).get("id", [""])[0]
        if user_id.isdigit() and int(user_id) in users:
            return _entity("text_mention", offset, length, user=users[int(user_id)])
    return _entity("text_link", offset, length, url=url) if url else None


def _sorted_entities(entities: list[JSON]) -> list[JSON]:
    return sorted(entities, key=lambda entity: (entity["offset"], -entity["length"]))


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}


class _HTMLEntityParser(HTMLParser):
    """Telegram's HTML dialect: a fixed tag set that must be properly nested and closed."""

    def __init__(self, source: str, users: Mapping[int, JSON]) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._users = users
        self._line_starts = [0, *(index + 1 for index, char in enumerate(source) if char == "\n")]
        self._parts: list[str] = []
        self._length = 0
        self._open: list[tuple[str, int, dict[str, str | None]]] = []
        self._entities: list[JSON] = []

    def parse(self) -> tuple[str, list[JSON]]:
        self.feed(self._source)
        self.close()
        if self._open:
            tag = self._open[-1][0]
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
        return "".join(self._parts), _sorted_entities(self._entities)

    def _position(self) -> int:
        line, column = self.getpos()
        return _byte_offset(self._source, self._line_starts[line - 1] + column)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _HTML_TAGS or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._position()}')
        self._open.append((tag, self._length, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise EntityParseError(f"Unexpected end tag at byte offset {self._position()}")
        name, offset, attributes = self._open[-1]
        if name != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._position()}, '
                f'expected "</{name}>", found "</{tag}>"'
            )
        self._open.pop()
        if name == "code" and self._open and self._open[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self._open[-1][2]["language"] = language
            return
        entity = self._make_entity(name, offset, self._length - offset, attributes)
        if entity is not None:
            self._entities.append(entity)

    def handle_data(self, data: str) -> None:
        self._parts.append(data)
        self._length += utf16_len(data)

    def _make_entity(
        self, tag: str, offset: int, length: int, attributes: dict[str, str | None]
    ) -> JSON | None:
        if length == 0:
            return None
        if tag == "a":
            return _link_entity(offset, length, attributes.get("href") or "", self._users)
        if tag == "pre":
            return _entity("pre", offset, length, language=attributes.get("language"))
        if tag == "blockquote" and "expandable" in attributes:
            return _entity("expandable_blockquote", offset, length)
        if tag == "tg-emoji":
            emoji_id = attributes.get("emoji-id")
            return _entity("custom_emoji", offset, length, custom_emoji_id=emoji_id) if emoji_id else None
        return _entity(_HTML_TAGS[tag], offset, length)


@dataclass
class _OpenEntity:
    kind: str
    offset: int  # UTF-16 offset in the output text
    index: int  # index in the source, for error messages


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_MARKERS = (
    ("__", "underline"), ("||", "spoiler"), ("*", "bold"), ("_", "italic"), ("~", "strikethrough"),
)
_MDV2_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
    "spoiler": "Spoiler", "text_link": "TextUrl", "custom_emoji": "CustomEmoji", "code": "Code",
    "pre": "Pre",
}


def _is_escapable(char: str) -> bool:
    return 0 < ord(char) < 127


class _MarkdownV2Parser:
    """MarkdownV2 as specified in the Bot API docs, including its reserved characters."""

    def __init__(self, source: str, users: Mapping[int, JSON]) -> None:
        self._src = source
        self._users = users
        self._i = 0
        self._parts: list[str] = []
        self._length = 0
        self._open: list[_OpenEntity] = []
        self._quote: _OpenEntity | None = None
        self._entities: list[JSON] = []

    def parse(self) -> tuple[str, list[JSON]]:
        while self._i < len(self._src):
            self._step()
        self._close_quote()
        if self._open:
            raise self._unterminated(self._open[-1])
        return "".join(self._parts), _sorted_entities(self._entities)

    def _unterminated(self, opened: _OpenEntity) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of {_MDV2_NAMES[opened.kind]} entity at byte offset "
            f"{_byte_offset(self._src, opened.index)}"
        )

    def _step(self) -> None:
        src, i = self._src, self._i
        char = src[i]
        if (i == 0 or src[i - 1] == "\n") and self._quote_marker():
            return
        if char == "\\":
            self._escape()
        elif char == "`":
            self._code()
        elif char == "[" or src.startswith("![", i):
            kind = "text_link" if char == "[" else "custom_emoji"
            self._open.append(_OpenEntity(kind, self._length, i))
            self._i += 1 if char == "[" else 2
        elif char == "]" and self._open and self._open[-1].kind in ("text_link", "custom_emoji"):
            self._close_link()
        elif self._expandable_quote_end():
            self._i += 2
        elif not self._marker():
            if char in _MDV2_RESERVED:
                raise EntityParseError(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            if char == "\n":
                self._end_of_quoted_line()
            self._emit(char)
            self._i += 1

    def _emit(self, text: str) -> None:
        self._parts.append(text)
        self._length += utf16_len(text)

    def _escape(self) -> None:
        following = self._src[self._i + 1 : self._i + 2]
        if following and _is_escapable(following):
            self._emit(following)
            self._i += 2
        else:
            self._emit("\\")
            self._i += 1

    def _marker(self) -> bool:
        for marker, kind in _MDV2_MARKERS:
            if self._src.startswith(marker, self._i):
                self._toggle(kind)
                self._i += len(marker)
                return True
        return False

    def _toggle(self, kind: str) -> None:
        if self._open and self._open[-1].kind == kind:
            opened = self._open.pop()
            if self._length > opened.offset:
                self._entities.append(_entity(kind, opened.offset, self._length - opened.offset))
        else:
            self._open.append(_OpenEntity(kind, self._length, self._i))

    def _read_until(self, start: int, terminator: str) -> tuple[str, int] | None:
        """Raw text up to an unescaped terminator, and the index just after the terminator."""
        src, j, parts = self._src, start, []
        while j < len(src):
            if src[j] == "\\" and j + 1 < len(src) and _is_escapable(src[j + 1]):
                parts.append(src[j + 1])
                j += 2
            elif src.startswith(terminator, j):
                return "".join(parts), j + len(terminator)
            else:
                parts.append(src[j])
                j += 1
        return None

    def _code(self) -> None:
        is_pre = self._src.startswith("```", self._i)
        marker = "```" if is_pre else "`"
        found = self._read_until(self._i + len(marker), marker)
        if found is None:
            raise self._unterminated(_OpenEntity("pre" if is_pre else "code", self._length, self._i))
        body, self._i = found
        language = None
        if is_pre and "\n" in body:
            first_line, rest = body.split("\n", 1)
            if not first_line or not any(char.isspace() for char in first_line):
                language, body = first_line or None, rest
        if body:
            self._entities.append(
                _entity("pre" if is_pre else "code", self._length, utf16_len(body), language=language)
            )
            self._emit(body)

    def _close_link(self) -> None:
        opened = self._open.pop()
        self._i += 1
        url = ""
        if self._src.startswith("(", self._i):
            found = self._read_until(self._i + 1, ")")
            if found is None:
                raise EntityParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(self._src, self._i)}"
                )
            url, self._i = found
        length = self._length - opened.offset
        if length == 0 or not url:
            return
        if opened.kind == "custom_emoji":
            emoji_id = parse_qs(urlsplit(url).query).get("id", [""])[0]
            entity = _entity("custom_emoji", opened.offset, length, custom_emoji_id=emoji_id or None)
        else:
            entity = _link_entity(opened.offset, length, url, self._users)
        if entity is not None:
            self._entities.append(entity)

    def _quote_marker(self) -> bool:
        width = 3 if self._src.startswith("**>", self._i) else 1 if self._src.startswith(">", self._i) else 0
        if not width:
            return False
        if self._quote is None:
            kind = "expandable_blockquote" if width == 3 else "blockquote"
            self._quote = _OpenEntity(kind, self._length, self._i)
        self._i += width
        return True

    def _expandable_quote_end(self) -> bool:
        """The "||" closing an expandable block quote at the end of its last line."""
        end = self._i + 2
        return (
            self._quote is not None
            and self._quote.kind == "expandable_blockquote"
            and self._src.startswith("||", self._i)
            and (end == len(self._src) or self._src[end] == "\n")
        )

    def _end_of_quoted_line(self) -> None:
        rest = self._src[self._i + 1 :]
        if self._quote is not None and not rest.startswith((">", "**>")):
            self._close_quote()

    def _close_quote(self) -> None:
        quote, self._quote = self._quote, None
        if quote is not None and self._length > quote.offset:
            self._entities.append(_entity(quote.kind, quote.offset, self._length - quote.offset))


def _parse_legacy_markdown(source: str, users: Mapping[int, JSON]) -> tuple[str, list[JSON]]:
    """The legacy "Markdown" mode: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    parts: list[str] = []
    entities: list[JSON] = []
    length = i = 0
    simple = {"*": "bold", "_": "italic", "`": "code"}

    def unterminated(start: int) -> EntityParseError:
        return EntityParseError(
            f"Can't find end of the entity starting at byte offset {_byte_offset(source, start)}"
        )

    while i < len(source):
        char = source[i]
        body, kind, extra, end = None, "", {}, i + 1
        if char == "\\" and source[i + 1 : i + 2] in ("_", "*", "`", "["):
            body, end = source[i + 1], i + 2
        elif source.startswith("```", i):
            close = source.find("```", i + 3)
            if close < 0:
                raise unterminated(i)
            body, kind, end = source[i + 3 : close], "pre", close + 3
            first_line, newline, rest = body.partition("\n")
            if newline and first_line and " " not in first_line:
                body, extra = rest, {"language": first_line}
        elif char in simple:
            close = source.find(char, i + 1)
            if close < 0:
                raise unterminated(i)
            body, kind, end = source[i + 1 : close], simple[char], close + 1
        elif char == "[":
            close = source.find("](", i + 1)
            url_end = source.find(")", close + 2) if close >= 0 else -1
            if url_end < 0:
                raise unterminated(i)
            body, kind, end = source[i + 1 : close], "text_link", url_end + 1
            extra = {"url": source[close + 2 : url_end]}
        else:
            body = char
        size = utf16_len(body)
        if kind == "text_link" and size:
            link = _link_entity(length, size, extra["url"], users)
            entities.extend([link] if link else [])
        elif kind and size:
            entities.append(_entity(kind, length, size, **extra))
        parts.append(body)
        length += size
        i = end
    return "".join(parts), _sorted_entities(entities)


def parse_formatted(
    text: str, parse_mode: str, users: Mapping[int, JSON] | None = None
) -> tuple[str, list[JSON]]:
    """Plain text and entities for ``text`` in ``parse_mode`` (HTML, MarkdownV2 or Markdown).

    ``users`` resolves tg://user?id= links into text_mention entities. Raises
    EntityParseError for malformed markup and ValueError for an unknown mode.
    """
    known_users = users or {}
    mode = parse_mode.lower()
    if mode == "html":
        return _HTMLEntityParser(text, known_users).parse()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text, known_users).parse()
    if mode == "markdown":
        return _parse_legacy_markdown(text, known_users)
    raise ValueError(f"unsupported parse_mode {parse_mode!r}")


# --------------------------------------------------------------------------- request parameters


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


_JSON_PARAMS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "reply_parameters", "link_preview_options",
        "allowed_updates", "commands", "scope", "media", "results", "permissions", "message_ids",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id", "from_chat_id", "message_id", "message_thread_id", "reply_to_message_id",
        "user_id", "offset", "limit", "timeout", "duration", "icon_color", "cache_time",
        "max_connections", "width", "height",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "allow_sending_without_reply", "disable_web_page_preview", "has_spoiler",
        "show_caption_above_media", "disable_content_type_detection",
    }
)
_INT_RE = re.compile(r"-?\d+")


class Params:
    """Bot API parameters from the query string and a form, multipart or JSON body.

    PTB sends forms in which every value is a string: numbers as "42", booleans as
    "true", complex values JSON-encoded. A JSON body (curl) carries native types. The
    typed getters accept both, so ``get_str("text")`` stays "123" and
    ``get_int("chat_id")`` is 123 either way.
    """

    def __init__(self, values: Mapping[str, Any], uploads: Mapping[str, Upload] | None = None) -> None:
        self._values = dict(values)
        self._uploads = dict(uploads or {})

    def __contains__(self, key: object) -> bool:
        return key in self._values or key in self._uploads

    def get_str(self, key: str) -> str | None:
        value = self._values.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return _dumps(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        raise bad_request(f'field "{key}" must be a valid Number')

    def get_float(self, key: str, default: float = 0.0) -> float:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'field "{key}" must be a valid Number') from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self._values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool | int):
            return bool(value)
        lowered = str(value).strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise bad_request(f'field "{key}" must be of type Boolean')

    def get_json(self, key: str) -> Any:
        value = self._values.get(key)
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {key} JSON object") from None

    def get_chat_id(self, key: str = "chat_id") -> int | str | None:
        """An integer chat id or an "@username"; None when absent."""
        value = self._values.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.startswith("@"):
            return text
        if _INT_RE.fullmatch(text):
            return int(text)
        raise bad_request("chat not found")

    def get_file(self, key: str) -> Upload | str | None:
        """An uploaded part, or a file_id/URL string; resolves "attach://name" references."""
        if key in self._uploads:
            return self._uploads[key]
        value = self.get_str(key)
        if value and value.startswith("attach://"):
            upload = self._uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return upload
        return value

    def logged(self) -> JSON:
        """The parameters with JSON, numbers and booleans decoded, for the call log."""
        result = {key: self._decoded(key, value) for key, value in self._values.items()}
        for key, upload in self._uploads.items():
            result[key] = {
                "filename": upload.filename, "content_type": upload.content_type, "size": len(upload.data),
            }
        return result

    @staticmethod
    def _decoded(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key in _JSON_PARAMS:
            try:
                return json.loads(value)
            except ValueError:
                return value
        if key in _INT_PARAMS and _INT_RE.fullmatch(value.strip()):
            return int(value)
        if key in _BOOL_PARAMS and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value


async def _read_params(request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.method != "POST" or not request.body_exists:
        return Params(values)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON request body")
        values.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                uploads[key] = Upload(value.filename or key, value.content_type, value.file.read())
            else:
                values[key] = value
    return Params(values, uploads)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result}, dumps=_dumps)


def _error(exc: ApiError) -> web.Response:
    body: JSON = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status, dumps=_dumps)


# --------------------------------------------------------------------------- state records


class _Signal:
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
        return _compact({**common, "file_name": self.file_name, "mime_type": self.mime_type})


@dataclass
class _ChatState:
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
class _BotRecord:
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
class _Fault:
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


def _chat_member(user: JSON, status: str) -> JSON:
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


def _validate_inline_keyboard(markup: JSON) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard: inline_keyboard must be an Array of Arrays")
    for button in itertools.chain.from_iterable(rows):
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise bad_request("can't parse inline keyboard button: Text must be a String")
        data = button.get("callback_data")
        valid_data = isinstance(data, str) and 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
        if data is not None and not valid_data:
            raise bad_request("BUTTON_DATA_INVALID")
        if not any(action in button for action in INLINE_BUTTON_ACTIONS):
            raise bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )


def _has_callback_button(message: JSON, data: str) -> bool:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return any(button.get("callback_data") == data for button in itertools.chain.from_iterable(rows))


def _command_entities(text: str) -> list[JSON]:
    match = COMMAND_RE.match(text)
    return [_entity("bot_command", 0, utf16_len(match.group()))] if match else []


def _forward_origin(message: JSON) -> JSON:
    if "forward_origin" in message:
        return message["forward_origin"]
    if "sender_chat" in message:
        return {"type": "chat", "date": message["date"], "sender_chat": message["sender_chat"]}
    return {"type": "user", "date": message["date"], "sender_user": message["from"]}


# --------------------------------------------------------------------------- the emulator

_ABSENT: Any = object()


class BotAPIEmulator:
    """An in-memory Telegram with one bot, served over HTTP with aiohttp.

    ``token``, when given, is the only token accepted (others get 401 Unauthorized)
    and its numeric prefix becomes the bot's id, as on Telegram; by default any token
    is accepted.
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
        self.port = 0
        self.base_url = ""
        self.base_file_url = ""
        self._runner: web.AppRunner | None = None
        self._closing = False

        self._users: dict[int, JSON] = {}
        self._chats: dict[int, _ChatState] = {}
        self._usernames: dict[str, int] = {}
        self._blocked: set[int] = set()
        self._user_ids = itertools.count(100_000_001)
        self._group_ids = itertools.count(1)
        self.topics: dict[int, dict[int, JSON]] = {}
        self.keyboards: dict[int, JSON] = {}  # chat id -> the reply keyboard currently shown

        self._pending: deque[JSON] = deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._updates_signal = _Signal()
        self._poll_generation = 0
        self.webhook: JSON = {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": 40}
        self._webhook_task: asyncio.Task[None] | None = None
        self._commands: dict[tuple[str, str], list[JSON]] = {}

        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._open_callbacks: set[str] = set()
        self._callback_ids = itertools.count(1)

        self._seq = 0
        self._records: list[_BotRecord] = []
        self._records_by_chat: dict[int, list[_BotRecord]] = {}
        self._record_index: dict[tuple[int, int], _BotRecord] = {}
        self._bot_message_signal = _Signal()
        self._stop_signal = _Signal()
        self._subscribers: list[EventCallback] = []

        self.callback_answers: list[JSON] = []
        self.calls: list[tuple[str, JSON]] = []
        self._method_counts: Counter[str] = Counter()
        self._error_counts: Counter[int] = Counter()
        self._counters: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._methods = self._method_table()
        self._received: list[float] = []
        self._received_in: dict[int, list[float]] = {}

    @property
    def bot_id(self) -> int:
        return int(self.bot_user["id"])

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it in another server or let start() serve it."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._add_control_routes(app.router)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port (0 picks a free port); returns once listening."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        url_host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        if ":" in url_host and not url_host.startswith("["):
            url_host = f"[{url_host}]"
        self.base_url = f"http://{url_host}:{self.port}/bot"
        self.base_file_url = f"http://{url_host}:{self.port}/file/bot"
        log.info("Bot API emulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop serving; pending long polls, webhook deliveries and injected delays end at once."""
        self._wake_everything()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._wake_everything()

    def _wake_everything(self) -> None:
        self._closing = True
        self._updates_signal.fire()
        self._stop_signal.fire()

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
        user = _compact(
            {"id": uid, "is_bot": False, "first_name": first_name, "last_name": last_name,
             "username": username, "language_code": language_code}
        )
        chat = _compact(
            {"id": uid, "type": "private", "first_name": first_name, "last_name": last_name,
             "username": username}
        )
        self._users[uid] = user
        state = self._chats.get(uid)
        if state is None:
            members = {uid: "member", self.bot_id: "member"}
            self._chats[uid] = _ChatState(chat, secrets.token_hex(8), members)
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
        chat = _compact(
            {"id": chat_id, "type": "supergroup", "title": title, "username": username, "is_forum": is_forum}
        )
        state = self._chats.get(chat_id)
        if state is None:
            # Message 1 of a supergroup is its creation (and the General topic), so
            # neither new messages nor topic ids ever get that id.
            members = {self.bot_id: "administrator"}
            state = self._chats[chat_id] = _ChatState(chat, secrets.token_hex(8), members, last_message_id=1)
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
            "chat": self._state(user_id).chat, "from": user, "date": _now(),
            "old_chat_member": _chat_member(self._sender, old),
            "new_chat_member": _chat_member(self._sender, new),
        }
        self._enqueue({"my_chat_member": change})

    def user(self, user_id: int) -> JSON:
        return dict(self._users[user_id])

    def _user(self, user_id: int) -> JSON:
        """A known user; unknown ids are created with default names, for convenience."""
        if user_id not in self._users:
            self.add_user(user_id)
        return self._users[user_id]

    def _state(self, chat_id: int) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            raise ValueError(f"unknown chat {chat_id}")
        return state

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
        if entities := _command_entities(text):
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
        contact = _compact(
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
        content = _compact({"photo": stored.payload(), "caption": caption or None})
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
        content = _compact({"document": stored.payload(), "caption": caption or None})
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
        if not forged and not _has_callback_button(stored, data):
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
        message.update(text=text, edit_date=_now())
        if entities := _command_entities(text):
            message["entities"] = entities
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

    def _chat_for_user(self, user_id: int, chat_id: int | None) -> _ChatState:
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

    def _user_thread(self, state: _ChatState, user_id: int, thread_id: int | None) -> int | None:
        if thread_id is None or not state.is_forum or thread_id == GENERAL_TOPIC_ID:
            return None
        topic = self.topics.get(state.id, {}).get(thread_id)
        if topic is None or topic["deleted"]:
            raise ValueError(f"message thread {thread_id} not found in chat {state.id}")
        if topic["closed"] and state.members.get(user_id) not in ADMIN_STATUSES:
            raise ValueError(f"topic {thread_id} is closed")
        return thread_id

    def _enqueue(self, payload: JSON) -> JSON:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, **payload}
        self._counters["updates_injected"] += 1
        if _update_type(update) in self._allowed_updates:
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

    def _records_after(self, chat_id: int | None, since: int) -> list[_BotRecord]:
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
                raise asyncio.TimeoutError(
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
        self._faults.append(_Fault(method, status, retry_after, description, times, delay, chat_id))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults_left(self) -> int:
        """Injected faults not yet triggered (a slow answer counts as triggered once its call arrived)."""
        return sum(fault.remaining for fault in self._faults)

    def _take_fault(self, method: str, params: Params) -> _Fault | None:
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

    # ----------------------------------------------------------------- HTTP: Bot API

    def _method_table(self) -> dict[str, tuple[str, ApiHandler]]:
        handlers: dict[str, ApiHandler] = {
            "getMe": self._get_me,
            "logOut": self._accept,
            "close": self._accept,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": partial(self._send_media, "photo"),
            "sendDocument": partial(self._send_media, "document"),
            "sendVoice": partial(self._send_media, "voice"),
            "sendChatAction": self._send_chat_action,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "createForumTopic": self._create_forum_topic,
            "editForumTopic": self._edit_forum_topic,
            "closeForumTopic": partial(self._set_topic_closed, True),
            "reopenForumTopic": partial(self._set_topic_closed, False),
            "deleteForumTopic": self._delete_forum_topic,
            # Accepted so bots configuring themselves at start-up don't fail; not modelled.
            "setMyDescription": self._accept,
            "setMyShortDescription": self._accept,
            "setMyName": self._accept,
            "setChatMenuButton": self._accept,
        }
        # Telegram matches method names case-insensitively.
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    async def _handle_api(self, request: web.Request) -> web.Response:
        if self._token is not None and request.match_info["token"] != self._token:
            return _error(ApiError(401, "Unauthorized"))
        received = time.monotonic()
        requested = request.match_info["method"]
        name, handler = self._methods.get(requested.lower(), (requested, None))
        try:
            params = await _read_params(request)
            self._count_received(name, params, received)
            self.calls.append((name, params.logged()))
            self._method_counts[name] += 1
            if handler is None:
                log.warning("Bot API method %r is not emulated", requested)
                raise ApiError(404, "Not Found")
            await self._apply_fault(name, params)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            self._error_counts[exc.status] += 1
            return _error(exc)
        except web.HTTPException as exc:  # e.g. 413 from reading an oversized body
            self._error_counts[exc.status] += 1
            return _error(ApiError(exc.status, exc.reason))
        except Exception as exc:  # an emulator bug: report it like a server error
            log.exception("emulator failed on %s", name)
            self._error_counts[500] += 1
            return _error(ApiError(500, f"Internal Server Error: {exc!r}"))
        return _ok(result)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["file_path"])
        if stored is None or (self._token is not None and request.match_info["token"] != self._token):
            return _error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type)

    def _accept(self, _params: Params) -> bool:
        return True

    def _get_me(self, _params: Params) -> JSON:
        return dict(self.bot_user)

    # getUpdates and the webhook

    async def _get_updates(self, params: Params) -> list[JSON]:
        if self.webhook["url"]:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = params.get_int("offset", 0) or 0
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_float("timeout", 0.0), 0.0)
        self._set_allowed_updates(params.get_json("allowed_updates"))
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.fire()  # terminates an older long poll, as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._updates_signal.wait(remaining):
                break
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLLING)
            if self.webhook["url"]:
                raise ApiError(409, CONFLICT_WEBHOOK)
        batch = list(itertools.islice(self._pending, limit))
        self._counters["updates_delivered"] += len(batch)
        return batch

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def _set_allowed_updates(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed_updates JSON object")
        self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES

    def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        # Like a self-hosted Bot API server in --local mode, plain HTTP to this machine is allowed.
        if url and not url.startswith("https://") and urlsplit(url).hostname not in LOOPBACK_HOSTS:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self._set_allowed_updates(params.get_json("allowed_updates"))
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get_json("allowed_updates"),
            "max_connections": params.get_int("max_connections", 40),
        }
        self._updates_signal.fire()
        if url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_by_webhook())
        return True

    async def _deliver_by_webhook(self) -> None:
        """Like Telegram: POST pending updates to the webhook with the secret header, up to
        ``max_connections`` at once but one at a time per chat, in order; an update stays pending
        until answered 2xx (what else comes back is retried with growing pauses)."""
        pause = WEBHOOK_FIRST_PAUSE
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as session:
            while self.webhook["url"] and not self._closing:
                if not self._pending:
                    await self._updates_signal.wait(1.0)
                    continue
                batch: list[JSON] = []
                busy: set[int] = set()
                for update in self._pending:
                    chat = _update_chat_id(update)
                    if chat is not None and chat in busy:
                        continue
                    if chat is not None:
                        busy.add(chat)
                    batch.append(update)
                    if len(batch) >= self.webhook["max_connections"]:
                        break
                answers = await asyncio.gather(*(self._post_update(session, update) for update in batch))
                for update, delivered in zip(batch, answers, strict=True):
                    if delivered:
                        with contextlib.suppress(ValueError):
                            self._pending.remove(update)
                        self._counters["updates_delivered"] += 1
                if all(answers):
                    pause = WEBHOOK_FIRST_PAUSE
                else:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, WEBHOOK_LONGEST_PAUSE)

    async def _post_update(self, session: aiohttp.ClientSession, update: JSON) -> bool:
        headers = {"Content-Type": "application/json"}
        if self.webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        try:
            async with session.post(self.webhook["url"], data=json.dumps(update), headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return True
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        self._counters["webhook_errors"] += 1
        self.webhook["last_error_date"], self.webhook["last_error_message"] = _now(), error
        return False

    def _delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": 40}
        return True

    def _get_webhook_info(self, _params: Params) -> JSON:
        info: JSON = {
            "url": self.webhook["url"], "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            info["allowed_updates"] = sorted(self._allowed_updates)
            if "last_error_date" in self.webhook:
                info["last_error_date"] = self.webhook["last_error_date"]
                info["last_error_message"] = self.webhook["last_error_message"]
        return info

    # commands

    def _commands_key(self, params: Params) -> tuple[str, str]:
        scope = params.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        return _dumps(scope, sort_keys=True), params.get_str("language_code") or ""

    def _set_my_commands(self, params: Params) -> bool:
        commands = params.get_json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not (isinstance(command, dict) and BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command")))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        cleaned = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._commands[self._commands_key(params)] = cleaned
        return True

    def _get_my_commands(self, params: Params) -> list[JSON]:
        return list(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: Params) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    # sending

    def _send_message(self, params: Params) -> JSON:
        text, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH, required=True)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        preview = params.get_json("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        return self._send(params, content)

    def _send_media(self, kind: str, params: Params) -> JSON:
        stored = self._input_file(params, kind)
        content: JSON = {kind: stored.payload(params.get_int("duration"))}
        content.update(self._caption(params))
        return self._send(params, content)

    def _caption(self, params: Params) -> JSON:
        caption, entities = self._formatted(params, "caption", "caption_entities", MAX_CAPTION_LENGTH)
        return _compact({"caption": caption or None, "caption_entities": entities or None})

    def _send_chat_action(self, params: Params) -> bool:
        state = self._writable_chat(params)
        action = params.get_str("action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread_id = self._bot_thread(state, params.get_int("message_thread_id"))
        event = _compact({"chat_id": state.id, "action": action, "message_thread_id": thread_id})
        self._emit("chat_action", event)
        return True

    def _copy_message(self, params: Params) -> JSON:
        source = self._source_message(params, "copy")
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not PRIMARY_CONTENT_KEYS.intersection(content):
            raise bad_request("message can't be copied")
        if "caption" in params and any(key in content for key in MEDIA_KEYS):
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(params))
        return {"message_id": self._send(params, content)["message_id"]}

    def _forward_message(self, params: Params) -> JSON:
        source = self._source_message(params, "forward")
        content = {key: source[key] for key in CONTENT_KEYS if key in source}
        if not PRIMARY_CONTENT_KEYS.intersection(content):
            raise bad_request("message can't be forwarded")
        return self._send(params, {"forward_origin": _forward_origin(source), **content})

    def _source_message(self, params: Params, verb: str) -> JSON:
        source_chat = self._resolve_chat(params.get_chat_id("from_chat_id"))
        message = source_chat.messages.get(self._message_id(params))
        if message is None:
            raise bad_request(f"message to {verb} not found")
        return message

    def _send(self, params: Params, content: JSON) -> JSON:
        """Validate placement and markup, then store ``content`` as a new bot message."""
        state = self._writable_chat(params)
        reply_to = self._reply_target(state, params)
        thread_id = params.get_int("message_thread_id")
        if thread_id is None and reply_to is not None:
            thread_id = reply_to.get("message_thread_id")
        thread_id = self._bot_thread(state, thread_id)
        inline, keyboard = self._reply_markup(params)
        if inline is not None:
            content["reply_markup"] = inline
        message = self._append_message(state, self._sender, content, thread_id, reply_to)
        self._track_keyboard(state.id, keyboard)
        self._record_bot_message(state, message, keyboard)
        return dict(message)

    def _append_message(
        self, state: _ChatState, sender: JSON, content: JSON, thread_id: int | None, reply_to: JSON | None
    ) -> JSON:
        state.last_message_id += 1
        message: JSON = {
            "message_id": state.last_message_id, "from": sender, "chat": state.chat, "date": _now(),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
            reply_to = reply_to or state.messages.get(thread_id)  # the topic's creation message
        if reply_to is not None:
            message["reply_to_message"] = _snapshot(reply_to)
        message.update(content)
        state.add(message)
        return message

    def _record_bot_message(self, state: _ChatState, message: JSON, keyboard: JSON | None) -> None:
        self._seq += 1
        record = _BotRecord(self._seq, message, keyboard)
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

    # resolving chats, threads, replies, markup and files

    def _resolve_chat(self, ref: int | str | None) -> _ChatState:
        if ref is None:
            raise bad_request("chat_id is empty")
        chat_id = self._usernames.get(ref[1:].lower()) if isinstance(ref, str) else ref
        state = self._chats.get(chat_id) if chat_id is not None else None
        if state is None:
            raise bad_request("chat not found")
        return state

    def _writable_chat(self, params: Params) -> _ChatState:
        """The target chat, checking the bot may still write there."""
        state = self._resolve_chat(params.get_chat_id())
        if state.is_private and state.id in self._blocked:
            raise ApiError(403, BLOCKED)
        status = state.members.get(self.bot_id, "left")
        if status == "kicked":
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        if status == "left":
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return state

    def _bot_thread(self, state: _ChatState, thread_id: int | None) -> int | None:
        if thread_id is None or not state.is_forum or thread_id == GENERAL_TOPIC_ID:
            return None
        topic = self.topics.get(state.id, {}).get(thread_id)
        if topic is None or topic["deleted"]:
            raise bad_request("message thread not found")
        return thread_id

    def _reply_target(self, state: _ChatState, params: Params) -> JSON | None:
        reply = params.get_json("reply_parameters") or {}
        if not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = reply.get("message_id", params.get_int("reply_to_message_id"))
        if message_id is None:
            return None
        reply_chat = Params(reply).get_chat_id()
        if reply_chat is not None and self._resolve_chat(reply_chat).id != state.id:
            raise bad_request("replies to messages in other chats are not supported by the emulator")
        target = state.messages.get(int(message_id))
        allow_missing = reply.get(
            "allow_sending_without_reply", params.get_bool("allow_sending_without_reply")
        )
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    def _reply_markup(self, params: Params) -> tuple[JSON | None, JSON | None]:
        """(inline keyboard, other reply markup); Telegram echoes only the inline one."""
        markup = params.get_json("reply_markup")
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup)
            return (markup if markup["inline_keyboard"] else None), None
        if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            return None, markup
        raise bad_request("can't parse reply keyboard markup JSON object")

    def _inline_markup(self, params: Params) -> JSON | None:
        inline, other = self._reply_markup(params)
        if other is not None:
            raise bad_request("inline keyboard expected")
        return inline

    def _formatted(
        self, params: Params, text_key: str, entities_key: str, limit: int, *, required: bool = False
    ) -> tuple[str, list[JSON]]:
        raw = params.get_str(text_key)
        if raw is None:
            if required:
                raise bad_request("message text is empty")
            return "", []
        entities = params.get_json(entities_key)
        if entities is not None:
            if not isinstance(entities, list) or not all(isinstance(entity, dict) for entity in entities):
                raise bad_request(f"can't parse {entities_key} JSON object")
            text = raw
        elif parse_mode := params.get_str("parse_mode"):
            text, entities = self._parse(raw, parse_mode)
        else:
            text, entities = raw, []
        if required and not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request("message is too long" if text_key == "text" else "message caption is too long")
        return text, entities

    def _parse(self, text: str, parse_mode: str) -> tuple[str, list[JSON]]:
        try:
            return parse_formatted(text, parse_mode, self._users)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        except ValueError:
            raise bad_request("unsupported parse_mode") from None

    def _message_id(self, params: Params) -> int:
        message_id = params.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return message_id

    def _input_file(self, params: Params, kind: str) -> StoredFile:
        value = params.get_file(kind)
        if value is None or value == "":
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, Upload):
            return self._store_file(kind, value.data, file_name=value.filename, mime_type=value.content_type)
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
        return stored

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

    # editing and deleting

    def _bot_message(self, params: Params, missing: str) -> tuple[_ChatState, JSON]:
        if params.get_str("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the emulator has no inline mode
        state = self._writable_chat(params)
        message = state.messages.get(self._message_id(params))
        if message is None:
            raise bad_request(missing)
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return state, message

    def _edit_message_text(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, "text", "entities", MAX_TEXT_LENGTH, required=True)
        changes = {"text": text, "entities": entities or None, "reply_markup": self._inline_markup(params)}
        preview = params.get_json("link_preview_options")
        if isinstance(preview, dict) and preview:
            changes["link_preview_options"] = preview
        return self._apply_edit(message, changes)

    def _edit_message_caption(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        if not any(key in message for key in MEDIA_KEYS):
            raise bad_request("there is no caption in the message to edit")
        caption = self._caption(params)
        changes = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
            "reply_markup": self._inline_markup(params),
        }
        return self._apply_edit(message, changes)

    def _edit_message_reply_markup(self, params: Params) -> JSON:
        _state, message = self._bot_message(params, "message to edit not found")
        return self._apply_edit(message, {"reply_markup": self._inline_markup(params)})

    def _apply_edit(self, message: JSON, changes: JSON) -> JSON:
        """Apply top-level changes (None removes a field) in place, so every view sees them."""
        if all(message.get(key) == value for key, value in changes.items()):
            raise bad_request(NOT_MODIFIED)
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = _now()
        record = self._record_index.get((message["chat"]["id"], message["message_id"]))
        self._emit("edit", record.view() if record else dict(message))
        return dict(message)

    def _delete_message(self, params: Params) -> bool:
        state = self._resolve_chat(params.get_chat_id())
        message_id = self._message_id(params)
        if state.remove(message_id) is None:
            raise bad_request("message to delete not found")
        self._mark_deleted(state.id, message_id)
        self._emit("delete", {"chat_id": state.id, "message_id": message_id})
        return True

    def _mark_deleted(self, chat_id: int, message_id: int) -> None:
        record = self._record_index.get((chat_id, message_id))
        if record is not None:
            record.deleted = True

    def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id")
        if query_id not in self._open_callbacks:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(params.get_str("text") or "") > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        answer = params.logged()
        self.callback_answers.append(answer)
        self._emit("callback_answer", dict(answer))
        return True

    # files and chats

    def _get_file(self, params: Params) -> JSON:
        stored = self.files.get(params.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.file_info()

    def _get_chat(self, params: Params) -> JSON:
        state = self._resolve_chat(params.get_chat_id())
        gifts = (
            "unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels",
        )
        info: JSON = {
            **state.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(gifts, False),
        }
        if not state.is_private:
            info["permissions"] = {"can_send_messages": True, "can_manage_topics": False}
        return info

    def _get_chat_member(self, params: Params) -> JSON:
        state = self._resolve_chat(params.get_chat_id())
        user_id = params.get_int("user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        if user_id == self.bot_id:
            user = self._sender
        else:
            placeholder = {"id": user_id, "is_bot": False, "first_name": "Deleted Account"}
            user = self._users.get(user_id, placeholder)
        return _chat_member(user, state.members.get(user_id, "left"))

    # forum topics

    def _forum(self, params: Params) -> _ChatState:
        state = self._writable_chat(params)
        if not state.is_forum:
            raise bad_request("the chat is not a forum")
        if state.members.get(self.bot_id) not in ADMIN_STATUSES:
            raise bad_request("not enough rights to manage topics")
        return state

    def _topic(self, state: _ChatState, params: Params) -> tuple[int, JSON]:
        thread_id = params.get_int("message_thread_id")
        topic = self.topics.get(state.id, {}).get(thread_id or 0)
        if thread_id is None or topic is None or topic["deleted"]:
            raise bad_request("TOPIC_ID_INVALID")
        return thread_id, topic

    def _create_forum_topic(self, params: Params) -> JSON:
        state = self._forum(params)
        name = params.get_str("name") or ""
        if not name.strip():
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        icon_color = params.get_int("icon_color", TOPIC_ICON_COLORS[0])
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        emoji_id = params.get_str("icon_custom_emoji_id") or None
        created = _compact({"name": name, "icon_color": icon_color, "icon_custom_emoji_id": emoji_id})
        thread_id = state.last_message_id + 1  # a topic's id is the id of its creation message
        self.topics.setdefault(state.id, {})[thread_id] = {**created, "closed": False, "deleted": False}
        self._append_message(state, self._sender, {"forum_topic_created": created}, thread_id, None)
        self._emit_topic(state.id, thread_id, "created")
        return {"message_thread_id": thread_id, **created}

    def _edit_forum_topic(self, params: Params) -> bool:
        state = self._forum(params)
        thread_id, topic = self._topic(state, params)
        changes = _compact(
            {
                "name": params.get_str("name") or None,
                "icon_custom_emoji_id": params.get_str("icon_custom_emoji_id"),
            }
        )
        if all(topic.get(key) == value for key, value in changes.items()):
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.update(changes)
        self._append_message(state, self._sender, {"forum_topic_edited": changes}, thread_id, None)
        self._emit_topic(state.id, thread_id, "edited")
        return True

    def _set_topic_closed(self, closed: bool, params: Params) -> bool:
        state = self._forum(params)
        thread_id, topic = self._topic(state, params)
        if topic["closed"] == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        service = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._append_message(state, self._sender, {service: {}}, thread_id, None)
        self._emit_topic(state.id, thread_id, "closed" if closed else "reopened")
        return True

    def _delete_forum_topic(self, params: Params) -> bool:
        state = self._forum(params)
        thread_id, _ = self._topic(state, params)
        self.delete_topic(state.id, thread_id)
        return True

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
            return _ok(handler(body))
        except (ValueError, KeyError, TypeError) as exc:
            return _control_error(str(exc))

    async def _control_stats(self, _request: web.Request) -> web.Response:
        return _ok(self.stats)

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
        return _ok(self.bot_messages(chat_id, since=since))

    async def _control_history(self, request: web.Request) -> web.Response:
        try:
            chat_id = _query_int(request, "chat_id")
            if chat_id is None:
                raise ValueError("chat_id is required")
            return _ok(self.history(chat_id, message_thread_id=_query_int(request, "message_thread_id")))
        except ValueError as exc:
            return _control_error(str(exc))

    async def _control_file(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return _control_error("unknown file_id", status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)


def _control_error(description: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status, dumps=_dumps)


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


async def serve(host: str = "127.0.0.1", port: int = 8081, **options: Any) -> None:
    """Run an emulator on host:port until cancelled; ``options`` go to BotAPIEmulator."""
    emulator = BotAPIEmulator(**options)
    await emulator.start(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()
