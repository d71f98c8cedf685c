"""WS-Discovery: the client's directed Probe, the simulator's answers, and the discover command.

Every datagram here goes to and comes from 127.0.0.1 (or 127.0.0.2, also loopback): never multicast.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import pytest
from lxml import etree

from gateway import cli
from gateway.app import create_app
from gateway.cli import config_sections, device_name
from gateway.config import DEVICE_NAME, parse_config
from gateway.discovery import Target, parse_target, probe
from gateway.errors import ConfigError
from gateway.simulator import SimulatedDevice
from gateway.simulator.discovery import endpoint_address, start_discovery
from gateway.soap.wsdiscovery import (
    MAX_DATAGRAM,
    NETWORK_VIDEO_TRANSMITTER,
    ProbeMatch,
    build_probe,
    parse_probe_matches,
)
from gateway.soap.xml import WSA_2004
from tests.conftest import bearer, login
from tests.processes import ROOT, port_of, start, stop

HTTP_PORT = 8000  # only written into XAddrs by the responder; nothing is served there
WAIT = 0.5


def free_udp_port() -> int:
    """A loopback UDP port nobody listens on right now (simulate's --discovery-port 0 turns
    discovery off: it cannot be asked to choose one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def responder():
    """The simulator's responder for 3 devices, device 2 NonDiscoverable; (devices, UDP port)."""
    devices = [SimulatedDevice(index=i) for i in (1, 2, 3)]
    devices[1].discovery_mode = "NonDiscoverable"
    transport = await start_discovery(devices, HTTP_PORT, 0)
    yield devices, transport.get_extra_info("sockname")[1]
    transport.close()


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data, addr):
        self.received.append(data)


async def exchange(port: int, *datagrams: bytes, wait: float = 0.3) -> list[bytes]:
    """Send datagrams to 127.0.0.1:port from one socket; return what came back within wait."""
    inbox = _Inbox()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: inbox, local_addr=("127.0.0.1", 0))
    try:
        for data in datagrams:
            transport.sendto(data, ("127.0.0.1", port))
        await asyncio.sleep(wait)
    finally:
        transport.close()
    return inbox.received


def hand_probe(message_id: str, body: str = "", action: str = "Probe") -> bytes:
    """A Probe written by hand (other prefixes than ours), so the responder is not only ever
    tested with what our own client builds."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:wsd="http://schemas.xmlsoap.org/ws/2005/04/discovery"
    xmlns:net="http://www.onvif.org/ver10/network/wsdl"
    xmlns:dev="http://www.onvif.org/ver10/device/wsdl">
  <soap:Header>
    <wsa:MessageID>{message_id}</wsa:MessageID>
    <wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>
    <wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</wsa:Action>
  </soap:Header>
  <soap:Body><wsd:Probe>{body}</wsd:Probe></soap:Body>
</soap:Envelope>""".encode()


def scope_of(match: ProbeMatch, kind: str) -> list[str]:
    return [s for s in match.scopes if s.startswith(f"onvif://www.onvif.org/{kind}/")]


# -- the round trip: our Probe, the simulator's answers ---------------------------------------

async def test_probe_finds_the_discoverable_devices(responder):
    devices, port = responder
    matches = await probe(Target("127.0.0.1", port), WAIT)
    assert [m.address for m in matches] == [endpoint_address(devices[0]),
                                            endpoint_address(devices[2])]
    assert [m.xaddrs for m in matches] == [
        (f"http://127.0.0.1:{HTTP_PORT}/dev/1/onvif/device_service",),
        (f"http://127.0.0.1:{HTTP_PORT}/dev/3/onvif/device_service",),
    ]
    for match in matches:
        assert NETWORK_VIDEO_TRANSMITTER in match.types
        assert "onvif://www.onvif.org/type/video_encoder" in match.scopes
        assert scope_of(match, "hardware") == ["onvif://www.onvif.org/hardware/model_1"]
        assert scope_of(match, "name") == ["onvif://www.onvif.org/name/RidgeRun"]
        assert scope_of(match, "location")
        assert match.metadata_version == 1
    # the mode is read per Probe: a device made discoverable answers the next one
    devices[1].discovery_mode = "Discoverable"
    matches = await probe(Target("127.0.0.1", port), WAIT)
    assert len(matches) == 3


def test_endpoint_addresses_are_stable_urn_uuids():
    first = endpoint_address(SimulatedDevice(index=1))
    assert first == endpoint_address(SimulatedDevice(index=1, model="other"))
    assert first != endpoint_address(SimulatedDevice(index=2))
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", first)


async def test_scopes_are_percent_encoded_and_name_the_device():
    device = SimulatedDevice(index=1, manufacturer="ACME Cams", model="IPC 2000/X")
    transport = await start_discovery([device], HTTP_PORT, 0)
    try:
        [match] = await probe(Target("127.0.0.1", transport.get_extra_info("sockname")[1]), WAIT)
    finally:
        transport.close()
    assert scope_of(match, "hardware") == ["onvif://www.onvif.org/hardware/IPC%202000%2FX"]
    assert scope_of(match, "name") == ["onvif://www.onvif.org/name/ACME%20Cams"]
    assert device_name(match) == "ACME_Cams-IPC_2000_X"


async def test_probe_types_and_scopes_decide_who_answers(responder):
    _, port = responder
    nvt = "<wsd:Types>net:NetworkVideoTransmitter</wsd:Types>"
    cases = {
        "": 2,  # no Types: every discoverable device
        nvt: 2,
        "<wsd:Types>dev:Device net:NetworkVideoTransmitter</wsd:Types>": 2,
        "<wsd:Types>net:Printer</wsd:Types>": 0,
        "<wsd:Types>dev:Device net:Printer</wsd:Types>": 0,  # every type must be matched
        "<wsd:Types>undeclared:NetworkVideoTransmitter</wsd:Types>": 0,
        nvt + "<wsd:Scopes>onvif://www.onvif.org/hardware/model_1</wsd:Scopes>": 2,
        nvt + "<wsd:Scopes>ONVIF://www.onvif.org/hardware</wsd:Scopes>": 2,  # rfc2396 prefix
        nvt + "<wsd:Scopes>onvif://www.onvif.org/hardware/model</wsd:Scopes>": 0,  # segment-wise
        nvt + "<wsd:Scopes>onvif://www.onvif.org/hardware/other</wsd:Scopes>": 0,
        nvt + '<wsd:Scopes MatchBy="http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0">'
              "onvif://www.onvif.org/hardware</wsd:Scopes>": 0,
        nvt + '<wsd:Scopes MatchBy="urn:unknown-rule">onvif://www.onvif.org</wsd:Scopes>': 0,
    }
    for n, (body, expected) in enumerate(cases.items()):
        answers = await exchange(port, hand_probe(f"urn:uuid:case-{n}", body), wait=0.2)
        assert len(answers) == expected, body
        for answer in answers:
            assert parse_probe_matches(answer, f"urn:uuid:case-{n}"), answer
    # and through the client
    assert await probe(Target("127.0.0.1", port), WAIT, types=["{urn:example}Printer"]) == []
    assert len(await probe(Target("127.0.0.1", port), WAIT, types=[])) == 2


def with_dtd(message: bytes, dtd: str, at: bytes, reference: bytes) -> bytes:
    """message with an internal DTD, and an entity reference inserted before `at`."""
    body = message.split(b"?>", 1)[1] if message.startswith(b"<?xml") else message
    return (f'<?xml version="1.0"?><!DOCTYPE e [{dtd}]>'.encode()
            + body.replace(at, reference + at, 1))


BILLION_LAUGHS = '<!ENTITY a0 "lol">' + "".join(
    f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
EXTERNAL = '<!ENTITY a9 SYSTEM "file:///etc/passwd">'


async def test_hostile_probes_get_no_answer_and_the_responder_goes_on(responder):
    _, port = responder
    hostile = [
        b"",
        b"\x00\xff not XML at all",
        with_dtd(hand_probe("urn:uuid:bomb"), BILLION_LAUGHS, b"</wsd:Probe>", b"&a9;"),
        with_dtd(hand_probe("urn:uuid:xxe"), EXTERNAL, b"</wsd:Probe>", b"&a9;"),
        hand_probe("urn:uuid:big", "<wsd:Scopes>" + "x" * MAX_DATAGRAM + "</wsd:Scopes>"),
        hand_probe("urn:uuid:soap11").replace(b"http://www.w3.org/2003/05/soap-envelope",
                                              b"http://schemas.xmlsoap.org/soap/envelope/"),
        hand_probe("urn:uuid:resolve", action="Resolve"),
        hand_probe(""),  # no MessageID: an answer could not say what it answers
        hand_probe("urn:uuid:truncated")[:200],
    ]
    assert await exchange(port, *hostile) == []
    # a Probe is sent twice (SOAP-over-UDP); the repeat is not answered again
    assert len(await exchange(port, hand_probe("urn:uuid:once"), hand_probe("urn:uuid:once"))) == 2
    assert len(await exchange(port, build_probe("urn:uuid:after"))) == 2


# -- the client against hostile answers ------------------------------------------------------

MATCHES = """<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"
    xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
    xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
  <SOAP-ENV:Header>
    <wsa:MessageID>uuid:{answer_id}</wsa:MessageID>
    <wsa:RelatesTo>{relates_to}</wsa:RelatesTo>
    <wsa:To SOAP-ENV:mustUnderstand="true">{anonymous}</wsa:To>
    <wsa:Action SOAP-ENV:mustUnderstand="true">{action}</wsa:Action>
    <d:AppSequence InstanceId="3" MessageNumber="5"/>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>
    {reference}
    <d:Types>dn:NetworkVideoTransmitter</d:Types>
    <d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Camera{extra}
      onvif://www.onvif.org/hardware/C1</d:Scopes>
    <d:XAddrs>http://127.0.0.1:81/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs>
    <d:MetadataVersion>{version}</d:MetadataVersion>
  </d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"""


def matches_datagram(relates_to: str, address: str = "urn:uuid:good", *, extra: str = "",
                     action: str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches",
                     version: str = "2", reference: str | None = None) -> bytes:
    """A ProbeMatches as a camera writes it (not as our simulator does)."""
    if reference is None:
        reference = (f"<wsa:EndpointReference><wsa:Address>{address}</wsa:Address>"
                     "</wsa:EndpointReference>")
    return MATCHES.format(answer_id=address, relates_to=relates_to, action=action, extra=extra,
                          version=version, reference=reference,
                          anonymous=f"{WSA_2004}/role/anonymous").encode()


def hostile_answers(message_id: str) -> list[bytes]:
    """Every way an answer to the Probe with message_id must be ignored."""
    good = matches_datagram(message_id)
    return [
        b"\x00\xff garbage",
        b"",
        with_dtd(good, '<!ENTITY a9 "harmless">', b"</wsa:Address>", b"&a9;"),
        with_dtd(good, EXTERNAL, b"</d:XAddrs>", b" &a9;"),
        with_dtd(good, BILLION_LAUGHS, b"</d:Scopes>", b" &a9;"),
        matches_datagram("urn:uuid:someone-else", "urn:uuid:wrong-relates-to"),
        matches_datagram(message_id, "urn:uuid:huge", extra=" onvif://x/" + "y" * MAX_DATAGRAM),
        matches_datagram(message_id, "urn:uuid:hello",
                         action="http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello"),
        matches_datagram(message_id, reference=""),  # no endpoint address
        matches_datagram(message_id, "urn:uuid:bad-version", version="two"),
        good.replace(b"http://www.w3.org/2003/05/soap-envelope",
                     b"http://schemas.xmlsoap.org/soap/envelope/"),  # SOAP 1.1
        good[: len(good) // 2],
    ]


@pytest.mark.parametrize("index", range(len(hostile_answers("urn:uuid:x"))))
def test_hostile_answers_parse_to_nothing(index):
    assert parse_probe_matches(hostile_answers("urn:uuid:x")[index], "urn:uuid:x") == []


def test_a_camera_s_answer_parses():
    [match] = parse_probe_matches(matches_datagram("urn:uuid:x"), "urn:uuid:x")
    assert match == ProbeMatch(
        address="urn:uuid:good",
        types=(NETWORK_VIDEO_TRANSMITTER,),
        scopes=("onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/Camera",
                "onvif://www.onvif.org/hardware/C1"),
        xaddrs=("http://127.0.0.1:81/onvif/device_service", "http://[fe80::1]/onvif/device_service"),
        metadata_version=2,
    )


class FakeCamera(asyncio.DatagramProtocol):
    """Answers our Probe with what answers(message_id) says, from its own socket or sender's."""

    def __init__(self, answers: Callable[[str], list[bytes]],
                 sender: asyncio.DatagramTransport | None = None) -> None:
        self.answers = answers
        self.sender = sender

    def connection_made(self, transport):
        self.sender = self.sender or transport

    def datagram_received(self, data, addr):
        # our own Probe, trusted: read its MessageID plainly
        message_id = etree.fromstring(data).findtext(f".//{{{WSA_2004}}}MessageID")
        assert message_id is not None
        assert self.sender is not None
        for answer in self.answers(message_id):
            self.sender.sendto(answer, addr)


async def fake_camera(answers: Callable[[str], list[bytes]], host: str = "127.0.0.1",
                      sender: asyncio.DatagramTransport | None = None):
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: FakeCamera(answers, sender), local_addr=(host, 0))
    return transport, transport.get_extra_info("sockname")[1]


async def test_the_client_ignores_hostile_answers_and_keeps_the_good_one():
    def answers(message_id: str) -> list[bytes]:
        good = matches_datagram(message_id)
        other = matches_datagram(message_id, "urn:uuid:other")
        # the good one twice (a repeat): one match
        return [*hostile_answers(message_id), good, good, other]

    transport, port = await fake_camera(answers)
    try:
        matches = await probe(Target("127.0.0.1", port), WAIT)
    finally:
        transport.close()
    assert [m.address for m in matches] == ["urn:uuid:good", "urn:uuid:other"]
    assert all("passwd" not in repr(m) and "lol" not in repr(m) for m in matches)


async def test_the_client_ignores_answers_from_another_host():
    """A directed Probe is answered by the host it went to: 127.0.0.2 is not 127.0.0.1."""
    # all of 127.0.0.0/8 is loopback on Linux
    stranger, _ = await fake_camera(lambda message_id: [], host="127.0.0.2")
    sent: list[str] = []

    def answers(message_id: str) -> list[bytes]:
        sent.append(message_id)
        return [matches_datagram(message_id, "urn:uuid:stranger")]

    # the camera at 127.0.0.1 gets the Probe; its answer comes from the stranger's socket
    camera, port = await fake_camera(answers, sender=stranger)
    try:
        matches = await probe(Target("127.0.0.1", port), WAIT)
    finally:
        camera.close()
        stranger.close()
    assert sent  # the Probe arrived, and the stranger answered it
    assert matches == []


# -- targets, names, sections ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "target"), [
    ("127.0.0.1", Target("127.0.0.1", 3702)),
    ("127.0.0.1:4000", Target("127.0.0.1", 4000)),
    ("camera.example:3702", Target("camera.example", 3702)),
    ("[::1]:4000", Target("::1", 4000)),
    ("[::1]", Target("::1", 3702)),
    ("::1", Target("::1", 3702)),
])
def test_parse_target(text, target):
    assert parse_target(text) == target


@pytest.mark.parametrize(("text", "why"), [
    ("", "is not HOST"), ("127.0.0.1:0", "not 1 to 65535"), ("127.0.0.1:70000", "not 1 to 65535"),
    ("127.0.0.1:x", "must be a number"), ("a:b:c:", "not an IPv6"), ("[::1", "not an IPv6"),
    ("cam/x", "is not HOST"),
    # never multicast or broadcast: refused before any socket exists
    ("239.255.255.250", "multicast"), ("239.255.255.250:3702", "multicast"),
    ("[ff02::c]:3702", "multicast"), ("::ffff:239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 (never bound: the target refused)
])
def test_parse_target_refuses(text, why):
    with pytest.raises(ValueError, match=why):
        parse_target(text)


async def test_probe_refuses_a_multicast_target_before_sending():
    with pytest.raises(ValueError, match="multicast"):
        await probe(Target("239.255.255.250", 3702), WAIT)


def match_with(address: str = "urn:uuid:1234abcd-0000-0000-0000-000000000000",
               scopes: tuple[str, ...] = (), xaddrs: tuple[str, ...] = ("http://127.0.0.1/x",),
               ) -> ProbeMatch:
    return ProbeMatch(address, (NETWORK_VIDEO_TRANSMITTER,), scopes, xaddrs, 1)


def test_device_names():
    named = match_with(scopes=("onvif://www.onvif.org/name/My%20Cam",
                               "onvif://www.onvif.org/hardware/X-1"))
    assert device_name(named) == "My_Cam-X-1"
    assert device_name(named, ["my_cam-x-1"]) == "My_Cam-X-1-2"
    assert device_name(named, ["My_Cam-X-1", "My_Cam-X-1-2"]) == "My_Cam-X-1-3"
    assert device_name(match_with()) == "1234abcd-0000-0000-0000-000000000000"
    assert device_name(match_with("http://10.0.0.1/x")) == "http_10.0.0.1_x"
    assert device_name(match_with("")) == "device"
    hostile = match_with(scopes=("onvif://www.onvif.org/name/" + "%5B%5D%0A" * 3 + "Z" * 100,))
    names: list[str] = []
    for _ in range(12):
        names.append(device_name(hostile, names))
    assert len(set(names)) == 12
    assert all(DEVICE_NAME.match(name) for name in names), names


def test_sections_parse_as_gateway_ini(tmp_path):
    matches = [
        match_with(scopes=("onvif://www.onvif.org/name/A",)),
        match_with("urn:uuid:no-http", xaddrs=("soap.udp://127.0.0.1:3702",)),
        match_with("urn:uuid:b", scopes=("onvif://www.onvif.org/name/A",),
                   xaddrs=("ftp://x/", "https://127.0.0.1:443/onvif/device_service")),
    ]
    text = config_sections(matches)
    # several devices in a file of their own: the user uncomments the one default offered
    with pytest.raises(ConfigError, match="several devices: mark the one"):
        parse_config(text, tmp_path)
    config = parse_config(text.replace("# default = yes", "default = yes"), tmp_path)
    assert [(d.name, d.url, d.default) for d in config.devices] == [
        ("A", "http://127.0.0.1/x", True),
        ("A-2", "https://127.0.0.1:443/onvif/device_service", False),
    ]
    assert "# urn:uuid:no-http answered without an http(s) XAddr" in text
    # one device alone needs no default (it would clash with one already in gateway.ini)
    assert "default" not in config_sections(matches[:1])


def test_sections_pasted_into_the_shipped_gateway_ini_load_with_one_default(tmp_path):
    matches = [match_with(scopes=("onvif://www.onvif.org/name/A",)),
               match_with("urn:uuid:b", scopes=("onvif://www.onvif.org/name/B",))]
    shipped = (ROOT / "gateway.ini").read_text()
    config = parse_config(shipped + "\n" + config_sections(matches), tmp_path)
    assert [d.name for d in config.devices] == ["camera1", "A", "B"]
    assert [d.name for d in config.devices if d.default] == ["camera1"]


# -- with the gateway: SetDiscoveryMode silences the device -----------------------------------

async def test_put_discovery_0_silences_the_device(start_device, start_gateway):
    device, url = await start_device()
    transport = await start_discovery([device], urlsplit(url).port, 0)
    target = Target("127.0.0.1", transport.get_extra_info("sockname")[1])
    try:
        [match] = await probe(target, WAIT)
        assert match.xaddrs == (url,)
        client = await start_gateway(url)
        headers = bearer(await login(client))
        response = await client.put("/discovery", json={"enabled": 0}, headers=headers)
        assert response.status == 200, await response.text()
        assert await probe(target, WAIT) == []
    finally:
        transport.close()


# -- the commands, as a user runs them --------------------------------------------------------

async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:  # it did not end by itself: not left running
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_simulate_then_discover_then_log_in(tmp_path, aiohttp_client):
    udp_port = free_udp_port()
    simulator, banner = await start("simulate", "--port", "0", "--devices", "3",
                                    "--discovery-port", str(udp_port),
                                    until="WS-Discovery Probes answered on")
    http_port = port_of(banner, "simulated ONVIF device(s) on")
    try:
        assert f"udp://127.0.0.1:{udp_port}" in banner
        code, out, err = await run("discover", "--target", f"127.0.0.1:{udp_port}",
                                   "--timeout", "1")
        assert code == 0, err
        assert out.startswith(f"# 3 ONVIF device(s) answered a WS-Discovery Probe sent to "
                              f"127.0.0.1:{udp_port}")
        assert "# scopes: onvif://www.onvif.org/type/video_encoder" in out
        # on its own, as the user would: the one default offered uncommented
        config = parse_config(out.replace("# default = yes", "default = yes"), tmp_path)
        assert [d.url for d in config.devices] == [
            f"http://127.0.0.1:{http_port}/dev/{i}/onvif/device_service" for i in (1, 2, 3)]
        assert len({d.name for d in config.devices}) == 3
        # a gateway configured from that output reaches every device
        client = await aiohttp_client(await create_app(config))
        for i, device in enumerate(config.devices, start=1):
            response = await client.put(f"/devices/{device.name}/login",
                                        json={"username": "admin", "password": "admin"})
            assert response.status == 200, await response.text()
            headers = bearer((await response.json())["sessionToken"])
            info = await client.get(f"/devices/{device.name}/device-information", headers=headers)
            assert (await info.json())["serial_number"] == str(122 + i)
    finally:
        assert await stop(simulator) == 0


async def test_discover_with_nobody_there_says_so_and_exits_0():
    port = free_udp_port()
    code, out, err = await run("discover", "--target", f"127.0.0.1:{port}", "--timeout", "0.3")
    assert (code, out) == (0, "")
    assert f"no ONVIF device answered a Probe sent to 127.0.0.1:{port}" in err


async def test_discover_refuses_multicast_and_bad_options():
    for args in (["--target", "239.255.255.250"], ["--target", "127.0.0.1:x"],
                 ["--timeout", "0"], ["--timeout", "-1"]):
        code, _, err = await run("discover", *args)
        assert code == 2, args
        assert err.startswith("onvif-gateway discover: "), err


async def answered(http_port: int) -> None:
    """Once the simulator answers HTTP its loop runs: Ctrl-C is handled, no KeyboardInterrupt."""
    url = f"http://127.0.0.1:{http_port}/dev/1/onvif/device_service"
    async with aiohttp.ClientSession() as http, http.get(url):
        pass


@pytest.mark.slow  # two commands started in turn
async def test_simulate_discovery_port_0_turns_it_off_and_a_taken_default_is_not_fatal(
        tmp_path, monkeypatch, capsys):
    # its whole output, to the end, goes to a file
    log = tmp_path / "simulate.log"
    simulator, _ = await start("simulate", "--port", "0", "--discovery-port", "0",
                               until="/dev/1/", log=log)
    try:
        await answered(port_of(log.read_text(), "device(s) on"))
    finally:
        assert await stop(simulator) == 0
    assert "WS-Discovery" not in log.read_text()
    # The default port taken (by another simulator): discovery off, the rest served. Here the
    # default is a port this test holds: 3702 itself is the machine's, and another test run
    # (or a simulator left running) may take and free it at any time. This test once failed
    # under load that way, and left its simulator running.
    devices = [SimulatedDevice()]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        monkeypatch.setattr(cli, "DISCOVERY_PORT", taken.getsockname()[1])
        assert await cli._answer_probes(devices, 8080, None) is None
        told = capsys.readouterr().err
        assert f"WS-Discovery off, cannot use UDP 127.0.0.1:{cli.DISCOVERY_PORT}" in told
        assert "choose another with --discovery-port" in told
        # a taken port the user asked for is fatal
        code, _, err = await run("simulate", "--port", "0",
                                 "--discovery-port", str(taken.getsockname()[1]))
        assert code == 1
        assert "cannot start" in err
