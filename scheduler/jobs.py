"""Every timed job of kefu, in one table, with its body.

:meth:`Schedule.jobs` lists them (the table is also in scheduler/README.md): when each runs,
whether one process of a fleet runs it per period or every process does, and its body, a method
of :class:`Schedule`. :func:`register` puts the table on python-telegram-bot's JobQueue
(APScheduler), once, from bot/app.py.

APScheduler only *ticks*: nothing durable lives in its job store. Each body reads the database,
so several bot processes can share one and a restart loses nothing.

The bodies are domain work and know nothing of Telegram. What a job has to tell people — a
reminder in a ticket's topic, the weekly chart, the knowledge base that stopped loading — it
emits as an event (scheduler/events.py) that the bot's listeners turn into messages. What the
bodies need of the process (the bot's clock, the knowledge base it serves, the fleet's leases,
the inbox) is handed to the :class:`Schedule` by bot/app.py, so that this module imports nothing
of bot/ but the kernel.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.config import Settings
from knowledge_base.live import LiveKnowledgeBase
from reports import compute_report, report_options
from reports.rfm import refresh_customer_segments
from scheduler import campaigns, producers
from scheduler.events import (
    AlbumsWaiting,
    CampaignProgress,
    KnowledgeBaseNews,
    Listeners,
    OutboxUnknown,
    ResponsesOverdue,
    SlaBreached,
    SlaReminder,
    TicketUnposted,
    WeeklyReport,
)
from scheduler.models import Campaign
from scheduler.outbox import recover_after_crash
from scheduler.sender import Sender
from ticketing.albums import stale_albums
from ticketing.assignment import assign_waiting
from ticketing.models import Customer
from ticketing.presence import Desk
from ticketing.responses import overdue
from ticketing.service import close_resolved, resolve_stale_pending, unposted_tickets
from ticketing.sla import SlaPolicy, due_escalations, due_reminders

if TYPE_CHECKING:
    from telegram.ext import JobQueue

log = logging.getLogger(__name__)

EVERY_MINUTE = "%Y-%m-%dT%H:%M"
EVERY_DAY = "%Y-%m-%d"
REMINDER_LEAD = timedelta(minutes=15)
"""Business time before a first response is due when the ticket's topic is reminded."""
UNPOSTED_AFTER = timedelta(minutes=1)
"""A ticket still without topic and card this long after it was opened is posted by the watch."""
ALBUM_LEFT_AFTER = timedelta(minutes=1)
"""An album still waiting this long after its wait was over is relayed by the watch."""
INBOX_KEPT = timedelta(days=7)
"""Handled updates hold customers' words: they are kept a week (to answer "did it arrive?")."""
DESK_WATCH_EVERY = 20
"""Seconds between two looks at the desk (waiting tickets, unanswered messages): a nudge due at
100 s comes by 120 s."""
PROGRESS_EVERY = 5
"""Seconds between two edits of a campaign's progress message (20 edits a minute per group)."""
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # python-telegram-bot counts days from Sunday = 0
JOB_KWARGS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
"""APScheduler: one run of a job at a time, runs missed while one went on (or the loop was busy)
made up by one run, however late."""

Lease = Callable[[str, str], Awaitable[bool]]
"""``await lease(job, period)``: True for one process of the fleet per (job, period)
(bot/intake/fleet.py ``take_turn``)."""


@dataclass(frozen=True, slots=True)
class Job:
    """A row of the table: ``body`` every ``every`` seconds (the first run ``first`` seconds after
    the start, python-telegram-bot's default: ``every``), or daily at ``daily`` (on ``days``,
    Sunday = 0), or once ``first`` seconds after the start."""

    name: str
    body: Callable[[], Awaitable[object]]
    every: float | None = None
    first: float | None = None
    daily: time | None = None
    days: tuple[int, ...] = tuple(range(7))
    once_per: str | None = None
    """None: every process runs it. Else a ``strftime`` format of the UTC time naming a period
    (:data:`EVERY_MINUTE`, :data:`EVERY_DAY`): one process of the fleet runs it per period, the one
    that moves the job's lease (named as the job) to it."""


@dataclass(eq=False)
class Schedule:
    """kefu's timed jobs: their table, their bodies, and the listeners of what they tell."""

    settings: Settings
    sender: Sender
    """The outbox's sender; its clock is the bot's (tests and the sandbox move it)."""
    sla: SlaPolicy
    knowledge_base: Callable[[], LiveKnowledgeBase]
    """The knowledge base the bot serves now."""
    lease: Lease
    purge_inbox_before: Callable[[datetime], Awaitable[object]]
    """Forget the inbox's handled updates received before a moment (bot/intake/inbox.py ``purge``)."""
    running: Callable[[], bool]
    """False once the bot stops: long work (sending, queueing a campaign) stops taking more."""
    start: Callable[[Coroutine[Any, Any, Any], str], object]
    """Start a background task (``Application.create_task``, which the bot's stop waits for)."""
    events: Listeners = field(default_factory=Listeners)
    following: set[int] = field(default_factory=set)
    """Campaigns whose progress message this process edits (those it started)."""
    showing: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One showing of the campaigns' progress at a time: an edit from counts read earlier must not
    land after the last one ("454/2000" over "done")."""
    greeted: set[str] = field(default_factory=set)
    """Today's greetings already queued by this process (scheduler/producers.py)."""

    def now(self) -> datetime:
        return self.sender.clock()

    def jobs(self) -> list[Job]:
        settings = self.settings
        zone = ZoneInfo(settings.scheduler.timezone)
        table = [
            Job("ticket-watch", self.watch_tickets, every=60, first=5, once_per=EVERY_MINUTE),
            Job("kb-reload", self.reload_knowledge_base, every=settings.knowledge_base.reload_seconds),
            Job("inbox-purge", self.purge_inbox, every=3600, first=60, once_per=EVERY_DAY),
            Job("customer-segments", self.refresh_segments, daily=time(3, 0, tzinfo=zone), once_per=EVERY_DAY),
            Job("customer-segments-at-start", self.refresh_segments, first=30),
            Job("campaign-progress", self.show_campaigns_progress, every=PROGRESS_EVERY, first=PROGRESS_EVERY),
            Job("desk-watch", self.watch_desk, every=DESK_WATCH_EVERY, first=DESK_WATCH_EVERY),
        ]
        if settings.scheduler.enabled:  # else another process of the fleet sends
            table.append(Job("outbox", self.send_due, every=settings.scheduler.tick_seconds, first=1))
            table.append(Job("outbox-sweep", self.sweep, every=60, first=2, once_per=EVERY_MINUTE))
        if settings.reports.weekly:  # "mon 09:00", shop time
            day, clock = settings.reports.weekly.split()
            at = time.fromisoformat(clock).replace(tzinfo=zone)
            table.append(Job("weekly-report", self.weekly_report, daily=at, days=(WEEKDAYS.index(day),), once_per=EVERY_DAY))
        return table

    # -- the ticket watch -----------------------------------------------------------------------

    async def watch_tickets(self) -> None:
        await self.post_unposted()
        await self.relay_waiting_albums()
        await self.check_sla()
        await self.check_life_cycle()

    async def post_unposted(self) -> None:
        """Tickets left without a card (and maybe a topic) are heard of, to be posted: their
        customer was answered, and then the process died before it posted them (a customer is
        told first, so that a burst of complaints, whose posts wait for Telegram's 20 a minute
        into the group, is not kept waiting for them)."""
        for ticket in await unposted_tickets(self.now() - UNPOSTED_AFTER):
            await self.events.emit(TicketUnposted(ticket, await Customer.get(id=ticket.customer_id)))

    async def relay_waiting_albums(self) -> None:
        """Albums still waiting a minute after their wait was over are heard of, to be relayed:
        the process that was to relay them stopped first. (Real time: their parts' arrival is.)"""
        waited = timedelta(milliseconds=self.settings.tickets.album_wait_ms) + ALBUM_LEFT_AFTER
        if albums := await stale_albums(datetime.now(UTC) - waited):
            await self.events.emit(AlbumsWaiting(tuple(albums)))

    async def check_sla(self) -> None:
        """A reminder before a first response is due, and tickets past a due time; each once.
        With no agent group nothing is marked reminded, so a group configured later still is."""
        if self.settings.telegram.agent_chat_id is None:
            return
        moment = self.now()
        for ticket in await due_reminders(moment, self.sla.calendar, REMINDER_LEAD):
            await self.events.emit(SlaReminder(ticket))
        breached = await due_escalations(moment)
        if breached:
            await self.events.emit(SlaBreached(tuple(breached)))

    async def check_life_cycle(self) -> None:
        """Pending without a reply for ``pending_days`` → resolved; resolved for ``reopen_days`` →
        closed for good. Who is told hears of it as of any move (ticketing/lifecycle.py)."""
        tickets, moment = self.settings.tickets, self.now()
        await resolve_stale_pending(moment, timedelta(days=tickets.pending_days))
        await close_resolved(moment, timedelta(days=tickets.reopen_days))

    # -- the desk watch ----------------------------------------------------------------------------

    async def watch_desk(self) -> None:
        """Every 20 seconds, by one process of a fleet (its own lease per 20 s of the bot's clock):
        waiting tickets go to agents who became free (an agent's hours began, a crash left one
        unplaced), and customers' messages left waiting nudge their agent, then the supervisors."""
        if self.settings.telegram.agent_chat_id is None:
            return
        moment = self.now()
        period = f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M}:{moment.second // DESK_WATCH_EVERY}"
        if not await self.lease("desk-watch", period):
            return
        await assign_waiting(Desk.from_settings(self.settings, self.sla.calendar), moment)
        late = await overdue(moment, self.sla.calendar, timedelta(seconds=self.settings.desk.nudge_seconds))
        if late:
            await self.events.emit(ResponsesOverdue(tuple(late)))

    # -- the outbox ------------------------------------------------------------------------------

    async def send_due(self) -> None:
        """Start the sender unless it is sending already: a tick goes on until nothing is due, so
        the job itself returns at once (a job still running at its next interval would be
        skipped, with a warning, and leave a gap). The sender stops claiming as soon as the bot
        stops running."""
        if not self.sender.busy:
            self.start(self.sender.tick(running=self.running), "outbox-sender")

    async def sweep(self) -> None:
        """Queue what became due (surveys, follow-ups, greetings) and the rest of a campaign whose
        queueing stopped (a crash), and report rows lost in a crash."""
        now, settings = self.now(), self.settings.scheduler
        await campaigns.resume_abandoned(self.sender.worker, running=self.running)
        await producers.sweep_surveys(now, settings)
        await producers.sweep_deliveries(now, settings)
        await producers.sweep_greetings(now, settings, done=self.greeted)
        unknown = await recover_after_crash(datetime.now(UTC))  # heartbeats are real time, not the bot's clock
        if unknown:
            keys = ", ".join(m.key for m in unknown[:10])
            log.warning("%d outbox rows of unknown fate after a crash (not resent): %s", len(unknown), keys)
            await self.events.emit(OutboxUnknown(tuple(unknown)))

    def follow_campaign(self, campaign_id: int) -> None:
        """Show the campaign's progress every :data:`PROGRESS_EVERY` seconds until it is over."""
        self.following.add(campaign_id)

    async def show_campaigns_progress(self) -> None:
        """The counts of each campaign followed, until it is over and none of its messages is
        still on the wire (a stopped campaign's last ones settle after the stop)."""
        async with self.showing:
            await self._show_campaigns_progress()

    async def _show_campaigns_progress(self) -> None:
        for campaign_id in sorted(self.following):
            campaign = await Campaign.get_or_none(id=campaign_id)
            if campaign is None or campaign.status == "done":  # its last counts were shown
                self.following.discard(campaign_id)
                continue
            counts = await campaigns.progress(campaign, self.now())
            await self.events.emit(CampaignProgress(campaign, counts))
            if campaign.status not in campaigns.ACTIVE and counts["sending"] == 0:
                self.following.discard(campaign_id)

    # -- the rest ------------------------------------------------------------------------------

    async def reload_knowledge_base(self) -> None:
        """Reload changed KB files; the agent group hears when they stop loading and when they load
        again, once (from the process of a fleet that takes the turn for that state of the files)."""
        news = self.knowledge_base().poll()
        if news is None or self.settings.telegram.agent_chat_id is None:
            return
        if await self.lease("kb-broken" if news.error is not None else "kb-mended", news.version):
            await self.events.emit(KnowledgeBaseNews(news))

    async def purge_inbox(self) -> None:
        await self.purge_inbox_before(datetime.now(UTC) - INBOX_KEPT)

    async def refresh_segments(self) -> None:
        """Customers' RFM segments, refreshed nightly from their orders (campaigns target them)."""
        await refresh_customer_segments(self.now())

    async def weekly_report(self) -> None:
        """The last seven days, for the agent group (none configured: not computed)."""
        if self.settings.telegram.agent_chat_id is None:
            return
        end = self.now()
        report = await compute_report(
            end - timedelta(days=7), end, timezone=self.settings.scheduler.timezone, **report_options(self.settings)
        )
        await self.events.emit(WeeklyReport(report))


def register(job_queue: JobQueue, schedule: Schedule) -> None:
    """Put every job of ``schedule``'s table on python-telegram-bot's JobQueue, under its name."""
    for job in schedule.jobs():
        callback = functools.partial(_run, job, schedule.lease)
        if job.daily is not None:
            job_queue.run_daily(callback, job.daily, days=job.days, name=job.name, job_kwargs=JOB_KWARGS)
        elif job.every is not None:
            job_queue.run_repeating(callback, interval=job.every, first=job.first, name=job.name, job_kwargs=JOB_KWARGS)
        else:
            job_queue.run_once(callback, job.first or 0, name=job.name, job_kwargs=JOB_KWARGS)


async def _run(job: Job, lease: Lease, _context: object) -> None:
    if job.once_per is not None:
        period = datetime.now(UTC).strftime(job.once_per)  # the fleet's time, not the bot's clock
        if not await lease(job.name, period):
            log.debug("%s for %s already run by another process", job.name, period)
            return
    await job.body()
