"""Orders from the shop's own REST API (``[orders] provider = "http"``).

``url`` answers one order as JSON (the fields of POST /api/orders, optionally wrapped as
``{"order": {...}}``) or 404; ``phone_url`` answers a list of them (or ``{"orders": [...]}``).

A customer is waiting for the answer, so a look-up gets ``timeout`` seconds in all, retries
included; after that, or once the shop's API is known to be down, it raises
:class:`OrderSourceUnavailable` and the bot apologises. ``breaker_failures`` failed look-ups in
a row open the circuit breaker: for ``breaker_cooldown`` seconds the API is not asked at all.
Answers are reused for ``cache_seconds``.

The shop's API is trusted with its secret and with the orders it answers, nothing beyond it:

- The secret header (``auth_header_name``) goes with each request to the origins of ``url`` and
  ``phone_url`` only, never as a default of the session. A redirect within the origin is
  followed (a few at most); one to another origin (another host, port or scheme, http → https
  included) is not: it is a failure, logged with the origin it pointed to, and whatever that
  host answers is never read. An API that moved is set to its new address in the config.
- An answer is read up to ``max_response_bytes`` (after decompression): a longer one, told by its
  Content-Length or by counting as it streams, is cut off there and fails, so memory never grows
  with what the API sends.
- An answer that is not JSON, nested too deeply, of the wrong shape or not an order kefu can read
  fails like a refused connection: the breaker counts it, the customer gets the same apology.
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
from yarl import URL

from bot.core.config import OrdersSettings
from orders.schema import OrderIn, first_error, normalize_order_no
from orders.sources import OrderSourceUnavailable
from orders.views import OrderView, view_of_input

log = logging.getLogger(__name__)

Clock = Callable[[], float]
_NOT_FOUND = object()
_REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 3


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
        self._origins = {URL(u).origin() for u in (settings.url, settings.phone_url) if u is not None}

    async def find(self, order_no: str) -> OrderView | None:
        order_no = normalize_order_no(order_no)
        assert self.settings.url is not None
        url = self.settings.url.format(order_no=quote(order_no, safe=""))
        view: OrderView | None = await self._get(url, self._order)
        return view if view is not None and view.order_no == order_no else None

    async def recent_for_phone(self, phone: str, limit: int = 5) -> list[OrderView]:
        if self.settings.phone_url is None:
            return []
        url = self.settings.phone_url.format(phone=quote(phone, safe=""))
        views: list[OrderView] | None = await self._get(url, self._orders)
        mine = [v for v in views or [] if v.phone == phone]
        return sorted(mine, key=lambda v: v.created_at, reverse=True)[:limit]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpOrderSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _order(self, data: Any) -> OrderView:
        """One order: ``{...}`` or ``{"order": {...}}``."""
        if isinstance(data, dict) and isinstance(data.get("order"), dict):
            data = data["order"]
        return self._view(data)

    def _orders(self, data: Any) -> list[OrderView]:
        """A list of orders, ``[...]`` or ``{"orders": [...]}``; one kefu cannot read is left out
        (logged), so a shop's odd order does not hide a customer's others."""
        if isinstance(data, dict):
            data = data.get("orders")
        if not isinstance(data, list):
            raise _Failed("the answer is no list of orders")
        views = []
        for item in data:
            try:
                views.append(self._view(item))
            except _Failed as exc:
                log.warning("the shop's order API answered %s among a phone's orders: left out", exc)
        return views

    def _view(self, data: Any) -> OrderView:
        try:
            return view_of_input(OrderIn.model_validate(data, context={"region": self.settings.default_region}))
        except ValidationError as exc:
            field, reason = first_error(exc)
            raise _Failed(f"an order kefu cannot read ({field}: {reason})") from None
        except RecursionError:
            raise _Failed("an order nested too deeply") from None

    async def _get(self, url: str, read: Callable[[Any], Any]) -> Any:
        """``read`` of the JSON at ``url``, or None for a 404; ``read`` raises :class:`_Failed`
        for an answer it cannot use, which counts like any failure."""
        cached = self._cache.get(url)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        if self.breaker.open:
            raise OrderSourceUnavailable("the shop's order API failed repeatedly; waiting before asking again")
        try:
            async with asyncio.timeout(self.settings.timeout):
                data = await self._get_with_retries(url)
            data = None if data is _NOT_FOUND else read(data)
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
        target = URL(url)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with self._client().get(target, headers=self._secret(target), allow_redirects=False) as response:
                    if response.status in _REDIRECTS and "Location" in response.headers:
                        target = self._same_origin(target, response)
                        continue
                    if response.status == 404:
                        return _NOT_FOUND
                    if response.status == 429 or response.status >= 500:
                        raise _Retryable(f"HTTP {response.status}")
                    if response.status != 200:
                        raise _Failed(f"HTTP {response.status} (check orders.url and orders.auth_header)")
                    body = await self._body(response)
                    break
            else:
                raise _Failed(f"more than {MAX_REDIRECTS} redirects")
        except aiohttp.ClientError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:  # not JSON, not UTF-8, or an integer of thousands of digits
            raise _Failed("the answer is not JSON") from None
        except RecursionError:
            raise _Failed("the answer is JSON nested too deeply") from None

    @staticmethod
    def _same_origin(url: URL, response: aiohttp.ClientResponse) -> URL:
        """Where a redirect points, when that is on the origin asked."""
        try:
            moved = url.join(URL(response.headers["Location"]))
            origin = moved.origin()
        except ValueError:
            raise _Failed(f"HTTP {response.status} redirects to an address that is no URL") from None
        if origin != url.origin():
            raise _Failed(
                f"HTTP {response.status} redirects to {origin}, another origin: not followed "
                "(set orders.url and orders.phone_url to where the API is now)"
            )
        return moved

    async def _body(self, response: aiohttp.ClientResponse) -> bytearray:
        """The answer, read no further than ``max_response_bytes``."""
        cap = self.settings.max_response_bytes
        too_long = _Failed(f"the answer is longer than orders.max_response_bytes ({cap:,} bytes)")
        if response.content_length is not None and response.content_length > cap:
            response.close()
            raise too_long
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > cap:
                response.close()  # the connection goes: the rest is never read
                raise too_long
        return body

    def _secret(self, url: URL) -> dict[str, str]:
        """The secret header, for the configured origins only."""
        if self.settings.auth_header is None or url.origin() not in self._origins:
            return {}
        return {self.settings.auth_header_name: self.settings.auth_header.get_secret_value()}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Accept": "application/json"}, timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
            )
        return self._session

    def _remember(self, url: str, data: Any) -> None:
        if self.settings.cache_seconds <= 0:
            return
        now = self._clock()
        if len(self._cache) > 1000:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        self._cache[url] = (now + self.settings.cache_seconds, data)
