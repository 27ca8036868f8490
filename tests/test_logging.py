"""Secrets never reach the logs."""

from __future__ import annotations

import io
import logging

from bot.logsetup import configure_logging

TOKEN = "123456:ABCDEFsecretsecretsecret"


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging([TOKEN], level=logging.DEBUG, stream=stream)
    log = logging.getLogger("httpx")
    log.setLevel(logging.DEBUG)
    log.info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"failed calling /bot{TOKEN}/sendMessage")
    except RuntimeError:
        logging.getLogger("kefu").exception("boom")
    output = stream.getvalue()
    assert TOKEN not in output
    assert "/bot***/getMe" in output and "/bot***/sendMessage" in output
