"""询单转化率 and logistics performance: small shops counted by hand, on SQLite and PostgreSQL.

Times are shop time (Asia/Shanghai) stored as UTC; the report period is [1 Nov, 15 Nov 2026).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from knowledge_base.models import Question
from orders.events import apply_event
from orders.models import DeliveryException, EventKind, Order, OrderEvent, OrderGrant, OrderStatus
from orders.schema import EventIn, OrderIn
from reports import compute_report
from reports.conversion import conversion, presale_entries
from reports.logistics import logistics
from ticketing.models import Agent, Customer, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


START, END = at(1, 0), at(15, 0)


async def _customer(n: int, phone: bool = True) -> Customer:
    return await Customer.create(telegram_id=100 + n, first_name=f"C{n}", phone=f"+8613800000{n:03d}" if phone else None)


async def _order(no: str, phone: str, created: datetime, amount: str = "100.00", **more: object) -> Order:
    return await Order.create(order_no=no, phone=phone, status=more.pop("status", OrderStatus.PAID),
                              amount=Decimal(amount), currency="CNY", created_at=created, updated_at=created, **more)


async def _asked(customer: Customer, asked: datetime, entry: str) -> None:
    await Question.create(customer=customer, text=entry, normalized=entry, language="zh-Hans", action="answer",
                          entry_id=entry, band="high", asked_at=asked)


async def _presale_ticket(customer: Customer, created: datetime, agent: Agent | None) -> Ticket:
    return await Ticket.create(customer=customer, source="handoff", category="presale", status="closed", assignee=agent,
                               waiting_since=created, created_at=created, updated_at=created)


# --- conversion ---------------------------------------------------------------------------


def test_the_shipped_kb_tags_its_pre_sale_entries() -> None:
    tagged = presale_entries()
    assert {"size_guide", "out_of_stock", "payment_methods", "delivery_options"} <= tagged
    assert not {"refund", "package_lost", "complaint", "refund_status"} & tagged


async def test_an_order_within_3_days_of_a_presale_question_converts_after_4_days_it_does_not(database: str) -> None:
    c1, c2, c3, c4 = [await _customer(n) for n in range(1, 5)]
    await _asked(c1, at(2), "size_guide")
    await _order("A1", c1.phone, at(2) + timedelta(days=3) - timedelta(minutes=1), "200.00")  # within 3 days
    await _asked(c2, at(3), "out_of_stock")
    await _order("A2", c2.phone, at(3) + timedelta(days=4), "500.00")                          # 4 days: too late
    await _asked(c3, at(4), "refund")                                                           # not pre-sale
    await _order("A3", c3.phone, at(4, 11))
    await _asked(c4, at(5), "size_guide")
    await _order("A4", c4.phone, at(5) - timedelta(hours=1))                                    # before asking
    report = await conversion(START, END, days=3, presale={"size_guide", "out_of_stock"})
    assert (report.consultations, report.converted, report.rate) == (3, 1, pytest.approx(1 / 3))
    assert (report.revenue, report.value) == (200.0, 200.0)
    assert report.by_agent == {}
    longer = await conversion(START, END, days=4, presale={"size_guide", "out_of_stock"})
    assert (longer.converted, longer.value) == (2, 350.0)  # 客单价: (200 + 500) ÷ 2


async def test_per_agent_from_presale_tickets_and_orders_proved_with_a_grant(database: str) -> None:
    wang, li = await Agent.create(telegram_id=1, name="Wang"), await Agent.create(telegram_id=2, name="Li")
    c1, c2, c3 = await _customer(1), await _customer(2, phone=False), await _customer(3)
    await _presale_ticket(c1, at(2), wang)
    await _asked(c1, at(6), "size_guide")          # the same customer again: counted once
    await _order("B1", c1.phone, at(3), "120.00")
    await _order("B1b", c1.phone, at(7), "80.00")  # within 3 days of the question: both orders count once
    await _presale_ticket(c2, at(2), li)            # no phone: the order is theirs by a grant
    await _order("B2", "+8613900000002", at(4), "60.00")
    await OrderGrant.create(customer=c2, order_no="B2", granted_at=at(4, 12))
    await _presale_ticket(c3, at(2), li)            # never ordered
    await _presale_ticket(c3, at(3), None)
    report = await conversion(START, END, days=3, presale={"size_guide"})
    assert (report.consultations, report.converted) == (3, 2)
    assert (report.revenue, report.value) == (260.0, 130.0)
    by_agent = report.by_agent
    assert list(by_agent) == [str(wang.id), str(li.id)]
    assert (by_agent[str(wang.id)].consultations, by_agent[str(wang.id)].converted) == (1, 1)
    assert by_agent[str(wang.id)].value == 120.0  # the order after the question is not Wang's
    assert (by_agent[str(li.id)].consultations, by_agent[str(li.id)].converted, by_agent[str(li.id)].rate) == (2, 1, 0.5)
    assert by_agent[str(li.id)].value == 60.0


async def test_no_consultations_is_null_not_zero(database: str) -> None:
    report = await conversion(START, END, days=3, presale={"size_guide"})
    assert (report.consultations, report.converted, report.rate, report.value) == (0, 0, None, None)


# --- logistics ----------------------------------------------------------------------------


async def test_logistics_by_carrier_speed_punctuality_and_exceptions(database: str) -> None:
    phone = "+8613800000001"
    # SF: three orders shipped in the period after 10, 20, 30 hours, delivered 24, 48, 96 hours later.
    # The first is due by its own date (delivered that day: on time), the second by promised_days
    # (3 days: 48 h is on time), the third by its own date, a day before delivery: late.
    sf = [
        await _order("S1", phone, at(2), shipped_at=at(2) + timedelta(hours=10),
                     delivered_at=at(2) + timedelta(hours=34), expected_delivery=date(2026, 11, 3), carrier="SF"),
        await _order("S2", phone, at(3), shipped_at=at(3) + timedelta(hours=20),
                     delivered_at=at(3) + timedelta(hours=68), carrier="SF"),
        await _order("S3", phone, at(4), shipped_at=at(4) + timedelta(hours=30),
                     delivered_at=at(4) + timedelta(hours=126), expected_delivery=date(2026, 11, 8), carrier="SF"),
    ]
    # ZTO: two shipped; one lost (a tracking event says so), one returned; one delivered 5 days
    # after shipping with no date of its own: late against promised_days = 3.
    await _order("Z1", phone, at(5), shipped_at=at(5, 12), carrier="ZTO")
    await _order("Z2", phone, at(5), shipped_at=at(5, 14), delivered_at=at(10, 14), carrier="ZTO",
                 status=OrderStatus.RETURNED)
    z1 = await Order.get(order_no="Z1")
    await OrderEvent.create(order=z1, kind=EventKind.TRACKING, happened_at=at(7), description="包裹丢失",
                            exception=DeliveryException.LOST, recorded_at=at(7))
    # Outside the period: shipped before it, placed after it.
    await _order("O1", phone, at(20, month=10), shipped_at=at(21, month=10), carrier="SF")
    await _order("O2", phone, at(16), carrier="SF")
    customer = await _customer(9)
    for category in ("logistics", "logistics", "product_quality"):
        await Ticket.create(customer=customer, source="complaint", is_complaint=True, category=category,
                            status="closed", waiting_since=at(6), created_at=at(6), updated_at=at(6))
    report = await logistics(START, END, timezone="Asia/Shanghai", promised_days=3)
    assert [c.carrier for c in report.by_carrier] == ["SF", "ZTO"]
    s, z = report.by_carrier
    assert (s.shipped, s.ship_median_hours, s.ship_p90_hours) == (3, 20.0, 28.0)
    assert (s.delivered, s.deliver_median_hours, s.deliver_p90_hours) == (3, 48.0, pytest.approx(86.4))
    assert (s.on_time, s.on_time_rate) == (2, pytest.approx(2 / 3))
    assert (s.exceptions, s.exception_rate) == (0, 0.0)
    assert (z.shipped, z.ship_median_hours, z.delivered, z.deliver_median_hours) == (2, 3.0, 1, 120.0)
    assert (z.on_time, z.on_time_rate) == (0, 0.0)
    assert (z.exceptions, z.exception_rate) == (2, 1.0)
    assert report.orders == 5
    assert report.complaints_per_1000_orders["logistics"] == 400.0
    assert report.complaints_per_1000_orders["product_quality"] == 200.0
    assert report.complaints_per_1000_orders["payment"] == 0.0
    assert sf[0].carrier == "SF"


async def test_a_delivery_later_than_the_promise_counts_late(database: str) -> None:
    phone = "+8613800000001"
    shipped = at(2, 9)
    await _order("P1", phone, at(1, 9), shipped_at=shipped, delivered_at=shipped + timedelta(days=2, hours=23), carrier="YTO")
    await _order("P2", phone, at(1, 9), shipped_at=shipped, delivered_at=shipped + timedelta(days=3, hours=1), carrier="YTO")
    # Its own date wins over promised_days: due 3 Nov, delivered on the 4th (shop time) is late
    # although within 3 days of shipping; due the 4th, delivered 23:30 that day is on time.
    await _order("P3", phone, at(1, 9), shipped_at=shipped, delivered_at=at(4, 1), expected_delivery=date(2026, 11, 3), carrier="YTO")
    await _order("P4", phone, at(1, 9), shipped_at=shipped, delivered_at=at(4, 23) + timedelta(minutes=30),
                 expected_delivery=date(2026, 11, 4), carrier="YTO")
    [yto] = (await logistics(START, END, timezone="Asia/Shanghai", promised_days=3)).by_carrier
    assert (yto.delivered, yto.on_time) == (4, 2)


async def test_no_orders_gives_nulls(database: str) -> None:
    report = await logistics(START, END, timezone="Asia/Shanghai", promised_days=3)
    assert report.by_carrier == [] and report.orders == 0
    assert set(report.complaints_per_1000_orders.values()) == {None}


# --- the feed's exception field, and the report's JSON --------------------------------------


def test_events_take_an_optional_exception_and_refuse_others() -> None:
    event = EventIn.model_validate({"event_id": "e1", "type": "tracking", "time": "2026-11-02T10:00:00+08:00",
                                    "description": "派送失败", "exception": "Delivery failed"})
    assert event.exception is DeliveryException.DELIVERY_FAILED
    assert EventIn.model_validate({"event_id": "e2", "type": "status", "status": "shipped",
                                   "time": "2026-11-02T10:00:00+08:00"}).exception is None
    with pytest.raises(ValidationError, match="exception"):
        EventIn.model_validate({"event_id": "e3", "type": "tracking", "time": "2026-11-02T10:00:00+08:00",
                                "description": "x", "exception": "stolen"})
    order = OrderIn.model_validate({
        "order_no": "SO1", "phone": "13800000001", "status": "shipped", "items": "茶具 x1", "amount": "10",
        "currency": "CNY", "created_at": "2026-11-01T10:00:00+08:00",
        "events": [{"time": "2026-11-02T10:00:00+08:00", "description": "破损", "exception": "damaged"}],
    })
    assert order.events[0].exception is DeliveryException.DAMAGED


async def test_an_exception_event_is_stored(database: str) -> None:
    await _order("E1", "+8613800000001", at(2), status=OrderStatus.SHIPPED, shipped_at=at(2, 12), carrier="SF")
    await apply_event("E1", kind=EventKind.STATUS, at=at(4), now=at(4), status=OrderStatus.RETURNED,
                      event_id="ev-1", exception=DeliveryException.DELIVERY_FAILED)
    stored = await OrderEvent.get(event_id="ev-1")
    assert stored.exception == "delivery_failed"


async def test_the_report_json_has_conversion_and_logistics(database: str) -> None:
    customer = await _customer(1)
    await _asked(customer, at(2), "size_guide")
    await _order("J1", customer.phone, at(3), "99.00", shipped_at=at(3, 20), carrier="SF")
    data = (await compute_report(START, END, timezone="Asia/Shanghai", periods=2)).to_dict()
    assert data["conversion"] | {"by_agent": {}} == {
        "consultations": 1, "converted": 1, "rate": 1.0, "revenue": 99.0, "value": 99.0, "days": 3, "by_agent": {},
    }
    [sf] = data["logistics"]["by_carrier"]
    assert sf["carrier"] == "SF" and sf["ship_median_hours"] == 10.0
    assert sf["deliver_median_hours"] is None and sf["on_time_rate"] is None and sf["exception_rate"] == 0.0


async def test_the_summary_tells_conversion_and_carriers_in_the_agent_language(database: str) -> None:
    from reports.summary import summary_text

    customer = await _customer(1)
    await _asked(customer, at(2), "size_guide")
    await _order("T1", customer.phone, at(3), "99.00", shipped_at=at(3, 20), delivered_at=at(5, 20), carrier="顺丰")
    report = await compute_report(START, END, timezone="Asia/Shanghai", periods=2)
    zh = summary_text(report, "zh-Hans")
    assert "🛒 询单转化率 100.0 %（1/1 位在 3 天内下单）· 客单价 99.00" in zh
    assert "🚚 顺丰：发货 10 小时" in zh and "准时率 100.0 %" in zh and "异常率 0.0 %" in zh
    quiet = await compute_report(START - timedelta(days=60), START - timedelta(days=30), timezone="Asia/Shanghai", periods=2)
    assert "🛒" not in summary_text(quiet, "en") and "🚚" not in summary_text(quiet, "en")


async def test_the_sandbox_history_has_conversions_and_carriers(database: str) -> None:
    from reports.sample import load_sample_history

    await load_sample_history(now=END)
    report = await compute_report(END - timedelta(days=30), END, timezone="Asia/Shanghai", periods=2)
    assert report.conversion.consultations > 20 and 0 < report.conversion.converted < report.conversion.consultations
    assert report.conversion.by_agent and report.conversion.value is not None
    assert [c.carrier for c in report.logistics.by_carrier] == ["中通快递", "圆通速递", "顺丰速运"]
    assert all(c.ship_median_hours and c.on_time_rate is not None for c in report.logistics.by_carrier)
