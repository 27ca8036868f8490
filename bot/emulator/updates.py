"""How updates reach the bot: getUpdates long polling, or a webhook the emulator posts to.

As on Telegram: a second getUpdates terminates a pending one with 409 Conflict, and getUpdates
is refused while a webhook is set; an update is forgotten once a later offset confirms it; a
webhook gets the secret header, up to ``max_connections`` updates at once but one at a time per
chat, in order, and an update stays pending until answered 2xx. Like a self-hosted Bot API
server in ``--local`` mode, a plain-HTTP webhook on this machine is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .limits import (
    CONFLICT_POLLING,
    CONFLICT_WEBHOOK,
    DEFAULT_ALLOWED_UPDATES,
    JSON,
    LOOPBACK_HOSTS,
    SECRET_TOKEN_RE,
    WEBHOOK_FIRST_PAUSE,
    WEBHOOK_LONGEST_PAUSE,
    WEBHOOK_TIMEOUT,
    ApiError,
    bad_request,
)
from .records import now, update_chat_id
from .wire import Params
from .world import World


class Updates(World):
    """getUpdates, setWebhook, deleteWebhook and getWebhookInfo, over the world's update queue."""

    async def _get_updates(self, params: Params) -> list[JSON]:
        if self.webhook["url"]:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = params.get_int("offset", 0) or 0
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_float("timeout", 0.0), 0.0)
        self._set_allowed_updates(params.get_json("allowed_updates"))
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.fire()  # terminates an older long poll, as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._updates_signal.wait(remaining):
                break
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLLING)
            if self.webhook["url"]:
                raise ApiError(409, CONFLICT_WEBHOOK)
        batch = list(itertools.islice(self._pending, limit))
        self._counters["updates_delivered"] += len(batch)
        return batch

    def _confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    def _set_allowed_updates(self, allowed: Any) -> None:
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed_updates JSON object")
        self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES

    def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url") or ""
        # Like a self-hosted Bot API server in --local mode, plain HTTP to this machine is allowed.
        if url and not url.startswith("https://") and urlsplit(url).hostname not in LOOPBACK_HOSTS:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self._set_allowed_updates(params.get_json("allowed_updates"))
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get_json("allowed_updates"),
            "max_connections": params.get_int("max_connections", 40),
        }
        self._updates_signal.fire()
        if url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_by_webhook())
        return True

    async def _deliver_by_webhook(self) -> None:
        """Like Telegram: POST pending updates to the webhook with the secret header, up to
        ``max_connections`` at once but one at a time per chat, in order; an update stays pending
        until answered 2xx (what else comes back is retried with growing pauses)."""
        pause = WEBHOOK_FIRST_PAUSE
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as session:
            while self.webhook["url"] and not self._closing:
                if not self._pending:
                    await self._updates_signal.wait(1.0)
                    continue
                batch: list[JSON] = []
                busy: set[int] = set()
                for update in self._pending:
                    chat = update_chat_id(update)
                    if chat is not None and chat in busy:
                        continue
                    if chat is not None:
                        busy.add(chat)
                    batch.append(update)
                    if len(batch) >= self.webhook["max_connections"]:
                        break
                answers = await asyncio.gather(*(self._post_update(session, update) for update in batch))
                for update, delivered in zip(batch, answers, strict=True):
                    if delivered:
                        with contextlib.suppress(ValueError):
                            self._pending.remove(update)
                        self._counters["updates_delivered"] += 1
                if all(answers):
                    pause = WEBHOOK_FIRST_PAUSE
                else:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, WEBHOOK_LONGEST_PAUSE)

    async def _post_update(self, session: aiohttp.ClientSession, update: JSON) -> bool:
        headers = {"Content-Type": "application/json"}
        if self.webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        try:
            async with session.post(self.webhook["url"], data=json.dumps(update), headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return True
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}"
        self._counters["webhook_errors"] += 1
        self.webhook["last_error_date"], self.webhook["last_error_message"] = now(), error
        return False

    def _delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": "", "secret_token": None, "allowed_updates": None, "max_connections": 40}
        return True

    def _get_webhook_info(self, _params: Params) -> JSON:
        info: JSON = {
            "url": self.webhook["url"], "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            info["allowed_updates"] = sorted(self._allowed_updates)
            if "last_error_date" in self.webhook:
                info["last_error_date"] = self.webhook["last_error_date"]
                info["last_error_message"] = self.webhook["last_error_message"]
        return info
