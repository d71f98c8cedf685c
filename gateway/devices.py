"""The device registry: every device the gateway fronts, from gateway.ini and added at run time.

A device costs its DeviceClient (a few small objects; its connection pool only once used) and a
read cache. Devices are contacted lazily: on first use, or by the background health check.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator
from typing import Any, TypeVar

from cachetools import TTLCache

from gateway.config import DeviceConfig, GatewayConfig
from gateway.errors import Conflict, DeviceError, NotFound, quoted
from gateway.soap.device import CallObserver, DeviceClient
from gateway.soap.wsdl import Wsdls
from gateway.state.store import PolicyStore

log = logging.getLogger(__name__)
T = TypeVar("T")
# Health checks of many devices run this many at a time, so a fleet check is no burst.
HEALTH_CHECKS_AT_ONCE = 32


# What waiting callers get when the caller making the call went away (cancelled): ask again.
_AGAIN = object()


class SingleFlight:
    """Concurrent identical reads share one call: the first starts it, the others wait for its
    answer (or its error). When a cache entry expires under load, the device is asked once,
    not once per waiting request.

    The first caller makes the call itself, in its own task (a task and a shield per read cost
    the event loop two more turns per request, shared or not); the others each wait on a
    future of their own, so one that goes away cancels only its own wait. If the first caller
    goes away, its call goes with it: the others are told to ask again, and the first of them
    makes the call for the rest.
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, list[asyncio.Future[Any]]] = {}

    async def run(self, key: Hashable, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        while (waiting := self._running.get(key)) is not None:
            mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            waiting.append(mine)
            result = await mine
            if result is not _AGAIN:
                return result  # type: ignore[no-any-return]
        waiting = self._running[key] = []
        try:
            answer = await call()
        except Exception as exc:
            self._land(key, waiting, exc)
            raise
        except BaseException:  # cancelled: the others ask again
            self._land(key, waiting, _AGAIN)
            raise
        self._land(key, waiting, answer)
        return answer

    def _land(self, key: Hashable, waiting: list[asyncio.Future[Any]], outcome: Any) -> None:
        del self._running[key]
        for mine in waiting:
            if mine.done():  # that caller went away
                continue
            if isinstance(outcome, Exception):
                mine.set_exception(outcome)
            else:
                mine.set_result(outcome)


class DeviceRegistry:
    """Devices by name, each with its client and its read cache."""

    def __init__(self, config: GatewayConfig, wsdls: Wsdls, store: PolicyStore,
                 observer: CallObserver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock  # the breakers' and the read caches'
        self._observer = observer  # told of every SOAP call of every device (metrics)
        self._wsdls = wsdls
        self._store = store
        self._static = {d.name for d in config.devices}
        self._clients: dict[str, DeviceClient] = {}
        self._caches: dict[str, TTLCache[Any, Any]] = {}
        self.reads = SingleFlight()  # identical reads of a device, in flight at once
        for device in config.devices:
            self._add(device)

    def _add(self, device: DeviceConfig) -> DeviceClient:
        client = DeviceClient(device, self._wsdls, self._config.device_limits, self._observer,
                              self._clock, digest_idle=self._config.session_idle_timeout)
        self._clients[device.name] = client
        self._caches[device.name] = TTLCache(maxsize=256, ttl=self._config.cache_ttl or 1,
                                             timer=self._clock)
        return client

    async def open(self) -> None:
        """Add the devices stored by earlier runs (or by other instances)."""
        await self.refresh()

    async def refresh(self) -> None:
        """Follow the runtime devices in the store: other instances may add and remove them."""
        stored = await self._store.devices()
        for name in [n for n in self._clients if not self.is_static(n) and n not in stored]:
            await self._drop(name)
        for name, url in stored.items():
            if name not in self._clients:
                self._add(DeviceConfig(name, url))

    async def _drop(self, name: str) -> bool:
        """Forget a device's client; whether there was one (requests racing each other may
        drop it first: two DELETEs, a refresh)."""
        client = self._clients.pop(name, None)
        if client is None:
            return False
        del self._caches[name]
        await client.close()
        return True

    def __iter__(self) -> Iterator[DeviceClient]:
        return iter(list(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)

    async def get(self, name: str) -> DeviceClient:
        """A device by name, or NotFound."""
        client = self._clients.get(name)
        if client is not None and (not self._config.redis_url or self.is_static(name)):
            return client
        # A runtime device; with a shared store another instance may have added or removed it.
        url = await self._store.device(name)
        if url is None:
            if client is not None:
                await self._drop(name)
            raise NotFound(f"no device {quoted(name)}")
        return client if client is not None else self._add(DeviceConfig(name, url))

    def loaded(self, name: str) -> DeviceClient | None:
        """A device this instance has a client for, without asking the store."""
        return self._clients.get(name)

    def forget(self, name: str, username: str) -> None:
        """Drop what a device keeps of a user's password (HTTP Digest answers): a session of
        theirs ended. Another session of that user rebuilds it at its next call."""
        client = self._clients.get(name)
        if client is not None:
            client.digest.forget(username)

    def is_static(self, name: str) -> bool:
        """Whether a device comes from gateway.ini (and so cannot be removed at run time)."""
        return name in self._static

    def cache(self, name: str) -> TTLCache[Any, Any] | None:
        """The device's cache of GET answers, or None when caching is off."""
        return self._caches[name] if self._config.cache_ttl > 0 else None

    async def add(self, device: DeviceConfig) -> DeviceClient:
        """Add a device at run time; it is stored, so a restart (and every instance) has it."""
        if self.is_static(device.name) or not await self._store.add_device(device.name,
                                                                            device.url):
            raise Conflict(f"there is already a device {quoted(device.name)}", field="$.id")
        return self._add(device)

    async def remove(self, name: str,
                     ending: Callable[[], Awaitable[None]] | None = None) -> None:
        """Remove a device added at run time, and what the gateway kept for it. `ending` runs
        once the device may go, while it can still be called (to end what its users hold)."""
        await self.get(name)
        if self.is_static(name):
            raise Conflict(f"device {quoted(name)} is defined in gateway.ini; remove it there")
        if ending is not None:
            await ending()
        await self._store.remove_device(name)
        if not await self._drop(name):
            raise NotFound(f"no device {quoted(name)}")  # a request racing this one removed it

    async def close(self) -> None:
        for client in self:
            await client.close()

    async def check_health(self) -> None:
        """Ask every device whether it is there (concurrently, a few at a time)."""
        slots = asyncio.Semaphore(HEALTH_CHECKS_AT_ONCE)

        async def check(client: DeviceClient) -> None:
            async with slots:
                try:
                    await client.check()
                except DeviceError:
                    pass  # the device's state says it; GET /devices shows it
                except Exception:
                    # One device's bad data is that device's problem: the others are checked.
                    log.exception("health check of device %s failed", client.name)

        await asyncio.gather(*(check(client) for client in self))

    async def watch(self) -> None:
        """Check every device every health_interval seconds, until cancelled; nothing that
        goes wrong in a round (logged) stops the next one."""
        while True:
            await asyncio.sleep(self._config.health_interval)
            try:
                await self.check_health()
            except Exception:
                log.exception("a round of health checks failed")
