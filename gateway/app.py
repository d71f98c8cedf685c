"""create_app: the one factory that the command line, the tests and the benchmarks all use."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path

from aiohttp import web

from gateway.config import GatewayConfig
from gateway.devices import DeviceRegistry
from gateway.errors import StartupError
from gateway.events.hub import EventHub, EventSettings
from gateway.events.pullpoint import Timing
from gateway.events.webhooks import Webhooks, WebhookSettings
from gateway.keys import (
    ANNOUNCE_ENDED,
    CLOCK,
    CONFIG,
    DEVICES,
    EVENT_HUB,
    LEASES,
    LOGIN_SHARE,
    LOGINS,
    METRICS,
    PATHS,
    RESOURCES,
    SESSIONS,
    SNAPSHOTS,
    STORE,
    WEBHOOKS,
    WSDLS,
)
from gateway.leases import Leases
from gateway.logins import LoginLimiter, LoginShare
from gateway.logs import redact_request_logs
from gateway.mapping.actions import held_for, stop_lease
from gateway.mapping.engine import Context
from gateway.mapping.spec import Resource, load_mappings
from gateway.metrics import Metrics
from gateway.snapshots import Snapshots
from gateway.soap.wsdl import Wsdls, load_wsdls
from gateway.state.sessions import MemorySessions
from gateway.state.store import SqlitePolicyStore
from gateway.web import events, observe, openapi, snapshots
from gateway.web.handlers import routes, session_ended
from gateway.web.problems import MAX_BODY_BYTES, problems
from gateway.web.routing import add_routes

log = logging.getLogger(__name__)


def packaged(package: str) -> Path:
    """The folder of a data package that ships inside the gateway (gateway.wsdl: ONVIF's WSDLs,
    gateway.mappings: the mapping files); in a checkout they are its wsdl/ and mappings/."""
    try:
        folder = files(package)
    except ModuleNotFoundError:
        raise StartupError(f"{package} is not installed: install the gateway with pip "
                           "(in a checkout: pip install -e .)") from None
    # zeep and the mapping loader read plain files: an install as a zip file would not do.
    if not isinstance(folder, Path):
        raise StartupError(f"{package} is installed as {folder}, not as plain files")
    return folder


WSDL_DIR = packaged("gateway.wsdl")
MAPPINGS_DIR = packaged("gateway.mappings")


_parsed: dict[Path, Wsdls] = {}
YOUNG_OBJECTS = 20_000


async def shared_wsdls(wsdl_dir: Path) -> Wsdls:
    """The WSDLs of a folder, parsed once per process (in a worker thread) and then shared."""
    if wsdl_dir not in _parsed:
        _parsed[wsdl_dir] = await load_wsdls(wsdl_dir)
        # The parsed WSDLs (some 100,000 objects) live as long as the process: out of the
        # garbage collector's sight, a full collection (which stops every thread) is that much
        # shorter while a device's large reply is parsed.
        gc.freeze()
        # And collect the young generation after 20,000 new objects rather than Python's 700:
        # with 64 requests in flight, every collection walked (and aged) their live objects
        # again, about a tenth of the gateway's CPU; now a few MB of garbage wait a little.
        gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    return _parsed[wsdl_dir]


async def _stores(app: web.Application) -> AsyncIterator[None]:
    """Sessions and the policy store: in this process (memory, and SQLite in the state
    directory), or shared with other instances in Redis when gateway.ini names one."""
    config = app[CONFIG]
    if config.redis_url:
        # imported only here: redis takes a tenth of a second to import, and most gateways run alone
        from gateway.state.redisstore import (
            RedisGuesses,
            RedisPolicyStore,
            RedisSessions,
            connect,
        )

        client = connect(config.redis_url, config.device_timeout)
        app[LOGINS].shared = RedisGuesses(client)  # a guesser gets no more from N instances
        app[SESSIONS] = RedisSessions(client, config.session_idle_timeout,
                                      config.session_max_age, config.sessions_per_user,
                                      config.sessions_per_address)
        app[STORE] = RedisPolicyStore(client)
    else:
        app[SESSIONS] = MemorySessions(config.session_idle_timeout, config.session_max_age,
                                       config.max_sessions, config.sessions_per_user,
                                       config.sessions_per_address, clock=app[CLOCK])
        app[STORE] = SqlitePolicyStore(config.state_dir / "policy.sqlite3")
    await app[STORE].open()
    yield
    await app[STORE].close()


async def _devices(app: web.Application) -> AsyncIterator[None]:
    """The device registry (after the store: it holds the devices added at run time), and its
    background health check; every device's connections are closed on shutdown."""
    registry = app[DEVICES] = DeviceRegistry(app[CONFIG], app[WSDLS], app[STORE],
                                              app[METRICS].soap_call, clock=app[CLOCK])
    await registry.open()
    watch = None
    if app[CONFIG].health_interval > 0:
        watch = asyncio.create_task(registry.watch())
    yield
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    await registry.close()


async def _snapshots(app: web.Application) -> AsyncIterator[None]:
    """The snapshot proxy's pictures and connections."""
    config = app[CONFIG]
    app[SNAPSHOTS] = Snapshots(config.snapshot_ttl, config.snapshot_timeout,
                               config.snapshot_max_bytes, app[METRICS].snapshot_fetch,
                               clock=app[CLOCK])
    yield
    await app[SNAPSHOTS].close()


async def _leases(app: web.Application) -> AsyncIterator[None]:
    """Actions held under a lease (continuous moves); after the devices, so that on shutdown
    every one still held is stopped while the devices can still be called."""
    config = app[CONFIG]
    client = shared = None
    if config.redis_url:  # renewals and stops may reach any instance
        from gateway.state.redisstore import RedisLeases, connect

        client = connect(config.redis_url, config.device_timeout)
        shared = RedisLeases(client)
    # A lease never outlives the idle expiry of the session it was taken for.
    leases = app[LEASES] = Leases(config.move_lease, config.move_lease_max,
                                  config.session_idle_timeout, clock=app[CLOCK], shared=shared)
    watch = None
    if shared is not None:  # this instance stops what a dead one left moving

        async def take_over(key: str, stop: str) -> None:
            await _stop_lease(app, key, stop)

        watch = asyncio.create_task(leases.watch(take_over))
    yield
    if watch is not None:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    await leases.close()
    if client is not None:
        await client.aclose()


async def _stop_lease(app: web.Application, key: str, stop: str) -> None:
    """Stop the action of a lease another instance held and left (it died), as the device's
    account of gateway.ini: the password of the session it was held for is nowhere to be had."""
    name, params, resource_name, case = held_for(key, stop)
    device = await app[DEVICES].get(name)
    credentials = device.service_credentials
    if credentials is None:
        log.warning("cannot stop %s: device %s has no username and password in gateway.ini",
                    key, name)
        return
    resource = next(r for r in app[RESOURCES] if r.name == resource_name)
    await stop_lease(resource, case, Context(device, credentials, app[STORE], params))


def event_settings(config: GatewayConfig) -> EventSettings:
    """The event hub's settings from gateway.ini; a pull waits at most half of device_timeout,
    so that a quiet camera's long poll never looks like a device that does not answer."""
    # One pull brings at most a client queue's worth: a burst never overflows a client alone.
    timing = Timing(lifetime=config.event_lifetime, backoff=config.event_retry,
                    pull_timeout=max(1.0, min(10.0, config.device_timeout / 2)),
                    message_limit=min(100, config.event_client_queue))
    return EventSettings(buffer=config.event_buffer, client_queue=config.event_client_queue,
                         linger=config.event_linger, timing=timing)


async def _events(app: web.Application) -> AsyncIterator[None]:
    """The event hub and the webhooks (after the devices: subscriptions call them). Streams
    end at shutdown, before the server waits for its handlers; subscriptions are Unsubscribed.
    With Redis, subscriptions and events are shared with the other instances."""
    config = app[CONFIG]
    registry = app[DEVICES]
    hub = app[EVENT_HUB] = EventHub(event_settings(config), clock=app[CLOCK])
    settings = WebhookSettings(allow=config.webhook_allow, retries=config.webhook_retries,
                               retry=config.webhook_retry)
    shared = None
    if config.redis_url:
        from gateway.events.shared import SharedEvents
        from gateway.state.redisstore import connect

        shared = SharedEvents(connect(config.redis_url, config.device_timeout), hub,
                              registry.loaded, config.event_lease, clock=app[CLOCK])
        await shared.open()
        webhooks = Webhooks(hub, app[STORE], settings, shared=True,
                            changed=shared.announce_webhooks)

        async def webhooks_changed() -> None:
            await webhooks.sync({device.name: device for device in registry})

        async def ended_elsewhere(key: bytes, device: str, username: str) -> None:
            await session_ended(app, key, device, username)

        shared.webhooks_changed = webhooks_changed
        shared.session_ended = ended_elsewhere
        app[ANNOUNCE_ENDED] = shared.announce_session_ended
    else:
        webhooks = Webhooks(hub, app[STORE], settings)
        app[ANNOUNCE_ENDED] = None
    app[WEBHOOKS] = webhooks
    await webhooks.open({device.name: device for device in registry})
    yield
    await _end_streams(app)
    if shared is not None:
        await shared.close()


async def _end_streams(app: web.Application) -> None:
    if WEBHOOKS in app:
        await app[WEBHOOKS].close()  # first: they would listen again to an ended stream
    if EVENT_HUB in app:
        await app[EVENT_HUB].close()


def route_table(resources: list[Resource]) -> list[web.RouteDef]:
    """Every route of the gateway, bare and under /devices/{device_id}/."""
    return (routes(resources) + snapshots.routes(resources) + events.routes() + observe.routes()
            + openapi.routes())


async def create_app(config: GatewayConfig, wsdl_dir: Path = WSDL_DIR,
                     clock: Callable[[], float] = time.monotonic) -> web.Application:
    """Build the gateway: WSDLs parsed, mapping files checked against them, routes from those.
    clock (monotonic seconds) measures every expiry, breaker and age: tests give a fake one."""
    wsdls = await shared_wsdls(wsdl_dir)
    resources = load_mappings(config.mappings_dir or MAPPINGS_DIR, wsdls)

    # observe is outside problems: error answers are counted and logged as they are sent.
    redact_request_logs()
    app = web.Application(middlewares=[observe.observe, problems],
                          client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config
    app[CLOCK] = clock
    app[WSDLS] = wsdls
    app[RESOURCES] = resources
    app[METRICS] = Metrics()
    app[LOGINS] = LoginLimiter(config.login_max_failures, config.login_lockout,
                               config.device_timeout, clock=clock)
    app[LOGIN_SHARE] = LoginShare(config.device_concurrency, config.device_timeout)
    app.cleanup_ctx.append(_stores)
    app.cleanup_ctx.append(_devices)
    app.cleanup_ctx.append(_snapshots)
    app.cleanup_ctx.append(_leases)
    app.cleanup_ctx.append(_events)
    app.on_shutdown.append(_end_streams)
    add_routes(app, route_table(resources))
    app[PATHS] = frozenset(route.resource.canonical for route in app.router.routes()
                           if route.resource is not None)
    return app
