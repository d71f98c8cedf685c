"""Leases: a device action that must end by itself (a continuous PTZ move) unless renewed.

Over HTTP a client may start a camera turning and vanish. So the gateway holds every such
action under a lease: when the lease runs out without a renewal, when its session ends, or when
the gateway shuts down, the gateway makes the action's stop call itself. This is the one place
where that happens; mapping files say which actions hold a lease and what stops them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]


@dataclass
class _Held:
    owner: bytes  # the session it was taken for (a hash of its token)
    stop: Stop
    timer: asyncio.Task[None]


class Leases:
    """The leases of one gateway process, by key (a device and what on it, e.g. a profile)."""

    def __init__(self, default: float, maximum: float, ceiling: float = float("inf"),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.default = default  # seconds, when the client asks for no length
        self.maximum = maximum
        self.ceiling = ceiling  # no lease is held longer (the sessions' idle timeout)
        self._clock = clock  # monotonic seconds: a lease ends once it has passed its end
        self._held: dict[Hashable, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, key: Hashable, owner: bytes, seconds: float, stop: Stop) -> float:
        """Take (or renew) the lease on key: stop() runs after `seconds` (at most `ceiling`)
        unless it is renewed, released or ended first. Returns the seconds held."""
        self.release(key)
        seconds = min(seconds, self.ceiling)
        timer = asyncio.get_running_loop().create_task(self._expire(key, self._clock() + seconds))
        self._held[key] = _Held(owner, stop, timer)
        return seconds

    def release(self, key: Hashable) -> None:
        """Drop the lease on key without stopping: a newer command on it supersedes the action
        (a stop, another move)."""
        held = self._held.pop(key, None)
        if held is not None:
            held.timer.cancel()

    async def end_owner(self, owner: bytes) -> None:
        """Stop now every action held for a session that ended (logout)."""
        keys = [key for key, held in self._held.items() if held.owner == owner]
        await asyncio.gather(*(self._stop(key, "its session ended") for key in keys))

    async def close(self) -> None:
        """Stop every action still held (the gateway shuts down)."""
        await asyncio.gather(*(self._stop(key, "the gateway stops") for key in list(self._held)))

    async def _expire(self, key: Hashable, until: float) -> None:
        # the clock says when the end has come (a test's clock moves only when the test moves
        # it); the sleep only says when to look again
        left = until - self._clock()
        while left > 0:
            await asyncio.sleep(left)
            left = until - self._clock()
        held = self._held.get(key)
        if held is not None and held.timer is asyncio.current_task():
            del self._held[key]
            await self._run(key, held, "its lease ran out")

    async def _stop(self, key: Hashable, why: str) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            held.timer.cancel()
            await self._run(key, held, why)

    @staticmethod
    async def _run(key: Hashable, held: _Held, why: str) -> None:
        log.info("stopping %s: %s", key, why)
        # A device that fails to stop must not take the lease machinery (or shutdown) with it:
        # the failure is logged.
        try:
            await held.stop()
        except Exception:
            log.exception("stopping %s failed", key)
