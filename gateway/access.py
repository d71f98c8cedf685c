"""Who may do what: ONVIF user levels, and the limit on failed logins."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cachetools import TTLCache

from gateway.errors import TooManyRequests

# tt:UserLevel values that matter here, lowest first (ONVIF's default access policy: reads for
# any user, actuation for Operator and up, system changes and reboot for Administrator).
LEVELS = ("User", "Operator", "Administrator")
READ, WRITE, REBOOT = LEVELS


def a_level(level: str) -> str:
    """The level with its article, as a sentence says it: "a User", "an Operator"."""
    return f"{'an' if level[:1] in 'AEIO' else 'a'} {level}"


def allows(level: str, needed: str) -> bool:
    """Whether a user of `level` may do what needs `needed`."""
    return LEVELS.index(level) >= LEVELS.index(needed)


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginLimiter:
    """Counts failed logins per key (a user of a device, a client address); after max_failures
    in a row the key is locked out for `lockout` seconds, and every attempt on it gets 429."""

    def __init__(self, max_failures: int, lockout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_failures = max_failures
        self._lockout = lockout
        self._clock = clock
        # Bounded, and a key is forgotten `lockout` seconds after its last failure.
        self._failures: TTLCache[tuple[str, ...], _Failures] = TTLCache(
            maxsize=100_000, ttl=lockout, timer=clock)

    def check(self, keys: Iterable[tuple[str, ...]]) -> None:
        """Raise TooManyRequests if any key is locked out now."""
        now = self._clock()
        waits = [f.locked_until - now for key in keys
                 if (f := self._failures.get(key)) is not None and f.locked_until > now]
        if waits:
            raise TooManyRequests(
                "too many failed logins in a row; try again later", math.ceil(max(waits)))

    def failed(self, keys: Iterable[tuple[str, ...]]) -> None:
        for key in keys:
            failures = self._failures.get(key) or _Failures()
            failures.count += 1
            if failures.count >= self._max_failures:
                failures.locked_until = self._clock() + self._lockout
                failures.count = 0
            self._failures[key] = failures

    def succeeded(self, keys: Iterable[tuple[str, ...]]) -> None:
        for key in keys:
            self._failures.pop(key, None)
