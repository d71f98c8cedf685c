"""The typed keys of the gateway's application state, all in one place."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.events.hub import EventHub
from gateway.events.webhooks import Webhooks
from gateway.leases import Leases
from gateway.logins import LoginLimiter, LoginShare
from gateway.mapping.spec import Resource
from gateway.metrics import Metrics
from gateway.snapshots import Snapshots
from gateway.soap.wsdl import Wsdls
from gateway.state.sessions import Sessions
from gateway.state.store import PolicyStore

CONFIG = web.AppKey("config", GatewayConfig)
# Monotonic seconds, for every expiry, breaker and age (create_app's clock; tests give a fake).
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
WSDLS = web.AppKey("wsdls", Wsdls)
RESOURCES = web.AppKey("resources", list[Resource])
DEVICES = web.AppKey("devices", DeviceRegistry)
SESSIONS = web.AppKey("sessions", Sessions)
STORE = web.AppKey("store", PolicyStore)
LOGINS = web.AppKey("logins", LoginLimiter)
LOGIN_SHARE = web.AppKey("login_share", LoginShare)
METRICS = web.AppKey("metrics", Metrics)
SNAPSHOTS = web.AppKey("snapshots", Snapshots)
# The canonical path of every route, fixed once the routes are added (the request log reads it).
PATHS = web.AppKey("paths", frozenset[str])
LEASES = web.AppKey("leases", Leases)
EVENT_HUB = web.AppKey("event_hub", EventHub)
# With Redis: tells the other instances that a session ended (its token's hash, its device and
# user), so that they drop what they hold of it at once (gateway.web.handlers.session_ended).
ANNOUNCE_ENDED: web.AppKey[Callable[[bytes, str, str], Awaitable[None]] | None] = web.AppKey(
    "announce_ended")
WEBHOOKS = web.AppKey("webhooks", Webhooks)

# The id of a request: logged, and sent back in X-Request-ID and in problem bodies.
REQUEST_ID = web.RequestKey("request_id", str)
