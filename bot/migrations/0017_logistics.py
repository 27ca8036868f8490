"""Logistics performance: an order event (a status change or a tracking scan) may say what went
wrong in delivery, as the shop marks it: lost, damaged or delivery_failed. A nullable column:
older databases keep all their events, none of them an exception."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0016_presence')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OrderEvent',
            name='exception',
            field=fields.CharField(null=True, description='what went wrong, as the shop says: lost, damaged or delivery_failed', max_length=16),
        ),
    ]
