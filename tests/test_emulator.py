"""The Bot API emulator, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import base64
import datetime as dtm
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from telegram import (
    Bot,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    MessageEntity,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from bot.emulator import BotAPIEmulator, parse_formatted

# PTB 22 warns about its own int -> timedelta transition (RetryAfter, Voice.duration).
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.base_file_url) as client:
        yield client


@pytest.fixture
async def http(emu: BotAPIEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{emu.port}") as session:
        yield session


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(item, callback_data=item) for item in data]])


def fails(error: type[Exception], text: str) -> pytest.RaisesExc:
    """PTB drops Telegram's "Bad Request: " prefix and capitalizes the rest."""
    return pytest.raises(error, match=f"(?i){re.escape(text)}")


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


async def test_get_me(bot: Bot, emu: BotAPIEmulator) -> None:
    me = await bot.get_me()
    assert me.username == "kefu_bot" and me.is_bot and me.first_name == "Kefu"
    assert me.can_join_groups is True and me.supports_inline_queries is False
    assert bot.username == "kefu_bot"
    assert emu.count("getMe") == 2  # Bot.initialize() calls it too
    assert all("TEST" not in repr(params) for _name, params in emu.calls)


async def test_send_edit_delete_with_inline_keyboard(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user(first_name="Li", username="li")
    since = emu.seq
    sent = await bot.send_message(user["id"], "Pick one", reply_markup=keyboard("a", "b"))
    assert sent.text == "Pick one" and sent.from_user.id == bot.id
    assert sent.chat.type == "private" and sent.chat.username == "li"
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "b"

    edited = await bot.edit_message_text("Picked", chat_id=user["id"], message_id=sent.message_id,
                                         reply_markup=keyboard("a"))
    assert edited.text == "Picked" and edited.edit_date is not None
    with fails(BadRequest, "message is not modified"):
        await bot.edit_message_text("Picked", chat_id=user["id"], message_id=sent.message_id,
                                    reply_markup=keyboard("a"))
    await bot.edit_message_reply_markup(user["id"], sent.message_id, reply_markup=None)
    [record] = emu.bot_messages(user["id"], since=since)
    assert record["text"] == "Picked" and "reply_markup" not in record and record["_seq"] == emu.seq

    assert await bot.delete_message(user["id"], sent.message_id)
    assert emu.history(user["id"]) == []
    assert emu.bot_messages(user["id"])[0]["_deleted"] is True
    with fails(BadRequest, "message to delete not found"):
        await bot.delete_message(user["id"], sent.message_id)


async def test_editing_text_without_markup_drops_the_keyboard(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    sent = await bot.send_message(user["id"], "x", reply_markup=keyboard("a"))
    edited = await bot.edit_message_text("y", chat_id=user["id"], message_id=sent.message_id)
    assert edited.reply_markup is None


async def test_validation_errors(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    cases = [
        ({"chat_id": 424242, "text": "hi"}, "chat not found"),
        ({"chat_id": user["id"], "text": "  "}, "message text is empty"),
        ({"chat_id": user["id"], "text": "x" * 4097}, "message is too long"),
        ({"chat_id": user["id"], "text": "<b>open", "parse_mode": "HTML"}, "can't parse entities"),
        ({"chat_id": user["id"], "text": "a<br>b", "parse_mode": "HTML"}, 'Unsupported start tag "br"'),
        ({"chat_id": user["id"], "text": "Done.", "parse_mode": "MarkdownV2"}, "Character '.' is reserved"),
        ({"chat_id": user["id"], "text": "k", "reply_markup": keyboard("x" * 65)}, "BUTTON_DATA_INVALID"),
        ({"chat_id": user["id"], "text": "k", "reply_to_message_id": 999}, "message to be replied not found"),
    ]
    for kwargs, error in cases:
        with fails(BadRequest, error):
            await bot.send_message(**kwargs)
    assert await bot.send_message(user["id"], "x" * 4096)
    assert emu.stats["errors"]["400"] == len(cases)


async def test_parse_modes_store_plain_text_with_utf16_entities(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    markup = "😀 <b>bold</b> &amp; <a href='https://x.org'>link</a>"
    html = await bot.send_message(user["id"], markup, parse_mode="HTML")
    assert html.text == "😀 bold & link"
    assert [(e.type, e.offset, e.length) for e in html.entities] == [("bold", 3, 4), ("text_link", 10, 4)]
    assert html.parse_entity(html.entities[0]) == "bold"
    md = await bot.send_message(user["id"], r"*hi* _there_ `x\`y` \!", parse_mode="MarkdownV2")
    assert md.text == "hi there x`y !"
    assert [e.type for e in md.entities] == ["bold", "italic", "code"]
    bold = [MessageEntity("bold", 0, 3)]
    explicit = await bot.send_message(user["id"], "<b>", entities=bold, parse_mode="HTML")
    assert explicit.text == "<b>"  # explicit entities win over parse_mode, as on Telegram
    known = {7: {"id": 7, "is_bot": False, "first_name": "A"}}
    _text, [mention] = parse_formatted("[me](tg://user?id=7)", "MarkdownV2", known)
    assert mention["type"] == "text_mention" and mention["user"]["id"] == 7


async def test_forum_topics_and_copy_into_topic(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    group = emu.add_group(title="Agents")
    events: list[tuple[str, dict]] = []
    emu.subscribe(lambda kind, payload: events.append((kind, payload)))

    topic = await bot.create_forum_topic(group["id"], "Ticket #1")
    assert topic.name == "Ticket #1" and topic.icon_color == 7322096
    thread = topic.message_thread_id
    expected = {"name": "Ticket #1", "icon_color": 7322096, "closed": False, "deleted": False}
    assert emu.topics[group["id"]][thread] == expected
    [created] = emu.history(group["id"])
    assert created["forum_topic_created"]["name"] == "Ticket #1" and created["message_id"] == thread

    in_topic = await bot.send_message(group["id"], "summary", message_thread_id=thread)
    assert in_topic.message_thread_id == thread and in_topic.is_topic_message
    assert in_topic.reply_to_message.forum_topic_created is not None  # Telegram's implicit reply

    incoming = emu.send_text(user["id"], "my order is late")["message"]
    copy = await bot.copy_message(group["id"], user["id"], incoming["message_id"], message_thread_id=thread)
    copied = emu.history(group["id"], message_thread_id=thread)[-1]
    assert copied["message_id"] == copy.message_id and copied["text"] == "my order is late"
    assert copied["from"]["id"] == bot.id

    forwarded = await bot.forward_message(
        group["id"], user["id"], incoming["message_id"], message_thread_id=thread
    )
    assert forwarded.forward_origin.sender_user.id == user["id"] and forwarded.text == "my order is late"

    reply = emu.send_text(user["id"], "agent here", chat_id=group["id"], reply_to_message_id=copy.message_id)
    assert reply["message"]["message_thread_id"] == thread  # replies stay in their topic

    await bot.close_forum_topic(group["id"], thread)
    with fails(BadRequest, "TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(group["id"], thread)
    await bot.reopen_forum_topic(group["id"], thread)
    await bot.edit_forum_topic(group["id"], thread, name="Ticket #1 [done]")
    assert emu.topics[group["id"]][thread]["name"] == "Ticket #1 [done]"

    await bot.delete_forum_topic(group["id"], thread)
    assert emu.history(group["id"], message_thread_id=thread) == []
    with fails(BadRequest, "message thread not found"):
        await bot.send_message(group["id"], "late", message_thread_id=thread)
    topic_actions = [payload["action"] for kind, payload in events if kind == "topic"]
    assert topic_actions == ["created", "closed", "reopened", "edited", "deleted"]
    # send, copy and forward; topic service messages are not "messages the bot sent"
    assert [kind for kind, _ in events].count("message") == 3

    plain = emu.add_group(title="Plain", is_forum=False)
    with fails(BadRequest, "the chat is not a forum"):
        await bot.create_forum_topic(plain["id"], "x")


async def test_files_upload_get_file_and_download(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    photo = await bot.send_photo(user["id"], PNG, caption="<i>receipt</i>", parse_mode="HTML")
    assert photo.caption == "receipt" and photo.caption_entities[0].type == "italic"
    size = photo.photo[-1]
    assert (size.width, size.height, size.file_size) == (100, 100, len(PNG))
    file = await bot.get_file(size.file_id)
    assert bytes(await file.download_as_bytearray()) == PNG

    document = await bot.send_document(user["id"], b"%PDF-1.4", filename="invoice.pdf")
    assert document.document.file_name == "invoice.pdf" and document.document.mime_type == "application/pdf"
    again = await bot.send_document(user["id"], document.document.file_id)
    assert again.document.file_unique_id == document.document.file_unique_id
    with fails(BadRequest, "can't use file of type Document as Photo"):
        await bot.send_photo(user["id"], document.document.file_id)

    voice = await bot.send_voice(user["id"], b"OggS", duration=3)
    assert voice.voice.duration == 3

    incoming = emu.send_document(user["id"], b"user bytes", file_name="log.txt", mime_type="text/plain")
    file_id = incoming["message"]["document"]["file_id"]
    user_file = await bot.get_file(file_id)
    assert bytes(await user_file.download_as_bytearray()) == b"user bytes" == emu.file_bytes(file_id)
    with fails(BadRequest, "invalid file_id"):
        await bot.get_file("nope")


async def test_get_chat_and_chat_member_deserialize(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user(first_name="Li", last_name="Wei", username="liwei")
    group = emu.add_group(title="Agents")
    private = await bot.get_chat(user["id"])
    assert isinstance(private, ChatFullInfo) and private.first_name == "Li" and private.last_name == "Wei"
    forum = await bot.get_chat(group["id"])
    assert forum.is_forum and forum.title == "Agents" and forum.type == "supergroup"
    assert isinstance(await bot.get_chat_member(group["id"], bot.id), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(group["id"], user["id"]), ChatMemberLeft)
    assert isinstance(await bot.get_chat_member(group["id"], 31337), ChatMemberLeft)
    emu.set_member(group["id"], user["id"], "member")
    assert isinstance(await bot.get_chat_member(group["id"], user["id"]), ChatMemberMember)
    emu.set_member(group["id"], user["id"], "restricted")
    assert isinstance(await bot.get_chat_member(group["id"], user["id"]), ChatMemberRestricted)
    emu.set_member(group["id"], user["id"], "kicked")
    assert isinstance(await bot.get_chat_member(group["id"], user["id"]), ChatMemberBanned)
    with fails(BadRequest, "chat not found"):
        await bot.get_chat(-100999)


async def test_updates_with_offset_confirmation(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    sent = await bot.send_message(user["id"], "Rate us", reply_markup=keyboard("good", "bad"))
    emu.send_text(user["id"], "/start@kefu_bot hello")
    emu.send_contact(user["id"], "+8613800000000")
    emu.press_button(user["id"], sent.message_id, "good")
    with fails(ValueError, "no inline button"):
        emu.press_button(user["id"], sent.message_id, "missing")

    updates = await bot.get_updates(timeout=0)
    assert [type(u) for u in updates] == [Update] * 3
    command, contact, press = updates
    assert command.message.text == "/start@kefu_bot hello"
    assert command.message.entities[0].type == "bot_command" and command.message.entities[0].length == 15
    assert contact.message.contact.user_id == user["id"]
    assert contact.message.contact.phone_number == "+8613800000000"
    assert press.callback_query.data == "good" and press.callback_query.message.message_id == sent.message_id

    await bot.answer_callback_query(press.callback_query.id, text="Thanks!")
    assert emu.callback_answers[0]["text"] == "Thanks!"
    with fails(BadRequest, "query is too old"):
        await bot.answer_callback_query(press.callback_query.id)

    assert len(await bot.get_updates(offset=command.update_id + 1, timeout=0)) == 2
    assert await bot.get_updates(offset=press.update_id + 1, timeout=0) == ()
    emu.edit_text(user["id"], command.message.message_id, "/help")
    [edited] = await bot.get_updates(offset=press.update_id + 1, timeout=0)
    assert edited.edited_message.text == "/help"
    assert emu.stats["updates_pending"] == 1


async def test_long_poll_wakes_on_injected_update(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    emu.send_text(user["id"], "hello?")
    [update] = await asyncio.wait_for(poll, 2)
    assert update.message.text == "hello?" and time.monotonic() - started < 1.5

    started = time.monotonic()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0.3) == ()
    assert 0.25 < time.monotonic() - started < 1.5


async def test_second_poll_terminates_the_first(emu: BotAPIEmulator, http: aiohttp.ClientSession) -> None:
    first = asyncio.create_task(http.post("/botX/getUpdates", data={"timeout": "5"}))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(http.post("/botX/getUpdates", data={"timeout": "5"}))
    response = await asyncio.wait_for(first, 2)
    assert response.status == 409
    assert "terminated by other getUpdates" in (await response.json())["description"]
    emu.send_text(emu.add_user()["id"], "hi")
    body = await (await asyncio.wait_for(second, 2)).json()
    assert body["ok"] and body["result"][0]["message"]["text"] == "hi"


async def test_stop_does_not_hang_on_pending_long_poll() -> None:
    emulator = BotAPIEmulator()
    await emulator.start()
    async with aiohttp.ClientSession() as session:
        poll = asyncio.create_task(session.post(f"{emulator.base_url}X/getUpdates", data={"timeout": "30"}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await emulator.stop()
        assert time.monotonic() - started < 1.5
        assert (await (await asyncio.wait_for(poll, 2)).json())["result"] == []


async def test_injected_faults(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    other = emu.add_user()
    emu.inject_fault("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(user["id"], "x")
    assert retry_seconds(flood.value) == 3
    emu.inject_fault("sendMessage", status=403)
    with fails(Forbidden, "bot was blocked by the user"):
        await bot.send_message(user["id"], "x")
    emu.inject_fault(status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.get_chat(user["id"])
    emu.inject_fault("sendMessage", status=502, chat_id=other["id"])
    assert await bot.send_message(user["id"], "fine")
    with pytest.raises(NetworkError):
        await bot.send_message(other["id"], "fails")
    emu.inject_fault("sendMessage", status=200, delay=0.3)
    started = time.monotonic()
    assert await bot.send_message(user["id"], "slow")
    assert time.monotonic() - started >= 0.3
    assert emu.stats["faults_triggered"] == 6

    emu.block_bot(user["id"])
    with fails(Forbidden, "bot was blocked by the user"):
        await bot.send_message(user["id"], "x")
    [update] = await bot.get_updates(timeout=0)
    assert update.my_chat_member.new_chat_member.status == "kicked"
    emu.send_text(user["id"], "/start")  # writing to the bot unblocks it
    assert await bot.send_message(user["id"], "welcome back")


async def test_webhook_and_commands(bot: Bot, emu: BotAPIEmulator) -> None:
    hook = "https://kefu.example/hook"
    assert await bot.set_webhook(hook, secret_token="s3cret", allowed_updates=["message"])
    info = await bot.get_webhook_info()
    assert info.url == hook and emu.webhook["secret_token"] == "s3cret"
    with fails(Conflict, "webhook is active"):
        await bot.get_updates(timeout=0)
    with fails(BadRequest, "HTTPS URL must be provided"):
        await bot.set_webhook("http://insecure")
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()

    await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    await bot.set_my_commands([("ayuda", "Ayuda")], language_code="es")
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(language_code="es")] == ["ayuda"]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with fails(BadRequest, "BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad Command", "x")])


async def test_reply_keyboard_is_tracked_but_not_echoed(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user()
    markup = ReplyKeyboardMarkup([[KeyboardButton("Share phone", request_contact=True)]])
    sent = await bot.send_message(user["id"], "Your phone?", reply_markup=markup)
    assert sent.reply_markup is None
    assert emu.keyboards[user["id"]]["keyboard"][0][0]["request_contact"] is True
    assert emu.bot_messages(user["id"])[-1]["_reply_markup"]["keyboard"][0][0]["text"] == "Share phone"


async def test_raw_http_parameters(emu: BotAPIEmulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user()
    as_json = await http.post("/botX/sendMessage", json={"chat_id": user["id"], "text": 123})
    assert (await as_json.json())["result"]["text"] == "123"
    as_form = await http.post("/botX/sendMessage", data={"chat_id": str(user["id"]), "text": "007"})
    assert (await as_form.json())["result"]["text"] == "007"
    as_query = await http.get("/botX/SENDMESSAGE", params={"chat_id": user["id"], "text": "1e3"})
    assert (await as_query.json())["result"]["text"] == "1e3"
    unknown = await http.post("/botX/sendSticker")
    assert unknown.status == 404
    assert await unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert emu.calls[0] == ("sendMessage", {"chat_id": user["id"], "text": 123})
    assert emu.calls[1][1]["chat_id"] == user["id"] and emu.calls[1][1]["text"] == "007"


async def test_concurrent_requests(emu: BotAPIEmulator) -> None:
    users = [emu.add_user()["id"] for _ in range(4)]
    request = HTTPXRequest(connection_pool_size=100)
    async with Bot(TOKEN, base_url=emu.base_url, request=request) as client:
        sent = await asyncio.gather(*(client.send_message(users[n % 4], f"m{n}") for n in range(100)))
    assert len({(m.chat.id, m.message_id) for m in sent}) == 100
    assert emu.seq == 100 and len(emu.bot_messages()) == 100
    assert [m["message_id"] for m in emu.bot_messages(users[0])] == list(range(1, 26))
    assert len(emu.bot_messages(since=90)) == 10


async def test_stats_give_the_busiest_second_and_the_busiest_minute_of_each_group(
    bot: Bot, emu: BotAPIEmulator, http: aiohttp.ClientSession
) -> None:
    """What Telegram's flood limits count: requests into a chat (not get*), in a sliding window."""
    user = emu.add_user()
    group = emu.add_group(title="Agents", username="agents")
    await bot.send_message(user["id"], "one")
    await bot.send_message(group["id"], "two")
    await bot.send_message("@agents", "three")  # the same group, by its username
    await bot.get_chat(group["id"])  # read-only: not counted
    await bot.get_me()  # no chat: not counted
    await asyncio.sleep(0.3)
    await bot.send_message(group["id"], "four")
    with pytest.raises(BadRequest):  # refused, but it reached Telegram: counted
        await bot.edit_message_text("same", chat_id=group["id"], message_id=999)

    assert emu.stats["max_per_second"] == 5
    assert emu.stats["max_per_minute"] == {str(group["id"]): 4}
    assert emu.busiest(0.25) == 3  # the first three, within a quarter of a second
    assert emu.busiest(0.25, group["id"]) == 2
    stats = (await (await http.get("/_emulator/stats")).json())["result"]
    assert stats["max_per_second"] == 5 and stats["max_per_minute"] == {str(group["id"]): 4}


async def test_control_api(emu: BotAPIEmulator, bot: Bot, http: aiohttp.ClientSession) -> None:
    async def post(path: str, body: dict) -> dict:
        response = await http.post(f"/_emulator/{path}", json=body)
        payload = await response.json()
        assert response.status == 200, payload
        return payload["result"]

    user = await post("users", {"first_name": "Zhang", "username": "zhang"})
    group = await post("groups", {"title": "Support", "is_forum": True})
    assert await post("members", {"chat_id": group["id"], "user_id": user["id"], "status": "administrator"})
    await post("text", {"user_id": user["id"], "text": "/start"})
    await post("photo", {"user_id": user["id"], "data": base64.b64encode(PNG).decode(), "caption": "pic"})
    encoded = base64.b64encode(b"doc").decode()
    document_body = {"data": encoded, "file_name": "a.txt", "mime_type": "text/plain"}
    await post("document", {"user_id": user["id"], **document_body})
    text, photo, document = await bot.get_updates(timeout=0)
    assert text.message.text == "/start" and photo.message.caption == "pic"
    assert document.message.document.file_name == "a.txt"

    sent = await bot.send_message(user["id"], "menu", reply_markup=keyboard("x"))
    response = await http.get("/_emulator/messages", params={"chat_id": user["id"], "since": 0})
    [message] = (await response.json())["result"]
    assert message["text"] == "menu" and message["_seq"] == 1
    press = await post("button", {"user_id": user["id"], "message_id": sent.message_id, "data": "x"})
    assert press["callback_query"]["data"] == "x"
    missing = {"user_id": user["id"], "message_id": sent.message_id, "data": "y"}
    bad = await http.post("/_emulator/button", json=missing)
    assert bad.status == 400 and "no inline button" in (await bad.json())["description"]

    waiter = asyncio.create_task(http.get("/_emulator/messages", params={"since": 1, "timeout": 3}))
    await asyncio.sleep(0.1)
    await bot.send_message(user["id"], "later")
    assert [m["text"] for m in (await (await waiter).json())["result"]] == ["later"]

    await post("faults", {"method": "sendMessage", "status": 429, "retry_after": 2})
    with pytest.raises(RetryAfter):
        await bot.send_message(user["id"], "x")
    stats = (await (await http.get("/_emulator/stats")).json())["result"]
    assert stats["methods"]["sendMessage"] == 3
    assert stats["updates_injected"] == 4 and stats["faults_triggered"] == 1


async def test_make_app_embeds_and_checks_a_configured_token() -> None:
    emulator = BotAPIEmulator(token=TOKEN, bot_username="helpdesk_bot")
    server = TestServer(emulator.make_app())
    await server.start_server()
    try:
        base_url = str(server.make_url("/bot"))
        async with Bot(TOKEN, base_url=base_url) as client:
            assert client.id == 123456 and client.username == "helpdesk_bot"
        with pytest.raises(InvalidToken):
            async with Bot("999:WRONG", base_url=base_url):  # initialize() calls getMe
                pass
    finally:
        await server.close()


async def test_application_polling_replies_to_start(emu: BotAPIEmulator) -> None:
    user = emu.add_user(first_name="Wang")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"Hello {update.effective_user.first_name}")

    app = ApplicationBuilder().token(TOKEN).base_url(emu.base_url).base_file_url(emu.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        since = emu.seq
        emu.send_text(user["id"], "/start")
        reply = await emu.wait_for_bot_message(user["id"], since=since, timeout=5)
        assert reply["text"] == "Hello Wang"
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
    assert time.monotonic() - started < 2
    assert emu.stats["updates_pending"] == 0  # PTB confirmed the update on shutdown
    with pytest.raises(asyncio.TimeoutError):
        await emu.wait_for_bot_message(user["id"], since=emu.seq, timeout=0.05)


# -- albums and copies of many messages (copyMessages, sendMediaGroup) --


async def test_copy_messages_keeps_an_album_one_album_and_skips_what_it_cannot_copy(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.add_user(first_name="Ann")
    group = emu.add_group(title="Agents")
    parts = [u["message"] for u in emu.send_album(user["id"], [b"\x89PNG a", b"\x89PNG b"], captions=["front", None])]
    quiz = emu.send_content(user["id"], {"poll": {
        "id": "1", "question": "?", "type": "quiz", "is_anonymous": True, "allows_multiple_answers": False,
        "allows_revoting": False, "members_only": False, "is_closed": False, "total_voter_count": 0,
        "options": [{"persistent_id": "a", "text": "x", "voter_count": 0}, {"persistent_id": "b", "text": "y", "voter_count": 0}],
    }})["message"]
    ids = [p["message_id"] for p in parts] + [quiz["message_id"], 999]
    copied = await bot.copy_messages(group["id"], user["id"], ids)
    assert len(copied) == 2  # the quiz (its answer unknown to the bot) and a missing id are skipped
    posted = [emu.history(group["id"])[-2], emu.history(group["id"])[-1]]
    assert [m["message_id"] for m in posted] == [c.message_id for c in copied]
    assert posted[0]["media_group_id"] == posted[1]["media_group_id"] != parts[0]["media_group_id"]
    assert posted[0]["caption"] == "front" and "caption" not in posted[1]

    with pytest.raises(BadRequest, match="(?i)strictly increasing"):
        await bot.copy_messages(group["id"], user["id"], list(reversed(ids[:2])))
    with pytest.raises(BadRequest, match="(?i)no messages to copy"):
        await bot.copy_messages(group["id"], user["id"], [999])
    with pytest.raises(BadRequest, match="(?i)message can't be copied"):
        await bot.copy_message(group["id"], user["id"], quiz["message_id"])


async def test_send_media_group_sends_an_album_of_two_to_ten_that_mixes_no_documents(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.add_user(first_name="Ann")
    photo = await bot.send_photo(user["id"], b"\x89PNG\r\n\x1a\n")
    document = await bot.send_document(user["id"], b"%PDF", filename="a.pdf")
    file_id = photo.photo[-1].file_id
    sent = await bot.send_media_group(user["id"], [InputMediaPhoto(file_id, caption="one"), InputMediaPhoto(b"\x89PNG two")])
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id is not None
    assert sent[0].caption == "one" and sent[1].photo

    with pytest.raises(BadRequest, match="(?i)wrong number of media"):
        await bot.send_media_group(user["id"], [InputMediaPhoto(file_id)])
    with pytest.raises(BadRequest, match="(?i)document can't be mixed"):
        await bot.send_media_group(user["id"], [InputMediaPhoto(file_id), InputMediaDocument(document.document.file_id)])
    with pytest.raises(BadRequest, match='(?i)failed to send message #2 with the error message "wrong file identifier'):
        await bot.send_media_group(user["id"], [InputMediaPhoto(file_id), InputMediaPhoto("nonsense")])
