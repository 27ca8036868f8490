"""What keeps kefu's HTTP server answering when its clients are hostile or careless.

**Connections** (:class:`Connections`). Every open connection costs an open file, and a process
has about a thousand. A client that connects and sends nothing, or trickles its headers a byte at
a time, must not hold one for long: a connection waiting for a request is closed
``[api] header_timeout`` seconds after it opened, and ``keepalive_timeout`` seconds after its last
answer; a request's body must also arrive within ``header_timeout``. At most ``max_connections``
are open at once: a new one beyond them closes the connection idle longest, so a flood of idle
connections never locks out ``/healthz``, the webhook or the feed; only when every connection is
busy with a request is the new one closed at once. kefu accepts connections itself, a few dozen
at a time, each counted before more are taken (asyncio's server accepts a hundred at once, past
any limit), and the limit is kept below the process's open-file limit (raised to fit when the
hard limit allows): so ``accept()`` does not fail with "Too many open files", and if kefu's own
files ever run out, that is logged once a minute, not in a loop.

**Refused attempts** (:class:`FailedAttempts`). A client whose requests were refused (401: no or a
wrong bearer token; 403: a bad order-feed signature or webhook secret) more than
``[api] failed_attempts`` times within ``failed_window_seconds`` gets 429 Too Many Requests until
the window has passed. On ``/api/…`` its credentials are then not even checked, so guessing the
token or the feed secret is slowed to a handful of tries a minute, and a dashboard with the right
token is never affected by someone else's failures. On the webhook path the secret is checked
first and a request carrying the right one always goes through: behind a same-host proxy every
caller is 127.0.0.1, and Telegram's updates must never be locked out by someone else's guesses.

The counts live in the process (each instance of a fleet counts its own) and cannot grow without
bound: a client is forgotten once its window has passed (every request purges the expired ones,
and so does a timer), and at most ``failed_clients_max`` clients are remembered, the least
recently refused forgotten first. An IPv6 client is counted by its /64, which one subscriber
usually holds whole: else one machine would have 2^64 fresh counts.

**Proxies.** Behind a reverse proxy every request comes from the proxy's address: a request from
one of ``[api] trusted_proxies`` (loopback by default, for a proxy on the same host) is counted
under the client address the proxy put last in ``X-Forwarded-For``; a value there that is not an
IP address counts under the proxy itself. A caller on the proxy's host can write any
``X-Forwarded-For`` it likes, and would get a fresh count for every value. So a forwarded request's
refusals are also counted under its proxy, which may be refused :data:`PROXY_FACTOR` times as
often (500 a minute by default): enough that honest clients behind it are never held back by the
failures of a few, and a bound on guessing from the proxy's host. Reaching it takes a deliberate
attack from 50 or more addresses at once, which holds back the ``/api/…`` clients behind that proxy
until the window has passed (the shop's feed retries after ``Retry-After``; the webhook's right
secret still goes through).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import re
import resource
import socket
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
REFUSED = (401, 403)
PROXY_FACTOR = 50
"""How many times ``failed_attempts`` a trusted proxy's own count may reach in the window."""
RESERVED_FILES = 100
"""Open files kept for kefu itself (database, Bot API connections, logs, knowledge base)."""
ACCEPT_BURST = 32
"""Connections accepted at once, before they are counted: open files may exceed the limit by as
many (within :data:`RESERVED_FILES`)."""
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
NOTICE_EVERY = 60.0
"""Seconds between two log lines about connections closed to stay under the limit."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- connections -------------------------------------------------------------------------------


class Connection(web.RequestHandler):
    """aiohttp's handler of one connection, which tells :class:`Connections` when it opens and
    closes; :func:`request_deadlines` tells it when a request begins and ends."""

    def __init__(self, connections: Connections, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.connections.opened(self):
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.connections.closed(self)
        super().connection_lost(exc)


class Connections:
    """The open connections: those waiting for a request (oldest first, each with its deadline)
    and those busy with one."""

    def __init__(self, limit: int, header_timeout: float, keepalive_timeout: float) -> None:
        self.limit, self.header_timeout, self.keepalive_timeout = limit, header_timeout, keepalive_timeout
        self._waiting: OrderedDict[Connection, asyncio.TimerHandle] = OrderedDict()
        self._busy: set[Connection] = set()
        self._made_room = 0
        self._turned_away = 0
        self._noticed = self._short_noticed = -NOTICE_EVERY

    def __len__(self) -> int:
        return len(self._waiting) + len(self._busy)

    async def accept(self, sock: socket.socket, connection: Callable[[], Connection]) -> None:
        """Accept connections on the listening ``sock`` until cancelled, at most
        :data:`ACCEPT_BURST` at once (asyncio's own server takes up to a hundred, past any
        limit): each is counted, and the one idle longest closed to make room, before more are
        accepted. Should open files run out all the same (kefu's own), accepting pauses a second,
        and it is logged once a minute."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                accepted = [(await loop.sock_accept(sock))[0]]
            except OSError as error:
                self._not_accepted(error)
                await asyncio.sleep(1 if error.errno in OUT_OF_RESOURCES else 0)
                continue
            while len(accepted) < ACCEPT_BURST:
                try:
                    accepted.append(sock.accept()[0])
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as error:
                    self._not_accepted(error)
                    break
            await asyncio.gather(*(self._take(loop, connection, client) for client in accepted))

    @staticmethod
    async def _take(loop: asyncio.AbstractEventLoop, connection: Callable[[], Connection], client: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(connection, client)
        except OSError:
            client.close()

    def _not_accepted(self, error: OSError) -> None:
        """Out of open files (or memory): logged once a minute. Else the client gave up first."""
        now = time.monotonic()
        if error.errno in OUT_OF_RESOURCES and now - self._short_noticed >= NOTICE_EVERY:
            self._short_noticed = now
            log.error("HTTP server cannot accept connections (%s): kefu is short of open files; it tries again every second", error.strerror)

    def opened(self, connection: Connection) -> bool:
        """False: over the limit with none idle, the new connection is to be closed."""
        if len(self) >= self.limit:
            if not self._waiting:
                self._turned_away += 1
                self._notice()
                return False
            idle, deadline = self._waiting.popitem(last=False)
            deadline.cancel()
            idle.force_close()
            self._made_room += 1
            self._notice()
        self._wait(connection, self.header_timeout)
        return True

    def busy(self, connection: Connection) -> None:
        """A request's head has arrived: no deadline while it is handled."""
        deadline = self._waiting.pop(connection, None)
        if deadline is not None:
            deadline.cancel()
            self._busy.add(connection)

    def idle(self, connection: Connection) -> None:
        """Answered: the connection may wait ``keepalive_timeout`` for the next request."""
        if connection in self._busy:
            self._busy.discard(connection)
            self._wait(connection, self.keepalive_timeout)

    def closed(self, connection: Connection) -> None:
        deadline = self._waiting.pop(connection, None)
        if deadline is not None:
            deadline.cancel()
        self._busy.discard(connection)

    def _wait(self, connection: Connection, seconds: float) -> None:
        self._waiting[connection] = asyncio.get_running_loop().call_later(seconds, self._expire, connection)

    def _expire(self, connection: Connection) -> None:
        if self._waiting.pop(connection, None) is not None:
            connection.force_close()

    def _notice(self) -> None:
        now = time.monotonic()
        if now - self._noticed < NOTICE_EVERY:
            return
        self._noticed = now
        log.warning(
            "HTTP server at its limit of %d connections ([api] max_connections): closed %d idle connection(s) to "
            "make room and turned away %d new one(s) while all were busy (logged at most once a minute)",
            self.limit, self._made_room, self._turned_away,
        )
        self._made_room = self._turned_away = 0


def usable_connections(wanted: int) -> int:
    """``wanted``, or fewer when the open-file limit leaves no room for them and for kefu's own
    files; the soft limit is raised first, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FILES
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    except (ValueError, OSError):
        pass
    if soft >= needed:
        return wanted
    usable = max(1, soft - RESERVED_FILES)
    log.warning(
        "[api] max_connections is %d but the open-file limit is %d: at most %d connections are kept open "
        "(raise LimitNOFILE= in the systemd unit, or ulimit -n, to allow more)", wanted, soft, usable,
    )
    return usable


def request_deadlines(header_timeout: float) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware: marks the connection busy while a request is handled, and reads the
    request's body within ``header_timeout`` (408 and the connection closed, else)."""

    @web.middleware
    async def deadlines(request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = request.protocol
        if not isinstance(connection, Connection):  # served some other way (a test client)
            return await handler(request)
        connection.connections.busy(connection)
        try:
            if request.body_exists:
                try:
                    async with asyncio.timeout(header_timeout):
                        await request.read()  # kept: the handler's read(), json() or text() get it
                except TimeoutError:
                    late = web.json_response({"error": "the request's body did not arrive in time"}, status=408)
                    late.force_close()
                    return late
            return await handler(request)
        finally:
            connection.connections.idle(connection)

    return deadlines


# -- refused attempts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who a request is counted under: its client, and the trusted proxy it came through."""

    address: str
    proxy: str | None = None


_HOST_PORT = re.compile(r"^\[?(?P<host>[0-9A-Fa-f:.]+?)\]?(?::\d+)?$")


def counted_address(value: str) -> str | None:
    """The address a client is counted under (IPv6 by its /64), None if ``value`` is none."""
    match = _HOST_PORT.match(value.strip())
    candidates = [value.strip()] + ([match["host"]] if match else [])
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)
    return None


class FailedAttempts:
    """Refused attempts per client within a sliding window, for at most ``capacity`` clients."""

    def __init__(
        self,
        limit: int,
        window: float,
        trusted_proxies: Sequence[str] = (),
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.capacity, self.clock = limit, window, capacity, clock
        self.trusted_proxies = frozenset(trusted_proxies)
        self._refused: OrderedDict[str, deque[float]] = OrderedDict()
        """Times of each client's last refusals, the least recently refused client first."""

    def __len__(self) -> int:
        """Clients remembered (those whose window has passed are forgotten first)."""
        self.purge()
        return len(self._refused)

    def caller(self, request: web.Request) -> Caller:
        remote = request.remote or "unknown"
        forwarded = request.headers.get("X-Forwarded-For")
        own = counted_address(remote) or remote
        if remote not in self.trusted_proxies or not forwarded:
            return Caller(own)
        return Caller(counted_address(forwarded.rsplit(",", 1)[-1]) or own, proxy=own)

    def _counts(self, caller: Caller) -> list[tuple[str, int]]:
        counts = [(caller.address, self.limit)]
        if caller.proxy is not None:
            counts.append((f"via {caller.proxy}", self.limit * PROXY_FACTOR))
        return counts

    def retry_after(self, caller: Caller) -> float:
        """Seconds the caller must wait (0: it may try)."""
        if self.limit == 0:
            return 0.0
        self.purge()
        cutoff = self.clock() - self.window
        wait = 0.0
        for key, limit in self._counts(caller):
            times = self._refused.get(key)
            if times is None:
                continue
            while times and times[0] <= cutoff:
                times.popleft()
            if len(times) >= limit:
                wait = max(wait, times[0] - cutoff)
        return wait

    def refused(self, caller: Caller) -> None:
        if self.limit == 0:
            return
        self.purge()
        now = self.clock()
        for key, limit in self._counts(caller):
            times = self._refused.pop(key, None) or deque(maxlen=limit)
            times.append(now)
            self._refused[key] = times
            if len(times) == limit and times[0] > now - self.window:
                log.warning("HTTP API: %s refused %s times within %.0f s; it waits now", key, limit, self.window)
        while len(self._refused) > self.capacity:
            self._refused.popitem(last=False)

    def purge(self) -> None:
        """Forget the clients whose last refusal is older than the window."""
        cutoff = self.clock() - self.window
        while self._refused:
            key, times = next(iter(self._refused.items()))
            if times and times[-1] > cutoff:
                return
            del self._refused[key]

    async def purging(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: purge every window, even when no request comes."""
        async def every_window() -> None:
            while True:
                await asyncio.sleep(self.window)
                self.purge()

        task = asyncio.create_task(every_window(), name="refused-attempts-purge")
        yield
        task.cancel()


def too_many(wait: float) -> web.Response:
    return web.json_response(
        {"error": "too many refused attempts from this address: try again later"},
        status=429, headers={"Retry-After": str(max(1, round(wait)))},
    )


def api_guard(
    attempts: FailedAttempts, webhook: str | None = None
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """aiohttp middleware applying :class:`FailedAttempts` to the paths under ``/api/`` (but the
    webhook's, which checks the secret first, even if it is under /api/)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or request.path == webhook or attempts.limit == 0:
            return await handler(request)
        caller = attempts.caller(request)
        wait = attempts.retry_after(caller)
        if wait > 0:
            return too_many(wait)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status in REFUSED:
                attempts.refused(caller)
            raise
        if response.status in REFUSED:
            attempts.refused(caller)
        return response

    return guard
