"""Every kind of message, both ways: albums arrive whole, edits as edits, /delete takes a message
back, and what cannot be copied is described."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.config import TicketsSettings
from tests.harness import Bot, Person
from ticketing.albums import Pending, add_part, album_key, take
from ticketing.models import AlbumPart, Customer, Ticket, TicketEvent, TicketMessage

PHOTOS = [b"\x89PNG one", b"\x89PNG two", b"\x89PNG three"]


@pytest.fixture
async def bot(start_bot) -> AsyncIterator[Bot]:
    """The bot, relaying an album 500 ms after its last part (tests send all parts at once; on a
    loaded machine the parts of one album can come more than 100 ms apart)."""
    async with start_bot(tickets=TicketsSettings(album_wait_ms=500)) as running:
        yield running


async def _ticket_of(customer: Person) -> Ticket:
    await customer.say("/human")
    return await Ticket.get(customer__telegram_id=customer.id)


def _posts(bot: Bot, chat_id: int, since: int) -> list[dict]:
    return bot.emulator.bot_messages(chat_id, since=since)


async def test_an_album_of_three_photos_reaches_the_topic_as_one_album(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    before = bot.emulator.seq
    await customer.send_album(PHOTOS, captions=["the box", None, None])
    posts = _posts(bot, agent.chat_id, before)
    assert len(posts) == 3 and all(p["photo"] and p["message_thread_id"] == ticket.topic_id for p in posts)
    assert len({p["media_group_id"] for p in posts}) == 1  # one album, not three posts
    assert posts[0]["caption"] == "the box"
    assert [bot.emulator.file_bytes(p["photo"][-1]["file_id"]) for p in posts] == PHOTOS
    stored = await TicketMessage.filter(ticket=ticket, direction="in").order_by("-id").first()
    assert stored.text == "the box" and stored.media["kind"] == "album" and len(stored.parts) == 3
    assert [copy for _source, copy in stored.parts] == [p["message_id"] for p in posts]
    assert await AlbumPart.all().count() == 0  # relayed: nothing waits


async def test_an_agents_album_reaches_the_customer_as_one_signed_album(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    before = bot.emulator.seq
    said = await agent.in_topic(ticket).send_album(PHOTOS[:2], captions=["the label", "the parcel"])
    assert said == []  # nothing to say in the topic
    got = _posts(bot, customer.chat_id, before)
    assert len(got) == 2 and len({m["media_group_id"] for m in got}) == 1
    assert [m["caption"] for m in got] == ["the label\n\n— Lei Li, customer service", "the parcel"]
    reply = await TicketMessage.get(ticket=ticket, direction="out")
    assert reply.customer_message_id == got[0]["message_id"] and len(reply.parts) == 2
    assert reply.text == "the label\nthe parcel"  # as the agent wrote them, unsigned
    assert (await Ticket.get(id=ticket.id)).first_response_at is not None


async def test_an_album_is_taken_once_whoever_asks(database: str) -> None:
    """Two processes of a fleet ask for one album at the same moment: one relays it, whole."""
    customer = await Customer.create(telegram_id=5001, first_name="Ann")
    ticket = await Ticket.create(
        customer=customer, source="handoff", waiting_since=datetime.now(UTC), created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    album = album_key(5001, "g1")
    arrived = datetime.now(UTC)
    for message_id in (11, 12, 13):
        assert await add_part(ticket, album, "in", message_id, media={"kind": "photo", "file_id": f"f{message_id}"},
                              caption="", received_at=arrived)
    assert not await add_part(ticket, album, "in", 12, media=None, caption="")  # the same part again: kept once
    wait = timedelta(seconds=1)
    waiting = await take(album, wait, now=arrived + timedelta(milliseconds=500))
    assert isinstance(waiting, Pending) and waiting.ready_at == arrived + wait
    first, second = await asyncio.gather(take(album, wait, now=arrived + wait), take(album, wait, now=arrived + wait))
    assert sorted([len(first), len(second)]) == [0, 3]
    assert [p.message_id for p in first or second] == [11, 12, 13]


async def test_a_customers_edit_updates_the_copy_in_the_topic(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    await customer.say("my order is SO100231")
    said = bot.emulator.history(customer.chat_id)[-1]
    copy = await TicketMessage.get(ticket=ticket, direction="in", customer_message_id=said["message_id"])
    before = bot.emulator.seq
    await customer.edit(said["message_id"], "my order is SO100232")
    assert _posts(bot, agent.chat_id, before) == []  # edited in place, no "edited: …" post
    assert agent.message(copy.group_message_id)["text"] == "my order is SO100232"
    assert (await TicketMessage.get(id=copy.id)).text == "my order is SO100232"
    assert await TicketEvent.filter(ticket=ticket, kind="message_edited", actor="customer").exists()


async def test_a_customers_caption_edit_in_an_album_edits_that_photo_in_the_topic(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    before = bot.emulator.seq
    await customer.send_album(PHOTOS[:2], captions=["front", "back"])
    posts = _posts(bot, agent.chat_id, before)
    second = [m for m in bot.emulator.history(customer.chat_id) if m["from"]["id"] == customer.id][-1]
    await customer.edit(second["message_id"], "back, torn")
    assert agent.message(posts[1]["message_id"])["caption"] == "back, torn"
    assert agent.message(posts[0]["message_id"])["caption"] == "front"
    assert (await TicketMessage.get(ticket=ticket, direction="in", parts__isnull=False)).edited_at is not None


async def test_an_agents_edit_updates_the_customers_copy(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    topic = agent.in_topic(ticket)
    before = bot.emulator.seq
    await topic.say("Your parcel arrives on Monday.")
    sent = _posts(bot, customer.chat_id, before)[-1]
    written = agent.bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)
    own = next(m for m in reversed(written) if m["from"]["id"] == agent.id)
    await topic.edit(own["message_id"], "Your parcel arrives on Tuesday.")
    now = customer.message(sent["message_id"])
    assert now["text"] == "Your parcel arrives on Tuesday.\n\n— Lei Li, customer service"
    assert now["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Problem solved"  # the button stays
    assert (await TicketMessage.get(ticket=ticket, direction="out")).text == "Your parcel arrives on Tuesday."


async def test_delete_takes_an_agents_message_back_from_the_customer_within_48_hours(
    bot: Bot, customer: Person, agent: Person, make_customer,
) -> None:
    ticket = await _ticket_of(customer)
    topic = agent.in_topic(ticket)
    before = bot.emulator.seq
    await topic.say("Wrong customer, sorry: refund 500 yuan")
    sent = _posts(bot, customer.chat_id, before)[-1]
    own = [m for m in bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id) if m["from"]["id"] == agent.id][-1]

    colleague = bot.add_agent(first_name="Wang", username="agent_wang").in_topic(ticket)
    refused = await colleague.reply(own["message_id"], "/delete")
    assert refused.text == "只有写这条消息的客服可以从客户的聊天里删除它。"

    done = await topic.reply(own["message_id"], "/delete")
    assert done.text == "🗑 已从客户的聊天里删除。"
    assert all(m["message_id"] != sent["message_id"] for m in bot.emulator.history(customer.chat_id))
    assert (await TicketMessage.get(ticket=ticket, direction="out")).deleted_at is not None
    assert await TicketEvent.filter(ticket=ticket, kind="message_deleted", actor=f"agent:{agent.id}").exists()
    assert (await topic.reply(own["message_id"], "/delete")).text == "这条消息已经从客户的聊天里删除了。"

    await topic.say("Your refund is on its way.")
    later = [m for m in bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id) if m["from"]["id"] == agent.id][-1]
    bot.travel(datetime.now(UTC) + timedelta(hours=49))
    too_old = await topic.reply(later["message_id"], "/delete")
    assert too_old.text.startswith("Telegram 只允许机器人删除 48 小时内")
    assert (await topic.say("/delete")).text.startswith("请在本话题里用 /delete 回复")


async def test_locations_stickers_contacts_and_voice_are_copied_and_a_quiz_is_described(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    kinds = [
        {"location": {"latitude": 31.23, "longitude": 121.47}},
        {"venue": {"location": {"latitude": 31.23, "longitude": 121.47}, "title": "Parcel locker", "address": "88 Nanjing Rd"}},
        {"sticker": {"file_id": "ST1", "file_unique_id": "S1", "type": "regular", "width": 512, "height": 512,
                     "is_animated": False, "is_video": False, "emoji": "😡"}},
        {"contact": {"phone_number": "+8613800000009", "first_name": "Receiver", "user_id": 42}},
        {"video_note": {"file_id": "VN1", "file_unique_id": "V1", "length": 240, "duration": 3}},
    ]
    for content in kinds:
        before = bot.emulator.seq
        await customer.send(content)
        [post] = _posts(bot, agent.chat_id, before)
        key = next(iter(content))
        assert post[key] == content[key] and post["message_thread_id"] == ticket.topic_id
    before = bot.emulator.seq
    await customer.exchange(bot.emulator.send_voice(customer.id, b"OggS voice", duration=3))
    [post] = _posts(bot, agent.chat_id, before)
    assert bot.emulator.file_bytes(post["voice"]["file_id"]) == b"OggS voice"
    before = bot.emulator.seq
    await agent.in_topic(ticket).send({"location": {"latitude": 22.54, "longitude": 114.06}})  # the warehouse
    [got] = _posts(bot, customer.chat_id, before)
    assert got["location"] == {"latitude": 22.54, "longitude": 114.06} and got["reply_markup"]["inline_keyboard"]
    before = bot.emulator.seq
    await customer.send({"poll": {
        "id": "77", "question": "Which colour?", "type": "quiz", "is_anonymous": True, "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
        "is_closed": False, "total_voter_count": 0, "options": [{"persistent_id": "o1", "text": "red", "voter_count": 0},
                    {"persistent_id": "o2", "text": "blue", "voter_count": 0}],
    }})
    [post] = _posts(bot, agent.chat_id, before)
    assert post["text"] == "📊 投票：Which colour?\n• red\n• blue"
    assert await TicketMessage.filter(ticket=ticket, direction="in").count() == 1 + len(kinds) + 2


async def test_a_forwarded_message_keeps_its_origin(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    origin = {"type": "hidden_user", "sender_user_name": "Courier Zhang", "date": 1_700_000_000}
    before = bot.emulator.seq
    await customer.send({"text": "Your parcel is at the gate", "forward_origin": origin})
    [post] = _posts(bot, agent.chat_id, before)
    assert post["forward_origin"] == origin and post["text"] == "Your parcel is at the gate"
    assert post["message_thread_id"] == ticket.topic_id

    channel = {"type": "channel", "chat": {"id": -1002000000001, "type": "channel", "title": "Shop news"},
               "message_id": 41, "date": 1_700_000_000}
    before = bot.emulator.seq
    await agent.in_topic(ticket).send({"text": "Free shipping this week", "forward_origin": channel})
    [got] = _posts(bot, customer.chat_id, before)
    assert got["forward_origin"] == channel and got["text"] == "Free shipping this week"
    reply = await TicketMessage.get(ticket=ticket, direction="out")
    assert reply.customer_message_id == got["message_id"]


async def test_an_album_whose_process_stopped_is_relayed_by_the_watch(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    updates = bot.emulator.send_album(customer.id, PHOTOS)
    for update in updates:
        await bot.handled(update)
    for task in list(bot.app.bot_data.albums.values()):  # the process stops before the album is complete
        task.cancel()
    assert await AlbumPart.all().count() == 3
    await AlbumPart.all().update(received_at=datetime.now(UTC) - timedelta(minutes=2))
    before = bot.emulator.seq
    await bot.schedule.watch_tickets()
    await bot.albums_relayed()
    posts = _posts(bot, agent.chat_id, before)
    assert len(posts) == 3 and len({p["media_group_id"] for p in posts}) == 1
    assert all(p["message_thread_id"] == ticket.topic_id for p in posts)
    assert await AlbumPart.all().count() == 0


async def test_delete_in_reply_to_one_photo_of_an_album_takes_the_whole_album_back(bot: Bot, customer: Person, agent: Person) -> None:
    ticket = await _ticket_of(customer)
    topic = agent.in_topic(ticket)
    before = bot.emulator.seq
    await topic.send_album(PHOTOS[:2])
    got = _posts(bot, customer.chat_id, before)
    second = [m for m in bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id) if m["from"]["id"] == agent.id][-1]
    assert (await topic.reply(second["message_id"], "/delete")).text == "🗑 已从客户的聊天里删除。"
    left = {m["message_id"] for m in bot.emulator.history(customer.chat_id)}
    assert not left & {m["message_id"] for m in got}
