"""/report in the agent group (supervisors) and the weekly report: the summary and the chart."""

from __future__ import annotations

import re
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from telegram import Update

from bot.context import KefuApp, KefuContext
from bot.core.config import Settings
from bot.core.i18n import text
from bot.intake.fleet import once_across_fleet
from bot.telegram.longtext import send_long
from handlers import desk
from reports import compute_report
from reports.rfm import refresh_customer_segments
from reports.summary import chart_png, summary_text

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # python-telegram-bot counts days from Sunday = 0


async def report_command(update: Update, context: KefuContext) -> None:
    """/report [7d|30d|90d] (default 30d)."""
    if not await desk.supervisor_or_explain(update, context):
        return
    settings = context.settings
    given = context.args[0].lower() if context.args else "30d"
    found = re.fullmatch(r"(7|30|90)d?", given)
    if found is None:
        await update.effective_message.reply_text(text(settings.telegram.agent_language, "report_usage"))
        return
    await _post_report(context.application, int(found.group(1)), update.effective_chat.id, update.effective_message.message_thread_id)


async def _post_report(app: KefuApp, days: int, chat_id: int, thread_id: int | None = None, title: str = "") -> None:
    settings = app.bot_data.settings
    end = app.bot_data.now()
    report = await compute_report(end - timedelta(days=days), end, timezone=settings.scheduler.timezone,
                                  periods=settings.reports.periods)
    language = settings.telegram.agent_language
    summary = summary_text(report, language)
    await send_long(app.bot, chat_id, f"{title}\n{summary}".strip(), message_thread_id=thread_id)
    await app.bot.send_photo(chat_id, chart_png(report), message_thread_id=thread_id)


async def weekly_job(context: KefuContext) -> None:
    settings = context.settings
    if settings.telegram.agent_chat_id is not None:
        title = text(settings.telegram.agent_language, "report_weekly_title")
        await _post_report(context.application, 7, settings.telegram.agent_chat_id, title=title)


async def segments_job(context: KefuContext) -> None:
    """Customers' RFM segments, refreshed nightly from their orders (campaigns target them)."""
    await refresh_customer_segments(context.now())


def schedule_weekly(app: KefuApp, settings: Settings) -> None:
    """``[reports] weekly = "mon 09:00"`` (shop time), "" for none; and the nightly segment refresh."""
    zone = ZoneInfo(settings.scheduler.timezone)
    app.job_queue.run_daily(
        once_across_fleet("customer-segments", "%Y-%m-%d")(segments_job), time(3, 0, tzinfo=zone), name="customer-segments"
    )
    app.job_queue.run_once(segments_job, 30, name="customer-segments-at-start")
    if not settings.reports.weekly:
        return
    day, clock = settings.reports.weekly.split()
    at = time.fromisoformat(clock).replace(tzinfo=zone)
    weekly = once_across_fleet("weekly-report", "%Y-%m-%d")(weekly_job)
    app.job_queue.run_daily(weekly, at, days=(WEEKDAYS.index(day),), name="weekly-report")
