"""Import the shop's orders from a CSV or JSON-lines file (``kefu orders import FILE``).

Columns (CSV header, or keys of each JSON object): order_no, phone, status, items, amount,
currency, created_at, and optionally carrier, tracking_no, paid_at, shipped_at, delivered_at,
expected_delivery and events (the tracking history: a list of {time, place, description}).
In a CSV, ``events`` is JSON text. ``items`` is JSON text too, or plain text as spreadsheets
export it: one item, or several separated by ``;`` or line breaks within the cell, each ending
in an optional quantity (``x2``, ``X 2``, ``×2``, ``*2``, ``＊2``; without one, 1), e.g.
``Tea set x2; Cups ×6`` or ``茶具 ×2``. A JSON line may give its ``items`` as such text as well.
UTF-8 (with or without BOM) or GB18030, as spreadsheets in China save it.

A row that cannot be read is reported with its line number and reason and skipped; the rest
are imported. Importing a file again updates its orders, never duplicates them. Rows are
written in batches, each in one transaction, with bulk statements: the order's status change
is recorded as an event (but no listener is told, see :mod:`.events`).
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from knowledge_base.orders.events import order_fields, status_time, tracking_events
from knowledge_base.orders.models import EventKind, Order, OrderEvent
from knowledge_base.orders.schema import OrderIn, first_error

REQUIRED = ("order_no", "phone", "status", "items", "amount", "currency", "created_at")
BATCH = 1000
SAMPLES = Path(__file__).with_name("sample_orders.jsonl")

Progress = Callable[[int], object]
"""Told how many more rows were read, like ``tqdm.update``."""


class ImportFileError(Exception):
    """The whole file cannot be imported (missing, unknown format, missing columns)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    skipped: list[RowProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.created + self.updated

    def summary(self, shown: int = 20) -> str:
        lines = [
            f"imported {self.imported} orders ({self.created} new, {self.updated} updated) "
            f"in {self.seconds:.1f} s; skipped {len(self.skipped)} rows"
        ]
        lines += [f"  line {p.line}: {p.reason}" for p in self.skipped[:shown]]
        if len(self.skipped) > shown:
            lines.append(f"  … and {len(self.skipped) - shown} more")
        return "\n".join(lines)


async def import_orders(
    path: str | Path,
    *,
    progress: Progress | None = None,
    region: str = "CN",
    now: datetime | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import ``path``; phone numbers without a country code are numbers of ``region``."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = ImportReport()
    batch: dict[str, OrderIn] = {}
    read = 0
    for line, row in _rows(Path(path)):
        read += 1
        order = _parse(line, row, region, report)
        if order is not None:
            batch[order.order_no] = order  # the same order twice in a batch: the later row wins
        if len(batch) >= batch_size:
            await _write(batch, now, report)
            batch.clear()
            if progress:
                progress(read)
            read = 0
    if batch:
        await _write(batch, now, report)
    if progress and read:
        progress(read)
    report.seconds = time.perf_counter() - started
    return report


async def load_samples(*, now: datetime | None = None) -> ImportReport:
    """Import the sample orders of the sandbox customers +8613800000001 and +8613800000002.

    Their times are moved by whole days so that the latest lies just before ``now``: the parcel
    in transit left the warehouse yesterday, not last year.
    """
    now = now or datetime.now(UTC)
    orders = [OrderIn.model_validate_json(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    latest = max(
        t for o in orders for t in (o.created_at, o.shipped_at, o.delivered_at, *(e.time for e in o.events)) if t
    )
    days = timedelta(days=(now - latest).days)
    report = ImportReport()
    await _write({o.order_no: _moved(o, days) for o in orders}, now, report)
    return report


def _moved(order: OrderIn, by: timedelta) -> OrderIn:
    names = ("created_at", "paid_at", "shipped_at", "delivered_at", "expected_delivery")
    times = {name: getattr(order, name) + by for name in names if getattr(order, name) is not None}
    events = [e.model_copy(update={"time": e.time + by}) for e in order.events]
    return order.model_copy(update=times | {"events": events})


async def cli_import(path: str | Path, *, region: str = "CN") -> int:
    """``kefu orders import FILE`` with the database open: a progress bar, then the report.

    Exit code 0 when every row was imported, 1 when some were skipped, 2 when the file was not.
    """
    from tqdm import tqdm

    try:
        total = _count_rows(Path(path))
        with tqdm(total=total, unit=" rows", file=sys.stderr, desc="orders") as bar:
            report = await import_orders(path, progress=bar.update, region=region)
    except ImportFileError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.skipped else 0


def _parse(line: int, row: dict[str, Any] | str, region: str, report: ImportReport) -> OrderIn | None:
    if isinstance(row, str):  # a line that is not a JSON object: the reason is in the string
        report.skipped.append(RowProblem(line, row))
        return None
    try:
        return OrderIn.model_validate(row, context={"region": region})
    except ValidationError as exc:
        name, reason = first_error(exc)
        report.skipped.append(RowProblem(line, f"{name}: {reason}"))
        return None


async def _write(batch: dict[str, OrderIn], now: datetime, report: ImportReport) -> None:
    """One transaction: upsert the orders, record their status changes and new tracking events."""
    rows = [order_fields(data, now) for data in batch.values()]
    async with in_transaction():
        known = dict(await Order.filter(order_no__in=list(batch)).values_list("order_no", "status"))
        await Order.bulk_create(
            [Order(**row) for row in rows],
            on_conflict=["order_no"],
            update_fields=[column for column in rows[0] if column != "order_no"],
        )
        changed = [data for data in batch.values() if known.get(data.order_no) != data.status]
        tracked = [data for data in batch.values() if data.events]
        ids = dict(
            await Order.filter(order_no__in=[d.order_no for d in changed + tracked]).values_list("order_no", "id")
        )
        events = [
            OrderEvent(
                order_id=ids[data.order_no],
                kind=EventKind.STATUS,
                status=data.status,
                previous_status=known.get(data.order_no),
                happened_at=status_time(data, now),
                recorded_at=now,
            )
            for data in changed
        ]
        for data in tracked:
            events += tracking_events(ids[data.order_no], data, now)
        if events:
            await OrderEvent.bulk_create(events, ignore_conflicts=True)
    report.updated += len(known)
    report.created += len(batch) - len(known)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) for each row of a CSV or JSON-lines file; a str row says what is wrong."""
    if not path.is_file():
        raise ImportFileError(f"{path} does not exist")
    encoding = _encoding(path)
    with path.open(encoding=encoding, newline="") as file:
        if _is_json_lines(path, file):
            yield from _json_rows(file)
        else:
            yield from _csv_rows(path, file)


def _json_rows(file: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    if file.read(1024).lstrip().startswith("["):
        raise ImportFileError(f"{file.name} holds a JSON array: write one order per line (JSON lines) instead")
    file.seek(0)
    for number, text in enumerate(file, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON ({exc.msg})"
            continue
        yield number, row if isinstance(row, dict) else "not a JSON object"


def _csv_rows(path: Path, file: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(file)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportFileError(f"{path} lacks the column(s) {', '.join(missing)} (line 1 is the header)")
    reader.fieldnames = header
    start = reader.line_num + 1
    for row in reader:
        yield start, {k: v for k, v in row.items() if k is not None}  # None: cells beyond the header
        start = reader.line_num + 1


def _is_json_lines(path: Path, file: TextIO) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    if path.suffix.lower() == ".csv":
        return False
    head = file.read(1024)
    file.seek(0)
    if head.lstrip().startswith("{"):
        return True
    if "order_no" in head:
        return False
    raise ImportFileError(f"{path} is neither CSV (with a header line) nor JSON lines")


def _encoding(path: Path) -> str:
    """utf-8-sig when the first megabyte is UTF-8, else GB18030 (Excel's "CSV" in China)."""
    with path.open("rb") as file:
        head = file.read(1 << 20)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _count_rows(path: Path) -> int:
    """For the progress bar: lines, less a CSV's header (a close guess when cells span lines)."""
    if not path.is_file():
        raise ImportFileError(f"{path} does not exist")
    with path.open("rb") as file:
        lines = sum(1 for text in file if text.strip())
    header = path.suffix.lower() not in (".jsonl", ".ndjson", ".json")
    return max(lines - header, 0)
