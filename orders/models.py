"""The shop's orders as kefu keeps them (provider "local"), their events, who may see which, and the
order feed's memory of the requests it took (a replay is refused).

Model and field docstrings become SQL comments, and tortoise splits migration SQL at semicolons:
keep semicolons out of them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from bot.core.crypto import BlindIndexed, BlindIndexField, EncryptedTextField

if TYPE_CHECKING:
    from ticketing.models import Customer


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"
    RETURNED = "returned"


class DeliveryException(StrEnum):
    """What went wrong in delivery, as the shop marks a status or tracking event (the logistics report counts them)."""

    LOST = "lost"
    DAMAGED = "damaged"
    DELIVERY_FAILED = "delivery_failed"


class EventKind(StrEnum):
    STATUS = "status"
    TRACKING = "tracking"


class Order(BlindIndexed, Model):
    """An order of the shop, one row per order number."""

    id = fields.IntField(primary_key=True)
    order_no = fields.CharField(max_length=64, unique=True)
    phone = EncryptedTextField(
        null=True,
        description="the customer's phone, E.164, encrypted, NULL after the customer asked to be forgotten",
    )
    phone_hash = BlindIndexField(
        of="phone", kind="phone", null=True, db_index=True, description="blind index of phone (HMAC-SHA256), what look-ups compare"
    )
    status = fields.CharEnumField(OrderStatus, max_length=20)
    items: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(
        default=list, description="list of name, quantity and price (a decimal string)"
    )
    amount = fields.DecimalField(max_digits=12, decimal_places=2)
    currency = fields.CharField(max_length=3, description="ISO 4217, e.g. CNY")
    carrier = fields.CharField(max_length=64, null=True)
    tracking_no = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(description="when the customer placed the order")
    paid_at = fields.DatetimeField(null=True)
    shipped_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    expected_delivery = fields.DateField(null=True)
    updated_at = fields.DatetimeField(description="when kefu last received this order")
    state_at = fields.DatetimeField(
        null=True,
        description="the sender's time of the stored status (the event's time, or the order's own paid_at, shipped_at ...), what an older change is told by",
    )
    version = fields.BigIntField(null=True, description="the highest version the shop sent for this order, if it sends them")

    events: fields.ReverseRelation[OrderEvent]

    class Meta:
        table = "shop_order"


class OrderEvent(Model):
    """Something that happened to an order: a status change or a carrier's tracking scan."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "kefu.Order", related_name="events", on_delete=fields.CASCADE
    )
    event_id = fields.CharField(
        max_length=128, unique=True, null=True, description="the sender's id, a replay is recognised by it"
    )
    kind = fields.CharEnumField(EventKind, max_length=8)
    status = fields.CharEnumField(OrderStatus, max_length=20, null=True, description="the new status")
    previous_status = fields.CharEnumField(OrderStatus, max_length=20, null=True)
    happened_at = fields.DatetimeField(db_index=True)
    place = fields.CharField(max_length=128, null=True)
    description = fields.TextField(null=True)
    exception = fields.CharField(
        max_length=16, null=True, description="what went wrong, as the shop says: lost, damaged or delivery_failed"
    )
    recorded_at = fields.DatetimeField(description="when kefu learnt of it")

    class Meta:
        table = "order_event"


class FeedSignature(Model):
    """A signed order-feed request kefu took, remembered while its timestamp is fresh: the same request again is a replay."""

    digest = fields.CharField(primary_key=True, max_length=64, description="SHA-256 of the signature, hex")
    seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True, description="when its timestamp goes stale and the row may go")

    class Meta:
        table = "feed_signature"


class VerificationAttempt(Model):
    """A customer's try at proving an order is theirs with the last 4 digits of its phone."""

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "kefu.Customer", related_name="order_verifications", on_delete=fields.CASCADE
    )
    order_no = fields.CharField(max_length=64)
    succeeded = fields.BooleanField()
    attempted_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "order_verification"


class OrderGrant(Model):
    """One order a customer proved with its phone's last 4 digits and may see from then on."""

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "kefu.Customer", related_name="order_grants", on_delete=fields.CASCADE
    )
    order_no = fields.CharField(max_length=64, description="no foreign key: the order may live in the shop's API")
    granted_at = fields.DatetimeField()

    class Meta:
        table = "order_grant"
        unique_together = (("customer", "order_no"),)
