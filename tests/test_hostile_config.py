"""Careless configuration: values out of range or inconsistent stop start-up with one sentence
naming the key, before kefu touches Telegram or the database."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.config import ConfigError, load_settings


def _refused(**overrides: object) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings(**overrides)
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"telegram": {"agent_chat_id": 123456789}}, "telegram.agent_chat_id (env KEFU_TELEGRAM__AGENT_CHAT_ID) must be the agent group's id, which is negative"),
        ({"telegram": {"agent_chat_id": 0}}, "telegram.agent_chat_id"),
        ({"knowledge_base": {"high_confidence": 0.3, "low_confidence": 0.6}}, "knowledge_base.low_confidence (env KEFU_KNOWLEDGE_BASE__LOW_CONFIDENCE) must be below high_confidence"),
        ({"knowledge_base": {"high_confidence": 0.5, "low_confidence": 0.5}}, "must be below high_confidence"),
        ({"tickets": {"holidays": "XX"}}, "tickets.holidays (env KEFU_TICKETS__HOLIDAYS) must be a country code the holidays library knows (not 'XX')"),
        ({"scheduler": {"shop_dates": [{"name": "anniversary", "date": "13-45"}]}}, "scheduler.shop_dates (env KEFU_SCHEDULER__SHOP_DATES) each must be"),
        ({"scheduler": {"shop_dates": [{"name": "anniversary", "date": "02-30"}]}}, "with a real day of the year"),
        ({"scheduler": {"shop_dates": [{"name": " ", "date": "06-18"}]}}, "scheduler.shop_dates"),
    ],
)
def test_values_out_of_range_or_inconsistent_are_refused_naming_the_key(overrides: dict, says: str) -> None:
    assert says in _refused(**overrides)


def test_sensible_values_pass() -> None:
    settings_ = load_settings(
        telegram={"agent_chat_id": -1001234567890},
        knowledge_base={"high_confidence": 0.8, "low_confidence": 0.2},
        tickets={"holidays": "hk"},
        scheduler={"shop_dates": [{"name": "leap", "date": "02-29"}]},
    )
    assert settings_.tickets.holidays == "HK"
    assert load_settings(tickets={"holidays": ""}).tickets.holidays is None


@settings(max_examples=60, deadline=None)
@given(month=st.integers(0, 99), day=st.integers(0, 99))
def test_a_shop_date_is_accepted_exactly_when_it_is_a_day_of_the_year(month: int, day: int) -> None:
    text = f"{month:02d}-{day:02d}"
    try:
        date(2000, month, day)
        real = True
    except ValueError:
        real = False
    if real:
        assert load_settings(scheduler={"shop_dates": [{"name": "d", "date": text}]}).scheduler.shop_dates[0]["date"] == text
    else:
        _refused(scheduler={"shop_dates": [{"name": "d", "date": text}]})


@settings(max_examples=60, deadline=None)
@given(high=st.floats(0.01, 1.0), low=st.floats(0.0, 0.99))
def test_the_confidence_bands_must_not_cross(high: float, low: float) -> None:
    if low < high:
        loaded = load_settings(knowledge_base={"high_confidence": high, "low_confidence": low}).knowledge_base
        assert loaded.low_confidence < loaded.high_confidence
    else:
        _refused(knowledge_base={"high_confidence": high, "low_confidence": low})
