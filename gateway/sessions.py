"""Gateway sessions: random bearer tokens bound to a device and a user, expiring by themselves.

One interface (Sessions), two stores: in this process's memory (the default), or in Redis so that
several gateway instances share them (gateway.redisstore).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache

from gateway.soap.device import Credentials


@dataclass
class Session:
    """Who a token stands for: the device it was issued for and the user's own credentials."""

    device: str
    credentials: Credentials
    level: str | None  # tt:UserLevel when the device tells it (GetUsers), else None
    last_used: float


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_key(token: str) -> bytes:
    """What a session is stored under: a hash of its token, never the token itself. The store
    holds no usable token, and a lookup takes the same time whatever an attacker guesses."""
    return hashlib.sha256(token.encode()).digest()


class Sessions(Protocol):
    """Where sessions live; every store dies a session max_age after login or idle_timeout
    after its last use, whichever comes first."""

    async def create(self, device: str, credentials: Credentials, level: str | None) -> str:
        """Open a session and return its token."""
        ...

    async def get(self, token: str) -> Session | None:
        """The live session of a token, marking it used; None if unknown, ended or expired."""
        ...

    async def end(self, token: str) -> bool:
        """End a token's session; whether there was one."""
        ...

    async def count(self) -> int:
        """How many sessions are live."""
        ...


class MemorySessions:
    """Sessions in this process's memory, at most max_sessions (the least recently used go)."""

    def __init__(
        self,
        idle_timeout: float,
        max_age: float,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._sessions: TTLCache[bytes, Session] = TTLCache(
            maxsize=max_sessions, ttl=max_age, timer=clock
        )

    async def count(self) -> int:
        self._sessions.expire()
        return len(self._sessions)

    async def create(self, device: str, credentials: Credentials, level: str | None) -> str:
        token = new_token()
        self._sessions[token_key(token)] = Session(device, credentials, level, self._clock())
        return token

    async def get(self, token: str) -> Session | None:
        key = token_key(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_used > self._idle_timeout:
            del self._sessions[key]
            return None
        session.last_used = now
        return session

    async def end(self, token: str) -> bool:
        return self._sessions.pop(token_key(token), None) is not None
