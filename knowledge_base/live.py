"""The knowledge base the bot answers from, reloaded without a restart.

It is the shipped default KB, the shop's files (``[knowledge_base] files``) and the file that
``/kb_add`` writes (``learned_file``), merged in that order. :meth:`LiveKnowledgeBase.reload_if_changed`
(called every few seconds) reloads when any of them changed on disk; a broken file is reported
and the last good KB keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from knowledge_base.entries import KBError
from knowledge_base.kb import KnowledgeBase
from knowledge_base.router import Route, Router, RouterSettings

log = logging.getLogger(__name__)


class LiveKnowledgeBase:
    def __init__(
        self,
        files: Sequence[str | Path],
        learned_file: str | Path,
        *,
        values: Mapping[str, Any] | None = None,
        settings: RouterSettings | None = None,
    ) -> None:
        """Load now; raises :class:`KBError` if the files are broken at start."""
        self.learned_file = Path(learned_file)
        self.files = [Path(f) for f in files]
        self.values = dict(values or {})
        self.router = Router(self._load(), settings)
        self._stamps = self._stamp()
        self.last_error: KBError | None = None

    @property
    def kb(self) -> KnowledgeBase:
        return self.router.kb

    def route(self, text: str) -> Route:
        return self.router.route(text)

    def answer(self, entry_id: str, language: str) -> str:
        return self.kb.answer(entry_id, language, self.values)

    def _paths(self) -> list[Path]:
        learned = [self.learned_file] if self.learned_file.exists() else []
        return [*self.files, *learned]

    def _load(self) -> KnowledgeBase:
        return KnowledgeBase.load(self._paths())

    def _stamp(self) -> dict[Path, float | None]:
        stamps: dict[Path, float | None] = {}
        for path in [*self.files, self.learned_file]:
            try:
                stamps[path] = path.stat().st_mtime_ns
            except OSError:
                stamps[path] = None
        return stamps

    def reload_if_changed(self) -> bool:
        """Reload if a file changed; True if a new KB is serving. Errors keep the old one."""
        stamps = self._stamp()
        if stamps == self._stamps:
            return False
        self._stamps = stamps
        try:
            self.router.kb = self._load()
        except KBError as error:
            self.last_error = error
            log.error("knowledge base not reloaded, the last good one keeps serving:\n%s", error)
            return False
        self.last_error = None
        log.info("knowledge base reloaded: %d entries", len(self.kb))
        return True

    def add_question(self, entry_id: str, language: str, question: str) -> None:
        """Teach ``entry_id`` a new example question, saved to the learned file, serving at once."""
        self.router.kb = self.kb.add_question(entry_id, language, question, save_to=self._learned_path())
        self._stamps = self._stamp()

    def add_entry(self, entry: Mapping[str, Any]) -> None:
        self.router.kb = self.kb.add_entry(entry, save_to=self._learned_path())
        self._stamps = self._stamp()

    def _learned_path(self) -> Path:
        self.learned_file.parent.mkdir(parents=True, exist_ok=True)
        return self.learned_file
