"""Events with two gateway instances (real processes) sharing one Redis: one subscription per
device across both, events on both, resume and state on either, the lease taken over when its
holder is killed, and webhooks delivered once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from gateway.events.model import gateway_event
from gateway.events.shared import LEASE as LEASE_KEY
from gateway.keys import EVENT_HUB
from gateway.simulator import SimulatedDevice
from tests.conftest import GatewayProcesses, StartDevice, bearer, login, stopped
from tests.events_helpers import SSE, eventually, motion

Start = Callable[..., Awaitable[str]]  # start(name, lease=TAKEOVER_LEASE)

# A short lease, for the test of a takeover: the survivor subscribes within about 2 s.
# Elsewhere the default (5 s): the holder renews every third of the lease, so a renewal more
# than 2/3 of it late (the holder's loop or Redis stalled) makes the holder give the lease up
# (its clients get subscription-lost) and lets the other instance take over.
# A full test run on a loaded 2-core machine once had a subscription-lost event before the
# first motion with 1.5 s, 1 s of slack (the logs were not kept then). Another cause then: the
# holder dropped its subscription at its first failed renewal, also one that only took Redis
# more than 2 s (the client's socket timeout); it now holds on while its lease lasts.
TAKEOVER_LEASE = 1.5


@pytest.fixture
def instances(gateway_processes: GatewayProcesses
              ) -> tuple[SimulatedDevice, Start, dict[str, Any]]:
    """The device, and start(name, lease): a gateway process in front of it (conftest's
    gateway_processes) with events' settings; the processes by name."""
    device, start_gateway, processes = gateway_processes

    async def start(name: str, lease: float = TAKEOVER_LEASE) -> str:
        return await start_gateway(name, event_lease=lease, event_linger=0, event_retry=0.05,
                                   webhook_retry=0.05)

    return device, start, processes


async def token(http: aiohttp.ClientSession, base: str) -> str:
    async with http.put(f"{base}/login", json={"username": "admin", "password": "admin"}) as r:
        assert r.status == 200
        return str((await r.json())["sessionToken"])


async def listen(http: aiohttp.ClientSession, base: str, session: str, **headers: str) -> SSE:
    response = await http.get(f"{base}/events", headers={**bearer(session), **headers},
                              timeout=aiohttp.ClientTimeout(total=None))
    return SSE(response)


async def initialized(stream: SSE) -> None:
    """A new stream's first events: the value of each of the simulator's 4 properties."""
    for _ in range(4):
        _, event = await stream.next()
        assert event["operation"] == "Initialized"


@pytest.mark.slow
async def test_one_subscription_for_clients_of_both_instances(instances) -> None:
    device, start, _ = instances
    # the default lease: no takeover here, and a subscription-lost event would fail the test
    a, b = await start("a", lease=5.0), await start("b", lease=5.0)
    async with aiohttp.ClientSession() as http:
        session = await token(http, a)  # a session works on both (Redis)
        on_a = [await listen(http, a, session) for _ in range(3)]
        for stream in on_a:
            await initialized(stream)
        on_b = [await listen(http, b, session) for _ in range(3)]
        for stream in on_b:  # b did not subscribe: it had them from Redis
            await initialized(stream)

        device.trigger_motion("video1", True)
        ids = set()
        for stream in on_a + on_b:
            event_id, event = await stream.next()
            assert motion("true")(event), event
            ids.add(event_id)
        assert len(ids) == 1  # one event, one id, on both instances
        assert device.events.created == 1
        assert len(device.events.live()) == 1

        # a client of a that comes back to b resumes after the last event it saw
        seen = on_a[0].last_id
        on_a[0].close()
        device.trigger_motion("video1", False)
        device.trigger_input("input1", True)
        _, missed_motion = await on_b[0].next()
        _, missed_input = await on_b[0].next()
        back = await listen(http, b, session, **{"Last-Event-ID": str(seen)})
        assert [(await back.next())[1] for _ in range(2)] == [missed_motion, missed_input]
        assert motion("false")(missed_motion)
        assert missed_input["kind"] == "input"

        # and both know the state of every property
        for base in (a, b):
            async with http.get(f"{base}/events/state", headers=bearer(session)) as response:
                state = (await response.json())["events"]
            values = {(e["kind"], *e["source"].values()): e["data"] for e in state}
            assert values[("motion", "video1")] == {"State": "false"}
            assert values[("input", "input1")] == {"LogicalState": "true"}
        for stream in on_a[1:] + on_b + [back]:
            stream.close()
        # nobody listens any more: no pull point is left
        await eventually(lambda: not device.events.live())


@pytest.mark.slow
async def test_the_other_instance_takes_over_when_the_holder_is_killed(instances) -> None:
    device, start, processes = instances
    a, b = await start("a"), await start("b")
    async with aiohttp.ClientSession() as http:
        session = await token(http, a)
        on_a = await listen(http, a, session)
        await initialized(on_a)  # a subscribed: it holds the lease
        on_b = [await listen(http, b, session) for _ in range(3)]
        for stream in on_b:
            await initialized(stream)
        assert device.events.created == 1

        processes["a"].send_signal(signal.SIGKILL)
        await processes["a"].wait()
        for stream in on_b:
            seen = await stream.until(lambda e: e["kind"] == "subscription-restored", within=30)
            assert seen[0]["kind"] == "subscription-lost"
            assert "went away" in seen[0]["data"]["reason"]
        # b subscribed once (a's pull point lives on in the device until it expires)
        assert device.events.created == 2
        device.trigger_motion("video1", True)
        for stream in on_b:
            await stream.until(motion("true"))
        assert device.events.created == 2
        for stream in on_b:
            stream.close()
        on_a.close()


async def webhooks(http: aiohttp.ClientSession, base: str, session: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/webhooks", headers=bearer(session)) as response:
        return list((await response.json())["webhooks"])


# Bounds for what two gateway processes, a simulator and Redis do on a loaded 2-core machine:
# a full test run there once took more than 10 s for 4 webhook deliveries.
async def until(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 (another process's state)
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_webhook_is_delivered_once_by_two_instances(instances, receiver) -> None:
    device, start, _ = instances
    # no takeover here (the default lease, as in the first test): each event delivered once
    a, b = await start("a", lease=5.0), await start("b", lease=5.0)
    async with aiohttp.ClientSession() as http:
        session = await token(http, a)
        async with http.post(f"{a}/webhooks", headers=bearer(session),
                             json={"url": receiver.url, "topic": "motion"}) as response:
            assert response.status == 201
            hook = (await response.json())["id"]

        async def b_runs_it() -> bool:  # a told b: both run it (listen), one subscribes
            return [h["id"] for h in await webhooks(http, b, session)] == [hook]

        await until(b_runs_it)
        # the subscription is up: the Initialized value of each video source's motion came
        await eventually(lambda: len(receiver.received) == len(device.video_sources))
        for state in (True, False, True, False):
            device.trigger_motion("video1", state)
        # every motion event (the Initialized value of each video source, then the 4 changes)
        # went through both instances: the holder delivered it, the other did not
        events = len(device.video_sources) + 4

        async def both_went_through_all() -> bool:
            counts = [(h["delivered"], h["delivered_elsewhere"])
                      for base in (a, b) for h in await webhooks(http, base, session)]
            return [sum(c) for c in zip(*counts, strict=True)] == [events, events]

        await until(both_went_through_all)
        ids = [headers["X-Gateway-Event-Id"] for headers, _ in receiver.received]
        assert len(ids) == len(set(ids)) == events
        changes = [e["data"]["State"] for e in receiver.events() if e["operation"] == "Changed"]
        assert changes == ["true", "false", "true", "false"]  # in order: from one instance
        assert device.events.created == 1

        # removed through b: a stops too, and nobody listens to the device any more
        async with http.delete(f"{b}/webhooks/{hook}", headers=bearer(session)) as response:
            assert response.status == 204

        async def a_stopped() -> bool:
            return await webhooks(http, a, session) == []

        await until(a_stopped)
        await eventually(lambda: not device.events.live())


# In one process: gateways whose clocks the test moves (a FakeClock stands still between moves),
# with a short lease so that they try to renew often (every 0.2 s).
LEASE = {"event_lease": 0.6, "event_linger": 0.0, "event_retry": 0.05}


def renewal_failed(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the holder has said what it does about a failed renewal (a warning)."""
    return any(r.name == "gateway.events.shared" and r.getMessage().startswith("device cam:")
               for r in caplog.records)


async def test_a_redis_outage_shorter_than_the_lease_loses_no_event(
        start_device: StartDevice, start_gateway, redis_url: str, redis_server, clock,
        caplog) -> None:
    device, url = await start_device()
    client = await start_gateway(url, clock=clock, redis_url=redis_url, **LEASE)
    stream = SSE(await client.get("/events", headers=bearer(await login(client))))
    await initialized(stream)
    redis_server.stop()
    try:  # a renewal fails; the holder's lease has not run out by its clock
        await eventually(lambda: renewal_failed(caplog))
    finally:
        redis_server.start()
    device.trigger_motion("video1", True)
    _, event = await stream.next()
    assert motion("true")(event), event  # no subscription-lost: the subscription went on
    assert device.events.created == 1
    assert len(device.events.live()) == 1
    stream.close()


async def test_redis_down_until_the_lease_runs_out_stops_the_holders_subscription(
        start_device: StartDevice, start_gateway, redis_url: str, redis_server, clock,
        caplog) -> None:
    device, url = await start_device()
    client = await start_gateway(url, clock=clock, redis_url=redis_url, **LEASE)
    stream = SSE(await client.get("/events", headers=bearer(await login(client))))
    await initialized(stream)
    redis_server.stop()
    try:
        await eventually(lambda: renewal_failed(caplog))
        device.trigger_motion("video1", True)  # held on while the lease lasts
        _, event = await stream.next()
        assert motion("true")(event), event
        clock.now += 0.6
        # the lease ran out: unsubscribed, lest another instance subscribe too
        _, lost = await stream.next()
        assert lost["kind"] == "subscription-lost", lost
        assert "Redis" in lost["data"]["reason"]
        await eventually(lambda: not device.events.live())
    finally:
        redis_server.start()
    await stream.until(lambda e: e["kind"] == "subscription-restored")
    device.trigger_motion("video1", False)
    await stream.until(motion("false"))
    assert device.events.created == 2
    stream.close()


async def holder_and_other(start_gateway, url: str, redis_url: str, relay_url: str,
                           tmp_path: Path, lease: float) -> tuple[Any, Any, SSE, SSE]:
    """Gateways a (reaching Redis through the relay) and b (directly), with a client's stream on
    each; a subscribed first, so it holds the device's events lease."""
    settings = {**LEASE, "event_lease": lease}
    a = await start_gateway(url, redis_url=relay_url, state_dir=tmp_path / "a", **settings)
    b = await start_gateway(url, redis_url=redis_url, state_dir=tmp_path / "b", **settings)
    session = await login(b)
    on_a = SSE(await a.get("/events", headers=bearer(session)))
    await initialized(on_a)  # a subscribed: it holds the lease
    on_b = SSE(await b.get("/events", headers=bearer(session)))
    await initialized(on_b)
    return a, b, on_a, on_b


async def test_a_holder_whose_redis_hangs_stops_at_its_lease_end_and_another_takes_over(
        start_device: StartDevice, start_gateway, redis_url: str, redis_relay,
        tmp_path: Path) -> None:
    """Real clocks here: what matters is the holder's clock against Redis's expiry of the lease.
    The holder (a) reaches Redis through a relay that stops answering; its renewal would wait
    2 s for Redis (the client's socket timeout), longer than the 1 s lease (which leaves a
    renewal 2/3 s of slack before b may take over: both gateways share this test's loop)."""
    device, url = await start_device()
    _, _, on_a, on_b = await holder_and_other(start_gateway, url, redis_url, redis_relay.url,
                                              tmp_path, lease=1.0)
    assert device.events.created == 1

    redis_relay.hang()
    seen = await on_b.until(lambda e: e["kind"] == "subscription-restored")
    assert seen[0]["kind"] == "subscription-lost", seen  # b took the lease over
    assert device.events.created == 2
    device.trigger_motion("video1", True)
    await on_b.until(motion("true"))
    # a had stopped before b could take the lease: its clients never got that motion from
    # the pull point it had
    seen = await on_a.until(lambda e: e["kind"] == "subscription-lost")
    assert [e["kind"] for e in seen] == ["subscription-lost"], seen
    assert "Redis" in seen[0]["data"]["reason"]
    on_a.close()
    on_b.close()


async def test_a_gateway_stops_while_its_events_are_still_going_to_redis(
        start_device: StartDevice, start_gateway, redis_url: str) -> None:
    """The writer of the events channel is cancelled in the middle of its sends to Redis as
    the gateway stops. redis-py lost that cancel on Python 3.11 (its asyncio.wait_for: see
    redis_call in gateway/state/redisstore.py) in about half of these stops on this machine,
    and the gateway never stopped: a CI run hung in the teardown of the outage test above."""
    _, url = await start_device()
    for _ in range(8):
        client = await start_gateway(url, redis_url=redis_url)
        stream = SSE(await client.get("/events", headers=bearer(await login(client))))
        await initialized(stream)  # the device's subscription runs here: its events are shared
        hub = client.app[EVENT_HUB]
        for n in range(5000):  # more than the writer sends before the gateway stops
            hub.publish("cam", gateway_event("cam", "Test", "test", n=n))
        await stopped("a gateway whose events were going to Redis", client.close(), within=30)


# Real clocks, two gateways in this process: a's lease by a's clock against Redis's expiry of it
# and b's tries. A holder tries every third of the lease: a 6 s lease leaves a loaded machine
# 2 s between a's failed renewal (seen by the test, which then lets Redis through again) and
# the end of its lease.
HOLD_LEASE = 6.0


async def test_a_holder_whose_renewal_fails_holds_on_while_its_lease_lasts(
        start_device: StartDevice, start_gateway, redis_url: str, redis_relay,
        tmp_path: Path, caplog) -> None:
    """a's Redis goes down (connections refused, at once) and comes back before a's lease runs
    out: a keeps its subscription and renews, b never takes over; no client of either hears
    of it."""
    device, url = await start_device()
    a, _, on_a, on_b = await holder_and_other(start_gateway, url, redis_url, redis_relay.url,
                                              tmp_path, lease=HOLD_LEASE)

    redis_relay.cut()
    try:
        await eventually(lambda: renewal_failed(caplog), within=30)
    finally:
        await redis_relay.restore()
    restored = time.monotonic()
    redis = aioredis.Redis.from_url(redis_url)

    async def renewed_since() -> bool:  # Redis's countdown of the lease started again
        left = await redis.pttl(LEASE_KEY + "cam")
        return bool(left > (HOLD_LEASE - (time.monotonic() - restored)) * 1000)

    try:
        await until(renewed_since)
        assert await redis.get(LEASE_KEY + "cam") == a.app[EVENT_HUB].relay.me.encode()
    finally:
        await redis.aclose()
    # a's events: on its own clients, and (once a's channel writer is back: an event of a
    # moment ago may be lost, "not shared") on b's; no client heard of a lost subscription
    state = False
    async with asyncio.timeout(30):
        while True:
            state = not state
            device.trigger_motion("video1", state)
            with contextlib.suppress(TimeoutError):
                _, event = await on_b.next(within=1)
                assert event["kind"] == "motion", event
                break
    seen = await on_a.until(motion(str(state).lower()))
    assert {e["kind"] for e in seen} == {"motion"}, seen
    assert device.events.created == 1
    assert len(device.events.live()) == 1
    on_a.close()
    on_b.close()


async def test_a_holder_whose_redis_stays_down_past_its_lease_stops_and_another_takes_over(
        start_device: StartDevice, start_gateway, redis_url: str, redis_relay,
        tmp_path: Path) -> None:
    """a's Redis is down (connections refused) longer than a's lease: a unsubscribes when its
    lease runs out, b takes over; once a reaches Redis again, its clients get b's events."""
    device, url = await start_device()
    _, _, on_a, on_b = await holder_and_other(start_gateway, url, redis_url, redis_relay.url,
                                              tmp_path, lease=3.0)

    redis_relay.cut()
    seen = await on_a.until(lambda e: e["kind"] == "subscription-lost", within=30)
    assert [e["kind"] for e in seen] == ["subscription-lost"], seen
    assert "Redis" in seen[0]["data"]["reason"]
    seen = await on_b.until(lambda e: e["kind"] == "subscription-restored", within=30)
    assert seen[0]["kind"] == "subscription-lost", seen  # b took the lease over
    assert "went away" in seen[0]["data"]["reason"]
    assert device.events.created == 2
    await eventually(lambda: len(device.events.live()) == 1)  # a unsubscribed

    await redis_relay.restore()
    seen = await on_a.until(lambda e: e["kind"] == "subscription-restored", within=30)
    device.trigger_motion("video1", True)
    for stream in (on_a, on_b):
        await stream.until(motion("true"))
    assert device.events.created == 2
    on_a.close()
    on_b.close()
