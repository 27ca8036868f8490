"""Texts longer than Telegram takes in one message, sent as several messages.

Telegram refuses a message text over 4,096 characters and a caption over 1,024, counted in UTF-16
code units after entity parsing (an emoji outside the BMP counts 2). :func:`split_message` cuts a
longer text into parts that each fit: at a paragraph break if it can, else at a line break, the
end of a sentence, a space or a CJK comma, and only where a run has none of these (a
10,000-character word) between two characters — never inside a surrogate pair, an emoji sequence
or a letter and its combining marks.

Formatting survives the cut. With ``parse_mode="HTML"`` the tags open at a cut are closed at the
end of one part and opened again at the start of the next, and a character reference such as
``&amp;`` is never cut. With explicit ``entities`` each part gets the pieces of the entities that
fall into it, and an entity that only means something whole (a URL, a @mention, a /command) is
not cut. MarkdownV2 is not split: kefu does not send it.

:func:`send_long` and :func:`reply_long` send the parts in order, the buttons under the last part
(or the first, for a card whose buttons act on what it starts with); :func:`copy_long` copies a
message whose text or caption is too long the same way.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from telegram import Bot, InlineKeyboardMarkup, Message, MessageEntity
from telegram.constants import MessageLimit

from bot.core.fit import utf16_len

MAX_TEXT: int = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CAPTION: int = MessageLimit.CAPTION_LENGTH  # 1024

# Entities that mean something only whole: cutting one would change what it points at.
ATOMIC_ENTITIES = frozenset({
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "custom_emoji",
})
# Break ranks: a cut goes at the best-ranked break that fits, the latest of equals.
CHARACTER, WORD, SENTENCE, LINE, PARAGRAPH = range(5)
_SENTENCE_ENDS = frozenset(".!?。！？；…")
_CJK_SENTENCE_ENDS = frozenset("。！？；…")  # a CJK text may cut right after these, spaces or not
_CJK_PAUSES = frozenset("，、：")
_ZWJ = "\u200d"
_TOKEN = re.compile(r"<[^<>]*>|&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);|.", re.S)
_TAG_NAME = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)")


class Part(NamedTuple):
    """One message's worth: its text (HTML when the whole was) and, for entities given, its own."""

    text: str
    entities: tuple[MessageEntity, ...] = ()


def fits(text: str, limit: int = MAX_TEXT, *, parse_mode: str | None = None) -> bool:
    return _units(text, parse_mode).width <= limit


def split_message(
    text: str, *, parse_mode: str | None = None, entities: Sequence[MessageEntity] | None = None,
    limit: int = MAX_TEXT, first_limit: int | None = None,
) -> list[Part]:
    """``text`` in parts of at most ``limit`` UTF-16 units of visible text (``first_limit`` for the
    first part, e.g. :data:`MAX_CAPTION` when it is a caption). A text that fits is one part, as is."""
    units = _units(text, parse_mode)
    first = limit if first_limit is None else first_limit
    if units.width <= first:
        return [Part(text, tuple(entities or ()))]
    if parse_mode is not None and parse_mode.upper() != "HTML":
        raise ValueError(f"cannot split {parse_mode} text; send plain text, HTML or entities")
    atomic = [e for e in entities or () if e.type in ATOMIC_ENTITIES]
    ranges = _cuts(units, first, limit, _atomic_spans(units, atomic))
    if parse_mode is not None:
        stacks = _open_tags(units.pieces, {at for span in ranges for at in span})
        parts = (_html_part(units, start, end, stacks[start], stacks[end]) for start, end in ranges)
        return [p for p in parts if p is not None]
    parts = [_plain_part(units, start, end, entities or ()) for start, end in ranges]
    return [p for p in parts if p.text.strip()]


# -- units: what a text is made of, with the width each takes ----------------------------------


class _Units(NamedTuple):
    pieces: list[str]  # characters; in HTML also tags and character references
    widths: list[int]  # UTF-16 width of each piece as Telegram shows it (a tag: 0)
    ends: list[int]  # running sum of widths: ends[i] is the width of pieces[:i]

    @property
    def width(self) -> int:
        return self.ends[-1]


def _units(text: str, parse_mode: str | None) -> _Units:
    pieces = list(text) if parse_mode is None else _TOKEN.findall(text)
    widths = [_width(p) for p in pieces] if parse_mode is not None else [2 if ord(c) > 0xFFFF else 1 for c in pieces]
    ends = [0]
    for width in widths:
        ends.append(ends[-1] + width)
    return _Units(pieces, widths, ends)


def _width(piece: str) -> int:
    if piece.startswith("<") and piece.endswith(">") and len(piece) > 1:
        return 0
    if piece.startswith("&") and len(piece) > 1:
        return utf16_len(html.unescape(piece))
    return utf16_len(piece)


def _is_tag(piece: str) -> bool:
    return len(piece) > 1 and piece[0] == "<"


def _is_space(piece: str) -> bool:
    return len(piece) == 1 and piece.isspace()


# -- where to cut ------------------------------------------------------------------------------


def _cuts(units: _Units, first: int, limit: int, atomic: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Unit ranges ``[start, end)`` of the parts; whitespace at a cut belongs to neither part."""
    pieces, ends = units.pieces, units.ends
    breaks = _breaks(pieces)
    starts = [b[0] for b in breaks]
    ranges: list[tuple[int, int]] = []
    position, budget = 0, first
    while ends[-1] - ends[position] > budget:
        furthest = max(position + 1, bisect_right(ends, ends[position] + budget) - 1)
        best: tuple[int, int, int] | None = None  # (rank, cut, resume)
        for index in range(bisect_right(starts, position), bisect_right(starts, furthest)):
            cut, resume, rank = breaks[index]
            if not _inside(cut, atomic) and (best is None or rank >= best[0]):
                best = (rank, cut, resume)
        if best is None:
            cut = next((c for c in range(furthest, position, -1) if _cuttable(pieces, c, atomic)), furthest)
            best = (CHARACTER, cut, cut)
        _, cut, resume = best
        ranges.append((position, cut))
        position, budget = resume, limit
    ranges.append((position, len(pieces)))
    return ranges


def _breaks(pieces: list[str]) -> list[tuple[int, int, int]]:
    """Every place a part may end at a boundary: (cut, resume, rank), in order.

    A run of whitespace (and the tags among it) is dropped at the cut; after CJK punctuation the
    cut drops nothing.
    """
    found: list[tuple[int, int, int]] = []
    index, count, before = 0, len(pieces), ""  # before: the last character seen, tags aside
    while index < count:
        piece = pieces[index]
        if _is_space(piece) and index > 0:
            end, newlines = index, 0
            while end < count and (_is_space(pieces[end]) or _is_tag(pieces[end])):
                newlines += pieces[end] == "\n"
                end += 1
            rank = PARAGRAPH if newlines >= 2 else LINE if newlines else SENTENCE if before in _SENTENCE_ENDS else WORD
            found.append((index, end, rank))
            index, before = end, " "
            continue
        if not _is_tag(piece):
            before = piece
        if index + 1 < count and not _is_space(pieces[index + 1]):
            if piece in _CJK_SENTENCE_ENDS:
                found.append((index + 1, index + 1, SENTENCE))
            elif piece in _CJK_PAUSES:
                found.append((index + 1, index + 1, WORD))
        index += 1
    return found


def _cuttable(pieces: list[str], at: int, atomic: list[tuple[int, int]]) -> bool:
    """May a part end between ``pieces[at - 1]`` and ``pieces[at]`` (no grapheme, reference or
    atomic entity cut)?"""
    if _inside(at, atomic):
        return False
    before, after = pieces[at - 1], pieces[at]
    if len(before) != 1 or len(after) != 1:
        return True  # a tag or a character reference is whole on either side
    if before == "\r" and after == "\n":
        return False
    return not (_extends(after) or before == _ZWJ or _regional_pair(pieces, at))


def _extends(char: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a joiner, a variation
    selector, a skin tone, an emoji tag."""
    code = ord(char)
    return (
        char == _ZWJ or unicodedata.category(char) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
    )


def _regional_pair(pieces: list[str], at: int) -> bool:
    """Two regional indicators make one flag: no cut between the halves of a pair."""
    def regional(piece: str) -> bool:
        return len(piece) == 1 and 0x1F1E6 <= ord(piece) <= 0x1F1FF

    if not (regional(pieces[at - 1]) and regional(pieces[at])):
        return False
    run = 0
    while at - 1 - run >= 0 and regional(pieces[at - 1 - run]):
        run += 1
    return run % 2 == 1


def _atomic_spans(units: _Units, entities: Sequence[MessageEntity]) -> list[tuple[int, int]]:
    """Atomic entities as unit ranges (entities count UTF-16 units; a unit is one code point)."""
    spans = []
    for entity in entities:
        start = bisect_right(units.ends, entity.offset) - 1
        end = bisect_right(units.ends, entity.offset + entity.length - 1)
        spans.append((start, end))
    return spans


def _inside(at: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < at < end for start, end in spans)


# -- the parts ---------------------------------------------------------------------------------


def _plain_part(units: _Units, start: int, end: int, entities: Sequence[MessageEntity]) -> Part:
    low, high = units.ends[start], units.ends[end]
    clipped = []
    for entity in entities:
        left, right = max(entity.offset, low), min(entity.offset + entity.length, high)
        if right > left:
            data = entity.to_dict()
            data.update(offset=left - low, length=right - left)
            clipped.append(MessageEntity.de_json(data, None))
    return Part("".join(units.pieces[start:end]), tuple(clipped))


_Stack = tuple[tuple[str, str], ...]  # (name, opening tag) of the open elements, outermost first


def _html_part(units: _Units, start: int, end: int, opened: _Stack, still_open: _Stack) -> Part | None:
    """The markup of ``pieces[start:end]``, with the tags open at its start reopened and the tags
    still open at its end closed."""
    if not "".join(p for p in units.pieces[start:end] if not _is_tag(p)).strip():
        return None
    closing = "".join(f"</{name}>" for name, _ in reversed(still_open))
    return Part("".join(tag for _, tag in opened) + "".join(units.pieces[start:end]) + closing)


def _open_tags(pieces: list[str], wanted: set[int]) -> dict[int, _Stack]:
    """The elements open right before ``pieces[at]``, for each ``at`` wanted."""
    stacks: dict[int, _Stack] = {}
    stack: list[tuple[str, str]] = []
    for at, piece in enumerate(pieces + [""]):
        if at in wanted:
            stacks[at] = tuple(stack)
        match = _TAG_NAME.match(piece) if _is_tag(piece) else None
        if match is None:
            continue
        closing, name = match[1] == "/", match[2].lower()
        if not closing:
            stack.append((name, piece))
            continue
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] == name:
                del stack[depth:]
                break
    return stacks


# -- sending -----------------------------------------------------------------------------------


SendPart = Callable[[Part, Any], Awaitable[Message]]


async def send_parts(
    send: SendPart, text: str, *, parse_mode: str | None = None, entities: Sequence[MessageEntity] | None = None,
    reply_markup: Any = None, markup_on_first: bool = False,
) -> list[Message]:
    """``send(part, reply_markup)`` for each part in order; the markup goes with the last part,
    or the first."""
    parts = split_message(text, parse_mode=parse_mode, entities=entities)
    marked = 0 if markup_on_first else len(parts) - 1
    return [await send(part, reply_markup if index == marked else None) for index, part in enumerate(parts)]


async def send_long(
    bot: Bot, chat_id: int | str, text: str, *, parse_mode: str | None = None,
    entities: Sequence[MessageEntity] | None = None, reply_markup: Any = None, markup_on_first: bool = False,
    **options: Any,
) -> list[Message]:
    """``bot.send_message`` for a text of any length: the messages sent, in order."""
    return await send_parts(
        lambda part, markup: bot.send_message(
            chat_id, part.text, parse_mode=parse_mode, entities=part.entities or None, reply_markup=markup, **options
        ),
        text, parse_mode=parse_mode, entities=entities, reply_markup=reply_markup, markup_on_first=markup_on_first,
    )


async def reply_long(
    message: Message, text: str, *, parse_mode: str | None = None, reply_markup: Any = None,
    markup_on_first: bool = False, **options: Any,
) -> list[Message]:
    """``message.reply_text`` for a text of any length."""
    return await send_parts(
        lambda part, markup: message.reply_text(part.text, parse_mode=parse_mode, reply_markup=markup, **options),
        text, parse_mode=parse_mode, reply_markup=reply_markup, markup_on_first=markup_on_first,
    )


async def copy_long(
    bot: Bot, message: Message, chat_id: int, *, caption: str | None = None,
    reply_markup: InlineKeyboardMarkup | None = None, **options: object,
) -> Message:
    """``message.copy`` that survives a text or caption over Telegram's limits (a Premium sender's
    long caption, or one with a signature added): the media keeps what fits as its caption, the
    rest follows as text, the markup under the last post. Returns the first post."""
    if message.text is not None and utf16_len(message.text) > MAX_TEXT:
        sent = await send_long(bot, chat_id, message.text, entities=message.entities, reply_markup=reply_markup, **options)
        return sent[0]
    if caption is None:
        entities = message.caption_entities
        caption = message.caption
    else:
        entities = ()
    if caption is None or utf16_len(caption) <= MAX_CAPTION:
        kept = {} if caption is message.caption else {"caption": caption}
        return await message.copy(chat_id, reply_markup=reply_markup, **kept, **options)
    head, *rest = split_message(caption, entities=entities, limit=MAX_TEXT, first_limit=MAX_CAPTION)
    first = await message.copy(chat_id, caption=head.text, caption_entities=head.entities or None, **options)
    for index, part in enumerate(rest):
        last = index == len(rest) - 1
        await bot.send_message(
            chat_id, part.text, entities=part.entities or None, reply_markup=reply_markup if last else None, **options
        )
    return first
