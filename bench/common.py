"""What the benchmark scripts share: the tests' process helper (tests/processes.py), CPU time,
and how the gateway's start-up is timed (startup.py and compare.py time it alike)."""

from __future__ import annotations

import compileall
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# `python bench/x.py` puts bench/ on sys.path, not the repository: the process helper is the
# tests' own (one way to start and stop a command, for both), so the repository goes on it too.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.processes import (  # noqa: E402 (needs the path above)
    free_port,
    launch,
    port_of,
    start,
    stop,
)

__all__ = [
    "ROOT", "TICKS", "Startup", "byte_compile", "cpu_seconds", "first_answer", "fleet_ini",
    "free_port", "launch", "port_of", "rss_mib", "serve_startup", "start", "startups", "stop"]
TICKS = os.sysconf("SC_CLK_TCK")
USER, PASSWORD = "admin", "admin"  # a user of every simulated device


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def fleet_ini(state_dir: Path, sim_port: int, devices: int, *settings: str) -> str:
    """A gateway.ini: a gateway on a port of its choosing (0), health checks off, these further
    [gateway] settings ("name = value"), in front of the simulator's first devices (cam1 the
    default)."""
    lines = ["[gateway]", "port = 0", f"state_dir = {state_dir}", "health_interval = 0",
             *settings]
    for i in range(1, devices + 1):
        lines += ["", f"[device:cam{i}]",
                  f"url = http://127.0.0.1:{sim_port}/dev/{i}/onvif/device_service"]
        if i == 1:
            lines.append("default = yes")
    return "\n".join(lines) + "\n"


def rss_mib(pid: int) -> float:
    """A process's resident memory, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def byte_compile() -> None:
    """Byte-compile the checkout's gateway package, as pip does on install: where
    PYTHONDONTWRITEBYTECODE is set, every start of a checkout's gateway would compile its modules
    anew (a few tenths of a second of CPU), which no installed gateway does."""
    compileall.compile_dir(ROOT / "gateway", quiet=1)


async def first_answer(base: str) -> None:
    """A login to the first device and its device information, which must be answered."""
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{base}/devices/cam1/login",
                            json={"username": USER, "password": PASSWORD}) as reply:
            token = (await reply.json())["sessionToken"]
        async with http.get(f"{base}/devices/cam1/device-information",
                            headers={"Authorization": f"Bearer {token}"}) as reply:
            if reply.status != 200:
                raise RuntimeError(f"GET /device-information: {reply.status} {await reply.text()}")


@dataclass(frozen=True)
class Startup:
    """One start of `serve`: seconds from launching it to its 'gateway serving on' line and to
    its first correct answer, and its CPU seconds (user + system, all threads) at each."""

    banner: float
    answer: float
    banner_cpu: float
    answer_cpu: float


async def serve_startup(sim_port: int, devices: int) -> Startup:
    """Time one start of `python -m gateway serve -c gateway.ini`, as a user starts it, in front
    of the simulator's first `devices` devices: a gateway.ini and state directory of its own
    (new, as on a first start: the policy store is created), its banner read from its output
    as it comes (a pipe, not a file polled), then a login and a read of cam1; then stopped."""
    with tempfile.TemporaryDirectory() as folder:
        ini = Path(folder) / "gateway.ini"
        ini.write_text(fleet_ini(Path(folder) / "state", sim_port, devices))
        started = time.perf_counter()
        process, output = await start("serve", "-c", str(ini), until="gateway serving on")
        banner, banner_cpu = time.perf_counter() - started, cpu_seconds(process.pid)
        try:
            await first_answer(f"http://127.0.0.1:{port_of(output, 'gateway serving on')}")
            answer, answer_cpu = time.perf_counter() - started, cpu_seconds(process.pid)
        finally:
            await stop(process)
    return Startup(banner, answer, banner_cpu, answer_cpu)


def startups(runs: list[Startup]) -> str:
    """Several starts' figures, each the median of the starts (their range in brackets)."""
    def figure(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"

    return (f"banner {figure([r.banner for r in runs])}, CPU {figure([r.banner_cpu for r in runs])}"
            f"; first answer {figure([r.answer for r in runs])}")
