"""kefu's one HTTP server (``[api] listen``): Telegram's webhook, the shop's order feed, metrics, health.

It faces the network, so it is built to outlast hostile clients (bot/guard.py): connections have
deadlines and a cap, refused attempts are counted per client, and every request's body is read
within ``[api] header_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from tortoise import Tortoise

from bot import monitoring
from bot.console.web import build_console
from bot.context import KefuApp
from bot.core import metrics
from bot.core.config import ConfigError, Settings
from bot.guard import (
    Connection,
    Connections,
    FailedAttempts,
    Handler,
    api_guard,
    request_deadlines,
    too_many,
    usable_connections,
)
from bot.intake.models import InboxUpdate
from orders.feed import order_routes
from reports.api import metrics_routes

log = logging.getLogger(__name__)
BOT = web.AppKey("bot", KefuApp)
ATTEMPTS = web.AppKey("attempts", FailedAttempts)
BACKLOG = 1024
"""Connections the kernel keeps waiting to be accepted (they cost kefu no open file): room for a
burst while kefu accepts a few dozen at a time (the kernel may cap it: net.core.somaxconn)."""


def build_http_app(settings: Settings, bot: KefuApp | None = None) -> web.Application:
    api = settings.api
    attempts = FailedAttempts(
        api.failed_attempts, api.failed_window_seconds, api.trusted_proxies, capacity=api.failed_clients_max
    )
    webhook = settings.telegram.webhook_path() if bot is not None and settings.telegram.mode == "webhook" else None
    middlewares = [request_deadlines(api.header_timeout), api_guard(attempts, webhook)]
    if webhook is not None:
        middlewares.insert(0, _counting_webhook(webhook))
    app = web.Application(client_max_size=1024 * 1024, middlewares=middlewares)
    app[ATTEMPTS] = attempts
    app.cleanup_ctx.append(attempts.purging)
    app.add_routes(order_routes(settings.orders))
    app.add_routes(metrics_routes(settings))
    app.router.add_get("/healthz", _alive)
    app.router.add_get("/metrics", monitoring.metrics)
    if bot is not None:
        app[BOT] = bot
        app.router.add_get("/readyz", _ready)
        if webhook is not None:
            app.router.add_post(webhook, _take_update)
        build_console(app, settings, bot)
    return app


async def _alive(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _ready(request: web.Request) -> web.Response:
    """Ready to take updates: the database answers, the knowledge base is loaded, the bot runs.
    The details also say how many updates were set aside (``failed_updates``, fleet-wide): they
    want a person's look but do not make the process unready."""
    bot = request.app[BOT]
    checks = {"database": False, "knowledge_base": hasattr(bot.bot_data, "kb"), "bot": bot.running}
    details: dict[str, int] = {}
    with contextlib.suppress(Exception):
        await Tortoise.get_connection("default").execute_query("SELECT 1")
        checks["database"] = True
        details["failed_updates"] = await InboxUpdate.filter(status="failed").count()
    ok = all(checks.values())
    return web.json_response({"ok": ok, **checks, **details}, status=200 if ok else 503)


def _counting_webhook(path: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Every answer on the webhook path counted by its status (``kefu_webhook_responses_total``),
    those of the other middlewares too (408 a body too slow, 413 too long)."""

    @web.middleware
    async def counting(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != path:
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as error:
            metrics.count_webhook(error.status)
            raise
        except Exception:  # aiohttp answers 500
            metrics.count_webhook(500)
            raise
        metrics.count_webhook(response.status)
        return response

    return counting


async def _take_update(request: web.Request) -> web.Response:
    """An update from Telegram: refused (403) unless it carries the secret, 503 while not taking
    updates (starting or stopping: the load balancer tries another process), stored before 200.

    The secret is checked first: one that is right always goes through. A caller refused more
    than ``[api] failed_attempts`` times in the window gets 429 for its wrong secrets (and its
    refusals are no longer logged one by one)."""
    bot = request.app[BOT]
    settings = bot.bot_data.settings
    expected = settings.telegram.webhook_secret.get_secret_value().encode()  # type: ignore[union-attr]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
    if not hmac.compare_digest(given, expected):
        attempts = request.app[ATTEMPTS]
        caller = attempts.caller(request)
        if (wait := attempts.retry_after(caller)) > 0:
            return too_many(wait)
        attempts.refused(caller)
        log.warning("webhook call without the right secret from %s refused", caller.address)
        return web.Response(status=403, text="forbidden")
    intake = bot.bot_data.intake
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
    settings: Settings, listen: str | None = None, app: KefuApp | None = None
) -> AsyncIterator[str]:
    """Serve until the block exits; yields the base URL (``listen`` may use port 0). With the
    bot's ``app``: also /readyz and, in webhook mode, the webhook.

    kefu listens and accepts itself rather than through an aiohttp site, so that each connection
    is a :class:`~bot.guard.Connection` under the deadlines and the cap of bot/guard.py, taken
    one at a time (asyncio's own server accepts a hundred at once, past any cap)."""
    api = settings.api
    host, _, port = (listen or api.listen).rpartition(":")
    try:
        sock = await _listening_socket(host.strip("[]"), int(port))
    except OSError as error:
        raise ConfigError(
            f"Cannot listen on {host}:{port} ({error.strerror or error}): set KEFU_API__LISTEN to a free host:port."
        ) from None
    runner = web.AppRunner(build_http_app(settings, app), access_log=None)
    await runner.setup()
    connections = Connections(usable_connections(api.max_connections), api.header_timeout, api.keepalive_timeout)
    loop = asyncio.get_running_loop()
    manager = runner.server
    assert manager is not None

    def connection() -> Connection:
        return Connection(
            connections, manager, loop=loop, access_log=None, keepalive_timeout=api.keepalive_timeout,
            lingering_time=min(10.0, api.header_timeout),  # the rest of a body that came too slowly
        )

    accepting = asyncio.create_task(connections.accept(sock, connection), name="http-accept")
    address = sock.getsockname()
    url = f"http://{address[0]}:{address[1]}" if sock.family != socket.AF_INET6 else f"http://[{address[0]}]:{address[1]}"
    log.info("HTTP API at %s", url)
    try:
        yield url
    finally:
        accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await accepting
        sock.close()
        await runner.cleanup()


async def _listening_socket(host: str, port: int) -> socket.socket:
    [(family, _type, _proto, _name, address), *_] = await asyncio.get_running_loop().getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sock = socket.create_server(address, family=family, backlog=BACKLOG)
    sock.setblocking(False)
    return sock
