"""The console's Reports page (supervisors): the figures `kefu report` gives for the same period,
with their trends, the charts' data, a metric per category, agent or segment, and the CSV files."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from bot.core.i18n import text
from reports import report_options
from reports.export import run_report
from reports.sample import load_sample_history
from tests.harness import Console, Person
from ticketing.models import Ticket

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
LANGUAGE = "zh-Hans"  # the supervisor's Telegram language (zh-CN)
ROW = re.compile(r'<th scope="row">(.*?)</th>\s*<td class="reports-value">(.*?)</td>', re.S)


def t(key: str, **values: object) -> str:
    return text(LANGUAGE, key, **values)


def figures(page: str) -> dict[str, str]:
    """The page's figures: label → value as shown."""
    return {html.unescape(label): html.unescape(value) for label, value in ROW.findall(page)}


def share(ratio: dict) -> str:
    return "—" if ratio["value"] is None else f"{100 * ratio['value']:.1f} % ({ratio['numerator']}/{ratio['denominator']})"


async def kefu_report(console: Console, days: int, tmp_path: Path | None = None) -> dict:
    """What `kefu report --days N --json` prints at the bot's clock (and its CSV files in ``tmp_path``)."""
    settings = console.bot.settings
    out = io.StringIO()
    await run_report(days=days, timezone=settings.scheduler.timezone, periods=settings.reports.periods, language="en",
                     as_json=True, png=None, csv_dir=str(tmp_path) if tmp_path else None, out=out,
                     now=console.bot.app.bot_data.now(), options=report_options(settings))
    return json.loads(out.getvalue())


@pytest.fixture
async def shop(console: Console, customer: Person, agent: Person) -> Console:
    """The sandbox's 12-week history, and today a complaint the agent answered and closed."""
    console.bot.travel(NOW)
    await load_sample_history(now=NOW)
    await customer.say("/complaint the parcel is two weeks late")
    topic = agent.in_topic(await Ticket.get(customer__telegram_id=customer.id))
    await topic.say("Sorry! It is on its way.")
    await topic.say("/close")
    return console


async def test_an_agent_is_refused_the_reports(console: Console, agent: Person) -> None:
    signed_in = await console.signed_in(agent)
    for path in ("/console/reports", "/console/reports/series.json", "/console/reports/metrics.csv",
                 "/console/reports/series.csv", "/console/reports/breakdown.csv"):
        answer = await signed_in.get(path)
        assert answer.status == 403, path
        assert text("zh-Hans", "console_supervisors_only") in answer.text, path


async def test_a_supervisor_sees_the_figures_kefu_report_gives_for_the_period(shop: Console, supervisor: Person) -> None:
    boss = await shop.signed_in(supervisor)
    page = await boss.get("/console/reports", {"days": "30"})
    assert page.status == 200
    expected = await kefu_report(shop, 30)
    shown = figures(page.text)
    complaints, service, bot = expected["complaints"], expected["service"], expected["bot"]
    verdict = {name: t(f"report_verdict_{s['trend']['verdict']}") for name, s in expected["series"].items()}
    assert shown[t("console_reports_complaints")] == str(complaints["complaints"]) != "0"
    assert shown[t("console_reports_metric_complaint_rate")] == share(complaints["rate"])
    assert shown[t("console_reports_metric_repeat_complaint_rate")] == share(complaints["repeat_rate"])
    assert shown[t("console_reports_metric_csat_score")] == f"{expected['satisfaction']['csat']['score']:.0f}"
    assert shown[t("console_reports_tickets_created")] == str(service["tickets_created"])
    assert shown[t("console_reports_metric_sla_breach_rate")] == share(service["sla_breach_rate"])
    assert shown[t("console_reports_metric_reopen_rate")] == share(service["reopen_rate"])
    assert shown[t("console_reports_backlog")] == str(service["backlog"]["total"])
    assert shown[t("console_reports_metric_deflection_rate")] == share(bot["deflection_rate"])
    assert shown[t("console_reports_questions")] == str(bot["questions"])
    assert shown[t("console_reports_active")] == str(expected["customers"]["active"])
    for metric in ("complaint_rate", "csat_score", "deflection_rate"):
        assert verdict[metric] in page.text
    first, last = NOW.date() - timedelta(days=30), NOW.date()
    assert t("console_reports_shown", first=first.isoformat(), last=last.isoformat()) in page.text
    # Per agent, as /report agents: the sample's three agents.
    for name in ("小王", "小李", "Anna"):
        assert f"<td>{name}</td>" in page.text


async def test_the_charts_draw_the_reports_series_and_the_breakdown(shop: Console, supervisor: Person) -> None:
    boss = await shop.signed_in(supervisor)
    page = await boss.get("/console/reports", {"days": "90", "by": "category", "metric": "sla_breach_rate"})
    until = quote(NOW.isoformat())  # the charts are of the period shown, however late they are asked for
    assert f'data-series="/console/reports/series.json?days=90&amp;until={until}&amp;by=category&amp;metric=sla_breach_rate"' in page.text
    assert '<script src="/console/static/uPlot.iife.min.js"></script>' in page.text
    assert '<script src="/console/static/reports.js"></script>' in page.text
    assert "<script>" not in page.text, "no inline script: the CSP allows none"
    data = (await boss.get("/console/reports/series.json", {"days": "90", "by": "category", "metric": "sla_breach_rate"})).json()
    expected = await kefu_report(shop, 90)
    assert data["x"] == [int(datetime.fromisoformat(s).timestamp()) for s in expected["series"]["csat_score"]["period_starts"]]
    for name, series in expected["series"].items():
        assert data["headlines"][name]["values"] == pytest.approx(series["values"])
        assert data["headlines"][name]["verdict"] == series["trend"]["verdict"]
    breakdown = data["breakdown"]
    assert (breakdown["by"], breakdown["metric"], breakdown["unit"]) == ("category", "sla_breach_rate", "rate")
    last = {line["key"]: line["values"][-1] for line in breakdown["series"]}
    by_category = expected["service"]["sla_breach_rate_by_category"]
    assert last == pytest.approx({key: r["value"] for key, r in by_category.items()})
    assert {line["label"] for line in breakdown["series"]} >= {t("category_logistics")}
    for script in ("uPlot.iife.min.js", "reports.js", "uPlot.min.css", "reports.css"):
        assert (await boss.get(f"/console/static/{script}")).status == 200


async def test_the_breakdowns_by_agent_and_segment(shop: Console, supervisor: Person) -> None:
    boss = await shop.signed_in(supervisor)
    by_agent = await boss.get("/console/reports", {"days": "30", "by": "agent", "metric": "csat_score"})
    table = by_agent.text.split('class="reports-breakdown-table"')[1].split("</table>")[0]
    assert all(f'<th scope="row">{name}</th>' in table for name in ("小王", "小李", "Anna"))
    by_segment = await boss.get("/console/reports", {"days": "30", "by": "segment", "metric": "complaint_rate"})
    table = by_segment.text.split('class="reports-breakdown-table"')[1].split("</table>")[0]
    assert f'<th scope="row">{t("console_reports_segment_new")}</th>' in table
    # The complaint rate is the customers': by agent the page falls back to CSAT.
    fallback = await boss.get("/console/reports/series.json", {"days": "30", "by": "agent", "metric": "complaint_rate"})
    assert fallback.json()["breakdown"]["metric"] == "csat_score"


async def test_the_csv_downloads_are_what_kefu_report_writes(shop: Console, supervisor: Person, tmp_path: Path) -> None:
    boss = await shop.signed_in(supervisor)
    await kefu_report(shop, 30, tmp_path)
    first, last = (NOW.date() - timedelta(days=30)).isoformat(), NOW.date().isoformat()
    for name in ("metrics", "series"):
        answer = await boss.get(f"/console/reports/{name}.csv", {"days": "30"})
        assert answer.status == 200 and answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert answer.headers["Content-Disposition"] == f'attachment; filename="kefu-{name}-{first}-{last}.csv"'
        assert answer.text.removeprefix("\ufeff") == (tmp_path / f"{name}.csv").read_bytes().decode("utf-8")
    breakdown = await boss.get("/console/reports/breakdown.csv", {"days": "30", "by": "agent", "metric": "reopen_rate"})
    lines = breakdown.text.removeprefix("\ufeff").splitlines()
    assert lines[0] == "metric,by,key,period_start,value,verdict"
    assert lines[1].startswith("reopen_rate,agent,") and len(lines) > 1
    page = await boss.get("/console/reports", {"days": "30"})
    assert f'data-download="kefu-metrics-{first}-{last}.csv"' in page.text
    assert f'href="/console/reports/metrics.csv?days=30&amp;until={quote(NOW.isoformat())}&amp;by=agent' in page.text
    shop.bot.travel(NOW + timedelta(hours=1))  # a download an hour later is still of the period shown
    later = await boss.get("/console/reports/series.csv", {"days": "30", "until": NOW.isoformat()})
    assert later.text.removeprefix("\ufeff") == (tmp_path / "series.csv").read_bytes().decode("utf-8")


async def test_a_period_from_one_day_to_another_in_the_shops_time(shop: Console, supervisor: Person) -> None:
    boss = await shop.signed_in(supervisor)
    page = await boss.get("/console/reports", {"from": "2026-11-01", "to": "2026-11-15"})
    assert page.status == 200
    assert t("console_reports_shown", first="2026-11-01", last="2026-11-15") in page.text
    zone = ZoneInfo(shop.bot.settings.scheduler.timezone)
    data = (await boss.get("/console/reports/series.json", {"from": "2026-11-01", "to": "2026-11-15"})).json()
    assert data["periods"][-1] == "2026-11-01"
    assert data["x"][-1] == int(datetime(2026, 11, 1, tzinfo=zone).timestamp())
    assert data["x"][-1] - data["x"][-2] == 15 * 86400


@pytest.mark.parametrize(("query", "why"), [
    ({"from": "2026-11-15", "to": "2026-11-01"}, "console_reports_bad_order"),
    ({"from": "yesterday", "to": "2026-11-01"}, "console_reports_bad_dates"),
    ({"from": "2026-11-01"}, "console_reports_bad_dates"),
    ({"from": "0001-01-01", "to": "2026-11-01"}, "console_reports_bad_span"),
    ({"from": "1990-01-01", "to": "2026-11-01"}, "console_reports_bad_span"),
    ({"from": "2026-11-01", "to": "9999-12-31"}, "console_reports_bad_span"),
    ({"from": "0001-01-01", "to": "0001-01-01"}, "console_reports_bad_span"),
    ({"days": "365"}, "console_reports_bad_days"),
    ({"days": "<script>"}, "console_reports_bad_days"),
    ({"days": "30", "until": "noon"}, "console_reports_bad_dates"),
    ({"days": "30", "until": "9999-12-31T23:59:59-14:00"}, "console_reports_bad_span"),
    ({"days": "30", "until": "1970-01-02T00:00:00"}, "console_reports_bad_span"),
])
async def test_a_period_that_cannot_be_reported_is_answered_politely(
    console: Console, supervisor: Person, query: dict[str, str], why: str
) -> None:
    boss = await console.signed_in(supervisor)
    page = await boss.get("/console/reports", query)
    assert page.status == 400 and t(why) in page.text
    assert "<script>" not in page.text.split("</head>")[1].split('<script src=')[0]
    data = await boss.get("/console/reports/series.json", query)
    assert data.status == 400 and data.text == t(why)


def test_the_console_never_loads_matplotlib() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.console.web, bot.console.reports; print('matplotlib' in sys.modules)"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    )
    assert loaded.stdout.strip() == "False"


async def test_an_empty_shop_shows_dashes_not_errors(console: Console, supervisor: Person) -> None:
    console.bot.travel(datetime(2026, 11, 23, tzinfo=UTC))
    boss = await console.signed_in(supervisor)
    page = await boss.get("/console/reports", {"days": "7"})
    assert page.status == 200
    assert figures(page.text)[t("console_reports_metric_csat_score")] == "—"
    assert t("console_reports_no_data") in page.text
