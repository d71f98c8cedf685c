"""WS-Discovery client: a directed Probe for ONVIF devices over UDP, and safe parsing of answers.

ONVIF devices are found with WS-Discovery in its 2005/04 namespace (SOAP 1.2 over UDP, WS-Addressing
2004/08): a client sends a Probe naming the types it looks for (dn:NetworkVideoTransmitter), and
each matching device answers with a ProbeMatches message naming its endpoint (a stable urn:uuid),
types, scopes (onvif://www.onvif.org/...) and the addresses of its device service (XAddrs).

Unicast, never multicast. The usual Probe goes to the group 239.255.255.250:3702. This client never
sends one: whether a multicast datagram stays on the machine (IP_MULTICAST_IF 127.0.0.1, TTL 0)
depends on the operating system and how its interfaces are set up (Linux's `lo` is not even
multicast-capable by default; an OS that ignores the option sends it out of the default interface
onto the network), which this code cannot prove. And a multicast Probe kept on loopback would find
nothing a unicast one to 127.0.0.1 does not. So the Probe is a directed one, which WS-Discovery
allows to be sent unicast to a known host: by default to 127.0.0.1:3702 (a device or the simulator
on this machine), otherwise to the host the user names (`onvif-gateway discover --target
HOST[:PORT]`).
Multicast and broadcast targets are refused.

Answers are parsed with DTDs, entities and the network refused; a datagram that is too big, not
well-formed, not a ProbeMatches, not from the probed host or not related to our Probe's MessageID
is ignored, as is a match without an endpoint address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit

from lxml import etree

log = logging.getLogger(__name__)

SOAP_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSD: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DN: Final = "http://www.onvif.org/ver10/network/wsdl"
TDS: Final = "http://www.onvif.org/ver10/device/wsdl"

ACTION_PROBE: Final = f"{WSD}/Probe"
ACTION_PROBE_MATCHES: Final = f"{WSD}/ProbeMatches"
# The well-known To of a Probe, and the WS-Addressing "reply to the sender" address.
DISCOVERY_TO: Final = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS: Final = f"{WSA}/role/anonymous"

NETWORK_VIDEO_TRANSMITTER: Final = f"{{{DN}}}NetworkVideoTransmitter"
DEVICE_TYPE: Final = f"{{{TDS}}}Device"
PREFIXES: Final = {"dn": DN, "tds": TDS}

DISCOVERY_PORT: Final = 3702
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_WAIT: Final = 2.0  # seconds to collect answers
# A ProbeMatches is a few hundred bytes to a few KiB; anything far larger is not one we want.
MAX_DATAGRAM: Final = 32 * 1024
# Bounds memory when something floods us with distinct valid-looking answers.
MAX_MATCHES: Final = 1000
# SOAP-over-UDP sends a unicast message twice (UNICAST_UDP_REPEAT = 1), as UDP may lose one.
REPEAT_DELAY: Final = 0.1


def clark(namespace: str, local: str) -> str:
    """Clark notation {namespace}local, as lxml writes tags."""
    return f"{{{namespace}}}{local}"


@dataclass(frozen=True)
class Target:
    """Where a directed Probe goes: a host (name or IP address) and a UDP port."""

    host: str = DEFAULT_HOST
    port: int = DISCOVERY_PORT

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ProbeMatch:
    """One device that answered: its endpoint address, types (Clark names), scopes and XAddrs."""

    address: str
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: int


class Envelope(NamedTuple):
    """The WS-Addressing headers and the first body element of a WS-Discovery message."""

    action: str
    message_id: str
    relates_to: str
    body: etree._Element


def _check_address(host: str) -> None:
    """Refuse an IP address no directed Probe may go to: multicast, broadcast, unspecified."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return  # a host name: checked again once resolved
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:239.255.255.250 is that IPv4 group
    # (A subnet's broadcast address cannot be told from here; without SO_BROADCAST, which this
    # socket never sets, the kernel refuses to send to one.)
    if address.is_multicast or address.is_unspecified or address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        raise ValueError(f"{host} is a multicast, broadcast or unspecified address: "
                         "a Probe is only sent unicast, to one host")


def parse_target(text: str) -> Target:
    """Parse HOST, HOST:PORT, IPv6, [IPv6] or [IPv6]:PORT (port 3702 when absent); ValueError if
    it is none of these, or a multicast or broadcast address."""
    text = text.strip()
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2) or ""
    elif text.count(":") > 1:
        host, port_text = text, ""  # a bare IPv6 address
    else:
        host, _, port_text = text.partition(":")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    elif not re.fullmatch(r"[A-Za-z0-9._-]+", host):
        raise ValueError(f"{text!r} is not HOST, HOST:PORT or [IPv6]:PORT")
    if port_text and not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"{text!r}: the port must be a number")
    port = int(port_text) if port_text else DISCOVERY_PORT
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not 1 to 65535")
    _check_address(host)
    return Target(host, port)


def _parser() -> etree.XMLParser:
    # Nothing in WS-Discovery needs a DTD, entities or the network: refuse them all.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=True, remove_pis=True)


def _text(parent: etree._Element, tag: str) -> str:
    element = parent.find(tag)
    return (element.text or "").strip() if element is not None else ""


def parse_envelope(data: bytes) -> Envelope | None:
    """Parse a WS-Discovery SOAP 1.2 message safely; None for anything else or anything hostile."""
    if len(data) > MAX_DATAGRAM:
        return None
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        return None
    # SOAP forbids a DTD; refusing one outright also stops every entity trick.
    if root.getroottree().docinfo.internalDTD is not None:
        return None
    if root.tag != clark(SOAP_ENV, "Envelope"):
        return None
    header, body = root.find(clark(SOAP_ENV, "Header")), root.find(clark(SOAP_ENV, "Body"))
    if header is None or body is None:
        return None
    children = [child for child in body if isinstance(child.tag, str)]
    if not children:
        return None
    return Envelope(_text(header, clark(WSA, "Action")), _text(header, clark(WSA, "MessageID")),
                    _text(header, clark(WSA, "RelatesTo")), children[0])


def qname_list(element: etree._Element | None, strict: bool = True) -> tuple[str, ...] | None:
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
        names.append(clark(namespace, local))
    return tuple(names)


def _probe_match(element: etree._Element) -> ProbeMatch | None:
    address = _text(element, f"{clark(WSA, 'EndpointReference')}/{clark(WSA, 'Address')}")
    # Types are only shown to the user: a camera's undeclared prefix is not worth losing it for.
    types = qname_list(element.find(clark(WSD, "Types")), strict=False) or ()
    version = _text(element, clark(WSD, "MetadataVersion")) or "0"
    if not address or not version.isdigit():
        return None
    return ProbeMatch(
        address=address,
        types=types,
        scopes=tuple(_text(element, clark(WSD, "Scopes")).split()),
        xaddrs=tuple(_text(element, clark(WSD, "XAddrs")).split()),
        metadata_version=int(version),
    )


def parse_probe_matches(data: bytes, message_id: str) -> list[ProbeMatch]:
    """The matches of a ProbeMatches answering the Probe with this MessageID; else []."""
    envelope = parse_envelope(data)
    if (
        envelope is None
        or envelope.action != ACTION_PROBE_MATCHES
        or envelope.relates_to != message_id
        or envelope.body.tag != clark(WSD, "ProbeMatches")
    ):
        return []
    found = (_probe_match(element) for element in envelope.body.iterfind(clark(WSD, "ProbeMatch")))
    return [match for match in found if match is not None]


def _prefixed(name: str, nsmap: dict[str, str]) -> str:
    """A Clark name as prefix:local, declaring a prefix for its namespace if it has none yet."""
    qname = etree.QName(name)
    namespace = qname.namespace or ""
    for prefix, known in nsmap.items():
        if known == namespace:
            return f"{prefix}:{qname.localname}"
    prefix = f"ns{len(nsmap)}"
    nsmap[prefix] = namespace
    return f"{prefix}:{qname.localname}"


def build_envelope(action: str, message_id: str, body: etree._Element, nsmap: dict[str, str],
             relates_to: str | None = None, to: str = DISCOVERY_TO) -> etree._Element:
    """A WS-Discovery SOAP 1.2 envelope with its WS-Addressing headers around body."""
    root = etree.Element(clark(SOAP_ENV, "Envelope"),
                         nsmap={"s": SOAP_ENV, "a": WSA, "d": WSD, **nsmap})
    header = etree.SubElement(root, clark(SOAP_ENV, "Header"))
    etree.SubElement(header, clark(WSA, "Action")).text = action
    etree.SubElement(header, clark(WSA, "MessageID")).text = message_id
    if relates_to is not None:
        etree.SubElement(header, clark(WSA, "RelatesTo")).text = relates_to
    else:
        reply_to = etree.SubElement(header, clark(WSA, "ReplyTo"))
        etree.SubElement(reply_to, clark(WSA, "Address")).text = ANONYMOUS
    etree.SubElement(header, clark(WSA, "To")).text = to
    etree.SubElement(root, clark(SOAP_ENV, "Body")).append(body)
    return root


def build_probe(message_id: str, types: Sequence[str] = (NETWORK_VIDEO_TRANSMITTER,)) -> bytes:
    """A Probe for devices of all these types (Clark names); no types probes for any device."""
    nsmap = dict(PREFIXES)
    probe = etree.Element(clark(WSD, "Probe"))
    if types:
        etree.SubElement(probe, clark(WSD, "Types")).text = " ".join(
            _prefixed(name, nsmap) for name in types)
    root = build_envelope(ACTION_PROBE, message_id, probe, nsmap)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


class _Collector(asyncio.DatagramProtocol):
    """Collects the matches answering one Probe, sent from one host."""

    def __init__(self, message_id: str, host: str) -> None:
        self.message_id = message_id
        self.host = host
        self.matches: dict[str, ProbeMatch] = {}
        self.error: OSError | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # A directed Probe is answered by the host it went to; anything else is not ours.
        if addr[0] != self.host:
            log.debug("WS-Discovery: ignored a datagram from %s", addr[0])
            return
        for match in parse_probe_matches(data, self.message_id):
            if len(self.matches) < MAX_MATCHES:
                self.matches.setdefault(match.address, match)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and self.error is None:
            self.error = exc


async def probe(target: Target | None = None, wait: float = DEFAULT_WAIT,
                types: Sequence[str] = (NETWORK_VIDEO_TRANSMITTER,)) -> list[ProbeMatch]:
    """Send a directed Probe to target and return what answered within `wait` seconds.

    One match per endpoint address, in the order they came. Raises ValueError for a target that
    is not a unicast host, OSError if it cannot be resolved or sent to (and nothing answered).
    """
    target = target or Target()
    _check_address(target.host)
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {target.host}")
    family, _, _, _, sockaddr = infos[0]
    host = str(sockaddr[0])
    _check_address(host)  # a host name may resolve to a multicast address
    # On loopback, listen on loopback only; elsewhere the kernel picks the source on first send.
    loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    local = (host, 0) if loopback else None
    message_id = f"urn:uuid:{uuid.uuid4()}"
    collector = _Collector(message_id, host)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: collector, local_addr=local, family=family)
    try:
        data = build_probe(message_id, types)
        transport.sendto(data, sockaddr)
        if wait > 2 * REPEAT_DELAY:
            await asyncio.sleep(REPEAT_DELAY)
            transport.sendto(data, sockaddr)
            wait -= REPEAT_DELAY
        await asyncio.sleep(wait)
    finally:
        transport.close()
    if collector.error is not None and not collector.matches:
        raise collector.error
    return list(collector.matches.values())


def short_type(name: str) -> str:
    """A Clark type name as dn:/tds: prefixed where known, else as it is."""
    qname = etree.QName(name)
    for prefix, namespace in PREFIXES.items():
        if qname.namespace == namespace:
            return f"{prefix}:{qname.localname}"
    return name


def scope_values(match: ProbeMatch, kind: str) -> list[str]:
    """The values of the match's onvif://www.onvif.org/<kind>/... scopes, percent-decoded."""
    prefix = f"onvif://www.onvif.org/{kind}/"
    return [unquote(scope[len(prefix):]) for scope in match.scopes
            if scope.lower().startswith(prefix) and len(scope) > len(prefix)]


def _clean_name(text: str) -> str:
    """text made a valid gateway.ini device name ('' if nothing is left of it)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    return re.sub(r"^[^A-Za-z0-9]+", "", name)[:64]


def device_name(match: ProbeMatch, taken: Iterable[str] = ()) -> str:
    """A [device:NAME] name for the match: from its name and hardware scopes, else its uuid;
    made unique among taken with -2, -3..."""
    parts = [values[0] for values in (scope_values(match, "name"), scope_values(match, "hardware"))
             if values]
    address = match.address.lower().removeprefix("urn:").removeprefix("uuid:")
    base = _clean_name("-".join(parts)) or _clean_name(address) or "device"
    used = {name.lower() for name in taken}
    name, n = base, 1
    while name.lower() in used:
        n += 1
        suffix = f"-{n}"
        name = base[:64 - len(suffix)] + suffix
    return name


def device_url(match: ProbeMatch) -> str | None:
    """The first http(s) XAddr of the match: its device-service URL."""
    for xaddr in match.xaddrs:
        parts = urlsplit(xaddr)
        if parts.scheme in ("http", "https") and parts.hostname:
            return xaddr
    return None


def config_sections(matches: Iterable[ProbeMatch]) -> str:
    """gateway.ini [device:NAME] sections for the matches, ready to paste; a match without a
    usable XAddr is only mentioned in a comment."""
    lines: list[str] = []
    usable: list[tuple[ProbeMatch, str]] = []
    for match in matches:
        url = device_url(match)
        if url is None:
            lines += [f"# {match.address} answered without an http(s) XAddr: not usable", ""]
        else:
            usable.append((match, url))
    names: list[str] = []
    for match, url in usable:
        name = device_name(match, names)
        names.append(name)
        lines += [
            f"[device:{name}]",
            f"# {match.address}: {' '.join(map(short_type, match.types))}",
            f"# scopes: {' '.join(match.scopes)}",
            f"url = {url}",
        ]
        # gateway.ini wants one default among several devices, and the file these sections are
        # pasted into may have one already (the shipped one does): offered, never set.
        if len(usable) > 1 and len(names) == 1:
            lines += ["# the device the bare paths (/login, ...) serve, if no other section of",
                      "# gateway.ini says default = yes: uncomment the next line (one device only)",
                      "# default = yes"]
        lines.append("")
    return "\n".join(lines)
