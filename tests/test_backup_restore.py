"""docs/deploy.md, "Backup and restore", followed step by step on SQLite and on PostgreSQL.

Each test makes a database the way a shop does (`kefu orders import` of the sample orders, customers
who write to a real `kefu run` through the Bot API emulator and share their phone), backs it up
*while kefu runs and customers keep writing*, then restores it as the page says and checks what
came back: the customers of before the backup (none of after), their names decrypted with the
key, an order found by the customer's phone in a restored `kefu run`; and that without the key
kefu refuses to start (exit 2).

Commands run through ``sh`` as the page shows them, with the settings read from an env file the
way ``kefu-env`` reads /etc/kefu/kefu.env (``set -a; . FILE; set +a``). What only an installed
server has is left out: ``runuser -u kefu``, ``install -o kefu -g kefu``, ``systemctl`` (here
``kefu run`` in a subprocess, stopped with SIGTERM or killed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from bot.core import crypto
from bot.emulator import BotAPIEmulator
from tests.harness import POSTGRES_ADMIN_URL, REQUIRE_POSTGRES, kefu_run, postgres_admin

pytestmark = pytest.mark.slow

TOKEN = "555666778:BACKUP-test-token-not-printed"
SAMPLE_ORDERS = Path(__file__).resolve().parents[1] / "orders" / "sample_orders.jsonl"
PHONE = "+8613800000001"
"""The phone of sample orders SO100231 and SO100187."""
BEFORE, AFTER = 10, 3
"""Customers who wrote before the backup, and after it."""


# -- running what the page shows ---------------------------------------------------------------


def _env_file(path: Path, **settings: str) -> Path:
    """An env file as /etc/kefu/kefu.env is written: every value in single quotes."""
    path.write_text("".join(f"{name}='{value}'\n" for name, value in settings.items()))
    return path


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `kefu` as installed
    return env


async def sh(command: str, cwd: Path, env_file: Path, *, check: bool = True) -> tuple[int, str, str]:
    """``command`` in ``sh``, in ``cwd``, with the settings of ``env_file`` loaded as kefu-env does."""
    script = f'set -a; . "{env_file}"; set +a; {command}'
    process = await asyncio.create_subprocess_exec(
        "sh", "-c", script, cwd=cwd, env=_base_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    result = (process.returncode or 0, out.decode(), err.decode())
    if check:
        assert result[0] == 0, f"{command!r} exited {result[0]}:\n{result[1]}{result[2]}"
    return result


async def loaded(env_file: Path) -> dict[str, str]:
    """The environment ``kefu run`` gets from the env file (as systemd passes it)."""
    _, out, _ = await sh("env -0", Path.cwd(), env_file)
    return dict(item.split("=", 1) for item in out.split("\0") if item)


# -- customers ---------------------------------------------------------------------------------


async def write_in(emulator: BotAPIEmulator, name: str, *, phone: str | None = None) -> dict:
    """A new customer says /start (and shares their phone); returns once the bot has answered."""
    user = emulator.add_user(first_name=name, last_name="Backup", language_code="en")
    before = emulator.seq
    emulator.send_text(user["id"], "/start")
    await emulator.wait_for_bot_message(user["id"], since=before, timeout=60)
    if phone is not None:
        before = emulator.seq
        emulator.send_contact(user["id"], phone)
        reply = await emulator.wait_for_bot_message(user["id"], since=before, timeout=60)
        assert "verified" in reply["text"], reply
    return user


async def ask_order(emulator: BotAPIEmulator, user: dict, order_no: str) -> str:
    before = emulator.seq
    emulator.send_text(user["id"], f"/order {order_no}")
    return (await emulator.wait_for_bot_message(user["id"], since=before, timeout=60))["text"]


async def writing_while(emulator: BotAPIEmulator, backup: Callable[[], Awaitable[object]]) -> Writers:
    """Customers keep arriving, three at a time, from before ``backup`` starts until it has ended:
    the database is being written to while it is copied."""
    writers = Writers()
    done = asyncio.Event()

    async def lane(number: int) -> None:
        for i in itertools.count():
            if done.is_set():
                return
            writers.names.append(name := f"During{number}.{i}")
            await write_in(emulator, name)
            writers.answered.append(name)

    lanes = [asyncio.create_task(lane(number)) for number in range(3)]
    while len(writers.answered) < 6:
        await asyncio.sleep(0.01)
    writers.before_backup = set(writers.answered)
    try:
        await backup()
    finally:
        done.set()
        await asyncio.gather(*lanes)
    assert len(writers.names) > len(writers.before_backup), "nobody wrote while the backup ran"
    return writers


@dataclass
class Writers:
    names: list[str] = field(default_factory=list)
    """Everyone who started writing."""
    answered: list[str] = field(default_factory=list)
    before_backup: set[str] = field(default_factory=set)
    """Answered (so stored) before the backup started: every backup must hold them."""


def first_names(rows: list[str], *keys: str) -> set[str]:
    """Customers' first names as stored, decrypted with ``keys`` (WrongKey if none opens them)."""
    keyring = crypto.Keyring(keys)
    return {keyring.reveal(value) for value in rows}


def assert_restored(names: set[str], during: Writers) -> None:
    """Everyone stored before the backup started, nobody who wrote after it ended."""
    before = {f"Before{i}" for i in range(BEFORE)}
    assert before | during.before_backup <= names
    assert names - before <= set(during.names)


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_first_names(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT first_name FROM customer")]


async def test_sqlite_backup_while_kefu_runs_restores_with_its_key_file(tmp_path: Path, emulator: BotAPIEmulator) -> None:
    """The page's SQLite procedure, in a working directory like /var/lib/kefu (data/kefu.db, the
    key in data/kefu.db.key). Backed up with the sqlite3 shell's VACUUM INTO when it is installed,
    and always with Python's backup API (the page's alternative); restored in place after kefu was
    killed (a stale data/kefu.db-wal beside it), and on a new server without the key."""
    live, backups, keys = tmp_path / "var-lib-kefu", tmp_path / "backups", tmp_path / "keys-elsewhere"
    for folder in (live, backups, keys):
        folder.mkdir(mode=0o700)
    env_file = _env_file(tmp_path / "kefu.env", KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url,
                         KEFU_API__LISTEN="127.0.0.1:0")
    await sh(f"kefu orders import {SAMPLE_ORDERS}", live, env_file)  # makes data/kefu.db.key
    assert (live / "data" / "kefu.db.key").stat().st_mode & 0o777 == 0o600

    async with kefu_run(live, await loaded(env_file)) as kefu:
        owner = await write_in(emulator, "Before0", phone=PHONE)
        for i in range(1, BEFORE):
            await write_in(emulator, f"Before{i}")
        # What the page warns about: the file alone, copied while kefu runs, lacks what is in its WAL.
        shutil.copyfile(live / "data" / "kefu.db", tmp_path / "copied.db")
        copied = len(sqlite_first_names(tmp_path / "copied.db"))
        assert copied < BEFORE, "the copy should have missed the customers still in kefu.db-wal"

        python_backup = (
            "python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "
            f"data/kefu.db {backups}/kefu-py-$(date +%F).db"
        )
        cli_backup = f'sqlite3 data/kefu.db "VACUUM INTO \'{backups}/kefu-$(date +%F).db\'"'
        commands = [python_backup] + ([cli_backup] if shutil.which("sqlite3") else [])
        during = await writing_while(emulator, lambda: asyncio.gather(*(sh(c, live, env_file) for c in commands)))
        await sh(f"install -m 0600 data/kefu.db.key {keys}/kefu.db.key", live, env_file)  # the key, kept apart
        for i in range(AFTER):
            await write_in(emulator, f"After{i}")
        kefu.process.kill()  # the disaster: kefu dies, leaving data/kefu.db-wal behind
        await kefu.process.wait()
    assert (live / "data" / "kefu.db-wal").exists()
    key = (keys / "kefu.db.key").read_text().strip()

    made = sorted(backups.iterdir())
    assert len(made) == len(commands)
    for backup in made:
        if shutil.which("sqlite3"):
            _, ok, _ = await sh(f'sqlite3 {backup} "PRAGMA integrity_check"', live, env_file)
            assert ok.strip() == "ok"
        assert_restored(first_names(sqlite_first_names(backup), key), during)
    backup = made[0]  # kefu-<date>.db (the CLI's) sorts before kefu-py-<date>.db

    # A new server with the backup but not its key: kefu refuses to start.
    new_server = tmp_path / "new-server"
    new_server.mkdir()
    await sh(f"install -d -m 0700 data && install -m 0600 {backup} data/kefu.db", new_server, env_file)
    code, _, err = await sh("kefu run", new_server, env_file, check=False)
    assert code == 2 and "key" in err.lower(), err

    # The page's restore, in place.
    await sh(
        "rm -f data/kefu.db-wal data/kefu.db-shm"
        f" && install -m 0600 {backup} data/kefu.db"
        f" && install -m 0600 {keys}/kefu.db.key data/kefu.db.key",
        live, env_file,
    )
    _, out, _ = await sh("kefu db upgrade", live, env_file)
    assert "up to date" in out
    restored = first_names(sqlite_first_names(live / "data" / "kefu.db"), key)
    assert_restored(restored, during)
    with sqlite3.connect(live / "data" / "kefu.db") as db:
        assert db.execute('SELECT count(*) FROM shop_order').fetchone()[0] == 4

    async with kefu_run(live, await loaded(env_file)) as kefu:
        card = await ask_order(emulator, owner, "SO100231")  # found by the restored customer's phone
        assert "📦 Order SO100231" in card, card
        assert await kefu.stop() == 0, kefu.log
    with pytest.raises(crypto.WrongKey):  # and no other key opens it
        first_names(sqlite_first_names(live / "data" / "kefu.db"), crypto.new_key())


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
async def kefu_database() -> AsyncIterator[tuple[str, str]]:
    """A role and a database of its own, as the page's "PostgreSQL" section makes them: (role, url)."""
    name = f"kefu_backup_{os.getpid()}"
    clean = (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"DROP DATABASE IF EXISTS {name}_broken WITH (FORCE)",
             f"DROP ROLE IF EXISTS {name}")
    try:
        await postgres_admin(*clean, f"CREATE ROLE {name} LOGIN",
                     f"CREATE DATABASE {name} OWNER {name} ENCODING 'UTF8' TEMPLATE template0")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL} ({exc}); set KEFU_TEST_POSTGRES_URL")
    missing = [tool for tool in ("pg_dump", "pg_restore", "psql") if shutil.which(tool) is None]
    if missing:
        await postgres_admin(*clean)
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required, but {', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1].split("@", 1)[-1]
    try:
        yield name, f"postgres://{name}@{base}/{name}"
    finally:
        await postgres_admin(*clean)


async def pg_first_names(url: str) -> list[str]:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        return [row["first_name"] for row in await connection.fetch("SELECT first_name FROM customer")]
    finally:
        await connection.close()


async def pg_count(url: str, table: str) -> int:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        return await connection.fetchval(f'SELECT count(*) FROM "{table}"')
    finally:
        await connection.close()


async def test_postgres_dump_while_kefu_runs_restores_and_needs_the_key_of_its_day(
    tmp_path: Path, emulator: BotAPIEmulator, kefu_database: tuple[str, str]
) -> None:
    """The page's PostgreSQL procedure: pg_dump -Fc while kefu runs; the key rotated afterwards;
    the dump restored into a fresh database (the old one renamed) with pg_restore --no-owner as
    kefu's own role, which needs the key of the dump's day (the new one alone: exit 2), and again
    with --clean --if-exists over the database in use."""
    role, url = kefu_database
    work, backups = tmp_path / "var-lib-kefu", tmp_path / "backups"
    for folder in (work, backups):
        folder.mkdir(mode=0o700)
    old_key, new_key = crypto.new_key(), crypto.new_key()
    settings = {"KEFU_TELEGRAM__TOKEN": TOKEN, "KEFU_TELEGRAM__BASE_URL": emulator.base_url,
                "KEFU_API__LISTEN": "127.0.0.1:0", "KEFU_DATABASE__URL": url}
    env_file = _env_file(tmp_path / "kefu.env", **settings, KEFU_PRIVACY__KEYS=f'["{old_key}"]')
    await sh(f"kefu orders import {SAMPLE_ORDERS}", work, env_file)

    dump = f"{backups}/kefu-$(date +%F).dump"
    async with kefu_run(work, await loaded(env_file)) as kefu:
        owner = await write_in(emulator, "Before0", phone=PHONE)
        for i in range(1, BEFORE):
            await write_in(emulator, f"Before{i}")
        during = await writing_while(emulator, lambda: sh(f'pg_dump -Fc -d "$KEFU_DATABASE__URL" -f {dump}', work, env_file))
        for i in range(AFTER):
            await write_in(emulator, f"After{i}")
        assert await kefu.stop() == 0, kefu.log
    [dump_file] = backups.iterdir()

    # The key is rotated after the dump (the page's "Rotating the privacy key"), the old key removed.
    _env_file(env_file, **settings, KEFU_PRIVACY__KEYS=f'["{new_key}", "{old_key}"]')
    await sh("kefu privacy rotate", work, env_file)
    _env_file(env_file, **settings, KEFU_PRIVACY__KEYS=f'["{new_key}"]')

    # Restore into a fresh, empty database; the damaged one is kept aside under another name.
    await sh(
        f"""psql -X -q -d '{POSTGRES_ADMIN_URL}' -c 'ALTER DATABASE {role} RENAME TO {role}_broken' """
        f"""-c "CREATE DATABASE {role} OWNER {role} ENCODING 'UTF8' TEMPLATE template0" """,
        work, env_file,
    )
    await sh(f'pg_restore --no-owner -d "$KEFU_DATABASE__URL" {dump_file}', work, env_file)
    code, _, err = await sh("kefu db upgrade", work, env_file, check=False)
    assert code == 2 and "KEFU_PRIVACY__KEYS" in err, err  # the dump needs the key of its day
    _env_file(env_file, **settings, KEFU_PRIVACY__KEYS=f'["{new_key}", "{old_key}"]')
    await sh("kefu db upgrade", work, env_file)
    assert_restored(first_names(await pg_first_names(url), old_key), during)
    assert await pg_count(url, "shop_order") == 4

    in_dump = first_names(await pg_first_names(url), old_key)

    async with kefu_run(work, await loaded(env_file)) as kefu:
        card = await ask_order(emulator, owner, "SO100231")
        assert "📦 Order SO100231" in card, card
        await write_in(emulator, "Later0")
        assert await kefu.stop() == 0, kefu.log
    # Besides Later0, the restored kefu may have handled updates the dump caught waiting in the inbox.
    later = first_names(await pg_first_names(url), new_key, old_key) - in_dump  # written with the new key
    assert "Later0" in later and later - {"Later0"} <= set(during.names)

    # Over the database in use instead (kefu stopped): --clean --if-exists puts the dump's rows back.
    await sh(f'pg_restore --clean --if-exists --no-owner -d "$KEFU_DATABASE__URL" {dump_file}', work, env_file)
    assert first_names(await pg_first_names(url), old_key) == in_dump
