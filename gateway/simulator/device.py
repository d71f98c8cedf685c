"""State of one simulated ONVIF device: identity, users, clock and the default access policy."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final

from cachetools import TTLCache

ADMINISTRATOR: Final = "Administrator"
OPERATOR: Final = "Operator"
USER: Final = "User"

# Bounds memory under a nonce flood; an evicted nonce could be replayed, which is fine here.
NONCE_CACHE_SIZE: Final = 10_000


@dataclass
class User:
    """A device account; level is a tt:UserLevel."""

    password: str = field(repr=False)
    level: str


DEMO_USERS: Final[dict[str, User]] = {
    "admin": User("admin", ADMINISTRATOR),
    "operator": User("operator", OPERATOR),
    "user": User("user", USER),
}


def demo_users() -> dict[str, User]:
    """A fresh deep copy of DEMO_USERS, so devices never share mutable users."""
    return {name: replace(user) for name, user in DEMO_USERS.items()}


class AccessClass(enum.StrEnum):
    """ONVIF Core access classes of the default access policy."""

    PRE_AUTH = "PRE_AUTH"
    READ_SYSTEM = "READ_SYSTEM"
    READ_SYSTEM_SENSITIVE = "READ_SYSTEM_SENSITIVE"
    READ_SYSTEM_SECRET = "READ_SYSTEM_SECRET"  # noqa: S105 (a class name, not a password)
    WRITE_SYSTEM = "WRITE_SYSTEM"
    UNRECOVERABLE = "UNRECOVERABLE"
    READ_MEDIA = "READ_MEDIA"
    ACTUATE = "ACTUATE"


# ONVIF Core "Default Access Policy": the user levels allowed to call each access class.
# PRE_AUTH is also allowed without any credentials (anonymous).
ACCESS_POLICY: Final = MappingProxyType(
    {
        AccessClass.PRE_AUTH: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.READ_SYSTEM: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.READ_SYSTEM_SENSITIVE: frozenset({ADMINISTRATOR, OPERATOR}),
        AccessClass.READ_SYSTEM_SECRET: frozenset({ADMINISTRATOR}),
        AccessClass.WRITE_SYSTEM: frozenset({ADMINISTRATOR}),
        AccessClass.UNRECOVERABLE: frozenset({ADMINISTRATOR}),
        AccessClass.READ_MEDIA: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.ACTUATE: frozenset({ADMINISTRATOR, OPERATOR}),
    }
)


def device_path(index: int) -> str:
    """HTTP path of the Device service of the device with this 1-based index."""
    return f"/dev/{index}/onvif/device_service"


@dataclass
class SimulatedDevice:
    """One simulated camera; every field may be changed by tests at any time."""

    index: int = 1
    manufacturer: str = "RidgeRun"
    model: str = "model_1"
    firmware: str = "1.0.0.0"
    serial_number: str = ""  # empty: derived from index, "123" for device 1
    hardware_id: str = "1"
    users: dict[str, User] = field(default_factory=demo_users)
    discovery_mode: str = "Discoverable"
    clock_skew: float = 0.0
    latency: float = 0.0
    token_window: float = 30.0
    reboots: int = 0
    # Operation names (e.g. "GetServices") this device answers with ter:ActionNotSupported,
    # as older or cheaper cameras do.
    unsupported: set[str] = field(default_factory=set)
    seen_nonces: TTLCache[bytes, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.index < 1:
            raise ValueError(f"device index must be >= 1, got {self.index}")
        if not self.serial_number:
            self.serial_number = str(122 + self.index)
        self.seen_nonces = TTLCache(maxsize=NONCE_CACHE_SIZE, ttl=self._nonce_ttl())

    def _nonce_ttl(self) -> float:
        # A token is accepted while |Created - now| <= window, i.e. for up to 2 windows after
        # it was made (Created may be ahead), so its nonce must be remembered that long.
        return max(2 * self.token_window, 1.0)

    def remember_nonce(self, nonce: bytes) -> bool:
        """Record a nonce; False if it was already used while it could still be accepted."""
        if self.seen_nonces.ttl != self._nonce_ttl():  # token_window was changed since
            self.seen_nonces = TTLCache(maxsize=NONCE_CACHE_SIZE, ttl=self._nonce_ttl())
        if nonce in self.seen_nonces:
            return False
        self.seen_nonces[nonce] = True
        return True

    def now(self) -> datetime:
        """The device clock: real UTC now shifted by clock_skew."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew)
