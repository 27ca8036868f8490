r"""The order feed: the shop pushes its orders and their events to kefu (provider "local").

    POST /api/orders                       one order, complete: created, or replaced if known
    POST /api/orders/{order_no}/events     one event: {"event_id", "type": "status"|"tracking",
                                           "status" (type status), "time", "place", "description"}

Every request is signed with the secret shared with the shop, ``KEFU_ORDERS__WEBHOOK_SECRET``::

    X-Kefu-Timestamp: <unix seconds>
    X-Kefu-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A request without a valid signature, or whose timestamp is more than 5 minutes away from kefu's
clock, is refused with 401. An event whose ``event_id`` was seen before is answered 200 with
``"duplicate": true`` and not applied again, so the shop may safely retry. A body kefu cannot
use is answered 400 with the field at fault: ``{"error": ..., "field": ..., "reason": ...}``.
Without a secret configured the feed answers 503.

From a shell::

    secret=$KEFU_ORDERS__WEBHOOK_SECRET
    body='{"event_id":"evt-1001","type":"status","status":"delivered","time":"2025-03-04T15:20:00+08:00"}'
    ts=$(date +%s)
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
    curl -sS http://127.0.0.1:8080/api/orders/SO100231/events \
      -H 'Content-Type: application/json' \
      -H "X-Kefu-Timestamp: $ts" -H "X-Kefu-Signature: sha256=$sig" \
      --data-binary "$body"
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.config import OrdersSettings
from knowledge_base.orders.events import EventIdTaken, OrderNotFound, apply_event, save_order
from knowledge_base.orders.schema import EventIn, OrderIn, first_error, normalize_order_no

MAX_SKEW_SECONDS = 300
DISABLED = "order feed disabled: set KEFU_ORDERS__WEBHOOK_SECRET"

Clock = Callable[[], datetime]
_In = TypeVar("_In", bound=BaseModel)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Kefu-Signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def order_routes(settings: OrdersSettings, *, clock: Clock = lambda: datetime.now(UTC)) -> list[web.RouteDef]:
    """The feed's routes, for the bot's aiohttp application: ``app.add_routes(order_routes(...))``."""

    async def post_order(request: web.Request) -> web.Response:
        body = await _signed_body(request, settings, clock())
        data = _parse(OrderIn, body, settings.default_region)
        order, created = await save_order(data, now=clock())
        return web.json_response({"order_no": order.order_no, "created": created, "status": str(order.status)})

    async def post_event(request: web.Request) -> web.Response:
        body = await _signed_body(request, settings, clock())
        event = _parse(EventIn, body, settings.default_region)
        order_no = normalize_order_no(request.match_info["order_no"])
        try:
            outcome = await apply_event(
                order_no,
                kind=event.type,
                at=event.time,
                now=clock(),
                status=event.status,
                place=event.place,
                description=event.description,
                event_id=event.event_id,
            )
        except OrderNotFound:
            raise _refuse(web.HTTPNotFound, f"no order {order_no}; send it to POST /api/orders first") from None
        except EventIdTaken:
            raise _refuse(web.HTTPConflict, "event_id was already used for another order", field="event_id") from None
        return web.json_response(
            {"order_no": order_no, "duplicate": outcome.duplicate, "status": str(outcome.status), "changed": outcome.changed}
        )

    return [web.post("/api/orders", post_order), web.post("/api/orders/{order_no}/events", post_event)]


async def _signed_body(request: web.Request, settings: OrdersSettings, now: datetime) -> bytes:
    """The raw body, once its signature and timestamp are good."""
    if settings.webhook_secret is None:
        raise _refuse(web.HTTPServiceUnavailable, DISABLED)
    timestamp = request.headers.get("X-Kefu-Timestamp", "").strip()
    if not timestamp.isascii() or not timestamp.isdigit():
        raise _refuse(web.HTTPUnauthorized, "missing or malformed X-Kefu-Timestamp (unix seconds)")
    body = await request.read()
    expected = sign(settings.webhook_secret.get_secret_value(), timestamp, body)
    given = request.headers.get("X-Kefu-Signature", "").strip()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
        raise _refuse(web.HTTPUnauthorized, "missing or bad X-Kefu-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp.body)>")
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise _refuse(web.HTTPUnauthorized, "stale request: X-Kefu-Timestamp is more than 5 minutes from now")
    return body


def _parse(model: type[_In], body: bytes, region: str) -> _In:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _refuse(web.HTTPBadRequest, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _refuse(web.HTTPBadRequest, "the body must be a JSON object")
    try:
        return model.model_validate(data, context={"region": region})
    except ValidationError as exc:
        field, reason = first_error(exc)
        raise _refuse(web.HTTPBadRequest, f"invalid {field}: {reason}", field=field, reason=reason) from None


def _refuse(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(text=json.dumps({"error": message, **extra}, ensure_ascii=False), content_type="application/json")
