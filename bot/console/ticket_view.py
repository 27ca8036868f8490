"""What the console's Ticket page shows: the whole conversation in order, the customer card,
their orders, earlier tickets and survey answers.

The conversation merges what kefu keeps of a ticket: the customer's messages, agents' replies,
internal notes and messages quality inspection stopped (``TicketMessage``); the ticket's history
(``TicketEvent``: claims, moves, assignments, the console's own actions); and the bot's answers
before the ticket, which kefu keeps as the customer's routed questions (``kb_question``: what they
asked and which entry answered; the answer is the live knowledge base's text for that entry).
The customer card's facts are the topic card's (handlers/agent_group.py ``card_facts``). A
customer who was forgotten (/forgetme) shows as 🕶 with nothing of theirs: no names, no Telegram
id, no orders, no questions. Texts are returned as they are: the templates escape them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.context import KefuApp
from bot.core.i18n import LANGUAGE_NAMES, text
from handlers.agent_group import CardFacts, card_facts, local_time
from knowledge_base.models import Question
from scheduler.models import SurveyResponse
from ticketing.models import (
    Agent,
    Customer,
    Ticket,
    TicketEvent,
    TicketMessage,
    TicketStatus,
)

CONSOLE_ACTOR = "console"
"""The actor kind of the ticket's history rows the console writes: ``console:TELEGRAM_ID``."""
ROUTED_BEFORE = timedelta(minutes=1)
"""A question routed this long after the ticket opened still counts as before it: the message that
opened the ticket is routed as it is opened (clocks of two processes differ a little too)."""
QUESTIONS_SHOWN = 20
PREVIEWED = frozenset({"photo", "sticker", "voice", "audio", "video", "animation", "video_note", "document"})
STATUSES = frozenset(str(s) for s in TicketStatus)
SOURCES = frozenset({"complaint", "handoff", "feedback", "command", "order", "agent"})
RULES = frozenset({"forbidden", "required_on_close"})
SURVEYS = frozenset({"csat", "servqual", "delivered", "nps"})
CONSOLE_ACTIONS = frozenset({"claim", "assign", "priority", "pending", "resolve", "close", "note", "reply"})
KNOWN_EVENTS = frozenset({
    "created", "status", "claimed", "assigned", "priority", "category", "topic_recreated", "message_edited",
    "message_deleted", "quality_warning", "quality_override", CONSOLE_ACTOR,
})
"""History rows with a sentence of their own in the catalogs (``console_ticket_event_<kind>``); others show their kind."""


@dataclass(frozen=True)
class Media:
    """A file of a message, shown through ``/console/media/<message id>?part=N``."""

    kind: str
    url: str


@dataclass(frozen=True)
class Line:
    """One line of the conversation."""

    at: datetime
    when: str
    """``at`` in the shop's time."""
    kind: str
    """``in`` (the customer), ``out`` (an agent's reply), ``note``, ``held`` (stopped by quality
    inspection), ``bot`` (the bot's answer before the ticket), ``event`` (the ticket's history)."""
    who: str
    text: str = ""
    media: tuple[Media, ...] = ()
    answer: str = ""
    """A ``bot`` line: what the bot answered (the question is ``text``)."""
    console: bool = False
    """Done in the console (an event whose actor is ``console:ID``)."""
    edited: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class Rating:
    """A survey answer about this ticket."""

    label: str
    score: int | None
    comment: str


@dataclass
class TicketPage:
    """Everything the page shows, ready for the template."""

    ticket: Ticket
    customer: Customer
    forgotten: bool
    customer_name: str
    username: str
    language_name: str
    verified: bool
    assignee: str
    lines: list[Line]
    facts: CardFacts | None
    """None for a forgotten customer."""
    surveys: list[Rating] = field(default_factory=list)
    """This ticket's survey answers."""
    agents: list[Agent] = field(default_factory=list)
    """Whom a supervisor may assign it to (the agents kefu knows, active)."""
    due: str = ""


async def ticket_page(app: KefuApp, ticket_id: int, language: str) -> TicketPage | None:
    """The page of ticket ``ticket_id`` in ``language``, None when there is no such ticket."""
    ticket = await Ticket.get_or_none(id=ticket_id).prefetch_related("customer", "assignee")
    if ticket is None:
        return None
    customer: Customer = ticket.customer
    forgotten = customer.forgotten_at is not None
    known = await Agent.all()
    names, by_id = {a.telegram_id: a.name for a in known}, {a.id: a.name for a in known}
    lines = await _messages(app, ticket, customer, by_id, language)
    lines += await _events(app, ticket, names, language)
    if not forgotten:
        lines += await _bot_answers(app, ticket, customer, language)
    lines.sort(key=lambda line: (line.at, line.kind == "event"))
    due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
    return TicketPage(
        ticket=ticket, customer=customer, forgotten=forgotten,
        customer_name="🕶" if forgotten else customer.display_name,
        username="" if forgotten or not customer.username else f"@{customer.username}",
        language_name=LANGUAGE_NAMES.get(customer.language, customer.language),  # type: ignore[call-overload]
        verified=bool(customer.phone) and not forgotten,
        assignee=ticket.assignee.name if ticket.assignee else "",
        lines=lines,
        facts=None if forgotten else await card_facts(app, ticket, customer),
        surveys=[] if forgotten else await _surveys(ticket, language),
        agents=sorted((a for a in known if a.active), key=lambda a: a.id),
        due=local_time(app, due) if due else "",
    )


async def _messages(app: KefuApp, ticket: Ticket, customer: Customer, agents: dict[int, str], language: str) -> list[Line]:
    lines = []
    for message in await TicketMessage.filter(ticket=ticket).order_by("id"):
        if message.direction == "in":
            who = "🕶" if customer.forgotten_at else customer.display_name
        else:
            who = agents.get(message.agent_id or 0, "") or text(language, "console_ticket_someone")
        lines.append(Line(
            at=message.created_at, when=local_time(app, message.created_at), kind=message.direction, who=who,
            text=message.text, media=_media(message), edited=message.edited_at is not None, deleted=message.deleted_at is not None,
        ))
    return lines


def _media(message: TicketMessage) -> tuple[Media, ...]:
    """The files of a message kept with their Telegram file id (an album: each of its items)."""
    media = message.media or {}
    items = media.get("items") if media.get("kind") == "album" else [media]
    return tuple(
        Media(item["kind"], f"/console/media/{message.id}?part={index}")
        for index, item in enumerate(items or [])
        if isinstance(item, dict) and item.get("kind") in PREVIEWED and item.get("file_id")
    )


def media_file(message: TicketMessage, part: int) -> dict[str, Any] | None:
    """The kind and file id of the message's file ``part`` (0 for a message of one file), None if it has none."""
    media = message.media or {}
    items = media.get("items") if media.get("kind") == "album" else [media]
    if not isinstance(items, list) or not 0 <= part < len(items):
        return None
    item = items[part]
    if not isinstance(item, dict) or item.get("kind") not in PREVIEWED or not item.get("file_id"):
        return None
    return item


async def _events(app: KefuApp, ticket: Ticket, agents: dict[int, str], language: str) -> list[Line]:
    lines = []
    for event in await TicketEvent.filter(ticket=ticket).order_by("id"):
        kind, _, who = event.actor.partition(":")
        console = kind == CONSOLE_ACTOR
        if kind in ("agent", CONSOLE_ACTOR) and who.isdigit():
            name = agents.get(int(who), who)
        else:
            name = text(language, "console_ticket_actor_" + ("customer" if event.actor == "customer" else "system"))
        lines.append(Line(
            at=event.at, when=local_time(app, event.at), kind="event", who=name,
            text=event_text(event, agents, language), console=console,
        ))
    return lines


def event_text(event: TicketEvent, agents: dict[int, str], language: str) -> str:
    """The history row as a sentence (its kind, for a kind the catalogs have no sentence for)."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.kind not in KNOWN_EVENTS:
        return event.kind
    values: dict[str, Any] = {key: value for key, value in data.items() if isinstance(value, str | int | float)}
    if event.kind == "assigned":
        values["agent"] = agents.get(data.get("agent") or 0, str(data.get("agent", "")))
    if event.kind == "status":
        status = str(data.get("status", ""))
        values["status"] = text(language, "console_ticket_status_" + status) if status in STATUSES else status
    if event.kind == "created" and data.get("source") in SOURCES:
        values["source"] = text(language, "console_ticket_source_" + data["source"])
    if event.kind == "quality_warning" and data.get("rule") in RULES:
        values["rule"] = text(language, "console_ticket_rule_" + data["rule"])
    if event.kind in ("created", "category"):
        values["category"] = text(language, "category_" + str(data.get("category", "other")))
    if event.kind == CONSOLE_ACTOR:
        action = str(data.get("action", ""))
        values["action"] = text(language, "console_ticket_action_" + action) if action in CONSOLE_ACTIONS else action
    return text(language, "console_ticket_event_" + event.kind, **values)


async def _bot_answers(app: KefuApp, ticket: Ticket, customer: Customer, language: str) -> list[Line]:
    """The customer's questions the bot routed since their previous ticket and until this one opened."""
    opened = ticket.created_at.astimezone(UTC)
    previous = await Ticket.filter(customer_id=customer.id, id__lt=ticket.id).order_by("-id").first()
    questions = Question.filter(customer_id=customer.id, asked_at__lte=opened + ROUTED_BEFORE).exclude(text="")
    if previous is not None:
        questions = questions.filter(asked_at__gt=previous.created_at.astimezone(UTC) + ROUTED_BEFORE)
    lines = []
    bot_name = text(language, "console_ticket_actor_bot")
    for question in reversed(await questions.exclude(action__in=("complaint", "handoff")).order_by("-id").limit(QUESTIONS_SHOWN)):
        lines.append(Line(
            at=question.asked_at, when=local_time(app, question.asked_at), kind="bot", who=bot_name, text=question.text,
            answer=_answer(app, question, customer, language),
        ))
    return lines


def _answer(app: KefuApp, question: Question, customer: Customer, language: str) -> str:
    """The knowledge base's answer as the customer got it (as it reads now), else what the bot did."""
    kb = app.bot_data.kb
    if question.action == "answer" and question.entry_id and question.entry_id in kb.kb:
        return kb.answer(question.entry_id, customer.language)
    return text(language, "console_ticket_routed_" + (question.action or "none"), entry=question.entry_id or "")


async def _surveys(ticket: Ticket, language: str) -> list[Rating]:
    return [
        Rating(text(language, "console_ticket_survey_" + r.kind) if r.kind in SURVEYS else r.kind, r.score, r.comment or "")
        for r in await SurveyResponse.filter(ticket_id=ticket.id).order_by("answered_at")
    ]
