"""What to do with a customer's message: answer an entry, act, chat, suggest, or pass.

Order of decisions (:meth:`Router.route`):

1. small talk only ("你好", "thanks!") → ``smalltalk``;
2. the matcher ranks the KB's entries with a confidence in [0, 1];
3. an order number in the text (:data:`ORDER_NUMBER`, configurable) goes with the route
   (:attr:`Route.order_number`) but decides it only when the message asks about status (a
   status cue: where, track, 到哪, 物流 …) or says nothing besides the number ("订单号
   A20261125001") → ``order_status``; otherwise the matcher decides on the text without the
   number, as in "cancel order A20261125001" (``cancel_order``) or "I missed a product in order
   3707955617" (not order status), and the number still goes with it. A confident match of
   another entry wins over a status cue ("帮我查下退款进度 订单2025112300412" → refund status);
4. confidence ≥ ``high`` → the top entry's action (``answer``, ``order_status``,
   ``complaint``, ``handoff``) with that entry;
5. ``low`` ≤ confidence < ``high`` → no action; :attr:`Route.suggestions` holds up to three
   entries for a "did you mean" reply;
6. below ``low`` → nothing matched (out of domain, gibberish): the bot says it does not know
   and may offer a person.

Every route says whether the customer sounds angry (:attr:`Route.angry`, from an anger
lexicon, :mod:`knowledge_base.signals`): the handlers then offer a person with an answer, and
open a complaint ticket where nothing is answered outright.

The thresholds were chosen on development data (see ``bench/README.md``). Latin-script and
Chinese messages calibrate differently, so :attr:`RouterSettings.bands` may give each script its
own (high, low) — picked by the message's language (:func:`bot.core.language.detect_language`:
any Han character makes it Chinese); a script without its own pair, or a message with no letters,
uses ``high``/``low``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Literal

from bot.core.language import Language, detect_language
from knowledge_base.features import normalize
from knowledge_base.kb import KnowledgeBase
from knowledge_base.matcher import Candidate
from knowledge_base.signals import ANGER_WORDS, STATUS_CUES, Lexicon, only_filler, words
from knowledge_base.smalltalk import SmallTalk, match_smalltalk

if TYPE_CHECKING:
    from bot.core.config import KnowledgeBaseSettings

RouteAction = Literal["answer", "order_status", "complaint", "handoff", "smalltalk"]
Band = Literal["high", "middle", "low"]
Script = Literal["latin", "han"]

ORDER_NUMBER = r"(?<![A-Za-z0-9])(?:[A-Za-z]{1,4}-?)?\d{6,20}(?![A-Za-z0-9])"
"""Up to four letters (optionally then a dash) and 6–20 digits, standing alone:
``A20261125001``, ``SO-2026112500``, ``20261125001``. Chinese text around it is fine."""


@dataclass(frozen=True, slots=True)
class RouterSettings:
    high: float = 0.7
    """Confidence from which the bot acts on the top entry."""
    low: float = 0.25
    """Confidence below which nothing matched."""
    bands: dict[Script, tuple[float, float]] = field(default_factory=dict)
    """Per script, its own (high, low) in place of ``high``/``low``."""
    suggest_min: float = 0.05
    """Candidates under this confidence are not offered as "did you mean" (the first always is)."""
    max_suggestions: int = 3
    order_number: str = ORDER_NUMBER
    """Regular expression of an order number in a message."""
    status_cues: tuple[str, ...] = words(STATUS_CUES)
    """Words of a question about an order's status (:mod:`knowledge_base.signals`)."""
    anger_words: tuple[str, ...] = words(ANGER_WORDS)
    """Words of an angry or distressed customer (:mod:`knowledge_base.signals`)."""

    @classmethod
    def from_settings(cls, kb: KnowledgeBaseSettings) -> RouterSettings:
        """The router as ``[knowledge_base]`` configures it (bands, status cues, anger words)."""
        return cls(
            high=kb.high_confidence, low=kb.low_confidence,
            bands={script: (band.high, band.low) for script, band in kb.bands.items()},
            status_cues=words(STATUS_CUES, kb.status_cues), anger_words=words(ANGER_WORDS, kb.anger_words),
        )


@dataclass(frozen=True, slots=True)
class Route:
    action: RouteAction | None
    entry_id: str | None
    score: float
    band: Band
    lang: Language | None
    candidates: tuple[Candidate, ...] = ()
    order_number: str | None = None
    smalltalk: SmallTalk | None = None
    suggestions: tuple[Candidate, ...] = field(default=())
    """For the middle band: the entries to offer as "did you mean", best first."""
    angry: bool = False
    """The message sounds angry or distressed (a word of the anger lexicon, not negated)."""


class Router:
    """Routes messages with a KB. Hot reload: assign :attr:`kb` (a finished KnowledgeBase)."""

    def __init__(self, kb: KnowledgeBase, settings: RouterSettings | None = None) -> None:
        self.kb = kb
        self.settings = settings or RouterSettings()
        self._order = re.compile(self.settings.order_number)
        self._status = Lexicon(self.settings.status_cues)
        self._anger = Lexicon(self.settings.anger_words, negatable=True)

    def route(self, text: str) -> Route:
        kb, s = self.kb, self.settings  # one KB for the whole decision, even if swapped meanwhile
        lang = detect_language(text)
        high, low = s.bands.get(script_of(lang), (s.high, s.low)) if lang else (s.high, s.low)
        if not text.strip():
            return Route(None, None, 0.0, "low", lang)
        angry = self._anger.found(text)
        kind = match_smalltalk(text)
        if kind is not None:
            return Route("smalltalk", None, 1.0, "high", lang, smalltalk=kind, angry=angry)
        found = self._order.search(text)
        order_number = found.group(0) if found else None
        rest = text if found is None else f"{text[: found.start()]} {text[found.end():]}"
        candidates = tuple(kb.match(rest, max(s.max_suggestions, 3)))
        top = candidates[0] if candidates else None
        only_number = order_number is not None and only_filler(normalize(rest))  # "订单号 A20261125001"
        if top is not None and top.score >= high and not only_number:
            action = kb.entries[top.entry_id].action
            if order_number is None or action != "order_status":
                return Route(action, top.entry_id, top.score, "high", lang, candidates, order_number, angry=angry)
        if order_number is not None and (
            only_number or (top is not None and top.score >= high) or self._status.found(rest)
        ):
            entry_id = _order_status_entry(kb, candidates)
            return Route("order_status", entry_id, 1.0, "high", lang, candidates, order_number, angry=angry)
        if top is None or top.score < low:
            return Route(None, None, top.score if top else 0.0, "low", lang, candidates, order_number, angry=angry)
        suggestions = tuple(c for i, c in enumerate(candidates) if i == 0 or c.score >= s.suggest_min)
        return Route(
            None, None, top.score, "middle", lang, candidates, order_number,
            suggestions=suggestions[: s.max_suggestions], angry=angry,
        )


def script_of(lang: Language) -> Script:
    return "latin" if lang == "en" else "han"


def _order_status_entry(kb: KnowledgeBase, candidates: tuple[Candidate, ...]) -> str | None:
    """The order-status entry to answer with: the best-ranked one, else the KB's first."""
    for c in candidates:
        if kb.entries[c.entry_id].action == "order_status":
            return c.entry_id
    return next((e.id for e in kb.entries.values() if e.action == "order_status"), None)


@cache
def default_router() -> Router:
    """A router over the shipped default KB alone, built on first use."""
    return Router(KnowledgeBase.load())


def route(text: str, router: Router | None = None) -> Route:
    """Route ``text`` with ``router``, or with the shipped default KB."""
    return (router or default_router()).route(text)
