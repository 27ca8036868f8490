"""Presence and automatic assignment in the agent group: /online, /away, /offline, /agents, the
agents' activity, and what the desk's listeners say.

The rules are ticketing's (presence.py: who is online; assignment.py: who gets a ticket, the
queue; responses.py: nudges). Here they are heard and said in Telegram:

- every message an agent writes in the group keeps them online (and may bring them waiting tickets);
- a ticket reaching the desk (its card posted) is placed: its topic names the agent it went to, or
  says it waits; its customer is told their place in the queue (when some agent is at work: at
  night the opening message's due time says when) and told again when an agent takes it;
- a ticket resolved, closed or handed to another agent frees a place: the waiting tickets move;
- the desk watch's nudges (scheduler/jobs.py) are posted in the ticket's topic, mentioning its
  agent, then the supervisors.

bot/app.py registers the listeners while the bot runs, as it does agent_group.ticket_moved.
"""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import Forbidden

from bot.context import KefuApp, KefuContext
from bot.core.i18n import Markup, html_text, text
from handlers.agent_group import agent_name, agent_of, post_in_topic
from scheduler.events import ResponsesOverdue
from ticketing.assignment import Queued, assign_waiting, mark_queued, place, unqueue
from ticketing.customers import mark_blocked
from ticketing.lifecycle import CLOSED, RESOLVED, Assigned, StatusChange
from ticketing.models import Agent, Customer, Ticket
from ticketing.presence import Desk, Presence, roster, say, seen

log = logging.getLogger(__name__)
ICONS = {Presence.ONLINE: "🟢", Presence.AWAY: "🟡", Presence.OFFLINE: "⚫"}


def desk_of(app: KefuContext | KefuApp) -> Desk:
    data = app.bot_data
    return Desk.from_settings(data.settings, data.sla.calendar)


def mention(agent: Agent) -> Markup:
    """The agent named so that Telegram notifies them: their @username, else a mention by id (HTML)."""
    if agent.username:
        return Markup(html.escape(f"@{agent.username}"))
    return Markup(f'<a href="tg://user?id={agent.telegram_id}">{html.escape(agent.name or str(agent.telegram_id))}</a>')


# -- agents' presence ---------------------------------------------------------------------------


async def agent_active(update: Update, context: KefuContext) -> None:
    """Any message of an agent in the group (group -4, before everything): they are at work."""
    user, message = update.effective_user, update.effective_message
    if user is None or user.is_bot:
        return
    if message is not None and _command(message.text) in ("away", "offline"):
        return  # saying one is away is no activity that brings tickets
    agent, desk, now = await agent_of(update, context), desk_of(context), context.now()
    before = desk.status(agent, now)
    await seen(agent, now)
    if before is not Presence.ONLINE and desk.status(agent, now) is Presence.ONLINE:
        await assign_waiting(desk, now)


def _command(said: str | None) -> str | None:
    """``/away@kefu_bot now`` → ``away``; None for a message that is no command."""
    if not said or not said.startswith("/"):
        return None
    words = said[1:].split(None, 1)
    return words[0].split("@", 1)[0].lower() if words else None


async def online_command(update: Update, context: KefuContext) -> None:
    await _say(update, context, Presence.ONLINE)


async def away_command(update: Update, context: KefuContext) -> None:
    await _say(update, context, Presence.AWAY)


async def offline_command(update: Update, context: KefuContext) -> None:
    await _say(update, context, Presence.OFFLINE)


async def _say(update: Update, context: KefuContext, presence: Presence) -> None:
    agent, desk, now, language = await agent_of(update, context), desk_of(context), context.now(), context.agent_language
    await say(agent, presence, now)
    status = desk.status(agent, now)
    if presence is Presence.ONLINE and status is Presence.OFFLINE:  # outside their hours
        calendar = desk.calendar_of(agent)
        hours = f"{calendar.opens:%H:%M}-{calendar.closes:%H:%M}"
        await update.effective_message.reply_text(text(language, "agent_presence_outside_hours", agent=agent.name, hours=hours))
        return
    await update.effective_message.reply_text(text(language, f"agent_presence_{status}", agent=agent.name))
    if status is Presence.ONLINE:
        await assign_waiting(desk, now)


async def agents_command(update: Update, context: KefuContext) -> None:
    """/agents: who is online, away or offline, with their open tickets."""
    desk, language = desk_of(context), context.agent_language
    lines = await roster(desk, context.now())
    if not lines:
        await update.effective_message.reply_text(text(language, "agent_agents_none"))
        return
    said = [text(language, "agent_agents_title", assignment=desk.mode, max_open=desk.max_open)]
    for line in lines:
        name = line.agent.name + (f" @{line.agent.username}" if line.agent.username else "")
        teams = ", ".join(text(language, "category_" + c) for c in line.teams)
        said.append(text(
            language, "agent_agents_line", icon=ICONS[line.status], agent=name,
            status=text(language, f"agent_status_{line.status}"), count=line.open,
            teams=f" · {teams}" if teams else "",
        ))
    await update.effective_message.reply_text("\n".join(said))


# -- what the desk's listeners say ----------------------------------------------------------------


async def ticket_opened(app: KefuApp, ticket: Ticket) -> None:
    """A ticket reached the desk: given to a free agent (announced by :func:`ticket_assigned`) or queued."""
    placed = await place(ticket, desk_of(app), app.bot_data.now())
    if not isinstance(placed, Queued):
        return
    language = app.bot_data.agent_language
    await post_in_topic(app, ticket, text(language, "agent_ticket_queued", number=ticket.id, position=placed.position))
    if placed.agents_at_work and await mark_queued(ticket, app.bot_data.now()):
        await _tell(app, ticket, "ticket_queue_position", position=placed.position)


async def ticket_assigned(app: KefuApp, assigned: Assigned) -> None:
    """Announced in the topic, naming the agent (a claim and an /assign answer their agent themselves);
    a queued customer told; the agent the ticket was taken from may take a waiting one."""
    ticket, language = assigned.ticket, app.bot_data.agent_language
    if assigned.by == "system":
        key = "agent_auto_assigned_returning" if assigned.how == "returning" else "agent_auto_assigned"
        await post_in_topic(
            app, ticket, html_text(language, key, number=ticket.id, agent=mention(assigned.agent)), parse_mode=ParseMode.HTML
        )
    if await unqueue(ticket):  # (the row, not the object read: another process may have queued it)
        await _tell(app, ticket, "ticket_agent_took")
    if assigned.before is not None and assigned.before != assigned.agent.id:
        await assign_waiting(desk_of(app), app.bot_data.now())


async def ticket_moved(app: KefuApp, change: StatusChange) -> None:
    """Resolved or closed: its agent has a place free for a waiting ticket."""
    if change.after in (RESOLVED, CLOSED) and change.ticket.assignee_id is not None:
        await assign_waiting(desk_of(app), app.bot_data.now())


async def nudge(app: KefuApp, event: ResponsesOverdue) -> None:
    """In each ticket's topic: its agent (or, with nobody on it, whoever can /claim), then the supervisors."""
    language = app.bot_data.agent_language
    for overdue in event.tickets:
        ticket = overdue.ticket
        if overdue.level >= 2:
            mentions = " ".join([
                f'<a href="tg://user?id={user_id}">{html.escape(await agent_name(user_id))}</a>'
                for user_id in app.bot_data.settings.telegram.supervisors
            ])
            said = html_text(language, "agent_nudge_supervisors", number=ticket.id, seconds=overdue.waited)
            await post_in_topic(app, ticket, f"{said} {mentions}".strip(), parse_mode=ParseMode.HTML)
            continue
        agent = await Agent.get_or_none(id=ticket.assignee_id) if ticket.assignee_id else None
        if agent is None:
            said = html_text(language, "agent_nudge_nobody", number=ticket.id, seconds=overdue.waited)
        else:
            said = html_text(language, "agent_nudge", number=ticket.id, seconds=overdue.waited, agent=mention(agent))
        await post_in_topic(app, ticket, said, parse_mode=ParseMode.HTML)


async def _tell(app: KefuApp, ticket: Ticket, key: str, **values: object) -> None:
    customer = await Customer.get(id=ticket.customer_id)
    if customer.forgotten_at is not None:
        return
    try:
        await app.bot.send_message(customer.telegram_id, text(customer.language, key, number=ticket.id, **values))
    except Forbidden:
        await mark_blocked(customer)
