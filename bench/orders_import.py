"""Order import benchmark: ``python bench/orders_import.py [--rows 100000] [--database URL]``.

Writes a CSV of synthetic orders (a quarter with Chinese item names, one row in a thousand bad)
into a temporary folder, imports it into a fresh migrated database (a temporary SQLite file
unless ``--database`` names another), imports it a second time (every order an update), and
prints both times.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot import privacy  # noqa: E402
from bot.core import crypto, db  # noqa: E402
from orders.importer import import_orders  # noqa: E402
from orders.models import OrderStatus  # noqa: E402

COLUMNS = [
    "order_no", "phone", "status", "carrier", "tracking_no", "items", "amount", "currency",
    "created_at", "shipped_at", "delivered_at",
]
ITEMS = [("西湖龙井 250g", "88.00"), ("青瓷茶杯", "45.00"), ("Cotton T-shirt (M)", "59.00"), ("Wireless earbuds", "299.00")]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    statuses = list(OrderStatus)
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(COLUMNS)
        for n in range(rows):
            created = start + timedelta(minutes=rng.randrange(500_000))
            status = rng.choice(statuses)
            shipped = created + timedelta(days=1) if status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) else None
            delivered = created + timedelta(days=3) if status is OrderStatus.DELIVERED else None
            items = [{"name": name, "quantity": rng.randint(1, 3), "price": price} for name, price in rng.sample(ITEMS, 2)]
            amount = sum(Decimal(str(i["price"])) * int(str(i["quantity"])) for i in items)
            phone = f"+86138{rng.randrange(10**8):08d}" if n % 1000 else "not a phone"
            out.writerow([
                f"BENCH{n:08d}", phone, status.value, "顺丰速运", f"SF{n:013d}", json.dumps(items, ensure_ascii=False),
                f"{amount:.2f}", "CNY", created.isoformat(), shipped and shipped.isoformat(), delivered and delivered.isoformat(),
            ])


async def run(rows: int, url: str | None) -> None:
    crypto.install([crypto.new_key()])  # phones are stored encrypted, as `kefu orders import` does
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        started = time.perf_counter()
        write_csv(path, rows)
        print(f"wrote {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
        async with db.database(url or f"sqlite://{Path(folder) / 'kefu.db'}", ready=privacy.prepare):
            for label in ("first import (all new)", "second import (all updates)"):
                report = await import_orders(path)
                print(f"{label}: {report.summary(shown=3)}")
                print(f"  {rows / report.seconds:,.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", metavar="URL", help="default: a temporary SQLite file")
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.database))


if __name__ == "__main__":
    main()
