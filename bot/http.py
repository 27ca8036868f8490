"""kefu's one HTTP server (``[api] listen``): the shop's order feed now; metrics and webhooks later."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot import monitoring
from bot.config import ConfigError, Settings
from knowledge_base.orders.feed import order_routes
from reports.api import metrics_routes

log = logging.getLogger(__name__)


def build_http_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app.add_routes(order_routes(settings.orders))
    app.add_routes(metrics_routes(settings))
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/metrics", monitoring.metrics)
    return app


async def _alive(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def serving_http(settings: Settings, listen: str | None = None) -> AsyncIterator[str]:
    """Serve until the block exits; yields the base URL (``listen`` may use port 0)."""
    host, _, port = (listen or settings.api.listen).rpartition(":")
    runner = web.AppRunner(build_http_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port))
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({error.strerror}): set KEFU_API__LISTEN to a free host:port."
        ) from None
    address = runner.addresses[0]
    url = f"http://{address[0]}:{address[1]}"
    log.info("HTTP API at %s", url)
    try:
        yield url
    finally:
        await runner.cleanup()
