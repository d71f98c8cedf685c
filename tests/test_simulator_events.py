"""The simulator's Events service, called through the gateway's own DeviceClient (real zeep),
and by hand where a client that does not behave must be shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from lxml import etree

from gateway.app import WSDL_DIR, shared_wsdls
from gateway.config import DeviceConfig, DeviceLimits
from gateway.credentials import Credentials
from gateway.errors import DeviceFault
from gateway.simulator import SimulatedDevice
from gateway.simulator.server import control_path
from gateway.soap.device import DeviceClient
from gateway.soap.transport import ClosedWithoutAnswer, EmptyReply
from gateway.soap.wsdl import parse_wsdls
from tests.conftest import FakeClock, StartDevice
from tests.simulator_helpers import Answer, as_admin, check_schema, envelope, offline_wsdl

ADMIN = Credentials("admin", "admin")
TT = "{http://www.onvif.org/ver10/schema}"
WSNT = "{http://docs.oasis-open.org/wsn/b-2}"
EVENTS_WSDL = WSDL_DIR / "ver10/events/wsdl/event.wsdl"
TEV = "http://www.onvif.org/ver10/events/wsdl"


@pytest.fixture
async def camera(start_device: StartDevice) -> AsyncIterator[tuple[SimulatedDevice, DeviceClient]]:
    device, url = await start_device()
    client = DeviceClient(DeviceConfig("cam", url), await shared_wsdls(WSDL_DIR), DeviceLimits())
    yield device, client
    await client.close()


async def subscribe(client: DeviceClient, lifetime: str = "PT60S") -> str:
    reply = await client.call("events", "CreatePullPointSubscription", ADMIN,
                              InitialTerminationTime=lifetime)
    return str(reply["SubscriptionReference"]["Address"]["_value_1"])


async def pull(client: DeviceClient, address: str, wait: str = "PT0S",
               limit: int = 100) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(topic, operation, source, data) of each message pulled."""
    reply = await client.call_at(address, "pullpoint", "PullMessages", ADMIN,
                                 Timeout=wait, MessageLimit=limit)
    messages = []
    for holder in reply.get("NotificationMessage") or []:
        message = holder["Message"]["_value_1"]
        topic = message.getparent().getparent().findtext(f"{WSNT}Topic")
        items = [{item.get("Name"): item.get("Value") for item in message.iterfind(
            f"{TT}{part}/{TT}SimpleItem")} for part in ("Source", "Data")]
        messages.append((topic, message.get("PropertyOperation"), *items))
    return messages


async def test_calls_to_events_wait_for_its_wsdl_read_on_first_use(start_device: StartDevice
                                                                    ) -> None:
    _, url = await start_device()
    wsdls = parse_wsdls(WSDL_DIR)  # as a gateway starts: the Events WSDL not read yet
    client = DeviceClient(DeviceConfig("cam", url), wsdls, DeviceLimits())
    try:
        first, second = await asyncio.gather(subscribe(client), subscribe(client))
        assert first != second
        assert first.startswith("http://127.0.0.1:")
        assert wsdls.is_read("events")
        # a pull point's own binding, read with it: the properties' Initialized messages
        assert {operation for _, operation, _, _ in await pull(client, first)} == {"Initialized"}
    finally:
        await client.close()


async def test_event_properties_name_motion_and_digital_input(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    _, client = camera
    reply = await client.call("events", "GetEventProperties", ADMIN)
    names = [etree.QName(e).localname for e in reply["TopicSet"]["_value_1"]]
    assert names == ["VideoSource", "Device"]
    described = reply["TopicSet"]["_value_1"][0].find(
        "{http://www.onvif.org/ver10/topics}MotionAlarm")
    assert described.find(f"{TT}MessageDescription").get("IsProperty") == "true"


async def test_a_pull_point_starts_with_every_property_then_gets_changes(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    address = await subscribe(client)
    initial = await pull(client, address)
    assert ("tns1:VideoSource/MotionAlarm", "Initialized", {"VideoSourceToken": "video1"},
            {"State": "false"}) in initial
    assert ("tns1:Device/Trigger/DigitalInput", "Initialized", {"InputToken": "input1"},
            {"LogicalState": "false"}) in initial
    assert len(initial) == len(device.video_sources) + len(device.digital_inputs)
    device.trigger_motion("video2", True)
    device.trigger_input("input1", True)
    assert await pull(client, address) == [
        ("tns1:VideoSource/MotionAlarm", "Changed", {"VideoSourceToken": "video2"},
         {"State": "true"}),
        ("tns1:Device/Trigger/DigitalInput", "Changed", {"InputToken": "input1"},
         {"LogicalState": "true"}),
    ]
    # SetSynchronizationPoint: every property again, as Initialized, with its current value
    await client.call_at(address, "pullpoint", "SetSynchronizationPoint", ADMIN)
    again = await pull(client, address)
    assert ("tns1:VideoSource/MotionAlarm", "Initialized", {"VideoSourceToken": "video2"},
            {"State": "true"}) in again


async def test_pull_messages_waits_up_to_its_timeout_and_answers_at_the_first_message(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    address = await subscribe(client)
    await pull(client, address)
    started = time.monotonic()
    assert await pull(client, address, wait="PT0.5S") == []
    assert time.monotonic() - started >= 0.5
    # a long timeout ends at the first message, well before it
    waiting = asyncio.create_task(pull(client, address, wait="PT50S"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    device.trigger_motion("video1", True)
    messages = await asyncio.wait_for(waiting, 10)
    assert [m[1] for m in messages] == ["Changed"]


async def test_message_limit_is_honoured(camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    address = await subscribe(client)
    first = await pull(client, address, limit=2)
    rest = await pull(client, address, limit=100)
    assert len(first) == 2
    assert len(rest) == len(device.events.properties) - 2


async def test_at_most_max_pull_points_live_at_once(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    assert device.max_pull_points == 2
    first = await subscribe(client)
    await subscribe(client)
    with pytest.raises(DeviceFault) as refused:
        await subscribe(client)
    assert refused.value.subcodes == ["CapabilityViolated", "MaxPullPoints"]
    await client.call_at(first, "subscription", "Unsubscribe", ADMIN)
    await subscribe(client)
    assert len(device.events.live()) == 2


async def test_a_pull_point_ends_at_its_termination_time_unless_renewed(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    device.events.clock = clock = FakeClock()
    renewed = await subscribe(client, "PT10S")
    lapsing = await subscribe(client, "PT10S")
    clock.now += 8
    reply = await client.call_at(renewed, "subscription", "Renew", ADMIN, TerminationTime="PT10S")
    assert (reply["TerminationTime"] - reply["CurrentTime"]).total_seconds() == 10
    clock.now += 8  # 16 s after creation: past the first TerminationTime
    assert len(await pull(client, renewed)) == len(device.events.properties)
    with pytest.raises(DeviceFault) as gone:
        await pull(client, lapsing)
    assert "ResourceUnknown" in gone.value.subcodes
    assert list(device.events.live()) == [1]


async def test_wrong_termination_time_switch_shifts_only_what_is_reported(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    device.termination_time_error = -3600.0
    reply = await client.call("events", "CreatePullPointSubscription", ADMIN,
                              InitialTerminationTime="PT60S")
    assert (reply["TerminationTime"] - reply["CurrentTime"]).total_seconds() == -3540
    address = str(reply["SubscriptionReference"]["Address"]["_value_1"])
    assert await pull(client, address)  # it is alive all the same


async def test_a_rebooted_or_dropping_device_forgets_its_pull_points(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    address = await subscribe(client)
    await client.call("device", "SystemReboot", ADMIN)
    with pytest.raises(DeviceFault):
        await pull(client, address)
    address = await subscribe(client)
    device.events.drop_all()
    with pytest.raises(DeviceFault):
        await pull(client, address)


@pytest.mark.parametrize(("when_empty", "cause"),
                         [("close", ClosedWithoutAnswer), ("empty", EmptyReply)])
async def test_pull_when_empty_gives_no_answer_only_to_the_pulls_with_nothing_to_send(
        start_device: StartDevice, when_empty: str, cause: type[Exception]) -> None:
    device, url = await start_device(pull_when_empty=when_empty)
    client = DeviceClient(DeviceConfig("cam", url), await shared_wsdls(WSDL_DIR), DeviceLimits())
    try:
        address = await subscribe(client)
        assert len(await pull(client, address)) == 4  # the Initialized messages are answered
        with pytest.raises(DeviceFault) as raised:
            await pull(client, address)
        assert isinstance(raised.value.__cause__, cause)  # closed twice, or an empty body
        device.trigger_motion("video1", True)
        assert [m[1] for m in await pull(client, address)] == ["Changed"]
    finally:
        await client.close()


async def test_require_addressing_refuses_a_request_without_ws_addressing(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    device.require_addressing = True
    address = await subscribe(client)
    # the gateway's client sends wsa:To, wsa:Action and wsa:MessageID to a pull point
    await client.call_at(address, "subscription", "Renew", ADMIN, TerminationTime="PT60S")
    bare = envelope('<wsnt:Renew xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">'
                    "<wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>",
                    as_admin(device))
    async with aiohttp.ClientSession() as session, session.post(address, data=bare) as answer:
        text = await answer.text()
    assert answer.status == 400
    assert "MessageAddressingHeaderRequired" in text


async def test_answers_follow_the_events_wsdl(
        camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    wsdl = offline_wsdl(EVENTS_WSDL)
    device, client = camera
    address = await subscribe(client)
    device.trigger_motion("video1", True)
    events_url = address.split("/dev/")[0] + "/dev/1/onvif/events_service"
    declare = f'xmlns:tev="{TEV}"'
    for url, operation, body, binding in (
        (events_url, "GetEventProperties", f"<tev:GetEventProperties {declare}/>",
         "EventBinding"),
        (events_url, "CreatePullPointSubscription",
         f"<tev:CreatePullPointSubscription {declare}/>", "EventBinding"),
        (address, "PullMessages", f"<tev:PullMessages {declare}><tev:Timeout>PT0S</tev:Timeout>"
         "<tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>",
         "PullPointSubscriptionBinding"),
    ):
        async with aiohttp.ClientSession() as session, session.post(
                url, data=envelope(body, as_admin(device))) as reply:
            answer = Answer(reply.status, await reply.read())
        assert answer.status == 200, answer.data
        check_schema(wsdl, operation, answer, f"{{{TEV}}}{binding}")


async def test_control_call_raises_events(camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    _device, client = camera
    address = await subscribe(client)
    await pull(client, address)
    base = address.split("/dev/")[0]
    async with aiohttp.ClientSession() as session:
        async with session.post(base + control_path(1), json={
                "kind": "input", "source": "input1", "state": True}) as answer:
            assert answer.status == 204
        async with session.post(base + control_path(1), json={"kind": "smoke"}) as answer:
            assert answer.status == 400
        async with session.get(base + control_path(1)) as answer:
            assert await answer.json() == {"created": 1, "live": 1, "peak": 1, "refused": 0}
    assert await pull(client, address) == [("tns1:Device/Trigger/DigitalInput", "Changed",
                                            {"InputToken": "input1"}, {"LogicalState": "true"})]


async def test_periodic_motion_toggles(camera: tuple[SimulatedDevice, DeviceClient]) -> None:
    device, client = camera
    address = await subscribe(client)
    await pull(client, address)
    device.motion_every = 0.1
    states: list[Any] = []
    while len(states) < 2:
        states += [m[3]["State"] for m in await pull(client, address, wait="PT5S")]
    assert states[:2] in (["true", "false"], ["false", "true"])
