"""Webhooks: the gateway POSTs each event of some devices to a URL, signed, and retries.

A webhook is a permanent listener of the event hub: its devices stay subscribed while it exists,
with the device's service account (gateway.ini), since no user is there to lend credentials.
Registrations are durable (the policy store: SQLite or Redis, with the secret); what happened to
deliveries (counts, the last error) is kept in this process.

Each event is POSTed as its JSON (the same as /events sends), with
`X-Gateway-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the webhook's secret>` and
`X-Gateway-Event-Id`. Anything but a 2xx answer (redirects are not followed) is a failure:
the delivery is tried again after `retry` seconds, doubling, `retries` times, then given up.
A URL may only point into the `webhook_allow` networks of gateway.ini, checked at registration
and again on every connection (a name may resolve elsewhere later).

With several instances (Redis, gateway/events/shared.py) every instance runs every webhook and
`shared` delivers only the events of its own subscriptions (the device's lease holder's): each
event once, a device's events in order. `changed` tells the other instances to read the
registrations again (sync()).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from gateway.errors import BadRequest, Conflict, quoted
from gateway.events.hub import EventHub, Listener, Sent
from gateway.events.model import TopicFilter, now
from gateway.soap.device import DeviceClient
from gateway.state.store import PolicyStore

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Gateway-Signature"
EVENT_ID_HEADER = "X-Gateway-Event-Id"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebhookSettings:
    """gateway.ini's webhook_* settings."""

    allow: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),
                                  ipaddress.ip_network("::1/128"))
    retries: int = 5
    retry: float = 1.0
    timeout: float = 5.0


@dataclass
class Webhook:
    """A registration, and what happened to its deliveries (in this process)."""

    id: str
    url: str
    topic: str
    devices: list[str]
    created: str
    secret: str = field(repr=False)
    delivered: int = 0
    delivered_elsewhere: int = 0  # with several instances: by the one that subscribed
    failed_attempts: int = 0
    given_up: int = 0
    dropped: int = 0
    last_delivery: str | None = None
    last_failure: str | None = None
    last_error: str | None = None

    def public(self) -> dict[str, Any]:
        """What GET /webhooks shows: everything but the secret."""
        shown = asdict(self)
        del shown["secret"]
        return shown

    def record(self) -> str:
        """What the store keeps."""
        return json.dumps({key: getattr(self, key)
                           for key in ("id", "url", "topic", "devices", "created", "secret")})


def allowed(address: str, allow: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in allow)


class AllowedResolver(ThreadedResolver):
    """Resolves names to the webhook_allow addresses only: a name that pointed inside at
    registration cannot later send the gateway elsewhere."""

    def __init__(self, allow: tuple[Network, ...]) -> None:
        super().__init__()
        self._allow = allow

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = [r for r in await super().resolve(host, port, family)
                 if allowed(r["host"], self._allow)]
        if not found:
            raise OSError(f"{host} resolves to no address that webhook_allow allows")
        return found


async def check_url(url: str, allow: tuple[Network, ...]) -> None:
    """Refuse (400, $.url) a URL that is not http(s) or leads outside webhook_allow."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("the webhook url must be an http:// or https:// URL", field="$.url")
    if parts.username or parts.password:
        raise BadRequest("the webhook url must not hold credentials", field="$.url")
    try:
        port = parts.port
    except ValueError:  # (not a number, or past 65535)
        raise BadRequest("the webhook url's port is not a number from 1 to 65535",
                         field="$.url") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port or 0,
                                                             type=socket.SOCK_STREAM)
    except OSError:
        raise BadRequest(f"the webhook url's host {quoted(parts.hostname)} does not resolve",
                         field="$.url") from None
    addresses = {str(info[4][0]) for info in infos}
    if not all(allowed(address, allow) for address in addresses):
        raise BadRequest(f"the webhook url's host {quoted(parts.hostname)} is outside the networks "
                         "webhook_allow (gateway.ini) allows", field="$.url")


class Webhooks:
    """Every webhook: registration, removal, delivery."""

    def __init__(self, hub: EventHub, store: PolicyStore, settings: WebhookSettings,
                 shared: bool = False,
                 changed: Callable[[], Awaitable[None]] | None = None) -> None:
        self._hub = hub
        self._store = store
        self.settings = settings
        self._shared = shared
        self._changed = changed
        self._hooks: dict[str, Webhook] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=AllowedResolver(self.settings.allow)),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        return self._http

    async def open(self, devices: dict[str, DeviceClient]) -> None:
        """Start the stored webhooks (those of devices still fronted)."""
        await self.sync(devices)

    async def sync(self, devices: dict[str, DeviceClient]) -> None:
        """Follow the store: start the webhooks not running yet, stop those removed (by
        another instance)."""
        stored = await self._store.webhooks()
        for webhook_id in [w for w in self._hooks if w not in stored]:
            await self._stop(webhook_id)
        for webhook_id, record in stored.items():
            if webhook_id in self._hooks:
                continue
            hook = self._hooks[webhook_id] = Webhook(**json.loads(record))
            present = [devices[name] for name in hook.devices if name in devices]
            if present:
                self._start(hook, present)

    async def add(self, url: str, topic: str, devices: list[DeviceClient]) -> Webhook:
        """Register a webhook (stored before it starts); its secret is in the answer only."""
        await check_url(url, self.settings.allow)
        for device in devices:
            if device.service_credentials is None:
                raise Conflict(f"device {device.name} has no service account in gateway.ini: "
                               "webhooks need one (the gateway subscribes with no user there)")
        hook = Webhook(id=secrets.token_hex(8), url=url, topic=topic,
                       devices=[d.name for d in devices], created=now(),
                       secret=secrets.token_hex(32))
        await self._store.add_webhook(hook.id, hook.record())
        self._hooks[hook.id] = hook
        self._start(hook, devices)
        if self._changed is not None:
            await self._changed()
        return hook

    def get(self, webhook_id: str) -> Webhook | None:
        return self._hooks.get(webhook_id)

    def of(self, devices: set[str]) -> list[Webhook]:
        """The webhooks of any of these devices."""
        return [hook for hook in self._hooks.values() if devices & set(hook.devices)]

    async def remove(self, webhook_id: str) -> None:
        await self._store.remove_webhook(webhook_id)
        await self._stop(webhook_id)
        if self._changed is not None:
            await self._changed()

    async def _stop(self, webhook_id: str) -> None:
        self._hooks.pop(webhook_id, None)
        task = self._tasks.pop(webhook_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        for webhook_id in list(self._tasks):
            task = self._tasks.pop(webhook_id)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()

    def _start(self, hook: Webhook, devices: list[DeviceClient]) -> None:
        self._tasks[hook.id] = asyncio.create_task(self._run(hook, devices),
                                                   name=f"webhook {hook.id}")

    async def _run(self, hook: Webhook, devices: list[DeviceClient]) -> None:
        """Listen to the devices and deliver each event in turn, until removed."""
        pairs = [(d, d.service_credentials) for d in devices if d.service_credentials]
        while True:
            listener, replay = self._hub.listen(pairs, TopicFilter(hook.topic))
            try:
                for sent in replay:
                    await self._deliver(hook, sent)
                await self._drain(hook, listener)
            finally:
                self._hub.leave(listener)

    async def _drain(self, hook: Webhook, listener: Listener) -> None:
        while True:
            sent = await listener.queue.get()
            if listener.ended.is_set() and not sent[0]:
                # the receiver was too slow for the events (or the gateway is stopping): what
                # was queued is lost; listen again
                hook.dropped += listener.queue.maxsize
                hook.last_error = sent[1]["data"].get("reason")
                return
            await self._deliver(hook, sent)

    async def _deliver(self, hook: Webhook, sent: Sent) -> None:
        event_id, _, payload = sent
        if self._shared and not self._hub.originated(event_id):
            hook.delivered_elsewhere += 1
            return
        body = payload.encode()
        signature = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: f"sha256={signature}",
                   EVENT_ID_HEADER: event_id}
        for attempt in range(self.settings.retries + 1):
            try:
                async with self._session().post(hook.url, data=body, headers=headers,
                                                allow_redirects=False) as answer:
                    if 200 <= answer.status < 300:
                        hook.delivered += 1
                        hook.last_delivery = now()
                        return
                    error = f"HTTP {answer.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            hook.failed_attempts += 1
            hook.last_failure, hook.last_error = now(), error
            if attempt < self.settings.retries:
                await asyncio.sleep(self.settings.retry * 2 ** attempt)
        hook.given_up += 1
        log.warning("webhook %s: gave up delivering event %s to %s after %d attempts: %s",
                    hook.id, event_id, urlsplit(hook.url).netloc, self.settings.retries + 1,
                    hook.last_error)
