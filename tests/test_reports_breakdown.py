"""A metric per category, agent or segment over the report's periods (reports/breakdown.py), the
CSV rows the console downloads (reports/export.py), and what a campaign would reach and say
before it starts (scheduler/campaigns.py): the services under the console's Reports and
Campaigns pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reports import HIGHER_IS_BETTER, Report, compute_report, headline_series
from reports.breakdown import breakdown_series
from reports.export import (
    BREAKDOWN_HEADER,
    SERIES_HEADER,
    breakdown_rows,
    csv_text,
    series_rows,
)
from reports.sample import load_sample_history
from reports.trend import read_trend
from scheduler.campaigns import audience_languages, rendered, start_campaign
from ticketing.models import Customer
from ticketing.moderation import Standing

END = datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
START = END - timedelta(days=30)
PERIODS = 4


@pytest.fixture
async def shop(database: str) -> Report:
    """The sandbox's 12-week history, with a few VIP customers, and its 30-day report."""
    await load_sample_history(now=END)
    vip = await Customer.all().order_by("id").limit(20).values_list("id", flat=True)
    await Customer.filter(id__in=vip).update(segment="vip")
    return await compute_report(START, END, timezone="Asia/Shanghai", periods=PERIODS)


def the_period(report: Report, metric: str, by: str) -> dict[str, float | None]:
    """The report's own figure for the period, per key, as the report gives it."""
    service, satisfaction, complaints = report.service, report.satisfaction, report.complaints
    figures = {
        ("csat_score", "agent"): {k: v.score for k, v in satisfaction.csat_by_agent.items()},
        ("csat_score", "category"): {k: v.score for k, v in satisfaction.csat_by_category.items()},
        ("csat_score", "segment"): {k: v.score for k, v in satisfaction.csat_by_segment.items()},
        ("first_response_median_seconds", "agent"): {k: v.median_seconds for k, v in service.first_response_by_agent.items()},
        ("first_response_median_seconds", "category"): {k: v.median_seconds for k, v in service.first_response_by_category.items()},
        ("resolution_median_seconds", "agent"): {k: v.median_seconds for k, v in service.resolution_by_agent.items()},
        ("resolution_median_seconds", "category"): {k: v.median_seconds for k, v in service.resolution_by_category.items()},
        ("sla_breach_rate", "agent"): {k: v.value for k, v in service.sla_breach_rate_by_agent.items()},
        ("sla_breach_rate", "category"): {k: v.value for k, v in service.sla_breach_rate_by_category.items()},
        ("reopen_rate", "agent"): {k: v.value for k, v in service.reopen_rate_by_agent.items()},
        ("repeat_complaint_rate", "category"): {
            k: v.value for k, v in complaints.repeat_rate_by_category.items() if v.denominator or v.numerator
        },
        ("complaint_rate", "segment"): {k: v.value for k, v in complaints.rate_by_segment.items()},
    }
    return figures[(metric, by)]


@pytest.mark.parametrize(("metric", "by"), [
    ("csat_score", "agent"), ("csat_score", "category"), ("csat_score", "segment"),
    ("first_response_median_seconds", "agent"), ("first_response_median_seconds", "category"),
    ("resolution_median_seconds", "agent"), ("resolution_median_seconds", "category"),
    ("sla_breach_rate", "agent"), ("sla_breach_rate", "category"), ("reopen_rate", "agent"),
    ("repeat_complaint_rate", "category"), ("complaint_rate", "segment"),
])
async def test_the_last_period_of_each_breakdown_is_the_reports_own_figure(shop: Report, metric: str, by: str) -> None:
    breakdown = await breakdown_series(START, END, metric=metric, by=by, periods=PERIODS)
    assert breakdown.period_starts == shop.series["csat_score"].period_starts
    last = {item.key: item.values[-1] for item in breakdown.series if item.values[-1] is not None}
    expected = {key: value for key, value in the_period(shop, metric, by).items() if value is not None}
    assert expected and last == pytest.approx(expected)
    for item in breakdown.series:
        assert len(item.values) == PERIODS and any(v is not None for v in item.values)
        assert item.trend == read_trend(item.values, higher_is_better=HIGHER_IS_BETTER[metric])


async def test_the_headline_series_alone_are_the_reports(shop: Report) -> None:
    assert await headline_series(START, END, timezone="Asia/Shanghai", periods=PERIODS) == shop.series


async def test_agents_come_by_id_with_the_unassigned_last_and_every_segment_is_listed(shop: Report) -> None:
    by_agent = await breakdown_series(START, END, metric="csat_score", by="agent", periods=PERIODS)
    keys = [item.key for item in by_agent.series]
    ids = [key for key in keys if key != "unassigned"]
    assert len(ids) == 3 and ids == sorted(ids, key=int) and set(ids) <= set(shop.agents)
    assert "unassigned" not in keys[:-1]
    by_segment = await breakdown_series(START, END, metric="complaint_rate", by="segment", periods=PERIODS)
    assert [item.key for item in by_segment.series] == ["new", "vip"]
    data = by_segment.to_dict()
    assert data["by"] == "segment" and data["series"][0]["trend"]["verdict"] in ("improving", "stable", "worsening", "volatile")
    assert data["period_starts"][-1] == START.isoformat()


async def test_a_metric_without_that_breakdown_is_refused(database: str) -> None:
    with pytest.raises(ValueError, match="complaint_rate has no breakdown by agent"):
        await breakdown_series(START, END, metric="complaint_rate", by="agent")
    with pytest.raises(ValueError, match="no breakdown"):
        await breakdown_series(START, END, metric="revenue", by="agent")


async def test_the_csv_rows_are_the_series_with_their_verdicts(shop: Report) -> None:
    text = csv_text(SERIES_HEADER, series_rows(shop))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(SERIES_HEADER) and len(rows) == 1 + len(shop.series) * PERIODS
    csat = shop.series["csat_score"]
    assert rows[1 + 2 * PERIODS: 1 + 3 * PERIODS] == [
        ["csat_score", start.isoformat(), "" if value is None else str(value), csat.trend.verdict.value]
        for start, value in zip(csat.period_starts, csat.values, strict=True)
    ]
    breakdown = await breakdown_series(START, END, metric="sla_breach_rate", by="category", periods=PERIODS)
    rows = list(csv.reader(io.StringIO(csv_text(BREAKDOWN_HEADER, breakdown_rows(breakdown)))))
    assert rows[0] == list(BREAKDOWN_HEADER) and len(rows) == 1 + len(breakdown.series) * PERIODS
    logistics = next(item for item in breakdown.series if item.key == "logistics")
    assert [row[4] for row in rows if row[2] == "logistics"] == ["" if v is None else str(v) for v in logistics.values]


async def test_the_audience_count_leaves_out_who_the_send_leaves_out(database: str) -> None:
    now = END
    for n, language in enumerate(["en", "en", "zh-Hans", "zh-Hant", "en", "en", "en"]):
        await Customer.create(telegram_id=100 + n, first_name=f"C{n}", language=language, first_seen=now, last_seen=now)
    await Customer.filter(telegram_id=104).update(opted_out=True)
    await Customer.filter(telegram_id=105).update(blocked=True)
    await Customer.filter(telegram_id=106).update(standing=Standing.BANNED)
    assert await audience_languages("all", now) == {"en": 2, "zh-Hans": 1, "zh-Hant": 1}
    assert await audience_languages("vip", now) == {}
    campaign = await start_campaign("all", text="Hi {name}", template=None, author_telegram_id=1, now=now, worker="w")
    assert campaign.total == 4


def test_the_preview_is_the_message_the_customer_gets_in_their_language() -> None:
    assert rendered("{name}, the sale starts tonight!", None, "zh-Hans", "Emma") == "Emma, the sale starts tonight!"
    assert rendered(None, "sale", "en", "Emma").startswith("Hi Emma! Our sale starts now")
    assert rendered(None, "sale", "zh-Hans", "芳").startswith("芳您好！")
    assert rendered(None, "sale", "zh-Hans", "芳") != rendered(None, "sale", "en", "芳")
