"""`kefu sandbox` prints a console link signed in as its agent (issue 23, acceptance 1)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp

from tests.harness import kefu_env

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)(/console/login\?t=[\w-]+)")


async def test_the_sandbox_prints_a_console_link_that_signs_in_as_its_agent(tmp_path: Path) -> None:
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "sandbox", cwd=tmp_path, env=kefu_env(),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert sandbox.stdin is not None and sandbox.stdout is not None
    try:
        printed = ""
        while (match := LINK.search(printed)) is None:
            line = await asyncio.wait_for(sandbox.stdout.readline(), timeout=120)
            assert line, f"the sandbox ended without a console link: {printed}"
            printed += line.decode()
        assert "Web console, signed in as the agent Li Lei" in printed
        server, path = match.groups()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(server + path, allow_redirects=False) as opened:
                assert opened.status == 303 and opened.headers["Location"] == "/console/tickets"
            async with browser.get(server + "/console/tickets", params={"status": "all"}) as page:
                assert page.status == 200, "signed in by the link's cookie"
                html = await page.text()
                assert "Lei Li" in html, "the agent's name in the bar"
                assert len(set(re.findall(r'href="/console/tickets/(\d+)"', html))) >= 20, "the sandbox's sample tickets"
            async with browser.get(server + "/console/reports") as page:
                assert page.status == 200, "the sandbox's agent is its supervisor too"
            async with aiohttp.ClientSession() as stranger, stranger.get(server + path, allow_redirects=False) as again:
                assert again.status == 401, "the printed link signs in once"
        sandbox.stdin.write(b":console\n:quit\n")
        rest, _ = await asyncio.wait_for(sandbox.communicate(), timeout=60)
        assert LINK.search(rest.decode()) is not None, ":console prints a new link"
        assert sandbox.returncode == 0
    finally:
        if sandbox.returncode is None:
            sandbox.kill()
            await sandbox.wait()
