"""Customers answered in the script they use when their words do not tell it, and a knowledge
base in only one of kefu's languages (English-only or Chinese-only shops)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.i18n import text
from bot.core.language import script_neutral
from knowledge_base.kb import KnowledgeBase
from knowledge_base.loader import language_gaps, load_file
from knowledge_base.match_cli import run_match
from tests.harness import Person

ENGLISH_ONLY = {
    "entries": [
        {
            "id": "returns",
            "category": "returns",
            "questions": {"en": ["can I return an item", "how do I send something back", "return policy"]},
            "answer": {"en": "Send it back within 30 days, unused."},
        },
        {
            "id": "gift_wrap",
            "category": "orders",
            "questions": {"en": ["do you gift wrap", "can you wrap it as a present", "gift wrapping"]},
            "answer": {"en": "Gift wrapping is free."},
            "buttons": [{"text": {"en": "Returns"}, "entry": "returns"}],
        },
    ]
}
CHINESE_ONLY = """\
entries:
- id: gift_wrap
  category: orders
  questions:
    zh-Hans: [可以包装成礼物吗, 有礼品包装吗, 能帮我包一下吗]
  answer:
    zh-Hant: 禮品包裝免費。
"""


@pytest.fixture
def english_only(tmp_path: Path) -> Path:
    path = tmp_path / "english-only.json"
    path.write_text(json.dumps(ENGLISH_ONLY), encoding="utf-8")
    return path


# -- the script of "你好" -------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "neutral"), [("你好", True), ("好的", True), ("在吗", False), ("谢谢", False),
                                                   ("謝謝", False), ("你好 hello", True), ("hello", False), ("👍", False)])
def test_which_messages_are_written_alike_in_both_scripts(message: str, neutral: bool) -> None:
    assert script_neutral(message) is neutral


@pytest.mark.parametrize("app", ["zh-HK", "zh-TW", "zh-hant", "zh-MO"])
async def test_hello_from_a_traditional_chinese_app_is_answered_in_traditional(make_customer, app: str) -> None:
    customer: Person = make_customer(first_name="Wing", language_code=app)
    replies = await customer.say("你好")
    assert replies.text == text("zh-Hant", "greeting", name="Wing")


@pytest.mark.parametrize("app", ["zh-CN", "en", None])
async def test_hello_from_any_other_app_is_answered_in_simplified(make_customer, app: str | None) -> None:
    customer: Person = make_customer(first_name="Fang", language_code=app)
    replies = await customer.say("你好")
    assert replies.text == text("zh-Hans", "greeting", name="Fang")


async def test_a_customer_who_wrote_traditional_keeps_traditional_for_words_alike_in_both(make_customer) -> None:
    customer: Person = make_customer(first_name="Fang", language_code="zh-CN")
    await customer.say("我想退貨")
    replies = await customer.say("你好")
    assert replies.text == text("zh-Hant", "greeting", name="Fang")
    later = await customer.say("谢谢")  # simplified now: the text tells
    assert later.text == text("zh-Hans", "thanks", name="Fang")


async def test_a_customer_back_from_english_gets_their_apps_script(make_customer) -> None:
    customer: Person = make_customer(first_name="Wing", language_code="zh-HK")
    await customer.say("hello")
    replies = await customer.say("你好")
    assert replies.text == text("zh-Hant", "greeting", name="Wing")


async def test_the_language_chosen_with_lang_decides_for_words_alike_in_both(make_customer) -> None:
    customer: Person = make_customer(first_name="Fang", language_code="zh-CN")
    await customer.say("/lang zh-Hant")
    replies = await customer.say("你好")
    assert replies.text == text("zh-Hant", "greeting", name="Fang")


# -- a KB in one language ------------------------------------------------------------------------


def test_an_english_only_file_loads_with_one_warning_per_missing_language(english_only: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="knowledge_base.loader"):
        kb = KnowledgeBase.load([english_only], include_default=False)
    assert len(kb) == 2
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning == (
        f"{english_only}: 2 entries have no Chinese answer (returns, gift_wrap): customers writing Chinese get the English one"
    )
    assert kb.answer("returns", "zh-Hans") == "Send it back within 30 days, unused."
    assert kb.answer_language("returns", "zh-Hant") == "en"
    assert kb.button_text(kb.entries["gift_wrap"].buttons[0].text, "zh-Hans") == "Returns"
    assert kb.match("我想退货")  # the entries are still ranked for any message


def test_a_chinese_only_file_loads_and_one_script_stands_in_for_the_other(tmp_path: Path) -> None:
    path = tmp_path / "chinese-only.yaml"
    path.write_text(CHINESE_ONLY, encoding="utf-8")
    kb = KnowledgeBase.load([path], include_default=False)
    assert kb.answer("gift_wrap", "zh-Hant") == "禮品包裝免費。"
    assert kb.answer("gift_wrap", "zh-Hans") == "礼品包装免费。"
    assert kb.answer_language("gift_wrap", "zh-Hans") == "zh-Hans"
    assert kb.answer("gift_wrap", "en") == "禮品包裝免費。"
    assert kb.answer_language("gift_wrap", "en") == "zh-Hant"
    assert [str(w) for w in language_gaps(load_file(path))] == [
        f"{path}: 1 entry has no English answer (gift_wrap): customers writing English get the Chinese one"
    ]


def test_an_entry_needs_an_answer_in_some_language(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text("entries:\n- id: x\n  category: c\n  questions: {en: [hi there]}\n", encoding="utf-8")
    with pytest.raises(Exception, match="field 'answer': missing answer: give it in zh-Hans, zh-Hant or en"):
        load_file(path)


def test_the_shipped_kb_and_a_one_language_shop_file_merge_by_id(english_only: Path) -> None:
    kb = KnowledgeBase.load([english_only])
    shipped = KnowledgeBase.load()
    assert len(kb) == len(shipped) + 1  # gift_wrap is new, returns replaces the shipped entry
    assert kb.answer("returns", "zh-Hans") == "Send it back within 30 days, unused."
    assert kb.answer("shipping_fee", "zh-Hans") == shipped.answer("shipping_fee", "zh-Hans")
    assert [str(w) for w in language_gaps(kb.entries.values())] == [
        f"{english_only}: 2 entries have no Chinese answer (returns, gift_wrap): customers writing Chinese get the English one"
    ]
    assert language_gaps(shipped.entries.values()) == []


def test_kb_match_works_with_an_english_only_file(english_only: Path) -> None:
    out = io.StringIO()
    assert run_match([str(english_only)], io.StringIO("do you do gift wrapping\n"), out, io.StringIO()) == 0
    assert json.loads(out.getvalue())["entry"] == "gift_wrap"


async def test_a_chinese_customer_gets_the_english_answer_and_is_told_so_once(
    make_customer, bot, english_only: Path
) -> None:
    live = bot.app.bot_data.kb
    live.files = [english_only]
    assert live.reload_if_changed()
    customer: Person = make_customer(first_name="Fang", language_code="zh-CN")
    first = await customer.say("可以包成礼物吗 gift wrap")
    assert first.text == "Gift wrapping is free.\n\n" + text("zh-Hans", "kb_only_in_english")
    assert first.buttons[:1] == ["Returns"]
    again = await customer.say("gift wrapping 可以吗")
    assert again.text == "Gift wrapping is free."
    english: Person = make_customer(first_name="Emma", language_code="en")
    assert (await english.say("do you gift wrap")).text == "Gift wrapping is free."


def test_kb_import_of_an_english_only_file_warns_and_imports(english_only: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["kb", "import", str(english_only), "--to", "shop.yaml"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("kefu: imported 2 entries from")
    assert printed.err == f"kefu: warning: {english_only}: 2 entries have no Chinese answer (returns, gift_wrap): customers writing Chinese get the English one\n"
    assert [e.id for e in load_file(tmp_path / "shop.yaml")] == ["returns", "gift_wrap"]
