"""Which of kefu's languages a piece of text is written in.

kefu speaks three: ``zh-Hans`` (simplified Chinese), ``zh-Hant`` (traditional Chinese) and
``en``. Telegram's ``language_code`` says what the customer's app is set to; the text says
what they actually write, which is the better guide for a reply.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import opencc

Language = Literal["zh-Hans", "zh-Hant", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LANGUAGE: Language = "en"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


@lru_cache(maxsize=4)
def _converter(config: str) -> opencc.OpenCC:
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    return _converter("t2s").convert(text)


def script_neutral(text: str) -> bool:
    """True when ``text`` has Han characters and all of them are written alike in both scripts
    ("你好", "好的", "在"): OpenCC folds them to neither side, so the text cannot tell which
    script its writer uses and the reply's script has to come from what is known of them."""
    han = "".join(_HAN.findall(text))
    return bool(han) and to_simplified(han) == han and _converter("s2t").convert(han) == han


def to_traditional(text: str) -> str:
    """Simplified → traditional as written in Taiwan, with Taiwanese phrasing (OpenCC s2twp)."""
    return _converter("s2twp").convert(text)


def detect_language(text: str) -> Language | None:
    """The language of ``text``, or None when it has no letters to tell by (emoji, digits).

    Any Han character makes it Chinese; it is traditional when folding to simplified changes it.
    Latin letters alone make it English, the lingua franca of kefu's non-Chinese customers.
    """
    han = "".join(_HAN.findall(text))
    if han:
        return "zh-Hant" if to_simplified(han) != han else "zh-Hans"
    if _LATIN.search(text):
        return "en"
    return None


def language_from_telegram(language_code: str | None) -> Language:
    """Map Telegram's IETF ``language_code`` (``zh-hans``, ``zh-TW``, ``en-US`` …) to ours."""
    code = (language_code or "").strip().lower().replace("_", "-")
    if not code.startswith("zh"):
        return DEFAULT_LANGUAGE
    if code in {"zh-hant", "zh-tw", "zh-hk", "zh-mo"} or code.startswith("zh-hant"):
        return "zh-Hant"
    return "zh-Hans"


def parse_language(value: str) -> Language | None:
    """Accept a user's spelling of a language choice (``zh-hans``, ``简体``, ``English`` …)."""
    key = value.strip().lower()
    aliases: dict[str, Language] = {
        "zh-hans": "zh-Hans", "zh": "zh-Hans", "zh-cn": "zh-Hans", "cn": "zh-Hans",
        "简体": "zh-Hans", "简体中文": "zh-Hans", "中文": "zh-Hans",
        "zh-hant": "zh-Hant", "zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "tw": "zh-Hant",
        "繁體": "zh-Hant", "繁體中文": "zh-Hant", "繁体": "zh-Hant",
        "en": "en", "english": "en", "英文": "en",
    }
    return aliases.get(key)
