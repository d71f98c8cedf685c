"""A circuit breaker per device: after repeated failures, fail fast instead of waiting on it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class BreakerOpen(Exception):
    """The device failed too often lately; try again after retry_after seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Closed: calls go through. After `failures` failures in a row it opens for `reset`
    seconds (calls fail at once); then one trial call may go (half-open): its success closes
    the breaker, its failure opens it again."""

    def __init__(self, failures: int, reset: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failures_to_open = failures
        self._reset = reset
        self._clock = clock
        self._failures = 0
        self._open_until = 0.0
        self._trial = False

    @property
    def is_open(self) -> bool:
        return self._failures >= self._failures_to_open

    def check(self) -> bool:
        """Let a call through (True: it is the half-open trial), or raise BreakerOpen."""
        if not self.is_open:
            return False
        wait = self._open_until - self._clock()
        if wait > 0 or self._trial:
            raise BreakerOpen(max(1, math.ceil(wait)))
        self._trial = True  # half-open: this call is the trial
        return True

    def end_trial(self, trial: bool) -> None:
        """Every outcome of a trial ends it, also one that told nothing (cancelled, never sent):
        the next call is then the trial, rather than every call refused for ever."""
        if trial:
            self._trial = False

    def succeeded(self) -> None:
        self._failures, self._trial = 0, False

    def failed(self) -> None:
        self._failures += 1
        self._trial = False
        if self.is_open:
            self._open_until = self._clock() + self._reset
