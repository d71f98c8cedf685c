"""The ONVIF services the gateway speaks, and their WSDLs parsed once per process.

The WSDL documents are read from the local `wsdl/` folder only: a WSDL or XSD that imports anything
over the network is refused, so start-up never depends on (or leaks to) the outside world.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from dataclasses import dataclass
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
    the zeep document its WSDL is read into, with the other WSDLs that import the same schemas;
    `essential`: the operation without which it is of no use, so that a device answering it
    "not implemented" does not serve the service (the next alternative is used)."""

    name: str
    namespace: str
    wsdl: str
    binding: str
    address: str = GET_SERVICES
    capability: str = ""
    schemas: str = ONVIF_SCHEMAS
    essential: str = ""

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
        # Every other Media2 operation names a profile; a Hikvision camera listing Media2 answered
        # its GetProfiles ActionNotSupported ("Optional Action Not Implemented":
        # rvi/ONVIFCamera#4), and Media1 served it.
        Service("media2", TR2,
                "ver20/media/wsdl/media.wsdl", "Media2Binding", essential="GetProfiles"),
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
ALL_SERVICES = {**SERVICES, **ADDRESSED}

# One settings object for every zeep client: entities and DTDs in device answers are refused.
ZEEP_SETTINGS = Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class LocalOnlyTransport(Transport):  # type: ignore[misc]
    """A zeep transport for loading WSDLs that reads files and refuses every remote URL; it keeps
    what it read, by location (the enumerations are read from the same files)."""

    def __init__(self) -> None:
        super().__init__()
        self.read: dict[str, bytes] = {}

    def load(self, url: str) -> bytes:
        content: bytes = super().load(url)
        self.read[url] = content
        return content

    def _load_remote_data(self, url: str) -> bytes:
        raise WsdlError(f"refusing to fetch {url}: WSDLs and schemas are read from wsdl/ only")


class Wsdls:
    """The parsed WSDLs, shared by every device: each service's zeep document (shared by the
    services whose WSDLs import the same schemas) and binding, and the enumerated values of each
    named simple type (zeep keeps no facets), by its {namespace}name.

    The services of ONVIF's schemas are read at once: the mapping files are checked against them.
    The Events WSDL's (WS-Notification's schemas, a document of their own: a tenth of the
    parsing) are read when first needed, once: `await ready(service)` reads them in a worker
    thread, and a call to the service waits for it."""

    def __init__(self, wsdl_dir: Path) -> None:
        for name, service in ALL_SERVICES.items():  # a file missing stops start-up at once
            if not (wsdl_dir / service.wsdl).is_file():
                raise WsdlError(f"{wsdl_dir / service.wsdl}: missing (the {name} service's WSDL)")
        self._wsdl_dir = wsdl_dir
        self._documents: dict[str, Any] = {}
        self._bindings: dict[str, Any] = {}
        self.enumerations: dict[str, tuple[str, ...]] = {}
        self._reading = threading.Lock()
        self._read(ONVIF_SCHEMAS)

    def binding(self, service: str) -> Any:
        """The zeep binding of a service, by its short name (read now if it is not yet: on an
        event loop, `await ready(service)` first)."""
        if service not in self._bindings:
            self._read(ALL_SERVICES[service].schemas)
        return self._bindings[service]

    def document(self, service: str) -> Any:
        """The zeep document a service's WSDL is read into (read as binding() is)."""
        self.binding(service)
        return self._documents[service]

    def is_read(self, service: str) -> bool:
        return service in self._bindings

    async def ready(self, service: str) -> None:
        """The service's WSDL read, in a worker thread if it is not yet (the event loop goes on
        serving; every caller meanwhile waits for the one reading)."""
        if service not in self._bindings:
            await asyncio.to_thread(self._read, ALL_SERVICES[service].schemas)

    def _read(self, schemas: str) -> None:
        with self._reading:
            if any(service.schemas == schemas and name in self._bindings
                   for name, service in ALL_SERVICES.items()):
                return
            # Parsing makes objects that all live as long as the process: collections meanwhile
            # would walk them again and again for nothing (a quarter of the parsing time).
            collecting = gc.isenabled()
            gc.disable()
            try:
                documents, bindings, enumerations = _parse(self._wsdl_dir, schemas)
            finally:
                if collecting:
                    gc.enable()
            self.enumerations.update(enumerations)
            self._documents.update(documents)
            self._bindings.update(bindings)  # last: a service with a binding is read whole


def parse_wsdls(wsdl_dir: Path) -> Wsdls:
    """Parse the WSDLs (those of ONVIF's schemas; blocking: call it off the event loop)."""
    return Wsdls(wsdl_dir)


def _parse(wsdl_dir: Path, schemas: str
           ) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[str, ...]]]:
    """The documents and bindings of the services whose WSDLs import these schemas, by service,
    and the enumerations of the files read for them."""
    # The loader's own settings only forbid DTD tricks; local relative imports must stay allowed.
    transport = LocalOnlyTransport()
    settings = Settings(forbid_dtd=True, forbid_entities=True)
    document: Any = None
    definitions: dict[Path, Any] = {}  # services that share a WSDL share its definition
    documents: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    for name, service in ALL_SERVICES.items():
        if service.schemas != schemas:
            continue
        path = wsdl_dir / service.wsdl
        if path not in definitions:
            try:
                if document is None:
                    document = definitions[path] = Document(str(path), transport,
                                                            settings=settings)
                else:
                    # one more definition in the document, as a wsdl:import would read it
                    xml = load_external(str(path), transport, settings=settings, _initial=True)
                    definitions[path] = Definition(document, xml, str(path))
                    definitions[path].resolve_imports()
            except (ZeepError, OSError) as exc:
                raise WsdlError(f"{path}: {exc}") from exc
        documents[name] = document
        try:
            bindings[name] = definitions[path].bindings[service.binding_qname]
        except KeyError:
            raise WsdlError(f"{path}: no binding {service.binding} ({name})") from None
    return documents, bindings, _enumerations(transport.read)


def _enumerations(files: dict[str, bytes]) -> dict[str, tuple[str, ...]]:
    """The xs:enumeration values of every named xs:simpleType in these files' schemas."""
    found: dict[str, tuple[str, ...]] = {}
    for location, content in files.items():
        try:
            root = etree.fromstring(content, parser(), base_url=location)
        except etree.XMLSyntaxError as exc:
            raise WsdlError(f"{location}: {exc}") from exc
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
