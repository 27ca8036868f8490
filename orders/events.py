"""Orders change: a whole order arrives again, or one event (a status change, a tracking scan).

Every status change is recorded as an :class:`OrderEvent` with its time, and the listeners
registered with :func:`on_status_change` hear of it once it is committed (the scheduler sends
its survey after "delivered", customers are told their order shipped). A bulk import records
the changes too, but tells no listener: importing last year's orders must not send last year's
surveys.

An order's state never moves backwards. Networks deliver late and shops retry, so a change
older than the stored order is kept out (:func:`is_older`): by the shop's ``version`` of the
order when both it and the stored order have one (versions beat clocks), else by the sender's
time of the status (the event's ``time``; a whole order's own timestamp for its status, e.g.
``shipped_at`` for "shipped"), compared with the stored ``state_at``. The same time is not
older. A whole order whose status comes with no timestamp of its own (processing, cancelled …)
and no version cannot be ordered and is taken as it comes: shops that send such changes out of
order send a ``version``. An older status event is kept in the history (it did happen), an
older whole order is not saved at all; neither moves the order, neither tells a listener.
Tracking scans move no state: each joins the history whenever it comes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core.crypto import blind_index
from orders.models import DeliveryException, EventKind, Order, OrderEvent, OrderStatus
from orders.schema import OrderIn, TrackingIn, normalize_order_no

log = logging.getLogger(__name__)

StatusListener = Callable[[Order, OrderStatus | None, OrderStatus, datetime], Awaitable[None]]

status_listeners: list[StatusListener] = []
"""Called as ``await listener(order, old_status, new_status, at)``; ``old_status`` is None for a new order."""

# The order's own timestamp that a status change sets.
STATUS_TIMESTAMP: dict[OrderStatus, str] = {
    OrderStatus.PAID: "paid_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at",
}


class OrderNotFound(LookupError):
    pass


class EventIdTaken(ValueError):
    """The event id was already used for another order."""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    duplicate: bool
    """The event id was seen before: nothing was applied."""
    status: OrderStatus
    """The order's status afterwards."""
    changed: bool
    """The order's status changed."""
    stale: bool = False
    """A status event older than the stored order: in the history, but the order did not move."""


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    order: Order
    """The order as stored afterwards."""
    created: bool
    changed: bool
    """Its status changed (a new order's too)."""
    stale: bool
    """Older than the stored order: nothing was saved."""


def on_status_change(listener: StatusListener) -> StatusListener:
    """Register ``listener`` (usable as a decorator); remove it with ``status_listeners.remove``."""
    status_listeners.append(listener)
    return listener


async def _notify(order: Order, old: OrderStatus | None, new: OrderStatus, at: datetime) -> None:
    for listener in list(status_listeners):
        try:
            await listener(order, old, new, at)
        except Exception:  # one broken listener must not stop the others, nor undo the change
            log.exception("order status listener %r failed for order %s", listener, order.order_no)


def order_fields(data: OrderIn, now: datetime) -> dict[str, Any]:
    """The :class:`Order` columns for ``data``: what the shop sent replaces what was stored."""
    return {
        "order_no": data.order_no,
        "phone": data.phone,
        "phone_hash": blind_index("phone", data.phone),  # computed on save too, but an upsert names its columns
        "status": data.status,
        "items": [
            {"name": i.name, "quantity": i.quantity} | ({"price": str(i.price)} if i.price is not None else {})
            for i in data.items
        ],
        "amount": data.amount,
        "currency": data.currency,
        "carrier": data.carrier,
        "tracking_no": data.tracking_no,
        "created_at": data.created_at,
        "paid_at": data.paid_at,
        "shipped_at": data.shipped_at,
        "delivered_at": data.delivered_at,
        "expected_delivery": data.expected_delivery,
        "updated_at": now,
        "state_at": sent_status_time(data),
        "version": data.version,
    }


def sent_status_time(data: OrderIn) -> datetime | None:
    """When ``data`` reached its status, as the order itself says (None: it does not say)."""
    if data.status is OrderStatus.PENDING_PAYMENT:
        return data.created_at
    field = STATUS_TIMESTAMP.get(data.status)
    return getattr(data, field) if field else None


def status_time(data: OrderIn, now: datetime) -> datetime:
    """When ``data`` reached its status, as far as the order says: else ``now``."""
    return sent_status_time(data) or now


def is_older(stored: Order, version: int | None, at: datetime | None) -> bool:
    """Whether a change of the shop's ``version``, whose status the sender timed ``at``, is older
    than ``stored``: by versions when both have one, else by the sender's times."""
    if version is not None and stored.version is not None:
        return version < stored.version
    return at is not None and stored.state_at is not None and at < stored.state_at


def tracking_event_id(order_no: str, event: TrackingIn) -> str:
    """Tracking events that come without an id get one from their content, so a re-import adds nothing."""
    if event.event_id:
        return event.event_id
    key = f"{order_no}|{event.time.isoformat()}|{event.place or ''}|{event.description}"
    return "content:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def tracking_events(order_id: int, data: OrderIn, now: datetime) -> list[OrderEvent]:
    return [
        OrderEvent(
            order_id=order_id,
            event_id=tracking_event_id(data.order_no, e),
            kind=EventKind.TRACKING,
            happened_at=e.time,
            place=e.place,
            description=e.description,
            exception=e.exception,
            recorded_at=now,
        )
        for e in data.events
    ]


async def save_order(data: OrderIn, *, now: datetime) -> SaveOutcome:
    """Create or replace the order ``data`` describes, unless the stored one is newer
    (:func:`is_older`). Listeners hear of a new status."""
    try:
        outcome, old = await _upsert(data, now)
    except IntegrityError:  # created at the same moment by another request: now it is an update
        outcome, old = await _upsert(data, now)
    if outcome.changed:
        await _notify(outcome.order, old, data.status, status_time(data, now))
    return outcome


async def _upsert(data: OrderIn, now: datetime) -> tuple[SaveOutcome, OrderStatus | None]:
    """What became of the order, and its status before (None: it is new)."""
    async with in_transaction():
        order = await Order.filter(order_no=data.order_no).select_for_update().first()
        old = None if order is None else OrderStatus(order.status)
        if order is None:
            order = await Order.create(**order_fields(data, now))
        elif is_older(order, data.version, sent_status_time(data)):
            return SaveOutcome(order, created=False, changed=False, stale=True), old
        else:
            columns = order_fields(data, now)
            # A status the order gives no time for, or a change with no version, leaves the
            # stored ones as the mark the next change is compared with.
            columns["state_at"] = columns["state_at"] or order.state_at
            columns["version"] = order.version if data.version is None else data.version
            await order.update_from_dict(columns).save()
        if old is not data.status:
            await OrderEvent.create(
                order=order,
                kind=EventKind.STATUS,
                status=data.status,
                previous_status=old,
                happened_at=status_time(data, now),
                recorded_at=now,
            )
        await OrderEvent.bulk_create(tracking_events(order.id, data, now), ignore_conflicts=True)
    return SaveOutcome(order, created=old is None, changed=old is not data.status, stale=False), old


async def apply_event(
    order_no: str,
    *,
    kind: EventKind,
    at: datetime,
    now: datetime,
    status: OrderStatus | None = None,
    place: str | None = None,
    description: str | None = None,
    event_id: str | None = None,
    version: int | None = None,
    exception: DeliveryException | None = None,
) -> EventOutcome:
    """Record one event of order ``order_no``, once per ``event_id``.

    A status event moves the order to ``status`` and sets the matching timestamp (delivered →
    delivered_at), unless it is older than the stored order (:func:`is_older`, by ``version``
    or by ``at``): events that arrive out of order are kept in the history but do not turn a
    delivered order back into a shipped one. Tracking events only join the history.
    ``exception`` marks what went wrong in delivery (lost, damaged, delivery_failed), for the
    logistics report.

    Raises :class:`OrderNotFound`, and :class:`EventIdTaken` when ``event_id`` belongs to
    another order.
    """
    order_no = normalize_order_no(order_no)
    if event_id is not None and (seen := await _seen(event_id, order_no)) is not None:
        return seen
    try:
        async with in_transaction():
            order = await Order.filter(order_no=order_no).select_for_update().first()
            if order is None:
                raise OrderNotFound(order_no)
            old = OrderStatus(order.status)
            moves = kind is EventKind.STATUS and status is not None
            stale = moves and is_older(order, version, at)
            changed = moves and status is not old and not stale
            await OrderEvent.create(
                order=order,
                event_id=event_id,
                kind=kind,
                status=status if kind is EventKind.STATUS else None,
                previous_status=old if kind is EventKind.STATUS else None,
                happened_at=at,
                place=place,
                description=description,
                exception=exception,
                recorded_at=now,
            )
            if moves and not stale:
                assert status is not None
                order.state_at = at
                order.version = order.version if version is None else version
                update = ["state_at", "version"]
                if changed:
                    order.status = status
                    order.updated_at = now
                    update += ["status", "updated_at"]
                    if field := STATUS_TIMESTAMP.get(status):
                        setattr(order, field, at)
                        update.append(field)
                await order.save(update_fields=update)
    except IntegrityError:  # the same event id, sent twice at once: the other one won
        if event_id is not None and (seen := await _seen(event_id, order_no)) is not None:
            return seen
        raise
    if changed:
        assert status is not None
        await _notify(order, old, status, at)
    return EventOutcome(duplicate=False, status=OrderStatus(order.status), changed=changed, stale=stale)


async def _seen(event_id: str, order_no: str) -> EventOutcome | None:
    event = await OrderEvent.get_or_none(event_id=event_id).select_related("order")
    if event is None:
        return None
    if event.order.order_no != order_no:
        raise EventIdTaken(event_id)
    return EventOutcome(duplicate=True, status=OrderStatus(event.order.status), changed=False)
