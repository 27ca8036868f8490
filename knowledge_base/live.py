"""The knowledge base the bot answers from, reloaded without a restart.

It is the shipped default KB, the shop's files (``[knowledge_base] files``) and the file that
``/kb_add`` writes (``learned_file``), merged in that order. :meth:`LiveKnowledgeBase.reload_if_changed`
(called every few seconds) reloads when any of them changed on disk; a broken file is logged
and the last good KB keeps serving.

The people who can fix a file must hear of it, once: :meth:`LiveKnowledgeBase.poll` returns
:class:`KBNews` when the KB stops loading and when it loads again, not on every poll while a
file stays broken. The news knows nothing of Telegram; the app posts it to the agent group.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge_base.entries import KBError
from knowledge_base.kb import KnowledgeBase
from knowledge_base.loader import MAX_FILE_BYTES, load_entries
from knowledge_base.router import Route, Router, RouterSettings

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int, int] | None
"""A file as last seen: modified and changed times (ns), size, inode; None if missing."""


@dataclass(frozen=True, slots=True)
class KBNews:
    """The KB stopped loading (``error``: the last good one, ``entries`` long, keeps serving) or
    loads again (``error`` None, ``entries`` now serving).

    ``version`` names the files' state: the latest change time (ns, zero-padded) of any of
    them. Processes reading the same files see the same version, so a fleet can tell the
    agents once; it grows with every change.
    """

    error: KBError | None
    entries: int
    version: str


class LiveKnowledgeBase:
    def __init__(
        self,
        files: Sequence[str | Path],
        learned_file: str | Path,
        *,
        values: Mapping[str, Any] | None = None,
        settings: RouterSettings | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        """Load now; raises :class:`KBError` if the files are broken at start (or one is over
        ``max_file_bytes``)."""
        self.learned_file = Path(learned_file)
        self.files = [Path(f) for f in files]
        self.values = dict(values or {})
        self.max_file_bytes = max_file_bytes
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
        return KnowledgeBase(load_entries(self._paths(), max_bytes=self.max_file_bytes).values())

    def _stamp(self) -> dict[Path, Stamp]:
        """The files as they are now: a rewrite, a rename over a file or a copy that keeps the
        old modification time all change the change time, size or inode."""
        stamps: dict[Path, Stamp] = {}
        for path in [*self.files, self.learned_file]:
            try:
                info = path.stat()
            except OSError:
                stamps[path] = None
            else:
                stamps[path] = (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)
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

    def poll(self) -> KBNews | None:
        """:meth:`reload_if_changed`, and news when the KB just broke or just mended.

        While the files stay broken (even if edited into another broken state) there is no
        more news; after they load again, the next break is news again.
        """
        was_broken = self.last_error is not None
        self.reload_if_changed()
        if (self.last_error is not None) == was_broken:
            return None
        return KBNews(self.last_error, len(self.kb), self._version())

    def _version(self) -> str:
        """The latest change to the files; a file that is gone counts its folder's (whose times
        its removal set)."""
        times: list[int] = []
        for path, stamp in self._stamps.items():
            if stamp is None:
                try:
                    info = path.parent.stat()
                except OSError:
                    continue
                stamp = (info.st_mtime_ns, info.st_ctime_ns, 0, 0)
            times.extend(stamp[:2])
        return f"{max(times, default=0):020d}"

    def reload(self) -> None:
        """Serve the files as they are now, at once (after this process wrote one of them: other
        processes see the change at their next :meth:`reload_if_changed`). Raises :class:`KBError`
        and keeps the KB serving if they do not load. Files that were broken are left for
        :meth:`poll` to see mended, so the agents hear of it as of any mend."""
        stamps = self._stamp()
        self.router.kb = self._load()
        if self.last_error is None:
            self._stamps = stamps

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
