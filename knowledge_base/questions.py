"""The learning loop: log what customers ask, take their 👍/👎, list what the bot missed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rapidfuzz import fuzz, process
from tortoise.expressions import Q
from tortoise.functions import Count, Max

from bot.core.fit import cut, storable
from bot.core.language import detect_language
from knowledge_base.features import normalize, tokens
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.models import Question
from knowledge_base.router import Route
from ticketing.models import Customer, Ticket, TicketMessage

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


NEAR_SAME = 88
"""token_sort_ratio (0–100) at or above which two normalised questions are one /kb_missed group.

The matcher's normalisation has already folded case, width, punctuation, traditional to
simplified and every number to 0, so what is left to absorb is a typo or a particle: "快递到哪了"
and "快递到哪了啊" score 90, "do you ship to mars" and "do you ship to marz" 95. A long question
scores high after a one-word change too ("how do i cancel my order" / "… change my order", 92),
so every word one side has and the other lacks must also be a typo of one the other has
(``fuzz.ratio`` ≥ ``TYPO``, words of two letters or more) or a filler (``FILLERS``): "我要退货"
and "我要换货" stay apart."""

TYPO = 75
FILLERS = frozenset("了 啊 呀 吗 呢 吧 啦 哦 嘛 的 哈 呃 please pls plz hi hello hey the a um ok".split())

def near_same(a: str, b: str) -> bool:
    """Two normalised questions are one /kb_missed group: close overall, and word by word."""
    if fuzz.token_sort_ratio(a, b) < NEAR_SAME:
        return False
    ta, tb = Counter(tokens(a)), Counter(tokens(b))
    only_a, only_b = list((ta - tb).elements()), list((tb - ta).elements())
    return all(
        word in FILLERS or (len(word) > 1 and any(len(o) > 1 and fuzz.ratio(word, o) >= TYPO for o in others))
        for mine, others in ((only_a, only_b), (only_b, only_a))
        for word in mine
    )


MISSED_POOL = 2000
"""How many distinct normalised questions (most frequent first) are merged into groups."""


_NOT_ANSWERED = Q(band__in=("low", "middle"), action__isnull=True) | Q(feedback="down")
"""Not understood (low confidence, or a "did you mean" without a pick) or answered wrong (a 👎)."""


@dataclass(frozen=True)
class Missed:
    text: str
    """The group's most frequent wording (the latest asked on a tie)."""
    normalized: str
    times: int
    """How often any wording of the group was asked."""
    last_asked: datetime
    language: str
    keys: tuple[str, ...] = ()
    """Every normalised text in the group: teaching the group marks them all learned."""


async def missed_questions(limit: int = 10) -> list[Missed]:
    """The questions most often not understood or answered wrong, not yet learned.

    Not understood: low confidence, or "did you mean" without a pick. Wrong: a 👎.

    Counted in the database per normalised text and wording, so "Do you ship to Mars?" and "do
    you ship to mars" count together; then near-identical normalised texts (``NEAR_SAME``) are
    merged, most frequent first, each into the first group whose key is that close.
    """
    rows = (
        await Question.filter(_NOT_ANSWERED, learned=False)
        .exclude(normalized="")  # the text of a customer who asked to be forgotten
        .annotate(times=Count("id"), last=Max("asked_at"), lang=Max("language"))
        .group_by("normalized", "text")
        .order_by("-times", "-last")
        .limit(MISSED_POOL)
        .values("normalized", "text", "times", "last", "lang")
    )
    keys: list[str] = []  # each group's key, the first (most frequent) normalised text seen
    groups: list[list[dict]] = []
    group_of: dict[str, int] = {}
    for row in rows:
        place = group_of.get(row["normalized"])
        if place is None:
            close = process.extract(row["normalized"], keys, scorer=fuzz.token_sort_ratio, score_cutoff=NEAR_SAME, limit=5)
            near = next((found for key, _, found in close if near_same(row["normalized"], key)), None)
            place = near if near is not None else len(keys)
            if near is None:
                keys.append(row["normalized"])
                groups.append([])
            group_of[row["normalized"]] = place
        groups[place].append(row)
    missed = []
    for key, members in zip(keys, groups, strict=True):
        top = max(members, key=lambda r: (r["times"], r["last"]))
        missed.append(
            Missed(
                top["text"],
                key,
                sum(r["times"] for r in members),
                max(r["last"] for r in members),
                top["lang"],
                tuple(dict.fromkeys(r["normalized"] for r in members)),
            )
        )
    missed.sort(key=lambda m: (m.times, m.last_asked), reverse=True)
    return missed[:limit]


async def missed_group(key: str) -> Missed | None:
    """The /kb_missed group whose key (:attr:`Missed.normalized`) is ``key``, if it is still missed."""
    return next((m for m in await missed_questions(limit=MISSED_POOL) if m.normalized == key), None)


async def teach_missed(kb: LiveKnowledgeBase, entry_id: str, question: str, group: Sequence[str] = ()) -> None:
    """Teach ``question`` (a missed one, or any a supervisor types) to ``entry_id`` as an example,
    saved to the learned file and answered from now on; it and its group's other wordings
    ``group`` (:attr:`Missed.keys`) leave /kb_missed. ``/kb_add`` and the console's missed list.
    Raises KBError if the KB refuses it (nothing changed)."""
    kb.add_question(entry_id, detect_language(question) or "en", question)
    await mark_learned(question, *group)


async def mark_learned(question: str, *also: str) -> int:
    """The question was taught to the KB: it leaves /kb_missed, with the group's other wordings ``also``."""
    return await Question.filter(normalized__in=[question_key(question), *also]).update(learned=True)


ORIGIN_SOURCES = ("handoff", "feedback", "complaint")
"""Tickets the bot's fallbacks open ("talk to a person" under an answer or a "did you mean", a 👎,
an angry message not answered): those start from a question; a /human command need not."""


async def ticket_question(ticket: Ticket) -> Question | None:
    """The unanswered question a ticket started from (a ticket does not record it): its
    customer's last question not understood or answered wrong and not yet taught — while a ticket
    is open the customer's messages go to it, not to the router, so that is the one before it.
    None for a ticket the customer opened by command, or a customer who asked to be forgotten."""
    if ticket.source not in ORIGIN_SOURCES:
        return None
    return (
        await Question.filter(_NOT_ANSWERED, customer_id=ticket.customer_id, learned=False)
        .exclude(normalized="")
        .order_by("-asked_at", "-id")
        .first()
    )


async def agent_answer(ticket: Ticket) -> str | None:
    """What an agent last wrote to the customer in the ticket: the answer a new entry would give."""
    message = await TicketMessage.filter(ticket_id=ticket.id, direction="out").exclude(text="").order_by("-created_at", "-id").first()
    return message.text.strip() if message and message.text.strip() else None


async def attach_question(kb: LiveKnowledgeBase, question: Question, entry_id: str | None, answer: str | None = None) -> str:
    """Teach ``question`` to the live KB (saved to its learned file, in effect at once): as an
    example of ``entry_id``, or, with ``answer``, as a new entry ``learned_<question id>``; the
    question and its near-identical wordings leave /kb_missed. The entry's id; KBError if refused."""
    language = question.language if question.language in ("zh-Hans", "zh-Hant", "en") else detect_language(question.text) or "en"
    if entry_id is None:
        entry_id = f"learned_{question.id}"
        kb.add_entry(
            {
                "id": entry_id,
                "category": "learned",
                "action": "answer",
                "questions": {language: [question.text]},
                "answer": {detect_language(answer or "") or language: answer},
                "tags": ["added_in_chat"],
            }
        )
    else:
        kb.add_question(entry_id, language, question.text)
    await mark_learned(question.text, question.normalized)
    return entry_id
