"""A customer's first minutes with the bot: /start, /help, /lang, greetings, things it can't read."""

from __future__ import annotations

import pytest

from tests.harness import Person

TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000157a5d1e20000000049454e44ae426082"
)


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [("en", "Hello Wei!"), ("zh-hans", "Wei，您好！"), ("zh-CN", "Wei，您好！"), ("zh-TW", "我是本店的客服助手"),
     ("zh-HK", "訂單、配送"), ("de", "Hello Wei!"), (None, "Hello Wei!")],
)
async def test_start_greets_in_the_language_of_the_customers_telegram(make_customer, language_code, expected) -> None:
    customer: Person = make_customer(first_name="Wei", language_code=language_code)
    replies = await customer.say("/start")
    assert len(replies) == 1
    assert expected in replies.text


async def test_help_lists_the_commands(customer: Person) -> None:
    replies = await customer.say("/help")
    assert "/lang" in replies.text and "/start" in replies.text


async def test_help_in_traditional_chinese(make_customer) -> None:
    customer = make_customer(language_code="zh-TW")
    assert "選擇語言" in (await customer.say("/help")).text


async def test_hello_and_nihao_are_answered_each_in_its_own_language(customer: Person) -> None:
    assert (await customer.say("hello")).text == "Hello Emma! How can I help you today?"
    assert (await customer.say("你好")).text == "Emma，您好！请问有什么可以帮您？"
    assert (await customer.say("謝謝")).text == "不客氣！還有其他可以幫您的嗎？"


async def test_lang_offers_three_languages_and_the_choice_sticks(customer: Person) -> None:
    replies = await customer.say("/lang")
    assert replies.buttons == ["简体中文", "繁體中文", "English"]
    await customer.press("繁體中文")
    edited = customer.message(replies[-1]["message_id"])
    assert edited["text"] == "好的，之後我會用繁體中文回覆您。"
    assert "reply_markup" not in edited or not edited["reply_markup"].get("inline_keyboard")
    # A language chosen with /lang wins over the language a message is written in.
    assert (await customer.say("hello")).text == "Emma，您好！請問有什麼可以幫您？"
    assert "訂單" in (await customer.say("/start")).text


async def test_lang_with_an_argument_sets_it_directly(customer: Person) -> None:
    assert (await customer.say("/lang zh-hans")).text == "好的，之后我会用简体中文回复您。"
    assert (await customer.say("/lang english")).text == "Done: I'll answer you in English from now on."


async def test_lang_with_an_unknown_language_explains_and_offers_the_choice(customer: Person) -> None:
    replies = await customer.say("/lang klingon")
    assert "klingon" in replies.text
    assert replies.buttons == ["简体中文", "繁體中文", "English"]


async def test_a_forged_language_button_changes_nothing(customer: Person) -> None:
    replies = await customer.say("/lang")
    update = customer.bot.emulator.press_button(customer.id, replies[-1]["message_id"], "lang:xx", forged=True)
    await customer.bot.handled(update)
    assert customer.bot.emulator.callback_answers[-1]["callback_query_id"] == update["callback_query"]["id"]
    assert (await customer.say("hello")).text.startswith("Hello")


async def test_gibberish_gets_a_polite_answer_and_the_offer_of_a_person(customer: Person) -> None:
    replies = await customer.say("qwertyuiop asdf")
    assert replies.text == "Sorry, I don't have an answer to that yet. Would you like to talk to a person from our team?"
    assert replies.buttons == ["💬 Talk to a person"]


async def test_unknown_command_is_named_in_the_answer(customer: Person) -> None:
    assert "/frobnicate" in (await customer.say("/frobnicate now")).text


async def test_a_photo_gets_a_polite_answer_not_silence(customer: Person) -> None:
    replies = await customer.send_photo(TINY_PNG)
    assert replies.text.startswith("Thanks! I can only read text")


async def test_the_command_menu_is_set_in_english_and_chinese(customer: Person) -> None:
    calls = [params for method, params in customer.bot.emulator.calls if method == "setMyCommands"]
    codes = {params.get("language_code") for params in calls}
    assert codes == {None, "zh"}


async def test_messages_in_the_agent_group_are_not_answered_as_customer_chat(agent: Person) -> None:
    assert await agent.say("hello") == []
