"""Where one device's services are: their addresses, found once and kept honest.

- The device is asked once, on first need: GetServices lists each service's namespace and address
  (XAddr); older devices (Profile S only) lack it and are asked GetCapabilities, which names fewer
  services (the services table's `capability` says where in its answer).
- Every address is kept on the host and port that gateway.ini names, whatever host the device
  wrote: devices behind NAT or with several interfaces report addresses the gateway cannot reach,
  and a device must never be able to point the gateway at another host.
- A service the device lists but whose address does not serve it (HTTP 404), or that answers its
  essential operation (Media2's GetProfiles) "not implemented", is dropped when a call finds that
  out, and the reason kept for GET /devices (`services_unusable`), logged once; offers() then
  says no, so the next alternative (Media1 for Media2) is used.

The device service itself is always at the configured URL and never looked up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gateway.errors import DeviceFault
from gateway.soap.wsdl import CONFIGURED, SERVICES

log = logging.getLogger(__name__)
# Calls an operation of the device service with the gateway's own account: (operation, **args).
AskDevice = Callable[..., Awaitable[dict[str, Any]]]
MEDIA = ("media", "media2")


class ServiceAddresses:
    """One device's service addresses (by service name, as in the services table)."""

    def __init__(self, device: str, url: str, ask: AskDevice,
                 unusable: dict[str, str]) -> None:
        self._device = device
        self._url = url  # the device service's, from gateway.ini
        self._ask = ask
        # Services listed but not served, and why: the DeviceState's, shown by GET /devices.
        self._unusable = unusable
        self._addresses: dict[str, str] | None = None

    @property
    def media(self) -> list[str]:
        """The media services the device is known to offer (empty until it was asked)."""
        return [name for name in MEDIA if name in (self._addresses or {})]

    async def offers(self, service: str) -> bool:
        """Whether the device offers a service (the device service it always does)."""
        return SERVICES[service].address == CONFIGURED or service in await self._known()

    async def address(self, service: str) -> str:
        """The service's address on this device: from GetServices, or GetCapabilities."""
        if SERVICES[service].address == CONFIGURED:
            return self._url
        try:
            return (await self._known())[service]
        except KeyError:
            raise DeviceFault(
                f"the device does not offer the {service} service",
                self._device, "Receiver", ["ActionNotSupported"],
            ) from None

    def unserved(self, service: str, address: str, operation: str,
                 fault: DeviceFault) -> DeviceFault | None:
        """If a call's fault says the service's address does not serve it (404), or that the
        service's essential operation is not implemented, the fault to raise instead, the service
        done without from now on; None for any other fault."""
        if SERVICES[service].address == CONFIGURED:
            return None
        said = fault.detail.rpartition(": ")[2]
        if "NoSuchService" in fault.subcodes:
            path = urlsplit(address).path or "/"
            why = f"listed at {path}, which does not serve it ({said})"
        elif fault.not_implemented and operation == SERVICES[service].essential:
            why = f"listed, but its {operation} is not implemented ({said})"
        else:
            return None
        if self._addresses is not None:
            self._addresses.pop(service, None)
        if service not in self._unusable:
            log.warning("device %s: the %s service is %s; using the device without it",
                        self._device, service, why)
        self._unusable[service] = why
        return DeviceFault(f"{operation} on device {self._device}: the {service} service is {why}",
                           self._device, fault.code, fault.subcodes)

    def on_device_host(self, xaddr: str) -> str:
        """Keep the path of an address the device gave, but on the host and port gateway.ini
        names (a device behind NAT names its LAN address: a TP-Link Tapo reached through DDNS
        does, JurajNyiri/HomeAssistant-Tapo-Control#254)."""
        ours, theirs = urlsplit(self._url), urlsplit(xaddr)
        if not theirs.path:
            # http://host:port with no path at all: such a device (a C server run as CGI)
            # serves every service at its one address, the device service's.
            return self._url
        return urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, ""))

    async def _known(self) -> dict[str, str]:
        if self._addresses is None:
            self._addresses = await self._read()
        return self._addresses

    async def _read(self) -> dict[str, str]:
        by_namespace: dict[str, str] = {}
        try:
            reply = await self._ask("GetServices", IncludeCapability=False)
            by_namespace = {s["Namespace"]: s["XAddr"] for s in reply.get("Service") or []}
        except DeviceFault:
            # Older (Profile S only) devices lack GetServices (Profile S does not require it;
            # Axis cameras did without: quatanium/python-onvif#30); GetCapabilities names Media
            # and Events.
            reply = await self._ask("GetCapabilities", Category=["All"])
            for service in SERVICES.values():
                found: Any = reply.get("Capabilities") if service.capability else None
                for part in service.capability.split(".") if service.capability else ():
                    found = found.get(part) if isinstance(found, dict) else None
                if isinstance(found, dict) and found.get("XAddr"):
                    by_namespace[service.namespace] = found["XAddr"]
        return {
            name: self.on_device_host(by_namespace[service.namespace])
            for name, service in SERVICES.items()
            if service.namespace in by_namespace
        }
