"""Benchmark: one device sends a huge answer (GetVideoSources with 20,000 entries, 3 MB); how long
do another device's requests take meanwhile, next to before? Prints figures; asserts nothing.

    .venv/bin/python bench/huge_reply.py [--entries 20000]

The gateway and two simulated devices run in this process, on 127.0.0.1 (the big answer is made
once, before the clock starts, since the simulator shares the event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path
from gateway.web import server


def video_sources(entries: int) -> bytes:
    """A GetVideoSourcesResponse with this many sources, made once: the simulator would build it
    on this process's event loop at every request, stalling the measurement."""
    source = ('<trt:VideoSources token="video{}"><tt:Framerate>25</tt:Framerate><tt:Resolution>'
              "<tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution>"
              "</trt:VideoSources>")
    return ('<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env='
            '"http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema"'
            ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"><env:Body>'
            "<trt:GetVideoSourcesResponse>" + "".join(source.format(i) for i in range(entries))
            + "</trt:GetVideoSourcesResponse></env:Body></env:Envelope>").encode()


async def login(http: aiohttp.ClientSession, base: str, device: str) -> dict[str, str]:
    async with http.put(f"{base}/devices/{device}/login",
                        json={"username": "admin", "password": "admin"}) as r:
        return {"Authorization": f"Bearer {(await r.json())['sessionToken']}"}


async def main(entries: int) -> None:
    big, calm = SimulatedDevice(index=1), SimulatedDevice(index=2)
    big.raw_replies["GetVideoSources"] = video_sources(entries)
    sim = web.AppRunner(create_simulator_app([big, calm]))
    await sim.setup()
    site = web.TCPSite(sim, "127.0.0.1", 0)
    await site.start()
    sim_base = f"http://127.0.0.1:{sim.addresses[0][1]}"
    with tempfile.TemporaryDirectory() as state:
        config = GatewayConfig(
            devices=(DeviceConfig("big", sim_base + device_path(1), default=True),
                     DeviceConfig("calm", sim_base + device_path(2))),
            state_dir=Path(state), cache_ttl=0, device_timeout=120, health_interval=0)
        runner, port = await server.start(await create_app(config), "127.0.0.1", 0)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            big_auth, calm_auth = await login(http, base, "big"), await login(http, base, "calm")
            print(f"{entries} video sources: a {len(big.raw_replies['GetVideoSources']) / 1e6:.1f}"
                  " MB answer")

            async def calm_latency() -> float:
                started = time.perf_counter()
                async with http.get(f"{base}/devices/calm/device-information",
                                    headers=calm_auth) as r:
                    await r.read()
                return time.perf_counter() - started

            before = [await calm_latency() for _ in range(50)]
            huge = asyncio.create_task(http.get(f"{base}/devices/big/sources/video",
                                                headers=big_auth))
            started, during = time.perf_counter(), []
            while not huge.done():
                during.append(await calm_latency())
            (await huge).release()
            took = time.perf_counter() - started
        await runner.cleanup()
    await sim.cleanup()
    ms = [1000 * s for s in before]
    print(f"calm device before: median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms")
    ms = [1000 * s for s in during]
    print(f"calm device during the huge answer ({took:.1f} s, {len(during)} requests): "
          f"median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms")
    print(f"max during / max before: {max(during) / max(before):.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().entries))
