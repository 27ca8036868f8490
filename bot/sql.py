"""Hand-written SQL for the few statements every update runs (bot/inbox.py, bot/conversation.py).

tortoise-orm builds each query anew, which costs several times the round trip itself; these
statements run for every message, so they are written once, in SQL that SQLite (3.35 or newer:
``RETURNING``) and PostgreSQL both take, through tortoise's own connection. Parameters are
written ``?`` (turned into ``$1``… for PostgreSQL), and a list of values is one parameter
(:func:`any_of`), so each statement's text never changes and PostgreSQL prepares it once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient


@lru_cache(maxsize=256)
def _for_postgres(statement: str) -> str:
    parts = statement.split("?")
    numbered = "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))
    return numbered.replace(" IN ANY_OF($", " = ANY($")


@lru_cache(maxsize=256)
def _for_sqlite(statement: str) -> str:
    return statement.replace(" IN ANY_OF(?)", " IN (SELECT value FROM json_each(?))")


def _prepare(statement: str, values: Sequence[Any]) -> tuple[BaseDBAsyncClient, str, list[Any]]:
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        return client, _for_postgres(statement), [_pg(value) for value in values]
    return client, _for_sqlite(statement), [_lite(value) for value in values]


class Many(list):
    """A list of values passed as one parameter (see :func:`any_of`)."""


def any_of(values: Sequence[Any]) -> Many:
    """Write ``column IN ANY_OF(?)`` and pass ``any_of(values)`` for it."""
    return Many(values)


def _pg(value: Any) -> Any:
    return list(value) if isinstance(value, Many) else value


def _lite(value: Any) -> Any:
    if isinstance(value, Many):
        return json.dumps(list(value))
    if isinstance(value, datetime):  # as tortoise stores them: sortable text
        return value.astimezone(UTC).isoformat(" ")
    return value


async def rows(statement: str, *values: Any) -> list[dict[str, Any]]:
    """A SELECT, or a write with ``RETURNING``."""
    client, sql, params = _prepare(statement, values)
    return await client.execute_query_dict(sql, params)


async def run(statement: str, *values: Any) -> int:
    """A write; the number of rows it changed."""
    client, sql, params = _prepare(statement, values)
    changed, _ = await client.execute_query(sql, params)
    return changed


def as_datetime(value: datetime | str | None) -> datetime | None:
    """A timestamp as read back: PostgreSQL gives datetimes, SQLite the stored text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def as_json(value: Any) -> Any:
    """A JSON column as read back: PostgreSQL's driver and SQLite give the text."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value
