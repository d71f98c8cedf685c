"""Running onvif-gateway commands as real processes, as a user does: for the tests and bench/.

Every command is started on port 0 and the port it got is read from what it prints
(`port_of`): a port picked free beforehand may be taken by someone else before the command
binds it."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # seconds; a start-up on a loaded 2-core machine may take tens of them
_drains: set[asyncio.Task[None]] = set()


def free_port() -> int:
    """A loopback port nobody listens on right now: for a URL that nobody answers at, or for a
    server that cannot choose its own (redis-server: --port 0 turns TCP off). Our commands get
    --port 0 instead."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drain(stream: asyncio.StreamReader) -> None:
    # The gateway logs every request: a pipe nobody reads would fill up and stall it.
    while await stream.readline():
        pass


async def launch(*argv: str, until: str, log: Path | None = None, cwd: Path = ROOT
                 ) -> tuple[asyncio.subprocess.Process, str]:
    """Start a program; return it and what it printed (stdout and stderr) up to a line
    containing `until`. Its output then goes on into `log`, a file (as it would to a log file
    or journald: a write never waits for a reader), or else into a pipe that this process
    reads and drops."""
    if log is not None:
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdout=sink, stderr=asyncio.subprocess.STDOUT)
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        while until not in (output := await asyncio.to_thread(log.read_text, errors="replace")):
            if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{' '.join(argv[:4])} did not start: {output}")
            await asyncio.sleep(0.05)
        return process, output
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    while until not in output:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=STARTUP_TIMEOUT)
        if not line:
            raise RuntimeError(f"{' '.join(argv[:4])} exited early: {output}")
        output += line.decode()
    task = asyncio.create_task(_drain(process.stdout))
    _drains.add(task)
    task.add_done_callback(_drains.discard)
    return process, output


async def start(*args: str, until: str, log: Path | None = None, cwd: Path = ROOT
                ) -> tuple[asyncio.subprocess.Process, str]:
    """Start `onvif-gateway ARGS` (as launch does); return it and what it printed up to `until`."""
    return await launch(sys.executable, "-m", "gateway", *args, until=until, log=log, cwd=cwd)


async def stop(process: asyncio.subprocess.Process, kill_after: float = 30) -> int:
    """Ctrl-C, as a user stops it; its exit status. One still running `kill_after` seconds later
    is killed, and said so on stderr: its status is then -9 (SIGKILL), which no caller takes for
    a clean exit, while a benchmark keeps what it measured and the processes after this one
    are still stopped."""
    if process.returncode is not None:
        return process.returncode  # it ended by itself (crashed): nothing to stop
    process.send_signal(signal.SIGINT)
    try:
        return await asyncio.wait_for(process.wait(), kill_after)
    except TimeoutError:
        command = " ".join(_command(process.pid)[:5])
        print(f"pid {process.pid} ({command}) did not stop {kill_after:g} s after Ctrl-C: killed",
              file=sys.stderr, flush=True)
        process.kill()
        return await process.wait()


def _command(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return ["?"]


def port_of(output: str, label: str) -> int:
    """The port in the first http(s) URL that follows `label` in a command's output: the one
    it got ("gateway serving on", "simulated ONVIF device(s) on", the demo's "gateway")."""
    found = re.search(re.escape(label) + r"\s+https?://[^\s/]+:(\d+)", output)
    if found is None:
        raise ValueError(f"no URL after {label!r} in: {output}")
    return int(found.group(1))
