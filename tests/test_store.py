"""The policy store: whole writes, durable across restarts, and intact after a kill -9 mid-burst."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from gateway.simulator import VideoSource
from gateway.state.store import SqlitePolicyStore
from tests.processes import port_of, start, stop

SOURCES = [f"video{i}" for i in range(1, 201)]
BURST = 300


def pattern(n: int) -> dict[str, list[dict[str, object]]]:
    """PUT body number n: its own random pattern of flags, so that any mix of two is seen."""
    flags = random.Random(n)
    return {"sources": [{"name": name, "enabled": flags.randint(0, 1)} for name in SOURCES]}


async def test_a_write_is_whole_or_nothing(tmp_path):
    store = SqlitePolicyStore(tmp_path / "p.sqlite3")
    await store.open()
    await store.set_enabled("cam", "video-sources", {"video1": 1, "video2": 1})
    with pytest.raises(sqlite3.IntegrityError):
        # the second value breaks a constraint: the first must not be stored either
        await store.set_enabled("cam", "video-sources", {"video1": 0, "video2": 7})
    assert await store.enabled("cam", "video-sources") == {"video1": 1, "video2": 1}
    await store.close()


async def test_state_survives_reopening_and_is_per_device(tmp_path):
    store = SqlitePolicyStore(tmp_path / "p.sqlite3")
    await store.open()
    await store.set_enabled("cam", "video-encoders", {"h264": 0})
    await store.add_profile("cam", "gw1")
    await store.add_profile("other", "gw2")
    await store.close()
    store = SqlitePolicyStore(tmp_path / "p.sqlite3")
    await store.open()
    assert await store.enabled("cam", "video-encoders") == {"h264": 0}
    assert await store.enabled("other", "video-encoders") == {}
    assert await store.owned_profiles("cam") == {"gw1"}
    await store.remove_profile("cam", "gw1")
    assert await store.owned_profiles("cam") == set()
    await store.close()


async def _serve(ini: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The gateway of ini, on a port of its own choosing (each start another); and its URL."""
    process, log = await start("serve", "-c", str(ini), until="gateway serving on")
    return process, f"http://127.0.0.1:{port_of(log, 'gateway serving on')}"


async def _token(http: aiohttp.ClientSession, base: str) -> str:
    async with http.put(f"{base}/login", json={"username": "admin", "password": "admin"}) as r:
        return str((await r.json())["sessionToken"])


async def _burst_then_kill(http: aiohttp.ClientSession, ini: Path) -> None:
    """Start the gateway, fire BURST concurrent whole-list PUTs, SIGKILL it in the middle."""
    gateway, base = await _serve(ini)
    headers = {"Authorization": f"Bearer {await _token(http, base)}"}
    answered = 0
    enough = asyncio.Event()

    async def put(n: int) -> None:
        nonlocal answered
        try:
            async with http.put(f"{base}/sources/video", json=pattern(n),
                                headers=headers) as response:
                assert response.status == 200
                answered += 1
                enough.set()
        except aiohttp.ClientError:
            pass  # the gateway was killed under this request

    burst = [asyncio.create_task(put(n)) for n in range(BURST)]
    try:
        await asyncio.wait_for(enough.wait(), timeout=60)
        # then at a random moment of the burst, so that the kill may land anywhere in a PUT
        await asyncio.sleep(random.uniform(0.1, 1.0))
    finally:
        gateway.send_signal(signal.SIGKILL)
        await gateway.wait()
        await asyncio.gather(*burst, return_exceptions=True)


@pytest.mark.slow
async def test_kill_during_a_burst_of_puts_leaves_whole_states(tmp_path, start_device):
    # Many sources make each PUT a long write, so that the kill lands inside one.
    _, url = await start_device(video_sources={name: VideoSource(25.0, 640, 480)
                                               for name in SOURCES})
    ini = tmp_path / "gateway.ini"
    ini.write_text(f"[gateway]\nport = 0\nstate_dir = state\n[device:cam]\nurl = {url}\n")
    whole_states = [pattern(n) for n in range(BURST)]
    whole_states.append({"sources": [{"name": name, "enabled": 1} for name in SOURCES]})
    async with aiohttp.ClientSession() as http:
        for _round in range(3):
            await _burst_then_kill(http, ini)
            gateway, base = await _serve(ini)
            headers = {"Authorization": f"Bearer {await _token(http, base)}"}
            async with http.get(f"{base}/sources/video", headers=headers) as response:
                state = await response.json()
            assert await stop(gateway) == 0
            # The state is the initial one or exactly one PUT's whole list, never a mix.
            assert state in whole_states, "a PUT was stored in part"
    with sqlite3.connect(tmp_path / "state" / "policy.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
