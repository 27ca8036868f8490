"""Per-agent figures (reports/agents.py): a hand-made fortnight with two agents, counted by hand,
on SQLite and PostgreSQL; and /report agents in the agent group.

The period is [Mon 9 Nov, Mon 23 Nov 2026) in Asia/Shanghai. Wang (agent 1) and Li (agent 2):

- Ticket A (Wang, hand-off, resolved once reopened): m1 answered by Wang in 120 s (fast), m2 in
  300 s (slow), m7 written before response times were kept (left out of response times, counted
  in 答问比); Wang writes 3 replies.
- Ticket B (Wang's, Li covers): m3 answered by Li in 60 s (Li's, fast), m4 never answered
  (Wang's, slow); Li writes 1 reply.
- Ticket C (Li, hand-off at night): m5 answered the next morning, 39,660 s of wall clock but 60 s
  of business time (fast); Li writes 2 replies; resolved; CSAT 5.
- Ticket D (Li, /contact, ``source = 'agent'``): m6 answered in 600 s, left out of response
  times; Li writes 2 replies.
- Ticket F (Wang), before the period: nothing of it counts.
- CSAT 2 about ticket A; two quality warnings for Li in the period, one before it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot import monitoring
from reports import compute_report
from reports.agents import AgentFigures, per_agent
from reports.agents_table import agents_text
from reports.metrics import agent_names
from reports.sample import load_sample_history
from scheduler.models import SurveyResponse
from tests.harness import Person
from ticketing.models import Agent, Customer, Ticket, TicketEvent, TicketMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


START, END = at(11, 9), at(11, 23)


async def _ticket(customer: Customer, created: datetime, assignee: Agent, *, source: str = "handoff",
                  resolved: datetime | None = None, reopen_count: int = 0) -> Ticket:
    return await Ticket.create(
        customer=customer, source=source, category="logistics", status="resolved" if resolved else "open",
        assignee=assignee, waiting_since=created, created_at=created, updated_at=created, resolved_at=resolved,
        reopen_count=reopen_count, active_customer_id=None if resolved else customer.id,
    )


async def _asked(ticket: Ticket, written: datetime, answered: datetime | None = None, business: int | None = None,
                 nudged: int = 0) -> None:
    wall = int((answered - written).total_seconds()) if answered else None
    await TicketMessage.create(
        ticket=ticket, direction="in", text="?", created_at=written, answered_at=answered, response_seconds=wall,
        response_business_seconds=wall if business is None else business, nudged=nudged,
    )


async def _reply(ticket: Ticket, agent: Agent, written: datetime) -> None:
    await TicketMessage.create(ticket=ticket, direction="out", agent=agent, text="!", created_at=written)


async def seed() -> None:
    wang = await Agent.create(telegram_id=1, name="Wang")
    li = await Agent.create(telegram_id=2, name="Li")
    c = [await Customer.create(telegram_id=100 + n, first_name=f"C{n}") for n in range(5)]

    a = await _ticket(c[0], at(11, 10, 10), wang, resolved=at(11, 10, 12), reopen_count=1)
    await _asked(a, at(11, 10, 10), at(11, 10, 10, 2))
    await _reply(a, wang, at(11, 10, 10, 2))
    await _asked(a, at(11, 10, 10, 5), at(11, 10, 10, 10))
    await _reply(a, wang, at(11, 10, 10, 10))
    await _reply(a, wang, at(11, 10, 10, 11))
    await _asked(a, at(11, 10, 11), nudged=3)

    b = await _ticket(c[1], at(11, 11, 9), wang)
    await _asked(b, at(11, 11, 9), at(11, 11, 9, 1))
    await _reply(b, li, at(11, 11, 9, 1))
    await _asked(b, at(11, 11, 9, 30))

    night = await _ticket(c[2], at(11, 12, 22), li, resolved=at(11, 13, 10))
    await _asked(night, at(11, 12, 22), at(11, 13, 9, 1), business=60)
    await _reply(night, li, at(11, 13, 9, 1))
    await _reply(night, li, at(11, 13, 9, 2))

    d = await _ticket(c[3], at(11, 14, 10), li, source="agent")
    await _reply(d, li, at(11, 14, 10))
    await _asked(d, at(11, 14, 10, 30), at(11, 14, 10, 40))
    await _reply(d, li, at(11, 14, 10, 40))

    f = await _ticket(c[4], at(11, 1, 10), wang, resolved=at(11, 1, 12))
    await _asked(f, at(11, 1, 10), at(11, 1, 10, 1))
    await _reply(f, wang, at(11, 1, 10, 1))

    for customer, ticket, score in ((c[0], a, 2), (c[2], night, 5)):
        await SurveyResponse.create(customer=customer, kind="csat", subject_key=f"t{ticket.id}", ticket=ticket,
                                    score=score, answered_at=at(11, 15), updated_at=at(11, 15))
    for when in (at(11, 10, 10), at(11, 12, 10), at(11, 1, 10)):
        await TicketEvent.create(ticket=d, kind="quality_warning", actor="agent:2", data={"rule": "forbidden"}, at=when)


@pytest.fixture
async def figures(database: str) -> dict[str, AgentFigures]:
    await seed()
    return {row.name: row for row in await per_agent(START, END, await agent_names())}


async def test_response_rate_counts_each_customer_message_for_the_agent_who_answered_it(
    figures: dict[str, AgentFigures],
) -> None:
    wang, li = figures["Wang"], figures["Li"]
    # Wang: m1 fast, m2 slow, m4 unanswered in his ticket (slow); m7 has no response time.
    assert (wang.customer_messages, wang.answered_fast, wang.response_rate_180s) == (3, 1, pytest.approx(1 / 3))
    # Li: m3 (answered in Wang's ticket), m5 (night: fast in business time); m6 (/contact) left out.
    assert (li.customer_messages, li.answered_fast, li.response_rate_180s) == (2, 2, 1.0)


async def test_response_times_per_message_mean_and_p90(figures: dict[str, AgentFigures]) -> None:
    wang, li = figures["Wang"], figures["Li"]
    assert wang.response_avg_seconds == 210 and wang.response_p90_seconds == pytest.approx(120 + 0.9 * 180)
    assert li.response_avg_seconds == (60 + 39_660) / 2 and li.response_p90_seconds == pytest.approx(60 + 0.9 * 39_600)
    assert li.response_avg_business_seconds == 60


async def test_answer_ratio_handled_resolved_reopened_csat_and_warnings(figures: dict[str, AgentFigures]) -> None:
    wang, li = figures["Wang"], figures["Li"]
    # Wang's tickets A and B: 4 agent messages (3 his, 1 Li's) ÷ 5 customer messages.
    assert (wang.agent_messages, wang.ticket_customer_messages, wang.answer_ratio) == (4, 5, 0.8)
    assert (li.agent_messages, li.ticket_customer_messages, li.answer_ratio) == (4, 2, 2.0)
    assert (wang.handled, wang.resolved, wang.reopened) == (1, 1, 1)
    assert (li.handled, li.resolved, li.reopened) == (3, 1, 0)
    assert (wang.csat, wang.csat_responses, li.csat, li.csat_responses) == (0.0, 1, 100.0, 1)
    assert (wang.quality_warnings, li.quality_warnings) == (0, 2)


async def test_the_report_json_has_per_agent_keyed_as_the_agents_map(database: str) -> None:
    await seed()
    data = (await compute_report(START, END, timezone="Asia/Shanghai")).to_dict()
    rows = {row["agent"]: row for row in data["per_agent"]}
    assert set(rows) == set(data["agents"]) == {"1", "2"}
    assert rows["1"]["name"] == "Wang" and rows["1"]["answer_ratio"] == 0.8 and rows["2"]["response_rate_180s"] == 1.0
    # resolved, reopened and CSAT come from the report's own by-agent queries: the same hand counts
    assert (rows["1"]["resolved"], rows["1"]["reopened"], rows["1"]["csat"], rows["2"]["csat"]) == (1, 1, 0.0, 100.0)
    keys = ("response_rate_180s", "response_p90_seconds", "answer_ratio", "handled", "resolved", "reopened", "csat")
    assert all(key in rows["1"] for key in keys)


async def test_an_agent_without_answered_messages_has_null_figures_not_zeros(database: str) -> None:
    zhao = await Agent.create(telegram_id=3, name="Zhao")
    customer = await Customer.create(telegram_id=200, first_name="C")
    ticket = await _ticket(customer, at(11, 10, 10), zhao)
    await _asked(ticket, at(11, 10, 10))
    [row] = await per_agent(START, END, await agent_names())
    assert (row.agent, row.customer_messages, row.answered_fast, row.response_rate_180s) == (str(zhao.id), 1, 0, 0.0)
    assert row.response_avg_seconds is None and row.response_p90_seconds is None and row.csat is None
    assert row.answer_ratio == 0.0 and row.handled == 0
    assert await per_agent(END, END + timedelta(days=7), await agent_names()) == []


async def test_the_table_is_in_the_agent_language(database: str) -> None:
    await seed()
    rows = await per_agent(START, END, await agent_names())
    table = agents_text(rows, "zh-Hans", START, END, "Asia/Shanghai")
    assert table.startswith("👥 客服绩效 · 2026-11-09 – 2026-11-22（14 天）")
    assert "3分钟响应率 33.3 %（1/3）· 平均响应 4 分钟 · P90 5 分钟" in table
    assert "答问比 2.00 · 接待 3 · 解决 1 · 重开 0 · 满意度 100（1 份）· 质检警告 2" in table


async def test_a_supervisor_gets_the_per_agent_table(customer: Person, agent: Person, supervisor: Person) -> None:
    await customer.say("/complaint the parcel is two weeks late")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await agent.in_topic(ticket).say("Sorry! It is on its way.")
    await agent.in_topic(ticket).say("/close")
    assert (await agent.say("/report agents")).text == "只有主管可以执行此操作。"
    shown = (await supervisor.say("/report agents 7d")).text
    assert shown.startswith("👥 客服绩效 · ") and "3分钟响应率 100.0 %（1/1）" in shown, shown
    assert "答问比 1.00 · 接待 1 · 解决 1 · 重开 0" in shown, shown
    usage = (await supervisor.say("/report agents 365d")).text
    assert usage == "用法：/report agents 7d、/report agents 30d 或 /report agents 90d。"


async def test_metrics_count_the_last_days_customer_messages_per_agent(database: str) -> None:
    wang = await Agent.create(telegram_id=1, name="Wang")
    customer = await Customer.create(telegram_id=300, first_name="C")
    now = datetime.now(UTC)
    ticket = await _ticket(customer, now - timedelta(hours=2), wang)
    await _asked(ticket, now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(seconds=30))
    await _reply(ticket, wang, now - timedelta(hours=2) + timedelta(seconds=30))
    await _asked(ticket, now - timedelta(hours=1))  # waiting: slow
    await _asked(ticket, now - timedelta(hours=30), now - timedelta(hours=29))  # before the window
    await monitoring.read_database()
    found = {
        (sample.name, sample.labels.get("agent")): sample.value
        for family in text_string_to_metric_families(generate_latest().decode())
        for sample in family.samples if sample.name.startswith("kefu_agent_")
    }
    assert found == {
        ("kefu_agent_customer_messages_24h", str(wang.id)): 2, ("kefu_agent_answered_within_180s_24h", str(wang.id)): 1,
    }


async def test_the_sandbox_history_shows_each_sample_agent(database: str) -> None:
    await load_sample_history(now=END)
    rows = await per_agent(END - timedelta(days=30), END, await agent_names())
    assert [row.name for row in rows] == ["小王", "小李", "Anna"]
    for row in rows:
        assert row.customer_messages and row.response_rate_180s is not None and row.answer_ratio is not None, row
        assert row.handled and row.resolved and row.csat is not None, row
