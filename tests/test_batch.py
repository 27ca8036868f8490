"""The per-update queries of many updates at once run as one statement (bot/core/batch.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from tortoise.transactions import in_transaction

from bot.core.batch import Batch
from ticketing.customers import record_customer
from ticketing.models import Customer


def _recording(statements: list[list[int]], fail_on: int | None = None) -> Batch[int, str]:
    async def run(keys: Sequence[int]) -> dict[int, str]:
        statements.append(list(keys))
        await asyncio.sleep(0.01)  # the round trip
        if fail_on in keys:
            raise RuntimeError("the database went away")
        return {key: f"row {key}" for key in keys if key % 2 == 0}

    return Batch(run)


ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@ON_SQLITE
async def test_callers_asking_at_once_share_one_statement(database: str) -> None:
    statements: list[list[int]] = []
    batch = _recording(statements)
    found = await asyncio.gather(*(batch(key) for key in range(20)))
    assert statements == [list(range(20))]
    assert found == [f"row {key}" if key % 2 == 0 else None for key in range(20)]  # no row: None


@ON_SQLITE
async def test_callers_arriving_while_a_statement_runs_are_served_by_the_next(database: str) -> None:
    statements: list[list[int]] = []
    batch = _recording(statements)
    first = asyncio.create_task(batch(0))
    await asyncio.sleep(0.001)  # the first statement is on its way
    later = await asyncio.gather(*(batch(key) for key in (2, 4, 2)))
    assert await first == "row 0"
    assert later == ["row 2", "row 4", "row 2"]
    assert statements == [[0], [2, 4]]  # a key asked twice is asked for once


@ON_SQLITE
async def test_a_failed_statement_fails_its_callers_only(database: str) -> None:
    statements: list[list[int]] = []
    batch = _recording(statements, fail_on=3)
    results = await asyncio.gather(batch(2), batch(3), return_exceptions=True)
    assert [str(result) for result in results] == ["the database went away"] * 2
    assert await batch(4) == "row 4"  # the next statement runs as usual


async def test_inside_a_transaction_the_query_runs_on_the_transactions_connection(database: str) -> None:
    async with in_transaction():
        created = await Customer.create(telegram_id=4242, first_name="Ana")
        found = await record_customer(4242, first_name="Ana")  # sees the uncommitted row
        assert found.id == created.id
    assert (await record_customer(4242, first_name="Ana")).id == created.id
