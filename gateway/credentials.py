"""An ONVIF user's credentials: what sessions keep and the SOAP side signs with. A neutral module,
so that neither side imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """An ONVIF user's name and password; the password is never shown in a repr."""

    username: str
    password: str = field(repr=False)
