"""What kefu processes sharing one database know of each other: who is alive, and whose turn it is.

**Heartbeats.** Each process names itself (:func:`instance_name`, stable across restarts of one
service) and renews its row in ``process_heartbeat`` every :data:`BEAT`. Work a process holds —
an inbox update ``processing``, an outbox row ``sending`` — is taken over by another only when
its holder is gone: its beat lapsed for :data:`LAPSE`, or it started again since it took the
work (:func:`holder_gone`). Never because the work is slow: a burst that waits minutes for
Telegram's group limit stays with the process that holds it.

**Jobs that must run once.** Every process runs the same python-telegram-bot JobQueue. Jobs that only read the outbox or
claim rows (``SKIP LOCKED``) may run everywhere; jobs that *post* something (the SLA watch,
the weekly report) must run once. Each run names its period (the minute, the day); the
process that moves the job's lease to that period runs it, the others skip it.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.core import sql
from bot.core.config import Settings
from bot.intake.models import JobLease

log = logging.getLogger(__name__)

BEAT = timedelta(seconds=5)
LAPSE = timedelta(seconds=30)
"""A process whose beat is older than this is gone (killed, its machine down, or away from the
database that long): what it held is taken over."""
FORGET = timedelta(days=7)


def instance_name(settings: Settings) -> str:
    """Stable across restarts of one service (its host and port), so that a restarted process
    takes over what it held when it died at once."""
    if settings.telegram.instance:
        return settings.telegram.instance
    port = settings.api.listen.rpartition(":")[2]
    return f"{socket.gethostname()}:{port if port not in ('', '0') else f'pid{os.getpid()}'}"[:64]


async def beat(name: str, now: datetime, *, starting: bool = False) -> None:
    """Renew this process's heartbeat; ``starting``: it (re)starts now, so everything held under
    its name before is a dead predecessor's."""
    if starting:
        await sql.run(
            "INSERT INTO process_heartbeat (name, started_at, beat_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, beat_at = excluded.beat_at",
            name, now, now,
        )
        await sql.run("DELETE FROM process_heartbeat WHERE beat_at < ?", now - FORGET)
    else:
        await sql.run("UPDATE process_heartbeat SET beat_at = ? WHERE name = ?", now, name)


def holder_gone(table: str) -> str:
    """SQL: the row of ``table`` (with ``claimed_by``, ``claimed_at``) is held by a process that is
    gone; one parameter, the time before which a beat has lapsed (now − :data:`LAPSE`)."""
    return f"""NOT EXISTS (SELECT 1 FROM process_heartbeat AS holder WHERE holder.name = {table}.claimed_by
        AND holder.beat_at >= ? AND holder.started_at <= {table}.claimed_at)"""


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
