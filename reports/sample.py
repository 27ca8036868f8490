"""A plausible 12-week service history for the sandbox, so that /report has something to show.

Deterministic (seeded): 80 customers, their questions to the bot, complaints and hand-offs
with first responses and resolutions, CSAT answers; three sample agents who take the tickets,
their conversations with the customers (each message's response time) and a few quality
warnings, so that /report agents has something to show; pre-sale questions and orders with
carriers (sample_sales.py) for the conversion and logistics lines. Never used outside the sandbox.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from knowledge_base.models import Question
from reports.sample_sales import load_sample_sales
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.models import Agent, Customer, Ticket, TicketEvent, TicketMessage, TicketStatus

FIRST_ID = 7_000_000_000  # Telegram ids no sandbox persona gets
QUESTIONS = ("能开发票吗", "do you ship to Macau", "运费怎么算", "can I pay with PayPal", "退货要多久", "where is my order")
AGENTS = ("小王", "小李", "Anna")
WEIGHTS = {"logistics": 5, "product_quality": 3, "returns": 3, "payment": 1, "service_attitude": 1, "other": 1}


async def load_sample_history(now: datetime | None = None, weeks: int = 12, seed: int = 2026) -> int:
    """Insert the history ending at ``now``; returns the number of tickets."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    start = now - timedelta(weeks=weeks)
    customers = [
        await Customer.create(telegram_id=FIRST_ID + n, first_name=f"Sample {n + 1}", language=rng.choice(["zh-Hans", "en"]))
        for n in range(80)
    ]
    await Customer.filter(id__in=[c.id for c in customers]).update(first_seen=start, last_seen=now)
    # The agents' side draws from its own generator, so the rest of the history stays as it was.
    desk = random.Random(seed + 1)
    agents = [await Agent.create(telegram_id=FIRST_ID - 1 - n, name=name) for n, name in enumerate(AGENTS)]
    tickets = 0
    for week in range(weeks):
        better = week / weeks  # service improves over the weeks: faster, fewer complaints, happier
        for _ in range(rng.randint(60, 90)):
            customer = rng.choice(customers)
            asked = start + timedelta(weeks=week, minutes=rng.randrange(7 * 24 * 60))
            band = rng.choices(["high", "middle", "low"], [7 + 2 * better, 2, 1])[0]
            question = await Question.create(
                customer=customer, text=(said := rng.choice(QUESTIONS)), normalized=said.lower(), language=customer.language,
                action="answer" if band == "high" else None, band=band, score=0.5,
                feedback=rng.choices([None, "up", "down"], [8, 2, 1])[0],
            )
            await Question.filter(id=question.id).update(asked_at=asked)  # asked_at is set on insert
        for _ in range(rng.randint(int(9 - 4 * better), int(14 - 5 * better))):
            customer = rng.choice(customers)
            created = start + timedelta(weeks=week, minutes=rng.randrange(7 * 24 * 60))
            if created > now - timedelta(hours=2):
                continue
            answered = created + timedelta(minutes=rng.randint(5, int(240 - 180 * better)))
            resolved = answered + timedelta(hours=rng.randint(1, 48))
            category = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
            done = resolved < now
            ticket = await Ticket.create(
                customer=customer, source="complaint", is_complaint=True, category=category, priority="normal",
                status=TicketStatus.CLOSED if done else TicketStatus.OPEN, subject="sample", waiting_since=created,
                first_response_due=created + timedelta(hours=4), resolution_due=created + timedelta(hours=27),
                first_response_at=answered, first_response_business_seconds=int((answered - created).total_seconds() * 0.6),
                resolved_at=resolved if done else None, closed_at=resolved if done else None,
                resolution_business_seconds=int((resolved - created).total_seconds() * 0.4) if done else None,
                escalated_at=created + timedelta(hours=4) if answered - created > timedelta(hours=3) else None,
                created_at=created, updated_at=answered,
            )
            tickets += 1
            await _conversation(desk, ticket, desk.choice(agents), answered, resolved if done else now, better)
            if done and rng.random() < 0.6:
                await OutboxMessage.create(customer=customer, kind="survey", key=f"survey:ticket:{ticket.id}", due_at=resolved,
                                           status="sent", sent_at=resolved, payload={"ticket_id": ticket.id})
                if rng.random() < 0.7:
                    score = rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4 + 3 * better, 4 + 5 * better])[0]
                    await SurveyResponse.create(customer=customer, kind="csat", subject_key=f"ticket:{ticket.id}", ticket=ticket,
                                                score=score, answered_at=resolved, updated_at=resolved)
    await load_sample_sales(customers, agents, start, now, seed)
    return tickets


async def _conversation(
    rng: random.Random, ticket: Ticket, agent: Agent, answered: datetime, until: datetime, better: float
) -> None:
    """The ticket's messages: the complaint answered at the first response, then a few exchanges,
    each customer message answered within seconds to minutes; now and then a quality warning."""
    await Ticket.filter(id=ticket.id).update(assignee_id=agent.id)
    asked, reply = ticket.created_at, answered
    for _ in range(rng.randint(1, 4)):
        if reply >= until:
            break
        wait = int((reply - asked).total_seconds())
        await TicketMessage.create(ticket=ticket, direction="in", text="…", created_at=asked, answered_at=reply,
                                   response_seconds=wait, response_business_seconds=int(wait * 0.6))
        for n in range(rng.choice((1, 1, 2))):
            await TicketMessage.create(ticket=ticket, direction="out", agent=agent, text="…",
                                       created_at=reply + timedelta(seconds=20 * n))
        asked = reply + timedelta(minutes=rng.randint(1, 30))
        reply = asked + timedelta(seconds=rng.randint(15, int(400 - 250 * better)))
    if rng.random() < 0.05:
        await TicketEvent.create(ticket=ticket, kind="quality_warning", actor=f"agent:{agent.telegram_id}",
                                 data={"rule": "forbidden"}, at=answered)
