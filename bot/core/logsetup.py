"""Logging that never prints a secret.

The bot token travels in every Bot API URL (``…/bot<token>/sendMessage``), and HTTP client
libraries log URLs; so every record passes through :class:`RedactSecrets` before any handler
writes it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "***"


class RedactSecrets(logging.Filter):
    """Replace each known secret in a record's rendered message (and traceback) by ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(secrets: Iterable[str] = (), *, level: int = logging.INFO, stream=None) -> None:
    """Log to stderr (or ``stream``) through the redacting filter; quiet the chatty HTTP clients
    and the database drivers (aiosqlite logs every statement with its values at DEBUG: kilobytes a
    second under ``--verbose``, and values are no business of a log)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "apscheduler", "tortoise", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
