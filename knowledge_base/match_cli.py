"""``kefu kb match --kb FILE [--kb FILE …] --json``: route questions read one per line.

Each input line gives one output line, a JSON object (UTF-8, not ASCII-escaped)::

    {"text": "运费怎么算", "entry": "shipping_fee", "action": "answer", "score": 0.98,
     "lang": "zh-Hans", "band": "high", "candidates": ["shipping_fee", ...]}

``entry`` and ``action`` are what the bot would act on, null when it would not (middle band:
it asks "did you mean" with ``candidates``; low band: no match). ``score`` is the confidence.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TextIO

from knowledge_base.entries import KBError
from knowledge_base.kb import KnowledgeBase
from knowledge_base.router import Route, Router


def route_to_json(text: str, route: Route) -> dict[str, object]:
    shown = route.suggestions if route.band == "middle" else route.candidates
    return {
        "text": text,
        "entry": route.entry_id,
        "action": route.action,
        "score": round(route.score, 4),
        "lang": route.lang,
        "band": route.band,
        "candidates": [c.entry_id for c in shown],
    }


def run_match(
    kb_files: Sequence[str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO | None = None,
    *,
    include_default: bool = False,
) -> int:
    """Route each line of ``stdin``; 0 on success, 2 if the KB does not load (error on stderr).

    The KB is ``kb_files`` merged in order (later ids replace earlier ones); with none, or with
    ``include_default``, the shipped default KB comes first. Blank lines are skipped.
    """
    try:
        kb = KnowledgeBase.load(list(kb_files), include_default=include_default or not kb_files)
    except KBError as exc:
        if stderr is not None:
            print(f"knowledge base error:\n{exc}", file=stderr)
        return 2
    router = Router(kb)
    for line in stdin:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        stdout.write(json.dumps(route_to_json(text, router.route(text)), ensure_ascii=False) + "\n")
    stdout.flush()
    return 0


def run_match_text(kb_files: Sequence[str], stdin: TextIO, stdout: TextIO, stderr: TextIO | None = None) -> int:
    """The same routing for people: ``question → entry (action, band, score)`` a line."""
    buffer = io.StringIO()
    status = run_match(kb_files, stdin, buffer, stderr)
    for line in buffer.getvalue().splitlines():
        row = json.loads(line)
        suggested = "did you mean: " + ", ".join(row["candidates"])
        target = row["entry"] or (suggested if row["band"] == "middle" else "no match")
        stdout.write(f"{row['text']} → {target} ({row['action'] or '-'}, {row['band']}, {row['score']:.2f})\n")
    return status
