"""The HTTP handlers: sessions (/login, /validateUser) and the mapped resources."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import DeviceFault, Unauthorized
from gateway.keys import CONFIG, DEVICES, SESSIONS, STORE
from gateway.mapping.engine import Context, read_resource
from gateway.mapping.spec import Resource
from gateway.mapping.writes import put_resource
from gateway.sessions import Session
from gateway.soap.device import Credentials, DeviceClient
from gateway.web.bodies import read_json, read_object

# The authenticated call that proves a login: any ONVIF user may make it (access class READ_SYSTEM).
LOGIN_CHECK = ("device", "GetDeviceInformation")


def _device(request: web.Request) -> DeviceClient:
    """The device a request is for: the bare seed paths serve the default device."""
    return request.app[DEVICES][request.app[CONFIG].default_device.name]


def _session(request: web.Request, device: DeviceClient) -> Session:
    """The caller's live session for this device, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send 'Authorization: Bearer <sessionToken>'; PUT /login gives a token")
    session = request.app[SESSIONS].get(token.strip())
    if session is None:
        raise Unauthorized("the session token is unknown, ended or expired; log in again")
    if session.device != device.name:
        raise Unauthorized(f"the session token was not issued for device {device.name}")
    return session


async def login(request: web.Request) -> web.Response:
    """Check a user's credentials against the device itself, then open a session."""
    body = await read_object(request, {"username": str, "password": str})
    device = _device(request)
    credentials = Credentials(body["username"], body["password"])
    try:
        await device.call(*LOGIN_CHECK, credentials)
    except DeviceFault as exc:
        if "NotAuthorized" in exc.subcodes:
            raise Unauthorized(
                f"device {device.name} refused the credentials of user {credentials.username!r}",
                device=device.name,
            ) from None
        raise
    token = request.app[SESSIONS].create(device.name, credentials)
    return web.json_response({"sessionToken": token})


async def validate_user(request: web.Request) -> web.Response:
    """Whether a session token is still usable: {"valid": 1} or {"valid": 0}."""
    body = await read_object(request, {"sessionToken": str})
    valid = request.app[SESSIONS].get(body["sessionToken"]) is not None
    return web.json_response({"valid": int(valid)})


def _context(request: web.Request) -> Context:
    """The device a request is for, with the caller's session credentials (or 401)."""
    device = _device(request)
    session = _session(request, device)
    return Context(device, session.credentials, request.app[STORE])


def read_handler(resource: Resource) -> Handler:
    """The GET (or POST) handler of a mapped resource."""

    async def handle(request: web.Request) -> web.Response:
        return web.json_response(await read_resource(resource, _context(request)))

    return handle


def put_handler(resource: Resource) -> Handler:
    """The PUT handler of a mapped resource: the body is checked in full before any change."""

    async def handle(request: web.Request) -> web.Response:
        ctx = _context(request)
        return web.json_response(await put_resource(resource, ctx, await read_json(request)))

    return handle


def routes(resources: list[Resource]) -> list[web.RouteDef]:
    """The route table: the session endpoints, then one route per mapped resource."""
    table = [
        web.put("/login", login),
        web.post("/login", login),
        web.put("/validateUser", validate_user),
        web.post("/validateUser", validate_user),
    ]
    for resource in resources:
        table += [web.route(method, resource.path, read_handler(resource))
                  for method in resource.methods]
        if resource.put is not None:
            table.append(web.put(resource.path, put_handler(resource)))
    return table

