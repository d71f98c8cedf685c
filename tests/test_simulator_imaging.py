"""The simulated device's Imaging service (ver20): settings, options, focus moves; every answer
is checked against the official WSDL."""

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

TIMG = "http://www.onvif.org/ver20/imaging/wsdl"
BINDING = f"{{{TIMG}}}ImagingBinding"
NS = {"timg": TIMG, "tt": TT}
IMAGING_WSDL = offline_wsdl(WSDL_DIR / "ver20/imaging/wsdl/imaging.wsdl")
SOURCE = "<timg:VideoSourceToken>video1</timg:VideoSourceToken>"


@pytest.fixture
def device() -> SimulatedDevice:
    return SimulatedDevice(clock=lambda: 10.0)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, device: SimulatedDevice) -> TestClient[Any, Any]:
    return await aiohttp_client(create_simulator_app([device]))


async def imaging(client: TestClient[Any, Any], device: SimulatedDevice, operation: str,
                  arguments: str = SOURCE, status: int = 200) -> Answer:
    body = (f'<timg:{operation} xmlns:timg="{TIMG}" xmlns:tt="{TT}">{arguments}'
            f"</timg:{operation}>")
    answer = await call(client, body, as_admin(device), path=service_path(1, "imaging"))
    assert answer.status == status, answer.data
    if status == 200:
        check_schema(IMAGING_WSDL, operation, answer, BINDING)
    return answer


async def test_settings_and_options_follow_the_schema(client, device):
    settings = await imaging(client, device, "GetImagingSettings")
    assert settings.body.findtext("timg:ImagingSettings/tt:Exposure/tt:Mode",
                                  namespaces=NS) == "AUTO"
    options = await imaging(client, device, "GetOptions")
    modes = options.body.findall("timg:ImagingOptions/tt:IrCutFilterModes", NS)
    assert [m.text for m in modes] == ["ON", "OFF", "AUTO"]
    assert options.body.findtext("timg:ImagingOptions/tt:WhiteBalance/tt:YrGain/tt:Max",
                                 namespaces=NS) == "255"
    await imaging(client, device, "GetMoveOptions")
    await imaging(client, device, "GetStatus")


async def test_set_checks_every_value_then_sets_all(client, device):
    good = ("<timg:ImagingSettings><tt:Exposure><tt:Mode>MANUAL</tt:Mode>"
            "<tt:ExposureTime>500</tt:ExposureTime></tt:Exposure>"
            "<tt:IrCutFilter>ON</tt:IrCutFilter></timg:ImagingSettings>")
    await imaging(client, device, "SetImagingSettings", SOURCE + good)
    settings = device.imaging["video1"]
    assert (settings.exposure_mode, settings.exposure_time, settings.ir_cut_filter) == (
        "MANUAL", 500, "ON")
    bad = ("<timg:ImagingSettings><tt:Brightness>20</tt:Brightness>"
           "<tt:WhiteBalance><tt:Mode>SOMETIMES</tt:Mode></tt:WhiteBalance>"
           "</timg:ImagingSettings>")
    refused = await imaging(client, device, "SetImagingSettings", SOURCE + bad, status=400)
    assert f"{{{TER}}}SettingsInvalid" in refused.fault()[1]
    assert settings.brightness == 50  # nothing set


async def test_focus_moves_with_the_clock(client, device):
    device.clock = clock = FakeClock(10.0)
    await imaging(client, device, "Move", SOURCE + "<timg:Focus><tt:Continuous>"
                  "<tt:Speed>-0.1</tt:Speed></tt:Continuous></timg:Focus>")
    clock.now += 2
    status = await imaging(client, device, "GetStatus")
    assert status.body.findtext("timg:Status/tt:FocusStatus20/tt:Position",
                                namespaces=NS) == "0.3"
    assert status.body.findtext("timg:Status/tt:FocusStatus20/tt:MoveStatus",
                                namespaces=NS) == "MOVING"
    await imaging(client, device, "Stop")
    clock.now += 2
    status = await imaging(client, device, "GetStatus")
    assert status.body.findtext("timg:Status/tt:FocusStatus20/tt:Position",
                                namespaces=NS) == "0.3"
