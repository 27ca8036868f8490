"""Texts over Telegram's 4,096-unit limit arrive whole, and markup in customers' text shows as typed,
through the emulator (which refuses what Telegram refuses: over-long texts, bad HTML)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.fit import utf16_len
from bot.telegram.longtext import MAX_TEXT
from tests.harness import Bot, Person
from ticketing.models import Ticket, TicketMessage

MARKUP = "<b>x</b> & <script>alert(1)</script> *bold* _x_ [link](http://a) </code> `"


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def long_text(length: int, seed: str) -> str:
    """Paragraphs of numbered sentences with emoji, CJK and one very long word: ``length`` characters."""
    sentences, n = [], 0
    while sum(len(s) + 1 for s in sentences) < length:
        n += 1
        sentences.append(f"{seed} sentence {n} 😀 包裹还没到。" + ("\n\n" if n % 7 == 0 else ""))
        if n == 40:
            sentences.append("A" * 4500)  # no space to cut at
    return " ".join(sentences)[:length]


def posted_after(bot: Bot, chat_id: int, since: int, thread_id: int | None = None) -> list[dict]:
    return [m for m in bot.emulator.bot_messages(chat_id, since=since) if thread_id is None or m.get("message_thread_id") == thread_id]


async def test_a_9000_character_complaint_reaches_the_agent_group_complete_in_order(customer: Person, agent: Person) -> None:
    bot = customer.bot
    said = long_text(9000, "complaint")
    assert len(said) == 9000 and utf16_len(said) > 9000  # the emoji count twice
    before = bot.emulator.seq
    opened = await customer.say(f"/complaint {said}")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert f"#{ticket.id}" in opened.text
    posts = posted_after(bot, agent.chat_id, before, ticket.topic_id)
    assert len(posts) >= 3 and all(utf16_len(p["text"]) <= MAX_TEXT for p in posts)
    assert posts[0]["message_id"] == ticket.card_message_id and posts[0]["text"].startswith(f"🎫 工单 #{ticket.id}")
    assert posts[0]["reply_markup"]["inline_keyboard"] and all("reply_markup" not in p for p in posts[1:])
    assert squeezed(said) in squeezed("".join(p["text"] for p in posts))  # whole, in order

    again = long_text(9000, "follow-up")
    before = bot.emulator.seq
    await customer.say(again)
    posts = posted_after(bot, agent.chat_id, before, ticket.topic_id)
    assert len(posts) >= 3 and squeezed("".join(p["text"] for p in posts)) == squeezed(again)
    stored = await TicketMessage.filter(ticket=ticket, direction="in").order_by("-id").first()
    assert stored.text == again and stored.group_message_id == posts[0]["message_id"]

    last = bot.emulator.history(customer.chat_id)[-1]
    before = bot.emulator.seq
    await bot.handled(bot.emulator.edit_text(customer.id, last["message_id"], again))
    posts = posted_after(bot, agent.chat_id, before, ticket.topic_id)
    assert len(posts) >= 3 and squeezed(again) in squeezed("".join(p["text"] for p in posts))


async def test_a_5000_character_reply_reaches_the_customer_complete_with_the_button_under_the_end(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    reply = long_text(5000, "answer")
    before = bot.emulator.seq
    await agent.in_topic(ticket).say(reply)
    told = posted_after(bot, customer.chat_id, before)
    assert len(told) == 2 and all(utf16_len(m["text"]) <= MAX_TEXT for m in told)
    assert squeezed("".join(m["text"] for m in told)) == squeezed(reply + "— Lei Li, customer service")
    assert "reply_markup" not in told[0] and told[1]["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Problem solved"
    thanks = await customer.press("✅ Problem solved", told)  # the button under the last part works
    assert f"#{ticket.id}" in thanks.text and (await Ticket.get(id=ticket.id)).status == "resolved"


async def test_a_long_caption_with_the_signature_goes_on_as_text(customer: Person, agent: Person) -> None:
    bot = customer.bot
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    caption = "Here is the label 📦 " * 53  # 1,007 characters, 1,060 units: over a caption's 1,024 with the signature
    before = bot.emulator.seq
    await agent.in_topic(ticket).send_photo(b"\x89PNG label", caption=caption)
    photo, rest = posted_after(bot, customer.chat_id, before)
    assert "photo" in photo and utf16_len(photo["caption"]) <= 1024
    assert squeezed(photo["caption"] + rest["text"]) == squeezed(caption + "— Lei Li, customer service")
    assert rest["reply_markup"]["inline_keyboard"][0][0]["text"] == "✅ Problem solved"


async def test_long_lists_and_answers_are_split(bot: Bot, customer: Person, supervisor: Person) -> None:
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
    for word in words:  # ten unanswerable questions of 1,200 characters
        await customer.say(f"{word} " * 200)
    missed = await supervisor.say("/kb_missed")
    assert len(missed) >= 3 and all(utf16_len(t) <= MAX_TEXT for t in missed.texts)
    assert all(squeezed(f"{word} " * 200) in squeezed("".join(missed.texts)) for word in words)
    sample = "Dear {name}, " + "our autumn sale is on. " * 250
    await supervisor.say("/campaign all")
    preview = await supervisor.say(sample)
    assert len(preview) >= 2 and squeezed(sample) in squeezed("".join(preview.texts))
    assert preview[-1]["reply_markup"] and "reply_markup" not in preview[0]


async def test_markup_in_customer_text_shows_literally_everywhere(make_customer, agent: Person) -> None:
    bot = agent.bot
    customer: Person = make_customer(first_name="<b>Eve</b> &", last_name="<i>", language_code="en")
    opened = await customer.say(f"/complaint {MARKUP}")
    assert opened.text.startswith("I've passed this on to our team: ticket #")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    card = agent.message(ticket.card_message_id)
    assert MARKUP in card["text"] and "<b>Eve</b> & <i>" in card["text"]
    assert bot.emulator.topics[agent.chat_id][ticket.topic_id]["name"].endswith("<b>Eve</b> & <i>")

    await customer.say(MARKUP + " again")
    assert bot.emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]["text"] == MARKUP + " again"
    topic = agent.in_topic(ticket)
    assert MARKUP in (await topic.say("/customer")).text
    await topic.say(f"We read: {MARKUP}")
    assert bot.emulator.history(customer.chat_id)[-1]["text"].startswith(f"We read: {MARKUP}")

    listed = await agent.say("/tickets")  # HTML: the emulator refuses it if anything is left unescaped
    assert f"#{ticket.id} · <b>Eve</b> & <i>" in listed.text
    shown = await agent.say(f"/ticket {ticket.id}")
    assert shown.text.startswith(f"#{ticket.id} · <b>Eve</b> & <i> · open")


async def test_a_supervisor_with_markup_in_the_name_is_mentioned_at_a_breach(customer: Person, agent: Person) -> None:
    bot = customer.bot
    boss = bot.add_supervisor(first_name="<Boss> & </a>", language_code="en")
    await boss.say("hello")  # known by name from now on
    await customer.say(f"/human {MARKUP}")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    before = bot.emulator.seq
    moment = ticket.first_response_due + timedelta(minutes=1)
    bot.travel(moment)
    await bot.schedule.check_sla()
    [breach] = [m for m in posted_after(bot, agent.chat_id, before, ticket.topic_id) if m["text"].startswith("🚨")]
    assert breach["text"].endswith("<Boss> & </a>")
