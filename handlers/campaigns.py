"""/campaign in the agent group (supervisors): segment → text or template → preview and count →
confirm; then one message shows the progress, edited as the outbox sends (the scheduler's
campaign-progress job), with a button to stop the campaign (also ``/campaign stop N``).

The preview shows how long the longest message can get (the text with the longest name a customer
can have) and offers no Send button when that is more than Telegram takes: a campaign is never
split into several messages. Pressing Send writes the campaign and returns; its outbox rows are
written by a background task (scheduler/campaigns.py), so the group is answered meanwhile.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuApp, KefuContext
from bot.core.i18n import text
from bot.intake.fleet import instance_name
from bot.telegram.longtext import MAX_TEXT, reply_long
from handlers import desk
from handlers.callbacks import (
    CampaignSegment,
    CampaignTemplate,
    CancelCampaign,
    KeepCampaign,
    SendCampaign,
    StopCampaign,
)
from handlers.common import number
from scheduler.campaigns import (
    ACTIVE,
    NAME_LIMIT,
    SEGMENTS,
    TEMPLATES,
    TooLong,
    audience,
    cancel_campaign,
    longest_message,
    progress,
    queue_rows,
    start_campaign,
    valid_segment,
)
from scheduler.events import CampaignProgress
from scheduler.models import Campaign

DRAFT = "campaign_draft"  # user_data of the supervisor: segment, then text or template
STOP_WORDS = ("stop", "cancel")


async def campaign_command(update: Update, context: KefuContext) -> None:
    """/campaign, or /campaign SEGMENT (e.g. /campaign inactive 45) to skip the first step, or
    /campaign stop N to cancel campaign N."""
    if not await desk.supervisor_or_explain(update, context):
        return
    language = context.agent_language
    if context.args and context.args[0].lower() in STOP_WORDS:
        campaign_id = number(context.args[1].removeprefix("#")) if len(context.args) == 2 else None
        if campaign_id is None:
            await update.effective_message.reply_text(text(language, "campaign_stop_usage"))
        else:
            await update.effective_message.reply_text((await _stop(context, campaign_id))[1])
        return
    segment = "_".join(context.args).lower() if context.args else ""
    if segment and valid_segment(segment):
        await _ask_for_text(update, context, segment)
        return
    buttons = [InlineKeyboardButton(text(language, f"campaign_segment_{s}"), callback_data=CampaignSegment(s).pack()) for s in SEGMENTS]
    await update.effective_message.reply_text(
        text(language, "campaign_pick_segment"),
        reply_markup=InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)]),
    )


async def _ask_for_text(update: Update, context: KefuContext, segment: str) -> None:
    language = context.agent_language
    context.user_data[DRAFT] = {"segment": segment}
    templates = [InlineKeyboardButton(text(language, f"campaign_template_name_{t}"), callback_data=CampaignTemplate(t).pack()) for t in TEMPLATES]
    await update.effective_message.reply_text(
        text(language, "campaign_write", segment=segment), reply_markup=InlineKeyboardMarkup([templates])
    )


async def draft_text(update: Update, context: KefuContext) -> None:
    """The supervisor's next message in the group is the campaign text (group -1, before the relay)."""
    draft = context.user_data.get(DRAFT)
    if not draft or "segment" not in draft or "text" in draft or "template" in draft:
        return
    if update.effective_user.id not in context.settings.telegram.supervisors:
        return
    draft["text"] = update.effective_message.text
    await _preview(update, context, draft)
    raise ApplicationHandlerStop


async def _preview(update: Update, context: KefuContext, draft: dict) -> None:
    """The text, the count, and the longest message's length; Send only when that fits."""
    language = context.agent_language
    count = await audience(draft["segment"], context.now()).count()
    sample = draft.get("text") or text(language, f"campaign_template_{draft['template']}", name="…")
    longest = longest_message(draft.get("text"), draft.get("template"))
    cancel = InlineKeyboardButton(text(language, "campaign_button_cancel"), callback_data=CancelCampaign().pack())
    if longest > MAX_TEXT:
        draft.pop("text", None)  # the supervisor's next message is the new text
        draft.pop("template", None)
        note = text(language, "campaign_too_long", length=longest, limit=MAX_TEXT, over=longest - MAX_TEXT, name_limit=NAME_LIMIT)
        buttons = InlineKeyboardMarkup([[cancel]])
    else:
        note = text(language, "campaign_longest", length=longest, limit=MAX_TEXT, name_limit=NAME_LIMIT)
        send = InlineKeyboardButton(text(language, "campaign_button_send", count=count), callback_data=SendCampaign().pack())
        buttons = InlineKeyboardMarkup([[send, cancel]])
    preview = text(language, "campaign_preview", segment=draft["segment"], count=count, text=sample)
    await reply_long(update.effective_message, f"{preview}\n\n{note}", reply_markup=buttons)


async def button(
    update: Update, context: KefuContext,
    pressed: CampaignSegment | CampaignTemplate | SendCampaign | CancelCampaign | StopCampaign | KeepCampaign,
) -> None:
    query = update.callback_query
    language = context.agent_language
    settings = context.settings
    if query.message is None or query.message.chat_id != settings.telegram.agent_chat_id:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if query.from_user.id not in settings.telegram.supervisors:
        await query.answer(text(language, "agent_supervisors_only"), show_alert=True)
        return
    draft = context.user_data.get(DRAFT)
    if isinstance(pressed, CampaignSegment):
        await query.answer()
        await _ask_for_text(update, context, pressed.segment)
    elif isinstance(pressed, CampaignTemplate) and draft and "segment" in draft:
        await query.answer()
        draft.pop("text", None)
        draft["template"] = pressed.template
        await _preview(update, context, draft)
    elif isinstance(pressed, CancelCampaign):
        context.user_data.pop(DRAFT, None)
        await query.answer()
        await query.edit_message_text(text(language, "campaign_cancelled"))
    elif isinstance(pressed, SendCampaign) and draft and ("text" in draft or "template" in draft):
        await query.answer()
        await _send(update, context, draft)
    elif isinstance(pressed, StopCampaign) and pressed.sure:
        stopped, told = await _stop(context, pressed.campaign_id)
        await query.answer(None if stopped else told, show_alert=not stopped)
        if stopped:
            await query.edit_message_text(told)
    elif isinstance(pressed, StopCampaign):
        campaign_id = pressed.campaign_id
        if not await Campaign.exists(id=campaign_id, status__in=ACTIVE):
            await query.answer(text(language, "campaign_not_running", number=campaign_id), show_alert=True)
            return
        await query.answer()
        sure = InlineKeyboardMarkup([[
            InlineKeyboardButton(text(language, "campaign_button_stop_yes", number=campaign_id), callback_data=StopCampaign(campaign_id, sure=True).pack()),
            InlineKeyboardButton(text(language, "campaign_button_keep"), callback_data=KeepCampaign().pack()),
        ]])
        await query.message.reply_text(text(language, "campaign_stop_sure", number=campaign_id), reply_markup=sure)
    elif isinstance(pressed, KeepCampaign):
        await query.answer()
        await query.edit_message_text(text(language, "campaign_kept"))
    else:  # a stale button: the draft is gone
        await query.answer(text(language, "button_invalid"), show_alert=True)


async def _send(update: Update, context: KefuContext, draft: dict) -> None:
    """Start the campaign: written at once, its rows queued in the background."""
    query = update.callback_query
    context.user_data.pop(DRAFT, None)
    await query.edit_message_reply_markup(None)
    shown = await query.message.reply_text(text(context.agent_language, "campaign_starting"))
    try:
        await launch(context.application, draft["segment"], message_text=draft.get("text"), template=draft.get("template"),
                     author_telegram_id=query.from_user.id, shown=shown)
    except TooLong:  # the catalog template was edited since the preview: the message says so
        return


async def launch(
    app: KefuApp, segment: str, *, message_text: str | None, template: str | None, author_telegram_id: int,
    shown: Message | None = None,
) -> Campaign:
    """Start a campaign (from /campaign or the console): written at once, its outbox rows queued
    by a background task, its progress shown in ``shown`` (a new message in the agent group when
    None) and edited as the outbox sends, with the stop button. Raises :class:`TooLong`, after
    saying so in the progress message, when a message could not be sent whole."""
    language = app.bot_data.agent_language
    if shown is None:
        shown = await app.bot.send_message(app.bot_data.agent_chat_id, text(language, "campaign_starting"))
    worker = instance_name(app.bot_data.settings)
    try:
        campaign = await start_campaign(
            segment, text=message_text, template=template, author_telegram_id=author_telegram_id, now=app.bot_data.now(),
            worker=worker, progress_chat_id=shown.chat_id, progress_message_id=shown.message_id,
        )
    except TooLong as exc:
        await shown.edit_text(text(language, "campaign_too_long", length=exc.length, limit=MAX_TEXT,
                                   over=exc.length - MAX_TEXT, name_limit=NAME_LIMIT))
        raise
    task = app.create_task(queue_rows(campaign.id, worker, running=lambda: app.running), name=f"campaign-{campaign.id}-queue")
    tasks = app.bot_data.queueing
    tasks[campaign.id] = task
    task.add_done_callback(lambda _: tasks.pop(campaign.id, None))
    await show_progress(app, campaign)
    app.bot_data.schedule.follow_campaign(campaign.id)  # edited as it goes: progress_moved
    return campaign


async def _stop(context: KefuContext, campaign_id: int) -> tuple[bool, str]:
    """Cancel the campaign: whether it was, and what to tell the supervisor."""
    language = context.agent_language
    cancelled = await cancel_campaign(campaign_id, context.now())
    if cancelled is None:
        return False, text(language, "campaign_not_running", number=campaign_id)
    campaign = await Campaign.get(id=campaign_id)
    if campaign.progress_chat_id is not None:
        await show_progress(context, campaign)
    return True, text(language, "campaign_stopped", number=campaign_id, stopped=cancelled.stopped, gone=cancelled.gone)


async def show_progress(context: KefuContext | KefuApp, campaign: Campaign) -> dict[str, int]:
    """Edit the campaign's progress message with the counts as they are now (and the stop button
    while it is queued or sent)."""
    counts = await progress(campaign, context.bot_data.now())
    await _edit_progress(context.bot, context.bot_data.agent_language, campaign, counts)
    return counts


async def progress_moved(app: KefuApp, event: CampaignProgress) -> None:
    """The scheduler's campaign-progress job (every few seconds while the campaign goes on)."""
    await _edit_progress(app.bot, app.bot_data.agent_language, event.campaign, event.counts)


async def _edit_progress(bot: Bot, language: str, campaign: Campaign, counts: Mapping[str, int]) -> None:
    key = {"done": "campaign_done", "cancelled": "campaign_stopped_progress"}.get(campaign.status, "campaign_progress")
    failed = counts["failed"] + counts["unknown"] + (counts["cancelled"] if campaign.status != "cancelled" else 0)
    settled = counts["sent"] + counts["blocked"] + counts["failed"] + counts["unknown"] + counts["cancelled"]
    waiting = max(0, campaign.total - settled)  # customers not queued yet wait too
    not_sent = counts["cancelled"] + max(0, campaign.total - sum(counts.values()))
    message = text(language, key, number=campaign.id, total=campaign.total, sent=counts["sent"], blocked=counts["blocked"],
                   failed=failed, waiting=waiting, stopped=not_sent)
    stop = None
    if campaign.status in ACTIVE:
        stop = InlineKeyboardMarkup([[InlineKeyboardButton(text(language, "campaign_button_stop"), callback_data=StopCampaign(campaign.id).pack())]])
    try:
        await bot.edit_message_text(html.escape(message), campaign.progress_chat_id, campaign.progress_message_id,
                                    parse_mode=ParseMode.HTML, reply_markup=stop)
    except BadRequest as exc:  # "message is not modified": nothing moved since the last edit
        if "not modified" not in exc.message:
            raise
