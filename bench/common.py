"""What the benchmark scripts share: the tests' process helper (tests/processes.py), CPU time."""

from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

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
    "ROOT", "TICKS", "byte_compile", "cpu_seconds", "fleet_ini", "free_port", "launch", "port_of",
    "rss_mib", "start", "stop"]
TICKS = os.sysconf("SC_CLK_TCK")


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
