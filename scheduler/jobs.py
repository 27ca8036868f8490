"""The scheduler's ticks, run by python-telegram-bot's JobQueue (APScheduler).

APScheduler only *ticks*: nothing durable lives in its job store. Each tick reads the outbox in
the database, so several bot processes can share one database and a restart loses nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.context import KefuApp, KefuContext
from bot.core.config import Settings
from bot.core.i18n import text
from bot.intake.fleet import instance_name, once_across_fleet
from scheduler import campaigns, producers
from scheduler.outbox import recover_after_crash
from scheduler.sender import Sender

log = logging.getLogger(__name__)


def install(app: KefuApp, settings: Settings) -> None:
    """The sender, and its two jobs unless ``[scheduler] enabled`` is false. The sender reads
    the bot's clock (``bot_data.now``: a test's or the sandbox's when one is set)."""
    app.bot_data.sender = Sender(app.bot, settings.scheduler, clock=app.bot_data.now, worker=instance_name(settings))
    if not settings.scheduler.enabled:
        return
    app.job_queue.run_repeating(
        tick, interval=settings.scheduler.tick_seconds, first=1, name="outbox",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    app.job_queue.run_repeating(
        once_across_fleet("outbox-sweep", "%Y-%m-%dT%H:%M")(sweep), interval=60, first=2, name="outbox-sweep",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


async def tick(context: KefuContext) -> None:
    """Start the sender unless it is sending already: a tick goes on until nothing is due, so the
    job itself returns at once (a job still running at its next interval would be skipped, with a
    warning, and leave a gap). ``Application.stop`` waits for the task; the sender stops claiming
    as soon as the application stops running."""
    sender = context.sender
    if not sender.busy:
        app = context.application
        app.create_task(sender.tick(running=lambda: app.running), name="outbox-sender")


async def sweep(context: KefuContext) -> None:
    await run_sweep(context.application)


async def run_sweep(app: KefuApp) -> None:
    """Queue what became due (surveys, follow-ups, greetings) and the rest of a campaign whose
    queueing stopped (a crash), and report rows lost in a crash."""
    settings, sender = app.bot_data.settings, app.bot_data.sender
    now = sender.clock()
    await campaigns.resume_abandoned(sender.worker, running=lambda: app.running)
    await producers.sweep_surveys(now, settings.scheduler)
    await producers.sweep_deliveries(now, settings.scheduler)
    await producers.sweep_greetings(now, settings.scheduler, done=app.bot_data.greeted)
    unknown = await recover_after_crash(datetime.now(UTC))  # heartbeats are real time, not the bot's clock
    if unknown:
        keys = ", ".join(m.key for m in unknown[:10])
        log.warning("%d outbox rows of unknown fate after a crash (not resent): %s", len(unknown), keys)
        group = settings.telegram.agent_chat_id
        if group is not None:
            await app.bot.send_message(group, text(settings.telegram.agent_language, "agent_outbox_unknown", count=len(unknown), keys=keys))
