"""Leases: a device action that must end by itself (a continuous PTZ move) unless renewed.

Over HTTP a client may start a camera turning and vanish. So the gateway holds every such
action under a lease: when the lease runs out without a renewal, when its session ends, or when
the gateway shuts down, the gateway makes the action's stop call itself. This is the one place
where that happens; mapping files say which actions hold a lease and what stops them.

Several instances (Redis): a renewal, a stop or any other command on the same key may reach
another instance than the one that took the lease. So each lease is also noted in a shared
book (`SharedLeases`, gateway.state.redisstore.RedisLeases) under a holder of its own; a newer
command on the key, on any instance, replaces that holder. When a lease runs out, or its
instance stops, the stop call is made only if the book still names that instance: a lease
renewed or superseded elsewhere is dropped without a stop. Where the book cannot tell (Redis
unavailable, when the lease was taken or at its end), the stop is made: a camera that stops is
safer than one that keeps turning.

An instance may die (killed, its machine gone) holding a lease: nothing of it stops the action
then. So the book also notes how each lease's action is stopped (`what`: a text the caller
gives, which any instance can turn into the stop) and that each instance lives; every instance
says so every WATCH_EVERY seconds (`watch`), and claims the leases that ran out while their
holder was not alive (for ALIVE seconds): each such lease is claimed by one instance alone,
which stops its action (`takeover`; the gateway makes the stop as the device's account of
gateway.ini: the password of the lease's session is in no book).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import DeviceTimeout, DeviceUnavailable, DeviceUnreachable, GatewayError

log = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]
# Stop the action of a lease another instance held: its key (text) and what it was held for.
TakeOver = Callable[[str, str], Awaitable[None]]

# An instance says it lives this often, and is taken for dead this long after it last did: a
# lease it held is stopped by another instance within WATCH_EVERY seconds of the lease's end, or
# of ALIVE seconds after the instance's death, whichever comes later (2.5 s at most after a
# default lease's end). Only a lease that has ended is taken over: an instance whose loop
# stalled longer than ALIVE (a loaded machine) may find its ended lease stopped by another, at
# the same time, and then makes no stop of its own (the book says it was taken over).
WATCH_EVERY = 0.5
ALIVE = 2.0
# A stop that failed on the way to the device (a camera on Wi-Fi, or a busy one, dropping the
# request; a timeout; its breaker open) is made again after each of these pauses (seconds, on
# the leases' clock): three tries in 3 s. A device that answered with a fault refused it: that
# stop is not made again.
STOP_AGAIN_AFTER = (1.0, 2.0)
NOT_REACHED = (DeviceUnreachable, DeviceTimeout, DeviceUnavailable)


class SharedLeases(Protocol):
    """Which instance holds each lease, for all instances; a lease is named by its key (text),
    an instance by a random text. Errors are the book's own: it answers as said."""

    async def take(self, key: str, holder: str, seconds: float, what: str) -> bool:
        """Note that holder holds key now (replacing any other), for `seconds`, to be stopped
        as `what` says; whether it was noted."""

    async def supersede(self, key: str, seconds: float) -> None:
        """Note, for at least `seconds`, that a newer command on key replaced whatever lease
        was held on it."""

    async def ended(self, key: str, holder: str) -> bool:
        """Whether holder's lease on key is still the one noted (forgotten then); True when
        the book cannot tell."""

    async def claim(self, holder: str, alive: float) -> list[tuple[str, str]]:
        """Note that holder lives, for `alive` seconds; then the leases that ran out while
        their holder did not live, each (key, what), claimed for holder alone (forgotten, and
        noted as taken over). Nothing when the book cannot tell."""


@dataclass
class _Held:
    owner: bytes  # the session it was taken for (a hash of its token)
    stop: Stop
    timer: asyncio.Task[None]
    shared: bool  # noted in the shared book


class Leases:
    """The leases of one gateway process, by key (a device and what on it, e.g. a profile)."""

    def __init__(self, default: float, maximum: float, ceiling: float = float("inf"),
                 clock: Callable[[], float] = time.monotonic,
                 shared: SharedLeases | None = None) -> None:
        self.default = default  # seconds, when the client asks for no length
        self.maximum = maximum
        self.ceiling = ceiling  # no lease is held longer (the sessions' idle timeout)
        self._clock = clock  # monotonic seconds: a lease ends once it has passed its end
        self._shared = shared
        self._me = secrets.token_hex(8)  # this instance, in the shared book
        self._held: dict[Hashable, _Held] = {}
        self._takeovers: set[asyncio.Task[None]] = set()
        self._again: dict[str, bool] = {}  # the stops waiting to be made again, by key's name

    def __len__(self) -> int:
        return len(self._held)

    async def hold(self, key: Hashable, owner: bytes, seconds: float, stop: Stop,
                   what: str = "") -> float:
        """Take (or renew) the lease on key: stop() runs after `seconds` (at most `ceiling`)
        unless it is renewed, released or ended first; `what` tells another instance how to
        stop it, should this one die (see watch). Returns the seconds held."""
        self._drop(key)
        seconds = min(seconds, self.ceiling)
        until = self._clock() + seconds
        # noted before the timer runs: a lease that ended before it was noted would find the
        # book naming another holder, and not stop
        shared = self._shared is not None and await self._shared.take(_name(key), self._me,
                                                                      seconds, what)
        self._drop(key)  # (a hold on key that came meanwhile is superseded too)
        timer = asyncio.get_running_loop().create_task(self._expire(key, until))
        self._held[key] = _Held(owner, stop, timer, shared)
        return seconds

    async def release(self, key: Hashable) -> None:
        """Drop the lease on key without stopping, here and on every instance: a newer command
        on it supersedes the action (a stop, another move)."""
        self._drop(key)
        if self._shared is not None:
            await self._shared.supersede(_name(key), min(self.maximum, self.ceiling))

    def _drop(self, key: Hashable) -> None:
        if self._again and (name := _name(key)) in self._again:
            self._again[name] = False  # a stop waiting to be made again is not: a newer command
        held = self._held.pop(key, None)
        if held is not None:
            held.timer.cancel()

    async def end_owner(self, owner: bytes) -> None:
        """Stop now every action held for a session that ended (logout; every instance does
        the same for its own)."""
        keys = [key for key, held in self._held.items() if held.owner == owner]
        await asyncio.gather(*(self._stop(key, "its session ended") for key in keys))

    async def close(self) -> None:
        """Stop every action still held (the gateway shuts down), unless renewed or superseded
        on another instance; and let the stops of other instances' leases end."""
        await asyncio.gather(*(self._stop(key, "the gateway stops", shared=True)
                               for key in list(self._held)), *self._takeovers)

    async def watch(self, takeover: TakeOver, every: float = WATCH_EVERY,
                    alive: float = ALIVE) -> None:
        """Until cancelled, with a shared book: say every `every` seconds that this instance
        lives, and stop (takeover) the action of each lease that ran out while the instance
        that held it was gone. Each stop goes on by itself: a device slow to stop it does not
        hold up the next word that this instance lives."""
        assert self._shared is not None
        while True:
            try:
                claimed = await self._shared.claim(self._me, alive)
            except Exception:
                # whatever goes wrong in a round (logged) does not stop the next one: an
                # instance that stopped saying it lives would be taken for dead
                log.exception("looking for leases of instances gone failed")
                claimed = []
            for name, what in claimed:
                task = asyncio.get_running_loop().create_task(self._take_over(takeover, name,
                                                                              what))
                self._takeovers.add(task)
                task.add_done_callback(self._takeovers.discard)
            await asyncio.sleep(every)

    async def _take_over(self, takeover: TakeOver, name: str, what: str) -> None:
        log.warning("stopping %s: its lease ran out and the instance that held it is gone", name)
        try:
            await self._stopping(name, lambda: takeover(name, what))
        except GatewayError as exc:  # the device's answer, or no such device here: said plainly
            log.warning("stopping %s failed: %s", name, exc)
        except Exception:
            log.exception("stopping %s failed", name)

    async def _expire(self, key: Hashable, until: float) -> None:
        await self._until(until)
        held = self._held.get(key)
        if held is not None and held.timer is asyncio.current_task():
            del self._held[key]
            if await self._ours(key, held):
                await self._run(key, held, "its lease ran out")

    async def _stop(self, key: Hashable, why: str, shared: bool = False) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            held.timer.cancel()
            if not shared or await self._ours(key, held):
                await self._run(key, held, why)

    async def _ours(self, key: Hashable, held: _Held) -> bool:
        """Whether the lease is still this hold's on every instance (no newer command)."""
        if self._shared is None or not held.shared or await self._shared.ended(_name(key),
                                                                                self._me):
            return True
        log.info("%s: its lease was renewed or superseded on another instance", key)
        return False

    async def _run(self, key: Hashable, held: _Held, why: str) -> None:
        log.info("stopping %s: %s", key, why)
        # A device that fails to stop must not take the lease machinery (or shutdown) with it:
        # the failure is logged.
        try:
            await self._stopping(_name(key), held.stop)
        except GatewayError as exc:  # the device's answer (unreachable, a fault): said plainly
            log.warning("stopping %s failed: %s", key, exc)
        except Exception:
            log.exception("stopping %s failed", key)

    async def _stopping(self, name: str, stop: Stop) -> None:
        """stop(), made again after each pause of STOP_AGAIN_AFTER while it does not reach the
        device, unless a newer command on the lease's key came through this instance meanwhile
        (its move is not to be stopped); the last failure is raised."""
        for pause in STOP_AGAIN_AFTER:
            try:
                return await stop()
            except NOT_REACHED as exc:
                log.warning("stopping %s failed, trying again in %g s: %s", name, pause, exc)
            self._again[name] = True
            try:
                await self._until(self._clock() + pause)
            finally:
                again = self._again.pop(name)
            if not again:
                log.info("%s: not stopped again, a newer command came", name)
                return None
        await stop()

    async def _until(self, until: float) -> None:
        # the clock says when the time has come (a test's clock moves only when the test moves
        # it); the sleep only says when to look again
        left = until - self._clock()
        while left > 0:
            await asyncio.sleep(left)
            left = until - self._clock()


def _name(key: Hashable) -> str:
    """A lease's key as text, the same on every instance (a device and path parameters)."""
    return json.dumps(key, separators=(",", ":"), default=str)
