"""A plausible 12-week service history for the sandbox, so that /report has something to show.

Deterministic (seeded): 80 customers, their questions to the bot, complaints and hand-offs
with first responses and resolutions, CSAT answers. Never used outside the sandbox.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from knowledge_base.models import Question
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.models import Customer, Ticket, TicketStatus

FIRST_ID = 7_000_000_000  # Telegram ids no sandbox persona gets
QUESTIONS = ("能开发票吗", "do you ship to Macau", "运费怎么算", "can I pay with PayPal", "退货要多久", "where is my order")
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
            if done and rng.random() < 0.6:
                await OutboxMessage.create(customer=customer, kind="survey", key=f"survey:ticket:{ticket.id}", due_at=resolved,
                                           status="sent", sent_at=resolved, payload={"ticket_id": ticket.id})
                if rng.random() < 0.7:
                    score = rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4 + 3 * better, 4 + 5 * better])[0]
                    await SurveyResponse.create(customer=customer, kind="csat", subject_key=f"ticket:{ticket.id}", ticket=ticket,
                                                score=score, answered_at=resolved, updated_at=resolved)
    return tickets
