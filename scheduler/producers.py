"""What goes into the outbox, and when: surveys, order follow-ups, greetings, order status notices.

Producers *sweep* the database (resolved tickets, delivered orders, today's festivals) rather than
react to events: a row is keyed (``survey:ticket:123``), so sweeping again is a no-op, and nothing
is lost if the bot was down when the ticket was resolved or the order delivered.

Order status notices ("your order has shipped") are the exception: they are news only as it
happens, so :func:`queue_order_notices` listens to the order's status events (orders/events.py)
and queues them at once. They are outbox rows like every other proactive message, so quiet hours,
the rate limit, opt-out and the never-twice key apply to them too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import SchedulerSettings
from bot.core.crypto import blind_indexes
from orders.models import Order, OrderStatus
from scheduler.festivals import greetings_on, is_birthday
from scheduler.models import OutboxMessage
from scheduler.outbox import enqueue
from scheduler.surveys import in_servqual_sample
from ticketing.models import Customer, Ticket

log = logging.getLogger(__name__)
LOOK_BACK = timedelta(days=2)
"""How far back a sweep looks for events it may have missed while the bot was down."""


async def _unknown_keys(keys: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        known.update(await OutboxMessage.filter(key__in=keys[start:start + 500]).values_list("key", flat=True))
    return set(keys) - known


async def sweep_surveys(now: datetime, settings: SchedulerSettings) -> int:
    """A CSAT survey for every ticket resolved lately, ``survey_delay_minutes`` after it."""
    now = now.astimezone(UTC)
    tickets = await Ticket.filter(resolved_at__gte=now - LOOK_BACK, resolved_at__lte=now)
    wanted = await _unknown_keys([f"survey:ticket:{t.id}" for t in tickets])
    made = 0
    for ticket in tickets:
        key = f"survey:ticket:{ticket.id}"
        if key in wanted:
            due = ticket.resolved_at + timedelta(minutes=settings.survey_delay_minutes)
            customer = await ticket.customer
            made += await enqueue(customer, "survey", key, due, {"ticket_id": ticket.id}) is not None
            if in_servqual_sample(ticket.id, settings.servqual_sample):  # after the stars, not with them
                servqual_key = f"servqual:ticket:{ticket.id}"
                made += await enqueue(customer, "servqual", servqual_key, due + timedelta(minutes=1), {"ticket_id": ticket.id}) is not None
    return made


async def sweep_deliveries(now: datetime, settings: SchedulerSettings) -> int:
    """After delivery: how did it go (``delivered_survey_hours``), then the revisit (``revisit_days``),
    for each customer who verified the order's phone."""
    now = now.astimezone(UTC)
    orders = await Order.filter(status=OrderStatus.DELIVERED, delivered_at__gte=now - LOOK_BACK, delivered_at__lte=now)
    made = 0
    for order in orders:
        for customer in await Customer.filter(phone_hash__in=blind_indexes("phone", order.phone)):
            plan = (
                ("delivered_survey", timedelta(hours=settings.delivered_survey_hours)),
                ("revisit", timedelta(days=settings.revisit_days)),
            )
            for kind, delay in plan:
                key = f"{kind}:order:{order.order_no}:customer:{customer.id}"
                payload = {"order_no": order.order_no}
                made += await enqueue(customer, kind, key, order.delivered_at + delay, payload) is not None
    return made


async def sweep_greetings(now: datetime, settings: SchedulerSettings, *, done: set[str] | None = None) -> int:
    """Today's festival and shop-date greetings for every customer, and birthday greetings, each
    once a year, at ``greeting_time`` (shop time). ``done`` remembers days already swept."""
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), time.fromisoformat(settings.greeting_time), zone)
    if local < at:
        return 0
    names = greetings_on(local.date(), settings.shop_dates, settings.greetings)
    memo = f"{local.date()}:{','.join(names)}"
    if done is not None and memo in done:
        return 0
    made = 0
    customers = await Customer.filter(blocked=False, opted_out=False)
    for name in names:
        made += await _greet(customers, name, local.date(), at)
    if "birthday" in settings.greetings:
        made += await _greet([c for c in customers if is_birthday(c.birthday, local.date())], "birthday", local.date(), at)
    if done is not None:
        done.add(memo)
    return made


async def _greet(customers: list[Customer], name: str, day: date, at: datetime) -> int:
    keys = {c.id: f"greeting:{name}:{day.year}:customer:{c.id}" for c in customers}
    wanted = await _unknown_keys(list(keys.values()))
    made = 0
    for customer in customers:
        if keys[customer.id] in wanted:
            payload = {"name": name, "day": day.isoformat()}
            made += await enqueue(customer, "greeting", keys[customer.id], at, payload) is not None
    if made:
        log.info("greeting %s queued for %d customers", name, made)
    return made


async def queue_order_notices(
    statuses: Collection[str],
    order: Order,
    old: OrderStatus | None,
    new: OrderStatus,
    at: datetime,
    *,
    clock: Callable[[], datetime],
) -> None:
    """A status listener (bound to ``[orders] notify_statuses`` and the bot's clock): queue, due
    now, a notice of ``new`` for each customer who verified the order's phone and has neither
    opted out nor blocked the bot. A new order, or one whose status is not in ``statuses``, tells
    nobody.

    The key names the order, the status and the customer, so a customer hears of each status of
    an order once, however often the order reaches it (an event delivered twice, a shop that
    corrects a status back and forth). Opt-out is checked again when the row is sent.
    """
    if old is None or old == new or new.value not in statuses:
        return
    due = clock()
    payload = {"order_no": order.order_no, "status": new.value}
    customers = Customer.filter(phone_hash__in=blind_indexes("phone", order.phone), opted_out=False, blocked=False)
    for customer in await customers:
        key = f"order_status:{order.order_no}:{new.value}:customer:{customer.id}"
        await enqueue(customer, "order_status", key, due, payload)
