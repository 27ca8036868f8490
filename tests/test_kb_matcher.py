"""The matcher: normalisation, features, typo tolerance, and scores that mean something."""

from __future__ import annotations

import pytest

import knowledge_base.matcher as matcher_module
from knowledge_base.features import features, normalize
from knowledge_base.matcher import Matcher

EXAMPLES = [
    ("track", "where is my order"),
    ("track", "track my parcel please"),
    ("track", "我的订单到哪了"),
    ("cancel", "cancel my order"),
    ("cancel", "I want to cancel the purchase"),
    ("cancel", "怎么取消订单"),
    ("invoice", "can I get an invoice"),
    ("invoice", "send me the receipt"),
    ("invoice", "能开发票吗"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我想退貨！！😊", "我 想 退 货"),
        ("ＷＨＥＲＥ is my ORDER？", "where is my order"),
        ("order A20261125001, please", "order a0 please"),
        ("運費怎麼算", "运 费 怎 么 算"),
        ("🙂🙂", ""),
    ],
)
def test_normalisation_folds_width_case_script_punctuation_emoji_and_digits(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_features_are_char_ngrams_of_words_words_and_token_bigrams() -> None:
    english = features(normalize("track order"))
    assert {"w:track", "w:order", "b:track order", " t", "tra", "der "} <= english.keys()
    chinese = features(normalize("退货"))
    assert chinese.keys() == {"w:退", "w:货", "b:退 货"}


def test_every_example_maps_onto_its_own_entry_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no ridge, an example projects onto its entry's common vector: the features the
    model was built with and the features of a message are the same."""
    monkeypatch.setattr(matcher_module, "LAMBDA", 1e-10)
    matcher = Matcher(EXAMPLES)
    for entry_id, question in EXAMPLES:
        sims = matcher.similarities(question)
        assert sims[matcher.entry_ids.index(entry_id)] == pytest.approx(1.0, abs=1e-4), question


def test_unknown_words_are_read_as_close_known_words() -> None:
    matcher = Matcher(EXAMPLES)
    assert matcher.correct(normalize("wher is my ordr")) == "where is my order"
    assert matcher.correct(normalize("invoce A20261125001")) == "invoice a0"  # codes are kept
    assert matcher.match("cancel my ordr")[0].entry_id == "cancel"


def test_candidates_are_ranked_and_scored_in_0_1() -> None:
    matcher = Matcher(EXAMPLES)
    candidates = matcher.match("please cancel my order", limit=3)
    assert [c.entry_id for c in candidates][0] == "cancel"
    assert len(candidates) == 3
    assert all(0.0 <= c.score <= 1.0 for c in candidates)
    assert candidates[0].score > 0.7 > candidates[1].score
    assert matcher.match("the weather is nice today")[0].score < 0.25


def test_large_kbs_use_a_shortlist_and_still_find_the_entry() -> None:
    products = [f"{a}{b}{c}" for a in "bdfk" for b in "aeiou" for c in ("lo", "ri", "mu", "ta", "ne", "zo", "pi", "ve")]
    examples = [
        (f"{name}_{topic}", text.format(name))
        for name in products[:150]
        for topic, texts in {
            "warranty": ("does the {} have a warranty", "{} warranty period", "{} 保修多久"),
            "size": ("what sizes does the {} come in", "{} size chart", "{} 有哪些尺码"),
        }.items()
        for text in texts
    ]
    matcher = Matcher(examples)
    assert len(matcher.entry_ids) == 300 and 2 * 300 > matcher_module.SHORTLIST
    assert matcher.match("how long is the warranty on the dalo")[0].entry_id == "dalo_warranty"
    assert matcher.match("kita 尺码")[0].entry_id == "kita_size"


def test_an_empty_matcher_matches_nothing() -> None:
    assert Matcher([]).match("anything") == []


SIBLINGS = [
    ("change_password", "怎么修改交易密码"),
    ("change_password", "交易密码想换一个新的"),
    ("change_password", "在哪里改交易密码"),
    ("change_password", "交易密码能不能改"),
    ("forgot_password", "忘记交易密码怎么办"),
    ("forgot_password", "交易密码忘了"),
    ("forgot_password", "交易密码想不起来了"),
    ("forgot_password", "找回交易密码"),
    ("fees", "手续费怎么算"),
    ("fees", "交易佣金多少"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("交易密码搞忘了", "forgot_password"), ("我想换个交易密码", "change_password")],
)
def test_close_siblings_are_told_apart_by_a_vote_trained_on_their_own_examples(text: str, expected: str) -> None:
    matcher = Matcher(SIBLINGS)
    ids = ["change_password", "forgot_password", "fees"]
    votes = dict(zip(ids, matcher._siblings(features(matcher.correct(normalize(text))), ids), strict=True))
    assert max(votes, key=votes.__getitem__) == expected
    assert all(votes[expected] > votes[other] + 0.1 for other in ids if other != expected)
    assert matcher.match(text)[0].entry_id == expected


def test_the_siblings_vote_orders_chinese_messages_only(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = Matcher(EXAMPLES + SIBLINGS)
    called: list[str] = []
    vote = matcher._siblings
    monkeypatch.setattr(matcher, "_siblings", lambda feats, ids: called.append("x") or vote(feats, ids))
    matcher.match("cancel my order")
    assert called == []
    matcher.match("交易密码搞忘了")
    assert called == ["x"]
