from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from bot.core.crypto import EncryptedJSONField


class PayloadAsText(ops.AlterField):
    """inbox_update.payload becomes TEXT (a Fernet token): tortoise alters no column types, so
    PostgreSQL's jsonb is changed by hand; SQLite's JSON column takes text as it is. The rows
    stored before are encrypted at the next start (bot/privacy.py prepare)."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None) -> None:
        if state_editor and state_editor.client.capabilities.dialect == "postgres":
            await state_editor.client.execute_script(
                'ALTER TABLE "inbox_update" ALTER COLUMN "payload" TYPE TEXT USING "payload"::text'
            )

    database_backward = database_forward


class Migration(migrations.Migration):
    dependencies = [('kefu', '0008_personal_data')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProcessHeartbeat',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, description='as in inbox_update.claimed_by', max_length=64)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('beat_at', fields.DatetimeField(description='the last beat', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'process_heartbeat', 'app': 'kefu', 'pk_attr': 'name', 'table_description': 'A running kefu process, renewing its beat: work held by a process whose beat lapsed is taken over.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RateBucket',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, description='global, or chat:ID', max_length=48)),
                ('next_at', fields.FloatField(description='seconds since the epoch')),
            ],
            options={'table': 'rate_bucket', 'app': 'kefu', 'pk_attr': 'name', 'table_description': "One of Telegram's rate limits shared by all processes of the bot (bot/telegram/ratelimit.py): the earliest"},
            bases=['Model'],
        ),
        PayloadAsText(
            model_name='InboxUpdate',
            name='payload',
            field=EncryptedJSONField(description='the update as Telegram sent it, encrypted (it holds names and phones)'),
        ),
        ops.AlterField(
            model_name='InboxUpdate',
            name='status',
            field=fields.CharField(default='new', description='new, processing, done, throttled (over the flood limit), unknown (a process died mid-reply) or failed (could not be read or handled, set aside)', db_default='new', max_length=12),
        ),
        ops.AddField(
            model_name='InboxUpdate',
            name='attempts',
            field=fields.SmallIntField(default=0, description='times it was claimed to be handled', db_default=0),
        ),
        ops.AddField(
            model_name='InboxUpdate',
            name='error',
            field=fields.TextField(null=True, description='why it failed (status failed)', unique=False),
        ),
        ops.AddField(
            model_name='InboxUpdate',
            name='on_wire',
            field=fields.BooleanField(default=False, description='a request of its handling was being written or awaited its answer: if its process died then, it is in doubt', db_default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='card_requested_at',
            field=fields.DatetimeField(null=True, description='when its card was sent: with no card_message_id, the card may exist (a crash)', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='topic_requested_at',
            field=fields.DatetimeField(null=True, description='when its topic was asked of Telegram: with no topic_id, the topic may exist (a crash)', auto_now=False, auto_now_add=False),
        ),
        # SQLite's AlterField rebuilds the table without its indexes: made again, last.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_inbox_updat_chat_id_0c2640" ON "inbox_update" ("chat_id", "status")'),
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_inbox_updat_status_27c598" ON "inbox_update" ("status", "received_at")'),
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_inbox_updat_user_id_71a63c" ON "inbox_update" ("user_id", "received_at")'),
    ]
