"""Login limits: at most login_max_failures guesses per user and per client address reach a
device per lockout window (attempts in flight count), and logins not yet authenticated get a
bounded share of a device's connections.

Several instances (Redis): a guesser behind a load balancer would get login_max_failures
guesses from each instance. So the guesses are counted in a shared book instead (`SharedGuesses`,
gateway.state.redisstore.RedisGuesses), the same way: an attempt takes a turn there too after
its turn here (which then only bounds the attempts in flight on this instance), its failure,
success or abandon is noted there, and a key locked there is locked on every instance."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cachetools import TTLCache

from gateway.errors import DeviceUnavailable, TooManyRequests, quoted

# An attempt whose turn the shared book does not give at once (guesses in flight on other
# instances) asks again this often, while it may wait.
SHARED_TURN_POLL = 0.1


class SharedGuesses(Protocol):
    """Every instance's login guesses, by key (a text: a user of a device, a client address):
    failures per user and turns in flight, and locks. Errors are the book's own (a login then
    fails: it needs the shared sessions anyway)."""

    async def take(self, keys: Sequence[str], limit: int, window: float) -> list[float] | None:
        """A turn on every key (None), where none is locked and each has spent fewer than
        `limit` (failures and turns in flight); else how many seconds each key is locked for
        (all 0: no turn left for now). A key is kept `window` seconds after its last use."""

    async def end(self, keys: Sequence[str], user: str, failed: bool | None, limit: int,
                  lockout: float) -> None:
        """The turn ended: a failure of user (failed), a success (its failures forgotten), or
        no answer (None); a key with `limit` failures is locked for `lockout` seconds."""


@dataclass
class _Guesses:
    """The login guesses of one key: a user of a device, or a client address."""

    # Failures in a row, per user (a client address counts the failures on every user it
    # tried, and its own successful login clears only that user's).
    failures: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    locked_until: float = 0.0
    # Set (and replaced) whenever an attempt ends: attempts waiting for a turn look again.
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def spent(self) -> int:
        """Guesses that count now: the failures, and those still waiting for the device."""
        return sum(self.failures.values()) + self.in_flight

    def wake(self) -> None:
        settled, self.settled = self.settled, asyncio.Event()
        settled.set()


class LoginAttempt:
    """One login attempt with its turn taken; the handler says how the device answered."""

    def __init__(self, limiter: LoginLimiter, user: str, guesses: list[_Guesses]) -> None:
        self._limiter = limiter
        self._user = user
        self._guesses = guesses
        self._open = True
        self.outcome: bool | None = None  # failed (True), succeeded (False), or neither

    def failed(self) -> None:
        """The credentials were refused: one failure for the user and for the address."""
        self._end(failed=True)

    def succeeded(self) -> None:
        """The device accepted them: the user's failures are forgotten, here and at the address."""
        self._end(failed=False)

    def _end(self, failed: bool | None) -> None:
        if not self._open:
            return
        self._open = False
        self.outcome = failed
        if self._limiter.shared is not None:
            failed = None  # failures and successes are counted in the shared book alone
        for guesses in self._guesses:
            guesses.in_flight = max(0, guesses.in_flight - 1)
            if failed:
                guesses.failures[self._user] = guesses.failures.get(self._user, 0) + 1
                if sum(guesses.failures.values()) >= self._limiter.max_failures:
                    guesses.locked_until = self._limiter.clock() + self._limiter.lockout
                    guesses.failures.clear()
            elif failed is not None:
                guesses.failures.pop(self._user, None)
            guesses.wake()

    def abandon(self) -> None:
        """No answer on the credentials (the device failed): the turn is given back uncounted."""
        self._end(failed=None)


class LoginLimiter:
    """At most max_failures login guesses per user of a device and per client address reach a
    device per lockout window, however they are sent: an attempt takes a turn before it goes to
    the device, and turns are failures so far plus attempts in flight. More attempts wait (up to
    `wait` seconds) for those in flight; after max_failures failures in a row the key is locked
    for `lockout` seconds, and every attempt on it gets 429 without reaching the device."""

    def __init__(self, max_failures: int, lockout: float, wait: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.lockout = lockout
        self.clock = clock
        self._wait = wait
        # Bounded, and a key is forgotten `lockout` seconds after it was last used.
        self._keys: TTLCache[tuple[str, ...], _Guesses] = TTLCache(
            maxsize=100_000, ttl=lockout, timer=clock)
        self.shared: SharedGuesses | None = None  # every instance's guesses (Redis), if shared

    def _guesses(self, key: tuple[str, ...]) -> _Guesses:
        guesses = self._keys.get(key) or _Guesses()
        self._keys[key] = guesses  # used now: kept lockout seconds more
        return guesses

    def _refuse_if_locked(self, device: str, username: str, address: str,
                          keys: dict[str, _Guesses]) -> None:
        now = self.clock()
        self._refuse(device, username, address,
                     {what: g.locked_until - now for what, g in keys.items()})

    def _refuse(self, device: str, username: str, address: str,
                locked: dict[str, float]) -> None:
        """Raise TooManyRequests where a key is locked (seconds left > 0), naming them."""
        locked = {what: left for what, left in locked.items() if left > 0}
        if not locked:
            return
        wait = max(locked.values())
        until = (datetime.now(UTC) + timedelta(seconds=math.ceil(wait))).replace(microsecond=0)
        who = {"user": f"user {quoted(username)} of device {device}",
               "address": f"the client address {address}"}
        raise TooManyRequests(
            f"{' and '.join(who[what] for what in locked)} "
            f"{'are' if len(locked) > 1 else 'is'} locked out after {self.max_failures} failed "
            f"logins in a row, until {until.isoformat().replace('+00:00', 'Z')}",
            math.ceil(wait), locked=list(locked),
            locked_until=until.isoformat().replace("+00:00", "Z"))

    @asynccontextmanager
    async def attempt(self, device: str, username: str,
                      address: str) -> AsyncIterator[LoginAttempt]:
        """Take a turn for a login guess (waiting for one if need be), or raise TooManyRequests.

        The turn is given back uncounted unless the attempt says failed() or succeeded().
        """
        keys = {"user": ("user", device, username), "address": ("address", address)}
        user = f"{device}\0{username}"
        names = [json.dumps(key) for key in keys.values()]  # the shared book's
        try:
            async with asyncio.timeout(self._wait):
                while True:
                    guesses = {what: self._guesses(key) for what, key in keys.items()}
                    self._refuse_if_locked(device, username, address, guesses)
                    full = [g for g in guesses.values() if g.spent >= self.max_failures]
                    if not full:
                        break
                    await full[0].settled.wait()
                for g in guesses.values():
                    g.in_flight += 1
                attempt = LoginAttempt(self, user, list(guesses.values()))
                try:
                    while self.shared is not None and (locked := await self.shared.take(
                            names, self.max_failures, self.lockout)) is not None:
                        self._refuse(device, username, address, dict(zip(keys, locked,
                                                                         strict=True)))
                        await asyncio.sleep(SHARED_TURN_POLL)
                except BaseException:
                    attempt.abandon()
                    raise
        except TimeoutError:
            raise TooManyRequests(
                f"{self.max_failures} login attempts for user {quoted(username)} of device "
                f"{device} or from {address} are already waiting for the device; try again "
                "shortly", 1,
            ) from None
        try:
            yield attempt
        finally:
            attempt.abandon()
            if self.shared is not None:
                await self.shared.end(names, user, attempt.outcome, self.max_failures,
                                      self.lockout)


class Shares:
    """At most `limit` holders per key at a time; the others wait their turn, in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[Hashable, asyncio.Semaphore] = {}
        self._users: dict[Hashable, int] = {}

    async def acquire(self, key: Hashable) -> None:
        slots = self._slots.setdefault(key, asyncio.Semaphore(self.limit))
        self._users[key] = self._users.get(key, 0) + 1
        try:
            await slots.acquire()
        except BaseException:
            self._forget(key)
            raise

    def release(self, key: Hashable) -> None:
        self._slots[key].release()
        self._forget(key)

    def _forget(self, key: Hashable) -> None:
        self._users[key] -= 1
        if not self._users[key]:  # nobody holds or waits: forget the key
            del self._users[key], self._slots[key]


class LoginShare:
    """Logins not yet authenticated use at most half of a device's connections, and those from
    one client address a quarter (at least one each): a flood of logins waits for its share
    (at most `wait` seconds, then 503) and never starves the sessions' calls, nor the logins
    from other addresses."""

    def __init__(self, concurrency: int, wait: float) -> None:
        self._per_address = Shares(max(1, concurrency // 4))
        self._per_device = Shares(max(1, concurrency // 2))
        self._wait = wait

    @asynccontextmanager
    async def hold(self, device: str, address: str) -> AsyncIterator[None]:
        taken: list[tuple[Shares, Hashable]] = []
        try:
            try:
                async with asyncio.timeout(self._wait):
                    steps: list[tuple[Shares, Hashable]] = [
                        (self._per_address, (device, address)), (self._per_device, device)]
                    for shares, key in steps:
                        await shares.acquire(key)
                        taken.append((shares, key))
            except TimeoutError:
                raise DeviceUnavailable(f"device {device} is busy with other logins; try again",
                                        device, 1) from None
            yield
        finally:
            for shares, key in taken:
                shares.release(key)
