"""Spam and abuse defence, the Telegram side: the gate every customer update passes first, /ban,
/shadowban and /unban in the agent group, the first-contact button and the supervisors' allow or
ban of a held first message. The rules (standings, moves, the trail) are ticketing/moderation.py's.

The gate (:func:`gate`) reads the customer's standing before any other handler:

- cleared: nothing to do (no query: the customer row is read for every update anyway);
- banned: the update is dropped unseen — its stored payload erased, only the count kept;
- shadowbanned: the message is recorded in their ticket, relayed to no agent, and not answered;
- held (a first message waiting for a supervisor): the update waits in the inbox, unanswered;
- new, with ``[spam] first_contact = "button"``: the update waits in the inbox and the customer
  is asked to press "I'm not a robot"; pressed, what waited is handled as if it had just come;
- new or verified, a first message (not a command: every user starts with /start) that matches
  ``[spam] block_patterns``: it waits, and the supervisors get Allow / Ban in the General topic.

/forgetme and its buttons always pass: a customer may have their data deleted whatever they did.
Updates wait in the inbox (``held``), so any process of a fleet hands them on when released, and
a week later they are purged like every update (bot/intake/inbox.py).
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.fit import cut
from bot.core.i18n import html_text, text
from bot.intake import inbox
from handlers.agent_group import (
    agent_name,
    agent_of,
    media_of,
    post_in_topic,
    ticket_here,
)
from handlers.callbacks import (
    AllowHeld,
    BanHeld,
    ForgetMe,
    KeepMyData,
    NotARobot,
    parse,
)
from handlers.common import ECHO_LIMIT, TELEGRAM_ID_MAX, customer_of
from handlers.tickets import after_command
from ticketing import moderation
from ticketing.models import Customer, Ticket
from ticketing.moderation import Standing
from ticketing.service import active_ticket, close

log = logging.getLogger(__name__)
HELD_AT_MOST = 20
"""Updates kept from one customer while they wait: more are dropped (a bot flooding the button)."""
ASK_AGAIN = timedelta(minutes=1)
"""The first-contact prompt comes again with a held message this long after the one before."""
SHOWN = 1000
"""Characters of a held message shown to the supervisors."""


# -- the gate ----------------------------------------------------------------------------------------


async def gate(update: Update, context: KefuContext) -> None:
    """Before every other handler: what becomes of a customer's update, by their standing."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type != ChatType.PRIVATE or user is None or user.is_bot:
        return
    if update.message is None and update.edited_message is None and update.callback_query is None:
        return  # what Telegram tells of the chat (the bot blocked, say) is no one's message
    customer = await customer_of(update)
    standing = Standing(customer.standing)
    if standing is Standing.CLEARED or _about_their_data(update):
        return
    if standing is Standing.BANNED:
        await _drop(update, customer)
    elif standing is Standing.SHADOW:
        await _mute(update, context, customer)
    elif standing is Standing.HELD:
        await _keep(update, customer)
    elif standing is Standing.NEW and context.settings.spam.first_contact == "button":
        if isinstance(parse(update.callback_query.data if update.callback_query else None), NotARobot):
            return  # the button itself: handled by not_a_robot
        await _ask_first(update, context, customer)
    elif not await _held_for_supervisors(update, context, customer):
        return
    raise ApplicationHandlerStop


def _about_their_data(update: Update) -> bool:
    """/forgetme, or its confirmation buttons."""
    message = update.message
    if message is not None and message.text and message.text.split()[0].split("@")[0].lower() == "/forgetme":
        return True
    query = update.callback_query
    return query is not None and isinstance(parse(query.data), (ForgetMe, KeepMyData))


async def _drop(update: Update, customer: Customer) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()  # or the button spins: nothing is said
    await inbox.drop(update.update_id)
    await moderation.count_withheld(customer)


async def _mute(update: Update, context: KefuContext, customer: Customer) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()
        return
    message = update.effective_message
    if message is None:
        return
    await moderation.record_muted(
        customer, context.now(), text=message.text or message.caption or "", media=media_of(message),
        customer_message_id=message.message_id,
    )


async def _keep(update: Update, customer: Customer) -> list[datetime]:
    """The update waits in the inbox (a press is answered and dropped: its buttons come from
    before); the arrival times of those that waited before it."""
    if update.callback_query is not None:
        await update.callback_query.answer()
        await inbox.drop(update.update_id)
        return []
    before = await inbox.held(customer.telegram_id, customer.telegram_id)
    if len(before) >= HELD_AT_MOST:
        await inbox.drop(update.update_id)
        await moderation.count_withheld(customer)
    else:
        await inbox.finish(update.update_id, status="held")
    return before


async def _ask_first(update: Update, context: KefuContext, customer: Customer) -> None:
    """A new customer's update waits for the first-contact button; they are asked to press it
    (again if their last held message is a minute old)."""
    language = customer.language
    if update.callback_query is not None:
        await update.callback_query.answer(text(language, "spam_press_first"), show_alert=True)
        await inbox.drop(update.update_id)
        return
    before = await _keep(update, customer)
    if len(before) < HELD_AT_MOST and (not before or datetime.now(UTC) - before[-1] >= ASK_AGAIN):
        button = InlineKeyboardButton(text(language, "spam_button_not_a_robot"), callback_data=NotARobot().pack())
        await context.bot.send_message(
            customer.telegram_id, text(language, "spam_first_contact"), reply_markup=InlineKeyboardMarkup([[button]])
        )


def checked_text(message: Message) -> str:
    """What the block patterns read: the text or caption, and the targets of its hidden links."""
    entities = (*(message.entities or ()), *(message.caption_entities or ()))
    hidden = [entity.url for entity in entities if entity.type == "text_link" and entity.url]
    return "\n".join([message.text or message.caption or "", *hidden])


async def _held_for_supervisors(update: Update, context: KefuContext, customer: Customer) -> bool:
    """A new (or verified) customer's first message: held for the supervisors when it matches a
    block pattern (True), else it clears them. Presses and edits are let through as they are;
    so are commands while there are patterns to check (every user starts with /start)."""
    message = update.message
    if message is None:
        return False
    patterns = context.settings.spam.block_patterns if context.agent_chat_id is not None else []
    if patterns and (message.text or "").startswith("/"):
        return False
    said = checked_text(message)
    pattern = moderation.blocking_pattern(patterns, said) if patterns else None
    if pattern is None:
        await moderation.cleared(customer, context.now())
        return False
    if not await moderation.held(customer, context.now(), pattern):
        return False  # moved a moment ago by someone else: as they stand now, next time
    await inbox.finish(update.update_id, status="held")
    await _ask_supervisors(context, customer, said, pattern)
    await message.reply_text(text(customer.language, "spam_held"))
    return True


async def _ask_supervisors(context: KefuContext, customer: Customer, said: str, pattern: str) -> None:
    group, language = context.agent_chat_id, context.agent_language
    assert group is not None
    mentions = " ".join([
        f'<a href="tg://user?id={user_id}">{html.escape(await agent_name(user_id))}</a>'
        for user_id in context.settings.telegram.supervisors
    ])
    body = html_text(
        language, "agent_spam_held", customer=who(customer), id=customer.telegram_id, pattern=pattern, text=cut(said, SHOWN),
    )
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(text(language, "agent_spam_button_allow"), callback_data=AllowHeld(customer.id).pack()),
        InlineKeyboardButton(text(language, "agent_spam_button_ban"), callback_data=BanHeld(customer.id).pack()),
    ]])
    await context.bot.send_message(group, f"{body}\n{mentions}".strip(), parse_mode=ParseMode.HTML, reply_markup=buttons)


def who(customer: Customer) -> str:
    """The customer as the agent group names them: their name, @username and Telegram id."""
    username = f" @{customer.username}" if customer.username else ""
    return f"{customer.display_name}{username} ({customer.telegram_id})"


async def _release(context: KefuContext, customer: Customer) -> None:
    """What the customer's updates that waited did not get to do, they do now, in order."""
    released = await inbox.release_held(customer.telegram_id, customer.telegram_id)
    if released:
        await context.intake.take(released)


# -- the buttons ---------------------------------------------------------------------------------------


async def not_a_robot(update: Update, context: KefuContext, pressed: NotARobot) -> None:
    """The first-contact button: the customer may write; what they wrote before is handled now."""
    query = update.callback_query
    if query.message is None or query.message.chat.type != ChatType.PRIVATE:
        await query.answer()
        return
    customer = await customer_of(update)
    checked = bool(context.settings.spam.block_patterns) and context.agent_chat_id is not None
    if not await moderation.verified(customer, context.now(), then_checked=checked):
        await query.answer()  # pressed before (or banned since): nothing changes
        return
    await query.answer()
    try:
        await query.edit_message_text(text(customer.language, "spam_first_contact_done"))
    except BadRequest as exc:  # the prompt is too old to edit: the customer goes on all the same
        log.info("first-contact prompt not edited: %s", exc.message)
    await _release(context, customer)


async def held_button(update: Update, context: KefuContext, pressed: AllowHeld | BanHeld) -> None:
    """Allow or Ban under a held first message: supervisors only, one decision."""
    query = update.callback_query
    language = context.agent_language
    customer = await Customer.get_or_none(id=pressed.customer_id)
    if customer is None or query.message is None or query.message.chat_id != context.agent_chat_id:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if query.from_user.id not in context.settings.telegram.supervisors:
        await query.answer(text(language, "agent_supervisors_only"), show_alert=True)
        return
    supervisor = await agent_of(update, context)
    actor = f"agent:{supervisor.telegram_id}"
    if isinstance(pressed, AllowHeld):
        done = await moderation.allowed(customer, actor, context.now())
        if done:
            await _release(context, customer)
    else:
        done = await moderation.ban(customer, actor, context.now(), only_from=(Standing.HELD,)) is not None
        if done:
            await inbox.drop_held(customer.telegram_id, customer.telegram_id)
    await query.answer()
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest as exc:
        log.info("held message's buttons not removed: %s", exc.message)
    if done:
        key = "agent_spam_allowed" if isinstance(pressed, AllowHeld) else "agent_spam_banned"
        await query.message.reply_text(text(language, key, customer=who(customer), agent=supervisor.name))
    else:
        standing = text(language, f"agent_standing_{customer.standing}")
        await query.message.reply_text(text(language, "agent_spam_decided", customer=who(customer), standing=standing))


# -- the commands --------------------------------------------------------------------------------------


async def ban_command(update: Update, context: KefuContext) -> None:
    """/ban: in a ticket's topic its customer; in General /ban <Telegram id | @username | #ticket> [reason]."""
    await _restrict(update, context, shadow=False)


async def shadowban_command(update: Update, context: KefuContext) -> None:
    """/shadowban: as /ban, but their messages are recorded in their ticket (relayed to no agent)."""
    await _restrict(update, context, shadow=True)


async def unban_command(update: Update, context: KefuContext) -> None:
    """/unban lifts a ban or a shadowban."""
    target = await _target(update, context)
    if target is None:
        return
    customer, ticket, reason = target
    agent = await agent_of(update, context)
    moved = await moderation.unban(
        customer, f"agent:{agent.telegram_id}", context.now(), reason=reason, ticket=ticket or await active_ticket(customer)
    )
    language = context.agent_language
    if moved is None:
        await update.effective_message.reply_text(text(language, "agent_not_banned", customer=who(customer)))
        return
    key = "agent_unbanned" if moved.before is Standing.BANNED else "agent_unshadowbanned"
    await update.effective_message.reply_text(text(language, key, customer=who(customer), agent=agent.name, count=moved.withheld))


async def _restrict(update: Update, context: KefuContext, *, shadow: bool) -> None:
    target = await _target(update, context)
    if target is None:
        return
    customer, ticket, reason = target
    agent = await agent_of(update, context)
    actor, now, language = f"agent:{agent.telegram_id}", context.now(), context.agent_language
    active = await active_ticket(customer)
    moved = await moderation.ban(customer, actor, now, shadow=shadow, reason=reason, ticket=ticket or active)
    if moved is None:
        key = "agent_already_shadowbanned" if shadow else "agent_already_banned"
        await update.effective_message.reply_text(text(language, key, customer=who(customer)))
        return
    key = "agent_shadowbanned" if shadow else "agent_banned"
    said = text(language, key, customer=who(customer), agent=agent.name)
    if active is not None and (ticket is None or ticket.id != active.id):  # given in General: its topic hears it too
        await post_in_topic(context, active, said)
    if not shadow:
        await inbox.drop_held(customer.telegram_id, customer.telegram_id)
        if active is not None:  # nothing more will come of it: closed, the customer not told
            await close(active, actor, now, context.sla.calendar, reason="banned")
    await update.effective_message.reply_text(said)


async def _target(update: Update, context: KefuContext) -> tuple[Customer, Ticket | None, str] | None:
    """Whom the command names, the ticket it was given in (if any) and the reason written after:
    in a ticket's topic its customer, in General the first word."""
    message = update.effective_message
    language = context.agent_language
    ticket = await ticket_here(message)
    if ticket is not None:
        return await Customer.get(id=ticket.customer_id), ticket, after_command(message)
    if not context.args:
        await message.reply_text(text(language, "agent_ban_usage"))
        return None
    customer = await moderation.find_customer(context.args[0], TELEGRAM_ID_MAX)
    if customer is None:
        await message.reply_text(text(language, "agent_ban_unknown", who=cut(context.args[0], ECHO_LIMIT)))
        return None
    rest = after_command(message).split(None, 1)
    return customer, None, rest[1] if len(rest) == 2 else ""
