"""WS-Discovery for the simulated devices: Probes answered on a UDP port of 127.0.0.1.

Each simulated device whose discovery_mode is "Discoverable" answers a matching Probe with its own
ProbeMatches datagram, as separate cameras would; "NonDiscoverable" ones stay silent (checked per
Probe, so SetDiscoveryMode takes effect at once). Only the 2005/04 WS-Discovery of ONVIF is spoken,
and only Probe: no Hello, Bye or Resolve. Probes are parsed as safely as every other message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final, cast
from urllib.parse import quote, urlsplit

from gateway.soap.wsdiscovery import (
    DEVICE_TYPE,
    MATCH_BY_RFC2396,
    MATCH_BY_STRCMP0,
    NETWORK_VIDEO_TRANSMITTER,
    ProbeMatch,
    build_probe_matches,
    parse_probe,
)

from .device import MEDIA, MEDIA2, SimulatedDevice, device_path

log = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"
DEVICE_TYPES: Final = (NETWORK_VIDEO_TRANSMITTER, DEVICE_TYPE)
SCOPE_PREFIX: Final = "onvif://www.onvif.org/"
# A Probe is sent twice over UDP; the repeat must not be answered again.
SEEN_PROBES: Final = 256
# Any UUID namespace works; this one only has to stay the same for endpoint addresses to be stable.
ENDPOINT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:onvif-gateway:simulator")


def endpoint_address(device: SimulatedDevice) -> str:
    """The device's WS-Discovery endpoint address: a urn:uuid that is the same on every run."""
    return f"urn:uuid:{uuid.uuid5(ENDPOINT_NAMESPACE, f'device/{device.index}')}"


def scopes(device: SimulatedDevice) -> tuple[str, ...]:
    """The device's ONVIF scopes (ONVIF Core 7.3.2.2), values percent-encoded."""
    profiles = [name for name, service in (("Streaming", MEDIA), ("T", MEDIA2))
                if service in device.services]  # Profile S needs Media1, Profile T Media2
    return tuple(SCOPE_PREFIX + part for part in (
        "type/video_encoder",
        *(f"Profile/{name}" for name in profiles),
        f"hardware/{quote(device.model, safe='')}",
        f"name/{quote(device.manufacturer, safe='')}",
        "location/loopback",
    ))


def _segments(uri: str) -> tuple[str, str, list[str]] | None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    return parts.scheme.lower(), parts.netloc.lower(), [s for s in parts.path.split("/") if s]


def _scope_matches(wanted: str, scope: str, rule: str) -> bool:
    """WS-Discovery 2005/04 scope matching: strcmp0, or rfc2396 (a segment-wise path prefix)."""
    if rule == MATCH_BY_STRCMP0:
        return wanted == scope
    want, have = _segments(wanted), _segments(scope)
    if want is None or have is None:
        return False
    return want[:2] == have[:2] and have[2][: len(want[2])] == want[2]


def _matches(device: SimulatedDevice, types: Sequence[str], wanted_scopes: Sequence[str],
             rule: str) -> bool:
    own = scopes(device)
    return all(name in DEVICE_TYPES for name in types) and all(
        any(_scope_matches(wanted, scope, rule) for scope in own) for wanted in wanted_scopes)


class ProbeResponder(asyncio.DatagramProtocol):
    """Answers Probes for the simulated devices served over HTTP on http_port of 127.0.0.1."""

    def __init__(self, devices: Sequence[SimulatedDevice], http_port: int) -> None:
        self.devices = devices
        self.http_port = http_port
        self.transport: asyncio.DatagramTransport | None = None
        self.instance_id = int(time.time())  # AppSequence: changes when the simulator restarts
        self.message_number = 0
        self.seen: OrderedDict[str, None] = OrderedDict()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (not an isinstance check: the selector loop's datagram transport does not subclass it)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        # Bound to 127.0.0.1, so only local senders reach us; checked again so that an answer
        # can never leave the machine.
        if self.transport is None or not ipaddress.ip_address(str(addr[0])).is_loopback:
            return
        for answer in self.answers(data):
            self.transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("WS-Discovery responder: %s", exc)

    def answers(self, data: bytes) -> list[bytes]:
        """The ProbeMatches datagrams answering data: none unless it is a new, matching Probe."""
        probe = parse_probe(data)
        if probe is None or probe.message_id in self.seen:
            return []
        self.seen[probe.message_id] = None
        if len(self.seen) > SEEN_PROBES:
            self.seen.popitem(last=False)
        if probe.types is None or probe.match_by not in (MATCH_BY_RFC2396, MATCH_BY_STRCMP0):
            return []  # an undeclared prefix, or a rule we do not know: nothing can match
        return [self.probe_match(device, probe.message_id) for device in self.devices
                if device.discovery_mode == "Discoverable"
                and _matches(device, probe.types, probe.scopes, probe.match_by)]

    def probe_match(self, device: SimulatedDevice, relates_to: str) -> bytes:
        """One device's ProbeMatches answering the Probe with MessageID relates_to."""
        match = ProbeMatch(
            address=endpoint_address(device),
            types=DEVICE_TYPES,
            scopes=scopes(device),
            xaddrs=(f"http://{LOOPBACK}:{self.http_port}{device_path(device.index)}",),
            metadata_version=1,
        )
        self.message_number += 1
        return build_probe_matches(match, f"urn:uuid:{uuid.uuid4()}", relates_to,
                                   (self.instance_id, self.message_number))

async def start_discovery(devices: Sequence[SimulatedDevice], http_port: int,
                          port: int) -> asyncio.DatagramTransport:
    """Answer WS-Discovery Probes for devices on UDP port (0: any free one) of 127.0.0.1 only."""
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: ProbeResponder(devices, http_port), local_addr=(LOOPBACK, port))
    return transport
