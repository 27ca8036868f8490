"""What the customer wants to receive unasked: /unsubscribe, /subscribe, /birthday, /timezone."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Update

from bot.context import KefuContext
from bot.core.i18n import text
from handlers.common import customer_and_language
from scheduler.outbox import cancel_for_customer
from ticketing.customers import set_birthday, set_opted_out, set_timezone
from ticketing.models import Customer

TIMEZONE_LIMIT: int = Customer._meta.fields_map["timezone"].max_length  # type: ignore[attr-defined]
CARE_KINDS = ["survey", "delivered_survey", "revisit", "greeting", "campaign", "servqual"]


async def unsubscribe(update: Update, context: KefuContext) -> None:
    """No more care and marketing messages (replies to the customer's own tickets still come)."""
    customer, language = await customer_and_language(update)
    await set_opted_out(customer, True)
    await cancel_for_customer(customer, CARE_KINDS)
    await update.message.reply_text(text(language, "unsubscribed"))


async def subscribe(update: Update, context: KefuContext) -> None:
    customer, language = await customer_and_language(update)
    await set_opted_out(customer, False)
    await update.message.reply_text(text(language, "subscribed"))


async def birthday(update: Update, context: KefuContext) -> None:
    """/birthday MM-DD (or YYYY-MM-DD): greeted on the day; /birthday off forgets it."""
    customer, language = await customer_and_language(update)
    given = context.args[0] if context.args else ""
    if given.lower() in ("off", "delete", "删除", "刪除"):
        await set_birthday(customer, None)
        await update.message.reply_text(text(language, "birthday_forgotten"))
        return
    found = re.fullmatch(r"(?:\d{4}-)?(\d{1,2})-(\d{1,2})", given)
    try:
        day = date(2000, int(found.group(1)), int(found.group(2))) if found else None  # 2000: Feb 29 is valid
    except ValueError:
        day = None
    if day is None:
        await update.message.reply_text(text(language, "birthday_usage"))
        return
    await set_birthday(customer, day)
    await update.message.reply_text(text(language, "birthday_saved", day=f"{day:%m-%d}"))


async def timezone(update: Update, context: KefuContext) -> None:
    """/timezone Europe/Berlin: quiet hours follow the customer's own clock."""
    customer, language = await customer_and_language(update)
    name = context.args[0] if context.args else ""
    try:  # no zone has a name too long for its column: not worth a look on disk
        known = len(name) <= TIMEZONE_LIMIT and ZoneInfo(name) is not None
    except (ZoneInfoNotFoundError, ValueError):
        known = False
    if not known:
        await update.message.reply_text(text(language, "timezone_usage"))
        return
    await set_timezone(customer, name)
    await update.message.reply_text(text(language, "timezone_saved", zone=name))
