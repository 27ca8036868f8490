"""What the benchmarks that run a real bot share: the bot in a subprocess, a throw-away database,
the environment the bot is configured by."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PRIVACY_KEY = "czeYealJS466VF9tZ4kpJQxjWkrZSNYwEwH9kTCLdhs="
"""Encrypts the throw-away database's personal data, in the benchmark and in the bot it starts."""
KEFU_RUN = (sys.executable, "-m", "bot", "run")


def base_env() -> dict[str, str]:
    """This environment without any KEFU_* setting, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class BotProcess:
    """A bot in a subprocess with its own folder and log (``kefu run`` unless ``argv`` says)."""

    def __init__(self, env: dict[str, str], folder: Path, name: str, argv: Sequence[str] = KEFU_RUN) -> None:
        self.argv, self.env, self.folder = list(argv), env, folder
        self.log_path = folder / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.lives = 0

    async def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            log.write(f"\n===== life {self.lives + 1} =====\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, cwd=self.folder, env=self.env, stdout=log, stderr=log
            )
        self.lives += 1

    async def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (the bots stop cleanly on it), SIGKILL after ``timeout``; the exit code."""
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> Counter[str]:
        """Logged warnings and errors by logger, to show what the bot complained about."""
        found: Counter[str] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
                found[f"{parts[2]} {parts[3].rstrip(':')}"] += 1
        return found


async def postgres_admin(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def throwaway_database(kind: str, folder: Path, admin_url: str, label: str) -> AsyncIterator[str]:
    """A new, empty database for one run (``kind`` "sqlite" or "postgres"); PostgreSQL's is
    dropped afterwards."""
    if kind == "sqlite":
        path = folder / f"kefu-{label}.db"
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)  # an earlier run's, kept by --logs
        yield f"sqlite://{path}"
        return
    name = f"kefu_bench_{label}_{os.getpid()}"
    await postgres_admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await postgres_admin(admin_url, f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await postgres_admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the console, signed in, over a seeded database ----------------------------------------------


@contextlib.asynccontextmanager
async def signed_in_console(
    url: str, prepare: Callable[[], Awaitable[None]], *, supervisor: bool, clock: datetime | None = None
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """kefu's console as ``kefu sandbox`` serves it (the Bot API emulator, the bot's application,
    its HTTP server, in this process), on the database at ``url`` after ``prepare()`` has seeded it
    (before anything of kefu's competes with the seeding): the server's address and an HTTP
    session signed in as an agent (a supervisor if ``supervisor``) with a one-time login link.
    The bot takes no updates and runs none of its timed jobs (at 100,000 tickets they would be busy
    escalating them): the pages are timed alone. ``clock``: the bot's "now" (the seeded data's end)."""
    from pydantic import SecretStr

    from bot.app import build_application
    from bot.console.auth import login_url, mint_link
    from bot.core import crypto, sql
    from bot.core.config import (
        DatabaseSettings,
        SchedulerSettings,
        Settings,
        TelegramSettings,
    )
    from bot.emulator import BotAPIEmulator
    from bot.http import serving_http
    from bot.runtime import open_database
    from bot.telegram.updates import ChatOrderedProcessor
    from ticketing.service import record_agent

    crypto.install([crypto.new_key()])  # personal data encrypted as kefu stores it
    emulator = BotAPIEmulator(bot_username="kefu_bench_bot", bot_first_name="Kefu")
    await emulator.start("127.0.0.1", 0)
    person = emulator.add_user(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")
    group = emulator.add_group(title="kefu agents", is_forum=True)
    emulator.set_member(group["id"], person["id"], "administrator")
    settings = Settings(
        telegram=TelegramSettings(
            token=SecretStr("123456789:BENCH-token-for-the-console"), base_url=emulator.base_url,
            agent_chat_id=group["id"], supervisors=[person["id"]] if supervisor else [], poll_timeout=10,
        ),
        database=DatabaseSettings(url=url),
        scheduler=SchedulerSettings(enabled=False),
    )
    app = build_application(settings, ChatOrderedProcessor())
    if clock is not None:
        app.bot_data.clock = lambda: clock
    try:
        async with open_database(settings):
            await prepare()
            if sql.postgres():
                await sql.run("ANALYZE")
        await app.initialize()  # the Bot API client the console asks about membership; no updates, no jobs
        try:
            async with open_database(settings), serving_http(settings, "127.0.0.1:0", app=app) as api:
                agent = await record_agent(person["id"], "Min Zhao", "boss_zhao", supervisor=supervisor)
                link = login_url(api, await mint_link(agent.id, "zh-Hans", app.bot_data.now(), 10))
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                    async with http.get(link) as signed:
                        assert signed.status == 200, await signed.text()
                    yield api, http
        finally:
            await app.shutdown()
    finally:
        await emulator.stop()


# -- a fleet in webhook mode: free ports, a round-robin load balancer, readiness -----------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoadBalancer:
    """Round robin over ``backends`` (base URLs) for one webhook ``path``, as nginx's
    ``proxy_next_upstream`` does in docs/deploy.md: a backend that refuses the connection, drops it
    or answers 5xx is skipped for the next one; 502 when none answers (Telegram then sends the
    update again). ``answered`` counts the 2xx answers of each backend."""

    def __init__(self, backends: Sequence[str], path: str = "/telegram/webhook") -> None:
        self.backends, self.path = list(backends), path
        self.answered: Counter[str] = Counter()
        self._turn = 0
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self.path, self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: request.headers[k] for k in ("Content-Type", "X-Telegram-Bot-Api-Secret-Token") if k in request.headers}
        first, self._turn = self._turn % len(self.backends), self._turn + 1
        for backend in self.backends[first:] + self.backends[:first]:
            try:
                async with self._session.post(backend + self.path, data=body, headers=headers) as answer:
                    payload = await answer.read()
                    if answer.status >= 500:
                        continue
                    if answer.status < 300:
                        self.answered[backend] += 1
                    return web.Response(status=answer.status, body=payload)
            except (aiohttp.ClientError, TimeoutError, OSError):
                continue
        return web.Response(status=502, text="no backend answered")


async def wait_ready(process: BotProcess, url: str, timeout: float = 120) -> None:
    """Until ``url``/readyz answers 200; RuntimeError with the log's end if the process exits or
    is not ready within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if not process.alive():
                code = process.process.returncode if process.process is not None else None
                raise RuntimeError(f"{process.log_path.name}: exited with {code}:\n{process.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                async with http.get(f"{url}/readyz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{process.log_path.name}: not ready within {timeout:.0f} s:\n{process.log_tail()}")
