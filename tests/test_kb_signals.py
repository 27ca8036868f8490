"""What the router hears besides the question: whether an order number is asked about, and
whether the customer is angry — and what the bot then does in the chat."""

from __future__ import annotations

import pytest

from bot.core.config import ConfigError, load_settings
from bot.core.i18n import text
from knowledge_base.kb import KnowledgeBase
from knowledge_base.router import Router, RouterSettings
from knowledge_base.signals import ANGER_WORDS, STATUS_CUES, Lexicon, words
from tests.harness import Person
from ticketing.models import Ticket


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(KnowledgeBase.load())


@pytest.mark.parametrize(
    "text",
    [
        "where is 2024112500123",
        "track order 2024112500123",
        "has 2024112500123 shipped yet",
        "2024112500123 到哪了",
        "订单2024112500123物流怎么样",
        "訂單2024112500123的物流進度",  # traditional, folded
        "订单2024112500123",  # nothing but the number
        "order #2024112500123 please",
        "hi, what about 2024112500123?",
        "2024112500123",
    ],
)
def test_an_order_number_with_a_status_question_or_nothing_else_goes_to_order_status(router: Router, text: str) -> None:
    route = router.route(text)
    assert (route.action, route.entry_id, route.order_number) == ("order_status", "order_status", "2024112500123")


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("cancel order 2024112500123", "cancel_order"),
        ("add an item to order 2024112500123", "change_order"),
        ("invoice for 2024112500123", "invoice"),
        ("帮我查下退款进度 订单2024112500123", "refund_status"),  # a confident match beats the cue 进度
    ],
)
def test_an_order_number_in_another_question_goes_with_that_question(router: Router, text: str, entry: str) -> None:
    route = router.route(text)
    assert (route.entry_id, route.band, route.order_number) == (entry, "high", "2024112500123")


def test_a_missing_item_with_an_order_number_does_not_get_the_orders_status(router: Router) -> None:
    route = router.route("I missed a product in order 3707955617")
    assert route.action != "order_status"
    assert route.order_number == "3707955617"


@pytest.mark.parametrize(
    "text",
    [
        "my parcel never arrived and I am really angry",
        "气死了，快递一个礼拜了还没到",
        "氣死了，快遞一個禮拜了還沒到",
        "this is a SCAM",
        "你们就是骗子",
        "什么破服务",
        "Worst shop ever, never again",
    ],
)
def test_angry_messages_are_marked_angry(router: Router, text: str) -> None:
    assert router.route(text).angry


@pytest.mark.parametrize(
    "text",
    ["how long does shipping take", "I am not angry, just asking about shipping", "我不生气，就问问运费", "运费怎么算", "scampi recipe"],
)
def test_calm_and_negated_messages_are_not_angry(router: Router, text: str) -> None:
    assert not router.route(text).angry


def test_a_shops_word_lists_replace_the_shipped_ones_of_their_language() -> None:
    settings = RouterSettings(
        status_cues=words(STATUS_CUES, {"en": ["whereabouts"]}),
        anger_words=words(ANGER_WORDS, {"en": ["grumpy"], "zh-Hant": ["氣炸"]}),
    )
    router = Router(KnowledgeBase.load(), settings)
    assert router.route("I am grumpy").angry and not router.route("I am angry").angry
    assert router.route("气炸了").angry and not router.route("气死了").angry  # zh-Hant replaced the Chinese list
    assert router.route("2024112500123 eta").action != "order_status"  # "eta" is no longer a cue
    assert router.route("2024112500123 whereabouts").action == "order_status"
    assert router.route("2024112500123 到哪了").action == "order_status"  # Chinese cues kept


def test_a_trailing_star_matches_the_start_of_a_word() -> None:
    lexicon = Lexicon(["arriv*", "eta"])
    assert lexicon.found("it arrived") and lexicon.found("arriving soon") and lexicon.found("ETA?")
    assert not lexicon.found("beta test") and not lexicon.found("metal")


def test_word_lists_for_unknown_languages_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(knowledge_base={"anger_words": {"fr": ["furieux"]}})
    assert "knowledge_base.anger_words" in str(error.value) and "not fr" in str(error.value)
    assert load_settings(knowledge_base={"status_cues": {"zh-Hant": ["到哪"]}}).knowledge_base.status_cues == {"zh-Hant": ["到哪"]}


@pytest.mark.parametrize(
    ("said", "language_code", "told"),
    [
        ("my parcel never arrived and I am really angry", "en", "I've passed this on to our team: ticket #"),
        ("气死了，快递一个礼拜了还没到", "zh-CN", "已为您转交给我们的客服团队：工单 #"),
    ],
)
async def test_an_angry_customer_the_bot_cannot_answer_gets_a_complaint_ticket(
    make_customer, agent: Person, said: str, language_code: str, told: str
) -> None:
    customer: Person = make_customer(language_code=language_code)
    replies = await customer.say(said)
    assert replies.text.startswith(told)
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert ticket.is_complaint and ticket.topic_id is not None


@pytest.mark.parametrize(
    ("said", "language_code", "language", "entry"),
    [
        ("I am so angry, how do I reset my password", "en", "en", "password_reset"),
        ("运费多少钱？气死了", "zh-CN", "zh-Hans", "shipping_fee"),  # answered outright (≥ the Chinese high band)
    ],
)
async def test_an_angry_customer_gets_the_answer_with_the_offer_of_a_person(
    make_customer, agent: Person, said: str, language_code: str, language: str, entry: str
) -> None:
    customer: Person = make_customer(language_code=language_code)
    kb = customer.bot.app.bot_data.kb
    replies = await customer.say(said)
    assert replies.text == kb.answer(entry, language)
    assert replies.buttons[-3:] == ["👍", "👎", text(language, "button_person")]
    assert await Ticket.filter(customer__telegram_id=customer.id).count() == 0
    await customer.press(text(language, "button_person"))
    assert await Ticket.filter(customer__telegram_id=customer.id).count() == 1


async def test_a_calm_answer_has_no_person_button(customer: Person) -> None:
    replies = await customer.say("how long does shipping take")
    assert "💬 Talk to a person" not in replies.buttons


async def test_a_missing_item_with_an_order_number_is_not_answered_with_the_orders_status(customer: Person) -> None:
    replies = await customer.say("I missed a product in order 3707955617")
    assert not replies.text.startswith("To keep your orders private")
    assert await Ticket.filter(customer__telegram_id=customer.id).count() == 0
