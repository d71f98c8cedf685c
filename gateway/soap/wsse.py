"""WS-Security UsernameToken signed with the device's clock, not ours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from zeep.wsse.username import UsernameToken


class DeviceClockToken(UsernameToken):  # type: ignore[misc]
    """A PasswordDigest UsernameToken whose Created time is the device's idea of now.

    Cameras with a wrong clock are the commonest ONVIF failure: they reject a token whose Created
    is far from their own clock, so every token is stamped with our clock plus the measured offset.
    """

    def __init__(self, username: str, password: str, offset: timedelta) -> None:
        super().__init__(username, password, use_digest=True, zulu_timestamp=True)
        self.offset = offset

    def apply(self, envelope: Any, headers: Any) -> Any:
        self.created = datetime.now(UTC) + self.offset
        return super().apply(envelope, headers)
