"""Ctrl-C ends the commands promptly, also under load: with keep-alive connections open, requests
arriving, and a request in flight that its device (or the simulated device) has not answered yet.

Not a speed figure: a bound on a hang. aiohttp waits up to 60 s for requests in flight by
default, longer than anyone waits for a Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp

from tests.processes import port_of, start, stop

STOPS_WITHIN = 20.0  # seconds


@contextlib.asynccontextmanager
async def busy(url: str, answers: int, connections: int = 16) -> AsyncIterator[None]:
    """GETs of url in a closed loop on `connections` keep-alive connections, until the server
    goes away; entered once that many answers have come."""
    answered = 0
    got_some = asyncio.Event()

    async def loop(http: aiohttp.ClientSession) -> None:
        nonlocal answered
        with contextlib.suppress(aiohttp.ClientError):
            while True:
                async with http.get(url) as response:
                    await response.read()
                answered += 1
                if answered >= answers:
                    got_some.set()

    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections)) as http:
        tasks = [asyncio.create_task(loop(http)) for _ in range(connections)]
        try:
            await asyncio.wait_for(got_some.wait(), 60)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_serve_stops_on_ctrl_c_with_a_request_in_flight(tmp_path):
    asked = asyncio.Event()

    async def silent_device(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # takes the gateway's request and never answers it, until the gateway hangs up
        if await reader.read(1):
            asked.set()
        await reader.read()
        writer.close()

    device = await asyncio.start_server(silent_device, "127.0.0.1", 0)
    device_port = device.sockets[0].getsockname()[1]
    ini = tmp_path / "gateway.ini"
    ini.write_text(
        f"[gateway]\nport = 0\nstate_dir = {tmp_path / 'state'}\n"
        "device_timeout = 300\n"  # the login below waits for the device all that time
        f"[device:cam]\nurl = http://127.0.0.1:{device_port}/onvif/device_service\n")
    server, output = await start("serve", "-c", str(ini), until="gateway serving on")
    base = f"http://127.0.0.1:{port_of(output, 'gateway serving on')}"
    http = aiohttp.ClientSession()
    in_flight = asyncio.create_task(http.put(f"{base}/login",
                                             json={"username": "admin", "password": "admin"}))
    try:
        await asyncio.wait_for(asked.wait(), 60)
        async with busy(f"{base}/healthz", 100):
            assert await stop(server, kill_after=STOPS_WITHIN) == 0
        assert in_flight.done()  # the gateway hung up on it
    finally:
        in_flight.cancel()
        await http.close()
        device.close()
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_simulate_stops_on_ctrl_c_with_a_request_in_flight():
    # every answer 300 s late, like a camera that hangs
    simulator, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                    "--devices", "2", "--latency", "300000",
                                    until="simulated ONVIF device(s) on")
    base = f"http://127.0.0.1:{port_of(banner, 'simulated ONVIF device(s) on')}"
    http = aiohttp.ClientSession()
    in_flight = asyncio.create_task(http.post(f"{base}/dev/1/onvif/device_service",
                                              data=b"<late/>"))
    try:
        # the pull point counts: answered at once (not a SOAP service, not late)
        # the POST, sent first, has been read once these answers came: after it, on its loop
        async with busy(f"{base}/dev/2/control/events", 200):
            assert not in_flight.done()
            assert await stop(simulator, kill_after=STOPS_WITHIN) == 0
        assert in_flight.done()
    finally:
        in_flight.cancel()
        await http.close()
        if simulator.returncode is None:
            simulator.kill()
            await simulator.wait()


async def test_serve_with_redis_stops_on_ctrl_c_while_redis_hangs(start_device, redis_relay,
                                                                   tmp_path):
    """Redis (through a relay) stops answering while a client listens to events (the
    subscription's lease, the events channel) and requests wait for Redis: Ctrl-C still ends
    the gateway, within SHUTDOWN_GRACE and the few seconds its Redis work waits at most."""
    _, url = await start_device()
    ini = tmp_path / "gateway.ini"
    ini.write_text(
        f"[gateway]\nport = 0\nstate_dir = {tmp_path / 'state'}\nredis_url = {redis_relay.url}\n"
        "device_timeout = 300\n"  # how long a request may wait for a Redis connection
        f"[device:cam]\nurl = {url}\nusername = admin\npassword = admin\n")
    server, log = await start("serve", "-c", str(ini), until="gateway serving on",
                              log=tmp_path / "gateway.log")
    base = f"http://127.0.0.1:{port_of(log, 'gateway serving on')}"
    async with aiohttp.ClientSession() as http:
        try:
            async with http.put(f"{base}/login",
                                json={"username": "admin", "password": "admin"}) as response:
                headers = {"Authorization": f"Bearer {(await response.json())['sessionToken']}"}
            events = await http.get(f"{base}/events", headers=headers)
            assert (await events.content.readline()).startswith(b"retry:")
            redis_relay.hang()
            # more than the gateway's 64 Redis connections: the others wait for one
            waiting = [asyncio.create_task(http.get(f"{base}{path}", headers=headers))
                       for path in ("/device-information", "/readyz", "/metrics") * 30]
            await asyncio.sleep(0.5)
            assert not any(request.done() for request in waiting)  # all wait for Redis
            assert await stop(server, kill_after=STOPS_WITHIN) == 0
            await asyncio.gather(*waiting, return_exceptions=True)
            events.close()
        finally:
            if server.returncode is None:
                server.kill()
                await server.wait()
