"""What the agent group hears from the scheduler's jobs (scheduler/jobs.py): the card of a ticket
the watch found unposted, SLA reminders and breaches in a ticket's topic, the knowledge base
that stopped (or started again) loading, outbox rows a crash left of unknown fate.

Each function is the listener of one event of scheduler/events.py, bound to the application by
bot/app.py. The job decided what and when; these only say it in Telegram.
"""

from __future__ import annotations

import html
import logging

from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.context import KefuApp
from bot.core.i18n import text
from bot.intake.models import InboxUpdate
from bot.telegram.longtext import send_long
from handlers.agent_group import agent_name, local_time, post_in_topic, post_ticket
from scheduler.events import KnowledgeBaseNews, OutboxUnknown, SlaBreached, SlaReminder, TicketUnposted

log = logging.getLogger(__name__)
KB_PROBLEMS_SHOWN = 5
UNKNOWN_KEYS_SHOWN = 10


async def post_unposted(app: KefuApp, event: TicketUnposted) -> None:
    """The ticket's topic and card, unless a live process is handling its customer's update: that
    one posts it (in a burst it waits minutes for the group's turn)."""
    if await InboxUpdate.filter(chat_id=event.customer.telegram_id, status="processing").exists():
        return
    await post_ticket(app, event.ticket, event.customer, event.ticket.subject)


async def remind(app: KefuApp, event: SlaReminder) -> None:
    """In the topic, before the first response is due."""
    ticket = event.ticket
    due = local_time(app, ticket.first_response_due)
    await post_in_topic(app, ticket, text(app.bot_data.agent_language, "agent_sla_reminder", number=ticket.id, due=due))


async def escalate(app: KefuApp, event: SlaBreached) -> None:
    """In each ticket's topic, mentioning the supervisors."""
    mentions = " ".join([
        f'<a href="tg://user?id={user_id}">{html.escape(await agent_name(user_id))}</a>'
        for user_id in app.bot_data.settings.telegram.supervisors
    ])
    for ticket in event.tickets:
        notice = html.escape(text(app.bot_data.agent_language, "agent_sla_breached", number=ticket.id))
        await post_in_topic(app, ticket, f"{notice} {mentions}".strip(), parse_mode=ParseMode.HTML)


async def tell_knowledge_base(app: KefuApp, event: KnowledgeBaseNews) -> None:
    """The files do not load (the first problems named; the last good KB keeps answering), or
    load again."""
    group, language, news = app.bot_data.agent_chat_id, app.bot_data.agent_language, event.news
    if group is None:
        return
    if news.error is None:
        message = text(language, "agent_kb_mended", entries=news.entries)
    else:
        problems = [str(problem) for problem in news.error.problems[:KB_PROBLEMS_SHOWN]]
        if len(news.error.problems) > KB_PROBLEMS_SHOWN:
            problems.append(text(language, "agent_kb_more", count=len(news.error.problems) - KB_PROBLEMS_SHOWN))
        message = text(language, "agent_kb_broken", entries=news.entries, problems="\n".join(problems))
    try:
        await send_long(app.bot, group, message)
    except TelegramError as exc:  # logged with the problems already (knowledge_base.live)
        log.warning("the agent group was not told that the knowledge base %s: %s",
                    "does not load" if news.error else "loads again", exc)


async def tell_unknown_rows(app: KefuApp, event: OutboxUnknown) -> None:
    """Whom to ask whether a message arrived: they were not sent again."""
    group = app.bot_data.agent_chat_id
    if group is None:
        return
    keys = ", ".join(row.key for row in event.rows[:UNKNOWN_KEYS_SHOWN])
    await app.bot.send_message(group, text(app.bot_data.agent_language, "agent_outbox_unknown", count=len(event.rows), keys=keys))
