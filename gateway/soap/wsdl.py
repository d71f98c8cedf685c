"""The ONVIF services the gateway speaks, and their WSDLs parsed once per process.

The WSDL documents are read from the local `wsdl/` folder only: a WSDL or XSD that imports anything
over the network is refused, so start-up never depends on (or leaks to) the outside world.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeep.exceptions import Error as ZeepError
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from gateway.errors import WsdlError


@dataclass(frozen=True)
class Service:
    """One ONVIF service: its short name in mapping files, namespace, WSDL file and binding."""

    name: str
    namespace: str
    wsdl: str
    binding: str

    @property
    def binding_qname(self) -> str:
        return f"{{{self.namespace}}}{self.binding}"


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("device", "http://www.onvif.org/ver10/device/wsdl",
                "ver10/device/wsdl/devicemgmt.wsdl", "DeviceBinding"),
        Service("media", "http://www.onvif.org/ver10/media/wsdl",
                "ver10/media/wsdl/media.wsdl", "MediaBinding"),
        Service("media2", "http://www.onvif.org/ver20/media/wsdl",
                "ver20/media/wsdl/media.wsdl", "Media2Binding"),
    )
}

# One settings object for every zeep client: entities and DTDs in device answers are refused.
ZEEP_SETTINGS = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class LocalOnlyTransport(Transport):  # type: ignore[misc]
    """A zeep transport for loading WSDLs that reads files and refuses every remote URL."""

    def _load_remote_data(self, url: str) -> bytes:
        raise WsdlError(f"refusing to fetch {url}: WSDLs and schemas are read from wsdl/ only")


@dataclass(frozen=True)
class Wsdls:
    """The parsed WSDL document of each service, shared by every device."""

    documents: dict[str, Any]

    def binding(self, service: str) -> Any:
        """The zeep binding of a service, by its short name."""
        return self.documents[service].bindings[SERVICES[service].binding_qname]


def parse_wsdls(wsdl_dir: Path) -> Wsdls:
    """Parse every service's WSDL (blocking: call it off the event loop)."""
    # The loader's own settings only forbid DTD tricks; local relative imports must stay allowed.
    transport = LocalOnlyTransport()
    settings = Settings(forbid_dtd=True, forbid_entities=True)
    documents = {}
    for name, service in SERVICES.items():
        path = wsdl_dir / service.wsdl
        if not path.is_file():
            raise WsdlError(f"{path}: missing (the {name} service's WSDL)")
        try:
            documents[name] = Document(str(path), transport, settings=settings)
        except (ZeepError, OSError) as exc:
            raise WsdlError(f"{path}: {exc}") from exc
    return Wsdls(documents)


async def load_wsdls(wsdl_dir: Path) -> Wsdls:
    """Parse the WSDLs in a worker thread, so the event loop keeps serving meanwhile."""
    return await asyncio.to_thread(parse_wsdls, wsdl_dir)
