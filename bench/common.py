"""What the benchmark scripts share: free loopback ports and onvif-gateway processes."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_drains: set[asyncio.Task[None]] = set()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drain(stream: asyncio.StreamReader) -> None:
    # The gateway logs every request: a pipe nobody reads would fill up and stall it.
    while await stream.readline():
        pass


async def start(*args: str, until: str) -> asyncio.subprocess.Process:
    """Start `onvif-gateway ARGS`; return once it printed a line containing `until`."""
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
    task = asyncio.create_task(_drain(process.stdout))
    _drains.add(task)
    task.add_done_callback(_drains.discard)
    return process


async def stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    await process.wait()
