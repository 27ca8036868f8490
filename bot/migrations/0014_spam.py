"""Spam and abuse defence: a customer's standing (new, verified, held, cleared, banned, shadow), how
many of their messages were withheld since a ban, a blind index of their username (for /ban
@name), and the customer's own audit trail (customer_event).

Customers already in the database have written to the shop before: they are ``cleared`` (no
first-contact check, no pattern check). Their username index cannot be computed here (a
migration has no key): ``bot/privacy.py`` ``prepare`` fills it at the next start with the key
(``kefu run`` or ``kefu db upgrade`` with KEFU_PRIVACY__KEYS), and every customer's next message
writes it anyway."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from bot.core.crypto import BlindIndexField


class Migration(migrations.Migration):
    dependencies = [('kefu', '0013_kb_candidates')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Customer',
            name='username_hash',
            field=BlindIndexField(null=True, db_index=True, description='blind index of username, what /ban @name compares', of='username', kind='username', max_length=64),
        ),
        ops.AddField(
            model_name='Customer',
            name='standing',
            field=fields.CharField(default='new', db_default='new', description='new, verified, held, cleared, banned or shadow (ticketing/moderation.py)', max_length=8),
        ),
        ops.AddField(
            model_name='Customer',
            name='withheld',
            field=fields.IntField(default=0, db_default=0, description='messages dropped (banned) or kept from the agents (shadow) since the last ban'),
        ),
        ops.CreateModel(
            name='CustomerEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(description='banned, shadowbanned, unbanned, verified, held, allowed, cleared', max_length=24)),
                ('actor', fields.CharField(description='agent:ID, customer or system', max_length=64)),
                ('data', fields.JSONField(default=dict)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_event', 'app': 'kefu', 'pk_attr': 'id', 'table_description': "The customer's own audit trail, beside their tickets': bans, first-contact checks, held messages."},
            bases=['Model'],
        ),
        # Everyone here has written before: no check for them.
        ops.RunSQL("UPDATE customer SET standing = 'cleared'"),
        # AddField makes no index for db_index (and SQLite's AlterField rebuilds the table): last.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_customer_usernam_11ac85" ON "customer" ("username_hash")'),
    ]
