r"""The order feed: the shop pushes its orders and their events to kefu (provider "local").

    POST /api/orders                       one order, complete: created, or replaced if known
    POST /api/orders/{order_no}/events     one event: {"event_id", "type": "status"|"tracking",
                                           "status" (type status), "time", "place", "description"}

Both take an optional ``version``: the shop's own counter of the order's changes (a revision
number, or the order's update time in milliseconds), a whole number that grows with each change.

Every request is signed with the secret shared with the shop, ``KEFU_ORDERS__WEBHOOK_SECRET``,
over its time, its method, its path and its body::

    X-Kefu-Timestamp: <unix seconds>
    X-Kefu-Signature: v2=<hex of HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<raw body>")>

``<METHOD>`` is ``POST``; ``<path>`` is the path exactly as the request line sends it,
percent-encoding (and a query string, if any) included: ``/api/orders/SO100231/events``. A proxy
in front of kefu that rewrites paths must leave them as kefu's routes name them.

Refused with 401: a missing or wrong signature, or a timestamp more than 5 minutes away from
kefu's clock. Refused with 409 ``{"error": "replayed request…", "reason": "replayed request"}``:
the very same signed request again while its timestamp is fresh (an eavesdropper's replay).
Signed requests are remembered in the database (table ``feed_signature``, rows purged once their
timestamp is stale), so every process of a fleet refuses the replay. A request kefu answered
with an error changed nothing, and is forgotten: sent again as it was, it is taken. A shop's
retry is an ordinary new request, signed anew with its own timestamp; a retried event is then
answered 200 with ``"duplicate": true`` (its ``event_id`` was seen) and not applied again.

An order or a status event older than the stored order (a lower ``version``, else an earlier
time for its status: see :mod:`orders.events`) is answered 200 with
``"stale": true, "changed": false`` and does not move the order; nobody is told of it. A body
kefu cannot use is answered 400 with the field at fault: ``{"error": ..., "field": ...,
"reason": ...}``; so is a time more than a day ahead of kefu's clock (it would hold back every
real change after it). Without a secret configured the feed answers 503. Anything else that goes
wrong is logged and answered 500 ``{"error": "internal error"}``.

The first form of the signature, ``X-Kefu-Signature: sha256=<hex of HMAC-SHA256(secret,
"<timestamp>.<raw body>")>``, covers neither method nor path. It is still accepted while
``[orders] legacy_signatures`` is true (the default for now; kefu logs a warning the first time it
sees one). A shop moves over by signing ``v2=`` as above, which kefu accepts whatever the setting;
once all its requests do, set ``legacy_signatures = false``. A later release makes false the
default.

From a shell::

    secret=$KEFU_ORDERS__WEBHOOK_SECRET
    path=/api/orders/SO100231/events
    body='{"event_id":"evt-1001","type":"status","status":"delivered","time":"2025-03-04T15:20:00+08:00"}'
    ts=$(date +%s)
    sig=$(printf '%s.POST.%s.%s' "$ts" "$path" "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
    curl -sS "http://127.0.0.1:8080$path" \
      -H 'Content-Type: application/json' \
      -H "X-Kefu-Timestamp: $ts" -H "X-Kefu-Signature: v2=$sig" \
      --data-binary "$body"
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from tortoise.exceptions import IntegrityError

from bot.core.config import OrdersSettings
from orders.events import EventIdTaken, OrderNotFound, apply_event, save_order
from orders.models import FeedSignature
from orders.schema import EventIn, OrderIn, OrderNo, first_error

log = logging.getLogger(__name__)

MAX_SKEW_SECONDS = 300
FUTURE_SLACK = timedelta(days=1)
"""How far ahead of kefu's clock a time may be: a day covers a clock off by a time zone."""
DISABLED = "order feed disabled: set KEFU_ORDERS__WEBHOOK_SECRET"
SIGNATURE_HELP = 'missing or bad X-Kefu-Signature: v2=<hex of HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path>.<body>")>'
REPLAYED = "replayed request"

Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.Response]]
_In = TypeVar("_In", bound=BaseModel)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_ORDER_NO = TypeAdapter(OrderNo)
_CLAIMED = web.RequestKey("feed_signature", str)
_legacy_warned = False


def sign(secret: str, timestamp: int | str, body: bytes, *, path: str, method: str = "POST") -> str:
    """The X-Kefu-Signature header value for ``body`` sent to ``path`` at ``timestamp``."""
    return "v2=" + _hmac(secret, f"{timestamp}.{method.upper()}.{path}.".encode() + body)


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def order_routes(settings: OrdersSettings, *, clock: Clock = lambda: datetime.now(UTC)) -> list[web.RouteDef]:
    """The feed's routes, for the bot's aiohttp application: ``app.add_routes(order_routes(...))``."""

    async def post_order(request: web.Request) -> web.Response:
        body = await _signed_body(request, settings, clock())
        data = _parse(OrderIn, body, settings.default_region)
        _not_ahead(clock(), created_at=data.created_at, paid_at=data.paid_at, shipped_at=data.shipped_at,
                   delivered_at=data.delivered_at)
        outcome = await save_order(data, now=clock())
        return web.json_response({
            "order_no": outcome.order.order_no, "created": outcome.created, "status": str(outcome.order.status),
            "changed": outcome.changed, "stale": outcome.stale,
        })

    async def post_event(request: web.Request) -> web.Response:
        body = await _signed_body(request, settings, clock())
        try:
            order_no = _ORDER_NO.validate_python(request.match_info["order_no"])
        except ValidationError as exc:
            raise _invalid(exc, prefix="order_no") from None
        event = _parse(EventIn, body, settings.default_region)
        _not_ahead(clock(), time=event.time)
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
                version=event.version,
                exception=event.exception,
            )
        except OrderNotFound:
            raise _refuse(web.HTTPNotFound, f"no order {order_no}; send it to POST /api/orders first") from None
        except EventIdTaken:
            raise _refuse(web.HTTPConflict, "event_id was already used for another order", field="event_id") from None
        return web.json_response({
            "order_no": order_no, "duplicate": outcome.duplicate, "status": str(outcome.status),
            "changed": outcome.changed, "stale": outcome.stale,
        })

    return [
        web.post("/api/orders", _guarded(post_order)),
        web.post("/api/orders/{order_no:[^/]+}/events", _guarded(post_event)),  # any order number, braces too
    ]


def _guarded(handler: Handler) -> Handler:
    """``handler``, whose refusals forget the request's signature (it changed nothing, so the same
    request may come again), and whose unexpected failures are logged and answered with a JSON 500."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except web.HTTPException:
            await _forget(request)
            raise
        except Exception:
            log.exception("order feed: %s %s failed", request.method, request.path)
            await _forget(request)
            return web.json_response({"error": "internal error"}, status=500)

    return guarded


async def _signed_body(request: web.Request, settings: OrdersSettings, now: datetime) -> bytes:
    """The raw body, once its signature and timestamp are good and it was not taken before."""
    if settings.webhook_secret is None:
        raise _refuse(web.HTTPServiceUnavailable, DISABLED)
    timestamp = request.headers.get("X-Kefu-Timestamp", "").strip()
    if not _TIMESTAMP.fullmatch(timestamp):
        raise _refuse(web.HTTPUnauthorized, "missing or malformed X-Kefu-Timestamp (unix seconds)")
    body = await request.read()
    secret = settings.webhook_secret.get_secret_value()
    given = request.headers.get("X-Kefu-Signature", "").strip()
    if given.startswith("sha256="):
        if not settings.legacy_signatures:
            raise _refuse(
                web.HTTPUnauthorized,
                "the sha256= form of X-Kefu-Signature is turned off ([orders] legacy_signatures = false): "
                + SIGNATURE_HELP.removeprefix("missing or bad X-Kefu-Signature: "),
            )
        expected = "sha256=" + _hmac(secret, f"{timestamp}.".encode() + body)
    else:
        expected = sign(secret, timestamp, body, path=request.raw_path, method=request.method)
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
        raise _refuse(web.HTTPUnauthorized, SIGNATURE_HELP)
    if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise _refuse(web.HTTPUnauthorized, "stale request: X-Kefu-Timestamp is more than 5 minutes from now")
    if given.startswith("sha256="):
        _warn_legacy()
    await _claim(request, given, now, expires=datetime.fromtimestamp(int(timestamp) + MAX_SKEW_SECONDS, UTC))
    return body


def _warn_legacy() -> None:
    global _legacy_warned
    if not _legacy_warned:
        _legacy_warned = True
        log.warning(
            "the order feed received a request signed in the old sha256= form, which covers neither method "
            "nor path: have the shop sign v2= (see POST /api/orders in the README), then set "
            "[orders] legacy_signatures = false; a later release refuses the old form by default"
        )


async def _claim(request: web.Request, signature: str, now: datetime, *, expires: datetime) -> None:
    """Remember the signature until its timestamp goes stale; a second claim, from this process or
    another, is a replay. Rows whose time is up go on the way."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    await FeedSignature.filter(expires_at__lt=now).delete()
    try:
        await FeedSignature.create(digest=digest, seen_at=now, expires_at=expires)
    except IntegrityError:
        raise _refuse(
            web.HTTPConflict,
            f"{REPLAYED}: this very request was taken already; sign each request anew, with its own timestamp",
            reason=REPLAYED,
        ) from None
    request[_CLAIMED] = digest


async def _forget(request: web.Request) -> None:
    if (digest := request.get(_CLAIMED)) is None:
        return
    try:
        await FeedSignature.filter(digest=digest).delete()
    except Exception:  # the database is away: the request stays refused as a replay until it is stale
        log.exception("order feed: could not forget a refused request's signature")


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
        raise _invalid(exc) from None


def _not_ahead(now: datetime, **times: datetime | None) -> None:
    for field, moment in times.items():
        if moment is not None and moment > now + FUTURE_SLACK:
            reason = "is more than a day ahead of kefu's clock"
            raise _refuse(web.HTTPBadRequest, f"invalid {field}: {reason}", field=field, reason=reason)


def _invalid(exc: ValidationError, *, prefix: str = "") -> web.HTTPException:
    field, reason = first_error(exc)
    field = prefix if field == "body" else ".".join(filter(None, [prefix, field]))
    return _refuse(web.HTTPBadRequest, f"invalid {field}: {reason}", field=field, reason=reason)


def _refuse(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(text=json.dumps({"error": message, **extra}, ensure_ascii=False), content_type="application/json")
