"""kefu's one SQL dialect layer: statements written once for SQLite and PostgreSQL alike.

Two kinds of code write SQL by hand, through tortoise's own connection. The few statements every
update runs (bot/intake/inbox.py, bot/intake/conversation.py, the outbox): tortoise-orm builds
each query anew, which costs several times the round trip itself. And the reports
(reports/metrics.py), whose figures are ``COUNT``/``SUM``/``GROUP BY`` aggregates no ORM query
expresses. Both go through :func:`rows` and :func:`run`, so a value is converted one way only
and the differences between the two databases are spelt out here, nowhere else:

- Parameters: ``?`` in order, or ``:name`` given by keyword (a name used twice is one value);
  they become ``$1``… for PostgreSQL. A list of values is one parameter, ``column IN ANY_OF(?)``
  with :func:`any_of`, so each statement's text never changes and PostgreSQL prepares it once.
- Values: SQLite holds a time as the text tortoise writes, ``isoformat(" ")`` in UTC, which sorts
  as the times do; a time parameter is written the same way so that comparisons hold. Read back,
  :func:`as_datetime` and :func:`as_json` give one type whichever database answered.
- Functions: wall-clock seconds between two times, a decimal as a number, the calendar date in a
  time zone (SQLite has no time zones: the UTC offsets in force are spelt out), percentiles
  (SQLite has no ``percentile_cont``), the entries of a JSON object, periods to bucket times
  in, and full-text matching of a column of terms (FTS5 on SQLite, GIN on PostgreSQL). SQLite must be 3.35 or newer (``RETURNING``).

Expressions are built for the database of the default connection when the statement is written,
so a statement is built and run in the same place.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

_NAME = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- statements -----------------------------------------------------------------------------


def postgres() -> bool:
    """Whether the default connection is PostgreSQL (else SQLite)."""
    return connections.get("default").capabilities.dialect == "postgres"


@lru_cache(maxsize=256)
def _for_postgres(statement: str) -> str:
    parts = statement.split("?")
    numbered = "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1))
    return numbered.replace(" IN ANY_OF($", " = ANY($")


@lru_cache(maxsize=256)
def _for_sqlite(statement: str) -> str:
    return statement.replace(" IN ANY_OF(?)", " IN (SELECT value FROM json_each(?))")


@lru_cache(maxsize=256)
def _named(statement: str, postgres: bool) -> tuple[str, tuple[str, ...]]:
    """The statement with ``:name`` parameters numbered, and the names in the order of the values."""
    names: list[str] = []

    def place(match: re.Match[str]) -> str:
        name = match.group(1)
        if not postgres:
            names.append(name)
            return "?"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    numbered = _NAME.sub(place, statement)
    if postgres:
        return numbered.replace(" IN ANY_OF($", " = ANY($"), tuple(names)
    return _for_sqlite(numbered), tuple(names)


def _prepare(
    statement: str, values: Sequence[Any], named: Mapping[str, Any]
) -> tuple[BaseDBAsyncClient, str, list[Any]]:
    client = connections.get("default")
    postgres = client.capabilities.dialect == "postgres"
    if named:
        if values:
            raise TypeError("a statement takes ? parameters or :name parameters, not both")
        sql, names = _named(statement, postgres)
        values = [named[name] for name in names]
    else:
        sql = _for_postgres(statement) if postgres else _for_sqlite(statement)
    return client, sql, [_pg(value) if postgres else _lite(value) for value in values]


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


async def rows(statement: str, /, *values: Any, **named: Any) -> list[dict[str, Any]]:
    """A SELECT, or a write with ``RETURNING``: ``?`` parameters in order, or ``:name`` ones by keyword."""
    client, sql, params = _prepare(statement, values, named)
    return await client.execute_query_dict(sql, params)


async def run(statement: str, /, *values: Any, **named: Any) -> int:
    """A write; the number of rows it changed."""
    client, sql, params = _prepare(statement, values, named)
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


# --- expressions ----------------------------------------------------------------------------


def seconds_between(later: str, earlier: str) -> str:
    """Wall-clock seconds from ``earlier`` to ``later`` (two time expressions), a float."""
    if postgres():
        return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS double precision)"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def number(column: str) -> str:
    """A decimal column as a number (SQLite stores decimals as text)."""
    return column if postgres() else f"CAST({column} AS REAL)"


def full_scan() -> str:
    """After a table name: read the table in order rather than through an index.

    SQLite walks the index of a GROUP BY column to save a sort, and then fetches every row at
    random (kb_question by normalized: 10 times slower than a scan and a sort).
    """
    return "" if postgres() else "NOT INDEXED"


def json_entries(column: str, alias: str) -> str:
    """A join, after a table, giving one row per entry of the JSON object in ``column``: ``alias``.key
    and ``alias``.value (read its fields with :func:`json_number`)."""
    if postgres():
        return f"CROSS JOIN LATERAL jsonb_each({column}) {alias}"
    return f"CROSS JOIN json_each({column}) {alias}"


def json_number(value: str, key: str) -> str:
    """Field ``key`` of the JSON object ``value`` as a number (NULL when missing)."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a plain JSON key: {key!r}")
    if postgres():
        return f"CAST({value} ->> '{key}' AS double precision)"
    return f"json_extract({value}, '$.{key}')"


def json_kind(value: str) -> str:
    """The JSON type of ``value``: 'object', 'array', 'null'… (the same names on both)."""
    return f"jsonb_typeof({value})" if postgres() else f"json_type({value})"


# --- full-text search over terms ------------------------------------------------------------

_TERM = re.compile(r"[a-z0-9]+")


def has_terms(alias: str, table: str, column: str, param: str) -> str:
    """The row ``alias`` of ``table`` has in ``column`` (space-separated terms) the terms the
    query parameter ``:param`` asks for (:func:`terms_query`), through the full-text index.

    PostgreSQL: a GIN index on ``to_tsvector('simple', column)`` (the expression is repeated
    here as the index spells it, else the planner does not use it). SQLite: an FTS5 table named
    ``<table>_<column>`` with the table as its external content, kept by triggers."""
    if postgres():
        return f"to_tsvector('simple', {alias}.{column}) @@ to_tsquery('simple', :{param})"
    return f"{alias}.id IN (SELECT rowid FROM {table}_{column} WHERE {table}_{column} MATCH :{param})"


def among_results(subquery: str) -> str:
    """After a column: it is one of the values the uncorrelated ``subquery`` gives, which the
    database computes once, first. PostgreSQL would otherwise turn ``IN (subquery)`` into a join
    and, misjudging how many rows the subquery finds (a full-text match), walk the other side
    instead, testing the match on every row; ``= ANY(ARRAY(…))`` is computed before. SQLite
    computes ``IN (subquery)`` once anyway."""
    return f"= ANY(ARRAY({subquery}))" if postgres() else f"IN ({subquery})"


def each_row_has(subquery: str) -> str:
    """A condition: the correlated ``subquery`` finds a row, asked for each row reached, in order,
    so that a walk with ``ORDER BY … LIMIT`` stops as soon as the page is full. (PostgreSQL turns
    ``EXISTS`` into a join, which reads the whole of the subquery's table first.)"""
    return f"({subquery} LIMIT 1) IS NOT NULL"


def term_hits(table: str, column: str, param: str, cap: int) -> str:
    """A SELECT of ``n``: how many rows of ``table`` the full-text index finds for ``:param``
    (see :func:`has_terms`), counted no further than ``cap``."""
    if postgres():
        found = f"SELECT 1 FROM {table} WHERE to_tsvector('simple', {column}) @@ to_tsquery('simple', :{param})"
    else:
        found = f"SELECT rowid FROM {table}_{column} WHERE {table}_{column} MATCH :{param}"
    return f"SELECT COUNT(*) AS n FROM ({found} LIMIT {int(cap)}) hits"


def holds_terms(column: str, groups: Sequence[Sequence[str]]) -> str:
    """The row's ``column`` (space-separated terms) holds every group, each by any one of its
    alternatives: read from the row itself, not the index (for a few rows reached otherwise).
    The terms are written into the statement: plain lowercase words only (:func:`terms_query`)."""
    _plain_terms(groups)
    if postgres():
        return " AND ".join(
            f"string_to_array({column}, ' ') && ARRAY[{', '.join(repr(t) for t in group)}]::text[]" for group in groups
        )
    return " AND ".join(
        "(" + " OR ".join(f"instr(' ' || {column} || ' ', ' {t} ') > 0" for t in group) + ")" for group in groups
    )


def _plain_terms(groups: Sequence[Sequence[str]]) -> None:
    for group in groups:
        for term in group:
            if not _TERM.fullmatch(term):
                raise ValueError(f"not a plain term: {term!r}")


def terms_query(groups: Sequence[Sequence[str]]) -> str:
    """The value of :func:`has_terms`' parameter: every group present, each by any one of its
    alternatives. Terms are plain lowercase words (anything else is refused, not escaped)."""
    _plain_terms(groups)
    if postgres():
        return " & ".join("(" + " | ".join(group) + ")" for group in groups)
    return " AND ".join("(" + " OR ".join(f'"{term}"' for term in group) + ")" for group in groups)


# --- time -----------------------------------------------------------------------------------


def period_params(bounds: Sequence[datetime]) -> dict[str, datetime]:
    """Consecutive periods given by their n + 1 ``bounds`` (oldest first), as parameters :b0 … :bn."""
    return {f"b{i}": bound for i, bound in enumerate(bounds)}


def in_periods(column: str, bounds: Sequence[datetime]) -> str:
    """``column`` falls in one of the periods (:func:`period_params`)."""
    return f"{column} >= :b0 AND {column} < :b{len(bounds) - 1}"


def period_of(column: str, bounds: Sequence[datetime]) -> str:
    """The index of the period ``column`` falls in (for rows that :func:`in_periods` kept)."""
    if len(bounds) == 2:
        return "0"
    cases = " ".join(f"WHEN {column} < :b{i + 1} THEN {i}" for i in range(len(bounds) - 2))
    return f"CASE {cases} ELSE {len(bounds) - 2} END"


@dataclass(frozen=True)
class LocalDates:
    """The calendar date of a time column in a time zone, for times in a span (see :func:`local_dates`)."""

    params: dict[str, Any]
    """The parameters its expressions use: pass them with the statement's own."""
    _postgres: bool
    _name: str
    _first: int
    _changes: tuple[tuple[str, int], ...]

    def of(self, column: str) -> str:
        """The date of ``column``, an expression comparable with another of the same zone."""
        if self._postgres:
            return f"CAST(timezone(CAST(:{self._name} AS text), {column}) AS date)"
        if not self._changes:
            return f"date({column}, '{self._first} seconds')"
        cases = []
        offset = self._first
        for name, following in self._changes:
            cases.append(f"WHEN {column} < :{name} THEN {offset}")
            offset = following
        return f"date({column}, (CASE {' '.join(cases)} ELSE {offset} END) || ' seconds')"


def local_dates(zone: str, since: datetime, until: datetime, *, name: str = "tz") -> LocalDates:
    """Calendar dates in the IANA ``zone`` of times from ``since`` until ``until``, through parameters named ``name``….

    PostgreSQL knows time zones: the zone's name is the parameter. SQLite does not: the UTC
    offset is spelt out, the one at ``since`` until the first change, and so on (parameters
    ``name0``… are the instants it changes); a time outside the span gets the nearest offset.
    """
    if postgres():
        return LocalDates({name: zone}, True, name, 0, ())
    first, instants = offset_changes(ZoneInfo(zone), since, until)
    params = {f"{name}{i}": instant for i, (instant, _) in enumerate(instants)}
    changes = tuple((f"{name}{i}", offset) for i, (_, offset) in enumerate(instants))
    return LocalDates(params, False, name, first, changes)


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[int, list[tuple[datetime, int]]]:
    """The zone's UTC offset (seconds) at ``start``, and each change until ``end``: (instant, new offset).

    Probed every 6 hours (zones change at most twice a year), each change found to the second.
    """

    def offset(second: int) -> int:
        delta = datetime.fromtimestamp(second, zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    low, high = math.floor(start.timestamp()), math.ceil(end.timestamp())
    step = 6 * 3600
    changes: list[tuple[datetime, int]] = []
    at = low
    while at < high:
        following = min(at + step, high)
        if offset(following) != offset(at):
            before, after = at, following  # offset(before) is the old one, offset(after) the new
            while after - before > 1:
                middle = (before + after) // 2
                before, after = (middle, after) if offset(middle) == offset(before) else (before, middle)
            changes.append((datetime.fromtimestamp(after, UTC), offset(after)))
        at = following
    return offset(low), changes


# --- percentiles ----------------------------------------------------------------------------


async def percentiles(
    source: str, quantiles: Sequence[float], groups: Sequence[str], /, **params: Any
) -> dict[tuple[Any, ...], tuple[int, list[float]]]:
    """Per group, the count and the ``quantiles`` of ``x``: ``source`` is a SELECT of the ``groups``
    columns and ``x`` (never NULL). Quantiles interpolate linearly, as PostgreSQL's percentile_cont.

    PostgreSQL has percentile_cont. On SQLite a window numbers each group's values in order and
    only the two values around each quantile's position come back, to interpolate as
    percentile_cont does: position p × (n − 1), between its floor and the next value.
    """
    by = ", ".join(groups)
    if postgres():
        columns = ", ".join(
            f"percentile_cont({float(p)}) WITHIN GROUP (ORDER BY CAST(x AS double precision)) AS q{i}"
            for i, p in enumerate(quantiles)
        )
        found = await rows(f"SELECT {by}, COUNT(*) AS n, {columns} FROM ({source}) s GROUP BY {by}", **params)
        return {
            tuple(r[g] for g in groups): (int(r["n"]), [float(r[f"q{i}"]) for i in range(len(quantiles))])
            for r in found
        }
    near = " OR ".join(
        f"(i >= CAST({float(p)} * (n - 1) AS INTEGER) AND i <= CAST({float(p)} * (n - 1) AS INTEGER) + 1)"
        for p in quantiles
    )
    found = await rows(
        f"""
        SELECT {by}, n, i, x FROM (
            SELECT {by}, x, ROW_NUMBER() OVER (PARTITION BY {by} ORDER BY x) - 1 AS i,
                COUNT(*) OVER (PARTITION BY {by}) AS n
            FROM ({source}) s
        ) ranked WHERE {near}
        """,
        **params,
    )
    ranked: dict[tuple[Any, ...], tuple[int, dict[int, float]]] = {}
    for r in found:
        count, values = ranked.setdefault(tuple(r[g] for g in groups), (int(r["n"]), {}))
        values[int(r["i"])] = float(r["x"])
    result = {}
    for key, (count, values) in ranked.items():
        interpolated = []
        for p in quantiles:
            position = p * (count - 1)
            low = math.floor(position)
            below, above = values[low], values.get(low + 1, values[low])
            interpolated.append(below + (position - low) * (above - below))
        result[key] = (count, interpolated)
    return result
