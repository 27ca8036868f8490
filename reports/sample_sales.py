"""The sandbox's sample sales: pre-sale questions, pre-sale tickets and orders with carriers.

So that /report in the sandbox shows 询单转化率 and the carriers' lines as a new user would see
them. Deterministic (its own seeded generator: the rest of the sample history stays as it was);
never used outside the sandbox. Phones are +86 139 0000 1xxx, apart from the sample orders'.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from knowledge_base.models import Question
from orders.models import DeliveryException, EventKind, Order, OrderEvent, OrderStatus
from ticketing.models import Agent, Customer, Ticket, TicketStatus

PRESALE_QUESTIONS: Final = (("有M码吗", "size_guide"), ("可以用支付宝吗", "payment_methods"),
                            ("还有货吗", "out_of_stock"), ("do you deliver on weekends", "delivery_options"))
CARRIERS: Final = {"顺丰速运": (20, 30), "中通快递": (30, 60), "圆通速递": (36, 72)}
"""Carrier → hours to ship after the order (about), hours on the road (about)."""


async def load_sample_sales(customers: Sequence[Customer], agents: Sequence[Agent], start: datetime, now: datetime,
                            seed: int = 2026) -> int:
    """Questions, pre-sale tickets and orders from ``start`` to ``now``; returns the number of orders."""
    rng = random.Random(seed + 22)
    orders = 0
    for n, customer in enumerate(customers):
        customer.phone = f"+861390000{1000 + n}"
        await customer.save(update_fields=["phone", "phone_hash"])
    span = int((now - start).total_seconds() // 60)
    for _ in range(len(customers) * 2):
        customer = rng.choice(customers)
        asked = start + timedelta(minutes=rng.randrange(span))
        if rng.random() < 0.75:
            text, entry = rng.choice(PRESALE_QUESTIONS)
            question = await Question.create(customer=customer, text=text, normalized=text.lower(), language=customer.language,
                                             action="answer", entry_id=entry, band="high", score=0.9)
            await Question.filter(id=question.id).update(asked_at=asked)
        else:
            await Ticket.create(
                customer=customer, source="handoff", category="presale", priority="normal", status=TicketStatus.CLOSED,
                subject="sample", assignee=rng.choice(agents), waiting_since=asked, first_response_at=asked + timedelta(minutes=3),
                resolved_at=asked + timedelta(minutes=20), closed_at=asked + timedelta(minutes=20),
                created_at=asked, updated_at=asked,
            )
        if rng.random() < 0.35:  # about a third buy, most of them within a day or two
            placed = asked + timedelta(hours=rng.choice((1, 5, 20, 40, 120)))
            if placed < now:
                await _order(rng, customer, placed, now, orders)
                orders += 1
    return orders


async def _order(rng: random.Random, customer: Customer, placed: datetime, now: datetime, n: int) -> None:
    carrier = rng.choice(list(CARRIERS))
    ship_hours, road_hours = CARRIERS[carrier]
    shipped = placed + timedelta(hours=rng.uniform(0.3, 2) * ship_hours)
    delivered = shipped + timedelta(hours=rng.uniform(0.5, 1.8) * road_hours)
    shipped_at = shipped if shipped < now else None
    delivered_at = delivered if shipped_at and delivered < now else None
    returned = delivered_at is not None and rng.random() < 0.03
    status = (OrderStatus.RETURNED if returned else OrderStatus.DELIVERED) if delivered_at else \
        OrderStatus.SHIPPED if shipped_at else OrderStatus.PAID
    order = await Order.create(
        order_no=f"SAMPLE{n:05d}", phone=customer.phone, status=status, items=[{"name": "sample", "quantity": 1}],
        amount=Decimal(rng.randrange(3900, 39900)) / 100, currency="CNY", carrier=carrier, created_at=placed,
        paid_at=placed, shipped_at=shipped_at, delivered_at=delivered_at, updated_at=delivered_at or shipped_at or placed,
        expected_delivery=(placed + timedelta(days=3)).date() if rng.random() < 0.5 else None,
    )
    if shipped_at and rng.random() < 0.05:
        await OrderEvent.create(order=order, kind=EventKind.TRACKING, happened_at=shipped_at + timedelta(hours=12),
                                description="sample", exception=rng.choice(list(DeliveryException)), recorded_at=now)
