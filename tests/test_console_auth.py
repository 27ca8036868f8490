"""Signing in to the console: only agents get in, with Telegram's signature or a one-time link,
and every answer carries the browser's protections (issue 23, acceptance 2)."""

from __future__ import annotations

from datetime import timedelta

from bot.console.auth import CSP
from bot.console.models import ConsoleSession
from bot.core.config import ConsoleSettings
from bot.core.i18n import text
from bot.http import serving_http
from tests.harness import Console, Person
from ticketing.models import Agent

OTHER_BOT_TOKEN = "123456789:another-bot-token-of-the-same-shop"


async def test_an_agent_signs_in_with_the_mini_apps_init_data(console: Console, agent: Person) -> None:
    answer = await console.sign_in(console.init_data(agent))
    assert answer.status == 200
    body = answer.json()
    assert set(body) == {"token", "expires", "csrf"}
    session = await ConsoleSession.get().select_related("agent")
    assert session.token_hash != body["token"] and body["token"] not in session.token_hash, "only its hash is kept"
    assert (session.agent.telegram_id, session.agent.name, session.language) == (agent.id, "Lei Li", "zh-Hans")
    assert session.expires_at - session.created_at == timedelta(minutes=480)


async def test_forged_foreign_or_stale_init_data_is_refused_with_401(console: Console, agent: Person) -> None:
    now = console.bot.app.bot_data.now()
    genuine = console.init_data(agent)
    forged_hash = genuine[:-4] + ("0000" if not genuine.endswith("0000") else "1111")
    someone_else = genuine.replace(f"%22id%22%3A+{agent.id}", "%22id%22%3A+900001").replace(
        f"%22id%22%3A%20{agent.id}", "%22id%22%3A%20900001"
    )
    assert someone_else != genuine
    refused = {
        "wrong hash": forged_hash,
        "another user in genuine data": someone_else,
        "another bot's token": console.init_data(agent, token=OTHER_BOT_TOKEN),
        "stale auth_date": console.init_data(agent, auth_date=now - timedelta(seconds=86400 + 60)),
        "auth_date in the future": console.init_data(agent, auth_date=now + timedelta(minutes=5)),
        "no hash": "user=%7B%22id%22%3A1%7D&auth_date=1",
        "not initData at all": "<script>alert(1)</script>",
        "empty": "",
    }
    for why, init_data in refused.items():
        answer = await console.sign_in(init_data)
        assert answer.status == 401, why
        assert answer.json() == {"error": text("zh-Hans", "console_init_data_refused")}, why
    assert await ConsoleSession.all().count() == 0
    assert (await console.sign_in(console.init_data(agent, auth_date=now - timedelta(seconds=86400 - 60)))).status == 200


async def test_a_valid_user_who_is_not_an_agent_gets_403(console: Console, customer: Person) -> None:
    answer = await console.sign_in(console.init_data(customer))
    assert answer.status == 403
    assert answer.json() == {"error": text("en", "console_not_an_agent")}
    assert await ConsoleSession.all().count() == 0
    assert not await Agent.filter(telegram_id=customer.id).exists()


async def test_pages_need_a_session(console: Console, agent: Person) -> None:
    nobody = console.client()
    answer = await nobody.get("/console/tickets")
    assert answer.status == 401
    assert text("zh-Hans", "console_signed_out") in answer.text
    nobody.token = "made-up-token"
    assert (await nobody.get("/console/tickets")).status == 401
    signed_in = await console.signed_in(agent)
    page = await signed_in.get("/console/tickets")
    assert page.status == 200 and "Lei Li" in page.text
    assert (await signed_in.get("/console/no-such-page")).status == 404, "past the guard: the page is simply not there"


async def test_a_change_without_the_csrf_token_is_refused(console: Console, agent: Person) -> None:
    signed_in = await console.signed_in(agent)
    refused = await signed_in.post("/console/logout", csrf=False)
    assert refused.status == 403
    assert text("zh-Hans", "console_csrf_refused") in refused.text
    wrong = await signed_in.post("/console/logout", {"csrf": "not-the-token"}, csrf=False)
    assert wrong.status == 403
    assert await ConsoleSession.all().count() == 1, "nothing changed"
    as_form_field = await signed_in.post("/console/logout", {"csrf": signed_in.csrf or ""}, csrf=False)
    assert as_form_field.status == 200
    assert text("zh-Hans", "console_signed_out_done") in as_form_field.text
    assert await ConsoleSession.all().count() == 0
    assert (await signed_in.get("/console/tickets")).status == 401, "signed out: the token opens nothing"


async def test_a_session_expires(console: Console, agent: Person) -> None:
    signed_in = await console.signed_in(agent)
    bot = console.bot
    start = bot.app.bot_data.now()
    bot.travel(start + timedelta(minutes=479))
    assert (await signed_in.get("/console/tickets")).status == 200
    bot.travel(start + timedelta(minutes=481))
    answer = await signed_in.get("/console/tickets")
    assert answer.status == 401
    assert text("zh-Hans", "console_session_expired") in answer.text


async def test_every_console_answer_carries_the_csp_and_no_referrer(console: Console, agent: Person) -> None:
    signed_in = await console.signed_in(agent)
    nobody = console.client()
    answers = {
        "entry page": await nobody.get("/console/"),
        "script": await nobody.get("/console/static/console.js"),
        "refusal": await nobody.get("/console/tickets"),
        "sign-in": await console.sign_in("forged"),
        "not found": await signed_in.get("/console/no-such-page"),
        "csrf refusal": await signed_in.post("/console/logout", csrf=False),
    }
    for what, answer in answers.items():
        assert answer.headers["Content-Security-Policy"] == CSP, what
        assert answer.headers["Referrer-Policy"] == "no-referrer", what
        assert answer.headers["X-Content-Type-Options"] == "nosniff", what
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert answers["refusal"].headers["Cache-Control"] == "no-store"
    outside = await nobody.get("/healthz")
    assert "Content-Security-Policy" not in outside.headers, "the rest of the HTTP API is left as it was"


async def test_the_entry_page_loads_only_its_own_scripts(console: Console) -> None:
    page = await console.client().get("/console/")
    assert page.status == 200
    assert '<script src="/console/static/htmx.min.js"></script>' in page.text
    assert '<script src="/console/static/console.js"></script>' in page.text
    assert "<script>" not in page.text and "http://" not in page.text.replace(console.url, "")
    assert 'hx-boost="true"' in page.text
    htmx = await console.client().get("/console/static/htmx.min.js")
    assert htmx.status == 200 and "htmx" in htmx.text


async def test_supervisor_pages_are_refused_to_an_agent(console: Console, agent: Person, supervisor: Person) -> None:
    as_agent = await console.signed_in(agent)
    refused = await as_agent.get("/console/reports")
    assert refused.status == 403
    assert text("zh-Hans", "console_supervisors_only") in refused.text
    assert 'href="/console/reports"' not in (await as_agent.get("/console/kb")).text, "not in an agent's bar"
    as_supervisor = await console.signed_in(supervisor)
    page = await as_supervisor.get("/console/reports")
    assert page.status == 200
    assert 'href="/console/reports"' in page.text and 'href="/console/campaigns"' in page.text


async def test_someone_who_left_the_agent_group_is_out_of_the_console(start_bot) -> None:
    """Membership is asked of Telegram, and its answer kept [console] member_cache_seconds (here 0)."""
    async with start_bot(console=ConsoleSettings(member_cache_seconds=0)) as bot, serving_http(
        bot.settings, "127.0.0.1:0", app=bot.app
    ) as url:
        console = Console(bot, url)
        try:
            agent = bot.add_agent(first_name="Lei", language_code="en")
            signed_in = await console.signed_in(agent)
            assert (await signed_in.get("/console/tickets")).status == 200
            bot.emulator.set_member(bot.group["id"], agent.id, "left")
            answer = await signed_in.get("/console/tickets")
            assert answer.status == 403
            assert text("en", "console_not_an_agent") in answer.text
            assert (await console.sign_in(console.init_data(agent))).status == 403
        finally:
            await console.close()
