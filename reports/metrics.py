"""The service metrics, aggregated in the database: one query per metric, whatever the data size.

Every query covers consecutive periods at once: ``bounds`` are the period boundaries (n + 1 of
them for n periods, oldest first) and results are keyed by the period's index and, when asked, a
breakdown key (a ticket's category, its assignee, the customer's segment). The report asks for
its own period, and for the headline metrics the last few periods in the same query.

Definitions are in reports/README.md. SQL is shared by SQLite and PostgreSQL: what differs
between them (parameters, times, time arithmetic, local dates, percentiles, JSON) is written by
bot/core/sql.py, the one dialect layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from bot.core import crypto, sql
from bot.core.sql import in_periods, period_of, period_params
from ticketing.models import WORKING

Breakdown = Literal["category", "agent", "segment"]
Key = tuple[int, Any]
"""A result's period index and breakdown value (None without a breakdown)."""

QUANTILES: Final = (0.5, 0.9)
BACKLOG_AGES: Final = (("<1d", timedelta(days=1)), ("1-3d", timedelta(days=3)), ("3-7d", timedelta(days=7)))
OLDEST_BACKLOG: Final = ">7d"
OPEN_STATUSES: Final = WORKING
TOP_MISSED: Final = 10


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int
    value: float | None
    """numerator ÷ denominator, None when nothing was counted."""


def ratio(numerator: int | None, denominator: int | None) -> Ratio:
    n, d = int(numerator or 0), int(denominator or 0)
    return Ratio(n, d, n / d if d else None)


@dataclass(frozen=True)
class Durations:
    """Median and 90th percentile (linear interpolation, as PostgreSQL's percentile_cont), seconds."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None
    business_count: int
    median_business_seconds: float | None
    p90_business_seconds: float | None


@dataclass(frozen=True)
class Csat:
    responses: int
    mean_score: float | None
    satisfied: Ratio
    """Responses scoring 4 or 5 ÷ responses."""
    score: float | None
    """The CSAT score: the satisfied share × 100."""


@dataclass(frozen=True)
class ServqualGap:
    responses: int
    expectation: float
    perception: float
    gap: float
    """Mean perception − mean expectation: negative where the shop falls short."""


@dataclass(frozen=True)
class Backlog:
    total: int
    by_age: dict[str, int]


@dataclass(frozen=True)
class MissedQuestion:
    normalized: str
    example: str
    count: int


# --- periods --------------------------------------------------------------------------------


def _grouped(key: str | None) -> tuple[str, str]:
    """The select expression of the breakdown key, and the GROUP BY clause (period first)."""
    return (key, "GROUP BY 1, 2") if key else ("NULL", "GROUP BY 1")


def _keyed(rows: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(int(row["b"]), row["k"]): row for row in rows}


TICKET_KEYS: Final[dict[Breakdown, str]] = {"category": "t.category", "agent": "t.assignee_id", "segment": "c.segment"}


def _ticket_key(by: Breakdown | None) -> tuple[str | None, str]:
    """The breakdown expression over ``ticket t`` and the join it needs."""
    if by is None:
        return None, ""
    return TICKET_KEYS[by], ("JOIN customer c ON c.id = t.customer_id" if by == "segment" else "")


# --- complaints and tickets -----------------------------------------------------------------


async def active_customers(bounds: Sequence[datetime]) -> dict[Key, dict[str, int]]:
    """Per period and customer segment: customers active, those who complained, those returning.

    Active: asked the bot a question, opened a ticket, or wrote in a ticket (an incoming
    message) in the period. Complained: opened a ticket marked as a complaint in the period.
    Returning: first seen before the period. A customer has one segment, so the periods' totals
    are the sums over segments.
    """
    period_start = f"CASE a.b {' '.join(f'WHEN {i} THEN :b{i}' for i in range(len(bounds) - 1))} END"
    # One row per (period, customer) from a UNION ALL and GROUP BY, no join between derived
    # tables: a join there can turn into a nested loop when table statistics are stale.
    query = f"""
        WITH event AS (
            SELECT {period_of("q.asked_at", bounds)} AS b, q.customer_id AS customer_id, 0 AS complaint
            FROM kb_question q WHERE {in_periods("q.asked_at", bounds)}
            UNION ALL
            SELECT {period_of("t.created_at", bounds)}, t.customer_id, CASE WHEN t.is_complaint THEN 1 ELSE 0 END
            FROM ticket t WHERE {in_periods("t.created_at", bounds)}
            UNION ALL
            SELECT {period_of("m.created_at", bounds)}, t.customer_id, 0
            FROM ticket_message m JOIN ticket t ON t.id = m.ticket_id
            WHERE m.direction = 'in' AND {in_periods("m.created_at", bounds)}
        ), active AS (
            SELECT b, customer_id, MAX(complaint) AS complained FROM event GROUP BY b, customer_id
        )
        SELECT a.b AS b, c.segment AS k, COUNT(*) AS active, SUM(a.complained) AS complained,
            SUM(CASE WHEN c.first_seen < {period_start} THEN 1 ELSE 0 END) AS returning_customers
        FROM active a JOIN customer c ON c.id = a.customer_id
        GROUP BY a.b, c.segment
    """
    rows = await sql.rows(query, **period_params(bounds))
    return {
        k: {
            "active": int(r["active"]),
            "complained": int(r["complained"] or 0),
            "returning": int(r["returning_customers"] or 0),
        }
        for k, r in _keyed(rows).items()
    }


def totals(results: Mapping[Key, Mapping[str, int]]) -> dict[int, dict[str, int]]:
    """Counts per period, summed over the breakdown."""
    summed: dict[int, dict[str, int]] = {}
    for (b, _), counts in results.items():
        into = summed.setdefault(b, dict.fromkeys(counts, 0))
        for name, n in counts.items():
            into[name] += n
    return summed


async def tickets_created(bounds: Sequence[datetime], by: Breakdown | None = None) -> dict[Key, dict[str, int]]:
    """Per period (and breakdown), tickets created: all, escalated (SLA breached), complaints, repeat complaints."""
    key, join = _ticket_key(by)
    select_key, group = _grouped(key)
    query = f"""
        SELECT {period_of("t.created_at", bounds)} AS b, {select_key} AS k, COUNT(*) AS created,
            SUM(CASE WHEN t.escalated_at IS NOT NULL THEN 1 ELSE 0 END) AS escalated,
            SUM(CASE WHEN t.is_complaint THEN 1 ELSE 0 END) AS complaints,
            SUM(CASE WHEN t.is_complaint AND t.repeat_of_id IS NOT NULL THEN 1 ELSE 0 END) AS repeats
        FROM ticket t {join}
        WHERE {in_periods("t.created_at", bounds)}
        {group}
    """
    rows = await sql.rows(query, **period_params(bounds))
    names = ("created", "escalated", "complaints", "repeats")
    return {k: {name: int(r[name] or 0) for name in names} for k, r in _keyed(rows).items()}


async def tickets_resolved(bounds: Sequence[datetime], by: Breakdown | None = None) -> dict[Key, dict[str, int]]:
    """Per period (and breakdown), tickets resolved (resolved_at in the period) and how many of them were reopened."""
    key, join = _ticket_key(by)
    select_key, group = _grouped(key)
    query = f"""
        SELECT {period_of("t.resolved_at", bounds)} AS b, {select_key} AS k, COUNT(*) AS resolved,
            SUM(CASE WHEN t.reopen_count > 0 THEN 1 ELSE 0 END) AS reopened
        FROM ticket t {join}
        WHERE {in_periods("t.resolved_at", bounds)}
        {group}
    """
    rows = await sql.rows(query, **period_params(bounds))
    return {k: {"resolved": int(r["resolved"]), "reopened": int(r["reopened"] or 0)} for k, r in _keyed(rows).items()}


async def durations(
    bounds: Sequence[datetime], kind: Literal["first_response", "resolution"], by: Breakdown | None = None
) -> dict[Key, Durations]:
    """First-response or resolution times of the tickets that got it in the period.

    First response: first_response_at − waiting_since, over tickets first answered in the
    period (a reopened ticket's waiting_since moves past its first answer: its wall-clock time
    is left out, its stored business seconds stay). Resolution: resolved_at − created_at, over
    tickets resolved in the period.
    """
    at, start, business = {
        "first_response": ("t.first_response_at", "t.waiting_since", "t.first_response_business_seconds"),
        "resolution": ("t.resolved_at", "t.created_at", "t.resolution_business_seconds"),
    }[kind]
    key, join = _ticket_key(by)
    key = key or "NULL"
    head = f"SELECT {period_of(at, bounds)} AS b, {key} AS k"
    wall = f"{head}, {sql.seconds_between(at, start)} AS x FROM ticket t {join} WHERE {in_periods(at, bounds)} AND {at} >= {start}"
    paid = f"{head}, {business} AS x FROM ticket t {join} WHERE {in_periods(at, bounds)} AND {business} IS NOT NULL"
    walls, businesses = await _percentiles(wall, bounds), await _percentiles(paid, bounds)
    result = {}
    for k in walls.keys() | businesses.keys():
        count, (median, p90) = walls.get(k, (0, [None, None]))
        business_count, (business_median, business_p90) = businesses.get(k, (0, [None, None]))
        result[k] = Durations(count, median, p90, business_count, business_median, business_p90)
    return result


async def _percentiles(source: str, bounds: Sequence[datetime]) -> dict[Key, tuple[int, list[float | None]]]:
    """Count and QUANTILES of ``x`` per (b, k) of ``source`` (a SELECT of b, k, x), to the millisecond."""
    found = await sql.percentiles(source, QUANTILES, ("b", "k"), **period_params(bounds))
    return {(int(b), k): (n, [round(q, 3) for q in qs]) for (b, k), (n, qs) in found.items()}


async def backlog(end: datetime) -> Backlog:
    """Tickets open at ``end``, by age (end − created_at).

    Open at ``end``: created before it, and either still new, open or pending, or resolved (or
    closed) at or after it. A reopened ticket forgets its earlier resolution, so for an ``end``
    in the past a ticket resolved then and reopened since counts as open.
    """
    cases = " ".join(f"WHEN t.created_at > :age{i} THEN '{label}'" for i, (label, _) in enumerate(BACKLOG_AGES))
    statuses = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    rows = await sql.rows(
        f"""
        SELECT CASE {cases} ELSE '{OLDEST_BACKLOG}' END AS age, COUNT(*) AS n
        FROM ticket t
        WHERE t.created_at < :end AND (t.status IN ({statuses}) OR COALESCE(t.resolved_at, t.closed_at) >= :end)
        GROUP BY 1
        """,
        end=end, **{f"age{i}": end - age for i, (_, age) in enumerate(BACKLOG_AGES)},
    )
    counts = {r["age"]: int(r["n"]) for r in rows}
    by_age = {label: counts.get(label, 0) for label in [*(label for label, _ in BACKLOG_AGES), OLDEST_BACKLOG]}
    return Backlog(sum(by_age.values()), by_age)


# --- satisfaction ---------------------------------------------------------------------------


async def csat(bounds: Sequence[datetime], by: Breakdown | None = None) -> dict[Key, Csat]:
    """CSAT responses answered in the period: the rated ticket's category and assignee, the customer's segment."""
    key = {None: None, "category": "t.category", "agent": "t.assignee_id", "segment": "c.segment"}[by]
    select_key, group = _grouped(key)
    query = f"""
        SELECT {period_of("s.answered_at", bounds)} AS b, {select_key} AS k, COUNT(*) AS n, SUM(s.score) AS total,
            SUM(CASE WHEN s.score >= 4 THEN 1 ELSE 0 END) AS satisfied
        FROM survey_response s
        LEFT JOIN ticket t ON t.id = s.ticket_id
        {"JOIN customer c ON c.id = s.customer_id" if by == "segment" else ""}
        WHERE s.kind = 'csat' AND s.score IS NOT NULL AND {in_periods("s.answered_at", bounds)}
        {group}
    """
    result = {}
    for k, r in _keyed(await sql.rows(query, **period_params(bounds))).items():
        n, satisfied = int(r["n"]), ratio(r["satisfied"], r["n"])
        score = satisfied.value * 100 if satisfied.value is not None else None
        result[k] = Csat(n, int(r["total"]) / n, satisfied, score)
    return result


async def surveys_sent(bounds: Sequence[datetime]) -> dict[int, int]:
    """CSAT surveys sent per period (outbox rows of kind survey, status sent, by sent_at)."""
    rows = await sql.rows(
        f"""
        SELECT {period_of("o.sent_at", bounds)} AS b, COUNT(*) AS n FROM outbox o
        WHERE o.kind = 'survey' AND o.status = 'sent' AND {in_periods("o.sent_at", bounds)}
        GROUP BY 1
        """,
        **period_params(bounds),
    )
    return {int(r["b"]): int(r["n"]) for r in rows}


async def servqual_gaps(start: datetime, end: datetime) -> dict[str, ServqualGap]:
    """Per dimension, over SERVQUAL responses answered in the period that rated both its sides."""
    expectation, perception = sql.json_number("j.value", "expectation"), sql.json_number("j.value", "perception")
    rows = await sql.rows(
        f"""
        SELECT j.key AS dimension, COUNT(*) AS n, SUM({expectation}) AS expectation, SUM({perception}) AS perception
        FROM survey_response s {sql.json_entries("s.servqual", "j")}
        WHERE s.kind = 'servqual' AND s.answered_at >= :start AND s.answered_at < :end
            AND {sql.json_kind("s.servqual")} = 'object'
            AND {expectation} IS NOT NULL AND {perception} IS NOT NULL
        GROUP BY j.key ORDER BY j.key
        """,
        start=start, end=end,
    )
    gaps = {}
    for r in rows:
        n = int(r["n"])
        e, p = float(r["expectation"]) / n, float(r["perception"]) / n
        gaps[r["dimension"]] = ServqualGap(n, e, p, p - e)
    return gaps


# --- the bot --------------------------------------------------------------------------------


async def deflection(bounds: Sequence[datetime], zone: str) -> dict[int, Ratio]:
    """Per period, conversations the bot settled without a ticket ÷ conversations.

    A conversation is a customer's day (in the shop's time zone) with at least one question; it
    was deflected when the customer opened no ticket that day. It counts in the period of its
    first question (a day can straddle a period boundary when periods don't start at midnight).
    """
    # Tickets are looked up a day beyond the periods: the day of a question may reach past them.
    params: dict[str, Any] = {
        **period_params(bounds), "t0": bounds[0] - timedelta(days=1), "t1": bounds[-1] + timedelta(days=1),
    }
    days = sql.local_dates(zone, params["t0"], params["t1"])
    params.update(days.params)
    asked, opened = days.of("q.asked_at"), days.of("t.created_at")
    # Question and ticket days in one list, grouped by (customer, day): no join, so the plan
    # stays a single sort or hash whatever the planner believes of the table sizes.
    rows = await sql.rows(
        f"""
        WITH event AS (
            SELECT {period_of("q.asked_at", bounds)} AS b, q.customer_id AS customer_id, {asked} AS day, 0 AS ticket
            FROM kb_question q WHERE {in_periods("q.asked_at", bounds)}
            UNION ALL
            SELECT NULL, t.customer_id, {opened}, 1
            FROM ticket t WHERE t.created_at >= :t0 AND t.created_at < :t1
        ), conversation AS (
            SELECT MIN(b) AS b, MAX(ticket) AS ticketed FROM event GROUP BY customer_id, day
        )
        SELECT b, COUNT(*) AS conversations, SUM(1 - ticketed) AS deflected
        FROM conversation WHERE b IS NOT NULL GROUP BY b
        """,
        **params,
    )
    return {int(r["b"]): ratio(r["deflected"], r["conversations"]) for r in rows}


@dataclass(frozen=True)
class QuestionCounts:
    questions: int
    hits: int
    """Answered with confidence: band high, action answer."""
    thumbs_up: int
    thumbs_down: int


async def question_counts(start: datetime, end: datetime) -> QuestionCounts:
    [r] = await sql.rows(
        """
        SELECT COUNT(*) AS questions,
            SUM(CASE WHEN q.band = 'high' AND q.action = 'answer' THEN 1 ELSE 0 END) AS hits,
            SUM(CASE WHEN q.feedback = 'up' THEN 1 ELSE 0 END) AS up,
            SUM(CASE WHEN q.feedback = 'down' THEN 1 ELSE 0 END) AS down
        FROM kb_question q WHERE q.asked_at >= :start AND q.asked_at < :end
        """,
        start=start, end=end,
    )
    return QuestionCounts(int(r["questions"]), int(r["hits"] or 0), int(r["up"] or 0), int(r["down"] or 0))


async def missed_questions(start: datetime, end: datetime, limit: int = TOP_MISSED) -> list[MissedQuestion]:
    """Questions the bot could not answer (low band) or answered badly (👎), most frequent first.

    Grouped by their normalized text; ties go to the one asked first. The example is the
    smallest of the group's texts, a stable pick on both databases.
    """
    rows = await sql.rows(
        f"""
        SELECT q.normalized AS normalized, MIN(q.text) AS example, COUNT(*) AS n
        FROM kb_question q {sql.full_scan()}
        WHERE q.asked_at >= :start AND q.asked_at < :end AND (q.band = 'low' OR q.feedback = 'down')
            AND q.normalized <> ''
        GROUP BY q.normalized ORDER BY n DESC, MIN(q.asked_at), q.normalized LIMIT {int(limit)}
        """,
        start=start, end=end,
    )
    return [MissedQuestion(r["normalized"], r["example"], int(r["n"])) for r in rows]


# --- customers ------------------------------------------------------------------------------


async def new_customers(start: datetime, end: datetime) -> int:
    """Customers first seen in the period."""
    [r] = await sql.rows(
        "SELECT COUNT(*) AS n FROM customer c WHERE c.first_seen >= :start AND c.first_seen < :end",
        start=start, end=end,
    )
    return int(r["n"])


async def agent_names() -> dict[str, str]:
    """Names are encrypted at rest: without the key (a report run without it) an agent is their number."""
    keyring = crypto.installed()

    def name(row: dict[str, Any]) -> str:
        if keyring is not None:
            return keyring.reveal(row["name"])
        return f"#{row['id']}" if crypto.looks_encrypted(row["name"]) else row["name"]

    return {str(r["id"]): name(r) for r in await sql.rows("SELECT id, name FROM agent ORDER BY id")}


def by_key(results: Mapping[Key, Any], period: int, label: Any = None) -> dict[str, Any]:
    """One period's results keyed by the breakdown value as text (None becomes ``label`` or "none")."""
    return {
        str(k if k is not None else (label or "none")): value
        for (b, k), value in sorted(results.items(), key=lambda item: (item[0][1] is None, str(item[0][1])))
        if b == period
    }


def per_period(results: Mapping[Key, Any]) -> dict[int, Any]:
    """Results without a breakdown, keyed by period index."""
    return {b: value for (b, _), value in results.items()}
