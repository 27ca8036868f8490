"""Prometheus can scrape kefu: live counters, reply times and the database's backlogs at /metrics.

A fleet aggregates them (docs/deploy.md, "Metrics"): the counters and the histogram are per
instance (summed), the gauges read from the shared database fleet-wide (max). Every series is
there from the start, so ``rate()`` sees the first event; ``promtool check metrics`` accepts the
page. promtool comes from Debian's prometheus package (.ci/run installs it); without it the
promtool checks are skipped, unless KEFU_TEST_REQUIRE_PROMTOOL=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot import monitoring
from bot.core import metrics
from bot.emulator import BotAPIEmulator
from bot.http import serving_http
from bot.intake import inbox
from bot.intake.models import InboxUpdate
from tests.harness import TEST_TOKEN, WEBHOOK_SECRET, Bot, Person, free_port, kefu_env, kefu_run

REQUIRE_PROMTOOL = os.environ.get("KEFU_TEST_REQUIRE_PROMTOOL") == "1"

Series = tuple[str, tuple[tuple[str, str], ...]]


def samples(text: str) -> dict[Series, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def series(name: str, **labels: str) -> Series:
    return name, tuple(sorted(labels.items()))


NEW_AT_START = [
    series("kefu_reply_seconds_count"),
    series("kefu_reply_seconds_sum"),
    *(series("kefu_reply_seconds_bucket", le=le) for le in ("0.05", "0.5", "1.0", "5.0", "30.0", "+Inf")),
    *(series("kefu_inbox_updates", status=status) for status in ("new", "processing", "unknown", "failed")),
    series("kefu_inbox_oldest_waiting_seconds"),
    series("kefu_inbox_takeovers_total"),
    series("kefu_inbox_failed_total"),
    *(series("kefu_webhook_responses_total", code=code) for code in ("200", "400", "403", "500", "503")),
    *(series("kefu_send_errors_total", kind=kind)
      for kind in ("flood", "blocked", "timeout", "bad_request", "server_or_network", "other")),
    *(series("kefu_messages_in_total", chat=chat) for chat in ("private", "group", "supergroup", "channel")),
    series("kefu_messages_out_total", method="sendMessage"),
    *(series("kefu_tickets_open", status=status) for status in ("new", "open", "pending")),
    *(series("kefu_outbox_backlog", status=status) for status in ("queued", "sending")),
]


def promtool_accepts(text: str) -> None:
    """``promtool check metrics`` finds nothing to complain about (skipped without promtool, unless required)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if REQUIRE_PROMTOOL:
            pytest.fail("promtool required (KEFU_TEST_REQUIRE_PROMTOOL=1) but not on PATH")
        pytest.skip("no promtool (Debian: the prometheus package; .ci/run installs it)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


# -- a fresh process -----------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_fresh_kefu_run_shows_every_series_at_0_and_promtool_accepts_the_page(
    tmp_path: Path, emulator: BotAPIEmulator
) -> None:
    """A real `kefu run`, just started: each series a dashboard or alert needs is there, at 0,
    before anything happened; after a customer's message too, the page passes promtool."""
    port = free_port()
    env = kefu_env(
        KEFU_TELEGRAM__TOKEN=TEST_TOKEN, KEFU_TELEGRAM__BASE_URL=emulator.base_url,
        KEFU_API__LISTEN=f"127.0.0.1:{port}", KEFU_SCHEDULER__ENABLED="false",
    )
    url = f"http://127.0.0.1:{port}"
    async with kefu_run(tmp_path, env) as kefu:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                assert kefu.process.returncode is None, "kefu run exited"
                assert time.monotonic() < deadline, "kefu run not ready within 60 s"
                try:
                    async with http.get(f"{url}/readyz") as ready:
                        if ready.status == 200:
                            break
                except (aiohttp.ClientError, OSError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        at_start = await scrape(url)
        customer = emulator.add_user(first_name="Emma", language_code="en")
        emulator.send_text(customer["id"], "hello")
        await emulator.wait_for_bot_message(customer["id"], timeout=30)
        after_a_message = await scrape(url)
        assert await kefu.stop() == 0, kefu.log
    found = samples(at_start)
    missing = [name for name in NEW_AT_START if name not in found]
    assert missing == []
    assert {name: found[name] for name in NEW_AT_START} == dict.fromkeys(NEW_AT_START, 0.0)
    assert samples(after_a_message)[series("kefu_messages_in_total", chat="private")] == 1
    promtool_accepts(at_start)
    promtool_accepts(after_a_message)


# -- the running bot -----------------------------------------------------------------------------


async def test_metrics_count_messages_and_show_open_tickets_and_the_outbox(bot: Bot, customer: Person) -> None:
    async with serving_http(bot.settings, "127.0.0.1:0") as url:
        before = samples(await scrape(url))
        await customer.say("hello")
        await customer.say("/human")
        after = samples(await scrape(url))
    received = series("kefu_messages_in_total", chat="private")
    assert after[received] - before[received] == 2
    sent = series("kefu_messages_out_total", method="sendMessage")
    assert after[sent] - before[sent] >= 3  # two replies and the ticket card
    assert after[series("kefu_tickets_open", status="new")] == 1
    assert after[series("kefu_outbox_backlog", status="queued")] == 0


async def test_each_update_is_timed_from_its_arrival_to_its_handling_finished(bot: Bot, customer: Person) -> None:
    """``kefu_reply_seconds``: what a customer waits, measured from the inbox (bot/intake/intake.py
    calls metrics.observe_reply when it finishes an update)."""
    count, total = series("kefu_reply_seconds_count"), series("kefu_reply_seconds_sum")
    fast = series("kefu_reply_seconds_bucket", le="30.0")
    async with serving_http(bot.settings, "127.0.0.1:0") as url:
        before = samples(await scrape(url))
        await customer.say("hello")
        await customer.say("how long does shipping take")
        after = samples(await scrape(url))
    assert after[count] - before[count] == 2
    assert after[fast] - before[fast] == 2  # in the emulator, well within 30 s
    assert after[total] > before[total]


async def test_webhook_answers_are_counted_by_status_503_while_not_taking_updates(start_bot, emulator) -> None:
    async with start_bot(webhook=True) as bot:
        webhook = bot.settings.telegram.webhook_url
        base = webhook.rsplit("/telegram", 1)[0]
        intake = bot.app.bot_data.intake
        ana = emulator.add_user(first_name="Ana", language_code="en")
        before = samples(await scrape(base))
        update = {"update_id": 990_001, "message": {
            "message_id": 1, "date": int(time.time()), "chat": {"id": ana["id"], "type": "private", "first_name": "Ana"},
            "from": {"id": ana["id"], "is_bot": False, "first_name": "Ana", "language_code": "en"}, "text": "/help",
        }}
        right = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "wrong-0123456789"}
        async with aiohttp.ClientSession() as http:
            async with http.post(webhook, json=update, headers=wrong) as answer:
                assert answer.status == 403
            intake.accepting = False  # as while the process stops (Intake.stop) or has not started yet
            try:
                async with http.post(webhook, json=update, headers=right) as answer:
                    assert answer.status == 503
            finally:
                intake.accepting = True
            async with http.post(webhook, json={"not": "an update"}, headers=right) as answer:
                assert answer.status == 400
            async with http.post(webhook, json=update, headers=right) as answer:
                assert answer.status == 200
        await bot.handled(update)
        after = samples(await scrape(base))
    for code, calls in (("403", 1), ("503", 1), ("400", 1), ("200", 1), ("500", 0)):
        key = series("kefu_webhook_responses_total", code=code)
        assert after[key] - before[key] == calls, code


# -- the service ---------------------------------------------------------------------------------


async def test_the_inbox_gauges_count_updates_by_status_and_age_the_oldest_waiting(database: str) -> None:
    """Fleet-wide, from the database: what waits (new), is being handled, is in doubt (unknown)
    or set aside (failed); handled ones are not counted. The oldest waiting one is 90 s old."""
    now = datetime.now(UTC)
    statuses = {"new": 3, "processing": 2, "unknown": 1, "failed": 4, "done": 5, "throttled": 1}
    update_id = 0
    for status, count in statuses.items():
        for _ in range(count):
            update_id += 1
            arrived = now - timedelta(seconds=90 if update_id == 1 else 10)
            await inbox.store([{"update_id": update_id, "message": {"chat": {"id": 700 + update_id}}}], arrived)
            await InboxUpdate.filter(update_id=update_id).update(status=status)
    page = await monitoring.metrics(make_mocked_request("GET", "/metrics"))
    found = samples(page.body.decode())
    for status in ("new", "processing", "unknown", "failed"):
        assert found[series("kefu_inbox_updates", status=status)] == statuses[status], status
    assert series("kefu_inbox_updates", status="done") not in found
    assert 90 <= found[series("kefu_inbox_oldest_waiting_seconds")] < 120

    await InboxUpdate.filter(status="new").update(status="done")
    found = samples((await monitoring.metrics(make_mocked_request("GET", "/metrics"))).body.decode())
    assert found[series("kefu_inbox_updates", status="new")] == 0
    assert found[series("kefu_inbox_oldest_waiting_seconds")] == 0


def test_take_overs_and_updates_set_aside_are_counted() -> None:
    """What bot/intake/intake.py reports: updates taken over from a process that is gone, updates set aside."""
    before = samples(generate_latest().decode())
    metrics.count_takeovers(3)
    metrics.count_takeovers(0)
    metrics.count_failed_updates(1)
    after = samples(generate_latest().decode())
    takeovers, failed = series("kefu_inbox_takeovers_total"), series("kefu_inbox_failed_total")
    assert (after[takeovers] - before[takeovers], after[failed] - before[failed]) == (3, 1)
