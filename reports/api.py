"""``GET /api/metrics?from=…&to=…`` on kefu's HTTP server: the report as JSON, for dashboards.

Authenticated with ``Authorization: Bearer <[api] token>``; with no token configured the
endpoint refuses every request (metrics are the shop's business).

``from`` and ``to`` are ISO 8601 times (without an offset: UTC); ``to`` defaults to now and
``from`` to 30 days before ``to``. The report also looks back ``[reports] periods`` periods as
long for its trends, so the times are kept within 1970 … 2100 and at most ten years apart: a
date at year 1 or 9999 is answered 400 with a reason, never an overflow and a 500. A ``+`` in a
query string is read as a space by URL rules; ``…T00:00:00 08:00`` is taken as the ``+08:00``
that was meant.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.core.config import Settings
from reports import compute_report, report_options

MAX_SPAN = timedelta(days=3660)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_PLUS_AS_SPACE = re.compile(r" (\d\d(?::?\d\d)?)$")


def metrics_routes(settings: Settings) -> list[web.RouteDef]:
    async def metrics(request: web.Request) -> web.Response:
        expected = settings.api.token.get_secret_value() if settings.api.token else None
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response({"error": "a valid bearer token (KEFU_API__TOKEN) is required"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        try:
            end = _moment(request.query.get("to"), "to") or datetime.now(UTC)
            start = _moment(request.query.get("from"), "from") or end - timedelta(days=30)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        if not EARLIEST <= start < end <= LATEST or end - start > MAX_SPAN:
            return web.json_response(
                {"error": "from must be before to, at most ten years apart, both between 1970-01-01 and 2100-01-01"},
                status=400,
            )
        report = await compute_report(start, end, timezone=settings.scheduler.timezone, **report_options(settings))
        return web.json_response(report.to_dict())

    return [web.get("/api/metrics", metrics)]


def _moment(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(_PLUS_AS_SPACE.sub(r"+\1", value.strip()))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 time, e.g. 2026-11-01T00:00:00+08:00") from None
    if not EARLIEST.year - 1 <= moment.year <= LATEST.year:  # the exact bounds, once it is safe to compute with
        raise ValueError(f"{name} must be between 1970-01-01 and 2100-01-01")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
