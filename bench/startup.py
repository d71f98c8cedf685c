"""Benchmark: how long the onvif-gateway command takes before it does anything useful.

    .venv/bin/python bench/startup.py [--runs 5]

Prints the median wall time of `onvif-gateway --help`, of a configuration error (`serve -c` a
gateway.ini with `port = eighty`), and of `onvif-gateway demo` up to its banner, next to a bare
`python -c pass` (the interpreter's own start-up, which no change to the gateway can remove).
Asserts nothing.
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

from common import ROOT, start, stop  # bench/common.py (run from bench/)


def timed(*args: str) -> float:
    """Seconds one run of `python ARGS` takes, to its exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - started


async def banner() -> float:
    """Seconds from launching `onvif-gateway demo` to its banner's last line."""
    started = time.perf_counter()
    process, _ = await start("demo", "--port", "0", until="Ctrl-C stops it")
    seconds = time.perf_counter() - started
    await stop(process)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "gateway.ini"
        bad.write_text("[gateway]\nport = eighty\n[device:cam]\nurl = http://127.0.0.1:1/\n")
        rows = {
            "python -c pass (the interpreter alone)": [timed("-c", "pass") for _ in range(runs)],
            "onvif-gateway --help": [timed("-m", "gateway", "--help") for _ in range(runs)],
            "onvif-gateway serve, bad gateway.ini": [
                timed("-m", "gateway", "serve", "-c", str(bad)) for _ in range(runs)],
            "onvif-gateway demo, to its banner": [
                asyncio.run(banner()) for _ in range(runs)],
        }
    base = statistics.median(rows["python -c pass (the interpreter alone)"])
    print(f"median of {runs} runs; seconds, and the ratio to the interpreter alone")
    for name, seconds in rows.items():
        median = statistics.median(seconds)
        print(f"{name:<42} {median:6.3f} s {median / base:6.1f}x")


if __name__ == "__main__":
    main()
