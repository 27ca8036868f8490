"""Who is using the console: a :class:`Staff`, at ``request[STAFF]`` on every signed-in request.

Only agents get in, and an agent is a member of the agent group: Telegram is asked
(getChatMember) and its answer reused for ``[console] member_cache_seconds``, so someone removed
from the group is out of the console within that time, sessions or not. Supervisors are those of
``[telegram] supervisors``, read at every request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from bot.core.i18n import text
from bot.core.language import Language
from ticketing.models import Agent


@dataclass(frozen=True)
class Staff:
    """The signed-in agent."""

    agent: Agent
    telegram_id: int
    name: str
    language: Language
    """The pages' language: the agent's Telegram language_code as ours (bot/core/language.py)."""
    supervisor: bool


STAFF = web.RequestKey("console_staff", Staff)


def require_supervisor(request: web.Request) -> Staff:
    """The signed-in supervisor; anyone else gets 403 (a supervisor page, a supervisor's action)."""
    staff = request[STAFF]
    if not staff.supervisor:
        raise refusal(request, 403, "console_supervisors_only", staff.language)
    return staff


def refusal(request: web.Request, status: int, key: str, language: str) -> web.HTTPException:
    """The page that says why not (``key``: its catalog text), as the HTTP error ``status``."""
    page = aiohttp_jinja2.render_string(
        "refused.html", request, {"message": text(language, key), "language": language}
    )
    error = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    return error(text=page, content_type="text/html")


class Members:
    """Telegram's answers to "is this person in the agent group?", kept briefly. A cache, not
    state: each process asks for itself, and an answer older than ``seconds`` is asked again."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self._answers: dict[int, tuple[bool, float]] = {}

    async def is_member(self, bot: ExtBot[None], group: int | None, user_id: int) -> bool:
        if group is None:
            return False
        known = self._answers.get(user_id)
        if known is not None and time.monotonic() - known[1] < self.seconds:
            return known[0]
        try:
            member = await bot.get_chat_member(group, user_id)
        except (BadRequest, Forbidden):  # never was in the group; or the bot is not in it any more
            answer = False
        else:
            answer = member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)
        if len(self._answers) > 10_000:
            self._answers.clear()
        self._answers[user_id] = (answer, time.monotonic())
        return answer
