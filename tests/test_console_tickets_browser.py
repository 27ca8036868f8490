"""The Tickets page in a real browser (headless Chromium): an agent searches for a word a customer
wrote and opens the ticket it finds (issue 23, acceptance 3)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.i18n import text
from tests.harness import Console, Person, browser_errors
from ticketing.models import Ticket

pytestmark = pytest.mark.slow


async def test_an_agent_searches_a_word_the_customer_wrote_and_opens_the_ticket(
    console: Console, agent: Person, make_customer, browser_page: Any
) -> None:
    fang: Person = make_customer(first_name="Fang", language_code="zh-TW")
    await fang.say("我的快遞還沒到，<script>alert(1)</script> 我要投訴")
    emma: Person = make_customer(first_name="Emma", language_code="en")
    await emma.say("/human the refund never came")
    parcel = await Ticket.get(customer__telegram_id=fang.id)
    refund = await Ticket.get(customer__telegram_id=emma.id)
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(agent)))
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_tickets_title')}')")
    assert await page.locator(".queue-row").count() == 2

    await page.fill("input[name=q]", "快递")
    await page.click(f"button:has-text('{text('zh-Hans', 'console_tickets_apply')}')")
    await page.wait_for_url("**/console/tickets?*q=*")
    assert await page.locator(".queue-row").count() == 1
    hit = page.locator(f"tr[data-ticket='{parcel.id}'] .queue-hit")
    assert "<script>alert(1)</script>" in await hit.inner_text(), "what the customer wrote, as text"

    await page.fill("input[name=q]", "refund")
    await page.click(f"button:has-text('{text('zh-Hans', 'console_tickets_apply')}')")
    await page.wait_for_selector(f"tr[data-ticket='{refund.id}']")
    assert await page.locator(".queue-row").count() == 1

    await page.click(f"tr[data-ticket='{refund.id}'] a.queue-ticket")
    await page.wait_for_selector(f"h1:has-text('#{refund.id}')")
    assert page.url == f"{console.url}/console/tickets/{refund.id}"
    assert errors == [], "no script failed and the CSP refused nothing"
