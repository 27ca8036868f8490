from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('telegram_id', fields.BigIntField(unique=True)),
                ('first_name', fields.CharField(default='', max_length=128)),
                ('last_name', fields.CharField(null=True, max_length=128)),
                ('username', fields.CharField(null=True, max_length=64)),
                ('telegram_language', fields.CharField(null=True, description="Telegram's language_code", max_length=16)),
                ('language', fields.CharField(default='en', description='zh-Hans, zh-Hant or en', max_length=8)),
                ('language_chosen', fields.BooleanField(default=False, description='set with /lang: replies stay in this language')),
                ('blocked', fields.BooleanField(default=False, description='the customer blocked the bot (403)')),
                ('opted_out', fields.BooleanField(default=False, description='no care or marketing messages')),
                ('first_seen', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'customer', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A person who writes to the bot in a private chat, one row per Telegram user.'},
            bases=['Model'],
        ),
    ]
