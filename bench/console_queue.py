"""The console's queue at 100,000 tickets: ``python bench/console_queue.py [--tickets 100000] [--runs 200] [--no-postgres]``.

Seeds a shop as the reports benchmark does (bench/reports.py ``seed``: ``--tickets`` tickets over
180 days, two messages each, customers, questions, surveys, orders), gives the tickets their SLA
due times, and adds to every ticket one more customer message drawn from everyday complaints in
Chinese (simplified and traditional) and English, with its own order number: those are what the
search looks for. Then serves the console as ``kefu sandbox`` does (the Bot API emulator, the bot,
its HTTP server, all in this process; the bot takes no updates and runs none of its jobs, which at
100,000 tickets would be busy escalating them), signs an agent in with a one-time login link,
and times GET /console/tickets over HTTP with the session cookie, ``--runs`` times each after
three warm-ups: the first page, a deep page, filtered pages and searches; p50 and p99 in ms.
Last, the terms are taken from every message and the time the next start takes to give them back
is measured (what the first start after ``kefu db upgrade`` to 0019 does for an older database).
SQLite in a fresh file, PostgreSQL in a throw-away database (bench/common.py).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import POSTGRES_ADMIN_URL, signed_in_console, throwaway_database  # noqa: E402
from bench.reports import END, _insert, _moment, seed  # noqa: E402
from bot import privacy  # noqa: E402
from bot.core import sql  # noqa: E402
from bot.core.config import DatabaseSettings, Settings  # noqa: E402
from bot.runtime import open_database  # noqa: E402
from ticketing.models import Agent, TicketMessage  # noqa: E402

PHRASES = (
    "快递三天了还没到，什么时候能到？", "我要退款，东西质量太差了", "我的快遞還沒到，可以退款嗎？",
    "收到的衣服尺码不对，想换货", "发票怎么开？公司抬头", "客服态度很差，我要投诉",
    "Where is my parcel? It has been a week", "I want a refund for the broken blender",
    "The size is wrong, can I exchange it?", "Please send the invoice to my email",
    "包装破损了，里面的杯子碎了", "可以改地址吗？我搬家了", "优惠券用不了", "付款扣了两次钱",
    "物流信息一直不更新", "How long does delivery to Hong Kong take?", "請問有沒有現貨？",
    "这个颜色还有货吗", "I was charged twice for one order", "东西很好，谢谢客服",
)
"""Customers' words; 快递/快遞 and 退款 each come up in about one ticket in ten."""


def _searchable(rng: random.Random, tickets: int) -> Iterator[TicketMessage]:
    for n in range(1, tickets + 1):
        said = f"{rng.choice(PHRASES)} 订单号 SO{n:07d}"
        yield TicketMessage(ticket_id=n, direction="in", text=said, created_at=_moment(rng), nudged=3)


async def prepare(tickets: int) -> None:
    await seed(tickets)
    started = time.perf_counter()
    await sql.run(  # due times as SlaPolicy's normal priority would set them; the cards posted long ago
        "UPDATE ticket SET first_response_due = waiting_since + INTERVAL '4 hours',"
        " resolution_due = waiting_since + INTERVAL '27 hours', card_requested_at = created_at" if sql.postgres() else
        "UPDATE ticket SET first_response_due = datetime(waiting_since, '+4 hours') || '+00:00',"
        " resolution_due = datetime(waiting_since, '+27 hours') || '+00:00', card_requested_at = created_at"
    )
    added = await _insert(TicketMessage, _searchable(random.Random(11), tickets))
    print(f"  SLA due times and {added:,} searchable messages in {time.perf_counter() - started:.0f} s")


def _pages(agent_id: int, tickets: int) -> dict[str, dict[str, str]]:
    deep = tickets // 50
    return {
        "first page (working tickets)": {},
        "first page, all tickets": {"status": "all"},
        f"deep page, all tickets (after #{deep})": {"status": "all", "after": str(deep)},
        "filtered: category + agent + priority": {"status": "all", "category": "logistics", "agent": str(agent_id), "priority": "normal"},
        "filtered: breaching SLA": {"sla": "breached"},
        "filtered: unassigned working": {"agent": "none"},
        "search 退款 (1 in 10)": {"q": "退款"},
        "search 快遞 (traditional, 1 in 10)": {"q": "快遞"},
        "search refund (1 in 20)": {"q": "refund"},
        "search hello (every ticket)": {"q": "hello"},
        "search one order number": {"q": f"SO{tickets // 3:07d}"},
        "search 退款, deep page": {"q": "退款", "after": str(deep)},
    }


async def measure(url: str, tickets: int, runs: int) -> None:
    async with signed_in_console(url, lambda: prepare(tickets), supervisor=False) as (api, http):
        some = await Agent.filter(telegram_id=3).first()
        for label, params in _pages(some.id if some else 1, tickets).items():
            await _time_page(http, f"{api}/console/tickets", label, params, runs)
    settings = Settings(database=DatabaseSettings(url=url))
    async with open_database(settings):  # as after the upgrade to 0019: no message has terms yet
        await sql.run("UPDATE ticket_message SET search_terms = NULL")
        [count] = await sql.rows("SELECT COUNT(*) AS n FROM ticket_message WHERE text <> ''")
        started = time.perf_counter()
        indexed = await privacy.prepare()
        print(f"  the first start after the upgrade gave {indexed:,} of {int(count['n']):,} messages their terms"
              f" in {time.perf_counter() - started:.0f} s")


async def _time_page(http: aiohttp.ClientSession, url: str, label: str, params: dict[str, str], runs: int) -> None:
    times, rows = [], 0
    for run in range(runs + 3):  # three warm-ups
        started = time.perf_counter()
        async with http.get(url, params=params) as answer:
            body = await answer.text()
        if run >= 3:
            times.append((time.perf_counter() - started) * 1000)
        assert answer.status == 200, body[:500]
        rows = body.count('class="queue-row"')
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    print(f"  {label:<44} p50 {statistics.median(times):6.1f} ms   p99 {p99:6.1f} ms   ({rows} rows)")


async def run(tickets: int, runs: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        kinds = ["sqlite", "postgres"] if postgres else ["sqlite"]
        for kind in kinds:
            print(f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} ({tickets:,} tickets, {runs} runs a page; seeded to {END:%Y-%m-%d})")
            async with throwaway_database(kind, Path(folder), POSTGRES_ADMIN_URL, "console") as url:
                await measure(url, tickets, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    asyncio.run(run(args.tickets, args.runs, not args.no_postgres))


if __name__ == "__main__":
    main()
