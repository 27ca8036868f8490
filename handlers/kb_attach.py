"""Teaching the KB from a resolved ticket: when an agent resolves a ticket that started from a
question the bot did not answer, the ticket's topic is offered one button per entry the router
suggests for that question (attach it there as an example) and, when the agent wrote the
customer an answer, one for a new entry answered that way. A press teaches the live KB at once
(saved to its learned file).

Any agent may press: agents are the ones who resolve tickets and know what the customer meant
(/kb_add and /kb_learn stay with supervisors, they teach what no ticket vouches for). Which
question a ticket started from, and what attaching does, is the knowledge base's
(knowledge_base/questions.py); this module only says it in Telegram.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.context import KefuApp, KefuContext
from bot.core.callback_data import DATA_LIMIT
from bot.core.i18n import text
from bot.telegram.longtext import reply_long
from handlers.agent_group import post_in_topic
from handlers.callbacks import AttachAsNewEntry, AttachQuestion
from handlers.common import unknown_button
from knowledge_base.entries import KBError
from knowledge_base.models import Question
from knowledge_base.questions import agent_answer, attach_question, ticket_question
from ticketing.lifecycle import RESOLVED, StatusChange
from ticketing.models import Ticket

SUGGESTIONS = 3
"""Existing entries offered: the router's top suggestions for the question."""


async def ticket_resolved(app: KefuApp, change: StatusChange) -> None:
    """A status listener (bot/app.py): an agent's resolve of a ticket begun by an unanswered question."""
    if change.after is not RESOLVED or change.agent_telegram_id is None:
        return
    ticket = change.ticket
    question = await ticket_question(ticket)
    if question is None:
        return
    kb, language = app.bot_data.kb, app.bot_data.agent_language
    route = kb.route(question.text)
    entries = [c.entry_id for c in route.suggestions] or ([route.entry_id] if route.entry_id else [])
    rows = [
        [InlineKeyboardButton(text(language, "agent_kb_attach_entry", entry=entry), callback_data=data)]
        for entry in entries[:SUGGESTIONS]
        if entry in kb.kb and len((data := AttachQuestion(question.id, entry).pack()).encode()) <= DATA_LIMIT
    ]
    if await agent_answer(ticket):
        rows.append([InlineKeyboardButton(text(language, "agent_kb_attach_new"), callback_data=AttachAsNewEntry(question.id, ticket.id).pack())])
    if rows:
        offer = text(language, "agent_kb_attach_offer", number=ticket.id, question=question.text)
        await post_in_topic(app, ticket, offer, reply_markup=InlineKeyboardMarkup(rows))


async def attach_button(update: Update, context: KefuContext, pressed: AttachQuestion | AttachAsNewEntry) -> None:
    query = update.callback_query
    language = context.agent_language
    if update.effective_chat is None or update.effective_chat.id != context.bot_data.agent_chat_id:
        await unknown_button(update, context)  # forged outside the agent group: only agents teach
        return
    question = await Question.get_or_none(id=pressed.question_id, learned=False)
    entry_id: str | None = pressed.entry_id if isinstance(pressed, AttachQuestion) else None
    answer = None
    if question is not None and isinstance(pressed, AttachAsNewEntry):
        ticket = await Ticket.get_or_none(id=pressed.ticket_id, customer_id=question.customer_id)
        answer = await agent_answer(ticket) if ticket else None
    if question is None or not question.normalized or (entry_id is None and answer is None):
        await query.answer(text(language, "agent_kb_attach_gone"), show_alert=True)
        return
    try:
        entry_id = await attach_question(context.kb, question, entry_id, answer)
    except KBError as error:
        await query.answer()
        await reply_long(query.message, text(language, "agent_kb_add_failed", error=str(error)))
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(None)  # one question, taught once
    except BadRequest:
        pass
    await reply_long(query.message, text(language, "agent_kb_added", entry=entry_id, question=question.text))
