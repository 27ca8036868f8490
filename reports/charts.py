"""The report's chart: one PNG a manager can read at a glance, in the agent group's language.

Left: CSAT score and complaint rate over the last periods (two scales). Right: where complaints
concentrate, by category. Every label comes from the message catalogs (``chart_*`` and
``category_*``) in ``[telegram] agent_language``; dates and percentages are written the way that
language writes them. Chinese needs a font with CJK glyphs (reports/fonts.py finds one on the
machine): without one the chart is drawn in English, never with empty boxes for characters.

matplotlib (a third of a second, and tens of megabytes) is loaded when the first chart is drawn,
not when the bot starts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.i18n import text
from reports.fonts import cjk_font

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def chart_language(language: str) -> tuple[str, str | None]:
    """The language the chart can be drawn in, and the font family for it (None: matplotlib's own)."""
    if language.startswith("zh"):
        font = cjk_font()
        return (language, font) if font is not None else ("en", None)
    return language, None


def percent_label(value: float, language: str) -> str:
    """``12 %`` in English, ``12%`` in Chinese (no space before the sign)."""
    return f"{value:.0f}%" if language.startswith("zh") else f"{value:.0f} %"


def day_label(day: datetime, language: str) -> str:
    """A period's first day: ``12/5`` / ``12月5日``."""
    return text(language, "chart_day", m=day.month, d=day.day)


def report_chart(
    period_starts: Sequence[datetime], csat_score: Sequence[float | None], complaint_rate: Sequence[float | None],
    concentration: Mapping[str, float], *, days: int, last_day: datetime, language: str,
) -> bytes:
    """PNG bytes of :func:`draw_chart`."""
    import matplotlib.pyplot as plt

    figure = draw_chart(period_starts, csat_score, complaint_rate, concentration, days=days, last_day=last_day,
                        language=language)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def draw_chart(
    period_starts: Sequence[datetime], csat_score: Sequence[float | None], complaint_rate: Sequence[float | None],
    concentration: Mapping[str, float], *, days: int, last_day: datetime, language: str,
) -> Figure:
    """The figure (drawn, not yet saved). ``csat_score`` is 0–100, ``complaint_rate`` a share (0–1), ``concentration`` shares by
    category; ``period_starts`` and ``last_day`` are in the shop's time zone."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    language, font = chart_language(language)
    style = {"font.family": [font, "DejaVu Sans"]} if font else {}
    say = lambda key, **params: text(language, key, **params)
    with plt.rc_context(style):
        figure, (trend, categories) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
        figure.suptitle(say("chart_title", days=days, end=day_label(last_day, language), year=last_day.year),
                        fontsize=12, fontweight="normal" if font else "bold")  # CJK faces often have no bold

        x = range(len(period_starts))
        trend.plot(x, [v if v is not None else float("nan") for v in csat_score], marker="o", color="#2e7d32",
                   label=say("chart_csat_score"))
        trend.set_ylim(0, 100)
        trend.set_ylabel(say("chart_csat_axis"), color="#2e7d32")
        trend.set_xticks(list(x), [day_label(day, language) for day in period_starts], rotation=30, ha="right", fontsize=8)
        trend.set_xlim(-0.5, len(period_starts) - 0.5)  # every period has its place, with data or not
        trend.grid(axis="y", alpha=0.3)
        rate = trend.twinx()
        rate.plot(x, [100 * v if v is not None else float("nan") for v in complaint_rate], marker="s", color="#c62828",
                  label=say("chart_complaint_rate"))
        rate.set_ylabel(say("chart_complaint_axis"), color="#c62828")
        rate.set_ylim(bottom=0)
        rate.yaxis.set_major_formatter(FuncFormatter(lambda v, _: percent_label(v, language)))
        lines = trend.get_lines() + rate.get_lines()
        trend.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
        trend.set_title(say("chart_trend"), fontsize=10)

        shares = sorted(concentration.items(), key=lambda item: item[1])
        names = [say(f"category_{name}") for name, _ in shares]
        values = [100 * share for _, share in shares]
        bars = categories.barh(names, values, color="#1565c0")
        categories.bar_label(bars, labels=[percent_label(v, language) for v in values], fontsize=8, padding=2)
        categories.set_xlim(0, max(values + [10]) * 1.2)
        categories.xaxis.set_major_formatter(FuncFormatter(lambda v, _: percent_label(v, language)))
        categories.set_title(say("chart_by_category"), fontsize=10)
        categories.tick_params(axis="y", labelsize=8)
        if not shares:
            categories.text(0.5, 0.5, say("chart_no_complaints"), ha="center", va="center", transform=categories.transAxes)

        figure.tight_layout()
        figure.canvas.draw()  # the glyphs are looked up here, inside the font settings
    return figure
