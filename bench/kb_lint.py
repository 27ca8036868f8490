"""``kefu kb lint`` benchmark: ``python bench/kb_lint.py`` from the repository root.

1. Speed: synthesised KBs of 1,000 and 10,000 entries (10 English and 10 Chinese examples each,
   words drawn at random around a topic of four words per entry) are linted in-process
   (``lint_entries``: normalising, near-duplicates, counts, sibling candidates and scoring).
2. A templated KB: the Bitext KB (``kb_examples.csv``, 20 templated English questions per
   intent) as one file, linted; the problems are counted by kind. The shipped KB is linted too
   (it must have none).
"""

from __future__ import annotations

import csv
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge_base.entries import Entry  # noqa: E402
from knowledge_base.lint import lint_entries  # noqa: E402
from knowledge_base.loader import load_entries  # noqa: E402

BITEXT = ROOT.parent / "shared" / "data" / "bitext" / "kb_examples.csv"


def synthetic(n: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8))) for _ in range(5000)]
    han = [chr(0x4E00 + rng.randrange(3000)) for _ in range(2000)]
    entries = []
    for i in range(n):
        topic, zh_topic = rng.sample(words, 4), rng.sample(han, 4)
        en = tuple(" ".join(rng.sample(topic, 2) + rng.sample(words, 3)) for _ in range(10))
        zh = tuple("".join(rng.sample(zh_topic, 2) + rng.sample(han, 5)) for _ in range(10))
        entries.append(Entry(f"e{i}", "bench", "answer", {"en": en, "zh-Hans": zh}, {"en": "x", "zh-Hans": "x"}))
    return entries


def main() -> None:
    for n in (1_000, 10_000):
        entries = synthetic(n)
        started = time.perf_counter()
        problems = lint_entries(entries)
        print(f"lint {n:>6,} entries (20 examples each): {time.perf_counter() - started:6.2f} s, {len(problems)} problems")
    shipped = lint_entries(load_entries([]).values())
    print(f"shipped KB: {len(shipped)} problems")
    if BITEXT.exists():
        questions: dict[str, list[str]] = defaultdict(list)
        with BITEXT.open(encoding="utf-8") as file:
            for row in csv.DictReader(file):
                questions[row["intent"]].append(row["instruction"])
        bitext = [Entry(i, "bitext", "answer", {"en": tuple(q)}, {"en": "x"}) for i, q in questions.items()]
        found = lint_entries(bitext)
        kinds = Counter(p.kind for p in found)
        print(f"Bitext KB ({len(bitext)} entries, templated): " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
