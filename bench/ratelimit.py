"""Flood-limit benchmark: ``python bench/ratelimit.py [--processes 2,3] [--customers 300] [--complaints 30]``.

Telegram's flood limits are per bot: about 30 messages a second overall and 20 a minute into one
group, however many processes send. Here two, then three, real ``kefu run`` processes (webhook
mode, behind a small round-robin load balancer, as in production and tests/test_fleet.py) share
one PostgreSQL database and kefu's default limits (30/s, 20/min). Each round gets a Bot API
emulator and a database of its own, and a burst at one instant:

* ``--customers`` (300) customers each ask an FAQ question ("运费怎么算", "how long does shipping
  take"…): one answer each;
* ``--complaints`` (30) more each complain: an answer with the ticket's number, and in the agent
  group (a forum) the ticket's topic and its card.

What Telegram would count is counted by the emulator as the requests arrive (every request with
a chat_id, not get*, refused ones included): the most in any sliding second, and the most into
the agent group in any sliding 60 seconds. Also: messages delivered, when the customers had
their answers, and the time to drain (the burst to the last request the emulator took, once
nothing more came for ``--quiet`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.common import (  # noqa: E402
    POSTGRES_ADMIN_URL,
    PRIVACY_KEY,
    BotProcess,
    LoadBalancer,
    base_env,
    free_port,
    throwaway_database,
)
from bench.load import COMPLAINT, FAQ  # noqa: E402

TOKEN = "123456789:BENCH-ratelimit-token-not-a-secret"
WEBHOOK_SECRET = "BENCH-ratelimit-webhook-secret"
QUESTIONS = {lang: [q for q in questions if q not in ("你好", "hello")] for lang, questions in FAQ.items()}


class Watch:
    """The bot's requests as the emulator takes them: answers per customer, posts and topics in
    the agent group, and when the last of anything happened."""

    def __init__(self, emulator: Any, group_id: int, started: float) -> None:
        self.group_id = group_id
        self.started = started
        self.answered_at: dict[int, list[float]] = {}
        self.group_posts = 0
        self.topics = 0
        self.last = started
        emulator.subscribe(self._seen)

    def _seen(self, kind: str, payload: dict[str, Any]) -> None:
        moment = time.monotonic()
        self.last = moment
        if kind == "topic" and payload.get("action") == "created":
            self.topics += 1
        if kind != "message":
            return
        chat = int(payload["chat"]["id"])
        if chat == self.group_id:
            self.group_posts += 1
        else:
            self.answered_at.setdefault(chat, []).append(moment - self.started)

    def first_answers(self, chats: Sequence[int]) -> list[float]:
        return [self.answered_at[chat][0] for chat in chats if chat in self.answered_at]

    def delivered(self, chats: Sequence[int]) -> int:
        return sum(len(self.answered_at.get(chat, ())) for chat in chats)


@dataclass
class Round:
    processes: int
    customers: int
    complaints: int
    drain: float
    max_per_second: int
    max_group_minute: int
    requests: int
    delivered: int
    expected: int
    topics: int
    group_posts: int
    faq_answers: list[float]
    complaint_answers: list[float]
    shares: list[int]
    methods: dict[str, int]
    errors: dict[str, int]
    problems: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


def kefu_env(emulator: Any, group_id: int, database: str, balancer: LoadBalancer, folder: Path, name: str, port: int) -> dict[str, str]:
    env = base_env()
    env.update(
        KEFU_TELEGRAM__TOKEN=TOKEN,
        KEFU_TELEGRAM__BASE_URL=emulator.base_url,
        KEFU_TELEGRAM__AGENT_CHAT_ID=str(group_id),
        KEFU_TELEGRAM__MODE="webhook",
        KEFU_TELEGRAM__WEBHOOK_URL=balancer.url,
        KEFU_TELEGRAM__WEBHOOK_SECRET=WEBHOOK_SECRET,
        KEFU_TELEGRAM__INSTANCE=name,
        KEFU_API__LISTEN=f"127.0.0.1:{port}",
        KEFU_DATABASE__URL=database,
        KEFU_PRIVACY__KEYS=json.dumps([PRIVACY_KEY]),
        KEFU_SCHEDULER__ENABLED="false",
        KEFU_REPORTS__WEEKLY="",
        KEFU_KNOWLEDGE_BASE__LEARNED_FILE=str(folder / "kb-learned.yaml"),
    )  # [telegram] messages_per_second and group_messages_per_minute: kefu's defaults, 30 and 20
    return env


async def ready(process: BotProcess, url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"kefu exited:\n{process.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                async with http.get(f"{url}/readyz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"kefu not ready within {timeout:.0f} s:\n{process.log_tail()}")


async def run_round(count: int, plan: argparse.Namespace, folder: Path) -> Round:
    from bot.emulator import BotAPIEmulator

    folder.mkdir(parents=True, exist_ok=True)
    emulator = BotAPIEmulator(bot_username="kefu_rate_bot", token=TOKEN)
    await emulator.start("127.0.0.1", 0)
    group = emulator.add_group(title="Agents", is_forum=True)["id"]
    asking, complaining = [], []
    for n in range(plan.customers + plan.complaints):
        lang = "zh" if n % 2 else "en"
        user = emulator.add_user(first_name=f"Cust{n}", language_code="zh-CN" if lang == "zh" else "en")
        if n < plan.customers:
            asking.append((user["id"], QUESTIONS[lang][(n // 2) % len(QUESTIONS[lang])]))
        else:
            complaining.append((user["id"], COMPLAINT[lang]))
    processes: list[tuple[BotProcess, str]] = []
    ports = [free_port() for _ in range(count)]
    balancer = LoadBalancer([f"http://127.0.0.1:{port}" for port in ports])
    try:
        async with throwaway_database("postgres", folder, plan.postgres, f"rate{count}") as database:
            await balancer.start()
            for n, port in enumerate(ports):
                name = f"kefu-{n + 1}"
                env = kefu_env(emulator, group, database, balancer, folder, name, port)
                processes.append((BotProcess(env, folder, name), f"http://127.0.0.1:{port}"))
            for process, _ in processes:
                await process.start()
            for process, url in processes:
                await ready(process, url)
            while emulator.count("setWebhook") < count:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # start-up requests are over
            print(f"  {count} processes ready; the burst: {len(asking)} questions and {len(complaining)} complaints")

            started = time.monotonic()
            watch = Watch(emulator, group, started)
            for chat, said in [*asking, *complaining]:
                emulator.send_text(chat, said)
            customers = [chat for chat, _ in [*asking, *complaining]]
            expected = len(customers)
            timed_out = False
            while True:
                await asyncio.sleep(0.5)
                now = time.monotonic()
                done = watch.delivered(customers) >= expected and watch.topics >= len(complaining)
                if done and now - watch.last > plan.quiet:
                    break
                if now - started > plan.timeout:
                    timed_out = True
                    break
            stats = emulator.stats
            result = Round(
                count, len(asking), len(complaining), watch.last - started, stats["max_per_second"],
                stats["max_per_minute"].get(str(group), 0), emulator.busiest(math.inf), watch.delivered(customers),
                expected, watch.topics, watch.group_posts,
                watch.first_answers([chat for chat, _ in asking]), watch.first_answers([chat for chat, _ in complaining]),
                [balancer.answered[url] for _, url in processes], dict(stats["methods"]), dict(stats["errors"]),
                timed_out=timed_out,
            )
            for process, _ in processes:
                await process.stop()
            for process, _ in processes:
                for problem, times in process.problems().items():
                    result.problems[problem] = result.problems.get(problem, 0) + times
            return result
    finally:
        for process, _ in processes:
            await process.stop()
        await balancer.stop()
        await emulator.stop()


def report(result: Round) -> None:
    faq, complaint = result.faq_answers, result.complaint_answers
    print(
        f"  {result.processes} processes: drained in {result.drain:.1f} s"
        + (" (**timed out**)" if result.timed_out else "")
        + f"; {result.requests} requests with a chat_id; most in any 1 s: {result.max_per_second} (limit 30); "
        f"most into the agent group in any 60 s: {result.max_group_minute} (limit 20)"
    )
    print(
        f"    delivered {result.delivered} of {result.expected} answers; agent group: {result.topics} topics, "
        f"{result.group_posts} posts; webhook calls per process {result.shares}"
    )
    print(
        f"    first answer after the burst, FAQ p50/p99/max {percentile(faq, 50):.1f} / {percentile(faq, 99):.1f} / "
        f"{max(faq, default=math.nan):.1f} s; complaints {percentile(complaint, 50):.1f} / "
        f"{percentile(complaint, 99):.1f} / {max(complaint, default=math.nan):.1f} s"
    )
    calls = ", ".join(f"{name} {n}" for name, n in sorted(result.methods.items(), key=lambda kv: -kv[1]))
    print(f"    Bot API calls: {calls}; errors {result.errors or 'none'}; logged: {result.problems or 'nothing'}")


def table(results: Sequence[Round]) -> None:
    print(
        "\n| processes | burst | most in any 1 s (≤ 30) | most into the group in any 60 s (≤ 20) | delivered "
        "| FAQ answered p50 / max | complaints answered p50 / max | drained |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r.processes} | {r.customers} + {r.complaints} | {r.max_per_second} | {r.max_group_minute} "
            f"| {r.delivered} / {r.expected}, {r.topics} topics, {r.group_posts} group posts "
            f"| {percentile(r.faq_answers, 50):.1f} / {max(r.faq_answers, default=math.nan):.1f} s "
            f"| {percentile(r.complaint_answers, 50):.1f} / {max(r.complaint_answers, default=math.nan):.1f} s "
            f"| {r.drain:.0f} s |"
        )


async def main_async(plan: argparse.Namespace) -> list[Round]:
    results = []
    with contextlib.ExitStack() as stack:
        folder = Path(plan.logs) if plan.logs else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-rate-")))
        for count in plan.processes:
            print(f"\n== {count} processes ==")
            result = await run_round(count, plan, folder / f"{count}-processes")
            report(result)
            results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="2,3", help="kefu processes per round (default %(default)s)")
    parser.add_argument("--customers", type=int, default=300, help="customers asking a question (default %(default)s)")
    parser.add_argument("--complaints", type=int, default=30, help="customers complaining (default %(default)s)")
    parser.add_argument("--quiet", type=float, default=15.0, help="seconds without a request that end a round (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a round may take at most (default %(default)s)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN_URL, metavar="URL", help=f"admin URL (default {POSTGRES_ADMIN_URL})")
    parser.add_argument("--logs", metavar="DIR", help="keep the processes' logs in DIR")
    plan = parser.parse_args(argv)
    plan.processes = [int(n) for n in plan.processes.split(",")]
    started = time.perf_counter()
    print(f"load average before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    results = asyncio.run(main_async(plan))
    table(results)
    print(f"load average after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
