"""The HTTP handlers: sessions (/login, /logout, /validateUser) and the mapped resources.

Every route is served twice: at the seed's bare path, for the default device, and under
/devices/{device_id}/ for any configured device.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.access import READ, WRITE, allows
from gateway.errors import DeviceError, DeviceFault, Forbidden, NotFound, Unauthorized
from gateway.keys import CONFIG, DEVICES, LOGINS, SESSIONS, STORE
from gateway.mapping.engine import Context, read_resource
from gateway.mapping.spec import PolicyWrite, Resource
from gateway.mapping.writes import put_resource
from gateway.sessions import Session
from gateway.soap.device import Credentials, DeviceClient
from gateway.web.bodies import read_json, read_object

# The authenticated call that proves a login: any ONVIF user may make it (access class READ_SYSTEM).
LOGIN_CHECK = ("device", "GetDeviceInformation")
DEVICE_PREFIX = "/devices/{device_id}"


def _device(request: web.Request) -> DeviceClient:
    """The device a request is for: the bare seed paths serve the default device."""
    devices = request.app[DEVICES]
    name = request.match_info.get("device_id", request.app[CONFIG].default_device.name)
    if name not in devices:
        raise NotFound(f"no device {name!r}")
    return devices[name]


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <sessionToken>'; PUT /login gives a token")
    return token.strip()


def _session(request: web.Request, device: DeviceClient) -> Session:
    """The caller's live session for this device, or 401."""
    session = request.app[SESSIONS].get(_token(request))
    if session is None:
        raise Unauthorized("the session token is unknown, ended or expired; log in again")
    if session.device != device.name:
        raise Unauthorized(f"the session token was not issued for device {device.name}")
    return session


def _require(session: Session, needed: str, device_decides: bool) -> None:
    """Refuse, before any SOAP call, what is above the session's user level (403).

    Where the device did not tell the level, a call the device makes decides for itself; what only
    the gateway does (its policy) needs a level the gateway knows.
    """
    if session.level is None:
        if needed == READ or device_decides:
            return
        raise Forbidden(f"this needs an ONVIF {needed} and the device did not tell the gateway "
                        f"the level of user {session.credentials.username!r}; configure the "
                        "device's service account in gateway.ini so that it can read it")
    if not allows(session.level, needed):
        raise Forbidden(f"this needs an ONVIF {needed}; user "
                        f"{session.credentials.username!r} is a {session.level}")


async def _user_level(device: DeviceClient, credentials: Credentials) -> str | None:
    """The user's tt:UserLevel from GetUsers: asked as the user (Administrators may), else with
    the gateway's service account; None when the device will not say."""
    for asking in (credentials, device.service_credentials):
        if asking is None:
            continue
        try:
            reply = await device.call("device", "GetUsers", asking)
        except DeviceError:
            continue
        for user in reply.get("User") or []:
            if user.get("Username") == credentials.username:
                return str(user.get("UserLevel"))
        return None
    return None


async def login(request: web.Request) -> web.Response:
    """Check a user's credentials against the device itself, then open a session."""
    body = await read_object(request, {"username": str, "password": str})
    device = _device(request)
    credentials = Credentials(body["username"], body["password"])
    keys = [("user", device.name, credentials.username), ("address", request.remote or "")]
    limiter = request.app[LOGINS]
    limiter.check(keys)
    try:
        await device.call(*LOGIN_CHECK, credentials)
    except DeviceFault as exc:
        if "NotAuthorized" in exc.subcodes:
            limiter.failed(keys)
            raise Unauthorized(
                f"device {device.name} refused the credentials of user {credentials.username!r}",
                device=device.name,
            ) from None
        raise
    limiter.succeeded(keys)
    level = await _user_level(device, credentials)
    token = request.app[SESSIONS].create(device.name, credentials, level)
    return web.json_response({"sessionToken": token})


async def logout(request: web.Request) -> web.Response:
    """End the session of the bearer token sent."""
    _session(request, _device(request))
    request.app[SESSIONS].end(_token(request))
    return web.Response(status=204)


async def validate_user(request: web.Request) -> web.Response:
    """Whether a session token is still usable here: {"valid": 1} or {"valid": 0}."""
    body = await read_object(request, {"sessionToken": str})
    session = request.app[SESSIONS].get(body["sessionToken"])
    valid = session is not None and session.device == _device(request).name
    return web.json_response({"valid": int(valid)})


def _context(request: web.Request, needed: str, device_decides: bool) -> Context:
    """The device a request is for, with the caller's session, checked for its level."""
    device = _device(request)
    session = _session(request, device)
    _require(session, needed, device_decides)
    return Context(device, session.credentials, request.app[STORE])


def read_handler(resource: Resource) -> Handler:
    """The GET (or POST) handler of a mapped resource."""

    async def handle(request: web.Request) -> web.Response:
        ctx = _context(request, resource.level, device_decides=True)
        return web.json_response(await read_resource(resource, ctx))

    return handle


def put_handler(resource: Resource) -> Handler:
    """The PUT handler of a mapped resource: the body is checked in full before any change."""
    device_decides = not isinstance(resource.put, PolicyWrite)

    async def handle(request: web.Request) -> web.Response:
        ctx = _context(request, WRITE, device_decides)
        return web.json_response(await put_resource(resource, ctx, await read_json(request)))

    return handle


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
    return [web.route(method, prefix + path, handler)
            for prefix in ("", DEVICE_PREFIX) for method, path, handler in table]

