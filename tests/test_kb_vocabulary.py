"""Customers' words for one thing are folded to one form before matching, on both sides: a
customer's "parcel" meets a KB that says "package", Hong Kong Cantonese meets Mandarin examples,
an English word inside a Chinese message meets the Chinese examples, common typos meet the word."""

from __future__ import annotations

import pytest

from knowledge_base.features import normalize, normalize_many
from knowledge_base.kb import KnowledgeBase
from knowledge_base.matcher import Matcher


@pytest.mark.parametrize(
    ("variant", "usual"),
    [
        ("where is my parcel", "where is my package"),
        ("I want my money back", "I want my refund"),
        ("i dont want to cancle", "i do not want to cancel"),
        ("pls update my adress", "please update my address"),
        ("我想退钱", "我想退款"),
        ("帐户登陆不了", "账户登录不了"),
        ("我唔係要取消，點樣改地址", "我不是要取消，怎么改地址"),  # Cantonese → Mandarin
        ("我嘅包裹幾時到", "我的快递什么时候到"),
        ("我的order呢", "我的订单呢"),  # English inside Chinese
        ("交易密码 forget 了", "交易密码忘记了"),
    ],
)
def test_a_customers_word_folds_to_the_same_form_as_the_usual_one(variant: str, usual: str) -> None:
    assert normalize(variant) == normalize(usual)
    assert normalize_many([variant, usual]) == [normalize(usual)] * 2


def test_words_that_only_look_alike_are_left_alone() -> None:
    assert normalize("关系") == normalize("關係") == "关 系"  # 係 is 是 only in Cantonese, not in 關係
    assert normalize("my order please") == "my order please"  # no Chinese: English stays English
    assert normalize("优惠券") == normalize("优惠卷") == "优 惠 券"  # a key inside a variant is not folded twice


def test_unfolded_text_is_available_for_the_kb_linter() -> None:
    assert normalize("where is my parcel", fold=False) == "where is my parcel"


def test_a_kb_in_one_wording_answers_customers_in_another() -> None:
    matcher = Matcher([
        ("track_package", "where is my package"), ("track_package", "track my package"),
        ("refund", "how do I get a refund"), ("refund", "I want a refund"),
        ("cancel", "cancel my order"), ("cancel", "please cancel the order"),
    ])
    assert matcher.match("wheres my parcel")[0].entry_id == "track_package"
    assert matcher.match("can I get my money back")[0].entry_id == "refund"
    assert matcher.match("cancle my order pls")[0].entry_id == "cancel"


def test_hong_kong_cantonese_finds_the_shipped_mandarin_answers() -> None:
    kb = KnowledgeBase.load()
    assert kb.match("我嘅退款幾時到賬")[0].entry_id == "refund_status"
    assert kb.match("點樣改收貨地址")[0].entry_id == "change_shipping_address"
