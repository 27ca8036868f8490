"""Callback data as typed values: what an inline button carries back when it is pressed.

Telegram gives a button at most 64 bytes of data and hands back whatever a client sends: a
modified client can send anything, and a customer may press a button kefu sent months ago. So
each kind of button is a frozen dataclass with its own prefix. :meth:`Button.pack` writes the
string Telegram carries, ``prefix:field:field``; :meth:`Kinds.parse` reads a press back into its
kind, refusing whatever kefu never writes — an unknown prefix, a missing or extra field, a number
with a sign, a leading zero or out of its range, a value not among its choices, more than 64
bytes. What parses packs back to the very same string, so a press has one meaning; and a kind's
wire format never changes, so a button already sent keeps it.

The kinds live with whoever builds them: handlers/callbacks.py for the handlers' own buttons,
scheduler/buttons.py for the buttons under the outbox's messages (the scheduler does not import
handlers). handlers/callbacks.py gathers them all and parses every press.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from bot.core.db import ROW_ID_MAX

DATA_LIMIT = 64
"""Bytes of callback data Telegram keeps with a button (UTF-8)."""

Read = Callable[[str], Any]
"""How a field is read from the data: its value, or None when the text is not one kefu writes."""


def whole(low: int, high: int) -> Callable[[str], int | None]:
    """A whole number from ``low`` to ``high``, written as kefu writes it: ASCII digits, no sign,
    no leading zero (Python would read "²", "+7" and "007" as numbers too)."""
    width = len(str(high))

    def read(given: str) -> int | None:
        if not (given.isascii() and given.isdigit()) or len(given) > width or (given[0] == "0" and given != "0"):
            return None
        value = int(given)
        return value if low <= value <= high else None

    return read


ROW_ID = whole(1, ROW_ID_MAX)
"""The id of a row (a ticket, an outbox message, a question, a campaign)."""


def one_of(choices: Iterable[str]) -> Callable[[str], str | None]:
    allowed = frozenset(choices)
    return lambda given: given if given in allowed else None


def any_text(given: str) -> str:
    """Any text, the empty one too (an order number: the order handler checks whose it is)."""
    return given


def some_text(given: str) -> str | None:
    """Any text but the empty one."""
    return given or None


@dataclass(frozen=True)
class Button:
    """A kind of button: ``PREFIX``, then its dataclass fields, each read by ``FIELDS`` in order.
    The last field takes the rest of the data, ``:`` included. A kind whose wire format is not
    that plain shape overrides :meth:`pack` and :meth:`unpack` (both, so that they agree)."""

    PREFIX: ClassVar[str]
    FIELDS: ClassVar[tuple[Read, ...]] = ()

    def pack(self) -> str:
        return ":".join([self.PREFIX, *(str(getattr(self, f.name)) for f in fields(self))])

    @classmethod
    def unpack(cls, rest: str | None) -> Self | None:
        """The button whose data is ``PREFIX:rest`` (``rest`` None: the prefix alone), or None."""
        if not cls.FIELDS:
            return cls() if rest is None else None
        if rest is None:
            return None
        parts = rest.split(":", len(cls.FIELDS) - 1)
        if len(parts) != len(cls.FIELDS):
            return None
        values = [read(part) for read, part in zip(cls.FIELDS, parts, strict=True)]
        return None if any(v is None for v in values) else cls(*values)


class Kinds:
    """The kinds of button an application sends, by prefix: no prefix twice, and none that another
    one's data could begin with (``tk`` beside ``tk:prio``), so that a press has one reading."""

    def __init__(self, *kinds: type[Button]) -> None:
        self.by_prefix: dict[str, type[Button]] = {}
        for kind in kinds:
            for prefix in self.by_prefix:
                if f"{kind.PREFIX}:".startswith(f"{prefix}:") or f"{prefix}:".startswith(f"{kind.PREFIX}:"):
                    raise ValueError(f"the prefix {kind.PREFIX!r} of {kind.__name__} clashes with {prefix!r}")
            self.by_prefix[kind.PREFIX] = kind

    def parse(self, data: object) -> Button | None:
        """The button ``data`` is, or None: not a string, longer than Telegram keeps, no known
        prefix, or fields that kind does not write."""
        if not isinstance(data, str) or len(data.encode("utf-8", "surrogatepass")) > DATA_LIMIT:
            return None
        ends = [len(data), *(i for i, c in enumerate(data) if c == ":")]
        for end in ends:
            kind = self.by_prefix.get(data[:end])
            if kind is not None:
                return kind.unpack(data[end + 1:] if end < len(data) else None)
        return None
