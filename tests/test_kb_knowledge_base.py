"""The KnowledgeBase object: answers per language, editing into a new KB, persisting, hot swap."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.entries import KBError
from knowledge_base.kb import KnowledgeBase
from knowledge_base.loader import load_file
from knowledge_base.router import Router


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_answers_fill_placeholders_and_keep_unknown_ones_visible(kb: KnowledgeBase) -> None:
    text = kb.answer("returns", "en", {"return_days": 14})
    assert "within 14 days" in text
    assert "{return_days}" in kb.answer("returns", "en")
    assert {"shop_name", "return_days", "support_hours"} & kb.placeholders() >= {"return_days", "support_hours"}


def test_traditional_chinese_answers_are_converted_from_simplified(kb: KnowledgeBase) -> None:
    assert "退貨" in kb.answer("returns", "zh-Hant", {"return_days": 7})
    assert "退货" in kb.answer("returns", "zh-Hans", {"return_days": 7})


def test_an_unknown_language_falls_back_to_english(kb: KnowledgeBase) -> None:
    assert kb.answer("invoice", "fr") == kb.answer("invoice", "en")


def test_add_question_returns_a_new_kb_and_leaves_the_old_one_alone(kb: KnowledgeBase) -> None:
    question = "能寄到火星吗"
    newer = kb.add_question("international_shipping", "zh-Hans", question)
    assert question in newer.entries["international_shipping"].questions["zh-Hans"]
    assert question not in kb.entries["international_shipping"].questions["zh-Hans"]
    assert newer.match(question)[0].entry_id == "international_shipping"


def test_add_question_persists_to_the_shops_yaml(kb: KnowledgeBase, tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    newer = kb.add_question("invoice", "en", "can I have a fapiao", save_to=shop)
    saved = {e.id: e for e in load_file(shop)}
    assert list(saved) == ["invoice"]  # the default entry is copied into the shop's file …
    assert "can I have a fapiao" in saved["invoice"].questions["en"]
    reloaded = KnowledgeBase.load([shop])  # … where it overrides the shipped one
    assert reloaded.entries["invoice"].questions == newer.entries["invoice"].questions
    again = reloaded.add_question("invoice", "zh-Hans", "发票可以寄纸质的吗", save_to=shop)
    assert len(load_file(shop)) == 1
    assert "发票可以寄纸质的吗" in again.entries["invoice"].questions["zh-Hans"]


def test_add_question_rejects_unknown_entries_and_languages(kb: KnowledgeBase) -> None:
    with pytest.raises(KBError, match="no such entry"):
        kb.add_question("nope", "en", "hello?")
    with pytest.raises(KBError, match="unknown language"):
        kb.add_question("invoice", "de", "Rechnung?")


def test_add_entry_validates_like_a_file_and_persists(kb: KnowledgeBase, tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    raw = {
        "id": "gift_card",
        "category": "payment",
        "questions": {"zh-Hans": ["可以用礼品卡吗", "礼品卡怎么用"], "en": ["can I pay with a gift card"]},
        "answer": {"zh-Hans": "可以，在结算页输入礼品卡号。", "en": "Yes: enter the card number at checkout."},
        "buttons": [{"text": {"zh-Hans": "支付方式", "en": "Payment methods"}, "entry": "payment_methods"}],
    }
    newer = kb.add_entry(raw, save_to=shop)
    assert newer.entries["gift_card"].action == "answer"
    assert newer.match("礼品卡能用吗")[0].entry_id == "gift_card"
    assert [e.id for e in load_file(shop)] == ["gift_card"]
    with pytest.raises(KBError) as caught:
        kb.add_entry({**raw, "answer": {"zh-Hans": "可以", "en": " "}})
    assert str(caught.value) == "<kb>: entry 'gift_card': field 'answer': English answer must be a non-empty text"
    with pytest.raises(KBError, match="unknown entry 'nowhere'"):
        kb.add_entry({**raw, "buttons": [{"text": {"zh-Hans": "看", "en": "See"}, "entry": "nowhere"}]})


def test_a_router_swaps_to_a_new_kb_by_assignment(kb: KnowledgeBase) -> None:
    router = Router(kb)
    assert router.route("你们卖二手手机吗").band != "high"
    router.kb = kb.add_entry(
        {
            "id": "second_hand",
            "category": "products",
            "questions": {"zh-Hans": ["卖二手手机吗", "有没有二手的"], "en": ["do you sell used phones"]},
            "answer": {"zh-Hans": "我们只卖全新商品。", "en": "We only sell new products."},
        }
    )
    assert router.route("你们卖二手手机吗").entry_id == "second_hand"


def test_an_empty_kb_matches_nothing() -> None:
    empty = KnowledgeBase([])
    assert empty.match("where is my order") == []
    assert Router(empty).route("where is my order").band == "low"


def test_the_saved_yaml_is_readable_by_people(kb: KnowledgeBase, tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    kb.add_question("returns", "en", "return it please", save_to=shop)
    text = shop.read_text(encoding="utf-8")
    assert "我要退货" in text and "answer:\n    zh-Hans: |" in text
    assert yaml.safe_load(text)["entries"][0]["id"] == "returns"
