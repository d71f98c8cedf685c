"""The simulated device's stream and snapshot URIs (Media1 and Media2), checked against the
official WSDLs, and its snapshot web server: real JPEGs behind Digest or Basic, and its switches."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
import zeep
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from gateway.simulator import MEDIA, MEDIA2, SimulatedDevice, create_simulator_app, service_path
from gateway.simulator.jpeg import frame
from gateway.simulator.streaming import snapshot_path
from tests.simulator_helpers import (
    TR2,
    TRT,
    WSDL_DIR,
    Answer,
    as_admin,
    call,
    check_schema,
    offline_wsdl,
    token,
)

MEDIA1_BINDING = f"{{{TRT}}}MediaBinding"
MEDIA2_BINDING = f"{{{TR2}}}Media2Binding"
RTSP_SETUP = ("<trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>"
              "{}</tt:Protocol></tt:Transport></trt:StreamSetup>")


@pytest.fixture(scope="module")
def media1_wsdl() -> zeep.Client:
    return offline_wsdl(WSDL_DIR / "ver10/media/wsdl/media.wsdl")


@pytest.fixture(scope="module")
def media2_wsdl() -> zeep.Client:
    return offline_wsdl(WSDL_DIR / "ver20/media/wsdl/media.wsdl")


async def simulator(aiohttp_client: AiohttpClient, **switches: Any) -> tuple[
        SimulatedDevice, TestClient[Any, Any]]:
    device = SimulatedDevice(**switches)
    return device, await aiohttp_client(create_simulator_app([device]))


async def media(client: TestClient[Any, Any], device: SimulatedDevice, service: str,
                body: str, user: str = "admin") -> Answer:
    header = token(user, device.users[user].password, created=device.now()) \
        if user != "admin" else as_admin(device)
    return await call(client, body, header, path=service_path(device.index, service))


async def test_stream_uris_media1(aiohttp_client, media1_wsdl):
    device, client = await simulator(aiohttp_client)
    for protocol, start in [("RTSP", "rtsp://127.0.0.1:554/dev/1/stream/profile_1"),
                            ("UDP", "rtsp://127.0.0.1:554/"), ("HTTP", "http://127.0.0.1:")]:
        answer = await media(client, device, MEDIA, "<trt:GetStreamUri>"
                             + RTSP_SETUP.format(protocol)
                             + "<trt:ProfileToken>profile_1</trt:ProfileToken></trt:GetStreamUri>",
                             user="user")
        assert answer.status == 200, answer.data
        check_schema(media1_wsdl, "GetStreamUri", answer, MEDIA1_BINDING)
        assert (answer.text("trt:MediaUri/tt:Uri") or "").startswith(start)
        assert answer.text("trt:MediaUri/tt:Timeout") == "PT0S"

    bad = await media(client, device, MEDIA, "<trt:GetStreamUri>" + RTSP_SETUP.format("SRTP")
                      + "<trt:ProfileToken>profile_1</trt:ProfileToken></trt:GetStreamUri>")
    assert bad.fault()[1][-1].endswith("InvalidStreamSetup")
    # profile_3 has a video source but no encoder: nothing to stream
    empty = await media(client, device, MEDIA, "<trt:GetStreamUri>" + RTSP_SETUP.format("RTSP")
                        + "<trt:ProfileToken>profile_3</trt:ProfileToken></trt:GetStreamUri>")
    assert empty.fault()[1][-1].endswith("IncompleteConfiguration")


async def test_stream_and_snapshot_uris_media2(aiohttp_client, media2_wsdl):
    device, client = await simulator(aiohttp_client)
    for protocol, start in [("RTSP", "rtsp://127.0.0.1:554/"), ("RtspsUnicast", "rtsps://"),
                            ("RtspOverHttp", "http://127.0.0.1:")]:
        answer = await media(client, device, MEDIA2, f"<tr2:GetStreamUri><tr2:Protocol>{protocol}"
                             "</tr2:Protocol><tr2:ProfileToken>profile_1</tr2:ProfileToken>"
                             "</tr2:GetStreamUri>")
        assert answer.status == 200, answer.data
        check_schema(media2_wsdl, "GetStreamUri", answer, MEDIA2_BINDING)
        assert (answer.text("tr2:Uri") or "").startswith(start)
    snapshot = await media(client, device, MEDIA2, "<tr2:GetSnapshotUri><tr2:ProfileToken>"
                           "profile_3</tr2:ProfileToken></tr2:GetSnapshotUri>")
    check_schema(media2_wsdl, "GetSnapshotUri", snapshot, MEDIA2_BINDING)
    assert snapshot.text("tr2:Uri") == str(client.make_url(snapshot_path(1, "profile_3")))
    missing = await media(client, device, MEDIA2, "<tr2:GetSnapshotUri><tr2:ProfileToken>"
                          "nope</tr2:ProfileToken></tr2:GetSnapshotUri>")
    assert missing.fault()[1][-1].endswith("NoProfile")


async def test_snapshot_uri_media1_and_its_host_switch(aiohttp_client, media1_wsdl):
    device, client = await simulator(aiohttp_client, services={MEDIA},
                                     snapshot_host="198.51.100.7")
    answer = await media(client, device, MEDIA, "<trt:GetSnapshotUri><trt:ProfileToken>"
                         "profile_1</trt:ProfileToken></trt:GetSnapshotUri>")
    check_schema(media1_wsdl, "GetSnapshotUri", answer, MEDIA1_BINDING)
    port = client.server.port
    assert answer.text("trt:MediaUri/tt:Uri") == (
        f"http://198.51.100.7:{port}/dev/1/snapshot/profile_1.jpg")


def digest_auth(user: str = "user", password: str = "user") -> aiohttp.DigestAuthMiddleware:
    return aiohttp.DigestAuthMiddleware(user, password)


async def test_snapshots_are_new_jpegs_behind_digest(aiohttp_client):
    device, client = await simulator(aiohttp_client)
    path = snapshot_path(1, "profile_1")
    refused = await client.get(path)
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"].startswith("Digest ")
    wrong = await client.get(path, middlewares=(digest_auth("user", "nope"),))
    assert wrong.status == 401
    first = await client.get(path, middlewares=(digest_auth(),))
    assert first.status == 200
    assert first.content_type == "image/jpeg"
    second = await (await client.get(path, middlewares=(digest_auth(),))).read()
    picture = await first.read()
    assert picture.startswith(b"\xff\xd8\xff")
    assert picture.endswith(b"\xff\xd9")
    assert picture != second  # each shows its number
    assert (picture, second) == (frame(1), frame(2))
    assert device.snapshots_served == 2
    unknown = await client.get(snapshot_path(1, "nope"), middlewares=(digest_auth(),))
    assert unknown.status == 404


async def test_snapshot_basic_both_and_none(aiohttp_client):
    path = snapshot_path(1, "profile_1")
    basic = {"Authorization": "Basic " + base64.b64encode(b"operator:operator").decode()}
    _, client = await simulator(aiohttp_client, snapshot_auth="basic")
    refused = await client.get(path, middlewares=(digest_auth(),))
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="onvif-simulator"'
    assert (await client.get(path, headers=basic)).status == 200

    _, client = await simulator(aiohttp_client, snapshot_auth="both")
    challenge = await client.get(path)
    assert [h.split()[0] for h in challenge.headers.getall("WWW-Authenticate")] == [
        "Digest", "Basic"]
    assert (await client.get(path, headers=basic)).status == 200
    assert (await client.get(path, middlewares=(digest_auth(),))).status == 200

    _, client = await simulator(aiohttp_client, snapshot_auth="none")
    assert (await client.get(path)).status == 200
    with pytest.raises(ValueError, match="snapshot_auth"):
        SimulatedDevice(snapshot_auth="bearer")


async def test_snapshot_switches(aiohttp_client):
    path = snapshot_path(1, "profile_1")
    device, client = await simulator(aiohttp_client, snapshot_auth="none", snapshot_html=True)
    page = await client.get(path)
    assert (page.status, page.content_type) == (200, "text/html")
    device.snapshot_html, device.snapshot_redirect = False, True
    moved = await client.get(path, allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (302, "/login.html")
    device.snapshot_redirect, device.snapshot_huge = False, 1024 * 1024
    huge = await client.get(path)
    assert huge.content_length is None
    assert len(await huge.read()) > 1024 * 1024
    device.snapshot_huge, device.snapshot_delay = 0, 0.2
    with pytest.raises(TimeoutError):
        await client.get(path, timeout=aiohttp.ClientTimeout(total=0.05))



def test_uri_credential_forms_are_checked():
    with pytest.raises(ValueError, match="uri_credentials_form must be one of"):
        SimulatedDevice(uri_credentials_form="header")
