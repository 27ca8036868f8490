"""The database: tortoise-orm on SQLite (embedded default) or PostgreSQL (production).

The schema is owned by tortoise-orm's migrations in ``bot/migrations``; they are applied by
``kefu db upgrade`` and at every start, so upgrading kefu keeps a shop's data. After changing a
model, a developer runs ``kefu db makemigrations`` and commits the new file.

On SQLite most column changes rebuild the table (tortoise's ``_remake_table``: create
``new__X``, copy the rows, ``DROP TABLE X``, rename). With foreign keys enforced, that DROP
deletes every row pointing at X (ON DELETE CASCADE: a customer's tickets, their messages and
events, outbox rows) or empties the pointers (SET NULL: assignees, campaigns), and it takes X's
indexes and triggers along. So migrations run as SQLite prescribes for schema changes
(https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes"): on
a connection of their own with ``PRAGMA foreign_keys=OFF`` (set as it opens, outside any
transaction; the connections the services use have them on), each migration in its transaction
ending with ``PRAGMA foreign_key_check``, which rolls the migration back and fails the upgrade
if any row points at nothing; a rebuilt table gets its indexes and triggers back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.executor import MigrationExecutor, PlanStep
from tortoise.migrations.schema_editor import BaseSchemaEditor, SqliteSchemaEditor

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


def _without_foreign_keys(url: str) -> str:
    """The SQLite URL of a migrating connection: foreign keys off (tortoise turns them on)."""
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if part and part.partition("=")[0] != "foreign_keys"]
    return f"{base}?{'&'.join([*kept, 'foreign_keys=OFF'])}"


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
    config = tortoise_config(url)
    if url.startswith("sqlite://"):
        config["connections"]["default"] = _without_foreign_keys(config["connections"]["default"])
    async with _migration_lock(url):
        try:
            await Tortoise.init(config=config, init_connections=False)
            await _Migrations(get_connection("default"), {APP: config["apps"][APP]}).migrate()
        finally:
            await Tortoise.close_connections()


class UpgradeError(RuntimeError):
    """A migration would leave the database inconsistent: that migration was rolled back (those
    before it in the same upgrade stay applied, each being consistent)."""


async def _check_foreign_keys(migration: str, apps: Any, editor: BaseSchemaEditor) -> None:
    """The last step of every migration on SQLite, in its transaction: with foreign keys off,
    nothing else would notice a row pointing at a row that is not there."""
    broken = await editor.client.execute_query_dict("PRAGMA foreign_key_check")
    if broken:
        found = ", ".join(f"{row['table']} row {row['rowid']} -> {row['parent']}" for row in broken[:10])
        raise UpgradeError(
            f"after migration {migration}, {len(broken)} rows would point at rows that are not there ({found}):"
            " the migration was rolled back, the database is as it was before it"
        )


class _Migrations(MigrationExecutor):
    """tortoise's executor, with SQLite's procedure for schema changes (see the module's docstring)."""

    def _schema_editor(self, atomic: bool = True, collect_sql: bool = False) -> BaseSchemaEditor:
        if self.connection.capabilities.dialect == "sqlite":
            return _SqliteSchemaEditor(self.connection, atomic=atomic, collect_sql=collect_sql)
        return super()._schema_editor(atomic, collect_sql)

    def _migration_plan(self, *args: Any, **kwargs: Any) -> list[PlanStep]:
        plan = super()._migration_plan(*args, **kwargs)
        if self.connection.capabilities.dialect == "sqlite":
            for step in plan:  # the loader makes the migrations anew for each plan
                if not step.backward:
                    step.migration.operations.append(ops.RunPython(functools.partial(_check_foreign_keys, step.migration.name)))
        return plan


class _SqliteSchemaEditor(SqliteSchemaEditor):
    async def _remake_table(self, model: Any, create_field: Any = None, delete_field: Any = None,
                            alter_fields: Any = None) -> None:
        """The rebuild, then the indexes and triggers the ``DROP TABLE`` took with the old table,
        and the index changes of the altered columns (as tortoise makes them on PostgreSQL): an
        index of a column that no longer wants one, or whose column is gone, is not made again."""
        if self.collect_sql:
            await super()._remake_table(model, create_field, delete_field, alter_fields)
            return
        table, client = model._meta.db_table, self.client
        kept = await client.execute_query_dict(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
            " AND sql IS NOT NULL ORDER BY type = 'trigger', name", [table],  # indexes first: triggers may use them
        )
        indexed = {
            row["name"]: {c["name"] for c in await client.execute_query_dict("SELECT name FROM pragma_index_info(?)", [row["name"]])}
            for row in kept if row["type"] == "index"
        }
        unwanted: set[str] = set()
        wanted: list[Index] = []
        for old, new in alter_fields or []:
            index = Index(fields=(new.source_field or new.model_field_name,))
            if old.index and not new.index:
                unwanted.add(self._index_name_for_model(model, index))
            elif new.index and not old.index:
                wanted.append(index)
        await super()._remake_table(model, create_field, delete_field, alter_fields)
        columns = {row["name"] for row in await client.execute_query_dict("SELECT name FROM pragma_table_info(?)", [table])}
        for row in kept:
            if row["name"] in unwanted or indexed.get(row["name"], set()) - {None} - columns:
                continue
            await client.execute_query(row["sql"])
        for index in wanted:
            await self.add_index(model, index)


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
