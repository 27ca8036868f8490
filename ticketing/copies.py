"""Which post is whose copy: the pairs of message ids a relayed ticket message leaves behind.

Everything a customer sends lands in the ticket's topic as a copy, and everything an agent writes
there reaches the customer as one; a message is also edited after it was sent, and an agent may
take theirs back. Telegram tells the bot of an edit by the message's own id only, so each ticket
message keeps the ids on both sides: the first post's pair in ``customer_message_id`` /
``group_message_id``, and, for a message relayed as several posts (an album, a long text), every
pair in ``parts`` — ``[source id, copy id]``, the source being the side it was written on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ticketing.lifecycle import log_event
from ticketing.models import Ticket, TicketMessage

DELETE_WINDOW = timedelta(hours=48)
"""How long a bot may delete a message it sent in a private chat (Telegram's rule)."""
RECENT = 200
"""Ticket messages searched for a part of a message relayed as several posts."""

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class Relayed:
    """A ticket message and the one post of it asked about: its id on the side it was written
    on (``source``) and of its copy on the other (``copy``; None: the copy is not known)."""

    message: TicketMessage
    source: int
    copy: int | None
    first: bool
    """The first (or only) post of the message."""

    @property
    def whole(self) -> bool:
        """Relayed as a single post, so that its copy holds all of it."""
        return not self.message.parts


def _source_and_copy(message: TicketMessage) -> tuple[int | None, int | None]:
    if message.direction == "in":
        return message.customer_message_id, message.group_message_id
    return message.group_message_id, message.customer_message_id


async def find(ticket: Ticket, direction: Direction, source_id: int) -> Relayed | None:
    """The ticket's message written as post ``source_id`` (in the customer chat for "in", in the
    agent group for "out"), with the post's copy."""
    key = "customer_message_id" if direction == "in" else "group_message_id"
    message = await TicketMessage.filter(ticket=ticket, direction=direction, **{key: source_id}).order_by("-id").first()
    if message is not None:
        source, copy = _source_and_copy(message)
        return Relayed(message, source_id, copy, first=True)
    candidates = await TicketMessage.filter(ticket=ticket, direction=direction, parts__isnull=False).order_by("-id").limit(RECENT)
    for message in candidates:
        for index, (source, copy) in enumerate(message.parts or []):
            if source == source_id:
                return Relayed(message, source, copy, first=index == 0)
    return None


def copies(message: TicketMessage) -> list[int]:
    """Every post of the message's copy, in order."""
    if message.parts:
        return [copy for _source, copy in message.parts if copy is not None]
    _source, copy = _source_and_copy(message)
    return [copy] if copy is not None else []


async def edited(relayed: Relayed, text: str, now: datetime) -> None:
    """What the message says now (the text of a single post, or a part's caption for an album's
    first part), and when it changed."""
    message = relayed.message
    message.edited_at = now.astimezone(UTC)
    fields = ["edited_at"]
    if relayed.whole or relayed.first:
        message.text = text
        fields.append("text")
    await message.save(update_fields=fields)


def deletable(message: TicketMessage, now: datetime) -> bool:
    """Whether the customer's copy of an agent's message may still be deleted."""
    return message.deleted_at is None and now.astimezone(UTC) - message.created_at < DELETE_WINDOW


async def deleted(ticket: Ticket, message: TicketMessage, actor: str, now: datetime) -> None:
    """The agent took the message back: recorded on it and in the ticket's audit trail."""
    message.deleted_at = now.astimezone(UTC)
    await message.save(update_fields=["deleted_at"])
    await log_event(ticket, "message_deleted", actor, now, message=message.id)
