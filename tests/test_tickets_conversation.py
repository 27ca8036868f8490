"""A complaint becomes a ticket that agents work from a topic in the agent group."""

from __future__ import annotations

from orders.importer import load_samples
from tests.harness import Person
from ticketing.models import Ticket, TicketMessage

TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000157a5d1e20000000049454e44ae426082"
)


async def test_a_complaint_becomes_a_ticket_worked_from_its_topic(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Fang", last_name="Wang", language_code="zh-CN")
    emulator = customer.bot.emulator
    opened = await customer.say("快递一周了还没到，我要投诉")
    assert opened.text.startswith("已为您转交给我们的客服团队：工单 #")

    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert ticket.category == "logistics" and ticket.is_complaint and ticket.topic_id is not None
    assert emulator.topics[agent.chat_id][ticket.topic_id]["name"] == f"#{ticket.id} · 物流配送 · Fang Wang"
    card = emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]
    assert card["text"].startswith(f"🎫 工单 #{ticket.id} · 物流配送 · 优先级 high")
    assert "快递一周了还没到，我要投诉" in card["text"]

    topic = agent.in_topic(ticket)
    before = emulator.seq
    await topic.say("非常抱歉，我们马上帮您查一下物流。")
    to_customer = emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in to_customer] == ["非常抱歉，我们马上帮您查一下物流。\n\n— 客服 Lei Li"]

    before = emulator.seq
    await customer.say("好的，谢谢，单号是SF123")
    copied = emulator.bot_messages(agent.chat_id, since=before)
    assert [(m["text"], m.get("message_thread_id")) for m in copied] == [("好的，谢谢，单号是SF123", ticket.topic_id)]

    before = emulator.seq
    noted = await topic.say("/note 客户很着急，优先处理")
    assert noted.text == "📝 备注已保存（客户看不到）。"
    assert emulator.bot_messages(customer.chat_id, since=before) == []
    assert await TicketMessage.filter(ticket=ticket, direction="note").count() == 1

    before = emulator.seq
    await topic.say("/close")
    told = emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in told] == [f"您的工单 #{ticket.id} 已关闭，感谢您的耐心！如果还有问题，随时给我们留言。"]
    assert emulator.topics[agent.chat_id][ticket.topic_id]["closed"] is True
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "closed" and ticket.first_response_at is not None


async def test_a_photo_reaches_the_topic_and_a_document_reaches_the_customer(customer: Person, agent: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    before = emulator.seq
    await customer.send_photo(TINY_PNG, caption="the box was broken")
    photo = emulator.bot_messages(agent.chat_id, since=before)[-1]
    assert photo["photo"] and photo["caption"] == "the box was broken" and photo["message_thread_id"] == ticket.topic_id

    before = emulator.seq
    update = emulator.send_document(agent.id, b"%PDF-1.4 refund form", file_name="refund.pdf",
                                    chat_id=agent.chat_id, message_thread_id=ticket.topic_id)
    await customer.bot.handled(update)
    document = emulator.bot_messages(customer.chat_id, since=before)[-1]
    assert document["document"]["file_name"] == "refund.pdf"
    assert emulator.file_bytes(document["document"]["file_id"]) == b"%PDF-1.4 refund form"


async def test_a_problem_with_an_order_opens_a_ticket_linked_to_it(customer: Person, agent: Person) -> None:
    await load_samples()
    await customer.share_contact("+8613800000002")
    card = await customer.say("/order SO100245")
    opened = await customer.press("⚠️ Problem with this order", card)
    assert opened.text.startswith("I've passed this on to our team: ticket #")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert ticket.order_no == "SO100245" and ticket.source == "order"


async def test_customers_cannot_use_agent_commands(customer: Person) -> None:
    await customer.say("/human")
    replies = await customer.say("/close")
    assert "don't know the command /close" in replies.text
    assert (await Ticket.get(customer__telegram_id=customer.id)).status == "new"


async def test_a_non_member_pressing_a_ticket_button_is_refused(customer: Person, agent: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    outsider = emulator.add_user(first_name="Eve")
    update = emulator.press_button(outsider["id"], ticket.card_message_id, f"tk:close:{ticket.id}", chat_id=agent.chat_id)
    await customer.bot.handled(update)
    assert emulator.callback_answers[-1]["text"] == "这个按钮已失效。" and emulator.callback_answers[-1]["show_alert"]
    assert (await Ticket.get(id=ticket.id)).status == "new"


async def test_a_forged_ticket_number_in_a_button_is_refused(customer: Person, agent: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    update = emulator.press_button(agent.id, ticket.card_message_id, f"tk:close:{ticket.id + 99}", chat_id=agent.chat_id, forged=True)
    await customer.bot.handled(update)
    assert emulator.callback_answers[-1]["show_alert"] is True
    assert (await Ticket.get(id=ticket.id)).status == "new"


async def test_claim_from_the_card_then_a_second_claim_is_refused(customer: Person, agent: Person, supervisor: Person) -> None:
    emulator = customer.bot.emulator
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await customer.bot.handled(emulator.press_button(agent.id, ticket.card_message_id, f"tk:claim:{ticket.id}", chat_id=agent.chat_id))
    assert emulator.callback_answers[-1]["text"] == "🙋 Lei Li 认领了这个工单。"
    await customer.bot.handled(emulator.press_button(supervisor.id, ticket.card_message_id, f"tk:claim:{ticket.id}", chat_id=agent.chat_id))
    assert emulator.callback_answers[-1]["text"] == "这个工单已经有人认领了。"


async def test_a_second_logistics_complaint_within_30_days_is_flagged_repeat(make_customer, agent: Person) -> None:
    customer: Person = make_customer(language_code="zh-CN")
    await customer.say("快递一周了还没到，我要投诉")
    first = await Ticket.get(customer__telegram_id=customer.id)
    await agent.in_topic(first).say("/close")
    await customer.say("我要投诉，物流又延误了")
    second = await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()
    assert second.id != first.id and second.repeat_of_id == first.id
    card = customer.bot.emulator.history(agent.chat_id, message_thread_id=second.topic_id)[-1]
    assert f"⚠️ 重复投诉，前一单 #{first.id}" in card["text"]


async def test_the_sla_reminder_and_the_escalation_appear_in_the_topic(customer: Person, agent: Person, supervisor: Person) -> None:
    from datetime import timedelta

    bot = customer.bot
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    before = bot.emulator.seq
    due = ticket.first_response_due
    for moment in (due - timedelta(minutes=1), due - timedelta(seconds=30), due, due + timedelta(minutes=1)):
        bot.app.bot_data.clock = lambda moment=moment: moment
        await bot.schedule.check_sla()
    posted = bot.emulator.bot_messages(agent.chat_id, since=before)
    assert [m["text"][0] for m in posted] == ["⏰", "🚨"]  # each once
    assert all(m["message_thread_id"] == ticket.topic_id for m in posted)
    mention = next(e for e in posted[1]["entities"] if e["type"] in ("text_mention", "text_link"))
    assert str(supervisor.id) in str(mention)


async def test_a_hundred_customers_complaining_at_once_get_a_hundred_tickets_and_topics(bot, agent: Person) -> None:
    import asyncio

    emulator = bot.emulator
    customers = [emulator.add_user(first_name=f"Customer{n}", language_code="en") for n in range(100)]
    updates = [emulator.send_text(c["id"], f"/complaint my parcel {n} never arrived") for n, c in enumerate(customers)]
    await asyncio.gather(*(bot.handled(u) for u in updates))
    follow_ups = [emulator.send_text(c["id"], f"any news on parcel {n}?") for n, c in enumerate(customers)]
    await asyncio.gather(*(bot.handled(u) for u in follow_ups))

    tickets = await Ticket.all().prefetch_related("customer")
    assert len(tickets) == 100
    assert len({t.topic_id for t in tickets}) == 100 and None not in {t.topic_id for t in tickets}
    assert len(emulator.topics[agent.chat_id]) == 100
    number = {c["id"]: n for n, c in enumerate(customers)}
    for ticket in tickets:
        n = number[ticket.customer.telegram_id]
        texts = [m.get("text", "") for m in emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)]
        assert f"any news on parcel {n}?" in texts
        assert all(f"parcel {other}" not in t for t in texts for other in (n + 1, n - 1) if other != n)
