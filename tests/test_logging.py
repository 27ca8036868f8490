"""Secrets never reach the logs."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
import pytest

from bot.core.logsetup import configure_logging
from tests.harness import TEST_PRIVACY_KEY, free_port, kefu_env, kefu_run

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


@pytest.mark.slow
async def test_a_running_bot_logs_none_of_its_secrets(tmp_path, emulator) -> None:
    """`kefu --verbose run` in webhook mode with every secret set, through a conversation, a
    webhook call with a wrong secret and an API call with a wrong token: the log shows none."""
    port = free_port()
    secrets = {
        "KEFU_TELEGRAM__TOKEN": "987654321:AAsecret-token-for-the-log-test",
        "KEFU_TELEGRAM__WEBHOOK_SECRET": "webhook-secret-never-logged-0123",
        "KEFU_API__TOKEN": "api-token-never-logged-456789",
        "KEFU_ORDERS__WEBHOOK_SECRET": "order-feed-secret-never-logged-42",
        "KEFU_PRIVACY__KEYS": json.dumps([TEST_PRIVACY_KEY]),
    }
    env = kefu_env(**secrets, KEFU_TELEGRAM__BASE_URL=emulator.base_url, KEFU_TELEGRAM__MODE="webhook",
                   KEFU_TELEGRAM__WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
                   KEFU_API__LISTEN=f"127.0.0.1:{port}")
    async with kefu_run(tmp_path, env, "--verbose") as kefu:
        customer = emulator.add_user(first_name="Fang", language_code="en")
        emulator.send_text(customer["id"], "how long does shipping take")
        await emulator.wait_for_bot_message(customer["id"], timeout=60)
        async with aiohttp.ClientSession() as http:
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-the-webhook-secret"}
            async with http.post(f"http://127.0.0.1:{port}/telegram/webhook", json={"update_id": 1}, headers=wrong) as answer:
                assert answer.status == 403
            async with http.get(f"http://127.0.0.1:{port}/api/metrics", headers={"Authorization": "Bearer nope"}) as answer:
                assert answer.status == 401
        assert await kefu.stop() == 0, kefu.log
    assert "refused" in kefu.log  # the wrong webhook call was logged, without the secret
    for name, secret in secrets.items():
        values = json.loads(secret) if name == "KEFU_PRIVACY__KEYS" else [secret]
        for value in values:
            assert value not in kefu.log, name
    assert "AAsecret" not in kefu.log  # not even part of the token
