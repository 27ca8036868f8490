"""Tickets an agent opens: the shop writes to a customer first (/contact).

A shop calls a customer back about an order, a refund, a complaint made by phone: the agent opens
a ticket with a customer kefu knows, and the conversation runs in its topic as any other. Only a
customer who can be written to: one who blocked the bot (Telegram answered 403) or asked to be
forgotten (/forgetme) is refused, as is one an agent banned or shadowbanned (/unban first), and a
customer with an active ticket keeps that one (one active ticket per customer). The ticket is the
agent's from the start and open (they are working it); its first response is its opening (nobody
waits for one: the business seconds stay unset, and reports should leave ``source = 'agent'`` out
of response times), its resolution target the policy's. Its ``source`` is ``agent``. This module
knows nothing of Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core.crypto import BlindIndexField, blind_indexes
from bot.core.db import ROW_ID_MAX
from ticketing.lifecycle import OPEN, log_event
from ticketing.models import Agent, Customer, Ticket
from ticketing.moderation import RESTRICTED
from ticketing.service import active_ticket
from ticketing.sla import SlaPolicy

SOURCE = "agent"
Refusal = Literal["unknown", "forgotten", "blocked", "banned", "active"]


@dataclass(frozen=True)
class Contact:
    """What /contact came to: a new ticket, or why none (with the customer's active one)."""

    customer: Customer | None
    ticket: Ticket | None = None
    refused: Refusal | None = None


def username_index() -> str | None:
    """The customer's column holding the blind index of their username, if the schema has one
    (None: customers cannot be found by @username)."""
    for name, field in Customer._meta.fields_map.items():
        if isinstance(field, BlindIndexField) and field.of == "username":
            return name
    return None


async def find_customer(
    *, number: int | None = None, phone: str | None = None, username: str | None = None,
) -> Customer | None:
    """The customer with this Telegram user id, else this kefu customer number; or with this
    phone (E.164) or username, by their blind indexes."""
    if phone is not None:
        return await Customer.filter(phone_hash__in=blind_indexes("phone", phone)).order_by("-last_seen").first()
    if username is not None:
        column = username_index()
        kind = Customer._meta.fields_map[column].kind if column else ""  # type: ignore[attr-defined]
        found = Customer.filter(**{f"{column}__in": blind_indexes(kind, username)}) if column else None
        return await found.order_by("-last_seen").first() if found is not None else None
    if number is None:
        return None
    found = await Customer.get_or_none(telegram_id=number)
    if found is None and number <= ROW_ID_MAX:  # a Telegram id may be past what the id column holds
        found = await Customer.get_or_none(id=number)
    return found


async def contact(customer: Customer | None, agent: Agent, now: datetime, policy: SlaPolicy) -> Contact:
    """Open a ticket with ``customer`` on ``agent``'s behalf, assigned to them."""
    now = now.astimezone(UTC)
    if customer is None:
        return Contact(None, refused="unknown")
    if customer.forgotten_at is not None:
        return Contact(customer, refused="forgotten")
    if customer.blocked:
        return Contact(customer, refused="blocked")
    if customer.standing in RESTRICTED:  # banned or shadowbanned (ticketing/moderation.py): /unban first
        return Contact(customer, refused="banned")
    if (existing := await active_ticket(customer)) is not None:
        return Contact(customer, existing, refused="active")
    _, resolution_due = policy.dues("normal", now)
    try:
        async with in_transaction():
            ticket = await Ticket.create(
                customer=customer, active_customer_id=customer.id, source=SOURCE, category="other", priority="normal",
                status=OPEN, assignee=agent, waiting_since=now, first_response_due=now, first_response_at=now,
                resolution_due=resolution_due,
                created_at=now, updated_at=now,
            )
            await log_event(ticket, "created", f"agent:{agent.telegram_id}", now, source=SOURCE, category="other", priority="normal")
    except IntegrityError:  # the customer's own message opened one a moment ago
        return Contact(customer, await active_ticket(customer), refused="active")
    return Contact(customer, ticket)
