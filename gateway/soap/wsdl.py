"""The ONVIF services the gateway speaks, and their WSDLs parsed once per process.

The WSDL documents are read from the local `wsdl/` folder only: a WSDL or XSD that imports anything
over the network is refused, so start-up never depends on (or leaks to) the outside world.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.loader import load_external
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsdl.wsdl import Definition

from gateway.errors import WsdlError
from gateway.soap.xml import TDS, TEV, TIMG, TMD, TPTZ, TR2, TRT, XS, parser

# How a service's address is found on a device: the device-service URL that gateway.ini names,
# or the XAddr that GetServices gives for the service's namespace.
CONFIGURED = "configured"
GET_SERVICES = "GetServices"
# ...or the address CreatePullPointSubscription answers with (a pull point's).
SUBSCRIPTION_REFERENCE = "SubscriptionReference"
# The WSDLs importing ONVIF's schema (onvif.xsd, and the common ones it imports) share a zeep
# document: those schemas, most of the parsing, are read once rather than once per service. The
# Events WSDL imports WS-Notification's schemas and not onvif.xsd, and keeps a document of its
# own: zeep parses a reply's xs:any content it has a schema for, and event messages' tt:Message
# stays raw XML (gateway.events.model reads it).
ONVIF_SCHEMAS = "onvif"
NOTIFICATION_SCHEMAS = "notification"


@dataclass(frozen=True)
class Service:
    """One ONVIF service: its short name in mapping files, namespace, WSDL file and binding, and
    how its address is found (`address`; `capability`: where GetCapabilities names it, for older
    devices without GetServices, dotted under tt:Capabilities; "" where it does not); `schemas`:
    the zeep document its WSDL is read into, with the other WSDLs that import the same schemas."""

    name: str
    namespace: str
    wsdl: str
    binding: str
    address: str = GET_SERVICES
    capability: str = ""
    schemas: str = ONVIF_SCHEMAS

    @property
    def binding_qname(self) -> str:
        return f"{{{self.namespace}}}{self.binding}"


# The services table: a new ONVIF service is a row here (and its WSDL in wsdl/).
SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("device", TDS,
                "ver10/device/wsdl/devicemgmt.wsdl", "DeviceBinding", CONFIGURED),
        Service("media", TRT,
                "ver10/media/wsdl/media.wsdl", "MediaBinding", capability="Media"),
        Service("media2", TR2,
                "ver20/media/wsdl/media.wsdl", "Media2Binding"),
        Service("imaging", TIMG,
                "ver20/imaging/wsdl/imaging.wsdl", "ImagingBinding", capability="Imaging"),
        Service("ptz", TPTZ,
                "ver20/ptz/wsdl/ptz.wsdl", "PTZBinding", capability="PTZ"),
        Service("events", TEV,
                "ver10/events/wsdl/event.wsdl", "EventBinding", capability="Events",
                schemas=NOTIFICATION_SCHEMAS),
        Service("deviceio", TMD,
                "ver10/deviceio.wsdl", "DeviceIOBinding", capability="Extension.DeviceIO"),
    )
}
# The bindings of a pull point's own address (the SubscriptionReference of
# CreatePullPointSubscription), in the Events WSDL: never listed by GetServices.
PULL_POINT = Service("pullpoint", TEV,
                     "ver10/events/wsdl/event.wsdl", "PullPointSubscriptionBinding",
                     SUBSCRIPTION_REFERENCE, schemas=NOTIFICATION_SCHEMAS)
SUBSCRIPTION_MANAGER = Service("subscription", TEV,
                               "ver10/events/wsdl/event.wsdl", "SubscriptionManagerBinding",
                               SUBSCRIPTION_REFERENCE, schemas=NOTIFICATION_SCHEMAS)
ADDRESSED = {service.name: service for service in (PULL_POINT, SUBSCRIPTION_MANAGER)}

# One settings object for every zeep client: entities and DTDs in device answers are refused.
ZEEP_SETTINGS = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class LocalOnlyTransport(Transport):  # type: ignore[misc]
    """A zeep transport for loading WSDLs that reads files and refuses every remote URL."""

    def _load_remote_data(self, url: str) -> bytes:
        raise WsdlError(f"refusing to fetch {url}: WSDLs and schemas are read from wsdl/ only")


@dataclass(frozen=True)
class Wsdls:
    """The parsed WSDLs, shared by every device: each service's zeep document (shared by the
    services whose WSDLs import the same schemas) and binding, and the enumerated values of each
    named simple type (zeep keeps no facets), by its {namespace}name."""

    documents: dict[str, Any]
    bindings: dict[str, Any]
    enumerations: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def binding(self, service: str) -> Any:
        """The zeep binding of a service, by its short name."""
        return self.bindings[service]


def parse_wsdls(wsdl_dir: Path) -> Wsdls:
    """Parse every service's WSDL (blocking: call it off the event loop)."""
    # Parsing makes objects that all live as long as the process: collections meanwhile would
    # walk them again and again for nothing (a quarter of the parsing time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(wsdl_dir)
    finally:
        if collecting:
            gc.enable()


def _parse(wsdl_dir: Path) -> Wsdls:
    # The loader's own settings only forbid DTD tricks; local relative imports must stay allowed.
    transport = LocalOnlyTransport()
    settings = Settings(forbid_dtd=True, forbid_entities=True)
    documents: dict[str, Any] = {}  # by Service.schemas
    definitions: dict[Path, Any] = {}  # services that share a WSDL share its definition
    by_service: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    for name, service in [*SERVICES.items(), *ADDRESSED.items()]:
        path = wsdl_dir / service.wsdl
        if path not in definitions:
            if not path.is_file():
                raise WsdlError(f"{path}: missing (the {name} service's WSDL)")
            try:
                if service.schemas not in documents:
                    document = Document(str(path), transport, settings=settings)
                    documents[service.schemas] = definitions[path] = document
                else:
                    # one more definition in the document, as a wsdl:import would read it
                    xml = load_external(str(path), transport, settings=settings, _initial=True)
                    definitions[path] = Definition(documents[service.schemas], xml, str(path))
                    definitions[path].resolve_imports()
            except (ZeepError, OSError) as exc:
                raise WsdlError(f"{path}: {exc}") from exc
        by_service[name] = documents[service.schemas]
        try:
            bindings[name] = definitions[path].bindings[service.binding_qname]
        except KeyError:
            raise WsdlError(f"{path}: no binding {service.binding} ({name})") from None
    return Wsdls(by_service, bindings, _enumerations(wsdl_dir))


def _enumerations(wsdl_dir: Path) -> dict[str, tuple[str, ...]]:
    """The xs:enumeration values of every named xs:simpleType in the folder's schemas."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted([*wsdl_dir.rglob("*.xsd"), *wsdl_dir.rglob("*.wsdl")]):
        try:
            root = etree.parse(str(path), parser()).getroot()
        except (etree.XMLSyntaxError, OSError) as exc:
            raise WsdlError(f"{path}: {exc}") from exc
        for schema in root.iter(f"{{{XS}}}schema"):
            namespace = schema.get("targetNamespace", "")
            for simple in schema.iterfind(f"{{{XS}}}simpleType[@name]"):
                values = tuple(str(e.get("value")) for e in simple.iterfind(
                    f"{{{XS}}}restriction/{{{XS}}}enumeration"))
                if values:
                    found[f"{{{namespace}}}{simple.get('name')}"] = values
    return found


async def load_wsdls(wsdl_dir: Path) -> Wsdls:
    """Parse the WSDLs in a worker thread, so the event loop keeps serving meanwhile."""
    return await asyncio.to_thread(parse_wsdls, wsdl_dir)
