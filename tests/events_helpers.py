"""Helpers of the events tests: a Server-Sent Events reader, and waiting for a condition."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web


class SSE:
    """Reads one text/event-stream response: (id, event) at a time, comments skipped."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        assert response.status == 200, response.status
        assert response.headers["Content-Type"].startswith("text/event-stream")
        self.response = response
        self.last_id: str | None = None

    async def next(self, within: float = 10) -> tuple[str | None, dict[str, Any]]:
        event_id, data = None, []
        async with asyncio.timeout(within):
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise EOFError("the stream ended")
                line = line.rstrip("\n")
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    if event_id:
                        self.last_id = event_id
                    return event_id, json.loads("\n".join(data))

    async def until(self, check: Callable[[dict[str, Any]], bool],
                    within: float = 10) -> list[dict[str, Any]]:
        """Events up to and including the first that passes check."""
        seen = []
        async with asyncio.timeout(within):
            while True:
                _, event = await self.next(within)
                seen.append(event)
                if check(event):
                    return seen

    def close(self) -> None:
        self.response.close()


def motion(state: str, source: str = "video1") -> Callable[[dict[str, Any]], bool]:
    return lambda e: (e["kind"] == "motion" and e["operation"] == "Changed"
                      and e["source"] == {"VideoSourceToken": source}
                      and e["data"] == {"State": state})


async def eventually(check: Callable[[], bool], within: float = 10) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 (state of another part, with no event to wait on)
            await asyncio.sleep(0.02)


class Receiver:
    """A webhook receiver on loopback: records what it gets; answers `fail` times with
    `status` first."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        self.status = 500
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if self.fail > 0:
            self.fail -= 1
            if self.status in (301, 302):
                raise web.HTTPFound("/elsewhere")
            return web.Response(status=self.status)
        return web.Response(status=204)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]
