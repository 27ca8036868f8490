"""What every customer handler needs first: who is writing, and in which language to answer.

A customer who was forgotten (/forgetme) stays forgotten until they write to the bot again
themselves. *Writing themselves* is a new message in their private chat: text, a command
(``/start`` included), a photo, a sticker, a voice message… Everything else is not, and is
refused by :func:`handlers.privacy.refuse_forgotten` before any handler runs, storing nothing:
a button pressed under an old message (surveys, revisits, order notices, "did you mean", the
/forgetme question itself), an edit of an old message, and a shared contact too — the contact
comes from the "share my phone" keyboard kefu showed before, and would link their phone at once.
:func:`customer_of` records nothing of a forgotten customer for those updates either (flood
control may ask for the customer before the refusal runs).

Numbers people type are read by :func:`number`, so that a number no row can have never reaches
the database; buttons' data is read by handlers/callbacks.py, and a press that is none of kefu's
is answered by :func:`unknown_button`.
"""

from __future__ import annotations

from collections import OrderedDict
from contextvars import ContextVar
from weakref import WeakKeyDictionary

from telegram import Update
from telegram.constants import ChatType

from bot.context import KefuContext
from bot.core.callback_data import whole
from bot.core.db import ROW_ID_MAX
from bot.core.i18n import text
from bot.core.language import Language, language_from_telegram
from ticketing.customers import known_customer, record_customer, reply_language
from ticketing.models import Customer

TELEGRAM_ID_MAX = 2**63 - 1
"""The largest Telegram id (BIGINT columns)."""
ECHO_LIMIT = 40
"""Characters of what someone typed that an answer quotes back ("There is no ticket #…")."""


_recorded: ContextVar[tuple[int, Customer] | None] = ContextVar("kefu_customer", default=None)
"""The customer of the update being handled: each update is handled in a task of its own, and
its handlers (flood control, the ticket relay, the chat) ask one after the other."""


def writes_themselves(update: Update) -> bool:
    """A new message of the customer's own in their private chat (see the module's docstring)."""
    message = update.message
    return message is not None and message.chat.type == ChatType.PRIVATE and message.contact is None


async def customer_of(update: Update) -> Customer:
    user = update.effective_user
    assert user is not None, "customer handlers only run for updates with a sender"
    recorded = _recorded.get()
    if recorded is not None and recorded[0] == update.update_id and recorded[1].telegram_id == user.id:
        return recorded[1]
    customer = await record_customer(
        user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
        wrote=writes_themselves(update),
    )
    _recorded.set((update.update_id, customer))
    return customer


async def customer_and_language(update: Update) -> tuple[Customer, Language]:
    customer = await customer_of(update)
    message = update.effective_message
    return customer, await reply_language(customer, message.text if message else None)


TOLD_REMEMBERED = 100_000
"""Customers a bot remembers as told that its KB answers them in another language (oldest forgotten first)."""
_told_other_language: WeakKeyDictionary[object, OrderedDict[int, None]] = WeakKeyDictionary()
"""Per running bot, keyed by its live KB (tests run several bots in one process)."""


def other_language_note(bot_kb: object, customer_id: int, language: str, served: str) -> str:
    """The polite "(This answer is only available in English.)" to append to an answer the KB
    has only in ``served``, not in the customer's ``language`` — once per customer, "" after
    (and for answers in their language). Kept in memory, not in the database: after a restart,
    or from another process of a fleet, a customer may be told once more, which is harmless."""
    told = _told_other_language.setdefault(bot_kb, OrderedDict())
    if served == language or customer_id in told:
        return ""
    told[customer_id] = None
    if len(told) > TOLD_REMEMBERED:
        told.popitem(last=False)
    return "\n\n" + text(language, "kb_only_in_english" if served == "en" else "kb_only_in_chinese")


def number(given: str, largest: int = ROW_ID_MAX) -> int | None:
    """``given`` (a command's argument) as an id from 1 to ``largest``;
    None for anything else — other characters, ``0``, a number no column holds — which names
    nothing. Asked of the database, a number past the column's range fails the update (SQLite
    stores int64, PostgreSQL's INTEGER int4), and Python reads "²" as a digit but not as a number."""
    if len(given) > len(str(largest)):
        return None
    return whole(1, largest)(given.lstrip("0"))  # people may write "007"; buttons never do


async def unknown_button(update: Update, context: KefuContext) -> None:
    """A press no other handler takes (forged data, a button of an older kefu): answered, so that
    the button does not spin, in the agent language in the group, else the presser's."""
    query = update.callback_query
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        language = context.agent_language
    else:
        customer = await known_customer(query.from_user.id)
        language = customer.language if customer else language_from_telegram(query.from_user.language_code)
    await query.answer(text(language, "button_invalid"), show_alert=True)
