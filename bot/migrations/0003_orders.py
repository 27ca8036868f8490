import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from orders.models import EventKind, OrderStatus


class Migration(migrations.Migration):
    dependencies = [('kefu', '0002_kb_questions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order_no', fields.CharField(unique=True, max_length=64)),
                ('phone', fields.CharField(db_index=True, description="the customer's phone, E.164", max_length=16)),
                ('status', fields.CharEnumField(description='PENDING_PAYMENT: pending_payment\nPAID: paid\nPROCESSING: processing\nSHIPPED: shipped\nIN_TRANSIT: in_transit\nOUT_FOR_DELIVERY: out_for_delivery\nDELIVERED: delivered\nCANCELLED: cancelled\nREFUND_REQUESTED: refund_requested\nREFUNDED: refunded\nRETURNED: returned', enum_type=OrderStatus, max_length=20)),
                ('items', fields.JSONField(default=list, description='list of name, quantity and price (a decimal string)', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('amount', fields.DecimalField(max_digits=12, decimal_places=2)),
                ('currency', fields.CharField(description='ISO 4217, e.g. CNY', max_length=3)),
                ('carrier', fields.CharField(null=True, max_length=64)),
                ('tracking_no', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(description='when the customer placed the order', auto_now=False, auto_now_add=False)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('shipped_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expected_delivery', fields.DateField(null=True)),
                ('updated_at', fields.DatetimeField(description='when kefu last received this order', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shop_order', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'An order of the shop, one row per order number.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('kefu.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.CharField(null=True, unique=True, description="the sender's id, a replay is recognised by it", max_length=128)),
                ('kind', fields.CharEnumField(description='STATUS: status\nTRACKING: tracking', enum_type=EventKind, max_length=8)),
                ('status', fields.CharEnumField(null=True, description='the new status', enum_type=OrderStatus, max_length=20)),
                ('previous_status', fields.CharEnumField(null=True, description='PENDING_PAYMENT: pending_payment\nPAID: paid\nPROCESSING: processing\nSHIPPED: shipped\nIN_TRANSIT: in_transit\nOUT_FOR_DELIVERY: out_for_delivery\nDELIVERED: delivered\nCANCELLED: cancelled\nREFUND_REQUESTED: refund_requested\nREFUNDED: refunded\nRETURNED: returned', enum_type=OrderStatus, max_length=20)),
                ('happened_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('place', fields.CharField(null=True, max_length=128)),
                ('description', fields.TextField(null=True, unique=False)),
                ('recorded_at', fields.DatetimeField(description='when kefu learnt of it', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_event', 'app': 'kefu', 'pk_attr': 'id', 'table_description': "Something that happened to an order: a status change or a carrier's tracking scan."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OrderGrant',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='order_grants', on_delete=OnDelete.CASCADE)),
                ('order_no', fields.CharField(description="no foreign key: the order may live in the shop's API", max_length=64)),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_grant', 'app': 'kefu', 'unique_together': (('customer', 'order_no'),), 'pk_attr': 'id', 'table_description': "One order a customer proved with its phone's last 4 digits and may see from then on."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VerificationAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='order_verifications', on_delete=OnDelete.CASCADE)),
                ('order_no', fields.CharField(max_length=64)),
                ('succeeded', fields.BooleanField()),
                ('attempted_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'order_verification', 'app': 'kefu', 'pk_attr': 'id', 'table_description': "A customer's try at proving an order is theirs with the last 4 digits of its phone."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='phone',
            field=fields.CharField(null=True, db_index=True, description="E.164, from the customer's own shared Telegram contact", max_length=16),
        ),
    ]
