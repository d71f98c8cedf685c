"""Benchmark: one gateway instance vs two sharing Redis, and what a Redis-backed session check
costs next to the embedded one. Prints figures; asserts nothing.

    .venv/bin/python bench/instances.py [--requests 3000] [--devices 50]

Everything runs on 127.0.0.1: the simulated devices (one process), redis-server, the gateway
instances (one process each) and this script, the client, all share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import aiohttp
from common import free_port, port_of, start, stop  # bench/common.py (run from bench/)

from gateway.credentials import Credentials
from gateway.state.redisstore import RedisSessions, connect
from gateway.state.sessions import MemorySessions

CONCURRENCY = 64






async def start_redis(directory: str) -> tuple[asyncio.subprocess.Process, str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is needed (apt-get install redis-server)")
    port = free_port()  # redis-server cannot choose one: its --port 0 turns TCP off
    process = await asyncio.create_subprocess_exec(
        server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
        stdout=asyncio.subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = connect(url)
    for _ in range(100):
        try:
            await client.ping()
            break
        except Exception:
            await asyncio.sleep(0.05)
    await client.aclose()
    return process, url


def gateway_ini(path: Path, sim_port: int, devices: int, redis_url: str | None) -> None:
    """A gateway on a port of its choosing (0), in front of the simulator's devices."""
    lines = [f"[gateway]\nport = 0\nstate_dir = {path.parent / ('state-' + path.stem)}",
             "cache_ttl = 0", "health_interval = 0"]
    if redis_url:
        lines.append(f"redis_url = {redis_url}")
    for i in range(1, devices + 1):
        lines.append(f"[device:cam{i}]\nurl = http://127.0.0.1:{sim_port}/dev/{i}/onvif/"
                     f"device_service" + ("\ndefault = yes" if i == 1 else ""))
    path.write_text("\n".join(lines) + "\n")


async def load(bases: list[str], devices: int, count: int) -> tuple[float, list[float]]:
    """count GETs of /devices/camN/device-information, spread over devices and instances."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        tokens = {}
        for i in range(1, devices + 1):
            async with http.put(f"{bases[i % len(bases)]}/devices/cam{i}/login",
                                json={"username": "admin", "password": "admin"}) as r:
                tokens[i] = (await r.json())["sessionToken"]
        times: list[float] = []
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                i = n % devices + 1
                base = bases[n % len(bases)]  # tokens work on any instance
                started = time.perf_counter()
                async with http.get(f"{base}/devices/cam{i}/device-information",
                                    headers={"Authorization": f"Bearer {tokens[i]}"}) as r:
                    await r.read()
                    assert r.status == 200, r.status
                times.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, times


def line(name: str, elapsed: float, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p50, p99 = ms[len(ms) // 2], ms[int(len(ms) * 0.99)]
    return f"{name:<34} {len(ms) / elapsed:8.0f} {p50:8.2f} {p99:8.2f}"


async def session_checks(redis_url: str, count: int) -> tuple[float, float]:
    """Microseconds per session lookup: embedded (memory) and Redis."""
    memory = MemorySessions(900, 3600, 10_000)
    client = connect(redis_url)
    shared = RedisSessions(client, 900, 3600)
    results = []
    for sessions in (memory, shared):
        token = await sessions.create("cam1", Credentials("admin", "admin"), "Administrator",
                                       "127.0.0.1")
        for _ in range(100):
            await sessions.get(token)
        started = time.perf_counter()
        for _ in range(count):
            await sessions.get(token)
        results.append((time.perf_counter() - started) / count * 1e6)
    await client.aclose()
    return results[0], results[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--devices", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, shared by the client, the simulator, redis-server "
          f"and the gateway instances")

    with tempfile.TemporaryDirectory() as tmp:
        redis, redis_url = await start_redis(tmp)
        simulator, banner = await start("simulate", "--port", "0", "--devices",
                                        str(args.devices), "--discovery-port", "0",
                                        until=f"/dev/{min(args.devices, 10)}/")
        sim_port = port_of(banner, "simulated ONVIF device(s) on")
        results: list[str] = []
        try:
            for name, redis_for, instances in (("1 instance, embedded stores", None, 1),
                                               ("1 instance, Redis", redis_url, 1),
                                               ("2 instances, Redis", redis_url, 2)):
                processes, bases = [], []
                for k in range(instances):
                    ini = Path(tmp) / f"gateway-{len(results)}-{k}.ini"
                    gateway_ini(ini, sim_port, args.devices, redis_for)
                    process, output = await start("serve", "-c", str(ini),
                                                  until="gateway serving on")
                    processes.append(process)
                    bases.append(f"http://127.0.0.1:{port_of(output, 'gateway serving on')}")
                await load(bases, args.devices, 200)  # warm-up
                elapsed, times = await load(bases, args.devices, args.requests)
                results.append(line(name, elapsed, times))
                for process in processes:
                    await stop(process)
            memory_us, redis_us = await session_checks(redis_url, 5000)
        finally:
            await stop(simulator)
            redis.terminate()
            await redis.wait()

    print(f"\n{args.requests} GET /devices/camN/device-information over {args.devices} devices, "
          f"concurrency {CONCURRENCY}, cache off; latency in ms")
    print(f"{'':<34} {'req/s':>8} {'p50':>8} {'p99':>8}")
    for row in results:
        print(row)
    print(f"\nsession check: embedded {memory_us:.1f} us, Redis {redis_us:.1f} us "
          f"({redis_us / memory_us:.0f}x)")


if __name__ == "__main__":
    asyncio.run(main())
