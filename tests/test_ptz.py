"""PTZ over HTTP (mappings/ptz*.toml): status and limits, moves checked against the node's
limits, continuous moves held under a lease that the gateway ends itself, presets, home, the
device switches (no RelativeMove, Stop refused, PTZ on one profile only), and user levels."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, shared_wsdls
from gateway.errors import MappingError
from gateway.keys import LEASES
from gateway.leases import Leases
from gateway.mapping.spec import load_mappings
from gateway.simulator import MEDIA, MEDIA2, RECEIVER, SimulatedDevice, SoapFault
from gateway.simulator.device import PTZ
from tests.conftest import FakeClock, bearer, login

MOVE = "/profiles/profile_1/ptz/move"


@pytest.fixture
async def ptz(start_device: Any, start_gateway: Any) -> Any:
    """A gateway in front of a simulated PTZ camera: (client, operator auth, device, clock).
    The clock is the device's and the gateway's (its leases, move_settle) unless options give
    the gateway another: nothing ends while the test does not move it."""

    async def start(**options: Any) -> tuple[Any, dict[str, str], SimulatedDevice, FakeClock]:
        clock = FakeClock()
        device, url = await start_device(clock=clock, **options.pop("device", {}))
        client = await start_gateway(url, **{"clock": clock, **options})
        auth = bearer(await login(client, "operator", "operator"))
        return client, auth, device, clock

    return start


def sent(device: SimulatedDevice) -> list[str]:
    """The names of the operations the device was asked to do (reads left out)."""
    return [name for name, _ in device.calls if not name.startswith("Get")]


async def wait_for(predicate: Any) -> None:
    """Until predicate() holds (the lease timers run on the test's own event loop); 10 s at
    most, however slow the machine."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("still not so after 10 s")


async def test_status_limits_and_what_the_node_supports(ptz):
    client, auth, device, _ = await ptz()
    user = bearer(await login(client, "user", "user"))  # reads: any user
    answer = await client.get("/profiles/profile_1/ptz", headers=user)
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["position"] == {"pan": 0.0, "tilt": 0.0, "zoom": 0.0}
    assert state["move_status"] == {"pan_tilt": "IDLE", "zoom": "IDLE"}
    assert state["node"] == "ptz_node"
    assert state["limits"] == {"pan": {"min": -1.0, "max": 1.0}, "tilt": {"min": -1.0, "max": 1.0},
                               "zoom": {"min": 0.0, "max": 1.0}}
    assert state["velocity"]["zoom"] == {"min": -1.0, "max": 1.0}
    assert state["translation"]["pan"] == {"min": -2.0, "max": 2.0}
    assert state["supports"] == {"pan_tilt": True, "zoom": True, "absolute": True,
                                 "relative": True, "continuous": True, "home": True, "presets": 8}

    device.ptz_relative_move = False
    device.ptz_profiles = {"profile_1"}  # PTZ on one profile only
    fresh = await client.get("/profiles/profile_1/ptz", headers=auth)
    assert (await fresh.json())["supports"]["relative"] is False
    assert (await fresh.json())["translation"] == {"pan": None, "tilt": None, "zoom": None}
    missing = await client.get("/profiles/profile_3/ptz", headers=auth)
    assert missing.status == 404
    problem = await missing.json()
    assert problem["field"] == "path.token"
    assert "PTZ" in problem["detail"]
    assert (await client.get("/profiles/nope/ptz", headers=auth)).status == 404


@pytest.mark.parametrize(("services", "phantom", "asked"), [
    ({MEDIA2, PTZ}, set(), "GetProfiles"),  # Media2 only: its GetProfiles with Type PTZ
    ({MEDIA, PTZ}, set(), "GetProfile"),  # Media1 only (Profile S)
    ({MEDIA, PTZ}, {MEDIA2}, "GetProfile"),  # Media2 listed, its address answering 404
])
async def test_ptz_over_media2_or_media1(ptz, services, phantom, asked):
    client, auth, device, _ = await ptz(device={"services": services, "phantom_services": phantom,
                                                "ptz_profiles": {"profile_1"}})
    answer = await client.get("/profiles/profile_1/ptz", headers=auth)
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["limits"] == {"pan": {"min": -1.0, "max": 1.0}, "tilt": {"min": -1.0, "max": 1.0},
                               "zoom": {"min": 0.0, "max": 1.0}}
    assert state["node"] == "ptz_node"
    names = [name for name, _ in device.calls]
    assert asked in names
    assert ({"GetProfile", "GetProfiles"} - {asked}).isdisjoint(names)

    out_of_range = await client.put(MOVE, headers=auth, json={**ABSOLUTE, "tilt": -1.5})
    assert (await out_of_range.json())["field"] == "$.tilt"  # the profile's limits
    moved = await client.put(MOVE, headers=auth, json=ABSOLUTE)
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["position"] == {"pan": 0.5, "tilt": -0.5, "zoom": 1.0}
    for token in ("profile_3", "nope"):  # without a PTZ configuration; unknown
        missing = await client.get(f"/profiles/{token}/ptz", headers=auth)
        assert missing.status == 404, token
        assert (await missing.json())["field"] == "path.token"


async def test_ptz_without_any_media_service_is_501_naming_what_it_needs(ptz):
    client, auth, _, _ = await ptz(device={"services": {PTZ}})
    answer = await client.get("/profiles/profile_1/ptz", headers=auth)
    assert answer.status == 501
    assert ("needs the media and ptz services, or the media2 and ptz services, which the device "
            "lacks") in (await answer.json())["detail"]


async def test_a_continuous_move_stops_by_itself_when_its_lease_ends(ptz):
    client, auth, device, clock = await ptz()
    answer = await client.put(MOVE, headers=auth,
                              json={"mode": "continuous", "pan": 0.5, "lease_ms": 100})
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["lease_ms"] == 100
    assert state["move_status"]["pan_tilt"] == "MOVING"
    assert sent(device) == ["ContinuousMove"]
    clock.now += 2
    await wait_for(lambda: "Stop" in sent(device))
    assert sent(device) == ["ContinuousMove", "Stop"]
    assert device.ptz.velocity == (0.0, 0.0, 0.0)
    assert device.ptz.pan == pytest.approx(0.5)  # 0.5 velocity * 0.5/s * 2 s
    assert len(client.app[LEASES]) == 0


async def test_a_lease_stop_the_device_did_not_answer_is_made_again(ptz, caplog):
    # the first Stop unanswered within device_timeout: the camera would keep turning
    client, auth, device, clock = await ptz(device={"held_unanswered_next": {"Stop": 1}},
                                            device_timeout=0.5)
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 0.5, "lease_ms": 100})
    clock.now += 1
    await wait_for(lambda: "trying again" in caplog.text)
    assert sent(device) == ["ContinuousMove", "Stop"]
    assert device.ptz.velocity == (0.5, 0.0, 0.0)
    clock.now += 1  # STOP_AGAIN_AFTER's first pause, on the leases' clock
    await wait_for(lambda: sent(device).count("Stop") == 2)
    assert sent(device) == ["ContinuousMove", "Stop", "Stop"]
    assert device.ptz.velocity == (0.0, 0.0, 0.0)
    again = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelname for r in again] == ["WARNING"]
    assert "failed, trying again in 1 s" in again[0].getMessage()
    assert "no answer within 0.5 s" in again[0].getMessage()


async def test_a_lease_stop_is_not_made_again_over_a_newer_move(ptz, caplog):
    # a joystick client whose lease ran out moves again while the Stop waits to be made again
    caplog.set_level(logging.INFO, logger="gateway.leases")
    client, auth, device, clock = await ptz(device={"held_unanswered_next": {"Stop": 1}},
                                            device_timeout=0.5)
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 0.5, "lease_ms": 100})
    clock.now += 1
    await wait_for(lambda: "trying again" in caplog.text)
    moved = await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 0.2,
                                                       "lease_ms": 30000})
    assert moved.status == 200, await moved.text()
    clock.now += 5  # past every pause, not the new lease's end
    await wait_for(lambda: "a newer command came" in caplog.text)
    assert sent(device) == ["ContinuousMove", "Stop", "ContinuousMove"]
    assert device.ptz.velocity == (0.2, 0.0, 0.0)


async def test_a_lease_stop_the_device_refused_is_not_made_again(ptz, caplog):
    fault = SoapFault(RECEIVER, ("Action", "HardwareFailure"), "the motor is stuck")
    client, auth, device, clock = await ptz(device={"faults": {"Stop": fault}})
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 0.5, "lease_ms": 100})
    clock.now += 1
    await wait_for(lambda: "the motor is stuck" in caplog.text)
    del device.faults["Stop"]  # it would stop now, were it asked again
    clock.now += 10  # past every pause
    await asyncio.sleep(0.2)
    assert sent(device) == ["ContinuousMove"]  # (a faulted request is not taken)
    assert device.ptz.velocity == (0.5, 0.0, 0.0)
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelname for r in failed] == ["WARNING"]
    assert "trying again" not in caplog.text


async def test_a_renewed_lease_is_one_lease_and_the_default_comes_from_gateway_ini(ptz):
    client, auth, device, clock = await ptz(move_lease=0.1, move_lease_max=60)
    first = await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 1,
                                                       "lease_ms": 60000})
    assert (await first.json())["lease_ms"] == 60000
    renewed = await client.put(MOVE, headers=auth, json={"mode": "continuous", "tilt": -1})
    assert (await renewed.json())["lease_ms"] == 100  # move_lease of gateway.ini
    clock.now += 1  # past the 100 ms lease, far from the 60 s one
    await wait_for(lambda: "Stop" in sent(device))
    assert sent(device) == ["ContinuousMove", "ContinuousMove", "Stop"]
    # the 60 s lease was replaced, not kept beside the new one
    assert len(client.app[LEASES]) == 0

    too_long = await client.put(MOVE, headers=auth, json={"mode": "continuous",
                                                          "lease_ms": 60001})
    assert too_long.status == 400
    assert (await too_long.json())["field"] == "$.lease_ms"


async def test_renewal_keeps_the_move_going() -> None:
    # in the process's own loop: the second hold replaces the first timer, whose end never stops
    stops: list[str] = []

    async def stop() -> None:
        stops.append("stop")

    leases = Leases(1, 10)
    await leases.hold("cam", b"session", 0.05, stop)
    await leases.hold("cam", b"session", 10, stop)
    await asyncio.sleep(0.2)
    assert stops == []
    await leases.end_owner(b"other")
    assert stops == []
    await leases.end_owner(b"session")
    assert stops == ["stop"]


async def test_a_continuous_move_stops_at_logout(ptz):
    client, auth, device, _ = await ptz()
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "zoom": 1,
                                               "lease_ms": 30000})
    assert (await client.put("/logout", headers=auth)).status == 204
    assert sent(device) == ["ContinuousMove", "Stop"]  # before the logout was answered


async def test_a_continuous_move_stops_when_the_session_expires(ptz):
    client, auth, device, clock = await ptz(session_idle_timeout=0.2)
    answer = await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": -1,
                                                        "lease_ms": 30000})
    assert (await answer.json())["lease_ms"] == 200  # never longer than the session lives idle
    clock.now += 1
    await wait_for(lambda: "Stop" in sent(device))


async def test_a_continuous_move_stops_when_the_gateway_shuts_down(ptz):
    client, auth, device, _ = await ptz()
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 1,
                                               "lease_ms": 30000})
    await client.close()
    assert sent(device) == ["ContinuousMove", "Stop"]


async def test_where_stop_is_refused_a_zero_velocity_stops(ptz):
    client, auth, device, clock = await ptz(device={"ptz_stop_refused": True})
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 1,
                                               "lease_ms": 50})
    clock.now += 1
    await wait_for(lambda: sent(device).count("ContinuousMove") == 2)
    assert sent(device) == ["ContinuousMove", "Stop", "ContinuousMove"]
    assert device.ptz.velocity == (0.0, 0.0, 0.0)

    await client.put(MOVE, headers=auth, json={"mode": "continuous", "tilt": 1})
    stopped = await client.put("/profiles/profile_1/ptz/stop", headers=auth, json={})
    assert stopped.status == 200, await stopped.text()
    state = await stopped.json()
    assert "zero-velocity ContinuousMove" in state["fallback"]
    assert state["move_status"] == {"pan_tilt": "IDLE", "zoom": "IDLE"}
    assert len(client.app[LEASES]) == 0  # a stop ends the lease: no second Stop later


async def test_stop_pan_tilt_only(ptz):
    client, auth, _, _ = await ptz()
    await client.put(MOVE, headers=auth, json={"mode": "continuous", "pan": 1, "zoom": 1})
    answer = await client.put("/profiles/profile_1/ptz/stop", headers=auth,
                              json={"pan_tilt": True, "zoom": False})
    assert (await answer.json())["move_status"] == {"pan_tilt": "IDLE", "zoom": "MOVING"}
    assert "fallback" not in await answer.json()


async def test_absolute_moves_are_checked_against_the_limits_then_verified(ptz):
    client, auth, device, _ = await ptz()
    for body, field in [({"mode": "absolute", "pan": 1.5, "tilt": 0, "zoom": 0}, "$.pan"),
                        ({"mode": "absolute", "pan": 0, "tilt": 0, "zoom": -0.1}, "$.zoom"),
                        ({"mode": "absolute", "pan": 0, "zoom": 0}, "$.tilt"),
                        ({"mode": "continuous", "pan": 2}, "$.pan"),
                        ({"mode": "sideways"}, "$.mode"),
                        ({"mode": "absolute", "pan": "left", "tilt": 0, "zoom": 0}, "$.pan")]:
        bad = await client.put(MOVE, headers=auth, json=body)
        assert bad.status == 400, body
        problem = await bad.json()
        assert problem["field"] == field, problem
    assert sent(device) == []  # nothing was sent
    problem = await (await client.put(MOVE, headers=auth, json={
        "mode": "absolute", "pan": 1.5, "tilt": 0, "zoom": 0})).json()
    assert "-1..1" in problem["detail"]

    answer = await client.put(MOVE, headers=auth,
                              json={"mode": "absolute", "pan": -0.25, "tilt": 0.5, "zoom": 1})
    assert answer.status == 200, await answer.text()
    assert (await answer.json())["position"] == {"pan": -0.25, "tilt": 0.5, "zoom": 1.0}
    assert sent(device) == ["AbsoluteMove"]

    device.stub_writes = {"AbsoluteMove"}  # answers success, does not move
    stubbed = await client.put(MOVE, headers=auth,
                               json={"mode": "absolute", "pan": 0, "tilt": 0, "zoom": 0})
    assert stubbed.status == 502
    assert "position.pan" in (await stubbed.json())["detail"]


def after_move(device: SimulatedDevice) -> list[str]:
    """The operations the device answered since the last AbsoluteMove (none before one)."""
    names = [name for name, _ in device.calls]
    if "AbsoluteMove" not in names:
        return []
    return names[len(names) - names[::-1].index("AbsoluteMove"):]


ABSOLUTE = {"mode": "absolute", "pan": 0.5, "tilt": -0.5, "zoom": 1}


async def test_an_absolute_move_is_verified_once_the_head_has_arrived(ptz):
    # a real head takes its time (3 s on the device's clock): the gateway reads the head back
    # while it says MOVING, and compares the position once it says IDLE (its wait, move_settle's
    # 10 s, is measured on the same clock: 3 s pass)
    client, auth, device, clock = await ptz(device={"ptz_move_seconds": 3})

    async def arrive() -> None:
        await wait_for(lambda: "GetStatus" in after_move(device))  # seen on its way
        clock.now += 3

    arriving = asyncio.create_task(arrive())
    answer = await client.put(MOVE, headers=auth, json=ABSOLUTE)
    await arriving
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["position"] == {"pan": 0.5, "tilt": -0.5, "zoom": 1.0}
    assert state["move_status"] == {"pan_tilt": "IDLE", "zoom": "IDLE"}
    assert after_move(device).count("GetStatus") >= 2  # on its way, then there


async def test_a_head_still_moving_when_the_wait_ends_is_a_502_saying_so(ptz):
    # the head's clock stands still; the gateway's passes its move_settle once the head has
    # been read back on its way twice
    waited = FakeClock()
    client, auth, device, _ = await ptz(device={"ptz_move_seconds": 3}, move_settle=0.3,
                                        clock=waited)

    async def wait_ends() -> None:
        await wait_for(lambda: after_move(device).count("GetStatus") >= 2)
        waited.now += 0.3

    ending = asyncio.create_task(wait_ends())
    answer = await client.put(MOVE, headers=auth, json=ABSOLUTE)
    await ending
    assert answer.status == 502
    detail = (await answer.json())["detail"]
    assert "position.pan = 0.0, not 0.5" in detail
    assert "move_status.pan_tilt = 'MOVING' after 0.3 s, move_settle of gateway.ini" in detail
    assert after_move(device).count("GetStatus") >= 2  # asked again before giving up


async def test_a_head_without_move_status_is_compared_at_once(ptz):
    # MoveStatus is optional: a device that does not report it is read back once, as it is
    client, auth, device, _ = await ptz(device={"ptz_move_status": False})
    answer = await client.put(MOVE, headers=auth, json=ABSOLUTE)
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["move_status"] is None
    assert state["position"] == {"pan": 0.5, "tilt": -0.5, "zoom": 1.0}

    device.ptz_move_seconds = 3  # now it is on its way, and says nothing of it
    answer = await client.put(MOVE, headers=auth, json={**ABSOLUTE, "pan": 0})
    assert answer.status == 502
    assert "MOVING" not in (await answer.json())["detail"]
    assert after_move(device).count("GetStatus") == 1


async def test_relative_moves_and_their_emulation(ptz):
    client, auth, device, _ = await ptz()
    moved = await client.put(MOVE, headers=auth, json={"mode": "relative", "pan": 0.5})
    assert (await moved.json())["position"] == {"pan": 0.5, "tilt": 0.0, "zoom": 0.0}
    assert "fallback" not in await moved.json()
    assert sent(device) == ["RelativeMove"]

    device.ptz_relative_move = False
    device.calls.clear()
    emulated = await client.put(MOVE, headers=auth,
                                json={"mode": "relative", "pan": 0.25, "zoom": 0.5})
    assert emulated.status == 200, await emulated.text()
    state = await emulated.json()
    assert state["position"] == {"pan": 0.75, "tilt": 0.0, "zoom": 0.5}
    assert state["fallback"] == ("relative move made as GetStatus + AbsoluteMove: the device "
                                 "has no RelativeMove")
    names = [name for name, _ in device.calls]
    assert names.index("RelativeMove") < names.index("AbsoluteMove")
    assert names[names.index("RelativeMove") + 1] == "GetStatus"
    assert "clamped" not in state

    # beyond the limits: the target is kept within them (not refused by the device), and said
    device.calls.clear()
    clamped = await client.put(MOVE, headers=auth,
                               json={"mode": "relative", "pan": 0.5, "tilt": -1.5, "zoom": 0.25})
    assert clamped.status == 200, await clamped.text()
    state = await clamped.json()
    assert state["position"] == {"pan": 1.0, "tilt": -1.0, "zoom": 0.75}
    assert state["clamped"] == {"pan": 1.0, "tilt": -1.0}
    assert "fallback" in state
    # (the simulated device refuses an AbsoluteMove outside its limits: ter:InvalidPosition)
    assert [name for name, _ in device.calls].count("AbsoluteMove") == 1


async def test_presets_create_goto_remove(ptz):
    client, auth, device, _ = await ptz()
    path = "/profiles/profile_1/ptz/presets"
    assert await (await client.get(path, headers=auth)).json() == {"presets": []}
    await client.put(MOVE, headers=auth, json={"mode": "absolute", "pan": 0.5, "tilt": -0.5,
                                               "zoom": 0.25})
    created = await client.put(path, headers=auth, json={"action": "create", "name": "door"})
    assert created.status == 200, await created.text()
    assert await created.json() == {"presets": [
        {"preset": "preset_1", "name": "door", "pan": 0.5, "tilt": -0.5, "zoom": 0.25}]}
    no_name = await client.put(path, headers=auth, json={"action": "create"})
    assert (await no_name.json())["field"] == "$.name"

    await client.put("/profiles/profile_1/ptz/home", headers=auth, json={"action": "goto"})
    assert (device.ptz.pan, device.ptz.tilt) == (0, 0)
    went = await client.put(path, headers=auth, json={"action": "goto", "preset": "preset_1"})
    assert went.status == 200
    assert (device.ptz.pan, device.ptz.tilt, device.ptz.zoom) == (0.5, -0.5, 0.25)
    removed = await client.put(path, headers=auth,
                               json={"action": "remove", "preset": "preset_1"})
    assert await removed.json() == {"presets": []}
    for action in ("goto", "remove"):  # a preset the device does not know: 404 naming it
        unknown = await client.put(path, headers=auth, json={"action": action,
                                                             "preset": "preset_1"})
        assert unknown.status == 404
        problem = await unknown.json()
        assert problem["fault_subcodes"] == ["InvalidArgVal", "NoToken"]
        assert problem["field"] == "$.preset"
        assert "preset 'preset_1'" in problem["detail"]
    again = await client.put(path, headers=auth, json={"action": "create", "name": "door"})
    assert again.status == 200
    taken = await client.put(path, headers=auth, json={"action": "create", "name": "door"})
    assert taken.status == 409  # ter:PresetExist
    assert (await taken.json())["field"] == "$.name"


async def test_home_set_and_goto(ptz):
    client, auth, device, _ = await ptz()
    home = "/profiles/profile_1/ptz/home"
    await client.put(MOVE, headers=auth, json={"mode": "absolute", "pan": 0.1, "tilt": 0.2,
                                               "zoom": 0.3})
    assert (await client.put(home, headers=auth, json={"action": "set"})).status == 200
    await client.put(MOVE, headers=auth, json={"mode": "absolute", "pan": 0, "tilt": 0,
                                               "zoom": 0})
    went = await client.put(home, headers=auth, json={"action": "goto"})
    assert (await went.json())["position"] == {"pan": 0.1, "tilt": 0.2, "zoom": 0.3}
    assert sent(device)[-2:] == ["AbsoluteMove", "GotoHomePosition"]


async def test_a_user_cannot_move(ptz):
    # the gateway learns the user's level with its service account (GetUsers)...
    client, _, device, _ = await ptz(device_options={"username": "admin", "password": "admin"})
    user = bearer(await login(client, "user", "user"))
    device.calls.clear()
    for path, body in [(MOVE, {"mode": "continuous", "pan": 1}),
                       ("/profiles/profile_1/ptz/stop", {}),
                       ("/profiles/profile_1/ptz/home", {"action": "set"}),
                       ("/profiles/profile_1/ptz/presets", {"action": "create", "name": "x"})]:
        refused = await client.put(path, headers=user, json=body)
        assert refused.status == 403, path
    assert [name for name, _ in device.calls] == []  # refused before any SOAP call

    # ... without it, the device itself refuses a User (ACTUATE is Operator and up): 403 too
    client, _, device, _ = await ptz()
    user = bearer(await login(client, "user", "user"))
    refused = await client.put(MOVE, headers=user, json={"mode": "continuous", "pan": 1})
    assert refused.status == 403
    assert "ContinuousMove" not in [name for name, _ in device.calls]


@pytest.mark.parametrize("mode", ["continuous", "absolute", "relative"])
async def test_a_move_of_no_axis_is_a_400_naming_them(ptz, mode):
    """ContinuousMove, AbsoluteMove and RelativeMove need their Velocity, Position or
    Translation: a body without pan, tilt or zoom has none to send."""
    client, auth, device, _ = await ptz()
    device.calls.clear()
    bodies = [{"mode": mode}] + ([{"mode": mode, "lease_ms": 500}] if mode == "continuous" else [])
    for body in bodies:
        response = await client.put(MOVE, headers=auth, json=body)
        assert response.status == 400, await response.text()
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["field"] == "$.pan"
        assert "'pan', 'tilt', 'zoom'" in problem["detail"]
    assert [name for name, _ in device.calls if "Move" in name] == []


async def test_a_field_its_action_does_not_take_is_a_400_naming_it(ptz):
    """lease_ms of an absolute move would be believed kept; a preset's name at goto believed
    set: each is refused, nothing sent."""
    client, auth, device, _ = await ptz()
    device.calls.clear()
    for path, body, field in (
            (MOVE, {"mode": "absolute", "pan": 0.1, "tilt": 0.1, "lease_ms": 500}, "$.lease_ms"),
            (MOVE, {"mode": "relative", "zoom": 0.1, "lease_ms": 500}, "$.lease_ms"),
            ("/profiles/profile_1/ptz/presets", {"action": "goto", "preset": "preset_1",
                                                 "name": "door"}, "$.name"),
            ("/profiles/profile_1/ptz/presets", {"action": "create", "name": "door",
                                                 "preset": "preset_1"}, "$.preset"),
            ("/sources/video/video1/focus", {"action": "stop", "speed": 0.5}, "$.speed")):
        response = await client.put(path, headers=auth, json=body)
        assert response.status == 400, (body, await response.text())
        assert response.content_type == "application/problem+json"
        assert (await response.json())["field"] == field
    assert [name for name, _ in device.calls if not name.startswith("Get")] == []
    assert device.ptz.presets == {}


async def test_openapi_documents_ptz(ptz):
    client, _, _, _ = await ptz()
    described = await (await client.get("/openapi.json")).json()
    paths = described["paths"]
    for path in ("/profiles/{token}/ptz", "/profiles/{token}/ptz/move",
                 "/profiles/{token}/ptz/stop", "/profiles/{token}/ptz/home",
                 "/profiles/{token}/ptz/presets"):
        assert path in paths
        assert f"/devices/{{device_id}}{path}" in paths
    schemas = described["components"]["schemas"]
    move = schemas["PtzMoveUpdate"]
    assert move["properties"]["mode"]["enum"] == ["continuous", "absolute", "relative"]
    assert move["required"] == ["mode"]
    # an absolute move's pan and tilt go together
    assert {"if": {"properties": {"mode": {"const": "absolute"}}, "required": ["tilt"]},
            "then": {"required": ["pan", "tilt"]}} in move["allOf"]
    assert "lease_ms" in schemas["PtzMoveDone"]["properties"]
    assert schemas["PtzMoveDone"]["properties"]["clamped"]["additionalProperties"] == {
        "type": "number"}


@pytest.mark.parametrize(("old", "new", "message"), [
    ('"move_status.zoom" = "MOVING"', '"move_status.focus" = "MOVING"',
     "put.cases.absolute.wait_while: unknown key 'move_status.focus'"),
    ('within = ["limits.zoom.min", "limits.zoom.max"]', 'within = ["limits.zoom.min"]',
     "Position.Zoom.x.within: [min, max], two fields of the GET"),
    ('{ field = "zoom", default = 0 }], within', '{ param = "token" }], within',
     "Position.Zoom.x.sum: only numbers add up"),
    ('{ field = "zoom", default = 0 }], within', '{ field = "zoom", default = 0 }, '
     '{ field = "pan", default = 0 }], within', "Position.Zoom.x.within: the sum adds one body"),
    ('given = ["zoom"] } }\n\n[put.cases.continuous.lease]',
     'given = ["zom"] } }\n\n[put.cases.continuous.lease]',
     "Velocity.Zoom.given[0].field: the body has no field 'zom'"),
    ('given = ["zoom"] } }\n\n[put.cases.continuous.lease]',
     'given = "zoom" } }\n\n[put.cases.continuous.lease]',
     "Velocity.Zoom.given: a list of body fields"),
    ('ProfileToken = { param = "token" }\nVelocity = {',
     'ProfileToken = { param = "token" }\nVelocity = { given = ["pan"],',
     "Velocity.given: ContinuousMove needs 'Velocity' always"),
    ('Zoom = { x = 0, when = "supports.zoom" }', 'Zoom = { x = 0, when = "supports.zom" }',
     "Velocity.Zoom.when: 'supports.zom' is not a field of the GET"),
    ('together = [["pan", "tilt"]]', 'together = [["pan", "tlt"]]',
     "absolute.together: the body has no field 'tlt'"),
    ('together = [["pan", "tilt"]]', 'together = ["pan", "tilt"]',
     "absolute.together: a list of lists"),
    ('tilt = "supports.pan_tilt", zoom = "supports.zoom" }\nranges = { pan = { min = "limits',
     'tilt = "supports.pan_tlt", zoom = "supports.zoom" }\nranges = { pan = { min = "limits',
     "absolute.supported.tilt: 'supports.pan_tlt' is not a field of the GET"),
])
async def test_wait_while_and_within_are_checked_at_start(tmp_path, old, new, message):
    for name in ("enums.toml", "ptz.toml"):
        (tmp_path / name).write_text((MAPPINGS_DIR / name).read_text())
    move = (MAPPINGS_DIR / "ptz-move.toml").read_text()
    assert old in move
    (tmp_path / "ptz-move.toml").write_text(move.replace(old, new))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)


ELSE = 'operation = "GetNodes"\nmatch = { "PTZNode.token"'
MATCH = ('match = { "PTZNode.token" = { reply = "profile", element = '
         '"Profiles.Configurations.PTZ.NodeToken" } }\n')


@pytest.mark.parametrize(("old", "new", "message"), [
    ('operation = "GetNodes"\n' + MATCH, 'operation = "GetConfigurations"\n',
     "calls.node.else: its answer has no PTZNode of type PTZNode"),
    (ELSE, 'operation = "GetNodes"\nmatch = { "PTZNode.name"',
     "calls.node.else.match.PTZNode.name: 'name' (part 2 of 'PTZNode.name')"),
    (ELSE, 'operation = "GetNodes"\nmatch = { "PTZNode"',
     "calls.node.else.match.PTZNode: \"Entry.key\""),
    (ELSE, 'operation = "GetNodes"\nmatch = { "PTZNode.Name" = { param = "token" }, '
     '"PTZNode.token"', "calls.node.else.match: one"),
    (MATCH, 'match = { "PTZNode.token" = "ptz_node" }\n',
     "calls.node.else.match.PTZNode.token: { reply = ..., element = ... } or { param = ... }"),
    ('optional = true\n', 'optional = "yes"\n', "calls.node.else.optional: must be true or false"),
    ('operation = "GetNode"\n', 'operation = "GetNode"\noptional = true\n',
     "calls.node.optional: not with `else`"),
    ('"PTZNode.SupportedPTZSpaces.ContinuousZoomVelocitySpace"], from',
     '"PTZNode.SupportedPTZSpaces.Nothing"], from', "supports.zoom.exists[2]: 'Nothing'"),
    ('missing = "node" }', 'missing = "nodes" }',
     "fields.node_unknown.missing: no call 'nodes' in calls (known: profile, node, GetStatus)"),
    # the read's own reply may be missing (optional): named after its operation
    ('optional = true  #', 'optional = "yes"  #', "get[0].optional: must be true or false"),
    ('optional = true  #', 'optional = false  #',
     "fields.status_unknown.missing: no call 'GetStatus' in calls (known: profile, node)"),
    ('missing = "node" }', 'missing = "profile" }',
     "fields.node_unknown.missing: call 'profile' always has a reply"),
    ('missing = "node" }', 'missing = "node", of = "VideoSource" }',
     "fields.node_unknown: unknown key 'of'"),
])
async def test_else_match_and_exists_are_checked_at_start(tmp_path, old, new, message):
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    read = (MAPPINGS_DIR / "ptz.toml").read_text()
    assert old in read
    (tmp_path / "ptz.toml").write_text(read.replace(old, new, 1))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)
