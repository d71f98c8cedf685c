"""Move leases with several instances sharing one Redis: a lease whose instance died is stopped
by another instance, once."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gateway.simulator import RECEIVER, SoapFault
from gateway.state.redisstore import LEASE_ENDS, RedisLeases, connect
from tests.conftest import bearer
from tests.events_helpers import eventually

MOVE = "/profiles/profile_1/ptz/move"


def sent(device):
    """The names of the operations the device was asked to do (reads left out)."""
    return [name for name, _ in device.calls if not name.startswith("Get")]


@pytest.mark.slow
async def test_a_move_whose_instance_is_killed_is_stopped_by_the_other(gateway_processes,
                                                                       redis_url):
    # Nobody sent Stop: the camera turned until another command reached it.
    device, start, processes = gateway_processes
    a, b = await start("a"), await start("b")
    async with aiohttp.ClientSession() as http:
        login = await http.put(f"{a}/login", json={"username": "admin", "password": "admin"})
        auth = bearer((await login.json())["sessionToken"])
        move = await http.put(f"{a}{MOVE}", headers=auth,
                              json={"mode": "continuous", "pan": 0.5, "lease_ms": 1000})
        assert move.status == 200, await move.text()
        assert device.ptz.velocity[0] == 0.5
        processes["a"].kill()  # no shutdown: a cannot stop anything
        await processes["a"].wait()
        # b stops it once a's lease has ended and a has not said it lives for 2 s (ALIVE)
        await eventually(lambda: "Stop" in sent(device), within=20)
        assert device.ptz.velocity == (0.0, 0.0, 0.0)
        redis = connect(redis_url)
        assert await redis.zcard(LEASE_ENDS) == 0  # claimed: nobody stops it again
        await redis.aclose()
        assert sent(device) == ["ContinuousMove", "Stop"]
        async with http.get(f"{b}/profiles/profile_1/ptz", headers=auth) as status:
            assert (await status.json())["move_status"]["pan_tilt"] == "IDLE"


async def test_one_instance_alone_claims_a_dead_holders_lease(redis_url):
    redis = connect(redis_url)
    book = RedisLeases(redis)
    assert await book.take('["cam"]', "dead", 0, "stop it")  # ran out at once
    claims = await asyncio.gather(*(book.claim(f"live-{n}", 3) for n in range(4)))
    assert sorted(claims) == [[], [], [], [('["cam"]', "stop it")]]
    assert not await book.ended('["cam"]', "dead")  # had it been alive after all: no 2nd stop
    await redis.aclose()


async def test_a_live_holders_lease_is_left_to_it(redis_url):
    redis = connect(redis_url)
    book = RedisLeases(redis)
    assert await book.claim("holder", 3) == []  # it lives
    assert await book.take('["cam"]', "holder", 0, "stop it")
    assert await book.claim("other", 3) == []
    assert await book.ended('["cam"]', "holder")  # its own end stops it
    assert await redis.zcard(LEASE_ENDS) == 0
    await book.supersede('["cam"]', 1)  # a newer command through another instance
    assert await book.claim("other", 3) == []
    await redis.aclose()


@pytest.mark.parametrize("account", [True, False])
async def test_a_dead_instances_lease_is_stopped_as_the_devices_account(
        start_device, start_gateway, redis_url, tmp_path, caplog, account):
    """The session's password is not to be had: the Stop is made as the device's account of
    gateway.ini; a device without one is left as it is, and that is logged."""
    device, url = await start_device()
    options = {"username": "operator", "password": "operator"} if account else {}
    await start_gateway(url, options, redis_url=redis_url, state_dir=tmp_path)
    redis = connect(redis_url)
    # what a killed instance left: a lease on profile_1's continuous move, run out
    assert await RedisLeases(redis).take('["cam",["token","profile_1"]]', "dead", 0,
                                         '["ptz-move","continuous"]')
    await redis.aclose()
    if account:
        await eventually(lambda: "Stop" in sent(device))  # (the device checks who asks)
        assert sent(device) == ["Stop"]
    else:
        await eventually(lambda: "has no username and password" in caplog.text)
        assert "Stop" not in sent(device)


async def test_a_dead_instances_focus_move_is_stopped_too(start_device, start_gateway,
                                                          redis_url, tmp_path):
    device, url = await start_device()
    await start_gateway(url, {"username": "operator", "password": "operator"},
                        redis_url=redis_url, state_dir=tmp_path)
    redis = connect(redis_url)
    assert await RedisLeases(redis).take('["cam",["name","video1"]]', "dead", 0,
                                         '["focus","move"]')
    await redis.aclose()
    await eventually(lambda: "Stop" in sent(device))
    stop = next(element for name, element in device.calls if name == "Stop")
    assert "imaging" in stop.tag  # timg:Stop of video1's focus
    assert stop.findtext("{*}VideoSourceToken") == "video1"


@pytest.mark.parametrize("left", ["gone", "refused"])
async def test_a_takeover_that_cannot_stop_says_why_in_a_line(
        start_device, start_gateway, redis_url, tmp_path, caplog, left):
    """A dead instance's lease on a device this instance does not know (removed since), or one
    whose device refuses the Stop: a warning saying why, not a traceback (it is the device's
    answer, not the gateway's failure)."""
    fault = SoapFault(RECEIVER, ("Action", "HardwareFailure"), "the motor is stuck")
    # (the device's fault, quoted in the warning, says the Stop reached it)
    _, url = await start_device(faults={"Stop": fault} if left == "refused" else {})
    await start_gateway(url, {"username": "operator", "password": "operator"},
                        redis_url=redis_url, state_dir=tmp_path)
    name = "gone" if left == "gone" else "cam"
    redis = connect(redis_url)
    assert await RedisLeases(redis).take(f'["{name}",["token","profile_1"]]', "dead", 0,
                                         '["ptz-move","continuous"]')
    await redis.aclose()
    await eventually(lambda: "failed" in caplog.text)
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelname for r in failed] == ["WARNING"]
    assert failed[0].exc_info is None
    assert ("no device 'gone'" if left == "gone" else "the motor is stuck") \
        in failed[0].getMessage()


async def test_a_takeover_stop_the_device_did_not_answer_is_made_again(
        start_device, start_gateway, redis_url, tmp_path, caplog):
    # the first Stop unanswered within device_timeout: made again a second later (real time)
    device, url = await start_device(held_unanswered_next={"Stop": 1})
    await start_gateway(url, {"username": "operator", "password": "operator"},
                        redis_url=redis_url, state_dir=tmp_path, device_timeout=0.5)
    redis = connect(redis_url)
    assert await RedisLeases(redis).take('["cam",["token","profile_1"]]', "dead", 0,
                                         '["ptz-move","continuous"]')
    await redis.aclose()
    await eventually(lambda: sent(device).count("Stop") == 2)
    assert "failed, trying again in 1 s" in caplog.text
    assert "no answer within 0.5 s" in caplog.text
    assert not device.held_unanswered_next["Stop"]
