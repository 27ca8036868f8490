"""Editing the knowledge base one entry at a time (the console's Knowledge base page).

Every entry is served from one file: the shipped default KB, a shop file (``[knowledge_base]
files``) or the learned file (``learned_file``, where /kb_add and /kb_learn write). An edit is
saved where a shop keeps its knowledge:

- an entry of a shop's YAML or JSON file is written back into that file, in its place (the
  file's other entries as the loader reads them; a YAML file's comments are not kept);
- an entry of a shop's CSV file is written back into the CSV, its rows replaced where they were
  and every other row kept. CSV cannot hold tags or buttons: an edit that gives an entry of a CSV
  file tags or buttons is saved to the learned file instead, where it overrides the CSV's;
- an entry of the shipped default KB is copied, edited, into the learned file, where it
  overrides the shipped one (the shipped file is never written: an upgrade replaces it);
- a new entry goes to the learned file.

**Validated exactly as files are.** The file as it would be after the edit is built in memory and
read by the file loader itself (:func:`knowledge_base.loader.parse_text`), then its buttons are
checked against the whole KB (:func:`check_references`): an invalid edit is refused with the very
:class:`KBError` the loader gives for that file, and nothing is written. What is written is the
text that was read. The live KB then serves the files at once (:meth:`LiveKnowledgeBase.reload`);
other processes see the change at their next reload.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from bot.core.language import to_simplified
from knowledge_base.entries import Entry, KBError, Problem
from knowledge_base.kb import KnowledgeBase
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.loader import (
    CSV_HEADER,
    DEFAULT_KB,
    check_references,
    dump_yaml,
    entry_to_dict,
    file_kind,
    language_gaps,
    load_file,
    parse_text,
    write_atomically,
)

Origin = Literal["default", "shop", "learned"]
ORIGINS: tuple[Origin, ...] = ("default", "shop", "learned")


@dataclass(frozen=True, slots=True)
class Placed:
    """An entry with where it is served from and where an edit of it is saved."""

    entry: Entry
    origin: Origin
    file: str
    """The file the serving entry comes from."""
    saves_to: str
    """The file an edit is written to."""
    rich: bool
    """Whether that file can hold tags and buttons (CSV cannot)."""


def placed(live: LiveKnowledgeBase, entry: Entry) -> Placed:
    source = Path(entry.source) if entry.source else live.learned_file
    if source == DEFAULT_KB:
        origin: Origin = "default"
    elif source == live.learned_file:
        origin = "learned"
    else:
        origin = "shop"
    target = live.learned_file if origin == "default" else source
    return Placed(entry, origin, str(source), str(target), target.suffix.lower() != ".csv")


def listing(
    live: LiveKnowledgeBase, search: str = "", origin: str | None = None, category: str | None = None
) -> list[Placed]:
    """The entries the bot serves, in the KB's order, those whose id, category, tags, questions
    or answers contain ``search`` (case-insensitive; traditional and simplified alike)."""
    needle = to_simplified(search.strip().casefold())
    haystacks = _haystacks(live.kb) if needle else {}
    found = []
    for entry in live.kb.entries.values():
        place = placed(live, entry)
        if origin and place.origin != origin or category and entry.category != category:
            continue
        if needle and needle not in haystacks[entry.id]:
            continue
        found.append(place)
    return found


@lru_cache(maxsize=2)
def _haystacks(kb: KnowledgeBase) -> dict[str, str]:
    """Each entry's texts as a search sees them, once per KB (a KB never changes; OpenCC takes
    some 0.1 ms a text)."""
    found = {}
    for entry in kb.entries.values():
        texts = [entry.id, entry.category, *entry.tags, *entry.answer.values()]
        texts.extend(q for qs in entry.questions.values() for q in qs)
        found[entry.id] = to_simplified("\n".join(texts).casefold())
    return found


def categories(live: LiveKnowledgeBase) -> list[str]:
    return sorted({e.category for e in live.kb.entries.values()})


def fingerprint(entry: Entry) -> str:
    """The entry's content in short: an edit form carries the one it was opened with."""
    text = json.dumps(entry_to_dict(entry), sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class StaleEdit(Exception):
    """The entry changed since the edit began (someone saved it, the bot learned a question for
    it, its file changed): saving would lose that change. ``current`` is the entry now."""

    def __init__(self, current: Placed) -> None:
        super().__init__(current.entry.id)
        self.current = current


def save_entry(
    live: LiveKnowledgeBase, raw: Mapping[str, Any], *, new: bool = False, was: str | None = None
) -> Placed:
    """Save ``raw`` (an entry in its YAML form) over the entry with its id, or as a ``new`` one,
    in the file it belongs to (see the module docstring), serving at once.

    Raises :class:`KBError` — the loader's, for that file — and writes nothing when the edit is
    invalid, names an entry that does not exist, or (``new``) an id already in use; with ``was``
    (the :func:`fingerprint` the edit began from), :class:`StaleEdit` when the entry has changed
    since, here or in another process's files.
    """
    entry_id = raw.get("id")
    current = live.kb.entry(entry_id) if isinstance(entry_id, str) else None
    if new:
        target = live.learned_file
        if current is not None:
            raise KBError([Problem(str(target), "the same id is used by two entries", entry_id, "id")])
    elif current is None:
        raise KBError([Problem("<kb>", "no such entry", str(entry_id))])
    else:
        place = placed(live, current)
        target = Path(place.saves_to)
        if not place.rich and (raw.get("tags") or raw.get("buttons")):
            target = live.learned_file
    name, kind = str(target), file_kind(target) or "yaml"
    if current is not None and was is not None:
        # the entry as its file holds it now: another process may have saved it since this one read it
        on_disk = next((e for e in load_file(target, max_bytes=live.max_file_bytes) if e.id == entry_id), None) if target.exists() else None
        if fingerprint(on_disk or current) != was:
            raise StaleEdit(placed(live, on_disk or current))
    text = _edited_file(target, kind, raw, live.max_file_bytes)
    entries = parse_text(text, kind, name)  # the file loader's own reading: its errors, word for word
    edited = [e for e in entries if e.id == entry_id]
    problems = check_references(edited, {*live.kb.entries, *(e.id for e in entries)})
    if problems:
        raise KBError(problems)
    before = target.read_bytes() if target.exists() else None
    write_atomically(text, target)
    try:
        live.reload()
    except KBError:  # another file is broken (the last good KB serves): the edit is not saved either
        if before is None:
            target.unlink(missing_ok=True)
        else:
            write_atomically(before, target)
        raise
    return placed(live, live.kb.entries[str(entry_id)])


def warnings(live: LiveKnowledgeBase, entry: Entry) -> list[str]:
    """What is allowed but worth saying: a language the entry does not answer in (as loading
    logs it), and placeholders no ``[knowledge_base] values`` fills (shown to customers as written)."""
    found = [p.message for p in language_gaps([entry])]
    names = sorted(
        name for text in entry.answer.values() for name in _placeholders(text) if name not in live.values
    )
    found.extend(f"{{{name}}} has no value in [knowledge_base] values: customers see it as written" for name in dict.fromkeys(names))
    return found


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _edited_file(target: Path, kind: str, raw: Mapping[str, Any], max_bytes: int) -> str:
    """The text of ``target`` with the entry of ``raw``'s id replaced by ``raw`` (or added)."""
    if kind == "csv":
        return _edited_csv(target.read_text(encoding="utf-8-sig") if target.exists() else "", raw)
    existing = load_file(target, max_bytes=max_bytes) if target.exists() else []
    entries: list[Entry | Mapping[str, Any]] = [raw if e.id == raw.get("id") else e for e in existing]
    if not any(e is raw for e in entries):
        entries.append(raw)
    if kind == "json":
        data = {"entries": [entry_to_dict(e) if isinstance(e, Entry) else dict(e) for e in entries]}
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return dump_yaml(entries)


def _edited_csv(text: str, raw: Mapping[str, Any]) -> str:
    """The CSV with the rows of ``raw``'s entry where its old rows were (the first of them), every
    other row as it was."""
    rows = list(csv.reader(io.StringIO(text)))
    header, body = (rows[0], rows[1:]) if rows else (list(CSV_HEADER), [])
    place = next((i for i, row in enumerate(body) if row and row[0].strip() == raw.get("id")), len(body))
    kept = [row for row in body if not (row and row[0].strip() == raw.get("id"))]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([header, *kept[:place], *_csv_rows(raw), *kept[place:]])
    return out.getvalue()


def _csv_rows(raw: Mapping[str, Any]) -> list[list[str]]:
    """One row per example question; each language's answer on its first row, the action and
    category on the entry's first row (the CSV form in knowledge_base/README.md)."""
    questions = raw.get("questions") if isinstance(raw.get("questions"), Mapping) else {}
    answers = raw.get("answer") if isinstance(raw.get("answer"), Mapping) else {}
    rows: list[list[str]] = []
    for lang in dict.fromkeys([*questions, *answers]):
        asked = questions.get(lang) or [""]
        for number, question in enumerate([asked] if isinstance(asked, str) else asked):
            first = not rows
            rows.append([
                str(raw.get("id", "")), str(lang), str(question),
                str(answers.get(lang, "")) if number == 0 else "",
                str(raw.get("action", "")) if first else "", str(raw.get("category", "")) if first else "",
            ])
    return rows or [[str(raw.get("id", "")), "", "", "", str(raw.get("action", "")), str(raw.get("category", ""))]]
