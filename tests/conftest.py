"""Fixtures: a database (SQLite and PostgreSQL), the Bot API emulator, the running bot, people.

Every test that uses the database runs twice, once on SQLite and once on PostgreSQL. PostgreSQL is
found at $KEFU_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); when none
answers its runs are skipped, unless KEFU_TEST_REQUIRE_POSTGRES=1 (as in CI) makes that a failure.

What a test calls itself (the test settings, people, topics, `kefu` processes) is in
tests/harness.py: test modules import from there, never from this file or from one another.
Tests that take seconds (real `kefu` processes, fleets, backups, thousands of customers) are
marked `slow`, so that `pytest -m "not slow"` is a quick loop; `pytest` runs everything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from tortoise import Tortoise

from bot import privacy
from bot.app import build_application
from bot.core import crypto, db
from bot.core.config import (
    DatabaseSettings,
    DeskSettings,
    KnowledgeBaseSettings,
    SchedulerSettings,
    Settings,
    TelegramSettings,
)
from bot.emulator import BotAPIEmulator
from bot.http import serving_http
from bot.runtime import running_bot
from bot.telegram.updates import ChatOrderedProcessor
from tests.harness import (
    BOTH_DATABASES,
    CHROMIUM,
    CHROMIUM_FLAGS,
    POSTGRES_ADMIN_URL,
    REQUIRE_CHROMIUM,
    REQUIRE_POSTGRES,
    SUPERVISOR_ID,
    TEST_PRIVACY_KEY,
    TEST_TOKEN,
    WEBHOOK_SECRET,
    Bot,
    Console,
    Person,
    postgres_admin,
)

crypto.install([TEST_PRIVACY_KEY])


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores (pyproject caps them at 4). Many tests spend
    their time waiting — on kefu subprocesses, the emulator, PostgreSQL, a browser — so a third
    worker on two cores took the suite from 8:28 to 7:10 on the CI machine, every test passing."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: the PostgreSQL run of a test; deselect with -m 'not postgres'")


@pytest.fixture(autouse=True)
def _no_kefu_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests decide every setting: KEFU_* variables of the shell running them don't leak in."""
    for name in os.environ:
        if name.startswith("KEFU_") and not name.startswith("KEFU_TEST_"):
            monkeypatch.delenv(name)


def _run_apart(statement: str) -> None:
    """Run an admin statement on its own event loop: in a thread of its own when a loop is already
    running (an async fixture such as test_database.py's fresh_database_url may be the first on a
    worker to ask for postgres_url, and asyncio.run refuses to nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(postgres_admin(statement))
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, postgres_admin(statement)).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session, dropped at the end."""
    name = f"kefu_test_{os.getpid()}"
    try:
        _run_apart(f"DROP DATABASE IF EXISTS {name}")
        _run_apart(f"CREATE DATABASE {name}")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL} ({exc}); set KEFU_TEST_POSTGRES_URL")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _run_apart(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once for the whole run: migrating takes a second, copying it
    a millisecond, and each test gets a copy of its own."""
    path = tmp_path_factory.mktemp("template") / "kefu.db"
    asyncio.run(db.upgrade(f"sqlite://{path}"))
    assert not path.with_name("kefu.db-wal").exists(), "closed cleanly: the file holds everything"
    return path


@pytest.fixture(params=BOTH_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "kefu.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite://{path}"
    return request.getfixturevalue("postgres_url")


async def _empty_tables() -> None:
    """Every table empty and every id counting from 1 again, as in a new database. TRUNCATE makes
    new files for a table and its indexes; most tests leave most tables empty, so only the tables
    holding rows are truncated (half the setup of a PostgreSQL test, measured)."""
    connection = Tortoise.get_connection("default")
    tables = [model._meta.db_table for model in Tortoise.apps[db.APP].values()]
    holding = await connection.execute_query_dict(
        " UNION ALL ".join(f"SELECT '{table}' AS name WHERE EXISTS (SELECT 1 FROM {table})" for table in tables)
    )
    if holding:
        await connection.execute_script(f"TRUNCATE {', '.join(row['name'] for row in holding)} CASCADE")
    await connection.execute_query(  # the sequences of the id columns
        "SELECT setval(d.objid::regclass, 1, false) FROM pg_depend d JOIN pg_class s ON s.oid = d.objid"
        " WHERE s.relkind = 'S' AND d.refobjid = ANY($1::regclass[])",
        [tables],
    )


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[str]:
    """The migrated database, empty, connected for the services."""
    await db.connect(database_url, ready=privacy.prepare)
    if database_url.startswith("postgres"):
        await _empty_tables()
    try:
        yield database_url
    finally:
        await db.disconnect()


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator(bot_username="kefu_test_bot", bot_first_name="Kefu")
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def start_bot(database: str, emulator: BotAPIEmulator, tmp_path: Path):
    """Start the bot with some settings changed: ``async with start_bot(orders=OrdersSettings(...))``."""

    @contextlib.asynccontextmanager
    async def start(
        forum: bool = True, webhook: bool = False, telegram: dict | None = None, **sections: object
    ) -> AsyncIterator[Bot]:
        """``webhook``: updates come by webhook (to kefu's HTTP server) instead of long polling;
        ``telegram``: [telegram] settings to change."""
        group = emulator.add_group(title="Agents", is_forum=forum)
        settings = Settings(
            telegram=TelegramSettings(
                mode="webhook" if webhook else "polling",
                webhook_url="http://127.0.0.1/telegram/webhook" if webhook else None,
                webhook_secret=SecretStr(WEBHOOK_SECRET) if webhook else None,
                token=SecretStr(TEST_TOKEN),
                base_url=emulator.base_url,
                agent_chat_id=group["id"],
                supervisors=[SUPERVISOR_ID],
                poll_timeout=5,
                server_error_retries=3,
                # The emulator enforces no flood limits; Telegram's would make a 100-ticket test take ten minutes.
                messages_per_second=10_000,
                group_messages_per_minute=100_000,
                chat_messages_per_second=10_000,
                # Tests type faster than any customer; tests/test_inbox.py checks flood control.
                flood_messages=10_000,
                **(telegram or {}),
            ),
            database=DatabaseSettings(url=database),
            # Tests drive the scheduler's ticks themselves (tests/harness.py), at the clock they set.
            scheduler=sections.pop("scheduler", SchedulerSettings(enabled=False)),
            # Agents claim by hand unless a test sets [desk] assignment (tests/test_presence.py): the
            # shipped default, least_loaded, would give tickets to agents who write on a weekday
            # during business hours, and the tests must not depend on the day they run.
            desk=_manual_unless_set(sections.pop("desk", DeskSettings())),
            knowledge_base=KnowledgeBaseSettings(learned_file=str(tmp_path / "kb-learned.yaml")),
            **sections,
        )
        processor = ChatOrderedProcessor()
        app = build_application(settings, processor)
        async with contextlib.AsyncExitStack() as stack:
            if webhook:
                url = await stack.enter_async_context(serving_http(settings, "127.0.0.1:0", app=app))
                settings.telegram.webhook_url = f"{url}/telegram/webhook"
            await stack.enter_async_context(running_bot(app, settings))
            yield Bot(emulator, app, processor, settings, group, TEST_TOKEN)

    return start


def _manual_unless_set(desk: DeskSettings) -> DeskSettings:
    return desk if "assignment" in desk.model_fields_set else desk.model_copy(update={"assignment": "manual"})


@pytest.fixture
async def bot(start_bot) -> AsyncIterator[Bot]:
    async with start_bot() as running:
        yield running


@pytest.fixture
def customer(bot: Bot) -> Person:
    """An English-speaking customer in a private chat with the bot."""
    return bot.add_customer(first_name="Emma", last_name="Smith", language_code="en")


@pytest.fixture
def make_customer(bot: Bot) -> Callable[..., Person]:
    """More customers: ``make_customer(first_name="Fang", language_code="zh-CN")``."""
    return bot.add_customer


@pytest.fixture
def agent(bot: Bot) -> Person:
    """A member of the agent group (Chinese-speaking), writing in its General topic."""
    return bot.add_agent(first_name="Lei", last_name="Li", username="agent_li", language_code="zh-CN")


@pytest.fixture
def supervisor(bot: Bot) -> Person:
    """A supervisor (listed in [telegram] supervisors), in the agent group's General topic."""
    return bot.add_supervisor(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")


@pytest.fixture
async def console(bot: Bot) -> AsyncIterator[Console]:
    """kefu's HTTP server with the console for the running ``bot``, on a free port (its links,
    from [api] listen, point at it): ``await console.signed_in(agent)`` is an agent at the console."""
    async with serving_http(bot.settings, "127.0.0.1:0", app=bot.app) as url:
        bot.settings.api.listen = url.removeprefix("http://")
        running = Console(bot, url)
        try:
            yield running
        finally:
            await running.close()


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    """A page of a headless Chromium (Debian's, driven by Playwright's async API). Without
    chromium or Playwright the browser tests are skipped, unless KEFU_TEST_REQUIRE_CHROMIUM=1 (as
    in CI, where .ci/run installs chromium) makes that a failure."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        async_playwright = None
    if async_playwright is None or not CHROMIUM.is_file():
        missing = "Playwright (pip install -e '.[dev]')" if async_playwright is None else str(CHROMIUM)
        if REQUIRE_CHROMIUM:
            pytest.fail(f"no {missing}, and KEFU_TEST_REQUIRE_CHROMIUM is set (.ci/run installs Debian's chromium)")
        pytest.skip(f"no {missing}: the browser tests need it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 800})
            yield await context.new_page()
        finally:
            await browser.close()
