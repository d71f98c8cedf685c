"""Events: one PullPoint subscription per device, fanned out to every client as Server-Sent
Events; renewal, re-subscription, the device's pull point limit, resume, slow clients."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import DeviceConfig, GatewayConfig
from gateway.events.hub import Listener
from gateway.events.model import TopicFilter, kind_of
from gateway.keys import EVENT_HUB
from gateway.simulator import SimulatedDevice
from tests.conftest import FakeClock, StartDevice, StartGateway, bearer, login
from tests.events_helpers import SSE, eventually, motion
from tests.test_openapi import check


class Fast(TypedDict):
    """GatewayConfig fields that make event tests quick."""

    event_linger: float
    event_retry: float


FAST = Fast(event_linger=0.0, event_retry=0.05)


async def listen(client: TestClient[Any, Any], token: str, path: str = "/events",
                 **headers: str) -> SSE:
    response = await client.get(path, headers={**bearer(token), **headers})
    return SSE(response)


async def synced(client: TestClient[Any, Any], *names: str) -> None:
    """Wait for the gateway's subscriptions to these devices to be up (Initialized pulled)."""
    hub = client.app[EVENT_HUB]
    await eventually(lambda: all(hub.synced(name) for name in names or ("cam",)))


@pytest.fixture
async def camera(start_device: StartDevice, start_gateway: StartGateway
                 ) -> tuple[SimulatedDevice, TestClient[Any, Any]]:
    device, url = await start_device()
    return device, await start_gateway(url, **FAST)


async def test_many_clients_share_one_subscription(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    users = [("admin", "admin"), ("operator", "operator"), ("user", "user")] * 4
    streams = [await listen(client, await login(client, *user)) for user in users]
    for stream in streams:  # every client gets the state of every property first
        initialized = [await stream.next() for _ in range(4)]
        assert {e["operation"] for _, e in initialized} == {"Initialized"}
    device.trigger_motion("video1", True)
    for stream in streams:
        event_id, event = await stream.next()
        assert event_id is not None
        assert event_id.startswith(client.app[EVENT_HUB].epoch)
        assert event == {
            "device": "cam", "time": event["time"], "topic": "tns1:VideoSource/MotionAlarm",
            "source": {"VideoSourceToken": "video1"}, "key": {}, "data": {"State": "true"},
            "operation": "Changed", "kind": "motion",
        }
    assert device.events.created == 1
    assert len(device.events.live()) == 1
    for stream in streams:
        stream.close()
    # the last client gone (event_linger = 0), the gateway unsubscribes
    await eventually(lambda: not device.events.live())
    assert device.events.created == 1


async def renewed_past_its_first_termination_time(device: SimulatedDevice,
                                                  clock: FakeClock) -> None:
    """With the gateway and the device on one FakeClock, and a subscription of 3 s: move the
    clock past half of its life (the gateway renews it), then past its first end."""
    # pulling: the gateway has its subscription's life (from now) and when to renew it
    await eventually(lambda: any(name == "PullMessages" for name, _ in device.calls))
    (point,) = device.events.live().values()
    first_end = point.expires
    clock.now += 2.0
    await eventually(lambda: point.expires > first_end)  # renewed, at the gateway's next pull
    clock.now += 2.0


async def test_renewal_keeps_one_subscription_across_its_termination_time(
        start_device: StartDevice, start_gateway: StartGateway, clock: FakeClock) -> None:
    device, url = await start_device()
    device.events.clock = clock
    client = await start_gateway(url, clock=clock, event_lifetime=3.0, **FAST)
    stream = await listen(client, await login(client))
    await renewed_past_its_first_termination_time(device, clock)
    device.trigger_input("input1", True)
    events = await stream.until(lambda e: e["kind"] == "input" and e["operation"] == "Changed")
    assert not [e for e in events if e["topic"].startswith("gateway/")]
    assert device.events.created == 1


@pytest.mark.parametrize("error", [-3600.0, 3600.0])
async def test_a_wrong_reported_termination_time_does_not_lapse_the_subscription(
        start_device: StartDevice, start_gateway: StartGateway, clock: FakeClock,
        error: float) -> None:
    # switch: TerminationTime reported an hour off (local time next to a UTC CurrentTime)
    await motion_after_renewals(start_device, start_gateway, clock, termination_time_error=error)


async def motion_after_renewals(start_device: StartDevice, start_gateway: StartGateway,
                                clock: FakeClock, **switches: Any) -> None:
    """A device with these switches: its subscription renewed past its first end, a motion
    event still reaches a client, and the gateway neither lost nor remade the subscription."""
    device, url = await start_device(**switches)
    device.events.clock = clock
    client = await start_gateway(url, clock=clock, event_lifetime=3.0, **FAST)
    stream = await listen(client, await login(client))
    await renewed_past_its_first_termination_time(device, clock)
    device.trigger_motion("video2", True)
    events = await stream.until(motion("true", "video2"))
    assert not [e for e in events if e["topic"].startswith("gateway/")]
    assert device.events.created == 1


async def test_a_dropped_subscription_is_replaced_and_clients_are_told(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    stream = await listen(client, await login(client))
    await synced(client)
    device.events.drop_all()  # switch: the device forgets it (a reboot, a network loss)
    events = await stream.until(lambda e: e["kind"] == "subscription-restored")
    told = [e for e in events if e["topic"].startswith("gateway/")]
    assert [e["kind"] for e in told] == ["subscription-lost", "subscription-restored"]
    assert told[0]["topic"] == "gateway/SubscriptionLost"
    assert "No such subscription" in told[0]["data"]["reason"]
    device.trigger_motion("video1", True)
    await stream.until(motion("true"))
    assert device.events.created == 2
    assert len(device.events.live()) == 1


async def test_a_device_refusing_to_subscribe_is_retried_with_backoff(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    stream = await listen(client, await login(client))
    await synced(client)
    device.unsupported.add("CreatePullPointSubscription")
    device.events.drop_all()
    await stream.until(lambda e: e["kind"] == "subscription-lost")
    await asyncio.sleep(0.3)  # several failed attempts: one lost event, no more
    device.unsupported.clear()
    events = await stream.until(lambda e: e["kind"] == "subscription-restored")
    assert [e["kind"] for e in events].count("subscription-lost") == 0


async def test_the_gateway_never_holds_more_pull_points_than_the_device_allows(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    device.max_pull_points = 1
    token = await login(client)
    for _ in range(5):  # clients come and go; each new subscription waits for the old one's end
        stream = await listen(client, token)
        await stream.until(lambda e: e["kind"] == "input")
        stream.close()
    stream = await listen(client, token)
    for _ in range(3):
        await synced(client)
        device.events.drop_all()
        await stream.until(lambda e: e["kind"] == "subscription-restored")
    assert device.events.peak == 1
    assert device.events.refused == 0


async def test_last_event_id_resumes_where_the_client_left(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    token = await login(client)
    keeper = await listen(client, token)  # keeps the subscription while the other is away
    stream = await listen(client, token)
    await synced(client)
    device.trigger_motion("video1", True)
    await stream.until(motion("true"))
    last = stream.last_id
    stream.close()
    for source in ("video2", "video3"):
        device.trigger_motion(source, True)
    await keeper.until(motion("true", "video3"))
    resumed = await listen(client, token, **{"Last-Event-ID": last or ""})
    missed = [await resumed.next() for _ in range(2)]
    assert [e["source"]["VideoSourceToken"] for _, e in missed] == ["video2", "video3"]
    device.trigger_motion("video1", False)
    await resumed.until(motion("false"))
    # an id from an earlier run of the gateway: everything kept is replayed
    old = await listen(client, token, **{"Last-Event-ID": "0000-5"})
    _, first = await old.next()
    assert first["operation"] == "Initialized"


async def test_a_slow_client_is_dropped_alone(
        start_device: StartDevice, start_gateway: StartGateway) -> None:
    device, url = await start_device()
    client = await start_gateway(url, event_client_queue=8, **FAST)
    token = await login(client)
    fast = await listen(client, token)
    await fast.until(lambda e: e["kind"] == "input")
    hub = client.app[EVENT_HUB]
    # A client whose connection takes nothing any more: its handler is stuck writing, so its
    # queue only fills (as the SSE handler's is when the socket's buffers are full).
    (device_client, credentials), = [(d, c) for channel in hub._channels.values()
                                     for d, c in [(channel.device,
                                                   next(iter(channel.listeners.values())))]]
    stuck, _ = hub.listen([(device_client, credentials)], TopicFilter(None))
    for n in range(10):
        device.trigger_motion("video1", n % 2 == 0)
    received: list[dict[str, Any]] = []
    while len(received) < 10:  # the fast client gets every one of them
        received += [e for e in await fast.until(lambda e: e["kind"] == "motion")
                     if e["operation"] == "Changed"]
    assert [e["data"]["State"] for e in received] == ["true", "false"] * 5
    await eventually(stuck.ended.is_set)
    left = [stuck.queue.get_nowait() for _ in range(stuck.queue.qsize())]
    assert [e["kind"] for _, e, _ in left] == ["disconnected"]
    assert "did not keep up" in left[0][1]["data"]["reason"]
    assert stuck not in hub._listeners
    # the fast client still gets events, from the same subscription
    device.trigger_input("input1", True)
    await fast.until(lambda e: e["kind"] == "input" and e["data"]["LogicalState"] == "true")
    assert hub.subscribed("cam")


async def test_a_stream_the_gateway_ends_gets_its_last_event_then_closes(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    _, client = camera
    stream = await listen(client, await login(client))
    await stream.until(lambda e: e["kind"] == "input")
    hub = client.app[EVENT_HUB]
    listener: Listener = next(iter(hub._listeners))
    hub._drop(listener, "cam")
    _, last = await stream.next()
    assert last["kind"] == "disconnected"
    assert last["topic"] == "gateway/Disconnected"
    with pytest.raises(EOFError):
        await stream.next()


async def test_topic_filter(camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    token = await login(client)
    inputs = await listen(client, token, "/events?topic=input")
    topics = await listen(client, token, "/events?topic=tns1:VideoSource/MotionAlarm")
    await synced(client)
    device.trigger_motion("video1", True)
    device.trigger_input("input1", True)
    got = await inputs.until(lambda e: e["operation"] == "Changed")
    assert {e["kind"] for e in got} == {"input"}
    got = await topics.until(lambda e: e["operation"] == "Changed")
    assert {e["kind"] for e in got} == {"motion"}


async def test_state_is_the_last_value_of_each_property(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    token = await login(client, "user", "user")
    device.trigger_motion("video2", True)
    # nobody listens: the gateway subscribes for the moment, for the Initialized messages
    response = await client.get("/events/state", headers=bearer(token))
    assert response.status == 200
    events = (await response.json())["events"]
    states = {(e["kind"], next(iter(e["source"].values()))): next(iter(e["data"].values()))
              for e in events}
    assert states == {("motion", "video1"): "false", ("motion", "video2"): "true",
                      ("motion", "video3"): "false", ("input", "input1"): "false"}
    stream = await listen(client, token)
    await synced(client)
    device.trigger_motion("video2", False)
    await stream.until(motion("false", "video2"))
    response = await client.get("/devices/cam/events/state?topic=motion", headers=bearer(token))
    events = (await response.json())["events"]
    assert {e["source"]["VideoSourceToken"]: e["data"]["State"] for e in events} == {
        "video1": "false", "video2": "false", "video3": "false"}


async def test_listening_needs_a_session_for_the_device(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    _, client = camera
    for path in ("/events", "/events/state", "/devices/cam/events"):
        response = await client.get(path)
        assert response.status == 401
        assert response.content_type == "application/problem+json"
    response = await client.get("/events", headers=bearer("not-a-token"))
    assert response.status == 401
    response = await client.get("/devices/nope/events", headers=bearer(await login(client)))
    assert response.status == 404


async def test_one_stream_for_several_devices(
        start_device: StartDevice, aiohttp_client: Any, tmp_path: Any) -> None:
    cam1, url1 = await start_device()
    cam2, url2 = await start_device()
    config = GatewayConfig(devices=(
        DeviceConfig("cam1", url1, default=True),
        # a service account: the gateway subscribes with it, not with a user's credentials
        DeviceConfig("cam2", url2, username="admin", password="admin")),
        state_dir=tmp_path, **FAST)
    from gateway.app import create_app
    client = await aiohttp_client(await create_app(config))
    token1 = await login(client)
    response = await client.put("/devices/cam2/login",
                                json={"username": "user", "password": "user"})
    token2 = (await response.json())["sessionToken"]
    response = await client.get("/events", headers=[("Authorization", f"Bearer {token1}"),
                                                    ("Authorization", f"Bearer {token2}")])
    stream = SSE(response)
    await synced(client, "cam1", "cam2")
    cam1.trigger_motion("video1", True)
    await stream.until(lambda e: e["device"] == "cam1" and motion("true")(e))
    cam2.trigger_motion("video1", True)
    await stream.until(lambda e: e["device"] == "cam2" and motion("true")(e))
    assert cam1.events.created == cam2.events.created == 1


async def test_shutdown_ends_streams_and_unsubscribes(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    stream = await listen(client, await login(client))
    await stream.until(lambda e: e["kind"] == "input")
    assert len(device.events.live()) == 1
    await client.app.shutdown()
    _, last = await stream.next()
    assert last["kind"] == "disconnected"
    assert "shutting down" in last["data"]["reason"]
    assert not device.events.live()


def test_kinds_of_common_topics() -> None:
    assert kind_of("tns1:RuleEngine/CellMotionDetector/Motion") == "motion"
    assert kind_of("tns1:VideoSource/GlobalSceneChange/ImagingService") == "tamper"
    assert kind_of("tns1:RuleEngine/TamperDetector/Tamper") == "tamper"
    assert kind_of("tns1:Device/Trigger/DigitalInput") == "input"
    assert kind_of("tns1:Device/tnsaxis:IO/VirtualPort") == "input"
    assert kind_of("tnsvendor:Something/Else") == "other"


async def test_events_match_the_openapi_description(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    document = await (await client.get("/openapi.json")).json()
    get = document["paths"]["/events"]["get"]
    assert "text/event-stream" in get["responses"]["200"]["content"]
    assert {p.get("name") for p in get["parameters"]} >= {"topic", "Last-Event-ID"}
    event_schema = {"$ref": "#/components/schemas/Event"}
    stream = await listen(client, await login(client))
    await synced(client)
    device.trigger_motion("video1", True)
    device.events.drop_all()
    for event in await stream.until(lambda e: e["kind"] == "subscription-restored"):
        check(document, event_schema, event)
    response = await client.get("/events/state", headers=bearer(await login(client)))
    state_schema = document["paths"]["/events/state"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    check(document, state_schema, await response.json())


async def test_websocket_clients_get_the_same_events_from_the_same_subscription(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    token = await login(client)
    sse = await listen(client, token)
    socket = await client.ws_connect("/events/ws?topic=motion", headers=bearer(token))
    await synced(client)
    initialized = [await socket.receive_json(timeout=10) for _ in range(3)]
    assert {e["operation"] for e in initialized} == {"Initialized"}
    assert {e["kind"] for e in initialized} == {"motion"}
    device.trigger_input("input1", True)  # filtered out
    device.trigger_motion("video3", True)
    event = await socket.receive_json(timeout=10)
    streamed = (await sse.until(motion("true", "video3")))[-1]
    assert event == streamed  # the same JSON on both
    assert event["source"] == {"VideoSourceToken": "video3"}
    assert device.events.created == 1
    await socket.close()
    sse.close()
    await eventually(lambda: not device.events.live())


async def test_websocket_needs_a_session(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    _, client = camera
    response = await client.get("/events/ws")
    assert response.status == 401


async def test_a_plain_get_of_the_websocket_is_a_400_saying_so(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    device, client = camera
    response = await client.get("/events/ws", headers=bearer(await login(client)))
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["type"] == "urn:onvif-gateway:problem:bad-request"
    assert "Upgrade: websocket" in problem["detail"]
    assert [name for name, _ in device.calls if name == "CreatePullPointSubscription"] == []


async def test_a_logout_ends_the_streams_of_its_session(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    # The streams went on after their session's logout, each event still sent.
    device, client = camera
    token, other = await login(client), await login(client)
    sse = await listen(client, token)
    socket = await client.ws_connect("/events/ws", headers=bearer(token))
    kept = await listen(client, other)  # another session of the same user
    await synced(client)
    assert (await client.put("/logout", headers=bearer(token))).status == 204
    last = (await sse.until(lambda e: e["kind"] == "disconnected"))[-1]
    assert "session ended" in last["data"]["reason"]
    with pytest.raises(EOFError):
        await sse.next()
    while (await socket.receive_json(timeout=10))["kind"] != "disconnected":
        pass
    device.trigger_motion("video1", True)
    await kept.until(motion("true"))
    assert (await socket.receive(timeout=10)).type.name in ("CLOSE", "CLOSED")


async def test_a_stream_ends_once_its_session_expired(
        start_device: StartDevice, start_gateway: StartGateway, clock: FakeClock) -> None:
    # A stream outlived its session (no logout: idle, or past session_max_age) for ever.
    device, url = await start_device()
    client = await start_gateway(url, clock=clock, session_max_age=600, **FAST)
    sse = await listen(client, await login(client))
    await synced(client)
    clock.now += 60  # a stream that listens keeps its session in use...
    device.trigger_motion("video1", True)
    await sse.until(motion("true"))
    clock.now += 600  # ...up to session_max_age
    device.trigger_motion("video1", False)
    seen = await sse.until(lambda e: e["kind"] == "disconnected")
    assert not any(motion("false")(e) for e in seen)  # not sent: the session had ended
    assert "session ended" in seen[-1]["data"]["reason"]
