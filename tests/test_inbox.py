"""Updates are stored before Telegram is told they arrived, handled once, and not lost when a
process dies; by webhook only with the secret; a customer who floods is slowed down."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.core import sql
from bot.core.i18n import text
from bot.intake import fleet, inbox
from bot.intake.fleet import take_turn
from bot.intake.models import ConversationState, InboxUpdate
from tests.harness import WEBHOOK_SECRET, Bot, Person
from ticketing.models import Ticket

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _message(update_id: int, user_id: int, text: str) -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "en"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(NOW.timestamp()), "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
        "from": user, "text": text,
    }}


async def _post(bot: Bot, payload: dict, secret: str | None) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(bot.settings.telegram.webhook_url, data=json.dumps(payload), headers=headers) as answer:
            return answer.status


async def _answered(bot: Bot, update_id: int) -> None:
    await bot.processor.wait_finished(update_id, timeout=10)


# -- the inbox as a service --------------------------------------------------------------------


async def test_a_chats_updates_are_handed_out_one_at_a_time_in_order(database: str) -> None:
    await inbox.store([_message(1, 501, "a"), _message(2, 501, "b"), _message(3, 502, "c")], NOW)
    await inbox.store([_message(1, 501, "a again")], NOW)  # Telegram sending one again: a no-op
    assert await InboxUpdate.all().count() == 3

    [first] = await inbox.claim([1], "one", NOW)
    assert first.payload["message"]["text"] == "a"
    assert await inbox.claim([1], "two", NOW) == []  # taken already
    assert await inbox.claim([2], "two", NOW) == []  # its chat's first update is still open
    assert [c.update_id for c in await inbox.claim([2, 3], "two", NOW)] == [3]  # another chat goes on

    await inbox.finish(1)
    following = await inbox.claim_next(501, "two")
    assert following is not None and following.update_id == 2 and following.payload["message"]["text"] == "b"
    assert await inbox.claim_next(501, "two") is None  # nothing else waits in that chat


async def test_one_statement_takes_each_chats_first_update_only(database: str) -> None:
    await inbox.store([_message(1, 501, "a"), _message(2, 501, "b"), _message(3, 502, "c")], NOW)
    claimed = await inbox.claim([1, 2, 3], "one", NOW, payloads=False)
    assert [(c.update_id, c.chat_id, c.payload) for c in claimed] == [(1, 501, None), (3, 502, None)]
    assert claimed[0].received_at == NOW


async def test_updates_are_taken_over_only_from_a_process_that_is_gone(database: str) -> None:
    """A live process keeps what it holds however slow it is; a gone one's updates are handed out
    again, unless a request of theirs was on the wire (in doubt) or they had replied (done)."""
    await fleet.beat("alive", NOW - timedelta(hours=1), starting=True)
    await fleet.beat("dead", NOW - timedelta(hours=1), starting=True)
    await inbox.store([_message(n, 500 + n, str(n)) for n in range(1, 6)], NOW)
    await inbox.claim([1], "alive", NOW - timedelta(minutes=50))
    await inbox.claim([2, 3, 4], "dead", NOW - timedelta(minutes=50))
    await inbox.mark_on_wire(3, True)  # its reply was being written when the process died
    await inbox.mark_on_wire(4, True)
    await inbox.mark_on_wire(4, False)  # it had replied, and was finishing
    await fleet.beat("alive", NOW)  # "dead" last beat an hour ago

    recovered = await inbox.recover(NOW)
    assert recovered.unknown == [(3, 503)] and recovered.answered == 1 and recovered.taken_over == 1
    statuses = dict(await InboxUpdate.all().order_by("update_id").values_list("update_id", "status"))
    assert statuses == {1: "processing", 2: "new", 3: "unknown", 4: "done", 5: "new"}
    assert await inbox.recover(NOW) == inbox.Recovered([], 0, [], 0)  # reported once


async def test_a_restarted_process_takes_back_what_it_held_at_once(database: str) -> None:
    await fleet.beat("kefu-1", NOW - timedelta(minutes=5), starting=True)
    await inbox.store([_message(1, 501, "a")], NOW)
    await inbox.claim([1], "kefu-1", NOW - timedelta(seconds=3))
    await fleet.beat("kefu-1", NOW, starting=True)  # killed, and started again 3 s later
    assert (await inbox.recover(NOW)).taken_over == 1


async def test_an_update_that_kills_its_process_every_time_is_set_aside(database: str) -> None:
    await inbox.store([_message(1, 501, "poison"), _message(2, 501, "next")], NOW)
    for attempt in range(inbox.MAX_ATTEMPTS):
        later = NOW + timedelta(minutes=attempt)
        assert [c.update_id for c in await inbox.claim([1, 2], f"run-{attempt}", later)] == [1]
        recovered = await inbox.recover(later + timedelta(seconds=1))  # no heartbeat: the process is gone
    assert recovered.failed == [(1, 501)]
    row = await InboxUpdate.get(update_id=1)
    assert row.status == "failed" and "died 3 times" in row.error
    assert [c.update_id for c in await inbox.claim([2], "next-run", NOW)] == [2]  # the chat goes on


async def test_the_payload_is_stored_encrypted(database: str) -> None:
    await inbox.store([_message(1, 501, "my phone is +8613800138000")], NOW)
    [raw] = await sql.rows("SELECT payload FROM inbox_update")
    assert "+8613800138000" not in str(raw["payload"]) and "Ana" not in str(raw["payload"])
    [claimed] = await inbox.claim([1], "one", NOW)
    assert claimed.payload["message"]["text"] == "my phone is +8613800138000"


async def test_a_fleet_wide_job_runs_once_per_period(database: str) -> None:
    assert await take_turn("weekly-report", "2026-11-30", "a")
    assert not await take_turn("weekly-report", "2026-11-30", "b")
    assert not await take_turn("weekly-report", "2026-11-29", "b")  # an old period never runs again
    assert await take_turn("weekly-report", "2026-12-07", "b")


async def test_handled_updates_are_forgotten_after_a_week(database: str) -> None:
    await inbox.store([_message(1, 501, "old"), _message(2, 501, "new")], NOW - timedelta(days=8))
    await inbox.claim([1], "one", NOW)
    await inbox.finish(1)
    assert await inbox.purge(NOW - timedelta(days=7)) == 1  # the unhandled one is kept
    assert await InboxUpdate.all().values_list("update_id", flat=True) == [2]


# -- by long polling ---------------------------------------------------------------------------


async def test_every_update_is_in_the_inbox_before_it_is_answered(bot: Bot, customer: Person) -> None:
    replies = await customer.say("/start")
    assert replies.text
    row = await InboxUpdate.get(user_id=customer.id)
    assert row.status == "done" and row.replying and row.payload["message"]["text"] == "/start"


async def test_updates_left_by_a_process_that_died_are_handled_at_start(start_bot, emulator) -> None:
    ana, bo, cy = (emulator.add_user(first_name=name, language_code="en") for name in ("Ana", "Bo", "Cy"))
    await inbox.store([_message(9001, ana["id"], "/help"), _message(9002, bo["id"], "/help"), _message(9003, cy["id"], "/help")], NOW)
    # What this very service (kefu-1) held when it died: one not yet answered, one being answered.
    await fleet.beat("kefu-1", NOW - timedelta(minutes=1), starting=True)
    await InboxUpdate.filter(update_id__in=[9002, 9003]).update(status="processing", claimed_by="kefu-1", claimed_at=NOW)
    await inbox.mark_on_wire(9003, True)

    async with start_bot(telegram={"instance": "kefu-1"}) as bot:
        await _answered(bot, 9001)
        await _answered(bot, 9002)
        assert len(emulator.bot_messages(ana["id"])) == 1  # never acknowledged: handled
        assert len(emulator.bot_messages(bo["id"])) == 1  # held when it died, not yet answered: handled
        assert emulator.bot_messages(cy["id"]) == []  # it was answering: not answered twice
        warning = emulator.bot_messages(bot.group["id"])[-1]["text"]
        assert str(cy["id"]) in warning
    assert (await InboxUpdate.get(update_id=9003)).status == "unknown"


async def test_a_conversation_goes_on_in_another_process(start_bot) -> None:
    """What a conversation remembers (here: that the next message describes a complaint) lives in
    the database, so the process that takes the next message knows it."""
    async with start_bot() as bot:
        customer = bot.add_customer(first_name="Ana", language_code="en")
        asked = await customer.say("/complaint")
        assert asked.text
        assert await ConversationState.filter(scope="user", owner_id=customer.id).exists()
    async with start_bot() as restarted:
        customer.bot = restarted
        opened = await customer.say("The parcel arrived broken")
        assert "#" in opened.text
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        assert ticket.is_complaint
    assert not await ConversationState.filter(scope="user", owner_id=customer.id).exists()


async def test_a_customer_who_floods_gets_one_notice_and_the_rest_waits(bot: Bot, customer: Person) -> None:
    limit = bot.settings.telegram.flood_messages = 8
    updates = [bot.emulator.send_text(customer.id, f"/help {n}") for n in range(limit + 5)]
    for update in updates:
        await bot.handled(update)
    texts = [m["text"] for m in bot.emulator.bot_messages(customer.chat_id)]
    notices = [t for t in texts if t.startswith("You are sending messages faster")]
    assert len(notices) == 1 and len(texts) == limit + 1
    assert await InboxUpdate.filter(status="throttled").count() == 5


# -- by webhook --------------------------------------------------------------------------------


async def test_by_webhook_customers_are_answered(start_bot, emulator) -> None:
    async with start_bot(webhook=True) as bot:
        assert emulator.webhook["url"] == bot.settings.telegram.webhook_url
        customer = bot.add_customer(first_name="Ana", language_code="en")
        assert "delivery" in (await customer.say("how long does shipping take")).text.lower()
        async with aiohttp.ClientSession() as http:
            base = bot.settings.telegram.webhook_url.rsplit("/telegram", 1)[0]
            async with http.get(f"{base}/readyz") as ready:
                assert ready.status == 200 and (await ready.json())["ok"]


async def test_a_webhook_call_without_the_secret_is_refused_and_leaves_no_trace(start_bot, emulator) -> None:
    async with start_bot(webhook=True) as bot:
        ana = emulator.add_user(first_name="Ana", language_code="en")
        assert await _post(bot, _message(777_001, ana["id"], "/start"), "wrong-secret-0123456789") == 403
        assert await _post(bot, _message(777_002, ana["id"], "/start"), None) == 403
        assert await _post(bot, {"not": "an update"}, WEBHOOK_SECRET) == 400
        await asyncio.sleep(0.2)
        assert await InboxUpdate.filter(update_id__in=[777_001, 777_002]).count() == 0
        assert emulator.bot_messages(ana["id"]) == []


async def test_an_update_telegram_sends_twice_is_answered_once(start_bot, emulator) -> None:
    async with start_bot(webhook=True) as bot:
        ana = emulator.add_user(first_name="Ana", language_code="en")
        payload = _message(888_001, ana["id"], "/help")
        assert await _post(bot, payload, WEBHOOK_SECRET) == 200
        await _answered(bot, 888_001)
        assert await _post(bot, payload, WEBHOOK_SECRET) == 200
        await asyncio.sleep(0.3)
        assert len(emulator.bot_messages(ana["id"])) == 1
        assert await InboxUpdate.filter(update_id=888_001).count() == 1


async def test_a_complaint_a_dead_process_had_begun_is_answered_once_with_its_one_ticket(start_bot, emulator) -> None:
    """The dead process had opened the ticket but not yet made its topic nor answered: handled
    again, the customer's message finds its ticket, which gets its topic and card, and the
    customer their one answer."""
    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    ana = emulator.add_user(first_name="Ana", language_code="en")
    said = "I want to make a complaint, the item is damaged"
    await inbox.store([_message(9101, ana["id"], said)], NOW)
    await InboxUpdate.filter(update_id=9101).update(status="processing", claimed_by="kefu-1", claimed_at=NOW)
    customer = await record_customer(ana["id"], first_name="Ana", language_code="en")
    begun = await open_ticket(customer, text=said, source="complaint", now=NOW, policy=SlaPolicy(), customer_message_id=9101)

    async with start_bot(telegram={"instance": "kefu-1"}) as bot:
        await _answered(bot, 9101)
        answers = emulator.bot_messages(ana["id"])
        assert len(answers) == 1 and f"#{begun.ticket.id}" in answers[0]["text"]
        assert await Ticket.all().count() == 1
        ticket = await Ticket.get(id=begun.ticket.id)
        assert ticket.topic_id is not None and ticket.card_message_id is not None
        assert list(emulator.topics[bot.group["id"]]) == [ticket.topic_id]
    assert (await InboxUpdate.get(update_id=9101)).status == "done"


# -- updates python-telegram-bot cannot read ---------------------------------------------------


def _without_date(update_id: int, user_id: int) -> dict:
    broken = _message(update_id, user_id, "hello?")
    del broken["message"]["date"]
    return broken


def _poll_without_required_fields(update_id: int) -> dict:
    """As an older self-hosted Bot API server sends a poll: without fields python-telegram-bot requires."""
    return {"update_id": update_id, "poll": {"id": "5001", "question": "Which?", "options": [{"text": "a"}]}}


async def _unreadable_set_aside_and_the_chat_goes_on(bot: Bot, emulator, deliver) -> None:
    ana, bo = (emulator.add_user(first_name=name, language_code="en") for name in ("Ana", "Bo"))
    before = emulator.seq
    await deliver(_without_date(990_001, ana["id"]))
    await deliver(_poll_without_required_fields(990_002))
    await deliver(_message(990_003, ana["id"], "/help"))  # the same customer's next message
    await deliver(_message(990_004, bo["id"], "/help"))  # and another customer
    await _answered(bot, 990_003)
    await _answered(bot, 990_004)
    assert len(emulator.bot_messages(ana["id"], since=before)) == 1
    assert len(emulator.bot_messages(bo["id"], since=before)) == 1
    failed = await InboxUpdate.filter(status="failed").order_by("update_id")
    assert [row.update_id for row in failed] == [990_001, 990_002]
    assert all(row.error.startswith("cannot be read") for row in failed)
    notices = [m["text"] for m in emulator.bot_messages(bot.group["id"], since=before)]
    language = bot.settings.telegram.agent_language
    assert notices == [  # each reported once, naming the chat where there is one
        text(language, "agent_inbox_failed", count=1, chats=str(ana["id"])), text(language, "agent_inbox_failed", count=1, chats=""),
    ]


async def test_by_polling_an_update_that_cannot_be_read_is_set_aside_and_nothing_waits_for_it(start_bot, emulator) -> None:
    async with start_bot() as bot:

        async def deliver(update: dict) -> None:
            emulator.inject_update(update)
            for _ in range(200):  # stored before the next comes: separate getUpdates batches, as they would come
                if await InboxUpdate.filter(update_id=update["update_id"]).exists():
                    break
                await asyncio.sleep(0.05)

        await _unreadable_set_aside_and_the_chat_goes_on(bot, emulator, deliver)
    async with start_bot() as restarted:  # a restart does not bring them back
        await asyncio.sleep(1.5)
        assert await InboxUpdate.filter(status="failed").count() == 2
        assert emulator.bot_messages(restarted.group["id"]) == []  # not handled, nor reported, again


async def test_by_webhook_an_update_that_cannot_be_read_is_set_aside_and_acknowledged(start_bot, emulator) -> None:
    async with start_bot(webhook=True) as bot:

        async def deliver(update: dict) -> None:
            assert await _post(bot, update, WEBHOOK_SECRET) == 200  # stored: Telegram need not send it again

        await _unreadable_set_aside_and_the_chat_goes_on(bot, emulator, deliver)
        base = bot.settings.telegram.webhook_url.rsplit("/telegram", 1)[0]
        async with aiohttp.ClientSession() as http, http.get(f"{base}/readyz") as ready:
            assert ready.status == 200 and (await ready.json())["failed_updates"] == 2


async def test_a_whole_polled_batch_that_cannot_be_read_is_stored_and_read_update_by_update(start_bot, emulator) -> None:
    """python-telegram-bot reads a getUpdates answer as one: one odd update made it fail whole."""
    ana = emulator.add_user(first_name="Ana", language_code="en")
    emulator.inject_update(_message(991_001, ana["id"], "/help"))
    emulator.inject_update(_poll_without_required_fields(991_002))
    emulator.inject_update(_message(991_003, ana["id"], "/start"))
    async with start_bot() as bot:
        await _answered(bot, 991_001)
        await _answered(bot, 991_003)
        assert len(emulator.bot_messages(ana["id"])) == 2
        assert (await InboxUpdate.get(update_id=991_002)).status == "failed"
