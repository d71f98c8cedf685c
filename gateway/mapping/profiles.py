"""Media profiles, the same way whether a device speaks Media2 (preferred) or only Media1.

A profile bundles configurations; a configuration is "in use" while a profile holds it. The
configuration writes create, fill, empty and delete profiles; these are the ONVIF calls for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.soap.device import Credentials, DeviceClient

# Media1 names each configuration slot of a profile by its own element and operations.
MEDIA1_SLOT = {
    "VideoSource": "VideoSourceConfiguration",
    "VideoEncoder": "VideoEncoderConfiguration",
}


@dataclass(frozen=True)
class Profile:
    """A media profile and the tokens of the configurations it holds, by kind."""

    token: str
    name: str
    fixed: bool
    holds: dict[str, str]


@dataclass(frozen=True)
class Profiles:
    """The profile operations of one device, for one user, over Media2 or Media1."""

    device: DeviceClient
    credentials: Credentials
    service: str

    @classmethod
    async def of(cls, device: DeviceClient, credentials: Credentials) -> Profiles:
        service = "media2" if await device.offers("media2") else "media"
        return cls(device, credentials, service)

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return await self.device.call(self.service, operation, self.credentials, **kwargs)

    async def list(self) -> list[Profile]:
        if self.service == "media2":
            reply = await self._call("GetProfiles", Type=["VideoSource", "VideoEncoder"])
            return [
                Profile(p["token"], p["Name"], bool(p.get("fixed")), {
                    kind: c["token"] for kind in MEDIA1_SLOT
                    if (c := (p.get("Configurations") or {}).get(kind))
                })
                for p in reply.get("Profiles") or []
            ]
        reply = await self._call("GetProfiles")
        return [
            Profile(p["token"], p["Name"], bool(p.get("fixed")), {
                kind: c["token"] for kind, slot in MEDIA1_SLOT.items() if (c := p.get(slot))
            })
            for p in reply.get("Profiles") or []
        ]

    async def create(self, name: str, kind: str, configuration: str,
                     token: str | None = None) -> tuple[str, bool]:
        """Create a profile for one configuration: the device's token for it, and whether it
        holds the configuration already (Media2 creates it with it; Media1 creates it empty,
        with the token asked for, if any)."""
        if self.service == "media2":
            reply = await self._call(
                "CreateProfile", Name=name, Configuration=[{"Type": kind, "Token": configuration}]
            )
            return str(reply["Token"]), True
        reply = await self._call("CreateProfile", Name=name, Token=token)
        return str(reply["Profile"]["token"]), False

    async def delete(self, token: str) -> None:
        if self.service == "media2":
            await self._call("DeleteProfile", Token=token)
        else:
            await self._call("DeleteProfile", ProfileToken=token)

    async def add(self, profile: str, kind: str, configuration: str) -> None:
        if self.service == "media2":
            await self._call("AddConfiguration", ProfileToken=profile,
                             Configuration=[{"Type": kind, "Token": configuration}])
        else:
            await self._call(f"Add{MEDIA1_SLOT[kind]}", ProfileToken=profile,
                             ConfigurationToken=configuration)

    async def remove(self, profile: str, kind: str, configuration: str) -> None:
        if self.service == "media2":
            await self._call("RemoveConfiguration", ProfileToken=profile,
                             Configuration=[{"Type": kind, "Token": configuration}])
        else:
            await self._call(f"Remove{MEDIA1_SLOT[kind]}", ProfileToken=profile)
