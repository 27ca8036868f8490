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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import POSTGRES_ADMIN_URL, signed_in_console, throwaway_database  # noqa: E402
from bench.reports import END, seed  # noqa: E402

ASKED = {
    "page": "/console/reports",
    "charts' JSON": "/console/reports/series.json",
    "breakdown CSV": "/console/reports/breakdown.csv",
}


async def measure(url: str, tickets: int, runs: int) -> None:
    # the seeded data ends at END: "the last 30 days" are full
    async with signed_in_console(url, lambda: seed(tickets), supervisor=True, clock=END) as (api, http):
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
