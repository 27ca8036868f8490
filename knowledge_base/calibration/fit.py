"""Refit the matcher's confidence function: ``python -m knowledge_base.calibration.fit``.

Prints the :data:`knowledge_base.matcher.CALIBRATION` tuple to paste into ``matcher.py``.
A logistic regression predicts "the best entry is right" from the matcher's signals on:

* held-out folds (5-fold) of the Bitext KB examples (``../shared/data/bitext/kb_examples.csv``,
  skipped if absent) — never its ``test.csv``;
* ``dev_zh.yaml``: paraphrases routed on the shipped default KB;
* ``dev_ood.txt``: messages no shop answers (label 0), on the default KB and (the English ones)
  on each Bitext fold.

Within each script (Latin, Chinese) the in-domain and the out-of-domain rows get the same total
weight: the confidence assumes no prior on whether a message is in the shop's domain.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

from knowledge_base.features import _HAN
from knowledge_base.kb import KnowledgeBase
from knowledge_base.matcher import Matcher

HERE = Path(__file__).parent
BITEXT = Path(__file__).resolve().parents[3] / "shared" / "data" / "bitext" / "kb_examples.csv"

Row = tuple[list[float], int]


def _row(matcher: Matcher, text: str, expected: str | None) -> Row | None:
    signals = matcher.signals(text)
    if signals is None:
        return None
    entry, sim, margin, ratio, han = signals
    own = [sim, margin, ratio, 1.0]
    return ([0.0] * 4 + own if han else own + [0.0] * 4), int(entry == expected)


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


def collect() -> dict[str, list[Row]]:
    """Rows by group: in-domain and out-of-domain, each for Latin-script and Chinese messages."""
    groups: dict[str, list[Row]] = {"latin": [], "han": [], "latin_ood": [], "han_ood": []}

    def add(matcher: Matcher, text: str, expected: str | None) -> None:
        row = _row(matcher, text, expected)
        if row is not None:
            script = "han" if _HAN.search(text) else "latin"
            groups[script + ("" if expected else "_ood")].append(row)

    ood = ood_messages()
    for train, held_out in bitext_folds():
        matcher = Matcher(train)
        for intent, text in held_out:
            add(matcher, text, intent)
        for text in ood:
            if not _HAN.search(text):  # Chinese on an English-only KB would teach nothing
                add(matcher, text, None)
    kb = KnowledgeBase.load()
    for item in yaml.safe_load((HERE / "dev_zh.yaml").read_text(encoding="utf-8")):
        add(kb.matcher, item["text"], item["entry"])
    for text in ood:
        add(kb.matcher, text, None)
    return groups


def fit(groups: dict[str, list[Row]], l2: float = 1e-3) -> np.ndarray:
    x = np.array([f for rows in groups.values() for f, _ in rows])
    y = np.array([label for rows in groups.values() for _, label in rows])
    w = np.concatenate([np.full(len(rows), 1.0 / len(rows)) for rows in groups.values() if rows])
    penalised = np.array([1.0, 1.0, 1.0, 0.0] * 2)  # not the intercepts

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
    print(f'CALIBRATION = {{"latin": {fmt(theta[:4])}, "han": {fmt(theta[4:])}}}')
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
