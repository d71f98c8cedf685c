"""What real devices do, through the REST API: each error class of DESIGN.md provoked on the
simulated device, each quirk switch, and writes the device accepts but does not apply."""

from __future__ import annotations

import pytest

from gateway.keys import STORE
from gateway.simulator import RECEIVER, SENDER, SoapFault
from tests.conftest import bearer, login

SOURCE_CREATE = {"c_name": "configuration2", "s_name": "video2", "action": "create"}


@pytest.fixture
def api(start_device, start_gateway):
    """Start a device with these switches and a gateway; returns (client, admin auth, device)."""

    async def make(user: str = "admin", **switches):
        device, url = await start_device(**switches)
        client = await start_gateway(url)
        return client, bearer(await login(client, user, user)), device

    return make


async def problem(response, status):
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    return await response.json()


# --- DESIGN.md's error classes, each provoked through the REST API ---------------------------

async def test_not_authorized_with_a_session_is_403(api):
    client, auth, device = await api(user="user")
    body = await problem(await client.get("/reboot", headers=auth), 403)
    assert body["fault_subcodes"] == ["NotAuthorized"]
    assert device.reboots == 0
    body = await problem(await client.put("/discovery", json={"enabled": 0}, headers=auth), 403)
    assert device.discovery_mode == "Discoverable"


@pytest.mark.parametrize("subcode", ["NoConfig", "NoProfile", "NoVideoSource"])
async def test_invalid_arg_naming_a_missing_thing_is_404(api, subcode):
    fault = SoapFault(SENDER, ("InvalidArgVal", subcode), "no such thing")
    client, auth, _ = await api(faults={"GetVideoSources": fault})
    body = await problem(await client.get("/sources/video", headers=auth), 404)
    assert body["fault_subcodes"] == ["InvalidArgVal", subcode]


@pytest.mark.parametrize("subcodes", [("InvalidArgVal",), ("InvalidArgs",)])
async def test_other_invalid_args_are_400(api, subcodes):
    client, auth, _ = await api(faults={"SetDiscoveryMode": SoapFault(SENDER, subcodes, "no")})
    body = await problem(await client.put("/discovery", json={"enabled": 0}, headers=auth), 400)
    assert body["fault_code"] == "Sender"


async def test_max_profiles_is_409(api):
    client, auth, device = await api(max_profiles=2)  # the two fixed profiles fill it
    body = await problem(await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                          headers=auth), 409)
    assert "MaxNVTProfiles" in body["fault_subcodes"]
    assert set(device.profiles) == {"profile_1", "profile_3"}
    assert await client.app[STORE].owned_profiles("cam") == set()


@pytest.mark.parametrize("subcode", ["ProfileExists", "DeletionOfFixedProfile",
                                     "ConfigurationConflict"])
async def test_profile_conflicts_from_the_device_are_409(api, subcode):
    fault = SoapFault(SENDER, ("Action", subcode), "conflict")
    client, auth, _ = await api(faults={"CreateProfile": fault})
    body = await problem(await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                          headers=auth), 409)
    assert body["fault_subcodes"] == ["Action", subcode]


async def test_action_not_supported_is_501(api):
    client, auth, _ = await api(unsupported={"GetDiscoveryMode"})
    body = await problem(await client.get("/discovery", headers=auth), 501)
    assert body["fault_subcodes"] == ["ActionNotSupported"]


async def test_an_empty_reply_means_not_implemented_501(api):
    client, auth, _ = await api(empty_reply={"GetDiscoveryMode"})
    body = await problem(await client.get("/discovery", headers=auth), 501)
    assert "empty reply" in body["detail"]


async def test_a_service_the_device_lacks_is_501(api):
    client, auth, _ = await api(services=set())
    body = await problem(await client.get("/sources/video", headers=auth), 501)
    assert "media" in body["detail"]


async def test_malformed_xml_is_502(api):
    client, auth, _ = await api(raw_replies={"GetDiscoveryMode": b"<html><body>500 Internal"})
    body = await problem(await client.get("/discovery", headers=auth), 502)
    assert body["title"] == "Bad reply from device"


async def test_unknown_receiver_fault_is_502(api):
    fault = SoapFault(RECEIVER, ("Action", "HardwareFailure"), "the sensor is on fire")
    client, auth, _ = await api(faults={"GetDiscoveryMode": fault})
    body = await problem(await client.get("/discovery", headers=auth), 502)
    assert body["fault_code"] == "Receiver"
    assert "the sensor is on fire" in body["detail"]


# --- quirk switches ----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 500, 200])
async def test_faults_are_read_whatever_http_status_carries_them(api, status):
    client, auth, _ = await api(fault_status=status, unsupported={"GetDiscoveryMode"})
    body = await problem(await client.get("/discovery", headers=auth), 501)
    assert body["fault_subcodes"] == ["ActionNotSupported"]
    response = await client.put("/login", json={"username": "admin", "password": "nope"})
    assert response.status == 401


async def test_children_in_the_wrong_namespace_are_read(api):
    client, auth, _ = await api(wrong_namespace=True)
    info = await (await client.get("/device-information", headers=auth)).json()
    assert info["manufacturer"] == "RidgeRun"
    sources = await (await client.get("/sources/video", headers=auth)).json()
    assert [s["name"] for s in sources["sources"]] == ["video1", "video2", "video3"]


async def test_an_invalid_enum_value_is_a_clear_502(api):
    client, auth, device = await api()
    device.discovery_mode = "Sometimes"  # not a tt:DiscoveryMode (true/false are repaired)
    body = await problem(await client.get("/discovery", headers=auth), 502)
    assert "'Sometimes'" in body["detail"]
    assert "enabled" in body["detail"]


# --- writes the device accepts and does not apply -----------------------------------------------

async def test_stubbed_set_discovery_mode_is_502_not_success(api):
    client, auth, device = await api(stub_writes={"SetDiscoveryMode"})
    body = await problem(await client.put("/discovery", json={"enabled": 0}, headers=auth), 502)
    assert body["title"] == "Device did not apply the change"
    assert "SetDiscoveryMode" in body["detail"]
    assert device.discovery_mode == "Discoverable"


@pytest.mark.parametrize("services", [{"media", "media2"}, {"media"}])
async def test_stubbed_create_profile_is_502_and_records_nothing(api, services):
    client, auth, device = await api(stub_writes={"CreateProfile"}, services=services)
    assert set(device.profiles) == {"profile_1", "profile_3"}
    body = await problem(await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                          headers=auth), 502)
    assert "CreateProfile" in body["detail"]
    assert await client.app[STORE].owned_profiles("cam") == set()


async def test_stubbed_delete_profile_is_502_and_keeps_the_record(api):
    client, auth, device = await api(stub_writes={"DeleteProfile"})
    await client.put("/configurations/sources/video", json=SOURCE_CREATE, headers=auth)
    owned = await client.app[STORE].owned_profiles("cam")
    assert len(owned) == 1
    delete = {**SOURCE_CREATE, "action": "delete"}
    body = await problem(await client.put("/configurations/sources/video", json=delete,
                                          headers=auth), 502)
    assert "DeleteProfile" in body["detail"]
    # the profile still exists on the device, so the gateway still knows it is its own
    assert await client.app[STORE].owned_profiles("cam") == owned
    assert owned <= set(device.profiles)


async def test_stubbed_add_configuration_is_502(api):
    client, auth, device = await api(services={"media"},
                                     stub_writes={"AddVideoSourceConfiguration"})
    body = await problem(await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                          headers=auth), 502)
    assert "does not hold it" in body["detail"]
    # the empty profile it made is deleted again, and forgotten
    assert set(device.profiles) == {"profile_1", "profile_3"}
    assert await client.app[STORE].owned_profiles("cam") == set()


async def test_delete_never_touches_a_profile_the_gateway_did_not_create(api):
    client, auth, device = await api()
    delete = {"c_name": "configuration1", "s_name": "video1", "action": "delete"}
    body = await problem(await client.put("/configurations/sources/video", json=delete,
                                          headers=auth), 409)
    assert body["profiles"] == ["profile_1 (fixed)"]
    assert set(device.profiles) == {"profile_1", "profile_3"}


async def test_delete_of_a_configuration_not_in_use_is_a_no_op(api):
    client, auth, device = await api()
    delete = {**SOURCE_CREATE, "action": "delete"}
    response = await client.put("/configurations/sources/video", json=delete, headers=auth)
    assert response.status == 200
    assert set(device.profiles) == {"profile_1", "profile_3"}


async def test_media1_profiles_are_recorded_under_a_token_the_gateway_chose(api):
    client, auth, device = await api(services={"media"})
    response = await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                headers=auth)
    assert response.status == 200
    owned = await client.app[STORE].owned_profiles("cam")
    assert len(owned) == 1
    assert owned <= set(device.profiles)
    assert next(iter(owned)).startswith("gw_")


async def test_a_failed_create_leaves_no_record(api):
    fault = SoapFault(RECEIVER, ("Action", "MaxNVTProfiles"), "full")
    client, auth, _ = await api(services={"media"}, faults={"CreateProfile": fault})
    response = await client.put("/configurations/sources/video", json=SOURCE_CREATE,
                                headers=auth)
    assert response.status == 409
    assert await client.app[STORE].owned_profiles("cam") == set()
