"""The `kefu` command as a new user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import privacy
from bot.core import db
from bot.emulator import BotAPIEmulator
from tests.harness import kefu_env, kefu_run
from ticketing.models import Customer

pytestmark = pytest.mark.slow  # each test starts a real `kefu`: a second or more apiece

TOKEN = "555666777:CLI-test-token-must-not-be-printed"


def test_run_without_a_token_says_what_to_do_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=kefu_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "KEFU_TELEGRAM__TOKEN" in lines[0] and "kefu sandbox" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_setting_exits_2_with_one_sentence(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__AGENT_CHAT_ID="my-group"),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "KEFU_TELEGRAM__AGENT_CHAT_ID" in result.stderr
    assert TOKEN not in result.stderr


def test_run_with_an_unreachable_bot_api_exits_2_naming_base_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL="http://127.0.0.1:9/bot"),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "KEFU_TELEGRAM__BASE_URL" in result.stderr.strip().splitlines()[-1]
    assert TOKEN not in result.stderr and "Traceback" not in result.stderr


async def test_run_works_against_any_bot_api_server_given_by_base_url(tmp_path: Path, emulator: BotAPIEmulator) -> None:
    """As a new user runs it: a token and a Bot API server, nothing else (no privacy key either)."""
    env = kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url, KEFU_API__LISTEN="127.0.0.1:0")
    del env["KEFU_PRIVACY__KEYS"]
    async with kefu_run(tmp_path, env, "--verbose") as kefu:
        customer = emulator.add_user(first_name="Fang", language_code="zh-CN")
        emulator.send_text(customer["id"], "/start")
        reply = await emulator.wait_for_bot_message(customer["id"], timeout=60)
        assert "Fang，您好" in reply["text"]
        assert await kefu.stop() == 0, kefu.log
    assert TOKEN not in kefu.log
    assert (tmp_path / "data" / "kefu.db").is_file()  # the default SQLite database, created on first run
    key_file = tmp_path / "data" / "kefu.db.key"  # made beside it, readable by its owner only
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "data/kefu.db.key" in kefu.log and key_file.read_text().strip() not in kefu.log


def test_run_on_postgresql_without_a_privacy_key_exits_2_saying_how_to_make_one(tmp_path: Path) -> None:
    env = kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_DATABASE__URL="postgres://kefu@127.0.0.1:9/kefu")
    del env["KEFU_PRIVACY__KEYS"]
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "KEFU_PRIVACY__KEYS" in lines[0] and "kefu privacy new-key" in lines[0]


def test_sandbox_greets_hello_and_nihao_in_their_languages(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input="hello\n你好\n/lang\n:press 3\n:agent\n:quit\n",
        cwd=tmp_path, env=kefu_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Hello Fang! How can I help you today?" in out
    assert "Fang，您好！请问有什么可以帮您？" in out
    assert "[1] 简体中文  [2] 繁體中文  [3] English" in out
    assert "Done: I'll answer you in English from now on." in out
    assert "you are now the agent" in out


def test_db_upgrade_creates_the_default_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=kefu_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "kefu.db").is_file()


def test_in_the_sandbox_a_closed_ticket_brings_the_survey_after_later(tmp_path: Path) -> None:
    env = kefu_env(KEFU_SCHEDULER__QUIET_HOURS="")  # whatever the hour the test runs at
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input="/human\n:topic\nWe are on it\n/close\n:customer 1\n:later 11m\n:press 5\n:quit\n",
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"Hi Fang! How satisfied are you with how we handled ticket #\d+\? Tap 1 to 5 stars.", out)
    assert "Thank you for rating us ⭐⭐⭐⭐⭐!" in out


async def test_sigterm_lets_the_reply_in_flight_finish_then_exits(tmp_path: Path, emulator: BotAPIEmulator) -> None:
    """SIGTERM while an answer is on its way (the Bot API answers slowly): kefu takes no more
    updates, finishes that one within shutdown_seconds, and exits 0 with the update done."""
    import sqlite3

    env = kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url, KEFU_API__LISTEN="127.0.0.1:0",
               KEFU_TELEGRAM__SHUTDOWN_SECONDS="10")
    async with kefu_run(tmp_path, env) as kefu:
        customer = emulator.add_user(first_name="Fang", language_code="en")
        emulator.send_text(customer["id"], "/start")
        await emulator.wait_for_bot_message(customer["id"], timeout=60)  # running, and polling
        emulator.inject_fault("sendMessage", status=200, delay=2.0, chat_id=customer["id"])  # slow, not failing
        emulator.send_text(customer["id"], "how long does shipping take")
        for _ in range(200):  # until the slow answer is on the wire
            await asyncio.sleep(0.05)
            if emulator.faults_left == 0:
                break
        assert await kefu.stop() == 0, kefu.log
    answers = [m["text"] for m in emulator.bot_messages(customer["id"])]
    assert len(answers) == 2 and "delivery" in answers[1].lower()  # the answer in flight arrived, once
    with sqlite3.connect(tmp_path / "data" / "kefu.db") as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM inbox_update ORDER BY update_id")]
    assert statuses == ["done", "done"]  # nothing left half-handled


# The key that opens customers' personal data: a wrong or missing one stops kefu at once (exit 2,
# so systemd restarts it once the key is put right), and never makes a new key file beside a
# database that holds data encrypted with the old one.

OTHER_KEY = "kSEnRvgzq1EpfdWlYGHo9dvb2VXIH3DBuojGp4Qs_rU="
"""A valid key, not the one the data of these tests is encrypted with (conftest's)."""


def _fresh_database(cwd: Path, sqlite_template: Path) -> Path:
    """The default SQLite database, migrated, with no customer yet."""
    path = cwd / "data" / "kefu.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return path


async def _a_customer_wrote(url: str) -> None:
    """What kefu stores when a customer writes: their name and phone, encrypted (conftest's key)."""
    await db.connect(url, ready=privacy.prepare)
    try:
        await Customer.update_or_create({"first_name": "Meilin", "phone": "+8613812345678"}, telegram_id=4_000_001)
    finally:
        await db.disconnect()


@dataclass
class Stopped:
    code: int | None
    """None: still running 5 s after its message (and killed)."""
    stderr: str

    @property
    def message(self) -> str:
        return self.stderr.strip().splitlines()[-1]


async def _kefu_stops(cwd: Path, env: dict[str, str], *args: str) -> Stopped:
    """``kefu args``, which must stop on an error: its exit code, if it ended within 5 seconds of
    printing the error (the time it takes to start is not counted: a busy machine imports slowly)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    said = b""
    try:
        line = b""
        while not line.startswith(b"kefu: "):  # its message (log lines may come before it)
            line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
            if not line:
                break
            said += line
        try:
            async with asyncio.timeout(5):
                said += await process.stderr.read()
                code: int | None = await process.wait()
        except TimeoutError:
            code = None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Stopped(code, said.decode())


def _run_env(**extra: str) -> dict[str, str]:
    return kefu_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL="http://127.0.0.1:9/bot", KEFU_API__LISTEN="127.0.0.1:0", **extra)


COMMANDS = [["run"], ["db", "upgrade"], ["orders", "import", "orders.csv"], ["privacy", "rotate"], ["report"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
async def test_on_sqlite_a_key_that_does_not_open_the_data_stops_kefu_with_exit_2_at_once(
    tmp_path: Path, sqlite_template: Path, command: list[str]
) -> None:
    database = _fresh_database(tmp_path, sqlite_template)
    await _a_customer_wrote(f"sqlite://{database}")
    (tmp_path / "orders.csv").write_text("order_no,phone,status,items,amount,currency,created_at\n")

    stopped = await _kefu_stops(tmp_path, _run_env(KEFU_PRIVACY__KEYS=f'["{OTHER_KEY}"]'), *command)

    assert stopped.code == 2, stopped.stderr
    assert "encrypted with a key that is not in KEFU_PRIVACY__KEYS" in stopped.message
    assert "Traceback" not in stopped.stderr and OTHER_KEY not in stopped.stderr
    assert not (tmp_path / "data" / "kefu.db.key").exists()


async def test_on_postgresql_a_key_that_does_not_open_the_data_stops_kefu_with_exit_2_at_once(
    tmp_path: Path, postgres_url: str
) -> None:
    await _a_customer_wrote(postgres_url)

    stopped = await _kefu_stops(tmp_path, _run_env(KEFU_DATABASE__URL=postgres_url, KEFU_PRIVACY__KEYS=f'["{OTHER_KEY}"]'), "run")

    assert stopped.code == 2, stopped.stderr
    assert "encrypted with a key that is not in KEFU_PRIVACY__KEYS" in stopped.message
    assert "Traceback" not in stopped.stderr


async def test_a_key_file_that_is_not_the_databases_stops_kefu_naming_the_file(tmp_path: Path, sqlite_template: Path) -> None:
    database = _fresh_database(tmp_path, sqlite_template)
    await _a_customer_wrote(f"sqlite://{database}")
    key_file = tmp_path / "data" / "kefu.db.key"
    key_file.write_text(OTHER_KEY + "\n")  # the key file of another database, say
    env = _run_env()
    del env["KEFU_PRIVACY__KEYS"]

    stopped = await _kefu_stops(tmp_path, env, "run")

    assert stopped.code == 2, stopped.stderr
    assert "not the one in data/kefu.db.key" in stopped.message and "from your copy" in stopped.message
    assert "Traceback" not in stopped.stderr and OTHER_KEY not in stopped.stderr
    assert key_file.read_text() == OTHER_KEY + "\n"


@pytest.mark.parametrize("command", [["run"], ["privacy", "rotate"]], ids=" ".join)
async def test_a_database_restored_without_its_key_file_stops_kefu_and_gets_no_new_key(
    tmp_path: Path, sqlite_template: Path, command: list[str]
) -> None:
    """Restoring data/kefu.db but not data/kefu.db.key: kefu says the key is missing, and makes
    none (a new key could never read the data, and would stand where the right one belongs)."""
    database = _fresh_database(tmp_path, sqlite_template)
    await _a_customer_wrote(f"sqlite://{database}")
    env = _run_env()
    del env["KEFU_PRIVACY__KEYS"]

    stopped = await _kefu_stops(tmp_path, env, *command)

    assert stopped.code == 2, stopped.stderr
    message = stopped.message
    assert "key of the database data/kefu.db is missing" in message
    assert "Restore data/kefu.db.key from the copy" in message and "KEFU_PRIVACY__KEYS" in message
    assert "Traceback" not in stopped.stderr
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.name.endswith(".key")) == []


def test_a_database_with_no_personal_data_yet_gets_its_key_file(tmp_path: Path, sqlite_template: Path) -> None:
    """Migrated (`kefu db upgrade`) but no customer yet: the first command that needs a key makes it."""
    _fresh_database(tmp_path, sqlite_template)
    env = kefu_env()
    del env["KEFU_PRIVACY__KEYS"]

    result = subprocess.run(
        [sys.executable, "-m", "bot", "privacy", "rotate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "data" / "kefu.db.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "made data/kefu.db.key" in result.stderr


def test_personal_data_written_before_kefu_encrypted_gets_a_key_and_is_encrypted(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """A database from before encryption holds names in plain text, and never had a key: kefu makes
    one and encrypts them."""
    database = _fresh_database(tmp_path, sqlite_template)
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, tags, "
            "segment, first_seen, last_seen) VALUES (4000002, 'Meilin', 'en', 0, 0, 0, '[]', 'new', "
            "'2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00')"
        )
    env = kefu_env()
    del env["KEFU_PRIVACY__KEYS"]

    result = subprocess.run(
        [sys.executable, "-m", "bot", "privacy", "rotate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "kefu.db.key").is_file()
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (stored,) = connection.execute("SELECT first_name FROM customer WHERE telegram_id = 4000002").fetchone()
    assert stored.startswith("gAAAAA") and "Meilin" not in stored
