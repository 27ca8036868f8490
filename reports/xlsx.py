"""`kefu report --xlsx FILE`: the report as an Excel workbook, because a shop manager in China works
in Excel or WPS, where a CSV of UTF-8 Chinese opens as mojibake unless imported by hand.

One sheet per table: ``metrics`` (every single figure, one per row, as in metrics.csv),
``series`` (the headline metrics per period, as in series.csv), then each list of rows in the
report's JSON (``per_agent``, ``logistics.by_carrier``, ``bot.top_missed`` …) on a sheet of its
own, named by its JSON path, its columns the rows' keys (nested objects flattened with dots).
Values keep their JSON types: numbers stay numbers a spreadsheet can sum, a missing figure
(``null``) an empty cell. Sheet names follow Excel's rules: at most 31 characters, none of
``[]:*?/\\``, unique.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reports import Report

MAX_SHEET_NAME = 31


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` → ``[("a.b", 1)]``; lists are numbered."""
    if isinstance(value, dict):
        return [row for key, item in value.items() for row in flatten(item, f"{prefix}{key}.")]
    if isinstance(value, list):
        return [row for n, item in enumerate(value) for row in flatten(item, f"{prefix}{n}.")]
    return [(prefix.rstrip("."), value)]


def tables(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The report's JSON split into what is left (single figures) and its lists of rows, by path
    (an empty list too: a table with no rows this period still has its sheet)."""
    found: dict[str, list[dict[str, Any]]] = {}

    def strip(value: dict[str, Any], path: str) -> dict[str, Any]:
        kept = {}
        for key, item in value.items():
            if _is_table(item):
                found[f"{path}{key}"] = item
            elif isinstance(item, dict):
                kept[key] = strip(item, f"{path}{key}.")
            else:
                kept[key] = item
        return kept

    return strip(data, ""), found


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def sheet_name(path: str, taken: set[str]) -> str:
    """``path`` as Excel allows a sheet's name: no ``[]:*?/\\``, ≤ 31 characters, not already taken."""
    base = re.sub(r"[\[\]:*?/\\]", "_", path).strip("'") or "sheet"
    name, n = base[:MAX_SHEET_NAME], 1
    while name.lower() in {t.lower() for t in taken}:  # Excel compares sheet names ignoring case
        n += 1
        suffix = f"~{n}"
        name = base[: MAX_SHEET_NAME - len(suffix)] + suffix
    taken.add(name)
    return name


def write_xlsx(report: Report, path: Path) -> list[str]:
    """Write the workbook; the sheet names, in order."""
    from openpyxl import Workbook  # loaded only when a workbook is asked for

    data = report.to_dict()
    series = data.pop("series")
    rest, lists = tables(data)
    book = Workbook()
    taken: set[str] = set()
    sheet = book.active
    sheet.title = sheet_name("metrics", taken)
    sheet.append(["metric", "value"])
    for key, value in flatten(rest):
        sheet.append([key, _cell(value)])
    sheet = book.create_sheet(sheet_name("series", taken))
    sheet.append(["metric", "period_start", "value", "verdict"])
    for name, item in series.items():
        for start, value in zip(item["period_starts"], item["values"], strict=True):
            sheet.append([name, start, value, item["trend"]["verdict"]])
    for table_path, rows in lists.items():
        flat = [dict(flatten(row)) for row in rows]
        columns = list(dict.fromkeys(key for row in flat for key in row))
        sheet = book.create_sheet(sheet_name(table_path, taken))
        sheet.append(columns)
        for row in flat:
            sheet.append([_cell(row.get(column)) for column in columns])
    for sheet in book.worksheets:
        sheet.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return [sheet.title for sheet in book.worksheets]


def _cell(value: Any) -> Any:
    """A JSON value as a cell: an empty list or object (a table with no rows) as empty text."""
    return "" if isinstance(value, list | dict) else value
