"""The Bot API emulator's albums and copies of many messages (copyMessages, sendMediaGroup), as
the Bot API documents them, driven by the real python-telegram-bot client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InputMediaDocument, InputMediaPhoto
from telegram.error import BadRequest

from bot.emulator import BotAPIEmulator

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST"


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
