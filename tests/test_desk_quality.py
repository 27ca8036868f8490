"""Quality inspection (质检): [desk.quality] forbidden phrases stop an agent's message in the topic,
/send sends it anyway; /resolve reminds of a closing phrase once; every warning is counted per agent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.config import DeskQualitySettings, DeskSettings
from tests.harness import Bot, Person
from ticketing.models import Ticket, TicketEvent, TicketMessage
from ticketing.quality import warnings_by_agent

RULES = DeskSettings(quality=DeskQualitySettings(forbidden=["别乱说", "not my problem"], required_on_close=["还有其他问题吗"]))


@pytest.fixture
async def desk(start_bot):
    async with start_bot(desk=RULES) as bot:
        yield bot


async def opened(bot: Bot) -> tuple[Person, Person, Ticket]:
    customer = bot.add_customer(first_name="Fang", language_code="zh-CN")
    agent = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
    await customer.say("/human 我的快递丢了")
    ticket = await Ticket.filter(customer__telegram_id=customer.id).first()
    return customer, agent.in_topic(ticket), ticket


async def test_a_forbidden_phrase_stops_the_message_and_warns_the_agent_in_the_topic(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    before = desk.emulator.seq
    warned = await topic.say("您別亂說，快递没丢")  # traditional and simplified alike
    assert desk.emulator.bot_messages(customer.chat_id, since=before) == []
    assert warned.text.startswith("⚠️ 质检：这条消息含有 “别乱说”，没有发给客户。")
    assert warned[-1]["reply_to_message"]["text"] == "您別亂說，快递没丢"
    event = await TicketEvent.get(ticket=ticket, kind="quality_warning")
    assert event.actor == f"agent:{topic.id}" and event.data["rule"] == "forbidden" and event.data["phrases"] == ["别乱说"]

    before = desk.emulator.seq
    await topic.say("快递没有丢，正在派送中")  # a clean message goes through
    assert [m["text"] for m in desk.emulator.bot_messages(customer.chat_id, since=before)] == ["快递没有丢，正在派送中\n\n— 客服 Lei Li"]


async def test_send_as_a_reply_sends_the_stopped_message_anyway(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    await topic.say("Honestly that is not my problem")
    stopped = desk.emulator.history(topic.chat_id, message_thread_id=ticket.topic_id)[-2]
    before = desk.emulator.seq
    sent = await topic.reply(stopped["message_id"], "/send")
    assert [m["text"] for m in desk.emulator.bot_messages(customer.chat_id, since=before)] == [
        "Honestly that is not my problem\n\n— 客服 Lei Li"
    ]
    assert sent.text == "📤 已照发给客户（已记录）。"
    assert await TicketEvent.filter(ticket=ticket, kind="quality_override").count() == 1
    assert await TicketMessage.filter(ticket=ticket, direction="held").count() == 0
    assert (await topic.say("/send")).text.startswith("这里没有您被质检拦下、待发送的消息")


async def test_send_alone_sends_the_agents_latest_stopped_message(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    await topic.say("别乱说了，这是 **规定**")
    before = desk.emulator.seq
    await topic.say("/send")
    assert [m["text"] for m in desk.emulator.bot_messages(customer.chat_id, since=before)] == ["别乱说了，这是 **规定**\n\n— 客服 Lei Li"]
    assert (await Ticket.get(id=ticket.id)).first_response_at is not None


async def test_resolve_reminds_once_of_a_closing_phrase(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    await topic.say("已为您补发")
    reminded = await topic.say("/resolve")
    assert reminded.text.startswith("📝 质检提醒：您在这个工单里的消息都没有结束语（“还有其他问题吗”）。")
    assert (await Ticket.get(id=ticket.id)).status == "open"
    await topic.say("/resolve")  # the agent decides: resolved as it is
    assert (await Ticket.get(id=ticket.id)).status == "resolved"

    other, topic2, ticket2 = await opened(desk)
    await topic2.say("已为您补发。請問還有其他問題嗎？")
    await topic2.say("/resolve")
    assert (await Ticket.get(id=ticket2.id)).status == "resolved"


async def test_warnings_are_counted_per_agent_for_the_reports(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    await topic.say("别乱说")
    await topic.say("not my problem")
    await topic.say("/resolve")
    now = desk.app.bot_data.now()
    counts = await warnings_by_agent(now - timedelta(hours=1), now + timedelta(hours=1))
    assert counts == {topic.id: {"forbidden": 2, "required_on_close": 1}}


async def test_without_rules_nothing_is_inspected(customer: Person, agent: Person) -> None:
    await customer.say("/human")
    ticket = await Ticket.filter(customer__telegram_id=customer.id).first()
    topic = agent.in_topic(ticket)
    before = customer.bot.emulator.seq
    await topic.say("别乱说")
    assert len(customer.bot.emulator.bot_messages(customer.chat_id, since=before)) == 1
    await topic.say("/resolve")
    assert (await Ticket.get(id=ticket.id)).status == "resolved"


async def test_an_agent_who_edits_the_stopped_message_clean_sends_it_by_that_edit(desk: Bot) -> None:
    customer, topic, ticket = await opened(desk)
    await topic.say("别乱说，明天到")
    stopped = desk.emulator.history(topic.chat_id, message_thread_id=ticket.topic_id)[-2]
    again = await topic.edit(stopped["message_id"], "你别乱说，明天一定到")  # still forbidden: warned again
    assert again.text.startswith("⚠️ 质检：这条消息含有 “别乱说”")
    before = desk.emulator.seq
    await topic.edit(stopped["message_id"], "您放心，明天一定到")
    assert [m["text"] for m in desk.emulator.bot_messages(customer.chat_id, since=before)] == ["您放心，明天一定到\n\n— 客服 Lei Li"]
    assert await TicketMessage.filter(ticket=ticket, direction="held").count() == 0
    kinds = [e.kind for e in await TicketEvent.filter(ticket=ticket, kind__startswith="quality").order_by("id")]
    assert kinds == ["quality_warning", "quality_warning"]  # two warnings, no override
