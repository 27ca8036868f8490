"""The signed order feed: the shop pushes orders and events; only signed, fresh requests count, once."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from yarl import URL

from bot.core.config import OrdersSettings
from orders import feed
from orders.events import on_status_change, status_listeners
from orders.feed import order_routes, sign
from orders.models import Order, OrderEvent, OrderStatus

SECRET = "s3cret-shared-with-the-shop-0123456789"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ORDER = {
    "order_no": "SO100231", "phone": "13800000001", "status": "shipped", "carrier": "顺丰速运", "tracking_no": "SF1",
    "items": [{"name": "西湖龙井 250g", "quantity": 2, "price": "88.00"}], "amount": "176.00", "currency": "CNY",
    "created_at": "2026-03-08T10:00:00+08:00", "shipped_at": "2026-03-09T16:00:00+08:00",
}
DELIVERED = {"event_id": "evt-1", "type": "status", "status": "delivered", "time": "2026-03-10T19:30:00+08:00"}


class Shop:
    """The shop's side: signs what it sends, as its developers would."""

    def __init__(self, client: TestClient, clock: list[datetime]) -> None:
        self.client, self.clock = client, clock

    async def post(self, path: str, body: Any, *, secret: str = SECRET, age: float = 0, headers: dict | None = None) -> tuple[int, dict]:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        timestamp = int(self.clock[0].timestamp() - age)
        signature = sign(secret, timestamp, raw, path=URL(path).raw_path)
        sent = {"X-Kefu-Timestamp": str(timestamp), "X-Kefu-Signature": signature} | (headers or {})
        response = await self.client.post(path, data=raw, headers={"Content-Type": "application/json", **sent})
        return response.status, await response.json()


async def _serve(settings: OrdersSettings, clock: Callable[[], datetime]) -> TestClient:
    app = web.Application()
    app.add_routes(order_routes(settings, clock=clock))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def shop(database: str) -> AsyncIterator[Shop]:
    clock = [NOW]
    client = await _serve(OrdersSettings(webhook_secret=SecretStr(SECRET)), lambda: clock[0])
    try:
        yield Shop(client, clock)
    finally:
        await client.close()


async def test_a_signed_order_is_stored_and_a_second_one_replaces_it(shop: Shop) -> None:
    assert await shop.post("/api/orders", ORDER) == (
        200, {"order_no": "SO100231", "created": True, "status": "shipped", "changed": True, "stale": False}
    )
    status, body = await shop.post("/api/orders", ORDER | {"tracking_no": "SF2"})
    assert (status, body["created"]) == (200, False)
    order = await Order.get(order_no="SO100231")
    assert order.tracking_no == "SF2" and order.phone == "+8613800000001"


async def test_a_status_event_is_applied_once_however_often_it_is_sent(shop: Shop) -> None:
    heard: list[OrderStatus] = []

    async def scheduler(order: Order, old: OrderStatus | None, new: OrderStatus, at: datetime) -> None:
        heard.append(new)

    await shop.post("/api/orders", ORDER)
    on_status_change(scheduler)
    try:
        first = await shop.post("/api/orders/SO100231/events", DELIVERED)
        shop.clock[0] += timedelta(seconds=1)  # the shop's retry: a new request, signed anew
        replay = await shop.post("/api/orders/SO100231/events", DELIVERED)
    finally:
        status_listeners.remove(scheduler)

    assert first == (200, {"order_no": "SO100231", "duplicate": False, "status": "delivered", "changed": True, "stale": False})
    assert replay[0] == 200 and replay[1]["duplicate"] is True
    assert heard == [OrderStatus.DELIVERED]
    assert await OrderEvent.filter(event_id="evt-1").count() == 1
    assert (await Order.get(order_no="SO100231")).delivered_at == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)


async def test_a_tracking_event_joins_the_history(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    scan = {"event_id": "scan-1", "type": "tracking", "time": "2026-03-10T08:00:00Z", "place": "上海", "description": "到达上海浦东集散中心"}
    status, body = await shop.post("/api/orders/SO100231/events", scan)
    assert (status, body["changed"], body["status"]) == (200, False, "shipped")
    event = await OrderEvent.get(event_id="scan-1")
    assert (event.place, event.description) == ("上海", "到达上海浦东集散中心")


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ({"secret": "not-the-shared-secret-at-all"}, "X-Kefu-Signature"),
        ({"headers": {"X-Kefu-Signature": ""}}, "X-Kefu-Signature"),
        ({"headers": {"X-Kefu-Signature": "sha256=00"}}, "X-Kefu-Signature"),
        ({"headers": {"X-Kefu-Timestamp": ""}}, "X-Kefu-Timestamp"),
        ({"headers": {"X-Kefu-Timestamp": "yesterday"}}, "X-Kefu-Timestamp"),
        ({"age": 301}, "stale"),
        ({"age": -301}, "stale"),  # from the future: a clock far off, or a prepared replay
    ],
)
async def test_an_unsigned_forged_or_stale_request_is_refused(shop: Shop, tamper: dict, says: str) -> None:
    status, body = await shop.post("/api/orders", ORDER, **tamper)
    assert status == 401 and says in body["error"]
    assert not await Order.exists()


async def test_a_request_from_just_under_5_minutes_ago_is_accepted(shop: Shop) -> None:
    assert (await shop.post("/api/orders", ORDER, age=299))[0] == 200


async def test_a_replayed_request_is_stale_after_5_minutes(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    shop.clock[0] = NOW + timedelta(minutes=6)
    status, body = await shop.post("/api/orders/SO100231/events", DELIVERED, age=360)
    assert status == 401 and "stale" in body["error"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/orders", ORDER | {"phone": "12345"}, "phone"),
        ("/api/orders", ORDER | {"status": "lost"}, "status"),
        ("/api/orders", ORDER | {"items": [{"name": "茶杯", "quantity": 0}]}, "items.0.quantity"),
        ("/api/orders", ORDER | {"amount": "1.005"}, "amount"),
        ("/api/orders", {k: v for k, v in ORDER.items() if k != "created_at"}, "created_at"),
        ("/api/orders", ORDER | {"order_no": "x" * 65}, "order_no"),
        ("/api/orders", ORDER | {"carrier": "SF\u0000"}, "carrier"),
        ("/api/orders/SO100231/events", DELIVERED | {"status": None}, "status"),
        ("/api/orders/SO100231/events", DELIVERED | {"type": "tracking"}, "status"),
        ("/api/orders/SO100231/events", {k: v for k, v in DELIVERED.items() if k != "event_id"}, "event_id"),
        ("/api/orders/SO100231/events", DELIVERED | {"time": "soon"}, "time"),
    ],
)
async def test_a_body_kefu_cannot_use_is_refused_naming_the_field(shop: Shop, path: str, body: dict, field: str) -> None:
    await shop.post("/api/orders", ORDER)
    status, answer = await shop.post(path, body)
    assert status == 400 and answer["field"] == field
    assert field in answer["error"] and answer["reason"]


GARBAGE = [
    b"", b"null", b"[]", b'"order"', b"{", b"\xff\xfe\x00", b"[" * 100_000, b'{"order_no": 1e400}',
    json.dumps(ORDER | {"amount": float("nan")}).encode(), json.dumps(ORDER | {"items": "[[[["}).encode(),
    json.dumps(ORDER | {"items": [{"name": "x", "quantity": 10**30}]}).encode(),
    json.dumps(DELIVERED | {"time": 10**20}).encode(), json.dumps(DELIVERED | {"event_id": ["a"]}).encode(),
]


async def test_garbage_is_a_400_never_a_500(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    for raw in GARBAGE:
        for path in ("/api/orders", "/api/orders/SO100231/events"):
            status, body = await shop.post(path, raw)
            assert status == 400, (raw[:60], body)


async def test_an_event_for_an_unknown_order_or_a_reused_event_id(shop: Shop) -> None:
    status, body = await shop.post("/api/orders/SO-NONE/events", DELIVERED)
    assert status == 404 and "SO-NONE" in body["error"]
    await shop.post("/api/orders", ORDER)
    await shop.post("/api/orders", ORDER | {"order_no": "SO2"})
    await shop.post("/api/orders/SO100231/events", DELIVERED)
    status, body = await shop.post("/api/orders/SO2/events", DELIVERED)
    assert status == 409 and body["field"] == "event_id"


async def test_without_a_secret_the_feed_is_disabled(database: str) -> None:
    client = await _serve(OrdersSettings(), lambda: NOW)
    try:
        response = await client.post("/api/orders", json=ORDER)
        assert response.status == 503
        assert await response.json() == {"error": "order feed disabled: set KEFU_ORDERS__WEBHOOK_SECRET"}
    finally:
        await client.close()


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")), reason="needs openssl and curl")
async def test_the_documented_curl_example_works(shop: Shop) -> None:
    """The shell example in the feed's docstring (and the README) signs as kefu checks."""
    await shop.post("/api/orders", ORDER | {"created_at": "2025-03-01T10:00:00+08:00", "shipped_at": "2025-03-02T16:00:00+08:00"})
    shop.clock[0] = datetime.now(UTC)
    script = feed.__doc__.split("From a shell::", 1)[1]
    script = script.replace("http://127.0.0.1:8080", str(shop.client.make_url("")).rstrip("/"))
    script = script.replace(" \\\n", " ")  # the docstring's line continuations
    process = await asyncio.create_subprocess_shell(
        script, executable="/bin/bash", env={"KEFU_ORDERS__WEBHOOK_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert json.loads(out) == {"order_no": "SO100231", "duplicate": False, "status": "delivered", "changed": True, "stale": False}
