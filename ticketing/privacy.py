"""/forgetme: a customer's personal data and messages deleted, their anonymous counts kept.

What goes: their names, Telegram username, phone, birthday, time zone and tags; the texts and
media of every message of their tickets (theirs, the agents' replies and the agents' notes) and
the tickets' subjects; their survey comments; the texts of the questions they asked the bot; the
phone of the orders of their phone, and which orders they proved theirs; their queued messages
(cancelled); their conversation state; the updates of theirs that the inbox holds, once handled.

What stays, so that reports count the same: the customer row itself as an anonymous shell
(``forgotten_at`` set, opted out of everything, their language and segment), their tickets
(number, category, priority, status and every time), survey scores, question counts, orders
(amounts and dates, for RFM) and the outbox rows already settled. The Telegram user id stays too:
kefu knows them again if they write, and keeps them opted out. Their open tickets are closed.

Failed order verifications stay: forgetting must not reset the limit on guessing phone digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.crypto import blind_indexes
from bot.models import ConversationState, InboxUpdate
from knowledge_base.models import Question
from knowledge_base.orders.models import Order, OrderGrant
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.business_hours import BusinessCalendar
from ticketing.models import Customer, Ticket, TicketMessage
from ticketing.service import close


@dataclass(frozen=True)
class Forgotten:
    """What forgetting did: the agent group is told in the topics of ``tickets``."""

    tickets: list[Ticket]
    closed: list[int]
    """Numbers of the tickets that were still active and are closed now."""
    messages: int
    orders: int
    cancelled: int


async def forget_customer(customer: Customer, now: datetime, calendar: BusinessCalendar | None = None) -> Forgotten:
    """Delete the customer's personal data and messages (see the module's docstring), in one transaction."""
    now = now.astimezone(UTC)
    async with in_transaction():
        tickets = await Ticket.filter(customer=customer).order_by("id")
        closed = [t.id for t in tickets if t.status != "closed" and await close(t, "customer", now, calendar)]
        ticket_ids = [t.id for t in tickets]
        messages = await TicketMessage.filter(ticket_id__in=ticket_ids).update(text="", media=None)
        await Ticket.filter(customer=customer).update(subject="")
        await SurveyResponse.filter(customer=customer).update(comment=None)
        await Question.filter(customer=customer).update(text="", normalized="")
        orders = 0
        if customer.phone:
            orders = await Order.filter(phone_hash__in=blind_indexes("phone", customer.phone)).update(
                phone=None, phone_hash=None
            )
        await OrderGrant.filter(customer=customer).delete()
        cancelled = await OutboxMessage.filter(customer=customer, status="queued").update(
            status="cancelled", settled_at=now
        )
        await ConversationState.filter(owner_id=customer.telegram_id, scope__in=("user", "chat")).delete()
        await _erase_inbox(customer.telegram_id)
        customer.first_name, customer.last_name, customer.username = "", None, None
        customer.phone, customer.birthday, customer.timezone, customer.tags = None, None, None, []
        customer.opted_out, customer.forgotten_at = True, now
        await customer.save(update_fields=[
            "first_name", "last_name", "username", "phone", "birthday", "timezone", "tags", "opted_out", "forgotten_at",
        ])
    return Forgotten(tickets, closed, messages, orders, cancelled)


_HANDLED = ("done", "throttled", "unknown", "failed")
"""The inbox's finished states (bot/models.py, InboxUpdate.status): what ``bot.inbox.purge`` deletes too."""


async def _erase_inbox(telegram_id: int) -> None:
    """The customer's handled updates (from them, or in their private chat) are deleted. Those
    still ``new`` or ``processing`` stay, to be handled — the /forgetme update itself is one —
    and go when the inbox is purged, like every row."""
    await InboxUpdate.filter(Q(user_id=telegram_id) | Q(chat_id=telegram_id), status__in=_HANDLED).delete()
