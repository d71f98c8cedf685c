"""Benchmark: how long the onvif-gateway command takes before it does anything useful.

    .venv/bin/python bench/startup.py [--runs 5] [--devices 500]

Prints the median wall time of `onvif-gateway --help`, of a configuration error (`serve -c` a
gateway.ini with `port = eighty`), of `onvif-gateway demo` up to its banner, and of `serve` in
front of one simulated device and of --devices of them (one simulator, already running): to its
"gateway serving on" line, and to its first correct answer (a login and GET /device-information on
the first device); the demo's and the gateway's CPU seconds by then; next to a bare `python -c
pass` (the interpreter's own start-up, which no change to the gateway can remove), with the
runs' range (one start on a shared machine varies far more than the median of several). The runs
take turns. bench/compare.py --fleet times `serve` with the same code (bench/common.py).

The gateway's own modules are byte-compiled first, as an installed gateway's are (bench/common.py's
byte_compile). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (  # bench/common.py (run from bench/)
    ROOT,
    byte_compile,
    cpu_seconds,
    port_of,
    serve_startup,
    start,
    stop,
)


def timed(*args: str) -> float:
    """Seconds one run of `python ARGS` takes, to its exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - started


async def banner() -> tuple[float, float]:
    """Seconds from launching `onvif-gateway demo` to its banner's last line; its CPU seconds."""
    started = time.perf_counter()
    process, _ = await start("demo", "--port", "0", until="Ctrl-C stops it")
    seconds, cpu = time.perf_counter() - started, cpu_seconds(process.pid)
    await stop(process)
    return seconds, cpu


async def measure(runs: int, devices: int, bad: Path) -> dict[str, list[float]]:
    """Every row's seconds, the rows taking turns run after run."""
    simulator, output = await start("simulate", "--port", "0", "--devices", str(devices),
                                    "--discovery-port", "0", until="users:")
    sim_port = port_of(output, "simulated ONVIF device(s) on")
    rows: dict[str, list[float]] = {}
    try:
        for _ in range(runs):
            rows.setdefault("python -c pass (the interpreter alone)", []).append(
                timed("-c", "pass"))
            rows.setdefault("onvif-gateway --help", []).append(timed("-m", "gateway", "--help"))
            rows.setdefault("onvif-gateway serve, bad gateway.ini", []).append(
                timed("-m", "gateway", "serve", "-c", str(bad)))
            demo, demo_cpu = await banner()
            rows.setdefault("onvif-gateway demo, to its banner", []).append(demo)
            rows.setdefault("onvif-gateway demo, to its banner, CPU s", []).append(demo_cpu)
            for count in (1, devices):
                run = await serve_startup(sim_port, count)
                for what, value in (("banner", run.banner), ("first answer", run.answer),
                                    ("banner, CPU s", run.banner_cpu),
                                    ("first answer, CPU s", run.answer_cpu)):
                    rows.setdefault(f"serve, {count} device(s): {what}", []).append(value)
    finally:
        await stop(simulator)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    byte_compile()
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "gateway.ini"
        bad.write_text("[gateway]\nport = eighty\n[device:cam]\nurl = http://127.0.0.1:1/\n")
        rows = asyncio.run(measure(args.runs, args.devices, bad))
    base = statistics.median(rows["python -c pass (the interpreter alone)"])
    print(f"median of {args.runs} runs; seconds, and the ratio to the interpreter alone "
          "(CPU: the gateway process's CPU seconds by then); the runs' range")
    for name, seconds in rows.items():
        median = statistics.median(seconds)
        ratio = "" if "CPU" in name else f" {median / base:6.1f}x"
        print(f"{name:<48} {median:6.3f} s{ratio:>7}  ({min(seconds):.2f}-{max(seconds):.2f})")


if __name__ == "__main__":
    main()
