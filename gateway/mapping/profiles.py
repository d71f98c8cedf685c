"""Media profiles, the same way whether a device speaks Media2 (preferred) or only Media1.

A profile bundles configurations; a configuration is "in use" while a profile holds it. The
configuration writes create, fill, empty and delete profiles; these are the ONVIF calls for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.credentials import Credentials
from gateway.errors import DeviceFault
from gateway.soap.device import DeviceClient

# Media2 names a configuration kind by its tr2:ConfigurationEnumeration value (VideoSource);
# Media1 by a slot of tt:Profile named after it (VideoSourceConfiguration), with the operations
# Add<slot> and Remove<slot>. The one kind whose Media1 name differs:
MEDIA1_NAMES = {"Analytics": "VideoAnalytics"}


def media1_slot(kind: str) -> str:
    """The Media1 profile element (and Add/Remove operation suffix) of a configuration kind."""
    return f"{MEDIA1_NAMES.get(kind, kind)}Configuration"


@dataclass(frozen=True)
class Profile:
    """A media profile and the tokens of the configurations it holds, by kind."""

    token: str
    name: str
    fixed: bool
    holds: dict[str, str]
    source: str | None = None  # the token of the video source it shows, if it has one
    encoding: str | None = None  # its video encoder's encoding, as the device names it


def _profile(reply: dict[str, Any], configurations: dict[str, dict[str, Any]]) -> Profile:
    """A Profile from a GetProfiles entry and its configurations, by kind."""
    return Profile(reply["token"], reply["Name"], bool(reply.get("fixed")),
                   {kind: c["token"] for kind, c in configurations.items()},
                   (configurations.get("VideoSource") or {}).get("SourceToken"),
                   (configurations.get("VideoEncoder") or {}).get("Encoding"))


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

    async def list(self, kinds: Iterable[str]) -> list[Profile]:
        """The device's profiles, with the configurations they hold of these kinds."""
        kinds = list(dict.fromkeys(kinds))
        if self.service == "media2":
            # The kinds needed, never All: Type=All crashed a device's server (a profile with
            # an audio encoder), and a smaller answer is cheaper anyway.
            try:
                reply = await self._call("GetProfiles", Type=kinds)
            except DeviceFault:
                if await self.device.offers("media2") or not await self.device.offers("media"):
                    raise
                # Media2 is listed but not served (its address answers 404): Media1 it is.
                return await Profiles(self.device, self.credentials, "media").list(kinds)
            return [
                _profile(p, {kind: c for kind in kinds
                             if (c := (p.get("Configurations") or {}).get(kind))})
                for p in reply.get("Profiles") or []
            ]
        reply = await self._call("GetProfiles")
        return [
            _profile(p, {kind: c for kind in kinds if (c := p.get(media1_slot(kind)))})
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
            await self._call(f"Add{media1_slot(kind)}", ProfileToken=profile,
                             ConfigurationToken=configuration)

    def add_operation(self, kind: str) -> str:
        """The name of the operation that adds a configuration of a kind to a profile."""
        return "AddConfiguration" if self.service == "media2" else f"Add{media1_slot(kind)}"

    async def remove(self, profile: str, kind: str, configuration: str) -> None:
        if self.service == "media2":
            await self._call("RemoveConfiguration", ProfileToken=profile,
                             Configuration=[{"Type": kind, "Token": configuration}])
        else:
            await self._call(f"Remove{media1_slot(kind)}", ProfileToken=profile)
