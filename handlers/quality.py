"""Quality inspection (质检) in the agent group: a message holding a forbidden phrase is stopped
before it reaches the customer, /send sends it anyway, and /resolve reminds of a closing phrase.

:func:`inspect` runs before the relay (handlers/__init__.py registers it in an earlier group): a
message it stops goes no further, and the agent gets a warning as a reply to it in the topic —
Telegram has no message only one member of a group sees, so "private" is a reply to the agent's
own message. The stopped message is kept (encrypted, as every message) until ``/send``, given as a
reply to it or alone for the agent's latest stopped message, sends it as it would have been sent:
signed, in the customer's script, with its formatting; an agent who edits the stopped message
instead sends it by that edit once it is clean (:func:`inspect_edit`). An album's parts, and
edits of messages already sent, are not inspected (handlers/media.py relays them as they are).
The rules and the counting are ticketing/quality.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telegram import Message, Update
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.config import Settings
from bot.core.i18n import text
from handlers.agent_group import (
    agent_of,
    forgotten_explained,
    formatting,
    media_of,
    send_to_customer,
    ticket_here,
)
from ticketing.lifecycle import CLOSED, RESOLVED, can_move
from ticketing.models import Agent, Customer, Ticket, TicketMessage
from ticketing.quality import (
    QualityRules,
    held_message,
    hold,
    keep_edited,
    release,
    remind_on_close,
    warn,
)

_FILE_FIELDS: dict[str, dict[str, Any]] = {
    "document": {}, "voice": {"duration": 0}, "audio": {"duration": 0}, "video": {"width": 0, "height": 0, "duration": 0},
}
"""What Telegram's file objects need besides their ids, to rebuild a stopped message for /send."""


def rules(settings: Settings) -> QualityRules:
    quality = settings.desk.quality
    return QualityRules(tuple(quality.forbidden), tuple(quality.required_on_close))


def quoted(phrases: Sequence[str]) -> str:
    return "、".join(f"“{p}”" for p in phrases)


async def inspect(update: Update, context: KefuContext) -> None:
    """An agent's message to a customer holding a forbidden phrase is stopped, kept and warned of."""
    message = update.effective_message
    said = message.text or message.caption
    found = rules(context.settings).forbidden_in(said) if said and not message.media_group_id else []
    if not found:
        return
    ticket = await ticket_here(message)
    if ticket is None or ticket.status == CLOSED or (await Customer.get(id=ticket.customer_id)).forgotten_at:
        return  # it would not reach a customer: the relay explains why
    agent = await agent_of(update, context)
    now = context.now()
    await hold(ticket, agent, text=said, formatting=_kept(message), group_message_id=message.message_id, now=now)
    await warn(ticket, agent, "forbidden", now, phrases=found, message=message.message_id)
    await message.reply_text(text(context.agent_language, "agent_quality_stopped", phrases=quoted(found)))
    raise ApplicationHandlerStop


async def inspect_edit(update: Update, context: KefuContext) -> None:
    """An agent edited a message the quality check stopped: clean now, it goes to the customer as
    edited; still holding a forbidden phrase, it stays stopped (as edited, for /send) and is
    warned of again. An edit of any other message is the relay's (handlers/media.py)."""
    message = update.edited_message
    ticket = await ticket_here(message)
    if ticket is None:
        return
    agent, now = await agent_of(update, context), context.now()
    held = await held_message(ticket, agent, message.message_id)
    if held is None:
        return
    said = message.text or message.caption or ""
    if found := rules(context.settings).forbidden_in(said):
        await keep_edited(held, said, _kept(message))
        await warn(ticket, agent, "forbidden", now, phrases=found, message=message.message_id)
        await message.reply_text(text(context.agent_language, "agent_quality_stopped", phrases=quoted(found)))
    elif ticket.status != CLOSED and not (await Customer.get(id=ticket.customer_id)).forgotten_at:
        if await send_to_customer(update, context, ticket, message, message.text, formatting(message.entities) if message.text else ()):
            await release(held, ticket, agent, now, fixed=True)
    raise ApplicationHandlerStop


def _kept(message: Message) -> dict[str, Any]:
    """What is kept of a stopped message besides its words: its kind (and file), its formatting."""
    entities = formatting(message.entities if message.text else message.caption_entities)
    kept = {"kind": "text"} if message.text else (media_of(message) or {"kind": "other"})
    return kept | {"entities": [e.to_dict() for e in entities]}


async def send_command(update: Update, context: KefuContext) -> None:
    """/send: the stopped message replied to (or the agent's latest) goes to the customer anyway."""
    language = context.agent_language
    message = update.effective_message
    ticket = await ticket_here(message)
    if ticket is None:
        await message.reply_text(text(language, "agent_not_a_ticket"))
        return
    if await forgotten_explained(context, ticket, message):
        return
    if ticket.status == CLOSED:
        await message.reply_text(text(language, "agent_ticket_is_closed", number=ticket.id))
        return
    agent = await agent_of(update, context)
    replied = message.reply_to_message
    if replied is not None and replied.forum_topic_created is not None:
        replied = None  # in a topic every message "replies" to the topic's first post
    held = await held_message(ticket, agent, replied.message_id) if replied is not None else None
    held = held or await held_message(ticket, agent)
    if held is None:
        await message.reply_text(text(language, "agent_quality_nothing_held"))
        return
    stopped = replied if replied is not None and replied.message_id == held.group_message_id else _rebuilt(context, ticket, held)
    said = stopped.text
    if await send_to_customer(update, context, ticket, stopped, said, formatting(stopped.entities) if said else ()):
        await release(held, ticket, agent, context.now())
        await message.reply_text(text(language, "agent_quality_sent_anyway"))


def _rebuilt(context: KefuContext, ticket: Ticket, held: TicketMessage) -> Message:
    """The stopped message as Telegram gave it, from what was kept: its text or caption with their
    formatting, and its id in the group (a media message is copied from there)."""
    kept = held.media or {}
    data: dict[str, Any] = {
        "message_id": held.group_message_id, "date": int(held.created_at.timestamp()),
        "chat": {"id": context.agent_chat_id, "type": "supergroup"},
    }
    if ticket.topic_id is not None:
        data |= {"message_thread_id": ticket.topic_id, "is_topic_message": True}
    kind = kept.get("kind")
    if kind == "text":
        return Message.de_json(data | {"text": held.text, "entities": kept.get("entities", [])}, context.bot)
    data |= {"caption": held.text or None, "caption_entities": kept.get("entities", [])}
    file = {"file_id": kept.get("file_id", ""), "file_unique_id": kept.get("file_id", "")}
    if kind == "photo":
        data["photo"] = [file | {"width": 0, "height": 0}]
    elif kind in _FILE_FIELDS:
        data[kind] = file | _FILE_FIELDS[kind]
    return Message.de_json(data, context.bot)


async def reminds_on_resolve(update: Update, context: KefuContext, ticket: Ticket, agent: Agent) -> bool:
    """/resolve without a closing phrase in any of the agent's messages: reminded once (True: not
    resolved now); /resolve again, with nothing sent since, resolves."""
    phrases = await closing_phrase_missing(context.settings, ticket, agent, context.now())
    if phrases is None:
        return False
    await update.effective_message.reply_text(text(context.agent_language, "agent_quality_close_reminder", phrases=phrases))
    return True


async def closing_phrase_missing(settings: Settings, ticket: Ticket, agent: Agent, now: datetime) -> str | None:
    """The closing phrases, quoted, when ``agent`` resolving ``ticket`` is to be reminded that none
    of their messages held one (a warning, counted; once: resolving again with nothing sent since
    resolves); None: resolve. /resolve and the console's Resolve both ask it."""
    quality = rules(settings)
    if not can_move(ticket, RESOLVED) or not await remind_on_close(ticket, agent, quality, now):
        return None
    return quoted(quality.required_on_close)
