"""kefu's one HTTP server (``[api] listen``): Telegram's webhook, the shop's order feed, metrics, health."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from telegram.ext import Application
from tortoise import Tortoise

from bot import monitoring
from bot.config import ConfigError, Settings
from bot.guard import FailedAttempts, api_guard
from bot.intake import Intake
from bot.models import InboxUpdate
from knowledge_base.orders.feed import order_routes
from reports.api import metrics_routes

log = logging.getLogger(__name__)
BOT = web.AppKey("bot", Application)


def build_http_app(settings: Settings, bot: Application | None = None) -> web.Application:
    attempts = FailedAttempts(settings.api.failed_attempts, settings.api.failed_window_seconds)
    app = web.Application(client_max_size=1024 * 1024, middlewares=[api_guard(attempts, settings.api.trusted_proxies)])
    app.add_routes(order_routes(settings.orders))
    app.add_routes(metrics_routes(settings))
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/metrics", monitoring.metrics)
    if bot is not None:
        app[BOT] = bot
        app.router.add_get("/readyz", _ready)
        if settings.telegram.mode == "webhook":
            app.router.add_post(settings.telegram.webhook_path(), _webhook)
    return app


async def _alive(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _ready(request: web.Request) -> web.Response:
    """Ready to take updates: the database answers, the knowledge base is loaded, the bot runs.
    The details also say how many updates were set aside (``failed_updates``, fleet-wide): they
    want a person's look but do not make the process unready."""
    bot = request.app[BOT]
    checks = {"database": False, "knowledge_base": "knowledge_base" in bot.bot_data, "bot": bot.running}
    details: dict[str, int] = {}
    with contextlib.suppress(Exception):
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        checks["database"] = True
        details["failed_updates"] = await InboxUpdate.filter(status="failed").count()
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks, **details}, status=200 if ok else 503)


async def _webhook(request: web.Request) -> web.Response:
    """An update from Telegram, each answer counted by its status (``kefu_webhook_responses_total``)."""
    try:
        response = await _take_update(request)
    except web.HTTPException as error:  # e.g. 413: a body over client_max_size
        monitoring.count_webhook(error.status)
        raise
    except Exception:  # aiohttp answers 500
        monitoring.count_webhook(500)
        raise
    monitoring.count_webhook(response.status)
    return response


async def _take_update(request: web.Request) -> web.Response:
    """Refused (403) unless it carries the secret, 503 while not taking updates (starting or
    stopping: the load balancer tries another process), stored before 200."""
    bot = request.app[BOT]
    settings: Settings = bot.bot_data["settings"]
    expected = settings.telegram.webhook_secret.get_secret_value().encode()  # type: ignore[union-attr]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
    if not hmac.compare_digest(given, expected):
        log.warning("webhook call without the right secret from %s refused", request.remote)
        return web.Response(status=403, text="forbidden")
    intake: Intake = bot.bot_data["intake"]
    if not intake.accepting:
        return web.Response(status=503, text="not taking updates now", headers={"Retry-After": "1"})
    try:
        payload = await request.json()
    except ValueError:
        return web.Response(status=400, text="not JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        return web.Response(status=400, text="not an update")
    try:
        await intake.receive([payload])
    except Exception:  # the database is away: not stored, so another process (or a retry) may take it
        log.exception("could not store update %s", payload["update_id"])
        return web.Response(status=503, text="could not store the update", headers={"Retry-After": "1"})
    return web.Response(text="ok")


@contextlib.asynccontextmanager
async def serving_http(
    settings: Settings, listen: str | None = None, app: Application | None = None
) -> AsyncIterator[str]:
    """Serve until the block exits; yields the base URL (``listen`` may use port 0). With the
    bot's ``app``: also /readyz and, in webhook mode, the webhook."""
    host, _, port = (listen or settings.api.listen).rpartition(":")
    runner = web.AppRunner(build_http_app(settings, app), access_log=None)
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
