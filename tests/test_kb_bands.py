"""Confidence bands per script: Chinese and Latin-script messages calibrate differently, so a
shop (or the shipped calibration) may give each its own "answer from" and "did you mean from"
values in [knowledge_base.bands]; a script without its own band uses high/low_confidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import load_knowledge_base
from bot.core.config import CALIBRATED_BANDS, ConfigError, load_settings
from knowledge_base.kb import KnowledgeBase
from knowledge_base.router import Router, RouterSettings

CHINESE, ENGLISH = "运费怎么算", "how much is shipping"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def test_without_bands_per_script_both_scripts_use_the_global_band(kb: KnowledgeBase) -> None:
    router = Router(kb)
    assert router.route(CHINESE).band == router.route(ENGLISH).band == "high"


def test_a_chinese_message_uses_the_chinese_band_and_an_english_one_the_latin_band(kb: KnowledgeBase) -> None:
    strict_chinese = Router(kb, RouterSettings(bands={"han": (0.9999, 0.9998)}))
    assert strict_chinese.route(CHINESE).band == "low"
    assert strict_chinese.route("運費怎麼算").band == "low"  # traditional is Chinese too
    assert strict_chinese.route(ENGLISH).action == "answer"

    strict_latin = Router(kb, RouterSettings(bands={"latin": (0.9999, 0.9998)}))
    assert strict_latin.route(ENGLISH).band == "low"
    assert strict_latin.route(CHINESE).action == "answer"


def test_a_lenient_band_answers_what_the_global_band_would_only_suggest(kb: KnowledgeBase) -> None:
    strict = RouterSettings(high=0.9999, low=0.0)
    assert Router(kb, strict).route(CHINESE).band == "middle"
    lenient_chinese = Router(kb, RouterSettings(high=0.9999, low=0.0, bands={"han": (0.3, 0.1)}))
    assert lenient_chinese.route(CHINESE).action == "answer"
    assert lenient_chinese.route(ENGLISH).band == "middle"


def test_the_configured_bands_reach_the_router(tmp_path: Path) -> None:
    settings = load_settings(knowledge_base={
        "learned_file": str(tmp_path / "learned.yaml"),
        "bands": {"han": {"high": 0.6, "low": 0.3}, "latin": {"high": 0.75, "low": 0.2}},
    })
    router = load_knowledge_base(settings).router
    assert router.settings.bands == {"han": (0.6, 0.3), "latin": (0.75, 0.2)}


def test_a_shop_that_configures_nothing_gets_the_calibrated_bands_per_script() -> None:
    bands = load_settings().knowledge_base.bands
    assert {script: (b.high, b.low) for script, b in bands.items()} == CALIBRATED_BANDS
    one = load_settings(knowledge_base={"bands": {"han": {"high": 0.6, "low": 0.3}}}).knowledge_base.bands
    assert (one["han"].high, one["latin"].high) == (0.6, CALIBRATED_BANDS["latin"][0])


def test_a_band_set_by_hand_is_what_the_shop_gets_for_every_script() -> None:
    kb = load_settings(knowledge_base={"high_confidence": 0.8, "low_confidence": 0.3}).knowledge_base
    router = Router(KnowledgeBase([]), RouterSettings.from_settings(kb))
    assert (router.settings.high, router.settings.low, router.settings.bands) == (0.8, 0.3, {})


@pytest.mark.parametrize(
    ("bands", "says"),
    [
        ({"han": {"high": 0.4, "low": 0.6}}, "knowledge_base.bands"),
        ({"latin": {"high": 0.5, "low": 0.5}}, "must be below high"),
        ({"cyrillic": {"high": 0.7, "low": 0.2}}, "knowledge_base.bands"),
        ({"han": {"high": 0.7}}, "knowledge_base.bands"),
    ],
)
def test_a_band_whose_low_is_not_below_its_high_or_an_unknown_script_is_refused(bands: dict, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(knowledge_base={"bands": bands})
    assert says in str(error.value) and "\n" not in str(error.value)
