"""Knowledge-base files: the YAML, JSON and CSV formats, validation errors, merging, import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from knowledge_base.entries import KBError
from knowledge_base.loader import DEFAULT_KB, import_file, load_entries, load_file

VALID_ENTRY = {
    "id": "refund_policy",
    "category": "returns",
    "action": "answer",
    "questions": {"zh-Hans": ["退款政策是什么"], "en": ["what is your refund policy"]},
    "answer": {"zh-Hans": "{return_days} 天内可以退款。", "en": "Refunds within {return_days} days."},
}


def write_yaml(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump({"entries": list(entries)}, allow_unicode=True), encoding="utf-8")
    return path


def entry(**changes: object) -> dict:
    data = json.loads(json.dumps(VALID_ENTRY))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def error_of(path: Path) -> str:
    with pytest.raises(KBError) as caught:
        load_file(path)
    return str(caught.value)


# -- the shipped default KB --------------------------------------------------------------------


def test_default_kb_is_valid_and_covers_an_online_shop() -> None:
    entries = {e.id: e for e in load_file(DEFAULT_KB)}
    assert len(entries) >= 30
    for e in entries.values():
        for lang in ("zh-Hans", "en"):
            assert 6 <= len(e.questions[lang]) <= 15, (e.id, lang)
            assert e.answer[lang]
    required = {
        "delivery_time", "delivery_options", "shipping_fee", "change_shipping_address", "change_order",
        "cancel_order", "cancellation_fee", "returns", "refund", "refund_status", "payment_methods",
        "payment_problem", "invoice", "account_create", "account_delete", "password_reset",
        "newsletter", "reviews", "opening_hours",
    }
    assert required <= entries.keys()
    assert entries["contact_human"].action == "handoff"
    assert entries["complaint"].action == "complaint"
    assert entries["order_status"].action == "order_status"


# -- YAML --------------------------------------------------------------------------------------


def test_a_valid_yaml_file_loads_into_entries(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "shop.yaml", entry(tags=["returns", "money"]))
    [loaded] = load_file(path)
    assert loaded.id == "refund_policy"
    assert loaded.questions["en"] == ("what is your refund policy",)
    assert loaded.tags == ("returns", "money")
    assert loaded.source == str(path)


def test_a_missing_answer_names_file_entry_and_field(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "shop.yaml", entry(answer={}))
    assert error_of(path) == f"{path}: entry 'refund_policy': field 'answer': missing answer: give it in zh-Hans, zh-Hant or en"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"action": "refund"}, "action", "'refund' is not one of answer, order_status, complaint, handoff"),
        ({"category": None}, "category", "missing category"),
        ({"questions": {"fr": ["remboursement"]}}, "questions", "unknown language 'fr'"),
        ({"questions": {}}, "questions", "no example questions"),
        ({"anwser": "typo"}, "anwser", "unknown field"),
        ({"tags": "returns"}, "tags", "must be a list of texts"),
        ({"answer": {"zh-Hans": "好", "en": "Hi {shop name}"}}, "answer", "placeholder {shop name}"),
        ({"answer": {"zh-Hans": "好", "en": "a } b"}}, "answer", "Single '}'"),
        ({"buttons": [{"text": {"zh-Hans": "看", "en": "See"}, "url": "javascript:alert(1)"}]}, "buttons", "url must"),
        ({"buttons": [{"text": {}, "url": "https://shop.example"}]}, "buttons", "missing text"),
        ({"buttons": [{"text": {"zh-Hans": "看", "en": "See"}}]}, "buttons", "give either url or entry"),
    ],
)
def test_every_field_is_validated(tmp_path: Path, change: dict, field: str, message: str) -> None:
    path = write_yaml(tmp_path / "shop.yaml", entry(**change))
    error = error_of(path)
    assert error.startswith(f"{path}: entry 'refund_policy': field '{field}': ")
    assert message in error


def test_entries_without_an_id_are_named_by_position(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "shop.yaml", entry(), entry(id=None))
    assert error_of(path) == f"{path}: entry '#2': field 'id': missing id"


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "shop.yaml", entry(action="x"), entry(id="other", category=None), entry())
    with pytest.raises(KBError) as caught:
        load_file(path)
    problems = caught.value.problems
    assert [(p.entry, p.field) for p in problems] == [
        ("refund_policy", "action"), ("other", "category"), ("refund_policy", "id"),
    ]
    assert "the same id is used by two entries" in str(caught.value)


def test_broken_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text("entries:\n  - id: a\n    questions: [unclosed\n", encoding="utf-8")
    error = error_of(path)
    assert error.startswith(f"{path}: not valid YAML: ")
    assert "line" in error


def test_unknown_extensions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "shop.txt"
    path.write_text("", encoding="utf-8")
    assert "unknown file type" in error_of(path)


# -- JSON --------------------------------------------------------------------------------------


def test_json_has_the_same_shape_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps({"entries": [entry()]}, ensure_ascii=False), encoding="utf-8")
    [loaded] = load_file(path)
    assert loaded.answer["en"] == "Refunds within {return_days} days."


def test_json_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps([entry(action="refund")]), encoding="utf-8")
    assert error_of(path).startswith(f"{path}: entry 'refund_policy': field 'action': ")
    path.write_text("{not json", encoding="utf-8")
    assert error_of(path).startswith(f"{path}: not valid JSON: ")


# -- CSV ---------------------------------------------------------------------------------------

CSV = """entry_id,lang,question,answer,action,category
gift_wrap,en,can you gift wrap my order,"Yes, gift wrapping is free.",answer,orders
gift_wrap,en,do you do gift packaging,,,
gift_wrap,zh-Hans,可以包装成礼物吗,可以，礼品包装免费。,,
gift_wrap,zh-Hans,有礼品包装吗,,,
gift_wrap,zh-Hant,可以幫我包裝成禮物嗎,,,
talk_to_boss,en,i want the manager,Connecting you.,handoff,service
talk_to_boss,zh-Hans,叫你们经理来,正在为您转接。,,
"""


def test_csv_rows_group_into_entries_with_answers_given_once_per_language(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(CSV, encoding="utf-8")
    gift, boss = load_file(path)
    assert gift.id == "gift_wrap" and gift.category == "orders" and gift.action == "answer"
    assert gift.questions == {
        "en": ("can you gift wrap my order", "do you do gift packaging"),
        "zh-Hans": ("可以包装成礼物吗", "有礼品包装吗"),
        "zh-Hant": ("可以幫我包裝成禮物嗎",),
    }
    assert gift.answer == {"en": "Yes, gift wrapping is free.", "zh-Hans": "可以，礼品包装免费。"}
    assert boss.action == "handoff"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("gift_wrap,fr,cadeau,,,", "line 9: entry 'gift_wrap': field 'lang': 'fr' is not zh-Hans, zh-Hant or en"),
        ("gift_wrap,en,wrap it,,,shipping", "line 9: entry 'gift_wrap': field 'category': 'shipping' differs"),
        ("gift_wrap,en,wrap it,Other.,,", "line 9: entry 'gift_wrap': field 'answer': a second, different English"),
        ("solo,zh-Hans,只有中文,,answer,misc", "line 9: entry 'solo': field 'answer': missing answer"),
    ],
)
def test_csv_errors_name_file_line_entry_and_field(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "shop.csv"
    path.write_text(CSV + line + "\n", encoding="utf-8")
    assert f"{path}: {expected}" in error_of(path)


def test_csv_needs_the_fixed_header(tmp_path: Path) -> None:
    path = tmp_path / "shop.csv"
    path.write_text("id,question\nx,y\n", encoding="utf-8")
    assert error_of(path) == (
        f"{path}: line 1: the first line must be the header entry_id,lang,question,answer,action,category"
    )


# -- merging -----------------------------------------------------------------------------------


def test_later_files_replace_entries_with_the_same_id(tmp_path: Path) -> None:
    shop = write_yaml(
        tmp_path / "shop.yaml",
        entry(id="shipping_fee", category="delivery", answer={"zh-Hans": "全场包邮。", "en": "Always free."}),
        entry(),
    )
    merged = load_entries([shop])
    assert merged["shipping_fee"].answer["en"] == "Always free."
    assert merged["shipping_fee"].source == str(shop)
    assert "refund_policy" in merged and "returns" in merged  # new entries and default ones
    assert list(merged)[-2:] == ["shipping_fee", "refund_policy"]


def test_without_the_default_only_the_given_files_count(tmp_path: Path) -> None:
    first = write_yaml(tmp_path / "a.yaml", entry())
    second = tmp_path / "b.csv"
    second.write_text(CSV, encoding="utf-8")
    assert list(load_entries([first, second], include_default=False)) == ["refund_policy", "gift_wrap", "talk_to_boss"]


def test_buttons_may_lead_to_entries_of_other_files_but_not_to_unknown_ones(tmp_path: Path) -> None:
    button = {"text": {"zh-Hans": "退货流程", "en": "How to return"}, "entry": "returns"}
    shop = write_yaml(tmp_path / "shop.yaml", entry(buttons=[button]))
    assert load_entries([shop])["refund_policy"].buttons[0].entry == "returns"
    with pytest.raises(KBError) as caught:
        load_entries([shop], include_default=False)
    assert str(caught.value) == (
        f"{shop}: entry 'refund_policy': field 'buttons': button leads to unknown entry 'returns'"
    )


def test_problems_of_several_files_are_reported_together(tmp_path: Path) -> None:
    bad_yaml = write_yaml(tmp_path / "a.yaml", entry(action="x"))
    bad_json = tmp_path / "b.json"
    bad_json.write_text(json.dumps([entry(category=None)]), encoding="utf-8")
    with pytest.raises(KBError) as caught:
        load_entries([bad_yaml, bad_json])
    assert [p.file for p in caught.value.problems] == [str(bad_yaml), str(bad_json)]


# -- import ------------------------------------------------------------------------------------


def test_import_converts_csv_into_the_shops_yaml(tmp_path: Path) -> None:
    src = tmp_path / "upload.csv"
    src.write_text(CSV, encoding="utf-8")
    dest = tmp_path / "kb" / "shop.yaml"
    assert import_file(src, dest) == ["gift_wrap", "talk_to_boss"]
    reloaded = {e.id: e for e in load_file(dest)}
    assert reloaded["gift_wrap"].questions["zh-Hant"] == ("可以幫我包裝成禮物嗎",)
    assert "可以包装成礼物吗" in dest.read_text(encoding="utf-8")  # readable, not \u-escaped


def test_import_merges_into_an_existing_file(tmp_path: Path) -> None:
    dest = write_yaml(tmp_path / "shop.yaml", entry(), entry(id="gift_wrap", category="old"))
    src = tmp_path / "upload.json"
    src.write_text(json.dumps([entry(id="gift_wrap", category="orders")]), encoding="utf-8")
    import_file(src, dest)
    assert [(e.id, e.category) for e in load_file(dest)] == [("refund_policy", "returns"), ("gift_wrap", "orders")]


def test_a_failed_import_leaves_the_destination_untouched(tmp_path: Path) -> None:
    dest = write_yaml(tmp_path / "shop.yaml", entry())
    before = dest.read_text(encoding="utf-8")
    src = tmp_path / "upload.csv"
    src.write_text(CSV + "gift_wrap,xx,?,,,\n", encoding="utf-8")
    with pytest.raises(KBError, match="field 'lang'"):
        import_file(src, dest)
    assert dest.read_text(encoding="utf-8") == before
    assert sorted(tmp_path.iterdir()) == sorted([dest, src])
