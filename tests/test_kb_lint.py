"""``kefu kb lint``: a KB's examples that will make the bot route badly are named by entry, with the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from knowledge_base.lint import LintProblem, lint_entries
from knowledge_base.loader import entry_from_dict, load_entries

ANSWER = {"zh-Hans": "好的", "en": "Sure."}
GOOD = {  # (en, zh): examples no lint check objects to, different for each entry id used
    "shipping_fee": (["how much is shipping", "what does delivery cost me", "is postage free above some amount"],
                     ["运费怎么算", "邮费多少钱", "满多少包邮"]),
    "cancel_order": (["cancel my order", "I don't want it anymore", "stop the purchase"], ["取消订单", "不想要了", "我下错单了"]),
}


def entry(entry_id: str, en: list[str] | None = None, zh: list[str] | None = None, *, action: str = "answer",
          zh_hant: list[str] | None = None, answer: dict[str, str] | None = None) -> dict[str, object]:
    good_en, good_zh = GOOD.get(entry_id, GOOD["shipping_fee"])
    questions = {"en": good_en if en is None else en, "zh-Hans": good_zh if zh is None else zh}
    if zh_hant:
        questions["zh-Hant"] = zh_hant
    return {"id": entry_id, "category": "shop", "action": action, "questions": questions, "answer": answer or ANSWER}


def kb_file(tmp_path: Path, *entries: dict[str, object], name: str = "shop.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"entries": list(entries)}, allow_unicode=True), encoding="utf-8")
    return str(path)


def lint(*raw: dict[str, object]) -> list[LintProblem]:
    return lint_entries([entry_from_dict(r, "shop.yaml") for r in raw])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["kb", "lint", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_shipped_kb_lints_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (0, "")
    assert "0 problem(s)" in err


def test_a_templated_file_is_named_by_entry_and_file_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = kb_file(
        tmp_path,
        entry("cancel_order", en=["cancel order 3707955617", "Cancel order A2026112500!", "cancel order 123456",
                                 "how do I cancel", "I don't want it anymore"]),
        entry("shipping_fee"),
    )
    code, out, _ = run(capsys, path)
    assert code == 1
    [line] = out.splitlines()
    assert line.startswith(f"{path}: entry 'cancel_order': 3 English examples say the same thing")
    assert "cancel order 3707955617 | Cancel order A2026112500! | cancel order 123456" in line
    assert "shipping_fee" not in out and "how do I cancel" not in out


def test_near_duplicates_fold_case_width_script_particles_and_numbers() -> None:
    problems = lint(entry("where", zh=["我的快递到哪了", "我的快遞到哪裡了？", "包裹丢了怎么办"], en=[
        "where is my parcel", "WHERE IS MY PARCEL??", "Where is my parcel 😡", "my parcel never came", "has it shipped",
    ]))
    assert {(p.kind, p.lang, p.examples) for p in problems} == {
        ("near_duplicates", "zh", ("我的快递到哪了", "我的快遞到哪裡了？")),
        ("near_duplicates", "en", ("where is my parcel", "WHERE IS MY PARCEL??", "Where is my parcel 😡")),
    }


def test_one_slot_word_changed_is_not_a_near_duplicate_it_teaches_a_synonym() -> None:
    assert lint(entry("cancel", en=["cancel my order please", "cancel my purchase please", "stop the parcel I bought"])) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=100_000, max_value=10**15), min_size=2, max_size=6, unique=True))
def test_examples_that_differ_only_in_their_order_number_are_one_template(numbers: list[int]) -> None:
    texts = [f"where is order {n}" for n in numbers]
    problems = lint(entry("order_status", en=[*texts, "has my parcel shipped yet", "track my package"]))
    assert [(p.kind, p.examples) for p in problems] == [("near_duplicates", tuple(texts))]


def test_sibling_entries_sharing_their_wording_are_named_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = kb_file(
        tmp_path,
        entry("create_account", en=["i want to create an account", "how can i create a new account", "help me create an account"],
              zh=["注册账号", "怎么开户", "新用户怎么注册"]),
        entry("edit_account", en=["i want to edit an account", "how can i edit my account", "help me edit an account"],
              zh=["改个人资料", "修改账户信息", "换绑手机号"]),
        entry("shipping_fee"),
    )
    code, out, _ = run(capsys, path, "--json")
    assert code == 1
    [problem] = [json.loads(line) for line in out.splitlines()]
    assert problem["kind"] == "siblings" and problem["lang"] == "en" and problem["file"] == path
    assert problem["entries"] == ["create_account", "edit_account"]
    assert "share most of their wording" in problem["reason"] and len(problem["examples"]) == 2


def test_fewer_than_three_examples_in_a_language_the_entry_answers() -> None:
    problems = lint(
        entry("thin", en=["where is my refund", "Where is my refund?!"]),  # one distinct example
        entry("hant_counts_as_chinese", zh=["退款到哪了", "退款多久到账"], zh_hant=["退款進度查詢"]),
        entry("english_only", zh=[], answer={"en": "Sure."}),
    )
    assert [(p.kind, p.entries, p.lang) for p in problems if p.kind == "few_examples"] == [("few_examples", ("thin",), "en")]
    assert "1 distinct English example(s)" in next(p.reason for p in problems if p.kind == "few_examples")


def test_an_order_status_entry_needs_an_example_without_a_number() -> None:
    numbered = ["where is order 3707955617", "status of A2026112500", "track SO-2026112501 please"]
    assert [(p.kind, p.lang) for p in lint(entry("order_status", action="order_status", en=numbered))] == [
        ("order_status_numbers", "en"),
    ]
    assert lint(entry("order_status", action="order_status", en=[*numbered, "where is my parcel"])) == []
    assert lint(entry("invoice", en=numbered)) == []  # only order-status entries


def test_json_is_one_object_a_line_and_a_clean_file_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, kb_file(tmp_path, entry("shipping_fee")), "--json")
    assert (code, out) == (0, "")
    bad = kb_file(tmp_path, entry("a", en=["hi there you", "Hi there you!"]), entry("b", zh=["运费"]), name="bad.yaml")
    code, out, err = run(capsys, bad, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and err == ""
    assert {(r["kind"], tuple(r["entries"])) for r in rows} == {("near_duplicates", ("a",)), ("few_examples", ("a",)), ("few_examples", ("b",))}
    assert all(set(r) == {"kind", "file", "entries", "lang", "reason", "examples"} for r in rows)


def test_files_merge_as_the_bot_merges_them_and_the_shipped_kb_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thin = kb_file(tmp_path, entry("shipping_fee", en=["shipping?"]), name="thin.yaml")
    fixed = kb_file(tmp_path, entry("shipping_fee"), name="fixed.yaml")
    assert run(capsys, thin)[0] == 1
    assert run(capsys, thin, fixed)[0] == 0  # the later file's entry replaces the earlier one
    code, _, err = run(capsys, fixed, "--with-default")
    assert code == 0 and f"{len(load_entries([]))} entries" in err  # its shipping_fee replaces the shipped one


def test_a_file_that_does_not_load_exits_2_saying_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("entries:\n- id: x\n  questions: {en: [hi]}\n", encoding="utf-8")
    code, out, err = run(capsys, str(broken))
    assert (code, out) == (2, "")
    assert "does not load" in err and "broken.yaml" in err and "Traceback" not in err
    code, out, err = run(capsys, str(tmp_path / "missing.yaml"))
    assert (code, out) == (2, "")
    assert err.startswith("kefu: the knowledge base does not load: ") and err.count("\n") == 1 and "missing.yaml" in err
