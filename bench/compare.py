"""Benchmark: the gateway next to the best Python ONVIF client, onvif-zeep-async (the async client
Home Assistant uses), and next to the reference design's stack (a small Flask app calling zeep's
synchronous Client), all making the same SOAP call to the same simulated device; the gateway's
cached reads next to aiohttp's hello-world; and one gateway in front of 500 simulated devices.
Prints figures and ratios; asserts nothing.

    .venv/bin/pip install -e '.[bench]'          # onvif-zeep-async, Flask
    .venv/bin/python bench/compare.py [--rounds 10] [--scale 1] [--fleet 500]

All on 127.0.0.1, each part a process of its own: two simulators (64 devices answering at once;
one device 5 ms late, `simulate --latency 5`), three gateways (cache off, in front of the 64
devices; cache on; cache off in front of the late device), aiohttp's hello-world (and the same
with aiohttp's own access log on: what a line per request costs the leanest server), the Flask +
zeep app (Werkzeug's threaded server, which closes each connection after one answer, so its
client connects anew for every request; in front of the 64 devices), and two
client processes that this script drives: a small keep-alive HTTP/1.1 client for the gateways,
Flask and hello-world, and onvif-zeep-async calling GetDeviceInformation on the simulators
itself. At 64 connections each connection asks about a device of its own: identical reads in
flight at once share one SOAP call in the gateway (single flight), and this measures a SOAP call
per request. The loads take turns, a round of each at a time, so that a busy spell of a shared
machine hits them alike; a ratio is the median of the rounds' ratios (their range beside it).
CPU per request: a process's user + system time (/proc/PID/stat) over the requests answered
meanwhile; for the direct calls, the onvif-zeep-async process's.

Then, with --fleet N (500; 0 leaves it out), as bench/fleet.py does at length: a simulator of N
devices and a gateway in front of them (cache off): its start-up (--starts of them, 5, timed as
bench/startup.py times them: launch to 'gateway serving on', read from its output as it comes,
and to a first answer; the median of the starts, wall and CPU seconds), its resident memory per
device once each was used (a login and a read), and
the p99 latency of 64 connections spread over all N devices next to 64 connections over 64 of them
(one each: a SOAP call per request, as over all N: the goal's comparison) and to one (whose
identical reads in flight share SOAP calls: fewer per request), with the SOAP calls per request
each load made. --fleet-only measures these alone. The checkout's gateway package is
byte-compiled first, as an installed gateway's is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from common import (  # bench/common.py (from bench/)
    ROOT,
    Startup,
    byte_compile,
    cpu_seconds,
    launch,
    port_of,
    rss_mib,
    serve_startup,
    start,
    startups,
    stop,
)

USER, PASSWORD = "admin", "admin"  # a user of every simulated device
DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
HELLO = "hello-world serving on"
FLASK = "flask + zeep serving on"
DEVICE_WSDL = ROOT / "wsdl/ver10/device/wsdl/devicemgmt.wsdl"


# ---- the client processes (`compare.py --client`): one command a line in, one result a line out


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"an answer without Content-Length: {head!r}")


async def http_gets(port: int, targets: list[tuple[str, dict[str, str]]], count: int,
                    connections: int, spread: bool = False) -> dict[str, Any]:
    """count GETs over `connections` keep-alive connections, each in a closed loop; connection i
    asks for targets[i % len(targets)] (a path and its headers), or with spread, the nth request
    for targets[n % len(targets)]. Bytes in, bytes out: the client must cost less than the
    servers it measures."""
    requests = [
        "\r\n".join([f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                     *(f"{k}: {v}" for k, v in headers.items()), "", ""]).encode()
        for path, headers in targets]
    order = itertools.count()
    times: list[float] = []
    failed = 0

    async def connection(request: bytes) -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (n := next(order)) < count:
                started = time.perf_counter()
                if writer.is_closing():  # the server closes after every answer (Werkzeug's)
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[n % len(requests)] if spread else request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head))
                if head.startswith(b"HTTP/1.1 200 "):
                    times.append(time.perf_counter() - started)
                else:
                    failed += 1
                if b"\r\nconnection: close\r\n" in head.lower():
                    writer.close()
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(requests[i % len(requests)]) for i in range(connections)))
    return {"times": times, "failed": failed, "wall": time.perf_counter() - started}


async def onvif_service(url: str) -> Any:
    """onvif-zeep-async's device management service, as ONVIFCamera makes it (only the address
    differs: ONVIFCamera assumes /onvif/device_service, the simulator serves /dev/N/...)."""
    import onvif
    from onvif.client import ONVIFService

    wsdl = Path(onvif.__file__).parent / "wsdl" / "devicemgmt.wsdl"
    # no_cache: zeep's sqlite cache only speeds up loading WSDLs, and would write to $HOME
    service = ONVIFService(url, USER, PASSWORD, str(wsdl), no_cache=True,
                           binding_name=DEVICE_BINDING)
    await service.setup()
    return service


async def onvif_calls(service: Any, count: int, concurrency: int) -> dict[str, Any]:
    """count GetDeviceInformation calls by `concurrency` callers, each in a closed loop."""
    order = itertools.count()
    times: list[float] = []
    failed = 0

    async def caller() -> None:
        nonlocal failed
        while next(order) < count:
            started = time.perf_counter()
            try:
                await service.GetDeviceInformation()
            except Exception as exc:  # counted and shown: a benchmark of failures is worthless
                failed += 1
                print(f"onvif-zeep-async: {exc!r}", file=sys.stderr)
            else:
                times.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return {"times": times, "failed": failed, "wall": time.perf_counter() - started}


async def client() -> None:
    """Run the commands this script sends, one at a time."""
    import logging
    services: dict[str, Any] = {}
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        command = json.loads(line)
        if command["kind"] == "http":
            result = await http_gets(command["port"], command["targets"], command["count"],
                                     command["concurrency"], command.get("spread", False))
        else:
            if command["url"] not in services:
                services[command["url"]] = await onvif_service(command["url"])
                logging.getLogger("onvif").setLevel(logging.WARNING)
            result = await onvif_calls(services[command["url"]], command["count"],
                                       command["concurrency"])
        print(json.dumps(result), flush=True)
    for service in services.values():
        await service.close()


async def hello_world(logged: bool = False) -> None:
    """aiohttp's hello-world (its documentation's first server), on a free port until Ctrl-C.
    logged: with aiohttp's own access log written, a line per request on standard error (the
    logging.basicConfig(level=logging.DEBUG) of aiohttp's logging documentation, at INFO): what
    a line per request costs the leanest aiohttp server."""
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    if logged:
        logging.basicConfig(level=logging.INFO)
    app = web.Application()
    app.add_routes([web.get("/", hello)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    print(f"{HELLO} http://127.0.0.1:{port}", flush=True)
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # whatever it inherited (stop_on_ctrl_c says)
        asyncio.get_running_loop().add_signal_handler(sig, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def flask_zeep(urls: list[str]) -> None:
    """The reference design's stack: a small Flask app that calls zeep's synchronous Client (over
    requests: one service and connection pool per device, a fresh PasswordDigest token per
    call) and answers JSON, on Werkzeug's threaded server (a thread per connection, one request
    per connection); no sessions. GET /devices/camN/device-information asks the Nth URL."""
    import requests
    from flask import Flask, jsonify
    from requests.adapters import HTTPAdapter
    from werkzeug.serving import make_server
    from zeep import Client as ZeepClient
    from zeep.transports import Transport
    from zeep.wsdl import Document
    from zeep.wsse.username import UsernameToken

    document = Document(str(DEVICE_WSDL), Transport())
    services = []
    for url in urls:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_maxsize=64))
        client = ZeepClient(document, wsse=UsernameToken(USER, PASSWORD, use_digest=True),
                            transport=Transport(session=session))
        services.append(client.create_service(DEVICE_BINDING, url))
    app = Flask("flask_zeep")

    # (untyped where Flask is not installed: mypy of a checkout with the test extra only)
    @app.get("/devices/cam<int:n>/device-information")  # type: ignore[untyped-decorator,unused-ignore]
    def device_information(n: int) -> Any:
        info = services[n - 1].GetDeviceInformation()
        return jsonify(firmware=info.FirmwareVersion, serial_number=info.SerialNumber,
                       hardware_id=info.HardwareId, model=info.Model,
                       manufacturer=info.Manufacturer)

    # Werkzeug closes the connection after every answer (it has no keep-alive); it logs a line
    # per request, as the gateway does
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"{FLASK} http://127.0.0.1:{server.server_port}", flush=True)
    stop_on_ctrl_c()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()  # its threads, one per connection, are daemons: they end with it


def stop_on_ctrl_c() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt, whatever this process inherited: a shell
    starts a background job (`compare.py ... &`) with SIGINT ignored, its children too, and
    a Python program that inherits it ignored ignores Ctrl-C (the gateway's commands set their
    own handlers; these helpers did not, and outlived the bench's stop())."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


# ---- the conductor


class Client:
    """A client process of this script, sent a command at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid

    @classmethod
    async def start(cls) -> Client:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024)
        assert process.stdout is not None
        if await asyncio.wait_for(process.stdout.readline(), 60) != b"ready\n":
            raise RuntimeError("the client process did not start")
        return cls(process)

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process died running {command}")
        return json.loads(line)  # type: ignore[no-any-return]

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


@dataclass
class Load:
    """One kind of request, made `count` at a time, in rounds; what each round measured."""

    name: str
    client: Client
    command: dict[str, Any]
    count: int
    pids: dict[str, int]  # whose CPU to measure: "gateway" (or the hello-world), "client", "device"
    times: list[float] = field(default_factory=list)
    rounds: list[dict[str, float]] = field(default_factory=list)
    failed: int = 0
    # the gateway's port, to count the SOAP calls its requests made (read from its /metrics
    # before and after each round, outside the CPU measured)
    soap_port: int | None = None

    async def round(self, count: int | None = None, record: bool = True) -> None:
        calls = await soap_calls(self.soap_port) if self.soap_port else 0.0
        before = {who: cpu_seconds(pid) for who, pid in self.pids.items()}
        result = await self.client.run({**self.command, "count": count or self.count})
        spent = {who: cpu_seconds(pid) - before[who] for who, pid in self.pids.items()}
        calls = (await soap_calls(self.soap_port) - calls) if self.soap_port else 0.0
        self.failed += result["failed"]
        if not record:
            return
        answered = max(len(result["times"]), 1)
        figures = {f"cpu_{who}": seconds / answered for who, seconds in spent.items()}
        figures.update(rate=len(result["times"]) / result["wall"], wall=result["wall"],
                       p50=quantile(result["times"], 0.5), p99=quantile(result["times"], 0.99),
                       answered=len(result["times"]))
        figures.update({f"spent_{who}": seconds for who, seconds in spent.items()})
        figures["soap_calls"] = calls
        self.rounds.append(figures)
        self.times += result["times"]

    def total(self, key: str) -> float:
        return sum(r[key] for r in self.rounds)

    @property
    def rate(self) -> float:
        return self.total("answered") / self.total("wall")

    @property
    def soap_per_request(self) -> str:
        """SOAP calls the gateway made per request answered: 1.00 unless requests shared them."""
        if self.soap_port is None:
            return "-"
        return f"{self.total('soap_calls') / self.total('answered'):.2f}"

    def cpu_ms(self, who: str) -> str:
        if who not in self.pids:
            return "-"
        return f"{self.total(f'spent_{who}') / self.total('answered') * 1000:.2f}"


def quantile(times: Sequence[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


@dataclass
class Ratio:
    """A figure of one load over another's, per round."""

    name: str
    goal: str
    per_round: Callable[[dict[str, float], dict[str, float]], float]
    load: Load
    baseline: Load

    def values(self) -> list[float]:
        return [self.per_round(a, b) for a, b in zip(self.load.rounds, self.baseline.rounds,
                                                      strict=True)]


async def soap_calls(port: int) -> float:
    """GetDeviceInformation calls a gateway has made so far, all devices and outcomes (its
    /metrics, which the bench's gateways let 127.0.0.1 read without a token)."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith("gateway_soap_calls_total{")
               and 'operation="GetDeviceInformation"' in line)


def gateway_ini(directory: Path, port: int, device_urls: list[str], cache_ttl: float,
                device_concurrency: int, *settings: str) -> Path:
    """A bench gateway's gateway.ini, with these further [gateway] settings ("name = value"):
    a gateway run from another source tree names its own mapping files there (mappings_dir),
    since the installed gateway.mappings is this checkout's."""
    directory.mkdir(parents=True, exist_ok=True)
    ini = directory / "gateway.ini"
    lines = ["[gateway]", f"port = {port}", f"state_dir = {directory / 'state'}",
             f"cache_ttl = {cache_ttl}", "health_interval = 0",  # nothing else runs meanwhile
             f"device_concurrency = {device_concurrency}", "metrics_allow = 127.0.0.1/32",
             *settings]
    for i, url in enumerate(device_urls, 1):
        lines += ["", f"[device:cam{i}]", f"url = {url}"] + (["default = yes"] if i == 1 else [])
    ini.write_text("\n".join(lines) + "\n")
    return ini


async def login(port: int, devices: int) -> list[tuple[str, dict[str, str]]]:
    """A session on each of the gateway's devices: (its device information's path, headers).
    A few logins at a time: the gateway lets one address have only a few waiting on devices (it
    answers 429 past that, and then they are tried again)."""
    at_once = asyncio.Semaphore(4)

    async def one(http: aiohttp.ClientSession, device: str) -> tuple[str, dict[str, str]]:
        for _ in range(10):
            async with at_once, http.put(f"http://127.0.0.1:{port}/devices/{device}/login",
                                         json={"username": USER, "password": PASSWORD}) as r:
                answer = await r.json()
            if r.status != 429:
                break
            await asyncio.sleep(float(answer.get("retry_after", 1)))
        if "sessionToken" not in answer:
            raise RuntimeError(f"login to {device}: {answer}")
        token = answer["sessionToken"]
        return f"/devices/{device}/device-information", {"Authorization": f"Bearer {token}"}

    async with aiohttp.ClientSession() as http:
        return list(await asyncio.gather(*(one(http, f"cam{i}") for i in range(1, devices + 1))))


async def run(args: argparse.Namespace, tmp: Path) -> list[Load]:
    started: list[asyncio.subprocess.Process] = []
    clients: list[Client] = []

    async def sim(devices: int, *extra: str) -> tuple[int, list[str]]:
        process, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                      "--devices", str(devices), *extra,
                                      until="simulated ONVIF device(s) on")
        started.append(process)
        port = port_of(banner, "simulated ONVIF device(s) on")
        return process.pid, [f"http://127.0.0.1:{port}/dev/{i}/onvif/device_service"
                             for i in range(1, devices + 1)]

    async def gateway(name: str, urls: list[str], cache_ttl: float) -> tuple[int, int]:
        ini = gateway_ini(tmp / name, 0, urls, cache_ttl, args.device_concurrency)
        # its log (a line per request) to a file: a pipe this script drains could make it wait
        log = tmp / f"{name}.log"
        process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                      log=log)
        started.append(process)
        return process.pid, port_of(output, "gateway serving on")

    async def hello(option: str = "--hello") -> tuple[int, int]:
        # its log (with --hello-logged, aiohttp's access log) to a file, as the gateway's
        process, output = await launch(sys.executable, __file__, option, until=HELLO,
                                       log=tmp / f"{option[2:]}.log")
        started.append(process)
        return process.pid, port_of(output, HELLO)

    async def flask(urls: list[str]) -> tuple[int, int]:
        # its log (Werkzeug's line per request) to a file, as the gateway's
        process, output = await launch(sys.executable, __file__, "--flask", json.dumps(urls),
                                       until=FLASK, log=tmp / "flask.log")
        started.append(process)
        return process.pid, port_of(output, FLASK)

    async def new_client() -> Client:
        clients.append(await Client.start())
        return clients[-1]

    c = args.concurrency
    try:
        # The gateway shares identical reads in flight (single flight): so that each of the c
        # connections makes its own SOAP call, each asks a device of its own.
        (fast, fast_urls), (slow, slow_urls) = await asyncio.gather(
            sim(c), sim(1, "--latency", str(args.latency)))
        (gw, gw_port), (cached, cached_port), (gw_slow, gw_slow_port), (hw, hw_port), \
            (hwl, hwl_port), (fz, fz_port) = await asyncio.gather(
                gateway("uncached", fast_urls, 0), gateway("cached", fast_urls[:1], 3600),
                gateway("late", slow_urls, 0), hello(), hello("--hello-logged"),
                flask(fast_urls))
        http, direct = await asyncio.gather(new_client(), new_client())
        devices, one, one_slow = await asyncio.gather(
            login(gw_port, c), login(cached_port, 1), login(gw_slow_port, 1))
        fast_url, slow_url = fast_urls[0], slow_urls[0]
        flask_paths: list[tuple[str, dict[str, str]]] = [
            (f"/devices/cam{i}/device-information", {}) for i in range(1, c + 1)]
        n = args.scale
        seq, load64, hits, slow_seq = (int(n * 100), int(n * 500), int(n * 1500), int(n * 50))

        def get(port: int, targets: list[tuple[str, dict[str, str]]],
                concurrency: int) -> dict[str, Any]:
            return {"kind": "http", "port": port, "targets": targets, "concurrency": concurrency}

        def soap(url: str, concurrency: int) -> dict[str, Any]:
            return {"kind": "onvif", "url": url, "concurrency": concurrency}

        loads = [
            Load("gateway, sequential", http, get(gw_port, devices[:1], 1), seq,
                 {"gateway": gw, "client": http.pid, "device": fast}),
            Load("onvif-zeep-async, sequential", direct, soap(fast_url, 1), seq,
                 {"client": direct.pid, "device": fast}),
            Load(f"gateway, {c} connections", http, get(gw_port, devices, c), load64,
                 {"gateway": gw, "client": http.pid, "device": fast}),
            Load(f"onvif-zeep-async, {c} at once", direct, soap(fast_url, c), load64,
                 {"client": direct.pid, "device": fast}),
            Load("Flask + zeep, sequential", http, get(fz_port, flask_paths[:1], 1), seq,
                 {"gateway": fz, "client": http.pid, "device": fast}),
            Load(f"Flask + zeep, {c} connections", http, get(fz_port, flask_paths, c), load64,
                 {"gateway": fz, "client": http.pid, "device": fast}),
            Load(f"gateway cached, {c} connections", http, get(cached_port, one, c), hits,
                 {"gateway": cached, "client": http.pid}),
            Load(f"aiohttp hello-world, {c} conns", http, get(hw_port, [("/", {})], c), hits,
                 {"gateway": hw, "client": http.pid}),
            Load(f"hello-world + access log, {c} conns", http, get(hwl_port, [("/", {})], c),
                 hits, {"gateway": hwl, "client": http.pid}),
            Load(f"gateway, seq., device +{args.latency:g} ms", http,
                 get(gw_slow_port, one_slow, 1), slow_seq,
                 {"gateway": gw_slow, "client": http.pid, "device": slow}),
            Load(f"onvif-zeep-async, seq., +{args.latency:g} ms", direct, soap(slow_url, 1),
                 slow_seq, {"client": direct.pid, "device": slow}),
        ]
        for load in loads:  # connections, clock offsets, caches, WSDLs: all ready before timing
            await load.round(max(load.count // 5, 64), record=False)
        for i in range(args.rounds):
            for load in loads:
                await load.round()
            print(f"round {i + 1} of {args.rounds} done", file=sys.stderr)
        return loads
    finally:
        for each in clients:
            await each.stop()
        for process in started:
            await stop(process)


def report(args: argparse.Namespace, loads: list[Load], devices: Fleet | None) -> None:
    (seq, direct_seq, gw64, direct64, flask_seq, flask64, cached, hello, logged, slow,
     direct_slow) = loads
    c = args.concurrency
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} after the "
          f"run; {args.rounds} rounds; gateway device_concurrency {args.device_concurrency}")
    print("GET /device-information through the gateway (cache off unless said) or Flask + zeep, "
          "vs\nGetDeviceInformation by onvif-zeep-async, same simulated device; ms; CPU: ms of "
          "CPU time per request")
    print(f"{'':<36} {'p50':>6} {'p99':>6} {'req/s':>6} | CPU: {'server':>7} {'client':>6} "
          f"{'device':>6}")
    for load in loads:
        print(f"{load.name:<36} {quantile(load.times, 0.5) * 1000:6.2f} "
              f"{quantile(load.times, 0.99) * 1000:6.2f} {load.rate:6.0f} |      "
              f"{load.cpu_ms('gateway'):>7} {load.cpu_ms('client'):>6} {load.cpu_ms('device'):>6}")
    failed = sum(load.failed for load in loads)
    print(f"failed requests: {failed}" + ("  (THE FIGURES ARE NOT VALID)" if failed else ""))
    print("(server: the gateway's, Flask's or hello-world's process; the client of those is this "
          "script's small HTTP client)\n")

    def p50(load: Load) -> str:
        return f"{quantile(load.times, 0.5) * 1000:.2f}"

    rows = [
        ("sequential p50, ms", p50(seq), p50(direct_seq), p50(flask_seq)),
        (f"req/s, {c} connections", f"{gw64.rate:.0f}", f"{direct64.rate:.0f}",
         f"{flask64.rate:.0f}"),
        (f"CPU per request at {c}, ms (its process)", gw64.cpu_ms("gateway"),
         direct64.cpu_ms("client"), flask64.cpu_ms("gateway")),
        (f"cached reads, req/s (hello-world {hello.rate:.0f})",
         f"{cached.rate:.0f} ({cached.rate / hello.rate:.2f}x)", "", ""),
        (f"sequential p50, device +{args.latency:g} ms", p50(slow), p50(direct_slow), ""),
    ]
    print(f"{'':<42} {'gateway':>14} {'onvif-zeep-async':>17} {'Flask + zeep':>13}")
    for row in rows:
        print(f"{row[0]:<42} {row[1]:>14} {row[2]:>17} {row[3]:>13}")
    print()

    ratios = [
        Ratio(f"CPU per request: gateway process / onvif-zeep-async process, {c} at once",
              "<= 1.0", lambda a, b: a["cpu_gateway"] / b["cpu_client"], gw64, direct64),
        Ratio("CPU per request: the same, sequential", "<= 1.0",
              lambda a, b: a["cpu_gateway"] / b["cpu_client"], seq, direct_seq),
        Ratio("sequential p50: gateway / onvif-zeep-async", "<= 1.15",
              lambda a, b: a["p50"] / b["p50"], seq, direct_seq),
        Ratio(f"req/s at {c}: gateway / onvif-zeep-async", "",
              lambda a, b: a["rate"] / b["rate"], gw64, direct64),
        Ratio("cached reads req/s / aiohttp hello-world", ">= 0.7",
              lambda a, b: a["rate"] / b["rate"], cached, hello),
        Ratio("cached reads req/s / hello-world with aiohttp's access log", "",
              lambda a, b: a["rate"] / b["rate"], cached, logged),
        Ratio(f"device +{args.latency:g} ms, sequential p50: gateway / onvif-zeep-async", "",
              lambda a, b: a["p50"] / b["p50"], slow, direct_slow),
        Ratio(f"CPU per request at {c}: gateway process / Flask + zeep process", "",
              lambda a, b: a["cpu_gateway"] / b["cpu_gateway"], gw64, flask64),
        Ratio("sequential p50: gateway / Flask + zeep", "",
              lambda a, b: a["p50"] / b["p50"], seq, flask_seq),
        Ratio(f"req/s at {c}: gateway / Flask + zeep", "",
              lambda a, b: a["rate"] / b["rate"], gw64, flask64),
    ]
    print_ratios(ratios)
    added = [(a["p50"] - b["p50"]) * 1000 for a, b in zip(slow.rounds, direct_slow.rounds,
                                                          strict=True)]
    print(f"device +{args.latency:g} ms: the gateway adds {statistics.median(added):.2f} ms "
          f"(median of the rounds' p50 differences) to a direct call's "
          f"{quantile(direct_slow.times, 0.5) * 1000:.2f} ms")
    if devices is not None:
        fleet_report(devices, c)


def print_ratios(ratios: list[Ratio]) -> None:
    width = max(len(ratio.name) for ratio in ratios)
    print(f"{'ratio (median of the rounds)':<{width}} {'median':>6} {'rounds':>11} {'goal':>7}")
    for ratio in ratios:
        values = ratio.values()
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{ratio.name:<{width}} {statistics.median(values):5.2f}x {spread:>11} "
              f"{ratio.goal:>7}")


def fleet_report(devices: Fleet, c: int) -> None:
    n, rss = devices.devices, devices.rss
    print(f"\n{n} devices behind one gateway (cache off), simulator already running:")
    print(f"  start-up, median of {len(devices.starts)} starts (their range): "
          f"{startups(devices.starts)}\n  (goal: banner < 1 s; from launching `serve` to its "
          "'gateway serving on' line, and to a login and a read of cam1, as bench/startup.py)")
    print(f"  RSS: {rss['start']:.1f} MiB at start, {rss['all']:.1f} MiB once each device was "
          f"used (a login and a read each, in {devices.touched:.1f} s), {rss['loads']:.1f} MiB "
          f"after the loads:\n  {(rss['all'] - rss['start']) * 1024 / n:.0f} KiB per device "
          "(goal < 32)")
    print(f"{'':<36} {'p50':>6} {'p99':>7} {'req/s':>6} | CPU: {'gateway':>7} {'client':>6} "
          f"{'device':>6} | SOAP calls/request")
    for load in devices.loads:
        print(f"{load.name:<36} {quantile(load.times, 0.5) * 1000:6.2f} "
              f"{quantile(load.times, 0.99) * 1000:7.2f} {load.rate:6.0f} |      "
              f"{load.cpu_ms('gateway'):>7} {load.cpu_ms('client'):>6} {load.cpu_ms('device'):>6}"
              f" | {load.soap_per_request}")
    failed = sum(load.failed for load in devices.loads)
    print(f"  failed requests: {failed}" + ("  (THE FIGURES ARE NOT VALID)" if failed else ""))
    print(f"  (over all {n} and over {c} of them, each request is a SOAP call of its own; to one "
          f"device, the {c} connections'\n  identical reads in flight share SOAP calls, as the "
          "gateway does, and so make fewer: the goal's\n  comparison is over all / over "
          f"{c} of them, the same work per request, only the number of devices differs)\n")
    many, some, one = devices.loads
    print_ratios([Ratio(f"{n} devices: p99 at {c} over all / over {c} of them", "<= 2.0",
                        lambda a, b: a["p99"] / b["p99"], many, some),
                  Ratio(f"{n} devices: p99 at {c} over all / to one device (sharing)", "",
                        lambda a, b: a["p99"] / b["p99"], many, one)])


@dataclass
class Fleet:
    """One gateway in front of many devices: start-up, memory, latency spread over them all."""

    devices: int
    starts: list[Startup]  # `serve` started anew, as bench/startup.py times it
    touched: float  # seconds to log in to every device and read each once
    rss: dict[str, float]  # MiB: "start", "all" (every device used once), "loads" (after them)
    loads: list[Load]  # all devices, one device


async def fleet(args: argparse.Namespace, tmp: Path) -> Fleet:
    """A simulator of args.fleet devices and a gateway (cache off) in front of them."""
    n, c = args.fleet, args.concurrency
    started: list[asyncio.subprocess.Process] = []
    http = await Client.start()
    try:
        process, banner = await start("simulate", "--port", "0", "--discovery-port", "0",
                                      "--devices", str(n), until="simulated ONVIF device(s) on")
        started.append(process)
        simulator, port = process.pid, port_of(banner, "simulated ONVIF device(s) on")
        urls = [f"http://127.0.0.1:{port}/dev/{i}/onvif/device_service" for i in range(1, n + 1)]
        starts = [await serve_startup(port, n) for _ in range(args.starts)]
        ini = gateway_ini(tmp / "fleet", 0, urls, 0, args.device_concurrency)
        process, output = await start("serve", "-c", str(ini), until="gateway serving on",
                                      log=tmp / "fleet.log")
        started.append(process)
        gateway, gw_port = process.pid, port_of(output, "gateway serving on")
        rss = {"start": rss_mib(gateway)}
        touching = time.perf_counter()
        everyone = await login(gw_port, n)
        await http.run({"kind": "http", "port": gw_port, "targets": everyone, "count": n,
                        "concurrency": c, "spread": True})
        touched = time.perf_counter() - touching
        rss["all"] = rss_mib(gateway)
        pids = {"gateway": gateway, "client": http.pid, "device": simulator}
        count = int(args.scale * 500)
        loads = [Load(f"gateway, {n} devices, {c} conns", http,
                      {"kind": "http", "port": gw_port, "targets": everyone, "concurrency": c,
                       "spread": True}, count, pids, soap_port=gw_port),
                 Load(f"gateway, {c} of them, one a conn", http,
                      {"kind": "http", "port": gw_port, "targets": everyone[:c],
                       "concurrency": c}, count, pids, soap_port=gw_port),
                 Load(f"gateway, 1 device, {c} conns", http,
                      {"kind": "http", "port": gw_port, "targets": everyone[:1],
                       "concurrency": c}, count, pids, soap_port=gw_port)]
        for load in loads:
            await load.round(count // 2, record=False)
        for i in range(args.rounds):
            for load in loads:
                await load.round()
            print(f"{n} devices: round {i + 1} of {args.rounds} done", file=sys.stderr)
        rss["loads"] = rss_mib(gateway)
        return Fleet(n, starts, touched, rss, loads)
    finally:
        await http.stop()
        for process in reversed(started):
            await stop(process)


async def measure(args: argparse.Namespace) -> tuple[list[Load], Fleet | None]:
    with tempfile.TemporaryDirectory() as tmp:
        loads = [] if args.fleet_only else await run(args, Path(tmp))
        return loads, (await fleet(args, Path(tmp)) if args.fleet else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # many short rounds: the loads compared in a ratio run close together in time
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="requests per round: 100 sequential, 500 at 64, 1500 cached (x this)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--device-concurrency", type=int, default=4,
                        help="the gateway's device_concurrency (as gateway.ini's default)")
    parser.add_argument("--latency", type=float, default=5, help="ms, the late simulator's")
    parser.add_argument("--fleet", type=int, default=500,
                        help="devices behind one gateway for the fleet figures (0: none)")
    parser.add_argument("--starts", type=int, default=5,
                        help="gateway starts timed in front of the fleet (the median is shown)")
    parser.add_argument("--fleet-only", action="store_true",
                        help="only the fleet figures (a quicker look at them)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hello", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hello-logged", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flask", metavar="URLS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return asyncio.run(client())
    if args.hello or args.hello_logged:
        return asyncio.run(hello_world(args.hello_logged))
    if args.flask:
        return flask_zeep(json.loads(args.flask))
    byte_compile()  # the gateways start as an installed one does
    loads, devices = asyncio.run(measure(args))
    if loads:
        report(args, loads, devices)
    elif devices is not None:
        fleet_report(devices, args.concurrency)


if __name__ == "__main__":
    main()
