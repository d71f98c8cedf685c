"""WS-Discovery client: a directed Probe for ONVIF devices over UDP, and the matches it gets.

The messages themselves (Probe, ProbeMatches) are gateway.soap.wsdiscovery's; this module sends
a Probe and collects the answers. What `onvif-gateway discover` prints of them is the CLI's.

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

A datagram that is not from the probed host, or not a ProbeMatches related to our Probe's
MessageID, is ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gateway.soap.wsdiscovery import (
    DISCOVERY_PORT,
    NETWORK_VIDEO_TRANSMITTER,
    ProbeMatch,
    build_probe,
    parse_probe_matches,
)

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_WAIT: Final = 2.0  # seconds to collect answers
# Bounds memory when something floods us with distinct valid-looking answers.
MAX_MATCHES: Final = 1000
# SOAP-over-UDP sends a unicast message twice (UNICAST_UDP_REPEAT = 1), as UDP may lose one.
REPEAT_DELAY: Final = 0.1


@dataclass(frozen=True)
class Target:
    """Where a directed Probe goes: a host (name or IP address) and a UDP port."""

    host: str = DEFAULT_HOST
    port: int = DISCOVERY_PORT

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


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
