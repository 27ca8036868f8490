"""The order feed refuses replays (feed_signature) and changes older than the stored order
(shop_order.state_at, shop_order.version). An order kept before gets as its state's time that of
its latest status event with an id (what held back older events until now), else its own
timestamp for its status: an event older than that still does not move it."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0010_agents_private')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FeedSignature',
            fields=[
                ('digest', fields.CharField(primary_key=True, unique=True, db_index=True, description='SHA-256 of the signature, hex', max_length=64)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, description='when its timestamp goes stale and the row may go', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'feed_signature', 'app': 'kefu', 'pk_attr': 'digest', 'table_description': 'A signed order-feed request kefu took, remembered while its timestamp is fresh: the same request again is a replay.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Order',
            name='state_at',
            field=fields.DatetimeField(null=True, description="the sender's time of the stored status (the event's time, or the order's own paid_at, shipped_at ...), what an older change is told by", auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Order',
            name='version',
            field=fields.BigIntField(null=True, description='the highest version the shop sent for this order, if it sends them'),
        ),
        ops.RunSQL(
            'UPDATE "shop_order" SET "state_at" = (SELECT MAX(e."happened_at") FROM "order_event" e'
            ' WHERE e."order_id" = "shop_order"."id" AND e."kind" = \'status\' AND e."event_id" IS NOT NULL)'
        ),
        ops.RunSQL(
            'UPDATE "shop_order" SET "state_at" = CASE "status" WHEN \'pending_payment\' THEN "created_at"'
            ' WHEN \'paid\' THEN "paid_at" WHEN \'shipped\' THEN "shipped_at" WHEN \'delivered\' THEN "delivered_at" END'
            ' WHERE "state_at" IS NULL'
        ),
    ]
