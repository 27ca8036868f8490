"""The database: tortoise-orm on SQLite (embedded default) or PostgreSQL (production).

The schema is owned by tortoise-orm's migrations in ``bot/migrations``; they are applied by
``kefu db upgrade`` and at every start, so upgrading kefu keeps a shop's data. After changing a
model, a developer runs ``kefu db makemigrations`` and commits the new file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate

log = logging.getLogger(__name__)

APP = "kefu"
MODEL_MODULES = [
    "ticketing.models", "knowledge_base.models", "orders.models", "scheduler.models", "bot.intake.models",
    "bot.console.models",
]

ROW_ID_MAX = 2**31 - 1
"""The largest id of a row: tickets, surveys, questions and campaigns are numbered in INTEGER
columns (PostgreSQL's int4), so a larger number names nothing (and asked of PostgreSQL, fails)."""


SQLITE_DEFAULTS = {"synchronous": "NORMAL"}
"""In WAL mode (tortoise's default) a commit then waits for no fsync: what is committed survives
the process dying (kill -9), and only an operating-system crash or a power cut may take back
the last commits. That halves what a write costs; ``?synchronous=FULL`` in the URL restores the
fsync per commit. PostgreSQL, the production database, is not affected."""


def _with_sqlite_defaults(url: str) -> str:
    if not url.startswith("sqlite://"):
        return url
    base, _, query = url.partition("?")
    given = {part.partition("=")[0] for part in query.split("&") if part}
    extra = [f"{name}={value}" for name, value in SQLITE_DEFAULTS.items() if name not in given]
    return f"{base}?{'&'.join(filter(None, [query, *extra]))}" if extra else url


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_sqlite_defaults(url)},
        "apps": {
            APP: {"models": MODEL_MODULES, "default_connection": "default", "migrations": "bot.migrations"}
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For tortoise's own CLI (`kefu db makemigrations` passes it): models are compared with the
# migration files, so no real database is needed.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


def _ensure_sqlite_dir(url: str) -> None:
    """tortoise creates the SQLite file but not its folder (sqlite://data/kefu.db)."""
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def upgrade(url: str) -> None:
    """Apply every migration not yet applied; leaves no connection open. On PostgreSQL the
    processes of a fleet starting together take turns (an advisory lock): one migrates, the
    others then find nothing left to do."""
    _ensure_sqlite_dir(url)
    async with _migration_lock(url):
        try:
            await migrate(config=tortoise_config(url))
        finally:
            await Tortoise.close_connections()


_MIGRATION_LOCK = 0x6B656675  # "kefu"


@contextlib.asynccontextmanager
async def _migration_lock(url: str) -> AsyncIterator[None]:
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgres", "postgresql", "asyncpg"):
        yield
        return
    connection = await asyncpg.connect(f"postgresql://{rest.split('?', 1)[0]}")
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        yield
    finally:
        await connection.close()  # ends the session, and with it the lock


async def connect(url: str, *, ready: Callable[[], Awaitable[None]] | None = None) -> None:
    """Migrate, then open the connection the services use, then await ``ready`` (the process
    passes ``bot.privacy.prepare``: with keys installed, check that they open the stored personal
    data and encrypt what was stored before in plain text)."""
    # tortoise caches each model's SQL per connection *name*; a process that opens SQLite and
    # later PostgreSQL under the same name (tests, benchmarks) would reuse the wrong dialect.
    EXECUTOR_CACHE.clear()
    await upgrade(url)
    try:
        await Tortoise.init(config=tortoise_config(url))
        if ready is not None:
            await ready()
    except BaseException:
        # Nothing may stay open when the start fails (a key that does not open the data, say):
        # aiosqlite's connection is a thread that keeps the process alive after its error.
        await Tortoise.close_connections()
        raise


async def disconnect() -> None:
    await Tortoise.close_connections()


@contextlib.asynccontextmanager
async def database(url: str, *, ready: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[None]:
    await connect(url, ready=ready)
    try:
        yield
    finally:
        await disconnect()
