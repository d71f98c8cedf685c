"""Every example of the seed REST API document, against the simulated device (Media2 and Media1).

The examples' JSON is copied from the seed; where the seed shows only a request, the answer is what
GET then returns (the gateway answers every write with the state read back from the device).
"""

from __future__ import annotations

import pytest

from gateway.keys import STORE
from tests.conftest import bearer, login

SEED_SOURCES = {"sources": [
    {"name": "video1", "enabled": 1},
    {"name": "video2", "enabled": 1},
    {"name": "video3", "enabled": 1},
]}
SEED_ENCODERS_PUT = {"encoders": [
    {"name": "h265", "enabled": 1},
    {"name": "h264", "enabled": 0},
    {"name": "mpeg", "enabled": 1},
]}
SEED_SOURCE_CONFIGURATIONS = {"configurations": [
    {"c_name": "configuration1", "s_name": "video1", "in_use": 1},
    {"c_name": "configuration2", "s_name": "video2", "in_use": 0},
    {"c_name": "configuration3", "s_name": "video3", "in_use": 1},
]}
SEED_ENCODER_CONFIGURATIONS = {"configurations": [
    {"c_name": "configuration1", "e_name": "H264", "in_use": 1},
    {"c_name": "configuration2", "e_name": "H265", "in_use": 0},
]}
SEED_SOURCE_CREATE = {"c_name": "configuration1", "s_name": "video1", "action": "create"}
SEED_ENCODER_CREATE = {"c_name": "configuration1", "e_name": "H264", "action": "create"}


@pytest.fixture(params=[{"media", "media2"}, {"media"}], ids=["media2", "media1-only"])
async def api(request, start_device, start_gateway):
    """(client, auth headers, simulated device) for an admin session on each kind of device."""
    device, url = await start_device(services=set(request.param))
    client = await start_gateway(url)
    return client, bearer(await login(client)), device


async def ok(response):
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def test_get_sources_video(api):
    client, auth, _ = api
    assert await ok(await client.get("/sources/video", headers=auth)) == SEED_SOURCES


async def test_put_sources_video(api):
    client, auth, _ = api
    off = {"sources": [{"name": "video2", "enabled": 0}]}
    assert (await ok(await client.put("/sources/video", json=off, headers=auth)))["sources"][1] \
        == {"name": "video2", "enabled": 0}
    assert await ok(await client.put("/sources/video", json=SEED_SOURCES, headers=auth)) \
        == SEED_SOURCES
    assert await ok(await client.get("/sources/video", headers=auth)) == SEED_SOURCES


async def test_get_encoders_video(api):
    client, auth, device = api
    body = await ok(await client.get("/encoders/video", headers=auth))
    names = {e["name"] for e in body["encoders"]}
    expected = {"h264", "h265", "mpeg", "jpeg"} if "media2" in device.services \
        else {"h264", "mpeg", "jpeg"}
    assert names == expected
    assert all(e["enabled"] == 1 for e in body["encoders"])
    assert len(body["encoders"]) == len(names)


async def test_put_encoders_video(api):
    client, auth, device = api
    response = await client.put("/encoders/video", json=SEED_ENCODERS_PUT, headers=auth)
    if "media2" not in device.services:
        # A Media1 device cannot encode H.265: enabling it is a conflict, and nothing changes.
        assert response.status == 409
        assert (await response.json())["field"] == "$.encoders[0].enabled"
        body = await ok(await client.get("/encoders/video", headers=auth))
        assert all(e["enabled"] == 1 for e in body["encoders"])
        return
    body = await ok(response)
    assert {e["name"]: e["enabled"] for e in body["encoders"]} == {
        "h265": 1, "h264": 0, "mpeg": 1, "jpeg": 1,
    }


async def test_get_configurations_sources_video(api):
    client, auth, _ = api
    body = await ok(await client.get("/configurations/sources/video", headers=auth))
    assert body == SEED_SOURCE_CONFIGURATIONS


async def test_put_configurations_sources_video_create_and_delete(api):
    client, auth, device = api
    create = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    body = await ok(await client.put("/configurations/sources/video", json=create, headers=auth))
    assert body["configurations"][1] == {"c_name": "configuration2", "s_name": "video2",
                                         "in_use": 1}
    profiles_after_create = set(device.profiles)
    # Creating it again is a no-op: it is already in use through the gateway's profile.
    await ok(await client.put("/configurations/sources/video", json=create, headers=auth))
    assert set(device.profiles) == profiles_after_create
    delete = {**create, "action": "delete"}
    body = await ok(await client.put("/configurations/sources/video", json=delete, headers=auth))
    assert body == SEED_SOURCE_CONFIGURATIONS
    assert set(device.profiles) == {"profile_1", "profile_3"}


async def test_seed_source_configuration_create_example(api):
    client, auth, device = api
    body = await ok(await client.put("/configurations/sources/video", json=SEED_SOURCE_CREATE,
                                     headers=auth))
    assert body == SEED_SOURCE_CONFIGURATIONS  # configuration1 was, and is, in use
    assert len(device.profiles) == 3  # ... now also through a profile the gateway owns


async def test_get_configurations_encoders_video(api):
    client, auth, device = api
    body = await ok(await client.get("/configurations/encoders/video", headers=auth))
    if "media2" in device.services:
        assert body == SEED_ENCODER_CONFIGURATIONS
    else:  # Media1 cannot express H.265; the simulated Media1 camera has a JPEG one instead
        assert body == {"configurations": [
            SEED_ENCODER_CONFIGURATIONS["configurations"][0],
            {"c_name": "configuration2", "e_name": "JPEG", "in_use": 0},
        ]}


async def test_seed_encoder_configuration_create_example(api):
    client, auth, _ = api
    # An encoder goes into a gateway profile that has a video source: create that first.
    response = await client.put("/configurations/encoders/video", json=SEED_ENCODER_CREATE,
                                headers=auth)
    assert response.status == 409
    await ok(await client.put("/configurations/sources/video", json=SEED_SOURCE_CREATE,
                              headers=auth))
    body = await ok(await client.put("/configurations/encoders/video", json=SEED_ENCODER_CREATE,
                                     headers=auth))
    assert body["configurations"][0] == {"c_name": "configuration1", "e_name": "H264",
                                         "in_use": 1}
    delete = {**SEED_ENCODER_CREATE, "action": "delete"}
    # configuration1 is also in fixed profile_1, which the gateway never touches
    response = await client.put("/configurations/encoders/video", json=delete, headers=auth)
    assert response.status == 409
    assert "profile_1" in (await response.json())["detail"]


async def test_encoder_create_changes_the_encoding_when_allowed(api):
    client, auth, _ = api
    await ok(await client.put("/configurations/sources/video", json=SEED_SOURCE_CREATE,
                              headers=auth))
    # configuration2 becomes MPEG4 (both kinds of device offer it) and goes into use
    create = {"c_name": "configuration2", "e_name": "MPEG4", "action": "create"}
    body = await ok(await client.put("/configurations/encoders/video", json=create,
                                     headers=auth))
    assert body["configurations"][1] == {"c_name": "configuration2", "e_name": "MPEG4",
                                         "in_use": 1}
    delete = {**create, "action": "delete"}
    body = await ok(await client.put("/configurations/encoders/video", json=delete,
                                     headers=auth))
    assert body["configurations"][1]["in_use"] == 0


async def test_reboot(api):
    client, auth, device = api
    expected = {"status": {"code": 200, "description": "Device has been reboot successfully"}}
    assert await ok(await client.get("/reboot", headers=auth)) == expected
    assert await ok(await client.post("/reboot", headers=auth)) == expected
    assert device.reboots == 2


async def test_discovery(api):
    client, auth, device = api
    assert await ok(await client.get("/discovery", headers=auth)) == {"enabled": 1}
    assert await ok(await client.put("/discovery", json={"enabled": 0}, headers=auth)) \
        == {"enabled": 0}
    assert device.discovery_mode == "NonDiscoverable"
    assert await ok(await client.put("/discovery", json={"enabled": 1}, headers=auth)) \
        == {"enabled": 1}
    assert device.discovery_mode == "Discoverable"


async def test_codec_names_are_taken_in_either_case_and_answered_in_their_own(api):
    client, auth, _ = api
    # /encoders/video spells codecs h264, e_name H264: each takes the other's spelling too
    body = await ok(await client.put("/encoders/video", headers=auth, json={"encoders": [
        {"name": "H265", "enabled": 0}, {"name": "MPEG", "enabled": 0}]}))
    assert {e["name"]: e["enabled"] for e in body["encoders"]}["mpeg"] == 0
    assert [e["name"] for e in body["encoders"]] == [e["name"] for e in (await ok(
        await client.get("/encoders/video", headers=auth)))["encoders"]]
    assert all(e["name"].islower() for e in body["encoders"])
    assert await client.app[STORE].enabled("cam", "video-encoders") == {"h265": 0, "mpeg": 0}
    # a disabled codec, named in the other case, is still the disabled codec (409)
    await ok(await client.put("/configurations/sources/video", json=SEED_SOURCE_CREATE,
                              headers=auth))
    create = {"c_name": "configuration2", "e_name": "mpeg4", "action": "create"}
    response = await client.put("/configurations/encoders/video", json=create, headers=auth)
    assert response.status == 409, await response.text()
    assert (await response.json())["field"] == "$.e_name"
    await ok(await client.put("/encoders/video", headers=auth,
                              json={"encoders": [{"name": "mpeg", "enabled": 1}]}))
    body = await ok(await client.put("/configurations/encoders/video", json=create,
                                     headers=auth))
    assert body["configurations"][1] == {"c_name": "configuration2", "e_name": "MPEG4",
                                         "in_use": 1}
    # only lower or upper case: anything else is 400, naming the field
    response = await client.put("/encoders/video", headers=auth,
                                json={"encoders": [{"name": "Jpeg", "enabled": 0}]})
    assert response.status == 400
    problem = await response.json()
    assert problem["field"] == "$.encoders[0].name"
    assert "(in either case)" in problem["detail"]


async def test_the_schema_says_codec_names_take_either_case(gateway):
    description = await (await gateway.get("/openapi.json")).json()

    def body_schema(path):
        schema = description["paths"][path]["put"]["requestBody"]["content"][
            "application/json"]["schema"]
        while "$ref" in schema:
            schema = description["components"]["schemas"][schema["$ref"].split("/")[-1]]
        return schema

    name = body_schema("/encoders/video")["properties"]["encoders"]["items"]["properties"]["name"]
    assert set(name["enum"]) == {"h264", "h265", "mpeg", "jpeg", "H264", "H265", "MPEG", "JPEG"}
    assert "Either case" in name["description"]
    e_name = body_schema("/configurations/encoders/video")["properties"]["e_name"]
    assert {"H264", "h264", "MPEG4", "mpeg4"} <= set(e_name["enum"])
    assert "answers spell it H264" in e_name["description"]
    # answers keep one spelling
    answer = description["paths"]["/encoders/video"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert "H264" not in str(answer)
