"""The ticket service: what happens to a customer's problem, step by step, with its audit trail.

receive (open_ticket) → classify (category, priority, repeat) → work (messages, claim, notes)
→ resolve → close, or reopen. Every change writes a TicketEvent; every change of status goes
through ticketing/lifecycle.py, whose listeners hear of it. Functions take ``now`` so that tests
can travel in time; they know nothing of Telegram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.core.batch import Batch
from bot.core.fit import cut, storable
from ticketing import responses
from ticketing.business_hours import BusinessCalendar
from ticketing.lifecycle import (
    CLOSED,
    DONE,
    NEW,
    OPEN,
    PENDING,
    RESOLVED,
    Assigned,
    can_move,
    change_status,
    log_event,
    ticket_assigned,
)
from ticketing.models import ACTIVE, WORKING, Agent, Customer, Ticket, TicketMessage
from ticketing.sla import SlaPolicy
from ticketing.triage import Category, Priority, guess_category, guess_priority

Source = Literal["complaint", "handoff", "feedback", "command", "order"]
REPEAT_WINDOW = timedelta(days=30)
SUBJECT_LIMIT = 255
"""Characters kept of the customer's first message as the ticket's subject (the column is
encrypted text, of any length: the limit keeps cards and lists short)."""
AGENT_NAME_LIMIT = 256
"""Characters kept of an agent's name (Telegram's first and last names joined are 129 at most;
the column is encrypted text)."""
USERNAME_LIMIT = 64


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    created: bool
    """False when the customer already had an active ticket: the message joined it."""


async def _active_tickets(customer_ids: Sequence[int]) -> dict[int, Ticket]:
    return {ticket.active_customer_id: ticket for ticket in await Ticket.filter(active_customer_id__in=customer_ids)}


_active: Batch[int, Ticket] = Batch(_active_tickets)


async def active_ticket(customer: Customer) -> Ticket | None:
    """The customer's ticket being worked, if any (asked for every message they send)."""
    return await _active(customer.id)


async def open_ticket(
    customer: Customer,
    *,
    text: str,
    source: Source,
    now: datetime,
    policy: SlaPolicy,
    category: Category | None = None,
    order_no: str | None = None,
    valuable_customer: bool = False,
    customer_message_id: int | None = None,
) -> Opened:
    """A new ticket for the customer's problem, or their active one, which the message joins.

    One active ticket per customer is a database rule (a unique column), so two messages racing
    in from the same customer cannot open two tickets. The same message (``customer_message_id``)
    handled again, after a crash, finds what it did the first time.
    """
    now = now.astimezone(UTC)  # SQLite compares stored times as text: always in UTC
    if customer_message_id is not None and (earlier := await handled_before(customer, customer_message_id)):
        return earlier
    existing = await active_ticket(customer)
    if existing is not None:
        await add_customer_message(existing, text=text, now=now, policy=policy, customer_message_id=customer_message_id)
        return Opened(existing, created=False)
    category = category or guess_category(text)
    priority: Priority = guess_priority(text, valuable_customer=valuable_customer)
    is_complaint = source in ("complaint", "order")
    repeat_of = None
    if is_complaint:
        repeat_of = await (
            Ticket.filter(customer=customer, is_complaint=True, category=category, created_at__gte=now - REPEAT_WINDOW)
            .order_by("-created_at")
            .first()
        )
    first_due, resolution_due = policy.dues(priority, now)
    try:
        async with in_transaction():
            ticket = await Ticket.create(
                customer=customer,
                active_customer_id=customer.id,
                source=source,
                is_complaint=is_complaint,
                category=category,
                priority=priority,
                status=NEW,
                subject=cut(storable(" ".join(text.split())), SUBJECT_LIMIT),
                order_no=order_no,
                repeat_of=repeat_of,
                waiting_since=now,
                first_response_due=first_due,
                resolution_due=resolution_due,
                created_at=now,
                updated_at=now,
            )
            await log_event(ticket, "created", "customer", now, source=source, category=category, priority=priority,
                            repeat_of=repeat_of.id if repeat_of else None)
            await TicketMessage.create(
                ticket=ticket, direction="in", text=text, customer_message_id=customer_message_id, created_at=now
            )
    except IntegrityError:  # the customer's other message opened it a moment ago
        ticket = await active_ticket(customer)
        if ticket is None:
            raise
        await add_customer_message(ticket, text=text, now=now, policy=policy, customer_message_id=customer_message_id)
        return Opened(ticket, created=False)
    return Opened(ticket, created=True)


async def unposted_tickets(opened_before: datetime) -> list[Ticket]:
    """Working tickets opened before ``opened_before`` whose card was never asked for, whatever
    became of their topic (a customer who was forgotten has no working ticket)."""
    return await Ticket.filter(
        status__in=WORKING, created_at__lt=opened_before.astimezone(UTC),
        card_message_id__isnull=True, card_requested_at__isnull=True,
    ).order_by("id")


async def handled_before(customer: Customer, customer_message_id: int) -> Opened | None:
    """What the customer's message did when it was handled before (it is handled again after a
    crash): the ticket it opened (``created``) or joined; None if it is in no ticket."""
    earlier = await (
        TicketMessage.filter(ticket__customer=customer, direction="in", customer_message_id=customer_message_id)
        .select_related("ticket").first()
    )
    if earlier is None:
        return None
    first = await TicketMessage.filter(ticket=earlier.ticket).order_by("id").first()
    return Opened(earlier.ticket, created=first is not None and first.id == earlier.id)


async def add_customer_message(
    ticket: Ticket,
    *,
    text: str = "",
    now: datetime,
    policy: SlaPolicy,
    media: dict[str, Any] | None = None,
    customer_message_id: int | None = None,
    group_message_id: int | None = None,
    parts: list[list[int]] | None = None,
) -> TicketMessage:
    """The customer wrote: a pending ticket is open again, and its SLA clock runs on. ``parts``:
    each post's pair of ids (customer chat, agent group) when it was more than one (an album)."""
    now = now.astimezone(UTC)
    if ticket.status == PENDING:
        await change_status(ticket, OPEN, "customer", now, columns=_resumed_clock(ticket, now, policy.calendar))
    return await TicketMessage.create(
        ticket=ticket, direction="in", text=text, media=media, customer_message_id=customer_message_id,
        group_message_id=group_message_id, parts=parts, created_at=now,
    )


async def record_agent(telegram_id: int, name: str, username: str | None, *, supervisor: bool) -> Agent:
    """The agent for this Telegram user, created on first contact; names and role kept current
    (a name too long is cut, see bot/core/fit.py)."""
    name, username = cut(name, AGENT_NAME_LIMIT), username and cut(username, USERNAME_LIMIT)
    agent, _ = await Agent.get_or_create(telegram_id=telegram_id, defaults={"name": name, "username": username})
    role = "supervisor" if supervisor else "agent"
    if (agent.name, agent.username, agent.role) != (name, username, role):
        agent.name, agent.username, agent.role = name, username, role
        await agent.save(update_fields=["name", "username", "role"])
    return agent


async def add_agent_reply(
    ticket: Ticket, agent: Agent, *, text: str = "", now: datetime, policy: SlaPolicy,
    media: dict[str, Any] | None = None, group_message_id: int | None = None,
    customer_message_id: int | None = None, parts: list[list[int]] | None = None,
) -> TicketMessage:
    """An agent answered the customer: the first answer stops the first-response clock, and
    claims the ticket; answering a resolved ticket reopens it (it was not solved after all).
    ``customer_message_id``: the copy the customer got (its first post), so that an edit or a
    /delete reaches it; ``parts``: each post's pair of ids (agent group, customer chat) when the
    message went as more than one post (an album, a long text)."""
    fields = ["updated_at"]
    now = now.astimezone(UTC)
    actor = f"agent:{agent.telegram_id}"
    if ticket.status == RESOLVED:
        await reopen(ticket, actor, now, reason="replied")
    ticket.updated_at = now
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.first_response_business_seconds = int(policy.calendar.between(ticket.waiting_since, now).total_seconds())
        fields += ["first_response_at", "first_response_business_seconds"]
    if ticket.assignee_id is None:  # answering is claiming
        ticket.assignee_id = agent.id
        fields.append("assignee_id")
        if ticket.queued_at is not None:  # the answer itself tells the queued customer someone has it
            ticket.queued_at = None
            fields.append("queued_at")
    await ticket.save(update_fields=fields)
    await responses.answered(ticket, now, policy.calendar)  # the response time of each message it answers
    if ticket.status == NEW:
        await change_status(ticket, OPEN, actor, now)
    return await TicketMessage.create(
        ticket=ticket, direction="out", agent=agent, text=text, media=media, group_message_id=group_message_id,
        customer_message_id=customer_message_id, parts=parts, created_at=now,
    )


async def add_note(ticket: Ticket, agent: Agent, text: str, now: datetime) -> TicketMessage:
    """An internal note: kept with the ticket, never sent to the customer."""
    now = now.astimezone(UTC)
    return await TicketMessage.create(ticket=ticket, direction="note", agent=agent, text=text, created_at=now)


async def claim(ticket_id: int, agent: Agent, now: datetime) -> bool:
    """Take an unassigned ticket. Two agents claiming at once: exactly one wins (one UPDATE)."""
    now = now.astimezone(UTC)
    won = await Ticket.filter(id=ticket_id, assignee_id__isnull=True, status__in=ACTIVE).update(
        assignee_id=agent.id, updated_at=now
    )
    if won:
        ticket = await Ticket.get(id=ticket_id)
        if ticket.status == NEW:
            await change_status(ticket, OPEN, f"agent:{agent.telegram_id}", now)
        await log_event(ticket, "claimed", f"agent:{agent.telegram_id}", now)
        await ticket_assigned(Assigned(ticket, agent, f"agent:{agent.telegram_id}", "claimed", now))
    return bool(won)


async def set_pending(ticket: Ticket, actor: str, now: datetime) -> None:
    """Waiting for the customer: the SLA clock pauses."""
    now = now.astimezone(UTC)
    await change_status(ticket, PENDING, actor, now, columns={"paused_at": now})


def _resumed_clock(ticket: Ticket, now: datetime, calendar: BusinessCalendar) -> dict[str, Any]:
    """After a pause, the SLA due times move later by the business time the ticket waited."""
    if ticket.paused_at is None:
        return {}
    paused = calendar.between(ticket.paused_at, now)
    columns: dict[str, Any] = {"paused_at": None}
    if ticket.first_response_at is None and ticket.first_response_due:
        columns["first_response_due"] = calendar.add(ticket.first_response_due, paused)
    if ticket.resolution_due:
        columns["resolution_due"] = calendar.add(ticket.resolution_due, paused)
    return columns


def _resolution(ticket: Ticket, now: datetime, calendar: BusinessCalendar | None) -> dict[str, Any]:
    """The columns a resolution sets: when, and how long it took in business time (with a calendar)."""
    columns: dict[str, Any] = {"resolved_at": now}
    if calendar is not None:
        columns["resolution_business_seconds"] = int(calendar.between(ticket.created_at, now).total_seconds())
    return columns


async def resolve(ticket: Ticket, actor: str, now: datetime, calendar: BusinessCalendar | None = None) -> bool:
    """Solved, as far as we know: the customer can still reopen it by writing (``reopen_days``)."""
    now = now.astimezone(UTC)
    if not can_move(ticket, RESOLVED):
        return False
    moved = await change_status(ticket, RESOLVED, actor, now, columns={**_resolution(ticket, now, calendar), "paused_at": None})
    return moved is not None


async def close(
    ticket: Ticket, actor: str, now: datetime, calendar: BusinessCalendar | None = None, *, reason: str | None = None
) -> bool:
    """Closed for good: the customer's next problem opens a new ticket."""
    now = now.astimezone(UTC)
    if not can_move(ticket, CLOSED):
        return False
    columns: dict[str, Any] = {"closed_at": now, "active_customer_id": None}
    if ticket.resolved_at is None:
        columns |= _resolution(ticket, now, calendar)
    return await change_status(ticket, CLOSED, actor, now, reason=reason, columns=columns) is not None


async def reopen(ticket: Ticket, actor: str, now: datetime, *, reason: str | None = None) -> bool:
    """Back to open, waiting for a person again; False if the customer has another active ticket,
    or was forgotten (/forgetme: only their own next message makes them a customer again)."""
    now = now.astimezone(UTC)
    if ticket.status not in DONE:
        return False
    customer = await ticket.customer
    if customer.forgotten_at is not None or await active_ticket(customer) not in (None, ticket):
        return False
    columns = {
        "resolved_at": None, "closed_at": None, "resolution_business_seconds": None,
        "active_customer_id": ticket.customer_id, "reopen_count": ticket.reopen_count + 1, "waiting_since": now,
    }
    try:
        return await change_status(ticket, OPEN, actor, now, reason=reason, columns=columns) is not None
    except IntegrityError:  # the customer's other ticket became active a moment ago
        return False


async def assign(ticket: Ticket, agent: Agent, actor: str, now: datetime) -> None:
    """A supervisor hands the ticket to an agent (also when someone else had claimed it)."""
    now = now.astimezone(UTC)
    before = ticket.assignee_id
    ticket.assignee_id, ticket.updated_at = agent.id, now
    await ticket.save(update_fields=["assignee_id", "updated_at"])
    if ticket.status == NEW:
        await change_status(ticket, OPEN, actor, now)
    await log_event(ticket, "assigned", actor, now, agent=agent.telegram_id)
    await ticket_assigned(Assigned(ticket, agent, actor, "assigned", now, before))


async def set_priority(ticket: Ticket, priority: Priority, actor: str, now: datetime, policy: SlaPolicy) -> None:
    """New priority, new targets: the due times are counted again from when the customer began waiting."""
    now = now.astimezone(UTC)
    first_due, resolution_due = policy.dues(priority, ticket.waiting_since)
    ticket.priority, ticket.updated_at = priority, now
    if ticket.first_response_at is None:
        ticket.first_response_due = first_due
    ticket.resolution_due = resolution_due
    await ticket.save(update_fields=["priority", "first_response_due", "resolution_due", "updated_at"])
    await log_event(ticket, "priority", actor, now, priority=priority)


async def set_category(ticket: Ticket, category: Category, actor: str, now: datetime) -> None:
    """The customer confirmed (or an agent corrected) what the ticket is about."""
    now = now.astimezone(UTC)
    if category == ticket.category:
        return
    before, ticket.category, ticket.updated_at = ticket.category, category, now
    fields = ["category", "updated_at"]
    if ticket.is_complaint:  # the repeat link follows the category
        ticket.repeat_of = await (
            Ticket.filter(customer_id=ticket.customer_id, is_complaint=True, category=category,
                          created_at__gte=ticket.created_at - REPEAT_WINDOW, id__lt=ticket.id)
            .order_by("-created_at")
            .first()
        )
        fields.append("repeat_of_id")
    await ticket.save(update_fields=fields)
    await log_event(ticket, "category", actor, now, category=category, before=before)


async def resolve_stale_pending(now: datetime, after: timedelta) -> list[Ticket]:
    """Pending tickets whose customer has not answered for ``after``: resolved, once each."""
    now = now.astimezone(UTC)
    stale = await Ticket.filter(status=PENDING, paused_at__lte=now - after)
    columns = {"resolved_at": now, "paused_at": None}
    return [t for t in stale if await change_status(t, RESOLVED, "system", now, reason="no reply", columns=columns)]


async def close_resolved(now: datetime, after: timedelta) -> list[Ticket]:
    """Resolved tickets nobody reopened within ``after``: closed for good."""
    now = now.astimezone(UTC)
    done = await Ticket.filter(status=RESOLVED, resolved_at__lte=now - after)
    columns = {"closed_at": now, "active_customer_id": None}
    return [t for t in done if await change_status(t, CLOSED, "system", now, reason="reopen window over", columns=columns)]


async def earlier_tickets(ticket: Ticket, limit: int = 5) -> list[Ticket]:
    """The customer's other tickets, newest first (the customer card shows them)."""
    return await Ticket.filter(customer_id=ticket.customer_id).exclude(id=ticket.id).order_by("-id").limit(limit)


TicketView = Literal["open", "mine", "unassigned", "breaching"]


async def list_tickets(view: TicketView, agent: Agent | None, now: datetime, limit: int = 20) -> list[Ticket]:
    """The agent group's queue: what is open, what is mine, what nobody took, what breaches its SLA."""
    now = now.astimezone(UTC)
    query = Ticket.filter(status__in=WORKING)
    if view == "mine":
        query = query.filter(assignee_id=agent.id if agent else -1)
    elif view == "unassigned":
        query = query.filter(assignee_id__isnull=True)
    elif view == "breaching":
        query = query.filter(status__in=(NEW, OPEN)).filter(
            Q(first_response_at__isnull=True, first_response_due__lte=now) | Q(resolution_due__lte=now)
        )
    return await query.order_by("first_response_due", "id").limit(limit).prefetch_related("customer", "assignee")
