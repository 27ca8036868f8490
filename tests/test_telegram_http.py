"""kefu's Bot API requests go through aiohttp (bot/telegram/request.py): everything python-telegram-bot
does over it works as over its own httpx client, and failures come out as the same errors."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.emulator import BotAPIEmulator
from bot.telegram.request import AiohttpRequest, NotSent, UpdatesRequest, watch
from tests.harness import free_port

TOKEN = "123456:TEST"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _bot(base_url: str, base_file_url: str | None = None, **timeouts: float) -> Bot:
    return Bot(
        TOKEN, base_url=base_url, base_file_url=base_file_url or base_url,
        request=AiohttpRequest(2, **timeouts), get_updates_request=UpdatesRequest(),
    )


async def test_messages_buttons_files_and_updates_go_through(emulator: BotAPIEmulator) -> None:
    user = emulator.add_user(first_name="Ana")
    async with _bot(emulator.base_url, emulator.base_file_url) as bot:
        sent = await bot.send_message(user["id"], "你好 <b>&</b> ✓", parse_mode="HTML")
        assert sent.text == "你好 & ✓" and emulator.bot_messages(user["id"])[-1]["text"] == "你好 & ✓"

        photo = await bot.send_photo(user["id"], PNG, caption="图")  # multipart upload
        file = await bot.get_file(photo.photo[-1].file_id)
        assert bytes(await file.download_as_bytearray()) == PNG  # and a GET back

        emulator.send_text(user["id"], "hi")
        [update] = await bot.get_updates(timeout=1)
        assert update.message.text == "hi"


async def test_the_updates_are_kept_as_telegram_sent_them(emulator: BotAPIEmulator) -> None:
    user = emulator.add_user()
    request = UpdatesRequest()
    async with Bot(TOKEN, base_url=emulator.base_url, request=AiohttpRequest(2), get_updates_request=request) as bot:
        emulator.send_text(user["id"], "one")
        emulator.send_text(user["id"], "two")
        updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [p["update_id"] for p in request.last_updates]
    assert [p["message"]["text"] for p in request.last_updates] == ["one", "two"]


async def test_a_slow_answer_is_a_timeout(emulator: BotAPIEmulator) -> None:
    user = emulator.add_user()
    emulator.inject_fault("sendMessage", status=200, delay=1.0)
    async with _bot(emulator.base_url, read_timeout=0.2) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(user["id"], "hello")


async def test_no_server_is_a_network_error_not_a_timeout() -> None:
    with pytest.raises(NetworkError) as raised:
        async with _bot(f"http://127.0.0.1:{free_port()}/bot"):  # getMe, first of all
            pass
    assert not isinstance(raised.value, TimedOut)  # refused: safe to send again (bot/telegram/ratelimit.py)


async def test_a_proxy_from_the_environment_is_used(emulator: BotAPIEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP(S)_PROXY as for python-telegram-bot's own client: here a proxy that is not there."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # a proxy that is not there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(NetworkError):  # the emulator is there, but kefu asks the proxy
        async with _bot(emulator.base_url):
            pass


class _Recorder:
    """A watcher that records what it is told, and may stop the request."""

    def __init__(self, stop: bool = False) -> None:
        self.stop, self.told = stop, []

    async def writing(self, endpoint: str, parameters: dict) -> None:
        self.told.append(("writing", endpoint))
        if self.stop:
            raise NotSent()

    async def answered(self, endpoint: str, parameters: dict) -> None:
        self.told.append(("answered", endpoint))


async def test_a_watcher_is_told_of_each_request_and_may_stop_it_unsent(emulator: BotAPIEmulator) -> None:
    user = emulator.add_user(first_name="Ana")
    async with _bot(emulator.base_url) as bot:
        outer, inner = _Recorder(), _Recorder(stop=True)
        with watch(outer):
            await bot.send_message(user["id"], "one")
            with watch(inner), pytest.raises(NotSent):  # as it is: not wrapped as a network error
                await bot.send_message(user["id"], "two")
    assert [m["text"] for m in emulator.bot_messages(user["id"])] == ["one"]
    assert outer.told == [("writing", "sendMessage"), ("answered", "sendMessage")] * 2
    assert inner.told == [("writing", "sendMessage")]  # stopped it: not told of an answer
