"""Hostile and careless clients of kefu's HTTP server (issue 18): idle and trickling connections
are closed and never crowd out /healthz, the refused-attempt counts stay bounded and expire, a
forged X-Forwarded-For gains little, the webhook limits wrong secrets but never the right one,
an http:// webhook stops `kefu run` with one sentence, and the bot keeps no memory of idle
customers. Everything runs on a real server with real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot import cli
from bot.app import build_application
from bot.core.config import (
    ApiSettings,
    ConfigError,
    DatabaseSettings,
    KnowledgeBaseSettings,
    Settings,
    TelegramSettings,
)
from bot.emulator import BotAPIEmulator
from bot.guard import PROXY_FACTOR, Caller, FailedAttempts, counted_address, usable_connections
from bot.http import serving_http
from bot.runtime import running_bot
from tests.harness import TEST_PRIVACY_KEY, TEST_TOKEN, WEBHOOK_SECRET, Bot
from ticketing.models import Ticket

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _enough_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@contextlib.asynccontextmanager
async def _server(**api: object) -> AsyncIterator[str]:
    async with serving_http(Settings(api=ApiSettings(**api)), "127.0.0.1:0") as url:
        yield url


async def _connect(url: str, count: int) -> list[Stream]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    streams: list[Stream] = []
    for start in range(0, count, 100):
        streams += await asyncio.gather(*(asyncio.open_connection(host, int(port)) for _ in range(start, min(count, start + 100))))
    return streams


async def _closed_by_server(stream: Stream) -> None:
    """Returns when the server has closed the connection (whatever the client still sends)."""
    reader, _writer = stream
    with contextlib.suppress(ConnectionError):
        while await reader.read(1024):
            pass


async def _trickle(stream: Stream) -> None:
    """A header a byte at a time, never finished."""
    _reader, writer = stream
    with contextlib.suppress(ConnectionError):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\n")
        while not writer.is_closing():
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.1)


async def _until_done(tasks: list[asyncio.Task[None]], count: int) -> None:
    while sum(task.done() for task in tasks) < count:
        await asyncio.wait([task for task in tasks if not task.done()], return_when=asyncio.FIRST_COMPLETED)


async def _healthz(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/healthz") as answer:
        return answer.status


def _close(streams: list[Stream]) -> None:
    for _reader, writer in streams:
        writer.close()


# -- connections -------------------------------------------------------------------------------


async def test_1100_idle_connections_are_closed_by_the_servers_timeouts_and_healthz_answers_throughout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _enough_open_files(3000)
    async with _server(header_timeout=1, max_connections=1000) as url:
        streams = await _connect(url, 1100)
        trickling = [asyncio.create_task(_trickle(stream)) for stream in streams[:100]]
        closing = asyncio.ensure_future(asyncio.gather(*(_closed_by_server(stream) for stream in streams)))
        answers: list[int] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            while not closing.done():
                answers.append(await _healthz(http, url))
                await asyncio.sleep(0.05)
            await asyncio.wait_for(closing, 60)  # a guard against hanging, not a measure of speed
            answers.append(await _healthz(http, url))
        await asyncio.gather(*trickling)
        _close(streams)
    assert answers and set(answers) == {200}
    assert "Too many open files" not in caplog.text


SERVER_WITH_FEW_FILES = """
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
from bot.core.config import ApiSettings, Settings
from bot.http import serving_http

async def main():
    async with serving_http(Settings(api=ApiSettings(header_timeout=2)), "127.0.0.1:0") as url:
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_process_short_of_open_files_serves_within_them_and_never_logs_too_many_open_files() -> None:
    _enough_open_files(3000)
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER_WITH_FEW_FILES, cwd=Path(__file__).parent.parent,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        url = (await asyncio.wait_for(server.stdout.readline(), 60)).decode().strip()
        streams = await _connect(url, 1100)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            answers = [await _healthz(http, url) for _ in range(20)]
        await asyncio.wait_for(asyncio.gather(*(_closed_by_server(stream) for stream in streams)), 60)
        _close(streams)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        _out, err = await asyncio.wait_for(server.communicate(), 60)
    log = err.decode()
    assert set(answers) == {200}
    assert "Too many open files" not in log and "out of system resource" not in log
    assert "at most 100 connections are kept open" in log  # and it said so, once
    assert log.count("HTTP server at its limit") == 1


async def test_over_the_cap_the_connections_idle_longest_make_room_for_new_ones() -> None:
    _enough_open_files(1000)
    async with _server(header_timeout=600, max_connections=50) as url:
        streams = await _connect(url, 200)
        closed = [asyncio.create_task(_closed_by_server(stream)) for stream in streams]
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(5):
                assert await _healthz(http, url) == 200
        await asyncio.wait_for(_until_done(closed, 150), 60)  # no timeout is due: only the cap closes them
        assert closed[0].done() and not all(task.done() for task in closed[-40:])
        _close(streams)
        await asyncio.gather(*closed)


async def test_when_every_connection_is_busy_a_new_one_is_closed_at_once() -> None:
    async with _server(header_timeout=600, max_connections=2) as url:
        busy = await _connect(url, 2)
        for reader, writer in busy:  # a body that never comes: each is busy with its request
            writer.write(b"POST /api/orders HTTP/1.1\r\nHost: kefu\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
            await writer.drain()
            assert b"100 Continue" in await reader.readuntil(b"\r\n\r\n")  # the server has taken it in
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            with pytest.raises(aiohttp.ClientError):
                await _healthz(http, url)
        _close(busy)


async def test_a_request_body_that_does_not_arrive_in_time_gets_408_and_the_connection_is_closed() -> None:
    async with _server(header_timeout=0.5) as url:
        [(reader, writer)] = await _connect(url, 1)
        writer.write(b"POST /api/orders HTTP/1.1\r\nHost: kefu\r\nContent-Length: 100\r\n\r\n{\"order_no\"")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert "did not arrive in time" in json.loads(body)["error"]


async def test_a_connection_left_idle_after_an_answer_is_closed_after_the_keepalive_timeout() -> None:
    async with _server(header_timeout=600, keepalive_timeout=0.5) as url:
        [(reader, writer)] = await _connect(url, 1)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: kefu\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # all of it: the server closes after the idle time
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"ok": true}')


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    assert usable_connections(100) == 100
    huge = 10**9
    usable = usable_connections(huge)
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == resource.RLIM_INFINITY or usable <= soft - 100


# -- refused attempts --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_after_20000_refused_attempts_from_distinct_addresses_the_table_holds_its_cap_and_none_once_the_window_has_passed() -> None:
    clock = Clock()
    attempts = FailedAttempts(10, 60, capacity=10_000, clock=clock)
    for n in range(20_000):
        attempts.refused(Caller(str(ipaddress.IPv4Address(0x0A000000 + n))))
        clock.now += 0.001
    assert len(attempts) == 10_000
    clock.now += 61
    assert len(attempts) == 0


def test_an_address_is_forgotten_when_its_window_has_passed_even_if_it_never_returns() -> None:
    clock = Clock()
    attempts = FailedAttempts(3, 60, clock=clock)
    for _ in range(3):
        attempts.refused(Caller("203.0.113.7"))
    assert attempts.retry_after(Caller("203.0.113.7")) == pytest.approx(60)
    clock.now += 30
    attempts.refused(Caller("198.51.100.1"))  # someone else: the first is still remembered
    assert len(attempts) == 2
    clock.now += 31
    attempts.purge()  # what the server's timer does every window
    assert len(attempts) == 1 and attempts.retry_after(Caller("203.0.113.7")) == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.floats(0, 30)), max_size=400), st.integers(1, 50))
def test_the_refused_attempt_table_never_holds_more_than_its_cap(refusals: list[tuple[int, float]], cap: int) -> None:
    clock = Clock()
    attempts = FailedAttempts(5, 60, capacity=cap, clock=clock)
    for client, pause in refusals:
        clock.now += pause
        caller = Caller(f"10.0.{client // 256}.{client % 256}", proxy="127.0.0.1")
        if attempts.retry_after(caller) == 0:
            attempts.refused(caller)
        assert len(attempts) <= cap
    clock.now += 61
    assert len(attempts) == 0


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.text(max_size=2000), st.ip_addresses().map(str), st.integers(0, 2**32 - 1).map(lambda n: f"{ipaddress.IPv4Address(n)}:8080")))
def test_whatever_x_forwarded_for_holds_a_client_is_counted_under_a_short_address(value: str) -> None:
    address = counted_address(value)
    assert address is None or len(address) <= len("ffff:ffff:ffff:ffff::/64")


def test_an_ipv6_client_is_counted_by_its_64_and_an_ipv4_mapped_one_as_ipv4() -> None:
    assert counted_address("2001:db8:1:2:aaaa::1") == counted_address("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert counted_address("2001:db8:1:3::1") != counted_address("2001:db8:1:2::1")
    assert counted_address("::ffff:203.0.113.9") == "203.0.113.9"
    assert counted_address("[2001:db8::1]:443") == "2001:db8::/64"
    assert counted_address("203.0.113.9:5555") == "203.0.113.9"
    assert counted_address("A" * 10_000) is None


async def test_forged_x_forwarded_for_from_loopback_is_held_back_by_the_proxys_own_count() -> None:
    limit = 2
    async with _server(token=SecretStr("the-right-api-token"), failed_attempts=limit) as url:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for n in range(limit * PROXY_FACTOR + 5):
                headers = {"Authorization": "Bearer wrong", "X-Forwarded-For": f"10.9.{n // 256}.{n % 256}"}
                async with http.get(f"{url}/api/metrics", headers=headers) as answer:
                    statuses.append(answer.status)
            long_forged = {"Authorization": "Bearer wrong", "X-Forwarded-For": "x" * 5000}
            async with http.get(f"{url}/api/metrics", headers=long_forged) as answer:
                after_long = answer.status
    assert statuses[: limit * PROXY_FACTOR] == [401] * (limit * PROXY_FACTOR)  # each forged value is new
    assert set(statuses[limit * PROXY_FACTOR:]) == {429}  # but they all came through one proxy
    assert after_long == 429


# -- the webhook -------------------------------------------------------------------------------


def _update(update_id: int, user_id: int, text: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "en"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_790_000_000, "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
        "from": user, "text": text,
    }}


async def test_wrong_webhook_secrets_get_429_once_over_the_limit_but_the_right_one_always_goes_through(start_bot) -> None:
    async with start_bot(webhook=True) as bot:
        webhook = bot.settings.telegram.webhook_url
        customer = bot.emulator.add_user(first_name="Ana", language_code="en")
        async with aiohttp.ClientSession() as http:
            wrong = []
            for n in range(30):  # from 127.0.0.1, like a same-host proxy's every caller
                forged = _update(900_000 + n, customer["id"], "hi")
                async with http.post(webhook, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "not-it-0123456789"}) as answer:
                    wrong.append(answer.status)
            real = _update(900_100, customer["id"], "how long does shipping take")
            async with http.post(webhook, json=real, headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) as answer:
                right = answer.status
            await bot.processor.wait_finished(900_100)
    assert wrong == [403] * 10 + [429] * 20
    assert right == 200
    assert bot.emulator.bot_messages(customer["id"])  # and the update was answered


async def test_an_http_webhook_url_for_telegrams_own_bot_api_is_refused_before_start() -> None:
    for url in ("http://kefu.shop.example/telegram/webhook", "https://kefu.shop.example:8080/telegram/webhook"):
        settings_ = Settings(telegram=TelegramSettings(
            token=SecretStr(TEST_TOKEN), mode="webhook", webhook_url=url, webhook_secret=SecretStr(WEBHOOK_SECRET),
        ))
        with pytest.raises(ConfigError, match=r"https:// URLs on port 443, 80, 88 or 8443"):
            build_application(settings_)


def test_kefu_run_with_an_http_webhook_url_exits_2_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "KEFU_TELEGRAM__TOKEN": TEST_TOKEN, "KEFU_TELEGRAM__MODE": "webhook",
        "KEFU_TELEGRAM__WEBHOOK_URL": "http://kefu.shop.example/telegram/webhook",
        "KEFU_TELEGRAM__WEBHOOK_SECRET": WEBHOOK_SECRET, "KEFU_PRIVACY__KEYS": json.dumps([TEST_PRIVACY_KEY]),
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("kefu: Telegram calls webhooks only at https://") and "\n" not in error
    assert "Traceback" not in error


def _webhook_settings(emulator: BotAPIEmulator, database: str, tmp_path: Path, url: str) -> Settings:
    return Settings(
        telegram=TelegramSettings(
            token=SecretStr(TEST_TOKEN), base_url=emulator.base_url, mode="webhook", webhook_url=url,
            webhook_secret=SecretStr(WEBHOOK_SECRET), server_error_retries=1,
        ),
        database=DatabaseSettings(url=database),
        knowledge_base=KnowledgeBaseSettings(learned_file=str(tmp_path / "kb-learned.yaml")),
    )


async def test_a_webhook_the_bot_api_refuses_stops_the_start_with_a_sentence_and_nothing_left_running(
    database: str, emulator: BotAPIEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings_ = _webhook_settings(emulator, database, tmp_path, "http://kefu.shop.example/telegram/webhook")
    app = build_application(settings_)
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigError, match="The Bot API refused the webhook") as refused:
        async with running_bot(app, settings_):
            pass
    assert "https" in str(refused.value) and not app.running
    assert "Unclosed" not in caplog.text and "still running" not in caplog.text


async def test_a_set_webhook_that_keeps_failing_stops_the_start_with_a_sentence_and_nothing_left_running(
    database: str, emulator: BotAPIEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings_ = _webhook_settings(emulator, database, tmp_path, "http://127.0.0.1:9/telegram/webhook")
    emulator.inject_fault("setWebhook", status=502, times=10)
    app = build_application(settings_)
    with caplog.at_level(logging.ERROR), pytest.raises(ConfigError, match="Cannot reach the Bot API"):
        async with running_bot(app, settings_):
            pass
    assert not app.running
    assert "Unclosed" not in caplog.text and "still running" not in caplog.text


# -- memory of customers -----------------------------------------------------------------------


async def test_the_bot_keeps_no_memory_of_customers_who_are_not_writing(bot: Bot, make_customer) -> None:
    for n in range(60):
        await make_customer(first_name=f"C{n}", language_code="en").say("how long does shipping take")
    worried = make_customer(first_name="Wen", language_code="en")
    await worried.say("/complaint")  # a conversation that waits for the next message (user_data)
    assert not bot.app.user_data and not bot.app.chat_data
    await worried.say("the parcel arrived broken")
    assert await Ticket.filter(source="complaint").count() == 1  # went on from the memory in the database
    assert not bot.app.user_data and not bot.app.chat_data
    for notes in ("_user_ids_to_be_updated_in_persistence", "_chat_ids_to_be_updated_in_persistence",
                  "_user_ids_to_be_deleted_in_persistence", "_chat_ids_to_be_deleted_in_persistence"):
        assert len(getattr(bot.app, notes, set())) <= 2, notes  # python-telegram-bot's notes for a persistence
