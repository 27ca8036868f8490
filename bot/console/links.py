"""The console from the chats: ``/console`` in the agent group sends the asker a one-time login
link privately, and an agent's private chat gets the console as its menu button.

Telegram allows ``web_app`` buttons (the ones that open a Mini App with its signed initData) only
in private chats, so the agent group gets the login link's words, never such a button. The menu
button needs HTTPS (``[console] public_url``): without it there is none, and the link opens the
console in a browser.
"""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MenuButtonWebApp,
    Update,
    User,
    WebAppInfo,
)
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.console.auth import login_url, mint_link, staff_language
from bot.context import KefuContext
from bot.core.i18n import text
from handlers.agent_group import agent_of, is_member

log = logging.getLogger(__name__)
START_PAYLOAD = "console"
"""``t.me/<bot>?start=console``: the link an agent who never started the bot is given."""


def _console_url(context: KefuContext) -> str:
    return f"{context.settings.console.public_url}/console/"


async def send_login_link(update: Update, context: KefuContext, user: User) -> bool:
    """A one-time login link to ``user`` privately (with a button opening the Mini App when the
    console is on HTTPS); False when the bot may not write to them (they never started it, or
    blocked it)."""
    settings = context.settings
    agent = await agent_of(update, context)
    language = staff_language(user.language_code, context.agent_language)
    token = await mint_link(agent.id, language, context.now(), settings.console.link_minutes)
    url = login_url(settings.console.base_url(settings.api.listen), token)
    buttons = None
    if settings.console.https:
        button = InlineKeyboardButton(text(language, "console_menu_button"), web_app=WebAppInfo(_console_url(context)))
        buttons = InlineKeyboardMarkup([[button]])
    try:
        await context.bot.send_message(
            user.id, text(language, "console_link_message", url=url, minutes=settings.console.link_minutes),
            link_preview_options=LinkPreviewOptions(is_disabled=True),  # a preview would fetch, and use, the link
            reply_markup=buttons,
        )
    except (Forbidden, BadRequest) as error:  # never started the bot ("chat not found"), or blocked it
        log.info("no private chat with agent %s for a console link: %s", user.id, error.message)
        return False
    return True


async def console_command(update: Update, context: KefuContext) -> None:
    """/console in the agent group: the asker's login link, privately."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    if await send_login_link(update, context, user):
        await update.effective_message.reply_text(text(context.agent_language, "console_link_sent"))
        return
    start = f"https://t.me/{context.bot.username}?start={START_PAYLOAD}"
    await update.effective_message.reply_text(
        text(context.agent_language, "console_start_bot_first", agent=user.full_name, link=start),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def agent_starts(update: Update, context: KefuContext) -> None:
    """/start in a private chat, before the customers' /start: a member of the agent group gets
    the console as the chat's menu button (on HTTPS), and with ``/start console`` (the link
    /console gave them) their login link instead of the customers' welcome."""
    user = update.effective_user
    wants_link = context.args == [START_PAYLOAD]
    if user is None or not (wants_link or context.settings.console.https):
        return
    if not await is_member(context, context.agent_chat_id, user.id):
        return
    if context.settings.console.https:
        language = staff_language(user.language_code, context.agent_language)
        button = MenuButtonWebApp(text(language, "console_menu_button"), WebAppInfo(_console_url(context)))
        try:
            await context.bot.set_chat_menu_button(chat_id=user.id, menu_button=button)
        except TelegramError as error:  # a convenience: the link still works
            log.warning("could not set the console menu button for agent %s: %s", user.id, error)
    if wants_link:
        await send_login_link(update, context, user)
        raise ApplicationHandlerStop
