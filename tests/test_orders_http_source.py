"""Orders from the shop's own API: answers quickly even when that API is down, slow or talking nonsense."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.core.config import OrdersSettings
from orders.http_source import HttpOrderSource
from orders.models import OrderStatus
from orders.service import make_source
from orders.sources import LocalOrderSource, OrderSourceUnavailable

ORDER = {
    "order_no": "SO 1", "phone": "13800000001", "status": "in_transit", "carrier": "顺丰速运", "tracking_no": "SF1",
    "items": [{"name": "西湖龙井 250g", "quantity": 2, "price": 88}], "amount": 176, "currency": "CNY",
    "created_at": "2026-03-08T10:00:00+08:00",
    "events": [{"time": f"2026-03-09T0{h}:00:00Z", "place": p, "description": "…"} for h, p in enumerate(["杭州", "嘉兴", "上海", "浦东"])],
}


class ShopAPI:
    """A real HTTP server on 127.0.0.1 playing the shop's API, in whatever mood the test sets."""

    def __init__(self) -> None:
        self.mood = "ok"
        self.hits = 0
        self.headers: dict[str, str] = {}
        self.url = ""

    async def order(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        self.headers = dict(request.headers)
        if self.mood == "slow":
            await asyncio.sleep(5)
        if self.mood == "500":
            return web.Response(status=500)
        if self.mood == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        if request.match_info["order_no"] != "SO 1":
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"order": ORDER})

    async def by_phone(self, request: web.Request) -> web.Response:
        self.hits += 1
        other = ORDER | {"order_no": "SO 2", "created_at": "2026-03-09T10:00:00+08:00"}
        stranger = ORDER | {"order_no": "SO 3", "phone": "+8613900000009"}  # a shop API that filters badly
        return web.json_response([ORDER, other, stranger] if request.query["phone"] == "+8613800000001" else [])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def shop() -> AsyncIterator[ShopAPI]:
    api = ShopAPI()
    app = web.Application()
    app.add_routes([web.get("/api/orders/{order_no}", api.order), web.get("/api/orders", api.by_phone)])
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield api
    await runner.cleanup()


def _settings(base: str, **overrides: Any) -> OrdersSettings:
    return OrdersSettings(
        provider="http", url=base + "/api/orders/{order_no}", phone_url=base + "/api/orders?phone={phone}",
        auth_header=SecretStr("Bearer shop-key"), timeout=1.0, retries=1, **overrides,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(shop: ShopAPI, clock: Clock) -> AsyncIterator[HttpOrderSource]:
    async with HttpOrderSource(_settings(shop.url, breaker_failures=2, breaker_cooldown=30), clock=clock) as source:
        yield source


async def _unavailable_within(seconds: float, source: HttpOrderSource, order_no: str = "SO 1") -> None:
    started = time.monotonic()
    with pytest.raises(OrderSourceUnavailable):
        await source.find(order_no)
    assert time.monotonic() - started < seconds


async def test_an_order_is_read_from_the_shop_api(shop: ShopAPI, source: HttpOrderSource) -> None:
    order = await source.find("SO 1")
    assert order is not None and order.status is OrderStatus.IN_TRANSIT and order.phone == "+8613800000001"
    assert [e.place for e in order.events] == ["浦东", "上海", "嘉兴"]
    assert shop.headers["Authorization"] == "Bearer shop-key"
    assert await source.find("SO 404") is None


async def test_recent_orders_for_a_phone_are_only_that_phones(shop: ShopAPI, source: HttpOrderSource) -> None:
    orders = await source.recent_for_phone("+8613800000001")
    assert [o.order_no for o in orders] == ["SO 2", "SO 1"]
    assert await source.recent_for_phone("+8613800000002") == []


async def test_answers_are_reused_for_a_while(shop: ShopAPI, source: HttpOrderSource, clock: Clock) -> None:
    await source.find("SO 1")
    await source.find("SO 1")
    assert shop.hits == 1
    clock.now += 31
    await source.find("SO 1")
    assert shop.hits == 2


async def test_an_unreachable_api_is_reported_at_once() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with HttpOrderSource(_settings(f"http://127.0.0.1:{port}")) as source:
        await _unavailable_within(1.0, source)


async def test_server_errors_are_retried_then_reported(shop: ShopAPI, source: HttpOrderSource) -> None:
    shop.mood = "500"
    await _unavailable_within(1.0, source)
    assert shop.hits == 2  # one retry


async def test_a_slow_api_is_given_up_on_within_the_timeout(shop: ShopAPI, source: HttpOrderSource) -> None:
    shop.mood = "slow"
    await _unavailable_within(1.3, source)  # timeout = 1 s, retries included


async def test_an_answer_that_is_not_json_is_reported(shop: ShopAPI, source: HttpOrderSource) -> None:
    shop.mood = "garbage"
    await _unavailable_within(1.0, source)


async def test_the_breaker_opens_after_failures_in_a_row_and_closes_after_the_cool_down(
    shop: ShopAPI, source: HttpOrderSource, clock: Clock
) -> None:
    shop.mood = "garbage"
    for _ in range(2):
        await _unavailable_within(1.0, source)
    hits = shop.hits
    shop.mood = "ok"
    await _unavailable_within(0.05, source)  # open: the API is not even asked
    assert shop.hits == hits and source.breaker.open

    clock.now += 29
    await _unavailable_within(0.05, source)
    clock.now += 1  # cool-down over: the next look-up is let through, and succeeds
    assert await source.find("SO 1") is not None
    assert not source.breaker.open


async def test_a_failure_after_the_cool_down_opens_the_breaker_again(
    shop: ShopAPI, source: HttpOrderSource, clock: Clock
) -> None:
    shop.mood = "500"
    for _ in range(2):
        await _unavailable_within(1.0, source)
    clock.now += 30
    await _unavailable_within(1.0, source)  # tried once more, failed
    hits = shop.hits
    await _unavailable_within(0.05, source)
    assert shop.hits == hits


async def test_the_provider_setting_chooses_the_source(shop: ShopAPI) -> None:
    assert isinstance(make_source(OrdersSettings()), LocalOrderSource)
    source = make_source(_settings(shop.url))
    assert isinstance(source, HttpOrderSource)
    await source.close()
