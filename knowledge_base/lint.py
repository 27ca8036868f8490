"""``kefu kb lint``: what in a KB will make the bot route badly, named by entry before customers find it.

The matcher learns an entry from its example questions, so the KB's examples are its training
data, and four shapes of it are known to hurt (issue 20):

- ``near_duplicates``: examples of one entry that say the same thing (templated: "cancel order
  123" / "cancel order 456", "where is my order" / "where's my order"). They add nothing a
  customer's own wording would not, and an entry of templates learns the template, not the
  ways customers ask. Two examples are near-duplicates when RapidFuzz's ``token_sort_ratio`` of
  their *lint keys* is at least :data:`NEAR_DUPLICATE`. A lint key is the matcher's
  normalisation (case, width, traditional → simplified, punctuation and emoji dropped), with
  every number (an order number, an amount) as ``#`` and each run of Han characters kept as
  one word, so word order matters in Chinese. One slot word changed ("cancel my order" /
  "cancel my purchase") is *not* a near-duplicate: such pairs teach the matcher a synonym.
- ``siblings``: two entries whose examples share most of their wording, so the matcher cannot
  tell them apart. Each example of either entry is scored by its best ``token_sort_ratio`` in
  the other; the pair is reported when the mean is at least :data:`SIBLING`.
- ``few_examples``: fewer than :data:`MIN_EXAMPLES` distinct examples (distinct lint keys) in a
  language the entry answers. Traditional and simplified examples count together (the matcher
  folds them); an entry answers Chinese when it has a ``zh-Hans`` or ``zh-Hant`` answer.
- ``order_status_numbers``: an ``order_status`` entry every example of which (in a language it
  answers) carries a number: the matcher then never learns "where is my parcel" said without
  one, which is how most customers ask first.

Sibling candidates come from a bag-of-words cosine between entries (words folded into
:data:`_HASH_DIMENSIONS` buckets; numpy, chunked),
the best :data:`SIBLING_CANDIDATES` per entry, which are then scored exactly: 10,000 entries
lint in seconds where comparing every pair of examples would take hours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, TextIO

import numpy as np
from rapidfuzz import fuzz, process

from knowledge_base.entries import Entry, KBError
from knowledge_base.features import normalize_many
from knowledge_base.loader import PathLike, load_entries

Kind = Literal["near_duplicates", "siblings", "few_examples", "order_status_numbers"]
Script = Literal["zh", "en"]

NEAR_DUPLICATE = 90.0
"""``token_sort_ratio`` (0–100) of two lint keys from which two examples say the same thing."""
SIBLING = 70.0
"""Mean best-match ``token_sort_ratio`` from which two entries share most of their wording."""
MIN_EXAMPLES = 3
SIBLING_CANDIDATES = 5
_HASH_DIMENSIONS = 512
_CANDIDATE_COSINE = 0.4
"""Entries whose hashed bag-of-words cosine is below this never share most of their wording."""
_CHUNK = 1024

_SCRIPT_OF: dict[str, Script] = {"zh-Hans": "zh", "zh-Hant": "zh", "en": "en"}
_SCRIPT_NAMES: dict[Script, str] = {"zh": "Chinese", "en": "English"}
_NUMBER = re.compile(r"\b[a-z]{0,4}0\b")
"""A number after normalisation (digit runs are ``0``), with an order number's letter prefix."""
_HAN_RUN = re.compile(r"(?<=[\u3400-\u9fff\uf900-\ufaff]) (?=[\u3400-\u9fff\uf900-\ufaff])")


@dataclass(frozen=True, slots=True)
class LintProblem:
    """One thing to fix, by entry: ``entries`` holds two ids for ``siblings``, else one."""

    kind: Kind
    file: str
    entries: tuple[str, ...]
    lang: str
    reason: str
    examples: tuple[str, ...]

    def __str__(self) -> str:
        shown = " | ".join(self.examples)
        ids = " and ".join(f"entry {e!r}" for e in self.entries)
        return f"{self.file}: {ids}: {self.reason}" + (f": {shown}" if shown else "")

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "entries": list(self.entries), "examples": list(self.examples)}


@dataclass(frozen=True, slots=True)
class _Examples:
    """An entry's examples in one script: the texts as written and their lint keys."""

    entry: Entry
    texts: tuple[str, ...]
    keys: tuple[str, ...]


def lint_keys(texts: Sequence[str]) -> list[str]:
    """What lint compares: ``"我的快遞到哪了？ A2026112500"`` → ``"我的快递到哪了 #"``."""
    return [_HAN_RUN.sub("", _NUMBER.sub("#", key)) for key in normalize_many(texts, fold=False)]


def lint_entries(entries: Iterable[Entry]) -> list[LintProblem]:
    """Every problem of ``entries`` (a merged KB), entry by entry, siblings last."""
    by_script: dict[Script, list[_Examples]] = {"zh": [], "en": []}
    problems: list[LintProblem] = []
    for entry in entries:
        answered = {_SCRIPT_OF[lang] for lang in entry.answer if lang in _SCRIPT_OF}
        for script in ("zh", "en"):
            texts = tuple(t for lang, qs in entry.questions.items() if _SCRIPT_OF.get(lang) == script for t in qs)
            examples = _Examples(entry, texts, tuple(lint_keys(texts)))
            if texts:
                by_script[script].append(examples)
            problems.extend(_near_duplicates(examples, script))
            if script in answered:
                problems.extend(_few(examples, script))
                problems.extend(_numbered_only(examples, script))
    for script, examples in by_script.items():
        problems.extend(_siblings(examples, script))
    return problems


def _near_duplicates(examples: _Examples, script: Script) -> list[LintProblem]:
    keys = examples.keys
    if len(keys) < 2:
        return []
    scores = process.cdist(keys, keys, scorer=fuzz.token_sort_ratio, score_cutoff=NEAR_DUPLICATE)
    group = list(range(len(keys)))  # union-find: near-duplicates of near-duplicates are one group

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(scores, 1)), strict=True):
        group[root(int(i))] = root(int(j))
    members: dict[int, list[int]] = {}
    for i in range(len(keys)):
        members.setdefault(root(i), []).append(i)
    return [
        LintProblem(
            "near_duplicates", examples.entry.source, (examples.entry.id,), script,
            f"{len(same)} {_SCRIPT_NAMES[script]} examples say the same thing: keep one, write the others as customers ask",
            tuple(examples.texts[i] for i in same),
        )
        for same in members.values() if len(same) > 1
    ]


def _few(examples: _Examples, script: Script) -> list[LintProblem]:
    distinct = len(set(examples.keys) - {""})
    if distinct >= MIN_EXAMPLES:
        return []
    return [LintProblem(
        "few_examples", examples.entry.source, (examples.entry.id,), script,
        f"{distinct} distinct {_SCRIPT_NAMES[script]} example(s) for an entry that answers in {_SCRIPT_NAMES[script]}: "
        f"give at least {MIN_EXAMPLES}",
        examples.texts,
    )]


def _numbered_only(examples: _Examples, script: Script) -> list[LintProblem]:
    entry = examples.entry
    if entry.action != "order_status" or not examples.keys or any("#" not in key for key in examples.keys):
        return []
    return [LintProblem(
        "order_status_numbers", entry.source, (entry.id,), script,
        f"every {_SCRIPT_NAMES[script]} example of this order-status entry has a number: "
        "add some asked without one (\"where is my parcel\")",
        examples.texts,
    )]


def _siblings(examples: list[_Examples], script: Script) -> list[LintProblem]:
    problems = []
    for a, b in _candidate_pairs(examples):
        first, second = examples[a], examples[b]
        scores = process.cdist(first.keys, second.keys, scorer=fuzz.token_sort_ratio)
        best_first, best_second = scores.max(axis=1), scores.max(axis=0)
        shared = (float(best_first.sum()) + float(best_second.sum())) / (len(first.keys) + len(second.keys))
        if shared < SIBLING:
            continue
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        problems.append(LintProblem(
            "siblings", first.entry.source, (first.entry.id, second.entry.id), script,
            f"their {_SCRIPT_NAMES[script]} examples share most of their wording (similarity {shared:.0f}/100): "
            "write what tells them apart",
            (first.texts[int(i)], second.texts[int(j)]),
        ))
    return problems


def _candidate_pairs(examples: list[_Examples]) -> list[tuple[int, int]]:
    """Pairs of entries worth scoring: each entry's nearest few by hashed bag-of-words cosine."""
    n = len(examples)
    if n < 2:
        return []
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for row, item in enumerate(examples):
        grams: list[str] = []
        for word in " ".join(item.keys).split():
            if word.isascii() or len(word) < 2:
                grams.append(word)
            else:  # a run of Han characters: its bigrams
                grams.extend(word[k : k + 2] for k in range(len(word) - 1))
        columns.extend(vocabulary.setdefault(gram, len(vocabulary)) for gram in grams)
        rows.extend([row] * len(grams))
    # word ids are given in order of appearance, so one entry's new words are consecutive: a
    # seeded random bucket per word (not id mod size) keeps entries from colliding block-wise
    buckets = np.random.default_rng(0).integers(0, _HASH_DIMENSIONS, size=len(vocabulary))[np.array(columns, dtype=np.int64)]
    cells = np.array(rows, dtype=np.int64) * _HASH_DIMENSIONS + buckets
    vectors = np.bincount(cells, minlength=n * _HASH_DIMENSIONS).astype(np.float32).reshape(n, _HASH_DIMENSIONS)
    vectors = np.sqrt(vectors)  # sublinear: a word every example repeats does not drown the rest
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms == 0, 1, norms)
    pairs: set[tuple[int, int]] = set()
    for start in range(0, n, _CHUNK):
        cosine = vectors[start : start + _CHUNK] @ vectors.T
        chunk = np.arange(cosine.shape[0])
        cosine[chunk, chunk + start] = 0.0
        close = cosine >= _CANDIDATE_COSINE
        counts = close.sum(axis=1)
        crowded = np.flatnonzero(counts > SIBLING_CANDIDATES)
        if crowded.size:  # only each entry's nearest few
            nearest = np.argpartition(cosine[crowded], -SIBLING_CANDIDATES, axis=1)[:, -SIBLING_CANDIDATES:]
            close[crowded] = False
            close[crowded[:, None], nearest] = True
        hit = np.flatnonzero(counts)
        found_rows, others = np.nonzero(close[hit])
        for row, other in zip(hit[found_rows], others, strict=True):
            a, b = int(row) + start, int(other)
            pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def run_lint(kb_files: Sequence[PathLike], stdout: TextIO, stderr: TextIO, *, as_json: bool = False,
             include_default: bool = False) -> int:
    """Lint ``kb_files`` merged as the bot merges them (none: the shipped KB); 0 clean, 1 problems, 2 unloadable.

    Text: one problem a line and a count on stderr. ``as_json``: one JSON object a line
    (``kind``, ``file``, ``entries``, ``lang``, ``reason``, ``examples``), nothing else on stdout.
    """
    try:
        entries = load_entries(list(kb_files), include_default=include_default or not kb_files)
    except KBError as exc:
        if len(exc.problems) == 1:  # one sentence; several: each on its line, to fix them in one go
            print(f"kefu: the knowledge base does not load: {exc}", file=stderr)
        else:
            print(f"kefu: the knowledge base does not load:\n{exc}", file=stderr)
        return 2
    problems = lint_entries(entries.values())
    for problem in problems:
        print(json.dumps(problem.to_json(), ensure_ascii=False) if as_json else str(problem), file=stdout)
    if not as_json:
        print(f"kefu: {len(entries)} entries, {len(problems)} problem(s)", file=stderr)
    return 1 if problems else 0
