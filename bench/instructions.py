"""Benchmark: instructions the gateway's process executes per uncached request (valgrind's
callgrind), or per cached read (--cached), for builds of the gateway one after the other. Prints
figures; asserts nothing.

    git worktree add /tmp/before main                 # the build to compare against
    .venv/bin/python bench/instructions.py /tmp/before . [--requests 300] [--concurrency 1]
    .venv/bin/python bench/instructions.py /tmp/before . --cached --concurrency 64 --requests 3000

CPU time on a shared machine moves by a third from run to run; an instruction count does not (two
runs of one build differ by about 0.5%), so it can tell a change of 1-2% that CPU time cannot.
It counts the process's own instructions only: not the kernel's (system calls, the loopback
hop), nor what waiting on the processor's caches costs. For each source tree, one simulator of 64
devices and a gateway (cache off unless --cached, its own `gateway` package and mapping files)
run under callgrind with counting off; after logins and a warm-up, counting is on for
`--requests` GET /device-information (compare.py's client: one at a time by default). Needs valgrind
(`callgrind_control`); a gateway under it runs 50-100 times slower, so a build takes 2-3 minutes.
Timers fire as often per second as ever, so per request many times more often than at full
speed: a change that moves work onto a timer shows here dearer than it is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import launch, port_of, start, stop  # bench/common.py (from bench/)
from compare import gateway_ini, http_gets, login

SIMULATOR = "simulated ONVIF device(s) on"
SERVING = "gateway serving on"


async def control(pid: int, option: str) -> None:
    """callgrind_control's option, for the process pid runs under callgrind."""
    program = shutil.which("callgrind_control")
    assert program is not None  # checked by main()
    process = await asyncio.create_subprocess_exec(
        program, option, str(pid), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    if await process.wait() != 0:
        raise RuntimeError(f"callgrind_control {option} {pid} failed")


def totals(out: Path) -> int:
    """The instructions counted in callgrind's dumps (the largest total: the one dump's)."""
    counted = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                counted = max(counted, int(line.split()[1]))
    return counted


async def measure(source: Path, args: argparse.Namespace, tmp: Path, urls: list[str]) -> str:
    # its own mapping files; a long device timeout, since every request takes 50-100 times as
    # long under callgrind
    ini = gateway_ini(tmp, 0, urls, 3600 if args.cached else 0, args.device_concurrency,
                      f"mappings_dir = {source / 'mappings'}", "device_timeout = 60")
    out = tmp / "callgrind.out"
    os.environ["PYTHONPATH"] = str(source)  # its own gateway package, not ours
    try:
        gateway, banner = await launch(
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, "-m", "gateway", "serve", "-c", str(ini),
            until=SERVING, log=tmp / "gateway.log", cwd=source)
    finally:
        del os.environ["PYTHONPATH"]
    try:
        port = port_of(banner, SERVING)
        targets = await login(port, args.concurrency)
        # warm: clocks read, replies seen (with --cached, every connection's answer kept)
        await http_gets(port, targets, 50 + 2 * args.concurrency, args.concurrency)
        await control(gateway.pid, "--zero")
        await control(gateway.pid, "--instr=on")
        result = await http_gets(port, targets, args.requests, args.concurrency)
        await control(gateway.pid, "--instr=off")
        await control(gateway.pid, "--dump")
        await asyncio.sleep(1)  # the dump is written by the gateway's process
        answered = len(result["times"])
        return (f"{source.name:<24} {totals(out) / max(answered, 1) / 1e6:8.3f} M instructions "
                f"per request ({answered} answered, {result['failed']} failed)")
    finally:
        await stop(gateway)


async def run(args: argparse.Namespace) -> None:
    simulator, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                    "--devices", "64", until=SIMULATOR)
    try:
        port = port_of(banner, SIMULATOR)
        urls = [f"http://127.0.0.1:{port}/dev/{i}/onvif/device_service" for i in range(1, 65)]
        for n, source in enumerate(args.trees):
            with tempfile.TemporaryDirectory() as tmp:
                print(await measure(source, args, Path(tmp) / f"gw{n}", urls), flush=True)
    finally:
        await stop(simulator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="source trees of the gateway builds to measure")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--device-concurrency", type=int, default=4)
    parser.add_argument("--cached", action="store_true",
                        help="the cache on (cache_ttl 3600): cached reads, after the warm-up")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench/instructions.py needs valgrind (Debian: apt-get install valgrind)")
    args.trees = [Path(tree).resolve() for tree in args.trees]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
