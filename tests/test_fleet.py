"""The gateway in front of many devices served by one simulator process."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.keys import DEVICES
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path
from tests.conftest import bearer, login
from tests.events_helpers import eventually
from tests.processes import free_port

FLEET = 20


@pytest.fixture
async def fleet(aiohttp_server):
    """FLEET simulated devices from one app; returns them and the base URL."""
    devices = [SimulatedDevice(index=i) for i in range(1, FLEET + 1)]
    server: TestServer = await aiohttp_server(create_simulator_app(devices), host="127.0.0.1")
    return devices, f"http://127.0.0.1:{server.port}"


def fleet_config(base: str, tmp_path, count: int = FLEET, **settings) -> GatewayConfig:
    devices = tuple(DeviceConfig(f"cam{i}", base + device_path(i), default=i == 1)
                    for i in range(1, count + 1))
    settings.setdefault("state_dir", tmp_path / "state")
    return GatewayConfig(devices=devices, **settings)


async def dev_login(client, device: str, user: str = "admin") -> dict[str, str]:
    response = await client.put(f"/devices/{device}/login",
                                json={"username": user, "password": user})
    assert response.status == 200, await response.text()
    return bearer((await response.json())["sessionToken"])


async def test_list_devices_and_use_each(fleet, aiohttp_client, tmp_path):
    _, base = fleet
    client = await aiohttp_client(await create_app(fleet_config(base, tmp_path)))
    auth = bearer(await login(client))
    listing = (await (await client.get("/devices", headers=auth)).json())["devices"]
    assert [d["id"] for d in listing] == [f"cam{i}" for i in range(1, FLEET + 1)]
    # contacted lazily: only the default device, at login, has been seen
    assert {d["status"] for d in listing[1:]} == {"unknown"}
    assert listing[0]["status"] == "online"
    assert listing[0]["default"] is True
    for i in (2, 7, FLEET):
        headers = await dev_login(client, f"cam{i}")
        info = await client.get(f"/devices/cam{i}/device-information", headers=headers)
        assert (await info.json())["serial_number"] == str(122 + i)
        await client.get(f"/devices/cam{i}/sources/video", headers=headers)
    listing = {d["id"]: d for d in (await (await client.get("/devices", headers=auth)).json())[
        "devices"]}
    assert listing["cam7"]["status"] == "online"
    assert listing["cam7"]["manufacturer"] == "RidgeRun"
    assert listing["cam7"]["model"] == "model_1"
    assert listing["cam7"]["services"] == ["media", "media2"]
    assert listing["cam7"]["last_seen"] is not None
    assert listing["cam3"]["status"] == "unknown"
    assert (await client.get("/devices")).status == 401


async def test_a_hanging_device_slows_nobody_else(fleet, aiohttp_client, tmp_path):
    devices, base = fleet
    client = await aiohttp_client(await create_app(fleet_config(base, tmp_path,
                                                                device_timeout=5)))
    headers = {i: await dev_login(client, f"cam{i}") for i in range(1, 6)}
    devices[2].latency = 10  # cam3 hangs from now on
    hanging = [asyncio.create_task(client.get("/devices/cam3/device-information",
                                              headers=headers[3])) for _ in range(8)]
    await asyncio.sleep(0.1)
    for _ in range(5):
        for i in (1, 2, 4, 5):
            response = await client.get(f"/devices/cam{i}/discovery", headers=headers[i])
            assert response.status == 200
    # 20 answers, none of them queued behind cam3's 8 calls: those still wait for the device
    assert not any(call.done() for call in hanging)
    statuses = {(await r).status for r in hanging}
    assert statuses == {504}


async def test_breaker_opens_then_closes(fleet, aiohttp_client, tmp_path, clock):
    devices, base = fleet
    client = await aiohttp_client(await create_app(fleet_config(
        base, tmp_path, breaker_failures=3, breaker_reset=0.5), clock=clock))
    headers = await dev_login(client, "cam2")
    devices[1].raw_replies = {"GetDiscoveryMode": b"garbage"}
    for _ in range(3):
        response = await client.get("/devices/cam2/discovery", headers=headers)
        assert response.status == 502
    response = await client.get("/devices/cam2/discovery", headers=headers)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    problem = await response.json()
    assert problem["device"] == "cam2"
    assert problem["title"] == "Device unavailable"
    # other devices are not affected
    assert (await client.get("/discovery", headers=bearer(await login(client)))).status == 200
    devices[1].raw_replies = {}
    clock.now += 0.6  # the breaker lets one trial through, which succeeds
    response = await client.get("/devices/cam2/discovery", headers=headers)
    assert response.status == 200
    assert (await client.get("/devices/cam2/discovery", headers=headers)).status == 200


async def test_runtime_devices_survive_a_restart(fleet, aiohttp_client, tmp_path):
    _, base = fleet
    config = fleet_config(base, tmp_path, count=2)
    client = await aiohttp_client(await create_app(config))
    admin = bearer(await login(client))
    new = {"id": "lobby", "url": base + device_path(9)}
    user = bearer(await login(client, "user", "user"))
    assert (await client.post("/devices", json=new, headers=user)).status == 403
    response = await client.post("/devices", json=new, headers=admin)
    assert response.status == 201, await response.text()
    assert (await response.json())["configured_in"] == "runtime"
    assert (await client.post("/devices", json=new, headers=admin)).status == 409
    bad = await client.post("/devices", json={"id": "x y", "url": "ftp://z"}, headers=admin)
    assert (await bad.json())["field"] == "$.id"
    bad = await client.post("/devices", json={"id": "ok", "url": "ftp://z"}, headers=admin)
    assert (await bad.json())["field"] == "$.url"
    lobby = await dev_login(client, "lobby")
    info = await client.get("/devices/lobby/device-information", headers=lobby)
    assert (await info.json())["serial_number"] == "131"
    await client.close()

    client = await aiohttp_client(await create_app(config))  # a restart
    admin = bearer(await login(client))
    ids = [d["id"] for d in (await (await client.get("/devices", headers=admin)).json())[
        "devices"]]
    assert ids == ["cam1", "cam2", "lobby"]
    assert (await client.delete("/devices/cam2", headers=admin)).status == 409  # gateway.ini's
    assert (await client.delete("/devices/lobby", headers=admin)).status == 204
    assert (await client.get("/devices/lobby/device-information", headers=admin)).status == 404
    await client.close()

    client = await aiohttp_client(await create_app(config))  # and another
    admin = bearer(await login(client))
    ids = [d["id"] for d in (await (await client.get("/devices", headers=admin)).json())[
        "devices"]]
    assert ids == ["cam1", "cam2"]


async def test_background_health_check(fleet, aiohttp_client, tmp_path):
    _devices, base = fleet
    config = fleet_config(base, tmp_path, count=3, health_interval=0.2)
    config = GatewayConfig(
        devices=(*config.devices,
                 DeviceConfig("gone", f"http://127.0.0.1:{free_port()}/onvif/device_service")),
        state_dir=config.state_dir, health_interval=0.2)
    client = await aiohttp_client(await create_app(config))
    registry = client.app[DEVICES]
    # nobody asks for them: the health check finds out, in a round or two
    await eventually(lambda: [d.state.status for d in registry] == [
        "online", "online", "online", "unreachable"])


async def test_reads_are_cached_briefly_and_writes_drop_the_cache(fleet, aiohttp_client,
                                                                    tmp_path):
    devices, base = fleet
    client = await aiohttp_client(await create_app(fleet_config(base, tmp_path, count=1,
                                                                cache_ttl=30)))
    auth = bearer(await login(client))
    assert await (await client.get("/discovery", headers=auth)).json() == {"enabled": 1}
    devices[0].discovery_mode = "NonDiscoverable"  # changed behind the gateway's back
    assert await (await client.get("/discovery", headers=auth)).json() == {"enabled": 1}
    # a write to the device drops what was kept, and answers what the device now holds
    response = await client.put("/discovery", json={"enabled": 0}, headers=auth)
    assert await response.json() == {"enabled": 0}
    devices[0].discovery_mode = "Discoverable"
    await client.put("/sources/video", json={"sources": []}, headers=auth)
    assert await (await client.get("/discovery", headers=auth)).json() == {"enabled": 1}
    # /reboot is an action, never served from the cache
    await client.get("/reboot", headers=auth)
    await client.get("/reboot", headers=auth)
    assert devices[0].reboots == 2


async def test_a_kept_answer_is_served_only_to_a_live_session_of_its_device(
        fleet, aiohttp_client, tmp_path, clock):
    devices, base = fleet
    client = await aiohttp_client(await create_app(
        fleet_config(base, tmp_path, count=2, cache_ttl=3600, session_idle_timeout=60),
        clock=clock))
    auth = await dev_login(client, "cam1")
    for _ in range(2):  # asked of the device, then kept
        assert (await client.get("/devices/cam1/device-information", headers=auth)).status == 200
    other = await client.get("/devices/cam2/device-information", headers=auth)
    assert other.status == 401
    assert "not issued for device cam2" in (await other.json())["detail"]
    clock.now += 61  # idle too long
    late = await client.get("/devices/cam1/device-information", headers=auth)
    assert late.status == 401
    assert late.content_type == "application/problem+json"
    auth = await dev_login(client, "cam1")
    asked = len(devices[0].calls)
    assert (await client.get("/devices/cam1/device-information", headers=auth)).status == 200
    assert devices[0].calls[asked:] == []  # still kept, for a live session of its user
    assert (await client.put("/devices/cam1/logout", headers=auth)).status == 204
    assert (await client.get("/devices/cam1/device-information", headers=auth)).status == 401


async def test_configured_in_names_the_real_configuration_file(start_device, start_gateway):
    _, url = await start_device()
    client = await start_gateway(url, source="cameras.ini")  # as load_config sets it
    response = await client.get("/devices", headers=bearer(await login(client)))
    assert [d["configured_in"] for d in (await response.json())["devices"]] == ["cameras.ini"]


async def test_a_cached_answer_is_the_same_bytes_as_a_fresh_one(fleet, aiohttp_client, tmp_path):
    devices, base = fleet
    fresh = await aiohttp_client(await create_app(fleet_config(base, tmp_path / "a", count=1,
                                                               cache_ttl=0)))
    cached = await aiohttp_client(await create_app(fleet_config(base, tmp_path / "b", count=1,
                                                                cache_ttl=30)))
    answers: list[tuple[int, str, bytes]] = []
    for client in (fresh, cached, cached):
        auth = bearer(await login(client))
        asked = len(devices[0].calls)
        response = await client.get("/device-information",
                                    headers={**auth, "X-Request-ID": f"r-{len(answers)}"})
        answers.append((response.status, response.headers["Content-Type"],
                        await response.read()))
        assert response.headers["X-Request-ID"] == f"r-{len(answers) - 1}"  # each its own
    assert not devices[0].calls[asked:]  # the last answer came from the cache
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][1] == "application/json; charset=utf-8"
    assert json.loads(answers[0][2])["manufacturer"]


async def test_removing_a_device_twice_at_once_is_one_204_and_404s(gateway):
    admin = bearer(await login(gateway))
    added = await gateway.post("/devices", headers=admin,
                               json={"id": "lobby", "url": "http://127.0.0.1:1/onvif"})
    assert added.status == 201
    answers = await asyncio.gather(*(gateway.delete("/devices/lobby", headers=admin)
                                     for _ in range(6)))
    assert sorted(answer.status for answer in answers) == [204] + [404] * 5
    for answer in answers:
        if answer.status == 404:
            assert answer.content_type == "application/problem+json"
    devices = await (await gateway.get("/devices", headers=admin)).json()
    assert [d["id"] for d in devices["devices"]] == ["cam"]
