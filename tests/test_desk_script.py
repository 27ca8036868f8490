"""A customer who writes traditional Chinese reads agents' replies in traditional, whatever script
the agent typed; the topic shows what was sent. [desk] convert_script = false sends replies as typed."""

from __future__ import annotations

from telegram import MessageEntity

from bot.core.config import DeskSettings, TicketsSettings
from handlers.script import convert_keeping_entities
from tests.harness import Person
from ticketing.models import Ticket, TicketMessage


async def ticket_of(customer: Person) -> Ticket:
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()


async def test_a_traditional_chinese_customer_receives_the_agents_simplified_reply_in_traditional(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Mei", language_code="zh-TW")
    await customer.say("/human 我的訂單還沒到")
    ticket = await ticket_of(customer)
    emulator = customer.bot.emulator
    before = emulator.seq
    shown = await agent.in_topic(ticket).say("您好，您的订单已经发货了，请耐心等待。")
    told = emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in told] == ["您好，您的訂單已經發貨了，請耐心等待。\n\n— 客服 Lei Li"]
    assert shown.text == "🔤 已按客户习惯转为繁体发送：\n您好，您的訂單已經發貨了，請耐心等待。"
    stored = await TicketMessage.filter(ticket=ticket, direction="out").first()
    assert stored.text == "您好，您的訂單已經發貨了，請耐心等待。"


async def test_an_agents_edit_and_album_reach_a_traditional_chinese_customer_in_traditional(start_bot) -> None:
    async with start_bot(tickets=TicketsSettings(album_wait_ms=100)) as bot:
        customer = bot.add_customer(first_name="Mei", language_code="zh-TW")
        agent = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
        await customer.say("/human 我的訂單還沒到")
        topic = agent.in_topic(await ticket_of(customer))
        before = bot.emulator.seq
        await topic.say("订单明天到")
        sent = bot.emulator.bot_messages(customer.chat_id, since=before)[0]
        mine = bot.emulator.history(topic.chat_id, message_thread_id=topic.thread_id)[-2]  # then the topic's 🔤 post
        await topic.edit(mine["message_id"], "订单后天到")
        assert customer.message(sent["message_id"])["text"] == "訂單後天到\n\n— 客服 Lei Li"
        before = bot.emulator.seq
        await topic.send_album([b"\x89PNG one", b"\x89PNG two"], captions=["这是快递单", "这是包裹"])
        got = bot.emulator.bot_messages(customer.chat_id, since=before)
        assert [m["caption"] for m in got] == ["這是快遞單\n\n— 客服 Lei Li", "這是包裹"]


async def test_replies_to_simplified_and_english_customers_go_as_typed_and_the_topic_stays_quiet(make_customer, agent: Person) -> None:
    for name, language, said in (("Fang", "zh-CN", "/human 我的订单还没到"), ("Emma", "en", "/human my parcel is late")):
        customer: Person = make_customer(first_name=name, language_code=language)
        await customer.say(said)
        ticket = await ticket_of(customer)
        before = customer.bot.emulator.seq
        shown = await agent.in_topic(ticket).say("您的订单已经发货了")
        assert customer.bot.emulator.bot_messages(customer.chat_id, since=before)[0]["text"].startswith("您的订单已经发货了\n\n")
        assert shown == []


async def test_a_shop_can_turn_the_conversion_off(start_bot) -> None:
    async with start_bot(desk=DeskSettings(convert_script=False)) as bot:
        customer = bot.add_customer(first_name="Mei", language_code="zh-TW")
        agent = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
        await customer.say("/human 我的訂單還沒到")
        ticket = await ticket_of(customer)
        before = bot.emulator.seq
        shown = await agent.in_topic(ticket).say("您的订单已经发货了")
        assert bot.emulator.bot_messages(customer.chat_id, since=before)[0]["text"].startswith("您的订单已经发货了\n\n")
        assert shown == []


def test_the_agents_formatting_stays_on_the_same_words_when_a_phrase_changes_length() -> None:
    bold = MessageEntity(MessageEntity.BOLD, 1, 2)  # "U盘" in "买U盘😀，用鼠标"
    link = MessageEntity(MessageEntity.TEXT_LINK, 7, 2, url="https://shop.example/mouse")  # "鼠标", after an emoji (2 UTF-16 units)
    converted, (bold_after, link_after) = convert_keeping_entities("买U盘😀，用鼠标", [bold, link])
    assert converted == "買隨身碟😀，用滑鼠"
    assert (bold_after.offset, bold_after.length) == (1, 3)
    assert (link_after.offset, link_after.length, link_after.url) == (8, 2, "https://shop.example/mouse")
