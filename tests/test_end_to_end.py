"""REST client -> gateway -> zeep -> simulated device, over real HTTP on loopback."""

from __future__ import annotations

from gateway.keys import DEVICES, SESSIONS
from tests.conftest import bearer, login

SEED_FIELDS = {"firmware", "serial_number", "hardware_id", "model", "manufacturer"}


async def test_login_then_device_information(gateway):
    token = await login(gateway)
    response = await gateway.get("/device-information", headers=bearer(token))
    assert response.status == 200
    assert response.content_type == "application/json"
    # The seed's example device, field for field, read from the device with a real SOAP call.
    assert await response.json() == {
        "firmware": "1.0.0.0",
        "serial_number": "123",
        "hardware_id": "1",
        "model": "model_1",
        "manufacturer": "RidgeRun",
    }


async def test_device_information_follows_the_device(start_device, start_gateway):
    device, url = await start_device()
    device.model = "model_2"
    device.firmware = "2.5.1"
    client = await start_gateway(url)
    token = await login(client)
    body = await (await client.get("/device-information", headers=bearer(token))).json()
    assert set(body) == SEED_FIELDS
    assert (body["model"], body["firmware"]) == ("model_2", "2.5.1")


async def test_every_demo_user_can_log_in_and_read(gateway):
    for user in ("admin", "operator", "user"):
        token = await login(gateway, user, user)
        response = await gateway.get("/device-information", headers=bearer(token))
        assert response.status == 200


async def test_login_accepts_post(gateway):
    response = await gateway.post("/login", json={"username": "user", "password": "user"})
    assert response.status == 200
    assert len((await response.json())["sessionToken"]) >= 32


async def test_validate_user(gateway):
    token = await login(gateway)
    for method in (gateway.put, gateway.post):
        response = await method("/validateUser", json={"sessionToken": token})
        assert await response.json() == {"valid": 1}
    response = await gateway.put("/validateUser", json={"sessionToken": token + "x"})
    assert await response.json() == {"valid": 0}


async def test_tokens_are_distinct_per_login(gateway):
    assert await login(gateway) != await login(gateway)


async def test_no_token_is_401_problem(gateway):
    basic = {"Authorization": "Basic YWRtaW46YWRtaW4="}
    for headers in ({}, {"Authorization": "Bearer nope"}, basic):
        response = await gateway.get("/device-information", headers=headers)
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        problem = await response.json()
        assert problem["status"] == 401
        assert problem["title"] == "Unauthorized"


async def test_wrong_password_is_401_and_opens_no_session(gateway):
    response = await gateway.put("/login", json={"username": "admin", "password": "wrong"})
    assert response.status == 401
    problem = await response.json()
    assert problem["device"] == "cam"
    assert "wrong" not in await response.text()  # the password is never echoed
    response = await gateway.put("/login", json={"username": "nobody", "password": "x"})
    assert response.status == 401
    assert await gateway.app[SESSIONS].count() == 0


async def test_skewed_device_clock_login_still_works(start_device, start_gateway):
    # The device's clock is an hour ahead: a token stamped with our clock would be refused.
    _, url = await start_device(clock_skew=3600)
    client = await start_gateway(url)
    token = await login(client)
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 200
    offset = (await client.app[DEVICES].get("cam")).clock_offset
    assert offset is not None
    assert abs(offset.total_seconds() - 3600) < 5


async def test_skewed_clock_behind(start_device, start_gateway):
    _, url = await start_device(clock_skew=-7200)
    client = await start_gateway(url)
    assert (await client.get("/device-information",
                             headers=bearer(await login(client)))).status == 200


async def test_session_user_calls_the_device_with_own_credentials(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url)
    token = await login(client, "user", "user")
    # The device changes the user's password: the session's calls are now refused by the device,
    # which proves the gateway signs with the user's credentials and not with some service account.
    device.users["user"].password = "changed"
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 403
    problem = await response.json()
    assert problem["fault_subcodes"] == ["NotAuthorized"]
