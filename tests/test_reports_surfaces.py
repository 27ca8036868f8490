"""Where managers read the report: /report in the agent group, the weekly post, `kefu report`,
and the JSON API for dashboards."""

from __future__ import annotations

import io
import json

import aiohttp
from pydantic import SecretStr

from bot.core.config import ApiSettings
from bot.http import serving_http
from reports.export import run_report
from tests.harness import Bot, Person
from ticketing.models import Ticket

PNG = b"\x89PNG\r\n\x1a\n"


async def a_closed_complaint(customer: Person, agent: Person) -> None:
    await customer.say("/complaint the parcel is two weeks late")
    await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("Sorry! It is on its way.")
    await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("/close")


async def test_a_supervisor_gets_the_summary_and_the_chart(customer: Person, agent: Person, supervisor: Person) -> None:
    await a_closed_complaint(customer, agent)
    refused = await agent.say("/report 30d")
    assert refused.text == "只有主管可以执行此操作。"
    shown = await supervisor.say("/report 30d")
    summary, chart = shown[-2], shown[-1]
    assert summary["text"].startswith("📊 服务报告 · ")
    assert "😠 投诉：1 件" in summary["text"] and "投诉集中：物流配送 100.0 %" in summary["text"]
    assert "⏱ 首次响应：中位数 " in summary["text"]
    assert chart["photo"] and supervisor.bot.emulator.file_bytes(chart["photo"][-1]["file_id"]).startswith(PNG)
    assert (await supervisor.say("/report 365d")).text == "用法：/report 7d、/report 30d 或 /report 90d。"


async def test_the_weekly_report_is_posted_to_the_agent_group(bot: Bot, agent: Person) -> None:
    [job] = bot.app.job_queue.get_jobs_by_name("weekly-report")  # [reports] weekly = "mon 09:00" by default
    before = bot.emulator.seq

    await bot.schedule.weekly_report()  # what the job does on Monday at 09:00
    posted = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert posted[0]["text"].startswith("🗓 每周报告\n📊 服务报告") and posted[1]["photo"]


async def test_kefu_report_prints_json_and_writes_the_chart_and_csv(customer: Person, agent: Person, tmp_path) -> None:
    await a_closed_complaint(customer, agent)
    out = io.StringIO()
    png, folder = tmp_path / "chart.png", tmp_path / "csv"
    assert await run_report(days=30, timezone="Asia/Shanghai", periods=6, language="en", as_json=True,
                            png=str(png), csv_dir=str(folder), out=out) == 0
    data = json.loads(out.getvalue())
    assert data["complaints"]["complaints"] == 1 and data["complaints"]["concentration"]["logistics"]["value"] == 1.0
    assert png.read_bytes().startswith(PNG)
    assert "complaints.complaints,1" in (folder / "metrics.csv").read_text(encoding="utf-8")
    assert (folder / "series.csv").read_text(encoding="utf-8").startswith("metric,period_start,value,verdict")


async def test_the_metrics_api_wants_the_bearer_token(bot: Bot) -> None:
    settings = bot.settings.model_copy(update={"api": ApiSettings(token=SecretStr("s3cret-token"))})
    async with serving_http(settings, "127.0.0.1:0") as url, aiohttp.ClientSession() as http:
        assert (await http.get(f"{url}/api/metrics")).status == 401
        assert (await http.get(f"{url}/api/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
        good = {"Authorization": "Bearer s3cret-token"}
        response = await http.get(f"{url}/api/metrics?from=2026-11-01T00:00:00%2B08:00&to=2026-11-08T00:00:00%2B08:00", headers=good)
        assert response.status == 200
        body = await response.json()
        assert body["start"] == "2026-11-01T00:00:00+08:00" and set(body["series"]) >= {"complaint_rate", "csat_score"}
        assert (await http.get(f"{url}/api/metrics?from=yesterday", headers=good)).status == 400


async def test_guessing_the_api_token_is_slowed_down_per_address(bot: Bot) -> None:
    api = ApiSettings(token=SecretStr("s3cret-token"), failed_attempts=3, failed_window_seconds=60)
    settings = bot.settings.model_copy(update={"api": api})
    good = {"Authorization": "Bearer s3cret-token"}
    async with serving_http(settings, "127.0.0.1:0") as url, aiohttp.ClientSession() as http:
        for guess in ("a", "b", "c"):
            assert (await http.get(f"{url}/api/metrics", headers={"Authorization": f"Bearer {guess}"})).status == 401
        refused = await http.get(f"{url}/api/metrics", headers=good)  # even the right one waits now
        assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
        # Through the reverse proxy (a trusted address), another client is not held back.
        through_proxy = await http.get(f"{url}/api/metrics", headers={**good, "X-Forwarded-For": "203.0.113.7"})
        assert through_proxy.status == 200
        assert (await http.get(f"{url}/healthz")).status == 200  # only /api/ is guarded
