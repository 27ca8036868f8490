"""Net Promoter Score from the survey's optional "would you recommend us?" (scheduler/nps.py).

NPS = % promoters (9–10) − % detractors (0–6) over the answers given in the period, from −100 to
100; passives (7–8) count in the denominator only. One aggregate query; ``score`` is None (JSON
``null``) without answers, never 0, which would read as "as many promoters as detractors".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core import sql
from bot.core.sql import in_periods, period_params

PROMOTER, DETRACTOR = 9, 6
"""A score ≥ 9 promotes, ≤ 6 detracts (Reichheld's bands)."""


@dataclass(frozen=True)
class Nps:
    responses: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    """(promoters − detractors) ÷ responses × 100, rounded to 0.1; None without responses."""


def nps_of(promoters: int, passives: int, detractors: int) -> Nps:
    responses = promoters + passives + detractors
    score = round(100 * (promoters - detractors) / responses, 1) if responses else None
    return Nps(responses, promoters, passives, detractors, score)


async def nps(start: datetime, end: datetime) -> Nps:
    """Over ``survey_response`` rows of kind ``nps`` answered in [start, end)."""
    bounds = [start, end]
    [row] = await sql.rows(
        f"""
        SELECT SUM(CASE WHEN s.score >= {PROMOTER} THEN 1 ELSE 0 END) AS promoters,
            SUM(CASE WHEN s.score > {DETRACTOR} AND s.score < {PROMOTER} THEN 1 ELSE 0 END) AS passives,
            SUM(CASE WHEN s.score <= {DETRACTOR} THEN 1 ELSE 0 END) AS detractors
        FROM survey_response s
        WHERE s.kind = 'nps' AND s.score IS NOT NULL AND {in_periods("s.answered_at", bounds)}
        """,
        **period_params(bounds),
    )
    return nps_of(int(row["promoters"] or 0), int(row["passives"] or 0), int(row["detractors"] or 0))
