"""Telegram handlers: translate updates into calls on the services, and render the result."""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.config import Settings
from handlers import agents, answers, chat, errors, language, start

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def register(app: Application, settings: Settings) -> None:
    agent_chat = settings.telegram.agent_chat_id
    agent_group = filters.Chat(chat_id=agent_chat) if agent_chat is not None else filters.Chat(chat_id=[])

    app.add_handler(CommandHandler("start", start.start, filters=PRIVATE))
    app.add_handler(CommandHandler("help", start.help_command, filters=PRIVATE))
    app.add_handler(CommandHandler("lang", language.lang_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(language.lang_button, pattern=f"^{language.CALLBACK_PREFIX}"))
    app.add_handler(CallbackQueryHandler(answers.button, pattern=answers.PATTERN))

    app.add_handler(CommandHandler("kb_missed", agents.kb_missed, filters=agent_group))
    app.add_handler(CommandHandler("kb_add", agents.kb_add, filters=agent_group))

    app.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, chat.message))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, chat.unknown_command))
    app.add_handler(MessageHandler(PRIVATE & ~filters.TEXT, chat.unsupported))
    app.add_error_handler(errors.error_handler)
