"""Shared fixtures: simulated devices and gateways, both served over real HTTP on loopback."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path

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
def start_gateway(aiohttp_client: Any, tmp_path: Path) -> StartGateway:
    """Start a gateway in front of one device URL; returns an HTTP client for it."""

    async def start(url: str, **settings: Any) -> TestClient[web.Request, web.Application]:
        settings.setdefault("state_dir", tmp_path / "state")
        config = GatewayConfig(devices=(DeviceConfig("cam", url, default=True),), **settings)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            await create_app(config)
        )
        return client

    return start


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


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
