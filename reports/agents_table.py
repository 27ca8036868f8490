"""The per-agent table as a service manager reads it in the agent group (/report agents): one
block per agent, every label from the catalogs in the agent group's language (no Telegram here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.i18n import text
from reports.agents import AgentFigures
from reports.summary import duration


def seconds(language: str, value: float | None) -> str:
    """A response time: seconds under a minute (a 3-minute target is read in seconds), else as the summary."""
    if value is not None and value < 60:
        return text(language, "report_seconds", n=round(value))
    return duration(language, value)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def agents_text(rows: Sequence[AgentFigures], language: str, start: datetime, end: datetime, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    title = text(
        language, "report_agents_title", start=f"{start.astimezone(zone):%Y-%m-%d}",
        end=f"{(end - timedelta(seconds=1)).astimezone(zone):%Y-%m-%d}",
        days=round((end - start).total_seconds() / 86400),
    )
    if not rows:
        return f"{title}\n{text(language, 'report_agents_none')}"
    blocks = [
        text(
            language, "report_agents_row", name=row.name, rate=_share(row.response_rate_180s), fast=row.answered_fast,
            messages=row.customer_messages, mean=seconds(language, row.response_avg_seconds),
            p90=seconds(language, row.response_p90_seconds),
            ratio="—" if row.answer_ratio is None else f"{row.answer_ratio:.2f}", handled=row.handled,
            resolved=row.resolved, reopened=row.reopened, csat="—" if row.csat is None else f"{row.csat:.0f}",
            answers=row.csat_responses, warnings=row.quality_warnings,
        )
        for row in rows
    ]
    return "\n".join([title, *blocks])
