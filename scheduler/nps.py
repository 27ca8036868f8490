"""Net Promoter Score: the optional "would you recommend us?" (0–10) under the satisfaction survey.

CSAT says how this ticket went; NPS asks about the shop as a whole, the figure a manager compares
with other shops and over the year. It is asked only when ``[scheduler] nps = true``, right after
the customer's stars, in the same message, and stored as its own survey answer (kind ``nps``,
the same subject as the stars: ``ticket:<id>``), so a repeated or late press changes nothing and
the report counts it without a new column. reports/nps.py computes the score.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from scheduler.models import OutboxMessage, SurveyResponse
from scheduler.surveys import Rated, subject_of

LOWEST, HIGHEST = 0, 10
ASKED_UNDER = "survey"
"""The outbox kind the question follows: the satisfaction survey after a resolved ticket."""


async def rate_nps(message: OutboxMessage, score: int, now: datetime) -> Rated:
    """Store the customer's 0–10 for the survey this outbox row asked; the first answer stands."""
    if not LOWEST <= score <= HIGHEST or message.kind != ASKED_UNDER:
        raise ValueError(f"not an NPS answer: {message.kind} {score}")
    now = now.astimezone(UTC)
    subject = subject_of(message)
    existing = await SurveyResponse.get_or_none(kind="nps", subject_key=subject)
    if existing is not None:
        return Rated(existing, first=False)
    try:
        response = await SurveyResponse.create(
            customer_id=message.customer_id, kind="nps", subject_key=subject,
            ticket_id=(message.payload or {}).get("ticket_id"), score=score, answered_at=now, updated_at=now,
        )
    except IntegrityError:  # a double tap raced in
        return Rated(await SurveyResponse.get(kind="nps", subject_key=subject), first=False)
    return Rated(response, first=True)
