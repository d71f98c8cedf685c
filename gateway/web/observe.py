"""Watching the gateway: request ids, one log line per request, metrics, health and readiness.

    GET /healthz   the process answers: 200 {"status": "ok"}
    GET /readyz    WSDLs, mappings, devices and policy store are ready: 200, else a 503 problem
                   (devices: not when every device is unreachable, as far as the gateway knows)
    GET /metrics   Prometheus text; a bearer token, or a client address in metrics_allow
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import re
import threading
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.config import DEVICE_NAME
from gateway.errors import NotReady, Unauthorized
from gateway.keys import (
    CONFIG,
    DEVICES,
    METRICS,
    PATHS,
    REQUEST_ID,
    RESOURCES,
    SESSIONS,
    STORE,
    WSDLS,
)
from gateway.logs import CREDENTIAL_FREE, direct_handler
from gateway.web.handlers import DEVICE_PREFIX

REQUEST_ID_HEADER = "X-Request-ID"
# An id a client (or a proxy before us) sends is kept only if it is this tame: it is logged.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The route label of requests no route took: never the raw URL (unbounded, maybe sensitive).
UNMATCHED = "<unmatched>"
LOGIN_ROUTES = {"/login", f"{DEVICE_PREFIX}/login"}
CLIENT_CLOSED = 499  # nginx's status for a request whose client went away before the answer
STORE_CHECK_SECONDS = 2.0

access_log = logging.getLogger("gateway.access")
ACCESS_LINE = "%s %s %d %.1f ms device=%s request_id=%s"


def request_id(sent: str | None) -> str:
    """The id a request goes by: the client's X-Request-ID if it is sane, else a new one."""
    if sent is not None and SANE_REQUEST_ID.fullmatch(sent):
        return sent
    try:
        return _fresh_ids.pop()
    except IndexError:
        return _new_ids()


# New request ids: 128 bits of the system's random bytes each (a random UUID's worth, without
# building a UUID), read for 256 ids at a time: one os.urandom per request was a system call
# and a twentieth of the log line's cost. A forked process reads its own.
FRESH_IDS = 256
_fresh_ids: list[str] = []
os.register_at_fork(after_in_child=_fresh_ids.clear)


def _new_ids() -> str:
    """Fill _fresh_ids, and take one."""
    random = os.urandom(16 * FRESH_IDS).hex()
    _fresh_ids.extend([random[at:at + 32] for at in range(0, len(random), 32)])
    return _fresh_ids.pop()


def route_of(request: web.Request) -> str:
    """The canonical path of the route that took a request (/devices/{device_id}/...)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def device_of(request: web.Request, route: str) -> str | None:
    """The device a request was for: named in the path, or the default one at a bare path that
    is also served per device; None for the gateway's own routes."""
    name = request.match_info.get("device_id")
    if name is None:
        if f"{DEVICE_PREFIX}{route}" not in request.app[PATHS]:
            return None
        name = request.app[CONFIG].default_device.name
    # A name from the URL is logged only if it could be a device name (no newlines, no junk).
    return name if _could_be_device(name) else "<invalid>"


@functools.lru_cache(maxsize=1024)  # the regular expression was a third of device_of's cost
def _could_be_device(name: str) -> bool:
    return DEVICE_NAME.fullmatch(name) is not None


def _record(request: web.Request, rid: str, status: int, seconds: float) -> None:
    """Count, time and log one answered request (of that request id)."""
    route = route_of(request)
    device = device_of(request, route)
    method = request.method
    metrics = request.app[METRICS]
    metrics.request(method, route, status, seconds)
    if route in LOGIN_ROUTES and status in (401, 429):
        reason = "refused" if status == 401 else "locked_out"
        metrics.login_failed(device or "", reason)
    milliseconds = round(seconds * 1000, 1)
    level = logging.WARNING if status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    args = (method, route, status, milliseconds, device or "-", rid)
    fields = {"method": method, "route": route, "status": status,
              "duration_ms": milliseconds, "device": device, "request_id": rid}
    handler = direct_handler(access_log, level)
    if handler is not None:  # only the gateway's own handler would see the record
        handler.emit_line(level, access_log.name, ACCESS_LINE % args, fields)
    else:
        access_log.handle(_access_record(level, args, fields))


# Per thread and level: the attributes every request's record has the same (logger, level,
# file, process, thread...), and when logging started (relativeCreated counts from it).
_access_templates: dict[tuple[int, int], tuple[dict[str, Any], float]] = {}


def _access_record(level: int, args: tuple[Any, ...], fields: dict[str, Any]
                   ) -> logging.LogRecord:
    """A request's log record, the same as access_log.makeRecord() makes, at a fraction of the
    cost: the attributes that every request's record shares are copied from one record made
    once (LogRecord's constructor works each out again: the file's name and module, the
    thread's and process's names), and only the time, arguments and fields are new. Made here
    rather than by access_log.log(), which also looks up the caller's file and line by walking
    the stack: a request's line shows neither. Its text is a method, which HTTP makes a token
    without spaces or colons, a route's pattern, a checked device name and request id: no
    credential (Redact lets it pass unread)."""
    key = (threading.get_ident(), level)
    if key not in _access_templates:
        made = access_log.makeRecord(access_log.name, level, __file__, 0, ACCESS_LINE, (), None)
        _access_templates[key] = vars(made), made.created - made.relativeCreated / 1000
    template, started = _access_templates[key]
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributes = record.__dict__
    attributes.update(template)
    now = time.time()  # as LogRecord sets them
    attributes.update(created=now, msecs=int((now - int(now)) * 1000) + 0.0,
                      relativeCreated=(now - started) * 1000, args=args, fields=fields)
    attributes[CREDENTIAL_FREE] = True
    if "taskName" in attributes:  # Python 3.12 on: the asyncio task that logs, by name
        task = asyncio.current_task()
        attributes["taskName"] = None if task is None else task.get_name()
    return record


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give a request its id, answer with it, and count and log the request once answered.

    It sits outside the problems middleware, so error answers are counted and logged as sent.
    """
    started = time.monotonic()
    rid = request[REQUEST_ID] = request_id(request.headers.get(REQUEST_ID_HEADER))
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
        # A body in memory is sent here, as aiohttp would send it once the middlewares return
        # (it then finds it sent): the count and the log line below are then not on the
        # client's wait. A file answer is left to aiohttp: FileResponse.prepare() opens and
        # sends its file each time it is called, and aiohttp calls it again.
        if isinstance(response, web.Response):
            try:  # (not contextlib.suppress: its object and calls were 1 us a request)
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:  # aiohttp finds the same, and lets it be
                pass
    except web.HTTPException as exc:  # what the problems middleware lets through (redirects)
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        _record(request, rid, status, time.monotonic() - started)
    return response


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and answering."""
    return web.json_response({"status": "ok"})


async def _store_ready(app: web.Application) -> bool:
    store = app.get(STORE)
    if store is None:
        return False
    try:  # a real read: the store is open and answers (SQLite file, or a shared store)
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for may lose a cancel of this
        # handler (CPython gh-86296; see gateway.state.redisstore.redis_call)
        async with asyncio.timeout(STORE_CHECK_SECONDS):
            await store.devices()
    except Exception:
        return False
    return True


async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: WSDLs parsed, mapping files loaded, devices and policy store open."""
    app = request.app
    checks = {
        "wsdls": WSDLS in app,
        "mappings": RESOURCES in app and bool(app[RESOURCES]),
        # open, and not every device known to be unreachable (nothing could be served then)
        "devices": DEVICES in app and any(d.state.status != "unreachable" for d in app[DEVICES]),
        "store": await _store_ready(app),
    }
    failing = [name for name, ok in checks.items() if not ok]
    if failing:
        raise NotReady(f"not ready: {', '.join(failing)}",
                       checks={name: "ok" if ok else "failing" for name, ok in checks.items()})
    return web.json_response({"status": "ready", "checks": dict.fromkeys(checks, "ok")})


def _scraper_allowed(request: web.Request) -> bool:
    """Whether the client's address is in metrics_allow (Prometheus scrapes without a token)."""
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in request.app[CONFIG].metrics_allow)


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus metrics, for a scraper in metrics_allow or any live session."""
    sessions = request.app[SESSIONS]
    if not _scraper_allowed(request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or await sessions.get(token.strip()) is None:
            raise Unauthorized("send 'Authorization: Bearer <sessionToken>', or scrape from an "
                               "address in metrics_allow of gateway.ini")
    body, content_type = request.app[METRICS].render(await sessions.count())
    return web.Response(body=body, headers={"Content-Type": content_type})


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz, allow_head=False),
            web.get("/readyz", readyz, allow_head=False),
            web.get("/metrics", metrics, allow_head=False)]
