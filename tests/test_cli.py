"""The `kefu` command as a new user runs it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.emulator import BotAPIEmulator
from tests.harness import kefu_run

TOKEN = "555666777:CLI-test-token-must-not-be-printed"


PRIVACY_KEYS = '["PYedMfiVeWyEuJa0UkCSBnjCpbOryWZh2ZIUXepp26E="]'


def _env(**extra: str) -> dict[str, str]:
    """A clean environment; ``kefu run`` also needs the key that encrypts personal data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env["KEFU_PRIVACY__KEYS"] = PRIVACY_KEYS
    env.update(extra)
    return env


def test_run_without_a_token_says_what_to_do_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
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
        env=_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__AGENT_CHAT_ID="my-group"),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "KEFU_TELEGRAM__AGENT_CHAT_ID" in result.stderr
    assert TOKEN not in result.stderr


def test_run_with_an_unreachable_bot_api_exits_2_naming_base_url(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=_env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL="http://127.0.0.1:9/bot"),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "KEFU_TELEGRAM__BASE_URL" in result.stderr.strip().splitlines()[-1]
    assert TOKEN not in result.stderr and "Traceback" not in result.stderr


async def test_run_works_against_any_bot_api_server_given_by_base_url(tmp_path: Path, emulator: BotAPIEmulator) -> None:
    """As a new user runs it: a token and a Bot API server, nothing else (no privacy key either)."""
    env = _env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url, KEFU_API__LISTEN="127.0.0.1:0")
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
    env = _env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_DATABASE__URL="postgres://kefu@127.0.0.1:9/kefu")
    del env["KEFU_PRIVACY__KEYS"]
    result = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "KEFU_PRIVACY__KEYS" in lines[0] and "kefu privacy new-key" in lines[0]


def test_sandbox_greets_hello_and_nihao_in_their_languages(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sandbox"],
        input="hello\n你好\n/lang\n:press 3\n:agent\n:quit\n",
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
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
        [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "kefu.db").is_file()


def test_in_the_sandbox_a_closed_ticket_brings_the_survey_after_later(tmp_path: Path) -> None:
    env = {**_env(), "KEFU_SCHEDULER__QUIET_HOURS": ""}  # whatever the hour the test runs at
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

    env = _env(KEFU_TELEGRAM__TOKEN=TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url, KEFU_API__LISTEN="127.0.0.1:0",
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
