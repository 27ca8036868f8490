"""Which language a customer writes in, what counts as small talk, and the catalogs behind replies."""

from __future__ import annotations

import re

import pytest

from bot.core.i18n import catalog, text
from bot.core.language import LANGUAGES, detect_language, language_from_telegram, parse_language
from knowledge_base.smalltalk import match_smalltalk


@pytest.mark.parametrize(
    ("message", "language"),
    [("hello", "en"), ("你好", "zh-Hans"), ("我想退貨", "zh-Hant"), ("運費怎麼算", "zh-Hant"),
     ("运费怎么算", "zh-Hans"), ("iPhone 退货", "zh-Hans"), ("👍", None), ("12345", None)],
)
def test_the_language_of_a_message(message: str, language: str | None) -> None:
    assert detect_language(message) == language


@pytest.mark.parametrize(
    ("code", "language"),
    [("zh-hans", "zh-Hans"), ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh-TW", "zh-Hant"),
     ("zh-hk", "zh-Hant"), ("zh-hant", "zh-Hant"), ("en-US", "en"), ("ru", "en"), (None, "en")],
)
def test_telegram_language_codes_map_to_kefus_languages(code: str | None, language: str) -> None:
    assert language_from_telegram(code) == language


def test_language_names_customers_type() -> None:
    assert parse_language("English") == "en"
    assert parse_language("繁體") == "zh-Hant"
    assert parse_language("zh-CN") == "zh-Hans"
    assert parse_language("klingon") is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [("hello", "greeting"), ("Hi there!", "greeting"), ("你好呀", "greeting"), ("您好，在吗？", "greeting"),
     ("thanks 👍", "thanks"), ("謝謝", "thanks"), ("谢谢 再见", "goodbye"), ("bye", "goodbye")],
)
def test_small_talk_is_recognised(message: str, kind: str) -> None:
    assert match_smalltalk(message) == kind


@pytest.mark.parametrize("message", ["hi, where is my order", "你好，我要退货", "history", "thanks for nothing, refund me", ""])
def test_a_question_is_not_small_talk(message: str) -> None:
    assert match_smalltalk(message) is None


def test_every_catalog_has_the_same_texts_with_the_same_placeholders() -> None:
    english = catalog("en")
    for language in LANGUAGES:
        texts = catalog(language)
        assert texts.keys() == english.keys(), language
        for key, value in texts.items():
            assert set(re.findall(r"{(\w+)}", value)) == set(re.findall(r"{(\w+)}", english[key])), (language, key)


def test_a_placeholder_the_code_does_not_fill_renders_empty_instead_of_crashing() -> None:
    assert text("en", "greeting") == "Hello ! How can I help you today?"
