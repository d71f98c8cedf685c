"""Benchmark: demo start-up time, and GET /device-information through the gateway next to a direct
zeep call to the same simulated device. Prints figures; asserts nothing.

    .venv/bin/python bench/latency.py [--requests 500]

Everything runs on 127.0.0.1: the simulated device and the gateway are separate processes (as in a
real deployment), and this script is the client of both.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from common import ROOT, port_of, start, stop  # bench/common.py (run from bench/)
from zeep import Client
from zeep.wsse.username import UsernameToken

DEVICE_WSDL = ROOT / "wsdl/ver10/device/wsdl/devicemgmt.wsdl"
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"








def summary(name: str, seconds: list[float]) -> tuple[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    mean = statistics.fmean(ms)
    return f"{name:<34} {mean:8.2f} {p50:8.2f} {p99:8.2f} {1000 / mean:9.0f}", p50


async def demo_startup() -> tuple[float, float]:
    """Seconds from launching `onvif-gateway demo` to its banner, and to a first answer."""
    started = time.perf_counter()
    process, output = await start("demo", "--port", "0", until="Ctrl-C stops it")
    banner = time.perf_counter() - started
    base = f"http://127.0.0.1:{port_of(output, 'gateway')}"
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base}/login", json={"username": "admin", "password": "admin"}) as r:
            token = (await r.json())["sessionToken"]
        async with http.get(f"{base}/device-information",
                            headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
    first = time.perf_counter() - started
    await stop(process)
    return banner, first


async def through_gateway(base: str, count: int) -> list[float]:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base}/login", json={"username": "admin", "password": "admin"}) as r:
            headers = {"Authorization": f"Bearer {(await r.json())['sessionToken']}"}
        times = []
        for _ in range(count + 20):
            t = time.perf_counter()
            async with http.get(f"{base}/device-information", headers=headers) as r:
                await r.read()
                assert r.status == 200
            times.append(time.perf_counter() - t)
    return times[20:]  # the first calls warm up connections and the device clock offset


def direct_zeep(url: str, count: int) -> list[float]:
    """The baseline: plain zeep (sync, requests), PasswordDigest token, same device operation."""
    client = Client(str(DEVICE_WSDL))
    service = client.create_service(DEVICE_BINDING, url)
    times = []
    for _ in range(count + 20):
        client.wsse = UsernameToken("admin", "admin", use_digest=True)
        t = time.perf_counter()
        service.GetDeviceInformation()
        times.append(time.perf_counter() - t)
    return times[20:]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    count = parser.parse_args().requests

    banner, first = await demo_startup()
    print(f"demo start-up: banner after {banner:.2f} s, first answer after {first:.2f} s")

    simulator, listing = await start("simulate", "--port", "0", until="/dev/1/")
    url = f"http://127.0.0.1:{port_of(listing, 'device(s) on')}/dev/1/onvif/device_service"
    with tempfile.TemporaryDirectory() as tmp:
        ini = Path(tmp) / "gateway.ini"
        # cache_ttl = 0: every request really goes to the device, as the zeep baseline does
        ini.write_text(f"[gateway]\nport = 0\nstate_dir = {tmp}\ncache_ttl = 0\n"
                       f"[device:cam]\nurl = {url}\n")
        gateway, output = await start("serve", "-c", str(ini), until="gateway serving on")
        gw_port = port_of(output, "gateway serving on")
        try:
            gateway_times = await through_gateway(f"http://127.0.0.1:{gw_port}", count)
            zeep_times = await asyncio.to_thread(direct_zeep, url, count)
        finally:
            await stop(gateway)
            await stop(simulator)

    print(f"\n{count} sequential requests, one client, loopback; times in ms")
    print(f"{'':<34} {'mean':>8} {'p50':>8} {'p99':>8} {'req/s':>9}")
    line, gateway_p50 = summary("GET /device-information (gateway)", gateway_times)
    print(line)
    line, zeep_p50 = summary("GetDeviceInformation (direct zeep)", zeep_times)
    print(line)
    print(f"\ngateway / direct zeep, p50 latency: {gateway_p50 / zeep_p50:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
