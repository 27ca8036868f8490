from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from bot.core.crypto import BlindIndexField, EncryptedTextField


class Migration(migrations.Migration):
    dependencies = [('kefu', '0007_inbox')]

    initial = False

    operations = [
        # 0003 added customer.phone with db_index, but AddField makes no index: the AlterField of
        # phone below drops the index it expects, so there must be one to drop.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_customer_phone_8f0dcc" ON "customer" ("phone")'),
        ops.AlterField(
            model_name='Customer',
            name='first_name',
            field=EncryptedTextField(default='', description='encrypted (bot/core/crypto.py), as are the other names'),
        ),
        ops.AlterField(
            model_name='Customer',
            name='last_name',
            field=EncryptedTextField(null=True),
        ),
        ops.AlterField(
            model_name='Customer',
            name='phone',
            field=EncryptedTextField(null=True, description="E.164, from the customer's own shared Telegram contact, encrypted"),
        ),
        ops.AlterField(
            model_name='Customer',
            name='username',
            field=EncryptedTextField(null=True),
        ),
        ops.AddField(
            model_name='Customer',
            name='forgotten_at',
            field=fields.DatetimeField(null=True, description='when the customer had their personal data deleted (/forgetme), the row kept for counts', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Customer',
            name='phone_hash',
            field=BlindIndexField(null=True, db_index=True, description='blind index of phone (HMAC-SHA256), what look-ups compare', of='phone', kind='phone', max_length=64),
        ),
        ops.AlterField(
            model_name='Order',
            name='phone',
            field=EncryptedTextField(null=True, description="the customer's phone, E.164, encrypted, NULL after the customer asked to be forgotten"),
        ),
        ops.AddField(
            model_name='Order',
            name='phone_hash',
            field=BlindIndexField(null=True, db_index=True, description='blind index of phone (HMAC-SHA256), what look-ups compare', of='phone', kind='phone', max_length=64),
        ),
        # AddField makes no index for db_index (and SQLite's AlterField rebuilds the table): last.
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_customer_phone_h_f5919e" ON "customer" ("phone_hash")'),
        ops.RunSQL('CREATE INDEX IF NOT EXISTS "idx_shop_order_phone_h_af7862" ON "shop_order" ("phone_hash")'),
    ]
