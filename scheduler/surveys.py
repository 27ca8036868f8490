"""Answers to surveys: one per ticket (or delivered order), a late or repeated press changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from bot.core.fit import cut, storable
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.models import Customer

KINDS = {"survey": "csat", "delivered_survey": "delivered"}


@dataclass(frozen=True)
class Rated:
    response: SurveyResponse
    first: bool
    """False when this survey was answered before: the earlier answer stands."""


def subject_of(message: OutboxMessage) -> str:
    payload = message.payload or {}
    return f"ticket:{payload['ticket_id']}" if "ticket_id" in payload else f"order:{payload.get('order_no')}"


async def rate(message: OutboxMessage, score: int, now: datetime) -> Rated:
    """Store the customer's score for the survey this outbox row asked."""
    if not 1 <= score <= 5 or message.kind not in KINDS:
        raise ValueError(f"not a survey answer: {message.kind} {score}")
    now = now.astimezone(UTC)
    payload = message.payload or {}
    kind, subject = KINDS[message.kind], subject_of(message)
    existing = await SurveyResponse.get_or_none(kind=kind, subject_key=subject)
    if existing is not None:
        return Rated(existing, first=False)
    try:
        response = await SurveyResponse.create(
            customer_id=message.customer_id, kind=kind, subject_key=subject, ticket_id=payload.get("ticket_id"),
            order_no=payload.get("order_no"), score=score, answered_at=now, updated_at=now,
        )
    except IntegrityError:  # a double tap raced in
        return Rated(await SurveyResponse.get(kind=kind, subject_key=subject), first=False)
    return Rated(response, first=True)


async def add_comment(response_id: int, customer_id: int, comment: str, now: datetime) -> bool:
    """The optional comment after the stars; only the customer who rated can add it, once."""
    updated = await SurveyResponse.filter(id=response_id, customer_id=customer_id, comment__isnull=True).update(
        comment=cut(storable(comment.strip()), 2000), updated_at=now.astimezone(UTC)
    )
    return bool(updated)


async def recent_ratings(customer: Customer, limit: int = 5) -> list[SurveyResponse]:
    """The customer's latest scores, newest first (the customer card shows them)."""
    return await SurveyResponse.filter(customer=customer, score__isnull=False).order_by("-answered_at").limit(limit)


DIMENSIONS = ("reliability", "responsiveness", "assurance", "empathy", "tangibles")
STEPS = tuple((dimension, side) for dimension in DIMENSIONS for side in ("expectation", "perception"))
"""SERVQUAL, shortened to one item per dimension: what the customer expects of an excellent shop
(1–7), then how we did (1–7). Reports compute the gap, perception − expectation, per dimension."""


@dataclass(frozen=True)
class ServqualStep:
    response: SurveyResponse
    next_step: int | None
    """The step to ask next, None when all ten are answered."""
    counted: bool
    """False for a late or repeated press: that step was answered already."""


def in_servqual_sample(ticket_id: int, share: float) -> bool:
    """A fixed pseudo-random share of tickets (the same answer at every sweep)."""
    return (ticket_id * 2654435761 % 2**32) / 2**32 < share


async def answer_servqual(message: OutboxMessage, step: int, score: int, now: datetime) -> ServqualStep:
    if message.kind != "servqual" or not 0 <= step < len(STEPS) or not 1 <= score <= 7:
        raise ValueError(f"not a SERVQUAL answer: {message.kind} step {step} score {score}")
    now = now.astimezone(UTC)
    subject = subject_of(message)
    response = await SurveyResponse.get_or_none(kind="servqual", subject_key=subject)
    if response is None:
        try:
            response = await SurveyResponse.create(
                customer_id=message.customer_id, kind="servqual", subject_key=subject,
                ticket_id=(message.payload or {}).get("ticket_id"), servqual={}, answered_at=now, updated_at=now,
            )
        except IntegrityError:
            response = await SurveyResponse.get(kind="servqual", subject_key=subject)
    answers: dict = dict(response.servqual or {})
    dimension, side = STEPS[step]
    counted = side not in answers.get(dimension, {})
    if counted:
        answers[dimension] = {**answers.get(dimension, {}), side: score}
        response.servqual, response.updated_at = answers, now
        await response.save(update_fields=["servqual", "updated_at"])
    done = {(d, s) for d, sides in answers.items() for s in sides}
    following = next((n for n, item in enumerate(STEPS) if item not in done), None)
    return ServqualStep(response, following, counted)
