"""Campaigns under careless and hostile use: stopped half-way, started for thousands, a process
dying while it queues, texts at Telegram's limit, forged stops (issue 18, point 8)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.config import SchedulerSettings
from bot.core.fit import utf16_len
from bot.intake import fleet
from bot.telegram.longtext import MAX_TEXT
from scheduler import campaigns, outbox
from scheduler.campaigns import NAME_LIMIT, longest_message, queue_rows, start_campaign
from scheduler.messages import render
from scheduler.models import Campaign, OutboxMessage
from tests.harness import SUPERVISOR_ID, Bot, Person
from ticketing.models import Customer

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: no quiet hours
ENGLISH = {"agent_language": "en"}
FAST = SchedulerSettings(enabled=False, rate_per_second=1000)


async def many_customers(bot: Bot, how_many: int, first_name: str = "C") -> list[Customer]:
    """``how_many`` customers who wrote to the bot once, written in bulk (not through updates)."""
    users = [bot.emulator.add_user(first_name=f"{first_name}{n}", language_code="en") for n in range(how_many)]
    await Customer.bulk_create(
        [Customer(telegram_id=u["id"], first_name=u["first_name"], language="en", first_seen=NOW, last_seen=NOW) for u in users],
        batch_size=1000,
    )
    return await Customer.filter(telegram_id__in=[u["id"] for u in users]).order_by("id")


def boss_of(bot: Bot) -> Person:
    return bot.add_supervisor(first_name="Min", language_code="en")


async def start_from_the_group(boss: Person, text: str) -> int:
    """/campaign all, the text, Send: the id of the progress message."""
    await boss.say("/campaign all")
    preview = await boss.say(text)
    started = await boss.press(preview.buttons[0], preview)
    return started[-1]["message_id"]


def campaign_messages(bot: Bot, text: str, since: int = 0) -> list[dict]:
    return [m for m in bot.emulator.bot_messages(since=since) if m["chat"]["type"] == "private" and m["text"].endswith(text)]


@pytest.mark.slow
async def test_a_campaign_to_5000_stopped_half_way_sends_nothing_more_and_leaves_other_messages_alone(start_bot) -> None:
    async with start_bot(scheduler=FAST, telegram=ENGLISH) as bot:
        bot.travel(NOW)
        customers = await many_customers(bot, 5000)
        revisit = await outbox.enqueue(customers[0], "revisit", "revisit:order:SO1", NOW + timedelta(days=1), {"order_no": "SO1"})
        greeting = await outbox.enqueue(customers[1], "greeting", "greeting:generic:2026:customer:2", NOW + timedelta(days=1), {"name": "generic"})
        other = await Campaign.create(segment="vip", template="Other offer", payload={"text": "Other offer"}, status="running",
                                      total=1, created_by_telegram_id=SUPERVISOR_ID)
        await outbox.enqueue(customers[2], "campaign", f"campaign:{other.id}:customer:{customers[2].id}", NOW + timedelta(days=1),
                             {"text": "Other offer"}, campaign=other)
        untouched = {row.id: row.status for row in await OutboxMessage.all()}

        boss = boss_of(bot)
        progress_id = await start_from_the_group(boss, "{name}, the winter sale is on!")
        await bot.campaigns_queued()
        before = bot.emulator.seq
        sending = asyncio.create_task(bot.app.bot_data.sender.tick())
        while bot.emulator.seq - before < 2500:  # about half of them sent
            await asyncio.sleep(0.05)
        sure = await boss.press("⏹ Stop sending", [boss.message(progress_id)])
        assert sure.text == "Stop campaign #2? The messages not sent yet will not go out."
        told = await boss.press("⏹ Yes, stop #2", sure)
        await sending

        stopped, gone = map(int, re.fullmatch(
            r"⏹ Campaign #2 stopped: (\d+) messages will not go out; (\d+) had already gone\.", boss.message(sure[-1]["message_id"])["text"]
        ).groups())
        assert told == [] and stopped + gone == 5000 and gone >= 2500
        received = campaign_messages(bot, "the winter sale is on!", before)
        assert len(received) == gone  # the rows on the wire at the stop went; nothing after
        statuses = await OutboxMessage.filter(campaign_id=2).values_list("status", flat=True)
        assert (statuses.count("sent"), statuses.count("cancelled")) == (gone, stopped)
        sent_to = set(await OutboxMessage.filter(campaign_id=2, status="sent").values_list("customer__telegram_id", flat=True))
        assert {m["chat"]["id"] for m in received} == sent_to
        await bot.schedule.show_campaigns_progress()  # the progress job's next edit
        assert boss.message(progress_id)["text"] == f"⏹ Campaign #2 stopped: {gone} of 5000 sent · 0 blocked · 0 failed · {stopped} not sent"
        assert "reply_markup" not in boss.message(progress_id)

        assert {row.id: row.status for row in await OutboxMessage.filter(id__in=list(untouched))} == untouched
        later = bot.emulator.seq
        assert await bot.run_scheduler(NOW + timedelta(days=1, minutes=1)) == 3  # the revisit, the greeting, the other campaign
        assert campaign_messages(bot, "the winter sale is on!", later) == []
        assert {revisit.id, greeting.id} <= set(await OutboxMessage.filter(status="sent").values_list("id", flat=True))


@pytest.mark.slow
async def test_the_agent_group_is_answered_while_a_campaign_is_being_queued(start_bot, monkeypatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK", 50)  # 100 chunks: the group's turn comes between two
    async with start_bot(telegram=ENGLISH) as bot:
        bot.travel(NOW)
        customers = await many_customers(bot, 5000)
        boss = boss_of(bot)
        await boss.say("/campaign all")
        preview = await boss.say("{name}, new arrivals!")
        pressed = bot.emulator.press_button(boss.id, preview[-1], "cp:send")
        asked = bot.emulator.send_text(boss.id, "/tickets", chat_id=boss.chat_id)  # right behind the press
        await bot.handled(pressed)
        await bot.handled(asked)
        assert bot.emulator.history(boss.chat_id)[-1]["text"] == "No tickets in “open”. 🎉"
        assert await OutboxMessage.all().count() < 5000  # answered while the rows were being written
        assert (await Campaign.get(id=1)).status == "queueing"

        await bot.campaigns_queued()
        campaign = await Campaign.get(id=1)
        assert (campaign.status, campaign.total) == ("running", 5000)
        assert sorted(await OutboxMessage.filter(campaign_id=1).values_list("customer_id", flat=True)) == [c.id for c in customers]


async def test_a_campaign_whose_process_died_while_queueing_is_completed_once_after_the_restart(start_bot, monkeypatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK", 100)
    async with start_bot(scheduler=FAST, telegram=ENGLISH) as bot:
        bot.travel(NOW)
        customers = await many_customers(bot, 450)
        dead = "host-b:8443"  # the process that started it, killed after two chunks
        await fleet.beat(dead, datetime.now(UTC), starting=True)
        campaign = await start_campaign("all", text="{name}, our sale!", template=None, author_telegram_id=SUPERVISOR_ID,
                                        now=NOW, worker=dead)
        chunks = count()
        assert await queue_rows(campaign.id, dead, running=lambda: next(chunks) < 2) is False
        assert await OutboxMessage.filter(campaign_id=campaign.id).count() == 200
        assert await bot.run_scheduler() == 200  # its process is alive: nobody else queues for it

        await fleet.beat(dead, datetime.now(UTC), starting=True)  # it starts again: what it held is a dead one's
        await Campaign.filter(id=campaign.id).update(queued_through_id=0)  # even a chunk written twice …
        before = bot.emulator.seq
        assert await bot.run_scheduler() == 250
        rows = await OutboxMessage.filter(campaign_id=campaign.id).values_list("customer_id", flat=True)
        assert sorted(rows) == [c.id for c in customers]  # … gives each customer one row
        assert len(campaign_messages(bot, ", our sale!", before)) == 250
        assert (await Campaign.get(id=campaign.id)).status == "running"


async def test_a_campaign_stopped_while_queueing_queues_nothing_more(start_bot, monkeypatch) -> None:
    monkeypatch.setattr(campaigns, "CHUNK", 100)
    async with start_bot(telegram=ENGLISH) as bot:
        bot.travel(NOW)
        await many_customers(bot, 450)
        worker = fleet.instance_name(bot.settings)
        campaign = await start_campaign("all", text="Hi {name}", template=None, author_telegram_id=SUPERVISOR_ID, now=NOW, worker=worker)
        chunks = count()
        await queue_rows(campaign.id, worker, running=lambda: next(chunks) < 1)
        stopped = await campaigns.cancel_campaign(campaign.id, NOW)
        assert stopped == campaigns.Cancellation(stopped=450, gone=0)  # 100 queued rows and 350 customers never queued
        assert await queue_rows(campaign.id, worker) is False
        assert await OutboxMessage.filter(campaign_id=campaign.id).values_list("status", flat=True) == ["cancelled"] * 100
        assert await campaigns.cancel_campaign(campaign.id, NOW) is None  # once


async def test_a_row_claimed_or_on_the_wire_at_the_stop_is_not_sent_afterwards(start_bot) -> None:
    async with start_bot(scheduler=FAST, telegram=ENGLISH) as bot:
        bot.travel(NOW)
        await many_customers(bot, 3)
        worker = fleet.instance_name(bot.settings)
        campaign = await start_campaign("all", text="Hi {name}", template=None, author_telegram_id=SUPERVISOR_ID, now=NOW, worker=worker)
        await queue_rows(campaign.id, worker)
        on_the_wire, claimed, _ = await outbox.claim_due(NOW, "host-b:8443", 3)  # another process's sender
        assert await outbox.start_sending(on_the_wire, NOW)
        assert await campaigns.cancel_campaign(campaign.id, NOW) == campaigns.Cancellation(stopped=2, gone=1)
        assert not await outbox.start_sending(claimed, NOW)  # cancelled under its claim: not sent
        # Telegram said 429 to the one on the wire: it is queued for a retry, then cancelled, not sent.
        assert await outbox.retry_later(on_the_wire, NOW, "429 flood control", timedelta(seconds=1), 5)
        before = bot.emulator.seq
        assert await bot.run_scheduler(NOW + timedelta(minutes=1)) == 0
        assert bot.emulator.bot_messages(since=before) == []
        assert await OutboxMessage.filter(campaign_id=campaign.id).values_list("status", flat=True) == ["cancelled"] * 3


async def test_a_text_that_a_long_name_would_take_over_the_limit_is_refused_with_its_length(start_bot) -> None:
    async with start_bot(scheduler=FAST, telegram=ENGLISH) as bot:
        bot.travel(NOW)
        longest_name = "\U0001d4d0" * NAME_LIMIT  # 128 characters, 256 units as Telegram counts them
        user = bot.emulator.add_user(first_name=longest_name, language_code="en")
        await Customer.create(telegram_id=user["id"], first_name=longest_name, first_seen=NOW, last_seen=NOW)
        boss = boss_of(bot)
        await boss.say("/campaign all")

        too_long = "Dear {name}, " + "x" * 3900  # 3,913 characters; 4,163 with that name
        refused = await boss.say(too_long)
        assert refused.text.endswith(
            "⚠️ Too long to send: with the longest name a customer can have (128 characters) this message has 4163 "
            "characters, 67 more than the 4096 Telegram takes in one message. Write a shorter text (or use {name} fewer times)."
        )
        assert refused.buttons == ["Cancel"]

        fits = "Dear {name}, " + "x" * 3833  # 4,096 with that name: the limit, not over it
        preview = await boss.say(fits)
        assert preview.text.endswith("Longest message, with a name of 128 characters: 4096 of the 4096 characters Telegram takes.")
        assert preview.buttons == ["📤 Send to 1", "Cancel"]
        await boss.press("📤 Send to 1", preview)
        await bot.campaigns_queued()
        before = bot.emulator.seq
        assert await bot.run_scheduler() == 1
        [sent] = bot.emulator.bot_messages(user["id"], since=before)
        assert sent["text"] == fits.replace("{name}", longest_name) and utf16_len(sent["text"]) == MAX_TEXT  # whole, one message


def test_a_catalog_template_is_checked_in_every_language() -> None:
    assert longest_message(None, "sale") == max(
        utf16_len(render(OutboxMessage(kind="campaign", payload={"template": "sale"}), Customer(first_name=campaigns.WIDEST_NAME, language=lang))[0])
        for lang in ("en", "zh-Hans", "zh-Hant")
    ) < MAX_TEXT


names = st.text(st.characters(codec="utf-16", exclude_categories=("Cs",)), max_size=NAME_LIMIT)


@settings(max_examples=200, deadline=None)
@given(
    head=st.text(max_size=50), placeholders=st.integers(0, 5), filler=st.integers(3300, MAX_TEXT), name=names,
    language=st.sampled_from(["en", "zh-Hans", "zh-Hant"]),
)
def test_a_text_the_check_lets_through_fits_whatever_the_name(head: str, placeholders: int, filler: int, name: str, language: str) -> None:
    text = (head + "{name} " * placeholders + "好" * filler)[:MAX_TEXT]
    rendered, _ = render(OutboxMessage(kind="campaign", payload={"text": text}), Customer(first_name=name or "x", language=language))
    if longest_message(text, None) <= MAX_TEXT:
        assert utf16_len(rendered) <= MAX_TEXT


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argument=st.one_of(
    st.sampled_from(["", "0", "-1", "#", "#0", "99999999999999999999", "1e9", "３", "²", "2147483648", "1 2", "#1\u200b", "１２"]),
    st.text(max_size=30),
))
async def test_stop_with_any_number_gets_a_sentence(bot: Bot, supervisor: Person, argument: str) -> None:
    answer = await supervisor.say(f"/campaign stop {argument}".rstrip())
    assert answer.text.startswith(("要停止哪个营销活动？", "营销活动 #")), answer.texts


async def test_a_forged_or_foreign_stop_is_refused(bot: Bot, supervisor: Person, agent: Person) -> None:
    bot.travel(NOW)
    await many_customers(bot, 3)
    progress_id = await start_from_the_group(supervisor, "Hi {name}")
    await bot.campaigns_queued()
    await bot.handled(bot.emulator.press_button(agent.id, progress_id, "cp:stop:1", chat_id=agent.chat_id))
    assert bot.emulator.callback_answers[-1]["show_alert"] is True  # only supervisors stop a campaign
    await bot.handled(bot.emulator.press_button(supervisor.id, progress_id, "cp:stop:999999999:yes", chat_id=supervisor.chat_id, forged=True))
    assert supervisor.message(progress_id)["text"].startswith("📤 营销活动 #1")
    assert (await Campaign.get(id=1)).status == "running"
    stopped = await supervisor.say("/campaign stop #1")
    assert stopped.text == "⏹ 营销活动 #1 已停止：3 条消息不再发送；0 条已经发出。"
    assert (await supervisor.say("/campaign cancel 1")).text.startswith("营销活动 #1 不在发送中")
