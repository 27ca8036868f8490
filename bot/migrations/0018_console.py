"""The console (bot/console/): its sessions, one-time login links and audit of changes. New
tables: older databases keep all their rows, and nobody is signed in to the console yet."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from bot.core.crypto import EncryptedJSONField


class Migration(migrations.Migration):
    dependencies = [('kefu', '0017_logistics')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsoleAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('agent', fields.ForeignKeyField('kefu.Agent', source_field='agent_id', db_constraint=True, to_field='id', related_name='console_audit', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('action', fields.CharField(description='what was done, e.g. claim, resolve, kb_edit', max_length=32)),
                ('target_kind', fields.CharField(description='ticket, kb_entry, campaign …', max_length=16)),
                ('target_id', fields.CharField(description="the ticket's number, the entry's id …", max_length=64)),
                ('details', EncryptedJSONField(default=dict, description='what changed, encrypted (it may quote a customer)')),
            ],
            options={'table': 'console_audit', 'app': 'kefu', 'indexes': [Index(fields=['target_kind', 'target_id'])], 'pk_attr': 'id', 'table_description': 'A change made in the console: who, when, what, to what.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsoleLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, description="SHA-256 of the link's token, hex", max_length=64)),
                ('agent', fields.ForeignKeyField('kefu.Agent', source_field='agent_id', db_constraint=True, to_field='id', related_name='console_links', on_delete=OnDelete.CASCADE)),
                ('language', fields.CharField(description="the pages' language, from the agent's Telegram language_code", max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, description='when it signed in: a link signs in once', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'console_link', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A one-time login link sent to an agent privately (/console in the agent group).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ConsoleSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, description='SHA-256 of the token, hex', max_length=64)),
                ('agent', fields.ForeignKeyField('kefu.Agent', source_field='agent_id', db_constraint=True, to_field='id', related_name='console_sessions', on_delete=OnDelete.CASCADE)),
                ('csrf', fields.CharField(description='the token every change must carry (form field csrf or X-CSRF-Token)', max_length=64)),
                ('language', fields.CharField(description="the pages' language, from the agent's Telegram language_code", max_length=8)),
                ('created_at', fields.DatetimeField(description='when they signed in', auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, description='after this the token is refused', auto_now=False, auto_now_add=False)),
                ('last_seen', fields.DatetimeField(description='their last request (kept to the minute)', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'console_session', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A signed-in agent: by the Mini App (a bearer token) or a login link (a cookie).'},
            bases=['Model'],
        ),
    ]
