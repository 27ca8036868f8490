"""The Knowledge base page in a real browser (headless Chromium), opened as the Mini App: a
supervisor tries a message, edits an answer and the bot answers a customer with it; an invalid
edit shows the file loader's refusal (issue 23, acceptance 5)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.i18n import text
from tests.harness import Bot, Console, Person, browser_errors

pytestmark = pytest.mark.slow

QUESTION = "how do I return an item"


async def test_a_kb_answer_edited_in_the_browser_is_what_the_bot_answers(
    bot: Bot, console: Console, supervisor: Person, customer: Person, browser_page: Any
) -> None:
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(supervisor)))
    await page.wait_for_selector(".console-nav")
    await page.click(f"text={text('zh-Hans', 'console_nav_kb')}")
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_kb_title')}')")

    await page.fill(".kb-try input[name=text]", QUESTION)  # try it: htmx swaps in the result
    await page.click(".kb-try button")
    result = page.locator(".kb-try-result")
    await result.wait_for()
    assert await result.get_attribute("data-entry") == "returns"
    assert await result.get_attribute("data-band") == "high"
    assert text("zh-Hans", "console_kb_band_high") in await result.inner_text()

    await page.click("a[href='/console/kb/entry/returns']")
    answer = page.locator("textarea[name=a_en]")
    await answer.wait_for()
    await answer.fill("Return it within {return_days} days, free of charge.")
    await page.click("form.kb-form button[type=submit]")
    await page.wait_for_selector(".kb-saved")
    assert page.url.endswith("/console/kb/entry/returns?saved=1")
    days = bot.settings.knowledge_base.values["return_days"]
    assert (await customer.say(QUESTION)).text == f"Return it within {days} days, free of charge."

    await answer.fill("Return it within {return days} days.")
    await page.click("form.kb-form button[type=submit]")
    refusal = page.locator(".kb-problems li")
    await refusal.wait_for()
    assert "field 'answer': English answer: placeholder {return days} must be a plain name such as {shop_name}" in await refusal.inner_text()
    assert (await customer.say(QUESTION)).text == f"Return it within {days} days, free of charge."
    assert [e for e in errors if "422" not in e] == [], "no script failed and the CSP refused nothing"
