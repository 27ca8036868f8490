"""Refit the matcher's confidence function: ``python -m knowledge_base.calibration.fit``.

Prints the :data:`knowledge_base.matcher.CALIBRATION` tuple to paste into ``matcher.py``.
A logistic regression predicts "the best entry is right" from the matcher's signals on:

* held-out folds (5-fold) of the Bitext KB examples (``../shared/data/bitext/kb_examples.csv``,
  skipped if absent) — never its ``test.csv``;
* ``dev_zh.yaml``: paraphrases routed on the shipped default KB;
* ``dev_ood.txt``: messages no shop answers (label 0), on the default KB and each Bitext fold.

Each of the three groups gets the same total weight, so no source dominates the fit.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

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
    return [sim, margin, ratio, float(han), sim * han], int(entry == expected)


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
    groups: dict[str, list[Row]] = {"bitext": [], "default_kb": [], "ood": []}
    ood = ood_messages()
    for train, held_out in bitext_folds():
        matcher = Matcher(train)
        groups["bitext"] += [r for intent, text in held_out if (r := _row(matcher, text, intent))]
        groups["ood"] += [r for text in ood if (r := _row(matcher, text, None))]
    kb = KnowledgeBase.load()
    dev = yaml.safe_load((HERE / "dev_zh.yaml").read_text(encoding="utf-8"))
    groups["default_kb"] += [r for item in dev if (r := _row(kb.matcher, item["text"], item["entry"]))]
    groups["ood"] += [r for text in ood if (r := _row(kb.matcher, text, None))]
    return groups


def fit(groups: dict[str, list[Row]], l2: float = 1e-3) -> np.ndarray:
    x = np.array([f for rows in groups.values() for f, _ in rows])
    y = np.array([label for rows in groups.values() for _, label in rows])
    w = np.concatenate([np.full(len(rows), 1.0 / len(rows)) for rows in groups.values() if rows])
    x1 = np.hstack([x, np.ones((len(x), 1))])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x1 @ theta
        p = 1.0 / (1.0 + np.exp(-z))
        nll = -np.sum(w * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        grad = x1.T @ (w * (p - y))
        return nll + l2 * float(theta[:-1] @ theta[:-1]), grad + 2 * l2 * np.r_[theta[:-1], 0.0]

    return minimize(loss, np.zeros(x1.shape[1]), jac=True, method="L-BFGS-B").x


def band_table(groups: dict[str, list[Row]], theta: np.ndarray) -> None:
    """Per candidate (low, high) thresholds: how each dev group would be routed."""
    conf = {
        name: (1.0 / (1.0 + np.exp(-(np.array([np.r_[f, 1.0] for f, _ in rows]) @ theta))),
               np.array([label for _, label in rows]))
        for name, rows in groups.items()
    }
    print("low  high | bitext: acted-wrong abstain | default KB: acted-right abstain | ood: low band")
    for low in (0.2, 0.3, 0.4):
        for high in (0.6, 0.7, 0.8, 0.9):
            b, bl = conf["bitext"]
            d, dl = conf["default_kb"]
            o, _ = conf["ood"]
            print(f"{low:.1f}  {high:.1f}  | {np.mean((b >= high) & (bl == 0)):.3f} {np.mean(b < low):.3f} | "
                  f"{np.mean((d >= high) & (dl == 1)):.3f} {np.mean(d < low):.3f} | {np.mean(o < low):.3f}")


def main() -> None:
    groups = collect()
    theta = fit(groups)
    print("CALIBRATION = (" + ", ".join(f"{t:.3f}" for t in theta) + ")")
    for name, rows in groups.items():
        x = np.array([np.r_[f, 1.0] for f, _ in rows])
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        labels = np.array([label for _, label in rows])
        print(f"{name:11s} n={len(rows):4d} right={labels.mean():.3f} "
              f"p10/50/90 of confidence: right={np.percentile(p[labels == 1], [10, 50, 90]).round(3) if labels.any() else '-'} "
              f"wrong={np.percentile(p[labels == 0], [10, 50, 90]).round(3) if (labels == 0).any() else '-'}")
    band_table(groups, theta)


if __name__ == "__main__":
    main()
