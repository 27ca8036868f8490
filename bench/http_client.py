"""What one Bot API request costs the bot: ``python bench/http_client.py [--requests N]``.

python-telegram-bot sends through httpx by default; kefu sends through aiohttp
(``bot/telegram/request.py``). Both are driven here by the same python-telegram-bot ``Bot`` calling
``sendMessage`` against a minimal Bot API stand-in run as a separate process (this file with
``--serve PORT``), so the CPU counted is the client's alone: 32 requests in flight at a time,
after a warm-up. Printed: CPU per request and requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH"
IN_FLIGHT = 32


def serve(port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        form = await request.post()
        message = {"message_id": 1, "date": int(time.time()), "chat": {"id": int(form.get("chat_id", 1)), "type": "private"},
                   "text": form.get("text", "")}
        return web.json_response({"ok": True, "result": message})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


async def measure(name: str, request: object, port: int, count: int) -> str:
    from telegram import Bot

    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)  # type: ignore[arg-type]
    await request.initialize()  # type: ignore[attr-defined]
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        async with slots:
            await bot.send_message(1000 + n, "where is my order SO1234567, please?")

    await asyncio.gather(*(one(n) for n in range(300)))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await request.shutdown()  # type: ignore[attr-defined]
    return f"| {name} | {1e6 * cpu / count:,.0f} µs | {count / wall:,.0f} |"


async def main(count: int, port: int) -> None:
    from telegram.request import HTTPXRequest

    from bot.telegram.request import AiohttpRequest

    print(f"{count:,} sendMessage calls, {IN_FLIGHT} in flight\n")
    print("| client | CPU per request | requests/s |\n| --- | --- | --- |")
    for name, request in (
        ("httpx, python-telegram-bot's default pool (256)", HTTPXRequest(connection_pool_size=256)),
        ("httpx, 8 connections", HTTPXRequest(connection_pool_size=8, pool_timeout=60)),
        ("aiohttp (kefu), 8 connections", AiohttpRequest(8, pool_timeout=60)),
    ):
        print(await measure(name, request, port, count), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        raise SystemExit(0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(free)])
    try:
        for _ in range(100):  # until it listens
            with socket.socket() as knock:
                if knock.connect_ex(("127.0.0.1", free)) == 0:
                    break
            time.sleep(0.05)
        asyncio.run(main(args.requests, free))
    finally:
        server.terminate()
        server.wait()
