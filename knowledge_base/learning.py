"""The bot learns from its own chats: what customers confirm becomes example questions.

Most questions the bot misses use words its examples lack. A customer who picks an entry in a
"did you mean", or gives a middle-band answer a 👍, has told the bot which entry their words
mean: that makes the question a *candidate* example of the entry. Supervisors accept or reject
candidates (/kb_learn), grouped by entry and question, with how many different customers asked
it; with ``[knowledge_base] auto_learn`` = N, a question confirmed by N different customers is
accepted on its own. Accepting adds the question with ``add_question`` (saved to the learned
file, serving at once) — the same way /kb_add teaches.

A candidate reads its words through its question, so /forgetme (which blanks the question) takes
them out of /kb_learn too.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count, Min

from knowledge_base.entries import KBError
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.models import Question, QuestionCandidate


async def propose(question: Question, entry_id: str) -> QuestionCandidate | None:
    """Record that the customer confirmed ``entry_id`` for ``question`` (once per customer)."""
    if not question.normalized or not question.text.strip():
        return None
    try:
        return await QuestionCandidate.create(
            entry_id=entry_id, language=question.language, question_id=question.id,
            customer_id=question.customer_id, normalized=question.normalized,  # type: ignore[attr-defined]  # the FK's id
        )
    except IntegrityError:  # this customer confirmed it before
        return None


async def customers_confirming(candidate: QuestionCandidate) -> int:
    """How many different customers have a pending candidate of this entry and question."""
    return await QuestionCandidate.filter(
        entry_id=candidate.entry_id, normalized=candidate.normalized, status="pending"
    ).count()


@dataclass(frozen=True)
class Pending:
    """Pending candidates of one entry and question: ``candidate_id`` names them on a button."""

    candidate_id: int
    entry_id: str
    text: str
    customers: int


async def pending(limit: int = 10) -> list[Pending]:
    """The pending candidates, one per entry and question, most customers first, by entry."""
    rows = (
        await QuestionCandidate.filter(status="pending")
        .exclude(question__normalized="")  # the customer asked to be forgotten
        .annotate(customers=Count("id"), first=Min("id"))
        .group_by("entry_id", "normalized")
        .order_by("-customers", "first")
        .limit(limit)
        .values("entry_id", "customers", "first")
    )
    texts = dict(
        await QuestionCandidate.filter(id__in=[r["first"] for r in rows]).values_list("id", "question__text")
    )
    found = [Pending(r["first"], r["entry_id"], str(texts.get(r["first"], "")), r["customers"]) for r in rows]
    return sorted(found, key=lambda p: (p.entry_id, -p.customers))


@dataclass(frozen=True)
class Decided:
    entry_id: str
    text: str
    accepted: bool


class Undecidable(Exception):
    """The candidate is gone, already decided, or its entry no longer exists."""


async def decide(kb: LiveKnowledgeBase, candidate_id: int, accept: bool) -> Decided:
    """Accept (teach the KB, at once) or reject the candidate and every pending one like it.

    Claimed with one UPDATE of pending rows, so two supervisors pressing at once teach it once.
    Raises :class:`Undecidable`, or ``KBError`` when the KB refuses the question (nothing changed).
    """
    candidate = await QuestionCandidate.get_or_none(id=candidate_id, status="pending").prefetch_related("question")
    if candidate is None or not candidate.question.normalized:
        raise Undecidable(candidate_id)
    if accept and candidate.entry_id not in kb.kb:
        raise Undecidable(candidate_id)
    alike = QuestionCandidate.filter(entry_id=candidate.entry_id, normalized=candidate.normalized, status="pending")
    ids = await alike.values_list("id", flat=True)
    if not await QuestionCandidate.filter(id__in=ids, status="pending").update(status="accepted" if accept else "rejected"):
        raise Undecidable(candidate_id)
    if accept:
        try:
            kb.add_question(candidate.entry_id, candidate.language, candidate.question.text)
        except KBError:
            await QuestionCandidate.filter(id__in=ids).update(status="pending")
            raise
        await Question.filter(normalized=candidate.normalized).update(learned=True)
    return Decided(candidate.entry_id, candidate.question.text, accept)


async def confirmed(kb: LiveKnowledgeBase, question: Question, entry_id: str, auto_learn: int) -> Decided | None:
    """The customer confirmed ``entry_id`` for ``question``: a candidate, accepted at once when
    ``auto_learn`` > 0 different customers have now confirmed it."""
    candidate = await propose(question, entry_id)
    if candidate is None or auto_learn <= 0 or await customers_confirming(candidate) < auto_learn:
        return None
    try:
        return await decide(kb, candidate.id, accept=True)
    except (Undecidable, KBError):  # decided meanwhile, or the KB refuses it: a supervisor sees it
        return None
