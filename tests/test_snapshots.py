"""GET /profiles/{token}/snapshot and GET /snapshot: the picture fetched by the gateway with the
user's credentials (Digest or Basic), kept a moment, fetched once for many clients, limited in
size and time, never redirected, never from another host; the device's URI never shown."""

from __future__ import annotations

import asyncio

import pytest

from gateway.simulator import MEDIA, User
from gateway.simulator.jpeg import frame
from tests.conftest import FakeClock, bearer, login

SNAPSHOT = "/profiles/profile_1/snapshot"


@pytest.fixture(params=["media2", "media1"])
def kind(request):
    return request.param


async def gateway_for(start_device, start_gateway, kind="media2", device_options=None,
                      **settings):
    options = {"services": {MEDIA}} if kind == "media1" else {}
    device, url = await start_device(**options, **settings.pop("switches", {}))
    client = await start_gateway(url, device_options, **settings)
    return device, client, bearer(await login(client, "user", "user"))


def assert_hidden(text: str, device) -> None:
    """Nothing of the device's snapshot URI or of a password in what the client sees."""
    assert "/dev/1/snapshot" not in text
    assert "snapshot/profile" not in text
    for user in device.users.values():
        assert f":{user.password}" not in text


async def test_a_snapshot_is_the_devices_jpeg(kind, start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway, kind)
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "image/jpeg"
    picture = await answer.read()
    assert picture == frame(1)
    assert device.snapshot_users == ["user"]  # the session's user, with Digest
    assert_hidden(str(answer.headers), device)
    first = await client.get("/devices/cam/snapshot", headers=auth)
    assert first.status == 200
    assert (await first.read()).startswith(b"\xff\xd8\xff")


async def test_the_session_users_own_credentials_never_the_service_account(start_device,
                                                                          start_gateway):
    device, client, _ = await gateway_for(
        start_device, start_gateway, device_options={"username": "admin", "password": "admin"})
    device.users["viewer"] = User("a:b@c d", "User")
    auth = bearer(await login(client, "viewer", "a:b@c d"))
    assert (await client.get(SNAPSHOT, headers=auth)).status == 200
    assert device.snapshot_users == ["viewer"]


@pytest.mark.parametrize("scheme", ["basic", "both", "none"])
async def test_basic_or_both_as_the_device_asks(scheme, start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway,
                                             switches={"snapshot_auth": scheme})
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 200, await answer.text()
    assert (await answer.read()) == frame(1)
    assert device.snapshot_users == ["" if scheme == "none" else "user"]


async def test_refused_credentials_are_403(start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway,
                                             switches={"snapshot_auth": "basic"})
    # the snapshot server no longer knows the user (its web users differ from its ONVIF ones)
    device.snapshot_auth = "digest"
    del device.users["user"]
    device.ws_security = False  # ... while its SOAP side asks nobody
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 403
    problem = await answer.json()
    assert "refused user 'user' the snapshot" in problem["detail"]


async def test_kept_per_device_and_profile_for_snapshot_ttl(start_device, start_gateway):
    clock = FakeClock()
    device, client, auth = await gateway_for(start_device, start_gateway, snapshot_ttl=5,
                                             clock=clock)
    other = bearer(await login(client, "operator", "operator"))
    pictures = [await (await client.get(SNAPSHOT, headers=h)).read() for h in (auth, other, auth)]
    assert pictures == [frame(1)] * 3  # one fetch, for every user of the device
    assert device.snapshots_served == 1
    assert await (await client.get("/profiles/profile_3/snapshot", headers=auth)).read() == \
        frame(2)
    clock.now += 5.5
    assert await (await client.get(SNAPSHOT, headers=auth)).read() == frame(3)
    assert device.snapshots_served == 3


async def test_without_keeping_every_request_fetches(start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway, snapshot_ttl=0)
    for _ in range(3):
        assert (await client.get(SNAPSHOT, headers=auth)).status == 200
    assert device.snapshots_served == 3


async def test_many_clients_at_once_cause_one_fetch(start_device, start_gateway):
    # nothing kept: only the sharing of the fetch in flight makes it one
    device, client, auth = await gateway_for(start_device, start_gateway, snapshot_ttl=0,
                                             switches={"snapshot_delay": 0.3})
    answers = await asyncio.gather(*(client.get(SNAPSHOT, headers=auth) for _ in range(20)))
    assert [a.status for a in answers] == [200] * 20
    assert {await a.read() for a in answers} == {frame(1)}
    assert device.snapshots_served == 1
    metrics = await (await client.get("/metrics", headers=auth)).text()
    assert 'gateway_snapshot_fetches_total{device="cam",outcome="ok"} 1.0' in metrics


async def test_too_large_is_cut_off(start_device, start_gateway):
    device, client, auth = await gateway_for(
        start_device, start_gateway, snapshot_max_bytes=100_000,
        switches={"snapshot_huge": 4 * 1024 * 1024})
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 502
    problem = await answer.json()
    assert "more than 100000 bytes" in problem["detail"]
    assert_hidden(await answer.text(), device)


async def test_too_slow_is_504(start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway, snapshot_timeout=0.2,
                                             switches={"snapshot_delay": 3})
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 504
    assert "snapshot_timeout" in (await answer.json())["detail"]
    device.snapshot_delay = 0  # a slow device is not remembered as broken
    assert (await client.get(SNAPSHOT, headers=auth)).status == 200


@pytest.mark.parametrize(("switch", "words"), [
    ("snapshot_redirect", "with a redirect (HTTP 302), which the gateway does not follow"),
    ("snapshot_html", "with text/html"),
])
async def test_redirects_and_html_are_502(switch, words, start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway,
                                             switches={switch: True})
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 502
    text = await answer.text()
    assert words in (await answer.json())["detail"]
    assert_hidden(text, device)


async def test_only_from_the_devices_host_or_hosts_allowed(start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway,
                                             switches={"snapshot_host": "198.51.100.7"})
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 502
    problem = await answer.json()
    assert problem["type"].endswith("snapshot-refused")
    assert "on host '198.51.100.7', which is not its own ('127.0.0.1'): refused" in \
        problem["detail"]
    assert "snapshot_hosts = 198.51.100.7" in problem["detail"]
    assert device.snapshots_served == 0

    # localhost is this machine too: allowed for this device, it is fetched from there
    device, client, auth = await gateway_for(
        start_device, start_gateway, device_options={"snapshot_hosts": ("localhost",)},
        switches={"snapshot_host": "localhost"})
    assert (await client.get(SNAPSHOT, headers=auth)).status == 200
    assert device.snapshots_served == 1


async def test_unknown_profile_and_missing_operation(kind, start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway, kind)
    unknown = await client.get("/profiles/nope/snapshot", headers=auth)
    assert unknown.status == 404
    assert (await unknown.json())["field"] == "path.token"
    device.unsupported.add("GetSnapshotUri")  # a Media1-only camera without snapshots, say
    lacking = await client.get(SNAPSHOT, headers=auth)
    assert lacking.status == 501
    assert (await client.get("/snapshot", headers=auth)).status == 501
    device.unsupported.clear()
    device.stub_writes.add("GetSnapshotUri")  # answers, with no URI in it: it has none
    stubbed = await client.get(SNAPSHOT, headers=auth)
    assert stubbed.status == 501
    assert "has no such URI for this profile (it answered none)" in (
        await stubbed.json())["detail"]


async def test_no_session_no_query(start_device, start_gateway):
    _, client, auth = await gateway_for(start_device, start_gateway)
    assert (await client.get(SNAPSHOT)).status == 401
    bad = await client.get(SNAPSHOT + "?size=big", headers=auth)
    assert bad.status == 400
    assert (await bad.json())["field"] == "query.size"


async def test_described_as_a_jpeg_with_its_parameters(start_device, start_gateway):
    _, client, _ = await gateway_for(start_device, start_gateway)
    document = await (await client.get("/openapi.json")).json()
    for path in ("/profiles/{token}/snapshot", "/devices/{device_id}/profiles/{token}/snapshot",
                 "/snapshot"):
        operation = document["paths"][path]["get"]
        assert operation["responses"]["200"]["content"] == {
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
        assert {"400", "401", "404", "501", "502", "504"} <= set(operation["responses"])
    token = document["paths"]["/profiles/{token}/snapshot"]["get"]["parameters"][0]
    assert (token["name"], token["in"], token["example"]) == ("token", "path", "profile_1")
    stream = document["paths"]["/profiles/{token}/stream-uri"]["get"]["parameters"]
    assert {"name": "protocol", "in": "query", "required": False, "description": stream[1][
        "description"], "schema": {"type": "string", "enum": ["rtsp", "udp", "rtsp-over-http",
                                                              "rtsps"], "default": "rtsp"}} \
        in stream


def uri_answer(operation: str, uri: str) -> bytes:
    """A Media2 answer naming this URI, as a device would send it."""
    return (f'<?xml version="1.0" encoding="utf-8"?><env:Envelope '
            f'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"><env:Body>'
            f"<tr2:{operation}Response><tr2:Uri>{uri}</tr2:Uri></tr2:{operation}Response>"
            "</env:Body></env:Envelope>").encode()


@pytest.mark.parametrize("uri", ["http://[oops/s.jpg", "http://127.0.0.1:99999/s.jpg",
                                 "ftp://127.0.0.1/s.jpg"])
async def test_a_uri_that_is_not_one_is_502_never_500(uri, start_device, start_gateway):
    device, client, auth = await gateway_for(start_device, start_gateway)
    device.raw_replies = {"GetSnapshotUri": uri_answer("GetSnapshotUri", uri),
                          "GetStreamUri": uri_answer("GetStreamUri", uri)}
    answer = await client.get(SNAPSHOT, headers=auth)
    assert answer.status == 502
    # one that cannot even be split into its parts is a bad reply: read, before any fetch
    unreadable = uri.startswith("http://[")
    assert (await answer.json())["type"].endswith(
        "device-bad-reply" if unreadable else "snapshot-refused")
    with_credentials = await client.get("/profiles/profile_1/stream-uri?credentials=1",
                                        headers=auth)
    # credentials go into a URI only where it is one (any scheme: it is the client's to open)
    assert with_credentials.status == (200 if uri.startswith("ftp") else 502)
