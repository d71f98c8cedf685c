"""Security through real HTTP: tokens, authority, login lockout, hostile devices, leaks, bounds.

Every refusal must be the right status with a problem body, and the gateway must keep serving.
"""

from __future__ import annotations

import logging

import pytest

from gateway.app import create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.keys import DEVICES, STORE
from gateway.simulator import RECEIVER, SoapFault
from gateway.state.sessions import token_known
from tests.conftest import bearer, login

# every protected route of the API, bare and per device
PROTECTED = [
    ("GET", "/device-information"), ("GET", "/sources/video"), ("PUT", "/sources/video"),
    ("GET", "/encoders/video"), ("PUT", "/encoders/video"),
    ("GET", "/configurations/sources/video"), ("PUT", "/configurations/sources/video"),
    ("GET", "/configurations/encoders/video"), ("PUT", "/configurations/encoders/video"),
    ("GET", "/reboot"), ("POST", "/reboot"), ("GET", "/discovery"), ("PUT", "/discovery"),
    ("PUT", "/logout"), ("POST", "/logout"),
]
ON_SECOND = [(method, "/devices/second" + path) for method, path in PROTECTED]
SECRET = "Corr3ct-Horse-Battery"


async def refused(response, status=401):
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status
    return body


@pytest.fixture
async def two_devices(start_device, aiohttp_client, tmp_path, clock):
    """A gateway in front of two simulated devices: "first" (the default) and "second"; its
    sessions idle out after 0.5 s of the test's clock."""
    first, first_url = await start_device()
    second, second_url = await start_device(index=2)
    config = GatewayConfig(devices=(DeviceConfig("first", first_url, default=True),
                                    DeviceConfig("second", second_url)),
                           state_dir=tmp_path / "state", session_idle_timeout=0.5,
                           login_max_failures=3, login_lockout=60)
    return await aiohttp_client(await create_app(config, clock=clock)), first, second


@pytest.mark.parametrize(("method", "path"), PROTECTED + ON_SECOND)
async def test_no_bad_ended_or_foreign_token_gets_in(two_devices, method, path):
    client, first, _ = two_devices
    device_token = await login(client)  # a token for "first"
    ended = await login(client)
    assert (await client.put("/logout", headers=bearer(ended))).status == 204
    cases = [{}, {"Authorization": "Bearer"}, {"Authorization": "Token abc"},
             {"Authorization": "Bearer " + "A" * 43}, bearer(ended)]
    if path.startswith("/devices/second"):
        cases.append(bearer(device_token))  # issued for "first"
    for headers in cases:
        await refused(await client.request(method, path, headers=headers, json={}))
    assert first.reboots == 0
    assert first.discovery_mode == "Discoverable"


async def test_an_expired_token_gets_in_nowhere(two_devices, clock):
    client, _, _ = two_devices
    token = await login(client)
    assert (await client.get("/device-information", headers=bearer(token))).status == 200
    clock.now += 0.6  # idle past session_idle_timeout
    for method, path in PROTECTED:
        await refused(await client.request(method, path, headers=bearer(token), json={}))
    validate = await client.put("/validateUser", json={"sessionToken": token})
    assert await validate.json() == {"valid": 0}


async def test_token_is_bound_to_its_device(two_devices):
    client, _, second = two_devices
    token = await login(client)
    body = await refused(await client.get("/devices/second/device-information",
                                          headers=bearer(token)))
    assert "not issued for device second" in body["detail"]
    response = await client.put("/devices/second/login",
                                json={"username": "admin", "password": "admin"})
    second_token = (await response.json())["sessionToken"]
    info = await client.get("/devices/second/device-information", headers=bearer(second_token))
    assert (await info.json())["serial_number"] == "124"
    validate = await client.put("/validateUser", json={"sessionToken": second_token})
    assert await validate.json() == {"valid": 0}  # not a token of the default device
    validate = await client.put("/devices/second/validateUser",
                                json={"sessionToken": second_token})
    assert await validate.json() == {"valid": 1}
    await refused(await client.get("/devices/third/device-information",
                                   headers=bearer(second_token)), 404)
    assert second.reboots == 0


async def test_logout_ends_the_session_everywhere_it_was_valid(gateway):
    token = await login(gateway)
    assert (await gateway.post("/logout", headers=bearer(token))).status == 204
    response = await gateway.put("/validateUser", json={"sessionToken": token})
    assert await response.json() == {"valid": 0}
    await refused(await gateway.put("/logout", headers=bearer(token)))


async def test_brute_force_on_login_is_locked_out(two_devices):
    client, _, _ = two_devices
    wrong = {"username": "admin", "password": "guess"}
    for _ in range(3):
        await refused(await client.put("/login", json=wrong))
    response = await client.put("/login", json=wrong)
    body = await refused(response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert body["retry_after"] == int(response.headers["Retry-After"])
    # locked: even the right password is refused now, without asking the device
    await refused(await client.put("/login", json={"username": "admin", "password": "admin"}),
                  429)
    # the lockout is per device user and per address: this client address is locked for all
    await refused(await client.put("/login", json={"username": "user", "password": "user"}), 429)
    # and the gateway goes on serving everything else
    response = await client.put("/validateUser", json={"sessionToken": "x"})
    assert await response.json() == {"valid": 0}


async def test_successful_logins_are_not_slowed(gateway):
    for _ in range(20):
        await login(gateway)
    # failures below the limit, each followed by a success, never lock anybody out
    for _ in range(10):
        await refused(await gateway.put("/login", json={"username": "admin", "password": "x"}))
        await login(gateway)


async def test_user_levels_are_enforced_before_any_soap_call(start_device, aiohttp_client,
                                                             tmp_path):
    # With a service account the gateway learns every user's level (GetUsers).
    # SystemReboot and SetDiscoveryMode are made to fail loudly (502) if they are ever called.
    boom = SoapFault(RECEIVER, ("Action", "Boom"), "this operation must not be called")
    device, url = await start_device(faults={"SystemReboot": boom, "SetDiscoveryMode": boom})
    config = GatewayConfig(devices=(DeviceConfig("cam", url, "admin", "admin"),),
                           state_dir=tmp_path / "state")
    client = await aiohttp_client(await create_app(config))
    user, operator = await login(client, "user", "user"), await login(client, "operator",
                                                                      "operator")
    body = await refused(await client.get("/reboot", headers=bearer(operator)), 403)
    assert body["detail"] == ("this needs an ONVIF Administrator; user 'operator' is an Operator")
    body = await refused(await client.put("/discovery", json={"enabled": 0},
                                          headers=bearer(user)), 403)
    assert body["detail"].endswith("user 'user' is a User")
    await refused(await client.put("/sources/video", headers=bearer(user),
                                   json={"sources": [{"name": "video1", "enabled": 0}]}), 403)
    assert await client.app[STORE].enabled("cam", "video-sources") == {}
    # an Operator may change the gateway's policy; reads stay open to every user
    response = await client.put("/sources/video", headers=bearer(operator),
                                json={"sources": [{"name": "video1", "enabled": 0}]})
    assert response.status == 200
    assert (await client.get("/sources/video", headers=bearer(user))).status == 200
    assert device.reboots == 0


async def test_without_known_levels_the_device_decides_and_policy_needs_a_level(gateway):
    # No service account: the gateway does not know an Operator's level.
    operator = await login(gateway, "operator", "operator")
    body = await refused(await gateway.get("/reboot", headers=bearer(operator)), 403)
    assert body["fault_subcodes"] == ["NotAuthorized"]  # the device said no
    body = await refused(await gateway.put("/encoders/video", headers=bearer(operator),
                                           json={"encoders": []}), 403)
    assert "user_levels = operator:" in body["detail"]
    admin = await login(gateway)  # an Administrator may read GetUsers itself
    response = await gateway.put("/encoders/video", headers=bearer(admin), json={"encoders": []})
    assert response.status == 200


async def test_device_clock_jump_mid_session_is_absorbed(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url)
    token = await login(client)
    device.clock_skew = -86400  # the camera rebooted and its clock fell back a day
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 200


async def test_http_digest_devices(start_device, start_gateway):
    device, url = await start_device(http_digest=True)
    client = await start_gateway(url)
    await refused(await client.put("/login", json={"username": "admin", "password": "no"}))
    token = await login(client)
    assert (await client.get("/device-information", headers=bearer(token))).status == 200
    user = await login(client, "user", "user")
    await refused(await client.get("/reboot", headers=bearer(user)), 403)
    assert (await client.get("/reboot", headers=bearer(token))).status == 200
    assert device.reboots == 1


async def test_http_digest_credentials_are_sent_at_once_after_the_first_challenge(
        start_device, start_gateway):
    device, url = await start_device(http_digest=True)
    client = await start_gateway(url, cache_ttl=0)
    token = await login(client)
    asked = device.digest_challenges
    for _ in range(3):
        assert (await client.get("/device-information", headers=bearer(token))).status == 200
    # the user's Digest answer is kept: no 401 (and no second round trip) per request
    assert device.digest_challenges == asked


async def test_logout_drops_the_users_digest_answers_and_its_token(start_device, start_gateway):
    # A Digest device's middleware holds its user's password, and the memo of token hashes holds
    # tokens: both were kept after logout, until pushed out by others.
    device, url = await start_device(http_digest=True)
    client = await start_gateway(url, cache_ttl=0)
    kept = client.app[DEVICES].loaded("cam").digest
    phone, laptop, user = (await login(client), await login(client),
                           await login(client, "user", "user"))
    for token in (phone, laptop, user):
        assert (await client.get("/device-information", headers=bearer(token))).status == 200
    assert kept.users() == {"admin", "user"}
    assert (await client.put("/logout", headers=bearer(phone))).status == 204
    assert kept.users() == {"user"}
    assert not token_known(phone)
    # the same user's other session keeps working: it answers the device's next challenge anew
    asked = device.digest_challenges
    assert (await client.get("/device-information", headers=bearer(laptop))).status == 200
    assert device.digest_challenges == asked + 1
    assert kept.users() == {"admin", "user"}
    assert (await client.get("/device-information", headers=bearer(phone))).status == 401


async def test_a_refused_digest_answer_is_not_kept(start_device, start_gateway):
    # a mistyped password is much of the real one
    _, url = await start_device(http_digest=True)
    client = await start_gateway(url, cache_ttl=0)
    kept = client.app[DEVICES].loaded("cam").digest
    await login(client, "user", "user")
    await refused(await client.put("/login", json={"username": "admin", "password": "admiN"}))
    assert kept.users() == {"user"}


async def test_a_digest_answer_unused_for_the_idle_timeout_is_dropped(start_device, start_gateway,
                                                                     clock):
    # the session it served has expired by then (and a live one gets a new one when it calls)
    _, url = await start_device(http_digest=True)
    client = await start_gateway(url, cache_ttl=0, clock=clock, session_idle_timeout=60)
    kept = client.app[DEVICES].loaded("cam").digest
    admin = await login(client)
    assert (await client.get("/device-information", headers=bearer(admin))).status == 200
    clock.now += 61
    assert (await client.get("/device-information", headers=bearer(admin))).status == 401
    assert not token_known(admin)
    user = await login(client, "user", "user")
    assert (await client.get("/device-information", headers=bearer(user))).status == 200
    assert kept.users() == {"user"}


XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetDiscoveryModeResponse>
<tds:DiscoveryMode>&lol3;</tds:DiscoveryMode></tds:GetDiscoveryModeResponse></env:Body>
</env:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetDiscoveryModeResponse>
<tds:DiscoveryMode>&x;</tds:DiscoveryMode></tds:GetDiscoveryModeResponse></env:Body>
</env:Envelope>"""


@pytest.mark.parametrize("reply", [XML_BOMB, EXTERNAL_ENTITY], ids=["bomb", "external-entity"])
async def test_hostile_xml_from_a_device_is_refused(start_device, start_gateway, reply):
    _, url = await start_device(raw_replies={"GetDiscoveryMode": reply})
    client = await start_gateway(url)
    token = await login(client)
    body = await refused(await client.get("/discovery", headers=bearer(token)), 502)
    assert "root:" not in body["detail"]
    assert (await client.get("/device-information", headers=bearer(token))).status == 200


async def test_bodies_are_bounded(gateway):
    token = await login(gateway)
    await refused(await gateway.put("/discovery", data=b"[" * 40_000 + b"]" * 40_000,
                                    headers={**bearer(token), "Content-Type": "application/json"}),
                  413)
    deep = {"enabled": [[[[[[[[[[1]]]]]]]]]]}
    body = await refused(await gateway.put("/discovery", json=deep, headers=bearer(token)), 400)
    assert "nested" in body["detail"]
    body = await refused(await gateway.put("/discovery", data=b"[" * 2000 + b"]" * 2000,
                                           headers={**bearer(token),
                                                    "Content-Type": "application/json"}), 400)
    response = await gateway.get("/device-information",
                                 headers={**bearer(token), "X-Big": "x" * 20_000})
    assert response.status in (400, 431)
    assert (await gateway.get("/device-information", headers=bearer(token))).status == 200


async def test_passwords_and_tokens_never_leak(start_device, start_gateway, caplog):
    device, url = await start_device()
    device.users["operator"].password = SECRET
    client = await start_gateway(url)
    texts = []
    with caplog.at_level(logging.DEBUG):
        response = await client.put("/login", json={"username": "operator", "password": "x" +
                                                    SECRET})
        texts.append(await response.text())
        token = await login(client, "operator", SECRET)
        for method, path in PROTECTED:
            if path != "/logout" and not path.endswith("reboot"):
                response = await client.request(method, path, headers=bearer(token), json={})
                texts.append(await response.text())
        texts.append(await (await client.put("/logout", headers=bearer(token))).text())
    everything = caplog.text + "".join(texts)
    assert SECRET not in everything
    assert token not in everything
