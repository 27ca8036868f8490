"""Importing the shop's orders from CSV or JSON lines: bad rows are reported by line, the rest imported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders.events import on_status_change, status_listeners
from orders.importer import ImportFileError, cli_import, import_orders, load_samples
from orders.models import EventKind, Order, OrderEvent, OrderStatus
from orders.sources import LocalOrderSource

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HEADER = "order_no,phone,status,carrier,tracking_no,items,amount,currency,created_at,shipped_at,delivered_at\n"


def _csv(tmp_path: Path, *rows: str, name: str = "orders.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows), encoding=encoding)
    return path


def _row(order_no: str, phone: str = "13800000001", status: str = "shipped", amount: str = "88.00") -> str:
    items = '"[{""name"": ""西湖龙井 250g"", ""quantity"": 1, ""price"": ""88.00""}]"'
    return f"{order_no},{phone},{status},顺丰速运,SF{order_no},{items},{amount},CNY,2026-03-01 09:30:00+08:00,2026-03-02T10:00:00+08:00,\n"


async def test_good_rows_are_imported_and_bad_rows_reported_by_line(database: str, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        _row("SO1"),  # line 2
        _row("SO2", phone="12345"),  # line 3
        _row("SO3", status="lost"),  # line 4
        _row("SO4", amount="-1"),  # line 5
        'SO5,13800000002,paid,,,"[{""name"": 茶杯}]",10,CNY,2026-03-01,,\n',  # line 6: broken JSON
        _row("SO6", phone="+1 415 555 0100"),  # line 7
    )
    report = await import_orders(path, now=NOW)

    assert (report.created, report.updated) == (2, 0)
    assert [(p.line, p.reason.split(":")[0]) for p in report.skipped] == [
        (3, "phone"), (4, "status"), (5, "amount"), (6, "items"),
    ]
    order = await Order.get(order_no="SO1")
    assert order.phone == "+8613800000001"  # normalised to E.164, CN by default
    assert order.status is OrderStatus.SHIPPED and order.amount == Decimal("88.00")
    assert order.created_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert order.items == [{"name": "西湖龙井 250g", "quantity": 1, "price": "88.00"}]
    assert order.carrier == "顺丰速运" and order.delivered_at is None
    assert (await Order.get(order_no="SO6")).phone == "+14155550100"


async def test_importing_again_updates_and_never_duplicates(database: str, tmp_path: Path) -> None:
    await import_orders(_csv(tmp_path, _row("SO1"), _row("SO2")), now=NOW)
    report = await import_orders(_csv(tmp_path, _row("SO1", status="delivered"), _row("SO2"), _row("SO3")), now=NOW)

    assert (report.created, report.updated, report.skipped) == (1, 2, [])
    assert await Order.all().count() == 3
    assert (await Order.get(order_no="SO1")).status is OrderStatus.DELIVERED


async def test_a_status_change_on_import_is_recorded_but_no_listener_hears_it(database: str, tmp_path: Path) -> None:
    heard: list[object] = []

    async def listener(*args: object) -> None:
        heard.append(args)

    on_status_change(listener)
    try:
        await import_orders(_csv(tmp_path, _row("SO1")), now=NOW)
        await import_orders(_csv(tmp_path, _row("SO1")), now=NOW)  # unchanged: nothing new recorded
        await import_orders(_csv(tmp_path, _row("SO1", status="delivered")), now=NOW)
    finally:
        status_listeners.remove(listener)

    changes = await OrderEvent.filter(order__order_no="SO1", kind=EventKind.STATUS).order_by("id")
    assert [(e.previous_status, e.status) for e in changes] == [
        (None, OrderStatus.SHIPPED), (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
    ]
    assert heard == []  # a bulk import is history, not news: no surveys for last year's orders


async def test_json_lines_with_tracking_history(database: str, tmp_path: Path) -> None:
    order = {
        "order_no": "SO7", "phone": "+852 9123 4567", "status": "in_transit", "currency": "HKD", "amount": 268,
        "items": [{"name": "Ceramic teapot", "quantity": 1}], "created_at": "2026-03-01T08:00:00Z",
        "events": [
            {"time": "2026-03-02T08:00:00Z", "place": "Shenzhen", "description": "Picked up"},
            {"time": "2026-03-03T08:00:00Z", "place": "Hong Kong", "description": "Arrived at the hub"},
        ],
    }
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order) + "\n\n", encoding="utf-8")

    report = await import_orders(path, now=NOW)
    await import_orders(path, now=NOW)  # the same history again adds nothing

    assert report.created == 1 and report.skipped == []
    view = await LocalOrderSource().find("SO7")
    assert view is not None and view.phone == "+85291234567"
    assert [e.place for e in view.events] == ["Hong Kong", "Shenzhen"]
    assert await OrderEvent.filter(kind=EventKind.TRACKING).count() == 2


async def test_a_spreadsheet_saved_in_gb18030_with_slashed_dates(database: str, tmp_path: Path) -> None:
    row = '"SO8",13800000003,Shipped,中通快递,7891,"[{""name"": ""帆布托特包""}]",39,cny,2026/3/1 9:05,,\n'
    report = await import_orders(_csv(tmp_path, row, encoding="gb18030"), now=NOW)
    assert report.skipped == [] and report.created == 1
    order = await Order.get(order_no="SO8")
    assert order.items == [{"name": "帆布托特包", "quantity": 1}]
    assert order.created_at == datetime(2026, 3, 1, 9, 5, tzinfo=UTC) and order.currency == "CNY"


async def test_a_cell_spanning_lines_keeps_the_line_numbers_right(database: str, tmp_path: Path) -> None:
    multi = 'SO9,13800000001,paid,,,"[{""name"": ""茶杯""},\n{""name"": ""茶壶""}]",1,CNY,2026-03-01,,\n'  # lines 2-3
    report = await import_orders(_csv(tmp_path, multi, _row("SO10", phone="0")), now=NOW)
    assert [p.line for p in report.skipped] == [4]


def _plain(order_no: str, items: str) -> str:
    """A row as a shop's spreadsheet exports it: the items as plain text."""
    return f"{order_no},13800000001,paid,,,{items},88.00,CNY,2026-03-01 09:30:00+08:00,,\n"


async def _items(order_no: str) -> list[tuple[str, int]]:
    return [(i["name"], i["quantity"]) for i in (await Order.get(order_no=order_no)).items]


async def test_a_spreadsheet_export_with_plain_text_items_imports_every_row(database: str, tmp_path: Path) -> None:
    path = _csv(tmp_path, *(_plain(f"SO{n}", "Tea set x1") for n in range(3)))
    assert await cli_import(path) == 0
    assert [await _items(f"SO{n}") for n in range(3)] == [[("Tea set", 1)]] * 3


async def test_plain_text_items_are_separated_by_semicolons_or_lines_with_optional_quantities(
    database: str, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        _plain("SO1", "Tea set x2; Cups ×6"),
        _plain("SO2", '"Tea set X 2\nCups * 6\nTea towel"'),  # lines 3-5: one quoted cell
        _plain("SO3", "Teapot ＊3；Lid"),  # full-width, as a Chinese keyboard types them
        _plain("SO4", '"[{""name"": ""Tea set"", ""quantity"": 2, ""price"": ""44.00""}]"'),
    )
    report = await import_orders(path, now=NOW)

    assert report.skipped == [] and report.created == 4
    assert await _items("SO1") == [("Tea set", 2), ("Cups", 6)]
    assert await _items("SO2") == [("Tea set", 2), ("Cups", 6), ("Tea towel", 1)]
    assert await _items("SO3") == [("Teapot", 3), ("Lid", 1)]
    assert (await Order.get(order_no="SO4")).items == [{"name": "Tea set", "quantity": 2, "price": "44.00"}]


async def test_plain_text_items_in_a_gb18030_spreadsheet(database: str, tmp_path: Path) -> None:
    path = _csv(tmp_path, _plain("SO1", "茶具 ×2"), _plain("SO2", "茶杯x6；杯垫"), encoding="gb18030")
    assert (await import_orders(path, now=NOW)).created == 2
    assert await _items("SO1") == [("茶具", 2)]
    assert await _items("SO2") == [("茶杯", 6), ("杯垫", 1)]


async def test_a_name_ending_in_letters_and_digits_is_not_a_quantity(database: str, tmp_path: Path) -> None:
    await import_orders(_csv(tmp_path, _plain("SO1", "Phone Pro Max2"), _plain("SO2", "[Sale] Tea set x2")), now=NOW)
    assert await _items("SO1") == [("Phone Pro Max2", 1)]
    assert await _items("SO2") == [("[Sale] Tea set", 2)]


async def test_an_items_cell_naming_no_item_is_reported_by_line_and_the_rest_imported(
    database: str, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        _plain("SO1", "Tea set x1"),  # line 2
        _plain("SO2", ""),  # line 3
        _plain("SO3", " ; "),  # line 4
        _plain("SO4", "x2"),  # line 5
        _plain("SO5", "Cups x6"),  # line 6
    )
    report = await import_orders(path, now=NOW)

    assert report.created == 2
    assert [(p.line, p.reason) for p in report.skipped] == [
        (3, "items: Field required"),
        (4, 'items: names no item: write "Tea set x2; Cups ×6" or a JSON list'),
        (5, 'items: "x2" has a quantity but no name'),
    ]
    assert await _items("SO5") == [("Cups", 6)]


async def test_a_json_line_may_give_its_items_as_text(database: str, tmp_path: Path) -> None:
    order = {
        "order_no": "SO1", "phone": "13800000001", "status": "paid", "amount": 88, "currency": "CNY",
        "created_at": "2026-03-01T08:00:00Z", "items": "Tea set x2; Cups ×6",
    }
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(order, ensure_ascii=False) + "\n", encoding="utf-8")
    assert (await import_orders(path, now=NOW)).created == 1
    assert await _items("SO1") == [("Tea set", 2), ("Cups", 6)]


async def test_progress_is_told_every_row_like_a_tqdm_bar(database: str, tmp_path: Path) -> None:
    told: list[int] = []
    path = _csv(tmp_path, *(_row(f"SO{n}") for n in range(25)), _row("BAD", phone="1"))
    await import_orders(path, progress=told.append, batch_size=10, now=NOW)
    assert sum(told) == 26 and len(told) == 3


async def test_a_file_without_the_needed_columns_is_refused_whole(database: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_no,phone\nSO1,13800000001\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="lacks the column.*status, items, amount, currency, created_at"):
        await import_orders(path)
    with pytest.raises(ImportFileError, match="does not exist"):
        await import_orders(tmp_path / "missing.csv")
    array = tmp_path / "orders.json"
    array.write_text('[{"order_no": "SO1"}]', encoding="utf-8")
    with pytest.raises(ImportFileError, match="JSON array: write one order per line"):
        await import_orders(array)
    for broken, reason in [("[1, 2]", "is not a JSON object"), ("{broken", "is not JSON \\(Expecting property name")]:
        lines = tmp_path / "orders.jsonl"
        lines.write_text('{"order_no": "SO1"}\n\n' + broken + "\n", encoding="utf-8")
        with pytest.raises(ImportFileError, match=f"orders.jsonl was not imported: line 3 {reason}"):
            await import_orders(lines)
    assert await Order.all().count() == 0


async def test_the_command_line_import_prints_the_report(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli_import(_csv(tmp_path, _row("SO1"))) == 0
    assert await cli_import(_csv(tmp_path, _row("SO1"), _row("SO2", phone="1"))) == 1
    out = capsys.readouterr().out
    assert "imported 1 orders (0 new, 1 updated)" in out and "line 3: phone:" in out
    assert await cli_import(tmp_path / "missing.csv") == 2


async def test_the_sandbox_customers_have_their_sample_orders(database: str) -> None:
    report = await load_samples(now=NOW)
    assert report.skipped == [] and report.created >= 3
    source = LocalOrderSource()

    first = await source.recent_for_phone("+8613800000001")
    assert sorted(o.status for o in first) == [OrderStatus.DELIVERED, OrderStatus.IN_TRANSIT]
    in_transit = next(o for o in first if o.status is OrderStatus.IN_TRANSIT)
    assert len(in_transit.events) == 3 and in_transit.events[0].at < NOW  # moved to just before now
    assert [o.status for o in await source.recent_for_phone("+8613800000002")] == [OrderStatus.SHIPPED]
    assert any(not i.name.isascii() for o in first for i in o.items)  # Chinese and English items
    assert any(i.name.isascii() for o in first for i in o.items)
