"""What the benchmark scripts share: free loopback ports, onvif-gateway processes, CPU time."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
_drains: set[asyncio.Task[None]] = set()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


async def _drain(stream: asyncio.StreamReader) -> None:
    # The gateway logs every request: a pipe nobody reads would fill up and stall it.
    while await stream.readline():
        pass


async def launch(*argv: str, until: str, log: Path | None = None) -> asyncio.subprocess.Process:
    """Start a program; return once it printed a line containing `until`. Its output then goes
    on into `log`, a file (as it would to a log file or journald: a write never waits for a
    reader), or else into a pipe that this process reads and drops."""
    if log is not None:
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=ROOT, stdout=sink, stderr=asyncio.subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while until not in (output := await asyncio.to_thread(log.read_text, errors="replace")):
            if process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(argv[:4])} did not start: {output}")
            await asyncio.sleep(0.05)
        return process
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    while until not in output:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if not line:
            raise RuntimeError(f"{' '.join(argv[:4])} exited: {output}")
        output += line.decode()
    task = asyncio.create_task(_drain(process.stdout))
    _drains.add(task)
    task.add_done_callback(_drains.discard)
    return process


async def start(*args: str, until: str, log: Path | None = None) -> asyncio.subprocess.Process:
    """Start `onvif-gateway ARGS`; return once it printed a line containing `until`."""
    return await launch(sys.executable, "-m", "gateway", *args, until=until, log=log)


async def stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    await process.wait()
