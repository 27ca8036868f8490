"""/report in the agent group (supervisors), and the weekly report the scheduler computes
(scheduler/jobs.py, heard here as an event): the summary and the chart."""

from __future__ import annotations

import re
from datetime import timedelta

from telegram import Update

from bot.context import KefuApp, KefuContext
from bot.core.i18n import text
from bot.telegram.longtext import send_long
from handlers import desk
from reports import Report, compute_report, report_options
from reports.agents import per_agent
from reports.agents_table import agents_text
from reports.metrics import agent_names
from reports.summary import chart_png, summary_text
from scheduler.events import WeeklyReport


async def report_command(update: Update, context: KefuContext) -> None:
    """/report [7d|30d|90d] (default 30d); /report agents [7d|30d|90d]: the per-agent table."""
    if not await desk.supervisor_or_explain(update, context):
        return
    settings = context.settings
    args = [a.lower() for a in context.args or []]
    if args and args[0] == "agents":
        await _agents(update, context, args[1:])
        return
    given = args[0] if args else "30d"
    found = re.fullmatch(r"(7|30|90)d?", given)
    if found is None:
        await update.effective_message.reply_text(text(settings.telegram.agent_language, "report_usage"))
        return
    end = context.now()
    report = await compute_report(end - timedelta(days=int(found.group(1))), end, timezone=settings.scheduler.timezone,
                                  **report_options(settings))
    await _post_report(context.application, report, update.effective_chat.id, update.effective_message.message_thread_id)


async def _agents(update: Update, context: KefuContext, args: list[str]) -> None:
    language = context.settings.telegram.agent_language
    found = re.fullmatch(r"(7|30|90)d?", args[0] if args else "30d")
    if found is None or len(args) > 1:
        await update.effective_message.reply_text(text(language, "report_agents_usage"))
        return
    end = context.now()
    start = end - timedelta(days=int(found.group(1)))
    rows = await per_agent(start, end, await agent_names())
    table = agents_text(rows, language, start, end, context.settings.scheduler.timezone)
    await send_long(context.bot, update.effective_chat.id, table,
                    message_thread_id=update.effective_message.message_thread_id)


async def post_weekly(app: KefuApp, event: WeeklyReport) -> None:
    """The weekly report (``[reports] weekly``), in the agent group under its title."""
    group = app.bot_data.agent_chat_id
    if group is not None:
        await _post_report(app, event.report, group, title=text(app.bot_data.agent_language, "report_weekly_title"))


async def _post_report(app: KefuApp, report: Report, chat_id: int, thread_id: int | None = None, title: str = "") -> None:
    summary = summary_text(report, app.bot_data.agent_language)
    await send_long(app.bot, chat_id, f"{title}\n{summary}".strip(), message_thread_id=thread_id)
    await app.bot.send_photo(chat_id, chart_png(report, app.bot_data.agent_language), message_thread_id=thread_id)
