"""Hostile and careless input at the orders' two doors.

``kefu orders import``: a file with a line that cannot be read (an encoding change after the
first megabyte, a CSV cell over 128 KiB, a deeply nested or broken JSON line) is refused with
one sentence naming the file and the line, exit 2, and nothing is written.

The shop's order API (``[orders] provider = "http"``): a redirect to another host is not
followed, so that host never sees the secret header and its answer is never shown as the order;
an answer is read no further than ``max_response_bytes``, so a 150 MB answer leaves kefu's memory
where it was; every malformed answer counts for the circuit breaker, and the customer gets the
same apology as for any failure.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.core.config import OrdersSettings
from orders.http_source import HttpOrderSource
from orders.importer import ImportFileError, cli_import, count_rows
from orders.models import Order
from orders.schema import OrderIn
from orders.sources import OrderSourceUnavailable
from tests.harness import kefu_env

HEADER = "order_no,phone,status,items,amount,currency,created_at\n"
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _csv_row(n: int, item: str = "西湖龙井 250g x1") -> str:
    return f"SO{n},13800000001,paid,{item},88.00,CNY,2026-03-01 09:30:00+08:00\n"


def _json_row(n: int) -> str:
    order = {
        "order_no": f"SO{n}", "phone": "13800000001", "status": "paid", "items": "青瓷茶杯 x2", "amount": 90,
        "currency": "CNY", "created_at": "2026-03-01T09:30:00+08:00",
    }
    return json.dumps(order, ensure_ascii=False) + "\n"


async def _import(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``kefu orders import`` of ``path``: its exit code and what it said on stderr."""
    code = await cli_import(path)
    return code, capsys.readouterr().err


def _one_sentence(said: str) -> str:
    lines = said.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kefu: ") and "Traceback" not in said, said
    return lines[0]


# --- kefu orders import ------------------------------------------------------------------------


async def test_a_file_that_changes_encoding_after_the_first_megabyte_is_refused_naming_the_line(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    utf8 = (HEADER + "".join(_csv_row(n) for n in range(15_000))).encode()
    assert len(utf8) > 1 << 20
    path.write_bytes(utf8 + _csv_row(15_000, item="帆布托特包 x1").encode("gb18030") + _csv_row(15_001).encode())

    code, said = await _import(path, capsys)

    assert code == 2
    assert _one_sentence(said) == (
        f"kefu: {path} was not imported: line 15,002 is not UTF-8 as the lines before it are: "
        "save the whole file in one encoding (UTF-8 is best); nothing was written"
    )
    assert await Order.all().count() == 0


async def test_english_rows_first_and_chinese_names_later_in_gb18030_are_read_as_gb18030(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    note = "n" * 100_000  # a column kefu does not know: ignored, but it makes the first MB pure ASCII
    english = "".join(_csv_row(n, item="Tea set x1").replace("\n", f",{note}\n") for n in range(12))
    chinese = _csv_row(12, item="帆布托特包 x1").replace("\n", ",\n")
    path.write_bytes((HEADER.replace("\n", ",note\n") + english + chinese).encode("gb18030"))

    assert await cli_import(path) == 0
    assert [i["name"] for i in (await Order.get(order_no="SO12")).items] == ["帆布托特包"]
    assert await Order.all().count() == 13


async def test_a_cell_over_128_kib_is_refused_naming_its_line(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _csv_row(1) + _csv_row(2, item="x" * (128 * 1024 + 1)) + _csv_row(3), encoding="utf-8")

    code, said = await _import(path, capsys)

    assert code == 2
    assert f"{path} was not imported: line 3 has a cell longer than 131,072 characters" in _one_sentence(said)
    assert await Order.all().count() == 0


async def test_a_quote_left_open_is_refused_naming_the_line_it_opens_on(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    rows = [_csv_row(n) for n in range(3_000)]  # more than 128 KiB after the quote
    rows[5] = _csv_row(5, item='"Tea set x1')
    path.write_text(HEADER + "".join(rows), encoding="utf-8")

    code, said = await _import(path, capsys)

    assert code == 2 and 'line 7 has a cell longer than 131,072 characters (is a quote " left open?)' in said
    assert await Order.all().count() == 0


async def test_a_deeply_nested_json_line_is_refused_naming_its_line(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(_json_row(1) + '{"items": ' + "[" * 100_000 + "\n" + _json_row(2), encoding="utf-8")

    code, said = await _import(path, capsys)

    assert code == 2
    assert _one_sentence(said) == f"kefu: {path} was not imported: line 2 is JSON nested too deeply; nothing was written"
    assert await Order.all().count() == 0


async def test_a_line_that_never_ends_is_refused_without_reading_it_whole(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(_json_row(1) + " " * (3 << 20), encoding="utf-8")

    code, said = await _import(path, capsys)

    assert code == 2 and "line 2 is longer than 1,048,576 characters" in _one_sentence(said)


def test_a_file_saved_as_utf_16_or_with_a_huge_number_is_refused_with_a_sentence_that_helps(tmp_path: Path) -> None:
    utf16 = tmp_path / "orders.csv"
    utf16.write_text(HEADER + _csv_row(1), encoding="utf-16")  # Excel's "Unicode text"
    with pytest.raises(ImportFileError, match="line 1 is neither UTF-8 nor GB18030: save the file as UTF-8"):
        count_rows(utf16)
    digits = tmp_path / "orders.jsonl"
    digits.write_text(_json_row(1) + '{"amount": ' + "9" * 5_000 + "}\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"line 2 is not JSON \(a number of thousands of digits\)"):
        count_rows(digits)


async def test_a_nested_items_cell_is_a_bad_value_reported_by_line_and_the_other_rows_imported(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + _csv_row(1) + _csv_row(2, item="[" * 100_000) + _csv_row(3), encoding="utf-8")

    assert await cli_import(path) == 1
    assert "line 3: items: must be a JSON list" in capsys.readouterr().out
    assert await Order.all().count() == 2


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _no_json_object(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return True


_LINE = st.text().filter(lambda t: "\n" not in t and "\r" not in t and t.strip() != "")
CORRUPT_LINES = st.one_of(
    _LINE.filter(_no_json_object).map(str.encode),
    st.binary(min_size=1).filter(lambda b: b"\n" not in b and b"\r" not in b and _invalid_utf8(b)),
    st.integers(1_000, 200_000).map(lambda depth: b'{"items": ' + b"[" * depth),
    st.sampled_from(["帆布托特包", "茶具 ×2", "退款"]).map(lambda name: f'{{"items": "{name}"}}'.encode("gb18030")),
)


@FAST
@given(before=st.integers(1, 30), after=st.integers(0, 5), corrupt=CORRUPT_LINES)
async def test_a_corrupt_line_anywhere_stops_the_import_before_anything_is_written(
    database: str, capsys: pytest.CaptureFixture[str], before: int, after: int, corrupt: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.jsonl"
        good = [_json_row(n).encode() for n in range(before + after)]
        path.write_bytes(b"".join(good[:before]) + corrupt + b"\n" + b"".join(good[before:]))

        code, said = await _import(path, capsys)

    assert code == 2
    assert _one_sentence(said).startswith(f"kefu: {path} was not imported: line {before + 1:,} ")
    assert said.rstrip().endswith("; nothing was written")
    assert await Order.all().count() == 0


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".csv", ".jsonl", ".txt"]))
def test_any_bytes_are_read_or_refused_with_a_sentence(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"orders{suffix}"
        path.write_bytes(data)
        try:
            assert count_rows(path) >= 0
        except ImportFileError as refused:
            assert str(refused).startswith(str(path)) and "\n" not in str(refused)


@pytest.mark.slow
async def test_the_kefu_command_refuses_a_broken_file_with_one_sentence_and_exit_2(database: str, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text(_json_row(1) + _json_row(2) + "{not json\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "orders", "import", str(path), cwd=tmp_path, env=kefu_env(KEFU_DATABASE__URL=database),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)

    assert process.returncode == 2, err.decode()
    said = [line for line in err.decode().splitlines() if not line.startswith(("INFO", "DEBUG"))]
    assert said == [
        f"kefu: {path} was not imported: line 3 is not JSON (Expecting property name enclosed in double quotes); "
        "nothing was written"
    ]
    assert await Order.all().count() == 0


# --- the shop's order API ----------------------------------------------------------------------

ORDER = {
    "order_no": "SO1", "phone": "+8613800000001", "status": "in_transit", "items": [{"name": "Tea set"}],
    "amount": 88, "currency": "CNY", "created_at": "2026-03-08T10:00:00+08:00",
}
SECRET = "shop-secret-never-elsewhere"
MB = 1_000_000


def _json_of_size(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A JSON list of ``size`` bytes, made as it is sent: the test never holds it."""
    piece = b"0," * (chunk // 2)
    yield b"["
    for _ in range((size - 2) // len(piece)):
        yield piece
    yield b"0]"


class Server:
    """A real HTTP server on 127.0.0.1 answering every path as ``mood`` says; what it was asked
    and how much it sent are counted."""

    def __init__(self) -> None:
        self.mood = "order"
        self.body = b""
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent = 0
        self.url = ""
        self.redirect_to = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        if self.mood == "order":
            return web.json_response({"order": ORDER} if "phone" not in request.query else [ORDER])
        if self.mood == "redirect":
            raise web.HTTPFound(self.redirect_to + request.path_qs)
        if self.mood == "moved here":
            if request.path.startswith("/old/"):
                raise web.HTTPMovedPermanently(request.path_qs.removeprefix("/old"))
            return web.json_response(ORDER)
        if self.mood == "body":
            return web.Response(body=self.body, content_type="application/json")
        if self.mood == "gzip bomb":
            body = gzip.compress(b" " * (20 * MB))  # 20 MB of blanks in 20 KB
            return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        return await self._huge(request, announced=self.mood == "huge, announced")

    async def _huge(self, request: web.Request, announced: bool) -> web.StreamResponse:
        size = 150 * MB
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if announced:
            response.content_length = size
        await response.prepare(request)
        try:
            for chunk in _json_of_size(size):
                await response.write(chunk)
                self.sent += len(chunk)
        except ConnectionError:  # kefu hung up: the rest is never sent
            pass
        return response


async def _serve(stack: list[web.AppRunner]) -> Server:
    server = Server()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    stack.append(runner)
    return server


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Server, Server]]:
    """The shop's API, and another host (another port: another origin) it may point kefu to."""
    runners: list[web.AppRunner] = []
    shop, elsewhere = await _serve(runners), await _serve(runners)
    shop.redirect_to = elsewhere.url
    yield shop, elsewhere
    for runner in runners:
        await runner.cleanup()


def _settings(base: str, header: str = "X-Api-Key", **overrides: Any) -> OrdersSettings:
    return OrdersSettings(
        provider="http", url=base + "/api/orders/{order_no}", phone_url=base + "/api/orders?phone={phone}",
        auth_header_name=header, auth_header=SecretStr(SECRET), timeout=5.0, retries=0, **overrides,
    )


@pytest.mark.parametrize("header", ["X-Api-Key", "Authorization"])
async def test_a_redirect_to_another_host_is_not_followed_and_that_host_never_sees_the_secret(
    servers: tuple[Server, Server], header: str, caplog: pytest.LogCaptureFixture
) -> None:
    shop, elsewhere = servers
    shop.mood = "redirect"
    async with HttpOrderSource(_settings(shop.url, header, breaker_failures=2)) as source:
        with pytest.raises(OrderSourceUnavailable):
            await source.find("SO1")
        with pytest.raises(OrderSourceUnavailable):
            await source.recent_for_phone("+8613800000001")
        assert source.breaker.open  # two failures in a row, as the settings say

    assert elsewhere.requests == []  # neither the secret nor the customer's phone went there
    assert [headers[header] for _, headers in shop.requests] == [SECRET, SECRET]
    assert f"redirects to {elsewhere.url}, another origin: not followed" in caplog.text
    assert SECRET not in caplog.text and "8613800000001" not in caplog.text


async def test_a_redirect_within_the_shops_api_is_followed_with_the_secret(servers: tuple[Server, Server]) -> None:
    shop, _ = servers
    shop.mood = "moved here"
    settings_ = _settings(shop.url)
    async with HttpOrderSource(settings_.model_copy(update={"url": shop.url + "/old/api/orders/{order_no}"})) as source:
        order = await source.find("SO1")

    assert order is not None and order.order_no == "SO1"
    assert [(path, headers["X-Api-Key"]) for path, headers in shop.requests] == [
        ("/old/api/orders/SO1", SECRET), ("/api/orders/SO1", SECRET)
    ]


async def test_a_150_mb_answer_is_refused_without_kefus_memory_growing_past_the_cap(
    servers: tuple[Server, Server],
) -> None:
    shop, _ = servers
    shop.mood = "huge"  # streamed, no Content-Length: only counting can tell
    async with HttpOrderSource(_settings(shop.url, max_response_bytes=MB)) as source:
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            with pytest.raises(OrderSourceUnavailable, match="longer than orders.max_response_bytes"):
                await source.find("SO1")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    # The cap, what reading a chunk and parsing took, and the server's own 64 KiB pieces.
    assert peak - before < 3 * MB
    assert shop.sent < 30 * MB  # the connection was dropped: the kernel's buffers, not 150 MB


async def test_an_answer_announcing_more_than_the_cap_is_not_read_at_all(servers: tuple[Server, Server]) -> None:
    shop, _ = servers
    shop.mood = "huge, announced"
    async with HttpOrderSource(_settings(shop.url)) as source:
        with pytest.raises(OrderSourceUnavailable, match="longer than orders.max_response_bytes"):
            await source.find("SO1")
    assert shop.sent < 30 * MB


async def test_a_compressed_answer_is_measured_as_it_unpacks(servers: tuple[Server, Server]) -> None:
    shop, _ = servers
    shop.mood = "gzip bomb"
    async with HttpOrderSource(_settings(shop.url)) as source:
        with pytest.raises(OrderSourceUnavailable, match="longer than orders.max_response_bytes"):
            await source.find("SO1")


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4))


MALFORMED_ANSWERS = st.one_of(
    st.binary(max_size=200),
    st.integers(1_000, 100_000).map(lambda depth: b"[" * depth + b"]" * depth),  # RecursionError in json
    st.integers(1_000, 100_000).map(lambda depth: b'{"order": ' + b"[" * depth),
    _json_values().map(lambda value: json.dumps(value).encode()),
    _json_values().map(lambda value: json.dumps({"order": ORDER | {"items": value}}).encode()),
    st.sampled_from(["amount", "phone", "created_at", "status"]).map(lambda key: json.dumps(ORDER | {key: [[]]}).encode()),
)


@FAST
@given(body=MALFORMED_ANSWERS)
async def test_every_malformed_answer_is_a_failure_the_breaker_counts(servers: tuple[Server, Server], body: bytes) -> None:
    shop, _ = servers
    shop.mood, shop.body = "body", body
    async with HttpOrderSource(_settings(shop.url, breaker_failures=1, cache_seconds=0)) as source:
        try:
            await source.find("SO1")
        except OrderSourceUnavailable:
            assert source.breaker.open
        else:  # hypothesis sometimes builds an order that reads (another number, a name "0" …)
            answer = json.loads(body)
            OrderIn.model_validate(answer.get("order", answer), context={"region": "CN"})
            assert not source.breaker.open


async def test_a_list_of_orders_that_is_no_list_is_a_failure_too(servers: tuple[Server, Server]) -> None:
    shop, _ = servers
    shop.mood = "body"
    async with HttpOrderSource(_settings(shop.url, breaker_failures=3)) as source:
        for body in [b'{"orders": {"SO1": {}}}', b"[" * 50_000, b'"orders"']:
            shop.body = body
            with pytest.raises(OrderSourceUnavailable):
                await source.recent_for_phone("+8613800000001")
        assert source.breaker.open


async def test_the_customer_gets_the_same_apology_for_a_redirect_a_nested_or_a_huge_answer(
    start_bot, servers: tuple[Server, Server]
) -> None:
    shop, elsewhere = servers
    async with start_bot(orders=_settings(shop.url, cache_seconds=0)) as bot:
        customer = bot.add_customer(first_name="Emma")
        shop.mood = "redirect"
        await customer.share_contact("+8613800000001")
        for mood, body in [("redirect", b""), ("body", b"[" * 100_000), ("huge", b"")]:
            shop.mood, shop.body = mood, body
            sorry = await customer.say("where is my order")
            assert sorry.text == "Sorry, I can't look up orders right now. Please try again in a few minutes, or talk to a person."
            assert sorry.buttons == ["💬 Talk to a person"]

    assert elsewhere.requests == []  # its order (the same number, for the same phone) was never read
