"""Benchmark: the gateway's part of a request's wait, one request at a time, cache off: its CPU
from the client's request read to the SOAP request written to the device ("before"), and from
the device's reply read to the answer written ("after"), for builds taking turns. Prints
figures; asserts nothing.

    git worktree add /tmp/before main                 # the build to compare against
    .venv/bin/python bench/path.py /tmp/before . [--rounds 4] [--requests 1000]

A client waits for the gateway only between those points (and for the device between them):
what the gateway does after writing the answer (its log line, its next turns) is off that wait.
Each build runs in a process of its own (its own `gateway` package first on sys.path, logging as
`serve` does), in front of one simulated device shared by all, with compare.py's client process.
The times are the gateway thread's CPU time (time.thread_time, read as asyncio's socket
transport reads and writes), so time the process spent waiting for a core is left out: on a
shared machine it moves much less than wall-clock time. Also printed: the process's CPU per
request, its event loop's turns per request and the client's p50. Medians over the requests;
each round's figure side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIMULATOR = "simulated ONVIF device(s) on"


def instrument() -> list[tuple[str, int, float]]:
    """Note (read or write, the socket's own port, thread CPU time) at each socket read and
    write of asyncio's selector transports, made from now on."""
    from asyncio import selector_events

    marks: list[tuple[str, int, float]] = []
    transport: Any = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    read, write = transport._read_ready, transport.write

    def read_ready(self: Any) -> None:
        marks.append(("r", self._extra["sockname"][1], time.thread_time()))
        read(self)

    def written(self: Any, data: Any) -> None:
        marks.append(("w", self._extra["sockname"][1], time.thread_time()))
        write(self, data)

    transport._read_ready = read_ready
    transport.write = written
    return marks


def parts(marks: list[tuple[str, int, float]], port: int) -> tuple[list[float], list[float]]:
    """Per request: (before, after) in seconds, from the marks' pattern request read, SOAP
    request written, reply read, answer written (the server's socket has the gateway's port)."""
    before, after = [], []
    for (k1, p1, t1), (k2, p2, t2), (k3, p3, t3), (k4, p4, t4) in zip(
            marks, marks[1:], marks[2:], marks[3:], strict=False):
        if ((k1, k2, k3, k4) == ("r", "w", "r", "w") and p1 == p4 == port
                and p2 != port and p3 != port):
            before.append(t2 - t1)
            after.append(t4 - t3)
    return before, after


async def one(tree: Path, device_url: str, requests: int) -> dict[str, float]:
    """One build's figures, measured in this process (bench/ is on sys.path: compare.py)."""
    marks = instrument()
    from compare import Client, gateway_ini, login

    from gateway.app import create_app
    from gateway.config import load_config
    from gateway.logs import configure_logging
    from gateway.web import server

    assert Path(sys.modules["gateway"].__file__ or "").is_relative_to(tree), "not the build's"

    with tempfile.TemporaryDirectory() as tmp:
        ini = gateway_ini(Path(tmp), 0, [device_url], 0, 4, f"mappings_dir = {tree / 'mappings'}")
        config = load_config(ini)
        configure_logging(False, config.log_format)  # as `serve` does: a line per request
        runner, port = await server.start(await create_app(config), "127.0.0.1", 0)
        client = await Client.start()
        try:
            command = {"kind": "http", "port": port, "targets": await login(port, 1),
                       "concurrency": 1}
            await client.run({**command, "count": 200})  # warm: clock read, reply seen
            loop = asyncio.get_running_loop()
            turns = 0
            run_once = loop._run_once  # type: ignore[attr-defined]

            def counted() -> None:
                nonlocal turns
                turns += 1
                run_once()

            loop._run_once = counted  # type: ignore[attr-defined]
            marks.clear()
            cpu = time.process_time()
            result = await client.run({**command, "count": requests})
            cpu = time.process_time() - cpu
            loop._run_once = run_once  # type: ignore[attr-defined]
        finally:
            await client.stop()
            await runner.cleanup()
    before, after = parts(marks, port)
    answered = max(len(result["times"]), 1)
    return {"before": statistics.median(before) * 1e6, "after": statistics.median(after) * 1e6,
            "cpu": cpu / answered * 1e6, "turns": turns / answered,
            "p50": statistics.median(result["times"]) * 1e3 if result["times"] else 0.0}


async def run(args: argparse.Namespace) -> None:
    from common import port_of, start, stop

    simulator, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                    "--devices", "1", until=SIMULATOR)
    url = f"http://127.0.0.1:{port_of(banner, SIMULATOR)}/dev/1/onvif/device_service"
    rows: dict[Path, list[dict[str, float]]] = {tree: [] for tree in args.trees}
    try:
        for _ in range(args.rounds):
            for tree in args.trees:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--one", str(tree), url, str(args.requests),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, log = await process.communicate()  # log: a line per request
                if process.returncode != 0:
                    sys.exit(f"{tree}: {log.decode()[-3000:]}")
                rows[tree].append(json.loads(out.decode().splitlines()[-1]))
    finally:
        await stop(simulator)
    print(f"GET /device-information one at a time, cache off, {args.requests} requests a round; "
          "us of the gateway's CPU (thread) on the client's wait, medians; each round's figure")
    for title, key, unit in (("before the device call", "before", "us"),
                             ("after the device's reply", "after", "us"),
                             ("process CPU per request", "cpu", "us"),
                             ("event-loop turns per request", "turns", ""),
                             ("client's p50, ms", "p50", "")):
        print(title)
        for tree, figures in rows.items():
            values = " ".join(f"{f[key]:7.1f}" for f in figures)
            median = statistics.median(f[key] for f in figures)
            print(f"  {tree.name:<20} {values}   median {median:7.1f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", help="source trees of the gateway builds to measure")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # tree, device URL, requests
    args = parser.parse_args()
    if args.one:
        import compare  # noqa: F401 (first: through common.py it puts this checkout on sys.path)

        tree = Path(args.one[0]).resolve()
        sys.path.insert(0, str(tree))  # then the build's own gateway package, before ours
        print(json.dumps(asyncio.run(one(tree, args.one[1], int(args.one[2])))))
        return
    args.trees = [Path(tree).resolve() for tree in args.trees]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
