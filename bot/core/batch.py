"""Many callers' small queries run as one statement: group commit for the per-update queries.

Every update costs a handful of one-row queries (claim it, load the conversation memory, count
the sender's recent messages, find the customer and their open ticket, mark it replying, finish
it). Each round trip costs far more CPU than the row it moves, and under load dozens of updates
ask the same question at the same moment. A :class:`Batch` collects the keys asked for while one
statement is on its way and runs them together in the next: one round trip for all of them.
With a single caller it runs at once, so a quiet bot waits no longer than before.

A caller waits until its own key's statement has run, so what it writes is written when the
call returns, exactly as with a query of its own. Inside a transaction the key is run on its
own, on the transaction's connection: a batch must not mix one caller's transaction into
others' queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

LIMIT = 500
"""Keys per statement: far below SQLite's and PostgreSQL's limits on parameters."""


def _inside_transaction() -> bool:
    """Whether this task runs inside a transaction (tortoise's ``in_transaction`` opens one)."""
    return isinstance(connections.get("default"), TransactionalDBClient)


class Batch(Generic[K, V]):
    """``run(keys)`` answers many keys at once: a mapping from each key to its value (a key it
    leaves out gets ``None``)."""

    def __init__(self, run: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]]) -> None:
        self._run = run
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._draining: asyncio.Task[None] | None = None

    async def __call__(self, key: K) -> V | None:
        return (await self.many((key,)))[0]

    async def many(self, keys: Iterable[K]) -> list[V | None]:
        keys = list(keys)
        if _inside_transaction():
            found = await self._run(list(dict.fromkeys(keys)))
            return [found.get(key) for key in keys]
        loop = asyncio.get_running_loop()
        if self._draining is not None and self._draining.get_loop() is not loop:  # a closed loop's (tests)
            self._draining, self._waiting = None, {}
        futures = []
        for key in keys:
            future: asyncio.Future[V | None] = loop.create_future()
            self._waiting.setdefault(key, []).append(future)
            futures.append(future)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain(), name="kefu-batch")
        return list(await asyncio.gather(*futures))

    async def _drain(self) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[:LIMIT]
                batch = {key: self._waiting.pop(key) for key in keys}
                try:
                    found = await self._run(keys)
                except BaseException as error:  # every caller of the statement hears of it
                    _settle(batch, error=error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                _settle(batch, found=found)
        except BaseException as error:  # cancelled (the loop is closing): nobody is left waiting
            _settle(self._waiting, error=error)
            self._waiting.clear()
            raise
        finally:
            self._draining = None


def _settle(
    batch: Mapping[K, list[asyncio.Future[V | None]]], *, found: Mapping[K, V] | None = None, error: BaseException | None = None
) -> None:
    for key, futures in batch.items():
        for future in futures:
            if future.done():
                continue
            if isinstance(error, Exception):
                future.set_exception(error)
            elif error is not None:
                future.cancel()
            else:
                future.set_result((found or {}).get(key))
