"""Two gateway instances sharing one Redis, in front of the same simulated devices: any instance
serves any request."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from redis.asyncio import BlockingConnectionPool

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.events.shared import STATE_LEASES
from gateway.keys import DEVICES, EVENT_HUB, LEASES
from gateway.state import redisstore
from gateway.state.redisstore import EVENT_STATE, connect
from gateway.state.sessions import token_known
from tests.conftest import FakeClock, bearer, login
from tests.events_helpers import SSE, eventually

SECRET = "Sh4red-State-Pa55"


@pytest.fixture
async def pair(start_device, aiohttp_client, redis_url, tmp_path):
    """Instances a and b (separate state dirs: all they share is Redis), and the device."""
    device, url = await start_device()
    device.users["operator"].password = SECRET

    async def instance(name):
        config = GatewayConfig(devices=(DeviceConfig("cam", url, "admin", "admin"),),
                               redis_url=redis_url, state_dir=tmp_path / name, cache_ttl=60)
        return await aiohttp_client(await create_app(config))

    return await instance("a"), await instance("b"), device, url


async def test_a_token_from_one_instance_works_on_the_other(pair):
    a, b, _, _ = pair
    token = await login(a, "operator", SECRET)
    response = await b.get("/device-information", headers=bearer(token))
    assert response.status == 200
    validate = await b.put("/validateUser", json={"sessionToken": token})
    assert await validate.json() == {"valid": 1}
    # logging out on b ends the session on a too
    assert (await b.put("/logout", headers=bearer(token))).status == 204
    assert (await a.get("/device-information", headers=bearer(token))).status == 401
    assert not token_known(token)  # nor is it kept in the memo of token hashes


async def test_policy_written_on_one_is_read_on_the_other_at_once(pair):
    a, b, _, _ = pair
    token = await login(a)
    first = await (await b.get("/sources/video", headers=bearer(token))).json()
    assert first["sources"][0]["enabled"] == 1  # b now holds it in its cache (60 s)
    off = {"sources": [{"name": "video1", "enabled": 0}]}
    assert (await a.put("/sources/video", json=off, headers=bearer(token))).status == 200
    second = await (await b.get("/sources/video", headers=bearer(token))).json()
    assert second["sources"][0] == {"name": "video1", "enabled": 0}


async def test_a_profile_created_through_one_is_deleted_through_the_other(pair):
    a, b, device, _ = pair
    token = await login(a)
    create = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    assert (await a.put("/configurations/sources/video", json=create,
                        headers=bearer(token))).status == 200
    assert len(device.profiles) == 3
    delete = {**create, "action": "delete"}
    assert (await b.put("/configurations/sources/video", json=delete,
                        headers=bearer(token))).status == 200
    assert set(device.profiles) == {"profile_1", "profile_3"}


async def test_a_device_added_on_one_is_served_by_the_other(pair):
    a, b, _, url = pair
    admin = bearer(await login(a))
    response = await a.post("/devices", json={"id": "lobby", "url": url}, headers=admin)
    assert response.status == 201
    assert (await b.post("/devices", json={"id": "lobby", "url": url},
                         headers=admin)).status == 409
    listing = await (await b.get("/devices", headers=admin)).json()
    assert [d["id"] for d in listing["devices"]] == ["cam", "lobby"]
    lobby = await b.put("/devices/lobby/login", json={"username": "user", "password": "user"})
    lobby_token = (await lobby.json())["sessionToken"]
    assert (await a.get("/devices/lobby/device-information",
                        headers=bearer(lobby_token))).status == 200
    assert (await b.delete("/devices/lobby", headers=admin)).status == 204
    assert (await a.get("/devices/lobby/device-information",
                        headers=bearer(lobby_token))).status == 404


async def test_redis_holds_no_password_and_no_token(pair, redis_url):
    a, _, _, _ = pair
    token = await login(a, "operator", SECRET)
    client = connect(redis_url)
    dump = ""
    async for key in client.scan_iter("*"):
        kind = await client.type(key)
        assert isinstance(key, str)
        assert isinstance(kind, str)
        readers = {"string": client.get, "hash": client.hgetall, "set": client.smembers,
                   "zset": lambda key: client.zrange(key, 0, -1)}
        value = await readers[kind](key)
        dump += f"{key}={value!r}\n"
    await client.aclose()
    assert "session:" in dump
    assert SECRET not in dump
    assert token not in dump


async def test_redis_down_is_a_fast_503_and_the_gateway_recovers(pair, redis_server):
    a, b, _, _ = pair
    token = await login(a)
    redis_server.stop()
    try:
        for client in (a, b):
            response = await client.get("/sources/video", headers=bearer(token))
            assert response.status == 503
            problem = await response.json()
            assert problem["title"] == "State store unavailable"
            assert "Redis" in problem["detail"]
            response = await client.put("/login", json={"username": "admin", "password": "admin"})
            assert response.status == 503
    finally:
        redis_server.start()
    # nothing was lost (the token is still good), and both instances recovered by themselves
    for client in (a, b):
        response = await client.get("/sources/video", headers=bearer(token))
        assert response.status == 200


async def test_more_requests_at_once_than_redis_connections_wait_for_one_not_503(
        start_device, aiohttp_client, redis_url, tmp_path, monkeypatch):
    # A burst larger than the Redis pool waits for a connection (up to device_timeout) instead
    # of a 503. redis-py's pool gave up after 2 s of waiting ("No connection available."), which
    # 300 requests at once passed on a loaded machine. Here the pool is certainly full: the test
    # holds all its connections until every request waits for one, and longer than those 2 s.
    clients = []

    def recorded(url, wait=10.0):
        clients.append(connect(url, wait))
        return clients[-1]

    monkeypatch.setattr(redisstore, "connect", recorded)  # create_app imports it from there
    _, url = await start_device()
    config = GatewayConfig(devices=(DeviceConfig("cam", url, "admin", "admin"),),
                           redis_url=redis_url, state_dir=tmp_path, device_timeout=120)
    a = await aiohttp_client(await create_app(config))
    token = await login(a)
    pool = clients[0].connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    held = [await pool.get_connection() for _ in range(pool.max_connections)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def get() -> int:
            async with session.get(a.make_url("/device-information"),
                                   headers=bearer(token)) as reply:
                return reply.status

        burst = [asyncio.create_task(get()) for _ in range(300)]
        await eventually(lambda: len(pool._condition._waiters) == len(burst)
                         or any(t.done() for t in burst), within=120)
        await asyncio.sleep(2.5)  # past redis-py's former 2 s: the requests must still wait
        for connection in held:
            await pool.release(connection)
        statuses = await asyncio.gather(*burst)
    assert sorted(set(statuses)) == [200]


async def test_a_devices_event_state_in_redis_expires_unless_held_and_goes_with_the_device(
        start_device, aiohttp_client, redis_url, tmp_path):
    # The last value of each event property (what an instance that starts listening fills in
    # from) was a Redis hash kept for ever, also for devices removed or no longer listened to.
    _, url = await start_device()
    config = GatewayConfig(devices=(DeviceConfig("cam", url, "admin", "admin"),),
                           redis_url=redis_url, state_dir=tmp_path, event_linger=0)
    a = await aiohttp_client(await create_app(config))
    admin = bearer(await login(a))
    assert (await a.post("/devices", json={"id": "lobby", "url": url},
                         headers=admin)).status == 201
    lobby = await a.put("/devices/lobby/login", json={"username": "admin", "password": "admin"})
    stream = SSE(await a.get("/devices/lobby/events",
                             headers=bearer((await lobby.json())["sessionToken"])))
    for _ in range(4):  # the simulator's 4 properties
        assert (await stream.next())[1]["operation"] == "Initialized"
    redis = connect(redis_url)
    state = EVENT_STATE + "lobby"
    async with asyncio.timeout(30):
        while await redis.hlen(state) < 4:  # noqa: ASYNC110 (written by the instance's writer)
            await asyncio.sleep(0.02)
    # it lives while the holder renews its lease (event_lease, 5 s), then a few leases more
    assert 0 < await redis.pttl(state) <= STATE_LEASES * 5_000
    stream.close()
    assert (await a.delete("/devices/lobby", headers=admin)).status == 204
    assert not await redis.exists(state)
    await redis.aclose()


async def test_a_logout_on_one_ends_at_once_what_the_other_holds_of_the_session(
        start_device, aiohttp_client, redis_url, tmp_path):
    # Instance a went on serving an event stream of the logged-out session (for ever), moving a
    # PTZ head for it until the lease ended, and holding its user's Digest answer (the
    # password) until idle for session_idle_timeout.
    device, url = await start_device(http_digest=True)

    async def instance(name):
        config = GatewayConfig(devices=(DeviceConfig("cam", url),), redis_url=redis_url,
                               state_dir=tmp_path / name, cache_ttl=0, event_linger=0.0)
        return await aiohttp_client(await create_app(config))

    a, b = await instance("a"), await instance("b")
    token, other = await login(a, "operator", "operator"), await login(a, "user", "user")
    stream = SSE(await a.get("/events", headers=bearer(token)))
    kept = SSE(await a.get("/events", headers=bearer(other)))
    await eventually(lambda: a.app[EVENT_HUB].synced("cam"))
    move = await a.put("/profiles/profile_1/ptz/move", headers=bearer(token),
                       json={"mode": "continuous", "pan": 0.5, "lease_ms": 30000})
    assert move.status == 200, await move.text()
    digest = a.app[DEVICES].loaded("cam").digest
    assert digest.users() == {"operator", "user"}
    assert (await b.put("/logout", headers=bearer(token))).status == 204
    last = (await stream.until(lambda e: e["kind"] == "disconnected"))[-1]
    assert "session ended" in last["data"]["reason"]
    await eventually(lambda: "Stop" in [name for name, _ in device.calls])
    assert digest.users() == {"user"}
    assert (await a.get("/device-information", headers=bearer(token))).status == 401
    device.trigger_motion("video1", True)  # the other session's stream goes on
    await kept.until(lambda e: e["kind"] == "motion" and e["operation"] == "Changed")


MOVE = "/profiles/profile_1/ptz/move"
CONTINUOUS = {"mode": "continuous", "pan": 0.5}


@pytest.fixture
async def ptz_pair(start_device, start_gateway, redis_url, tmp_path):
    """Instances a and b sharing Redis in front of a PTZ camera, on one FakeClock (theirs and
    the camera's: a lease ends when the test moves it), and an Operator's session."""
    clock = FakeClock()
    device, url = await start_device(clock=clock)
    a = await start_gateway(url, clock=clock, redis_url=redis_url, state_dir=tmp_path / "a")
    b = await start_gateway(url, clock=clock, redis_url=redis_url, state_dir=tmp_path / "b")
    return a, b, device, clock, bearer(await login(a, "operator", "operator"))


def sent(device):
    """The names of the operations the device was asked to do (reads left out)."""
    return [name for name, _ in device.calls if not name.startswith("Get")]


async def test_a_move_renewed_through_the_other_instance_goes_on_past_the_first_lease(ptz_pair):
    # Leases were per instance: a stopped the camera at the end of the lease it took, although
    # the client had renewed it through b (behind a load balancer, where the renewal went).
    a, b, device, clock, auth = ptz_pair
    assert (await a.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 100})).status == 200
    renewed = await b.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 300})
    assert (await renewed.json())["lease_ms"] == 300
    clock.now += 0.2  # past a's lease, within b's
    await eventually(lambda: len(a.app[LEASES]) == 0)  # a's ended: renewed elsewhere, no Stop
    assert sent(device) == ["ContinuousMove", "ContinuousMove"]
    assert device.ptz.velocity != (0.0, 0.0, 0.0)
    clock.now += 0.2  # b's ends: b stops the camera, once
    await eventually(lambda: "Stop" in sent(device))
    await eventually(lambda: len(b.app[LEASES]) == 0)
    assert sent(device) == ["ContinuousMove", "ContinuousMove", "Stop"]
    assert device.ptz.velocity == (0.0, 0.0, 0.0)


async def test_a_command_through_the_other_instance_supersedes_the_lease(ptz_pair):
    # a's lease went on after a stop and an absolute move through b, and its end stopped the
    # absolute move.
    a, b, device, clock, auth = ptz_pair
    assert (await a.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 100})).status == 200
    stopped = await b.put("/profiles/profile_1/ptz/stop", headers=auth, json={})
    assert stopped.status == 200, await stopped.text()
    moved = await b.put(MOVE, headers=auth, json={"mode": "absolute", "pan": 0.5, "tilt": 0.5})
    assert moved.status == 200, await moved.text()
    clock.now += 1
    await eventually(lambda: len(a.app[LEASES]) == 0)
    assert sent(device) == ["ContinuousMove", "Stop", "AbsoluteMove"]
    # a lease that nobody renewed still stops, at its end and when its instance stops
    assert (await a.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 100})).status == 200
    clock.now += 1
    await eventually(lambda: sent(device).count("Stop") == 2)
    assert (await b.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 30000})).status == 200
    await b.close()
    assert sent(device)[-2:] == ["ContinuousMove", "Stop"]


async def test_a_lease_whose_redis_is_gone_at_its_end_stops_its_move(start_device, start_gateway,
                                                                     redis_relay, tmp_path):
    """Where Redis cannot say whether the lease was renewed elsewhere, the move stops: a
    camera that stops is safer than one that keeps turning."""
    clock = FakeClock()
    device, url = await start_device(clock=clock)
    a = await start_gateway(url, clock=clock, redis_url=redis_relay.url, state_dir=tmp_path)
    auth = bearer(await login(a, "operator", "operator"))
    assert (await a.put(MOVE, headers=auth, json={**CONTINUOUS, "lease_ms": 100})).status == 200
    redis_relay.cut()
    clock.now += 1
    await eventually(lambda: "Stop" in sent(device))
    await redis_relay.restore()


@pytest.fixture
async def guarded_pair(start_device, start_gateway, redis_url, tmp_path):
    """Instances a and b sharing Redis, 3 failed logins allowed (per user, per address)."""
    _, url = await start_device()
    return await guarded_instances(start_gateway, url, redis_url, tmp_path)


async def guarded_instances(start_gateway, url, redis_url, tmp_path):
    return [await start_gateway(url, redis_url=redis_url, state_dir=tmp_path / name,
                                login_max_failures=3, login_lockout=60) for name in "ab"]


async def wrong(client):
    return (await client.put("/login", json={"username": "admin", "password": "guess"})).status


async def test_failed_logins_through_both_instances_count_together(guarded_pair):
    # Each instance counted its own: a guesser behind a load balancer had 3 guesses per
    # instance before a lockout, 6 with two.
    a, b = guarded_pair
    assert [await wrong(a), await wrong(b), await wrong(a)] == [401, 401, 401]
    for client in (a, b):  # the right password: 429, not asked of the device
        right = await client.put("/login", json={"username": "admin", "password": "admin"})
        assert right.status == 429, await right.text()
        body = await right.json()
        assert set(body["locked"]) == {"user", "address"}
        assert 55 <= int(right.headers["Retry-After"]) <= 60


async def test_a_success_through_one_instance_clears_the_failures_on_the_other(guarded_pair):
    a, b = guarded_pair
    assert [await wrong(a), await wrong(a)] == [401, 401]
    await login(b)
    assert [await wrong(a), await wrong(a)] == [401, 401]  # (3 on a alone: locked before)
    await login(a)


async def test_guesses_at_once_through_both_instances_share_the_turns(start_device,
                                                                     start_gateway,
                                                                     redis_url, tmp_path):
    # A slow device: 6 guesses at once, 3 through each instance, with 3 allowed in all.
    _, url = await start_device(latency=0.3)
    a, b = await guarded_instances(start_gateway, url, redis_url, tmp_path)
    statuses = await asyncio.gather(*(wrong(client) for client in (a, b) * 3))
    assert sorted(statuses) == [401, 401, 401, 429, 429, 429]  # a 429 never asks the device


async def test_a_device_removed_through_one_ends_what_the_other_holds_of_its_sessions(
        start_device, start_gateway, redis_url, tmp_path):
    device, url = await start_device()
    a, b = [await start_gateway(url, {"username": "admin", "password": "admin"},
                                redis_url=redis_url, state_dir=tmp_path / name,
                                event_linger=0.0) for name in "ab"]
    admin = bearer(await login(a))
    assert (await a.post("/devices", json={"id": "lobby", "url": url},
                         headers=admin)).status == 201
    lobby = await a.put("/devices/lobby/login", json={"username": "operator",
                                                      "password": "operator"})
    operator = bearer((await lobby.json())["sessionToken"])
    stream = SSE(await a.get("/devices/lobby/events", headers=operator))
    await stream.next()
    move = await a.put(f"/devices/lobby{MOVE}", headers=operator,
                       json={**CONTINUOUS, "lease_ms": 30000})
    assert move.status == 200, await move.text()
    assert (await b.delete("/devices/lobby", headers=admin)).status == 204
    await eventually(lambda: "Stop" in sent(device))  # a stops it now, not 30 s later
    await stream.until(lambda event: event["kind"] == "disconnected")
    await eventually(lambda: not device.events.live())
