"""The outbox sender against the emulator's Bot API: flood limits, server errors, blocked customers,
crashes — every row ends settled, none is sent twice."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.intake import fleet
from scheduler.models import OutboxMessage
from scheduler.outbox import LEASE, claim_due, enqueue, start_sending
from scheduler.sender import Sender
from tests.harness import Bot, Person, kefu_env
from ticketing.customers import record_customer
from ticketing.models import Customer, Ticket

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


async def queued_notice(bot: Bot, key: str = "notice:1", *, user: dict | None = None) -> tuple[dict, OutboxMessage]:
    user = user or bot.emulator.add_user(first_name="Emma", language_code="en")
    customer = await record_customer(user["id"], first_name="Emma", language_code="en")
    row = await enqueue(customer, "notice", key, NOON, {"text": "Your parcel is on its way, {name}."})
    return user, row


def deliveries(bot: Bot, chat_id: int) -> list[str]:
    return [m["text"] for m in bot.emulator.bot_messages(chat_id)]


@pytest.mark.slow
async def test_a_flood_limit_delays_the_message_which_then_goes_once(bot: Bot) -> None:
    user, row = await queued_notice(bot)
    bot.emulator.inject_fault("sendMessage", status=429, retry_after=1, times=4)  # more than the bot retries itself
    assert await bot.run_scheduler(NOON) == 0
    row = await OutboxMessage.get(id=row.id)
    assert row.status == "queued" and row.last_error == "429 flood control" and row.not_before is not None
    assert await bot.run_scheduler(NOON + timedelta(seconds=2)) == 1
    assert deliveries(bot, user["id"]) == ["Your parcel is on its way, Emma."]
    assert (await OutboxMessage.get(id=row.id)).status == "sent"


@pytest.mark.slow
async def test_server_errors_are_retried_and_the_message_delivered_once(bot: Bot) -> None:
    user, row = await queued_notice(bot)
    bot.emulator.inject_fault("sendMessage", status=502, times=4)
    assert await bot.run_scheduler(NOON) == 0
    assert (await OutboxMessage.get(id=row.id)).status == "queued"
    assert await bot.run_scheduler(NOON + timedelta(minutes=1)) == 1
    assert deliveries(bot, user["id"]) == ["Your parcel is on its way, Emma."]


async def test_a_customer_who_blocked_the_bot_is_marked_and_gets_nothing_more(bot: Bot) -> None:
    user, first = await queued_notice(bot)
    customer = await Customer.get(telegram_id=user["id"])
    second = await enqueue(customer, "greeting", "greeting:x", NOON, {"name": "new_year"})
    bot.emulator.block_bot(user["id"])
    await bot.run_scheduler(NOON)
    assert (await Customer.get(id=customer.id)).blocked
    await bot.run_scheduler(NOON + timedelta(seconds=2))
    statuses = {(await OutboxMessage.get(id=r.id)).status for r in (first, second)}
    assert "blocked" in statuses and statuses <= {"blocked", "cancelled"}
    assert deliveries(bot, user["id"]) == []


async def test_a_row_left_sending_by_a_crash_is_reported_and_not_resent(bot: Bot, agent: Person) -> None:
    user, row = await queued_notice(bot)
    await fleet.beat("a-process-that-died", datetime.now(UTC) - timedelta(hours=1), starting=True)
    [claimed] = await claim_due(NOON.astimezone(UTC), "a-process-that-died", 10)
    assert await start_sending(claimed, datetime.now(UTC) - timedelta(minutes=59))  # and then it died
    before = bot.emulator.seq
    assert await bot.run_scheduler(NOON + timedelta(minutes=1)) == 0  # its heartbeat lapsed long ago
    report = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert len(report) == 1 and report[0]["text"].startswith("⚠️ 有 1 条主动发送的消息不确定是否送达")
    assert "notice:1" in report[0]["text"]
    assert (await OutboxMessage.get(id=row.id)).status == "unknown"
    assert deliveries(bot, user["id"]) == []


async def test_the_survey_waits_while_its_ticket_is_reopened(customer: Person, agent: Person) -> None:
    bot = customer.bot
    bot.travel(NOON)
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    topic = agent.in_topic(ticket)
    bot.emulator.set_member(agent.chat_id, agent.id, "administrator")
    await topic.say("/close")
    await bot.run_scheduler(NOON + timedelta(minutes=1))  # queued, due at 12:10
    bot.travel(NOON + timedelta(minutes=5))
    await topic.say("/reopen")
    assert await bot.run_scheduler(NOON + timedelta(minutes=11)) == 0
    bot.travel(NOON + timedelta(hours=1))
    await topic.say("/close")
    assert await bot.run_scheduler(NOON + timedelta(hours=1, minutes=11)) == 1
    assert await OutboxMessage.filter(kind="survey").count() == 1


@pytest.mark.slow
async def test_two_bot_processes_on_one_postgresql_never_send_a_row_twice(bot: Bot, database: str, tmp_path) -> None:
    """Two real `kefu run` processes share the outbox of one PostgreSQL database."""
    if not database.startswith("postgres"):
        pytest.skip("SQLite is single-writer: one process per database file")
    users = [bot.emulator.add_user(first_name=f"C{n}", language_code="en") for n in range(300)]
    for n, user in enumerate(users):
        customer = await record_customer(user["id"], first_name=user["first_name"], language_code="en")
        await enqueue(customer, "notice", f"notice:{n}", datetime.now(UTC), {"text": f"message {n}"})
    env = kefu_env(**{
        "KEFU_TELEGRAM__TOKEN": bot.token, "KEFU_TELEGRAM__BASE_URL": bot.emulator.base_url,
        "KEFU_DATABASE__URL": database, "KEFU_API__LISTEN": "127.0.0.1:0",
        "KEFU_SCHEDULER__RATE_PER_SECOND": "100", "KEFU_SCHEDULER__QUIET_HOURS": "",
        "KEFU_TELEGRAM__MESSAGES_PER_SECOND": "1000",
        "KEFU_KNOWLEDGE_BASE__LEARNED_FILE": str(tmp_path / "learned.yaml"),
    })
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env, cwd=tmp_path,
                                             stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        for _ in range(600):
            if await OutboxMessage.filter(status__in=("queued", "sending")).count() == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()
    assert await OutboxMessage.filter(status="sent").count() == 300
    for n, user in enumerate(users):
        assert deliveries(bot, user["id"]) == [f"message {n}"]
    assert len(set(await OutboxMessage.all().values_list("claimed_by", flat=True))) == 2  # both took a share


async def test_a_row_a_dead_process_claimed_but_never_sent_goes_out_once_when_its_claim_runs_out(
    bot: Bot, agent: Person
) -> None:
    user, row = await queued_notice(bot)
    await claim_due(NOON.astimezone(UTC), "a-process-that-died", 10)
    assert await bot.run_scheduler(NOON + LEASE / 2) == 0
    before = bot.emulator.seq
    assert await bot.run_scheduler(NOON + LEASE + timedelta(minutes=5)) == 1
    assert deliveries(bot, user["id"]) == ["Your parcel is on its way, Emma."]
    assert bot.emulator.bot_messages(agent.chat_id, since=before) == []  # nothing of unknown fate to report
    assert (await OutboxMessage.get(id=row.id)).status == "sent"


async def test_while_a_send_hangs_only_that_row_is_sending_the_others_claimed_stay_queued(bot: Bot) -> None:
    """What a crash at that moment would leave in doubt: the request on the wire, not the batch in hand."""
    users = [bot.emulator.add_user(first_name=f"C{n}", language_code="en") for n in range(20)]
    for n, user in enumerate(users):
        customer = await record_customer(user["id"], first_name=user["first_name"], language_code="en")
        await enqueue(customer, "notice", f"notice:{n}", NOON, {"text": f"message {n}"})
    bot.emulator.inject_fault("sendMessage", status=200, delay=1.0, chat_id=users[0]["id"])  # slow, then delivered
    sender = Sender(bot.app.bot, bot.settings.scheduler, clock=lambda: NOON, worker="w1", concurrency=1)
    sending = asyncio.create_task(sender.tick())
    for _ in range(100):
        await asyncio.sleep(0.02)
        if bot.emulator.stats["faults_triggered"]:
            break
    rows = await OutboxMessage.all().order_by("id")
    assert [r.key for r in rows if r.status == "sending"] == ["notice:0"]
    # The rest are in hand, still queued, or went out before the slow one took the (single) slot.
    others = [r for r in rows if r.key != "notice:0"]
    assert all((r.status == "queued" and r.claimed_by == "w1") or r.status == "sent" for r in others)
    assert await sending == 20
    assert all(deliveries(bot, user["id"]) == [f"message {n}"] for n, user in enumerate(users))
