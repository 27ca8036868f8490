"""Signing in to the console, and the check every console request goes through.

Two ways in, one kind of session (bot/console/models.py, in the database: any process answers):

- **Inside Telegram** the Mini App posts its ``initData`` to ``/console/auth``. It is checked as
  Telegram documents ("Validating data received via the Mini App"): the secret key is
  HMAC-SHA256 of the bot token keyed with ``WebAppData``; the data-check-string is every field
  but ``hash``, sorted, ``key=value`` joined by newlines; its HMAC-SHA256 under the secret key,
  in hex, must equal ``hash``; ``auth_date`` no older than ``[console] login_max_age`` (nor more
  than a minute ahead). The page gets a bearer token: Telegram Web opens Mini Apps in a
  cross-site iframe, where cookies are not sent.
- **In a browser** a one-time link (``/console`` in the agent group, valid ``link_minutes``) sets
  an HttpOnly cookie.

Every change (POST, PUT, PATCH, DELETE) also carries the session's CSRF token, as the form field
``csrf`` or the header ``X-CSRF-Token``. Tokens are kept only as their SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.console.models import ConsoleLink, ConsoleSession
from bot.console.staff import STAFF, Members, Staff, refusal
from bot.context import KefuApp
from bot.core.i18n import text
from bot.core.language import LANGUAGES, Language, language_from_telegram

COOKIE = "kefu_console"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = frozenset({"/console", "/console/", "/console/auth", "/console/login"})
"""Pages anyone may open: the Mini App's entry page, the two ways of signing in (and static files)."""
FUTURE_SKEW = timedelta(minutes=1)
"""How far ahead of kefu's clock an auth_date may be (clocks differ a little)."""
SESSION = web.RequestKey("console_session", ConsoleSession)
CONSOLE_BOT = web.AppKey("console_bot", KefuApp)
MEMBERS = web.AppKey("console_members", Members)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InvalidInitData(ValueError):
    """The initData does not validate: forged, signed for another bot, malformed or too old."""


@dataclass(frozen=True)
class InitData:
    """What a valid initData says about who opened the Mini App."""

    user_id: int
    name: str
    username: str | None
    language_code: str | None
    auth_date: datetime


def _secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign_init_data(bot_token: str, user: dict[str, Any], auth_date: datetime, **extra: str) -> str:
    """An initData as Telegram makes it for ``user`` (the emulator, the sandbox and the tests sign
    in with it; a real Mini App gets it from Telegram)."""
    fields = {"auth_date": str(int(auth_date.timestamp())), "user": json.dumps(user, ensure_ascii=False), **extra}
    fields["hash"] = hmac.new(_secret_key(bot_token), _data_check_string(fields).encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def validate_init_data(init_data: str, bot_token: str, now: datetime, max_age: int) -> InitData:
    """The signed-in user of ``init_data``; :class:`InvalidInitData` unless Telegram signed it
    for this bot no more than ``max_age`` seconds before ``now``."""
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInitData("not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields:
        raise InvalidInitData("a field given twice, or no hash")
    expected = hmac.new(_secret_key(bot_token), _data_check_string(fields).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), fields["hash"].encode()):
        raise InvalidInitData("the hash does not match")
    try:
        auth_date = datetime.fromtimestamp(int(fields["auth_date"]), now.tzinfo)
        user = json.loads(fields["user"])
        user_id = user["id"]
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        raise InvalidInitData("no auth_date or user") from None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InvalidInitData("no user id")
    if now - auth_date > timedelta(seconds=max_age) or auth_date - now > FUTURE_SKEW:
        raise InvalidInitData("auth_date too old or in the future")
    name = " ".join(str(user[key]) for key in ("first_name", "last_name") if user.get(key))
    username = user.get("username") if isinstance(user.get("username"), str) else None
    code = user.get("language_code") if isinstance(user.get("language_code"), str) else None
    return InitData(user_id, name, username, code, auth_date)


def staff_language(language_code: str | None, default: str) -> Language:
    """The pages' language for someone whose Telegram says ``language_code`` (none: ``default``,
    the agent group's language)."""
    if language_code:
        return language_from_telegram(language_code)
    return default if default in LANGUAGES else "en"  # type: ignore[return-value]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(agent_id: int, language: str, now: datetime, minutes: int) -> tuple[str, ConsoleSession]:
    """A new session for the agent: its token (shown once, kept only as a hash) and its row.
    Sessions long expired are swept on the way."""
    await ConsoleSession.filter(expires_at__lt=now - timedelta(days=1)).delete()
    token = secrets.token_urlsafe(32)
    session = await ConsoleSession.create(
        token_hash=_hash(token), agent_id=agent_id, csrf=secrets.token_urlsafe(32), language=language,
        created_at=now, expires_at=now + timedelta(minutes=minutes), last_seen=now,
    )
    return token, session


async def mint_link(agent_id: int, language: str, now: datetime, minutes: int) -> str:
    """A one-time login link's token for the agent, valid ``minutes``."""
    await ConsoleLink.filter(expires_at__lt=now - timedelta(days=1)).delete()
    token = secrets.token_urlsafe(32)
    await ConsoleLink.create(
        token_hash=_hash(token), agent_id=agent_id, language=language, created_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    return token


def login_url(base_url: str, token: str) -> str:
    return f"{base_url}/console/login?t={token}"


async def use_link(token: str, now: datetime) -> ConsoleLink | None:
    """The link, marked used; None when it is unknown, used already or expired. Two processes
    given the same link at once: one update wins, the other finds it used."""
    digest = _hash(token)
    taken = await ConsoleLink.filter(token_hash=digest, used_at=None, expires_at__gt=now).update(used_at=now)
    return await ConsoleLink.get(token_hash=digest) if taken == 1 else None


def _token_of(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or None


def template_context(request: web.Request, staff: Staff | None, language: str, csrf: str) -> None:
    """What every console template may use: ``staff``, ``t(key, **values)``, ``csrf``, ``now``,
    ``language``."""
    bot = request.app[CONSOLE_BOT]
    context = {
        "staff": staff,
        "t": lambda key, **values: text(language, key, **values),
        "csrf": csrf,
        "now": bot.bot_data.now(),
        "language": language,
    }
    with warnings.catch_warnings():  # aiohttp-jinja2 names its key with a string, not a RequestKey
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = context


async def _csrf_given(request: web.Request) -> str:
    if given := request.headers.get(CSRF_HEADER):
        return given
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # aiohttp keeps it: the handler reads it again for free
        value = form.get("csrf")
        return value if isinstance(value, str) else ""
    return ""


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Signed-in agents only, under /console/ (but its public pages): the session from the
    bearer token or the cookie, the person still in the agent group, the CSRF token on changes."""
    path = request.path
    if not (path == "/console" or path.startswith("/console/")):
        return await handler(request)
    bot = request.app[CONSOLE_BOT]
    settings = bot.bot_data.settings
    default_language = settings.telegram.agent_language
    if path in PUBLIC_PATHS or path.startswith("/console/static/"):
        template_context(request, None, default_language, "")
        return await handler(request)
    template_context(request, None, default_language, "")
    token = _token_of(request)
    now = bot.bot_data.now()
    session = await ConsoleSession.get_or_none(token_hash=_hash(token)).select_related("agent") if token else None
    if session is None or session.expires_at <= now:
        raise refusal(request, 401, "console_signed_out" if session is None else "console_session_expired", default_language)
    agent = session.agent
    language = session.language
    template_context(request, None, language, "")
    members = request.app[MEMBERS]
    if not agent.active or not await members.is_member(bot.bot, settings.telegram.agent_chat_id, agent.telegram_id):
        raise refusal(request, 403, "console_not_an_agent", language)
    if request.method in UNSAFE_METHODS and not hmac.compare_digest(
        (await _csrf_given(request)).encode(), session.csrf.encode()
    ):
        raise refusal(request, 403, "console_csrf_refused", language)
    staff = Staff(
        agent=agent, telegram_id=agent.telegram_id, name=agent.name, language=language,  # type: ignore[arg-type]
        supervisor=agent.telegram_id in settings.telegram.supervisors,
    )
    request[STAFF] = staff
    request[SESSION] = session
    template_context(request, staff, language, session.csrf)
    if now - session.last_seen >= timedelta(minutes=1):
        await ConsoleSession.filter(id=session.id).update(last_seen=now)
    return await handler(request)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "frame-ancestors https://web.telegram.org https://*.telegram.org 'self'; base-uri 'none'; form-action 'self'"
)


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every console answer (pages, errors, static files): a strict Content-Security-Policy, no
    referrer (login links carry a token), no guessing of content types, and pages not cached."""
    if not (request.path == "/console" or request.path.startswith("/console/")):
        return
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/console/static/"):
        response.headers["Cache-Control"] = "no-store"
