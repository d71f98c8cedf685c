"""The simulated device's PTZ service (ver20) and its switches, over real HTTP with hand-built
SOAP 1.2 envelopes; every answer is checked against the official WSDL."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from gateway.simulator import SimulatedDevice, create_simulator_app, service_path
from tests.conftest import FakeClock
from tests.simulator_helpers import (
    TER,
    TT,
    WSDL_DIR,
    Answer,
    as_admin,
    call,
    check_schema,
    offline_wsdl,
)

TPTZ = "http://www.onvif.org/ver20/ptz/wsdl"
BINDING = f"{{{TPTZ}}}PTZBinding"
NS = {"tptz": TPTZ, "tt": TT}
PTZ_WSDL = offline_wsdl(WSDL_DIR / "ver20/ptz/wsdl/ptz.wsdl")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def device(clock: FakeClock) -> SimulatedDevice:
    return SimulatedDevice(clock=clock)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, device: SimulatedDevice) -> TestClient[Any, Any]:
    return await aiohttp_client(create_simulator_app([device]))


async def ptz(client: TestClient[Any, Any], device: SimulatedDevice, operation: str,
              arguments: str = "", status: int = 200) -> Answer:
    body = (f'<tptz:{operation} xmlns:tptz="{TPTZ}" xmlns:tt="{TT}">{arguments}'
            f"</tptz:{operation}>")
    answer = await call(client, body, as_admin(device), path=service_path(1, "ptz"))
    assert answer.status == status, answer.data
    if status == 200:
        check_schema(PTZ_WSDL, operation, answer, BINDING)
    return answer


def vector(pan: float, tilt: float, zoom: float) -> str:
    return f'<tt:PanTilt x="{pan}" y="{tilt}"/><tt:Zoom x="{zoom}"/>'


async def position(client: TestClient[Any, Any], device: SimulatedDevice,
                   profile: str = "profile_1") -> tuple[float, float, float, str]:
    answer = await ptz(client, device, "GetStatus", f"<tptz:ProfileToken>{profile}"
                       "</tptz:ProfileToken>")
    pan_tilt = answer.body.find("tptz:PTZStatus/tt:Position/tt:PanTilt", NS)
    zoom = answer.body.find("tptz:PTZStatus/tt:Position/tt:Zoom", NS)
    assert pan_tilt is not None
    assert zoom is not None
    moving = answer.body.findtext("tptz:PTZStatus/tt:MoveStatus/tt:PanTilt", namespaces=NS)
    return (float(pan_tilt.get("x", "")), float(pan_tilt.get("y", "")), float(zoom.get("x", "")),
            str(moving))


P1 = "<tptz:ProfileToken>profile_1</tptz:ProfileToken>"


async def test_a_continuous_move_goes_on_with_the_clock_until_stop(client, device, clock):
    await ptz(client, device, "ContinuousMove",
              P1 + f"<tptz:Velocity>{vector(0.5, -1, 0)}</tptz:Velocity>")
    assert await position(client, device) == (0, 0, 0, "MOVING")
    clock.now += 2  # 0.5 * 0.5/s * 2 s = 0.5; -1 * 0.5/s * 2 s = -1
    assert await position(client, device) == (0.5, -1, 0, "MOVING")
    clock.now += 10  # tilt stays at its limit; pan reaches its own
    assert await position(client, device) == (1, -1, 0, "IDLE")
    await ptz(client, device, "ContinuousMove",
              P1 + f"<tptz:Velocity>{vector(-1, 0, 1)}</tptz:Velocity>")
    clock.now += 1
    await ptz(client, device, "Stop", P1)
    clock.now += 5
    assert await position(client, device) == (0.5, -1, 0.25, "IDLE")
    assert [name for name, _ in device.calls].count("Stop") == 1


async def test_absolute_relative_home_and_limits(client, device):
    await ptz(client, device, "AbsoluteMove", P1 + f"<tptz:Position>{vector(0.2, 0.3, 0.4)}"
              "</tptz:Position>")
    assert await position(client, device) == (0.2, 0.3, 0.4, "IDLE")
    await ptz(client, device, "SetHomePosition", P1)
    await ptz(client, device, "RelativeMove", P1 + f"<tptz:Translation>{vector(0.5, -0.5, 0)}"
              "</tptz:Translation>")
    assert await position(client, device) == (0.7, -0.2, 0.4, "IDLE")
    refused = await ptz(client, device, "AbsoluteMove", P1 + f"<tptz:Position>"
                        f"{vector(1.5, 0, 0)}</tptz:Position>", status=400)
    assert refused.fault()[1] == [f"{{{TER}}}InvalidArgVal", f"{{{TER}}}InvalidPosition"]
    await ptz(client, device, "GotoHomePosition", P1)
    assert await position(client, device) == (0.2, 0.3, 0.4, "IDLE")


async def test_presets(client, device):
    await ptz(client, device, "AbsoluteMove", P1 + f"<tptz:Position>{vector(-0.5, 0.5, 1)}"
              "</tptz:Position>")
    made = await ptz(client, device, "SetPreset", P1 + "<tptz:PresetName>door</tptz:PresetName>")
    token = made.text(f"{{{TPTZ}}}PresetToken")
    assert token == "preset_1"
    again = await ptz(client, device, "SetPreset", P1 + "<tptz:PresetName>door</tptz:PresetName>",
                      status=400)
    assert f"{{{TER}}}PresetExist" in again.fault()[1]
    listed = await ptz(client, device, "GetPresets", P1)
    assert [p.get("token") for p in listed.body] == ["preset_1"]
    assert listed.body.findtext("tptz:Preset/tt:Name", namespaces=NS) == "door"
    await ptz(client, device, "GotoHomePosition", P1)
    await ptz(client, device, "GotoPreset", P1 + "<tptz:PresetToken>preset_1</tptz:PresetToken>")
    assert await position(client, device) == (-0.5, 0.5, 1, "IDLE")
    await ptz(client, device, "RemovePreset", P1 + "<tptz:PresetToken>preset_1</tptz:PresetToken>")
    gone = await ptz(client, device, "GotoPreset",
                     P1 + "<tptz:PresetToken>preset_1</tptz:PresetToken>", status=400)
    assert f"{{{TER}}}NoToken" in gone.fault()[1]


async def test_node_configuration_and_media_profiles(client, device):
    node = await ptz(client, device, "GetNode", "<tptz:NodeToken>ptz_node</tptz:NodeToken>")
    spaces = node.body.find("tptz:PTZNode/tt:SupportedPTZSpaces", NS)
    assert spaces is not None
    assert spaces.findtext("tt:AbsoluteZoomPositionSpace/tt:XRange/tt:Max", namespaces=NS) == "1"
    await ptz(client, device, "GetConfigurations")
    await ptz(client, device, "GetNodes")
    profile = await call(client, '<trt:GetProfile><trt:ProfileToken>profile_1</trt:ProfileToken>'
                         "</trt:GetProfile>", as_admin(device), path=service_path(1, "media"))
    assert profile.text("trt:Profile/tt:PTZConfiguration/tt:NodeToken") == "ptz_node"


async def test_switches(client, device):
    # PTZ on one profile only: the other profiles have no PTZ configuration
    device.ptz_profiles = {"profile_1"}
    other = await ptz(client, device, "GetStatus",
                      "<tptz:ProfileToken>profile_3</tptz:ProfileToken>", status=400)
    assert f"{{{TER}}}NoPTZProfile" in other.fault()[1]
    profile = await call(client, '<trt:GetProfile><trt:ProfileToken>profile_3</trt:ProfileToken>'
                         "</trt:GetProfile>", as_admin(device), path=service_path(1, "media"))
    assert profile.text("trt:Profile/tt:PTZConfiguration/tt:NodeToken") is None
    # no relative move: refused, and the node lists no relative space
    device.ptz_relative_move = False
    refused = await ptz(client, device, "RelativeMove", P1 + f"<tptz:Translation>"
                        f"{vector(0, 0, 0)}</tptz:Translation>", status=500)
    assert f"{{{TER}}}ActionNotSupported" in refused.fault()[1]
    node = await ptz(client, device, "GetNode", "<tptz:NodeToken>ptz_node</tptz:NodeToken>")
    assert node.body.find("tptz:PTZNode/tt:SupportedPTZSpaces/tt:RelativePanTiltTranslationSpace",
                          NS) is None
    # Stop refused: a zero velocity stops the move instead
    device.ptz_stop_refused = True
    await ptz(client, device, "ContinuousMove",
              P1 + f"<tptz:Velocity>{vector(1, 0, 0)}</tptz:Velocity>")
    await ptz(client, device, "Stop", P1, status=500)
    assert (await position(client, device))[3] == "MOVING"
    await ptz(client, device, "ContinuousMove",
              P1 + f"<tptz:Velocity>{vector(0, 0, 0)}</tptz:Velocity>")
    assert (await position(client, device))[3] == "IDLE"


@pytest.mark.parametrize(("switch", "lacking", "kept"), [
    ("ptz_zoom", '<tt:Zoom x="0"/>', '<tt:PanTilt x="0.5" y="0"/>'),
    ("ptz_pan_tilt", '<tt:PanTilt x="0" y="0"/>', '<tt:Zoom x="0.5"/>'),
])
async def test_a_head_lacking_an_axis_refuses_to_hear_of_it(client, device, switch, lacking,
                                                            kept):
    setattr(device, switch, False)
    axis = "Zoom" if switch == "ptz_zoom" else "PanTilt"
    node = await ptz(client, device, "GetNode", "<tptz:NodeToken>ptz_node</tptz:NodeToken>")
    spaces = node.body.find("tptz:PTZNode/tt:SupportedPTZSpaces", NS)
    assert spaces is not None
    assert not [e for e in spaces if axis in e.tag]  # no space of that axis
    status = await ptz(client, device, "GetStatus", P1)
    assert status.body.find(f"tptz:PTZStatus/tt:Position/tt:{axis}", NS) is None
    refused = await ptz(client, device, "ContinuousMove",
                        P1 + f"<tptz:Velocity>{kept}{lacking}</tptz:Velocity>", status=400)
    assert f"{{{TER}}}SpaceNotSupported" in refused.fault()[1]
    await ptz(client, device, "ContinuousMove", P1 + f"<tptz:Velocity>{kept}</tptz:Velocity>")
    for value in ("true", "false"):
        await ptz(client, device, "Stop", P1 + f"<tptz:{axis}>{value}</tptz:{axis}>",
                  status=400)
    assert device.ptz.velocity != (0.0, 0.0, 0.0)
    await ptz(client, device, "Stop", P1)  # naming no axis: every axis it has stops
    assert device.ptz.velocity == (0.0, 0.0, 0.0)


async def test_a_head_that_takes_time_to_reach_a_position(client, device, clock):
    # ptz_move_seconds: a real head moves at finite speed, MOVING on its way
    device.ptz_move_seconds = 2
    await ptz(client, device, "AbsoluteMove", P1 + f"<tptz:Position>{vector(1, -1, 0.5)}"
              "</tptz:Position>")
    assert await position(client, device) == (0, 0, 0, "MOVING")
    clock.now += 1
    assert await position(client, device) == (0.5, -0.5, 0.25, "MOVING")
    clock.now += 1
    assert await position(client, device) == (1, -1, 0.5, "IDLE")
    # Stop halts it where it is
    await ptz(client, device, "GotoHomePosition", P1)
    clock.now += 1
    await ptz(client, device, "Stop", P1)
    clock.now += 5
    assert await position(client, device) == (0.5, -0.5, 0.25, "IDLE")
    # stopping the zoom alone: pan and tilt go on to their target
    await ptz(client, device, "AbsoluteMove", P1 + f"<tptz:Position>{vector(1, 1, 1)}"
              "</tptz:Position>")
    clock.now += 1
    await ptz(client, device, "Stop", P1 + "<tptz:PanTilt>false</tptz:PanTilt>"
              "<tptz:Zoom>true</tptz:Zoom>")
    clock.now += 1
    assert await position(client, device) == (1, 1, 0.625, "IDLE")


async def test_a_head_that_reports_no_move_status(client, device):
    device.ptz_move_status = False
    answer = await ptz(client, device, "GetStatus", P1)  # still valid against the schema
    assert answer.body.find("tptz:PTZStatus/tt:MoveStatus", NS) is None
    assert answer.body.find("tptz:PTZStatus/tt:Position", NS) is not None
