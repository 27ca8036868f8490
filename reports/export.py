"""`kefu report`: the report on the command line, as text, JSON, CSV files and the PNG chart."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from reports import Report, compute_report
from reports.summary import chart_png, summary_text
from reports.xlsx import flatten, write_xlsx


def write_csv(report: Report, folder: Path) -> list[Path]:
    """``metrics.csv`` (every figure, one per row) and ``series.csv`` (the headline metrics per period)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    series = data.pop("series")
    written = [folder / "metrics.csv", folder / "series.csv"]
    with written[0].open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(["metric", "value"])
        out.writerows(flatten(data))
    with written[1].open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(["metric", "period_start", "value", "verdict"])
        for name, item in series.items():
            for start, value in zip(item["period_starts"], item["values"], strict=True):
                out.writerow([name, start, value, item["trend"]["verdict"]])
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
