"""/help in the agent group lists every agent command, as the group's command menu does, in the
agent language; customers keep their own /help."""

from __future__ import annotations

from telegram import BotCommandScopeChat
from telegram.ext import CommandHandler

from bot.core.i18n import text
from handlers.agent_help import AGENT_COMMANDS
from tests.harness import Bot, Person


async def test_help_in_the_agent_group_lists_every_agent_command(agent: Person) -> None:
    shown = await agent.say("/help")
    lines = shown.text.split("\n")
    assert lines[0] == "客服群命令（工单相关的命令请在工单话题里使用）："
    assert lines[1:] == [f"/{c} — {text('zh-Hans', f'agent_command_{c}')}" for c in AGENT_COMMANDS]
    for command in ("claim", "resolve", "send", "contact", "tickets", "kb_missed", "campaign", "report"):
        assert any(line.startswith(f"/{command} — ") for line in lines)


async def test_help_follows_the_agent_language(start_bot) -> None:
    async with start_bot(telegram={"agent_language": "en"}) as bot:
        agent = bot.add_agent(first_name="Amy")
        shown = await agent.say("/help")
        assert shown.text.startswith("Commands in the agent group")
        assert "/contact — Open a ticket with a customer: /contact ID | phone | @username" in shown.text


async def test_the_agent_groups_menu_has_the_same_commands(bot: Bot, customer: Person) -> None:
    menu = await bot.app.bot.get_my_commands(scope=BotCommandScopeChat(bot.group["id"]))
    assert [(c.command, c.description) for c in menu] == [(c, text("zh-Hans", f"agent_command_{c}")) for c in AGENT_COMMANDS]
    assert "/lang" in (await customer.say("/help")).text  # the customer's /help is theirs


async def test_every_command_the_agent_group_answers_is_in_the_menu_and_help(bot: Bot) -> None:
    group = f"filters.Chat({bot.group['id']})"
    answered = {
        command
        for handlers in bot.app.handlers.values() for handler in handlers
        if isinstance(handler, CommandHandler) and group in str(handler.filters)
        for command in handler.commands
    }
    assert answered == set(AGENT_COMMANDS)
