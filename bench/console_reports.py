"""The console's Reports page at 100,000 tickets: ``python bench/console_reports.py [--tickets 100000] [--runs 3] [--no-postgres]``.

Seeds a shop as the reports benchmark does (bench/reports.py ``seed``: ``--tickets`` tickets over
180 days with their messages, customers, questions, surveys and orders). Then runs kefu as
``kefu sandbox`` does (the Bot API emulator, the bot, its HTTP server with the console, all in
this process), signs a supervisor in with a one-time login link, and times over HTTP what a
supervisor's visit asks for: the page (the whole report, and a breakdown), the charts' JSON (the
headline series and the breakdown, without the rest of the report) and a CSV download, for 30
and 90 days (the series reach 6 × the period back), ``--runs`` times each after one warm-up.
SQLite in a fresh file, PostgreSQL in a throw-away database (bench/common.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import POSTGRES_ADMIN_URL, throwaway_database  # noqa: E402
from bench.reports import END, seed  # noqa: E402
from bot.app import build_application  # noqa: E402
from bot.console.auth import login_url, mint_link  # noqa: E402
from bot.core import crypto, sql  # noqa: E402
from bot.core.config import (  # noqa: E402
    DatabaseSettings,
    SchedulerSettings,
    Settings,
    TelegramSettings,
)
from bot.emulator import BotAPIEmulator  # noqa: E402
from bot.http import serving_http  # noqa: E402
from bot.runtime import open_database, running_bot  # noqa: E402
from bot.telegram.updates import ChatOrderedProcessor  # noqa: E402
from ticketing.service import record_agent  # noqa: E402

TOKEN = "123456789:BENCH-token-for-the-console-reports"
ASKED = {
    "page": "/console/reports",
    "charts' JSON": "/console/reports/series.json",
    "breakdown CSV": "/console/reports/breakdown.csv",
}


async def measure(url: str, tickets: int, runs: int) -> None:
    crypto.install([crypto.new_key()])  # personal data encrypted as kefu stores it
    emulator = BotAPIEmulator(bot_username="kefu_bench_bot", bot_first_name="Kefu")
    await emulator.start("127.0.0.1", 0)
    person = emulator.add_user(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")
    group = emulator.add_group(title="kefu agents", is_forum=True)
    emulator.set_member(group["id"], person["id"], "administrator")
    settings = Settings(
        telegram=TelegramSettings(token=SecretStr(TOKEN), base_url=emulator.base_url, agent_chat_id=group["id"],
                                  supervisors=[person["id"]], poll_timeout=10),
        database=DatabaseSettings(url=url),
        scheduler=SchedulerSettings(enabled=False),
    )
    app = build_application(settings, ChatOrderedProcessor())
    try:
        async with open_database(settings):
            await seed(tickets)  # before the bot starts: nothing it does at start competes with the seeding
            if sql.postgres():
                await sql.run("ANALYZE")
        async with open_database(settings), serving_http(settings, "127.0.0.1:0", app=app) as api, running_bot(app, settings):
            app.job_queue.scheduler.pause()  # the bot's timed jobs (SLA, desk) keep away: the pages are timed alone
            app.bot_data.clock = lambda: END  # the seeded data ends here: "the last 30 days" are full
            boss = await record_agent(person["id"], "Min Zhao", "boss_zhao", supervisor=True)
            link = login_url(api, await mint_link(boss.id, "zh-Hans", END - timedelta(minutes=1), 10))
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(link) as signed:
                    assert signed.status in (200, 404), await signed.text()  # 404: no Tickets page in this build
                for days in (30, 90):
                    for label, path in ASKED.items():
                        params = {"days": str(days), "by": "agent", "metric": "csat_score"}
                        times = []
                        for run in range(runs + 1):
                            started = time.perf_counter()
                            async with http.get(f"{api}{path}", params=params) as answer:
                                body = await answer.read()
                            if run >= 1:
                                times.append(time.perf_counter() - started)
                            assert answer.status == 200, body[:500]
                        print(f"  {days}-day {label:<14} median {statistics.median(times):5.2f} s   "
                              f"({' / '.join(f'{t:.2f}' for t in times)} s; {len(body):,} bytes)")
    finally:
        await emulator.stop()


async def run(tickets: int, runs: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for kind in (["sqlite", "postgres"] if postgres else ["sqlite"]):
            print(f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} ({tickets:,} tickets, {runs} runs each)")
            async with throwaway_database(kind, Path(folder), POSTGRES_ADMIN_URL, "console_reports") as url:
                await measure(url, tickets, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    asyncio.run(run(args.tickets, args.runs, not args.no_postgres))


if __name__ == "__main__":
    main()
