"""Benchmark: the gateway in front of 500 simulated devices: start-up, memory per device, and
GET /devices/{id}/device-information under concurrent load next to direct zeep calls to the same
simulated devices. Prints figures; asserts nothing.

    .venv/bin/python bench/fleet.py [--devices 500] [--requests 5000] [--concurrency 64]
                                    [--profile gateway.txt]

Everything runs on 127.0.0.1: the simulated devices (one process), the gateway and this script (the
client of both) are three processes sharing this machine's cores. --profile records the gateway
with py-spy (collapsed stacks) during the many-device load; the figures of that run are then
perturbed by the sampling.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from zeep import Client
from zeep.proxy import ServiceProxy
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

ROOT = Path(__file__).resolve().parent.parent
DEVICE_WSDL = ROOT / "wsdl/ver10/device/wsdl/devicemgmt.wsdl"
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
USER, PASSWORD = "admin", "admin"  # a user of every simulated device
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A `python -m gateway ...` process; its output is read (and dropped) so it never blocks."""

    process: asyncio.subprocess.Process
    reader: asyncio.Task[None]

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()
        await self.reader


async def start(*args: str, until: str) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    while until not in output:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"onvif-gateway {args[0]} exited: {output}")
        output += line.decode()

    async def drain(stream: asyncio.StreamReader) -> None:
        while await stream.read(65536):
            pass

    return Child(process, asyncio.create_task(drain(process.stdout)))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def machine_cpu_seconds() -> float:
    """CPU time spent by every process of the machine: user, nice, system, irq, softirq, steal."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # less idle and iowait


@dataclass
class Run:
    """One measured load: per-request seconds, wall time, failures, cores used per process."""

    name: str
    times: list[float]
    wall: float
    failed: int
    cores: dict[str, float]

    @property
    def rate(self) -> float:
        return len(self.times) / self.wall

    def ms(self, quantile: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000


async def measured(name: str, pids: dict[str, int], load: Callable[[], Any]) -> Run:
    """Run load() (returning per-request times or None for a failure), timing it and the CPU
    each process spends meanwhile ("other": the rest of the machine)."""
    before = {who: cpu_seconds(pid) for who, pid in pids.items()}
    machine_before = machine_cpu_seconds()
    started = time.perf_counter()
    results: list[float | None] = await load()
    wall = time.perf_counter() - started
    cores = {who: (cpu_seconds(pid) - before[who]) / wall for who, pid in pids.items()}
    cores["other"] = (machine_cpu_seconds() - machine_before) / wall - sum(cores.values())
    times = [t for t in results if t is not None]
    return Run(name, times, wall, len(results) - len(times), cores)


def gateway_ini(port: int, state_dir: Path, sim_port: int, devices: int,
                device_concurrency: int) -> str:
    lines = ["[gateway]", f"port = {port}", f"state_dir = {state_dir}", "cache_ttl = 0",
             "health_interval = 0", f"device_concurrency = {device_concurrency}"]
    for i in range(1, devices + 1):
        lines += ["", f"[device:cam{i}]",
                  f"url = http://127.0.0.1:{sim_port}/dev/{i}/onvif/device_service"]
        if i == 1:
            lines.append("default = yes")
    return "\n".join(lines) + "\n"


async def get_info(http: aiohttp.ClientSession, base: str, device: str,
                   headers: dict[str, str]) -> float | None:
    started = time.perf_counter()
    async with http.get(f"{base}/devices/{device}/device-information", headers=headers) as r:
        await r.read()
        return time.perf_counter() - started if r.status == 200 else None


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
                          targets: Sequence[tuple[str, dict[str, str]]], count: int,
                          concurrency: int) -> list[float | None]:
    """count GETs, request i to targets[i % len(targets)], by `concurrency` workers."""
    order = itertools.count()
    times: list[float | None] = []

    async def worker() -> None:
        while (i := next(order)) < count:
            device, headers = targets[i % len(targets)]
            times.append(await get_info(http, base, device, headers))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


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


def direct_zeep(pool: ThreadPoolExecutor, services: Sequence[ServiceProxy],
                count: int) -> list[float | None]:
    """The baseline: count GetDeviceInformation calls, call i to services[i % len(services)]."""
    def call(i: int) -> float | None:
        started = time.perf_counter()
        try:
            services[i % len(services)].GetDeviceInformation()
        except Exception:
            return None
        return time.perf_counter() - started

    return list(pool.map(call, range(count)))


def table(title: str, runs: Sequence[Run]) -> None:
    print(f"\n{title}")
    print(f"{'':<44} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}   cores busy")
    for run in runs:
        cores = ", ".join(f"{who} {used:.2f}" for who, used in run.cores.items())
        print(f"{run.name:<44} {run.rate:7.0f} {run.ms(0.5):7.2f} {run.ms(0.99):7.2f} "
              f"{run.failed:6d}   {cores}")


def overhead(label: str, gateway: Run, zeep: Run) -> None:
    print(f"{label:<12} p50 gateway/zeep {gateway.ms(0.5) / zeep.ms(0.5):5.2f}x   "
          f"req/s gateway/zeep {gateway.rate / zeep.rate:5.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--requests", type=int, default=5000, help="per measured load")
    parser.add_argument("--warmup", type=int, default=500, help="requests before each load")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--device-concurrency", type=int, default=4,
                        help="the gateway's device_concurrency (gateway.ini default: 4)")
    parser.add_argument("--profile", type=Path, help="py-spy record the gateway to this file")
    args = parser.parse_args()
    n, count, warmup, concurrency = args.devices, args.requests, args.warmup, args.concurrency

    print(f"machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}; "
          "the client (this script), the simulator and the gateway share these cores; "
          f"load average before: {os.getloadavg()[0]:.2f}")

    sim_port, gw_port = free_port(), free_port()
    base = f"http://127.0.0.1:{gw_port}"
    names = [f"cam{i}" for i in range(1, n + 1)]
    urls = [f"http://127.0.0.1:{sim_port}/dev/{i}/onvif/device_service" for i in range(1, n + 1)]
    simulator = await start("simulate", "--devices", str(n), "--port", str(sim_port),
                            "--discovery-port", "0", until="simulated ONVIF device(s) on")
    gateway_runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ini = Path(tmp) / "gateway.ini"
            ini.write_text(gateway_ini(gw_port, Path(tmp) / "state", sim_port, n,
                                       args.device_concurrency))
            started = time.perf_counter()
            gateway = await start("serve", "-c", str(ini), until="gateway serving on")
            serving = time.perf_counter() - started
            rss_start = rss_mib(gateway.pid)
            pids = {"gateway": gateway.pid, "simulator": simulator.pid, "client": os.getpid()}
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as http:
                first_headers = await login(http, base, names[0])
                await get_info(http, base, names[0], first_headers)
                first = time.perf_counter() - started
                rss_first = rss_mib(gateway.pid)
                touched_at = time.perf_counter()
                sessions = await touch_all(http, base, names)
                touched = time.perf_counter() - touched_at
                rss_all = rss_mib(gateway.pid)

                for label, targets in ((f"{n} devices", list(sessions.items())),
                                       ("1 device", [(names[0], sessions[names[0]])])):
                    await through_gateway(http, base, targets, warmup, concurrency)
                    profiler = None
                    if args.profile and not gateway_runs:
                        profiler = await asyncio.create_subprocess_exec(
                            shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                            "record", "--pid", str(gateway.pid), "--format", "raw",
                            "--rate", "200", "--output", str(args.profile),
                            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                        await asyncio.sleep(1)  # py-spy attaches
                    gateway_runs.append(await measured(
                        f"gateway GET device-information, {label}", pids,
                        lambda t=targets: through_gateway(http, base, t, count, concurrency)))
                    if profiler is not None:
                        profiler.send_signal(signal.SIGINT)
                        await profiler.wait()
            rss_load = rss_mib(gateway.pid)
            await gateway.stop()

        print(f"\ngateway start-up with {n} devices configured (simulator already running): "
              f"'gateway serving on' after {serving:.2f} s, first answer (login + GET on "
              f"{names[0]}) after {first:.2f} s")
        print(f"gateway RSS: {rss_start:.1f} MiB at start, {rss_first:.1f} MiB after the first "
              f"device, {rss_all:.1f} MiB after all {n} (each: 1 login + 1 GET; all {n} in "
              f"{touched:.1f} s at concurrency {concurrency}), {rss_load:.1f} MiB after the loads")
        print(f"  per device: {(rss_all - rss_start) * 1024 / n:.0f} KiB (all - start) / {n}, "
              f"{(rss_all - rss_first) * 1024 / (n - 1):.0f} KiB (all - first) / {n - 1}")

        pids = {"simulator": simulator.pid, "client": os.getpid()}
        services = await asyncio.to_thread(zeep_services, urls, concurrency)
        zeep_runs = []
        with ThreadPoolExecutor(concurrency) as pool:
            for label, chosen in ((f"{n} devices", services), ("1 device", services[:1])):
                await asyncio.to_thread(direct_zeep, pool, chosen, warmup)
                zeep_runs.append(await measured(
                    f"direct zeep GetDeviceInformation, {label}", pids,
                    lambda c=chosen: asyncio.to_thread(direct_zeep, pool, c, count)))
    finally:
        await simulator.stop()

    table(f"{count} requests per line at concurrency {concurrency}, after {warmup} warm-up "
          f"requests; gateway: cache_ttl 0, device_concurrency {args.device_concurrency}; "
          "cores busy = CPU seconds / wall seconds", [*gateway_runs, *zeep_runs])
    print()
    overhead(f"{n} devices", gateway_runs[0], zeep_runs[0])
    overhead("1 device", gateway_runs[1], zeep_runs[1])
    if args.profile:
        print(f"\n(the {n}-device gateway load ran under py-spy: {args.profile})")


if __name__ == "__main__":
    asyncio.run(main())
