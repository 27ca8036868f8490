"""/contact in the agent group: an agent opens a ticket with a customer kefu knows.

``/contact <customer | phone | @username>``: a number is the customer's Telegram user id, else
kefu's customer number, else (when it is one) a phone number of ``[orders] default_region``; a
``+`` number is a phone; ``@name`` a username (when the schema keeps a blind index of customers'
usernames: ticketing/outreach.py). The ticket gets its topic and card as any other, is the agent's,
and what the agent writes in the topic reaches the customer; their reply lands there. The rules
(who can be contacted) are ticketing/outreach.py's.
"""

from __future__ import annotations

from telegram import Update

from bot.context import KefuContext
from bot.core.fit import cut
from bot.core.i18n import text
from handlers.agent_group import agent_of, post_ticket
from handlers.common import ECHO_LIMIT, TELEGRAM_ID_MAX, number
from orders.phones import InvalidPhone, normalize_phone
from ticketing.models import Customer
from ticketing.outreach import contact, find_customer, username_index


async def contact_command(update: Update, context: KefuContext) -> None:
    language = context.agent_language
    message = update.effective_message
    given = " ".join(context.args or ())
    if not given:
        await message.reply_text(text(language, "agent_contact_usage"))
        return
    if given.startswith("@") and username_index() is None:
        await message.reply_text(text(language, "agent_contact_no_usernames"))
        return
    agent = await agent_of(update, context)
    customer = await _customer(given, context)
    done = await contact(customer, agent, context.now(), context.sla)
    if done.refused == "unknown" or customer is None:
        await message.reply_text(text(language, "agent_contact_unknown", given=cut(given, ECHO_LIMIT)))
        return
    if done.refused is not None:
        number_ = done.ticket.id if done.ticket else 0
        await message.reply_text(text(language, f"agent_contact_{done.refused}", customer=customer.display_name, number=number_))
        return
    ticket = done.ticket
    await post_ticket(context, ticket, customer, text(language, "agent_contact_card", agent=agent.name))
    await message.reply_text(text(language, "agent_contact_opened", number=ticket.id, customer=customer.display_name))


async def _customer(given: str, context: KefuContext) -> Customer | None:
    """The customer ``given`` names (see the module's docstring)."""
    if given.startswith("@"):
        return await find_customer(username=given[1:])
    digits = given.replace(" ", "").replace("-", "")
    if digits.isdigit() and (known := number(digits, TELEGRAM_ID_MAX)) is not None:
        if (found := await find_customer(number=known)) is not None:
            return found
    try:
        phone = normalize_phone(given, context.settings.orders.default_region)
    except InvalidPhone:
        return None
    return await find_customer(phone=phone)
