"""The Ticket page in a real browser (headless Chromium), opened as Telegram opens the Mini App:
a ticket opened from the queue, a customer's markup shown as text, a photo previewed with the
bearer token, a reply and Resolve reaching the ticket's topic and the customer (issue 23)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.i18n import text
from tests.harness import Console, Person, browser_errors
from ticketing.models import Ticket

pytestmark = pytest.mark.slow

PNG = bytes.fromhex(  # a 16×16 red square
    "89504e470d0a1a0a0000000d4948445200000010000000100802000000909168360000001649444154789c6338616343"
    "126218d530aa61f86a0000abc6401022a681cc0000000049454e44ae426082"
)
SCRIPT = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> the cup is broken'


async def test_an_agent_opens_a_ticket_sees_the_customer_as_they_wrote_replies_and_resolves_it(
    console: Console, customer: Person, agent: Person, browser_page: Any
) -> None:
    await customer.say("/human")
    await customer.say(SCRIPT)
    await customer.send_photo(PNG, caption="broken cup")
    ticket = await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(agent)))
    await page.click(f"a.queue-ticket[href='/console/tickets/{ticket.id}']")
    await page.wait_for_selector("#ticket")

    assert SCRIPT in await page.inner_text("#ticket-lines")
    assert await page.evaluate("window.pwned") is None, "the customer's markup ran nothing"
    preview = page.locator(".line-media img")
    await page.wait_for_selector(".line-media img[src^='blob:']")  # a selector, not a script: the CSP allows no eval
    assert await preview.evaluate("image => image.complete && image.naturalWidth") == 16, "fetched with the bearer token"

    emulator = console.bot.emulator
    before = emulator.seq
    await page.fill("#reply-text", "A new cup is on its way. Anything else I can do?")
    await page.click("#ticket-reply button[type=submit]")
    await page.wait_for_selector(f"#ticket-notice:has-text('{text('zh-Hans', 'console_ticket_done_reply')}')")
    assert emulator.bot_messages(customer.chat_id, since=before)[-1]["text"].startswith("A new cup is on its way.")
    assert "A new cup is on its way." in emulator.history(agent.chat_id, message_thread_id=ticket.topic_id)[-1]["text"]

    before = emulator.seq
    await page.click("#action-resolve")
    await page.wait_for_selector(f"#ticket-notice:has-text('{text('zh-Hans', 'console_ticket_done_resolve')}')")
    assert await page.get_attribute("#ticket", "data-status") == "resolved"
    in_topic = [m["text"] for m in emulator.bot_messages(agent.chat_id, since=before) if m.get("message_thread_id") == ticket.topic_id]
    assert in_topic == [text("zh-Hans", "agent_resolved", number=ticket.id, agent="Lei Li") + "（控制台）"]
    told = emulator.bot_messages(customer.chat_id, since=before)
    assert told[-1]["text"].startswith(f"Our team has marked ticket #{ticket.id} as solved.")
    assert errors == [], errors
