"""The Bot API emulator; server.py is the whole of the former bot/emulator.py, split by concern next."""

from .server import ApiError, BotAPIEmulator, EntityParseError, parse_formatted, serve, utf16_len

__all__ = ["ApiError", "BotAPIEmulator", "EntityParseError", "parse_formatted", "serve", "utf16_len"]
