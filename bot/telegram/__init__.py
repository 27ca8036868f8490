"""The Telegram wire, with no domain in it: the Bot API request (aiohttp), the shared rate
limiter, reading updates, and texts cut to Telegram's limits."""
