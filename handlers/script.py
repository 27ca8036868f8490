"""An agent's reply in the customer's own script.

Agents on the mainland type simplified Chinese; a customer from Taiwan or Hong Kong reads
traditional, and a reply in the other script reads as careless. A reply to a customer kefu
answers in traditional (``customer.language``: what they write, or chose with /lang) is converted
as the knowledge base converts its answers (OpenCC s2twp, bot/core/language.py), unless
``[desk] convert_script = false``. The agent's formatting is kept: the text is converted piece by
piece between the entities' edges, so that a conversion changing a phrase's length (U盘 → 隨身碟)
moves the bold, links and the rest with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import MessageEntity

from bot.core.config import Settings
from bot.core.fit import utf16_len
from bot.core.language import to_traditional
from ticketing.models import Customer


def converts_for(settings: Settings, customer: Customer) -> bool:
    """Whether what agents send this customer is converted to traditional."""
    return settings.desk.convert_script and customer.language == "zh-Hant"


def for_customer(
    settings: Settings, customer: Customer, said: str, entities: Sequence[MessageEntity] = (),
) -> tuple[str, tuple[MessageEntity, ...]]:
    """``said`` (with its ``entities``) as the customer is sent it."""
    if not said or not converts_for(settings, customer):
        return said, tuple(entities)
    return convert_keeping_entities(said, entities)


def convert_keeping_entities(said: str, entities: Sequence[MessageEntity]) -> tuple[str, tuple[MessageEntity, ...]]:
    """``said`` in traditional, each entity over the same words as before (offsets in UTF-16 units)."""
    if not entities:
        return to_traditional(said), ()
    edges = sorted({0, utf16_len(said)} | {e.offset for e in entities} | {e.offset + e.length for e in entities})
    index = _indexes(said, edges)
    moved: dict[int, int] = {edges[0]: 0}
    pieces: list[str] = []
    for start, end in zip(edges, edges[1:], strict=False):
        piece = to_traditional(said[index[start]:index[end]])
        pieces.append(piece)
        moved[end] = moved[start] + utf16_len(piece)
    converted = tuple(
        MessageEntity(
            e.type, moved[e.offset], moved[e.offset + e.length] - moved[e.offset], url=e.url, user=e.user,
            language=e.language, custom_emoji_id=e.custom_emoji_id,
        )
        for e in entities
    )
    return "".join(pieces), converted


def _indexes(said: str, edges: Sequence[int]) -> dict[int, int]:
    """Python string indexes of UTF-16 offsets (a character outside the BMP counts 2 units)."""
    wanted, found, units = set(edges), {}, 0
    for position, character in enumerate(said):
        if units in wanted:
            found[units] = position
        units += 2 if ord(character) > 0xFFFF else 1
    found[units] = len(said)
    return {edge: found.get(edge, len(said)) for edge in edges}
