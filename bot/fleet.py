"""Jobs that must run once across all kefu processes sharing a database.

Every process runs the same python-telegram-bot JobQueue. Jobs that only read the outbox or
claim rows (``SKIP LOCKED``) may run everywhere; jobs that *post* something (the SLA watch,
the weekly report) must run once. Each run names its period (the minute, the day); the
process that moves the job's lease to that period runs it, the others skip it.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from telegram.ext import ContextTypes
from tortoise.exceptions import IntegrityError

from bot.models import JobLease

log = logging.getLogger(__name__)

Job = Callable[[ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def process_name() -> str:
    """This process, as other processes see it in the inbox and the leases."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


async def take_turn(name: str, period: str, holder: str) -> bool:
    """True for exactly one caller per (job, period): whoever moves the lease forward first."""
    moved = await JobLease.filter(name=name, period__lt=period).update(period=period, holder=holder)
    if moved:
        return True
    try:
        await JobLease.create(name=name, period=period, holder=holder)
    except IntegrityError:
        return False
    return True


def once_across_fleet(name: str, period_format: str) -> Callable[[Job], Job]:
    """Wrap a job so one process runs it per period (``period_format`` of the UTC time, e.g.
    ``%Y-%m-%dT%H:%M`` for once a minute, ``%Y-%m-%d`` for once a day)."""

    def wrap(job: Job) -> Job:
        @functools.wraps(job)
        async def run_once(context: ContextTypes.DEFAULT_TYPE) -> None:
            period = datetime.now(UTC).strftime(period_format)
            if await take_turn(name, period, process_name()):
                await job(context)
            else:
                log.debug("%s for %s already run by another process", name, period)

        return run_once

    return wrap
