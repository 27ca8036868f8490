"""/contact in the agent group: an agent opens a ticket with a customer kefu knows, by Telegram id,
customer number, phone or username, and the conversation runs in its topic; never with a customer
who blocked the bot, asked to be forgotten or was banned."""

from __future__ import annotations

import pytest

from tests.harness import Person
from ticketing.models import Customer, Ticket, TicketEvent
from ticketing.outreach import username_index


async def test_an_agent_contacts_a_known_customer_and_their_reply_lands_in_the_new_topic(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Fang", last_name="Wang", language_code="zh-CN")
    await customer.say("你好")
    emulator = customer.bot.emulator
    opened = await agent.say(f"/contact {customer.id}")
    ticket = await Ticket.get(customer__telegram_id=customer.id).prefetch_related("assignee")
    assert opened.text == f"📣 已为 Fang Wang 开启工单 #{ticket.id}，请到工单话题里给客户发消息。"
    assert ticket.status == "open" and ticket.source == "agent" and ticket.assignee.telegram_id == agent.id
    assert emulator.topics[agent.chat_id][ticket.topic_id]["name"] == f"#{ticket.id} · 其他 · Fang Wang"
    card = emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]
    assert card["message_id"] == ticket.card_message_id and "📣 由 Lei Li 主动发起" in card["text"]

    before = emulator.seq
    await agent.in_topic(ticket).say("王女士您好，您上周的退款已经到账了吗？")
    assert emulator.bot_messages(customer.chat_id, since=before)[0]["text"].startswith("王女士您好，您上周的退款已经到账了吗？")
    before = emulator.seq
    await customer.say("还没有呢")
    posted = emulator.bot_messages(agent.chat_id, since=before)
    assert [(m["text"], m.get("message_thread_id")) for m in posted] == [("还没有呢", ticket.topic_id)]
    assert await TicketEvent.filter(ticket=ticket, kind="created", actor=f"agent:{agent.id}").exists()


async def test_a_customer_is_found_by_phone_or_customer_number(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Wei", language_code="zh-CN")
    await customer.share_contact("+8613800138000")
    opened = await agent.say("/contact 138 0013 8000")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert opened.text.startswith(f"📣 已为 Wei 开启工单 #{ticket.id}")
    again = await agent.say(f"/contact {(await Customer.get(telegram_id=customer.id)).id}")
    assert again.text == f"Wei 已有进行中的工单 #{ticket.id}，请在那个工单的话题里沟通。"


async def test_nobody_unknown_blocked_or_forgotten_is_contacted(make_customer, agent: Person) -> None:
    emulator = agent.bot.emulator
    assert (await agent.say("/contact")).text.startswith("用法：/contact 客户")
    assert (await agent.say("/contact 424242")).text == "没有找到客户 424242：客户必须先给机器人发过消息。"
    blocking: Person = make_customer(first_name="Ming", language_code="zh-CN")
    await blocking.say("/human")
    topic = agent.in_topic(await Ticket.get(customer__telegram_id=blocking.id))
    emulator.block_bot(blocking.id)
    assert (await topic.say("还在吗？")).text == "⚠️ 客户已屏蔽机器人，这条消息没有送达。"  # Telegram answered 403
    await topic.say("/close")
    assert (await agent.say(f"/contact {blocking.id}")).text == "Ming 已屏蔽机器人，无法给客户发消息。"
    leaving: Person = make_customer(first_name="Hui", language_code="zh-CN")
    await leaving.say("/forgetme")
    await leaving.press("是，删除我的数据")
    refused = await agent.say(f"/contact {leaving.id}")
    assert refused.text.startswith("🕶 已要求删除个人数据（/forgetme）")
    banned: Person = make_customer(first_name="Spam", language_code="en")
    await banned.say("hi")
    await agent.say(f"/shadowban {banned.id}")
    assert (await agent.say(f"/contact {banned.id}")).text == "Spam 已被封禁或静默封禁，请先 /unban。"
    assert await Ticket.filter(source="agent").count() == 0


@pytest.mark.skipif(username_index() is None, reason="customers' usernames have no blind index in this schema")
async def test_a_customer_is_found_by_username(make_customer, agent: Person) -> None:
    customer: Person = make_customer(first_name="Jun", username="jun_shopper", language_code="zh-CN")
    await customer.say("你好")
    opened = await agent.say("/contact @Jun_Shopper")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert opened.text.startswith(f"📣 已为 Jun 开启工单 #{ticket.id}")
