"""What a knowledge base is made of: entries, their buttons, and the one error loading raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.core.language import Language

Action = Literal["answer", "order_status", "complaint", "handoff"]
ACTIONS: tuple[Action, ...] = ("answer", "order_status", "complaint", "handoff")
REQUIRED_LANGUAGES: tuple[Language, ...] = ("zh-Hans", "en")
"""The languages a shop is expected to answer in. An entry may give only one of them (an
English-only or Chinese-only shop): loading warns (:func:`knowledge_base.loader.language_gaps`)
and the bot answers in the language the entry has; zh-Hant and zh-Hans stand in for each other,
converted with OpenCC."""
LANGUAGE_NAMES: dict[str, str] = {"zh-Hans": "simplified Chinese", "zh-Hant": "traditional Chinese", "en": "English"}


@dataclass(frozen=True, slots=True)
class Button:
    """A button under an answer: a link (``url``) or a follow-up question (``entry``)."""

    text: dict[str, str]
    url: str | None = None
    entry: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One question a shop answers, with the ways customers ask it.

    ``questions`` and ``answer`` are keyed by language (``zh-Hans``, ``zh-Hant``, ``en``).
    ``answer`` texts are plain text: Telegram shows them as written (no parse mode), so they
    need no escaping; ``{placeholders}`` are filled by :meth:`KnowledgeBase.answer`.
    ``source`` is the file the entry was loaded from ("" if built in code).
    """

    id: str
    category: str
    action: Action
    questions: dict[str, tuple[str, ...]]
    answer: dict[str, str]
    buttons: tuple[Button, ...] = ()
    tags: tuple[str, ...] = ()
    source: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a KB file, located as precisely as the format allows."""

    file: str
    message: str
    entry: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.entry is not None:
            parts.append(f"entry {self.entry!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        return ": ".join([*parts, self.message])


class KBError(Exception):
    """A knowledge base that cannot be used, with every problem found (at least one).

    ``str()`` is one line per problem, e.g.
    ``kb/shop.yaml: entry 'refund_policy': field 'answer': English answer must be a non-empty text``.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
