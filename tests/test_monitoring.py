"""Prometheus can scrape kefu: live counters and the database's backlog at /metrics."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.http import serving_http
from tests.harness import Bot, Person


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_messages_and_show_open_tickets_and_the_outbox(bot: Bot, customer: Person) -> None:
    async with serving_http(bot.settings, "127.0.0.1:0") as url, aiohttp.ClientSession() as http:
        before = samples(await (await http.get(f"{url}/metrics")).text())
        await customer.say("hello")
        await customer.say("/human")
        response = await http.get(f"{url}/metrics")
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        after = samples(await response.text())
    received = ("kefu_messages_in_total", (("chat", "private"),))
    assert after[received] - before.get(received, 0) == 2
    sent = ("kefu_messages_out_total", (("method", "sendMessage"),))
    assert after[sent] - before.get(sent, 0) >= 3  # two replies and the ticket card
    assert after[("kefu_tickets_open", (("status", "new"),))] == 1
    assert after[("kefu_outbox_backlog", (("status", "queued"),))] == 0
