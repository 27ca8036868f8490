"""Text → normalised form → sparse n-gram features, the same for KB questions and messages.

Normalisation folds what does not change the question: width (full-width ``ＡＢＣ１２３`` and
``，`` become ASCII by NFKC), case, traditional → simplified characters (OpenCC ``t2s``),
punctuation and emoji (dropped), digit runs (order numbers, amounts: all become ``0``) and the
words customers use for one thing ("parcel" → "package", 退钱 → 退款, Cantonese 唔 → 不:
:mod:`knowledge_base.vocabulary`).

Chinese is written without spaces, so it is not segmented into words: every Han character is a
token and the token bigrams carry the words (``退货``, ``运费``, ``发票``). Character n-grams
need no dictionary and cannot mis-segment shop jargon or typos; Han trigrams were measured and
dropped (same accuracy, worse out-of-domain separation: see ``bench/README.md``). Other words
give their own token, token bigrams, and the character 2–5-grams of the space-padded word
(scikit-learn's ``char_wb``), which is what makes ``ordr`` close to ``order``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from bot.core.language import to_simplified
from knowledge_base.vocabulary import foldings

_HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN = re.compile(f"[{_HAN_CHARS}]")
_TOKEN = re.compile(f"[{_HAN_CHARS}]|[^\\W_{_HAN_CHARS}]+")
_DIGITS = re.compile(r"\d+")

CHAR_NGRAMS = (2, 5)
"""Character n-gram sizes taken from each space-padded non-Han word."""

Features = dict[str, float]
_NO_FOLDING = (str, str, str)


def normalize(text: str, fold: bool = True) -> str:
    """The text as the matcher compares it: ``"我想退貨！！😊"`` → ``"我 想 退 货"``; with
    ``fold``, customers' words folded to one form (:mod:`knowledge_base.vocabulary`)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.lower()
    cantonese, mandarin, english = foldings() if fold else _NO_FOLDING
    if _HAN.search(text):
        text = mandarin(to_simplified(cantonese(text)))
    text = _DIGITS.sub("0", text)
    return english(" ".join(_TOKEN.findall(text)))


def normalize_many(texts: Sequence[str], fold: bool = True) -> list[str]:
    """``[normalize(t) for t in texts]``, faster for many texts (a KB's example questions).

    OpenCC is called once for all the Chinese texts joined by newlines rather than once per
    text, and the digit folding runs once over the joined text: neither can act across a
    newline, so the result is the same. A text containing a newline itself is normalised alone.
    """
    texts = list(texts)
    out = ["" for _ in texts]
    lines: list[str] = []
    where: list[int] = []
    for i, text in enumerate(texts):
        if "\n" in text:
            out[i] = normalize(text, fold)
            continue
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        lines.append(text.lower())
        where.append(i)
    cantonese, mandarin, english = foldings() if fold else _NO_FOLDING
    han = [i for i, line in enumerate(lines) if _HAN.search(line)]
    if han:
        converted = mandarin(to_simplified(cantonese("\n".join([lines[i] for i in han])))).split("\n")
        if len(converted) != len(han):  # never seen: OpenCC keeps newlines; be safe anyway
            converted = [mandarin(to_simplified(cantonese(lines[i]))) for i in han]
        for i, line in zip(han, converted, strict=True):
            lines[i] = line
    joined = "\n".join(lines)
    if _DIGITS.search(joined):
        lines = _DIGITS.sub("0", joined).split("\n")
    findall = _TOKEN.findall
    for i, line in zip(where, lines, strict=True):
        out[i] = " ".join(findall(line))
    for i in where:
        out[i] = english(out[i])
    return out


def tokens(normalized: str) -> list[str]:
    return normalized.split()


def features(normalized: str) -> Features:
    """Sublinear (1 + log tf) counts of the n-grams of a normalised text; not length-normalised.

    Namespaces keep the families apart: ``w:`` words and Han characters, ``b:`` token bigrams;
    character n-grams of words go bare (they contain a space or are inner pieces of a word,
    which no other family produces).
    """
    toks = normalized.split()
    counts: Counter[str] = Counter()
    for tok in toks:
        counts.update(_word_grams(tok))
    counts.update([f"b:{a} {b}" for a, b in zip(toks, toks[1:], strict=False)])
    return {f: (1.0 if c == 1 else _sublinear(c)) for f, c in counts.items()}


@lru_cache(maxsize=200_000)
def _word_grams(tok: str) -> tuple[str, ...]:
    """``w:tok`` and, for a non-Han word, the character n-grams of `` tok ``; cached: words repeat."""
    if len(tok) == 1 and _HAN.match(tok):
        return ("w:" + tok,)
    padded = f" {tok} "
    lo, hi = CHAR_NGRAMS
    grams = [padded[i : i + n] for n in range(lo, min(hi, len(padded)) + 1) for i in range(len(padded) - n + 1)]
    return ("w:" + tok, *grams)


@lru_cache(maxsize=64)
def _sublinear(count: int) -> float:
    return 1.0 + math.log(count)
