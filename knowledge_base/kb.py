"""The knowledge base a bot answers from: validated entries plus the matcher trained on them.

A :class:`KnowledgeBase` never changes after it is built. Editing methods return a new one,
so hot reload is a single assignment of the new object (atomic in Python): a message being
routed keeps the KB it started with.
"""

from __future__ import annotations

import dataclasses
import logging
import string
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from bot.core.language import LANGUAGES, Language, to_simplified, to_traditional
from knowledge_base.entries import Entry, KBError, Problem
from knowledge_base.loader import PathLike, check_references, entry_from_dict, load_entries, upsert_yaml
from knowledge_base.matcher import Candidate, Matcher

log = logging.getLogger(__name__)


class KnowledgeBase:
    def __init__(self, entries: Iterable[Entry]) -> None:
        """Build from entries (already validated: use :meth:`load` for files)."""
        self._entries: dict[str, Entry] = {e.id: e for e in entries}
        self.matcher = Matcher(
            (e.id, q) for e in self._entries.values() for qs in e.questions.values() for q in qs
        )

    @classmethod
    def load(cls, paths: Sequence[PathLike] = (), *, include_default: bool = True) -> KnowledgeBase:
        """The shipped default KB (unless excluded) merged with the shop's ``paths``.

        Raises :class:`KBError` naming file, entry and field of every problem.
        """
        return cls(load_entries(paths, include_default=include_default).values())

    # -- reading ----------------------------------------------------------------------------

    @property
    def entries(self) -> Mapping[str, Entry]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def entry(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def match(self, text: str, limit: int = 3) -> list[Candidate]:
        return self.matcher.match(text, limit)

    def answer(self, entry_id: str, lang: Language | str, values: Mapping[str, Any] | None = None) -> str:
        """The answer of an entry in ``lang`` with ``{placeholders}`` filled from ``values``.

        An entry without an answer in ``lang`` answers in :meth:`answer_language`: one Chinese
        script is converted from the other by OpenCC (zh-Hant with Taiwan phrasing), English and
        Chinese fall back to each other (an English-only or Chinese-only shop). A placeholder
        without a value stays as written (and is logged), which a shop notices sooner than a
        silently missing word.
        """
        entry = self._entries[entry_id]
        if lang in entry.answer:
            return render(entry.answer[lang], values or {})
        return render(self._converted(entry.answer, lang), values or {})

    def answer_language(self, entry_id: str, lang: Language | str) -> Language:
        """The language :meth:`answer` gives ``entry_id`` in when asked for ``lang``: ``lang``
        itself unless the entry has no answer in it, nor in the other Chinese script."""
        return _served(self._entries[entry_id].answer, lang)

    def button_text(self, label: Mapping[str, str], lang: Language | str) -> str:
        """A button label in ``lang``, with the same fallbacks as :meth:`answer`."""
        return label[lang] if lang in label else self._converted(label, lang)

    def placeholders(self) -> set[str]:
        """Every placeholder name used by an answer: what the shop's settings must provide."""
        return {
            name
            for e in self._entries.values()
            for text in e.answer.values()
            for _, name, _, _ in string.Formatter().parse(text)
            if name
        }

    def _converted(self, texts: Mapping[str, str], lang: str) -> str:
        served = _served(texts, lang)
        if served in texts:
            return texts[served]
        source = texts["zh-Hans" if served == "zh-Hant" else "zh-Hant"]
        key = (source, served)
        if key not in self._conversions:  # OpenCC takes ~0.1 ms a text: an answer is converted once
            self._conversions[key] = to_traditional(source) if served == "zh-Hant" else to_simplified(source)
        return self._conversions[key]

    @cached_property
    def _conversions(self) -> dict[tuple[str, str], str]:
        return {}

    # -- editing ----------------------------------------------------------------------------

    def add_question(
        self, entry_id: str, lang: Language | str, question: str, *, save_to: PathLike | None = None
    ) -> KnowledgeBase:
        """A new KB in which ``entry_id`` also has the example ``question`` (``/kb_add``).

        With ``save_to`` the updated entry is also written to that YAML file (the shop's own;
        a default entry is copied there, where it overrides the shipped one).
        """
        entry = self._entries.get(entry_id)
        if entry is None:
            raise KBError([Problem("<kb>", "no such entry", entry_id)])
        if lang not in LANGUAGES:
            raise KBError([Problem("<kb>", f"unknown language {lang!r}", entry_id, "questions")])
        question = " ".join(question.split())
        if not question:
            raise KBError([Problem("<kb>", "empty question", entry_id, "questions")])
        questions = dict(entry.questions)
        if question in questions.get(lang, ()):
            return self
        questions[lang] = (*questions.get(lang, ()), question)
        return self.add_entry(dataclasses.replace(entry, questions=questions), save_to=save_to)

    def add_entry(self, entry: Entry | Mapping[str, Any], *, save_to: PathLike | None = None) -> KnowledgeBase:
        """A new KB with ``entry`` added, or replacing the entry with the same id.

        ``entry`` may be an :class:`Entry` or its YAML form as a mapping (validated like a
        file's entry). With ``save_to`` it is also written to that YAML file.
        """
        name = str(save_to) if save_to is not None else "<kb>"
        if not isinstance(entry, Entry):
            entry = entry_from_dict(entry, name)
        merged = {**self._entries, entry.id: entry}
        problems = check_references([entry], merged)
        if problems:
            raise KBError(problems)
        if save_to is not None:
            upsert_yaml([entry], save_to)
            entry = dataclasses.replace(entry, source=str(save_to))
            merged[entry.id] = entry
        return KnowledgeBase(merged.values())


def _served(texts: Mapping[str, str], lang: str) -> Language:
    """The language of ``texts`` (an answer or a label, by language) that stands in for ``lang``."""
    if lang in texts:
        return lang  # type: ignore[return-value]
    chinese = [code for code in ("zh-Hans", "zh-Hant") if code in texts]
    if lang in ("zh-Hans", "zh-Hant") and chinese:
        return lang  # type: ignore[return-value]  # converted from the other script
    if "en" in texts:
        return "en"
    return chinese[0]  # type: ignore[return-value]


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders of an answer; unknown ones stay as written."""
    return template.format_map(_Values(values))


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        log.warning("knowledge base answer uses {%s}, which has no value", key)
        return "{" + key + "}"

