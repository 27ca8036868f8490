"""Campaigns: one message to a segment of customers, sent through the outbox at its rate.

Segments, as shops use them: ``all``; ``new`` (first seen in the last 30 days); ``returning``
(known for longer, and back in the last 30 days); ``vip`` (segment "vip", set by the customer reports or an import);
``inactive_N`` (not seen for N days). Customers who blocked the bot or unsubscribed are never in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tortoise.queryset import QuerySet

from scheduler.models import Campaign
from scheduler import outbox
from scheduler.outbox import enqueue
from ticketing.models import Customer

SEGMENTS = ("all", "new", "returning", "vip", "inactive_30", "inactive_90")
RECENT = timedelta(days=30)
TEMPLATES = ("new_arrivals", "sale", "we_miss_you")
"""Catalog texts ``campaign_template_<name>``: sent in each customer's own language."""


def valid_segment(segment: str) -> bool:
    return segment in SEGMENTS or re.fullmatch(r"inactive_[1-9]\d{0,3}", segment) is not None


def audience(segment: str, now: datetime) -> QuerySet[Customer]:
    now = now.astimezone(UTC)
    customers = Customer.filter(blocked=False, opted_out=False)
    if segment == "new":
        return customers.filter(first_seen__gte=now - RECENT)
    if segment == "returning":
        return customers.filter(first_seen__lt=now - RECENT, last_seen__gte=now - RECENT)
    if segment == "vip":
        return customers.filter(segment="vip")
    if segment.startswith("inactive_"):
        return customers.filter(last_seen__lt=now - timedelta(days=int(segment.removeprefix("inactive_"))))
    return customers


async def start_campaign(
    segment: str, *, text: str | None, template: str | None, author_telegram_id: int, now: datetime,
    progress_chat_id: int | None = None, progress_message_id: int | None = None,
) -> Campaign:
    """Create the campaign and queue one outbox row per customer in the segment, due now."""
    now = now.astimezone(UTC)
    customers = await audience(segment, now)
    campaign = await Campaign.create(
        segment=segment, template=text if text is not None else f"template:{template}",
        created_by_telegram_id=author_telegram_id, status="running", total=len(customers),
        progress_chat_id=progress_chat_id, progress_message_id=progress_message_id, created_at=now,
    )
    payload = {"text": text} if text is not None else {"template": template}
    for customer in customers:
        await enqueue(customer, "campaign", f"campaign:{campaign.id}:customer:{customer.id}", now, payload, campaign=campaign)
    return campaign


async def progress(campaign: Campaign, now: datetime) -> dict[str, int]:
    """Counts by outcome; the campaign is ``done`` once nothing is waiting or being sent."""
    counts = await outbox.counts(campaign)
    if campaign.status == "running" and counts["queued"] == counts["sending"] == 0:
        campaign.status, campaign.finished_at = "done", now.astimezone(UTC)
    campaign.sent, campaign.blocked = counts["sent"], counts["blocked"]
    campaign.failed = counts["failed"] + counts["unknown"] + counts["cancelled"]
    await campaign.save(update_fields=["status", "finished_at", "sent", "blocked", "failed"])
    return counts
