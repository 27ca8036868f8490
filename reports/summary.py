"""A report as managers read it: a short text in the agent group's language, and the chart."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.core.i18n import text
from reports import Durations, Ratio, Report
from reports.charts import report_chart
from reports.sales_text import sales_lines


def percent(ratio: Ratio) -> str:
    return "—" if ratio.value is None else f"{100 * ratio.value:.1f} %"


def duration(language: str, seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return text(language, "report_minutes", n=max(1, round(seconds / 60)))
    if seconds < 86400:
        return text(language, "report_hours", n=f"{seconds / 3600:.1f}".removesuffix(".0"))
    return text(language, "report_days", n=f"{seconds / 86400:.1f}".removesuffix(".0"))


def _times(language: str, times: Durations) -> str:
    return text(
        language, "report_times", median=duration(language, times.median_seconds), p90=duration(language, times.p90_seconds),
        business=duration(language, times.median_business_seconds), count=times.count,
    )


def summary_text(report: Report, language: str) -> str:
    zone = ZoneInfo(report.timezone)
    verdict = {name: text(language, f"report_verdict_{s.trend.verdict.value}") for name, s in report.series.items()}
    concentration = sorted(report.complaints.concentration.items(), key=lambda item: -(item[1].value or 0))
    top = ", ".join(
        f"{text(language, 'category_' + name)} {percent(share)}" for name, share in concentration[:3] if share.numerator
    ) or "—"
    csat = report.satisfaction.csat
    backlog = report.service.backlog
    missed = "; ".join(f"“{m.example[:40]}” ×{m.count}" for m in report.bot.top_missed[:3]) or "—"
    summary = text(
        language, "report_summary",
        start=f"{report.start.astimezone(zone):%Y-%m-%d}", end=f"{(report.end - timedelta(seconds=1)).astimezone(zone):%Y-%m-%d}",
        days=round((report.end - report.start).total_seconds() / 86400),
        complaints=report.complaints.complaints, complaint_rate=percent(report.complaints.rate),
        complaint_trend=verdict["complaint_rate"], repeat_rate=percent(report.complaints.repeat_rate),
        repeat_trend=verdict["repeat_complaint_rate"], top=top,
        csat="—" if csat.score is None else f"{csat.score:.0f}",
        mean="—" if csat.mean_score is None else f"{csat.mean_score:.1f}", answers=csat.responses,
        response_rate=percent(report.satisfaction.response_rate), csat_trend=verdict["csat_score"],
        first_response=_times(language, report.service.first_response), first_trend=verdict["first_response_median_seconds"],
        resolution=_times(language, report.service.resolution), breaches=percent(report.service.sla_breach_rate),
        reopened=percent(report.service.reopen_rate), open=backlog.total,
        ages=" · ".join(f"{age} {count}" for age, count in backlog.by_age.items()),
        deflection=percent(report.bot.deflection_rate), deflection_trend=verdict["deflection_rate"],
        hits=percent(report.bot.kb_hit_rate), up=report.bot.thumbs_up, down=report.bot.thumbs_down,
        active=report.customers.active, new=report.customers.new, returning=report.customers.returning,
        repeat_purchase=percent(report.customers.rfm.repeat_purchase), missed=missed,
    )
    return "\n".join([_with_nps(summary, report, language), *sales_lines(report.conversion, report.logistics, language)])


def _with_nps(summary: str, report: Report, language: str) -> str:
    """The NPS line under the CSAT line (the one starting ⭐), only when anyone answered: the
    question is optional ([scheduler] nps), and a dash there would read as a missing figure."""
    nps = report.satisfaction.nps
    if nps.score is None:
        return summary
    line = text(language, "report_nps", score=f"{nps.score:+.0f}", answers=nps.responses, promoters=nps.promoters,
                detractors=nps.detractors)
    lines = summary.split("\n")
    at = next((n + 1 for n, item in enumerate(lines) if item.startswith("⭐")), len(lines))
    return "\n".join([*lines[:at], line, *lines[at:]])


def chart_png(report: Report, language: str = "en") -> bytes:
    """The chart for the report in ``language``: CSAT and complaint rate per period, complaints by category."""
    zone = ZoneInfo(report.timezone)
    csat, complaints = report.series["csat_score"], report.series["complaint_rate"]
    return report_chart(
        [start.astimezone(zone) for start in csat.period_starts], csat.values, complaints.values,
        {name: share.value or 0.0 for name, share in report.complaints.concentration.items() if share.numerator},
        days=round((report.end - report.start).total_seconds() / 86400),
        last_day=(report.end - timedelta(seconds=1)).astimezone(zone), language=language,
    )
