"""Service-quality reports: complaints, satisfaction, service times, the bot, customers, trends.

``compute_report(start, end, timezone=...)`` gives a ``Report`` for the period [start, end),
with the headline metrics over the periods of the same length before it and the trend of each.
Everything is aggregated in the database (reports/metrics.py), so a report over 100,000 tickets
takes a fraction of a second; no Telegram or HTTP here, only data in and a dataclass out.
Definitions: reports/README.md.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from reports import metrics
from reports.agents import AgentFigures, per_agent
from reports.conversion import ConversionReport, conversion, presale_entries
from reports.logistics import LogisticsReport, logistics
from reports.metrics import (
    Backlog,
    Csat,
    Durations,
    MissedQuestion,
    Ratio,
    ServqualGap,
    by_key,
    per_period,
    ratio,
)
from reports.nps import Nps, nps
from reports.rfm import RfmReport, rfm
from reports.trend import TrendReading, Verdict, read_trend
from ticketing.triage import CATEGORIES

__all__ = [
    "AgentFigures", "Backlog", "BotReport", "ComplaintReport", "Csat", "CustomerReport", "Durations", "MissedQuestion",
    "Ratio", "Report", "RfmReport", "SatisfactionReport", "Series", "ServiceReport", "ServqualGap", "TrendReading",
    "Verdict", "compute_report", "headline_series", "read_trend",
]

if TYPE_CHECKING:
    from bot.core.config import Settings

UNASSIGNED: Final = "unassigned"


@dataclass(frozen=True)
class ComplaintReport:
    complaints: int
    rate: Ratio
    """Customers who complained ÷ customers active in the period."""
    rate_by_segment: dict[str, Ratio]
    repeat_rate: Ratio
    """Complaints repeating an earlier one (repeat_of set) ÷ complaints."""
    repeat_rate_by_category: dict[str, Ratio]
    concentration: dict[str, Ratio]
    """Per category, its complaints ÷ all complaints."""


@dataclass(frozen=True)
class SatisfactionReport:
    csat: Csat
    csat_by_agent: dict[str, Csat]
    csat_by_category: dict[str, Csat]
    csat_by_segment: dict[str, Csat]
    response_rate: Ratio
    """CSAT responses ÷ CSAT surveys sent in the period."""
    servqual: dict[str, ServqualGap]
    nps: Nps
    """Net Promoter Score of the survey's optional 0–10 question (reports/nps.py)."""


@dataclass(frozen=True)
class ServiceReport:
    tickets_created: int
    first_response: Durations
    first_response_by_category: dict[str, Durations]
    first_response_by_agent: dict[str, Durations]
    resolution: Durations
    resolution_by_category: dict[str, Durations]
    resolution_by_agent: dict[str, Durations]
    sla_breach_rate: Ratio
    """Tickets created in the period and escalated (SLA breached) ÷ tickets created."""
    sla_breach_rate_by_category: dict[str, Ratio]
    sla_breach_rate_by_agent: dict[str, Ratio]
    reopen_rate: Ratio
    """Tickets resolved in the period that had been reopened ÷ tickets resolved."""
    reopen_rate_by_agent: dict[str, Ratio]
    backlog: Backlog


@dataclass(frozen=True)
class BotReport:
    deflection_rate: Ratio
    """Conversations (a customer's day with questions) without a ticket that day ÷ conversations."""
    questions: int
    kb_hit_rate: Ratio
    """Questions answered with confidence (band high, action answer) ÷ questions."""
    thumbs_up: int
    thumbs_down: int
    thumbs_up_share: Ratio
    """👍 ÷ (👍 + 👎)."""
    top_missed: list[MissedQuestion]


@dataclass(frozen=True)
class CustomerReport:
    active: int
    new: int
    returning: int
    rfm: RfmReport


@dataclass(frozen=True)
class Series:
    """A headline metric over the last periods (oldest first, the report's period last)."""

    metric: str
    higher_is_better: bool
    period_starts: list[datetime]
    values: list[float | None]
    trend: TrendReading


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    timezone: str
    agents: dict[str, str]
    """Agent id (the key of the by-agent breakdowns) → name; tickets without one are "unassigned"."""
    complaints: ComplaintReport
    satisfaction: SatisfactionReport
    service: ServiceReport
    bot: BotReport
    customers: CustomerReport
    series: dict[str, Series]
    conversion: ConversionReport
    """询单转化率: pre-sale consultations and the orders that followed (reports/conversion.py)."""
    logistics: LogisticsReport
    """Delivery speed, punctuality and exceptions by carrier (reports/logistics.py)."""
    per_agent: list[AgentFigures]
    """Per-agent figures (reports/agents.py), by agent id; agents with nothing in the period are left out."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: times as ISO 8601 text, verdicts as their names."""
        return plain(asdict(self))


def plain(value: Any) -> Any:
    """``value`` in plain JSON types: times as ISO 8601 text, enums as their values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def report_options(settings: Settings) -> dict[str, Any]:
    """compute_report's keywords from the settings: periods, conversion_days, promised_days and
    the knowledge base's entries tagged presale (the shipped KB and ``[knowledge_base] files``)."""
    return {
        "periods": settings.reports.periods,
        "conversion_days": settings.reports.conversion_days,
        "promised_days": settings.orders.promised_days,
        "presale_entries": presale_entries(settings.knowledge_base.files),
    }


def period_bounds(start: datetime, end: datetime, periods: int) -> list[datetime]:
    """The boundaries of ``periods`` periods as long as [start, end), ending at ``end`` (oldest first)."""
    return [end - (end - start) * (periods - i) for i in range(periods + 1)]


HIGHER_IS_BETTER: Final[dict[str, bool]] = {
    "complaint_rate": False,
    "repeat_complaint_rate": False,
    "csat_score": True,
    "first_response_median_seconds": False,
    "resolution_median_seconds": False,
    "sla_breach_rate": False,
    "reopen_rate": False,
    "deflection_rate": True,
}
"""Which way each metric read over time (the headlines, the console's breakdowns) improves."""
HEADLINES: Final[dict[str, bool]] = {
    name: HIGHER_IS_BETTER[name]
    for name in ("complaint_rate", "repeat_complaint_rate", "csat_score", "first_response_median_seconds", "deflection_rate")
}
"""The metrics drawn over time, and whether higher is better."""


async def compute_report(
    start: datetime, end: datetime, *, timezone: str, periods: int = 6, conversion_days: int = 3,
    promised_days: int = 3, presale_entries: Collection[str] | None = None,
) -> Report:
    """The report for [start, end), and the headline series over ``periods`` periods as long, ending at ``end``.

    ``timezone`` is the shop's IANA zone: it decides which calendar day a conversation is.
    Queries run one after the other: each is a single aggregate, and a caller inside a
    transaction has only one connection to run them on. ``conversion_days`` ([reports]),
    ``promised_days`` ([orders]) and ``presale_entries`` (the KB's entries tagged presale,
    reports.conversion.presale_entries; default the shipped KB's) are the settings of the
    conversion and logistics figures.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be time-zone aware")
    if not start < end:
        raise ValueError("start must come before end")
    if periods < 1:
        raise ValueError("periods must be at least 1")
    ZoneInfo(timezone)  # an unknown zone fails here, not in SQL
    bounds = period_bounds(start, end, periods)
    # The headline metrics come for every period at once; the report's own period is the last.
    headlines = await _headlines(bounds, timezone)
    agents = await metrics.agent_names()
    satisfaction, service = await _satisfaction(start, end, headlines), await _service(start, end, headlines)
    return Report(
        start=start,
        end=end,
        timezone=timezone,
        agents=agents,
        complaints=await _complaints(start, end, headlines),
        satisfaction=satisfaction,
        service=service,
        bot=await _bot(start, end, headlines),
        customers=await _customers(start, end, headlines),
        series=_series(bounds, headlines),
        conversion=await conversion(start, end, days=conversion_days, presale=presale_entries),
        logistics=await logistics(start, end, timezone=timezone, promised_days=promised_days),
        per_agent=await per_agent(
            start, end, agents, reopen_rates=service.reopen_rate_by_agent, csat=satisfaction.csat_by_agent
        ),
    )


async def headline_series(start: datetime, end: datetime, *, timezone: str, periods: int = 6) -> dict[str, Series]:
    """``Report.series`` alone: the headline metrics over ``periods`` periods as long as [start,
    end), ending at ``end``, with their trends (the console's charts), from the report's own
    queries without the rest of the report."""
    if start.tzinfo is None or end.tzinfo is None or not start < end or periods < 1:
        raise ValueError("start and end must be time-zone aware, start before end, periods at least 1")
    ZoneInfo(timezone)
    bounds = period_bounds(start, end, periods)
    return _series(bounds, await _headlines(bounds, timezone))


async def _headlines(bounds: list[datetime], timezone: str) -> _Headlines:
    return _Headlines(
        active=await metrics.active_customers(bounds),
        created=await metrics.tickets_created(bounds),
        csat=per_period(await metrics.csat(bounds)),
        first_response=per_period(await metrics.durations(bounds, "first_response")),
        deflection=await metrics.deflection(bounds, timezone),
        last=len(bounds) - 2,
    )


@dataclass
class _Headlines:
    active: dict[metrics.Key, dict[str, int]]
    created: dict[metrics.Key, dict[str, int]]
    csat: dict[int, Csat]
    first_response: dict[int, Durations]
    deflection: dict[int, Ratio]
    last: int

    def __post_init__(self) -> None:
        self.active_totals = metrics.totals(self.active)
        self.complaint_rate = {b: ratio(v["complained"], v["active"]) for b, v in self.active_totals.items()}
        self.repeat_rate = {b: ratio(v["repeats"], v["complaints"]) for b, v in per_period(self.created).items()}

    def value(self, metric: str, b: int) -> float | None:
        if metric == "complaint_rate":
            return _value(self.complaint_rate.get(b))
        if metric == "repeat_complaint_rate":
            return _value(self.repeat_rate.get(b))
        if metric == "csat_score":
            return self.csat[b].score if b in self.csat else None
        if metric == "first_response_median_seconds":
            return self.first_response[b].median_seconds if b in self.first_response else None
        if metric == "deflection_rate":
            return _value(self.deflection.get(b))
        raise KeyError(metric)


def _series(bounds: list[datetime], headlines: _Headlines) -> dict[str, Series]:
    series = {}
    for name, higher_is_better in HEADLINES.items():
        points = [headlines.value(name, b) for b in range(len(bounds) - 1)]
        trend = read_trend(points, higher_is_better=higher_is_better)
        series[name] = Series(name, higher_is_better, bounds[:-1], points, trend)
    return series


_NO_TICKETS: Final = {"created": 0, "escalated": 0, "complaints": 0, "repeats": 0}
_NO_DURATIONS: Final = Durations(0, None, None, 0, None, None)


async def _complaints(start: datetime, end: datetime, headlines: _Headlines) -> ComplaintReport:
    here = headlines.created.get((headlines.last, None), _NO_TICKETS)
    by_category = by_key(await metrics.tickets_created([start, end], "category"), 0)
    in_category = {c: by_category.get(c, _NO_TICKETS) for c in CATEGORIES}
    return ComplaintReport(
        complaints=here["complaints"],
        rate=headlines.complaint_rate.get(headlines.last, ratio(0, 0)),
        rate_by_segment={
            s: ratio(v["complained"], v["active"]) for s, v in by_key(headlines.active, headlines.last).items()
        },
        repeat_rate=ratio(here["repeats"], here["complaints"]),
        repeat_rate_by_category={c: ratio(v["repeats"], v["complaints"]) for c, v in in_category.items()},
        concentration={c: ratio(v["complaints"], here["complaints"]) for c, v in in_category.items()},
    )


async def _satisfaction(start: datetime, end: datetime, headlines: _Headlines) -> SatisfactionReport:
    own = [start, end]
    overall = headlines.csat.get(headlines.last, Csat(0, None, ratio(0, 0), None))
    sent = await metrics.surveys_sent(own)
    return SatisfactionReport(
        csat=overall,
        csat_by_agent=by_key(await metrics.csat(own, "agent"), 0, UNASSIGNED),
        csat_by_category=by_key(await metrics.csat(own, "category"), 0),
        csat_by_segment=by_key(await metrics.csat(own, "segment"), 0),
        response_rate=ratio(overall.responses, sent.get(0)),
        servqual=await metrics.servqual_gaps(start, end),
        nps=await nps(start, end),
    )


async def _service(start: datetime, end: datetime, headlines: _Headlines) -> ServiceReport:
    own = [start, end]
    here = headlines.created.get((headlines.last, None), _NO_TICKETS)
    by_category = by_key(await metrics.tickets_created(own, "category"), 0)
    by_agent = by_key(await metrics.tickets_created(own, "agent"), 0, UNASSIGNED)
    resolved = per_period(await metrics.tickets_resolved(own)).get(0, {"resolved": 0, "reopened": 0})
    resolved_by_agent = by_key(await metrics.tickets_resolved(own, "agent"), 0, UNASSIGNED)
    return ServiceReport(
        tickets_created=here["created"],
        first_response=headlines.first_response.get(headlines.last, _NO_DURATIONS),
        first_response_by_category=by_key(await metrics.durations(own, "first_response", "category"), 0),
        first_response_by_agent=by_key(await metrics.durations(own, "first_response", "agent"), 0, UNASSIGNED),
        resolution=per_period(await metrics.durations(own, "resolution")).get(0, _NO_DURATIONS),
        resolution_by_category=by_key(await metrics.durations(own, "resolution", "category"), 0),
        resolution_by_agent=by_key(await metrics.durations(own, "resolution", "agent"), 0, UNASSIGNED),
        sla_breach_rate=ratio(here["escalated"], here["created"]),
        sla_breach_rate_by_category={c: ratio(v["escalated"], v["created"]) for c, v in by_category.items()},
        sla_breach_rate_by_agent={a: ratio(v["escalated"], v["created"]) for a, v in by_agent.items()},
        reopen_rate=ratio(resolved["reopened"], resolved["resolved"]),
        reopen_rate_by_agent={a: ratio(v["reopened"], v["resolved"]) for a, v in resolved_by_agent.items()},
        backlog=await metrics.backlog(end),
    )


async def _bot(start: datetime, end: datetime, headlines: _Headlines) -> BotReport:
    counts = await metrics.question_counts(start, end)
    return BotReport(
        deflection_rate=headlines.deflection.get(headlines.last, ratio(0, 0)),
        questions=counts.questions,
        kb_hit_rate=ratio(counts.hits, counts.questions),
        thumbs_up=counts.thumbs_up,
        thumbs_down=counts.thumbs_down,
        thumbs_up_share=ratio(counts.thumbs_up, counts.thumbs_up + counts.thumbs_down),
        top_missed=await metrics.missed_questions(start, end),
    )


async def _customers(start: datetime, end: datetime, headlines: _Headlines) -> CustomerReport:
    people = headlines.active_totals.get(headlines.last, {"active": 0, "returning": 0})
    return CustomerReport(
        active=people["active"],
        new=await metrics.new_customers(start, end),
        returning=people["returning"],
        rfm=await rfm(start, end),
    )


def _value(r: Ratio | None) -> float | None:
    return r.value if r is not None else None
