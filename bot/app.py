"""Assembly: the python-telegram-bot Application with kefu's handlers, and its life cycle."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes, filters

import handlers
from bot.console import links as console_links
from bot.context import BotData, KefuApp, KefuContext
from bot.core.config import ConfigError, Settings, TelegramSettings
from bot.core.i18n import text
from bot.intake import inbox
from bot.intake.fleet import instance_name, process_name, take_turn
from bot.intake.intake import Intake
from bot.telegram.ratelimit import ResilientRateLimiter
from bot.telegram.request import AiohttpRequest, UpdatesRequest
from bot.telegram.updates import ChatOrderedProcessor
from handlers import agent_group, assigning, campaigns, kb_attach, media, reports, watch
from handlers.agent_help import AGENT_COMMANDS
from knowledge_base.entries import KBError
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.router import RouterSettings
from orders.events import on_status_change, status_listeners
from orders.service import make_source
from scheduler.events import (
    AlbumsWaiting,
    CampaignProgress,
    KnowledgeBaseNews,
    OutboxUnknown,
    ResponsesOverdue,
    SlaBreached,
    SlaReminder,
    TicketUnposted,
    WeeklyReport,
)
from scheduler.jobs import Schedule, register
from scheduler.producers import queue_order_notices
from scheduler.sender import Sender
from ticketing import lifecycle
from ticketing.sla import SlaPolicy

log = logging.getLogger(__name__)
TELEGRAM_API_HOST = "api.telegram.org"
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)
POOL_TIMEOUT = 60.0
"""Seconds a request waits for one of the ``[telegram] connections`` (python-telegram-bot's
default of 1 s would fail sends in a burst rather than queue them)."""

CUSTOMER_COMMANDS = (
    "start", "order", "mytickets", "human", "complaint", "help", "lang", "unsubscribe", "subscribe", "forgetme",
)


def build_application(
    settings: Settings,
    processor: ChatOrderedProcessor | None = None,
    knowledge_base: LiveKnowledgeBase | None = None,
) -> KefuApp:
    tg = settings.telegram
    if tg.token is None:
        raise ConfigError(
            "No Telegram bot token: set KEFU_TELEGRAM__TOKEN (or token in config.toml) to the token "
            "@BotFather gave you, or run `kefu sandbox` to try kefu without one."
        )
    if tg.mode == "webhook" and (tg.webhook_url is None or tg.webhook_secret is None):
        missing = "KEFU_TELEGRAM__WEBHOOK_URL" if tg.webhook_url is None else "KEFU_TELEGRAM__WEBHOOK_SECRET"
        raise ConfigError(
            f"Webhook mode needs {missing}: set the public https:// URL Telegram calls and a secret "
            "(e.g. from `openssl rand -hex 32`), or set KEFU_TELEGRAM__MODE=polling."
        )
    if tg.mode == "webhook":
        _check_webhook_url(tg)
    processor = processor or ChatOrderedProcessor()
    updates_request = UpdatesRequest()
    app = (
        ApplicationBuilder()
        .token(tg.token.get_secret_value().strip())
        .base_url(tg.base_url)
        .base_file_url(tg.file_url())
        .rate_limiter(
            ResilientRateLimiter(
                max_retries=tg.rate_limit_retries, server_error_retries=tg.server_error_retries,
                messages_per_second=tg.messages_per_second, group_messages_per_minute=tg.group_messages_per_minute,
                chat_messages_per_second=tg.chat_messages_per_second,
            )
        )
        .concurrent_updates(processor)
        .request(AiohttpRequest(tg.connections, pool_timeout=POOL_TIMEOUT))
        .get_updates_request(updates_request)
        .updater(None)
        .context_types(ContextTypes(context=KefuContext, bot_data=BotData))
        .build()
    )
    app.bot_data.intake = Intake(app, processor, settings, updates_request)
    app.bot_data.settings = settings
    app.bot_data.kb = knowledge_base or load_knowledge_base(settings)
    app.bot_data.orders = make_source(settings.orders)
    app.bot_data.sla = SlaPolicy.from_settings(settings)
    handlers.register(app, settings)
    _register_console(app, settings)
    schedule_jobs(app, settings)
    return app


def _register_console(app: KefuApp, settings: Settings) -> None:
    """The console's commands (bot/console/links.py): /console in the agent group; an agent's
    /start (before the customers' /start) sets their menu button and answers ``/start console``."""
    group = settings.telegram.agent_chat_id
    agent_group = filters.Chat(chat_id=group) if group is not None else filters.Chat(chat_id=[])
    app.add_handler(CommandHandler("console", console_links.console_command, filters=agent_group))
    app.add_handler(CommandHandler("start", console_links.agent_starts, filters=handlers.PRIVATE), group=-5)


def schedule_jobs(app: KefuApp, settings: Settings) -> None:
    """Every timed job (scheduler/jobs.py), with what it needs of the process; what the jobs
    have to tell people, handlers say in Telegram."""
    sender = Sender(app.bot, settings.scheduler, clock=app.bot_data.now, worker=instance_name(settings))
    schedule = Schedule(
        settings=settings, sender=sender, sla=app.bot_data.sla, knowledge_base=lambda: app.bot_data.kb,
        lease=lambda job, period: take_turn(job, period, process_name()), purge_inbox_before=inbox.purge,
        running=lambda: app.running, start=lambda work, name: app.create_task(work, name=name),
    )
    app.bot_data.sender, app.bot_data.schedule = sender, schedule
    listen = schedule.events.on
    listen(TicketUnposted, functools.partial(watch.post_unposted, app))
    listen(AlbumsWaiting, functools.partial(media.relay_left, app))
    listen(SlaReminder, functools.partial(watch.remind, app))
    listen(SlaBreached, functools.partial(watch.escalate, app))
    listen(KnowledgeBaseNews, functools.partial(watch.tell_knowledge_base, app))
    listen(OutboxUnknown, functools.partial(watch.tell_unknown_rows, app))
    listen(WeeklyReport, functools.partial(reports.post_weekly, app))
    listen(CampaignProgress, functools.partial(campaigns.progress_moved, app))
    listen(ResponsesOverdue, functools.partial(assigning.nudge, app))
    register(app.job_queue, schedule)


def _check_webhook_url(tg: TelegramSettings) -> None:
    """Telegram's own Bot API calls webhooks only at https:// URLs on ports 443, 80, 88 and 8443:
    refused before start rather than by setWebhook. A self-hosted Bot API server (``--local``) or
    ``kefu emulator`` (any other ``base_url``) may call http:// too, and refuses itself what it does not."""
    if urlsplit(tg.base_url).hostname != TELEGRAM_API_HOST:
        return
    url = urlsplit(tg.webhook_url or "")
    try:
        port = url.port or 443
    except ValueError:
        port = 0
    if url.scheme != "https" or port not in TELEGRAM_WEBHOOK_PORTS:
        raise ConfigError(
            f"Telegram calls webhooks only at https:// URLs on port 443, 80, 88 or 8443, not {tg.webhook_url}: set "
            "KEFU_TELEGRAM__WEBHOOK_URL to your reverse proxy's https:// address (docs/deploy.md), or set "
            "KEFU_TELEGRAM__MODE=polling."
        )


def load_knowledge_base(settings: Settings) -> LiveKnowledgeBase:
    kb = settings.knowledge_base
    try:
        return LiveKnowledgeBase(
            kb.files,
            kb.learned_file,
            values=kb.values,
            settings=RouterSettings.from_settings(kb),
            max_file_bytes=kb.max_file_bytes,
        )
    except KBError as error:
        problems = "; ".join(str(p) for p in error.problems[:3])
        raise ConfigError(f"The knowledge base does not load ({problems}): fix the file named, then start again.") from None


async def announce_commands(app: KefuApp) -> None:
    """The command menu customers see, in English and (for Chinese clients) in Chinese."""
    scope = BotCommandScopeAllPrivateChats()
    for language, code in (("en", None), ("zh-Hans", "zh")):
        commands = [BotCommand(c, text(language, f"command_{c}")) for c in CUSTOMER_COMMANDS]
        await app.bot.set_my_commands(commands, scope=scope, language_code=code)
    settings = app.bot_data.settings
    group = settings.telegram.agent_chat_id
    if group is not None:
        language = settings.telegram.agent_language
        commands = [BotCommand(c, text(language, f"agent_command_{c}")) for c in AGENT_COMMANDS]
        try:
            await app.bot.set_my_commands(commands, scope=BotCommandScopeChat(group))
        except (BadRequest, Forbidden) as exc:  # the bot is not (yet) in the group: the menu is a convenience
            log.warning("no command menu in the agent group %s: %s", group, exc.message)


@contextlib.asynccontextmanager
async def receiving(app: KefuApp, settings: Settings) -> AsyncIterator[KefuApp]:
    """Run the bot until the block exits, taking updates by long polling or by webhook
    (``[telegram] mode``); the database must already be open. On exit nothing more is taken and
    what is being handled is finished (within ``shutdown_seconds``)."""
    intake = app.bot_data.intake
    async with app:
        me = app.bot.bot
        log.info("connected to the Bot API as @%s", me.username)
        await announce_commands(app)
        # Status notices are outbox rows, sent by the scheduler's sender at its clock.
        notify = functools.partial(queue_order_notices, settings.orders.notify_statuses, clock=app.bot_data.sender.clock)
        on_status_change(notify)
        # Who hears of a ticket's move (the customer, its topic), whoever moved it.
        tell = lifecycle.on_status_change(functools.partial(agent_group.ticket_moved, app))
        # A ticket resolved after an unanswered question offers to teach the KB that question.
        teach = lifecycle.on_status_change(functools.partial(kb_attach.ticket_resolved, app))
        # Automatic assignment: a ticket reaching the desk is placed; a place freed moves the queue.
        place = lifecycle.on_ticket_opened(functools.partial(assigning.ticket_opened, app))
        announce = lifecycle.on_assigned(functools.partial(assigning.ticket_assigned, app))
        free = lifecycle.on_status_change(functools.partial(assigning.ticket_moved, app))
        try:
            await app.start()
            await intake.start()
            if settings.telegram.mode == "webhook":
                await _set_webhook(app, settings)
            else:
                await app.bot.delete_webhook()
                intake.start_polling()
            yield app
        finally:  # also when the start failed half-way: python-telegram-bot shuts down only a stopped bot
            await intake.stop()
            if app.running:
                await app.stop()
            status_listeners.remove(notify)
            lifecycle.status_listeners.remove(tell)
            lifecycle.status_listeners.remove(teach)
            lifecycle.status_listeners.remove(free)
            lifecycle.opened_listeners.remove(place)
            lifecycle.assigned_listeners.remove(announce)
            await app.bot_data.orders.close()


async def _set_webhook(app: KefuApp, settings: Settings) -> None:
    tg = settings.telegram
    try:
        await app.bot.set_webhook(
            tg.webhook_url,  # type: ignore[arg-type]
            secret_token=tg.webhook_secret.get_secret_value(),  # type: ignore[union-attr]
            allowed_updates=Update.ALL_TYPES,
            max_connections=tg.webhook_max_connections,
        )
    except TelegramError as error:
        if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
            raise  # the Bot API cannot be reached: bot/runtime.py says so
        raise ConfigError(
            f"The Bot API refused the webhook {tg.webhook_url} ({error.message}): set KEFU_TELEGRAM__WEBHOOK_URL to "
            "a public https:// URL (port 443, 80, 88 or 8443, with a valid certificate) and "
            "KEFU_TELEGRAM__WEBHOOK_SECRET to 16-256 characters A-Z, a-z, 0-9, _ and -, or set KEFU_TELEGRAM__MODE=polling."
        ) from None
    log.info("taking updates by webhook at %s", tg.webhook_url)
