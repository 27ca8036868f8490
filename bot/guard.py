"""Failed attempts on kefu's HTTP API (``/api/…``) are limited per client address.

A client whose requests were refused (401: no or a wrong bearer token; 403: a bad order-feed
signature) more than ``[api] failed_attempts`` times within ``failed_window_seconds`` gets 429
Too Many Requests, without its credentials being checked, until the window has passed. So
guessing the token or the feed secret is slowed to a handful of tries a minute, and a
dashboard with the right token is never affected by someone else's failures.

Behind a reverse proxy every request comes from the proxy's address: a request from one of
``[api] trusted_proxies`` is counted under the client address the proxy put last in
``X-Forwarded-For``. The counts live in the process (each instance of a fleet counts its own).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

log = logging.getLogger(__name__)
REFUSED = (401, 403)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FailedAttempts:
    """Refused attempts per client within a sliding window."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._refused: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait (0: it may try)."""
        times = self._recent(client)
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - self.clock())

    def refused(self, client: str) -> None:
        times = self._refused.setdefault(client, deque())
        times.append(self.clock())
        if len(times) == self.limit:
            log.warning("HTTP API: %s refused %s times within %.0f s; it waits now", client, self.limit, self.window)

    def _recent(self, client: str) -> deque[float]:
        times = self._refused.get(client)
        if times is None:
            return deque()
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._refused[client]
        return times


def client_address(request: web.Request, trusted_proxies: Sequence[str]) -> str:
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if remote in trusted_proxies and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip() or remote
    return remote


def api_guard(attempts: FailedAttempts, trusted_proxies: Sequence[str]) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware applying :class:`FailedAttempts` to the paths under ``/api/``."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or attempts.limit == 0:
            return await handler(request)
        client = client_address(request, trusted_proxies)
        wait = attempts.retry_after(client)
        if wait > 0:
            return web.json_response(
                {"error": "too many refused attempts from this address: try again later"},
                status=429, headers={"Retry-After": str(max(1, round(wait)))},
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status in REFUSED:
                attempts.refused(client)
            raise
        if response.status in REFUSED:
            attempts.refused(client)
        return response

    return guard
