"""What every handler and job reaches through its context, by name and type.

python-telegram-bot hands each handler and job a context whose ``bot_data`` is one object per
application. kefu keeps there what bot/app.py wires once at the start — the settings, the
knowledge base, the order source, the SLA policy, the intake, the outbox's sender — and the
bot's clock. :class:`BotData` holds them as typed attributes (python-telegram-bot makes it with
no arguments, :func:`bot.app.build_application` fills it in) and :class:`KefuContext`, the
context type bot/app.py gives the application, reads them as properties: ``context.settings``,
``context.now()``, ``context.sla``. No other module names a key into ``bot_data``; code that holds
the application rather than a context (a status listener, the sandbox) reads ``app.bot_data``,
the same object.

The clock is the one every business rule reads ("now" for SLAs, surveys, campaigns): the real
time, unless a test or the sandbox's ``:later`` sets ``bot_data.clock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.core.config import Settings
from bot.intake.intake import Intake
from knowledge_base.live import LiveKnowledgeBase
from orders.sources import OrderSource
from scheduler.jobs import Schedule
from scheduler.sender import Sender
from ticketing.sla import SlaPolicy


class BotData:
    """The application's own state. The services are set by :func:`bot.app.build_application`
    (``sender`` and ``schedule`` by :func:`bot.app.schedule_jobs`) before any update or job runs; reading one
    earlier raises AttributeError."""

    settings: Settings
    kb: LiveKnowledgeBase
    orders: OrderSource
    sla: SlaPolicy
    intake: Intake
    sender: Sender
    schedule: Schedule
    """Every timed job, and the listeners of what they tell (scheduler/jobs.py)."""

    def __init__(self) -> None:
        self.clock: Callable[[], datetime] | None = None
        """The bot's clock when a test or the sandbox moves time; None: the real time."""
        self.agent_group_is_forum: dict[int, tuple[bool, datetime]] = {}
        """Whether the agent group has topics, and when Telegram was last asked (handlers/agent_group.py)."""
        self.queueing: dict[int, asyncio.Task[Any]] = {}
        """The background tasks writing campaigns' outbox rows, by campaign id (handlers/campaigns.py)."""
        self.albums: dict[str, asyncio.Task[Any]] = {}
        """The background tasks relaying albums once their last part is in, by album (handlers/media.py)."""

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    @property
    def agent_language(self) -> str:
        """The language of everything said in the agent group."""
        return self.settings.telegram.agent_language

    @property
    def agent_chat_id(self) -> int | None:
        """The agent group's chat id; None: no group is configured."""
        return self.settings.telegram.agent_chat_id


class KefuContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The context of every kefu handler and job (``ContextTypes(context=KefuContext, bot_data=BotData)``)."""

    @property
    def settings(self) -> Settings:
        return self.bot_data.settings

    def now(self) -> datetime:
        """The bot's clock (:meth:`BotData.now`)."""
        return self.bot_data.now()

    @property
    def kb(self) -> LiveKnowledgeBase:
        return self.bot_data.kb

    @property
    def orders(self) -> OrderSource:
        return self.bot_data.orders

    @property
    def sla(self) -> SlaPolicy:
        return self.bot_data.sla

    @property
    def intake(self) -> Intake:
        return self.bot_data.intake

    @property
    def sender(self) -> Sender:
        return self.bot_data.sender

    @property
    def agent_language(self) -> str:
        return self.bot_data.agent_language

    @property
    def agent_chat_id(self) -> int | None:
        return self.bot_data.agent_chat_id


KefuApp: TypeAlias = Application[
    ExtBot[None], KefuContext, dict[Any, Any], dict[Any, Any], BotData, JobQueue[KefuContext]
]
"""The application bot/app.py builds: whoever holds it reads ``app.bot_data`` as a :class:`BotData`."""
