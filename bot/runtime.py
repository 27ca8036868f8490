"""Running kefu for real: open the database, run the bot, stop cleanly on SIGINT/SIGTERM.

Start-up problems a person can fix (no token, a token Telegram refuses, an unreachable Bot API
server or database) become :class:`~bot.core.config.ConfigError` with one sentence saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import AsyncIterator

import asyncpg
from telegram.error import InvalidToken, NetworkError
from tortoise.exceptions import DBConnectionError, OperationalError

from bot import privacy
from bot.app import build_application, receiving
from bot.context import KefuApp
from bot.core import db
from bot.core.config import ConfigError, Settings
from bot.http import serving_http

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """postgres://kefu:secret@host/db → postgres://kefu:***@host/db"""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


@contextlib.asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[None]:
    url = settings.database.url
    try:
        await db.connect(url, ready=privacy.prepare)
    except (DBConnectionError, OperationalError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(
            f"Cannot open the database {redact_url(url)} ({_first_line(exc)}): check KEFU_DATABASE__URL "
            "and that the database server is running and the database exists."
        ) from None
    except db.UpgradeError as exc:
        raise ConfigError(f"Cannot upgrade the database {redact_url(url)}: {exc}.") from None
    try:
        yield
    finally:
        await db.disconnect()


@contextlib.asynccontextmanager
async def running_bot(app: KefuApp, settings: Settings) -> AsyncIterator[KefuApp]:
    """The bot, connected and taking updates, for as long as the block runs."""
    try:
        async with receiving(app, settings) as running:
            yield running
    except InvalidToken:
        await _close_connections(app)
        raise ConfigError(
            "The Bot API server refused the bot token: check KEFU_TELEGRAM__TOKEN (ask @BotFather for it again)."
        ) from None
    except NetworkError as exc:
        if app.running:
            raise
        await _close_connections(app)
        raise ConfigError(
            f"Cannot reach the Bot API at {settings.telegram.base_url} ({_first_line(exc)}): check the "
            "network, or KEFU_TELEGRAM__BASE_URL if you use your own Bot API server."
        ) from None


async def _close_connections(app: KefuApp) -> None:
    """A start that failed leaves the Bot API connections open: python-telegram-bot shuts down
    only what it finished initialising."""
    for request in (app.bot.request, app.bot_data.intake.updates_request):
        if request is not None:
            await request.shutdown()


async def run(settings: Settings) -> None:
    """`kefu run`: until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = build_application(settings)
    async with open_database(settings), serving_http(settings, app=app), running_bot(app, settings):
        log.info("kefu is running; press Ctrl-C to stop")
        await stop.wait()
        log.info("stopping")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
