"""Customers ask, the knowledge base answers; what it cannot answer, agents teach it."""

from __future__ import annotations

import pytest

from tests.harness import Person


@pytest.mark.parametrize(
    ("question", "language_code", "expected"),
    [
        ("how long does shipping take", "en", "business days"),
        ("运费怎么算", "zh-CN", "运费"),
        ("我想退貨", "zh-TW", "退"),
    ],
)
async def test_faq_questions_get_the_right_answer_in_the_customers_language(
    make_customer, question: str, language_code: str, expected: str
) -> None:
    customer: Person = make_customer(language_code=language_code)
    replies = await customer.say(question)
    assert len(replies) == 1
    assert expected in replies.text
    assert replies.buttons[-2:] == ["👍", "👎"]


async def test_traditional_chinese_questions_get_traditional_answers(customer: Person) -> None:
    replies = await customer.say("我想退貨")
    kb = customer.bot.app.bot_data.kb
    assert replies.text == kb.answer("returns", "zh-Hant")
    assert replies.text != kb.answer("returns", "zh-Hans")


async def test_where_is_my_order_with_typos_goes_to_the_order_flow(customer: Person) -> None:
    kb = customer.bot.app.bot_data.kb
    assert kb.route("wher is my ordr").action == "order_status"
    replies = await customer.say("wher is my ordr")
    assert replies.text.startswith("To keep your orders private, please show me they are yours")


async def test_out_of_domain_is_not_answered_and_a_person_is_offered(customer: Person) -> None:
    replies = await customer.say("what's the weather like on Mars tomorrow")
    assert replies.text.startswith("Sorry, I don't have an answer")
    assert replies.buttons == ["💬 Talk to a person"]
    handed_over = await customer.press("💬 Talk to a person")
    assert handed_over.text.startswith("I've passed this on to our team: ticket #")


async def test_thumbs_up_is_thanked_once_and_the_rating_buttons_go(customer: Person) -> None:
    answer = await customer.say("how long does shipping take")
    await customer.press("👍", answer)
    assert customer.bot.emulator.callback_answers[-1]["text"] == "Thanks for your feedback!"
    shown = customer.message(answer[-1]["message_id"])
    labels = [b["text"] for row in (shown.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
    assert "👍" not in labels and "👎" not in labels


async def test_thumbs_down_offers_a_person_and_lists_the_question_for_agents(customer: Person, supervisor: Person) -> None:
    kb = customer.bot.app.bot_data.kb
    question = kb.kb.entry("shipping_fee").questions["en"][0]
    first = await customer.say(question)
    assert first.text == kb.answer("shipping_fee", "en")

    sorry = await customer.press("👎", first)
    assert sorry.text == "Sorry that didn't help. Would you like to talk to a person from our team?"
    assert sorry.buttons == ["💬 Talk to a person"]
    assert f"1. (1×) {question}" in (await supervisor.say("/kb_missed")).text


async def test_unanswered_questions_are_listed_most_frequent_first(make_customer, supervisor: Person) -> None:
    for asker in range(3):
        await make_customer().say("Do you deliver on Sundays?")
    await make_customer().say("can I pay with my grandmother's voucher")  # "did you mean", no pick
    missed = await supervisor.say("/kb_missed")
    lines = missed.text.splitlines()
    assert lines[1] == "1. (3×) Do you deliver on Sundays?"
    assert lines[2] == "2. (1×) can I pay with my grandmother's voucher"
    await supervisor.say("/kb_add delivery_options do you deliver on sundays")
    kb = supervisor.bot.app.bot_data.kb
    assert (await make_customer().say("Do you deliver on Sundays?")).text == kb.answer("delivery_options", "en")


async def test_a_new_entry_can_be_added_from_the_agent_group(customer: Person, supervisor: Person) -> None:
    added = await supervisor.say("/kb_add new gift_wrap do you offer gift wrapping | Yes! Gift wrapping is free, choose it at checkout.")
    assert "gift_wrap" in added.text
    assert (await customer.say("do you offer gift wrapping")).text == "Yes! Gift wrapping is free, choose it at checkout."


async def test_only_supervisors_may_teach(agent: Person) -> None:
    assert (await agent.say("/kb_add coupon some question")).text == "只有主管可以执行此操作。"


async def test_agent_commands_do_nothing_outside_the_agent_group(customer: Person) -> None:
    assert "/kb_missed" in (await customer.say("/kb_missed")).text  # "I don't know the command /kb_missed"
    assert "don't know the command" in (await customer.say("/kb_add coupon free stuff")).text


async def test_a_button_of_another_customers_answer_is_refused(make_customer) -> None:
    alice, mallory = make_customer(first_name="Alice"), make_customer(first_name="Mallory")
    answer = await alice.say("how long does shipping take")
    data = answer[-1]["reply_markup"]["inline_keyboard"][-1][1]["callback_data"]
    # Mallory's modified client replays Alice's 👎 from Mallory's own chat.
    own = await mallory.say("how long does shipping take")
    update = mallory.bot.emulator.press_button(mallory.id, own[-1]["message_id"], data, forged=True)
    await mallory.bot.handled(update)
    assert mallory.bot.emulator.callback_answers[-1]["text"] == "This button is no longer valid."
    from knowledge_base.models import Question

    assert await Question.filter(feedback__isnull=False).count() == 0


async def test_did_you_mean_offers_suggestions_and_a_pick_answers(customer: Person) -> None:
    kb = customer.bot.app.bot_data.kb
    middle = next(
        q for q in ("refund?", "account", "delivery problem", "order", "payment", "change") if kb.route(q).band == "middle"
    )
    replies = await customer.say(middle)
    assert replies.text == "I'm not quite sure what you mean. Is it one of these?"
    assert 2 <= len(replies.buttons) <= 4 and replies.buttons[-1] == "💬 Talk to a person"
    picked = await customer.press(replies.buttons[0], replies)
    suggestion = kb.route(middle).suggestions[0].entry_id
    assert picked.text == kb.answer(suggestion, "en")
