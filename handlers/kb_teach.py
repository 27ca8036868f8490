"""Knowledge-base commands in the agent group: /kb_missed, /kb_add and /kb_learn (supervisors).

/kb_learn lists what customers confirmed (knowledge_base/learning.py) with Accept / Reject
buttons; only a supervisor may list or press them.

These handlers are registered with a filter on the agent group's chat id, so they do nothing
anywhere else (a customer typing /kb_add in a private chat gets "unknown command").
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import text
from bot.core.language import detect_language
from bot.telegram.longtext import reply_long
from handlers.callbacks import AcceptCandidate, RejectCandidate
from handlers.common import number
from knowledge_base.entries import KBError
from knowledge_base.learning import Undecidable, decide, pending
from knowledge_base.questions import mark_learned, missed_questions, teach_missed


def is_supervisor(update: Update, context: KefuContext) -> bool:
    return update.effective_user is not None and update.effective_user.id in context.settings.telegram.supervisors


async def kb_missed(update: Update, context: KefuContext) -> None:
    language = context.agent_language
    missed = await missed_questions(limit=10)
    if not missed:
        await update.message.reply_text(text(language, "agent_kb_missed_none"))
        return
    context.chat_data["kb_missed"] = [m.text for m in missed]
    context.chat_data["kb_missed_keys"] = [m.keys for m in missed]
    lines = [text(language, "agent_kb_missed_title")]
    for place, item in enumerate(missed, 1):
        lines.append(f"{place}. ({item.times}×) {item.text}")
    lines.append(text(language, "agent_kb_missed_hint"))
    await reply_long(update.message, "\n".join(lines))


_NEW = re.compile(r"^new\s+(?P<id>[a-z0-9_\-]+)\s+(?P<question>.+?)\s*\|\s*(?P<answer>.+)$", re.S)


async def kb_add(update: Update, context: KefuContext) -> None:
    """/kb_add ENTRY QUESTION · /kb_add N ENTRY (N from /kb_missed) · /kb_add new ID QUESTION | ANSWER"""
    language = context.agent_language
    if not is_supervisor(update, context):
        await update.message.reply_text(text(language, "agent_supervisors_only"))
        return
    kb = context.kb
    args = (update.message.text or "").split(maxsplit=1)[1:] or [""]
    rest = args[0].strip()
    missed: list[str] = context.chat_data.get("kb_missed", [])
    group: tuple[str, ...] = ()
    try:
        if match := _NEW.match(rest):
            question, answer = match["question"].strip(), match["answer"].strip()
            lang = detect_language(question) or "en"
            kb.add_entry(
                {
                    "id": match["id"],
                    "category": "learned",
                    "action": "answer",
                    "questions": {lang: [question]},
                    "answer": {"zh-Hans": answer, "en": answer},
                    "tags": ["added_in_chat"],
                }
            )
            entry_id = match["id"]
            await mark_learned(question)
        else:
            first, _, tail = rest.partition(" ")
            if (picked := number(first)) and picked <= len(missed):
                entry_id, question = tail.strip(), missed[picked - 1]
                group = tuple(context.chat_data.get("kb_missed_keys", [()] * picked)[picked - 1])
            else:
                entry_id, question = first, tail.strip()
            if not entry_id or not question or entry_id not in kb.kb:
                await update.message.reply_text(text(language, "agent_kb_add_usage"))
                return
            await teach_missed(kb, entry_id, question, group)
    except KBError as error:
        await update.message.reply_text(text(language, "agent_kb_add_failed", error=str(error)))
        return
    await reply_long(update.message, text(language, "agent_kb_added", entry=entry_id, question=question))


async def kb_learn(update: Update, context: KefuContext) -> None:
    """Customers' questions confirmed for an entry, by entry, with how many different customers."""
    language = context.agent_language
    if not is_supervisor(update, context):
        await update.message.reply_text(text(language, "agent_supervisors_only"))
        return
    found = await pending(limit=10)
    if not found:
        await update.message.reply_text(text(language, "agent_kb_learn_none"))
        return
    lines, rows, entry = [text(language, "agent_kb_learn_title")], [], None
    for place, item in enumerate(found, 1):
        if item.entry_id != entry:
            entry = item.entry_id
            lines.append(f"\n{entry}:")
        lines.append(text(language, "agent_kb_learn_item", place=place, question=item.text, customers=item.customers))
        rows.append([
            InlineKeyboardButton(text(language, "agent_kb_learn_accept", place=place), callback_data=AcceptCandidate(item.candidate_id).pack()),
            InlineKeyboardButton(text(language, "agent_kb_learn_reject", place=place), callback_data=RejectCandidate(item.candidate_id).pack()),
        ])
    await reply_long(update.message, "\n".join(lines), reply_markup=InlineKeyboardMarkup(rows))


async def kb_learn_button(update: Update, context: KefuContext, pressed: AcceptCandidate | RejectCandidate) -> None:
    query = update.callback_query
    language = context.agent_language
    if not is_supervisor(update, context):
        await query.answer(text(language, "agent_supervisors_only"), show_alert=True)
        return
    try:
        decided = await decide(context.kb, pressed.candidate_id, accept=isinstance(pressed, AcceptCandidate))
    except Undecidable:
        await query.answer(text(language, "agent_kb_learn_gone"), show_alert=True)
        return
    except KBError as error:
        await query.answer()
        await reply_long(query.message, text(language, "agent_kb_add_failed", error=str(error)))
        return
    await query.answer()
    key = "agent_kb_added" if decided.accepted else "agent_kb_learn_rejected"
    await reply_long(query.message, text(language, key, entry=decided.entry_id, question=decided.text))
