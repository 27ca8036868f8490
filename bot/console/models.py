"""What the console keeps in the database: sessions, one-time login links and the audit.

Several kefu processes share one database (and any of them may answer a console request), so a
session lives here, never in a process's memory. Tokens are stored only as their SHA-256: a copy
of the database does not sign anyone in.

Model and field docstrings become SQL comments: keep semicolons out of them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from bot.core.crypto import EncryptedJSONField


class ConsoleSession(Model):
    """A signed-in agent: by the Mini App (a bearer token) or a login link (a cookie)."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True, description="SHA-256 of the token, hex")
    agent = fields.ForeignKeyField("kefu.Agent", related_name="console_sessions", on_delete=fields.CASCADE)
    csrf = fields.CharField(max_length=64, description="the token every change must carry (form field csrf or X-CSRF-Token)")
    language = fields.CharField(max_length=8, description="the pages' language, from the agent's Telegram language_code")
    created_at = fields.DatetimeField(description="when they signed in")
    expires_at = fields.DatetimeField(db_index=True, description="after this the token is refused")
    last_seen = fields.DatetimeField(description="their last request (kept to the minute)")

    class Meta:
        table = "console_session"


class ConsoleLink(Model):
    """A one-time login link sent to an agent privately (/console in the agent group)."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True, description="SHA-256 of the link's token, hex")
    agent = fields.ForeignKeyField("kefu.Agent", related_name="console_links", on_delete=fields.CASCADE)
    language = fields.CharField(max_length=8, description="the pages' language, from the agent's Telegram language_code")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    used_at = fields.DatetimeField(null=True, description="when it signed in: a link signs in once")

    class Meta:
        table = "console_link"


class ConsoleAudit(Model):
    """A change made in the console: who, when, what, to what."""

    id = fields.BigIntField(primary_key=True)
    agent = fields.ForeignKeyField("kefu.Agent", related_name="console_audit", on_delete=fields.CASCADE)
    at = fields.DatetimeField(db_index=True)
    action = fields.CharField(max_length=32, description="what was done, e.g. claim, resolve, kb_edit")
    target_kind = fields.CharField(max_length=16, description="ticket, kb_entry, campaign …")
    target_id = fields.CharField(max_length=64, description="the ticket's number, the entry's id …")
    details = EncryptedJSONField(default=dict, description="what changed, encrypted (it may quote a customer)")

    class Meta:
        table = "console_audit"
        indexes = (("target_kind", "target_id"),)
