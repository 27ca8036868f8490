"""Routing customer messages on the shipped default KB: answers, actions, bands, order numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from knowledge_base.features import normalize
from knowledge_base.kb import KnowledgeBase
from knowledge_base.router import Router, RouterSettings

PARAPHRASES = yaml.safe_load((Path(__file__).parent / "kb_zh_paraphrases.yaml").read_text(encoding="utf-8"))

OUT_OF_DOMAIN = [
    "what's the weather",
    "tell me a joke",
    "今天天气怎么样",
    "asdfghjkl",
    "qwerty uiop zxcv",
    "who is the best football player in the world",
    "what is the meaning of life",
    "how do I bake a chocolate cake",
    "can you help me with my math homework",
    "what's the population of china",
    "sing happy birthday for me",
    "I need a taxi to the airport",
    "which phone should I buy for gaming",
    "explain quantum physics",
    "what day is it tomorrow",
    "do you like pizza",
    "my dog ate my homework",
    "how far is the moon",
    "write a python script for me",
    "what's the news today",
    "给我讲个笑话",
    "明天股市会涨吗",
    "上海到北京的高铁几点",
    "推荐一本好看的小说",
    "怎么减肥最快",
    "你叫什么名字呀",
    "帮我算一下三加五",
    "周末去哪里玩好",
    "嗯嗯嗯嗯",
    "嘿嘿嘿",
    "😀😀😀",
    "？？？",
    "zzzzzz",
]


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(KnowledgeBase.load())


@pytest.mark.parametrize(
    ("text", "action", "entry"),
    [
        ("how long does shipping take", "answer", "delivery_time"),
        ("运费怎么算", "answer", "shipping_fee"),
        ("我想退貨", "answer", "returns"),
        ("wher is my ordr", "order_status", "order_status"),
        ("转人工", "handoff", "contact_human"),
        ("I want to make a complaint about your service", "complaint", "complaint"),
    ],
)
def test_acceptance_questions_are_answered_or_acted_on(router: Router, text: str, action: str, entry: str) -> None:
    route = router.route(text)
    assert (route.action, route.entry_id, route.band) == (action, entry, "high")
    assert 0.0 <= route.score <= 1.0


def test_the_paraphrase_set_is_large_varied_and_not_copied_from_the_kb(router: Router) -> None:
    assert len(PARAPHRASES) >= 60
    kb_questions = {normalize(q, fold=False) for e in router.kb.entries.values() for qs in e.questions.values() for q in qs}
    copied = [p["text"] for p in PARAPHRASES if normalize(p["text"], fold=False) in kb_questions]
    assert copied == []
    assert {p["entry"] for p in PARAPHRASES} <= router.kb.entries.keys()
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in p["text"]) for p in PARAPHRASES) >= 60


def test_at_least_90_percent_of_chinese_paraphrases_reach_the_right_entry(router: Router) -> None:
    """Right = answered with that entry, or offered first in "did you mean" (one tap away)."""
    wrong = []
    for item in PARAPHRASES:
        route = router.route(item["text"])
        reached = route.entry_id if route.band == "high" else (
            route.suggestions[0].entry_id if route.band == "middle" else None
        )
        if reached != item["entry"]:
            wrong.append((item["text"], item["entry"], route.band, reached))
    assert len(wrong) / len(PARAPHRASES) <= 0.10, wrong


def test_most_paraphrases_are_answered_outright(router: Router) -> None:
    """Without a "did you mean" step (measured 67 %: short Chinese questions often share only a
    character or two with the KB, and the matcher prefers asking to answering wrongly)."""
    answered = sum(router.route(p["text"]).entry_id == p["entry"] for p in PARAPHRASES)
    assert answered / len(PARAPHRASES) >= 0.6


def test_out_of_domain_messages_land_in_the_low_band(router: Router) -> None:
    assert len(OUT_OF_DOMAIN) >= 30
    routes = {text: router.route(text) for text in OUT_OF_DOMAIN}
    high = [t for t, r in routes.items() if r.band == "high"]
    not_low = [t for t, r in routes.items() if r.band != "low"]
    assert len(not_low) / len(OUT_OF_DOMAIN) <= 0.10, not_low
    assert high == []
    for route in routes.values():
        if route.band == "low":
            assert route.action is None and route.entry_id is None


def test_named_out_of_domain_examples_are_low(router: Router) -> None:
    for text in ("what's the weather", "tell me a joke", "今天天气怎么样", "asdfghjkl"):
        assert router.route(text).band == "low", text


@pytest.mark.parametrize(
    "text",
    ["A20261125001", "20261125001", "订单号 A20261125001", "我的订单20261125001到哪了", "order #SO-2026112500 please"],
)
def test_an_order_number_asks_for_order_status(router: Router, text: str) -> None:
    route = router.route(text)
    assert route.action == "order_status"
    assert route.entry_id == "order_status"
    assert route.order_number is not None and route.order_number in text


def test_an_order_number_in_another_confident_question_keeps_that_question(router: Router) -> None:
    route = router.route("please cancel my order A20261125001")
    assert (route.action, route.entry_id, route.order_number) == ("answer", "cancel_order", "A20261125001")


def test_short_numbers_and_phone_like_text_inside_words_are_not_order_numbers(router: Router) -> None:
    assert router.route("运费12345元吗").order_number is None
    assert router.route("abc1234567xyz").order_number is None


def test_the_order_number_pattern_is_configurable() -> None:
    router = Router(KnowledgeBase.load(), RouterSettings(order_number=r"\bKF\d{4}\b"))
    assert router.route("KF1234").order_number == "KF1234"
    assert router.route("A20261125001").action != "order_status" or router.route("A20261125001").order_number is None


@pytest.mark.parametrize(("text", "kind"), [("你好", "greeting"), ("thanks!", "thanks"), ("拜拜", "goodbye")])
def test_small_talk_is_recognised_before_matching(router: Router, text: str, kind: str) -> None:
    route = router.route(text)
    assert (route.action, route.smalltalk, route.entry_id) == ("smalltalk", kind, None)


def test_middle_band_offers_at_most_three_suggestions_best_first() -> None:
    router = Router(KnowledgeBase.load(), RouterSettings(high=1.0, low=0.0, suggest_min=0.0))  # never outright
    route = router.route("退款")
    assert route.band == "middle"
    assert len(route.suggestions) == 3
    scores = [c.score for c in route.suggestions]
    assert scores == sorted(scores, reverse=True)


def test_language_is_detected(router: Router) -> None:
    assert router.route("运费怎么算").lang == "zh-Hans"
    assert router.route("運費怎麼算").lang == "zh-Hant"
    assert router.route("how much is shipping").lang == "en"
    assert router.route("  ").band == "low"


def test_candidates_are_ranked_with_confidences_in_0_1(router: Router) -> None:
    route = router.route("发票怎么开")
    assert route.candidates[0].entry_id == "invoice"
    assert all(0.0 <= c.score <= 1.0 for c in route.candidates)
    assert route.candidates[0].score >= route.candidates[1].score


def test_traditional_chinese_and_full_width_text_match_like_simplified(router: Router) -> None:
    simplified = router.route("退款什么时候到账")
    for variant in ("退款什麼時候到賬", "退款什么时候到账？！", "退款什么时候到账　ＯＫ？"):
        assert router.route(variant).entry_id == simplified.entry_id == "refund_status"
