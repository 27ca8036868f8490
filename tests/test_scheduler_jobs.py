"""kefu's timed jobs (scheduler/jobs.py): one table registers every one of them under its name, a
job the fleet must run once runs once per period, and what a job has to tell reaches Telegram
through the listeners of its events — a broken listener stopping neither the job nor the others."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.config import ReportsSettings, SchedulerSettings
from bot.intake import fleet
from scheduler import outbox
from scheduler.events import Listeners, SlaReminder
from scheduler.models import Campaign
from tests.harness import Bot, Person
from ticketing.customers import record_customer
from ticketing.models import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
ALWAYS = {
    "ticket-watch", "kb-reload", "inbox-purge", "customer-segments", "customer-segments-at-start", "campaign-progress",
    "desk-watch",
}


def registered(bot: Bot) -> list[str]:
    return sorted(job.name for job in bot.app.job_queue.jobs())


async def test_every_timed_job_is_a_row_of_the_schedule_registered_once_under_its_name(bot: Bot) -> None:
    assert registered(bot) == sorted(job.name for job in bot.schedule.jobs())
    assert set(registered(bot)) == ALWAYS | {"weekly-report"}  # the tests' bot sends nothing by itself: no outbox jobs
    [weekly] = bot.app.job_queue.get_jobs_by_name("weekly-report")
    at = weekly.next_t.astimezone(SHANGHAI)
    assert (at.strftime("%a"), at.hour, at.minute) == ("Mon", 9, 0)  # [reports] weekly = "mon 09:00", shop time


async def test_a_bot_that_sends_has_the_outbox_jobs_and_one_without_a_weekly_report_has_none(start_bot) -> None:
    async with start_bot(scheduler=SchedulerSettings(enabled=True), reports=ReportsSettings(weekly="")) as bot:
        assert set(registered(bot)) == ALWAYS | {"outbox", "outbox-sweep"}
        assert len(registered(bot)) == len(set(registered(bot)))


async def test_a_job_the_fleet_runs_once_runs_once_per_period(bot: Bot, agent: Person) -> None:
    [weekly] = bot.app.job_queue.get_jobs_by_name("weekly-report")
    before = bot.emulator.seq
    await weekly.run(bot.app)
    await weekly.run(bot.app)  # another process, or this one again, the same day: its turn is taken
    summary, chart = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert summary["text"].startswith("🗓 每周报告\n📊 服务报告") and chart["photo"]


async def test_a_broken_listener_stops_neither_the_job_nor_the_next_reminder(
    make_customer, agent: Person, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make_customer(first_name="Emma"), make_customer(first_name="Li")
    bot = first.bot
    await first.say("/human")
    await second.say("/human")

    async def broken(event: SlaReminder) -> None:
        raise RuntimeError(f"no reminder for #{event.ticket.id}")

    bot.schedule.events.on(SlaReminder, broken)
    tickets = await Ticket.all().order_by("id")
    bot.travel(max(t.first_response_due for t in tickets) - timedelta(minutes=1))
    before = bot.emulator.seq
    with caplog.at_level(logging.ERROR, logger="scheduler.events"):
        await bot.schedule.check_sla()
    reminders = [m for m in bot.emulator.bot_messages(agent.chat_id, since=before) if m["text"].startswith("⏰")]
    assert sorted(m["message_thread_id"] for m in reminders) == sorted(t.topic_id for t in tickets)
    assert sum("SlaReminder listener" in r.getMessage() for r in caplog.records) == 2


async def test_listeners_hear_their_kind_of_event_in_the_order_registered_whatever_one_of_them_raises() -> None:
    events, heard = Listeners(), []

    async def broken(event: SlaReminder) -> None:
        raise RuntimeError("broken")

    async def hears(event: SlaReminder) -> None:
        heard.append(event)

    events.on(SlaReminder, broken)
    events.on(SlaReminder, hears)
    reminder = SlaReminder(Ticket(id=1))
    await events.emit(reminder)
    await events.emit(object())  # a kind nobody listens to
    assert heard == [reminder]


async def test_the_agent_group_hears_of_outbox_rows_a_crash_left_in_doubt_once(bot: Bot, agent: Person) -> None:
    now = datetime.now(UTC)  # the heartbeats the sweep reads are real time
    await fleet.beat("crashed-worker", now - timedelta(hours=2), starting=True)
    customer = await record_customer(1001, first_name="Emma", language_code="en")
    await outbox.enqueue(customer, "revisit", "revisit:order:SO1", now - timedelta(hours=1), {"order_no": "SO1"})
    for row in await outbox.claim_due(now - timedelta(minutes=30), "crashed-worker", 10):
        assert await outbox.start_sending(row, now - timedelta(minutes=30))
    before = bot.emulator.seq
    await bot.schedule.sweep()
    await bot.schedule.sweep()
    told = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert [m["text"] for m in told] == [
        "⚠️ 有 1 条主动发送的消息不确定是否送达（发送时机器人停止了）：revisit:order:SO1。没有重复发送。"
    ]


async def test_a_campaign_s_progress_is_shown_by_the_job_until_it_is_done(bot: Bot, supervisor: Person) -> None:
    bot.travel(MONDAY_NOON)
    for n in range(3):
        user = bot.emulator.add_user(first_name=f"C{n}", language_code="en")
        await record_customer(user["id"], first_name=user["first_name"], language_code="en")
    boss = supervisor
    asked = await boss.say("/campaign")
    await boss.press("全部客户", asked)
    preview = await boss.say("{name}，双十二特惠今晚开始！")
    started = await boss.press("📤 发送给 3 位", preview)
    progress_id = started[-1]["message_id"]
    await bot.campaigns_queued()
    assert await bot.run_scheduler(MONDAY_NOON + timedelta(seconds=1)) == 3

    await bot.schedule.show_campaigns_progress()
    assert boss.message(progress_id)["text"] == "✅ 营销活动 #1 已完成：已发送 3/3 · 已屏蔽 0 · 失败 0"
    assert (await Campaign.get(id=1)).status == "done"
    edits = bot.emulator.count("editMessageText")
    await bot.schedule.show_campaigns_progress()
    assert bot.emulator.count("editMessageText") == edits and not bot.schedule.following
