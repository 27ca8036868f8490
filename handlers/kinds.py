"""Passing on a message of any kind: copied, forwarded with its origin, or described in words.

A copy (copyMessage) carries text, photos, files, voice, video notes, stickers, contacts,
locations, venues and polls as they are. Two kinds need more:

- a forwarded message is forwarded on (forwardMessage), so that the other side sees "Forwarded
  from …" as the customer or the agent did; where Telegram refuses (content protected by its
  owner) it is copied under a line naming where it came from;
- what Telegram copies not at all (a quiz whose right answer the bot does not know, a kind it
  reserves) is described in words: a poll's question and options, a die's value, else its kind.
"""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)
from telegram.error import BadRequest

from bot.core.i18n import text
from bot.telegram.longtext import copy_long, send_long

log = logging.getLogger(__name__)
KINDS = (
    "text", "photo", "document", "video", "animation", "audio", "voice", "video_note", "sticker", "contact",
    "location", "venue", "poll", "dice", "story", "game", "invoice",
)


def kind_of(message: Message) -> str:
    """The kind of a message, as the Bot API names its content field ("message" if none is known)."""
    return next((kind for kind in KINDS if getattr(message, kind, None)), "message")


def origin_name(message: Message) -> str | None:
    """Who a forwarded message came from, as people read it; None if it was not forwarded."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        return user.full_name + (f" (@{user.username})" if user.username else "")
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or str(origin.sender_chat.id)
    if isinstance(origin, MessageOriginChannel):
        return origin.chat.title or str(origin.chat.id)
    return None


def describe(message: Message, language: str) -> str:
    """A message that cannot be copied, in words."""
    if message.poll is not None:
        options = "\n".join(f"• {option.text}" for option in message.poll.options)
        return text(language, "relay_poll", question=message.poll.question, options=options)
    if message.dice is not None:
        return text(language, "relay_dice", emoji=message.dice.emoji, value=message.dice.value)
    return text(language, "relay_unsupported", kind=kind_of(message))


async def pass_on(
    bot: Bot, message: Message, chat_id: int, language: str, *, caption: str | None = None,
    message_thread_id: int | None = None, **options: object,
) -> Message:
    """``message`` into ``chat_id``: forwarded if it was a forward, else copied (a ``caption`` in
    place of its own), else described in ``language``. Returns the (first) post; a topic that is
    gone (BadRequest "thread not found") is the caller's to handle."""
    name = origin_name(message)
    if name is not None:
        try:
            return await message.forward(chat_id, message_thread_id=message_thread_id)
        except BadRequest as exc:
            if "thread not found" in exc.message.lower():
                raise
            log.info("a forward could not be forwarded on (%s): copied under its origin", exc.message)
        await bot.send_message(chat_id, text(language, "relay_forwarded_from", origin=name), message_thread_id=message_thread_id)
    try:
        return await copy_long(bot, message, chat_id, caption=caption, message_thread_id=message_thread_id, **options)
    except BadRequest as exc:
        if "thread not found" in exc.message.lower() or "can't be copied" not in exc.message.lower():
            raise
    sent = await send_long(bot, chat_id, describe(message, language), message_thread_id=message_thread_id, **options)
    return sent[0]
