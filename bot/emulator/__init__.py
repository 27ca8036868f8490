"""A local emulator of the Telegram Bot API, for tests, benchmarks and the offline sandbox.

The real python-telegram-bot client talks to it over HTTP exactly as it talks to
api.telegram.org (``Bot(base_url=emu.base_url, base_file_url=emu.base_file_url)``).
Tests and the sandbox drive "the world" in-process (users, groups, incoming messages,
button presses) or, from another process, through the JSON control API under
``/_emulator/``; ``kefu emulator`` serves one on its own.

Only what a customer-service bot needs is emulated, but what is emulated follows
Telegram closely, error descriptions included, so failure paths can be tested
offline. Telegram behaviours worth knowing about because bots trip over them:

* parse_mode text is parsed server-side: the stored text has no markup, entities
  carry UTF-16 offsets, malformed markup is a 400 "can't parse entities";
* editMessageText without reply_markup removes the inline keyboard;
* in a forum topic, a message that is not a reply has ``reply_to_message`` set to
  the topic's ``forum_topic_created`` service message, and ``message_thread_id`` of
  a topic equals the id of that service message;
* a second getUpdates call terminates a pending one with 409 Conflict;
* message and caption length (4,096 and 1,024) and entity offsets count UTF-16 code units:
  an emoji outside the BMP counts 2.

The emulator is not thread-safe: use the Python API from the event loop that runs it.

The package, by concern; imports point down this list, never up:

* ``server``  — :class:`BotAPIEmulator` (HTTP app, start/stop, dispatch) and ``serve``;
* ``methods`` — the Bot API methods (sending, editing, callbacks, chats, files, topics);
* ``updates`` — getUpdates long polling and the webhook;
* ``control`` — acting as users, in-process and over ``/_emulator/``;
* ``world``   — the state: users, chats, topics, messages, files, the update queue, faults;
* ``records`` — the plain records the world is made of;
* ``wire``    — request parameters in, ``{"ok": ...}`` envelopes out;
* ``markup``  — formatted text (HTML, MarkdownV2, Markdown) and inline keyboards;
* ``limits``  — Telegram's limits and error texts, and :class:`ApiError`.
"""

from .limits import ApiError
from .markup import EntityParseError, parse_formatted
from .server import BotAPIEmulator, serve

__all__ = ["ApiError", "BotAPIEmulator", "EntityParseError", "parse_formatted", "serve"]
