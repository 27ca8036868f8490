"""/campaign in the agent group (supervisors): segment → text or template → preview and count →
confirm; then one message shows the progress, edited as the outbox sends."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.i18n import text
from bot.longtext import reply_long
from handlers import desk
from scheduler.campaigns import SEGMENTS, TEMPLATES, audience, progress, start_campaign, valid_segment
from scheduler.models import Campaign

PATTERN = r"^cp:(seg:[a-z_0-9]+|tpl:[a-z_]+|send|cancel)$"
DRAFT = "campaign_draft"  # user_data of the supervisor: segment, then text or template
PROGRESS_EVERY = 5  # seconds between two edits of the progress message (20 edits a minute per group)


async def campaign_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/campaign, or /campaign SEGMENT (e.g. /campaign inactive 45) to skip the first step."""
    if not await desk.supervisor_or_explain(update, context):
        return
    language = desk.agent_language(context)
    segment = "_".join(context.args).lower() if context.args else ""
    if segment and valid_segment(segment):
        await _ask_for_text(update, context, segment)
        return
    buttons = [InlineKeyboardButton(text(language, f"campaign_segment_{s}"), callback_data=f"cp:seg:{s}") for s in SEGMENTS]
    await update.effective_message.reply_text(
        text(language, "campaign_pick_segment"),
        reply_markup=InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)]),
    )


async def _ask_for_text(update: Update, context: ContextTypes.DEFAULT_TYPE, segment: str) -> None:
    language = desk.agent_language(context)
    context.user_data[DRAFT] = {"segment": segment}
    templates = [InlineKeyboardButton(text(language, f"campaign_template_name_{t}"), callback_data=f"cp:tpl:{t}") for t in TEMPLATES]
    await update.effective_message.reply_text(
        text(language, "campaign_write", segment=segment), reply_markup=InlineKeyboardMarkup([templates])
    )


async def draft_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The supervisor's next message in the group is the campaign text (group -1, before the relay)."""
    draft = context.user_data.get(DRAFT)
    if not draft or "segment" not in draft or "text" in draft or "template" in draft:
        return
    if update.effective_user.id not in desk.settings_of(context).telegram.supervisors:
        return
    draft["text"] = update.effective_message.text
    await _preview(update, context, draft)
    raise ApplicationHandlerStop


async def _preview(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: dict) -> None:
    language = desk.agent_language(context)
    count = await audience(draft["segment"], desk.now(context)).count()
    sample = draft.get("text") or text(language, f"campaign_template_{draft['template']}", name="…")
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(text(language, "campaign_button_send", count=count), callback_data="cp:send"),
        InlineKeyboardButton(text(language, "campaign_button_cancel"), callback_data="cp:cancel"),
    ]])
    await reply_long(
        update.effective_message, text(language, "campaign_preview", segment=draft["segment"], count=count, text=sample),
        reply_markup=buttons,
    )


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    language = desk.agent_language(context)
    settings = desk.settings_of(context)
    if query.message is None or query.message.chat_id != settings.telegram.agent_chat_id or query.from_user.id not in settings.telegram.supervisors:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    step = query.data.removeprefix("cp:")
    draft = context.user_data.get(DRAFT)
    if step.startswith("seg:") and valid_segment(step[4:]):
        await query.answer()
        await _ask_for_text(update, context, step[4:])
    elif step.startswith("tpl:") and draft and step[4:] in TEMPLATES:
        await query.answer()
        draft["template"] = step[4:]
        await _preview(update, context, draft)
    elif step == "cancel":
        context.user_data.pop(DRAFT, None)
        await query.answer()
        await query.edit_message_text(text(language, "campaign_cancelled"))
    elif step == "send" and draft and ("text" in draft or "template" in draft):
        context.user_data.pop(DRAFT, None)
        await query.answer()
        await query.edit_message_reply_markup(None)
        shown = await query.message.reply_text(text(language, "campaign_starting"))
        campaign = await start_campaign(
            draft["segment"], text=draft.get("text"), template=draft.get("template"),
            author_telegram_id=query.from_user.id, now=desk.now(context),
            progress_chat_id=shown.chat_id, progress_message_id=shown.message_id,
        )
        await show_progress(context, campaign)
        if campaign.status == "running":
            context.job_queue.run_repeating(_progress_job, interval=PROGRESS_EVERY, first=PROGRESS_EVERY,
                                            data=campaign.id, name=f"campaign-{campaign.id}")
    else:  # a stale button: the draft is gone
        await query.answer(text(language, "button_invalid"), show_alert=True)


async def show_progress(context: ContextTypes.DEFAULT_TYPE, campaign: Campaign) -> dict[str, int]:
    """Edit the campaign's progress message with the counts as they are now."""
    counts = await progress(campaign, desk.now(context))
    language = desk.agent_language(context)
    key = "campaign_done" if campaign.status == "done" else "campaign_progress"
    waiting = counts["queued"] + counts["sending"]
    message = text(language, key, number=campaign.id, total=campaign.total, sent=counts["sent"], blocked=counts["blocked"],
                   failed=counts["failed"] + counts["unknown"] + counts["cancelled"], waiting=waiting)
    try:
        await context.bot.edit_message_text(html.escape(message), campaign.progress_chat_id, campaign.progress_message_id,
                                            parse_mode=ParseMode.HTML)
    except BadRequest as exc:  # "message is not modified": nothing moved since the last edit
        if "not modified" not in exc.message:
            raise
    return counts


async def _progress_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    campaign = await Campaign.get_or_none(id=context.job.data)
    if campaign is None or campaign.status != "running":
        context.job.schedule_removal()
        return
    await show_progress(context, campaign)
    if campaign.status != "running":
        context.job.schedule_removal()
