"""SOAP 1.2 envelopes: safe parsing of requests, building of responses and faults."""

from __future__ import annotations

from typing import Final, NamedTuple
from xml.sax.saxutils import escape

from lxml import etree

ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
TER: Final = "http://www.onvif.org/ver10/error"
TDS: Final = "http://www.onvif.org/ver10/device/wsdl"
TT: Final = "http://www.onvif.org/ver10/schema"
TRT: Final = "http://www.onvif.org/ver10/media/wsdl"
TR2: Final = "http://www.onvif.org/ver20/media/wsdl"
TIMG: Final = "http://www.onvif.org/ver20/imaging/wsdl"
TPTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
XML_NS: Final = "http://www.w3.org/XML/1998/namespace"

TEV: Final = "http://www.onvif.org/ver10/events/wsdl"
WSNT: Final = "http://docs.oasis-open.org/wsn/b-2"
WSTOP: Final = "http://docs.oasis-open.org/wsn/t-1"
WSA: Final = "http://www.w3.org/2005/08/addressing"
TNS1: Final = "http://www.onvif.org/ver10/topics"

# tns1 is used inside text (topics: tns1:VideoSource/MotionAlarm), so it is declared whether or
# not an element uses it, as cameras do.
NSMAP: Final = {"env": ENV, "ter": TER, "tds": TDS, "trt": TRT, "tr2": TR2, "timg": TIMG,
                "tptz": TPTZ, "tt": TT, "tev": TEV, "wsnt": WSNT, "wstop": WSTOP, "wsa": WSA,
                "tns1": TNS1}

SENDER: Final = "Sender"
RECEIVER: Final = "Receiver"
VERSION_MISMATCH: Final = "VersionMismatch"


def qname(namespace: str, local: str) -> str:
    """Clark notation {namespace}local, as lxml tags are written."""
    return f"{{{namespace}}}{local}"


class SoapFault(Exception):
    """A SOAP 1.2 fault: env code, ONVIF ter: subcodes (outermost first) and a reason text."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason

    @property
    def http_status(self) -> int:
        """SOAP 1.2 HTTP binding: 400 for env:Sender, 500 for every other code."""
        return 400 if self.code == SENDER else 500


class Request(NamedTuple):
    """The parts of a request envelope the server needs."""

    header: etree._Element | None
    operation: etree._Element


def _parser() -> etree.XMLParser:
    # A DTD, external entities or the network are never needed by SOAP: refuse them all.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _not_well_formed(reason: str) -> SoapFault:
    return SoapFault(SENDER, ("WellFormed",), reason)


def child_elements(element: etree._Element) -> list[etree._Element]:
    """The element children of element, skipping comments, PIs and entity references."""
    return [child for child in element if isinstance(child.tag, str)]


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 request; raise SoapFault if it is not one."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise _not_well_formed(f"XML is not well formed: {error}") from None
    # SOAP 1.2 forbids a DTD; rejecting it also stops entity expansion tricks outright.
    if root.getroottree().docinfo.internalDTD is not None:
        raise _not_well_formed("A SOAP message must not contain a document type declaration")
    if root.tag == qname(SOAP11_ENV, "Envelope"):
        raise SoapFault(VERSION_MISMATCH, (), "Only SOAP 1.2 envelopes are supported")
    if root.tag != qname(ENV, "Envelope"):
        raise _not_well_formed("The root element is not a SOAP 1.2 Envelope")
    header = root.find(qname(ENV, "Header"))
    body = root.find(qname(ENV, "Body"))
    if body is None:
        raise _not_well_formed("The SOAP Envelope has no Body")
    operations = child_elements(body)
    if not operations:
        raise _not_well_formed("The SOAP Body holds no operation")
    return Request(header, operations[0])


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append a child element with optional text."""
    child = etree.SubElement(parent, tag)
    child.text = text
    return child


def serialize(body_child: etree._Element) -> bytes:
    """Serialize an answer (or an env:Fault) wrapped in a SOAP 1.2 envelope."""
    envelope = etree.Element(qname(ENV, "Envelope"), nsmap=NSMAP)
    sub(envelope, qname(ENV, "Body")).append(body_child)
    # Declare every prefix once on the Envelope; keep env/ter, which faults use inside text.
    etree.cleanup_namespaces(envelope, top_nsmap=NSMAP, keep_ns_prefixes=list(NSMAP))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


# Stands in for the frames of a Node.js stack trace; the first line carries the fault's reason.
_STACK = "\n    at Object.handler (/usr/lib/node_modules/onvif-server/lib/device.js:42:11)"


def fault_envelope(fault: SoapFault, shape: str = "soap12") -> bytes:
    """Serialize a fault: a SOAP 1.2 env:Fault with nested ter: subcodes, or one of the shapes
    devices use instead (see SimulatedDevice.fault_shape)."""
    if shape == "text":
        return f"Error: {fault.reason}{_STACK}\n".encode()
    soap11_code = "soap:client" if fault.code == SENDER else "soap:server"
    if shape == "soap11":
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP11_ENV}"><soap:Body><soap:Fault>'
            f"<faultcode>{soap11_code}</faultcode>"
            f"<faultstring>{escape(fault.reason)}</faultstring>"
            "</soap:Fault></soap:Body></soap:Envelope>"
        ).encode()
    element = etree.Element(qname(ENV, "Fault"), nsmap={**NSMAP, "soap": ENV})
    code = sub(element, qname(ENV, "Code"))
    sub(code, qname(ENV, "Value"), soap11_code if shape == "lowercase" else f"env:{fault.code}")
    parent = code
    for subcode in fault.subcodes:
        parent = sub(parent, qname(ENV, "Subcode"))
        sub(parent, qname(ENV, "Value"), f"ter:{subcode}")
    text = sub(sub(element, qname(ENV, "Reason")), qname(ENV, "Text"), fault.reason)
    text.set(qname(XML_NS, "lang"), "en")
    return serialize(element)
