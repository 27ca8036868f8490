"""Albums, edits and /delete between a customer and their ticket's topic.

handlers/tickets.py and handlers/agent_group.py relay one message at a time (handlers/kinds.py
passes on each kind). Three things need more than one message:

- **Albums.** Telegram hands a bot an album as one update per photo, maybe to different
  processes of a fleet. Each part is kept in the database (ticketing/albums.py) and a task waits
  until no part has come for ``[tickets] album_wait_ms``; then one process takes them all and
  relays them as one album: the customer's into the topic with copyMessages (their captions as
  they wrote them), an agent's to the customer with sendMediaGroup (signed under the first
  caption; an album takes no buttons, so it has no "problem solved").
- **Edits.** A customer's edit edits its copy in the topic; where the copy cannot be edited (a
  text that went as several posts, a kind without text) the topic gets "edited: …". An agent's
  edit of a message the customer got edits the customer's copy, signature and button kept; where
  it cannot be, the customer gets the corrected text as a new message.
- **/delete**, an agent's reply to their own message in the topic within 48 hours (Telegram's
  limit for a bot's messages in a private chat): the customer's copy is deleted, every post of
  it, and the ticket's audit trail says so. Telegram tells bots of no deletion in a group, so
  deleting the message in the topic alone does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from telegram import (
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop, filters

from bot.context import KefuApp, KefuContext
from bot.core.fit import utf16_len
from bot.core.i18n import text
from bot.telegram.longtext import MAX_CAPTION, MAX_TEXT, send_long
from handlers.agent_group import (
    agent_of,
    forgotten_explained,
    formatting,
    media_of,
    post_in_topic,
    signature_of,
    solved_button,
    ticket_here,
    to_topic,
)
from handlers.script import for_customer
from scheduler.events import AlbumsWaiting
from ticketing import copies
from ticketing.albums import Direction, Pending, add_part, album_key, relayed, take
from ticketing.customers import mark_blocked
from ticketing.lifecycle import CLOSED, log_event
from ticketing.models import Agent, AlbumPart, Customer, Ticket
from ticketing.service import add_agent_reply, add_customer_message

log = logging.getLogger(__name__)
ALBUM_KINDS = frozenset({"photo", "video", "document", "audio"})
"""What Telegram groups in an album."""
_INPUT = {"photo": InputMediaPhoto, "video": InputMediaVideo, "document": InputMediaDocument, "audio": InputMediaAudio}


class _InAlbum(filters.MessageFilter):
    """A photo or file sent as part of an album."""

    def filter(self, message: Message) -> bool:
        media = media_of(message)
        return message.media_group_id is not None and media is not None and media["kind"] in ALBUM_KINDS


IN_ALBUM = _InAlbum(name="IN_ALBUM")


# -- albums -------------------------------------------------------------------------------------


async def collect(context: KefuContext, ticket: Ticket, message: Message, direction: Direction, agent: Agent | None = None) -> None:
    """Keep an album's part; the album goes across once its last part is in."""
    album = album_key(message.chat_id, str(message.media_group_id))
    await add_part(
        ticket, album, direction, message.message_id, media=media_of(message), caption=message.caption or "",
        agent_id=agent.id if agent else None,
    )
    relay_soon(context.application, album)


async def relay_left(app: KefuApp, event: AlbumsWaiting) -> None:
    """Albums the process that was to relay them left behind (it stopped): relayed from here."""
    for album in event.albums:
        relay_soon(app, album)


def relay_soon(app: KefuApp, album: str) -> None:
    """One task per album and process waits for its last part (a part handled again after a crash
    starts one, as its first handling's task died with its process)."""
    tasks = app.bot_data.albums
    if album in tasks and not tasks[album].done():
        return
    task = app.create_task(_relay_when_complete(app, album), name=f"album-{album}")
    tasks[album] = task
    task.add_done_callback(lambda done: tasks.pop(album, None) if tasks.get(album) is done else None)


async def _relay_when_complete(app: KefuApp, album: str) -> None:
    wait = timedelta(milliseconds=app.bot_data.settings.tickets.album_wait_ms)
    while True:
        taken = await take(album, wait)
        if isinstance(taken, Pending):
            await asyncio.sleep(max(0.0, (taken.ready_at - datetime.now(UTC)).total_seconds()))
            continue
        if not taken:  # relayed (by this process or another), nothing came since
            return
        try:
            ticket = await Ticket.get(id=taken[0].ticket_id)
            if taken[0].direction == "in":
                await _album_into_topic(app, ticket, taken)
            else:
                await _album_to_customer(app, ticket, taken)
        except Exception:  # a background task: logged, and the next album still goes
            log.exception("album %s of ticket %s could not be relayed", album, taken[0].ticket_id)
        finally:
            await relayed(taken)


def _pairs(sources: list[int], copied: list[int]) -> list[list[int]]:
    """Each part's [source id, copy id]; when Telegram skipped some, only the first is known."""
    if len(sources) == len(copied):
        return [[s, c] for s, c in zip(sources, copied, strict=True)]
    return [[s, copied[0] if i == 0 and copied else None] for i, s in enumerate(sources)]


async def _album_into_topic(app: KefuApp, ticket: Ticket, parts: list[AlbumPart]) -> None:
    customer = await Customer.get(id=ticket.customer_id)
    group, ids = app.bot_data.agent_chat_id, [p.message_id for p in parts]

    async def send(thread: int | None, _reply_to: int | None) -> list[int]:
        copied = await app.bot.copy_messages(group, customer.telegram_id, ids, message_thread_id=thread)
        return [c.message_id for c in copied]

    copied = await to_topic(app, ticket, send) or []
    await add_customer_message(
        ticket, text=_captions(parts), now=app.bot_data.now(), policy=app.bot_data.sla, media=_album_media(parts),
        customer_message_id=ids[0], group_message_id=copied[0] if copied else None, parts=_pairs(ids, copied),
    )


async def _album_to_customer(app: KefuApp, ticket: Ticket, parts: list[AlbumPart]) -> None:
    customer = await Customer.get(id=ticket.customer_id)
    agent = await Agent.get_or_none(id=parts[0].agent_id) if parts[0].agent_id else None
    if agent is None or customer.forgotten_at is not None or ticket.status == CLOSED:
        return
    signature = signature_of(app, customer, agent)
    captions = [for_customer(app.bot_data.settings, customer, p.caption)[0] for p in parts]  # in their script
    said = "\n".join(c for c in captions if c)  # what the ticket records: the captions as sent, unsigned
    signed = "\n\n".join(c for c in (captions[0], signature) if c)
    if utf16_len(signed) <= MAX_CAPTION:
        captions[0] = signed
    try:
        if len(parts) == 1:
            media = parts[0].media or {}
            sent = [await getattr(app.bot, f"send_{media['kind']}")(customer.telegram_id, media["file_id"], caption=captions[0] or None)]
        else:
            inputs = [_INPUT[(p.media or {})["kind"]]((p.media or {})["file_id"], caption=c or None) for p, c in zip(parts, captions, strict=True)]
            sent = list(await app.bot.send_media_group(customer.telegram_id, inputs))
    except Forbidden:
        await mark_blocked(customer)
        await post_in_topic(app, ticket, text(app.bot_data.agent_language, "agent_customer_blocked"))
        return
    ids = [p.message_id for p in parts]
    await add_agent_reply(
        ticket, agent, text=said, now=app.bot_data.now(), policy=app.bot_data.sla, media=_album_media(parts),
        group_message_id=ids[0], customer_message_id=sent[0].message_id, parts=_pairs(ids, [m.message_id for m in sent]),
    )


def _captions(parts: list[AlbumPart]) -> str:
    return "\n".join(p.caption for p in parts if p.caption)


def _album_media(parts: list[AlbumPart]) -> dict:
    return {"kind": "album", "items": [p.media for p in parts]}


async def agent_album_part(update: Update, context: KefuContext) -> None:
    """A part of an album an agent sent in a ticket's topic (group -1, before the relay)."""
    message = update.effective_message
    ticket = await ticket_here(message)
    if ticket is None:
        return
    if not await forgotten_explained(context, ticket, message):
        if ticket.status == CLOSED:
            await message.reply_text(text(context.agent_language, "agent_ticket_is_closed", number=ticket.id))
        else:
            await collect(context, ticket, message, "out", await agent_of(update, context))
    raise ApplicationHandlerStop


# -- edits ------------------------------------------------------------------------------------


async def customer_edited(context: KefuContext, ticket: Ticket, message: Message) -> None:
    """The customer edited a message of the ticket: its copy in the topic follows, else the topic is told."""
    found = await copies.find(ticket, "in", message.message_id)
    said = message.text if message.text is not None else message.caption or ""
    group = context.agent_chat_id
    editable = found is not None and found.copy is not None and group is not None and (
        found.whole and utf16_len(found.message.text) <= MAX_TEXT or not found.whole and message.text is None
    )
    own = formatting(message.entities if message.text is not None else message.caption_entities)
    if not (editable and found and await _edit(context, group, found.copy, message, said, own, None)):
        await post_in_topic(context, ticket, text(context.agent_language, "agent_customer_edited", text=said))
    if found is not None:
        await copies.edited(found, said, context.now())
    await log_event(ticket, "message_edited", "customer", context.now(), message=found.message.id if found else None)


async def agent_edited(update: Update, context: KefuContext) -> None:
    """An agent edited a message the customer got: the customer's copy follows."""
    message = update.edited_message
    ticket = await ticket_here(message)
    if ticket is None:
        return
    found = await copies.find(ticket, "out", message.message_id)
    if found is None or found.copy is None or found.message.deleted_at is not None or ticket.status == CLOSED:
        return
    customer = await Customer.get(id=ticket.customer_id)
    if customer.forgotten_at is not None:
        return
    agent = await agent_of(update, context)
    signature = signature_of(context, customer, agent) if found.first else ""
    written = message.text if message.text is not None else message.caption or ""
    own = formatting(message.entities if message.text is not None else message.caption_entities)
    said, entities = for_customer(context.settings, customer, written, own)  # in their script (handlers/script.py)
    whole = "\n\n".join(p for p in (said, signature) if p)
    markup = solved_button(customer, ticket) if found.whole else None
    editable = (found.whole or message.text is None) and utf16_len(whole) <= (MAX_TEXT if message.text is not None else MAX_CAPTION)
    try:
        if not (editable and await _edit(context, customer.telegram_id, found.copy, message, whole, entities, markup)):
            await send_long(
                context.bot, customer.telegram_id, text(customer.language, "ticket_agent_corrected", text=whole),
                reply_markup=solved_button(customer, ticket),
            )
    except Forbidden:
        await mark_blocked(customer)
        await message.reply_text(text(context.agent_language, "agent_customer_blocked"))
        return
    await copies.edited(found, said, context.now())
    await log_event(ticket, "message_edited", f"agent:{agent.telegram_id}", context.now(), message=found.message.id)


async def _edit(
    context: KefuContext, chat_id: int, message_id: int, message: Message, said: str,
    entities: tuple[MessageEntity, ...], markup: InlineKeyboardMarkup | None,
) -> bool:
    """Edit the copy ``message_id`` to say ``said`` with ``entities`` (its text, or its caption: as
    ``message`` has one or the other); False if Telegram would not (a message gone, a forward)."""
    try:
        if message.text is not None:
            await context.bot.edit_message_text(
                said, chat_id=chat_id, message_id=message_id, reply_markup=markup, entities=entities or None,
            )
        elif media_of(message) is not None:
            await context.bot.edit_message_caption(
                chat_id=chat_id, message_id=message_id, caption=said, reply_markup=markup, caption_entities=entities or None,
            )
        else:
            return False
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return True
        log.info("the copy %s in chat %s could not be edited: %s", message_id, chat_id, exc.message)
        return False
    return True


# -- /delete ----------------------------------------------------------------------------------


async def delete_command(update: Update, context: KefuContext) -> None:
    """/delete, replying to one's own message in a ticket's topic: the customer's copy goes."""
    message = update.effective_message
    language = context.agent_language
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        await message.reply_text(text(language, "agent_delete_how"))
        return
    ticket = await ticket_here(message)
    if ticket is None:
        await message.reply_text(text(language, "agent_not_a_ticket"))
        return
    found = await copies.find(ticket, "out", replied.message_id)
    agent = await agent_of(update, context)
    if found is None:
        await message.reply_text(text(language, "agent_delete_not_sent"))
        return
    if found.message.agent_id != agent.id:
        await message.reply_text(text(language, "agent_delete_not_yours"))
        return
    if found.message.deleted_at is not None:
        await message.reply_text(text(language, "agent_delete_already"))
        return
    if not copies.deletable(found.message, context.now()):
        await message.reply_text(text(language, "agent_delete_too_old", hours=int(copies.DELETE_WINDOW.total_seconds() // 3600)))
        return
    customer = await Customer.get(id=ticket.customer_id)
    gone = 0
    for copy in copies.copies(found.message):
        try:
            await context.bot.delete_message(customer.telegram_id, copy)
            gone += 1
        except (BadRequest, Forbidden) as exc:
            log.info("copy %s of ticket %s's message not deleted: %s", copy, ticket.id, exc.message)
    if not gone:
        await message.reply_text(text(language, "agent_delete_failed"))
        return
    await copies.deleted(ticket, found.message, f"agent:{agent.telegram_id}", context.now())
    await message.reply_text(text(language, "agent_delete_done"))
