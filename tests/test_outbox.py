"""The outbox sends each message at most once, on SQLite and PostgreSQL, with several workers too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.intake import fleet
from scheduler import outbox
from scheduler.models import Campaign, OutboxMessage
from ticketing.models import Customer

NOW = datetime(2027, 9, 15, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


async def _customer(telegram_id: int = 1) -> Customer:
    return await Customer.create(telegram_id=telegram_id, first_name=f"C{telegram_id}")


async def _queued(customer: Customer, key: str, due_at: datetime = NOW, kind: str = "survey") -> OutboxMessage:
    message = await outbox.enqueue(customer, kind, key, due_at, payload={"ticket": 1})
    assert message is not None
    return message


async def test_enqueueing_twice_with_the_same_key_keeps_one_row(database: str) -> None:
    customer = await _customer()
    first = await outbox.enqueue(customer, "survey", "survey:ticket:123", NOW, payload={"ticket": 123})
    again = await outbox.enqueue(customer, "survey", "survey:ticket:123", NOW + MINUTE)
    assert first is not None and again is None
    row = await OutboxMessage.get(key="survey:ticket:123")
    assert (row.status, row.attempts, row.payload, row.due_at) == ("queued", 0, {"ticket": 123}, NOW)


async def test_enqueueing_for_a_customer_that_does_not_exist_is_an_error_not_a_duplicate(database: str) -> None:
    gone = await _customer()
    await Customer.filter(id=gone.id).delete()
    with pytest.raises(IntegrityError):
        await outbox.enqueue(gone, "notice", "notice:1", NOW)


async def test_a_duplicate_enqueued_inside_a_transaction_leaves_that_transaction_usable(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "greeting:mid_autumn:2027:customer:1")
    async with in_transaction():
        assert await outbox.enqueue(customer, "greeting", "greeting:mid_autumn:2027:customer:1", NOW) is None
        assert await outbox.enqueue(customer, "notice", "notice:1", NOW) is not None
    assert await OutboxMessage.all().count() == 2


async def _take(now: datetime, worker: str = "w1", limit: int = 10) -> list[OutboxMessage]:
    """Claim due messages and start sending each, as a sender does right before its Bot API call."""
    claimed = await outbox.claim_due(now, worker, limit)
    for message in claimed:
        assert await outbox.start_sending(message, now)
    return claimed


async def test_a_key_stays_taken_after_its_message_was_sent(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "survey:ticket:1")
    [message] = await _take(NOW)
    await outbox.mark_sent(message, NOW, telegram_message_id=555)
    assert await outbox.enqueue(customer, "survey", "survey:ticket:1", NOW) is None


async def test_a_claimed_message_is_one_workers_and_becomes_sending_only_when_its_send_starts(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "survey:ticket:1")
    claimed = await outbox.claim_due(NOW, "worker-a", 10)
    assert [m.key for m in claimed] == ["survey:ticket:1"]
    assert (claimed[0].status, claimed[0].claimed_by, claimed[0].attempts) == ("queued", "worker-a", 1)
    assert await outbox.claim_due(NOW + outbox.LEASE / 2, "worker-b", 10) == []
    assert await outbox.start_sending(claimed[0], NOW + MINUTE / 60)
    row = await OutboxMessage.get(key="survey:ticket:1")
    assert (row.status, row.claimed_by, row.claimed_at, row.attempts) == ("sending", "worker-a", NOW + MINUTE / 60, 1)
    assert await outbox.claim_due(NOW + timedelta(days=1), "worker-b", 10) == []
    assert not await outbox.start_sending(claimed[0], NOW + MINUTE)  # once


async def test_a_claim_not_sent_within_its_lease_goes_to_another_worker_and_only_that_one_sends(database: str) -> None:
    """A worker that died (or stalled) after claiming loses nothing: nothing went out yet."""
    customer = await _customer()
    await _queued(customer, "notice:1", kind="notice")
    [stalled] = await outbox.claim_due(NOW, "worker-a", 10)
    [taken] = await outbox.claim_due(NOW + outbox.LEASE + MINUTE / 60, "worker-b", 10)
    assert (taken.key, taken.claimed_by) == ("notice:1", "worker-b")
    assert not await outbox.start_sending(stalled, NOW + MINUTE)
    assert not await outbox.defer(stalled, NOW + timedelta(hours=1))
    assert await outbox.start_sending(taken, NOW + MINUTE)
    assert await outbox.mark_sent(taken, NOW + MINUTE, telegram_message_id=9)
    assert (await OutboxMessage.get(key="notice:1")).status == "sent"


async def test_a_claimed_message_not_yet_sending_can_still_be_cancelled_and_is_then_not_sent(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "revisit:1", kind="revisit")
    [message] = await outbox.claim_due(NOW, "w1", 10)
    assert await outbox.cancel_for_customer(customer, ["revisit"]) == 1  # /unsubscribe meanwhile
    assert not await outbox.start_sending(message, NOW)
    assert (await OutboxMessage.get(key="revisit:1")).status == "cancelled"


async def test_messages_not_yet_due_are_not_claimed(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "revisit:1", due_at=NOW + MINUTE)
    assert await outbox.claim_due(NOW, "w1", 10) == []
    assert [m.key for m in await outbox.claim_due(NOW + MINUTE, "w1", 10)] == ["revisit:1"]


async def test_claims_take_the_oldest_due_messages_first_up_to_the_limit(database: str) -> None:
    customer = await _customer()
    for minutes, key in [(3, "c"), (1, "a"), (2, "b")]:
        await _queued(customer, key, due_at=NOW - minutes * MINUTE)
    assert [m.key for m in await outbox.claim_due(NOW, "w1", 2)] == ["c", "b"]
    assert [m.key for m in await outbox.claim_due(NOW, "w1", 2)] == ["a"]


async def test_times_in_any_zone_are_compared_as_instants(database: str) -> None:
    """SQLite compares stored times as text: a Shanghai 'now' must not read as eight hours later."""
    shanghai = ZoneInfo("Asia/Shanghai")
    customer = await _customer()
    await _queued(customer, "greeting:1", due_at=(NOW + 2 * MINUTE).astimezone(shanghai))
    assert await outbox.claim_due(NOW.astimezone(shanghai), "w1", 10) == []
    assert len(await outbox.claim_due((NOW + 2 * MINUTE).astimezone(shanghai), "w1", 10)) == 1


async def test_a_deferred_message_waits_for_not_before_and_keeps_its_due_time(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "greeting:1")
    [message] = await outbox.claim_due(NOW, "w1", 10)
    morning = NOW + timedelta(hours=7)
    assert await outbox.defer(message, morning)
    assert await outbox.claim_due(morning - MINUTE, "w1", 10) == []
    [again] = await outbox.claim_due(morning, "w2", 10)
    assert (again.key, again.due_at, again.not_before, again.attempts) == ("greeting:1", NOW, morning, 2)


async def test_waiting_for_quiet_hours_to_end_uses_up_no_attempt(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "greeting:1")
    for hours in range(5):
        [message] = await outbox.claim_due(NOW + timedelta(hours=hours), "w1", 10)
        assert await outbox.defer(message, NOW + timedelta(hours=hours + 1), attempted=False)
    assert (await OutboxMessage.get(key="greeting:1")).attempts == 0


async def test_a_claimed_message_can_be_cancelled_or_given_up_as_unknown_and_is_never_resent(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "revisit:1", kind="revisit")
    await _queued(customer, "notice:1", kind="notice")
    unsubscribed, timed_out = await outbox.claim_due(NOW, "w1", 10)
    assert await outbox.mark_cancelled(unsubscribed, NOW, "the customer unsubscribed")
    assert await outbox.start_sending(timed_out, NOW)
    assert await outbox.mark_unknown(timed_out, NOW, "timed out waiting for Telegram's answer")
    assert {m.key: m.status for m in await OutboxMessage.all()} == {"revisit:1": "cancelled", "notice:1": "unknown"}
    assert await outbox.claim_due(NOW + timedelta(days=1), "w1", 10) == []


async def test_sent_messages_record_the_telegram_message_and_time(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "notice:1")
    [message] = await _take(NOW)
    assert await outbox.mark_sent(message, NOW + MINUTE, telegram_message_id=4242)
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.telegram_message_id, row.sent_at) == ("sent", 4242, NOW + MINUTE)
    assert await outbox.claim_due(NOW + MINUTE, "w1", 10) == []


async def test_settling_a_message_that_is_not_in_flight_changes_nothing(database: str) -> None:
    customer = await _customer()
    message = await _queued(customer, "notice:1")
    assert not await outbox.mark_sent(message, NOW, telegram_message_id=1)
    assert (await OutboxMessage.get(id=message.id)).status == "queued"


async def test_a_failing_message_is_retried_later_then_failed_after_max_attempts(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "survey:ticket:9")
    delay = timedelta(seconds=30)
    now = NOW
    for attempt in (1, 2):
        [message] = await outbox.claim_due(now, "w1", 10)
        assert message.attempts == attempt
        assert await outbox.retry_later(message, now, "Bad Gateway", delay, max_attempts=3)
        row = await OutboxMessage.get(id=message.id)
        assert (row.status, row.not_before, row.last_error) == ("queued", now + delay, "Bad Gateway")
        assert await outbox.claim_due(now + delay - MINUTE / 60, "w1", 10) == []
        now += delay
    [message] = await outbox.claim_due(now, "w1", 10)
    assert message.attempts == 3
    await outbox.retry_later(message, now, "Bad Gateway", delay, max_attempts=3)
    row = await OutboxMessage.get(id=message.id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "Bad Gateway")
    assert await outbox.claim_due(now + timedelta(days=1), "w1", 10) == []


async def test_a_blocked_customer_is_marked_and_their_other_queued_messages_cancelled(database: str) -> None:
    blocker, other = await _customer(1), await _customer(2)
    await _queued(blocker, "survey:ticket:1")
    await _queued(blocker, "revisit:ticket:1", due_at=NOW + timedelta(days=7), kind="revisit")
    await _queued(other, "survey:ticket:2", due_at=NOW + MINUTE)
    [message] = await outbox.claim_due(NOW, "w1", 10)
    assert await outbox.mark_blocked(message, NOW, "Forbidden: bot was blocked by the user")
    assert (await Customer.get(id=blocker.id)).blocked
    assert not (await Customer.get(id=other.id)).blocked
    statuses = {m.key: m.status for m in await OutboxMessage.all()}
    assert statuses == {"survey:ticket:1": "blocked", "revisit:ticket:1": "cancelled", "survey:ticket:2": "queued"}


async def test_recovery_turns_a_gone_workers_sending_messages_into_unknown_and_leaves_a_live_ones(database: str) -> None:
    await fleet.beat("crashed-worker", NOW - timedelta(hours=2), starting=True)  # it never beat again
    await fleet.beat("live-worker", NOW - timedelta(hours=2), starting=True)
    customer = await _customer()
    await _queued(customer, "old", due_at=NOW - timedelta(hours=1))
    await _take(NOW - timedelta(minutes=30), "crashed-worker")
    await _queued(customer, "slow", due_at=NOW - timedelta(hours=1))
    await _take(NOW - timedelta(minutes=30), "live-worker")  # waiting for Telegram's rate limits, say
    await _queued(customer, "claimed-only", due_at=NOW - timedelta(hours=1))
    await outbox.claim_due(NOW - MINUTE / 6, "crashed-worker", 10)  # it died before sending this one
    await fleet.beat("live-worker", NOW)
    recovered = await outbox.recover_after_crash(NOW)
    assert [(m.key, m.status, m.claimed_by) for m in recovered] == [("old", "unknown", "crashed-worker")]
    statuses = {m.key: m.status for m in await OutboxMessage.all()}
    assert statuses == {"old": "unknown", "claimed-only": "queued", "slow": "sending"}
    assert await outbox.recover_after_crash(NOW) == []  # reported once
    assert [m.key for m in await outbox.claim_due(NOW + timedelta(days=1), "w1", 10)] == ["claimed-only"]  # never resent


async def test_a_restarted_worker_finds_its_own_sends_in_doubt(database: str) -> None:
    await fleet.beat("kefu-1", NOW - timedelta(hours=1), starting=True)
    customer = await _customer()
    await _queued(customer, "in-flight", due_at=NOW - timedelta(hours=1))
    await _take(NOW - timedelta(seconds=5), "kefu-1")
    await fleet.beat("kefu-1", NOW, starting=True)  # killed, and started again
    assert [m.key for m in await outbox.recover_after_crash(NOW)] == ["in-flight"]


async def test_a_slow_send_that_recovery_gave_up_on_can_still_be_settled(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "slow")
    [message] = await _take(NOW)  # by w1, which has no heartbeat: taken for gone
    await outbox.recover_after_crash(NOW + timedelta(minutes=10))
    assert await outbox.mark_sent(message, NOW + timedelta(minutes=11), telegram_message_id=7)
    assert (await OutboxMessage.get(id=message.id)).status == "sent"


async def test_cancelling_by_key_and_by_customer_and_kind_touches_only_queued_messages(database: str) -> None:
    customer = await _customer()
    await _queued(customer, "survey:ticket:1", due_at=NOW - MINUTE)
    await _queued(customer, "survey:ticket:2", due_at=NOW + MINUTE)
    await _queued(customer, "revisit:ticket:1", due_at=NOW + MINUTE, kind="revisit")
    await _queued(customer, "greeting:1", due_at=NOW + MINUTE, kind="greeting")
    await _take(NOW)  # survey:ticket:1 is being sent
    assert await outbox.cancel("survey:ticket:2")
    assert not await outbox.cancel("survey:ticket:2")
    assert not await outbox.cancel("no-such-key")
    assert await outbox.cancel_for_customer(customer, ["survey", "revisit"]) == 1
    statuses = {m.key: m.status for m in await OutboxMessage.all()}
    assert statuses == {
        "survey:ticket:1": "sending", "survey:ticket:2": "cancelled", "revisit:ticket:1": "cancelled", "greeting:1": "queued",
    }


async def test_counts_give_every_status_for_all_messages_or_one_campaign(database: str) -> None:
    customer, other = await _customer(1), await _customer(2)
    campaign = await Campaign.create(segment="vip", template="Hello {customer_name}", created_by_telegram_id=900_001)
    await outbox.enqueue(customer, "campaign", f"campaign:{campaign.id}:customer:{customer.id}", NOW, campaign=campaign)
    await outbox.enqueue(other, "campaign", f"campaign:{campaign.id}:customer:{other.id}", NOW + MINUTE, campaign=campaign)
    await _queued(customer, "survey:ticket:1", due_at=NOW + MINUTE)
    [message] = await _take(NOW, limit=1)
    await outbox.mark_sent(message, NOW, telegram_message_id=1)
    assert await outbox.counts(campaign) == {
        "queued": 1, "sending": 0, "sent": 1, "blocked": 0, "failed": 0, "cancelled": 0, "unknown": 0,
    }
    assert (await outbox.counts())["queued"] == 2


async def test_concurrent_workers_claim_each_of_500_due_messages_exactly_once(database: str) -> None:
    """Workers race for the same due rows, on PostgreSQL each in a transaction of its own pooled connection."""
    customer = await _customer()
    await OutboxMessage.bulk_create(
        [
            OutboxMessage(customer_id=customer.id, kind="campaign", key=f"campaign:1:n:{n}", due_at=NOW - n % 7 * MINUTE)
            for n in range(500)
        ]
    )

    async def work(worker: str) -> list[int]:
        taken: list[int] = []
        while batch := await outbox.claim_due(NOW, worker, 7):
            taken += [message.id for message in batch]
            await asyncio.sleep(0)
        return taken

    results = await asyncio.gather(*(work(f"worker-{n}") for n in range(6)))
    everything = [message_id for taken in results for message_id in taken]
    assert len(everything) == 500 and len(set(everything)) == 500
    if database.startswith("postgres"):  # one SQLite connection runs the workers in lock-step: the first wins
        assert sum(1 for taken in results if taken) > 1, [len(taken) for taken in results]
    rows = await OutboxMessage.all()
    assert all(row.status == "queued" and row.attempts == 1 for row in rows)
    by_worker = {f"worker-{n}": set(taken) for n, taken in enumerate(results)}
    assert all(row.id in by_worker[row.claimed_by] for row in rows)
