"""Words customers use for the same thing, folded to one form before matching.

A KB's examples cannot hold every way of saying a thing: "parcel" where the KB says "package",
"退钱" where it says "退款", Hong Kong Cantonese (唔, 冇, 喺, 咗) where it is written in Mandarin,
"cancle" and "帐户" where it is spelt right. The matcher's n-grams see no likeness between
such words, so both sides — every example question and every message — are folded to one
form with the lists in ``data/vocabulary.yaml`` (written from general knowledge of shop
customer service). Folding both sides keeps it symmetric: whichever member a shop's KB uses,
a customer's other member finds it.

Four lists, applied in order:

* ``mixed`` on a Chinese text as written: English words inside it ("我的order呢") are read as
  the Chinese word, so the message meets the entry's Chinese examples;
* ``cantonese`` on the text as written, before traditional → simplified folding (OpenCC turns
  係 into 系, which Mandarin uses in 联系; 關係 is kept by listing it);
* ``zh`` on the simplified text;
* ``en`` on whole lower-case words and phrases of the tokenised text (a dictionary look-up
  per word, for speed: a 10,000-entry KB folds 80,000 questions at load).

The longest form wins where forms overlap ("人工客服" before "客服"), and each list's own
keys are matched too, so a key inside a longer variant is never folded twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files

import yaml

Folding = Callable[[str], str]
_LATIN = re.compile("[a-z]")


def _replacer(groups: Mapping[str, list[str]], pattern: Callable[[str], str]) -> Folding:
    table: dict[str, str] = {}
    for key, variants in groups.items():
        table.setdefault(key, key)
        for variant in variants:
            table[str(variant)] = key
    alternatives = "|".join(map(re.escape, sorted(table, key=lambda form: (-len(form), form))))
    # a look-ahead at the first characters lets the search skip most places at once
    firsts = re.escape("".join(sorted({form[0] for form in table})))
    regex = re.compile(f"(?=[{firsts}])" + pattern(alternatives))
    return lambda text: regex.sub(lambda m: table[m.group(0)], text)


@cache
def foldings() -> tuple[Folding, Folding, Folding]:
    """(Chinese text as written, Mandarin, English) folding functions, built once from the
    shipped lists; the first reads mixed-in English words, then Cantonese."""
    data = yaml.safe_load(files("knowledge_base").joinpath("data/vocabulary.yaml").read_text(encoding="utf-8"))
    mixed = _replacer(data["mixed"], lambda alt: f"(?<![a-z])(?:{alt})(?![a-z])")
    cantonese = _replacer(data["cantonese"], lambda alt: alt)
    return (
        lambda text: cantonese(mixed(text) if _LATIN.search(text) else text),
        _replacer(data["zh"], lambda alt: alt),
        _phrases(data["en"]),
    )


def _phrases(groups: Mapping[str, list[str]]) -> Folding:
    """Folding of a normalised text (words separated by single spaces) by whole words and
    phrases, longest first."""
    table: dict[tuple[str, ...], str] = {}
    for key, variants in groups.items():
        for variant in variants:
            table[tuple(str(variant).split())] = key
    firsts = frozenset(words[0] for words in table)
    longest = max(map(len, table), default=1)

    def fold(text: str) -> str:
        words = text.split(" ")
        if firsts.isdisjoint(words):
            return text
        out: list[str] = []
        i = 0
        while i < len(words):
            if words[i] in firsts:
                for n in range(min(longest, len(words) - i), 0, -1):
                    key = table.get(tuple(words[i : i + n]))
                    if key is not None:
                        out.append(key)
                        i += n
                        break
                else:
                    out.append(words[i])
                    i += 1
            else:
                out.append(words[i])
                i += 1
        return " ".join(out)

    return fold
