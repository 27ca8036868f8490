"""Outgoing Bot API calls: Telegram's flood limits, and retries that lose no reply.

python-telegram-bot's :class:`AIORateLimiter` keeps under Telegram's limits and waits out a
429's ``retry_after``. On top of it, a 5xx or a refused connection is retried with back-off:
Telegram did not take the request, so sending it again cannot duplicate it. A timeout is not
retried for sending methods — the message may have arrived — only for read-only ones.

Every request passes here first, so this is also where the inbox learns that the update being
handled has started to answer (bot/intake.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter

from bot import intake, monitoring

log = logging.getLogger(__name__)

_READ_ONLY = ("get", "answerCallbackQuery")


class ResilientRateLimiter(AIORateLimiter):
    def __init__(
        self, *, max_retries: int = 3, server_error_retries: int = 3, backoff: float = 0.5,
        messages_per_second: float = 30, group_messages_per_minute: float = 20,
    ) -> None:
        super().__init__(
            overall_max_rate=messages_per_second, group_max_rate=group_messages_per_minute, max_retries=max_retries
        )
        self.server_error_retries = server_error_retries
        self.backoff = backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        await intake.before_request(endpoint, data)
        try:
            result = await self._with_retries(callback, args, kwargs, endpoint, data, rate_limit_args)
        except Exception as error:
            monitoring.count_error(error)
            raise
        monitoring.count_call(endpoint)
        return result

    async def _with_retries(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        for attempt in range(self.server_error_retries + 1):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except TimedOut:
                if not endpoint.startswith(_READ_ONLY) or attempt == self.server_error_retries:
                    raise
            except NetworkError as exc:
                if attempt == self.server_error_retries:
                    raise
                log.warning("%s failed (%s); retry %d of %d", endpoint, exc, attempt + 1, self.server_error_retries)
            await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")
