"""Telegram says "too many requests" or fails with a 5xx: the reply still arrives, exactly once."""

from __future__ import annotations

from tests.harness import Person


async def test_a_429_is_waited_out_and_the_reply_arrives(customer: Person) -> None:
    emulator = customer.bot.emulator
    emulator.inject_fault("sendMessage", status=429, retry_after=1, times=1)
    before = emulator.count("sendMessage")
    replies = await customer.say("hello")
    assert replies.texts == ["Hello Emma! How can I help you today?"]
    assert emulator.count("sendMessage") - before == 2  # refused once, then sent


async def test_a_5xx_is_retried_and_the_reply_arrives_once(customer: Person) -> None:
    emulator = customer.bot.emulator
    emulator.inject_fault("sendMessage", status=502, times=2)
    before = emulator.count("sendMessage")
    replies = await customer.say("/help")
    assert len(replies) == 1 and "/lang" in replies.text
    assert emulator.count("sendMessage") - before == 3


async def test_a_slow_api_still_delivers(customer: Person) -> None:
    customer.bot.emulator.inject_fault("sendMessage", status=200, delay=0.5, times=1)
    assert (await customer.say("hi")).text.startswith("Hello")
