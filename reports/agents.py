"""Per-agent figures as Chinese shop platforms (Taobao, JD, 千牛) show them to a service manager.

Each agent's 3-minute response rate, average and p90 response time per customer message, 答问比
(agent messages ÷ customer messages), tickets handled, resolved and reopened, CSAT and quality
warnings, for the period [start, end). Everything is aggregated in the database (a handful of
GROUP BYs, whatever the data size); definitions are in reports/README.md, "Per agent".

A customer message belongs to the agent whose reply answered it (the ticket's ``out`` message
written at the message's ``answered_at``: ticketing/service.py stamps both with the same time),
and while unanswered to the ticket's assignee. A ticket handed off by the bot starts with the
customer's message stamped at the hand-off (ticketing/service.py open_ticket), so the first
response is counted from the hand-off, not from the questions the bot answered before.
Tickets an agent opened (``source = 'agent'``, /contact) have no customer waiting: they are left
out of response times. No Telegram here: data in, dataclasses out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from bot.core import sql
from reports import metrics
from ticketing.quality import WARNING
from ticketing.responses import FAST, UNKNOWN

UNASSIGNED: Final = "unassigned"
"""The by-agent breakdowns' key of tickets without an assignee (reports/__init__.py)."""
FAST_SECONDS: Final = int(FAST.total_seconds())
P90: Final = 0.9


@dataclass(frozen=True)
class AgentFigures:
    """One agent's figures over the period; a figure without data is None."""

    agent: str
    """The agent's id, as the keys of ``Report.agents``."""
    name: str
    customer_messages: int
    """Customer messages written in the period that are this agent's (answered by them, or
    unanswered in their ticket)."""
    answered_fast: int
    """Of those, answered within 180 s of business time."""
    response_rate_180s: float | None
    response_avg_seconds: float | None
    """Mean wall-clock seconds from a customer message to the reply that answered it (answered messages)."""
    response_p90_seconds: float | None
    response_avg_business_seconds: float | None
    answer_ratio: float | None
    """答问比: agent messages ÷ customer messages written in the period in tickets assigned to the agent."""
    agent_messages: int
    ticket_customer_messages: int
    handled: int
    """Tickets the agent replied to in the period."""
    resolved: int
    """Tickets assigned to the agent resolved in the period."""
    reopened: int
    """Of those, tickets that had been reopened."""
    csat: float | None
    """CSAT score (share of 4 and 5 × 100) of the answers about the agent's tickets in the period."""
    csat_responses: int
    quality_warnings: int


async def per_agent(
    start: datetime, end: datetime, names: Mapping[str, str], *,
    reopen_rates: Mapping[str, metrics.Ratio] | None = None, csat: Mapping[str, metrics.Csat] | None = None,
) -> list[AgentFigures]:
    """The agents with anything to count in [start, end), by id; ``names``: id → name (Report.agents).

    ``reopen_rates`` (reopened ÷ resolved per agent) and ``csat`` per agent are what the report
    computed already for the same period (its service and satisfaction sections): given, they
    are not queried again."""
    counted = await responses(start, end)
    p90 = await _p90(start, end)
    ratio = await _answer_ratio(start, end)
    handled = await _handled(start, end)
    if reopen_rates is None:
        counts = metrics.by_key(await metrics.tickets_resolved([start, end], "agent"), 0)
        reopen_rates = {a: metrics.ratio(c["reopened"], c["resolved"]) for a, c in counts.items()}
    resolved = {a: {"resolved": r.denominator, "reopened": r.numerator} for a, r in reopen_rates.items()}
    if csat is None:
        csat = metrics.by_key(await metrics.csat([start, end], "agent"), 0)
    warnings = await _warnings(start, end)
    seen = counted.keys() | ratio.keys() | handled.keys() | resolved.keys() | csat.keys() | warnings.keys()
    seen -= {"none", UNASSIGNED}
    rows = []
    for agent in sorted(seen, key=lambda a: (not a.isdigit(), int(a) if a.isdigit() else 0, a)):
        r = counted.get(agent, {})
        messages, fast, answered = r.get("messages", 0), r.get("fast", 0), r.get("answered", 0)
        answers, questions = ratio.get(agent, (0, 0))
        done = resolved.get(agent, {"resolved": 0, "reopened": 0})
        rating = csat.get(agent)
        rows.append(AgentFigures(
            agent=agent, name=names.get(agent, f"#{agent}"),
            customer_messages=messages, answered_fast=fast,
            response_rate_180s=fast / messages if messages else None,
            response_avg_seconds=round(r["wall"] / answered, 3) if answered else None,
            response_p90_seconds=p90.get(agent),
            response_avg_business_seconds=round(r["business"] / r["business_n"], 3) if r.get("business_n") else None,
            answer_ratio=answers / questions if questions else None,
            agent_messages=answers, ticket_customer_messages=questions,
            handled=handled.get(agent, 0), resolved=done["resolved"], reopened=done["reopened"],
            csat=rating.score if rating is not None else None, csat_responses=rating.responses if rating else 0,
            quality_warnings=warnings.get(agent, 0),
        ))
    return rows


def _messages() -> str:
    """Customer messages of the period with the agent they belong to (k), wall (x) and business (bx) seconds.

    The answering reply is found by a join on (ticket, time) with the period's replies grouped
    once, never a lookup per message (ticket_message has no index on its ticket)."""
    return f"""
        WITH reply AS (
            SELECT o.ticket_id AS ticket_id, o.created_at AS at, MIN(o.agent_id) AS agent_id
            FROM ticket_message o WHERE o.direction = 'out' AND o.created_at >= :start
            GROUP BY o.ticket_id, o.created_at
        )
        SELECT COALESCE(r.agent_id, t.assignee_id) AS k, m.response_seconds AS x, m.response_business_seconds AS bx
        FROM ticket_message m JOIN ticket t ON t.id = m.ticket_id
        LEFT JOIN reply r ON r.ticket_id = m.ticket_id AND r.at = m.answered_at
        WHERE m.direction = 'in' AND m.created_at >= :start AND m.created_at < :end
            AND m.nudged <> {UNKNOWN} AND t.source <> 'agent'
    """


def _key(value: Any) -> str:
    return "none" if value is None else str(value)


async def responses(start: datetime, end: datetime) -> dict[str, dict[str, float]]:
    """Per agent (id as text, "none" for unassigned): ``messages`` written in the period, those
    answered within 180 s of business time (``fast``; unanswered count as slow, as
    ticketing/responses.py counts), and the sums for the mean response times. /metrics reads it too."""
    found = await sql.rows(
        f"""
        SELECT k, COUNT(*) AS messages, SUM(CASE WHEN bx <= {FAST_SECONDS} THEN 1 ELSE 0 END) AS fast,
            COUNT(x) AS answered, SUM(x) AS wall, COUNT(bx) AS business_n, SUM(bx) AS business
        FROM ({_messages()}) s GROUP BY k
        """,
        start=start, end=end,
    )
    return {
        _key(r["k"]): {
            "messages": int(r["messages"]), "fast": int(r["fast"] or 0), "answered": int(r["answered"]),
            "wall": float(r["wall"] or 0), "business_n": int(r["business_n"]), "business": float(r["business"] or 0),
        }
        for r in found
    }


async def _p90(start: datetime, end: datetime) -> dict[str, float]:
    """Per agent, the 90th percentile of wall-clock response seconds of answered messages."""
    source = f"SELECT k, x FROM ({_messages()}) m2 WHERE x IS NOT NULL"
    found = await sql.percentiles(source, (P90,), ("k",), start=start, end=end)
    return {_key(k): round(qs[0], 3) for (k,), (_, qs) in found.items()}


async def _answer_ratio(start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """Per assignee: agent messages (``out``) and customer messages (``in``) written in the period in their tickets."""
    found = await sql.rows(
        """
        SELECT t.assignee_id AS k, SUM(CASE WHEN m.direction = 'out' THEN 1 ELSE 0 END) AS answers,
            SUM(CASE WHEN m.direction = 'in' THEN 1 ELSE 0 END) AS questions
        FROM ticket_message m JOIN ticket t ON t.id = m.ticket_id
        WHERE m.created_at >= :start AND m.created_at < :end AND m.direction IN ('in', 'out')
            AND t.assignee_id IS NOT NULL
        GROUP BY t.assignee_id
        """,
        start=start, end=end,
    )
    return {_key(r["k"]): (int(r["answers"] or 0), int(r["questions"] or 0)) for r in found}


async def _handled(start: datetime, end: datetime) -> dict[str, int]:
    """Per agent, the tickets they replied to in the period."""
    found = await sql.rows(
        """
        SELECT m.agent_id AS k, COUNT(DISTINCT m.ticket_id) AS n FROM ticket_message m
        WHERE m.direction = 'out' AND m.agent_id IS NOT NULL AND m.created_at >= :start AND m.created_at < :end
        GROUP BY m.agent_id
        """,
        start=start, end=end,
    )
    return {_key(r["k"]): int(r["n"]) for r in found}


async def _warnings(start: datetime, end: datetime) -> dict[str, int]:
    """Per agent, quality warnings in the period (audit rows whose actor is ``agent:<Telegram id>``)."""
    found = await sql.rows(
        "SELECT e.actor AS actor, COUNT(*) AS n FROM ticket_event e WHERE e.kind = :kind AND e.at >= :start"
        " AND e.at < :end GROUP BY e.actor",
        kind=WARNING, start=start, end=end,
    )
    if not found:
        return {}
    ids = {int(r["telegram_id"]): str(r["id"]) for r in await sql.rows("SELECT id, telegram_id FROM agent")}
    counts: dict[str, int] = {}
    for r in found:
        kind, _, who = str(r["actor"]).partition(":")
        if kind == "agent" and who.isdigit() and int(who) in ids:
            counts[ids[int(who)]] = counts.get(ids[int(who)], 0) + int(r["n"])
    return counts
