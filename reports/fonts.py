"""A font with Chinese glyphs for the report's chart, found on the machine, never downloaded.

matplotlib's bundled DejaVu Sans has no CJK glyphs: Chinese labels drawn with it come out as
empty boxes ("tofu"). kefu ships no font (a full CJK face is 5–20 MB, and a subset would have to
be rebuilt whenever a catalog text gains a character); it looks among the system's fonts for a
known CJK family (Noto Sans CJK, Source Han Sans, WenQuanYi, Droid Sans Fallback, PingFang,
Microsoft YaHei, SimHei …) and then for any font at all whose character map covers the
characters of the chart's texts. A font installed after matplotlib built its font cache is found
too: the system's font folders are scanned again once when the cache has none. Debian's
``fonts-wqy-microhei`` (5 MB) or ``fonts-noto-cjk`` is enough; see README.md, *Reports*.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache

log = logging.getLogger(__name__)

KNOWN_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans SC", "Noto Sans TC", "Source Han Sans SC", "Source Han Sans CN",
    "Source Han Sans TC", "Source Han Sans", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback",
    "PingFang SC", "PingFang TC", "Microsoft YaHei", "Microsoft JhengHei", "SimHei", "Heiti SC", "Noto Sans CJK JP",
)
"""Preferred first, in this order; sans-serif faces read best at a chart's small sizes."""

SAMPLE = "服务质量报告趋势投诉占比满意度物流退换货支付态度其他期間報告滿意"
"""Simplified and traditional characters every CJK face worth using has."""

NOT_TEXT = ("Last Resort",)
"""Fonts that map every character to a placeholder box: covering is not drawing."""


def covers(path: str, characters: Iterable[str]) -> bool:
    """Whether the font file maps every character to a glyph (a .ttc's first face)."""
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(c) in charmap for c in characters if not c.isspace() and ord(c) > 0x2E7F)


@cache
def cjk_font() -> str | None:
    """The family name of a font that draws Chinese, or None when the machine has none."""
    from matplotlib import font_manager

    found = _pick(font_manager.fontManager.ttflist, KNOWN_FAMILIES)
    if found is None:  # a font installed since matplotlib's cache was built
        known = {entry.fname for entry in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _pick(font_manager.fontManager.ttflist, KNOWN_FAMILIES) or _pick(font_manager.fontManager.ttflist)
    if found is None:
        log.warning("no font with Chinese glyphs on this machine (e.g. apt-get install fonts-wqy-microhei): "
                    "the report's chart is drawn with English labels")
    return found


def _pick(entries: list, families: Iterable[str] | None = None) -> str | None:
    """The first of ``families`` (else of every family, by name) with a face covering :data:`SAMPLE`."""
    by_name: dict[str, list[str]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry.fname)
    names = list(families) if families is not None else sorted(by_name)
    for name in names:
        if name.startswith(NOT_TEXT):
            continue
        if any(covers(path, SAMPLE) for path in by_name.get(name, ())):
            return name
    return None
