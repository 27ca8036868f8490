"""``kefu kb match --json``: one question a line in, one JSON object a line out."""

from __future__ import annotations

import io
import json
from pathlib import Path

from knowledge_base.match_cli import run_match


def match(lines: str, kb_files: list[str] | None = None) -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_match(kb_files or [], io.StringIO(lines), out, err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_each_line_gives_one_json_object_with_the_route() -> None:
    code, rows, _ = match("运费怎么算\n\nwher is my ordr\n你好\nwhat's the weather\n")
    assert code == 0
    assert [r["text"] for r in rows] == ["运费怎么算", "wher is my ordr", "你好", "what's the weather"]
    assert {k: rows[0][k] for k in ("entry", "action", "lang")} == {
        "entry": "shipping_fee", "action": "answer", "lang": "zh-Hans",
    }
    assert (rows[1]["entry"], rows[1]["action"], rows[1]["lang"]) == ("order_status", "order_status", "en")
    assert (rows[2]["entry"], rows[2]["action"]) == (None, "smalltalk")
    assert (rows[3]["entry"], rows[3]["action"], rows[3]["band"]) == (None, None, "low")
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert {"text", "entry", "action", "score", "lang"} <= rows[0].keys()


def test_output_is_utf8_not_ascii_escaped() -> None:
    out = io.StringIO()
    run_match([], io.StringIO("我想退貨\n"), out)
    assert "我想退貨" in out.getvalue() and "\\u" not in out.getvalue()


def test_given_kb_files_are_used_instead_of_the_default(tmp_path: Path) -> None:
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "entry_id,lang,question,answer,action,category\n"
        "gift_wrap,en,can you gift wrap it,Yes.,answer,orders\n"
        "gift_wrap,zh-Hans,可以礼品包装吗,可以。,,\n",
        encoding="utf-8",
    )
    code, rows, _ = match("do you gift wrap\n运费怎么算\n", [str(kb)])
    assert code == 0
    assert rows[0]["entry"] == "gift_wrap"
    assert rows[1]["entry"] != "shipping_fee"


def test_a_broken_kb_exits_2_with_the_error_on_stderr(tmp_path: Path) -> None:
    kb = tmp_path / "kb.yaml"
    kb.write_text("entries:\n  - id: x\n    category: c\n", encoding="utf-8")
    code, rows, err = match("hello\n", [str(kb)])
    assert code == 2 and rows == []
    assert f"{kb}: entry 'x': field 'questions'" in err
