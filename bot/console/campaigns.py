"""The console's Campaigns page (supervisors): compose, pick a segment, see how many customers it
reaches and the message as they will get it, start, and follow the progress live.

It is ``/campaign``'s campaign, started by the same code (:func:`handlers.campaigns.launch`):
the audience is :func:`scheduler.campaigns.audience` (customers who blocked the bot, unsubscribed
or were banned are never in), the preview is the sender's own rendering, a message longer than
Telegram takes is refused as in the chat, and the progress message with its stop button is
posted in the agent group as for a campaign started there. The page's progress is a fragment
htmx polls while the campaign is queued or sent. Every start and stop is in the console's audit.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiohttp_jinja2
from aiohttp import web

from bot.console import audit
from bot.console.auth import CONSOLE_BOT
from bot.console.staff import Staff, require_supervisor
from bot.context import KefuApp
from bot.core.i18n import text
from bot.core.language import LANGUAGES
from bot.telegram.longtext import MAX_TEXT
from handlers.campaigns import launch, show_progress
from scheduler.campaigns import (
    ACTIVE,
    NAME_LIMIT,
    SEGMENTS,
    TEMPLATES,
    TooLong,
    audience_languages,
    cancel_campaign,
    longest_message,
    progress,
    rendered,
    valid_segment,
)
from scheduler.models import Campaign

routes = web.RouteTableDef()

LISTED: Final = 20
"""Campaigns listed on the page, newest first."""
DRAFT_ID: Final = re.compile(r"[A-Za-z0-9_-]{22,64}")
STARTED_KEPT: Final = 10_000
_started: OrderedDict[str, int | None] = OrderedDict()
"""The previews' Start tokens pressed in this process, and the campaign each started (None while
starting): random tokens, so one process's memory tells a second press from a new campaign."""
INACTIVE: Final = "inactive"
"""The form's choice of customers not seen for ``inactive_days`` days (the segment inactive_N)."""
POLL_SECONDS: Final = 2
"""How often the page asks for a running campaign's progress."""


class Refused(ValueError):
    """The draft cannot be sent: the catalog key saying why, and its values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key, self.values = key, values


@dataclass(frozen=True)
class Draft:
    """A campaign as composed: a segment, and the supervisor's text or a catalog template."""

    segment: str
    text: str | None
    template: str | None

    def form(self) -> dict[str, str]:
        kind = "template" if self.template is not None else "text"
        return {"segment": self.segment, "kind": kind, "text": self.text or "", "template": self.template or ""}


def draft_of(form: Any) -> Draft:
    """The draft the form asks for; :class:`Refused` when it could not be sent as it is."""
    segment = str(form.get("segment", ""))
    if segment == INACTIVE:  # inactive for a number of days of the supervisor's choosing, as /campaign inactive N
        segment = f"{INACTIVE}_{str(form.get('inactive_days', '')).strip()}"
    if not valid_segment(segment):
        raise Refused("console_campaigns_bad_segment")
    if form.get("kind") == "template":
        template = str(form.get("template", ""))
        if template not in TEMPLATES:
            raise Refused("console_campaigns_bad_template")
        draft = Draft(segment, None, template)
    else:
        body = str(form.get("text", "")).replace("\r\n", "\n").strip()
        if not body:
            raise Refused("console_campaigns_no_text")
        draft = Draft(segment, body, None)
    longest = longest_message(draft.text, draft.template)
    if longest > MAX_TEXT:
        raise Refused("console_campaigns_too_long", length=longest, limit=MAX_TEXT, over=longest - MAX_TEXT, name_limit=NAME_LIMIT)
    return draft


@dataclass(frozen=True)
class Preview:
    language: str
    customers: int
    message: str


async def previews(draft: Draft, now: datetime) -> tuple[int, list[Preview]]:
    """How many customers the campaign reaches now, and its message in each of their languages
    (every language when nobody is reached), with a sample first name in that language."""
    reached = await audience_languages(draft.segment, now)
    languages = reached or dict.fromkeys(LANGUAGES, 0)
    shown = [
        Preview(language, count, rendered(draft.text, draft.template, language, text(language, "console_campaigns_sample_name")))
        for language, count in languages.items()
    ]
    return sum(reached.values()), shown


def _bot(request: web.Request) -> KefuApp:
    return request.app[CONSOLE_BOT]


# -- compose, preview, start --------------------------------------------------------------------


@routes.get("/console/campaigns")
async def campaigns_page(request: web.Request) -> web.Response:
    require_supervisor(request)
    campaigns = await Campaign.all().order_by("-id").limit(LISTED)
    return aiohttp_jinja2.render_template("campaigns.html", request, {
        "campaigns": campaigns, "segments": SEGMENTS, "templates": TEMPLATES, "draft": {"kind": "text", "segment": "all"},
        "active": ACTIVE,
    })


@routes.post("/console/campaigns/preview")
async def preview(request: web.Request) -> web.Response:
    """The count and the message as the customers will get it (a fragment), with the Start button."""
    staff = require_supervisor(request)
    form = await request.post()
    try:
        draft = draft_of(form)
    except Refused as refused:
        return _refusal(request, staff, refused)
    count, shown = await previews(draft, _bot(request).bot_data.now())
    longest = longest_message(draft.text, draft.template)
    return aiohttp_jinja2.render_template("campaign_preview.html", request, {
        "draft": draft.form(), "draft_id": secrets.token_urlsafe(16), "count": count, "previews": shown, "longest": longest, "limit": MAX_TEXT,
        "name_limit": NAME_LIMIT,
    })


def _refusal(request: web.Request, staff: Staff, refused: Refused) -> web.Response:
    message = text(staff.language, refused.key, **refused.values)
    return aiohttp_jinja2.render_template("campaign_refused.html", request, {"message": message}, status=400)


@routes.post("/console/campaigns/start")
async def start(request: web.Request) -> web.Response:
    """Start the campaign as /campaign's Send does, record who did, and open its progress.

    The preview's Start carries a token of its own (``draft_id``): pressed twice (a double click,
    a form sent again), the campaign starts once and both presses open it, as /campaign's Send
    forgets the draft it sends."""
    staff = require_supervisor(request)
    form = await request.post()
    try:
        draft = draft_of(form)
    except Refused as refused:
        return _refusal(request, staff, refused)
    token = form.get("draft_id")
    if not isinstance(token, str) or not DRAFT_ID.fullmatch(token):
        return _refusal(request, staff, Refused("console_campaigns_preview_first"))
    if token in _started:  # started already, or being started: show it (or the list, until it is written)
        campaign_id = _started[token]
        raise web.HTTPSeeOther(f"/console/campaigns/{campaign_id}" if campaign_id else "/console/campaigns")
    _started[token] = None
    while len(_started) > STARTED_KEPT:
        _started.popitem(last=False)
    bot = _bot(request)
    try:
        campaign = await launch(bot, draft.segment, message_text=draft.text, template=draft.template,
                                author_telegram_id=staff.telegram_id)
    except TooLong as exc:  # a catalog template edited since the preview
        _started.pop(token, None)
        return _refusal(request, staff, Refused("console_campaigns_too_long", length=exc.length, limit=MAX_TEXT,
                                                over=exc.length - MAX_TEXT, name_limit=NAME_LIMIT))
    except BaseException:
        _started.pop(token, None)
        raise
    _started[token] = campaign.id
    await audit.record(staff, "campaign_start", "campaign", campaign.id, at=bot.bot_data.now(), segment=draft.segment,
                       template=draft.template, text_length=len(draft.text or ""), total=campaign.total)
    raise web.HTTPSeeOther(f"/console/campaigns/{campaign.id}")


# -- one campaign and its progress ----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A campaign's counts as the page shows them."""

    campaign: Campaign
    queued: int
    """Not settled yet: waiting in the outbox, being sent, or not queued yet."""
    sent: int
    failed: int
    skipped: int
    """Not sent because the customer blocked the bot or unsubscribed meanwhile."""
    stopped: int
    """Not sent because the campaign was stopped."""

    @property
    def active(self) -> bool:
        return self.campaign.status in ACTIVE


async def progress_of(campaign: Campaign, now: datetime) -> Progress:
    """The counts :func:`scheduler.campaigns.progress` keeps (it marks a finished campaign done),
    read the way the progress message in the agent group reads them."""
    counts = await progress(campaign, now)
    stopped_campaign = campaign.status == "cancelled"
    settled = counts["sent"] + counts["blocked"] + counts["failed"] + counts["unknown"] + counts["cancelled"]
    return Progress(
        campaign,
        queued=0 if stopped_campaign else max(0, campaign.total - settled),
        sent=counts["sent"],
        failed=counts["failed"] + counts["unknown"],
        skipped=counts["blocked"] + (0 if stopped_campaign else counts["cancelled"]),
        stopped=counts["cancelled"] + max(0, campaign.total - sum(counts.values())) if stopped_campaign else 0,
    )


async def _campaign(request: web.Request) -> Campaign:
    try:
        campaign_id = int(request.match_info["campaign_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    campaign = await Campaign.get_or_none(id=campaign_id) if 0 < campaign_id < 2**31 else None
    if campaign is None:
        raise web.HTTPNotFound()
    return campaign


@routes.get(r"/console/campaigns/{campaign_id:\d+}")
async def campaign_page(request: web.Request) -> web.Response:
    require_supervisor(request)
    campaign = await _campaign(request)
    shown = await progress_of(campaign, _bot(request).bot_data.now())
    return aiohttp_jinja2.render_template("campaign.html", request, {
        "progress": shown, "poll": POLL_SECONDS, "body": _body(campaign), "segments": SEGMENTS,
    })


def _body(campaign: Campaign) -> dict[str, str | None]:
    payload = campaign.payload or {}
    return {"text": payload.get("text"), "template": payload.get("template")}


@routes.get(r"/console/campaigns/{campaign_id:\d+}/progress")
async def campaign_progress(request: web.Request) -> web.Response:
    """The counts (a fragment htmx polls while the campaign is queued or sent)."""
    require_supervisor(request)
    campaign = await _campaign(request)
    shown = await progress_of(campaign, _bot(request).bot_data.now())
    return aiohttp_jinja2.render_template("campaign_progress.html", request, {"progress": shown, "poll": POLL_SECONDS})


@routes.post(r"/console/campaigns/{campaign_id:\d+}/stop")
async def stop(request: web.Request) -> web.Response:
    """Stop the campaign as the stop button in the agent group does: its messages not sent yet
    will not go out; the group's progress message says so."""
    staff = require_supervisor(request)
    campaign = await _campaign(request)
    bot = _bot(request)
    cancelled = await cancel_campaign(campaign.id, bot.bot_data.now())
    if cancelled is not None:
        await audit.record(staff, "campaign_stop", "campaign", campaign.id, at=bot.bot_data.now(),
                           stopped=cancelled.stopped, gone=cancelled.gone)
        await campaign.refresh_from_db()
        if campaign.progress_chat_id is not None:
            await show_progress(bot, campaign)
    shown = await progress_of(campaign, bot.bot_data.now())
    return aiohttp_jinja2.render_template("campaign_progress.html", request, {"progress": shown, "poll": POLL_SECONDS})
