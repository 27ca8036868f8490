"""An agent who resolves a ticket that began with a question the bot could not answer is offered,
in the ticket's topic, to teach that question: to one of the entries the router suggests for it,
or as a new entry answered the way the agent answered the customer. Any agent may press; the
live KB learns at once (saved to the learned file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.models import Question
from tests.harness import Bot, Person, Replies
from ticketing.models import Ticket

QUESTION = "parcel came damaged"  # middle band: a "did you mean" whose first suggestion is damaged_item


async def handed_over(customer: Person, question: str) -> Ticket:
    asked = await customer.say(question)
    await customer.press("💬 Talk to a person", asked)
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()


async def resolved(agent: Person, ticket: Ticket, reply: str = "") -> Replies:
    """The ticket resolved from its topic; the replies from the offer on, if one was made."""
    topic = agent.in_topic(ticket)
    if reply:
        await topic.say(reply)
    replies = await topic.say("/resolve")
    return Replies([m for m in replies if "始于" in m.get("text", "")])


async def test_the_question_is_attached_to_a_suggested_entry_and_answered_outright(
    bot: Bot, make_customer, agent: Person
) -> None:
    kb = bot.app.bot_data.kb
    assert kb.route(QUESTION).band == "middle" and kb.route(QUESTION).suggestions[0].entry_id == "damaged_item"
    ticket = await handed_over(make_customer(language_code="en"), QUESTION)
    offer = await resolved(agent, ticket)
    assert f"工单 #{ticket.id} 始于一个机器人答不出的问题：“{QUESTION}”" in offer.text
    assert offer.buttons[0] == "➕ 加入 damaged_item"
    assert "🆕 用你的回答新建条目" not in offer.buttons  # the agent wrote the customer nothing

    taught = await agent.press("➕ 加入 damaged_item", offer)
    assert taught.text == f"已把“{QUESTION}”加入 damaged_item，机器人从现在起会回答它。"
    assert (await make_customer(language_code="en").say(QUESTION)).text == kb.answer("damaged_item", "en")
    learned = yaml.safe_load(Path(bot.settings.knowledge_base.learned_file).read_text())
    assert any(e["id"] == "damaged_item" and QUESTION in e["questions"]["en"] for e in learned["entries"])
    assert "parcel came damaged" not in (await agent.say("/kb_missed")).text


async def test_a_new_entry_answers_as_the_agent_did(bot: Bot, make_customer, agent: Person) -> None:
    question = "can my cat pay with bitcoin"
    ticket = await handed_over(make_customer(language_code="en"), question)
    offer = await resolved(agent, ticket, "Yes, we accept bitcoin at checkout, whoever pays.")
    taught = await agent.press("🆕 用你的回答新建条目", offer)
    assert taught.text.startswith(f"已把“{question}”加入 learned_")
    assert (await make_customer(language_code="en").say(question)).text == "Yes, we accept bitcoin at checkout, whoever pays."
    with pytest.raises(ValueError, match="no inline button"):  # the offer's buttons are gone: taught once
        await agent.press("🆕 用你的回答新建条目", offer)


async def test_a_ticket_not_begun_by_an_unanswered_question_offers_nothing(customer: Person, agent: Person) -> None:
    await customer.say("/human")
    ticket = await Ticket.filter(customer__telegram_id=customer.id).first()
    assert not await resolved(agent, ticket)


async def test_a_customer_forging_the_button_teaches_nothing(bot: Bot, make_customer) -> None:
    customer = make_customer(language_code="en")
    ticket = await handed_over(customer, QUESTION)
    question = await Question.get(customer_id=ticket.customer_id)
    under = bot.emulator.bot_messages(customer.chat_id)[-1]["message_id"]
    answers = len(bot.emulator.callback_answers)
    await bot.handled(bot.emulator.press_button(customer.id, under, f"kbq:{question.id}:damaged_item", forged=True))
    assert [a.get("text") for a in bot.emulator.callback_answers[answers:]] == ["This button is no longer valid."]
    assert QUESTION not in bot.app.bot_data.kb.kb.entry("damaged_item").questions["en"]
