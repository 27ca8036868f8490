"""kefu's one SQL dialect layer (bot/core/sql.py): a statement written once gives the same answer
from SQLite and PostgreSQL — times compared as stored, calendar days in the shop's zone,
percentiles interpolated as PostgreSQL's percentile_cont."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.core import sql
from ticketing.models import Customer

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
# Clocks that change by an hour each way, by half an hour (Lord Howe), never (Shanghai, Kolkata's
# half-hour offset), and a zone behind UTC.
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")


async def _customers_seen_at(instants: list[datetime]) -> None:
    await Customer.bulk_create(
        Customer(telegram_id=n, first_name=f"C{n}", first_seen=at, last_seen=at) for n, at in enumerate(instants, 1)
    )


async def test_a_time_parameter_compares_with_stored_times_whatever_its_zone(database: str) -> None:
    seen = datetime(2026, 3, 1, 12, tzinfo=UTC)
    await _customers_seen_at([seen])
    in_shanghai = seen.astimezone(ZoneInfo("Asia/Shanghai"))  # 20:00 there, the same instant
    same = "SELECT COUNT(*) AS n FROM customer WHERE first_seen >= :at AND first_seen <= :at"
    assert await sql.rows(same, at=in_shanghai) == [{"n": 1}]  # a name used twice is one value
    assert await sql.rows("SELECT COUNT(*) AS n FROM customer WHERE first_seen < ?", in_shanghai) == [{"n": 0}]
    assert await sql.rows(
        "SELECT COUNT(*) AS n FROM customer WHERE first_seen > :at", at=in_shanghai - timedelta(seconds=1)
    ) == [{"n": 1}]
    with pytest.raises(TypeError):
        await sql.rows("SELECT COUNT(*) AS n FROM customer WHERE id = ? AND first_seen > :at", 1, at=seen)


async def test_a_calendar_day_is_the_shops_across_every_clock_change(database: str) -> None:
    rng = random.Random(19)
    instants = {START + timedelta(seconds=rng.randrange(int((END - START).total_seconds()))) for _ in range(300)}
    for zone in ZONES:  # and a second either side of each change, and the change itself
        for change, _ in sql.offset_changes(ZoneInfo(zone), START, END)[1]:
            instants |= {change - timedelta(seconds=1), change, change + timedelta(seconds=1)}
    ordered = sorted(instants)
    await _customers_seen_at(ordered)
    for zone in ZONES:
        days = sql.local_dates(zone, START, END)
        found = await sql.rows(f"SELECT telegram_id AS n, {days.of('c.first_seen')} AS day FROM customer c", **days.params)
        expected = {n: at.astimezone(ZoneInfo(zone)).date().isoformat() for n, at in enumerate(ordered, 1)}
        assert {int(r["n"]): str(r["day"]) for r in found} == expected, zone


async def test_percentiles_interpolate_between_neighbours_as_percentile_cont(database: str) -> None:
    rng = random.Random(7)
    groups: dict[tuple[int, str | None], list[float]] = {
        (0, None): [42.0],
        (0, "two"): [1.0, 2.0],
        (1, None): [float(rng.randrange(5)) for _ in range(11)],  # ties
        (1, "many"): [rng.uniform(0, 86_400) for _ in range(101)],
    }
    values = [(b, k, x) for (b, k), xs in groups.items() for x in xs]
    rows = ", ".join(f"(CAST(:b{i} AS INTEGER), CAST(:k{i} AS TEXT), CAST(:x{i} AS DOUBLE PRECISION))" for i in range(len(values)))
    params = {f"{name}{i}": value for i, row in enumerate(values) for name, value in zip("bkx", row, strict=True)}
    source = f"SELECT column1 AS b, column2 AS k, column3 AS x FROM (VALUES {rows}) v"
    found = await sql.percentiles(source, (0.5, 0.9), ("b", "k"), **params)
    assert found.keys() == groups.keys()
    for key, xs in groups.items():
        count, quantiles = found[key]
        assert count == len(xs)
        assert quantiles == pytest.approx(list(np.percentile(xs, [50, 90])), rel=1e-9), key
