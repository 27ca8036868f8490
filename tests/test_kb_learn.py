"""The bot learns from its own chats: a customer's pick in a "did you mean", or a 👍 after a
middle-band answer, makes their question a candidate example of that entry; /kb_learn shows
supervisors the candidates by entry with how many different customers asked, and Accept teaches
the entry at once (saved to the learned file), Reject sets it aside; [knowledge_base] auto_learn
= N accepts a question N different customers confirmed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.privacy import forget_customer
from knowledge_base.models import QuestionCandidate
from tests.harness import Bot, Person, Replies
from ticketing.models import Customer

QUESTION = "parcel came damaged"  # a middle-band question whose first suggestion is damaged_item
ENTRY = "damaged_item"


async def pick_damaged_item(customer: Person, question: str = QUESTION) -> Replies:
    kb = customer.bot.app.bot_data.kb
    route = kb.route(question)
    assert route.band == "middle" and route.suggestions[0].entry_id == ENTRY
    asked = await customer.say(question)
    picked = await customer.press(asked.buttons[0], asked)
    assert picked.text == kb.answer(ENTRY, "en")
    return picked


async def test_a_pick_made_by_two_customers_shows_in_kb_learn_and_accepted_is_answered_outright(
    bot: Bot, make_customer, supervisor: Person
) -> None:
    first, second = make_customer(language_code="en"), make_customer(language_code="en")
    await pick_damaged_item(first)
    await pick_damaged_item(first)  # the same customer twice counts once
    await pick_damaged_item(second)

    listed = await supervisor.say("/kb_learn")
    assert f"{ENTRY}:" in listed.text
    assert f"1. {QUESTION}（2 位客户）" in listed.text
    assert listed.buttons == ["✅ 采纳 1", "❌ 拒绝 1"]

    accepted = await supervisor.press("✅ 采纳 1", listed)
    assert accepted.text == f"已把“{QUESTION}”加入 {ENTRY}，机器人从现在起会回答它。"
    learned = yaml.safe_load(Path(bot.settings.knowledge_base.learned_file).read_text())
    assert any(e["id"] == ENTRY and QUESTION in e["questions"]["en"] for e in learned["entries"])

    third = make_customer(language_code="en")
    answered = await third.say(QUESTION)
    assert answered.text == bot.app.bot_data.kb.answer(ENTRY, "en")  # outright: no "did you mean"
    assert answered.buttons[-2:] == ["👍", "👎"]
    assert (await supervisor.say("/kb_learn")).text == "目前没有待学习的问题：客户在“您是不是想问”中的选择和 👍 会出现在这里。"
    again = await supervisor.press("✅ 采纳 1", listed)  # the old list's button: already decided
    assert again == []
    assert bot.emulator.callback_answers[-1]["text"] == "已经处理过，或其条目已不存在：请重新发送 /kb_learn。"


async def test_a_rejected_candidate_is_not_learned_and_leaves_the_list(bot: Bot, customer: Person, supervisor: Person) -> None:
    await pick_damaged_item(customer)
    listed = await supervisor.say("/kb_learn")
    rejected = await supervisor.press("❌ 拒绝 1", listed)
    assert rejected.text == f"已拒绝：“{QUESTION}”不会加入 {ENTRY}。"
    assert await QuestionCandidate.filter(status="rejected").count() == 1
    assert not Path(bot.settings.knowledge_base.learned_file).exists()
    assert bot.app.bot_data.kb.route(QUESTION).band == "middle"
    assert "2 位客户" not in (await supervisor.say("/kb_learn")).text


async def test_a_thumbs_up_after_a_middle_band_answer_is_a_candidate(bot: Bot, customer: Person, supervisor: Person) -> None:
    picked = await pick_damaged_item(customer)
    await customer.press("👍", picked)
    assert await QuestionCandidate.filter(entry_id=ENTRY).count() == 1  # the pick and its 👍: one customer, once
    answered = await customer.say("how long does shipping take")  # high band: a 👍 teaches nothing new
    await customer.press("👍", answered)
    assert await QuestionCandidate.all().count() == 1


async def test_auto_learn_accepts_what_two_different_customers_confirmed(bot: Bot, make_customer, supervisor: Person) -> None:
    bot.settings.knowledge_base.auto_learn = 2
    first, second = make_customer(language_code="en"), make_customer(language_code="en")
    await pick_damaged_item(first)
    assert bot.app.bot_data.kb.route(QUESTION).band == "middle"  # one customer is not enough
    await pick_damaged_item(second)
    assert bot.app.bot_data.kb.route(QUESTION).entry_id == ENTRY
    assert bot.app.bot_data.kb.route(QUESTION).band == "high"
    assert await QuestionCandidate.filter(status="accepted").count() == 2
    assert (await supervisor.say("/kb_learn")).text.startswith("目前没有待学习的问题")


async def test_only_supervisors_list_or_decide_and_forged_buttons_do_nothing(
    bot: Bot, customer: Person, agent: Person, supervisor: Person
) -> None:
    await pick_damaged_item(customer)
    assert (await agent.say("/kb_learn")).text == "只有主管可以执行此操作。"
    listed = await supervisor.say("/kb_learn")
    data = listed[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert data == "kbl+:1"

    pressed = bot.emulator.press_button(agent.id, listed[-1]["message_id"], data, chat_id=agent.chat_id)
    await bot.handled(pressed)  # an agent who is no supervisor
    assert bot.emulator.callback_answers[-1]["text"] == "只有主管可以执行此操作。"

    for forged in ("kbl+:999", "kbl-:999", "kbl+:0", "kbl+:01", "kbl+:-1", "kbl+:", "kbl+:1:x", "kbl?:1"):
        update = bot.emulator.press_button(supervisor.id, listed[-1]["message_id"], forged, chat_id=supervisor.chat_id, forged=True)
        await bot.handled(update)
        assert bot.emulator.callback_answers[-1]["text"] in ("已经处理过，或其条目已不存在：请重新发送 /kb_learn。", "这个按钮已失效。")
    assert await QuestionCandidate.filter(status="pending").count() == 1
    assert bot.app.bot_data.kb.route(QUESTION).band == "middle"
    assert "don't know the command" in (await customer.say("/kb_learn")).text


async def test_a_forgotten_customers_question_leaves_kb_learn(bot: Bot, customer: Person, supervisor: Person) -> None:
    await pick_damaged_item(customer)
    await forget_customer(await Customer.get(telegram_id=customer.id), datetime.now(UTC))
    assert (await supervisor.say("/kb_learn")).text.startswith("目前没有待学习的问题")
    assert not await QuestionCandidate.filter(customer__telegram_id=customer.id).exists()
