"""The learning loop: log what customers ask, take their 👍/👎, list what the bot missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tortoise.expressions import Q
from tortoise.functions import Count, Max

from bot.core.fit import cut, storable
from knowledge_base.features import normalize
from knowledge_base.models import Question
from knowledge_base.router import Route
from ticketing.models import Customer

Feedback = Literal["up", "down"]


def question_key(text: str) -> str:
    """What makes two questions "the same" for /kb_missed: their normalised text."""
    return storable(normalize(text) or text.strip().lower())[:255]


async def record_question(customer: Customer, text: str, route: Route, language: str) -> Question:
    return await Question.create(
        customer=customer,
        text=cut(storable(text), 4096),
        normalized=question_key(text),
        language=language,
        action=route.action,
        entry_id=route.entry_id,
        score=round(float(route.score), 4),
        band=route.band,
    )


async def question_of(customer: Customer, question_id: int) -> Question | None:
    """The question, if it is this customer's: a button can be forged, ownership cannot."""
    return await Question.get_or_none(id=question_id, customer_id=customer.id)


async def give_feedback(question: Question, feedback: Feedback) -> bool:
    """Record the customer's verdict once; False if they had already given one."""
    updated = await Question.filter(id=question.id, feedback__isnull=True).update(feedback=feedback)
    if updated:
        question.feedback = feedback
    return bool(updated)


async def answered_with(question: Question, entry_id: str, action: str | None) -> None:
    """The customer picked a "did you mean" suggestion: that is what the question was."""
    question.entry_id, question.action = entry_id, action
    await question.save(update_fields=["entry_id", "action"])


@dataclass(frozen=True)
class Missed:
    text: str
    normalized: str
    times: int
    last_asked: datetime
    language: str


async def missed_questions(limit: int = 10) -> list[Missed]:
    """The questions most often not understood or answered wrong, not yet learned.

    Not understood: low confidence, or "did you mean" without a pick. Wrong: a 👎.

    Grouped by their normalised text, so "Do you ship to Mars?" and "do you ship to mars" count
    together; aggregated in the database.
    """
    rows = (
        await Question.filter(Q(band__in=("low", "middle"), action__isnull=True) | Q(feedback="down"), learned=False)
        .exclude(normalized="")  # the text of a customer who asked to be forgotten
        .annotate(times=Count("id"), last=Max("asked_at"), example=Max("text"), lang=Max("language"))
        .group_by("normalized")
        .order_by("-times", "-last")
        .limit(limit)
        .values("normalized", "times", "last", "example", "lang")
    )
    return [Missed(r["example"], r["normalized"], r["times"], r["last"], r["lang"]) for r in rows]


async def mark_learned(question: str) -> int:
    """The question was taught to the KB: it leaves /kb_missed."""
    return await Question.filter(normalized=question_key(question)).update(learned=True)
