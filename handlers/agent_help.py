"""The agent group's commands: one list for the command menu Telegram shows in the group and for
/help there.

Customers have their own /help (handlers/start.py) in their private chat; in the agent group
/help lists every command agents have, each with its catalog text (``agent_command_<name>``, in
``[telegram] agent_language``) — the same words as the menu, so the two never disagree. A new
agent command goes into :data:`AGENT_COMMANDS` and its text into the three catalogs.
"""

from __future__ import annotations

from telegram import Update

from bot.context import KefuContext
from bot.core.i18n import text
from bot.telegram.longtext import reply_long

AGENT_COMMANDS: tuple[str, ...] = (
    "help",
    # in a ticket's topic
    "claim", "assign", "note", "snippet", "priority", "pending", "resolve", "close", "reopen", "customer", "send",
    "delete",
    # in General
    "tickets", "ticket", "snippets", "contact", "campaign", "report", "kb_missed", "kb_add", "kb_learn",
    # in a topic (its customer) or in General (by id, @username or #ticket)
    "ban", "shadowban", "unban",
    # presence, anywhere in the group
    "online", "away", "offline", "agents",
    # the web console: a sign-in link, privately
    "console",
)
"""In the order the menu and /help show them."""


def agent_help(language: str) -> str:
    """Every agent command with what it does."""
    lines = [text(language, "agent_help_title")]
    lines += [f"/{command} — {text(language, f'agent_command_{command}')}" for command in AGENT_COMMANDS]
    return "\n".join(lines)


async def help_command(update: Update, context: KefuContext) -> None:
    """/help in the agent group."""
    await reply_long(update.effective_message, agent_help(context.agent_language))
