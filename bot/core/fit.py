"""Strings from outside (Telegram's names, language codes, what customers type) made to fit where
kefu stores them.

Telegram caps what it sends (a first name at 64 characters), but kefu joins values (an agent's
"first last" is up to 129) and its columns cap what they hold. A value over its column fails
the whole write — tortoise's ValidationError, PostgreSQL's "value too long" — and with it every
message of that user, again and again. So such a value is cut, never refused: :func:`cut` keeps
whole graphemes (UAX #29 extended grapheme clusters, the ``regex`` module's ``\\X``: never a
letter without its combining marks, half an emoji sequence or half a flag) and ends with "…" to
show it was cut. Lengths are counted in characters (code points), as ``VARCHAR(n)`` and tortoise
count them.

A value whose meaning a cut would change (a language code, a time zone) is not cut: the caller
treats it as unknown.

PostgreSQL's text cannot hold U+0000 (SQLite's can): :func:`storable` drops it from text kept in
plain columns (encrypted columns hold a Fernet token, never a NUL).

Telegram counts the other way: a message's length and its entities' offsets are in UTF-16 code
units (:func:`utf16_len`, an emoji outside the BMP counts 2). It lives here, in the kernel, because
the bot's sending side (bot/telegram/longtext.py), the emulator that checks what it receives and
a domain that sizes a message before it is sent (scheduler/campaigns.py) all count alike.
"""

from __future__ import annotations

import regex

ELLIPSIS = "…"
_GRAPHEME = regex.compile(r"\X")


def cut(text: str, limit: int) -> str:
    """``text`` as it is if it has at most ``limit`` characters, else its first whole graphemes
    and "…", ``limit`` characters at most in all."""
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    kept = 0
    for grapheme in _GRAPHEME.finditer(text):
        if grapheme.end() > room:
            break
        kept = grapheme.end()
    return text[:kept].rstrip() + ELLIPSIS


def storable(text: str) -> str:
    """``text`` without NUL characters, which PostgreSQL refuses in text."""
    return text.replace("\x00", "") if "\x00" in text else text


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts message length and entity offsets."""
    return len(text.encode("utf-16-le")) // 2
