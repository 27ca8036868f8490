"""Refit the matcher's confidence function: ``python -m knowledge_base.calibration.fit``.

Prints the :data:`knowledge_base.matcher.CALIBRATION` tuple to paste into ``matcher.py``.
A logistic regression predicts "the best entry is right" from the matcher's signals on:

* held-out folds (5-fold) of the Bitext KB examples (``../shared/data/bitext/kb_examples.csv``,
  skipped if absent) — never its ``test.csv``;
* ``dev_zh.yaml``: paraphrases routed on the shipped default KB;
* ``dev_ood.txt``: messages no shop answers (label 0), on the default KB and (the English ones)
  on each Bitext fold;
* colloquial chat messages on a small KB (``../shared/data/colloquial/kb_seed.csv``: 4 Chinese
  and 8 English examples an entry): ``colloquial.csv`` (written for this, 27 intents and
  out-of-domain, zh-Hans, zh-Hant with Cantonese, English) and the tuning half of
  ``dev.csv`` (never the half ``bench/kb_routing.py`` reports on);
* fine-grained Chinese FAQs (``bench/data/faq_zh``, sibling questions of one brokerage app): the
  tuning split of ``bench/kb_faq_zh.py`` (never its report split).

Every group — a source, a script, in-domain or out-of-domain — gets the same total weight: the
confidence assumes no prior on whether a message is in the shop's domain, and a KB of 20
examples an entry counts as much as one of 4.
"""

from __future__ import annotations

import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

from knowledge_base.features import _HAN
from knowledge_base.kb import KnowledgeBase
from knowledge_base.matcher import Matcher

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BITEXT = ROOT.parent / "shared" / "data" / "bitext" / "kb_examples.csv"
COLLOQUIAL = ROOT.parent / "shared" / "data" / "colloquial"


def _benchmarks() -> None:
    """Make ``bench/`` importable: the colloquial and fine-grained KBs and splits are the
    benchmarks' own, so calibration and benchmark never disagree on them."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))

Row = tuple[list[float], int]
WIDTH = 9
"""Weights per script: cosine, margin, fuzzy ratio, coverage, length, share margin, pairs, centroid
cosine, intercept."""


def _row(matcher: Matcher, text: str, expected: str | None) -> Row | None:
    signals = matcher.signals(text)
    if signals is None:
        return None
    entry, values, han = signals
    sim, margin, ratio, known, length, share_margin, pairs, centroid = values
    # coverage, length, share margin and the centroid cosine are Chinese signals, pairs a
    # Latin-script one (matcher.py: CALIBRATION)
    if han:
        own = [sim, margin, ratio, known, length, share_margin, 0.0, centroid, 1.0]
    else:
        own = [sim, margin, ratio, 0.0, 0.0, 0.0, pairs, 0.0, 1.0]
    return ([0.0] * WIDTH + own if han else own + [0.0] * WIDTH), int(entry == expected)


def ood_messages() -> list[str]:
    lines = (HERE / "dev_ood.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def bitext_folds(k: int = 5) -> list[tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
    """Stratified folds of (intent, text), in a fixed shuffled order."""
    if not BITEXT.exists():
        return []
    by_intent: dict[str, list[str]] = defaultdict(list)
    with BITEXT.open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            by_intent[row["intent"]].append(row["instruction"])
    rng = random.Random(0)
    folds: list[list[tuple[str, str]]] = [[] for _ in range(k)]
    for intent, texts in sorted(by_intent.items()):
        texts = texts[:]
        rng.shuffle(texts)
        for i, text in enumerate(texts):
            folds[i % k].append((intent, text))
    return [([p for j, f in enumerate(folds) if j != i for p in f], folds[i]) for i in range(k)]


def colloquial_rows() -> list[tuple[str, str | None]]:
    """(text, intent or None when out of domain) of ``colloquial.csv`` and dev.csv's tuning half."""
    _benchmarks()
    from kb_routing import colloquial_split

    with (HERE / "colloquial.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    if (COLLOQUIAL / "dev.csv").exists():
        rows += colloquial_split()[0]
    return [(r["text"], None if r["intent"] == "out_of_domain" else r["intent"]) for r in rows]


def collect() -> dict[str, list[Row]]:
    """Rows by group: source × script × in-domain or out-of-domain."""
    groups: dict[str, list[Row]] = defaultdict(list)
    source = ""

    def add(matcher: Matcher, text: str, expected: str | None) -> None:
        row = _row(matcher, text, expected)
        if row is not None:
            script = "han" if _HAN.search(text) else "latin"
            groups[f"{source}_{script}" + ("" if expected else "_ood")].append(row)

    ood = ood_messages()
    source = "bitext"
    for train, held_out in bitext_folds():
        matcher = Matcher(train)
        for intent, text in held_out:
            add(matcher, text, intent)
        for text in ood:
            if not _HAN.search(text):  # Chinese on an English-only KB would teach nothing
                add(matcher, text, None)
    source = "default"
    kb = KnowledgeBase.load()
    for item in yaml.safe_load((HERE / "dev_zh.yaml").read_text(encoding="utf-8")):
        add(kb.matcher, item["text"], item["entry"])
    for text in ood:
        add(kb.matcher, text, None)
    seed = seed_kb()
    if seed is not None:
        source = "colloquial"
        for text, intent in colloquial_rows():
            add(seed.matcher, text, intent)
    source = "faq"
    faq_kb, faq_rows = fine_grained()
    for row in faq_rows:
        add(faq_kb.matcher, row["text"], row["intent"])
    return dict(groups)


def fine_grained() -> tuple[KnowledgeBase, list[dict[str, str]]]:
    """The fine-grained Chinese FAQ benchmark's KB and its tuning split (user rows 6–10; the
    benchmark reports on rows 11–15)."""
    _benchmarks()
    from kb_faq_zh import DATA, faq_kb, read_faqs, split_rows

    faqs, _ = read_faqs(DATA)
    return faq_kb(faqs), split_rows(faqs, "tune")


def seed_kb() -> KnowledgeBase | None:
    """The benchmark's KB of ``kb_seed.csv`` (None where ../shared is absent)."""
    if not (COLLOQUIAL / "kb_seed.csv").exists():
        return None
    _benchmarks()
    from kb_routing import colloquial_kb

    return colloquial_kb()


def fit(groups: dict[str, list[Row]], l2: float = 1e-3) -> np.ndarray:
    x = np.array([f for rows in groups.values() for f, _ in rows])
    y = np.array([label for rows in groups.values() for _, label in rows])
    w = np.concatenate([np.full(len(rows), 1.0 / len(rows)) for rows in groups.values() if rows])
    penalised = np.array(([1.0] * (WIDTH - 1) + [0.0]) * 2)  # not the intercepts

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        nll = -np.sum(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        grad = x.T @ (w * (p - y))
        return nll + l2 * float(penalised @ theta**2), grad + 2 * l2 * penalised * theta

    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x


def band_table(groups: dict[str, list[Row]], theta: np.ndarray) -> None:
    """Per candidate (low, high) thresholds: how each dev group would be routed."""
    conf = {
        name: (1.0 / (1.0 + np.exp(-(np.array([f for f, _ in rows]) @ theta))),
               np.array([label for _, label in rows]))
        for name, rows in groups.items()
    }
    conf = {
        key: tuple(np.concatenate([conf[n][i] for n in conf if n.split("_", 1)[1] == key]) for i in (0, 1))
        for key in ("latin", "han", "latin_ood", "han_ood")
    }
    print("low  high | latin: acted-wrong abstain | chinese: acted-right abstain | ood: low band")
    for low in (0.20, 0.25, 0.30, 0.35):
        for high in (0.6, 0.7, 0.8):
            b, bl = conf["latin"]
            d, dl = conf["han"]
            o = np.concatenate([conf["latin_ood"][0], conf["han_ood"][0]])
            print(f"{low:.2f} {high:.2f} | {np.mean((b >= high) & (bl == 0)):.3f} {np.mean(b < low):.3f} | "
                  f"{np.mean((d >= high) & (dl == 1)):.3f} {np.mean(d < low):.3f} | {np.mean(o < low):.3f} "
                  f"(zh {np.mean(conf['han_ood'][0] < low):.3f})")


def main() -> None:
    groups = collect()
    theta = fit(groups)
    fmt = lambda part: "(" + ", ".join(f"{t:.3f}" for t in part) + ")"  # noqa: E731
    print(f'CALIBRATION = {{"latin": {fmt(theta[:WIDTH])}, "han": {fmt(theta[WIDTH:])}}}')
    for name, rows in groups.items():
        x = np.array([f for f, _ in rows])
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        labels = np.array([label for _, label in rows])
        right = np.percentile(p[labels == 1], [10, 50, 90]).round(3) if labels.any() else "-"
        wrong = np.percentile(p[labels == 0], [10, 50, 90]).round(3) if (labels == 0).any() else "-"
        print(f"{name:11s} n={len(rows):4d} right={labels.mean():.3f} p10/50/90 of confidence: "
              f"right={right} wrong={wrong}")
    band_table(groups, theta)


if __name__ == "__main__":
    main()
