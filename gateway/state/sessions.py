"""Gateway sessions: random bearer tokens bound to a device and a user, expiring by themselves.

One interface (Sessions), two stores: in this process's memory (the default), or in Redis so that
several gateway instances share them (gateway.state.redisstore).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import TTLCache

from gateway.credentials import Credentials


@dataclass
class Session:
    """Who a token stands for: the device it was issued for and the user's own credentials."""

    device: str
    credentials: Credentials
    level: str | None  # tt:UserLevel when the device tells it (GetUsers), else None
    last_used: float
    address: str = ""  # the client address that logged in


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


# The hashes of the last 1,024 tokens asked about, by token (a SHA-256 was a twentieth of a
# cached read's handling). That is the tokens themselves, in this process's memory only (which
# held each while serving it): a token is dropped as soon as its session is found ended or
# expired, or ends here (logout).
KNOWN_TOKENS = 1024
_token_keys: OrderedDict[str, bytes] = OrderedDict()


def token_key(token: str) -> bytes:
    """What a session is stored under: a hash of its token, never the token itself. The store
    holds no usable token, and a lookup takes the same time whatever an attacker guesses.
    Each lookup still checks that the session lives."""
    try:
        key = _token_keys[token]
    except KeyError:
        # (surrogatepass: a header's bytes that are no UTF-8 reach us as lone surrogates; such a
        # token is no token of ours, to be looked up and not found like any other)
        key = _token_keys[token] = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if len(_token_keys) > KNOWN_TOKENS:
            _token_keys.popitem(last=False)  # the least recently asked about
    else:
        _token_keys.move_to_end(token)
    return key


def forget_token(token: str) -> None:
    """Drop a token from the memo of hashes (its session ended, or was never there)."""
    _token_keys.pop(token, None)


def forget_key(key: bytes) -> None:
    """Drop a token from the memo by its hash (its session ended on another instance)."""
    for token in [token for token, known in _token_keys.items() if known == key]:
        del _token_keys[token]


def token_known(token: str) -> bool:
    """Whether this process still holds a token in its memo of hashes."""
    return token in _token_keys


class Sessions(Protocol):
    """Where sessions live; every store dies a session max_age after login or idle_timeout
    after its last use, whichever comes first."""

    async def create(self, device: str, credentials: Credentials, level: str | None,
                     address: str) -> str:
        """Open a session for a login from a client address and return its token; past
        sessions_per_user or sessions_per_address, the oldest of that user's or that address's
        own sessions end."""
        ...

    async def end_device(self, device: str) -> list[tuple[bytes, str]]:
        """End every session of a device (it is no longer fronted); each one's key (its
        token's hash) and user name, so that what they hold can be ended too."""
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


def owners(device: str, credentials: Credentials, address: str) -> list[tuple[str, ...]]:
    """Who a session counts against: its user of its device, and its client address."""
    return [("user", device, credentials.username), ("address", address)]


class MemorySessions:
    """Sessions in this process's memory, at most max_sessions (the least recently used go)."""

    def __init__(
        self,
        idle_timeout: float,
        max_age: float,
        max_sessions: int,
        per_user: int = 100,
        per_address: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._max_sessions = max_sessions
        self._limits = {"user": per_user, "address": per_address}
        self._sessions: TTLCache[bytes, Session] = TTLCache(
            maxsize=max_sessions, ttl=max_age, timer=clock
        )
        # Each owner's session keys, oldest first; keys of sessions that ended otherwise are
        # dropped when the owner is over its limit, and all of them now and then (_reindex).
        self._owned: dict[tuple[str, ...], OrderedDict[bytes, None]] = {}
        self._indexed = 0

    async def count(self) -> int:
        self._sessions.expire()
        return len(self._sessions)

    async def create(self, device: str, credentials: Credentials, level: str | None,
                     address: str) -> str:
        token = new_token()
        key = token_key(token)
        self._sessions[key] = Session(device, credentials, level, self._clock(), address)
        for owner in owners(device, credentials, address):
            keys = self._owned.setdefault(owner, OrderedDict())
            keys[key] = None
            limit = self._limits[owner[0]]
            if len(keys) > limit:
                for gone in [k for k in keys if k not in self._sessions]:
                    del keys[gone]
                while len(keys) > limit:  # this owner's oldest session ends, nobody else's
                    self._sessions.pop(keys.popitem(last=False)[0], None)
        self._indexed += 1
        if self._indexed > 2 * self._max_sessions:
            self._reindex()
        return token

    def _reindex(self) -> None:
        """Rebuild the owners' lists from the live sessions, so that they stay bounded."""
        self._sessions.expire()
        live = sorted(self._sessions.items(), key=lambda item: item[1].last_used)
        self._owned = {}
        for key, session in live:
            for owner in owners(session.device, session.credentials, session.address):
                self._owned.setdefault(owner, OrderedDict())[key] = None
        self._indexed = len(live)

    async def end_device(self, device: str) -> list[tuple[bytes, str]]:
        ended = [(key, session.credentials.username) for key, session in self._sessions.items()
                 if session.device == device]
        for key, _ in ended:
            self._sessions.pop(key, None)
        return ended

    async def get(self, token: str) -> Session | None:
        key = token_key(token)
        try:  # one lookup (get() is two: 'in', then [])
            session = self._sessions[key]
        except KeyError:  # unknown, or past max_age
            forget_token(token)
            return None
        now = self._clock()
        if now - session.last_used > self._idle_timeout:
            del self._sessions[key]
            forget_token(token)
            return None
        session.last_used = now
        return session

    async def end(self, token: str) -> bool:
        ended = self._sessions.pop(token_key(token), None) is not None
        forget_token(token)
        return ended
