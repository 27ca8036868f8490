"""Formatted text and reply markup as Telegram reads them.

parse_mode text is parsed server-side: the stored text has no markup, entities carry UTF-16
offsets, and malformed markup is refused with Telegram's own wording (:class:`EntityParseError`,
which the methods turn into a 400 "can't parse entities"). The three dialects (HTML,
MarkdownV2, legacy Markdown) follow the Bot API docs. Inline keyboards are validated here too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.core.fit import utf16_len

from .limits import INLINE_BUTTON_ACTIONS, JSON, MAX_CALLBACK_DATA_BYTES, bad_request

COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,64})?(?![A-Za-z0-9_@])")


class EntityParseError(Exception):
    """Formatted text Telegram would refuse; the message uses Telegram's wording."""


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _entity(kind: str, offset: int, length: int, **extra: Any) -> JSON:
    present = {key: value for key, value in extra.items() if value is not None}
    return {"type": kind, "offset": offset, "length": length, **present}


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


def validate_inline_keyboard(markup: JSON) -> None:
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


def has_callback_button(message: JSON, data: str) -> bool:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return any(button.get("callback_data") == data for button in itertools.chain.from_iterable(rows))


def command_entities(text: str) -> list[JSON]:
    match = COMMAND_RE.match(text)
    return [_entity("bot_command", 0, utf16_len(match.group()))] if match else []
