"""Working tickets from the agent group: assign, snippets, priority, pending, resolve, reopen, the
queue — and the customer's side of it: category, "problem solved", /mytickets."""

from __future__ import annotations

from datetime import timedelta

from tests.harness import Person
from ticketing.models import Ticket, TicketEvent


async def ticket_of(customer: Person) -> Ticket:
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()


async def test_a_supervisor_assigns_the_ticket_to_an_agent_by_username(customer: Person, agent: Person, supervisor: Person) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    await agent.say("大家好")  # an agent becomes known by writing in the group
    refused = await agent.in_topic(ticket).say("/assign @agent_li")
    assert refused.text == "只有主管可以执行此操作。"
    assigned = await supervisor.in_topic(ticket).say("/assign @agent_li")
    assert assigned.text == "👤 Min Zhao 把这个工单分配给了 Lei Li。"
    ticket = await Ticket.get(id=ticket.id).prefetch_related("assignee")
    assert ticket.assignee.telegram_id == agent.id and ticket.status == "open"
    unknown = await supervisor.in_topic(ticket).say("/assign @nobody_here")
    assert unknown.text.startswith("还不认识这位客服")


async def test_a_snippet_reaches_the_customer_filled_in(make_customer, agent: Person, supervisor: Person) -> None:
    customer: Person = make_customer(first_name="Fang", last_name="Wang", language_code="zh-CN")
    await customer.say("/human")
    ticket = await ticket_of(customer)
    saved = await supervisor.say("/snippets add sorry {customer_name}您好，工单 #{ticket_no} 我们正在加急处理。")
    assert saved.text == "💾 快捷回复“sorry”已保存，用 /snippet sorry 发送。"
    bad = await supervisor.say("/snippets add oops Hi {name}")
    assert bad.text.startswith("未知的占位符 {name}")
    listed = await agent.say("/snippets")
    assert "• sorry: {customer_name}您好" in listed.text
    emulator = customer.bot.emulator
    before = emulator.seq
    await agent.in_topic(ticket).say("/snippet sorry")
    told = emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in told] == [f"Fang Wang您好，工单 #{ticket.id} 我们正在加急处理。\n\n— 客服 Lei Li"]
    assert (await Ticket.get(id=ticket.id)).first_response_at is not None


async def test_the_priority_button_on_the_card_changes_priority_and_due_time(customer: Person, agent: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await ticket_of(customer)
    assert ticket.priority == "normal"
    await customer.bot.handled(emulator.press_button(agent.id, ticket.card_message_id, f"tk:prio:{ticket.id}", chat_id=agent.chat_id))
    choice = emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]
    assert choice["text"].startswith(f"工单 #{ticket.id} 当前优先级 normal")
    await customer.bot.handled(emulator.press_button(agent.id, choice["message_id"], f"tk:prio:{ticket.id}:urgent", chat_id=agent.chat_id))
    changed = await Ticket.get(id=ticket.id)
    assert changed.priority == "urgent" and changed.first_response_due < ticket.first_response_due
    assert emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]["text"].startswith("⚡ Lei Li 把优先级改为 urgent")


async def test_the_customer_confirms_another_category_and_the_topic_is_renamed(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Fang", last_name="Wang", language_code="zh-CN")
    opened = await customer.say("我要投诉，你们太过分了")
    ticket = await ticket_of(customer)
    assert ticket.category == "other"
    assert "我们把它归为“其他”，对吗？" in opened.text and "✅ 没错" in opened.buttons
    await customer.press("支付", opened)
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.category == "payment"
    assert customer.message(opened[-1]["message_id"])["text"].endswith("类别：支付 ✔")
    assert customer.bot.emulator.topics[agent.chat_id][ticket.topic_id]["name"] == f"#{ticket.id} · 支付 · Fang Wang"


async def test_a_customer_cannot_press_buttons_of_someone_elses_ticket(make_customer, agent: Person) -> None:
    emulator = agent.bot.emulator
    victim: Person = make_customer(first_name="Fang")
    await victim.say("/complaint the parcel is late")
    ticket = await ticket_of(victim)
    attacker: Person = make_customer(first_name="Eve")
    await attacker.say("hello")
    for data in (f"tc:solved:{ticket.id}", f"tc:cat:{ticket.id}:payment"):
        await agent.bot.handled(emulator.press_button(attacker.id, attacker.seen[-1][-1]["message_id"], data, forged=True))
        assert emulator.callback_answers[-1]["show_alert"] is True
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "new" and ticket.category == "logistics"


async def test_solved_then_writing_again_reopens_the_ticket(customer: Person, agent: Person) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    topic = agent.in_topic(ticket)
    await topic.say("I've sent a replacement.")
    reply = customer.bot.emulator.bot_messages(customer.chat_id)[-1]
    assert reply["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Problem solved"
    thanks = await customer.press("✅ Problem solved", [reply])
    assert thanks.text.startswith(f"Glad it's solved! Ticket #{ticket.id} is marked as resolved.")
    assert (await Ticket.get(id=ticket.id)).status == "resolved"
    assert customer.bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]["text"] == f"✅ 客户把工单 #{ticket.id} 标记为已解决。"

    before = customer.bot.emulator.seq
    await customer.say("Sorry, the replacement is broken too")
    posted = [m["text"] for m in customer.bot.emulator.bot_messages(agent.chat_id, since=before)]
    assert posted == [f"🔄 客户又留言了：工单 #{ticket.id} 已重新打开。", "Sorry, the replacement is broken too"]
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "open" and ticket.reopen_count == 1


async def test_pending_without_reply_is_resolved_then_closed_automatically(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human")
    ticket = await ticket_of(customer)
    paused = await agent.in_topic(ticket).say("/pending")
    assert paused.text.startswith("⏸ 等待客户回复")
    start = (await Ticket.get(id=ticket.id)).paused_at
    bot.app.bot_data.clock = lambda: start + timedelta(days=3, minutes=1)
    before = bot.emulator.seq
    await bot.schedule.check_life_cycle()
    told = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in told] == [
        f"We haven't heard back from you, so ticket #{ticket.id} is now marked as solved. If you still need help, just write here within 7 days."
    ]
    bot.app.bot_data.clock = lambda: start + timedelta(days=10, minutes=2)
    await bot.schedule.check_life_cycle()
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "closed" and bot.emulator.topics[agent.chat_id][ticket.topic_id]["closed"]
    assert await TicketEvent.filter(ticket=ticket, kind="status", actor="system").count() == 2


async def test_agents_resolve_and_reopen_from_the_topic(customer: Person, agent: Person) -> None:
    customer.bot.emulator.set_member(agent.chat_id, agent.id, "administrator")  # may still write in a closed topic
    await customer.say("/human")
    ticket = await ticket_of(customer)
    topic = agent.in_topic(ticket)
    before = customer.bot.emulator.seq
    await topic.say("/resolve")
    told = customer.bot.emulator.bot_messages(customer.chat_id, since=before)
    assert told[-1]["text"].startswith(f"Our team has marked ticket #{ticket.id} as solved.")
    await topic.say("/close")
    refused = await topic.say("are you there?")
    assert refused.text.startswith(f"工单 #{ticket.id} 已关闭，消息没有发给客户")
    reopened = await topic.say("/reopen")
    assert reopened.text == f"🔄 工单 #{ticket.id} 已由 Lei Li 重新打开。"
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "open" and not customer.bot.emulator.topics[agent.chat_id][ticket.topic_id]["closed"]


async def test_the_queue_and_one_ticket_in_general(make_customer, agent: Person) -> None:
    first: Person = make_customer(first_name="Fang")
    second: Person = make_customer(first_name="Wei")
    await first.say("/human")
    await second.say("/human")
    one, two = await ticket_of(first), await ticket_of(second)
    await agent.in_topic(one).say("/claim")
    mine = await agent.say("/tickets mine")
    assert f"#{one.id} · Fang" in mine.text and f"#{two.id}" not in mine.text
    unassigned = await agent.say("/tickets unassigned")
    assert f"#{two.id} · Wei" in unassigned.text and f"#{one.id} ·" not in unassigned.text
    link = f"https://t.me/c/{str(agent.chat_id)[4:]}/{two.topic_id}"
    assert any(e.get("url") == link for e in unassigned[-1].get("entities", []))
    shown = await agent.say(f"/ticket {one.id}")
    assert "负责人 Lei Li" in shown.text
    assert (await agent.say("/ticket 999")).text == "没有工单 #999。"
    assert (await agent.say("/tickets everything")).text.startswith("用法：/tickets")


async def test_customers_see_only_their_own_tickets(make_customer, agent: Person) -> None:
    fang: Person = make_customer(first_name="Fang", language_code="en")
    wei: Person = make_customer(first_name="Wei", language_code="en")
    await fang.say("/complaint my parcel is late")
    await agent.in_topic(await ticket_of(fang)).say("/close")
    assert (await wei.say("/mytickets")).text.startswith("You have no tickets with us.")
    listed = await fang.say("/mytickets")
    ticket = await ticket_of(fang)
    assert listed.text.splitlines() == ["Your tickets:", f"#{ticket.id} · Logistics · closed · opened {ticket.created_at:%Y-%m-%d}"]


async def test_a_topic_deleted_by_hand_is_recreated_with_the_card(customer: Person, agent: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await ticket_of(customer)
    emulator.delete_topic(agent.chat_id, ticket.topic_id)
    await customer.say("hello? anyone?")
    moved = await Ticket.get(id=ticket.id)
    assert moved.topic_id not in (None, ticket.topic_id)
    texts = [m.get("text", "") for m in emulator.history(agent.chat_id, message_thread_id=moved.topic_id)]
    assert texts[-2].startswith(f"🎫 工单 #{ticket.id}") and texts[-1] == "hello? anyone?"
    assert await TicketEvent.filter(ticket=ticket, kind="topic_recreated").count() == 1


async def test_in_a_plain_group_agents_reply_to_the_customers_messages(start_bot) -> None:
    async with start_bot(forum=False) as bot:
        customer = bot.add_customer(first_name="Emma", language_code="en")
        agent = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
        await customer.say("/human")
        assert bot.emulator.count("createForumTopic") == 0  # a plain group is never asked for a topic
        before = bot.emulator.seq
        await customer.say("my parcel is broken")
        copied = bot.emulator.bot_messages(agent.chat_id, since=before)[-1]
        assert copied["text"] == "my parcel is broken" and "message_thread_id" not in copied
        before = bot.emulator.seq
        await agent.reply(copied["message_id"], "We'll send a new one today.")
        told = bot.emulator.bot_messages(customer.chat_id, since=before)
        assert [m["text"] for m in told] == ["We'll send a new one today.\n\n— Lei Li, customer service"]
        await agent.say("just chatting in the group")  # not a reply: reaches nobody
        assert bot.emulator.bot_messages(customer.chat_id, since=before)[1:] == []


# -- a ticket posted once, whoever posts it ----------------------------------------------------


async def test_a_complainer_is_answered_before_the_agent_group_is_posted(customer: Person, agent: Person) -> None:
    """In a burst, the group's posts wait for Telegram's 20 a minute: the customer does not."""
    emulator = customer.bot.emulator
    before = emulator.seq
    await customer.say("I want to make a complaint, the item is damaged")
    order = [m["chat"]["id"] for m in emulator.bot_messages(since=before)]
    assert order[0] == customer.chat_id and agent.chat_id in order[1:]


async def test_a_ticket_left_unposted_by_a_crash_is_posted_by_the_watch_once(customer: Person, agent: Person) -> None:
    """The process answered the customer and died before it posted the ticket in the group."""
    from datetime import UTC, datetime

    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    bot = customer.bot
    opened_at = datetime.now(UTC)
    stored = await record_customer(customer.id, first_name="Emma", language_code="en")
    ticket = (await open_ticket(stored, text="the parcel is broken", source="complaint", now=opened_at, policy=SlaPolicy())).ticket
    bot.travel(opened_at + timedelta(seconds=30))
    await bot.schedule.post_unposted()
    assert (await Ticket.get(id=ticket.id)).card_requested_at is None  # a live process may still be posting it
    bot.travel(opened_at + timedelta(minutes=3))
    await bot.schedule.post_unposted()
    await bot.schedule.post_unposted()
    posted = await Ticket.get(id=ticket.id)
    assert posted.topic_id is not None and posted.card_message_id is not None
    names = [t["name"] for t in bot.emulator.topics[agent.chat_id].values()]
    assert sum(name.startswith(f"#{ticket.id} ") for name in names) == 1
    cards = [m for m in bot.emulator.bot_messages(agent.chat_id) if m.get("reply_markup")]
    assert [m["message_id"] for m in cards] == [posted.card_message_id]


async def test_a_customer_writing_to_an_unposted_ticket_brings_its_card_first(customer: Person, agent: Person) -> None:
    from datetime import UTC, datetime

    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    stored = await record_customer(customer.id, first_name="Emma", language_code="en")
    ticket = (await open_ticket(stored, text="the parcel is broken", source="complaint", now=datetime.now(UTC), policy=SlaPolicy())).ticket
    before = customer.bot.emulator.seq
    await customer.say("any news?")
    posted = await Ticket.get(id=ticket.id)
    in_topic = customer.bot.emulator.bot_messages(agent.chat_id, since=before)
    assert [m.get("message_thread_id") for m in in_topic] == [posted.topic_id] * 2
    assert in_topic[0]["message_id"] == posted.card_message_id and in_topic[1]["text"] == "any news?"


async def test_two_posters_of_one_ticket_make_one_topic_and_one_card(customer: Person, agent: Person) -> None:
    import asyncio
    from datetime import UTC, datetime

    from handlers.agent_group import post_ticket
    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    bot = customer.bot
    stored = await record_customer(customer.id, first_name="Emma", language_code="en")
    ticket = (await open_ticket(stored, text="the parcel is broken", source="complaint", now=datetime.now(UTC), policy=SlaPolicy())).ticket
    before = bot.emulator.seq
    copies = [await Ticket.get(id=ticket.id), await Ticket.get(id=ticket.id)]
    await asyncio.gather(*(post_ticket(bot.app, copy, stored, "the parcel is broken") for copy in copies))
    assert bot.emulator.count("createForumTopic") == 1
    cards = [m for m in bot.emulator.bot_messages(agent.chat_id, since=before) if m.get("reply_markup")]
    assert len(cards) == 1


async def test_the_watch_leaves_a_ticket_whose_update_a_live_process_is_handling(customer: Person, agent: Person) -> None:
    """In a burst the update that opened it waits minutes for the group's turn: it posts it."""
    from datetime import UTC, datetime

    from bot.intake import inbox
    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    bot = customer.bot
    opened_at = datetime.now(UTC)
    stored = await record_customer(customer.id, first_name="Emma", language_code="en")
    await open_ticket(stored, text="the parcel is broken", source="complaint", now=opened_at, policy=SlaPolicy())
    update = {"update_id": 5_000_001, "message": {"message_id": 1, "date": 0, "chat": {"id": customer.chat_id, "type": "private"}}}
    await inbox.store([update], opened_at)
    await inbox.claim([5_000_001], "a-live-process", opened_at)
    bot.travel(opened_at + timedelta(minutes=5))
    await bot.schedule.post_unposted()
    assert bot.emulator.count("createForumTopic") == 0 and not bot.emulator.bot_messages(agent.chat_id)


async def test_a_ticket_whose_topic_was_made_but_not_its_card_gets_its_card_in_that_topic(customer: Person, agent: Person) -> None:
    from datetime import UTC, datetime

    from ticketing.customers import record_customer
    from ticketing.service import SlaPolicy, open_ticket

    bot = customer.bot
    opened_at = datetime.now(UTC)
    stored = await record_customer(customer.id, first_name="Emma", language_code="en")
    ticket = (await open_ticket(stored, text="the parcel is broken", source="complaint", now=opened_at, policy=SlaPolicy())).ticket
    topic = await bot.app.bot.create_forum_topic(agent.chat_id, f"#{ticket.id} · made before the crash")
    await Ticket.filter(id=ticket.id).update(topic_id=topic.message_thread_id, topic_requested_at=opened_at)
    bot.travel(opened_at + timedelta(minutes=3))
    await bot.schedule.post_unposted()
    posted = await Ticket.get(id=ticket.id)
    card = next(m for m in bot.emulator.bot_messages(agent.chat_id) if m["message_id"] == posted.card_message_id)
    assert card.get("message_thread_id") == topic.message_thread_id and bot.emulator.count("createForumTopic") == 1
