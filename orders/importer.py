"""Import the shop's orders from a CSV or JSON-lines file (``kefu orders import FILE``).

Columns (CSV header, or keys of each JSON object): order_no, phone, status, items, amount,
currency, created_at, and optionally carrier, tracking_no, paid_at, shipped_at, delivered_at,
expected_delivery and events (the tracking history: a list of {time, place, description}, each
with an optional exception: lost, damaged or delivery_failed).
In a CSV, ``events`` is JSON text. ``items`` is JSON text too, or plain text as spreadsheets
export it: one item, or several separated by ``;`` or line breaks within the cell, each ending
in an optional quantity (``x2``, ``X 2``, ``×2``, ``*2``, ``＊2``; without one, 1), e.g.
``Tea set x2; Cups ×6`` or ``茶具 ×2``. A JSON line may give its ``items`` as such text as well.
UTF-8 (with or without BOM) or GB18030, as spreadsheets in China save it; the encoding is told
by the first line holding a character beyond ASCII, so English rows first and Chinese item names
later still read right, and a file saved in two encodings fails where the second one starts.

A file is read to its end before anything is written, and a line that cannot be read stops the
import there with nothing written (:class:`MalformedLine`, the CLI's exit 2): bytes not in the
file's encoding (a file saved in two encodings), a CSV cell over 128 KiB (csv's limit: usually a
quote left open, which takes in the lines after it), a line over 1 MiB, a JSON line that is not
JSON, is nested too deeply or is not an object. Reading costs little beside writing, and no
partial import is left to sort out. A row that reads but whose values are wrong (a bad phone
number, an unknown status) is reported with its line and reason and skipped; the other rows are
imported (exit 1). Importing a file again updates its orders, never duplicates them, so should
the database fail part-way (or the file change while it is imported), importing it again
completes it. Rows are written in batches, each in one transaction, with bulk statements (a
running bot on SQLite waits for one batch at most, not for the whole file): the order's status
change is recorded as an event (but no listener is told, see :mod:`.events`).
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

from orders.events import order_fields, status_time, tracking_events
from orders.models import EventKind, Order, OrderEvent
from orders.schema import OrderIn, first_error

REQUIRED = ("order_no", "phone", "status", "items", "amount", "currency", "created_at")
BATCH = 1000
LINE_LIMIT = 1 << 20
"""Characters in one line: a real order takes a few hundred; a line that never ends (a binary
file, a JSON line of gigabytes) is refused, not read into memory."""
SAMPLES = Path(__file__).with_name("sample_orders.jsonl")

Progress = Callable[[int], object]
"""Told how many more rows were read, like ``tqdm.update``."""


class ImportFileError(Exception):
    """The file cannot be imported (missing, unreadable, unknown format, missing columns, a
    malformed line); the message is one sentence naming the file."""


class MalformedLine(ImportFileError):
    """A line that cannot be read as a row at all: found before anything was written."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path} was not imported: line {line:,} {reason}; nothing was written")


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
    total: Callable[[int], object] | None = None,
    region: str = "CN",
    now: datetime | None = None,
    batch_size: int = BATCH,
) -> ImportReport:
    """Import ``path``; phone numbers without a country code are numbers of ``region``.

    Every line is read first (raising :class:`ImportFileError` with nothing written); ``total``
    is then told how many rows the file holds, ``progress`` how many were written.
    """
    started = time.perf_counter()
    path = Path(path)
    rows = count_rows(path)
    if total:
        total(rows)
    now = now or datetime.now(UTC)
    report = ImportReport()
    batch: dict[str, OrderIn] = {}
    read = 0
    try:
        for line, row in _rows(path):
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
    except MalformedLine as exc:  # it read well a moment ago: the file was changed meanwhile
        raise ImportFileError(
            f"{path} changed while it was imported (line {exc.line:,} {exc.reason}): "
            f"{report.imported} orders were written; "
            "importing the file again is safe (it updates, never duplicates)"
        ) from None
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
    """``kefu orders import FILE`` with the database open: a progress bar once the file has
    been read through, then the report.

    Exit code 0 when every row was imported, 1 when some rows were skipped (each reported by
    line, the others imported), 2 when the file was not imported (one sentence naming the file
    and the line; nothing written).
    """
    from tqdm import tqdm

    bars: list[tqdm] = []
    try:
        report = await import_orders(
            path, region=region, progress=lambda rows: bars[0].update(rows),
            total=lambda rows: bars.append(tqdm(total=rows, unit=" rows", file=sys.stderr, desc="orders")),
        )
    except ImportFileError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    print(report.summary())
    return 1 if report.skipped else 0


def _parse(line: int, row: dict[str, Any], region: str, report: ImportReport) -> OrderIn | None:
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


def count_rows(path: Path) -> int:
    """Read every row of ``path`` (nothing kept): raises :class:`ImportFileError` at the first
    line that cannot be read."""
    try:
        return sum(1 for _ in _rows(path))
    except OSError as exc:
        raise ImportFileError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each row of a CSV or JSON-lines file."""
    if not path.is_file():
        raise ImportFileError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    encoding = _encoding(path)
    with path.open(encoding=encoding, newline="") as file:
        try:
            if _is_json_lines(path, file):
                yield from _json_rows(path, file)
            else:
                yield from _csv_rows(path, file)
        except UnicodeDecodeError:
            reason = (
                "is not UTF-8 as the lines before it are: save the whole file in one encoding (UTF-8 is best)"
                if encoding == "utf-8-sig" else "is neither UTF-8 nor GB18030: save the file as UTF-8"
            )
            raise MalformedLine(path, _undecodable_line(path, encoding), reason) from None


def _lines(path: Path, file: TextIO) -> Iterator[str]:
    """The file's lines, each read only up to :data:`LINE_LIMIT` characters."""
    number = 0
    while text := file.readline(LINE_LIMIT + 1):
        number += 1
        if len(text.rstrip("\r\n")) > LINE_LIMIT:
            raise MalformedLine(path, number, f"is longer than {LINE_LIMIT:,} characters")
        yield text


def _json_rows(path: Path, file: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    if file.read(1024).lstrip().startswith("["):
        raise ImportFileError(f"{path} holds a JSON array: write one order per line (JSON lines) instead")
    file.seek(0)
    for number, text in enumerate(_lines(path, file), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
            what = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number of thousands of digits"
            raise MalformedLine(path, number, f"is not JSON ({what})") from None
        except RecursionError:
            raise MalformedLine(path, number, "is JSON nested too deeply") from None
        if not isinstance(row, dict):
            raise MalformedLine(path, number, "is not a JSON object: write one order per line as {...}")
        yield number, row


def _csv_rows(path: Path, file: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(_lines(path, file))
    start = 1
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise ImportFileError(f"{path} lacks the column(s) {', '.join(missing)} (line 1 is the header)")
        reader.fieldnames = header
        start = reader.line_num + 1
        for row in reader:
            yield start, {k: v for k, v in row.items() if k is not None}  # None: cells beyond the header
            start = reader.line_num + 1
    except csv.Error as exc:
        if "field limit" in str(exc):
            reason = f'has a cell longer than {csv.field_size_limit():,} characters (is a quote " left open?)'
        else:
            reason = f"cannot be read as CSV ({exc})"
        raise MalformedLine(path, start, reason) from None


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
    """utf-8-sig when the first line holding more than ASCII is UTF-8, else GB18030 (Excel's
    "CSV" in China). Not more than that line: one line in another encoding further on must fail
    there (:func:`_rows`), not turn the whole file into mojibake."""
    with path.open("rb") as file:
        while raw := file.readline(LINE_LIMIT):
            if raw.isascii():
                continue
            try:
                codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
            except UnicodeDecodeError:
                return "gb18030"
            break
    return "utf-8-sig"


def _undecodable_line(path: Path, encoding: str) -> int:
    """The number of the first line that is not in ``encoding`` (the text reader decodes ahead)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as file:
        while raw := file.readline(LINE_LIMIT):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return line
            line += raw.endswith(b"\n")
    return line  # the last line ends in the middle of a character
