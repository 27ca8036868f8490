"""Orders from the shop's own REST API (``[orders] provider = "http"``).

``url`` answers one order as JSON (the fields of POST /api/orders, optionally wrapped as
``{"order": {...}}``) or 404; ``phone_url`` answers a list of them (or ``{"orders": [...]}``).

A customer is waiting for the answer, so a look-up gets ``timeout`` seconds in all, retries
included; after that, or once the shop's API is known to be down, it raises
:class:`OrderSourceUnavailable` and the bot apologises. ``breaker_failures`` failed look-ups in
a row open the circuit breaker: for ``breaker_cooldown`` seconds the API is not asked at all.
Answers are reused for ``cache_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from bot.config import OrdersSettings
from knowledge_base.orders.schema import OrderIn, first_error, normalize_order_no
from knowledge_base.orders.sources import OrderSourceUnavailable
from knowledge_base.orders.views import OrderView, view_of_input

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_NOT_FOUND = object()


class _Failed(Exception):
    """One look-up failed for a reason worth logging."""


class _Retryable(_Failed):
    """A failure that may pass: connection refused or reset, 5xx, 429."""


class CircuitBreaker:
    """Stop asking a service that failed ``failures`` times in a row, for ``cooldown`` seconds.

    After the cool-down the next call is let through: its success closes the breaker, its
    failure opens it again for another cool-down.
    """

    def __init__(self, failures: int, cooldown: float, clock: Clock = time.monotonic) -> None:
        self.failures, self.cooldown, self._clock = failures, cooldown, clock
        self._in_a_row = 0
        self._opened_at: float | None = None

    @property
    def open(self) -> bool:
        return self._opened_at is not None and self._clock() - self._opened_at < self.cooldown

    def succeeded(self) -> None:
        self._in_a_row, self._opened_at = 0, None

    def failed(self) -> None:
        self._in_a_row += 1
        if self._in_a_row >= self.failures:
            self._opened_at = self._clock()


class HttpOrderSource:
    def __init__(self, settings: OrdersSettings, *, clock: Clock = time.monotonic) -> None:
        if settings.url is None:
            raise ValueError('orders.url must be set for provider "http"')
        self.settings = settings
        self._clock = clock
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown, clock)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._session: aiohttp.ClientSession | None = None

    async def find(self, order_no: str) -> OrderView | None:
        order_no = normalize_order_no(order_no)
        assert self.settings.url is not None
        data = await self._get(self.settings.url.format(order_no=quote(order_no, safe="")))
        if data is _NOT_FOUND:
            return None
        if isinstance(data, dict) and isinstance(data.get("order"), dict):
            data = data["order"]
        view = self._view(data)
        if view is None:
            raise OrderSourceUnavailable("the shop's order API answered an order kefu cannot read")
        return view if view.order_no == order_no else None

    async def recent_for_phone(self, phone: str, limit: int = 5) -> list[OrderView]:
        if self.settings.phone_url is None:
            return []
        data = await self._get(self.settings.phone_url.format(phone=quote(phone, safe="")))
        if isinstance(data, dict):
            data = data.get("orders")
        if data is _NOT_FOUND or not isinstance(data, list):
            if data is not _NOT_FOUND:
                log.warning("the shop's order API answered no list of orders for a phone")
            return []
        views = [v for v in map(self._view, data) if v is not None and v.phone == phone]
        return sorted(views, key=lambda v: v.created_at, reverse=True)[:limit]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpOrderSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _view(self, data: Any) -> OrderView | None:
        try:
            return view_of_input(OrderIn.model_validate(data, context={"region": self.settings.default_region}))
        except ValidationError as exc:
            field, reason = first_error(exc)
            log.warning("the shop's order API answered an order kefu cannot read: %s: %s", field, reason)
            return None

    async def _get(self, url: str) -> Any:
        """The JSON at ``url``, or ``_NOT_FOUND`` for a 404."""
        cached = self._cache.get(url)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        if self.breaker.open:
            raise OrderSourceUnavailable("the shop's order API failed repeatedly; waiting before asking again")
        try:
            async with asyncio.timeout(self.settings.timeout):
                data = await self._get_with_retries(url)
        except (TimeoutError, _Failed) as exc:
            self.breaker.failed()
            reason = f"no answer within {self.settings.timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("the shop's order API failed: %s", reason)
            raise OrderSourceUnavailable(f"the shop's order API failed: {reason}") from None
        self.breaker.succeeded()
        self._remember(url, data)
        return data

    async def _get_with_retries(self, url: str) -> Any:
        for attempt in range(self.settings.retries + 1):
            try:
                return await self._get_once(url)
            except _Retryable:
                if attempt == self.settings.retries:
                    raise
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    async def _get_once(self, url: str) -> Any:
        try:
            async with self._client().get(url) as response:
                if response.status == 404:
                    return _NOT_FOUND
                if response.status == 429 or response.status >= 500:
                    raise _Retryable(f"HTTP {response.status}")
                if response.status != 200:
                    raise _Failed(f"HTTP {response.status} (check orders.url and orders.auth_header)")
                body = await response.read()
        except aiohttp.ClientError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise _Failed("the answer is not JSON") from None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json"}
            if self.settings.auth_header is not None:
                headers[self.settings.auth_header_name] = self.settings.auth_header.get_secret_value()
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
            )
        return self._session

    def _remember(self, url: str, data: Any) -> None:
        if self.settings.cache_seconds <= 0:
            return
        now = self._clock()
        if len(self._cache) > 1000:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[url] = (now + self.settings.cache_seconds, data)
