"""Every error reaches the client as application/problem+json, and the gateway keeps serving."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, login
from tests.processes import free_port


async def problem(response, status):
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= set(body)
    return body


async def test_unknown_path_is_404(gateway):
    body = await problem(await gateway.get("/no-such-thing"), 404)
    assert "/no-such-thing" in body["detail"]


async def test_wrong_method_is_405_with_allow(gateway):
    response = await gateway.delete("/login")
    body = await problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"POST", "PUT"}
    assert "DELETE" in body["detail"]


async def test_bad_json_is_400(gateway):
    response = await gateway.put("/login", data=b"{not json",
                                 headers={"Content-Type": "application/json"})
    body = await problem(response, 400)
    assert body["field"] == "$"
    response = await gateway.put("/login", data=b"null",
                                 headers={"Content-Type": "application/json"})
    body = await problem(response, 400)
    assert body["field"] == "$"
    assert body["detail"] == "$ must be a JSON object"  # (not "nested deeper than 8 levels")


async def test_a_body_that_does_not_decode_as_its_content_encoding_says_is_400(start_device,
                                                                               start_gateway):
    device, url = await start_device()
    gateway = await start_gateway(url)
    auth = bearer(await login(gateway))
    response = await gateway.put("/discovery", data=b'{"enabled": 0}', headers={
        **auth, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    body = await problem(response, 400)
    assert body["field"] == "$"
    assert "gzip" in body["detail"]
    assert response.headers["Connection"] == "close"  # (the connection's stream is broken)
    assert device.discovery_mode == "Discoverable"  # nothing changed
    assert (await gateway.get("/discovery", headers=auth)).status == 200


async def test_wrong_content_type_is_415(gateway):
    response = await gateway.put("/login", data=b"username=admin&password=admin",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    body = await problem(response, 415)
    assert "application/json" in body["detail"]


async def test_unknown_missing_and_mistyped_fields_are_named(gateway):
    cases = [
        ({"username": "admin", "password": "admin", "role": "x"}, "$.role"),
        ({"username": "admin"}, "$.password"),
        ({"username": 7, "password": "admin"}, "$.username"),
        ({"username": "admin", "password": True}, "$.password"),
        (["admin", "admin"], "$"),
    ]
    for body, field in cases:
        problem_body = await problem(await gateway.put("/login", json=body), 400)
        assert problem_body["field"] == field, problem_body
    problem_body = await problem(await gateway.put("/validateUser", json={"token": "x"}), 400)
    assert problem_body["field"] == "$.token"


async def test_oversized_body_is_413(gateway):
    huge = {"username": "a" * 100_000, "password": "x"}
    await problem(await gateway.put("/login", json=huge), 413)
    good = {"username": "admin", "password": "admin"}
    assert (await gateway.put("/login", json=good)).status == 200


async def test_unreachable_device_is_502(start_gateway):
    client = await start_gateway(f"http://127.0.0.1:{free_port()}/onvif/device_service")
    body = await problem(
        await client.put("/login", json={"username": "admin", "password": "admin"}), 502
    )
    assert body["device"] == "cam"
    assert body["title"] == "Device unreachable"
    assert "admin" not in body["detail"]


async def test_slow_device_is_504_and_others_still_served(start_device, start_gateway):
    _, url = await start_device(latency=2.0)
    client = await start_gateway(url, device_timeout=0.3)
    body = await problem(
        await client.put("/login", json={"username": "admin", "password": "admin"}), 504
    )
    assert body["device"] == "cam"
    assert "0.3 s" in body["detail"]
    # The gateway itself is fine: what does not need the device still answers at once.
    response = await client.put("/validateUser", json={"sessionToken": "x"})
    assert await response.json() == {"valid": 0}


async def test_device_fault_after_login_is_problem(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url)
    token = await login(client, "operator", "operator")
    del device.users["operator"]
    body = await problem(await client.get("/device-information", headers=bearer(token)), 403)
    assert body["fault_code"] == "Sender"
    assert body["type"].endswith("device-fault")


async def test_routes_the_mappings_do_not_make_check_their_query_too(gateway):
    """As the mapped resources do: a misspelt ?topics=motion would have served every event."""
    admin = bearer(await login(gateway))
    added = await gateway.post("/devices", headers=admin,
                               json={"id": "spare", "url": "http://127.0.0.1:1/onvif"})
    assert added.status == 201
    for method, path, field in (
            ("GET", "/events/state?topics=motion", "query.topics"),
            ("GET", "/events/state?topic=motion&topic=tamper", "query.topic"),
            ("GET", "/events?topics=motion", "query.topics"),
            ("GET", "/devices?x=1", "query.x"),
            ("DELETE", "/devices/spare?force=1", "query.force"),
            ("GET", "/webhooks?all=1", "query.all"),
            ("GET", "/snapshot?profile=profile_1", "query.profile"),
            ("PUT", "/logout?all=1", "query.all")):
        body = await problem(await gateway.request(method, path, headers=admin), 400)
        assert body["field"] == field, path
    devices = await (await gateway.get("/devices", headers=admin)).json()
    assert [d["id"] for d in devices["devices"]] == ["cam", "spare"]  # nothing removed
    assert (await gateway.get("/events/state?topic=motion", headers=admin)).status == 200


async def raw(client, head: bytes, body: bytes = b"") -> bytes:
    """Send a request head (and later a body) as these bytes; the first answer read."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    if body:
        writer.write(body)
        await writer.drain()
        answer += await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    return answer


async def test_expectations_are_answered_as_problems(gateway):
    """Expect: 100-continue of a body past 64 KiB is a 413 at once (the client need not send
    it; aiohttp said 100 Continue to any size), and any other expectation a 417 problem
    (aiohttp's was text/plain). A body the gateway would read gets its 100 Continue."""
    login_head = (b"PUT /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\n")
    answer = await raw(gateway, login_head + b"Content-Length: 100000000\r\n"
                                             b"Expect: 100-continue\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"application/problem+json" in answer
    answer = await raw(gateway, login_head + b"Content-Length: 2\r\nExpect: a-miracle\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 417"), answer
    assert b"application/problem+json" in answer
    assert b"a-miracle" in answer
    body = b'{"username": "admin", "password": "admin"}'
    answer = await raw(gateway, login_head + b"Content-Length: %d\r\n"
                       b"Expect: 100-continue\r\n\r\n" % len(body), body)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"), answer
    assert b"sessionToken" in answer


async def test_a_login_with_a_query_is_refused_not_made_to_the_default_device(gateway):
    """PUT /login?device=cam7 logged in to the default device: /devices/cam7/login is the way."""
    for path in ("/login?device=cam7", "/validateUser?device=cam7"):
        body = {"username": "admin", "password": "admin"} if "login" in path else {
            "sessionToken": "x"}
        problem_body = await problem(await gateway.put(path, json=body), 400)
        assert problem_body["field"] == "query.device"


async def test_a_parameter_no_soap_message_can_carry_is_named_so(gateway):
    """A NUL in a path or query parameter: not 'must be a string' (it is one), but why."""
    auth = bearer(await login(gateway))
    for path, status, field in (("/profiles/profile_1%00/stream-uri", 404, "path.token"),
                                ("/profiles/profile_1/stream-uri?protocol=rtsp%00", 400,
                                 "query.protocol")):
        body = await problem(await gateway.get(path, headers=auth), status)
        assert body["field"] == field
        assert "no SOAP message can carry" in body["detail"], body["detail"]
