"""Events over HTTP: Server-Sent Events (GET /events), the state of properties (GET
/events/state), and the same JSON over a WebSocket (GET /events/ws, no resume: Last-Event-ID is
the event stream's).

Events are reads: any session may listen. `/devices/{id}/events` is one device's stream; the bare
`/events` serves the device of every session the request proves, one `Authorization: Bearer`
line each (sessions are per device), so one connection can follow several cameras.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from gateway.access import WRITE
from gateway.credentials import Credentials
from gateway.errors import BadRequest, NotFound, StoreUnavailable, Unauthorized
from gateway.events.hub import SESSION_ENDED, Listener, Sent
from gateway.events.model import TopicFilter
from gateway.keys import CLOCK, CONFIG, DEVICES, EVENT_HUB, SESSIONS, WEBHOOKS
from gateway.mapping.bodies import declare
from gateway.soap.device import DeviceClient
from gateway.state.sessions import Session, token_key
from gateway.web.bodies import read_object
from gateway.web.handlers import DEVICE_PREFIX, _device, _require, _session, _token, query_of

WEBHOOK_BODY = declare(
    url={"type": "string", "example": "http://127.0.0.1:9000/hook",
         "description": "where each event is POSTed; inside webhook_allow (gateway.ini)"},
    topic={"type": "string", "required": False, "example": "motion",
           "description": "only these kinds or topics, comma-separated (as /events' topic)"})

# A comment line this often keeps proxies from closing an idle stream (and finds dead clients).
KEEPALIVE = 15.0
# After the gateway ended a stream (a slow client), the last event gets this long to go out.
LAST_WORDS = 1.0
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
               "X-Accel-Buffering": "no"}


def _bearer_tokens(request: web.Request) -> list[str]:
    """Every bearer token of the request: one per Authorization line (or comma-separated)."""
    tokens = []
    for line in request.headers.getall("Authorization", []):
        for part in line.split(","):
            scheme, _, token = part.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                tokens.append(token.strip())
    if not tokens:
        raise Unauthorized("send 'Authorization: Bearer <sessionToken>'; PUT /login gives a token")
    return tokens


async def _sessions(request: web.Request) -> list[tuple[DeviceClient, Session, str]]:
    """The devices of a request, each with its session and that session's token:
    /devices/{id}/... that device, the bare paths the device of every bearer token sent."""
    if "device_id" in request.match_info:
        device = await _device(request)
        token = _token(request)
        return [(device, await _session(request, device, token), token)]
    found: dict[str, tuple[DeviceClient, Session, str]] = {}
    for token in _bearer_tokens(request):
        session = await request.app[SESSIONS].get(token)
        if session is None:
            raise Unauthorized("a session token is unknown, ended or expired; log in again")
        device = await request.app[DEVICES].get(session.device)
        found.setdefault(device.name, (device, session, token))
    return list(found.values())


async def listening(request: web.Request) -> list[tuple[DeviceClient, Credentials]]:
    """The devices a request listens to, each with the credentials of its session."""
    return [(device, session.credentials) for device, session, _ in await _sessions(request)]


class _Watch:
    """A stream's sessions, looked up again every KEEPALIVE seconds (of the gateway's clock)
    while it lasts: a session that ended (logged out on another instance, expired, its device
    removed) ends the stream. A lookup marks the session used: a client that listens uses it
    (until session_max_age)."""

    def __init__(self, request: web.Request, tokens: list[str]) -> None:
        self._request = request
        self._tokens = tokens
        self._clock = request.app[CLOCK]
        self._next = self._clock() + KEEPALIVE
        self.keys = frozenset(token_key(token) for token in tokens)

    async def ended(self) -> bool:
        """Whether one of the sessions ended (looked up when due; the store unavailable: not
        known, looked up again next time, as no logout can be made meanwhile)."""
        if self._clock() < self._next:
            return False
        self._next = self._clock() + KEEPALIVE
        sessions = self._request.app[SESSIONS]
        try:
            return any([await sessions.get(token) is None for token in self._tokens])
        except StoreUnavailable:
            return False


async def _listen(request: web.Request, last_event_id: str | None = None,
                  ) -> tuple[Listener, list[Sent], _Watch]:
    """Register the request's client with the hub, with its sessions to watch."""
    found = await _sessions(request)
    topic = query_of(request, "topic").get("topic")
    watch = _Watch(request, [token for _, _, token in found])
    listener, replay = request.app[EVENT_HUB].listen(
        [(device, session.credentials) for device, session, _ in found],
        TopicFilter(topic), last_event_id, watch.keys)
    return listener, replay, watch


async def _operator(request: web.Request) -> list[DeviceClient]:
    """The request's devices, each with an Operator (or higher) session: webhooks are writes."""
    found = await _sessions(request)
    for _, session, _ in found:
        _require(session, WRITE, device_decides=False)
    query_of(request)
    return [device for device, _, _ in found]


async def add_webhook(request: web.Request) -> web.Response:
    """POST /webhooks {"url", "topic"}: POST each event of the devices there, signed; the
    answer holds the secret, once."""
    devices = await _operator(request)
    body = await read_object(request, WEBHOOK_BODY)
    hook = await request.app[WEBHOOKS].add(body["url"], body.get("topic") or "", devices)
    return web.json_response({**hook.public(), "secret": hook.secret}, status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    """GET /webhooks: the webhooks of the request's devices, with their delivery failures."""
    devices = {device.name for device in await _operator(request)}
    hooks = request.app[WEBHOOKS].of(devices)
    return web.json_response({"webhooks": [hook.public() for hook in hooks]})


async def remove_webhook(request: web.Request) -> web.Response:
    """DELETE /webhooks/{webhook_id}: stop it (Operator of one of its devices)."""
    devices = {device.name for device in await _operator(request)}
    hook = request.app[WEBHOOKS].get(request.match_info["webhook_id"])
    if hook is None or not devices & set(hook.devices):
        raise NotFound("no such webhook for the devices of this request")
    await request.app[WEBHOOKS].remove(hook.id)
    return web.Response(status=204)


def _sse(sent: Sent) -> bytes:
    event_id, _, payload = sent
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}data: {payload}\n\n".encode()


async def _next(request: web.Request, listener: Listener) -> Sent | None:
    """The listener's next event, or None after KEEPALIVE seconds of nothing. A client that
    went away is noticed within a second (aiohttp does not cancel the handler): ConnectionError."""
    for _ in range(int(KEEPALIVE)):
        try:
            async with asyncio.timeout(1):
                return await listener.queue.get()
        except TimeoutError:
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("the client went away") from None
    return None


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /events: Server-Sent Events, one JSON event each, with Last-Event-ID resume."""
    hub = request.app[EVENT_HUB]
    listener, replay, watch = await _listen(request, request.headers.get("Last-Event-ID"))
    response = web.StreamResponse(headers=SSE_HEADERS)

    async def send() -> None:
        await response.write(b"retry: 2000\n\n")
        for sent in replay:
            await response.write(_sse(sent))
        while not (listener.ended.is_set() and listener.queue.empty()):
            waiting = await _next(request, listener)
            if not listener.ended.is_set() and await watch.ended():
                hub.disconnect(listener, SESSION_ENDED)  # what was waiting is not sent
                continue
            await response.write(b": keep-alive\n\n" if waiting is None else _sse(waiting))

    try:
        await response.prepare(request)
        await _until_sent_or_ended(request, send(), listener)
    finally:
        hub.leave(listener)
    return response


async def _until_sent_or_ended(request: web.Request, sending: Any, listener: Listener,
                               gone: Any = None) -> None:
    """Run the sender until it ends, the client goes away (`gone` ends, for a WebSocket), or
    the gateway ends the stream: then give the last event LAST_WORDS seconds to go out, and
    close the connection."""
    task = asyncio.ensure_future(sending)
    waiters = [asyncio.ensure_future(listener.ended.wait())]
    if gone is not None:
        waiters.append(asyncio.ensure_future(gone))
    try:
        await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and listener.ended.is_set():
            await asyncio.wait([task], timeout=LAST_WORDS)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if not task.done():
            task.cancel()
            if request.transport is not None and listener.ended.is_set():
                request.transport.close()  # a client that reads nothing: no goodbye
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /events/ws: the same events, one JSON text message each, over a WebSocket."""
    hub = request.app[EVENT_HUB]
    socket = web.WebSocketResponse(heartbeat=KEEPALIVE)
    if not socket.can_prepare(request).ok:  # (a plain GET: the sessions are checked first)
        await _sessions(request)
        raise BadRequest("GET /events/ws is a WebSocket: send the upgrade (Connection: Upgrade, "
                         "Upgrade: websocket); GET /events serves the same events as "
                         "Server-Sent Events")
    listener, replay, watch = await _listen(request)

    async def send() -> None:
        for sent in replay:
            await socket.send_str(sent[2])
        while not (listener.ended.is_set() and listener.queue.empty()):
            waiting = await _next(request, listener)
            if not listener.ended.is_set() and await watch.ended():
                hub.disconnect(listener, SESSION_ENDED)  # what was waiting is not sent
                continue
            if waiting is not None:
                await socket.send_str(waiting[2])
        await socket.close()

    async def receive() -> None:
        async for _ in socket:  # clients have nothing to say; this ends when they close
            pass

    try:
        await socket.prepare(request)
        await _until_sent_or_ended(request, send(), listener, receive())
    finally:
        hub.leave(listener)
    return socket


async def state(request: web.Request) -> web.Response:
    """GET /events/state: the last value of each property event (motion on now?)."""
    devices = await listening(request)
    topics = TopicFilter(query_of(request, "topic").get("topic"))
    wait = request.app[CONFIG].device_timeout
    events = await request.app[EVENT_HUB].state(devices, wait)
    return web.json_response({"events": [e for e in events if topics.matches(e)]})


def routes() -> list[web.RouteDef]:
    return [web.route(method, prefix + path, handler)
            for prefix in ("", DEVICE_PREFIX)
            for method, path, handler in (
                ("GET", "/events", stream), ("GET", "/events/state", state),
                ("GET", "/events/ws", websocket), ("POST", "/webhooks", add_webhook),
                ("GET", "/webhooks", list_webhooks),
                ("DELETE", "/webhooks/{webhook_id}", remove_webhook))]
