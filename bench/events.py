"""Benchmark: events fanned out by one gateway. Prints figures; asserts nothing.

    .venv/bin/python bench/events.py [--clients 1000] [--devices 100] [--per-device 10]
                                     [--events 20]

Three loads, each with fresh gateways in front of a simulator process (all started as a user
does, on 127.0.0.1; this script is every client):
1. --clients SSE clients on one device;
2. --devices devices with --per-device SSE clients each;
3. --clients SSE clients on one device, half on each of two instances sharing a redis-server
   (one holds the subscription, the other gets the events through Redis).
For each: how many pull points each device saw (the gateway should hold one), the latency of an
event from the simulator's trigger (a control call of the simulator, made by this script) to its
receipt by each client (p50, p99 over every client and event), and the gateway's RSS before the
clients and with them (per client). The baseline of the same run: the latency of a motion event
to one lone client, i.e. the gateway's own pull-and-forward hop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from common import port_of, start, stop  # bench/common.py (run from bench/)
from instances import start_redis  # bench/instances.py


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def gateway_ini(path: Path, sim_port: int, devices: int, redis_url: str | None = None) -> None:
    """A gateway on a port of its choosing (0), in front of the simulator's devices."""
    lines = [f"[gateway]\nport = 0\nstate_dir = {path.parent / f'state-{path.stem}'}",
             "health_interval = 0", "event_client_queue = 1000",
             "connections_per_address = 5000"]  # every client is this one address
    if redis_url:
        lines.append(f"redis_url = {redis_url}")
    for i in range(1, devices + 1):
        lines.append(f"[device:cam{i}]\nurl = http://127.0.0.1:{sim_port}/dev/{i}/onvif/"
                     "device_service\nusername = admin\npassword = admin"
                     + ("\ndefault = yes" if i == 1 else ""))
    path.write_text("\n".join(lines) + "\n")


class Client:
    """One SSE client: when each motion event of its device arrived (by the trigger's number)."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.ready = asyncio.Event()

    async def run(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            async for line in response.content:
                if line.startswith(b"retry:"):
                    self.ready.set()
                if not line.startswith(b"data: "):
                    continue
                event = json.loads(line[6:])
                if event["kind"] == "motion" and event["operation"] == "Changed":
                    # every trigger raises one Changed event, in order: its number is the count
                    self.arrivals[len(self.arrivals)] = time.monotonic()


async def one_load(label: str, sim_port: int, devices: int, per_device: int, events: int,
                   work: Path, redis_url: str | None = None) -> float:
    """Run one load and print its figures; returns its p50 latency (ms). With redis_url, two
    gateway instances share it, and the clients of each device alternate between them."""
    gateways, bases = [], []
    for n in range(2 if redis_url else 1):
        ini = work / f"gateway-{label}-{n}.ini"
        gateway_ini(ini, sim_port, devices, redis_url)
        process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                      log=work / f"gateway-{label}-{n}.log")
        gateways.append(process)
        bases.append(f"http://127.0.0.1:{port_of(output, 'gateway serving on')}")
    gateway, base = gateways[0], bases[0]
    sim = f"http://127.0.0.1:{sim_port}"
    try:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            tokens = {}
            for i in range(1, devices + 1):
                async with http.put(f"{base}/devices/cam{i}/login",
                                    json={"username": "admin", "password": "admin"}) as r:
                    tokens[i] = (await r.json())["sessionToken"]
            before = {i: await counts(http, sim, i) for i in range(1, devices + 1)}
            rss_before = rss_kib(gateway.pid)
            clients = {i: [Client() for _ in range(per_device)] for i in range(1, devices + 1)}

            def run(i: int, k: int, client: Client) -> asyncio.Task[None]:
                url = f"{bases[k % len(bases)]}/devices/cam{i}/events"
                return asyncio.create_task(client.run(http, url, tokens[i]))

            tasks = []
            if len(bases) > 1:  # the first instance's first: it takes the lease, subscribes
                tasks.append(run(1, 0, clients[1][0]))
                await clients[1][0].ready.wait()
                await asyncio.sleep(1)
            started = time.monotonic()
            pending = [(i, k, c) for i, group in clients.items()
                       for k, c in enumerate(group) if not c.ready.is_set()]
            # With Redis, 50 at a time: each connect checks its session in Redis, and redis-py
            # allows 100 connections per instance (more at once answer 503).
            step = 50 if redis_url else len(pending)
            for first in range(0, len(pending), step):
                batch = pending[first:first + step]
                tasks += [run(i, k, c) for i, k, c in batch]
                for _, _, client in batch:
                    await client.ready.wait()
            connected = time.monotonic() - started
            await asyncio.sleep(2)  # every subscription up and its Initialized messages out
            rss_with = rss_kib(gateway.pid)
            triggers: dict[tuple[int, int], float] = {}
            for n in range(events):
                for i in range(1, devices + 1):
                    triggers[(i, n)] = time.monotonic()
                    async with http.post(f"{sim}/dev/{i}/control/events", json={
                            "kind": "motion", "source": "video1", "state": n % 2 == 0}):
                        pass
                await asyncio.sleep(0.2)
            everyone = [c for group in clients.values() for c in group]
            deadline = time.monotonic() + 30  # what has not arrived by then is counted missing
            def waiting() -> bool:
                return any(len(c.arrivals) < events for c in everyone)

            while waiting() and time.monotonic() < deadline:  # noqa: ASYNC110 (polls clients)
                await asyncio.sleep(0.1)
            by_instance: list[list[float]] = [[] for _ in bases]
            for i, group in clients.items():
                for k, client in enumerate(group):
                    by_instance[k % len(bases)] += [
                        (client.arrivals[n] - triggers[(i, n)]) * 1000
                        for n in range(events) if n in client.arrivals]
            latencies = [latency for part in by_instance for latency in part]
            missing = devices * per_device * events - len(latencies)
            after = {i: await counts(http, sim, i) for i in range(1, devices + 1)}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        created = [after[i]["created"] - before[i]["created"] for i in after]
        peaks = [after[i]["peak"] for i in after]
        total = devices * per_device
        print(f"\n{label}: {devices} device(s) x {per_device} SSE client(s) = {total} clients, "
              f"{events} motion events per device")
        print(f"  connected in {connected:.2f} s; pull points created per device: "
              f"min {min(created)}, max {max(created)}; most live at once: {max(peaks)}; "
              f"refused: {sum(after[i]['refused'] for i in after)}")
        quantiles = (statistics.quantiles(latencies, n=100, method="inclusive")
                     if len(latencies) > 1 else latencies * 99)
        print(f"  trigger -> client latency, ms: p50 {quantiles[49]:.1f}, p99 {quantiles[98]:.1f}, "
              f"max {max(latencies):.1f} ({len(latencies)} receipts, {missing} missing)")
        if len(bases) > 1:
            print("  p50 per instance, ms: " + ", ".join(
                f"{statistics.median(part):.1f}" for part in by_instance if part)
                + " (the instance holding the subscription, the other)")
        print(f"  gateway RSS: {rss_before / 1024:.1f} MiB before the clients, "
              f"{rss_with / 1024:.1f} MiB with them: "
              f"{(rss_with - rss_before) / total:.1f} KiB per client"
              + (" (first instance)" if len(bases) > 1 else ""))
        return quantiles[49]
    finally:
        for process in gateways:
            await stop(process)


async def counts(http: aiohttp.ClientSession, sim: str, index: int) -> dict[str, int]:
    async with http.get(f"{sim}/dev/{index}/control/events") as r:
        return dict(await r.json())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--per-device", type=int, default=10)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    simulator, banner = await start("simulate", "--port", "0", "--devices",
                                     str(max(args.devices, 1)), "--discovery-port", "0",
                                     until="simulated ONVIF device(s)")
    sim_port = port_of(banner, "simulated ONVIF device(s) on")
    try:
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            print("machine: 2 cores shared by the simulator, the gateway and this client")
            alone = await one_load("baseline (one lone client)", sim_port, 1, 1, args.events,
                                   work)
            one = await one_load("one device", sim_port, 1, args.clients, args.events, work)
            many = await one_load("many devices", sim_port, args.devices, args.per_device,
                                  args.events, work)
            redis, redis_url = await start_redis(folder)
            try:
                shared = await one_load("two instances, Redis", sim_port, 1, args.clients,
                                        args.events, work, redis_url)
            finally:
                redis.terminate()
                await redis.wait()
            print(f"\np50 latency vs one lone client: {one / alone:.2f}x with {args.clients} "
                  f"clients on one device, {many / alone:.2f}x with "
                  f"{args.devices} x {args.per_device}, {shared / alone:.2f}x with "
                  f"{args.clients} on two instances")
    finally:
        await stop(simulator)


if __name__ == "__main__":
    asyncio.run(main())
