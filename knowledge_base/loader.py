"""Reading, validating, merging and writing knowledge-base files (YAML, JSON, CSV).

YAML and JSON files hold ``{"entries": [...]}`` (or the bare list); each entry is
``id, category, action, questions{lang: [...]}, answer{lang: text}, buttons, tags`` as
described in ``knowledge_base/README.md``. The CSV form has the fixed header
``entry_id,lang,question,answer,action,category``, one row per example question.

Every problem of a file is collected and raised together as one :class:`KBError` naming the
file, entry and field, so a shop fixes its file in one go. A language an entry does not answer
in is no problem but a warning (:func:`language_gaps`, logged at every load): an English-only
or Chinese-only shop loads its KB, and its customers get the answer in the language it has.

**One reading, exactly right.** Before any parser sees a file, its text is checked for what
parsers disagree on or silently drop: control characters (C0 but tab, line feed and carriage
return; DEL; C1 including NEL), the line separators U+2028/U+2029 (a YAML 1.1 reader breaks the
line there, a YAML 1.2 one keeps them as text) and the non-characters U+FFFE/U+FFFF. Each is
refused naming its line, so the fast reader (yaml-rs, which stops at a NUL: four NULs read as
an empty file, ``id: a\\0b`` as ``a``) and the slow one (PyYAML) can only read the same file
the same way. The same characters written as escapes (``"\\0"``, ``"\\u0000"``) are refused
in the entry's field, but in example questions, which are only matched (and may be a
customer's own words, taught with ``/kb_add``), they become spaces. A file that holds
something (anything but whitespace and, in YAML, comments) and yields no entry is an error: no
reader may turn a file into nothing. Files over a size limit (``[knowledge_base]
max_file_bytes``) are refused before they are read, and nesting too deep for a reader is an
error, never a crash: yaml-rs overflows its stack (a segmentation fault) on some ten thousand
nested levels, ``- - - … x``, so only texts whose lines cannot nest deeply go to it; everything
else goes to PyYAML, whose libyaml stops at 1,000 levels with an error.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import reprlib
import stat
import string
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
import yaml_rs

from bot.core.language import LANGUAGES
from knowledge_base.entries import (
    ACTIONS,
    LANGUAGE_NAMES,
    Button,
    Entry,
    KBError,
    Problem,
)

DEFAULT_KB = Path(__file__).with_name("data") / "default.yaml"
CSV_HEADER = ("entry_id", "lang", "question", "answer", "action", "category")
ENTRY_FIELDS = ("id", "category", "action", "questions", "answer", "buttons", "tags")
MAX_ANSWER = 4000
"""Characters; Telegram's limit for one message is 4096, and placeholders grow the text."""
MAX_BUTTON_TEXT = 64
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
_URL = re.compile(r"^(https?|tg)://\S+$")
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}
MAX_FILE_BYTES = 20_000_000
"""The default of ``[knowledge_base] max_file_bytes``: 40 MB of YAML (200,000 entries) took
167 s and 2 GB to load; a shop's real KB is a few hundred KB."""
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
"""What no KB text may hold (see the module docstring): YAML 1.2's printable set without NEL and
the Unicode line separators."""
_CHARACTER_NAMES = {0x00: "NUL", 0x7F: "DEL", 0x85: "NEL", 0x2028: "LINE SEPARATOR", 0x2029: "PARAGRAPH SEPARATOR"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DEEP_LINE = re.compile(r"^[ \t\-?:]{101}", re.MULTILINE)
"""A line that may nest too deep for yaml-rs: it starts with over 100 characters of indentation
and block indicators (``- ``, ``? ``, ``: ``). Every level of block nesting costs at least one
such character and yaml-rs refuses flow nesting past 256 itself, so what it is given nests a few
hundred levels at most, far from the ~10,000 that overflow its stack."""
_shown = reprlib.Repr()
_shown.maxstring = _shown.maxother = 60
"""Values named in problems: short, and never a recursion into a deeply nested value."""

PathLike = str | os.PathLike[str]
log = logging.getLogger(__name__)


def file_kind(path: PathLike) -> str | None:
    """"yaml", "json" or "csv", by the file's extension; None for any other."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def load_file(path: PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> list[Entry]:
    """The entries of one YAML, JSON or CSV file (by extension), validated.

    Button links to entries of other files are not checked here: see :func:`load_entries`.
    A file over ``max_bytes`` is refused unread. A file whose bytes were parsed before is not
    parsed again (parsing 10,000 entries of YAML takes PyYAML seconds; a hot reload after one
    file changed re-reads the others for free).
    """
    name = str(path)
    kind = file_kind(path)
    if kind is None:
        raise KBError([Problem(name, "unknown file type: use .yaml, .yml, .json or .csv")])
    try:  # not blocking on a named pipe, not reading /dev/zero, never more than the limit
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise KBError([Problem(name, "cannot read: not a regular file")])
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise KBError([Problem(name, f"cannot read: {exc}")]) from None
    if len(data) > max_bytes:
        size = max(len(data), _size(path))
        raise KBError([Problem(name, (
            f"the file is {size:,} bytes, over the limit of {max_bytes:,} "
            "(KEFU_KNOWLEDGE_BASE__MAX_FILE_BYTES): split it into several files, or raise the limit"
        ))])
    return list(_parse_bytes(data, kind, name))


def _size(path: PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


_parsed: OrderedDict[tuple[bytes, str, str], tuple[Entry, ...]] = OrderedDict()
_PARSED_FILES = 16
"""Parsed files kept, by the digest of their bytes (not the bytes: 16 files of 20 MB)."""


def _parse_bytes(data: bytes, kind: str, name: str) -> tuple[Entry, ...]:
    key = (hashlib.blake2b(data, digest_size=32).digest(), kind, name)
    entries = _parsed.get(key)
    if entries is not None:
        _parsed.move_to_end(key)
        return entries
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise KBError([Problem(name, f"not UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8", line=line)]) from None
    entries = _parsed[key] = tuple(parse_text(text, kind, name))
    if len(_parsed) > _PARSED_FILES:
        _parsed.popitem(last=False)
    return entries


def parse_text(text: str, kind: str, name: str) -> list[Entry]:
    """Parse ``text`` of format ``kind`` ("yaml", "json", "csv"); ``name`` labels errors.

    YAML is read first by yaml-rs (Rust; 10,000 entries in a fraction of the ~2.5 s PyYAML with
    libyaml needs). Whenever that reading is not a valid KB (a syntax error, a duplicate key, a
    merge key, a scalar YAML 1.2 types differently from YAML 1.1), the file is read again by
    PyYAML, whose reading and error messages decide: every file PyYAML accepts loads the same,
    and a broken one is reported the same.

    Characters no reader may see are refused first, naming their lines; an empty text (only
    whitespace, or YAML comments) has no entries, any other text must yield at least one.
    """
    problems = _character_problems(text, name)
    if problems:
        raise KBError(problems)
    if not _has_content(text, kind):
        return []
    try:
        entries = _parse(text, kind, name)
    except RecursionError:
        raise KBError([Problem(name, "nested too deeply to be a knowledge base")]) from None
    if not entries:
        raise KBError([Problem(name, (
            "no entries found, though the file is not empty: give at least one entry "
            "(an empty file, or one of only comments, is the way to have none)"
        ))])
    return entries


def _parse(text: str, kind: str, name: str) -> list[Entry]:
    if kind == "csv":
        raws, lines, problems = _csv_raw_entries(text, name)
        return _entries(raws, name, problems, lines)
    if kind == "yaml":
        data = _fast_yaml(text)
        if data is not _UNREAD:
            raws, problems = _document_entries(data, name)
            try:
                entries = _entries(raws, name, problems, {})
            except KBError:
                pass  # PyYAML's reading decides, and names the problems
            else:
                if entries:
                    return entries  # (nothing from a text with content: PyYAML decides too)
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader) if kind == "yaml" else json.loads(text)
    except yaml.YAMLError as exc:
        raise KBError([Problem(name, f"not valid YAML: {_one_line(exc)}")]) from None
    except json.JSONDecodeError as exc:
        raise KBError([Problem(name, f"not valid JSON: {exc}")]) from None
    raws, problems = _document_entries(data, name)
    return _entries(raws, name, problems, {})


_UNREAD = object()


def _fast_yaml(text: str) -> Any:
    """The YAML document as yaml-rs reads it, or ``_UNREAD`` if it cannot, or if the text might
    nest deeper than it can take without crashing."""
    if _DEEP_LINE.search(text):
        return _UNREAD
    try:
        return yaml_rs.loads(text, parse_datetime=True)
    except (yaml_rs.YAMLDecodeError, ValueError, TypeError, RecursionError):
        return _UNREAD


def _character_problems(text: str, name: str) -> list[Problem]:
    """One problem for each line (the first ten) holding a character no KB text may hold."""
    if _FORBIDDEN.search(text) is None:  # the common case: one scan, no line counting
        return []
    problems: list[Problem] = []
    found: dict[int, list[tuple[int, str]]] = {}
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        for match in _FORBIDDEN.finditer(line):
            found.setdefault(number, []).append((match.start() + 1, match.group()))
    for number, hits in list(found.items())[:10]:
        chars = [_character(char) for char in dict.fromkeys(char for _, char in hits)]
        column = hits[0][0]
        if len(chars) > 1:
            message = f"the control characters {', '.join(chars)} from column {column} are not allowed: remove them"
        else:
            times = f" ({len(hits)} times)" if len(hits) > 1 else ""
            message = f"the control character {chars[0]} at column {column}{times} is not allowed: remove it"
        problems.append(Problem(name, message, line=number))
    if len(found) > 10:
        problems.append(Problem(name, f"and such characters on {len(found) - 10} more lines"))
    return problems


def _character(char: str) -> str:
    code = ord(char)
    label = _CHARACTER_NAMES.get(code)
    return f"U+{code:04X}" + (f" ({label})" if label else "")


def _has_content(text: str, kind: str) -> bool:
    """Anything but whitespace (and, in YAML, comments)."""
    if kind != "yaml":
        return bool(text.strip())
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _control_in(value: Any, depth: int = 3) -> str | None:
    """The first forbidden character in the texts of a field's value (written as an escape, as
    ``"\\0"``: the file's own characters were checked before reading), or None."""
    if isinstance(value, str):
        match = _FORBIDDEN.search(value)
        return _character(match.group()) if match else None
    if depth == 0:
        return None
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
    for item in items:
        found = _control_in(item, depth - 1)
        if found:
            return found
    return None


def _entries(raws: list[Any], name: str, problems: list[Problem], lines: Mapping[str, int]) -> list[Entry]:
    """Validate the raw entries of one file; raises :class:`KBError` with ``problems`` and
    everything wrong with them."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raws, start=1):
        entry_id = raw.get("id") if isinstance(raw, Mapping) else None
        if isinstance(entry_id, str) and entry_id in seen:
            problems.append(Problem(name, "the same id is used by two entries", entry_id, "id"))
            continue
        if isinstance(entry_id, str):
            seen.add(entry_id)
        entry = _validate(raw, name, index, problems, lines)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise KBError(problems)
    return entries


def load_entries(
    paths: Sequence[PathLike], *, include_default: bool = True, max_bytes: int = MAX_FILE_BYTES
) -> dict[str, Entry]:
    """The merged entries of the shipped default KB (unless excluded) and ``paths``, in order.

    An entry of a later file replaces the earlier entry with the same id. Raises
    :class:`KBError` with the problems of every file, and for buttons that lead to an entry no
    file defines. ``max_bytes`` limits each of ``paths`` (not the shipped KB).
    """
    files: list[PathLike] = [DEFAULT_KB] if include_default else []
    files.extend(paths)
    merged: dict[str, Entry] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            entries = load_file(path, max_bytes=MAX_FILE_BYTES if path is DEFAULT_KB else max_bytes)
        except KBError as exc:
            problems.extend(exc.problems)
            continue
        for entry in entries:
            merged.pop(entry.id, None)  # the replacing entry takes the later file's position
            merged[entry.id] = entry
    problems.extend(check_references(merged.values(), merged.keys()))
    if problems:
        raise KBError(problems)
    for gap in language_gaps(merged.values()):
        log.warning("%s", gap)
    return merged


def language_gaps(entries: Iterable[Entry], *, shown: int = 5) -> list[Problem]:
    """Warnings, one per file and language, for entries with no answer in English or in Chinese
    (either script: the other is converted). Such entries are answered in the language they have."""
    missing: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        for lang, langs in (("en", ("en",)), ("zh-Hans", ("zh-Hans", "zh-Hant"))):
            if not any(code in entry.answer for code in langs):
                missing.setdefault((entry.source or "<kb>", lang), []).append(entry.id)
    warnings = []
    for (file, lang), ids in missing.items():
        name = "English" if lang == "en" else "Chinese"
        other = "Chinese" if lang == "en" else "English"
        listed = ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
        count = f"{len(ids)} entr{'y has' if len(ids) == 1 else 'ies have'}"
        warnings.append(Problem(file, f"{count} no {name} answer ({listed}): customers writing {name} get the {other} one"))
    return warnings


def entry_from_dict(raw: Mapping[str, Any], name: str = "<kb>") -> Entry:
    """Validate one entry given in its YAML/JSON form; raises :class:`KBError`."""
    problems: list[Problem] = []
    entry = _validate(raw, name, 1, problems, {})
    if entry is None:
        raise KBError(problems)
    return entry


def check_references(entries: Iterable[Entry], known: Iterable[str]) -> list[Problem]:
    """Problems for buttons leading to an entry id not in ``known``."""
    ids = set(known)
    return [
        Problem(entry.source or "<kb>", f"button leads to unknown entry {button.entry!r}", entry.id, "buttons")
        for entry in entries
        for button in entry.buttons
        if button.entry is not None and button.entry not in ids
    ]


# -- YAML / JSON -------------------------------------------------------------------------------


def _document_entries(data: Any, name: str) -> tuple[list[Any], list[Problem]]:
    if isinstance(data, Mapping):
        extra = sorted(_shown.repr(k).strip("'") for k in data if k not in ("entries", "version"))
        if extra:
            return [], [Problem(name, f"unknown top-level key(s) {', '.join(extra)}: expected 'entries'")]
        data = data.get("entries")
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [Problem(name, "expected a list of entries (under 'entries:')")]
    return data, []


def _validate(
    raw: Any, name: str, index: int, problems: list[Problem], lines: Mapping[str, int]
) -> Entry | None:
    """One raw entry → :class:`Entry`, appending what is wrong with it to ``problems``."""
    if not isinstance(raw, Mapping):
        problems.append(Problem(name, "is not a mapping of fields", f"#{index}"))
        return None
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not _ID.match(entry_id):
        label = f"#{index}"
        message = "missing id" if entry_id is None else (
            f"{_shown.repr(entry_id)} is not an id: use 1-48 letters, digits, '_', '-' or '.'"
        )
        problems.append(Problem(name, message, label, "id"))
        return None
    before = len(problems)
    line = lines.get(entry_id)

    def problem(field: str | None, message: str) -> None:
        problems.append(Problem(name, message, entry_id, field, line))

    for key, value in raw.items():
        if key not in ENTRY_FIELDS:
            problem(_shown.repr(key).strip("'"), f"unknown field (expected one of {', '.join(ENTRY_FIELDS)})")
        elif key != "questions" and (char := _control_in(value)) is not None:  # (questions: see _questions)
            problem(key, f"holds the control character {char} (written as an escape): remove it")
    category = raw.get("category")
    if not isinstance(category, str) or not category.strip():
        problem("category", "missing category" if category is None else "must be a non-empty text")
    action = raw.get("action", "answer")
    if action not in ACTIONS:
        problem("action", f"{_shown.repr(action)} is not one of {', '.join(ACTIONS)}")
    questions = _questions(raw.get("questions"), problem)
    answer = _answers(raw.get("answer"), problem)
    buttons = _buttons(raw.get("buttons"), problem)
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        problem("tags", "must be a list of texts")
        tags = []
    if len(problems) > before:
        return None
    return Entry(
        id=entry_id,
        category=str(category).strip(),
        action=action,
        questions=questions,
        answer=answer,
        buttons=buttons,
        tags=tuple(t.strip() for t in tags),
        source=name,
    )


def _by_language(value: Any, field: str, problem: Any) -> dict[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problem(field, "must map languages (zh-Hans, zh-Hant, en) to texts")
        return None
    out: dict[str, Any] = {}
    for lang, item in value.items():
        if lang not in LANGUAGES:
            problem(field, f"unknown language {_shown.repr(lang)}: use zh-Hans, zh-Hant or en")
            continue
        out[lang] = item
    return out


def _questions(value: Any, problem: Any) -> dict[str, tuple[str, ...]]:
    by_lang = _by_language(value, "questions", problem)
    if by_lang is None:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for lang, items in by_lang.items():
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(q, str) for q in items):
            problem("questions", f"{lang}: must be a list of texts")
            continue
        # Control characters written as escapes become spaces: examples are only matched, and a
        # customer's question taught with /kb_add may hold them (older kefus wrote them so).
        items = [_FORBIDDEN.sub(" ", q).strip() for q in items]
        cleaned = tuple(dict.fromkeys(q for q in items if q))
        if cleaned:
            out[lang] = cleaned
    if not out:
        problem("questions", "no example questions (give some in zh-Hans and en)")
    return out


def _answers(value: Any, problem: Any) -> dict[str, str]:
    by_lang = _by_language(value, "answer", problem)
    if by_lang is None:
        return {}
    out: dict[str, str] = {}
    for lang, text in by_lang.items():
        if not isinstance(text, str) or not text.strip():
            problem("answer", f"{LANGUAGE_NAMES[lang]} answer must be a non-empty text")
            continue
        text = text.strip()
        if len(text) > MAX_ANSWER:
            problem("answer", f"{LANGUAGE_NAMES[lang]} answer is longer than {MAX_ANSWER} characters")
        message = placeholder_problem(text)
        if message:
            problem("answer", f"{LANGUAGE_NAMES[lang]} answer: {message}")
        out[lang] = text
    if not by_lang:
        problem("answer", "missing answer: give it in zh-Hans, zh-Hant or en")
    return out


def placeholder_problem(text: str) -> str | None:
    """Why ``text`` is not a valid answer template, or None. Placeholders are ``{name}``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"{exc} (write {{{{ and }}}} for literal braces)"
    for _, name, spec, conversion in parsed:
        if name is not None and (not name.isidentifier() or spec or conversion):
            return f"placeholder {{{name}}} must be a plain name such as {{shop_name}}"
    return None


def _buttons(value: Any, problem: Any) -> tuple[Button, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problem("buttons", "must be a list of buttons")
        return ()
    out: list[Button] = []
    for number, raw in enumerate(value, start=1):
        where = f"button {number}"
        if not isinstance(raw, Mapping):
            problem("buttons", f"{where}: must be a mapping with text and url or entry")
            continue
        unknown = [_shown.repr(k).strip("'") for k in raw if k not in ("text", "url", "entry")]
        if unknown:
            problem("buttons", f"{where}: unknown key(s) {', '.join(unknown)}")
        text = raw.get("text")
        labels: dict[str, str] = {}
        if not isinstance(text, Mapping):
            problem("buttons", f"{where}: text must map languages to labels")
        else:
            for lang, label in text.items():
                if lang not in LANGUAGES or not isinstance(label, str) or not label.strip():
                    problem("buttons", f"{where}: text {_shown.repr(lang)} must be a language with a non-empty label")
                elif len(label) > MAX_BUTTON_TEXT:
                    problem("buttons", f"{where}: label longer than {MAX_BUTTON_TEXT} characters")
                else:
                    labels[lang] = label.strip()
            if not text:
                problem("buttons", f"{where}: missing text: give a label in zh-Hans, zh-Hant or en")
        url, entry = raw.get("url"), raw.get("entry")
        if (url is None) == (entry is None):
            problem("buttons", f"{where}: give either url or entry")
        elif url is not None and not (isinstance(url, str) and _URL.match(url)):
            problem("buttons", f"{where}: url must start with https://, http:// or tg://")
        elif entry is not None and not (isinstance(entry, str) and _ID.match(entry)):
            problem("buttons", f"{where}: entry must be an entry id")
        out.append(Button(text=labels, url=url, entry=entry))
    return tuple(out)


# -- CSV ---------------------------------------------------------------------------------------


def _csv_raw_entries(text: str, name: str) -> tuple[list[dict[str, Any]], dict[str, int], list[Problem]]:
    """Group CSV rows into raw entries; returns them, each entry's first line, and problems."""
    reader = csv.reader(io.StringIO(text))
    problems: list[Problem] = []
    rows = _csv_rows(reader, name, problems)
    header = next(rows, None)
    if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
        return [], {}, [*problems, Problem(name, f"the first line must be the header {','.join(CSV_HEADER)}", line=1)]
    raws: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    for row in rows:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_HEADER):
            problems.append(Problem(name, f"expected {len(CSV_HEADER)} columns, found {len(row)}", line=line))
            continue
        entry_id, lang, question, answer, action, category = (cell.strip() for cell in row)
        if not entry_id:
            problems.append(Problem(name, "missing entry_id", field="entry_id", line=line))
            continue
        raw = raws.get(entry_id)
        if raw is None:
            lines[entry_id] = line
            raw = raws[entry_id] = {"id": entry_id, "questions": {}, "answer": {}}
            if action:
                raw["action"] = action
            if category:
                raw["category"] = category

        def problem(field: str, message: str, entry_id: str = entry_id, line: int = line) -> None:
            problems.append(Problem(name, message, entry_id, field, line))

        for field, value in (("action", action), ("category", category)):
            if value and raw.get(field, value) != value:
                problem(field, f"{_shown.repr(value)} differs from {_shown.repr(raw[field])} given earlier for this entry")
            elif value:
                raw[field] = value
        if lang not in LANGUAGES:
            problem("lang", f"{_shown.repr(lang)} is not zh-Hans, zh-Hant or en")
            continue
        if question:
            raw["questions"].setdefault(lang, []).append(question)
        if answer:
            known = raw["answer"].get(lang)
            if known is not None and known != answer:
                problem("answer", f"a second, different {LANGUAGE_NAMES[lang]} answer")
            raw["answer"][lang] = answer
        if not question and not answer:
            problem("question", "row has neither a question nor an answer")
    return list(raws.values()), lines, problems


def _csv_rows(reader: Any, name: str, problems: list[Problem]) -> Iterator[list[str]]:
    """The rows up to the first the csv module cannot read (a cell over its 128 KiB), which
    becomes a problem naming the line."""
    try:
        yield from reader
    except csv.Error as exc:
        problems.append(Problem(name, f"not valid CSV: {exc}", line=reader.line_num))


# -- writing -----------------------------------------------------------------------------------


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """The YAML/JSON form of ``entry`` (fields left out when empty)."""
    data: dict[str, Any] = {"id": entry.id, "category": entry.category, "action": entry.action}
    if entry.tags:
        data["tags"] = list(entry.tags)
    data["questions"] = {lang: list(qs) for lang, qs in entry.questions.items()}
    data["answer"] = dict(entry.answer)
    if entry.buttons:
        data["buttons"] = [
            {"text": dict(b.text), **({"url": b.url} if b.url else {"entry": b.entry})} for b in entry.buttons
        ]
    return data


class _Dumper(yaml.CSafeDumper):
    """Writes multi-line answers as ``|`` blocks, as a person would, and never an alias (``&1``/``*1``)
    for a list given twice. libyaml's emitter (as the loader reads with libyaml): the same text
    as PyYAML's own, four times faster (3,000 entries: 0.5 s instead of 2.1 s)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.CSafeDumper, value: str) -> yaml.Node:
    # Double quotes escape every character a KB file may not hold (PyYAML may otherwise write a
    # NEL as it is, in a file kefu would then refuse).
    style = '"' if _FORBIDDEN.search(value) else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(entries: Iterable[Entry | Mapping[str, Any]]) -> str:
    """The YAML file of ``entries`` (an entry may also be given in its YAML form, unvalidated)."""
    return yaml.dump(
        {"entries": [entry_to_dict(e) if isinstance(e, Entry) else dict(e) for e in entries]},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )


def write_yaml(entries: Iterable[Entry], path: PathLike) -> None:
    """Write ``entries`` to ``path`` atomically (a reader never sees half a file)."""
    write_atomically(dump_yaml(entries), path)


def write_atomically(content: str | bytes, path: PathLike) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` so that a reader sees the old file or the
    new one; a file rewritten keeps its permissions (other processes, other users, read it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content.encode("utf-8") if isinstance(content, str) else content)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upsert_yaml(entries: Iterable[Entry], path: PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> None:
    """Add ``entries`` to the YAML file ``path`` (created if missing), replacing same-id ones."""
    target = Path(path)
    existing = {e.id: e for e in load_file(target, max_bytes=max_bytes)} if target.exists() else {}
    for entry in entries:
        existing[entry.id] = entry
    write_yaml(existing.values(), target)


def import_file(
    src: PathLike, dest_yaml: PathLike, *, include_default: bool = True, max_bytes: int = MAX_FILE_BYTES
) -> list[str]:
    """Validate the YAML, JSON or CSV file ``src`` and merge its entries into ``dest_yaml``.

    Entries with an id already in ``dest_yaml`` are replaced, others appended; buttons must
    lead to entries of ``src``, ``dest_yaml`` or (unless excluded) the shipped default KB.
    Returns the imported ids. Raises :class:`KBError` and leaves ``dest_yaml`` untouched if
    anything is wrong (``src`` or ``dest_yaml`` over ``max_bytes`` too). This is ``kefu kb
    import FILE``.
    """
    imported = load_file(src, max_bytes=max_bytes)
    target = Path(dest_yaml)
    existing = {e.id: e for e in load_file(target, max_bytes=max_bytes)} if target.exists() else {}
    known = set(existing) | {e.id for e in imported}
    if include_default:
        known |= {e.id for e in load_file(DEFAULT_KB)}
    problems = check_references(imported, known)
    if problems:
        raise KBError(problems)
    upsert_yaml(imported, target, max_bytes=max_bytes)
    return [e.id for e in imported]


def _one_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    return f"{what} at line {mark.line + 1}" if mark is not None else " ".join(str(what).split())
