"""Telegram handlers: translate updates into calls on the services, and render the result."""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers import chat, errors, language, start

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def register(app: Application) -> None:
    app.add_handler(CommandHandler("start", start.start, filters=PRIVATE))
    app.add_handler(CommandHandler("help", start.help_command, filters=PRIVATE))
    app.add_handler(CommandHandler("lang", language.lang_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(language.lang_button, pattern=f"^{language.CALLBACK_PREFIX}"))
    app.add_handler(MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, chat.message))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, chat.unknown_command))
    app.add_handler(MessageHandler(PRIVATE & ~filters.TEXT, chat.unsupported))
    app.add_error_handler(errors.error_handler)
