"""Spam and abuse: whether what a customer writes reaches the agents, and the trail of who decided.

Every public bot gets waves of spam, and now and then an abusive customer. A customer's
``standing`` (:class:`Standing`) says what becomes of their messages; the bot's gate
(handlers/spam.py) reads it before any other handler, and the rules of moving between standings
live here, each move one conditional UPDATE (two agents, two processes: one move happens) and one
row of the customer's own trail (:class:`~ticketing.models.CustomerEvent`), with the ticket's
trail too when the move was made in a ticket's topic.

    new ──(button pressed)──→ verified ──(first message)──→ cleared
     └──────────────(first message)──────────────────────────┘
     new / verified ──(first message matches block_patterns)──→ held ──(allow)──→ cleared
                                                                   └──(ban)───→ banned
    any ──/ban──→ banned      any ──/shadowban──→ shadow      banned, shadow ──/unban──→ cleared

A *banned* customer's messages are dropped unseen: nothing opens, nobody is told, and only the
fact is kept (``Customer.withheld`` counts them). A *shadowbanned* customer's messages are
recorded in their ticket as ``mute`` messages (``TicketMessage.direction``: from the customer,
relayed to no agent, left out of every "in" count) and nobody is told either. Knows nothing of
Telegram.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import regex
from tortoise.expressions import F

from bot.core.crypto import blind_indexes
from ticketing.lifecycle import log_event
from ticketing.models import Customer, CustomerEvent, Ticket, TicketMessage

log = logging.getLogger(__name__)

MUTE = "mute"
"""``TicketMessage.direction`` of a shadowbanned customer's message: recorded, relayed to no agent."""
PATTERN_TIMEOUT = 0.05
"""Seconds one block pattern may take on one message (the ``regex`` library's timeout): a pattern
that backtracks catastrophically on a crafted text holds the message for a supervisor rather than
stalling the bot."""
CHECKED_LENGTH = 8192
"""Characters of a message (text, caption and hidden link targets) the patterns read: Telegram's
texts are 4,096 at most."""


class Standing(StrEnum):
    """Where a customer stands; the stored strings (``Customer.standing``)."""

    NEW = "new"
    """Never checked: with ``[spam] first_contact = "button"`` they press a button first."""
    VERIFIED = "verified"
    """Pressed the button; their first message is still to be checked against ``block_patterns``."""
    HELD = "held"
    """Their first message matched ``block_patterns``: nothing opens until a supervisor allows it."""
    CLEARED = "cleared"
    """Writes to the shop like anyone."""
    BANNED = "banned"
    """Messages dropped unseen."""
    SHADOW = "shadow"
    """Messages recorded in their ticket, relayed to no agent."""


RESTRICTED: tuple[Standing, ...] = (Standing.BANNED, Standing.SHADOW)
UNCHECKED: tuple[Standing, ...] = (Standing.NEW, Standing.VERIFIED)


class BadPattern(ValueError):
    """A ``block_patterns`` entry that is not a regular expression."""


def compile_patterns(patterns: Sequence[str]) -> tuple[regex.Pattern[str], ...]:
    """The patterns compiled as they are matched: case-insensitive, anywhere in the text.
    Raises :class:`BadPattern` naming the first that does not compile."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(regex.compile(pattern, regex.IGNORECASE))
        except regex.error as error:
            raise BadPattern(f"{pattern!r} is not a regular expression ({error})") from None
    return tuple(compiled)


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> tuple[regex.Pattern[str], ...]:
    return compile_patterns(patterns)


def blocking_pattern(patterns: Sequence[str], said: str) -> str | None:
    """The first of ``patterns`` that ``said`` matches (or that ran out of time on it), else None."""
    said = said[:CHECKED_LENGTH]
    for pattern in _compiled(tuple(patterns)):
        try:
            if pattern.search(said, timeout=PATTERN_TIMEOUT):
                return pattern.pattern
        except TimeoutError:
            log.warning("block pattern %r ran out of time on a message: held for a supervisor", pattern.pattern)
            return pattern.pattern
    return None


# -- finding a customer --------------------------------------------------------------------------


async def find_customer(handle: str, largest_id: int) -> Customer | None:
    """``handle`` as an agent types it: a Telegram user id, ``@username`` (or the name alone), or
    ``#N`` (the customer of ticket N). None when it names nobody kefu knows."""
    handle = handle.strip()
    if handle.startswith("#"):
        number = _whole(handle[1:], 2**31 - 1)
        ticket = await Ticket.get_or_none(id=number).select_related("customer") if number else None
        return ticket.customer if ticket else None
    name = handle.removeprefix("@")
    if name.isascii() and name.isdigit():  # a username never starts with a digit
        telegram_id = _whole(name, largest_id)
        return await Customer.get_or_none(telegram_id=telegram_id) if telegram_id else None
    if not name:
        return None
    return await Customer.filter(username_hash__in=blind_indexes("username", name)).order_by("-last_seen").first()


def _whole(given: str, largest: int) -> int | None:
    given = given.lstrip("0")
    if not (given.isascii() and given.isdigit()) or len(given) > len(str(largest)):
        return None
    value = int(given)
    return value if 1 <= value <= largest else None


# -- moves -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """A move that happened: from which standing, and what was withheld under the old one."""

    before: Standing
    withheld: int


async def _move(
    customer: Customer, to: Standing, actor: str, now: datetime, kind: str, *,
    only_from: Sequence[Standing] | None = None, ticket: Ticket | None = None, reset_withheld: bool = False,
    **data: Any,
) -> Moved | None:
    """One conditional UPDATE from the standing the customer was read with (or from any of
    ``only_from``), then the trail; None when someone else moved them first or the move is none."""
    now = now.astimezone(UTC)
    before = Standing(customer.standing)
    if before is to or (only_from is not None and before not in only_from):
        return None
    withheld = customer.withheld
    columns: dict[str, Any] = {"standing": to}
    if reset_withheld:
        columns["withheld"] = 0
    if not await Customer.filter(id=customer.id, standing=before).update(**columns):
        return None
    customer.standing = to
    if reset_withheld:
        customer.withheld = 0
    trail = {"before": str(before), **{k: v for k, v in data.items() if v is not None}}
    await CustomerEvent.create(customer=customer, kind=kind, actor=actor, data=trail, at=now)
    if ticket is not None:
        await log_event(ticket, kind, actor, now, **trail)
    return Moved(before, withheld)


async def ban(
    customer: Customer, actor: str, now: datetime, *, shadow: bool = False, reason: str | None = None,
    ticket: Ticket | None = None, only_from: Sequence[Standing] | None = None,
) -> Moved | None:
    """/ban (or /shadowban, ``shadow``): from whatever standing; None if they already were."""
    to = Standing.SHADOW if shadow else Standing.BANNED
    kind = "shadowbanned" if shadow else "banned"
    return await _move(customer, to, actor, now, kind, only_from=only_from, ticket=ticket, reset_withheld=True,
                       reason=reason or None)


async def unban(customer: Customer, actor: str, now: datetime, *, reason: str | None = None, ticket: Ticket | None = None) -> Moved | None:
    """/unban lifts a ban and a shadowban alike; None if the customer had neither."""
    return await _move(customer, Standing.CLEARED, actor, now, "unbanned", only_from=RESTRICTED, ticket=ticket,
                       reason=reason or None)


async def verified(customer: Customer, now: datetime, *, then_checked: bool) -> bool:
    """The customer pressed the first-contact button: cleared, or ``verified`` when their first
    message is still to be checked against block patterns (``then_checked``)."""
    to = Standing.VERIFIED if then_checked else Standing.CLEARED
    return await _move(customer, to, "customer", now, "verified", only_from=(Standing.NEW,)) is not None


async def cleared(customer: Customer, now: datetime) -> bool:
    """A new customer's first message passed every check: they write like anyone from now on."""
    return await _move(customer, Standing.CLEARED, "system", now, "cleared", only_from=UNCHECKED) is not None


async def held(customer: Customer, now: datetime, pattern: str) -> bool:
    """A new customer's first message matched ``pattern``: it waits for a supervisor."""
    return await _move(customer, Standing.HELD, "system", now, "held", only_from=UNCHECKED, pattern=pattern) is not None


async def allowed(customer: Customer, actor: str, now: datetime) -> bool:
    """A supervisor let a held customer through."""
    return await _move(customer, Standing.CLEARED, actor, now, "allowed", only_from=(Standing.HELD,)) is not None


# -- what becomes of their messages ----------------------------------------------------------------


async def count_withheld(customer: Customer) -> None:
    """One more message dropped (or kept from the agents): the fact is all that is kept of it."""
    await Customer.filter(id=customer.id).update(withheld=F("withheld") + 1)


async def record_muted(
    customer: Customer, now: datetime, *, text: str, media: dict[str, Any] | None, customer_message_id: int | None,
) -> TicketMessage | None:
    """A shadowbanned customer's message, recorded in their active ticket (else their latest) as
    a ``mute`` message: no status moves, no SLA clock runs, no agent sees it. None when they have
    no ticket at all: then only the fact is counted."""
    await count_withheld(customer)
    ticket = await Ticket.filter(active_customer_id=customer.id).first() or await (
        Ticket.filter(customer=customer).order_by("-id").first()
    )
    if ticket is None:
        return None
    return await TicketMessage.create(
        ticket=ticket, direction=MUTE, text=text, media=media, customer_message_id=customer_message_id,
        created_at=now.astimezone(UTC),
    )
