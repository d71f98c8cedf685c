"""Gateway sessions: random bearer tokens bound to a device and a user, expiring by themselves."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from gateway.soap.device import Credentials


@dataclass
class Session:
    """Who a token stands for: the device it was issued for and the user's own credentials."""

    device: str
    credentials: Credentials
    level: str | None  # tt:UserLevel when the device tells it (GetUsers), else None
    last_used: float


def _key(token: str) -> bytes:
    # Sessions are looked up by a hash of the token: the store never holds a usable token, and the
    # lookup takes the same time whatever prefix of a real token an attacker guesses.
    return hashlib.sha256(token.encode()).digest()


class SessionStore:
    """Sessions in memory; each dies max_age after login, or idle_timeout after its last use."""

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

    def __len__(self) -> int:
        self._sessions.expire()
        return len(self._sessions)

    def create(self, device: str, credentials: Credentials, level: str | None = None) -> str:
        """Open a session and return its token (256 random bits, URL-safe)."""
        token = secrets.token_urlsafe(32)
        self._sessions[_key(token)] = Session(device, credentials, level, self._clock())
        return token

    def get(self, token: str) -> Session | None:
        """The live session of a token, marking it used; None if unknown, ended or expired."""
        key = _key(token)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_used > self._idle_timeout:
            del self._sessions[key]
            return None
        session.last_used = now
        return session

    def end(self, token: str) -> bool:
        """End a token's session; whether there was one."""
        return self._sessions.pop(_key(token), None) is not None
