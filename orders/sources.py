"""Where orders are looked up: kefu's own database ("local") or the shop's REST API ("http").

Sources answer for any order: whose it is, the services decide (:mod:`.service`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from tortoise.exceptions import BaseORMException

from bot.core.batch import Batch
from bot.core.crypto import blind_indexes
from orders.models import EventKind, Order, OrderEvent
from orders.schema import normalize_order_no
from orders.views import OrderView, view_of_order


class OrderSourceUnavailable(Exception):
    """Orders cannot be looked up right now: apologise and offer a person."""


class OrderSource(Protocol):
    async def find(self, order_no: str) -> OrderView | None: ...

    async def recent_for_phone(self, phone: str, limit: int = 5) -> list[OrderView]: ...


class LocalOrderSource:
    """Orders in kefu's database, as imported or received on the order feed."""

    async def find(self, order_no: str) -> OrderView | None:
        try:
            return await _by_number(normalize_order_no(order_no))
        except (BaseORMException, OSError) as exc:
            raise OrderSourceUnavailable(f"the database did not answer: {exc}") from exc

    async def recent_for_phone(self, phone: str, limit: int = 5) -> list[OrderView]:
        try:
            orders = await Order.filter(phone_hash__in=blind_indexes("phone", phone)).order_by("-created_at", "-id").limit(limit)
            return await self._views(orders)
        except (BaseORMException, OSError) as exc:
            raise OrderSourceUnavailable(f"the database did not answer: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release: the database connection is kefu's."""

    @staticmethod
    async def _views(orders: list[Order]) -> list[OrderView]:
        tracking: dict[int, list[OrderEvent]] = defaultdict(list)
        events = OrderEvent.filter(order_id__in=[o.id for o in orders], kind=EventKind.TRACKING)
        for event in await events.order_by("-happened_at", "-id"):
            tracking[event.order_id].append(event)  # type: ignore[attr-defined]
        return [view_of_order(order, tracking[order.id]) for order in orders]


async def _views_by_number(order_nos: Sequence[str]) -> dict[str, OrderView]:
    """The orders of several customers' messages at once (see bot/core/batch.py)."""
    orders = await Order.filter(order_no__in=order_nos)
    return {view.order_no: view for view in await LocalOrderSource._views(orders)}


_by_number: Batch[str, OrderView] = Batch(_views_by_number)
