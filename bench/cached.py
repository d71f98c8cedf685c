"""Benchmark: the gateway's cached reads next to aiohttp's hello-world, CPU per request.

    .venv/bin/python bench/cached.py [--rounds 8] [--count 3000] [--baseline DIR]

One simulated device; a gateway with the cache on (cache_ttl 3600) and a session on it; aiohttp's
hello-world (bench/compare.py's); with --baseline, a second gateway run from another checkout
(say `git archive main | tar -x -C /tmp/base`), so that two versions of the code are measured in
one run, taking turns. Each round sends `count` GET /device-information (Bearer token) over 64
keep-alive connections to each server in turn (compare.py's client process); a server's CPU per
request is its user + system time (/proc/PID/stat) over the requests it answered. Prints each
server's CPU per request (us) and requests per second, and the ratios to hello-world (the median of
the rounds'). With --profile FILE, py-spy records the gateway (this checkout's) during the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, launch, port_of, start, stop  # bench/common.py (from bench/)
from compare import HELLO, Client, Load, gateway_ini, login  # bench/compare.py

COMPARE = Path(__file__).resolve().parent / "compare.py"
CONNECTIONS = 64


async def run(args: argparse.Namespace, tmp: Path, baseline: Path | None) -> list[Load]:
    started: list[asyncio.subprocess.Process] = []
    client: Client | None = None
    try:
        sim, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                  "--devices", "1", until="simulated ONVIF device(s) on")
        started.append(sim)
        url = (f"http://127.0.0.1:{port_of(banner, 'simulated ONVIF device(s) on')}"
               "/dev/1/onvif/device_service")

        async def gateway(name: str, checkout: Path) -> tuple[int, int]:
            ini = gateway_ini(tmp / name, 0, [url], 3600, 4)
            # `python -m gateway` from a checkout imports that checkout's gateway package
            process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                          log=tmp / f"{name}.log", cwd=checkout)
            started.append(process)
            return process.pid, port_of(output, "gateway serving on")

        servers = {"gateway": await gateway("gateway", ROOT)}
        if baseline is not None:
            servers["baseline"] = await gateway("baseline", baseline)
        hello, output = await launch(sys.executable, str(COMPARE), "--hello", until=HELLO)
        started.append(hello)
        client = await Client.start()
        loads = []
        for name, (pid, port) in servers.items():
            targets = await login(port, 1)
            loads.append(Load(f"{name} cached", client,
                              {"kind": "http", "port": port, "targets": targets,
                               "concurrency": CONNECTIONS}, args.count,
                              {"server": pid, "client": client.pid}))
        loads.append(Load("aiohttp hello-world", client,
                          {"kind": "http", "port": port_of(output, HELLO),
                           "targets": [("/", {})], "concurrency": CONNECTIONS}, args.count,
                          {"server": hello.pid, "client": client.pid}))
        for load in loads:
            await load.round(1000, record=False)
        profilers = []
        if args.profile:  # the gateway's and the hello-world's, side by side
            for pid, name in ((servers["gateway"][0], "gateway"), (hello.pid, "hello")):
                path = Path(args.profile)
                profilers.append(await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                    "-o", str(path.with_stem(f"{path.stem}-{name}")), "-r", "250",
                    *(["--format", "raw"] if path.suffix == ".txt" else [])))
        for i in range(args.rounds):
            for load in loads:
                await load.round()
            print(f"round {i + 1} of {args.rounds} done", file=sys.stderr)
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
            await profiler.wait()
        return loads
    finally:
        if client is not None:
            await client.stop()
        for process in started:
            await stop(process)


def report(loads: list[Load]) -> None:
    hello = loads[-1]
    print(f"{CONNECTIONS} connections, {len(hello.rounds)} rounds of {hello.count} requests")
    print(f"{'':<22} {'req/s':>7} {'CPU us/req':>11} {'vs hello: req/s':>16} {'CPU':>6}")
    for load in loads:
        rate = statistics.median(a["rate"] / b["rate"]
                                 for a, b in zip(load.rounds, hello.rounds, strict=True))
        cpu = statistics.median(a["cpu_server"] / b["cpu_server"]
                                for a, b in zip(load.rounds, hello.rounds, strict=True))
        cpu_us = load.total("spent_server") / load.total("answered") * 1e6
        print(f"{load.name:<22} {load.rate:>7.0f} {cpu_us:>11.1f} "
              f"{rate:>15.2f}x {cpu:>5.2f}x")
    if len(loads) == 3:
        now, base = loads[0], loads[1]
        cpu = statistics.median(a["cpu_server"] / b["cpu_server"]
                                for a, b in zip(now.rounds, base.rounds, strict=True))
        print(f"CPU per request, gateway / baseline: {cpu:.2f}x")
    failed = sum(load.failed for load in loads)
    print(f"failed requests: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--count", type=int, default=3000, help="requests per round and server")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to measure alongside")
    parser.add_argument("--profile", metavar="FILE",
                        help="py-spy records of the gateway and the hello-world, FILE-gateway and "
                        "FILE-hello (.svg, or .txt: collapsed stacks)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(args.baseline).resolve() if args.baseline else None
        loads = asyncio.run(run(args, Path(tmp), baseline))
    report(loads)


if __name__ == "__main__":
    main()
