"""The console on kefu's HTTP server: the sign-in pages here, each page of its own in a module
beside (one ``routes`` table each, registered in :func:`build_console`).

Pages are rendered on the server (aiohttp-jinja2, every template autoescaped, so whatever a
customer wrote shows as text) and made interactive by htmx, vendored with console.js and
console.css in ``static/``: nothing is built with Node and nothing is fetched from a CDN, as a
shop's network may be closed. The body is ``hx-boost``ed, so links and forms go through htmx and
carry the bearer token the Mini App signed in with (console.js adds it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.console import auth, campaigns, kb, reports, ticket, tickets
from bot.console.staff import Members, refusal
from bot.context import KefuApp
from bot.core.config import Settings
from bot.core.i18n import text
from ticketing.service import record_agent

HERE = Path(__file__).parent
routes = web.RouteTableDef()


def build_console(app: web.Application, settings: Settings, bot: KefuApp) -> None:
    """The console's pages on kefu's HTTP ``app``, for the running ``bot``."""
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
    )
    app[auth.CONSOLE_BOT] = bot
    app[auth.MEMBERS] = Members(settings.console.member_cache_seconds)
    app.middlewares.append(auth.console_guard)
    app.on_response_prepare.append(auth.secure_headers)
    app.router.add_static("/console/static", HERE / "static", append_version=False)
    app.add_routes(routes)
    app.add_routes(kb.routes)
    app.add_routes(ticket.routes)
    app.add_routes(tickets.routes)
    app.add_routes(reports.routes)
    app.add_routes(campaigns.routes)


@routes.get("/console")
async def _to_entry(_request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/console/")


@routes.get("/console/")
@aiohttp_jinja2.template("entry.html")
async def entry(_request: web.Request) -> dict[str, object]:
    """The Mini App's page: console.js posts Telegram's initData to /console/auth, then opens the
    tickets. Opened in a browser without initData, it goes to the tickets with the cookie."""
    return {}


@routes.post("/console/auth")
async def sign_in(request: web.Request) -> web.Response:
    """initData in, a session out: 401 when it does not validate, 403 when its user is not in
    the agent group, else ``{"token", "expires", "csrf"}``."""
    bot = request.app[auth.CONSOLE_BOT]
    settings = bot.bot_data.settings
    default_language = settings.telegram.agent_language
    form = await request.post()
    init_data = form.get("initData")
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else ""
    now = bot.bot_data.now()
    try:
        if not isinstance(init_data, str) or not token:
            raise auth.InvalidInitData("no initData")
        user = auth.validate_init_data(init_data, token, now, settings.console.login_max_age)
    except auth.InvalidInitData:
        return _refused(401, text(default_language, "console_init_data_refused"))
    language = auth.staff_language(user.language_code, default_language)
    if not await request.app[auth.MEMBERS].is_member(bot.bot, settings.telegram.agent_chat_id, user.user_id):
        return _refused(403, text(language, "console_not_an_agent"))
    agent = await record_agent(
        user.user_id, user.name, user.username, supervisor=user.user_id in settings.telegram.supervisors
    )
    session_token, session = await auth.open_session(agent.id, language, now, settings.console.session_minutes)
    return web.json_response({"token": session_token, "expires": _iso(session.expires_at), "csrf": session.csrf})


def _refused(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@routes.get("/console/login")
async def login_link(request: web.Request) -> web.Response:
    """A one-time link from /console: sets the session cookie and opens the tickets."""
    bot = request.app[auth.CONSOLE_BOT]
    settings = bot.bot_data.settings
    now = bot.bot_data.now()
    token = request.query.get("t", "")
    link = await auth.use_link(token, now) if token else None
    if link is None:
        raise refusal(request, 401, "console_link_refused", settings.telegram.agent_language)
    agent = await link.agent
    if not await request.app[auth.MEMBERS].is_member(bot.bot, settings.telegram.agent_chat_id, agent.telegram_id):
        raise refusal(request, 403, "console_not_an_agent", link.language)
    session_token, _ = await auth.open_session(agent.id, link.language, now, settings.console.session_minutes)
    response = web.HTTPSeeOther("/console/tickets")
    response.set_cookie(
        auth.COOKIE, session_token, max_age=settings.console.session_minutes * 60, path="/console",
        httponly=True, secure=settings.console.https, samesite="Lax",
    )
    raise response


@routes.post("/console/logout")
async def sign_out(request: web.Request) -> web.Response:
    """The session ends here and now (the token and the cookie no longer open anything)."""
    session = request[auth.SESSION]
    await auth.ConsoleSession.filter(id=session.id).delete()
    response = aiohttp_jinja2.render_template(
        "refused.html", request, {"message": text(session.language, "console_signed_out_done"), "staff": None}
    )
    response.del_cookie(auth.COOKIE, path="/console")
    return response
