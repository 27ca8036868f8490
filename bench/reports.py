"""Reports benchmark: ``python bench/reports.py [--tickets 100000] [--no-postgres]``.

Seeds a shop with ``--tickets`` tickets over 180 days and proportional data (a customer for
every 5 tickets, 2 questions and 2 ticket messages a ticket, CSAT answers for 40 % of them,
SERVQUAL for 5 %, a sent survey for 50 %, an order for 50 % with its carrier, shipping and
delivery times and two tracking scans, 5 % of them an exception) into a fresh SQLite file and a
fresh PostgreSQL database (``kefu_bench_reports``, created and dropped), with bulk inserts; then
times ``compute_report`` (6 periods, so the series reach 6 × the period back) for the last 30
and the last 90 days on each, three runs each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import privacy  # noqa: E402
from bot.core import crypto, db  # noqa: E402
from knowledge_base.loader import load_entries  # noqa: E402
from knowledge_base.models import Question  # noqa: E402
from orders.models import DeliveryException, EventKind, Order, OrderEvent, OrderStatus  # noqa: E402
from reports import compute_report  # noqa: E402
from scheduler.models import OutboxMessage, SurveyResponse  # noqa: E402
from ticketing.models import Agent, Customer, Ticket, TicketMessage  # noqa: E402
from ticketing.triage import CATEGORIES  # noqa: E402

END = datetime(2026, 11, 23, tzinfo=UTC)
SPAN = timedelta(days=180)
BATCH = 2000
DATABASE = "kefu_bench_reports"
ADMIN_URL = os.environ.get("KEFU_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
QUESTIONS = [f"question {n}" for n in range(400)]
ENTRIES = sorted(load_entries([]))
"""The shipped KB's entry ids: a question's entry follows from its text, about a third pre-sale."""
CARRIERS = ("SF", "ZTO", "YTO", "JD", "EMS", None)


def _moment(rng: random.Random, span: timedelta = SPAN) -> datetime:
    return END - timedelta(seconds=rng.randrange(int(span.total_seconds())))


def _customers(rng: random.Random, count: int) -> Iterator[Customer]:
    for n in range(count):
        seen = _moment(rng, timedelta(days=365))
        yield Customer(
            telegram_id=10_000_000 + n, first_name=f"C{n}", phone=f"+86138{n:08d}",
            segment=rng.choice(("new", "returning", "vip", "inactive")), first_seen=seen, last_seen=seen, tags=[],
        )


def _tickets(rng: random.Random, count: int, customers: int, agents: int) -> Iterator[Ticket]:
    for n in range(1, count + 1):
        created = _moment(rng)
        complaint = rng.random() < 0.6
        answered = created + timedelta(minutes=rng.randrange(5, 3000)) if rng.random() < 0.85 else None
        resolved = created + timedelta(minutes=rng.randrange(60, 20000)) if answered and rng.random() < 0.8 else None
        resolved = resolved if resolved and resolved < END else None
        status = "closed" if resolved and rng.random() < 0.8 else "resolved" if resolved else rng.choice(("new", "open", "pending"))
        yield Ticket(
            customer_id=rng.randrange(1, customers + 1), active_customer_id=None,
            source="complaint" if complaint else rng.choice(("handoff", "feedback", "command", "order")),
            is_complaint=complaint, category=rng.choice(CATEGORIES), priority="normal", status=status,
            assignee_id=rng.randrange(1, agents + 1) if answered else None,
            repeat_of_id=rng.randrange(1, n) if complaint and n > 1 and rng.random() < 0.15 else None,
            reopen_count=1 if resolved and rng.random() < 0.05 else 0,
            waiting_since=created, first_response_at=answered,
            first_response_business_seconds=int((answered - created).total_seconds() * 0.6) if answered else None,
            resolved_at=resolved, closed_at=resolved if status == "closed" else None,
            resolution_business_seconds=int((resolved - created).total_seconds() * 0.5) if resolved else None,
            escalated_at=created + timedelta(hours=4) if rng.random() < 0.1 else None,
            created_at=created, updated_at=created,
        )


def _messages(rng: random.Random, tickets: int, agents: int) -> Iterator[TicketMessage]:
    for n in range(1, tickets + 1):
        at = _moment(rng)
        reply = at + timedelta(seconds=rng.randrange(10, 900))  # the reply answers the message (reports/agents.py)
        wait = int((reply - at).total_seconds())
        yield TicketMessage(ticket_id=n, direction="in", text="hello", created_at=at, answered_at=reply,
                            response_seconds=wait, response_business_seconds=wait // 2)
        yield TicketMessage(ticket_id=n, direction="out", text="hi", agent_id=rng.randrange(1, agents + 1),
                            created_at=reply)


def _questions(rng: random.Random, count: int, customers: int) -> Iterator[Question]:
    for _ in range(count):
        band = rng.choices(("high", "middle", "low"), (0.7, 0.2, 0.1))[0]
        normalized = rng.choice(QUESTIONS)
        yield Question(
            customer_id=rng.randrange(1, customers + 1), text=normalized, normalized=normalized, language="en",
            action=rng.choice(("answer", "answer", "answer", "order_status", "handoff", None)), band=band,
            feedback=rng.choice((None, None, None, "up", "down")), asked_at=_moment(rng),
            entry_id=ENTRIES[QUESTIONS.index(normalized) % len(ENTRIES)],
        )


def _surveys(rng: random.Random, tickets: int, customers: int) -> Iterator[SurveyResponse]:
    for n in range(1, tickets + 1):
        at = _moment(rng)
        if rng.random() < 0.4:
            yield SurveyResponse(
                customer_id=rng.randrange(1, customers + 1), kind="csat", subject_key=f"ticket:{n}", ticket_id=n,
                score=rng.randint(1, 5), answered_at=at, updated_at=at,
            )
        if rng.random() < 0.05:
            answers = {
                d: {"expectation": rng.randint(4, 7), "perception": rng.randint(1, 7)}
                for d in ("reliability", "responsiveness", "assurance", "empathy", "tangibles")
            }
            yield SurveyResponse(
                customer_id=rng.randrange(1, customers + 1), kind="servqual", subject_key=f"ticket:{n}", ticket_id=n,
                servqual=answers, answered_at=at, updated_at=at,
            )


def _outbox(rng: random.Random, count: int, customers: int) -> Iterator[OutboxMessage]:
    for n in range(count):
        at = _moment(rng)
        yield OutboxMessage(
            customer_id=rng.randrange(1, customers + 1), kind="survey", key=f"survey:ticket:{n}", payload={},
            due_at=at, status="sent", attempts=1, sent_at=at, settled_at=at,
        )


def _orders(rng: random.Random, count: int, customers: int) -> Iterator[Order]:
    statuses = list(OrderStatus)
    road = random.Random(22)  # the logistics columns: their own draws, the rest of the seed unchanged
    for n in range(count):
        at = _moment(rng, timedelta(days=540))
        shipped = at + timedelta(hours=road.uniform(2, 72)) if road.random() < 0.8 else None
        delivered = shipped + timedelta(hours=road.uniform(12, 150)) if shipped and road.random() < 0.9 else None
        yield Order(
            order_no=f"BENCH{n:08d}", phone=f"+86138{rng.randrange(customers):08d}", status=rng.choice(statuses),
            items=[], amount=Decimal(rng.randrange(1000, 100000)) / 100, currency="CNY", created_at=at, updated_at=at,
            carrier=road.choice(CARRIERS), shipped_at=shipped, delivered_at=delivered,
            expected_delivery=(at + timedelta(days=4)).date() if road.random() < 0.5 else None,
        )


def _order_events(count: int) -> Iterator[OrderEvent]:
    """Two tracking scans per order, every 20th with an exception (orders are ids 1 … count)."""
    road, kinds = random.Random(23), list(DeliveryException)
    for n in range(1, count + 1):
        at = _moment(road, timedelta(days=540))
        for scan in range(2):
            exception = road.choice(kinds) if scan and n % 20 == 0 else None
            yield OrderEvent(order_id=n, kind=EventKind.TRACKING, happened_at=at + timedelta(hours=scan),
                             description="scan", exception=exception, recorded_at=at)


async def _insert(model: Any, rows: Iterator[Any]) -> int:
    batch, total = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            await model.bulk_create(batch)
            total, batch = total + len(batch), []
    if batch:
        await model.bulk_create(batch)
        total += len(batch)
    return total


async def seed(tickets: int) -> None:
    rng = random.Random(7)
    customers, agents = tickets // 5, 20
    started = time.perf_counter()
    await _insert(Agent, (Agent(telegram_id=n, name=f"Agent {n}") for n in range(1, agents + 1)))
    counts = {
        "customers": await _insert(Customer, _customers(rng, customers)),
        "tickets": await _insert(Ticket, _tickets(rng, tickets, customers, agents)),
        "ticket messages": await _insert(TicketMessage, _messages(rng, tickets, agents)),
        "questions": await _insert(Question, _questions(rng, 2 * tickets, customers)),
        "survey responses": await _insert(SurveyResponse, _surveys(rng, tickets, customers)),
        "surveys sent": await _insert(OutboxMessage, _outbox(rng, tickets // 2, customers)),
        "orders": await _insert(Order, _orders(rng, tickets // 2, customers)),
        "order events": await _insert(OrderEvent, _order_events(tickets // 2)),
    }
    print(f"  seeded in {time.perf_counter() - started:.0f} s: " + ", ".join(f"{n:,} {what}" for what, n in counts.items()))


async def measure(url: str, tickets: int) -> None:
    crypto.install([crypto.new_key()])  # customers' names are stored encrypted, as kefu stores them
    async with db.database(url, ready=privacy.prepare):
        await seed(tickets)
        for days in (30, 90):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                report = await compute_report(END - timedelta(days=days), END, timezone="Asia/Shanghai")
                times.append(time.perf_counter() - started)
            print(
                f"  {days}-day report (series back {6 * days} days): "
                + " / ".join(f"{t:.2f}" for t in times)
                + f" s  [{report.service.tickets_created:,} tickets created in the period,"
                f" complaint rate {report.complaints.rate.value:.3f}]"
            )


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def run(tickets: int, postgres: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        print(f"SQLite ({tickets:,} tickets)")
        await measure(f"sqlite://{Path(folder) / 'kefu.db'}", tickets)
    if postgres:
        print(f"PostgreSQL ({tickets:,} tickets)")
        await _admin(f"DROP DATABASE IF EXISTS {DATABASE}")
        await _admin(f"CREATE DATABASE {DATABASE}")
        try:
            await measure(f"{ADMIN_URL.rsplit('/', 1)[0]}/{DATABASE}", tickets)
        finally:
            await _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    asyncio.run(run(args.tickets, not args.no_postgres))


if __name__ == "__main__":
    main()
