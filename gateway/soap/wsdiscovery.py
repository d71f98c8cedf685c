"""WS-Discovery 2005/04 on the wire: Probe and ProbeMatches messages, built and parsed safely.

ONVIF devices are found with WS-Discovery in its 2005/04 namespace (SOAP 1.2 over UDP, WS-Addressing
2004/08): a client sends a Probe naming the types it looks for (dn:NetworkVideoTransmitter), and
each matching device answers with a ProbeMatches message naming its endpoint (a stable urn:uuid),
types, scopes (onvif://www.onvif.org/...) and the addresses of its device service (XAddrs).

The gateway's client (gateway.discovery) and the simulator's responder
(gateway.simulator.discovery) both speak through this module. Messages are parsed with DTDs,
entities and the network refused (gateway.soap.xml); a datagram that is too big or not
well-formed is no message, as is a match without an endpoint address. Only Probe and
ProbeMatches: no Hello, Bye or Resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from lxml import etree

from gateway.soap.xml import (
    DN,
    SOAP_ENV,
    TDS,
    WSA_2004,
    WSD,
    DoctypeRefused,
    child_elements,
    parse,
    qname,
)

ACTION_PROBE: Final = f"{WSD}/Probe"
ACTION_PROBE_MATCHES: Final = f"{WSD}/ProbeMatches"
# The well-known To of a Probe, and the WS-Addressing "reply to the sender" address.
DISCOVERY_TO: Final = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS: Final = f"{WSA_2004}/role/anonymous"
# The scope matching rules of WS-Discovery 2005/04; rfc2396 is the default.
MATCH_BY_RFC2396: Final = f"{WSD}/rfc2396"
MATCH_BY_STRCMP0: Final = f"{WSD}/strcmp0"

NETWORK_VIDEO_TRANSMITTER: Final = qname(DN, "NetworkVideoTransmitter")
DEVICE_TYPE: Final = qname(TDS, "Device")
PREFIXES: Final = {"dn": DN, "tds": TDS}

DISCOVERY_PORT: Final = 3702
# A ProbeMatches is a few hundred bytes to a few KiB; anything far larger is not one we want.
MAX_DATAGRAM: Final = 32 * 1024


@dataclass(frozen=True)
class ProbeMatch:
    """One device that answered: its endpoint address, types (Clark names), scopes and XAddrs."""

    address: str
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: int


@dataclass(frozen=True)
class Probe:
    """A Probe: its MessageID, the types (Clark names; None if one has an undeclared prefix),
    the scopes and the rule they are matched by."""

    message_id: str
    types: tuple[str, ...] | None
    scopes: tuple[str, ...]
    match_by: str


class Envelope(NamedTuple):
    """The WS-Addressing headers and the first body element of a WS-Discovery message."""

    action: str
    message_id: str
    relates_to: str
    body: etree._Element


def _text(parent: etree._Element, tag: str) -> str:
    element = parent.find(tag)
    return (element.text or "").strip() if element is not None else ""


def parse_envelope(data: bytes) -> Envelope | None:
    """Parse a WS-Discovery SOAP 1.2 message safely; None for anything else or anything hostile."""
    if len(data) > MAX_DATAGRAM:
        return None
    try:
        root = parse(data)
    except (etree.XMLSyntaxError, DoctypeRefused):
        return None
    if root.tag != qname(SOAP_ENV, "Envelope"):
        return None
    header, body = root.find(qname(SOAP_ENV, "Header")), root.find(qname(SOAP_ENV, "Body"))
    if header is None or body is None:
        return None
    children = child_elements(body)
    if not children:
        return None
    action, message_id, relates_to = (_text(header, qname(WSA_2004, name))
                                      for name in ("Action", "MessageID", "RelatesTo"))
    return Envelope(action, message_id, relates_to, children[0])


def qparsedlist(element: etree._Element | None, strict: bool = True) -> tuple[str, ...] | None:
    """A list of prefixed QNames (d:Types) as Clark names. A name whose prefix is not declared
    makes it None if strict, else it is left out."""
    if element is None:
        return ()
    names = []
    for token in (element.text or "").split():
        prefix, _, local = token.rpartition(":")
        namespace = element.nsmap.get(prefix or None)
        if namespace is None or not local:
            if strict:
                return None
            continue
        names.append(qname(namespace, local))
    return tuple(names)


def parse_probe(data: bytes) -> Probe | None:
    """The Probe in data; None unless it is one, with a MessageID."""
    envelope = parse_envelope(data)
    if (envelope is None or envelope.action != ACTION_PROBE or not envelope.message_id
            or envelope.body.tag != qname(WSD, "Probe")):
        return None
    scopes = envelope.body.find(qname(WSD, "Scopes"))
    return Probe(
        message_id=envelope.message_id,
        types=qparsedlist(envelope.body.find(qname(WSD, "Types"))),
        scopes=tuple((scopes.text or "").split()) if scopes is not None else (),
        match_by=(scopes.get("MatchBy") if scopes is not None else None) or MATCH_BY_RFC2396,
    )


def _probe_match(element: etree._Element) -> ProbeMatch | None:
    address = _text(element, f"{qname(WSA_2004, 'EndpointReference')}/{qname(WSA_2004, 'Address')}")
    # Types are only shown to the user: a camera's undeclared prefix is not worth losing it for.
    types = qparsedlist(element.find(qname(WSD, "Types")), strict=False) or ()
    version = _text(element, qname(WSD, "MetadataVersion")) or "0"
    if not address or not version.isdigit():
        return None
    return ProbeMatch(
        address=address,
        types=types,
        scopes=tuple(_text(element, qname(WSD, "Scopes")).split()),
        xaddrs=tuple(_text(element, qname(WSD, "XAddrs")).split()),
        metadata_version=int(version),
    )


def parse_probe_matches(data: bytes, message_id: str) -> list[ProbeMatch]:
    """The matches of a ProbeMatches answering the Probe with this MessageID; else []."""
    envelope = parse_envelope(data)
    if (
        envelope is None
        or envelope.action != ACTION_PROBE_MATCHES
        or envelope.relates_to != message_id
        or envelope.body.tag != qname(WSD, "ProbeMatches")
    ):
        return []
    found = (_probe_match(element) for element in envelope.body.iterfind(qname(WSD, "ProbeMatch")))
    return [match for match in found if match is not None]


def _prefixed(name: str, nsmap: dict[str, str]) -> str:
    """A Clark name as prefix:local, declaring a prefix for its namespace if it has none yet."""
    parsed = etree.QName(name)
    namespace = parsed.namespace or ""
    for prefix, known in nsmap.items():
        if known == namespace:
            return f"{prefix}:{parsed.localname}"
    prefix = f"ns{len(nsmap)}"
    nsmap[prefix] = namespace
    return f"{prefix}:{parsed.localname}"


def short_type(name: str) -> str:
    """A Clark type name as dn:/tds: prefixed where known, else as it is."""
    parsed = etree.QName(name)
    for prefix, namespace in PREFIXES.items():
        if parsed.namespace == namespace:
            return f"{prefix}:{parsed.localname}"
    return name


def _envelope(action: str, message_id: str, body: etree._Element, nsmap: dict[str, str],
              relates_to: str | None = None, to: str = DISCOVERY_TO) -> etree._Element:
    """A WS-Discovery SOAP 1.2 envelope with its WS-Addressing headers around body."""
    root = etree.Element(qname(SOAP_ENV, "Envelope"),
                         nsmap={"s": SOAP_ENV, "a": WSA_2004, "d": WSD, **nsmap})
    header = etree.SubElement(root, qname(SOAP_ENV, "Header"))
    etree.SubElement(header, qname(WSA_2004, "Action")).text = action
    etree.SubElement(header, qname(WSA_2004, "MessageID")).text = message_id
    if relates_to is not None:
        etree.SubElement(header, qname(WSA_2004, "RelatesTo")).text = relates_to
    else:
        reply_to = etree.SubElement(header, qname(WSA_2004, "ReplyTo"))
        etree.SubElement(reply_to, qname(WSA_2004, "Address")).text = ANONYMOUS
    etree.SubElement(header, qname(WSA_2004, "To")).text = to
    etree.SubElement(root, qname(SOAP_ENV, "Body")).append(body)
    return root


def build_probe(message_id: str, types: Sequence[str] = (NETWORK_VIDEO_TRANSMITTER,)) -> bytes:
    """A Probe for devices of all these types (Clark names); no types probes for any device."""
    nsmap = dict(PREFIXES)
    probe = etree.Element(qname(WSD, "Probe"))
    if types:
        etree.SubElement(probe, qname(WSD, "Types")).text = " ".join(
            _prefixed(name, nsmap) for name in types)
    root = _envelope(ACTION_PROBE, message_id, probe, nsmap)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def build_probe_matches(match: ProbeMatch, message_id: str, relates_to: str,
                        app_sequence: tuple[int, int]) -> bytes:
    """A ProbeMatches with one match, answering the Probe with MessageID relates_to;
    app_sequence is the sender's (InstanceId, MessageNumber)."""
    nsmap = dict(PREFIXES)
    matches = etree.Element(qname(WSD, "ProbeMatches"))
    element = etree.SubElement(matches, qname(WSD, "ProbeMatch"))
    reference = etree.SubElement(element, qname(WSA_2004, "EndpointReference"))
    etree.SubElement(reference, qname(WSA_2004, "Address")).text = match.address
    etree.SubElement(element, qname(WSD, "Types")).text = " ".join(
        _prefixed(name, nsmap) for name in match.types)
    etree.SubElement(element, qname(WSD, "Scopes")).text = " ".join(match.scopes)
    etree.SubElement(element, qname(WSD, "XAddrs")).text = " ".join(match.xaddrs)
    etree.SubElement(element, qname(WSD, "MetadataVersion")).text = str(match.metadata_version)
    root = _envelope(ACTION_PROBE_MATCHES, message_id, matches, nsmap, relates_to=relates_to,
                     to=ANONYMOUS)
    sequence = etree.SubElement(root[0], qname(WSD, "AppSequence"))
    sequence.set("InstanceId", str(app_sequence[0]))
    sequence.set("MessageNumber", str(app_sequence[1]))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
