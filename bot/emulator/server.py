"""The emulator as a server: :class:`BotAPIEmulator` serves the Bot API, its files and the
control API over HTTP with aiohttp, and ``serve`` runs one until cancelled (``kefu emulator``).

Every Bot API call is logged (``calls``), counted, checked against injected faults, then
answered by its method handler; an error in the emulator itself is answered as a 500, like a
server error, rather than breaking the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

from aiohttp import web

from .control import Control
from .limits import MAX_REQUEST_BYTES, ApiError
from .methods import ApiHandler, BotApi
from .wire import error_response, ok_response, read_params

log = logging.getLogger("bot.emulator")  # the name it had before the split into modules


class BotAPIEmulator(BotApi, Control):
    """An in-memory Telegram with one bot, served over HTTP with aiohttp.

    ``token``, when given, is the only token accepted (others get 401 Unauthorized)
    and its numeric prefix becomes the bot's id, as on Telegram; by default any token
    is accepted.
    """

    def __init__(
        self, *, bot_username: str = "kefu_bot", bot_first_name: str = "Kefu", token: str | None = None
    ) -> None:
        super().__init__(bot_username=bot_username, bot_first_name=bot_first_name, token=token)
        self.port = 0
        self.base_url = ""
        self.base_file_url = ""
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, tuple[str, ApiHandler]] = self._method_table()

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application; mount it in another server or let start() serve it."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._add_control_routes(app.router)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port (0 picks a free port); returns once listening."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        url_host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        if ":" in url_host and not url_host.startswith("["):
            url_host = f"[{url_host}]"
        self.base_url = f"http://{url_host}:{self.port}/bot"
        self.base_file_url = f"http://{url_host}:{self.port}/file/bot"
        log.info("Bot API emulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop serving; pending long polls, webhook deliveries and injected delays end at once."""
        self._wake_everything()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _on_shutdown(self, _app: web.Application) -> None:
        self._wake_everything()

    def _wake_everything(self) -> None:
        self._closing = True
        self._updates_signal.fire()
        self._stop_signal.fire()

    # ----------------------------------------------------------------- HTTP: Bot API

    async def _handle_api(self, request: web.Request) -> web.Response:
        if self._token is not None and request.match_info["token"] != self._token:
            return error_response(ApiError(401, "Unauthorized"))
        received = time.monotonic()
        requested = request.match_info["method"]
        name, handler = self._methods.get(requested.lower(), (requested, None))
        try:
            params = await read_params(request)
            self._count_received(name, params, received)
            self.calls.append((name, params.logged()))
            self._method_counts[name] += 1
            if handler is None:
                log.warning("Bot API method %r is not emulated", requested)
                raise ApiError(404, "Not Found")
            await self._apply_fault(name, params)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            self._error_counts[exc.status] += 1
            return error_response(exc)
        except web.HTTPException as exc:  # e.g. 413 from reading an oversized body
            self._error_counts[exc.status] += 1
            return error_response(ApiError(exc.status, exc.reason))
        except Exception as exc:  # an emulator bug: report it like a server error
            log.exception("emulator failed on %s", name)
            self._error_counts[500] += 1
            return error_response(ApiError(500, f"Internal Server Error: {exc!r}"))
        return ok_response(result)

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self._files_by_path.get(request.match_info["file_path"])
        if stored is None or (self._token is not None and request.match_info["token"] != self._token):
            return error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type)


async def serve(host: str = "127.0.0.1", port: int = 8081, **options: Any) -> None:
    """Run an emulator on host:port until cancelled; ``options`` go to BotAPIEmulator."""
    emulator = BotAPIEmulator(**options)
    await emulator.start(host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()
