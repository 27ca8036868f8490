"""Splitting texts over Telegram's length limits (bot/telegram/longtext.py), and the emulator refusing them."""

from __future__ import annotations

import re

import pytest
from telegram import Bot, MessageEntity
from telegram.error import BadRequest

from bot.core.fit import utf16_len
from bot.emulator import BotAPIEmulator, parse_formatted
from bot.telegram.longtext import MAX_CAPTION, MAX_TEXT, Part, split_message


def texts(parts: list[Part]) -> list[str]:
    return [p.text for p in parts]


def squeezed(text: str) -> str:
    """The text without whitespace: what must survive a split (whitespace at a cut is dropped)."""
    return re.sub(r"\s+", "", text)


def assert_fits(parts: list[Part], limit: int = MAX_TEXT) -> None:
    for part in parts:
        assert 0 < utf16_len(part.text) <= limit
        part.text.encode("utf-16-le")  # no lone surrogate anywhere


def test_a_text_that_fits_is_one_part_as_it_is() -> None:
    assert split_message("  hello\n\n") == [Part("  hello\n\n")]
    assert split_message("😀" * 2048) == [Part("😀" * 2048)]  # 4,096 UTF-16 units exactly


def test_paragraphs_then_lines_then_words() -> None:
    a, b, c = "a" * 3000, "b" * 3000, "c" * 100
    assert texts(split_message(f"{a}\n\n{b}")) == [a, b]
    assert texts(split_message(f"{a}\n{b}\n\n{c}")) == [a, f"{b}\n\n{c}"]  # no paragraph break in reach
    para = f"{'x' * 1000}\n\n{'y' * 2000}\n{'z' * 2000}"
    assert texts(split_message(para)) == ["x" * 1000, f"{'y' * 2000}\n{'z' * 2000}"]  # a paragraph beats a later line
    words = " ".join(["word"] * 2000)  # 9,999 characters
    parts = split_message(words)
    assert_fits(parts)
    assert all(p.text.startswith("word") and p.text.endswith("word") for p in parts)
    assert " ".join(texts(parts)) == words


def test_a_sentence_end_beats_a_space() -> None:
    text = ("This is a sentence. " * 100 + "and it goes on and on ") * 3
    parts = split_message(text)
    assert_fits(parts)
    assert all(p.text.endswith(".") for p in parts[:-1])
    assert squeezed("".join(texts(parts))) == squeezed(text)


def test_a_10000_character_word_is_cut_between_characters() -> None:
    parts = split_message("a" * 10_000)
    assert [len(p.text) for p in parts] == [4096, 4096, 1808]


def test_an_emoji_at_the_boundary_is_never_halved() -> None:
    text = "x" * 4095 + "😀" + "y"  # the emoji would take units 4,096 and 4,097
    assert texts(split_message(text)) == ["x" * 4095, "😀y"]
    only_emoji = "😀" * 5000
    parts = split_message(only_emoji)
    assert_fits(parts)
    assert [utf16_len(p.text) for p in parts] == [4096, 4096, 1808]
    assert "".join(texts(parts)) == only_emoji


@pytest.mark.parametrize("cluster", ["👩\u200d💻", "👍🏽", "🇨🇳", "e\u0301", "1️⃣"])
def test_emoji_sequences_flags_and_combining_marks_stay_whole(cluster: str) -> None:
    for lead in range(4090, 4097):
        text = "x" * lead + cluster * 3 + "y" * 10
        parts = split_message(text)
        assert_fits(parts)
        assert "".join(texts(parts)) == text
        into = len(parts[0].text) - lead  # where the cut fell, counted from the first cluster
        assert not (0 < into < 3 * len(cluster) and into % len(cluster)), (cluster, lead, into)


def test_flags_pair_up_from_the_start_of_the_run() -> None:
    flags = "🇨🇳🇯🇵🇺🇸" * 700  # regional indicators: each flag is two, four UTF-16 units
    parts = split_message(flags)
    assert_fits(parts)
    assert all(len(p.text) % 2 == 0 for p in parts)


def test_cjk_text_is_cut_after_a_sentence_end() -> None:
    sentence = "您好，我的订单已经十天了还没有到，快递单号查不到任何信息，请尽快帮我处理。"
    text = sentence * 300
    parts = split_message(text)
    assert_fits(parts)
    assert len(parts) > 1 and all(p.text.endswith("。") for p in parts)
    assert "".join(texts(parts)) == text
    no_punctuation = "汉字" * 5000
    assert [len(p.text) for p in split_message(no_punctuation)] == [4096, 4096, 1808]


def test_html_tags_are_closed_and_reopened_at_a_cut() -> None:
    body = "<b>bold <i>and italic</i> " + "word " * 1500 + "</b>" + '<a href="https://x.org/?a=1&amp;b=2">' + "link " * 1000 + "</a>"
    parts = split_message(body, parse_mode="HTML")
    assert len(parts) > 1
    plain = ""
    for part in parts:
        text, entities = parse_formatted(part.text, "HTML")  # Telegram's parser would take it
        assert 0 < utf16_len(text) <= MAX_TEXT
        assert entities
        plain += text
    assert squeezed(plain) == squeezed(parse_formatted(body, "HTML")[0])
    assert parts[1].text.startswith("<b>") and parts[-1].text.startswith('<a href="https://x.org/?a=1&amp;b=2">')


def test_html_character_references_are_never_cut() -> None:
    body = "&lt;b&gt;" + "&amp;" * 9000
    parts = split_message(body, parse_mode="HTML")
    assert len(parts) == 3
    rendered = [parse_formatted(p.text, "HTML")[0] for p in parts]
    assert [utf16_len(t) for t in rendered] == [4096, 4096, 9003 - 8192]
    assert "".join(rendered) == "<b>" + "&" * 9000


def test_escaped_customer_text_in_html_splits_into_valid_parts() -> None:
    import html

    said = "<b>x</b> & <script>alert(1)</script> </code> " * 300
    body = f"<b>Ticket #1</b>\n<pre>{html.escape(said)}</pre>"
    parts = split_message(body, parse_mode="HTML")
    assert len(parts) > 1
    shown = "".join(parse_formatted(p.text, "HTML")[0] for p in parts)
    assert squeezed(shown) == squeezed("Ticket #1" + said)


def test_entities_are_clipped_into_each_part() -> None:
    text = "x" * 3000 + " " + "y" * 3000
    bold = MessageEntity(MessageEntity.BOLD, 2990, 20)
    link = MessageEntity(MessageEntity.TEXT_LINK, 5000, 10, url="https://x.org")
    first, second = split_message(text, entities=[bold, link])
    assert first.text == "x" * 3000 and second.text == "y" * 3000
    assert first.entities == (MessageEntity(MessageEntity.BOLD, 2990, 10),)
    assert second.entities == (MessageEntity(MessageEntity.BOLD, 0, 9), MessageEntity(MessageEntity.TEXT_LINK, 1999, 10, url="https://x.org"))


def test_entity_offsets_count_utf16_units() -> None:
    text = "😀" * 1000 + " " + "y" * 3000  # the emoji take 2,000 units
    bold = MessageEntity(MessageEntity.BOLD, 2001, 5)
    first, second = split_message(text, entities=[bold])
    assert first.text == "😀" * 1000 and first.entities == ()
    assert second.entities == (MessageEntity(MessageEntity.BOLD, 0, 5),)


def test_a_url_is_not_cut() -> None:
    url = "https://example.com/a/very/long/path"
    text = "x" * 4090 + url
    first, second = split_message(text, entities=[MessageEntity(MessageEntity.URL, 4090, len(url))])
    assert first.text == "x" * 4090 and second.text == url
    assert second.entities == (MessageEntity(MessageEntity.URL, 0, len(url)),)


def test_a_caption_takes_1024_and_the_rest_follows_in_messages() -> None:
    text = "word " * 2000
    parts = split_message(text, limit=MAX_TEXT, first_limit=MAX_CAPTION)
    assert utf16_len(parts[0].text) <= MAX_CAPTION and all(utf16_len(p.text) <= MAX_TEXT for p in parts[1:])
    assert squeezed("".join(texts(parts))) == squeezed(text)


def test_markdown_is_not_split() -> None:
    with pytest.raises(ValueError):
        split_message("*x* " * 2000, parse_mode="MarkdownV2")


async def test_the_emulator_counts_utf16_units_like_telegram() -> None:
    emulator = BotAPIEmulator()
    await emulator.start()
    try:
        async with Bot("123:abc", base_url=emulator.base_url) as bot:
            user = emulator.add_user()
            assert (await bot.send_message(user["id"], "😀" * 2048)).text == "😀" * 2048
            with pytest.raises(BadRequest, match="(?i)message is too long"):
                await bot.send_message(user["id"], "😀" * 2049)  # 2,049 characters, 4,098 units
            with pytest.raises(BadRequest, match="(?i)message is too long"):
                await bot.send_message(user["id"], "<b>" + "😀" * 2049 + "</b>", parse_mode="HTML")
            assert await bot.send_message(user["id"], "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # after parsing
            photo = emulator.send_photo(user["id"], b"\x89PNG")["message"]
            with pytest.raises(BadRequest, match="(?i)message caption is too long"):
                await bot.copy_message(user["id"], user["id"], photo["message_id"], caption="😀" * 513)
            assert await bot.copy_message(user["id"], user["id"], photo["message_id"], caption="😀" * 512)
    finally:
        await emulator.stop()
