"""What the running bot keeps in the database so that several processes can share the work.

- :class:`InboxUpdate`: every update from Telegram, stored before it is acknowledged (see
  ``bot/inbox.py``), so none is lost when a process dies and none is handled twice.
- :class:`ConversationState`: python-telegram-bot's ``user_data``/``chat_data``, loaded before an
  update is handled and saved after, so a conversation can go on in any process.
- :class:`JobLease`: the last period a fleet-wide job (SLA watch, weekly report) ran for, so that
  it runs once across all processes.

Model and field docstrings become SQL comments: keep semicolons out of them.
"""

from __future__ import annotations

from typing import Final

from tortoise import fields
from tortoise.models import Model

INBOX_STATUSES: Final = ("new", "processing", "done", "throttled", "unknown")


class InboxUpdate(Model):
    """An update from Telegram, stored before it is acknowledged, handled from here."""

    id = fields.BigIntField(primary_key=True)
    update_id = fields.BigIntField(unique=True, description="Telegram's update_id: a redelivery is a no-op")
    chat_id = fields.BigIntField(null=True, description="the chat it belongs to: updates of one chat are handled in order")
    user_id = fields.BigIntField(null=True, description="who sent it")
    payload = fields.JSONField(description="the update as Telegram sent it")
    status = fields.CharField(
        max_length=12, default="new", db_default="new",
        description="new, processing, done, throttled (over the flood limit) or unknown (a process died mid-reply)",
    )
    replying = fields.BooleanField(
        default=False, db_default=False, description="a reply went out while it was handled: never handled again"
    )
    claimed_by = fields.CharField(max_length=64, null=True, description="the process handling it")
    received_at = fields.DatetimeField(auto_now_add=True)
    claimed_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_update"
        indexes = (("chat_id", "status"), ("status", "received_at"), ("user_id", "received_at"))


class ConversationState(Model):
    """The conversation memory of one user or chat (python-telegram-bot's user_data/chat_data)."""

    id = fields.IntField(primary_key=True)
    scope = fields.CharField(max_length=8, description="user or chat")
    owner_id = fields.BigIntField(description="the Telegram user or chat id")
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation_state"
        unique_together = (("scope", "owner_id"),)


class JobLease(Model):
    """The last period a fleet-wide job ran for: whoever moves it forward runs the job."""

    name = fields.CharField(max_length=64, primary_key=True)
    period = fields.CharField(max_length=32, description="e.g. 2026-11-25T10:31 (sortable text)")
    holder = fields.CharField(max_length=64, null=True, description="the process that ran it")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job_lease"
