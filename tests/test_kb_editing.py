"""Editing the knowledge base entry by entry (knowledge_base/editing.py, the console's Knowledge
base page): an edit is saved into the file its entry comes from, validated by the file loader
itself (an invalid edit is refused with the loader's own message, nothing written), and served
at once; a shipped entry edited and a new entry go to the learned file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from bot.core.config import SHOP_FACTS
from knowledge_base.editing import (
    StaleEdit,
    fingerprint,
    listing,
    placed,
    save_entry,
    warnings,
)
from knowledge_base.entries import KBError
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.loader import DEFAULT_KB, entry_to_dict, import_file, load_file

SHOP_YAML = """\
# the shop's own answers
entries:
- id: gift_wrap
  category: extras
  action: answer
  tags: [presale]
  questions:
    en: [do you offer gift wrapping, can you wrap it as a present]
    zh-Hans: [可以包装成礼物吗, 有礼品包装吗]
  answer:
    en: Gift wrapping is free.
    zh-Hans: 礼品包装免费。
- id: store_hours
  category: store
  questions:
    en: [when is the shop open, opening hours]
  answer:
    en: We are open 9 to 5.
"""

SHOP_CSV = """\
entry_id,lang,question,answer,action,category
loyalty,en,do you have a loyalty program,Every order earns points.,answer,extras
loyalty,en,how do points work,,,
loyalty,zh-Hans,有积分吗,每笔订单都积分。,,
pickup,en,can I pick up my order,Pick-up is at our Shanghai store.,answer,store
"""


@pytest.fixture
def live(tmp_path: Path) -> LiveKnowledgeBase:
    (tmp_path / "shop.yaml").write_text(SHOP_YAML, encoding="utf-8")
    (tmp_path / "shop.csv").write_text(SHOP_CSV, encoding="utf-8")
    return LiveKnowledgeBase([tmp_path / "shop.yaml", tmp_path / "shop.csv"], tmp_path / "learned.yaml", values=SHOP_FACTS)


def edited(live: LiveKnowledgeBase, entry_id: str, **changes: object) -> dict:
    return {**entry_to_dict(live.kb.entries[entry_id]), **changes}


def test_each_entry_says_where_it_comes_from_and_where_an_edit_goes(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    shipped = placed(live, live.kb.entries["returns"])
    assert (shipped.origin, shipped.file, shipped.saves_to) == ("default", str(DEFAULT_KB), str(tmp_path / "learned.yaml"))
    shop = placed(live, live.kb.entries["gift_wrap"])
    assert (shop.origin, shop.saves_to, shop.rich) == ("shop", str(tmp_path / "shop.yaml"), True)
    csv_entry = placed(live, live.kb.entries["loyalty"])
    assert (csv_entry.origin, csv_entry.saves_to, csv_entry.rich) == ("shop", str(tmp_path / "shop.csv"), False)

    assert [p.entry.id for p in listing(live, "gift")] == ["gift_wrap"]
    assert [p.entry.id for p in listing(live, "禮品包裝")] == ["gift_wrap"]  # traditional finds simplified
    assert {p.entry.id for p in listing(live, origin="shop")} == {"gift_wrap", "store_hours", "loyalty", "pickup"}
    assert {p.entry.id for p in listing(live, category="store")} == {"store_hours", "pickup"}


def test_an_answer_edited_in_a_shop_yaml_file_is_written_back_there_and_served_at_once(
    live: LiveKnowledgeBase, tmp_path: Path
) -> None:
    answer = {"en": "Gift wrapping costs ¥5.", "zh-Hans": "礼品包装 5 元。"}
    saved = save_entry(live, edited(live, "gift_wrap", answer=answer))
    assert saved.origin == "shop" and saved.file == str(tmp_path / "shop.yaml")
    assert live.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."
    assert live.route("do you offer gift wrapping").entry_id == "gift_wrap"
    in_file = {e.id: e for e in load_file(tmp_path / "shop.yaml")}
    assert list(in_file) == ["gift_wrap", "store_hours"]  # in its place, the other entry kept
    assert in_file["gift_wrap"].answer == answer and in_file["gift_wrap"].tags == ("presale",)
    assert not (tmp_path / "learned.yaml").exists()
    # another process reading the same files sees it on its next reload
    assert LiveKnowledgeBase(live.files, live.learned_file).answer("gift_wrap", "en") == "Gift wrapping costs ¥5."


def test_a_rewritten_shop_file_keeps_its_permissions(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.chmod(0o644)
    save_entry(live, edited(live, "gift_wrap", category="wrapping"))
    assert shop.stat().st_mode & 0o777 == 0o644


def test_a_json_shop_file_stays_json(tmp_path: Path) -> None:
    shop = tmp_path / "shop.json"
    shop.write_text(json.dumps({"entries": yaml.safe_load(SHOP_YAML)["entries"]}), encoding="utf-8")
    live = LiveKnowledgeBase([shop], tmp_path / "learned.yaml")
    save_entry(live, edited(live, "store_hours", answer={"en": "Open 10 to 6."}))
    assert json.loads(shop.read_text(encoding="utf-8"))["entries"][1]["answer"] == {"en": "Open 10 to 6."}
    assert live.answer("store_hours", "en") == "Open 10 to 6."


def test_a_csv_entry_is_written_back_in_its_rows_and_the_other_rows_are_kept(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    questions = {"en": ["do you have a loyalty program", "how do points work", "do points expire"], "zh-Hans": ["有积分吗"]}
    save_entry(live, edited(live, "loyalty", questions=questions, answer={"en": "Points never expire.", "zh-Hans": "积分永不过期。"}))
    lines = (tmp_path / "shop.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "entry_id,lang,question,answer,action,category"
    assert lines[1:5] == [
        "loyalty,en,do you have a loyalty program,Points never expire.,answer,extras",
        "loyalty,en,how do points work,,,",
        "loyalty,en,do points expire,,,",
        "loyalty,zh-Hans,有积分吗,积分永不过期。,,",
    ]
    assert lines[5] == "pickup,en,can I pick up my order,Pick-up is at our Shanghai store.,answer,store"
    assert live.route("do points expire").entry_id == "loyalty"

    # CSV holds no tags or buttons: such an edit overrides the CSV's entry from the learned file
    save_entry(live, edited(live, "pickup", tags=["presale"]))
    assert placed(live, live.kb.entries["pickup"]).origin == "learned"
    assert live.kb.entries["pickup"].tags == ("presale",)


def test_a_shipped_entry_edited_is_saved_as_an_override_in_the_learned_file(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    before = DEFAULT_KB.read_bytes()
    saved = save_entry(live, edited(live, "returns", answer={"en": "Refunds within {return_days} days, no questions asked."}))
    assert saved.origin == "learned"
    assert DEFAULT_KB.read_bytes() == before
    learned = yaml.safe_load((tmp_path / "learned.yaml").read_text(encoding="utf-8"))
    assert [e["id"] for e in learned["entries"]] == ["returns"]
    assert live.answer("returns", "en") == f"Refunds within {SHOP_FACTS['return_days']} days, no questions asked."


def test_a_new_entry_goes_to_the_learned_file_and_answers(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    new = {
        "id": "gift_cards", "category": "extras", "action": "answer",
        "questions": {"en": ["do you sell gift cards", "can I buy a gift card"], "zh-Hans": ["有礼品卡吗"]},
        "answer": {"en": "Gift cards from ¥50 at {website}.", "zh-Hans": "礼品卡 50 元起。"},
        "buttons": [{"text": {"en": "Gift wrapping"}, "entry": "gift_wrap"}],
    }
    saved = save_entry(live, new, new=True)
    assert saved.origin == "learned"
    assert live.route("do you sell gift cards").entry_id == "gift_cards"
    assert [e.id for e in load_file(tmp_path / "learned.yaml")] == ["gift_cards"]

    with pytest.raises(KBError) as taken:
        save_entry(live, {**new, "answer": {"en": "Another."}}, new=True)
    assert str(taken.value) == f"{tmp_path / 'learned.yaml'}: entry 'gift_cards': field 'id': the same id is used by two entries"


@pytest.mark.parametrize(
    "change",
    [
        {"answer": {}},  # every answer cleared
        {"answer": {"en": "Wrapping is {free gift}."}},  # not a placeholder
        {"answer": {"en": "Wrapping is {0}."}},
        {"questions": {}},
        {"action": "dance"},
        {"buttons": [{"text": {"en": "Go"}, "url": "javascript:alert(1)"}]},
    ],
)
def test_an_invalid_edit_is_refused_with_the_file_loaders_message_and_nothing_is_saved(
    live: LiveKnowledgeBase, tmp_path: Path, change: dict
) -> None:
    shop = tmp_path / "shop.yaml"
    before = shop.read_bytes()
    raw = edited(live, "gift_wrap", **change)
    with pytest.raises(KBError) as refused:
        save_entry(live, raw)
    assert shop.read_bytes() == before
    assert live.answer("gift_wrap", "en") == "Gift wrapping is free."

    # the same edit made by hand in the file: the loader says the very same thing
    document = yaml.safe_load(SHOP_YAML)
    document["entries"][0] = raw
    shop.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KBError) as loaded:
        load_file(shop)
    assert str(refused.value) == str(loaded.value)
    assert "gift_wrap" in str(refused.value)


def test_a_button_to_an_unknown_entry_is_refused_as_loading_refuses_it(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    raw = edited(live, "gift_wrap", buttons=[{"text": {"en": "More"}, "entry": "no_such_entry"}])
    with pytest.raises(KBError) as refused:
        save_entry(live, raw)
    assert str(refused.value) == f"{tmp_path / 'shop.yaml'}: entry 'gift_wrap': field 'buttons': button leads to unknown entry 'no_such_entry'"
    assert "no_such_entry" not in (tmp_path / "shop.yaml").read_text(encoding="utf-8")


def test_a_csv_edit_is_refused_with_the_csv_loaders_message(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    before = (tmp_path / "shop.csv").read_bytes()
    with pytest.raises(KBError) as refused:
        save_entry(live, edited(live, "loyalty", answer={}))
    assert str(refused.value) == f"{tmp_path / 'shop.csv'}: line 2: entry 'loyalty': field 'answer': missing answer: give it in zh-Hans, zh-Hant or en"
    assert (tmp_path / "shop.csv").read_bytes() == before


def test_an_entry_that_does_not_exist_cannot_be_edited(live: LiveKnowledgeBase) -> None:
    with pytest.raises(KBError, match="no such entry"):
        save_entry(live, {"id": "nope", "category": "x", "questions": {"en": ["q"]}, "answer": {"en": "a"}})


def test_the_saved_files_load_with_kefu_kb_import(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    save_entry(live, edited(live, "gift_wrap", answer={"en": "Wrapped for ¥5.\nChoose it at checkout."}))
    save_entry(live, edited(live, "returns", tags=["returns", "edited"]))
    save_entry(live, edited(live, "loyalty", answer={"en": "Points, with \"quotes\", and commas."}))
    for source in ("shop.yaml", "learned.yaml", "shop.csv"):
        assert import_file(tmp_path / source, tmp_path / f"imported-{source}.yaml")


def test_answers_without_a_value_or_a_language_are_saved_with_a_warning(live: LiveKnowledgeBase) -> None:
    saved = save_entry(live, edited(live, "store_hours", answer={"en": "Ask for {discount_code} at {shop_name}."}))
    said = warnings(live, saved.entry)
    assert "{discount_code} has no value in [knowledge_base] values: customers see it as written" in said
    assert not any("{shop_name}" in w for w in said)
    assert any("no Chinese answer (store_hours)" in w for w in said)


def test_an_edit_is_seen_by_another_process_at_its_reload(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    other = LiveKnowledgeBase(live.files, live.learned_file)
    save_entry(live, edited(live, "gift_wrap", answer={"en": "Gift wrapping costs ¥5."}))
    shop = tmp_path / "shop.yaml"
    info = shop.stat()  # within the file system's time resolution a rewrite may keep its mtime
    os.utime(shop, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    assert other.reload_if_changed() is True
    assert other.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."
    assert live.reload_if_changed() in (False, True)  # the writer already serves it
    assert live.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."


def test_an_edit_begun_before_another_change_is_refused_and_loses_nothing(live: LiveKnowledgeBase, tmp_path: Path) -> None:
    opened = fingerprint(live.kb.entries["gift_wrap"])
    other = LiveKnowledgeBase(live.files, live.learned_file)  # another process saves meanwhile
    save_entry(other, edited(other, "gift_wrap", answer={"en": "Wrapping costs ¥5."}), was=opened)
    with pytest.raises(StaleEdit) as stale:
        save_entry(live, edited(live, "gift_wrap", answer={"en": "Wrapping costs ¥3."}), was=opened)
    assert stale.value.current.entry.answer == {"en": "Wrapping costs ¥5."}
    assert [e.answer for e in load_file(tmp_path / "shop.yaml") if e.id == "gift_wrap"] == [{"en": "Wrapping costs ¥5."}]

    # the bot learned a question for a shipped entry while its form was open
    opened = fingerprint(live.kb.entries["returns"])
    live.add_question("returns", "en", "can I bring it back")
    with pytest.raises(StaleEdit):
        save_entry(live, edited(live, "returns", answer={"en": "Returns: 30 days."}), was=opened)
    assert "can I bring it back" in live.kb.entries["returns"].questions["en"]
    save_entry(live, edited(live, "returns", answer={"en": "Returns: 30 days."}), was=fingerprint(live.kb.entries["returns"]))
    assert live.answer("returns", "en") == "Returns: 30 days."


def test_while_another_file_is_broken_an_edit_is_refused_naming_it_and_nothing_is_saved(
    live: LiveKnowledgeBase, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(SHOP_YAML.replace("action: answer", "action: dance"), encoding="utf-8")
    before_csv = (tmp_path / "shop.csv").read_bytes()
    for entry_id in ("returns", "loyalty"):  # saved to the learned file, and to the CSV
        with pytest.raises(KBError) as refused:
            save_entry(live, edited(live, entry_id, category="edited"))
        assert str(refused.value) == f"{shop}: entry 'gift_wrap': field 'action': 'dance' is not one of answer, order_status, complaint, handoff"
    assert not (tmp_path / "learned.yaml").exists()
    assert (tmp_path / "shop.csv").read_bytes() == before_csv
    assert live.kb.entries["returns"].category == "returns"  # the last good KB keeps serving
