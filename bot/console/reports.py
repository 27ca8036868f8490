"""The console's Reports page (supervisors): the report's figures with their trends over a chosen
period, a metric per category, agent or segment over the periods, charts and CSV downloads.

Every figure is the report's: :func:`reports.compute_report` (what ``/report``, ``kefu report``
and ``/api/metrics`` give) for the period, :func:`reports.headline_series` (its series alone) for
the charts, and :func:`reports.breakdown.breakdown_series` (the report's own queries by key) for
the breakdowns; the CSV files are reports/export.py's rows. A
period of 7, 30 or 90 days ends now, as ``kefu report --days N``; a from–to period runs from the
first day's midnight to the midnight after the last day, in the shop's time zone.

The charts are drawn in the browser by the vendored uPlot from ``/console/reports/series.json``
(static/reports.js: no inline script, the CSP allows none). matplotlib, which draws the chat's
PNG, is never loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.console.auth import CONSOLE_BOT
from bot.console.staff import require_supervisor
from bot.core.config import Settings
from bot.core.i18n import text
from reports import UNASSIGNED, Report, compute_report, headline_series, report_options
from reports.api import EARLIEST, LATEST, MAX_SPAN
from reports.breakdown import BREAKDOWNS, METRICS, BreakdownSeries, breakdown_series
from reports.export import (
    BREAKDOWN_HEADER,
    METRICS_HEADER,
    SERIES_HEADER,
    breakdown_rows,
    csv_text,
    metric_rows,
    series_rows,
)
from reports.metrics import Breakdown, Ratio, agent_names
from reports.rfm import SEGMENTS as RFM_SEGMENTS
from reports.summary import duration, percent
from ticketing.triage import CATEGORIES

routes = web.RouteTableDef()

DAYS: Final = (7, 30, 90)
DEFAULT_DAYS: Final = 30
DEFAULT_BY: Final[Breakdown] = "agent"
DEFAULT_METRIC: Final = "csat_score"
CUSTOMER_SEGMENTS: Final = ("new", "returning", "vip", "inactive", *RFM_SEGMENTS)
"""Values of ``customer.segment`` the page names (the RFM refresh writes its segments there)."""
UNITS: Final[dict[str, str]] = {
    "complaint_rate": "rate", "repeat_complaint_rate": "rate", "sla_breach_rate": "rate", "reopen_rate": "rate",
    "deflection_rate": "rate", "csat_score": "score",
    "first_response_median_seconds": "seconds", "resolution_median_seconds": "seconds",
}
"""How a metric's values read: a share (drawn as %), a 0–100 score, or seconds (drawn as minutes)."""


class BadPeriod(ValueError):
    """The period asked for cannot be reported: the catalog key saying why."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    days: int | None
    """7, 30 or 90 for a period ending now; None for a from–to period."""
    first: date
    last: date
    """The first and last calendar days, in the shop's time zone."""

    def query(self) -> dict[str, str]:
        """The query asking for this very period: a period of days ending now says when now
        was, so the charts and the files are of the period the page shows."""
        if self.days is not None:
            return {"days": str(self.days), "until": self.end.isoformat()}
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def file_name(self, what: str) -> str:
        return f"kefu-{what}-{self.first.isoformat()}-{self.last.isoformat()}.csv"


def period_of(query: Any, now: datetime, zone: ZoneInfo) -> Period:
    """The period a page's query asks for (``days`` ending now or at ``until``, or ``from`` and
    ``to`` as dates); :class:`BadPeriod` when it is not one."""
    first_day, last_day = (query.get(name, "").strip() for name in ("from", "to"))
    if first_day or last_day:
        try:
            first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
        except ValueError:
            raise BadPeriod("console_reports_bad_dates") from None
        if last < first:
            raise BadPeriod("console_reports_bad_order")
        if not (EARLIEST.year <= first.year and last.year < LATEST.year):  # the exact bounds once it is safe to compute
            raise BadPeriod("console_reports_bad_span")
        start = datetime.combine(first, time(), zone)
        end = datetime.combine(last + timedelta(days=1), time(), zone)
        if not EARLIEST <= start < end <= LATEST or end - start > MAX_SPAN:
            raise BadPeriod("console_reports_bad_span")
        return Period(start, end, None, first, last)
    days = query.get("days", str(DEFAULT_DAYS)).strip()
    if days not in {str(d) for d in DAYS}:
        raise BadPeriod("console_reports_bad_days")
    end = _until(query.get("until", "").strip()) or now
    start = end - timedelta(days=int(days))
    return Period(start, end, int(days), start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date())


def _until(value: str) -> datetime | None:
    """The end of a period of days the page showed (``until``, an ISO 8601 time; UTC without an offset)."""
    if not value:
        return None
    try:
        end = datetime.fromisoformat(value.replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:
        raise BadPeriod("console_reports_bad_dates") from None
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if not EARLIEST.year <= end.year <= LATEST.year or not EARLIEST + timedelta(days=max(DAYS)) <= end <= LATEST:
        raise BadPeriod("console_reports_bad_span")
    return end


def breakdown_of(query: Any) -> tuple[Breakdown, str]:
    """The breakdown and its metric the query asks for; a metric the breakdown does not have
    (the complaint rate by agent) falls back to the CSAT score."""
    by = query.get("by", DEFAULT_BY)
    by = by if by in BREAKDOWNS else DEFAULT_BY
    metric = query.get("metric", DEFAULT_METRIC)
    if metric not in METRICS or by not in METRICS[metric].breakdowns:
        metric = DEFAULT_METRIC
    return by, metric


async def _report(settings: Settings, period: Period) -> Report:
    return await compute_report(period.start, period.end, timezone=settings.scheduler.timezone, **report_options(settings))


async def _breakdown(settings: Settings, period: Period, by: Breakdown, metric: str) -> BreakdownSeries:
    return await breakdown_series(period.start, period.end, metric=metric, by=by, periods=settings.reports.periods)


def _context(request: web.Request) -> tuple[Settings, datetime, ZoneInfo]:
    bot = request.app[CONSOLE_BOT]
    settings = bot.bot_data.settings
    return settings, bot.bot_data.now(), ZoneInfo(settings.scheduler.timezone)


# -- the page ----------------------------------------------------------------------------------


@routes.get("/console/reports")
async def reports_page(request: web.Request) -> web.Response:
    staff = require_supervisor(request)
    settings, now, zone = _context(request)
    by, metric = breakdown_of(request.query)
    page: dict[str, Any] = {
        "days_choices": DAYS, "by": by, "metric": metric, "breakdowns": BREAKDOWNS,
        "metrics": [name for name, m in METRICS.items() if by in m.breakdowns],
        "first": request.query.get("from", ""), "last": request.query.get("to", ""), "days": None,
    }
    try:
        period = period_of(request.query, now, zone)
    except BadPeriod as bad:
        page["error"] = text(staff.language, str(bad))
        return aiohttp_jinja2.render_template("reports.html", request, page, status=400)
    report = await _report(settings, period)
    breakdown = await _breakdown(settings, period, by, metric)
    label = Labels(staff.language, report.agents)
    query = period.query() | {"by": by, "metric": metric}
    page.update(
        days=period.days, first=period.first.isoformat(), last=period.last.isoformat(), period=period,
        sections=figures(report, staff.language), label=label,
        breakdown=[(label.key(by, item.key), [label.value(metric, v) for v in item.values], label.verdict(item.trend.verdict.value))
                   for item in breakdown.series],
        period_labels=[start.astimezone(zone).date().isoformat() for start in breakdown.period_starts],
        per_agent=report.per_agent if by == "agent" else [],
        agent_rows=_agent_rows(report, staff.language) if by == "agent" else [],
        query=query, files={what: period.file_name(what) for what in ("metrics", "series", "breakdown")},
    )
    return aiohttp_jinja2.render_template("reports.html", request, page)


class Labels:
    """Names and values as the page shows them, in the supervisor's language."""

    def __init__(self, language: str, agents: dict[str, str]) -> None:
        self.language = language
        self.agents = agents
        """Agent id → name (``Report.agents``)."""

    def metric(self, name: str) -> str:
        return text(self.language, f"console_reports_metric_{name}")

    def verdict(self, verdict: str) -> str:
        return text(self.language, f"report_verdict_{verdict}")

    def key(self, by: str, key: str) -> str:
        if by == "agent":
            return text(self.language, "console_reports_unassigned") if key == UNASSIGNED else self.agents.get(key, key)
        if by == "category":
            return text(self.language, f"category_{key}") if key in CATEGORIES else key
        return text(self.language, f"console_reports_segment_{key}") if key in CUSTOMER_SEGMENTS else key

    def value(self, metric: str, value: float | None) -> str:
        return shown(self.language, UNITS[metric], value)


def shown(language: str, unit: str, value: float | None) -> str:
    """A figure as the page writes it: a share as ``12.5 %``, a score to the unit, seconds as the
    chat's report writes durations; a missing figure as a dash."""
    if value is None:
        return "—"
    if unit == "rate":
        return f"{100 * value:.1f} %"
    if unit == "seconds":
        return duration(language, value)
    return f"{value:.0f}"


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    trend: str | None = None
    """The verdict on its series, for the headline metrics."""
    detail: str = ""


def figures(report: Report, language: str) -> list[tuple[str, list[Figure]]]:
    """The report's figures by section, as the page lists them (the headline metrics with their verdicts)."""
    def t(key: str, **values: Any) -> str:
        return text(language, key, **values)

    trend = {name: t(f"report_verdict_{series.trend.verdict.value}") for name, series in report.series.items()}
    complaints, satisfaction, service, bot, customers = (
        report.complaints, report.satisfaction, report.service, report.bot, report.customers
    )

    def share(r: Ratio) -> str:
        return percent(r) + (f" ({r.numerator}/{r.denominator})" if r.denominator else "")

    def times(name: str, median: float | None, p90: float | None, count: int) -> Figure:
        return Figure(t(f"console_reports_{name}"), duration(language, median),
                      trend.get(f"{name}_median_seconds"),
                      t("console_reports_p90_count", p90=duration(language, p90), count=count))

    csat, nps = satisfaction.csat, satisfaction.nps
    return [
        (t("console_reports_section_complaints"), [
            Figure(t("console_reports_complaints"), str(complaints.complaints)),
            Figure(t("console_reports_metric_complaint_rate"), share(complaints.rate), trend["complaint_rate"]),
            Figure(t("console_reports_metric_repeat_complaint_rate"), share(complaints.repeat_rate), trend["repeat_complaint_rate"]),
        ]),
        (t("console_reports_section_satisfaction"), [
            Figure(t("console_reports_metric_csat_score"), shown(language, "score", csat.score), trend["csat_score"],
                   t("console_reports_csat_detail", mean="—" if csat.mean_score is None else f"{csat.mean_score:.1f}",
                     responses=csat.responses)),
            Figure(t("console_reports_response_rate"), share(satisfaction.response_rate)),
            Figure(t("console_reports_nps"), "—" if nps.score is None else f"{nps.score:+.0f}", None,
                   t("console_reports_nps_detail", responses=nps.responses, promoters=nps.promoters, detractors=nps.detractors)),
        ]),
        (t("console_reports_section_service"), [
            Figure(t("console_reports_tickets_created"), str(service.tickets_created)),
            times("first_response", service.first_response.median_seconds, service.first_response.p90_seconds,
                  service.first_response.count),
            times("resolution", service.resolution.median_seconds, service.resolution.p90_seconds, service.resolution.count),
            Figure(t("console_reports_metric_sla_breach_rate"), share(service.sla_breach_rate)),
            Figure(t("console_reports_metric_reopen_rate"), share(service.reopen_rate)),
            Figure(t("console_reports_backlog"), str(service.backlog.total), None,
                   " · ".join(f"{age} {count}" for age, count in service.backlog.by_age.items())),
        ]),
        (t("console_reports_section_bot"), [
            Figure(t("console_reports_metric_deflection_rate"), share(bot.deflection_rate), trend["deflection_rate"]),
            Figure(t("console_reports_questions"), str(bot.questions)),
            Figure(t("console_reports_kb_hit_rate"), share(bot.kb_hit_rate)),
            Figure(t("console_reports_thumbs"), share(bot.thumbs_up_share), None,
                   t("console_reports_thumbs_detail", up=bot.thumbs_up, down=bot.thumbs_down)),
        ]),
        (t("console_reports_section_customers"), [
            Figure(t("console_reports_active"), str(customers.active), None,
                   t("console_reports_active_detail", new=customers.new, returning=customers.returning)),
            Figure(t("console_reports_repeat_purchase"), share(customers.rfm.repeat_purchase)),
            Figure(t("console_reports_conversion"), "—" if report.conversion.rate is None else f"{100 * report.conversion.rate:.1f} %",
                   None, t("console_reports_conversion_detail", converted=report.conversion.converted,
                           consultations=report.conversion.consultations)),
        ]),
    ]


def _agent_rows(report: Report, language: str) -> list[list[str]]:
    """The per-agent table (reports/agents.py), as /report agents shows it."""
    rows = []
    for figures_ in report.per_agent:
        rows.append([
            figures_.name,
            shown(language, "rate", figures_.response_rate_180s),
            shown(language, "seconds", figures_.response_avg_seconds),
            "—" if figures_.answer_ratio is None else f"{figures_.answer_ratio:.2f}",
            str(figures_.handled), str(figures_.resolved), str(figures_.reopened),
            shown(language, "score", figures_.csat), str(figures_.quality_warnings),
        ])
    return rows


# -- the charts' data and the files ----------------------------------------------------------------


async def _period_or_400(request: web.Request) -> tuple[Settings, Period, ZoneInfo, str]:
    staff = require_supervisor(request)
    settings, now, zone = _context(request)
    try:
        return settings, period_of(request.query, now, zone), zone, staff.language
    except BadPeriod as bad:
        raise web.HTTPBadRequest(text=text(staff.language, str(bad))) from None


@routes.get("/console/reports/series.json")
async def series_json(request: web.Request) -> web.Response:
    """The headline series and the breakdown's, for the charts: values as the report's JSON has
    them (shares 0–1, seconds), with their unit, label and verdict in the supervisor's language."""
    settings, period, zone, language = await _period_or_400(request)
    by, metric = breakdown_of(request.query)
    headlines = await headline_series(period.start, period.end, timezone=settings.scheduler.timezone,
                                      periods=settings.reports.periods)
    breakdown = await _breakdown(settings, period, by, metric)
    label = Labels(language, await agent_names())

    def line(name: str, key_label: str, values: list[float | None], verdict: str) -> dict[str, Any]:
        return {"label": key_label, "values": values, "verdict": verdict, "verdict_label": label.verdict(verdict),
                "unit": UNITS[name]}

    starts = headlines["csat_score"].period_starts
    return web.json_response({
        "x": [int(start.timestamp()) for start in starts],
        "periods": [start.astimezone(zone).date().isoformat() for start in starts],
        "units": {"minutes": text(language, "console_reports_minutes"), "period": text(language, "console_reports_period")},
        "headlines": {
            name: line(name, label.metric(name), series.values, series.trend.verdict.value)
            for name, series in headlines.items()
        },
        "breakdown": {
            "by": by, "metric": metric, "label": label.metric(metric), "unit": UNITS[metric],
            "series": [
                {"key": item.key, **line(metric, label.key(by, item.key), item.values, item.trend.verdict.value)}
                for item in breakdown.series
            ],
        },
    })


def _csv(body: str, name: str) -> web.Response:
    return web.Response(
        body=("\ufeff" + body).encode("utf-8"),  # the BOM: Excel and WPS read the UTF-8 (Chinese) right
        content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@routes.get("/console/reports/metrics.csv")
async def metrics_csv(request: web.Request) -> web.Response:
    """Every figure of the period's report, one per row: ``kefu report --csv``'s metrics.csv."""
    settings, period, _, _ = await _period_or_400(request)
    return _csv(csv_text(METRICS_HEADER, metric_rows(await _report(settings, period))), period.file_name("metrics"))


@routes.get("/console/reports/series.csv")
async def series_csv(request: web.Request) -> web.Response:
    """The headline metrics per period with their verdicts: ``kefu report --csv``'s series.csv."""
    settings, period, _, _ = await _period_or_400(request)
    return _csv(csv_text(SERIES_HEADER, series_rows(await _report(settings, period))), period.file_name("series"))


@routes.get("/console/reports/breakdown.csv")
async def breakdown_csv(request: web.Request) -> web.Response:
    """The breakdown shown: the metric per key and period, with each key's verdict."""
    settings, period, _, _ = await _period_or_400(request)
    by, metric = breakdown_of(request.query)
    rows = breakdown_rows(await _breakdown(settings, period, by, metric))
    return _csv(csv_text(BREAKDOWN_HEADER, rows), period.file_name("breakdown"))

