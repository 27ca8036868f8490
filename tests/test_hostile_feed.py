"""The order feed and the metrics API against an eavesdropper, a careless shop and plain garbage.

A captured request replayed is refused, on every process of a fleet; an order's state never
moves backwards, and nobody is told of a change that did not happen; the signature binds the
method and path; the first signature form works while it is allowed; and no input, however
odd, makes either endpoint answer 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from tortoise import Tortoise
from yarl import URL

from bot.core.config import ApiSettings, OrdersSettings, Settings
from orders import feed
from orders.events import on_status_change, status_listeners
from orders.feed import order_routes, sign
from orders.models import FeedSignature, Order, OrderEvent, OrderStatus
from reports.api import metrics_routes
from tests.harness import Person

SECRET = "s3cret-shared-with-the-shop-0123456789"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ORDER = {
    "order_no": "SO1", "phone": "13800000001", "status": "shipped", "carrier": "顺丰速运", "tracking_no": "SF1",
    "items": [{"name": "西湖龙井 250g", "quantity": 2}], "amount": "176.00", "currency": "CNY",
    "created_at": "2026-03-08T10:00:00+08:00", "shipped_at": "2026-03-09T16:00:00+08:00",
}
DELIVERED = {"event_id": "evt-delivered", "type": "status", "status": "delivered", "time": "2026-03-10T19:30:00+08:00"}
EVENTS = "/api/orders/SO1/events"
Sent = tuple[str, bytes, dict[str, str]]
"""A request as it went over the wire: path, body, headers."""


class Shop:
    """The shop's side, signing as kefu's docs say; also an eavesdropper's replay of what it sent."""

    def __init__(self, clients: list[TestClient], clock: list[datetime]) -> None:
        self.clients, self.clock = clients, clock
        self.sent: list[Sent] = []

    def signed(self, path: str, body: Any, *, legacy: bool = False, age: float = 0) -> Sent:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        timestamp = int(self.clock[0].timestamp() - age)
        if legacy:
            digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
            signature = f"sha256={digest}"
        else:
            signature = sign(SECRET, timestamp, raw, path=URL(path).raw_path)
        return path, raw, {"X-Kefu-Timestamp": str(timestamp), "X-Kefu-Signature": signature}

    async def send(self, request: Sent, *, to: int = 0) -> tuple[int, dict]:
        path, raw, headers = request
        self.sent.append(request)
        response = await self.clients[to].post(path, data=raw, headers={"Content-Type": "application/json", **headers})
        return response.status, await response.json()

    async def post(self, path: str, body: Any, **signing: Any) -> tuple[int, dict]:
        """A new request, signed now; a second post is a second request, a second later."""
        answer = await self.send(self.signed(path, body, **signing))
        self.clock[0] += timedelta(seconds=1)
        return answer


async def _serve(app: web.Application) -> TestClient:
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


def _feed_app(orders: OrdersSettings, clock: Callable[[], datetime]) -> web.Application:
    app = web.Application()
    app.add_routes(order_routes(orders, clock=clock))
    return app


@pytest.fixture
async def fleet(database: str) -> AsyncIterator[Callable[..., Any]]:
    """``await fleet(processes=2, legacy_signatures=…)``: that many feed servers on the one database."""
    clients: list[TestClient] = []

    async def start(processes: int = 1, **orders: Any) -> Shop:
        clock = [NOW]
        settings = OrdersSettings(webhook_secret=SecretStr(SECRET), **orders)
        for _ in range(processes):
            clients.append(await _serve(_feed_app(settings, lambda: clock[0])))
        return Shop(clients, clock)

    try:
        yield start
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def shop(fleet: Callable[..., Any]) -> Shop:
    return await fleet()


@pytest.fixture
def heard() -> Iterator[list[tuple[OrderStatus | None, OrderStatus]]]:
    """Every status change the listeners (the customer's notice, the survey) hear of."""
    changes: list[tuple[OrderStatus | None, OrderStatus]] = []

    async def listener(order: Order, old: OrderStatus | None, new: OrderStatus, at: datetime) -> None:
        changes.append((old, new))

    on_status_change(listener)
    yield changes
    status_listeners.remove(listener)


# --- replays ------------------------------------------------------------------------------------


async def test_a_captured_request_replayed_is_refused_and_rolls_nothing_back(shop: Shop, heard: list) -> None:
    shipped = shop.signed("/api/orders", ORDER)
    assert (await shop.send(shipped))[0] == 200
    shop.clock[0] += timedelta(minutes=1)
    assert (await shop.post(EVENTS, DELIVERED))[1]["status"] == "delivered"

    status, body = await shop.send(shipped)  # the eavesdropper, four minutes later
    assert status == 409 and body["reason"] == "replayed request" and body["error"].startswith("replayed request")
    assert (await Order.get(order_no="SO1")).status is OrderStatus.DELIVERED
    assert heard == [(None, OrderStatus.SHIPPED), (OrderStatus.SHIPPED, OrderStatus.DELIVERED)]


async def test_a_replay_is_refused_by_every_process_of_a_fleet(fleet: Callable[..., Any]) -> None:
    shop = await fleet(processes=2)
    assert (await shop.post("/api/orders", ORDER))[0] == 200
    delivered = shop.signed(EVENTS, DELIVERED)
    assert (await shop.send(delivered, to=0))[0] == 200
    assert (await shop.send(delivered, to=1))[0] == 409

    # The same request reaching both processes at the same moment: one takes it.
    scan = shop.signed(EVENTS, {"event_id": "scan-1", "type": "tracking", "time": "2026-03-10T08:00:00Z", "description": "到达"})
    answers = await asyncio.gather(shop.send(scan, to=0), shop.send(scan, to=1))
    assert sorted(status for status, _ in answers) == [200, 409]
    assert await OrderEvent.filter(event_id="scan-1").count() == 1


async def test_a_retry_signed_anew_is_a_duplicate_not_a_replay(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    assert (await shop.post(EVENTS, DELIVERED))[1]["duplicate"] is False
    status, body = await shop.post(EVENTS, DELIVERED)
    assert (status, body["duplicate"], body["status"]) == (200, True, "delivered")


async def test_a_request_answered_with_an_error_may_come_again_as_it_was(shop: Shop) -> None:
    early = shop.signed(EVENTS, DELIVERED)  # the event overtook its order
    assert (await shop.send(early))[0] == 404
    await shop.post("/api/orders", ORDER)
    status, body = await shop.send(early)
    assert (status, body["changed"]) == (200, True)


async def test_remembered_requests_are_forgotten_once_they_are_stale(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    for n in range(5):
        await shop.post(EVENTS, {"event_id": f"scan-{n}", "type": "tracking", "time": "2026-03-10T08:00:00Z", "description": "…"})
    assert await FeedSignature.all().count() == 6
    shop.clock[0] += timedelta(minutes=11)  # older than any timestamp kefu still takes, even from 5 minutes ahead
    await shop.post(EVENTS, DELIVERED)
    assert await FeedSignature.all().count() == 1


# --- state never moves backwards ------------------------------------------------------------------


async def test_an_older_event_after_a_newer_one_leaves_the_order_and_tells_the_customer_nothing(
    customer: Person, fleet: Callable[..., Any]
) -> None:
    """Acceptance 1, with the bot running: the customer hears of "shipped" and "delivered" once
    each, and of nothing when a late "shipped" event and an old copy of the order arrive."""
    shop = await fleet()
    bot, emulator = customer.bot, customer.bot.emulator
    bot.travel(NOW)  # 20:00 in Shanghai: no quiet hours
    await customer.share_contact("+8613800000001")
    before = emulator.seq
    assert (await shop.post("/api/orders", ORDER | {"status": "paid", "paid_at": "2026-03-08T10:05:00+08:00"}))[0] == 200
    assert (await shop.post("/api/orders", ORDER))[1]["changed"] is True
    assert (await shop.post(EVENTS, DELIVERED))[1]["changed"] is True
    await bot.run_scheduler(NOW)  # the notices are outbox rows
    await bot.run_scheduler(NOW + timedelta(seconds=1))  # one message a second per chat
    told = [m["text"] for m in emulator.bot_messages(customer.chat_id, since=before)]
    assert told == ["🚚 Good news: your order SO1 has shipped!", "✅ Your order SO1 has been delivered. We hope you enjoy it!"]

    before = emulator.seq
    late = {"event_id": "evt-late", "type": "status", "status": "shipped", "time": "2026-03-10T08:00:00+08:00"}
    status, body = await shop.post(EVENTS, late)
    assert (status, body["stale"], body["changed"], body["status"]) == (200, True, False, "delivered")
    status, body = await shop.post("/api/orders", ORDER | {"tracking_no": "SF-OLD"})
    assert (status, body["stale"], body["status"]) == (200, True, "delivered")
    await bot.run_scheduler(NOW + timedelta(minutes=1))
    assert emulator.bot_messages(customer.chat_id, since=before) == []
    stored = await Order.get(order_no="SO1")
    assert (stored.status, stored.tracking_no) == (OrderStatus.DELIVERED, "SF1")


async def test_an_older_copy_of_the_whole_order_is_acknowledged_and_ignored(shop: Shop, heard: list) -> None:
    await shop.post("/api/orders", ORDER | {"status": "delivered", "delivered_at": "2026-03-10T09:00:00+08:00"})
    status, body = await shop.post("/api/orders", ORDER | {"tracking_no": "SF-STALE"})  # shipped_at is earlier
    assert (status, body) == (200, {"order_no": "SO1", "created": False, "status": "delivered", "changed": False, "stale": True})
    assert (await Order.get(order_no="SO1")).tracking_no == "SF1"
    assert heard == [(None, OrderStatus.DELIVERED)]


async def test_the_same_time_is_not_older(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    status, body = await shop.post("/api/orders", ORDER | {"tracking_no": "SF2"})
    assert (status, body["stale"]) == (200, False)
    assert (await Order.get(order_no="SO1")).tracking_no == "SF2"


async def test_a_status_without_a_time_of_its_own_is_taken_as_it_comes(shop: Shop) -> None:
    """Cancelled, processing …: an order gives no time for them; without a version it cannot be
    told older, and a change is not lost."""
    await shop.post("/api/orders", ORDER)
    status, body = await shop.post("/api/orders", ORDER | {"status": "cancelled"})
    assert (status, body["changed"], body["stale"]) == (200, True, False)


async def test_versions_order_changes_whatever_their_times(shop: Shop, heard: list) -> None:
    await shop.post("/api/orders", ORDER | {"version": 5})
    earlier = DELIVERED | {"event_id": "v4", "version": 4}
    assert (await shop.post(EVENTS, earlier))[1] | {"order_no": None} == {
        "order_no": None, "duplicate": False, "status": "shipped", "changed": False, "stale": True
    }
    assert (await shop.post("/api/orders", ORDER | {"version": 4, "status": "cancelled"}))[1]["stale"] is True
    # A higher version wins even with an earlier time (the shop corrected it).
    corrected = ORDER | {"version": 6, "shipped_at": "2026-03-09T09:00:00+08:00", "tracking_no": "SF9"}
    assert (await shop.post("/api/orders", corrected))[1]["stale"] is False
    assert (await shop.post(EVENTS, DELIVERED | {"event_id": "v7", "version": 7}))[1]["changed"] is True
    order = await Order.get(order_no="SO1")
    assert (order.status, order.tracking_no, order.version) == (OrderStatus.DELIVERED, "SF9", 7)
    assert heard == [(None, OrderStatus.SHIPPED), (OrderStatus.SHIPPED, OrderStatus.DELIVERED)]


async def test_a_late_tracking_scan_still_joins_the_history(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    await shop.post(EVENTS, DELIVERED)
    scan = {"event_id": "scan-old", "type": "tracking", "time": "2026-03-09T20:00:00+08:00", "place": "杭州", "description": "已揽收"}
    status, body = await shop.post(EVENTS, scan)
    assert (status, body["stale"], body["status"]) == (200, False, "delivered")
    assert await OrderEvent.filter(event_id="scan-old").exists()


async def test_a_late_status_event_is_kept_in_the_history(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    await shop.post(EVENTS, DELIVERED)
    late = {"event_id": "late", "type": "status", "status": "out_for_delivery", "time": "2026-03-10T15:00:00+08:00"}
    assert (await shop.post(EVENTS, late))[1]["stale"] is True
    kept = await OrderEvent.get(event_id="late")
    assert (kept.status, kept.previous_status) == (OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED)
    assert (await shop.post(EVENTS, late))[1]["duplicate"] is True


# --- the signature --------------------------------------------------------------------------------


async def test_the_signature_binds_method_and_path(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER)
    await shop.post("/api/orders", ORDER | {"order_no": "SO2"})
    _, raw, headers = shop.signed(EVENTS, DELIVERED)
    status, body = await shop.send(("/api/orders/SO2/events", raw, headers))
    assert status == 401 and "v2=" in body["error"]
    put = sign(SECRET, headers["X-Kefu-Timestamp"], raw, path=EVENTS, method="PUT")
    assert (await shop.send((EVENTS, raw, headers | {"X-Kefu-Signature": put})))[0] == 401
    assert not await OrderEvent.filter(event_id=DELIVERED["event_id"]).exists()
    assert (await shop.send((EVENTS, raw, headers)))[0] == 200


async def test_an_order_number_that_needs_percent_encoding_is_signed_as_sent(shop: Shop) -> None:
    await shop.post("/api/orders", ORDER | {"order_no": "订单 7/8"})
    status, body = await shop.post("/api/orders/%E8%AE%A2%E5%8D%95%207%2F8/events", DELIVERED)
    assert (status, body["order_no"], body["changed"]) == (200, "订单 7/8", True)


async def test_the_first_signature_form_works_while_allowed_and_is_warned_of_once(
    shop: Shop, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "_legacy_warned", False)
    with caplog.at_level(logging.WARNING, logger=feed.__name__):
        assert (await shop.post("/api/orders", ORDER, legacy=True))[0] == 200
        assert (await shop.post(EVENTS, DELIVERED, legacy=True))[1]["changed"] is True
    warnings = [r.getMessage() for r in caplog.records if r.name == feed.__name__]
    assert len(warnings) == 1 and "legacy_signatures = false" in warnings[0]


async def test_a_replay_of_the_first_form_to_another_path_is_refused(shop: Shop) -> None:
    """The first form does not cover the path, but the request is remembered by its signature."""
    await shop.post("/api/orders", ORDER)
    await shop.post("/api/orders", ORDER | {"order_no": "SO2"})
    _, raw, headers = shop.signed(EVENTS, DELIVERED, legacy=True)
    assert (await shop.send((EVENTS, raw, headers)))[0] == 200
    assert (await shop.send(("/api/orders/SO2/events", raw, headers)))[0] == 409


async def test_the_first_signature_form_is_refused_once_turned_off(fleet: Callable[..., Any]) -> None:
    shop = await fleet(legacy_signatures=False)
    status, body = await shop.post("/api/orders", ORDER, legacy=True)
    assert status == 401 and "legacy_signatures = false" in body["error"] and "v2=" in body["error"]
    assert not await Order.exists()
    assert (await shop.post("/api/orders", ORDER))[0] == 200


# --- 4xx, never 500 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "headers", "expected", "field"),
    [
        ("/api/orders", ORDER, {"X-Kefu-Timestamp": "9" * 400}, 401, None),
        ("/api/orders", ORDER, {"X-Kefu-Timestamp": "1" + "0" * 20}, 401, None),
        (EVENTS, DELIVERED | {"time": "0001-01-01T00:00:00+08:00"}, {}, 400, "time"),
        (EVENTS, DELIVERED | {"time": "9999-12-31T23:30:00-08:00"}, {}, 400, "time"),
        (EVENTS, DELIVERED | {"time": "9999-12-31T23:30:00Z"}, {}, 400, "time"),  # would hold back every real change
        ("/api/orders", ORDER | {"created_at": "0001-01-01T00:00:00+14:00"}, {}, 400, "created_at"),
        ("/api/orders", ORDER | {"shipped_at": "9999-12-31T23:59:59-12:00"}, {}, 400, "shipped_at"),
        ("/api/orders", ORDER | {"delivered_at": "2027-03-10T00:00:00Z"}, {}, 400, "delivered_at"),
        ("/api/orders/" + "X" * 65 + "/events", DELIVERED, {}, 400, "order_no"),
        ("/api/orders/" + "订" * 65 + "/events", DELIVERED, {}, 400, "order_no"),
        ("/api/orders/%20%00/events", DELIVERED, {}, 400, "order_no"),
        ("/api/orders", ORDER | {"order_no": "X" * 65}, {}, 400, "order_no"),
        ("/api/orders", ORDER | {"version": 2**63}, {}, 400, "version"),
        ("/api/orders", ORDER | {"version": -1}, {}, 400, "version"),
        (EVENTS, DELIVERED | {"version": True}, {}, 400, "version"),
        (EVENTS, DELIVERED | {"event_id": "e" * 129}, {}, 400, "event_id"),
        (EVENTS, DELIVERED | {"place": "p" * 129}, {}, 400, "place"),
        ("/api/orders", ORDER | {"currency": "CNYX"}, {}, 400, "currency"),
        ("/api/orders", ORDER | {"amount": "1" * 20}, {}, 400, "amount"),
    ],
)
async def test_input_that_would_overflow_is_refused_with_the_field(
    shop: Shop, path: str, body: dict, headers: dict, expected: int, field: str | None
) -> None:
    await shop.post("/api/orders", ORDER)
    path_, raw, signed = shop.signed(path, body)
    status, answer = await shop.send((path_, raw, signed | headers))
    assert status == expected and answer["error"]
    if field:
        assert answer["field"] == field and answer["reason"]
    assert (await Order.get(order_no="SO1")).status is OrderStatus.SHIPPED


async def test_an_unexpected_failure_is_a_json_500_and_the_request_may_come_again(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await shop.post("/api/orders", ORDER)
    connection = Tortoise.get_connection("default")
    request = shop.signed(EVENTS, DELIVERED)
    await connection.execute_script('ALTER TABLE "order_event" RENAME TO "order_event_away"')
    try:
        with caplog.at_level(logging.ERROR, logger=feed.__name__):
            assert await shop.send(request) == (500, {"error": "internal error"})
    finally:
        await connection.execute_script('ALTER TABLE "order_event_away" RENAME TO "order_event"')
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert (await shop.send(request))[1]["changed"] is True


_FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_TIMES = st.one_of(
    st.datetimes(timezones=st.timezones() | st.none()).map(datetime.isoformat),
    st.tuples(st.datetimes(), st.sampled_from(["+23:59", "-23:59", "+08:00", "Z", "+24:00"])).map(lambda p: p[0].isoformat() + p[1]),
    st.text(max_size=40),
    st.integers(),
    st.floats(),
)

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


@_FUZZ
@given(timestamp=st.text(max_size=500) | st.integers().map(str))
async def test_any_timestamp_is_at_worst_a_401(shop: Shop, timestamp: str) -> None:
    path, raw, headers = shop.signed("/api/orders", ORDER)
    try:
        headers = headers | {"X-Kefu-Timestamp": timestamp}
        status, body = await shop.send((path, raw, headers))
    except ValueError:  # a header value the HTTP client itself will not send (a line break)
        return
    assert status in (200, 401, 409) and (status == 200 or body["error"])


@_FUZZ
@given(time=_TIMES, version=st.none() | st.integers() | st.booleans() | st.text(max_size=30))
async def test_any_event_time_or_version_is_at_worst_a_400(shop: Shop, time: Any, version: Any) -> None:
    if not await Order.exists(order_no="SO1"):
        await shop.post("/api/orders", ORDER)
    event = {"event_id": f"fuzz-{shop.clock[0].timestamp()}", "type": "status", "status": "in_transit", "time": time, "version": version}
    status, body = await shop.post(EVENTS, event)
    assert status in (200, 400), body
    assert status == 200 or body["field"] in ("time", "version")


@_FUZZ
@given(order_no=st.text(min_size=1, max_size=200).filter(lambda n: n not in (".", "..")))  # "..": no segment of its own
async def test_any_order_number_in_the_path_or_the_body_is_at_worst_a_4xx(shop: Shop, order_no: str) -> None:
    path = f"/api/orders/{quote(order_no, safe='')}/events"
    status, body = await shop.post(path, DELIVERED | {"event_id": f"fuzz-{shop.clock[0].timestamp()}"})
    assert status in (200, 400, 404), body
    status, body = await shop.post("/api/orders", ORDER | {"order_no": order_no})
    assert status in (200, 400), body


@_FUZZ
@given(body=_JSON, to_events=st.booleans())
async def test_any_json_body_is_at_worst_a_4xx(shop: Shop, body: Any, to_events: bool) -> None:
    if not await Order.exists(order_no="SO1"):
        await shop.post("/api/orders", ORDER)
    merged = ((DELIVERED if to_events else ORDER) | body) if isinstance(body, dict) else body
    status, answer = await shop.post(EVENTS if to_events else "/api/orders", merged)
    assert status in (200, 400, 409), answer


@_FUZZ
@given(raw=st.binary(max_size=2000))
async def test_any_bytes_are_at_worst_a_400(shop: Shop, raw: bytes) -> None:
    status, answer = await shop.post("/api/orders", raw)
    assert status == 400 and answer["error"]


# --- the metrics API ------------------------------------------------------------------------------

TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def metrics(database: str) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.add_routes(metrics_routes(Settings(api=ApiSettings(token=SecretStr(TOKEN)))))
    client = await _serve(app)
    yield client
    await client.close()


async def _metrics(client: TestClient, query: str) -> tuple[int, dict]:
    response = await client.get(f"/api/metrics?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    return response.status, await response.json()


@pytest.mark.parametrize(
    "query",
    [
        "to=0001-01-01T00:00:00%2B08:00", "to=0001-01-01", "from=9999-12-31T23:59:59-08:00", "to=9999-12-31",
        "from=1969-06-01&to=1970-06-01", "from=2099-06-01&to=2100-06-01", "to=1970-01-02", "from=2020-01-01&to=2040-01-01",
        "from=2026-02-01&to=2026-01-01", "from=2026-01-01T00:00:00%2B99:00", "from=%00", "to=" + "9" * 400, "from=2026-13-01",
    ],
)
async def test_metrics_times_out_of_range_or_malformed_are_a_400_with_a_reason(metrics: TestClient, query: str) -> None:
    status, body = await _metrics(metrics, query)
    assert status == 400 and body["error"]


async def test_metrics_take_an_offset_whose_plus_came_through_as_a_space(metrics: TestClient) -> None:
    status, body = await _metrics(metrics, "from=2026-11-01T00:00:00+08:00&to=2026-11-08T00:00:00+08:00")
    assert (status, body["start"], body["end"]) == (200, "2026-11-01T00:00:00+08:00", "2026-11-08T00:00:00+08:00")


@_FUZZ
@given(start=st.text(max_size=40) | st.datetimes().map(datetime.isoformat), end=st.text(max_size=40) | st.datetimes().map(datetime.isoformat))
async def test_any_metrics_times_are_at_worst_a_400(metrics: TestClient, start: str, end: str) -> None:
    response = await metrics.get(
        "/api/metrics", params={"from": start, "to": end}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status in (200, 400)
    assert "error" in await response.json() or response.status == 200
