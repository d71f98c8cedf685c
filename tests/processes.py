"""Running onvif-gateway commands as real processes, as a user does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_drains: set[asyncio.Task[None]] = set()


async def _drain(stream: asyncio.StreamReader) -> None:
    # The gateway logs every request: a pipe nobody reads would fill up and stall it.
    while await stream.readline():
        pass


async def start_command(*args: str, until: str, cwd: Path = ROOT
                        ) -> tuple[asyncio.subprocess.Process, str]:
    """Start `onvif-gateway ARGS`, read its output (stdout and stderr) up to a line containing
    `until`, and keep reading the rest in the background; returns it and what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    while until not in output:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert line, f"onvif-gateway {' '.join(args)} exited early: {output}"
        output += line.decode()
    task = asyncio.create_task(_drain(process.stdout))
    _drains.add(task)
    task.add_done_callback(_drains.discard)
    return process, output
