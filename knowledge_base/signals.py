"""Word lists that tell the router something the matcher does not: is an order number asked
about, and is the customer angry.

An order number alone says nothing about what the customer wants ("cancel order 2024112500123",
"I missed a product in order 3707955617"): it goes with the route, and the router sends the
message to order status only when it asks about status (a *status cue*: where, track, 到哪,
物流 …) or says nothing besides the number (only *order filler*: "order", "订单号", particles).

Anger and distress (angry, scam, 气死, 投诉 …) are a signal of their own: an angry message the
bot cannot answer outright goes to a person as a complaint, and an answer to one comes with the
offer of a person. A word right after a negation ("not angry", "不生气") does not count; that is
as far as negation goes (cheap, and a missed "not" only offers a person too readily).

Matching folds the text like the matcher does (NFKC, lower case, traditional → simplified), so
one list serves zh-Hans and zh-Hant. An English word matches as a whole word, or as the start of
a word when written with a trailing ``*`` ("arriv*": arrive, arrived, arriving); a Chinese word
matches anywhere. The shop's ``[knowledge_base] status_cues`` / ``anger_words`` (per language)
replace these lists for that language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

from bot.core.language import to_simplified

STATUS_CUES: dict[str, tuple[str, ...]] = {
    "en": (
        "where", "wheres", "whereabouts", "status", "track*", "trace", "tracing", "arriv*",
        "shipped", "dispatched", "deliver*", "eta", "locat*", "progress", "on its way",
        "on the way", "when will", "still waiting", "not received", "havent received",
        "hasnt come", "hasnt arrived", "update on", "what happened to",
    ),
    "zh-Hans": (
        "到哪", "在哪", "去哪", "哪里了", "物流", "快递", "进度", "发货", "发出", "到了吗", "到没到",
        "状态", "配送", "派送", "运单", "签收", "什么时候到", "几时到", "还没到", "没收到", "还没收到",
        "追踪", "跟踪", "查询订单", "查单", "查件", "喺边", "到咗未", "寄出",
    ),
}
"""Words of a question about an order's status. Defaults; a shop replaces them per language."""

ANGER_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "angry", "furious", "pissed", "livid", "outraged", "outrageous", "unacceptable",
        "ridiculous", "scam", "scammed", "scammer*", "fraud*", "rip off", "ripoff", "ripped off",
        "worst", "never again", "disgust*", "terrible", "horrible", "awful", "pathetic",
        "useless", "fed up", "sick of", "wtf", "fuck*", "shit*", "crap", "rubbish", "garbage",
        "lawyer", "sue you", "report you", "disappointed", "frustrat*", "annoyed", "shame on",
    ),
    "zh-Hans": (
        "气死", "太差", "投诉", "骗子", "骗人", "垃圾", "什么破", "坑人", "坑爹", "差评", "恶心", "无语",
        "过分", "离谱", "生气", "愤怒", "火大", "忍无可忍", "欺诈", "诈骗", "黑店", "最差", "烂透",
        "再也不买", "搞什么", "什么鬼", "他妈", "妈的", "tmd", "失望", "受够",
        "嬲", "激死", "呃人", "有冇搞错", "顶唔顺", "乜鬼",
    ),
}
"""Words of an angry or distressed customer. Defaults; a shop replaces them per language."""

ORDER_FILLER: frozenset[str] = frozenset(
    "order orders ordered number no num nr id my the a an is it this for of please pls plz "
    "hi hello hey purchase check see 0 what whats s about how and with any news up thanks thank you u ok so "
    "订 单 号 码 我 的 了 吗 呢 啊 呀 哈 啦 吧 亲 请 查 一 下 这 个 是 你 好 帮 看 麻 烦 谢 喔 哦 嗯 张 笔 "
    "编 唔 该 咗 嘅 呢".split()
)
"""What may stand beside an order number in a message that asks nothing else: it goes to status."""

_NEGATIONS_EN = frozenset("not no never dont doesnt didnt isnt wasnt arent werent aint wont".split())
_NEGATIONS_ZH = "不没別别未"
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Text as the word lists see it: NFKC, lower case, simplified, one space between words,
    and no apostrophes ("hasn't" → "hasnt")."""
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("’", "")
    return _SPACES.sub(" ", to_simplified(text)).strip()


def words(defaults: Mapping[str, Iterable[str]], shop: Mapping[str, Iterable[str]] | None = None) -> tuple[str, ...]:
    """The lists of every language together, the shop's list replacing the default of its
    language (zh-Hant is folded into zh-Hans, so either key serves Chinese)."""
    chosen = {lang: tuple(ws) for lang, ws in defaults.items()}
    for lang, ws in (shop or {}).items():
        chosen["zh-Hans" if lang == "zh-Hant" else lang] = tuple(ws)
    return tuple(dict.fromkeys(fold(w) for ws in chosen.values() for w in ws if w.strip()))


class Lexicon:
    """A compiled word list; :meth:`found` says whether a text holds one of its words."""

    def __init__(self, entries: Iterable[str], *, negatable: bool = False) -> None:
        parts = []
        for word in sorted({fold(w) for w in entries if w.strip()}, key=len, reverse=True):
            prefix = word.endswith("*")
            word = word.rstrip("*").strip()
            if not word:
                continue
            if word[0].isascii() and word[0].isalnum():
                parts.append(r"(?<![a-z0-9])" + re.escape(word) + ("" if prefix else r"(?![a-z0-9])"))
            else:
                parts.append(re.escape(word))
        self._pattern = re.compile("|".join(parts)) if parts else None
        self._negatable = negatable

    def found(self, text: str) -> bool:
        if self._pattern is None:
            return False
        folded = fold(text)
        return any(not (self._negatable and _negated(folded, m.start())) for m in self._pattern.finditer(folded))


def _negated(folded: str, start: int) -> bool:
    """A negation just before ``start``: one of the two words before it in English, the
    character right before it in Chinese."""
    before = folded[:start]
    if before and before[-1] in _NEGATIONS_ZH:
        return True
    last_words = before.split()[-2:]
    return any(w in _NEGATIONS_EN for w in last_words)


def only_filler(normalized: str) -> bool:
    """True when a normalised text (:func:`knowledge_base.features.normalize`) holds nothing but
    order filler: the rest of "订单号 A20261125001 查一下" or "order #123456 please"."""
    return all(token in ORDER_FILLER for token in normalized.split())
