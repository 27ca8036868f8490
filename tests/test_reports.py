"""Reports: a seeded shop over 12 weeks gives the values computed by hand, on SQLite and PostgreSQL.

The report period is the last two weeks, [Mon 9 Nov, Mon 23 Nov 2026) in Asia/Shanghai; the
series are six periods of two weeks back to Mon 31 Aug. Periods 1–5 hold a regular background
(``_background``), period 6 a hand-made fortnight (``_fortnight``) that exercises every rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from knowledge_base.models import Question
from orders.models import Order, OrderStatus
from reports import Report, compute_report
from reports.metrics import Durations, Ratio, ratio
from reports.trend import Verdict, read_trend
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.models import Agent, Customer, Ticket, TicketMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR, DAY = 3600, 86400


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    """Shop time, stored as UTC (SQLite compares times as text)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


START, END = at(11, 9), at(11, 23)
FIRST_PERIOD = at(8, 31)
LONG_AGO = at(6, 1)


# --- the seed -------------------------------------------------------------------------------


@dataclass
class Shop:
    customers: dict[int, Customer]
    wang: Agent
    li: Agent
    tickets: dict[str, Ticket]


async def _ticket(customer: Customer, created: datetime, *, complaint: bool = True, category: str = "logistics",
                  assignee: Agent | None = None, status: str = "closed", waiting_since: datetime | None = None,
                  first_response: float | None = None, first_response_business: int | None = None,
                  resolved: datetime | None = None, resolution_business: int | None = None,
                  closed: datetime | None = None, repeat_of: Ticket | None = None, reopen_count: int = 0,
                  escalated: datetime | None = None) -> Ticket:
    waiting_since = waiting_since or created
    return await Ticket.create(
        customer=customer, active_customer_id=None if status == "closed" else customer.id,
        source="complaint" if complaint else "handoff", is_complaint=complaint, category=category,
        status=status, assignee=assignee, repeat_of=repeat_of, reopen_count=reopen_count,
        waiting_since=waiting_since, created_at=created, updated_at=created,
        first_response_at=created + timedelta(seconds=first_response) if first_response is not None else None,
        first_response_business_seconds=first_response_business,
        resolved_at=resolved, resolution_business_seconds=resolution_business,
        closed_at=closed if closed else (resolved if status == "closed" else None), escalated_at=escalated,
    )


async def _question(customer: Customer, asked: datetime, normalized: str, *, band: str = "high",
                    action: str | None = "answer", feedback: str | None = None, text: str | None = None) -> None:
    await Question.create(customer=customer, text=text or normalized, normalized=normalized, language="en",
                          action=action, band=band, feedback=feedback, asked_at=asked)


async def _csat(customer: Customer, answered: datetime, score: int, subject: str, ticket: Ticket | None = None,
                kind: str = "csat") -> None:
    await SurveyResponse.create(customer=customer, kind=kind, subject_key=subject, ticket=ticket, score=score,
                                answered_at=answered, updated_at=answered)


async def seed() -> Shop:
    customers = {}
    for n in range(1, 21):
        segment = "vip" if n <= 4 else "returning" if n <= 12 else "new"
        first_seen = {17: at(11, 16, 8), 18: at(11, 18, 9), 19: START, 20: END}.get(n, LONG_AGO)
        customers[n] = await Customer.create(
            telegram_id=1000 + n, first_name=f"C{n}", segment=segment, phone=f"+861380000{n:04d}",
            first_seen=first_seen, last_seen=first_seen,
        )
    wang = await Agent.create(telegram_id=1, name="Wang")
    li = await Agent.create(telegram_id=2, name="Li")
    shop = Shop(customers, wang, li, {})
    await _background(shop)
    await _fortnight(shop)
    await _orders(shop)
    return shop


async def _background(shop: Shop) -> None:
    """Periods i = 1..5 (two weeks each, from 31 Aug), each the same shape.

    - C1..C10 each ask one question (high band, answered) on the period's 2nd day at 10:00:
      10 active customers, 10 conversations.
    - C1..Ci complain on that day at 11:00 (logistics, Wang): complaint rate i/10, and i of the
      10 conversations have a ticket the same day: deflection (10 − i)/10. C1's complaint
      repeats C1's complaint of the period before (from period 2): repeat rate 1/i (0 in period 1).
      Each is answered after i hours (median first response i × 3600 s), closed an hour later.
    - C11..C15 answer a CSAT survey on the 3rd day: i of them give 5, the others 1 → score 20 × i.
    """
    c = shop.customers
    previous: Ticket | None = None
    for i in range(1, 6):
        begins = FIRST_PERIOD + timedelta(days=14 * (i - 1))
        for n in range(1, 11):
            await _question(c[n], begins + timedelta(days=1, hours=10), "opening hours")
        for n in range(1, i + 1):
            created = begins + timedelta(days=1, hours=11)
            ticket = await _ticket(
                c[n], created, assignee=shop.wang, first_response=i * HOUR, first_response_business=i * HOUR,
                resolved=created + timedelta(hours=i + 1), resolution_business=(i + 1) * HOUR,
                repeat_of=previous if n == 1 else None,
            )
            if n == 1:
                shop.tickets[f"bg{i}"] = previous = ticket
        for k, n in enumerate(range(11, 16)):
            await _csat(c[n], begins + timedelta(days=2, hours=10), 5 if k < i else 1, f"bg:{i}:{k}")


async def _fortnight(shop: Shop) -> None:
    """The report period, 9–22 Nov, in detail (T = ticket, q = question; times are shop time)."""
    c, wang, li, t = shop.customers, shop.wang, shop.li, shop.tickets

    # Questions (q1–q12 in the period, one after it).
    await _question(c[1], at(11, 10, 9), "where is my order", feedback="up")                 # q1
    await _question(c[1], at(11, 10, 9, 5), "where is my order")                             # q2, same conversation
    await _question(c[2], at(11, 10, 10), "refund my deposit", band="low", action="handoff",
                    text="please refund my deposit")                                         # q3
    await _question(c[3], at(11, 11, 11), "change address", band="middle", feedback="down")  # q4
    await _question(c[4], at(11, 12, 12), "refund my deposit", band="low", action=None,
                    text="deposit refund?")                                                  # q5
    await _question(c[5], at(11, 13, 0, 30), "where is my order", feedback="up")             # q6 (16:30 UTC on the 12th)
    await _question(c[6], at(11, 14, 14), "track SO1", action="order_status")                # q7
    await _question(c[7], at(11, 15, 15), "gift wrap", band="low", action=None)              # q8
    await _question(c[8], at(11, 16, 16), "change address", feedback="down")                 # q9
    await _question(c[17], at(11, 17, 10), "opening hours", feedback="up")                   # q10
    await _question(c[18], at(11, 18, 10), "refund my deposit", band="low", action=None)     # q11
    await _question(c[2], at(11, 19, 10), "opening hours", feedback="up")                    # q12
    await _question(c[16], at(11, 23, 0, 30), "gift wrap", band="low", action=None)          # after the end

    # Tickets. T7 was opened before the period (not a complaint), T12 after it.
    t["T1"] = await _ticket(c[1], at(11, 10, 9, 30), assignee=wang, status="resolved", repeat_of=t["bg5"],
                            first_response=1800, first_response_business=1800,
                            resolved=at(11, 10, 11, 30), resolution_business=7200)
    # T2 was reopened on the 12th (waiting_since moved past its first response) and closed again.
    t["T2"] = await _ticket(c[2], at(11, 10, 10, 30), category="product_quality", assignee=wang,
                            waiting_since=at(11, 12, 10), first_response=3600, first_response_business=3600,
                            resolved=at(11, 13, 10, 30), resolution_business=28800, closed=at(11, 14, 10, 30),
                            reopen_count=1, escalated=at(11, 10, 15))
    t["T3"] = await _ticket(c[3], at(11, 11, 12), complaint=False, category="other", assignee=li,
                            first_response=7200, first_response_business=7200,
                            resolved=at(11, 11, 15), resolution_business=10800)
    t["T4"] = await _ticket(c[9], at(11, 12, 9), assignee=li, status="open",
                            first_response=14400, first_response_business=3600, escalated=at(11, 12, 13))
    t["T5"] = await _ticket(c[5], at(11, 12, 23), category="returns", status="new")
    t["T6"] = await _ticket(c[2], at(11, 19, 11), category="product_quality", assignee=wang, status="pending",
                            repeat_of=t["T2"], first_response=600, first_response_business=600)
    t["T7"] = await _ticket(c[10], at(11, 5, 10), complaint=False, category="payment", assignee=li, status="open",
                            first_response=4 * DAY, first_response_business=DAY, escalated=at(11, 6, 10))
    t["T8"] = await _ticket(c[17], at(11, 21, 10), category="service_attitude", status="new")
    t["T9"] = await _ticket(c[12], at(11, 22, 20), complaint=False, category="other", status="new")
    # T10 was resolved after the end: it was open at the end.
    t["T10"] = await _ticket(c[13], at(11, 20, 10), complaint=False, category="other", assignee=li,
                             status="resolved", first_response=3600, first_response_business=3600,
                             resolved=at(11, 23, 12), resolution_business=3600)
    t["T11"] = await _ticket(c[14], at(11, 18, 10), assignee=wang, status="pending",
                             first_response=7200, first_response_business=7200)
    t["T12"] = await _ticket(c[15], at(11, 23, 1), status="new")

    # Messages: C10 writes in T7 during the period (active); notes and answers don't count.
    await TicketMessage.create(ticket=t["T7"], direction="in", text="any news?", created_at=at(11, 15, 10))
    await TicketMessage.create(ticket=t["T7"], direction="out", text="soon", created_at=at(11, 15, 11))
    await TicketMessage.create(ticket=t["bg1"], direction="note", text="old", created_at=at(11, 15, 12))
    await TicketMessage.create(ticket=t["T12"], direction="in", text="hello", created_at=at(11, 23, 2))

    # CSAT: six answers in the period (S6 rates a delivery, S7 comes after the end).
    await _csat(c[1], at(11, 11, 10), 5, "ticket:T1", t["T1"])    # S1 Wang, logistics
    await _csat(c[2], at(11, 14, 11), 2, "ticket:T2", t["T2"])    # S2 Wang, product_quality
    await _csat(c[3], at(11, 12, 10), 4, "ticket:T3", t["T3"])    # S3 Li, other
    await _csat(c[9], at(11, 13, 10), 3, "ticket:T4", t["T4"])    # S4 Li, logistics
    await _csat(c[6], at(11, 15, 10), 5, "order:SO6")             # S5 no ticket
    await _csat(c[6], at(11, 15, 11), 1, "order:SO6", kind="delivered")
    await _csat(c[7], at(11, 23, 3), 1, "ticket:late")
    await _csat(c[2], at(11, 20, 10), 4, "ticket:T6", t["T6"])    # S8 Wang, product_quality

    # Surveys sent: 8 in the period; a failed one, a SERVQUAL one and a late one don't count.
    for n in range(8):
        await _outbox(c[n + 1], f"survey:{n}", "survey", "sent", at(11, 10 + n, 9))
    await _outbox(c[9], "survey:failed", "survey", "failed", None)
    await _outbox(c[9], "servqual:1", "servqual", "sent", at(11, 12, 9))
    await _outbox(c[9], "survey:late", "survey", "sent", at(11, 23, 9))

    # SERVQUAL: two answers in the period (V2's empathy has no perception: left out), one after.
    await _servqual(c[1], at(11, 12, 10), "V1", {"reliability": (7, 5), "responsiveness": (6, 6), "empathy": (5, 6)})
    await _servqual(c[2], at(11, 13, 10), "V2", {"reliability": (6, 4), "responsiveness": (7, 5)},
                    partial={"empathy": {"expectation": 6}})
    await _servqual(c[3], at(11, 24, 10), "V3", {"reliability": (1, 7)})


async def _outbox(customer: Customer, key: str, kind: str, status: str, sent: datetime | None) -> None:
    await OutboxMessage.create(customer=customer, kind=kind, key=key, due_at=sent or START, status=status, sent_at=sent)


async def _servqual(customer: Customer, answered: datetime, subject: str, scores: dict[str, tuple[int, int]],
                    partial: dict | None = None) -> None:
    answers = {d: {"expectation": e, "perception": p} for d, (e, p) in scores.items()} | (partial or {})
    await SurveyResponse.create(customer=customer, kind="servqual", subject_key=subject, servqual=answers,
                                answered_at=answered, updated_at=answered)


async def _orders(shop: Shop) -> None:
    """Purchases, in days before the end (the start is 14 days before it)."""
    c = shop.customers

    async def order(n: int | None, days_before_end: float, amount: str = "100.00",
                    status: OrderStatus = OrderStatus.DELIVERED, phone: str | None = None) -> None:
        created = END - timedelta(days=days_before_end)
        number = await Order.all().count()
        await Order.create(
            order_no=f"SO{number:04d}", phone=phone or c[n].phone, status=status, amount=Decimal(amount),
            currency="CNY", created_at=created, updated_at=created,
        )

    for days in (200, 150, 100, 50, 5):
        await order(1, days, "300.00")               # C1: 5 × 300
    await order(2, 400)
    await order(2, 100)                              # C2: last 100 days ago
    await order(3, 10)
    await order(3, -1)                               # C3: one in the period, one after the end
    await order(4, 200)                              # C4
    await order(5, 60)
    await order(5, 40)
    await order(5, 5, status=OrderStatus.CANCELLED)  # C5: 2 purchases
    for days in (70, 60, 50, 40, 30):
        await order(6, days, "150.00")               # C6: 5 × 150 = 750
    await order(7, 95)                               # C7
    await order(8, 20, status=OrderStatus.PENDING_PAYMENT)
    await order(8, 30, status=OrderStatus.REFUNDED)  # C8: nothing bought
    await order(None, 10, phone="+8613999999999")    # nobody's phone
    await order(10, 190)
    await order(10, 185)                             # C10


# --- the report -----------------------------------------------------------------------------


@pytest.fixture
async def report(database: str) -> Report:
    await seed()
    return await compute_report(START, END, timezone="Asia/Shanghai")


def r(numerator: int, denominator: int) -> Ratio:
    return ratio(numerator, denominator)


async def test_complaints(report: Report) -> None:
    # Active in the period: questions by C1–C8, C17, C18 (10); tickets opened by C9, C12, C13,
    # C14 (+4; C1, C2, C3, C5, C17 already counted); C10 wrote in T7 (+1) = 15.
    # Complaints opened: T1 C1, T2 C2, T4 C9, T5 C5, T6 C2, T8 C17, T11 C14 = 7, by 6 customers.
    c = report.complaints
    assert c.complaints == 7
    assert c.rate == r(6, 15)
    # Segments: vip C1–C4 active 4, complained C1 C2; returning C5–C10, C12 active 7, complained
    # C5 C9; new C13 C14 C17 C18 active 4, complained C14 C17.
    assert c.rate_by_segment == {"new": r(2, 4), "returning": r(2, 7), "vip": r(2, 4)}
    # Repeats: T1 (of C1's background complaint), T6 (of T2).
    assert c.repeat_rate == r(2, 7)
    assert c.repeat_rate_by_category == {
        "product_quality": r(1, 2), "logistics": r(1, 3), "returns": r(0, 1), "payment": r(0, 0),
        "service_attitude": r(0, 1), "presale": r(0, 0), "other": r(0, 0),
    }
    # logistics T1 T4 T11, product_quality T2 T6, returns T5, service_attitude T8.
    assert c.concentration == {
        "product_quality": r(2, 7), "logistics": r(3, 7), "returns": r(1, 7), "payment": r(0, 7),
        "service_attitude": r(1, 7), "presale": r(0, 7), "other": r(0, 7),
    }
    assert c.rate.value == pytest.approx(0.4)


async def test_satisfaction(report: Report) -> None:
    # S1 5, S2 2, S3 4, S4 3, S5 5, S8 4: mean 23/6, satisfied (4–5) S1 S3 S5 S8 = 4/6.
    s = report.satisfaction
    assert s.csat.responses == 6
    assert s.csat.mean_score == pytest.approx(23 / 6)
    assert s.csat.satisfied == r(4, 6)
    assert s.csat.score == pytest.approx(400 / 6)
    # 6 responses ÷ 8 surveys sent.
    assert s.response_rate == r(6, 8)
    by_agent = {k: (v.responses, v.mean_score, v.satisfied) for k, v in s.csat_by_agent.items()}
    assert by_agent == {
        "1": (3, pytest.approx(11 / 3), r(2, 3)),   # Wang: S1 5, S2 2, S8 4
        "2": (2, 3.5, r(1, 2)),                      # Li: S3 4, S4 3
        "unassigned": (1, 5.0, r(1, 1)),             # S5, no ticket
    }
    assert {k: (v.responses, v.mean_score, v.score) for k, v in s.csat_by_category.items()} == {
        "logistics": (2, 4.0, 50.0),                 # S1 5, S4 3
        "other": (1, 4.0, 100.0),                    # S3
        "product_quality": (2, 3.0, 50.0),           # S2 2, S8 4
        "none": (1, 5.0, 100.0),                     # S5
    }
    # vip C1 C2 C3: S1 5, S2 2, S3 4, S8 4; returning C6 C9: S5 5, S4 3.
    assert {k: (v.responses, v.mean_score) for k, v in s.csat_by_segment.items()} == {
        "returning": (2, 4.0), "vip": (4, 3.75),
    }
    # reliability e (7 + 6)/2 = 6.5, p (5 + 4)/2 = 4.5 → −2; responsiveness 6.5, 5.5 → −1;
    # empathy only V1 (V2 gave no perception): 5, 6 → +1.
    gaps = {d: (g.responses, g.expectation, g.perception, g.gap) for d, g in s.servqual.items()}
    assert gaps == {
        "empathy": (1, 5.0, 6.0, 1.0), "reliability": (2, 6.5, 4.5, -2.0), "responsiveness": (2, 6.5, 5.5, -1.0),
    }


async def test_service(report: Report) -> None:
    s = report.service
    # Created in the period: T1–T6, T8–T11 = 10 (T7 before, T12 after); escalated T2, T4.
    assert s.tickets_created == 10
    assert s.sla_breach_rate == r(2, 10)
    assert s.sla_breach_rate_by_category == {
        "logistics": r(1, 3), "other": r(0, 3), "product_quality": r(1, 2), "returns": r(0, 1),
        "service_attitude": r(0, 1),
    }
    # Wang T1 T2 T6 T11; Li T3 T4 T10; nobody T5 T8 T9.
    assert s.sla_breach_rate_by_agent == {"1": r(1, 4), "2": r(1, 3), "unassigned": r(0, 3)}

    # First answered in the period: T1 1800, T2 (wall-clock left out: reopened), T3 7200,
    # T4 14400, T6 600, T7 345600 (opened on the 5th), T10 3600, T11 7200.
    # Wall: 600 1800 3600 7200 7200 14400 345600 → median x[3] = 7200,
    #   p90 at 0.9 × 6 = 5.4: 14400 + 0.4 × (345600 − 14400) = 146880.
    # Business: 600 1800 3600 3600 3600 7200 7200 86400 → median at 3.5: 3600,
    #   p90 at 6.3: 7200 + 0.3 × 79200 = 30960.
    assert s.first_response == Durations(7, 7200.0, 146880.0, 8, 3600.0, 30960.0)
    assert s.first_response_by_category == {
        # 1800 7200 14400 → 7200, 7200 + 0.8 × 7200; business 1800 3600 7200 → 3600, 3600 + 0.8 × 3600
        "logistics": Durations(3, 7200.0, 12960.0, 3, 3600.0, 6480.0),
        "other": Durations(2, 5400.0, 6840.0, 2, 5400.0, 6840.0),          # 3600 7200
        "payment": Durations(1, 345600.0, 345600.0, 1, 86400.0, 86400.0),
        # wall T6 600 only; business 600 3600 → 2100, 600 + 0.9 × 3000
        "product_quality": Durations(1, 600.0, 600.0, 2, 2100.0, 3300.0),
    }
    assert s.first_response_by_agent == {
        # Wang wall 600 1800 7200 → 1800, 1800 + 0.8 × 5400; business 600 1800 3600 7200 → 2700, 3600 + 0.7 × 3600
        "1": Durations(3, 1800.0, 6120.0, 4, 2700.0, 6120.0),
        # Li wall 3600 7200 14400 345600 → 10800, 14400 + 0.7 × 331200; business 3600 3600 7200 86400 → 5400, 7200 + 0.7 × 79200
        "2": Durations(4, 10800.0, 246240.0, 4, 5400.0, 62640.0),
    }

    # Resolved in the period: T1 7200 (business 7200), T2 3 days = 259200 (28800), T3 10800 (10800);
    # T10 after the end. Wall 7200 10800 259200 → 10800, 10800 + 0.8 × 248400 = 209520;
    # business 7200 10800 28800 → 10800, 10800 + 0.8 × 18000 = 25200.
    assert s.resolution == Durations(3, 10800.0, 209520.0, 3, 10800.0, 25200.0)
    assert s.resolution_by_category == {
        "logistics": Durations(1, 7200.0, 7200.0, 1, 7200.0, 7200.0),
        "other": Durations(1, 10800.0, 10800.0, 1, 10800.0, 10800.0),
        "product_quality": Durations(1, 259200.0, 259200.0, 1, 28800.0, 28800.0),
    }
    # Wang T1 7200, T2 259200 → 133200, 7200 + 0.9 × 252000; business 7200 28800 → 18000, 7200 + 0.9 × 21600
    assert s.resolution_by_agent == {
        "1": Durations(2, 133200.0, 234000.0, 2, 18000.0, 26640.0),
        "2": Durations(1, 10800.0, 10800.0, 1, 10800.0, 10800.0),
    }
    # Of T1 T2 T3, T2 had been reopened.
    assert s.reopen_rate == r(1, 3)
    assert s.reopen_rate_by_agent == {"1": r(1, 2), "2": r(0, 1)}

    # Open at the end (Mon 23 Nov 00:00): T9 22 Nov 20:00 (4 h); T8 21 Nov 10:00 (1 d 14 h),
    # T10 20 Nov 10:00 (resolved after the end); T6 19 Nov 11:00, T11 18 Nov 10:00 (3–7 d);
    # T4, T5 (12 Nov), T7 (5 Nov). T12 came after the end.
    assert s.backlog.by_age == {"<1d": 1, "1-3d": 2, "3-7d": 2, ">7d": 3}
    assert s.backlog.total == 8


async def test_bot(report: Report) -> None:
    b = report.bot
    # Conversations (customer, shop day): C1 10th (T1 that day), C2 10th (T2), C3 11th (T3),
    # C4 12th, C5 13th (T5 was 23:00 on the 12th: another day in Shanghai, the same in UTC),
    # C6 14th, C7 15th, C8 16th, C17 17th (T8 on the 21st), C18 18th, C2 19th (T6) = 11;
    # without a ticket: 7.
    assert b.deflection_rate == r(7, 11)
    # 12 questions; high band and answered: q1 q2 q6 q9 q10 q12 (q7 is an order status).
    assert b.questions == 12
    assert b.kb_hit_rate == r(6, 12)
    # 👍 q1 q6 q10 q12, 👎 q4 q9.
    assert (b.thumbs_up, b.thumbs_down, b.thumbs_up_share) == (4, 2, r(4, 6))
    # Low band or 👎: refund my deposit q3 q5 q11, change address q4 q9, gift wrap q8.
    assert [(m.normalized, m.example, m.count) for m in b.top_missed] == [
        ("refund my deposit", "deposit refund?", 3), ("change address", "change address", 2), ("gift wrap", "gift wrap", 1),
    ]


async def test_customers(report: Report) -> None:
    c = report.customers
    # First seen in the period: C17, C18, C19 (at the start); C20 at the end is not.
    # Returning: the 15 active but C17, C18.
    assert (c.active, c.new, c.returning) == (15, 3, 13)
    # At the end: C1 5 purchases, last 5 d ago, 1500 → vip; C2 last 100 d → at_risk; C3 one,
    # 10 d → new; C4 200 d → lost; C5 2 (the cancelled one is not a purchase) → loyal;
    # C6 5 × 150 = 750 < 1000 → loyal; C7 95 d → at_risk; C10 185 d → lost. C8 bought nothing.
    # At the start (14 days earlier): C1 4 purchases, 36 d → loyal; C2 86 d → loyal; C3 none;
    # C4 186 d → lost; C5 loyal; C6 loyal; C7 one, 81 d → new; C10 171 d → at_risk.
    rfm = c.rfm
    assert rfm.segments == {"vip": 1, "loyal": 2, "new": 1, "at_risk": 2, "lost": 2}
    assert rfm.previous == {"vip": 0, "loyal": 4, "new": 1, "at_risk": 1, "lost": 1}
    moved = {(a, b): n for a, row in rfm.movement.items() for b, n in row.items() if n}
    assert moved == {
        ("loyal", "vip"): 1, ("loyal", "at_risk"): 1, ("none", "new"): 1, ("lost", "lost"): 1,
        ("loyal", "loyal"): 2, ("new", "at_risk"): 1, ("at_risk", "lost"): 1,
    }
    # 2 or more purchases: C1 C2 C5 C6 C10, of 8 buyers.
    assert rfm.repeat_purchase == r(5, 8)


async def test_series_over_six_periods(report: Report) -> None:
    series = report.series
    assert set(series) == {
        "complaint_rate", "repeat_complaint_rate", "csat_score", "first_response_median_seconds", "deflection_rate",
    }
    for s in series.values():
        assert len(s.values) == len(s.period_starts) == 6
    assert series["complaint_rate"].period_starts[0] == FIRST_PERIOD
    assert series["complaint_rate"].period_starts[-1] == START
    # Background periods 1–5, then the fortnight.
    assert series["complaint_rate"].values == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.4])
    assert series["repeat_complaint_rate"].values == pytest.approx([0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 2 / 7])
    assert series["csat_score"].values == pytest.approx([20, 40, 60, 80, 100, 400 / 6])
    assert series["first_response_median_seconds"].values == [3600, 7200, 10800, 14400, 18000, 7200]
    assert series["deflection_rate"].values == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5, 7 / 11])
    # Complaints rise (lower is better); CSAT rises; deflection falls. First responses rise
    # for five periods and halve in the sixth: the line misses by more than it climbs.
    assert series["complaint_rate"].trend.verdict is Verdict.WORSENING
    assert series["csat_score"].trend.verdict is Verdict.IMPROVING
    assert series["deflection_rate"].trend.verdict is Verdict.WORSENING
    assert series["first_response_median_seconds"].trend.verdict is Verdict.VOLATILE
    # The report's own figures are the series' last points.
    assert report.complaints.rate.value == series["complaint_rate"].values[-1]
    assert report.service.first_response.median_seconds == series["first_response_median_seconds"].values[-1]


async def test_report_is_json(report: Report) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    assert data["start"] == START.isoformat() and data["timezone"] == "Asia/Shanghai"
    assert data["agents"] == {"1": "Wang", "2": "Li"}
    assert data["series"]["csat_score"]["trend"]["verdict"] == "improving"
    assert data["complaints"]["rate"] == {"numerator": 6, "denominator": 15, "value": 0.4}


async def test_an_empty_database_gives_an_empty_report(database: str) -> None:
    report = await compute_report(START, END, timezone="Asia/Shanghai")
    assert report.complaints.rate == r(0, 0) and report.complaints.rate.value is None
    assert report.service.first_response == Durations(0, None, None, 0, None, None)
    assert report.service.backlog.total == 0
    assert report.customers.rfm.repeat_purchase.value is None
    assert report.series["csat_score"].values == [None] * 6
    assert report.series["csat_score"].trend.verdict is Verdict.STABLE
    json.dumps(report.to_dict())


async def test_conversation_days_follow_the_shop_zone_across_a_dst_change(database: str) -> None:
    # New York leaves daylight saving time on Sunday 1 Nov 2026 at 02:00 (UTC−4 → UTC−5).
    new_york = ZoneInfo("America/New_York")

    def ny(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 10 if day > 15 else 11, day, hour, minute, tzinfo=new_york).astimezone(UTC)

    a, b, c = [await Customer.create(telegram_id=n, first_seen=LONG_AGO, last_seen=LONG_AGO) for n in (1, 2, 3)]
    # Before the change: a question at 23:30 on 31 Oct, the ticket at 00:30 on 1 Nov (UTC−4):
    # two days (read at UTC−5 they would be one).
    await _question(a, ny(31, 23, 30), "q")
    await _ticket(a, ny(1, 0, 30))
    # After it: 23:30 on 1 Nov and 00:30 on 2 Nov (UTC−5): two days (one at UTC−4).
    await _question(b, ny(1, 23, 30), "q")
    await _ticket(b, ny(2, 0, 30))
    # The same day: not deflected.
    await _question(c, ny(1, 12), "q")
    await _ticket(c, ny(1, 13))
    report = await compute_report(ny(26, 0), ny(9, 0), timezone="America/New_York", periods=1)
    assert report.bot.deflection_rate == r(2, 3)


# --- trend verdicts -------------------------------------------------------------------------


def test_a_rising_series_improves_or_worsens_by_what_is_better() -> None:
    rising = [0.50, 0.55, 0.61, 0.64, 0.70, 0.74]
    assert read_trend(rising, higher_is_better=True).verdict is Verdict.IMPROVING
    assert read_trend(rising, higher_is_better=False).verdict is Verdict.WORSENING
    falling = list(reversed(rising))
    assert read_trend(falling, higher_is_better=True).verdict is Verdict.WORSENING
    assert read_trend(falling, higher_is_better=False).verdict is Verdict.IMPROVING


def test_a_flat_series_is_stable() -> None:
    assert read_trend([80, 80, 80, 80, 80, 80], higher_is_better=True).verdict is Verdict.STABLE
    assert read_trend([80, 81, 79, 80, 80.5, 79.5], higher_is_better=True).verdict is Verdict.STABLE
    assert read_trend([0, 0, 0, 0], higher_is_better=False).verdict is Verdict.STABLE


def test_a_zig_zag_is_volatile() -> None:
    reading = read_trend([0.3, 0.7, 0.3, 0.7, 0.3, 0.7], higher_is_better=True)
    # slope 6/175 per period on a level of 0.5: 6.9 % a period, residuals 38 % of the level.
    assert reading.verdict is Verdict.VOLATILE
    assert reading.relative_slope == pytest.approx(12 / 175)
    assert reading.noise > 0.3


def test_periods_without_data_are_skipped_and_few_points_say_nothing() -> None:
    assert read_trend([None, 1.0, None, 2.0, 3.0], higher_is_better=True).verdict is Verdict.IMPROVING
    assert read_trend([None, None, 1.0, 5.0], higher_is_better=True).verdict is Verdict.STABLE
    assert read_trend([], higher_is_better=True).points == 0


async def test_the_nightly_refresh_writes_each_buyers_segment_on_the_customer(database: str) -> None:
    from reports.rfm import refresh_customer_segments
    from ticketing.models import Customer

    await seed()
    assert await refresh_customer_segments(END) == {"vip": 1, "loyal": 2, "new": 1, "at_risk": 2, "lost": 2}
    segments = dict(await Customer.filter(segment__in=("vip", "loyal", "at_risk", "lost")).values_list("first_name", "segment"))
    assert segments == {"C1": "vip", "C2": "at_risk", "C4": "lost", "C5": "loyal", "C6": "loyal", "C7": "at_risk", "C10": "lost"}
