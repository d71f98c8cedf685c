"""SOAP 1.2 envelopes: safe parsing of requests, building of responses and faults."""

from __future__ import annotations

from typing import Final, NamedTuple
from xml.sax.saxutils import escape

from lxml import etree

from gateway.soap.xml import (
    SOAP11_ENV,
    SOAP_ENV,
    TDS,
    TER,
    TEV,
    TIMG,
    TNS1,
    TPTZ,
    TR2,
    TRT,
    TT,
    WSA,
    WSNT,
    WSTOP,
    XML_NS,
    DoctypeRefused,
    child_elements,
    parse,
    qname,
)

# tns1 is used inside text (topics: tns1:VideoSource/MotionAlarm), so it is declared whether or
# not an element uses it, as cameras do.
NSMAP: Final = {"env": SOAP_ENV, "ter": TER, "tds": TDS, "trt": TRT, "tr2": TR2, "timg": TIMG,
                "tptz": TPTZ, "tt": TT, "tev": TEV, "wsnt": WSNT, "wstop": WSTOP, "wsa": WSA,
                "tns1": TNS1}

SENDER: Final = "Sender"
RECEIVER: Final = "Receiver"
VERSION_MISMATCH: Final = "VersionMismatch"


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


def _not_well_formed(reason: str) -> SoapFault:
    return SoapFault(SENDER, ("WellFormed",), reason)


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 request; raise SoapFault if it is not one."""
    try:
        root = parse(data)
    except etree.XMLSyntaxError as error:
        raise _not_well_formed(f"XML is not well formed: {error}") from None
    except DoctypeRefused as error:
        raise _not_well_formed(str(error)) from None
    if root.tag == qname(SOAP11_ENV, "Envelope"):
        raise SoapFault(VERSION_MISMATCH, (), "Only SOAP 1.2 envelopes are supported")
    if root.tag != qname(SOAP_ENV, "Envelope"):
        raise _not_well_formed("The root element is not a SOAP 1.2 Envelope")
    header = root.find(qname(SOAP_ENV, "Header"))
    body = root.find(qname(SOAP_ENV, "Body"))
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
    envelope = etree.Element(qname(SOAP_ENV, "Envelope"), nsmap=NSMAP)
    sub(envelope, qname(SOAP_ENV, "Body")).append(body_child)
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
    element = etree.Element(qname(SOAP_ENV, "Fault"), nsmap={**NSMAP, "soap": SOAP_ENV})
    code = sub(element, qname(SOAP_ENV, "Code"))
    sub(code, qname(SOAP_ENV, "Value"),
        soap11_code if shape == "lowercase" else f"env:{fault.code}")
    parent = code
    for subcode in fault.subcodes:
        parent = sub(parent, qname(SOAP_ENV, "Subcode"))
        sub(parent, qname(SOAP_ENV, "Value"), f"ter:{subcode}")
    text = sub(sub(element, qname(SOAP_ENV, "Reason")), qname(SOAP_ENV, "Text"), fault.reason)
    text.set(qname(XML_NS, "lang"), "en")
    return serialize(element)
