"""Spam and abuse defence, as customers and agents meet it: /ban, /shadowban and /unban, the
first-contact button, and block patterns that hold a new customer's first message for a
supervisor's Allow or Ban — each in the audit trail with who did it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import Tortoise

from bot import privacy
from bot.core import crypto, db
from bot.core.config import ConfigError, SpamSettings, load_settings
from bot.intake.models import InboxUpdate
from scheduler.models import OutboxMessage
from tests.harness import Bot, Person
from ticketing import moderation
from ticketing.models import Customer, CustomerEvent, Ticket, TicketEvent, TicketMessage


async def ticket_of(customer: Person) -> Ticket:
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()


async def standing_of(customer: Person) -> str:
    return (await Customer.get(telegram_id=customer.id)).standing


async def handled_again(update_ids: list[int], status: str = "done") -> None:
    """Wait until held updates, released, have been handled (they were handled once already, so
    the processor's waiters cannot tell)."""
    for _ in range(2000):  # 20 s at most: under load a released update may wait its turn
        if await InboxUpdate.filter(update_id__in=update_ids, status=status).count() == len(update_ids):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"updates {update_ids} were not handled")


async def posted_in_general(bot: Bot, since: int) -> list[dict]:
    """What the bot posted in General since ``since``, once it has posted something (a released
    update is handled in its own task)."""
    for _ in range(2000):  # 20 s at most: under load a released update may wait its turn
        if found := general(bot, since):
            return found
        await asyncio.sleep(0.01)
    return []


def general(bot: Bot, since: int) -> list[dict]:
    """What the bot posted in the agent group's General topic since ``since``."""
    return [m for m in bot.emulator.bot_messages(bot.group["id"], since=since) if not m.get("message_thread_id")]


# -- /ban, /shadowban, /unban ----------------------------------------------------------------------


async def test_an_agent_bans_a_customer_in_their_topic_and_what_they_write_reaches_nobody(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human my parcel is late")
    ticket = await ticket_of(customer)
    before = bot.emulator.seq
    banned = await agent.in_topic(ticket).say("/ban insults the staff")
    assert banned.texts[0] == f"⛔ Lei Li 封禁了 Emma Smith ({customer.id})：其消息将被直接丢弃，未结工单已关闭（不通知客户）。/unban 可解除。"
    assert bot.emulator.bot_messages(customer.chat_id, since=before) == []  # not told, not even that the ticket closed
    assert (await Ticket.get(id=ticket.id)).status == "closed"

    before = bot.emulator.seq
    answered = await customer.say("hello?? answer me")
    await customer.say("/human")
    assert answered == [] and customer.seen[-1] == []
    assert bot.emulator.bot_messages(agent.chat_id, since=before) == []
    assert await Ticket.filter(customer__telegram_id=customer.id).count() == 1
    dropped = await InboxUpdate.filter(user_id=customer.id, status="dropped").all()
    assert len(dropped) == 2 and all(row.payload == {"update_id": row.update_id} for row in dropped)  # nothing of it kept
    assert (await Customer.get(telegram_id=customer.id)).withheld == 2

    trail = await CustomerEvent.filter(customer__telegram_id=customer.id, kind="banned").get()
    assert trail.actor == f"agent:{agent.id}" and trail.data == {"before": "cleared", "reason": "insults the staff"}
    assert await TicketEvent.filter(ticket=ticket, kind="banned", actor=f"agent:{agent.id}").exists()
    closed = await TicketEvent.filter(ticket=ticket, kind="status").order_by("-id").first()
    assert (closed.actor, closed.data) == (f"agent:{agent.id}", {"status": "closed", "reason": "banned"})


async def test_a_banned_customer_gets_no_survey_for_the_ticket_the_ban_closed(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human my parcel is late")
    ticket = await ticket_of(customer)
    await agent.in_topic(ticket).say("/ban")
    before = bot.emulator.seq
    await bot.run_scheduler(datetime.now(UTC) + timedelta(hours=2))
    assert bot.emulator.bot_messages(customer.chat_id, since=before) == []
    survey = await OutboxMessage.get(customer__telegram_id=customer.id)  # queued for the closed ticket, then cancelled
    assert (survey.kind, survey.status, survey.last_error) == ("survey", "cancelled", "the customer is banned")


async def test_a_ban_in_general_by_username_or_id_and_unban_lifts_it(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Spam", username="cheap_followers", language_code="en")
    await customer.say("/human")
    ticket = await ticket_of(customer)
    unknown = await agent.say("/ban @nobody_we_know")
    assert unknown.text == "找不到客户 @nobody_we_know。"
    usage = await agent.say("/ban")
    assert usage.text.startswith("用法：在工单话题里 /ban [原因]")
    banned = await agent.say("/ban @Cheap_Followers sells followers")
    assert banned.text.startswith(f"⛔ Lei Li 封禁了 Spam @cheap_followers ({customer.id})")
    topic = customer.bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)
    assert banned.text in [m.get("text") for m in topic]  # the ticket's topic is told why it closed
    assert (await Ticket.get(id=ticket.id)).status == "closed"
    again = await agent.say(f"/ban {customer.id}")
    assert again.text == f"Spam @cheap_followers ({customer.id}) 已经被封禁。"
    assert await customer.say("buy followers now") == []

    lifted = await agent.say(f"/unban {customer.id}")
    assert lifted.text == f"✅ Lei Li 解除了对 Spam @cheap_followers ({customer.id}) 的封禁（期间丢弃了 1 条消息）。"
    assert await standing_of(customer) == "cleared"
    assert (await customer.say("hello")).text  # answered again
    kinds = [(e.kind, e.actor) for e in await CustomerEvent.filter(customer__telegram_id=customer.id).order_by("id")]
    assert kinds == [("cleared", "system"), ("banned", f"agent:{agent.id}"), ("unbanned", f"agent:{agent.id}")]
    not_banned = await agent.say(f"/unban {customer.id}")
    assert not_banned.text.endswith("没有被封禁，也没有被静默封禁。")
    by_ticket = await agent.say(f"/shadowban #{ticket.id}")  # the customer of ticket N
    assert by_ticket.text.startswith(f"👻 Lei Li 静默封禁了 Spam @cheap_followers ({customer.id})")


async def test_a_shadowbanned_customers_messages_are_recorded_but_reach_no_agent(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human")
    ticket = await ticket_of(customer)
    shadowed = await agent.in_topic(ticket).say("/shadowban")
    assert shadowed.text.startswith("👻 Lei Li 静默封禁了 Emma Smith")
    before = bot.emulator.seq
    assert await customer.say("you are all useless idiots") == []
    assert bot.emulator.bot_messages(agent.chat_id, since=before) == []
    recorded = await TicketMessage.filter(ticket=ticket, direction=moderation.MUTE).all()
    assert [m.text for m in recorded] == ["you are all useless idiots"]
    assert (await Ticket.get(id=ticket.id)).status == "new"  # the ticket itself is as it was

    lifted = await agent.in_topic(ticket).say("/unban")
    assert lifted.text.endswith("的静默封禁（期间有 1 条消息未转给客服）。")
    before = bot.emulator.seq
    await customer.say("sorry, I was angry")
    assert [m["text"] for m in bot.emulator.bot_messages(agent.chat_id, since=before)] == ["sorry, I was angry"]
    kinds = [e.kind for e in await TicketEvent.filter(ticket=ticket).order_by("id") if e.kind.endswith("banned")]
    assert kinds == ["shadowbanned", "unbanned"]


# -- block patterns: a new customer's first message held for a supervisor ----------------------------


@pytest.fixture
async def guarded(start_bot):
    async with start_bot(spam=SpamSettings(block_patterns=[r"https?://", r"t\.me/", r"刷单"])) as running:
        yield running


async def test_a_first_message_with_a_link_waits_for_a_supervisor_who_bans(guarded: Bot) -> None:
    bot = guarded
    agent = bot.add_agent(first_name="Lei", last_name="Li", username="agent_li", language_code="zh-CN")
    supervisor = bot.add_supervisor(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")
    await supervisor.say("大家好")  # known by name
    newcomer = bot.add_customer(first_name="Promo", language_code="en")
    before = bot.emulator.seq
    told = await newcomer.say("Cheap followers at https://spam.example/buy")
    assert told.texts == ["Thank you for your message. A member of our team will look at it shortly."]
    held = general(bot, before)
    assert len(held) == 1 and held[0]["text"].startswith("🛡 新客户的第一条消息命中了拦截规则")
    assert "规则：https?://" in held[0]["text"] and "Cheap followers at https://spam.example/buy" in held[0]["text"]
    assert "Min Zhao" in held[0]["text"]  # the supervisors are mentioned
    assert await Ticket.filter(customer__telegram_id=newcomer.id).count() == 0
    assert await newcomer.say("/human please") == []  # nothing opens while it waits
    assert await Ticket.filter(customer__telegram_id=newcomer.id).count() == 0

    refused = await agent.press("⛔ 封禁", held)
    assert bot.emulator.callback_answers[-1]["text"] == "只有主管可以执行此操作。" and refused == []
    decided = await supervisor.press("⛔ 封禁", held)
    assert decided.text == f"⛔ Min Zhao 封禁了 Promo ({newcomer.id})：其消息已丢弃。"
    assert await standing_of(newcomer) == "banned"
    assert await InboxUpdate.filter(user_id=newcomer.id, status="held").count() == 0
    assert await newcomer.say("hello?") == []
    assert await CustomerEvent.filter(customer__telegram_id=newcomer.id, kind="banned", actor=f"agent:{supervisor.id}").exists()


async def test_a_held_first_message_is_delivered_once_a_supervisor_allows_it(guarded: Bot) -> None:
    bot = guarded
    supervisor = bot.add_supervisor(first_name="Min", last_name="Zhao", username="boss_zhao", language_code="zh-CN")
    newcomer = bot.add_customer(first_name="Fang", language_code="zh-CN")
    before = bot.emulator.seq
    first = bot.emulator.send_text(newcomer.id, "我要投诉，你们的链接 https://shop.example/p/1 打不开")
    await bot.handled(first)
    then = bot.emulator.send_text(newcomer.id, "快点处理")
    await bot.handled(then)
    held = general(bot, before)
    assert await Ticket.filter(customer__telegram_id=newcomer.id).count() == 0
    allowed = await supervisor.press("✅ 放行", held)
    assert allowed.text == f"✅ Min Zhao 放行了 Fang ({newcomer.id})：其消息正在送达。"
    await handled_again([first["update_id"], then["update_id"]])
    ticket = await ticket_of(newcomer)
    assert ticket is not None and ticket.is_complaint
    posted = [m.get("text") for m in bot.emulator.history(bot.group["id"], message_thread_id=ticket.topic_id)]
    assert "快点处理" in posted  # the second message joined the ticket the first one opened
    assert await standing_of(newcomer) == "cleared"
    assert "reply_markup" not in supervisor.message(held[0]["message_id"])  # decided: the buttons are gone
    assert [e.kind for e in await CustomerEvent.filter(customer__telegram_id=newcomer.id).order_by("id")] == ["held", "allowed"]


async def test_only_the_first_message_is_checked_and_commands_do_not_count(guarded: Bot) -> None:
    bot = guarded
    newcomer = bot.add_customer(first_name="Wei", language_code="en")
    await newcomer.say("/start")
    assert await standing_of(newcomer) == "new"  # every user starts with /start: not their first message
    await newcomer.say("hello")
    assert await standing_of(newcomer) == "cleared"
    before = bot.emulator.seq
    answered = await newcomer.say("see https://shop.example/p/1")
    assert answered.text and general(bot, before) == []


async def test_a_hidden_link_is_checked_too_and_a_catastrophic_pattern_holds_rather_than_hangs() -> None:
    assert moderation.blocking_pattern([r"t\.me/"], "click here\nhttps://t.me/spam_bot") == r"t\.me/"
    assert moderation.blocking_pattern([r"(a+)+$"], "a" * 5000 + "!") == r"(a+)+$"  # ran out of time: held
    assert moderation.blocking_pattern([r"https?://"], "hello") is None


def test_a_block_pattern_that_is_not_a_regular_expression_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[spam]\nblock_patterns = ["https?://", "(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"spam\.block_patterns .*'\(unclosed', which is not a regular expression"):
        load_settings(config)
    config.write_text('[spam]\nfirst_contact = "captcha"\n')
    with pytest.raises(ConfigError, match=r"spam\.first_contact"):
        load_settings(config)


async def test_a_held_customer_cannot_allow_themselves_with_a_forged_press(guarded: Bot) -> None:
    bot = guarded
    newcomer = bot.add_customer(first_name="Promo", language_code="en")
    told = await newcomer.say("join t.me/cheap_followers")
    customer = await Customer.get(telegram_id=newcomer.id)
    for data in (f"sp:allow:{customer.id}", "fc:ok"):
        await bot.handled(bot.emulator.press_button(newcomer.id, told[-1]["message_id"], data, forged=True))
    assert len(bot.emulator.callback_answers) == 2  # answered (nothing spins), and nothing done
    assert await standing_of(newcomer) == "held"
    assert await Ticket.filter(customer__telegram_id=newcomer.id).count() == 0


async def test_two_supervisors_deciding_at_once_make_one_decision(database: str) -> None:
    """Allow and Ban pressed together (two supervisors, maybe two processes): one decision is
    made and recorded, the other press finds it made."""
    held = await Customer.create(telegram_id=5, first_name="Promo", standing="held")
    one, other = await Customer.get(id=held.id), await Customer.get(id=held.id)
    now = datetime.now(UTC)
    allowed, banned = await asyncio.gather(
        moderation.allowed(one, "agent:1", now), moderation.ban(other, "agent:2", now, only_from=(moderation.Standing.HELD,))
    )
    assert [bool(allowed), banned is not None].count(True) == 1
    assert await CustomerEvent.filter(customer=held).count() == 1
    assert (await Customer.get(id=held.id)).standing in ("cleared", "banned")


# -- the first-contact button ------------------------------------------------------------------------


async def test_a_new_customer_presses_the_button_before_anything_reaches_the_agents(start_bot) -> None:
    async with start_bot(spam=SpamSettings(first_contact="button")) as bot:
        agent = bot.add_agent(first_name="Lei", last_name="Li", username="agent_li", language_code="zh-CN")
        newcomer = bot.add_customer(first_name="Emma", language_code="en")
        before = bot.emulator.seq
        start = bot.emulator.send_text(newcomer.id, "/start")
        asked = await newcomer.exchange(start)
        assert asked.texts == [
            "👋 Welcome! Before we start, please tap the button below to show that you are a person. What you wrote is kept and answered right after."
        ]
        assert asked.buttons == ["✅ I'm not a robot"]
        human = bot.emulator.send_text(newcomer.id, "/human my parcel never came")
        assert await newcomer.exchange(human) == []  # asked once, not with every message
        assert bot.emulator.bot_messages(agent.chat_id, since=before) == []
        assert await Ticket.filter(customer__telegram_id=newcomer.id).count() == 0

        await newcomer.press("✅ I'm not a robot")
        await handled_again([start["update_id"], human["update_id"]])
        assert newcomer.message(asked[0]["message_id"])["text"] == "Thank you! Here we go."
        texts = [m["text"] for m in bot.emulator.bot_messages(newcomer.chat_id, since=before)]
        assert texts[-2].startswith("Hello Emma!") and "#" in texts[-1]  # /start, then /human, in their order
        assert await ticket_of(newcomer) is not None and await standing_of(newcomer) == "cleared"
        assert await CustomerEvent.filter(customer__telegram_id=newcomer.id, kind="verified", actor="customer").exists()


async def test_with_both_checks_the_button_comes_first_and_then_the_first_message_is_checked(start_bot) -> None:
    async with start_bot(spam=SpamSettings(first_contact="button", block_patterns=[r"https?://"])) as bot:
        newcomer = bot.add_customer(first_name="Promo", language_code="en")
        first = bot.emulator.send_text(newcomer.id, "free money at https://scam.example")
        asked = await newcomer.exchange(first)
        assert asked.buttons == ["✅ I'm not a robot"]
        before = bot.emulator.seq
        await newcomer.press("✅ I'm not a robot")
        await handled_again([first["update_id"]], status="held")  # released, checked, held again
        assert [m["text"].split("\n")[0] for m in await posted_in_general(bot, before)] == ["🛡 新客户的第一条消息命中了拦截规则，已暂扣：主管决定之前不会建单。"]
        assert await standing_of(newcomer) == "held"


async def test_a_customer_known_before_the_check_was_turned_on_is_not_asked(start_bot) -> None:
    async with start_bot(spam=SpamSettings(first_contact="button")) as bot:
        known = bot.add_customer(first_name="Old", language_code="en")
        await Customer.create(telegram_id=known.id, first_name="Old", standing="cleared")
        assert (await known.say("hello")).buttons != ["✅ I'm not a robot"]


async def test_forgetme_goes_through_whatever_the_customer_did(customer: Person, agent: Person) -> None:
    await customer.say("hi")
    await agent.say(f"/ban {customer.id}")
    asked = await customer.say("/forgetme")
    assert asked.buttons == ["Yes, delete my data", "No, keep it"]


# -- upgrading --------------------------------------------------------------------------------------


@pytest.mark.slow  # migrates a new database step by step (5 s)
async def test_customers_from_before_are_cleared_and_found_by_username_after_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'old.db'}"
    config = db.tortoise_config(url)
    from tortoise.migrations.api import migrate

    await migrate(config=config, target=f"{db.APP}.0013_kb_candidates")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    name = crypto.keyring().encrypt("old_shopper")
    await Tortoise.get_connection("default").execute_script(
        "INSERT INTO customer (telegram_id, first_name, username, language, language_chosen, blocked, opted_out, first_seen,"
        f" last_seen, segment, tags) VALUES (77, 'Old', '{name}', 'en', false, false, false, '2026-01-01 00:00:00+00',"
        " '2026-01-01 00:00:00+00', 'new', '[]')"
    )
    await Tortoise.close_connections()
    await db.connect(url, ready=privacy.prepare)  # kefu run, or kefu db upgrade with the key
    try:
        customer = await Customer.get(telegram_id=77)
        assert (customer.standing, customer.withheld, customer.username) == ("cleared", 0, "old_shopper")
        assert (await moderation.find_customer("@OLD_shopper", 2**63 - 1)).telegram_id == 77
    finally:
        await db.disconnect()
