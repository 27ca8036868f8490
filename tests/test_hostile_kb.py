"""Hostile and careless knowledge-base files (issue 18): every file is read exactly right, or
refused saying where; nothing is silently emptied or cut; a broken hot reload keeps serving the
last good KB and the agent group hears of it once; nothing crashes kefu or prints a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import load_knowledge_base
from bot.context import KefuContext
from knowledge_base.entries import Entry, KBError, Problem
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.loader import MAX_FILE_BYTES, entry_from_dict, load_file, write_yaml
from tests.harness import Bot, Person, kefu_env

GIFT_WRAP = {
    "id": "gift_wrap",
    "category": "extras",
    "action": "answer",
    "questions": {"en": ["do you offer gift wrapping", "can you wrap it as a present"], "zh-Hans": ["可以包装成礼物吗"]},
    "answer": {"en": "Gift wrapping is free.", "zh-Hans": "礼品包装免费。"},
    "buttons": [{"text": {"en": "Our extras", "zh-Hans": "附加服务"}, "url": "https://shop.example/extras"}],
    "tags": ["extras"],
}
ENGRAVING = {
    "id": "engraving",
    "category": "extras",
    "questions": {"en": ["can you engrave a name"], "zh-Hans": ["可以刻字吗"]},
    "answer": {"en": "Engraving costs ¥30.", "zh-Hans": "刻字收费 ¥30。"},
}
VALID = {
    ".yaml": yaml.safe_dump({"entries": [GIFT_WRAP, ENGRAVING]}, allow_unicode=True, sort_keys=False),
    ".json": json.dumps({"entries": [GIFT_WRAP, ENGRAVING]}, ensure_ascii=False, indent=2),
    ".csv": (
        "entry_id,lang,question,answer,action,category\n"
        "gift_wrap,en,do you offer gift wrapping,Gift wrapping is free.,answer,extras\n"
        "gift_wrap,zh-Hans,可以包装成礼物吗,礼品包装免费。,,\n"
        "engraving,en,can you engrave a name,Engraving costs ¥30.,answer,extras\n"
        "engraving,zh-Hans,可以刻字吗,刻字收费 ¥30。,,\n"
    ),
}
FORBIDDEN = st.one_of(
    st.sampled_from(["\x00", "\x7f", "\x85", "\u2028", "\u2029", "\ufffe", "\uffff"]),
    st.characters(min_codepoint=0, max_codepoint=0x1F).filter(lambda c: c not in "\t\n\r"),
    st.characters(min_codepoint=0x80, max_codepoint=0x9F),
)
"""Control characters but tab, line feed and carriage return; DEL; C1 (with NEL); the Unicode
line separators (read as line breaks by YAML 1.1, as text by YAML 1.2); U+FFFE and U+FFFF."""
FORBIDDEN_PATTERN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
ALLOWED_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="{}").filter(lambda c: not FORBIDDEN_PATTERN.match(c)),
    min_size=1, max_size=80,
).filter(str.strip)
"""Any text an answer may hold (braces are placeholders)."""
TOKEN = "555666777:hostile-kb-test-token"


def load(content: str | bytes, suffix: str = ".yaml", *, max_bytes: int = MAX_FILE_BYTES) -> list[Entry]:
    """``content`` as a KB file of that type, loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"shop{suffix}"
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return load_file(path, max_bytes=max_bytes)


def refused(content: str | bytes, suffix: str = ".yaml", **options: int) -> list[Problem]:
    with pytest.raises(KBError) as caught:
        load(content, suffix, **options)
    return caught.value.problems


def kefu(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The ``kefu`` command as an operator runs it, with ``KEFU_*`` settings in ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=kefu_env(**env),
        capture_output=True, text=True, timeout=120,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- characters no reader may see --------------------------------------------------------------


def test_a_file_of_four_nuls_is_refused_not_read_as_an_empty_knowledge_base() -> None:
    [problem] = refused(b"\0\0\0\0")
    assert problem.line == 1 and "U+0000 (NUL)" in problem.message and "4 times" in problem.message


def test_a_nul_inside_a_value_is_refused_not_read_as_the_value_cut_short() -> None:
    text = VALID[".yaml"].replace("Gift wrapping is free.", "Gift wrapping\0 is free.")
    at = text.index("\0")
    line, column = text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)
    [problem] = refused(text)
    assert (problem.line, problem.message) == (
        line, f"the control character U+0000 (NUL) at column {column} is not allowed: remove it"
    )
    assert refused("id: a\0b")[0].line == 1


@given(
    suffix=st.sampled_from(sorted(VALID)),
    insertions=st.lists(st.tuples(st.floats(0, 1), FORBIDDEN), min_size=1, max_size=3),
)
@settings(max_examples=60, deadline=None)
def test_a_control_character_anywhere_in_a_file_is_refused_naming_its_line(
    suffix: str, insertions: list[tuple[float, str]]
) -> None:
    text = VALID[suffix]
    for where, char in insertions:
        at = round(where * len(text))
        text = text[:at] + char + text[at:]
    expected = {text[:at].count("\n") + 1 for at, char in enumerate(text) if char in {c for _, c in insertions}}
    problems = refused(text, suffix)
    assert {p.line for p in problems} == expected
    for _, char in insertions:
        assert any(f"U+{ord(char):04X}" in p.message for p in problems)


@given(
    char=FORBIDDEN,
    field=st.sampled_from(["answer", "category", "tags", "buttons"]),
    suffix=st.sampled_from([".yaml", ".json"]),
)
@settings(max_examples=50, deadline=None)
def test_control_characters_written_as_escapes_are_refused_naming_entry_and_field(char: str, field: str, suffix: str) -> None:
    entry = json.loads(json.dumps(GIFT_WRAP))
    value = f"free{char}wrapping"
    entry[field] = {
        "answer": {"en": value, "zh-Hans": "礼品包装免费。"},
        "category": value,
        "tags": [value],
        "buttons": [{"text": {"en": value, "zh-Hans": "附加"}, "url": "https://shop.example/extras"}],
    }[field]
    text = (  # escaped by both writers: the file itself holds no control character
        json.dumps({"entries": [entry]}) if suffix == ".json" else yaml.safe_dump({"entries": [entry]}, allow_unicode=False)
    )
    [problem] = refused(text, suffix)
    assert (problem.entry, problem.field) == ("gift_wrap", field)
    assert f"control character U+{ord(char):04X}" in problem.message


@given(char=FORBIDDEN, suffix=st.sampled_from([".yaml", ".json"]))
@settings(max_examples=30, deadline=None)
def test_control_characters_written_as_escapes_in_example_questions_become_spaces(char: str, suffix: str) -> None:
    """Examples are only matched, and a customer's question taught with /kb_add may hold them:
    a learned file an older kefu wrote keeps loading."""
    entry = {**GIFT_WRAP, "questions": {"en": [f"gift{char}wrap", char], "zh-Hans": ["可以包装成礼物吗"]}}
    data = {"entries": [entry]}
    text = json.dumps(data) if suffix == ".json" else yaml.safe_dump(data, allow_unicode=False)
    [loaded] = load(text, suffix)
    assert loaded.questions["en"] == ("gift wrap",)


def test_a_question_taught_with_control_characters_is_saved_so_that_it_loads_again(tmp_path: Path) -> None:
    learned = tmp_path / "learned.yaml"
    live = LiveKnowledgeBase([], learned)
    live.add_question("coupon", "en", "is shipping\x01free\u2028for students")
    assert "\x01" not in learned.read_text(encoding="utf-8")  # written as an escape
    restarted = LiveKnowledgeBase([], learned)
    assert restarted.route("is shipping free for students").entry_id == "coupon"


@given(question=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(str.strip), answer=ALLOWED_TEXT)
@settings(max_examples=60, deadline=None)
def test_whatever_kefu_writes_it_reads_back(question: str, answer: str) -> None:
    """The learned file (/kb_add) and imports are written by kefu: never a file it then refuses."""
    entry = entry_from_dict({**ENGRAVING, "answer": {"en": answer, "zh-Hans": "好"}})
    entry = dataclasses.replace(entry, questions={**entry.questions, "en": (question,)})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "learned.yaml"
        write_yaml([entry], path)
        [loaded] = load_file(path)
    assert loaded.answer["en"] == answer.strip()
    cleaned = FORBIDDEN_PATTERN.sub(" ", question).strip()
    assert loaded.questions.get("en", ()) == ((cleaned,) if cleaned else ())




@given(answer=ALLOWED_TEXT, question=ALLOWED_TEXT, unicode_in_file=st.booleans(), suffix=st.sampled_from([".yaml", ".json"]))
@settings(max_examples=80, deadline=None)
def test_every_other_text_is_read_exactly_as_written(answer: str, question: str, unicode_in_file: bool, suffix: str) -> None:
    """Whatever a shop writes in an answer or a question comes back as written (trimmed), by
    whichever reader reads the file."""
    entry = {**ENGRAVING, "answer": {"en": answer, "zh-Hans": "好"}, "questions": {"en": [question], "zh-Hans": ["问"]}}
    data = {"entries": [entry]}
    text = (
        json.dumps(data, ensure_ascii=not unicode_in_file) if suffix == ".json"
        else yaml.safe_dump(data, allow_unicode=unicode_in_file)
    )
    [loaded] = load(text, suffix)
    assert loaded.answer["en"] == answer.strip()
    assert loaded.questions["en"] == (question.strip(),)


def test_a_file_that_is_not_utf8_names_the_line_of_the_first_bad_byte() -> None:
    [problem] = refused(VALID[".yaml"].encode("utf-8").replace("礼品".encode(), "礼品".encode("gbk")))
    assert problem.line == VALID[".yaml"][: VALID[".yaml"].index("礼品")].count("\n") + 1
    assert "not UTF-8" in problem.message


def test_a_csv_cell_over_the_csv_modules_limit_is_a_problem_naming_its_line() -> None:
    text = VALID[".csv"] + f'engraving,en,"{"x" * 200_000}",,,\n'
    [problem] = refused(text, ".csv")
    assert problem.line == 6 and "not valid CSV" in problem.message


def test_a_named_pipe_or_a_device_is_refused_without_waiting_or_reading_forever(tmp_path: Path) -> None:
    pipe = tmp_path / "shop.yaml"
    os.mkfifo(pipe)
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")
    for path in (pipe, device):
        with pytest.raises(KBError, match="not a regular file"):
            load_file(path)


# -- empty files and empty readings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "suffix"),
    [("", ".yaml"), ("  \n\n", ".yaml"), ("# the shop's entries go here\n\n  # later\n", ".yaml"), ("", ".json"), (" \n", ".csv")],
)
def test_an_empty_file_or_one_of_only_comments_has_no_entries(content: str, suffix: str) -> None:
    assert load(content, suffix) == []


@pytest.mark.parametrize(
    ("content", "suffix"),
    [
        ("entries: []\n", ".yaml"), ("entries:\n# - id: gift_wrap\n", ".yaml"), ("version: 1\n", ".yaml"),
        ("[]", ".yaml"), ("null", ".yaml"), ("---\n", ".yaml"), ("[]", ".json"), ('{"entries": []}', ".json"),
        ("entry_id,lang,question,answer,action,category\n", ".csv"),
    ],
)
def test_a_file_with_content_that_yields_no_entry_is_an_error(content: str, suffix: str) -> None:
    [problem] = refused(content, suffix)
    assert problem.message.startswith("no entries found, though the file is not empty")


# -- nesting and size --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, ".json", "nested too deeply"),
        ('{"entries": [{"id": "a", "action": ' + "[" * 900 + "]" * 900 + "}]}", ".json", "[[[[[[[...]]]]]]] is not one of"),
        ("entries: " + "[" * 100_000 + "]" * 100_000, ".yaml", "not valid YAML"),
        ("- " * 50_000 + "x", ".yaml", "not valid YAML: exceeded maximum nesting depth"),
        ("\n".join(" " * level + "a:" for level in range(2_000)), ".yaml", "not valid YAML: exceeded maximum nesting depth"),
    ],
)
def test_a_deeply_nested_file_is_a_problem_not_a_crash(content: str, suffix: str, expected: str) -> None:
    """(``- - - … x`` 50,000 deep makes yaml-rs overflow its stack: a segmentation fault.)"""
    assert any(expected in p.message for p in refused(content, suffix))


def test_a_file_over_the_size_limit_is_refused_unread() -> None:
    text = VALID[".yaml"]
    assert len(load(text, max_bytes=len(text.encode()))) == 2
    [problem] = refused(text, max_bytes=100)
    size = f"{len(text.encode()):,}"
    assert problem.message == (
        f"the file is {size} bytes, over the limit of 100 (KEFU_KNOWLEDGE_BASE__MAX_FILE_BYTES): "
        "split it into several files, or raise the limit"
    )


def test_the_size_limit_defaults_to_20_mb_and_does_not_apply_to_the_shipped_kb(tmp_path: Path) -> None:
    from bot.core.config import KnowledgeBaseSettings

    assert KnowledgeBaseSettings().max_file_bytes == MAX_FILE_BYTES == 20_000_000
    live = LiveKnowledgeBase([], tmp_path / "learned.yaml", max_file_bytes=10)
    assert len(live.kb) >= 30


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "deep.json: nested too deeply to be a knowledge base"),
        ("deep.yaml", "- " * 50_000 + "x", "deep.yaml: not valid YAML: exceeded maximum nesting depth at line 1"),
        ("nul.yaml", "\0\0\0\0", "nul.yaml: line 1: the control character U+0000 (NUL) at column 1 (4 times)"),
        ("big.yaml", VALID[".yaml"], "big.yaml: the file is "),
    ],
)
def test_kefu_run_with_a_kb_it_cannot_read_exits_2_with_one_sentence(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    limit = 100 if name == "big.yaml" else MAX_FILE_BYTES
    result = kefu(
        tmp_path, "run", KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_KNOWLEDGE_BASE__FILES=json.dumps([name]),
        KEFU_KNOWLEDGE_BASE__MAX_FILE_BYTES=str(limit),
    )
    sentence = one_sentence(result)
    assert sentence.startswith(f"kefu: The knowledge base does not load ({expected}")
    assert sentence.endswith("fix the file named, then start again.")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("deep.json", '{"entries": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply to be a knowledge base"),
        ("deep.yaml", "- " * 50_000 + "x", "not valid YAML: exceeded maximum nesting depth at line 1"),
        ("big.yaml", VALID[".yaml"], "the file is "),
        ("empty.json", "[]", "no entries found, though the file is not empty"),
    ],
)
def test_kb_import_of_a_file_it_cannot_read_exits_2_with_one_sentence(tmp_path: Path, name: str, content: str, expected: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    limit = 100 if name == "big.yaml" else MAX_FILE_BYTES
    result = kefu(tmp_path, "kb", "import", name, KEFU_KNOWLEDGE_BASE__MAX_FILE_BYTES=str(limit))
    assert one_sentence(result).startswith(f"kefu: {name} was not imported: {expected}")
    assert not (tmp_path / "data").exists()


# -- hot reload --------------------------------------------------------------------------------


def _rewrite(path: Path, content: str | bytes) -> None:
    """Write as an editor would, seen as a change even within the file system's time resolution."""
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_live_kb_has_news_when_it_breaks_and_when_it_mends_not_on_every_poll(tmp_path: Path) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(VALID[".yaml"], encoding="utf-8")
    live = LiveKnowledgeBase([shop], tmp_path / "learned.yaml", max_file_bytes=10_000)
    serving = len(live.kb)
    assert live.poll() is None

    _rewrite(shop, VALID[".yaml"].replace("Gift wrapping", "Gift\0wrapping"))
    news = live.poll()
    assert news is not None and news.error is not None and news.entries == serving
    assert "U+0000" in str(news.error)
    assert live.poll() is None  # still broken: no more news
    _rewrite(shop, VALID[".yaml"] + "x" * 10_000)  # broken otherwise (over the limit): still no news
    assert live.poll() is None
    assert "over the limit of 10,000" in str(live.last_error)
    assert live.answer("gift_wrap", "en") == "Gift wrapping is free."  # the last good KB serves

    _rewrite(shop, VALID[".yaml"].replace("is free", "costs ¥5"))
    mended = live.poll()
    assert mended is not None and mended.error is None and mended.version > news.version
    assert live.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."

    _rewrite(shop, "entries: []\n")  # breaks again: news again
    again = live.poll()
    assert again is not None and again.error is not None and again.version > mended.version
    assert live.answer("gift_wrap", "en") == "Gift wrapping costs ¥5."


def test_a_shop_file_deleted_after_an_earlier_break_is_news_again(tmp_path: Path) -> None:
    """(The news's version, which a fleet orders its notices by, grows when a file goes too.)"""
    shop = tmp_path / "shop.yaml"
    shop.write_text(VALID[".yaml"], encoding="utf-8")
    live = LiveKnowledgeBase([shop], tmp_path / "learned.yaml")
    shop.write_text("entries: []\n", encoding="utf-8")
    broken = live.poll()
    shop.write_text(VALID[".yaml"], encoding="utf-8")
    assert live.poll() is not None
    shop.unlink()
    gone = live.poll()
    assert broken is not None and gone is not None and gone.error is not None
    assert "cannot read" in str(gone.error) and gone.version > broken.version


def _process_serving(bot: Bot, shop: Path) -> LiveKnowledgeBase:
    """The KB a kefu process configured with ``files = [shop]`` serves."""
    kb = bot.settings.knowledge_base.model_copy(update={"files": [str(shop)]})
    return load_knowledge_base(bot.settings.model_copy(update={"knowledge_base": kb}))


def _reload_job(bot: Bot) -> Callable[[], Awaitable[None]]:
    """The bot's reload job, paused: the test runs it (as every few seconds it would run)."""
    [job] = bot.app.job_queue.get_jobs_by_name("kb-reload")
    job.enabled = False
    return lambda: job.callback(KefuContext.from_job(job, bot.app))


def _notices(bot: Bot, prefix: str) -> list[str]:
    return [m["text"] for m in bot.emulator.bot_messages(bot.group["id"]) if m.get("text", "").startswith(prefix)]


BROKEN = "⚠️ 知识库文件已修改，但无法加载；修正之前，机器人继续用上一个可用版本"  # the agents' language: zh-Hans
MENDED = "✅ 知识库已恢复加载"


async def test_a_broken_hot_reload_keeps_answering_from_the_last_good_kb_and_tells_the_group_once(
    bot: Bot, customer: Person, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(VALID[".yaml"], encoding="utf-8")
    bot.app.bot_data.kb = _process_serving(bot, shop)
    reload = _reload_job(bot)
    assert "Gift wrapping is free." in (await customer.say("do you offer gift wrapping")).text

    _rewrite(shop, VALID[".yaml"].replace("Gift wrapping is free.", "Gift\0wrapping is free."))
    for _ in range(3):  # every poll while the file stays broken
        await reload()
    [notice] = _notices(bot, BROKEN)
    line = VALID[".yaml"][: VALID[".yaml"].index("Gift wrapping is free.")].count("\n") + 1
    assert f"shop.yaml: line {line}: the control character U+0000 (NUL)" in notice
    assert "Gift wrapping is free." in (await customer.say("do you offer gift wrapping")).text

    _rewrite(shop, VALID[".yaml"].replace("is free", "costs ¥5"))
    await reload()
    await reload()
    assert len(_notices(bot, MENDED)) == 1
    assert "Gift wrapping costs ¥5." in (await customer.say("do you offer gift wrapping")).text

    _rewrite(shop, b"\0\0\0\0")  # broken again after being fixed: told again
    await reload()
    assert len(_notices(bot, BROKEN)) == 2
    assert "Gift wrapping costs ¥5." in (await customer.say("do you offer gift wrapping")).text


async def test_processes_reading_the_same_files_tell_the_group_once(bot: Bot, tmp_path: Path) -> None:
    """A fleet: every process reloads, one of them tells the agents."""
    shop = tmp_path / "shop.yaml"
    shop.write_text(VALID[".yaml"], encoding="utf-8")
    processes = [_process_serving(bot, shop), _process_serving(bot, shop)]
    reload = _reload_job(bot)

    _rewrite(shop, "entries:\n- id: gift_wrap\n  answer: [unclosed\n")
    for live in processes * 2:
        bot.app.bot_data.kb = live
        await reload()
    assert all(live.last_error is not None for live in processes)
    [notice] = _notices(bot, BROKEN)
    assert "shop.yaml: not valid YAML" in notice
