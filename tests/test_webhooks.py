"""Webhooks: each event POSTed to a loopback test receiver, signed; retries, giving up,
webhook_allow, durability, levels."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.simulator import SimulatedDevice
from tests.conftest import StartDevice, bearer, login
from tests.events_helpers import Receiver, eventually


async def gateway_for(aiohttp_client: Any, url: str, state: Path,
                      **settings: Any) -> TestClient[Any, Any]:
    settings = {"event_linger": 0.0, "event_retry": 0.05, "webhook_retry": 0.02, **settings}
    config = GatewayConfig(devices=(DeviceConfig("cam", url, username="admin",
                                                 password="admin", default=True),),
                           state_dir=state, **settings)
    client: TestClient[Any, Any] = await aiohttp_client(await create_app(config))
    return client


@pytest.fixture
async def camera(start_device: StartDevice, aiohttp_client: Any, tmp_path: Path
                 ) -> tuple[SimulatedDevice, TestClient[Any, Any]]:
    device, url = await start_device()
    return device, await gateway_for(aiohttp_client, url, tmp_path)


async def register(client: TestClient[Any, Any], url: str, topic: str | None = None,
                   user: str = "operator") -> dict[str, Any]:
    body = {"url": url} if topic is None else {"url": url, "topic": topic}
    response = await client.post("/webhooks", json=body,
                                 headers=bearer(await login(client, user, user)))
    assert response.status == 201, await response.text()
    return dict(await response.json())


def motion_changed(receiver: Receiver) -> list[dict[str, Any]]:
    return [e for e in receiver.events() if e["kind"] == "motion" and e["operation"] == "Changed"]


async def test_each_event_is_posted_signed(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]], receiver: Receiver) -> None:
    device, client = camera
    hook = await register(client, receiver.url, topic="motion")
    assert len(hook["secret"]) == 64
    await eventually(lambda: len(receiver.events()) == 3)  # the motion properties, Initialized
    device.trigger_motion("video1", True)
    device.trigger_input("input1", True)  # not a motion: filtered out
    await eventually(lambda: len(motion_changed(receiver)) == 1)
    headers, body = receiver.received[-1]
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Gateway-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Gateway-Event-Id"]
    assert json.loads(body)["source"] == {"VideoSourceToken": "video1"}
    assert {e["kind"] for e in receiver.events()} == {"motion"}
    # the listing shows how deliveries went, never the secret
    response = await client.get("/webhooks", headers=bearer(await login(client, "operator",
                                                                         "operator")))
    (listed,) = (await response.json())["webhooks"]
    assert "secret" not in listed
    assert listed["id"] == hook["id"]
    assert listed["delivered"] == 4
    assert listed["failed_attempts"] == 0
    assert listed["devices"] == ["cam"]


async def test_failed_deliveries_are_retried_then_given_up(
        start_device: StartDevice, aiohttp_client: Any, tmp_path: Path,
        receiver: Receiver) -> None:
    device, url = await start_device()
    client = await gateway_for(aiohttp_client, url, tmp_path, webhook_retries=2)
    receiver.fail = 2  # two failures, then the third attempt gets through
    hook = await register(client, receiver.url, topic="tns1:Device/Trigger/DigitalInput")
    await eventually(lambda: len(receiver.received) == 3)
    assert len({h["X-Gateway-Event-Id"] for h, _ in receiver.received}) == 1  # one event, 3 tries
    token = await login(client, "operator", "operator")
    response = await client.get("/webhooks", headers=bearer(token))
    (listed,) = (await response.json())["webhooks"]
    assert (listed["delivered"], listed["failed_attempts"], listed["given_up"]) == (1, 2, 0)
    assert listed["last_error"] == "HTTP 500"
    receiver.fail = 10  # now every attempt fails: given up after 1 + webhook_retries
    device.trigger_input("input1", True)
    await eventually(lambda: len(receiver.received) == 6)
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 6
    response = await client.get("/webhooks", headers=bearer(token))
    (listed,) = (await response.json())["webhooks"]
    assert (listed["delivered"], listed["failed_attempts"], listed["given_up"]) == (1, 5, 1)
    assert listed["last_failure"] is not None
    await client.delete(f"/webhooks/{hook['id']}", headers=bearer(token))


async def test_redirects_are_not_followed(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]], receiver: Receiver) -> None:
    _, client = camera
    receiver.fail, receiver.status = 1, 302
    await register(client, receiver.url, topic="input")
    await eventually(lambda: len(receiver.received) == 2)
    first, again = (h["X-Gateway-Event-Id"] for h, _ in receiver.received)
    assert first == again  # the redirect was a failure: the same event was sent again
    token = await login(client, "operator", "operator")
    (listed,) = (await (await client.get("/webhooks", headers=bearer(token))).json())["webhooks"]
    assert listed["last_error"] == "HTTP 302"


async def test_webhook_allow_refuses_other_networks(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]]) -> None:
    _, client = camera
    token = await login(client, "operator", "operator")
    for url in ("http://127.0.0.1:99999/hook", "http://127.0.0.1:hook/",
                "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
                "ftp://127.0.0.1/hook", "http://user:pw@127.0.0.1/hook"):
        response = await client.post("/webhooks", json={"url": url}, headers=bearer(token))
        assert response.status == 400, url
        problem = await response.json()
        assert problem["field"] == "$.url"
    assert "webhook_allow" in problem["detail"] or "credentials" in problem["detail"]
    response = await client.get("/webhooks", headers=bearer(token))
    assert (await response.json())["webhooks"] == []


async def test_webhook_allow_is_read_from_gateway_ini(
        start_device: StartDevice, aiohttp_client: Any, tmp_path: Path) -> None:
    import ipaddress
    _, url = await start_device()
    client = await gateway_for(aiohttp_client, url, tmp_path,
                               webhook_allow=(ipaddress.ip_network("10.0.0.0/8"),))
    response = await client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"},
                                 headers=bearer(await login(client, "operator", "operator")))
    assert response.status == 400
    assert "webhook_allow" in (await response.json())["detail"]


async def test_webhooks_are_for_operators(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]], receiver: Receiver) -> None:
    _, client = camera
    response = await client.post("/webhooks", json={"url": receiver.url},
                                 headers=bearer(await login(client, "user", "user")))
    assert response.status == 403
    response = await client.post("/webhooks", json={"url": receiver.url})
    assert response.status == 401
    response = await client.post("/webhooks", json={"url": 5},
                                 headers=bearer(await login(client, "admin", "admin")))
    assert response.status == 400
    assert (await response.json())["field"] == "$.url"


async def test_a_device_without_a_service_account_takes_no_webhook(
        start_device: StartDevice, start_gateway: Any, receiver: Receiver) -> None:
    _, url = await start_device()
    client = await start_gateway(url)
    response = await client.post("/webhooks", json={"url": receiver.url},
                                 headers=bearer(await login(client, "admin", "admin")))
    assert response.status == 409
    assert "service account" in (await response.json())["detail"]


async def test_registrations_outlive_a_restart_and_delete_stops_them(
        start_device: StartDevice, aiohttp_client: Any, tmp_path: Path,
        receiver: Receiver) -> None:
    device, url = await start_device()
    first = await gateway_for(aiohttp_client, url, tmp_path)
    hook = await register(first, receiver.url, topic="input")
    await eventually(lambda: len(receiver.received) == 1)
    await first.close()
    assert not device.events.live()  # unsubscribed at shutdown
    second = await gateway_for(aiohttp_client, url, tmp_path)
    await eventually(lambda: len(receiver.received) == 2)  # subscribed again at start
    device.trigger_input("input1", True)
    await eventually(lambda: len(receiver.received) == 3)
    token = await login(second, "operator", "operator")
    response = await second.delete(f"/webhooks/{hook['id']}", headers=bearer(token))
    assert response.status == 204
    response = await second.delete(f"/webhooks/{hook['id']}", headers=bearer(token))
    assert response.status == 404
    await eventually(lambda: not device.events.live())  # nobody listens any more
    device.trigger_input("input1", False)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 3


async def test_openapi_describes_webhooks(
        camera: tuple[SimulatedDevice, TestClient[Any, Any]], receiver: Receiver) -> None:
    from tests.test_openapi import check
    _, client = camera
    document = await (await client.get("/openapi.json")).json()
    delivery = document["webhooks"]["event"]["post"]
    assert {p["name"] for p in delivery["parameters"]} == {"X-Gateway-Signature",
                                                           "X-Gateway-Event-Id"}
    assert delivery["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Event"}
    created = await register(client, receiver.url)
    post = document["paths"]["/webhooks"]["post"]
    check(document, post["responses"]["201"]["content"]["application/json"]["schema"], created)
    await eventually(lambda: len(receiver.events()) >= 1)
    for event in receiver.events():
        check(document, {"$ref": "#/components/schemas/Event"}, event)
    older = await (await client.get("/docs/openapi-3.0.json")).json()
    assert "webhooks" not in older
