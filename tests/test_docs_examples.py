"""The examples of /openapi.json (what /docs "Try it out" pre-fills) work on the demo as they are,
tried from the top of the page down."""

from __future__ import annotations

import dataclasses

from gateway.app import create_app
from gateway.cli import demo_config
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path
from tests.conftest import bearer, login

# Tried elsewhere, or not on a demo under test: /logout would end the session trying the others;
# POST /devices's example is a documentation address (192.0.2.10) the tests must never reach.
NOT_TRIED = {("post", "/devices"), ("delete", "/devices/{device_id}")}


def _in_page_order(description):
    """(method, path, operation) as /docs lists them: by tag, in the tags' order."""
    order = [tag["name"] for tag in description["tags"]]
    operations = [(method, path, operation)
                  for path, methods in description["paths"].items()
                  for method, operation in methods.items()]
    return sorted(operations, key=lambda op: order.index(op[2]["tags"][0]))


async def test_every_request_example_works_on_the_demo(aiohttp_server, aiohttp_client, tmp_path):
    simulator = await aiohttp_server(create_simulator_app([SimulatedDevice(index=1)]),
                                     host="127.0.0.1")
    config = demo_config(f"http://127.0.0.1:{simulator.port}{device_path(1)}", 0, tmp_path)
    client = await aiohttp_client(await create_app(dataclasses.replace(config,
                                                                       health_interval=0)))
    description = await (await client.get("/openapi.json")).json()
    auth = bearer(await login(client))
    tried = []
    for method, path, operation in _in_page_order(description):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None or (method, path) in NOT_TRIED or path.startswith("/devices/"):
            continue
        # without an example, Swagger UI pre-fills "string" for a string (only /validateUser)
        example = content.get("example") or {"sessionToken": "string"}
        # path parameters as "Try it out" pre-fills them: their examples
        url = path
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "path" and "example" in parameter:
                url = url.replace(f"{{{parameter['name']}}}", str(parameter["example"]))
        response = await client.request(method, url, json=example, headers=auth)
        assert response.status < 300, (method, path, example, await response.text())
        tried.append(f"{method} {path}")
    assert {"put /sources/video", "put /encoders/video", "put /configurations/sources/video",
            "put /configurations/encoders/video", "put /discovery", "put /login"} <= set(tried)
    # an encoder configuration goes into a profile with a video source: listed after that one
    assert tried.index("put /configurations/sources/video") < tried.index(
        "put /configurations/encoders/video")


async def test_removing_a_device_pre_fills_the_one_adding_it_adds(aiohttp_server, aiohttp_client,
                                                                  tmp_path):
    simulator = await aiohttp_server(create_simulator_app([SimulatedDevice(index=1)]),
                                     host="127.0.0.1")
    config = demo_config(f"http://127.0.0.1:{simulator.port}{device_path(1)}", 0, tmp_path)
    client = await aiohttp_client(await create_app(config))
    description = await (await client.get("/openapi.json")).json()
    added = description["paths"]["/devices"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    (device_id,) = [p for p in description["paths"]["/devices/{device_id}"]["delete"][
        "parameters"] if p.get("name") == "device_id"]
    assert device_id["example"] == added["id"]
    # the per-device paths pre-fill the demo's own device
    assert description["components"]["parameters"]["DeviceId"]["example"] == "demo"
