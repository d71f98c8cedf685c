"""Benchmark: many clients polling one camera's snapshot through the gateway. Prints figures;
asserts nothing.

    .venv/bin/python bench/snapshots.py [--clients 100] [--seconds 20]

Each client has a session of its own and asks GET /profiles/profile_1/snapshot once a second
(spread over the second) for the whole run. Three runs, one after the other, on one simulated
device (a separate process, as the gateway): the gateway keeping pictures for snapshot_ttl = 1 s
(the default), the gateway keeping none (snapshot_ttl = 0: only requests arriving during a fetch
share it), and, as the baseline, the same clients fetching the camera's snapshot URI themselves
(HTTP Digest). For each: how many pictures the device served, and the client latency.
Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import tempfile
import time
from pathlib import Path

import aiohttp
from common import port_of, start, stop  # bench/common.py (run from bench/)

SNAPSHOT = "/profiles/profile_1/snapshot"
FETCHES = re.compile(r'gateway_snapshot_fetches_total\{device="cam",outcome="ok"\} ([0-9.]+)')


async def poll(http: aiohttp.ClientSession, url: str, seconds: float,
               headers: dict[str, str] | None = None,
               middlewares: tuple[aiohttp.ClientMiddlewareType, ...] = ()) -> list[float]:
    """GET url once a second, from a random point of the first second on; the latencies."""
    times: list[float] = []
    start_at = time.monotonic() + random.random()  # noqa: S311 (spreading load, not secrets)
    for n in range(int(seconds)):
        await asyncio.sleep(max(0.0, start_at + n - time.monotonic()))
        began = time.perf_counter()
        async with http.get(url, headers=headers, middlewares=middlewares) as answer:
            body = await answer.read()
            if answer.status != 200 or not body.startswith(b"\xff\xd8"):
                raise RuntimeError(f"{url}: HTTP {answer.status}")
        times.append(time.perf_counter() - began)
    return times


async def through_gateway(base: str, clients: int, seconds: float) -> tuple[list[float], int]:
    """Every client's latencies, and the pictures the gateway fetched from the device."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tokens = []
        for _ in range(clients):
            async with http.put(f"{base}/login",
                                json={"username": "user", "password": "user"}) as answer:
                tokens.append((await answer.json())["sessionToken"])
        runs = await asyncio.gather(*(
            poll(http, base + SNAPSHOT, seconds, headers={"Authorization": f"Bearer {token}"})
            for token in tokens))
        async with http.get(f"{base}/metrics",
                            headers={"Authorization": f"Bearer {tokens[0]}"}) as answer:
            found = FETCHES.search(await answer.text())
    return [t for run in runs for t in run], int(float(found.group(1))) if found else 0


async def direct(snapshot_url: str, clients: int, seconds: float) -> list[float]:
    """The baseline: every client fetches the camera's snapshot itself, with HTTP Digest."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        runs = await asyncio.gather(*(
            poll(http, snapshot_url, seconds,
                 middlewares=(aiohttp.DigestAuthMiddleware("user", "user"),))
            for _ in range(clients)))
    return [t for run in runs for t in run]


def line(name: str, times: list[float], fetches: int) -> tuple[str, float, float]:
    ms = sorted(t * 1000 for t in times)
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name:<38} {len(ms):>8} {fetches:>8} {p50:8.2f} {p99:8.2f}", p50, p99


async def gateway_run(sim_port: int, ttl: float, clients: int,
                      seconds: float) -> tuple[list[float], int]:
    url = f"http://127.0.0.1:{sim_port}/dev/1/onvif/device_service"
    with tempfile.TemporaryDirectory() as tmp:
        ini = Path(tmp) / "gateway.ini"
        ini.write_text(f"[gateway]\nport = 0\nstate_dir = {tmp}\nsnapshot_ttl = {ttl:g}\n"
                       f"login_max_failures = 1000\n[device:cam]\nurl = {url}\n")
        gateway, output = await start("serve", "-c", str(ini), until="gateway serving on")
        port = port_of(output, "gateway serving on")
        try:
            return await through_gateway(f"http://127.0.0.1:{port}", clients, seconds)
        finally:
            await stop(gateway)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    simulator, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                    until="/dev/1/")
    sim_port = port_of(banner, "simulated ONVIF device(s) on")
    try:
        kept, kept_fetches = await gateway_run(sim_port, 1, args.clients, args.seconds)
        shared, shared_fetches = await gateway_run(sim_port, 0, args.clients, args.seconds)
        baseline = await direct(f"http://127.0.0.1:{sim_port}/dev/1/snapshot/profile_1.jpg",
                                args.clients, args.seconds)
    finally:
        await stop(simulator)

    print(f"{args.clients} clients, each GET {SNAPSHOT} once a second for {args.seconds:g} s, "
          "one simulated device; loopback, times in ms")
    print(f"{'':<38} {'requests':>8} {'fetches':>8} {'p50':>8} {'p99':>8}")
    text, kept_p50, kept_p99 = line("gateway, snapshot_ttl = 1", kept, kept_fetches)
    print(text)
    print(line("gateway, snapshot_ttl = 0", shared, shared_fetches)[0])
    text, base_p50, base_p99 = line("camera directly (Digest), baseline", baseline,
                                    len(baseline))
    print(text)
    print(f"\ndevice fetches, gateway (ttl 1) / direct: {kept_fetches / len(baseline):.3f} "
          f"({kept_fetches} for {len(kept)} requests: "
          f"{kept_fetches / args.seconds:.2f} per second)")
    print(f"client latency, gateway (ttl 1) / direct: p50 {kept_p50 / base_p50:.2f}x, "
          f"p99 {kept_p99 / base_p99:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
