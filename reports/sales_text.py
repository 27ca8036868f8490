"""The summary's lines on sales and delivery: 询单转化率 and the carriers, in the reader's language.

Kept apart from reports/summary.py so the service summary stays readable; each line appears only
when there is something to say (no consultations, no shipped orders: no line), since a dash
there would read as a missing figure rather than a quiet period.
"""

from __future__ import annotations

from typing import Final

from bot.core.i18n import text
from reports.conversion import ConversionReport
from reports.logistics import CarrierFigures, LogisticsReport

CARRIERS_SHOWN: Final = 3
"""The busiest carriers (by orders shipped) get a line each; the JSON has them all."""


def sales_lines(conversion: ConversionReport, logistics: LogisticsReport, language: str) -> list[str]:
    lines = []
    if conversion.consultations:
        lines.append(text(
            language, "report_conversion", rate=_percent(conversion.rate), converted=conversion.converted,
            consultations=conversion.consultations, days=conversion.days,
            value="—" if conversion.value is None else f"{conversion.value:,.2f}",
        ))
    busiest = sorted(logistics.by_carrier, key=lambda c: (-c.shipped, -c.delivered, c.carrier or ""))
    lines += [_carrier(c, language) for c in busiest[:CARRIERS_SHOWN] if c.shipped or c.delivered]
    return lines


def _carrier(c: CarrierFigures, language: str) -> str:
    return text(
        language, "report_carrier", carrier=c.carrier or text(language, "report_carrier_none"),
        ship=_hours(c.ship_median_hours, language), deliver=_hours(c.deliver_median_hours, language),
        on_time=_percent(c.on_time_rate), exceptions=_percent(c.exception_rate), shipped=c.shipped,
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _hours(value: float | None, language: str) -> str:
    return "—" if value is None else text(language, "report_hours", n=f"{value:.1f}".removesuffix(".0"))
