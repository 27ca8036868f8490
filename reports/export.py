"""`kefu report`: the report on the command line, as text, JSON, CSV files and the PNG chart."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

from reports import Report, compute_report
from reports.breakdown import BreakdownSeries
from reports.summary import chart_png, summary_text
from reports.xlsx import flatten, write_xlsx

METRICS_HEADER: Final = ("metric", "value")
SERIES_HEADER: Final = ("metric", "period_start", "value", "verdict")
BREAKDOWN_HEADER: Final = ("metric", "by", "key", "period_start", "value", "verdict")


def metric_rows(report: Report) -> list[tuple[str, Any]]:
    """Every figure of the report but its series, one per row (``metrics.csv``)."""
    data = report.to_dict()
    data.pop("series")
    return flatten(data)


def series_rows(report: Report) -> list[tuple[str, Any, Any, str]]:
    """The headline metrics per period, with each one's verdict (``series.csv``)."""
    return [
        (name, start.isoformat(), value, item.trend.verdict.value)
        for name, item in report.series.items()
        for start, value in zip(item.period_starts, item.values, strict=True)
    ]


def breakdown_rows(breakdown: BreakdownSeries) -> list[tuple[str, str, str, str, Any, str]]:
    """A metric per category, agent or segment and period, with each key's verdict."""
    return [
        (breakdown.metric, breakdown.by, item.key, start.isoformat(), value, item.trend.verdict.value)
        for item in breakdown.series
        for start, value in zip(breakdown.period_starts, item.values, strict=True)
    ]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The rows as CSV text (RFC 4180 line ends, as the files are written)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_csv(report: Report, folder: Path) -> list[Path]:
    """``metrics.csv`` (every figure, one per row) and ``series.csv`` (the headline metrics per period)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "metrics.csv", folder / "series.csv"]
    written[0].write_text(csv_text(METRICS_HEADER, metric_rows(report)), encoding="utf-8", newline="")
    written[1].write_text(csv_text(SERIES_HEADER, series_rows(report)), encoding="utf-8", newline="")
    return written


async def run_report(
    *, days: int, timezone: str, periods: int, language: str, as_json: bool, png: str | None, csv_dir: str | None,
    xlsx: str | None = None,
    out: TextIO = sys.stdout, now: datetime | None = None, options: Mapping[str, Any] | None = None,
) -> int:
    """``options``: compute_report's other keywords (reports.report_options of the settings)."""
    end = now or datetime.now(UTC)
    keywords = {"periods": periods, **(options or {})}
    report = await compute_report(end - timedelta(days=days), end, timezone=timezone, **keywords)
    if as_json:
        json.dump(report.to_dict(), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        out.write(summary_text(report, language) + "\n")
    if png:
        Path(png).write_bytes(chart_png(report, language))
        print(f"kefu: chart written to {png}", file=sys.stderr)
    if csv_dir:
        for path in write_csv(report, Path(csv_dir)):
            print(f"kefu: {path} written", file=sys.stderr)
    if xlsx:
        sheets = write_xlsx(report, Path(xlsx))
        print(f"kefu: {xlsx} written ({', '.join(sheets)})", file=sys.stderr)
    return 0
