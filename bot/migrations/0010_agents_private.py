from tortoise import migrations
from tortoise.migrations import operations as ops

from bot.core.crypto import BlindIndexField, EncryptedTextField


class Migration(migrations.Migration):
    dependencies = [('kefu', '0009_fleet')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Agent',
            name='name',
            field=EncryptedTextField(default='', description='encrypted (bot/core/crypto.py), as is the username'),
        ),
        ops.AlterField(
            model_name='Agent',
            name='username',
            field=EncryptedTextField(null=True),
        ),
        ops.AddField(
            model_name='Agent',
            name='username_hash',
            field=BlindIndexField(null=True, db_index=True, description='blind index of username, what /assign @name compares', of='username', kind='username', max_length=64),
        ),
        ops.AlterField(
            model_name='TicketMessage',
            name='text',
            field=EncryptedTextField(default='', description='encrypted (bot/core/crypto.py): what people write holds names and numbers'),
        ),
            # AddField makes no index for db_index (and SQLite's AlterField rebuilds the table): last.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_agent_username_hash" ON "agent" ("username_hash")'),
    ]
