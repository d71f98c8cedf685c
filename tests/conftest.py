"""Shared fixtures: simulated devices and gateways, both served over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path
from tests.events_helpers import Receiver
from tests.processes import free_port, port_of, start


class FakeClock:
    """Monotonic seconds that move only when the test moves them (`clock.now += 5`): given to
    what measures expiries, breakers and ages (create_app, the simulated devices)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A FakeClock for the test to give out and move."""
    return FakeClock()


# How long a fixture waits for what it started to stop (a gateway, a relay, a process) before it
# fails the test naming it: not a speed figure, a bound on a hang. A gateway waits up to 60 s
# for requests in flight as it stops (aiohttp's default).
STOPS_WITHIN = 90.0


async def stopped(what: str, stopping: Awaitable[Any], within: float = STOPS_WITHIN) -> None:
    """Await `stopping`; if it has not ended within `within` seconds, cancel it and fail the
    test naming `what` and the tasks still running (a stop that hangs would otherwise hang the
    whole test run: a CI run once waited for ever in the teardown of a gateway)."""
    task = asyncio.ensure_future(stopping)
    done, _ = await asyncio.wait([task], timeout=within)
    if done:
        task.result()
        return
    running = sorted(f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})"
                     for t in asyncio.all_tasks()
                     if t is not task and t is not asyncio.current_task())
    task.cancel()
    await asyncio.wait([task], timeout=within)
    pytest.fail(f"{what} did not stop within {within:g} s; tasks still running: "
                + "; ".join(running), pytrace=False)


StartDevice = Callable[..., Awaitable[tuple[SimulatedDevice, str]]]
StartGateway = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def start_device(aiohttp_server: Any) -> StartDevice:
    """Start a simulated device on a loopback port; returns it and its device-service URL."""

    async def start(**options: Any) -> tuple[SimulatedDevice, str]:
        device = SimulatedDevice(**options)
        server: TestServer = await aiohttp_server(create_simulator_app([device]), host="127.0.0.1")
        return device, f"http://127.0.0.1:{server.port}{device_path(device.index)}"

    return start


@pytest.fixture
async def start_gateway(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[StartGateway]:
    """Start a gateway in front of one device URL; returns an HTTP client for it.
    device_options are DeviceConfig fields (username, password, user_levels...), settings
    GatewayConfig fields; clock (a FakeClock) measures its expiries, breakers and ages.
    Each gateway is stopped at the end, within STOPS_WITHIN."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(url: str, device_options: dict[str, Any] | None = None,
                    clock: Callable[[], float] = time.monotonic,
                    **settings: Any) -> TestClient[web.Request, web.Application]:
        settings.setdefault("state_dir", tmp_path / "state")
        device = DeviceConfig("cam", url, default=True, **(device_options or {}))
        config = GatewayConfig(devices=(device,), **settings)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            await create_app(config, clock=clock)
        )
        clients.append(client)
        return client

    yield start
    for client in clients:  # closed here rather than by aiohttp_client: with a bound
        await stopped(f"the gateway on port {client.port}", client.close())


GatewayProcesses = tuple[SimulatedDevice, Callable[..., Awaitable[str]],
                         dict[str, asyncio.subprocess.Process]]


@pytest.fixture
async def gateway_processes(start_device: StartDevice, redis_url: str, tmp_path: Path
                            ) -> AsyncIterator[GatewayProcesses]:
    """Several instances as real processes sharing Redis: a simulated device, and
    start(name, **settings), a gateway process (`onvif-gateway serve`, settings more keys of
    its [gateway]) in front of that device (with its account, admin) with the shared Redis,
    which returns its base URL (its log in tmp_path/NAME.log); the processes by name, killed
    at the end."""
    device, url = await start_device()
    processes: dict[str, asyncio.subprocess.Process] = {}

    async def start_gateway(name: str, **settings: Any) -> str:
        ini = tmp_path / f"{name}.ini"
        more = "".join(f"{key} = {value}\n" for key, value in settings.items())
        ini.write_text(
            f"[gateway]\nport = 0\nstate_dir = state-{name}\nredis_url = {redis_url}\n{more}"
            f"[device:cam]\nurl = {url}\nusername = admin\npassword = admin\n")
        processes[name], log = await start("serve", "-c", str(ini), until="gateway serving on",
                                            log=tmp_path / f"{name}.log")
        return f"http://127.0.0.1:{port_of(log, 'gateway serving on')}"

    try:
        yield device, start_gateway, processes
    finally:
        for name, process in processes.items():
            if process.returncode is None:
                process.kill()
                await stopped(f"gateway process {name} (killed)", process.wait())


@pytest.fixture
async def gateway(
    start_device: StartDevice, start_gateway: StartGateway
) -> TestClient[web.Request, web.Application]:
    """A gateway in front of one well-behaved simulated device."""
    _, url = await start_device()
    return await start_gateway(url)


async def login(client: TestClient[Any, Any], username: str = "admin",
                password: str = "admin") -> str:
    """Log in through the REST API and return the session token."""
    response = await client.put("/login", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    body = await response.json()
    return str(body["sessionToken"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class RedisServer:
    """A redis-server of the tests' own on a loopback port, which a test may stop and restart.

    Its data goes to an append-only file, so that a restart loses nothing, as in production."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()  # redis-server cannot choose one: its --port 0 turns TCP off
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        redis_server = shutil.which("redis-server")
        assert redis_server, "redis-server is needed (.ci/run installs Debian's redis-server)"
        self._process = subprocess.Popen(
            [redis_server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self._directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A shared Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


class RedisRelay:
    """A TCP relay on loopback to the tests' Redis, for one gateway: after hang() it passes
    nothing on any more, either way (a Redis that stops answering, to that gateway only); after
    cut() it closes the connections it relays and refuses new ones (a Redis that is down, to
    that gateway only), until restore() listens again on its port."""

    def __init__(self, redis_port: int) -> None:
        self._redis_port = redis_port
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self.url = f"redis://127.0.0.1:{self._port}/0"

    def hang(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()  # both ends of each connection: its copies end

    async def restore(self) -> None:
        """Relay again, after hang() or cut()."""
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self._connections:
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1",
                                                                       self._redis_port)
        except BaseException:
            client_writer.close()
            self._connections.discard(task)
            raise

        async def copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    await self._flowing.wait()
                    writer.write(data)
                    await writer.drain()
            writer.close()

        self._writers |= {client_writer, redis_writer}
        try:
            await asyncio.gather(copy(client_reader, redis_writer),
                                 copy(redis_reader, client_writer))
        finally:
            redis_writer.close()
            client_writer.close()
            self._writers -= {client_writer, redis_writer}
            self._connections.discard(task)


@pytest.fixture
async def redis_relay(redis_url: str, redis_server: RedisServer) -> AsyncIterator[RedisRelay]:
    """A RedisRelay to the shared Redis (emptied for this test)."""
    relay = RedisRelay(redis_server.port)
    await relay.start()
    yield relay
    await stopped("the Redis relay", relay.close())


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    """A webhook receiver on loopback (tests/events_helpers.py's Receiver)."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    receiver.url = f"http://127.0.0.1:{server.port}/hook"
    return receiver
