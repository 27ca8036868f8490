"""The knowledge base the bot serves changes without a restart, and never to a broken one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knowledge_base.entries import KBError
from knowledge_base.live import LiveKnowledgeBase

SHOP_KB = """\
- id: gift_wrap
  category: extras
  action: answer
  questions:
    en: [do you offer gift wrapping, can you wrap it as a present]
    zh-Hans: [可以包装成礼物吗, 有礼品包装吗]
  answer:
    en: Gift wrapping is free.
    zh-Hans: 礼品包装免费。
"""


def _touch_later(path: Path) -> None:
    """Make sure a rewrite is seen as a change even within the file system's time resolution."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_changed_shop_file_is_served_after_reload(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP_KB, encoding="utf-8")
    live = LiveKnowledgeBase([shop], tmp_path / "learned.yaml")
    assert live.route("do you offer gift wrapping").entry_id == "gift_wrap"
    assert live.reload_if_changed() is False  # nothing changed

    shop.write_text(SHOP_KB.replace("Gift wrapping is free.", "Gift wrapping costs ¥5."), encoding="utf-8")
    _touch_later(shop)
    assert live.reload_if_changed() is True
    assert live.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."


def test_a_broken_file_keeps_the_last_good_knowledge_base_serving(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP_KB, encoding="utf-8")
    live = LiveKnowledgeBase([shop], tmp_path / "learned.yaml")
    shop.write_text(SHOP_KB.replace("    en: Gift wrapping is free.\n", "    en: ''\n"), encoding="utf-8")
    _touch_later(shop)
    assert live.reload_if_changed() is False
    assert live.last_error is not None
    assert "shop.yaml" in str(live.last_error) and "gift_wrap" in str(live.last_error) and "answer" in str(live.last_error)
    assert live.answer("gift_wrap", "en") == "Gift wrapping is free."


def test_a_broken_file_at_start_is_an_error_naming_file_entry_and_field(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP_KB.replace("action: answer", "action: dance"), encoding="utf-8")
    with pytest.raises(KBError) as error:
        LiveKnowledgeBase([shop], tmp_path / "learned.yaml")
    assert "shop.yaml" in str(error.value) and "gift_wrap" in str(error.value) and "action" in str(error.value)


def test_taught_questions_are_saved_and_survive_a_restart(tmp_path: Path) -> None:
    learned = tmp_path / "learned.yaml"
    live = LiveKnowledgeBase([], learned)
    live.add_question("coupon", "en", "is the shipping free for students")
    assert live.route("is the shipping free for students").entry_id == "coupon"
    assert live.reload_if_changed() is False  # its own write is not a foreign change
    restarted = LiveKnowledgeBase([], learned)
    assert restarted.route("is the shipping free for students").entry_id == "coupon"


def test_answers_fill_in_the_shops_facts(tmp_path: Path) -> None:
    live = LiveKnowledgeBase([], tmp_path / "learned.yaml", values={"shipping_fee": "¥8", "free_shipping_threshold": "¥88"})
    answer = live.answer("shipping_fee", "zh-Hans")
    assert "¥8" in answer and "{shipping_fee}" not in answer


def test_the_configured_confidence_bands_default_to_the_calibrated_ones() -> None:
    from bot.core.config import KnowledgeBaseSettings
    from knowledge_base.router import RouterSettings

    settings, calibrated = KnowledgeBaseSettings(), RouterSettings()
    assert (settings.high_confidence, settings.low_confidence) == (calibrated.high, calibrated.low)
