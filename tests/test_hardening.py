"""What an adversarial pass broke (issue 17), each through real HTTP on loopback: login guesses
in flight, a login flood against a healthy device, one device's huge reply, hostile devices,
sessions outliving their device, and the server's own bounds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.keys import METRICS
from gateway.simulator.media import VideoSource
from tests.conftest import bearer, login
from tests.simulator_helpers import SOAP_CONTENT_TYPE, envelope, token

# Video sources one device lists: a 3 MB reply, under the 4 MiB cap.
HUGE = 20_000


def soap_calls(client, operation: str) -> float:
    """How many SOAP calls of an operation the gateway has made (any device, any outcome)."""
    total = 0.0
    for metric in client.app[METRICS].registry.collect():
        for sample in metric.samples:
            if (sample.name == "gateway_soap_calls_total"
                    and sample.labels.get("operation") == operation):
                total += sample.value
    return total


async def put_login(client, username: str, password: str, device: str = ""):
    path = f"/devices/{device}/login" if device else "/login"
    response = await client.put(path, json={"username": username, "password": password})
    return response.status, await response.json()


# 1. The lockout counts attempts in flight.

async def test_concurrent_guesses_reach_the_device_at_most_max_failures_times(
        start_device, start_gateway):
    _, url = await start_device(latency=0.2)
    client = await start_gateway(url, login_max_failures=3, login_lockout=60)
    guesses = [asyncio.create_task(put_login(client, "admin", f"guess{i}")) for i in range(60)]
    await asyncio.sleep(0.05)  # every guess has reached the gateway; the first are at the device
    right = await put_login(client, "admin", "admin")
    statuses = sorted(status for status, _ in await asyncio.gather(*guesses))
    assert statuses == [401] * 3 + [429] * 57
    assert soap_calls(client, "GetDeviceInformation") == 3  # guesses that reached the device
    assert right[0] == 429  # the right password, sent among them, was not let through either


async def test_the_429_says_what_is_locked_and_until_when(start_device, start_gateway):
    _, url = await start_device()
    client = await start_gateway(url, login_max_failures=2, login_lockout=120)
    for _ in range(2):
        assert (await put_login(client, "admin", "wrong"))[0] == 401
    status, body = await put_login(client, "admin", "admin")
    assert status == 429
    assert body["locked"] == ["user", "address"]
    until = datetime.fromisoformat(body["locked_until"])
    assert 100 < (until - datetime.now(UTC)).total_seconds() <= 121
    assert "user 'admin' of device cam" in body["detail"]
    assert "127.0.0.1" in body["detail"]
    assert body["locked_until"] in body["detail"]


# 9. An address's own successful login does not clear its failures on other users.

async def test_spraying_users_from_one_address_is_locked_out_despite_its_own_logins(
        start_device, start_gateway):
    _, url = await start_device()
    client = await start_gateway(url, login_max_failures=3, login_lockout=60)
    for victim in ("operator", "user", "nobody"):
        assert (await put_login(client, victim, "Spring2026!"))[0] == 401
        if victim != "nobody":
            assert (await put_login(client, "admin", "admin"))[0] == 200
    status, body = await put_login(client, "admin", "admin")
    assert status == 429
    assert body["locked"] == ["address"]


# 2. Waiting for a connection is no device failure; logins get a bounded share.

async def test_waiting_for_a_connection_does_not_open_the_breaker(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url, device_concurrency=1, device_timeout=1.5,
                                 breaker_failures=2, cache_ttl=0)
    tokens = [await login(client, name, name) for name in ("admin", "operator", "user")]
    device.latency = 1.0
    # One connection: the first call holds it 0-1 s, the second 1-2 s; the rest give up
    # waiting for it at 1.5 s (504), while the device has answered every call it got.
    paths = ["/device-information", "/discovery", "/sources/video", "/encoders/video"]
    burst = [asyncio.create_task(client.get(path, headers=bearer(token)))
             for token in tokens for path in paths]
    await asyncio.sleep(1.7)
    probe = await client.get("/device-information", headers=bearer(tokens[0]))
    assert probe.status == 200, await probe.text()  # not 503: the breaker did not open
    statuses = [response.status for response in await asyncio.gather(*burst)]
    assert statuses.count(200) >= 2
    assert 504 in statuses
    assert 503 not in statuses


async def test_a_login_flood_does_not_starve_sessions(start_device, start_gateway):
    _, url = await start_device(latency=0.2)
    client = await start_gateway(url, device_concurrency=4, device_timeout=1.0, cache_ttl=0)
    token = await login(client)
    flood = [asyncio.create_task(put_login(client, "user", "user")) for _ in range(40)]
    await asyncio.sleep(0.05)
    during = await client.get("/device-information", headers=bearer(token))
    statuses = {status for status, _ in await asyncio.gather(*flood)}
    assert during.status == 200, await during.text()
    assert statuses <= {200, 429, 503}
    after = await client.get("/device-information", headers=bearer(token))
    assert after.status == 200


# 3. One device's huge reply does not freeze the gateway.

async def simulated_reply(url: str, operation: str) -> bytes:
    """What the simulated device at url answers to an operation of its media service."""
    request = envelope(f"<trt:{operation}/>", token("admin", "admin"))
    async with aiohttp.ClientSession() as http, http.post(
            url.replace("device_service", "media_service"), data=request,
            headers={"Content-Type": SOAP_CONTENT_TYPE}) as response:
        assert response.status == 200
        return await response.read()


async def test_a_huge_reply_from_one_device_does_not_stall_the_others(start_device,
                                                                     aiohttp_client, tmp_path):
    big, big_url = await start_device()
    # the reply is made before the clock starts: the simulator shares the tests' event loop
    big.video_sources = {f"video{i}": VideoSource(25.0, 1920, 1080) for i in range(HUGE)}
    big.raw_replies["GetVideoSources"] = await simulated_reply(big_url, "GetVideoSources")
    _, calm_url = await start_device(index=2)
    config = GatewayConfig(devices=(DeviceConfig("big", big_url, default=True),
                                    DeviceConfig("calm", calm_url)),
                           state_dir=tmp_path / "state", cache_ttl=0, device_timeout=60)
    client = await aiohttp_client(await create_app(config))
    big_token = await login(client)
    _, body = await put_login(client, "admin", "admin", device="calm")
    calm = bearer(body["sessionToken"])

    async def calm_latency() -> float:
        started = time.perf_counter()
        response = await client.get("/devices/calm/device-information", headers=calm)
        assert response.status == 200
        return time.perf_counter() - started

    baseline = max([await calm_latency() for _ in range(10)])
    huge = asyncio.create_task(client.get("/sources/video", headers=bearer(big_token)))
    during = []
    while not huge.done():
        during.append(await calm_latency())
    response = await huge
    assert response.status == 200
    assert len((await response.json())["sources"]) == HUGE
    print(f"calm device: baseline {baseline * 1000:.0f} ms, during the huge reply "
          f"{len(during)} answers, the slowest {max(during) * 1000:.0f} ms")
    # Generous: the gateway shares the CPU with the parsing thread (measured: 54 ms against a
    # baseline of 3 ms); with the event loop stalled it took thousands of times the baseline.
    assert len(during) >= 5
    assert max(during) < 100 * baseline
