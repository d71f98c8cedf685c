"""Serving an app over TCP, with the gateway's bounds on slow and greedy clients.

- header_timeout: aiohttp's keepalive_timeout, which covers a connection from its start (and after
  each answer) until a whole request head has arrived: a client that sends its headers slowly
  (slowloris) or not at all is closed then.
- connections_per_address: one client address holds at most that many connections at once; more
  are closed as soon as they are accepted, so that one client cannot take every file descriptor.
- SHUTDOWN_GRACE: on Ctrl-C (or SIGTERM) idle keep-alive connections are closed at once, and
  requests in flight get this long to finish before they are cancelled.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections import Counter
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.keys import CONFIG

log = logging.getLogger(__name__)
# Seconds. aiohttp's default is 60 s, and as much again for cancelled handlers to end: a request
# waiting on a camera that does not answer (device_timeout may be minutes) or a simulated device
# answering late held Ctrl-C up for a minute or more. An answer that takes longer than this is
# not waited for; the client is hung up on, as by any stopping server.
SHUTDOWN_GRACE = 2.0


class ConnectionLimit:
    """Counts a server's open connections per client address and closes those past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()
        self._counted: dict[RequestHandler, str] = {}

    def install(self, server: web.Server) -> None:
        """Watch the server's connections (the hooks it calls on every one)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            address = _address(transport)
            if self._open[address] >= self.limit:
                log.warning("client %s has %d connections open already: one more refused",
                            address, self.limit)
                # Closed once aiohttp has set the connection up (closing it within this hook
                # would end it before aiohttp's own handler task has started).
                asyncio.get_running_loop().call_soon(handler.force_close)
                return
            self._open[address] += 1
            self._counted[handler] = address

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            address = self._counted.pop(handler, None)
            if address is not None:
                self._open[address] -= 1
                if not self._open[address]:
                    del self._open[address]
            lost(handler, exc)

        # The server's own hooks, wrapped on this instance: aiohttp offers no other place that
        # sees a connection before it is served.
        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


async def start(app: web.Application, host: str, port: int,
                ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    """Start serving an app; returns its runner and the port it really got (port 0 picks one).
    The gateway's app is held to its header_timeout and connections_per_address."""
    config = app.get(CONFIG)
    options: dict[str, Any] = {} if config is None else {"keepalive_timeout":
                                                          config.header_timeout}
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE, **options)
    await runner.setup()
    if config is not None and runner.server is not None:
        ConnectionLimit(config.connections_per_address).install(runner.server)
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
