"""What kefu stores about the people it serves.

Model and field docstrings become SQL comments, and tortoise splits migration SQL at semicolons:
keep semicolons out of them.

Times are stored in UTC (tortoise ``use_tz``); they are converted to the shop's or the
customer's time zone only when shown.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Customer(Model):
    """A person who writes to the bot in a private chat, one row per Telegram user."""

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    first_name = fields.CharField(max_length=128, default="")
    last_name = fields.CharField(max_length=128, null=True)
    username = fields.CharField(max_length=64, null=True)
    telegram_language = fields.CharField(max_length=16, null=True, description="Telegram's language_code")
    language = fields.CharField(max_length=8, default="en", description="zh-Hans, zh-Hant or en")
    language_chosen = fields.BooleanField(
        default=False, description="set with /lang: replies stay in this language"
    )
    blocked = fields.BooleanField(default=False, description="the customer blocked the bot (403)")
    opted_out = fields.BooleanField(default=False, description="no care or marketing messages")
    phone = fields.CharField(
        max_length=16, null=True, db_index=True, description="E.164, from the customer's own shared Telegram contact"
    )
    first_seen = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer"

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (self.username or str(self.telegram_id))
