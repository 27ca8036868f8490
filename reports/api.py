"""``GET /api/metrics?from=…&to=…`` on kefu's HTTP server: the report as JSON, for dashboards.

Authenticated with ``Authorization: Bearer <[api] token>``; with no token configured the
endpoint refuses every request (metrics are the shop's business).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.config import Settings
from reports import compute_report

MAX_SPAN = timedelta(days=3660)


def metrics_routes(settings: Settings) -> list[web.RouteDef]:
    async def metrics(request: web.Request) -> web.Response:
        expected = settings.api.token.get_secret_value() if settings.api.token else None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response({"error": "a valid bearer token (KEFU_API__TOKEN) is required"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        try:
            end = _moment(request.query.get("to")) or datetime.now(UTC)
            start = _moment(request.query.get("from")) or end - timedelta(days=30)
        except ValueError:
            return web.json_response({"error": "from and to must be ISO 8601 times, e.g. 2026-11-01T00:00:00+08:00"}, status=400)
        if not start < end or end - start > MAX_SPAN:
            return web.json_response({"error": "from must be before to, at most ten years apart"}, status=400)
        report = await compute_report(start, end, timezone=settings.scheduler.timezone, periods=settings.reports.periods)
        return web.json_response(report.to_dict())

    return [web.get("/api/metrics", metrics)]


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
