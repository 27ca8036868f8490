"""Reading, validating, merging and writing knowledge-base files (YAML, JSON, CSV).

YAML and JSON files hold ``{"entries": [...]}`` (or the bare list); each entry is
``id, category, action, questions{lang: [...]}, answer{lang: text}, buttons, tags`` as
described in ``knowledge_base/README.md``. The CSV form has the fixed header
``entry_id,lang,question,answer,action,category``, one row per example question.

Every problem of a file is collected and raised together as one :class:`KBError` naming the
file, entry and field, so a shop fixes its file in one go.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import string
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
import yaml_rs

from knowledge_base.entries import (
    ACTIONS,
    LANGUAGE_NAMES,
    REQUIRED_LANGUAGES,
    Button,
    Entry,
    KBError,
    Problem,
)
from knowledge_base.language import LANGUAGES

DEFAULT_KB = Path(__file__).with_name("data") / "default.yaml"
CSV_HEADER = ("entry_id", "lang", "question", "answer", "action", "category")
ENTRY_FIELDS = ("id", "category", "action", "questions", "answer", "buttons", "tags")
MAX_ANSWER = 4000
"""Characters; Telegram's limit for one message is 4096, and placeholders grow the text."""
MAX_BUTTON_TEXT = 64
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
_URL = re.compile(r"^(https?|tg)://\S+$")
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".csv": "csv"}

PathLike = str | os.PathLike[str]


def load_file(path: PathLike) -> list[Entry]:
    """The entries of one YAML, JSON or CSV file (by extension), validated.

    Button links to entries of other files are not checked here: see :func:`load_entries`.
    A file whose bytes were parsed before is not parsed again (parsing 10,000 entries of YAML
    takes PyYAML seconds; a hot reload after one file changed re-reads the others for free).
    """
    name = str(path)
    kind = _SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise KBError([Problem(name, "unknown file type: use .yaml, .yml, .json or .csv")])
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KBError([Problem(name, f"cannot read: {exc}")]) from None
    return list(_parse_bytes(data, kind, name))


@lru_cache(maxsize=16)
def _parse_bytes(data: bytes, kind: str, name: str) -> tuple[Entry, ...]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KBError([Problem(name, f"cannot read: {exc}")]) from None
    return tuple(parse_text(text, kind, name))


def parse_text(text: str, kind: str, name: str) -> list[Entry]:
    """Parse ``text`` of format ``kind`` ("yaml", "json", "csv"); ``name`` labels errors.

    YAML is read first by yaml-rs (Rust; 10,000 entries in a fraction of the ~2.5 s PyYAML with
    libyaml needs). Whenever that reading is not a valid KB (a syntax error, a duplicate key, a
    merge key, a scalar YAML 1.2 types differently from YAML 1.1), the file is read again by
    PyYAML, whose reading and error messages decide: every file PyYAML accepts loads the same,
    and a broken one is reported the same.
    """
    if kind == "csv":
        raws, lines, problems = _csv_raw_entries(text, name)
        return _entries(raws, name, problems, lines)
    if kind == "yaml":
        data = _fast_yaml(text)
        if data is not _UNREAD:
            raws, problems = _document_entries(data, name)
            try:
                return _entries(raws, name, problems, {})
            except KBError:
                pass  # PyYAML's reading decides, and names the problems
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
    """The YAML document as yaml-rs reads it, or ``_UNREAD`` if it cannot."""
    try:
        return yaml_rs.loads(text, parse_datetime=True)
    except (yaml_rs.YAMLDecodeError, ValueError, TypeError, RecursionError):
        return _UNREAD


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


def load_entries(paths: Sequence[PathLike], *, include_default: bool = True) -> dict[str, Entry]:
    """The merged entries of the shipped default KB (unless excluded) and ``paths``, in order.

    An entry of a later file replaces the earlier entry with the same id. Raises
    :class:`KBError` with the problems of every file, and for buttons that lead to an entry no
    file defines.
    """
    files: list[PathLike] = [DEFAULT_KB] if include_default else []
    files.extend(paths)
    merged: dict[str, Entry] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            entries = load_file(path)
        except KBError as exc:
            problems.extend(exc.problems)
            continue
        for entry in entries:
            merged.pop(entry.id, None)  # the replacing entry takes the later file's position
            merged[entry.id] = entry
    problems.extend(check_references(merged.values(), merged.keys()))
    if problems:
        raise KBError(problems)
    return merged


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
        extra = sorted(str(k) for k in data if k not in ("entries", "version"))
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
            f"{entry_id!r} is not an id: use 1-48 letters, digits, '_', '-' or '.'"
        )
        problems.append(Problem(name, message, label, "id"))
        return None
    before = len(problems)
    line = lines.get(entry_id)

    def problem(field: str | None, message: str) -> None:
        problems.append(Problem(name, message, entry_id, field, line))

    for key in raw:
        if key not in ENTRY_FIELDS:
            problem(str(key), f"unknown field (expected one of {', '.join(ENTRY_FIELDS)})")
    category = raw.get("category")
    if not isinstance(category, str) or not category.strip():
        problem("category", "missing category" if category is None else "must be a non-empty text")
    action = raw.get("action", "answer")
    if action not in ACTIONS:
        problem("action", f"{action!r} is not one of {', '.join(ACTIONS)}")
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
            problem(field, f"unknown language {lang!r}: use zh-Hans, zh-Hant or en")
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
        cleaned = tuple(dict.fromkeys(q.strip() for q in items if q.strip()))
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
    for lang in REQUIRED_LANGUAGES:
        if lang not in by_lang:
            problem("answer", f"missing {LANGUAGE_NAMES[lang]} answer")
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
        unknown = [str(k) for k in raw if k not in ("text", "url", "entry")]
        if unknown:
            problem("buttons", f"{where}: unknown key(s) {', '.join(unknown)}")
        text = raw.get("text")
        labels: dict[str, str] = {}
        if not isinstance(text, Mapping):
            problem("buttons", f"{where}: text must map languages to labels")
        else:
            for lang, label in text.items():
                if lang not in LANGUAGES or not isinstance(label, str) or not label.strip():
                    problem("buttons", f"{where}: text {lang!r} must be a language with a non-empty label")
                elif len(label) > MAX_BUTTON_TEXT:
                    problem("buttons", f"{where}: label longer than {MAX_BUTTON_TEXT} characters")
                else:
                    labels[lang] = label.strip()
            for lang in REQUIRED_LANGUAGES:
                if lang not in text:
                    problem("buttons", f"{where}: missing {LANGUAGE_NAMES[lang]} text")
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
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
        return [], {}, [Problem(name, f"the first line must be the header {','.join(CSV_HEADER)}", line=1)]
    raws: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    for row in reader:
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
                problem(field, f"{value!r} differs from {raw[field]!r} given earlier for this entry")
            elif value:
                raw[field] = value
        if lang not in LANGUAGES:
            problem("lang", f"{lang!r} is not zh-Hans, zh-Hant or en")
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


class _Dumper(yaml.SafeDumper):
    """Writes multi-line answers as ``|`` blocks, as a person would."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def dump_yaml(entries: Iterable[Entry]) -> str:
    return yaml.dump(
        {"entries": [entry_to_dict(e) for e in entries]},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )


def write_yaml(entries: Iterable[Entry], path: PathLike) -> None:
    """Write ``entries`` to ``path`` atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = dump_yaml(entries)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upsert_yaml(entries: Iterable[Entry], path: PathLike) -> None:
    """Add ``entries`` to the YAML file ``path`` (created if missing), replacing same-id ones."""
    target = Path(path)
    existing = {e.id: e for e in load_file(target)} if target.exists() else {}
    for entry in entries:
        existing[entry.id] = entry
    write_yaml(existing.values(), target)


def import_file(src: PathLike, dest_yaml: PathLike, *, include_default: bool = True) -> list[str]:
    """Validate the YAML, JSON or CSV file ``src`` and merge its entries into ``dest_yaml``.

    Entries with an id already in ``dest_yaml`` are replaced, others appended; buttons must
    lead to entries of ``src``, ``dest_yaml`` or (unless excluded) the shipped default KB.
    Returns the imported ids. Raises :class:`KBError` and leaves ``dest_yaml`` untouched if
    anything is wrong. This is ``kefu kb import FILE``.
    """
    imported = load_file(src)
    target = Path(dest_yaml)
    existing = {e.id: e for e in load_file(target)} if target.exists() else {}
    known = set(existing) | {e.id for e in imported}
    if include_default:
        known |= {e.id for e in load_file(DEFAULT_KB)}
    problems = check_references(imported, known)
    if problems:
        raise KBError(problems)
    upsert_yaml(imported, target)
    return [e.id for e in imported]


def _one_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    return f"{what} at line {mark.line + 1}" if mark is not None else " ".join(str(what).split())
