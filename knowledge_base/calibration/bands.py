"""Choose per-script confidence bands: ``python -m knowledge_base.calibration.bands``.

The bands decide what a confidence means to the customer: answered outright (≥ high), "did you
mean" (between), "I don't know" (< low). Latin-script and Chinese messages calibrate
differently, so each script gets its own pair (:data:`knowledge_base.router.DEFAULT_BANDS`),
chosen on the development groups of :mod:`knowledge_base.calibration.fit` only — never on the
half of dev.csv that ``bench/kb_routing.py`` reports on.

For each script the grid keeps the pairs under which

* out-of-domain messages are offered nothing at least ``OOD_TARGET`` of the time (the mean over
  the script's out-of-domain groups: shipped KB, Bitext folds, colloquial KB);
* confident wrong answers stay under ``WRONG_CAP`` of the colloquial messages and of the
  fine-grained Chinese FAQs' tuning split, and, for Latin script, under ``BITEXT_WRONG_CAP`` of
  the Bitext folds' held-out examples, whose right first share stays ≥ ``BITEXT_FIRST_MIN``;

and prints the best by "right first" (answered, or offered first) plus "answered outright and
right", summed over the colloquial messages and (Chinese) the fine-grained FAQs, then by fewest
confident wrong.
"""

from __future__ import annotations

import numpy as np

from knowledge_base.calibration.fit import WIDTH, collect
from knowledge_base.matcher import CALIBRATION

OOD_TARGET = 0.95
WRONG_CAP = 0.03
"""Confident wrong answers allowed on colloquial messages: issue 20's ≤ 3 %."""
BITEXT_WRONG_CAP = 0.01
"""… and on the Bitext folds (KBs of 16 examples an entry): the benchmark's limit is 0.6 % on a KB
of 20, where the same bands have given about half the folds' rate (1.1 % → 0.58 % at 0.7)."""
BITEXT_FIRST_MIN = 0.96
"""… and the Bitext folds' examples answered or offered first right at least this often: what the
calibration shipped before the length and share-margin signals gave there (0.963 at low 0.2), under which the test
set's top-1 was 0.9756 (limit 0.975); a higher low band costs Bitext its abstentions."""
GRID = [round(x * 0.0125, 4) for x in range(4, 80)]
"""Candidate thresholds, 0.05 … 0.9875 in steps of 0.0125 (a step of 0.025 was too coarse where the
fine-grained FAQs' confident wrong cap binds: 3.2 % at high 0.9, 2.2 % at 0.925)."""


def main() -> None:
    groups = collect()
    for script in ("latin", "han"):
        theta = np.array(CALIBRATION[script])
        conf: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, rows in groups.items():
            if name.split("_")[1] != script or not rows:
                continue
            offset = 0 if script == "latin" else WIDTH
            x = np.array([f[offset : offset + WIDTH] for f, _ in rows])
            conf[name] = 1.0 / (1.0 + np.exp(-(x @ theta))), np.array([label for _, label in rows])
        ood = [p for name, (p, _) in conf.items() if name.endswith("_ood")]
        sets = [(conf[f"colloquial_{script}"], conf[f"colloquial_{script}_ood"][0])]
        if f"faq_{script}" in conf:
            sets.append((conf[f"faq_{script}"], np.zeros(0)))
        best = None
        for high in GRID:
            for low in (x for x in GRID if x < high):
                nothing = float(np.mean([np.mean(o < low) for o in ood]))
                shares = [_shares(p, y, p_ood, high, low) for (p, y), p_ood in sets]
                ok = nothing >= OOD_TARGET and all(wrong <= WRONG_CAP for _, _, wrong in shares)
                if script == "latin":
                    bp, by = conf["bitext_latin"]
                    ok = ok and float(np.mean((bp >= high) & (by == 0))) <= BITEXT_WRONG_CAP
                    ok = ok and float(np.mean((bp >= low) & (by == 1))) >= BITEXT_FIRST_MIN
                key = (ok, round(sum(first + outright for first, outright, _ in shares), 4), -max(s[2] for s in shares))
                if best is None or key > best[0]:
                    best = (key, high, low, nothing, shares)
        assert best is not None
        (ok, _, _), high, low, nothing, shares = best
        figures = "; ".join(
            f"{name}: right first {first:.3f}, answered outright and right {outright:.3f}, confident wrong {wrong:.3f}"
            for name, (first, outright, wrong) in zip(("colloquial", "fine-grained FAQs"), shares, strict=False)
        )
        print(f"{script}: high={high} low={low} (constraints met: {bool(ok)}) — out of domain offered nothing "
              f"{nothing:.3f}; {figures}")


def _shares(p: np.ndarray, y: np.ndarray, p_ood: np.ndarray, high: float, low: float) -> tuple[float, float, float]:
    """(right first, answered outright and right, confident wrong) as shares of all the messages."""
    n = len(p) + len(p_ood)
    first = (np.sum((p >= low) & (y == 1)) + np.sum(p_ood < low)) / n
    outright = np.sum((p >= high) & (y == 1)) / n
    wrong = (np.sum((p >= high) & (y == 0)) + np.sum(p_ood >= high)) / n
    return float(first), float(outright), float(wrong)


if __name__ == "__main__":
    main()
