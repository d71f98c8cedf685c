"""Benchmark: the gateway's cached reads next to aiohttp's hello-world, CPU per request.

    .venv/bin/python bench/cached.py [--rounds 8] [--count 3000] [--baseline DIR]

One simulated device; a gateway with the cache on (cache_ttl 3600) and a session on it; aiohttp's
hello-world (bench/compare.py's), and the same with aiohttp's own access log on (a line per
request, as the gateway writes one: what that line alone costs the leanest aiohttp server); with
--baseline, a second gateway run from another checkout
(say `git archive main | tar -x -C /tmp/base`), so that two versions of the code are measured in
one run, taking turns. Each round sends `count` GET /device-information (Bearer token) over 64
keep-alive connections to each server in turn (compare.py's client process); a server's CPU per
request is its user + system time (/proc/PID/stat) over the requests it answered. Prints each
server's CPU per request (us) and requests per second, and the ratios to each hello-world (the
median of the rounds'). With --profile FILE, py-spy records the gateway (this checkout's) and the
hello-world during the rounds.
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
            ini = gateway_ini(tmp / name, 0, [url], 3600, 4,
                              f"mappings_dir = {checkout / 'mappings'}")  # its own, too
            # `python -m gateway` from a checkout imports that checkout's gateway package
            process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                          log=tmp / f"{name}.log", cwd=checkout)
            started.append(process)
            return process.pid, port_of(output, "gateway serving on")

        servers = {"gateway": await gateway("gateway", ROOT)}
        if baseline is not None:
            servers["baseline"] = await gateway("baseline", baseline)
        client = await Client.start()
        loads = []
        for name, (pid, port) in servers.items():
            targets = await login(port, 1)
            loads.append(Load(f"{name} cached", client,
                              {"kind": "http", "port": port, "targets": targets,
                               "concurrency": CONNECTIONS}, args.count,
                              {"server": pid, "client": client.pid}))
        for name, option in (("hello-world, logged", "--hello-logged"),
                             ("aiohttp hello-world", "--hello")):
            hello, output = await launch(sys.executable, str(COMPARE), option, until=HELLO,
                                         log=tmp / f"{option[2:]}.log")
            started.append(hello)
            loads.append(Load(name, client,
                              {"kind": "http", "port": port_of(output, HELLO),
                               "targets": [("/", {})], "concurrency": CONNECTIONS}, args.count,
                              {"server": hello.pid, "client": client.pid}))
        for load in loads:
            await load.round(1000, record=False)
        profilers = []
        if args.profile:  # the gateway's and the hello-world's, side by side
            for pid, name in ((servers["gateway"][0], "gateway"),
                              (loads[-1].pids["server"], "hello")):
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
    logged, hello = loads[-2:]
    print(f"{CONNECTIONS} connections, {len(hello.rounds)} rounds of {hello.count} requests")
    print(f"{'':<22} {'req/s':>7} {'CPU us/req':>11} {'vs hello: req/s':>16} {'CPU':>6}"
          f" {'vs logged: req/s':>17} {'CPU':>6}")

    def ratio(load: Load, other: Load, key: str) -> float:
        return statistics.median(a[key] / b[key]
                                 for a, b in zip(load.rounds, other.rounds, strict=True))

    for load in loads:
        cpu_us = load.total("spent_server") / load.total("answered") * 1e6
        print(f"{load.name:<22} {load.rate:>7.0f} {cpu_us:>11.1f} "
              f"{ratio(load, hello, 'rate'):>15.2f}x {ratio(load, hello, 'cpu_server'):>5.2f}x"
              f" {ratio(load, logged, 'rate'):>16.2f}x {ratio(load, logged, 'cpu_server'):>5.2f}x")
    if len(loads) == 4:
        print(f"CPU per request, gateway / baseline: "
              f"{ratio(loads[0], loads[1], 'cpu_server'):.2f}x")
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
