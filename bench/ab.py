"""Benchmark: two (or more) builds of the gateway taking turns in one run, each next to
onvif-zeep-async, for a change's before/after. Prints figures and ratios; asserts nothing.

    git worktree add /tmp/before main                 # the build to compare against
    .venv/bin/python bench/ab.py /tmp/before . [--rounds 6] [--scale 1]

One simulator of 64 devices; a gateway (cache off) per source tree given, each run from that tree
(its own `gateway` package first on PYTHONPATH); compare.py's client processes. Each round runs,
in turn, GET /device-information through each gateway and GetDeviceInformation made directly by
onvif-zeep-async, one at a time and over 64 connections (a device each). It prints each build's
CPU time per request (/proc/PID/stat) and sequential p50 as ratios to the direct calls of the
same round, and each later build's as ratios to the first build's in the same round: the
median of the rounds (their range beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from common import port_of, start, stop  # bench/common.py (from bench/)
from compare import Client, Load, gateway_ini, login

SIMULATOR = "simulated ONVIF device(s) on"


async def run(args: argparse.Namespace, tmp: Path) -> None:
    started: list[asyncio.subprocess.Process] = []
    clients: list[Client] = []
    c = args.concurrency
    try:
        process, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                      "--devices", str(c), until=SIMULATOR)
        started.append(process)
        device, port = process.pid, port_of(banner, SIMULATOR)
        urls = [f"http://127.0.0.1:{port}/dev/{i}/onvif/device_service" for i in range(1, c + 1)]
        gateways: list[tuple[str, int, int]] = []  # name, pid, port
        for n, source in enumerate(args.trees):
            ini = gateway_ini(tmp / f"gw{n}", 0, urls, 0, args.device_concurrency,
                              f"mappings_dir = {source / 'mappings'}")
            os.environ["PYTHONPATH"] = str(source)  # its own gateway package, not ours
            try:
                process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                              log=tmp / f"gw{n}.log", cwd=source)
            finally:
                del os.environ["PYTHONPATH"]
            started.append(process)
            gateways.append((f"{n}:{source.name}", process.pid,
                             port_of(output, "gateway serving on")))
        clients += [await Client.start(), await Client.start()]
        http, direct = clients
        seq, load64 = int(args.scale * 200), int(args.scale * 500)
        loads: dict[str, Load] = {}
        for name, pid, gw_port in gateways:
            devices = await login(gw_port, c)
            pids = {"gateway": pid, "client": http.pid, "device": device}
            command = {"kind": "http", "port": gw_port}
            loads[f"{name} seq"] = Load(f"{name} seq", http, {
                **command, "targets": devices[:1], "concurrency": 1}, seq, pids)
            loads[f"{name} {c}"] = Load(f"{name} {c}", http, {
                **command, "targets": devices, "concurrency": c}, load64, pids)
        pids = {"client": direct.pid, "device": device}
        loads["direct seq"] = Load("direct seq", direct, {
            "kind": "onvif", "url": urls[0], "concurrency": 1}, seq, pids)
        loads[f"direct {c}"] = Load(f"direct {c}", direct, {
            "kind": "onvif", "url": urls[0], "concurrency": c}, load64, pids)
        for load in loads.values():
            await load.round(max(load.count // 5, 64), record=False)
        for i in range(args.rounds):
            for load in loads.values():
                await load.round()
            print(f"round {i + 1} of {args.rounds} done", file=sys.stderr)
    finally:
        for each in clients:
            await each.stop()
        for process in started:
            await stop(process)
    report(loads, [name for name, _, _ in gateways], c)


def report(loads: dict[str, Load], names: list[str], c: int) -> None:
    print(f"\nload average {os.getloadavg()[0]:.2f} after the run; ms; CPU: per request, "
          "the gateway's process (the direct calls': onvif-zeep-async's)")
    print(f"{'':<28} {'p50':>6} {'p99':>7} {'req/s':>6} {'CPU':>6}")
    for load in loads.values():
        who = "gateway" if "gateway" in load.pids else "client"
        times = sorted(load.times)
        print(f"{load.name:<28} {times[len(times) // 2] * 1000:6.2f} "
              f"{times[int(len(times) * 0.99)] * 1000:7.2f} {load.rate:6.0f} "
              f"{load.cpu_ms(who):>6}")
    print(f"\n{'ratio to onvif-zeep-async, median (rounds)':<44}" + "".join(
        f"{name:>22}" for name in names))

    def row(title: str, kind: str, key: str, direct_key: str) -> None:
        cells = []
        for name in names:
            values = [a[key] / b[direct_key] for a, b in zip(
                loads[f"{name} {kind}"].rounds, loads[f"direct {kind}"].rounds, strict=True)]
            cells.append(f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})")
        print(f"{title:<44}" + "".join(f"{cell:>22}" for cell in cells))

    row(f"CPU per request, {c} connections", str(c), "cpu_gateway", "cpu_client")
    row("CPU per request, one at a time", "seq", "cpu_gateway", "cpu_client")
    row("sequential p50", "seq", "p50", "p50")
    first = names[0]
    print(f"\n{'ratio to ' + first + ', median (rounds)':<44}" + "".join(
        f"{name:>22}" for name in names[1:]))
    for title, kind, key in ((f"CPU per request, {c} connections", str(c), "cpu_gateway"),
                             ("CPU per request, one at a time", "seq", "cpu_gateway"),
                             ("sequential p50", "seq", "p50")):
        cells = []
        for name in names[1:]:
            values = [a[key] / b[key] for a, b in zip(
                loads[f"{name} {kind}"].rounds, loads[f"{first} {kind}"].rounds, strict=True)]
            cells.append(f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})")
        print(f"{title:<44}" + "".join(f"{cell:>22}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source trees of the gateway builds to compare")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="requests per round: 200 one at a time, 500 at 64 (x this)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--device-concurrency", type=int, default=4)
    args = parser.parse_args()
    args.trees = [Path(tree).resolve() for tree in args.trees]
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
