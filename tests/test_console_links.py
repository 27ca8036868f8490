"""The console from the chats: /console's one-time login link (a cookie session, once, for
[console] link_minutes) and the menu button of an agent's private chat (issue 23)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.console.models import ConsoleLink, ConsoleSession
from bot.core.config import ConsoleSettings
from bot.core.i18n import text
from tests.harness import Console, Person

LINK = re.compile(r"https?://\S+/console/login\?t=\S+")


def login_link(replies_text: str, console: Console) -> str:
    """The path of the login link in the bot's private message (its host is [api] listen)."""
    match = LINK.search(replies_text)
    assert match, replies_text
    assert match.group().startswith(console.url), "the link points at the console's server"
    return match.group().removeprefix(console.url)


async def test_console_in_the_agent_group_sends_a_one_time_link_privately(console: Console, agent: Person) -> None:
    bot = console.bot
    said = await agent.say("/console")
    assert said.text == text("zh-Hans", "console_link_sent")
    [message] = bot.emulator.bot_messages(agent.id)
    assert text("zh-Hans", "console_link_message", url="", minutes=10).splitlines()[0] in message["text"]
    assert message["link_preview_options"] == {"is_disabled": True}, "a preview would fetch the link and use it up"
    assert "reply_markup" not in message, "no Mini App button without HTTPS"
    path = login_link(message["text"], console)

    browser = console.client()
    opened = await browser.get(path, allow_redirects=False)
    assert opened.status == 303 and opened.headers["Location"] == "/console/tickets"
    cookie = opened.headers["Set-Cookie"]
    assert cookie.startswith("kefu_console=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie, "plain http: a Secure cookie would never come back"
    assert (await browser.get("/console/no-such-page")).status == 404, "signed in by the cookie"
    session = await ConsoleSession.get().select_related("agent")
    assert (session.agent.telegram_id, session.language) == (agent.id, "zh-Hans")

    again = await console.client().get(path, allow_redirects=False)
    assert again.status == 401, "a link signs in once"
    assert text("zh-Hans", "console_link_refused") in again.text
    assert await ConsoleSession.all().count() == 1


async def test_a_cookie_session_needs_the_csrf_token_of_its_pages_for_a_change(console: Console, agent: Person) -> None:
    await agent.say("/console")
    browser = console.client()
    await browser.get(login_link(console.bot.emulator.bot_messages(agent.id)[-1]["text"], console), allow_redirects=False)
    refused = await browser.post("/console/logout")
    assert refused.status == 403
    assert text("zh-Hans", "console_csrf_refused") in refused.text
    assert await ConsoleSession.all().count() == 1
    page = await browser.get("/console/tickets")
    [csrf] = re.findall(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert f'<input type="hidden" name="csrf" value="{csrf}">' in page.text, "the sign-out form carries it"
    signed_out = await browser.post("/console/logout", {"csrf": csrf})
    assert signed_out.status == 200
    assert await ConsoleSession.all().count() == 0


async def test_a_login_link_expires(console: Console, agent: Person) -> None:
    await agent.say("/console")
    path = login_link(console.bot.emulator.bot_messages(agent.id)[-1]["text"], console)
    link = await ConsoleLink.get()
    assert link.expires_at - link.created_at == timedelta(minutes=10) and link.used_at is None
    console.bot.travel(console.bot.app.bot_data.now() + timedelta(minutes=10, seconds=1))
    late = await console.client().get(path, allow_redirects=False)
    assert late.status == 401
    assert await ConsoleSession.all().count() == 0


async def test_a_made_up_or_missing_link_token_signs_nobody_in(console: Console, agent: Person) -> None:
    for path in ("/console/login?t=made-up", "/console/login", "/console/login?t="):
        answer = await console.client().get(path, allow_redirects=False)
        assert answer.status == 401, path
    assert await ConsoleSession.all().count() == 0


async def test_an_agent_who_never_started_the_bot_is_told_in_the_group_how_to(console: Console, agent: Person) -> None:
    console.bot.emulator.block_bot(agent.id)  # Telegram answers 403: the bot may not write to them
    said = await agent.say("/console")
    assert said.text == text(
        "zh-Hans", "console_start_bot_first", agent="Lei Li", link="https://t.me/kefu_test_bot?start=console"
    )
    assert LINK.search(said.text) is None, "the login link itself never goes to the group"


async def test_start_console_sends_the_link_that_the_group_could_not(console: Console, agent: Person) -> None:
    started = await agent.privately().say("/start console")
    [message] = started
    path = login_link(message["text"], console)
    assert (await console.client().get(path, allow_redirects=False)).status == 303
    assert text("en", "start", name="Lei") not in started.texts, "no customer welcome for the agent"


async def test_someone_outside_the_agent_group_gets_no_link(console: Console, customer: Person) -> None:
    replies = await customer.say("/start console")
    assert LINK.search(" ".join(replies.texts)) is None
    assert await ConsoleLink.all().count() == 0


async def test_on_https_an_agent_opening_the_bot_gets_the_console_as_menu_button(start_bot) -> None:
    async with start_bot(console=ConsoleSettings(public_url="https://kefu.shop.example")) as bot:
        agent = bot.add_agent(first_name="Lei", language_code="en")
        customer = bot.add_customer(first_name="Emma")
        await customer.say("/start")
        assert customer.id not in bot.emulator.menu_buttons, "customers keep the commands menu"
        await agent.privately().say("/start")
        assert bot.emulator.menu_buttons[agent.id] == {
            "type": "web_app", "text": text("en", "console_menu_button"),
            "web_app": {"url": "https://kefu.shop.example/console/"},
        }
        await agent.say("/console")
        [message] = [m for m in bot.emulator.bot_messages(agent.id) if "login?t=" in m.get("text", "")]
        assert message["text"].count("https://kefu.shop.example/console/login?t=") == 1
        [[button]] = message["reply_markup"]["inline_keyboard"]
        assert button["web_app"] == {"url": "https://kefu.shop.example/console/"}, "a Mini App button, in the private chat"


async def test_without_https_no_menu_button_is_set(bot, agent: Person) -> None:
    await agent.privately().say("/start")
    assert agent.id not in bot.emulator.menu_buttons
