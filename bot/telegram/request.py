"""Bot API requests through aiohttp, python-telegram-bot's documented way to change its HTTP client.

python-telegram-bot sends through httpx by default. Measured against the Bot API emulator, a
sendMessage there costs about 1.8 ms of CPU (3.3 ms with its default pool of 256 connections,
all of which httpx looks at before every request); through aiohttp, which kefu already runs
for its own server, well under half of that. Everything above the HTTP exchange — JSON, error
codes, retries, flood limits — stays python-telegram-bot's (:class:`BaseRequest` does it).

It is also the last place before a request's bytes are written, after the flood limits
(bot/telegram/ratelimit.py) and the wait for a free connection: what must be recorded *only* if a request
may really have reached Telegram is recorded here (:func:`watch`). The inbox marks an update
``replying`` there, and the desk a ticket's topic as requested, so that a process killed while
it waits for its turn leaves nothing in doubt.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData


class NotSent(TelegramError):
    """Raised by a :class:`WireWatcher` to stop a request before it is written (python-telegram-bot
    passes a TelegramError through as it is, and nothing retries it)."""

    def __init__(self, message: str = "not sent: stopped before it was written") -> None:
        super().__init__(message)


class WireWatcher(Protocol):
    """Told of each Bot API request of the task that watches (see :func:`watch`)."""

    async def writing(self, endpoint: str, parameters: dict[str, Any]) -> None:
        """The request holds a connection and is written next (an exception here stops it)."""

    async def answered(self, endpoint: str, parameters: dict[str, Any]) -> None:
        """The request is over (answered, refused or failed): it is on the wire no more."""


_watchers: contextvars.ContextVar[tuple[WireWatcher, ...]] = contextvars.ContextVar("kefu_wire_watchers", default=())


@contextlib.contextmanager
def watch(watcher: WireWatcher) -> Iterator[None]:
    """Tell ``watcher`` of the requests this task (and the tasks it starts) makes in the block."""
    token = _watchers.set((*_watchers.get(), watcher))
    try:
        yield
    finally:
        _watchers.reset(token)


def watch_task(watcher: WireWatcher) -> None:
    """Tell ``watcher`` of the requests of the rest of this task (an update's handling)."""
    _watchers.set((*_watchers.get(), watcher))


def endpoint_of(url: str) -> str:
    """``sendMessage`` of ``https://api.telegram.org/bot<token>/sendMessage``."""
    return url.rpartition("/")[2]


class AiohttpRequest(BaseRequest):
    """``connections`` open at most; a request beyond them waits up to ``pool_timeout``."""

    def __init__(
        self,
        connections: int = 8,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._free = asyncio.Semaphore(connections)
        """One per connection: a request holding one is written at once (:class:`WireWatcher`)."""
        self._proxies: dict[tuple[str, str | None], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                # python-telegram-bot decodes the body itself, and Telegram sets no cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    def _proxy_for(self, url: str) -> str | None:
        """HTTP(S)_PROXY and NO_PROXY, as python-telegram-bot's httpx client honours them (where
        api.telegram.org is reachable only through a proxy, that is how kefu gets there). Read
        once per host: aiohttp's own ``trust_env`` reads the environment and ~/.netrc again for
        every request, which more than doubles what a request costs."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname)
        if key not in self._proxies:
            bypass = parts.hostname is None or bool(proxy_bypass(parts.hostname))
            self._proxies[key] = None if bypass else getproxies().get(parts.scheme)
        return self._proxies[key]

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None and request_data.contains_files else None
        fields = request_data.json_parameters if request_data is not None else None
        default = BaseRequest.DEFAULT_NONE
        read = self._read_timeout if read_timeout is default else read_timeout
        write = (self._media_write_timeout if files else self._write_timeout) if write_timeout is default else write_timeout
        connect = self._connect_timeout if connect_timeout is default else connect_timeout
        pool = self._pool_timeout if pool_timeout is default else pool_timeout
        # aiohttp has no write timeout: an upload (the only large body) gets the write and read
        # timeouts together as its whole time; other requests are a few hundred bytes.
        timeout = aiohttp.ClientTimeout(
            total=write + read if files and write is not None and read is not None else None,
            connect=connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            await asyncio.wait_for(self._free.acquire(), pool)
        except TimeoutError as error:
            raise TimedOut("Pool timeout: all connections are in use") from error
        entered: list[WireWatcher] = []
        endpoint, parameters = endpoint_of(url), request_data.parameters if request_data is not None else {}
        try:
            for watcher in _watchers.get():
                await watcher.writing(endpoint, parameters)
                entered.append(watcher)  # told of the answer only if told of the writing
            async with self._session.request(
                method, url, data=_body(fields, files), timeout=timeout, proxy=self._proxy_for(url)
            ) as response:
                return response.status, await response.read()
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        finally:
            try:
                for watcher in entered:  # before the connection is free: at most ``connections`` on the wire
                    await watcher.answered(endpoint, parameters)
            finally:
                self._free.release()


def _body(fields: dict[str, str] | None, files: dict | None) -> aiohttp.FormData | dict[str, str] | None:
    if not files:
        return fields or None
    form = aiohttp.FormData()
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


class UpdatesRequest(AiohttpRequest):
    """The request getUpdates goes through (python-telegram-bot keeps one for it alone): it also
    keeps the updates as Telegram sent them, which the inbox stores as they are instead of
    turning the parsed objects back into JSON."""

    def __init__(self) -> None:
        super().__init__(1)
        self.last_updates: list[dict[str, Any]] = []

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:
        data = super().parse_json_payload(payload)
        result = data.get("result") if isinstance(data, dict) else None
        self.last_updates = [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []
        return data
