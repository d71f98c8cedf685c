"""Imaging over HTTP (mappings/imaging.toml, focus.toml): a video source's settings joined with
the device's options, partial updates checked against those options before anything is sent,
read back (502 when the device only pretends), and continuous focus moves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, shared_wsdls
from gateway.errors import MappingError
from gateway.keys import LEASES
from gateway.mapping.spec import load_mappings
from gateway.simulator import SimulatedDevice
from tests.conftest import FakeClock, bearer, login

IMAGING = "/sources/video/video1/imaging"


@pytest.fixture
async def camera(start_device: Any, start_gateway: Any) -> Any:
    async def start(**options: Any) -> tuple[Any, dict[str, str], SimulatedDevice, FakeClock]:
        clock = FakeClock(50.0)
        device, url = await start_device(clock=clock, **options)
        client = await start_gateway(url, device_options={"username": "admin",
                                                          "password": "admin"},
                                     clock=clock)  # the leases' too: they end when it moves
        return client, bearer(await login(client, "operator", "operator")), device, clock

    return start


def sent(device: SimulatedDevice) -> list[str]:
    return [name for name, _ in device.calls if not name.startswith("Get")]


async def test_settings_joined_with_options(camera):
    client, auth, _, _ = await camera()
    user = bearer(await login(client, "user", "user"))  # reads: any user
    answer = await client.get(IMAGING, headers=user)
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["brightness"] == 50.0
    assert state["ir_cut_filter"] == "auto"
    assert state["exposure_mode"] == "auto"
    assert state["exposure_time"] == 10000.0
    assert state["focus_mode"] == "auto"
    assert state["white_balance"] == "auto"
    assert state["wide_dynamic_range"] == "off"
    assert state["backlight_compensation"] == "off"
    options = state["options"]
    assert options["brightness"] == {"min": 0.0, "max": 100.0}
    assert options["ir_cut_filter"] == ["on", "off", "auto"]
    assert options["exposure_mode"] == ["auto", "manual"]
    assert options["exposure_time"] == {"min": 10.0, "max": 40000.0}
    assert options["white_balance_cr_gain"] == {"min": 0.0, "max": 255.0}
    missing = await client.get("/sources/video/video9/imaging", headers=auth)
    assert missing.status == 404
    assert (await missing.json())["field"] == "path.name"


async def test_writes_at_once_each_read_back_their_own(camera):
    """Ten clients set the brightness at once: each write is read back before the next is
    made, so each answers what it set (nine were a 502 'did not apply', reading another's)."""
    client, auth, device, _ = await camera()
    answers = await asyncio.gather(*(client.put(IMAGING, headers=auth,
                                                json={"brightness": 10 + n}) for n in range(10)))
    assert [a.status for a in answers] == [200] * 10, await answers[0].text()
    assert sorted([(await a.json())["brightness"] for a in answers]) == [10.0 + n
                                                                         for n in range(10)]
    assert device.imaging["video1"].brightness in range(10, 20)
    admin = bearer(await login(client))
    for enabled in (0, 1):
        answers = await asyncio.gather(*(client.put("/discovery", headers=admin,
                                                    json={"enabled": (enabled + n) % 2})
                                         for n in range(6)))
        assert [a.status for a in answers] == [200] * 6


async def test_a_partial_update_keeps_the_rest(camera):
    client, auth, device, _ = await camera()
    answer = await client.put(IMAGING, headers=auth, json={
        "brightness": 70, "exposure_mode": "manual", "exposure_time": 2000,
        "ir_cut_filter": "off"})
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert (state["brightness"], state["exposure_mode"], state["exposure_time"],
            state["ir_cut_filter"]) == (70.0, "manual", 2000.0, "off")
    assert state["contrast"] == 50.0  # left as it was
    settings = device.imaging["video1"]
    assert (settings.brightness, settings.exposure_mode, settings.exposure_time,
            settings.ir_cut_filter, settings.contrast) == (70, "MANUAL", 2000, "OFF", 50)
    assert sent(device) == ["SetImagingSettings"]
    again = await client.put(IMAGING, headers=auth, json={"exposure_gain": 30})
    assert (await again.json())["exposure_mode"] == "manual"  # kept from the device
    assert device.imaging["video1"].exposure_gain == 30


async def test_out_of_range_is_a_400_and_nothing_is_sent(camera):
    client, auth, device, _ = await camera()
    for body, field, words in [({"brightness": 101}, "$.brightness", "0..100"),
                               ({"exposure_time": 5}, "$.exposure_time", "10..40000"),
                               ({"white_balance_cb_gain": -1}, "$.white_balance_cb_gain",
                                "0..255"),
                               ({"exposure_mode": "sometimes"}, "$.exposure_mode", "auto"),
                               ({"brightness": "bright"}, "$.brightness", "number"),
                               ({"hue": 3}, "$.hue", "unknown")]:
        refused = await client.put(IMAGING, headers=auth, json=body)
        assert refused.status == 400, body
        problem = await refused.json()
        assert problem["field"] == field
        assert words in problem["detail"], problem["detail"]
    assert sent(device) == []
    assert device.imaging["video1"].brightness == 50


async def test_a_stubbed_write_is_a_502(camera):
    # answers success and changes nothing, as stubbed imaging firmware does
    client, auth, _, _ = await camera(stub_writes={"SetImagingSettings"})
    answer = await client.put(IMAGING, headers=auth, json={"sharpness": 10})
    assert answer.status == 502
    assert "sharpness" in (await answer.json())["detail"]


async def test_a_user_cannot_change_imaging(camera):
    client, _, device, _ = await camera()
    user = bearer(await login(client, "user", "user"))
    device.calls.clear()
    refused = await client.put(IMAGING, headers=user, json={"brightness": 10})
    assert refused.status == 403
    moved = await client.put("/sources/video/video1/focus", headers=user,
                             json={"action": "move", "speed": 0.5})
    assert moved.status == 403
    assert device.calls == []


async def test_focus_moves_and_stops(camera):
    client, auth, device, clock = await camera()
    focus = "/sources/video/video1/focus"
    state = await (await client.get(focus, headers=auth)).json()
    assert state == {"position": 0.5, "move_status": "IDLE", "error": None,
                     "speed": {"min": -1.0, "max": 1.0}}
    moved = await client.put(focus, headers=auth, json={"action": "move", "speed": 0.25})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["move_status"] == "MOVING"
    clock.now += 1
    stopped = await client.put(focus, headers=auth, json={"action": "stop"})
    assert await stopped.json() == {"position": 0.75, "move_status": "IDLE", "error": None,
                                    "speed": {"min": -1.0, "max": 1.0}}
    for body, field in [({"action": "move", "speed": 2}, "$.speed"),
                        ({"action": "move"}, "$.speed")]:
        refused = await client.put(focus, headers=auth, json=body)
        assert (refused.status, (await refused.json())["field"]) == (400, field)

    device.unsupported = {"Move"}  # a fixed-focus camera
    lacking = await client.put(focus, headers=auth, json={"action": "move", "speed": 0.5})
    assert lacking.status == 501


async def test_openapi_documents_imaging(camera):
    client, _, _, _ = await camera()
    described = await (await client.get("/openapi.json")).json()
    for path in ("/sources/video/{name}/imaging", "/sources/video/{name}/focus"):
        assert path in described["paths"]
    assert "lease_ms" in described["components"]["schemas"]["FocusUpdate"]["properties"]
    update = described["components"]["schemas"]["ImagingUpdate"]
    assert update["properties"]["exposure_mode"]["enum"] == ["auto", "manual"]
    assert "required" not in update or update["required"] == []


async def test_a_focus_move_stops_by_itself_when_its_lease_ends(camera):
    # as a continuous PTZ move: a client that starts the focus moving and vanishes stops it
    client, auth, device, clock = await camera()
    focus = "/sources/video/video1/focus"
    moved = await client.put(focus, headers=auth,
                             json={"action": "move", "speed": 0.5, "lease_ms": 50})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["lease_ms"] == 50
    assert sent(device) == ["Move"]  # the lease ends when the clock passes it, not before
    clock.now += 1
    for _ in range(1000):  # the lease timer runs on the test's own loop; 10 s at most
        if "Stop" in sent(device):
            break
        await asyncio.sleep(0.01)
    assert sent(device) == ["Move", "Stop"]
    assert device.imaging["video1"].focus_speed == 0
    assert len(client.app[LEASES]) == 0

    # a stop ends the lease (no Stop later), logout stops a move at once
    await client.put(focus, headers=auth, json={"action": "move", "speed": 0.5,
                                                "lease_ms": 30000})
    assert len(client.app[LEASES]) == 1
    await client.put(focus, headers=auth, json={"action": "stop"})
    assert len(client.app[LEASES]) == 0
    await client.put(focus, headers=auth, json={"action": "move", "speed": -0.5})
    assert (await client.put("/logout", headers=auth)).status == 204
    assert sent(device)[-3:] == ["Stop", "Move", "Stop"]


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("imaging.toml", "optional = true", 'optional = "yes"',
     "get.calls.options.optional: must be true or false"),
    # an optional call's reply may be empty: it cannot feed a later call's arguments
    ("ptz.toml", 'Type = ["PTZ"] }\n', 'Type = ["PTZ"] }\noptional = true\n',
     "get[0].calls.node.arguments.NodeToken.reply: no call 'profile'"),
])
async def test_optional_calls_are_checked_at_start(tmp_path, file, old, new, message):
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    text = (MAPPINGS_DIR / file).read_text()
    assert old in text
    (tmp_path / file).write_text(text.replace(old, new))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)
