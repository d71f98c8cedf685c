"""The HTTP handlers: sessions (/login, /logout, /validateUser) and the mapped resources.

Every route is served twice: at the seed's bare path, for the default device, and under
/devices/{device_id}/ for any configured device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, NamedTuple

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.access import LEVELS, READ, REBOOT, WRITE, a_level, allows
from gateway.config import DEVICE_NAME, device_from_json
from gateway.credentials import Credentials
from gateway.errors import (
    BadRequest,
    ConfigError,
    DeviceError,
    DeviceFault,
    Forbidden,
    Unauthorized,
    quoted,
    shortened,
)
from gateway.keys import (
    ANNOUNCE_ENDED,
    CLOCK,
    CONFIG,
    DEVICES,
    EVENT_HUB,
    LEASES,
    LOGIN_SHARE,
    LOGINS,
    SESSIONS,
    STORE,
)
from gateway.mapping.bodies import declare
from gateway.mapping.engine import Context, read_resource
from gateway.mapping.spec import (
    ActionWrite,
    PolicyWrite,
    Resource,
    checked_query,
    parameter_values,
)
from gateway.mapping.values import xml_text
from gateway.mapping.writes import put_resource
from gateway.soap.device import DeviceClient
from gateway.state.sessions import Session, forget_key, token_key
from gateway.web.bodies import read_json, read_nothing, read_object

# The authenticated call that proves a login: any ONVIF user may make it (access class READ_SYSTEM).
LOGIN_CHECK = ("device", "GetDeviceInformation")
# The bodies of the gateway's own routes (the OpenAPI description shows these same declarations).
LOGIN_BODY = declare(username={"type": "string", "example": "admin"},
                     password={"type": "string", "example": "admin"})
# no example: no token stays valid; Try it out's "string" answers {"valid": 0}
VALIDATE_BODY = declare(sessionToken={"type": "string",
                                      "description": "a sessionToken that PUT /login answered"})
DEVICE_BODY = declare(id={"type": "string", "pattern": DEVICE_NAME.pattern, "example": "lobby"},
                      url={"type": "string",
                           "example": "http://192.0.2.10/onvif/device_service"})
DEVICE_PREFIX = "/devices/{device_id}"
JSON_UTF8 = "application/json; charset=utf-8"  # web.json_response's Content-Type

log = logging.getLogger(__name__)


async def _device(request: web.Request) -> DeviceClient:
    """The device a request is for: the bare seed paths serve the default device."""
    name = request.match_info.get("device_id") or request.app[CONFIG].default_device.name
    return await request.app[DEVICES].get(name)


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <sessionToken>'; PUT /login gives a token")
    return token.strip()


def query_of(request: web.Request, *known: str) -> dict[str, str]:
    """The query parameters of a route the mapping files do not make (theirs are checked by
    parameter_values, alike): each one of `known`, given once, else a 400 naming it."""
    return checked_query(request.query.items(), known)


def _live(session: Session | None) -> Session:
    if session is None:
        raise Unauthorized("the session token is unknown, ended or expired; log in again")
    return session


async def _any_session(request: web.Request) -> Session:
    """The caller's live session, for whichever device, or 401."""
    return _live(await request.app[SESSIONS].get(_token(request)))


async def _session(request: web.Request, device: DeviceClient,
                   token: str | None = None) -> Session:
    """The caller's live session (of its token, or of the one given) for this device, or 401."""
    session = _live(await request.app[SESSIONS].get(_token(request) if token is None else token))
    if session.device != device.name:
        raise Unauthorized(f"the session token was not issued for device {device.name}")
    return session


def _require(session: Session, needed: str, device_decides: bool) -> None:
    """Refuse, before any SOAP call, what is above the session's user level (403).

    Where the level is unknown, a call the device makes decides for itself; what only the gateway
    does (its policy) needs a level the gateway knows.
    """
    if session.level is None:
        if needed == READ or device_decides:
            return
        user = session.credentials.username
        raise Forbidden(f"this needs an ONVIF {needed}, and the gateway does not know the level "
                        f"of user {quoted(user)}: device {session.device} did not tell it "
                        f"(GetUsers does not list the user). State it in gateway.ini, section "
                        f"[device:{session.device}]: user_levels = {shortened(user)}:Administrator "
                        "(or Operator, User); or give that section a username and password the "
                        "device does list its users to")
    if not allows(session.level, needed):
        raise Forbidden(f"this needs an ONVIF {needed}; user "
                        f"{quoted(session.credentials.username)} is {a_level(session.level)}")


async def _user_level(device: DeviceClient, credentials: Credentials) -> str | None:
    """The user's tt:UserLevel: what the device's GetUsers says (asked as the user, as an
    Administrator may, else with the gateway's service account); only when the device tells
    nothing of this user, the level gateway.ini states (user_levels); else None."""
    for asking in (credentials, device.service_credentials):
        if asking is None:
            continue
        try:
            reply = await device.call("device", "GetUsers", asking)
        except DeviceError:
            continue
        for user in reply.get("User") or []:
            if user.get("Username") == credentials.username and user.get("UserLevel") in LEVELS:
                return str(user["UserLevel"])
    return device.config.stated_level(credentials.username)


async def login(request: web.Request) -> web.Response:
    """Check a user's credentials against the device itself, then open a session."""
    query_of(request)  # (PUT /login?device=cam7 would log in to the default device)
    body = await read_object(request, LOGIN_BODY)
    device = await _device(request)
    credentials = Credentials(body["username"], body["password"])
    address = request.remote or ""
    async with request.app[LOGINS].attempt(device.name, credentials.username, address) as guess:
        if not xml_text(credentials.username + credentials.password):
            # No device has such a user (SOAP cannot even carry it): refused without asking.
            guess.failed()
            raise Unauthorized("the username or password holds characters no ONVIF device "
                               "accepts", device=device.name)
        try:
            async with request.app[LOGIN_SHARE].hold(device.name, address):
                await device.call(*LOGIN_CHECK, credentials)
        except DeviceFault as exc:
            if "NotAuthorized" in exc.subcodes:
                guess.failed()
                raise Unauthorized(f"device {device.name} refused the credentials of user "
                                   f"{quoted(credentials.username)}", device=device.name) from None
            raise
        guess.succeeded()
    if await device.probe_authentication() == "not-enforced":
        log.warning("login of user %s on device %s: the device does not enforce "
                    "authentication, so it did not check the password",
                    quoted(credentials.username), device.name)
    level = await _user_level(device, credentials)
    token = await request.app[SESSIONS].create(device.name, credentials, level, address)
    return web.json_response({"sessionToken": token})


async def logout(request: web.Request) -> web.Response:
    """End the session of the bearer token sent, here and on every other instance."""
    token = _token(request)
    session = await _session(request, await _device(request))
    query_of(request)
    await read_nothing(request)
    key = token_key(token)
    await request.app[SESSIONS].end(token)  # (and forgets the token)
    await _ended_everywhere(request.app, key, session.device, session.credentials.username)
    return web.Response(status=204)


async def _ended_everywhere(app: web.Application, key: bytes, device: str,
                            username: str) -> None:
    """A session ended: what this instance holds for it ends, and so on every other."""
    await session_ended(app, key, device, username)
    announce = app[ANNOUNCE_ENDED]
    if announce is not None:  # (Redis: the other instances do the same at once)
        await announce(key, device, username)


async def session_ended(app: web.Application, key: bytes, device: str, username: str) -> None:
    """Drop what this instance holds for a session that ended (a logout here or on another
    instance; key: its token's hash): its event streams end, what it left moving stops now
    (not when its lease runs out), its token leaves the memo of hashes, and the device's HTTP
    Digest answers of its user go (they hold the password: another session of that user
    rebuilds its own at its next call, one 401 more)."""
    app[EVENT_HUB].end_session(key)
    await app[LEASES].end_owner(key)
    forget_key(key)
    app[DEVICES].forget(device, username)


async def validate_user(request: web.Request) -> web.Response:
    """Whether a session token is still usable here: {"valid": 1} or {"valid": 0}."""
    query_of(request)
    body = await read_object(request, VALIDATE_BODY)
    device = await _device(request)  # an unknown device is 404, whatever the token
    session = await request.app[SESSIONS].get(body["sessionToken"])
    valid = session is not None and session.device == device.name
    return web.json_response({"valid": int(valid)})


class _Checked(NamedTuple):  # a tuple: made for every request, at a third of a dataclass's cost
    """A request for a mapped resource, checked: the device, the caller's session for it (of
    the level needed) and the resource's path and query parameters."""

    device: DeviceClient
    session: Session
    token: str
    params: dict[str, Any]

    def context(self, request: web.Request) -> Context:
        """What the mapping engine needs to serve the request."""
        app = request.app
        return Context(self.device, self.session.credentials, app[STORE], self.params,
                       leases=app[LEASES], owner=token_key(self.token),
                       settle=app[CONFIG].move_settle, clock=app[CLOCK])


async def _checked(request: web.Request, resource: Resource, needed: str,
                   device_decides: bool) -> _Checked:
    """The device a request is for, with the caller's session, checked for its level, and the
    resource's path and query parameters, checked."""
    device = await _device(request)
    token = _token(request)
    session = await _session(request, device, token)
    _require(session, needed, device_decides)
    params = parameter_values(resource, request.match_info, request.query.items())
    return _Checked(device, session, token, params)


async def reader_context(request: web.Request) -> Context:
    """A read's context without a mapping's parameters: the device, the caller's session."""
    device = await _device(request)
    session = await _session(request, device)
    _require(session, READ, device_decides=True)
    return Context(device, session.credentials, request.app[STORE])


async def _encoded(answer: Awaitable[Any]) -> bytes:
    """An answer as web.json_response writes it (the same bytes)."""
    return json.dumps(await answer).encode()


def _json_answer(body: bytes) -> web.Response:
    """An answer encoded already, as web.json_response sends it."""
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: JSON_UTF8})


def read_handler(resource: Resource) -> Handler:
    """The GET (or POST) handler of a mapped resource; answers of Get* operations are kept a
    moment (cache_ttl) per device and user."""
    cacheable = resource.cacheable  # a read that acts (GET /reboot): every request acts

    async def handle(request: web.Request) -> web.Response:
        checked = await _checked(request, resource, resource.level, device_decides=True)
        if request.method != hdrs.METH_GET:  # (POST /reboot)
            await read_nothing(request)
        if not cacheable:
            return web.json_response(await read_resource(resource, checked.context(request)))
        app = request.app
        devices = app[DEVICES]
        name = checked.device.name
        username = checked.session.credentials.username
        # the device's version changes with every write to it, through any instance
        version = await app[STORE].version(name)
        key = (resource.path, username, version, tuple(checked.params.items()))
        cache = devices.cache(name)
        if cache is not None:
            try:
                return _json_answer(cache[key])
            except KeyError:  # not kept, or kept too long
                pass
        # the same read by the same user, already on its way to the device: shared, and
        # encoded once for everyone waiting on it; the cache keeps the encoded answer
        ctx = checked.context(request)
        body = await devices.reads.run((name, ctx.credentials, key),
                                       lambda: _encoded(read_resource(resource, ctx)))
        if cache is not None:
            cache[key] = body
        return _json_answer(body)

    return handle


class _Turns:
    """One at a time per key (a device and a resource's parameters); a key's lock is kept only
    while a request holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Any, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: Any) -> AsyncIterator[None]:
        lock, waiting = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        waiting[0] += 1
        try:
            async with lock:
                yield
        finally:
            waiting[0] -= 1
            if not waiting[0]:
                del self._locks[key]


def put_handler(resource: Resource) -> Handler:
    """The PUT handler of a mapped resource: the body is checked in full before any change.

    Writes are made one at a time per device and resource (its path parameters) through this
    instance: a write is read back and compared, and another client's write in between made it
    a 502 'did not apply' (ten PUTs of brightness at once: nine were). Not moves that go on
    (a lease) or are waited for (wait_while): a stop or a new move replaces them at once."""
    write = resource.put
    device_decides = not isinstance(write, PolicyWrite)
    turns = None if isinstance(write, ActionWrite) and any(
        action.lease is not None or action.wait_while for action in write.actions.values()
    ) else _Turns()

    async def handle(request: web.Request) -> web.Response:
        checked = await _checked(request, resource, WRITE, device_decides)
        ctx = checked.context(request)
        body = await read_json(request)
        try:
            if turns is None:
                return web.json_response(await put_resource(resource, ctx, body))
            async with turns.turn((ctx.device.name, *checked.params.items())):
                return web.json_response(await put_resource(resource, ctx, body))
        finally:
            # whatever the write did, or did in part, nothing read before it may be served after
            await request.app[STORE].bump(ctx.device.name)

    return handle


def _device_entry(request: web.Request, device: DeviceClient) -> dict[str, Any]:
    state = device.state
    return {
        "id": device.name,
        "address": device.config.url,
        "status": state.status,
        "cause": state.cause,
        "last_seen": state.last_seen.isoformat() if state.last_seen else None,
        "clock": state.clock,
        "clock_offset": state.clock_offset,
        "authentication": state.authentication,
        "manufacturer": state.manufacturer,
        "model": state.model,
        "services": device.services,
        "services_unusable": dict(state.services_unusable),
        "default": device.name == request.app[CONFIG].default_device.name,
        # the configuration file's name (or "built in": the demo); "runtime": POST /devices
        "configured_in": request.app[CONFIG].source if request.app[DEVICES].is_static(device.name)
        else "runtime",
    }


async def list_devices(request: web.Request) -> web.Response:
    """GET /devices: every device, what the gateway has seen of it (any session may look)."""
    await _any_session(request)
    query_of(request)
    await request.app[DEVICES].refresh()
    entries = [_device_entry(request, device) for device in request.app[DEVICES]]
    return web.json_response({"devices": entries})


async def _fleet_administrator(request: web.Request) -> None:
    """Adding and removing devices is fleet administration: the users of the default device
    listed in fleet_admins (gateway.ini), or without that list, its Administrators. An
    Administrator of some other camera is not thereby administrator of every camera."""
    session = await _any_session(request)
    config = request.app[CONFIG]
    default = config.default_device.name
    if config.fleet_admins:
        allowed = session.credentials.username in config.fleet_admins
        who = f"a user of device {default} listed in fleet_admins of gateway.ini"
    else:
        allowed = session.level is not None and allows(session.level, REBOOT)
        who = f"an Administrator of device {default} (the default device)"
    if session.device != default or not allowed:
        raise Forbidden(f"adding and removing devices needs a session of {who}")


async def add_device(request: web.Request) -> web.Response:
    """POST /devices {"id", "url"}: front one more device, from now on and after restarts."""
    await _fleet_administrator(request)
    query_of(request)
    body = await read_object(request, DEVICE_BODY)
    try:
        config = device_from_json(body["id"], body["url"])
    except ConfigError as exc:
        field = "$.url" if str(exc).startswith("url") else "$.id"
        raise BadRequest(str(exc), field=field) from None
    device = await request.app[DEVICES].add(config)
    return web.json_response(_device_entry(request, device), status=201)


async def remove_device(request: web.Request) -> web.Response:
    """DELETE /devices/{device_id}: stop fronting a device added at run time."""
    await _fleet_administrator(request)
    query_of(request)
    name = request.match_info["device_id"]
    app = request.app

    async def end_sessions() -> None:
        # Its sessions end with it (a device added later under the same id is another device),
        # and what they hold, on every instance, as at a logout: their event streams, and the
        # moves they left under a lease are stopped now, while the device can be called.
        for key, username in await app[SESSIONS].end_device(name):
            await _ended_everywhere(app, key, name, username)

    await app[DEVICES].remove(name, ending=end_sessions)
    return web.Response(status=204)


def routes(resources: list[Resource]) -> list[web.RouteDef]:
    """The route table, at the bare paths and again under /devices/{device_id}."""
    table: list[tuple[str, str, Handler]] = [
        (method, path, handler)
        for path, handler in (("/login", login), ("/logout", logout),
                              ("/validateUser", validate_user))
        for method in ("PUT", "POST")
    ]
    for resource in resources:
        handler = read_handler(resource)
        table += [(method, resource.path, handler) for method in resource.methods]
        if resource.put is not None:
            table.append(("PUT", resource.path, put_handler(resource)))
    fleet = [web.get("/devices", list_devices), web.post("/devices", add_device),
             web.delete(DEVICE_PREFIX, remove_device)]
    return fleet + [web.route(method, prefix + path, handler)
                    for prefix in ("", DEVICE_PREFIX) for method, path, handler in table]

