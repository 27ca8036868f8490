"""The report's chart: one PNG a manager can read at a glance.

Left: CSAT score and complaint rate over the last periods (two scales). Right: where complaints
concentrate, by category. Labels are in English: matplotlib's bundled font has no Chinese
glyphs, and a chart must render the same on every server.

matplotlib (a third of a second, and tens of megabytes) is loaded when the first chart is drawn,
not when the bot starts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

CATEGORY_LABELS = {
    "product_quality": "Product quality", "logistics": "Logistics", "returns": "Returns",
    "payment": "Payment", "service_attitude": "Service attitude", "other": "Other",
}


def report_chart(
    periods: Sequence[str], csat_score: Sequence[float | None], complaint_rate: Sequence[float | None],
    concentration: Mapping[str, float], *, title: str,
) -> bytes:
    """PNG bytes. ``csat_score`` is 0–100, ``complaint_rate`` a share (0–1), ``concentration`` shares by category."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    figure, (trend, categories) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    figure.suptitle(title, fontsize=12, fontweight="bold")

    x = range(len(periods))
    trend.plot(x, [v if v is not None else float("nan") for v in csat_score], marker="o", color="#2e7d32", label="CSAT score")
    trend.set_ylim(0, 100)
    trend.set_ylabel("CSAT score (share of 4–5 ★, %)", color="#2e7d32")
    trend.set_xticks(list(x), list(periods), rotation=30, ha="right", fontsize=8)
    trend.set_xlim(-0.5, len(periods) - 0.5)  # every period has its place, with data or not
    trend.grid(axis="y", alpha=0.3)
    rate = trend.twinx()
    rate.plot(x, [100 * v if v is not None else float("nan") for v in complaint_rate], marker="s", color="#c62828", label="Complaint rate")
    rate.set_ylabel("Complaint rate (% of active customers)", color="#c62828")
    rate.set_ylim(bottom=0)
    lines = trend.get_lines() + rate.get_lines()
    trend.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    trend.set_title("Trend", fontsize=10)

    shares = sorted(concentration.items(), key=lambda item: item[1])
    names = [CATEGORY_LABELS.get(name, name) for name, _ in shares]
    values = [100 * share for _, share in shares]
    bars = categories.barh(names, values, color="#1565c0")
    categories.bar_label(bars, labels=[f"{v:.0f} %" for v in values], fontsize=8, padding=2)
    categories.set_xlim(0, max(values + [10]) * 1.2)
    categories.set_title("Complaints by category", fontsize=10)
    categories.tick_params(axis="y", labelsize=8)
    if not shares:
        categories.text(0.5, 0.5, "no complaints", ha="center", va="center", transform=categories.transAxes)

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
