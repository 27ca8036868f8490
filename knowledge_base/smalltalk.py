"""Greetings, thanks and goodbyes: short social messages that need a friendly word, not an FAQ.

A message counts as small talk only when, after stripping punctuation and emoji, it consists of
nothing but such phrases ("hi there!", "你好呀", "thx 👍"); "hi, where is my order" is a
question and goes to routing.
"""

from __future__ import annotations

import re
from typing import Literal

from bot.core.language import to_simplified

SmallTalk = Literal["greeting", "thanks", "goodbye"]

_PHRASES: dict[SmallTalk, tuple[str, ...]] = {
    "greeting": (
        "hello", "hi", "hey", "hiya", "howdy", "yo", "good morning", "good afternoon",
        "good evening", "morning", "hello there", "hi there", "hey there", "greetings",
        "你好", "您好", "你好啊", "你好呀", "您好呀", "嗨", "哈喽", "哈啰", "喂", "在吗", "在不在",
        "早", "早上好", "上午好", "下午好", "晚上好", "大家好", "客服", "客服你好", "亲", "在",
    ),
    "thanks": (
        "thanks", "thank you", "thank you very much", "thanks a lot", "thx", "ty", "many thanks",
        "cheers", "great thanks", "ok thanks", "ok thank you",
        "谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "非常感谢", "谢啦", "谢了", "好的谢谢", "好的 谢谢",
        "辛苦了", "麻烦了",
    ),
    "goodbye": (
        "bye", "goodbye", "bye bye", "see you", "see ya", "good night",
        "再见", "拜拜", "晚安", "回见",
    ),
}

_PARTICLES = "啊呀哦噢吧呢嘛啦哈~"
_STRIP = re.compile(r"[^\w\s]|_", re.UNICODE)


def _clean(text: str) -> str:
    text = to_simplified(text).lower()
    text = _STRIP.sub(" ", text)
    return " ".join(text.split()).strip(_PARTICLES + " ")


_LOOKUP: dict[str, SmallTalk] = {_clean(p): kind for kind, ps in _PHRASES.items() for p in ps}


def match_smalltalk(text: str) -> SmallTalk | None:
    """The kind of small talk ``text`` is, or None if it carries anything more."""
    cleaned = _clean(text)
    if not cleaned or len(cleaned) > 40:
        return None
    if cleaned in _LOOKUP:
        return _LOOKUP[cleaned]
    # "hi thanks", "谢谢 再见": every part is small talk; the last one decides the kind.
    return _match_sequence(cleaned.replace(" ", ""))


_JOINED: dict[str, SmallTalk] = {k.replace(" ", ""): v for k, v in _LOOKUP.items()}


def _match_sequence(joined: str) -> SmallTalk | None:
    """Greedy longest-first split of ``joined`` into known phrases, particles skipped."""
    table = _JOINED
    kinds: list[SmallTalk] = []
    i = 0
    while i < len(joined):
        for j in range(len(joined), i, -1):
            piece = joined[i:j].strip(_PARTICLES)
            if piece in table:
                kinds.append(table[piece])
                i = j
                break
        else:
            if joined[i] in _PARTICLES:
                i += 1
                continue
            return None
    return kinds[-1] if kinds else None
