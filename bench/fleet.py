"""Benchmark: the gateway in front of 500 simulated devices: start-up, memory per device, and
GET /devices/{id}/device-information under concurrent load next to direct zeep calls to the same
simulated devices. Prints figures; asserts nothing.

    .venv/bin/python bench/fleet.py [--devices 500] [--requests 5000] [--rounds 5]
                                    [--concurrency 64] [--profile gateway.txt]

Everything runs on 127.0.0.1: the simulated devices (one process), the gateway and this script (the
client of both) are three processes sharing this machine's cores. The four loads (gateway and zeep,
over every device and to one) run in turns, a round of each at a time, so that a slow spell of a
shared machine hits all of them alike. --profile records the gateway with py-spy (collapsed stacks,
`pip install py-spy`) while the rounds run; its figures are then perturbed by the sampling.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import requests
from common import (  # bench/common.py (run from bench/)
    ROOT,
    TICKS,
    cpu_seconds,
    fleet_ini,
    port_of,
    rss_mib,
    start,
    stop,
)
from requests.adapters import HTTPAdapter
from zeep import Client
from zeep.proxy import ServiceProxy
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

DEVICE_WSDL = ROOT / "wsdl/ver10/device/wsdl/devicemgmt.wsdl"
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
USER, PASSWORD = "admin", "admin"  # a user of every simulated device


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def machine_cpu_seconds() -> float:
    """CPU time spent by every process of the machine: user, nice, system, irq, softirq, steal."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # less idle and iowait


@dataclass
class Tally:
    """One closed-loop worker's requests: answered, failed, and the times of the answered ones
    from the worker's previous answer, so that time it waits to send (for the GIL, for the event
    loop) counts too, as it does for a client. Its first request, timed by how the load began
    rather than by the steady state, is counted but not timed."""

    times: list[float] = field(default_factory=list)
    answered: int = 0
    failed: int = 0
    last: float | None = None

    def done(self, ok: bool) -> None:
        now = time.perf_counter()
        if not ok:
            self.failed += 1
        else:
            self.answered += 1
            if self.last is not None:
                self.times.append(now - self.last)
        self.last = now


# One load: given a number of requests, make them; a Tally per worker.
Requests = Callable[[int], Awaitable[list[Tally]]]


@dataclass
class Run:
    """A load measured in rounds: request times, wall and CPU seconds per process, failures."""

    name: str
    pids: dict[str, int]
    load: Requests
    times: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)  # req/s of each round
    answered: int = 0
    failed: int = 0

    async def round(self, count: int) -> None:
        """Make count requests, noting the CPU each process spends meanwhile ("other": the rest
        of the machine)."""
        before = {who: cpu_seconds(pid) for who, pid in self.pids.items()}
        machine_before = machine_cpu_seconds()
        started = time.perf_counter()
        tallies = await self.load(count)
        self.walls.append(time.perf_counter() - started)
        spent = {who: cpu_seconds(pid) - before[who] for who, pid in self.pids.items()}
        spent["other"] = machine_cpu_seconds() - machine_before - sum(spent.values())
        for who, seconds in spent.items():
            self.cpu[who] = self.cpu.get(who, 0.0) + seconds
        answered = sum(tally.answered for tally in tallies)
        self.rates.append(answered / self.walls[-1])
        self.answered += answered
        self.failed += sum(tally.failed for tally in tallies)
        self.times += [t for tally in tallies for t in tally.times]

    @property
    def rate(self) -> float:
        return self.answered / sum(self.walls)

    def ms(self, quantile: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000

    def cores(self, who: str) -> str:
        return f"{self.cpu[who] / sum(self.walls):.2f}" if who in self.cpu else "-"


async def get_info(http: aiohttp.ClientSession, base: str, device: str,
                   headers: dict[str, str]) -> bool:
    async with http.get(f"{base}/devices/{device}/device-information", headers=headers) as r:
        await r.read()
        return r.status == 200


async def login(http: aiohttp.ClientSession, base: str, device: str) -> dict[str, str]:
    async with http.put(f"{base}/devices/{device}/login",
                        json={"username": USER, "password": PASSWORD}) as r:
        return {"Authorization": f"Bearer {(await r.json())['sessionToken']}"}


async def touch_all(http: aiohttp.ClientSession, base: str,
                    devices: Sequence[str]) -> dict[str, dict[str, str]]:
    """Log in to every device once and read its information once; the session headers."""
    async def touch(device: str) -> tuple[str, dict[str, str]]:
        headers = await login(http, base, device)
        await get_info(http, base, device, headers)
        return device, headers

    return dict(await asyncio.gather(*(touch(device) for device in devices)))


async def through_gateway(http: aiohttp.ClientSession, base: str,
                          targets: Sequence[tuple[str, dict[str, str]]], workers: int,
                          count: int) -> list[Tally]:
    """count GETs, request i to targets[i % len(targets)], by `workers` coroutines in a closed
    loop."""
    order = itertools.count()

    async def worker() -> Tally:
        tally = Tally()
        while (i := next(order)) < count:
            device, headers = targets[i % len(targets)]
            tally.done(await get_info(http, base, device, headers))
        return tally

    return list(await asyncio.gather(*(worker() for _ in range(workers))))


class FreshDigest:
    """zeep's wsse plugin interface: a new PasswordDigest UsernameToken for every call (and no
    state, so threads may share a client)."""

    def apply(self, envelope: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
        token = UsernameToken(USER, PASSWORD, use_digest=True)
        return token.apply(envelope, headers)  # type: ignore[no-any-return]

    def verify(self, envelope: Any) -> Any:
        return envelope


def zeep_services(urls: Sequence[str], pool_size: int) -> list[ServiceProxy]:
    """One sync zeep client (requests session and pool of its own) per device, sharing one parsed
    WSDL."""
    document = Document(str(DEVICE_WSDL), Transport())
    services = []
    for url in urls:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_maxsize=pool_size))
        client = Client(document, wsse=FreshDigest(), transport=Transport(session=session))
        services.append(client.create_service(DEVICE_BINDING, url))
    return services


def direct_zeep(pool: ThreadPoolExecutor, workers: int, services: Sequence[ServiceProxy],
                count: int) -> list[Tally]:
    """The baseline: count GetDeviceInformation calls, call i to services[i % len(services)],
    by `workers` threads of the pool in a closed loop."""
    order = itertools.count()  # next() on it is atomic: threads share it safely

    def worker() -> Tally:
        tally = Tally()
        while (i := next(order)) < count:
            try:
                services[i % len(services)].GetDeviceInformation()
            except Exception:
                tally.done(ok=False)
            else:
                tally.done(ok=True)
        return tally

    return [future.result() for future in [pool.submit(worker) for _ in range(workers)]]


def in_thread(load: Callable[[int], list[Tally]]) -> Requests:
    """A blocking load, run from the event loop in a thread of its own."""
    async def run(count: int) -> list[Tally]:
        return await asyncio.to_thread(load, count)

    return run


async def profiler(pid: int, output: Path | None) -> asyncio.subprocess.Process | None:
    """py-spy recording a process until SIGINT, or None without an output file."""
    if output is None:
        return None
    process = await asyncio.create_subprocess_exec(
        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
        "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--output", str(output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.sleep(1)  # time to attach
    return process


def table(runs: Sequence[Run]) -> None:
    print(f"{'':<24} {'req/s':>6} {'rounds':>9} {'p50':>6} {'p99':>6} | cores: "
          f"{'gateway':>7} {'simulator':>9} {'client':>6} {'other':>5}")
    for run in runs:
        spread = f"{min(run.rates):.0f}-{max(run.rates):.0f}"
        print(f"{run.name:<24} {run.rate:6.0f} {spread:>9} {run.ms(0.5):6.1f} {run.ms(0.99):6.1f}"
              f" | {'':7}{run.cores('gateway'):>7} {run.cores('simulator'):>9} "
              f"{run.cores('client'):>6} {run.cores('other'):>5}")


@dataclass
class Figures:
    serving: float  # seconds from launching the gateway to "gateway serving on"
    first: float  # ... and to a first answer
    touched: float  # seconds to log in to every device and read it once
    rss: dict[str, float]  # MiB: "start", "first", "all", "loads"
    runs: list[Run]


async def measure(args: argparse.Namespace, simulator: asyncio.subprocess.Process,
                  sim_port: int) -> Figures:
    """Start the gateway in front of every simulated device, time and weigh it, then run the
    loads through it and directly with zeep."""
    n, workers = args.devices, args.concurrency
    names = [f"cam{i}" for i in range(1, n + 1)]
    urls = [f"http://127.0.0.1:{sim_port}/dev/{i}/onvif/device_service" for i in range(1, n + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        ini = Path(tmp) / "gateway.ini"
        ini.write_text(fleet_ini(Path(tmp) / "state", sim_port, n, "cache_ttl = 0",
                                 f"device_concurrency = {args.device_concurrency}"))
        started = time.perf_counter()
        gateway, output = await start("serve", "-c", str(ini), until="gateway serving on")
        serving = time.perf_counter() - started
        base = f"http://127.0.0.1:{port_of(output, 'gateway serving on')}"
        try:
            rss = {"start": rss_mib(gateway.pid)}
            connector = aiohttp.TCPConnector(limit=workers)
            async with aiohttp.ClientSession(connector=connector) as http:
                await get_info(http, base, names[0], await login(http, base, names[0]))
                first = time.perf_counter() - started
                rss["first"] = rss_mib(gateway.pid)
                touched_at = time.perf_counter()
                sessions = await touch_all(http, base, names)
                touched = time.perf_counter() - touched_at
                rss["all"] = rss_mib(gateway.pid)

                services = await asyncio.to_thread(zeep_services, urls, workers)
                everyone = {"gateway": gateway.pid, "simulator": simulator.pid,
                            "client": os.getpid()}
                direct = {"simulator": simulator.pid, "client": os.getpid()}
                one = [(names[0], sessions[names[0]])]
                with ThreadPoolExecutor(workers) as pool:
                    runs = [Run(name, pids, load) for name, pids, load in (
                        (f"gateway, {n} devices", everyone, functools.partial(
                            through_gateway, http, base, list(sessions.items()), workers)),
                        (f"direct zeep, {n} devices", direct, in_thread(functools.partial(
                            direct_zeep, pool, workers, services))),
                        ("gateway, 1 device", everyone, functools.partial(
                            through_gateway, http, base, one, workers)),
                        ("direct zeep, 1 device", direct, in_thread(functools.partial(
                            direct_zeep, pool, workers, services[:1]))),
                    )]
                    for run in runs:
                        await run.load(args.warmup)
                    recorder = await profiler(gateway.pid, args.profile)
                    for _ in range(args.rounds):
                        for run in runs:
                            await run.round(args.requests // args.rounds)
                    if recorder is not None:
                        recorder.send_signal(signal.SIGINT)
                        await recorder.wait()
            rss["loads"] = rss_mib(gateway.pid)
        finally:
            await stop(gateway)
    return Figures(serving, first, touched, rss, runs)


def report(args: argparse.Namespace, figures: Figures) -> None:
    n, rss, runs = args.devices, figures.rss, figures.runs
    print(f"\ngateway start-up, {n} devices configured, simulator already running:\n"
          f"  'gateway serving on' after {figures.serving:.2f} s, "
          f"first answer (login + GET on cam1) after {figures.first:.2f} s")
    print(f"gateway RSS: {rss['start']:.1f} MiB at start, {rss['first']:.1f} MiB after the first "
          f"device,\n  {rss['all']:.1f} MiB after all {n} (1 login + 1 GET each, in "
          f"{figures.touched:.1f} s), {rss['loads']:.1f} MiB after the loads")
    print(f"  per device: {(rss['all'] - rss['start']) * 1024 / n:.0f} KiB (all - start) / {n}, "
          f"{(rss['all'] - rss['first']) * 1024 / max(n - 1, 1):.0f} KiB (all - first) / {n - 1}")

    print(f"\nGET device-information: {args.requests} requests a line, concurrency "
          f"{args.concurrency}, in {args.rounds} rounds\n(req/s of the slowest and fastest), after "
          f"{args.warmup} warm-up ones; p50, p99 in ms; gateway: cache_ttl 0,\n"
          f"device_concurrency {args.device_concurrency}; cores: CPU seconds per wall second "
          "(other: the rest of the machine)")
    table(runs)
    print(f"failed requests: {sum(run.failed for run in runs)}\n")
    for label, gateway, direct in ((f"{n} devices", runs[0], runs[1]),
                                   ("1 device", runs[2], runs[3])):
        print(f"{label + ':':<12} gateway / zeep: p50 {gateway.ms(0.5) / direct.ms(0.5):4.2f}x, "
              f"req/s {gateway.rate / direct.rate:4.2f}x")
    if args.profile:
        print(f"\n(the gateway's loads ran under py-spy, recorded in {args.profile})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--requests", type=int, default=5000, help="per load, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=500, help="requests before each load")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--device-concurrency", type=int, default=4,
                        help="the gateway's device_concurrency (gateway.ini default: 4)")
    parser.add_argument("--profile", type=Path, help="py-spy record the gateway to this file")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores ({cpu_model()}), Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f} before the run;\n"
          "  the client (this script), the simulator and the gateway share these cores")
    simulator, banner = await start("simulate", "--devices", str(args.devices), "--port", "0",
                                     "--discovery-port", "0", until="simulated ONVIF device(s) on")
    sim_port = port_of(banner, "simulated ONVIF device(s) on")
    try:
        figures = await measure(args, simulator, sim_port)
    finally:
        await stop(simulator)
    report(args, figures)


if __name__ == "__main__":
    asyncio.run(main())
