"""What an order and an order event must look like when they come in, from any door.

One set of rules for the importer's rows, the order feed's JSON bodies and the shop API's
answers, so an order is read the same way whichever way it arrives. Limits match the columns
in :mod:`orders.models`: what passes here, the database accepts.

Times without a UTC offset are read as UTC; write them with one (``2025-03-01T10:00:00+08:00``).
An order's ``items`` are a JSON list of ``{name, quantity, price}``, that list as JSON text, or
plain text as in a shop's spreadsheet export: ``Tea set x2; Cups ×6`` (see :func:`_items`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from orders.models import DeliveryException, EventKind, OrderStatus
from orders.phones import InvalidPhone, normalize_phone


def normalize_order_no(raw: str) -> str:
    """Order numbers as typed on a phone: full-width characters (ＳＯ１２３) folded, spaces and
    control characters dropped."""
    return _CONTROL.sub("", unicodedata.normalize("NFKC", raw)).strip()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+08:00 is before year 1 in UTC
        raise ValueError("is out of range: in UTC it falls before year 1 or after year 9999") from None


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d:|$)")
_LOOSE_DATE = re.compile(r"^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})(?:([ T])(\d):)?")


def _iso_date(value: Any) -> Any:
    """Spreadsheet exports write 2025/3/1 9:05; ISO 8601 wants 2025-03-01 09:05."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        return _LOOSE_DATE.sub(
            lambda m: f"{m[1]}-{int(m[2]):02}-{int(m[3]):02}" + (f"{m[4]}0{m[5]}:" if m[4] else ""), value.strip()
        )
    return value


def _status(value: Any) -> Any:
    return re.sub(r"[\s-]+", "_", value.strip().lower()) if isinstance(value, str) else value


def _json_list(value: Any) -> Any:
    """A CSV cell holds a list as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: [[[[… nested too deep
            raise ValueError("must be a JSON list") from None
    return value


_JSON_TEXT = re.compile(r'\[\s*(?:[\[{"\]]|$)')
"""Text that is meant as a JSON list: ``[{…}]``, ``[]``. Not ``[Sale] Tea set x2``."""
_ITEM_SEPARATOR = re.compile(r"[;；\r\n]")
_QUANTITY = re.compile(r"(?:(?<![A-Za-z0-9])[xXｘＸ]|[×✕✖*＊])\s*(\d+)\s*$")
"""``x2``, ``× 2``, ``*2``, ``＊２`` ending an item. A Latin x must not end a word (``iPhone Max2``
is a name), but may follow Chinese (``茶具x2``)."""


def _items(value: Any) -> Any:
    """Items as JSON (a list, or its text), or as text a person typed into a spreadsheet:
    ``Tea set x2; Cups ×6``, one item per ``;`` or line, each with an optional quantity.

    Any door takes the text form, so an order reads the same from a CSV, a JSON line or the feed.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if _JSON_TEXT.match(text):
        return _json_list(text)
    items = [_item(part.strip()) for part in _ITEM_SEPARATOR.split(text) if part.strip()]
    if not items:
        raise ValueError('names no item: write "Tea set x2; Cups ×6" or a JSON list')
    return items


def _item(text: str) -> dict[str, Any]:
    quantity = _QUANTITY.search(text)
    if quantity is None:
        return {"name": text}
    name = text[: quantity.start()].strip()
    if not name:
        raise ValueError(f'"{text}" has a quantity but no name')
    return {"name": name, "quantity": int(quantity[1])}


def _length(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


_NO_NUL = AfterValidator(_no_nul)
OrderNo = Annotated[
    str, _length(64, 1), _NO_NUL, BeforeValidator(lambda v: normalize_order_no(v) if isinstance(v, str) else v)
]
EventId = Annotated[str, _length(128, 1), _NO_NUL]
ItemName = Annotated[str, _length(200, 1), _NO_NUL]
Code = Annotated[str, _length(64), _NO_NUL]  # carrier, tracking number
Place = Annotated[str, _length(128), _NO_NUL]
Description = Annotated[str, _length(2000), _NO_NUL]
Time = Annotated[datetime, BeforeValidator(_iso_date), AfterValidator(_utc)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Exception_ = Annotated[DeliveryException, BeforeValidator(_status)]
"""What went wrong in delivery, optional on status and tracking events: lost, damaged, delivery_failed."""
Version = Annotated[int, BeforeValidator(_not_bool), Field(ge=0, le=2**63 - 1)]
"""The shop's own counter of an order's changes (a revision, or its update time in milliseconds):
a change with a lower version than the one stored is older and ignored (the order feed)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        """An empty CSV cell or JSON "" means "no value"."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        return data


class ItemIn(_In):
    name: ItemName
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    price: Money | None = None


class TrackingIn(_In):
    """A carrier's scan as part of an order: when, where, what."""

    event_id: EventId | None = None
    time: Time
    place: Place | None = None
    description: Description
    exception: Exception_ | None = None


class OrderIn(_In):
    """One order, complete. Phone numbers are normalised in ``context={"region": "CN"}``."""

    order_no: OrderNo
    phone: str
    status: Annotated[OrderStatus, BeforeValidator(_status)]
    items: Annotated[list[ItemIn], BeforeValidator(_items), Field(min_length=1, max_length=500)]
    amount: Money
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
    carrier: Code | None = None
    tracking_no: Code | None = None
    created_at: Time
    paid_at: Time | None = None
    shipped_at: Time | None = None
    delivered_at: Time | None = None
    expected_delivery: Annotated[date, BeforeValidator(_iso_date)] | None = None
    events: Annotated[list[TrackingIn], BeforeValidator(_json_list), Field(max_length=500)] = []
    version: Version | None = None

    @field_validator("phone", mode="before")
    @classmethod
    def _e164(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str | int):
            raise ValueError("must be a phone number")
        region = (info.context or {}).get("region", "CN")
        try:
            return normalize_phone(str(value), region)
        except InvalidPhone as exc:
            raise ValueError(str(exc)) from None


class EventIn(_In):
    """Body of POST /api/orders/{order_no}/events."""

    event_id: EventId
    type: EventKind
    status: Annotated[OrderStatus, BeforeValidator(_status)] | None = Field(default=None, validate_default=True)
    time: Time
    place: Place | None = None
    description: Description | None = Field(default=None, validate_default=True)
    exception: Exception_ | None = None
    version: Version | None = None

    @field_validator("status")
    @classmethod
    def _status_only_for_status_events(cls, value: OrderStatus | None, info: ValidationInfo) -> OrderStatus | None:
        kind = info.data.get("type")
        if kind is EventKind.STATUS and value is None:
            raise ValueError('is required when type is "status"')
        if kind is EventKind.TRACKING and value is not None:
            raise ValueError('is only for type "status"; send a status event for a status change')
        return value

    @field_validator("description")
    @classmethod
    def _tracking_says_what(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("type") is EventKind.TRACKING and not value:
            raise ValueError('is required when type is "tracking"')
        return value


def first_error(exc: ValidationError) -> tuple[str, str]:
    """The field (``items.0.quantity``) and the reason of the first problem pydantic found."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or "body"
    reason = str(error["msg"]).removeprefix("Value error, ")
    return field, reason
