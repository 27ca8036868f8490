"""Telegram's flood limits are the bot's, however many processes send for it; and only what can
succeed when sent again is sent again.

Each ``Bot`` here is a real python-telegram-bot client with kefu's limiter, as each `kefu run`
process has one; on PostgreSQL two or three of them share the database's ``rate_bucket`` table
as a fleet does. On SQLite (one process per database) one client sends everything. What Telegram
would count is counted by the Bot API emulator, as the requests arrive. (A fleet of real `kefu
run` processes at Telegram's own limits: bench/ratelimit.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pytest
from telegram.error import BadRequest, Forbidden, InvalidToken
from telegram.ext import ExtBot

from bot.core import metrics
from bot.emulator import BotAPIEmulator
from bot.telegram.ratelimit import ResilientRateLimiter
from bot.telegram.request import AiohttpRequest

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST-ratelimit"


@contextlib.asynccontextmanager
async def processes(emulator: BotAPIEmulator, database: str, count: int, **limits: float) -> AsyncIterator[list[ExtBot]]:
    """``count`` senders sharing the database's buckets (PostgreSQL); on SQLite one sender, as
    one process is all it runs."""
    count = count if database.startswith("postgres") else 1
    bots = [
        ExtBot(TOKEN, base_url=emulator.base_url, request=AiohttpRequest(8), rate_limiter=ResilientRateLimiter(**limits))
        for _ in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        for bot in bots:
            await stack.enter_async_context(bot)
        yield bots


def errors(kind: str) -> float:
    return metrics.SEND_ERRORS.labels(kind)._value.get()


@pytest.mark.slow
async def test_a_burst_to_90_customers_from_three_processes_keeps_to_30_a_second_and_all_arrive(
    database: str, emulator: BotAPIEmulator
) -> None:
    customers = [emulator.add_user(first_name=f"C{n}")["id"] for n in range(90)]
    async with processes(emulator, database, 3) as bots:
        started = time.monotonic()
        await asyncio.gather(*(
            bots[n % len(bots)].send_message(customer, "您的订单已发货") for n, customer in enumerate(customers)
        ))
        took = time.monotonic() - started
    assert emulator.stats["max_per_second"] <= 30
    assert sorted(m["chat"]["id"] for m in emulator.bot_messages()) == sorted(customers)  # each once
    assert 2.0 < took < 4.5  # 90 at 30 a second: about 3 s, whatever the number of processes


@pytest.mark.slow
async def test_a_group_gets_no_more_than_its_limit_while_customers_keep_the_bot_busy(
    database: str, emulator: BotAPIEmulator
) -> None:
    """12 into the group per 6 s (Telegram: 20 a minute; shortened so the test is quick), 10 a
    second overall, two processes each posting 8 into the group among 30 to customers."""
    group = emulator.add_group(title="Agents")["id"]
    customers = [emulator.add_user()["id"] for _ in range(60)]
    limits = {"messages_per_second": 10, "group_messages_per_minute": 12, "group_period": 6.0}
    async with processes(emulator, database, 2, **limits) as bots:
        started = time.monotonic()
        sends = [bots[n % len(bots)].send_message(customer, "答复") for n, customer in enumerate(customers)]
        sends += [bots[n % len(bots)].send_message(group, f"工单 #{n}") for n in range(16)]
        await asyncio.gather(*sends)
        took = time.monotonic() - started
    assert emulator.busiest(6.0, group) <= 12
    assert emulator.stats["max_per_second"] <= 10
    assert len(emulator.bot_messages(group)) == 16 and len(emulator.bot_messages()) == 76
    assert took < 12  # the group's: 3 at once, then 13 at 0.7 s (6 s + margins over 10), about 9 s


@pytest.mark.slow
async def test_a_request_that_waited_for_a_connection_past_its_moment_waits_for_a_new_one(
    database: str, emulator: BotAPIEmulator
) -> None:
    """The wait for a free connection comes after the limiter: requests queued behind a slow one
    would otherwise all be written the moment it is answered."""
    customers = [emulator.add_user()["id"] for _ in range(4)]
    emulator.inject_fault("sendMessage", status=200, delay=1.5)  # the first one is answered slowly
    bot = ExtBot(
        TOKEN, base_url=emulator.base_url, request=AiohttpRequest(1, pool_timeout=10),
        rate_limiter=ResilientRateLimiter(messages_per_second=2),
    )
    async with bot:
        await asyncio.gather(*(bot.send_message(customer, "您好") for customer in customers))
    assert emulator.busiest(1.0) <= 2 and len(emulator.bot_messages()) == 4


async def test_reading_is_not_limited(database: str, emulator: BotAPIEmulator) -> None:
    customer = emulator.add_user()["id"]
    async with processes(emulator, database, 1, messages_per_second=2) as [bot]:
        started = time.monotonic()
        await asyncio.gather(*(bot.get_chat(customer) for _ in range(10)))
        assert time.monotonic() - started < 1
        await asyncio.gather(*(bot.send_message(customer, "hi") for _ in range(3)))
        assert time.monotonic() - started > 1  # 2 a second (margin included: 0.525 s apart)


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (400, "Bad Request: chat not found", BadRequest),
        (403, "Forbidden: bot was blocked by the user", Forbidden),
        (404, "Not Found", InvalidToken),  # python-telegram-bot's reading of a 404
    ],
)
async def test_a_refusal_is_raised_at_once_and_not_sent_again(
    database: str, emulator: BotAPIEmulator, status: int, description: str, error: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    customer = emulator.add_user()["id"]
    emulator.inject_fault("sendMessage", status=status, description=description, times=3)
    async with processes(emulator, database, 1) as [bot]:
        with pytest.raises(error):
            await bot.send_message(customer, "hello")
    assert emulator.count("sendMessage") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "bot.telegram.ratelimit"]


async def test_a_server_error_is_sent_again_until_it_goes_through(database: str, emulator: BotAPIEmulator) -> None:
    customer = emulator.add_user()["id"]
    emulator.inject_fault("sendMessage", status=502, times=2)
    emulator.inject_fault("sendMessage", status=500, times=1)
    async with processes(emulator, database, 1) as [bot]:
        bot.rate_limiter.backoff = 0.01  # type: ignore[union-attr]
        sent = await bot.send_message(customer, "hello")
    assert sent.text == "hello" and emulator.count("sendMessage") == 4
    assert [m["text"] for m in emulator.bot_messages(customer)] == ["hello"]


async def test_an_edit_that_changes_nothing_is_a_success_without_a_warning(
    database: str, emulator: BotAPIEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    group = emulator.add_group(title="Agents", is_forum=True)["id"]
    async with processes(emulator, database, 1, group_messages_per_minute=1000) as [bot]:
        topic = await bot.create_forum_topic(group, "#1 · Logistics · Wang Fang")
        card = await bot.send_message(group, "客户卡片", message_thread_id=topic.message_thread_id)
        before = errors("bad_request")
        with caplog.at_level(logging.INFO):
            assert await bot.edit_forum_topic(group, topic.message_thread_id, name="#1 · Logistics · Wang Fang") is True
            assert await bot.edit_message_text("客户卡片", chat_id=group, message_id=card.message_id) is True
    assert emulator.count("editForumTopic") == 1 and emulator.count("editMessageText") == 1  # not retried
    assert emulator.stats["errors"]["400"] == 2  # Telegram did say no
    assert errors("bad_request") == before
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_429_holds_back_every_process_for_its_retry_after(database: str, emulator: BotAPIEmulator) -> None:
    first, second = emulator.add_user()["id"], emulator.add_user()["id"]
    emulator.inject_fault("sendMessage", status=429, retry_after=1, times=1)
    async with processes(emulator, database, 2) as bots:
        refused = asyncio.create_task(bots[0].send_message(first, "one"))
        while emulator.count("sendMessage") == 0:
            await asyncio.sleep(0.005)
        told = time.monotonic()
        await asyncio.sleep(0.1)  # the 429 is in, and the buckets pushed
        await bots[-1].send_message(second, "two")  # the other process (SQLite: the same one)
        assert time.monotonic() - told >= 0.95
        await refused
    assert emulator.count("sendMessage") == 3 and len(emulator.bot_messages()) == 2
