"""Bad PUT bodies: a problem naming the JSON field, and nothing changed on the device or in the
gateway's store."""

from __future__ import annotations

import copy

import pytest

from gateway.keys import STORE
from tests.conftest import bearer, login

CASES = [
    # (path, body, status, field)
    ("/sources/video", {"source": []}, 400, "$.source"),
    ("/sources/video", {"sources": {"name": "video1"}}, 400, "$.sources"),
    ("/sources/video", {"sources": ["video1"]}, 400, "$.sources[0]"),
    ("/sources/video", {"sources": [{"name": "video1", "enabled": 2}]}, 400,
     "$.sources[0].enabled"),
    ("/sources/video", {"sources": [{"name": "video1", "enabled": "1"}]}, 400,
     "$.sources[0].enabled"),
    ("/sources/video", {"sources": [{"name": "video1", "enabled": True}]}, 400,
     "$.sources[0].enabled"),
    ("/sources/video", {"sources": [{"name": "video1", "enabled": 0, "x": 1}]}, 400,
     "$.sources[0].x"),
    ("/sources/video", {"sources": [{"enabled": 0}]}, 400, "$.sources[0].name"),
    # the first entry is fine, the second is not: the first must not be stored either
    ("/sources/video", {"sources": [{"name": "video1", "enabled": 0},
                                    {"name": "video9", "enabled": 0}]}, 404, "$.sources[1].name"),
    # a name listed twice is no error (the later value counts), but a bad entry after it is
    ("/sources/video", {"sources": [{"name": "video1", "enabled": 0},
                                    {"name": "video1", "enabled": 1},
                                    {"name": "video9", "enabled": 1}]}, 404, "$.sources[2].name"),
    ("/encoders/video", {"encoders": [{"name": "h264", "enabled": 0},
                                      {"name": "vp9", "enabled": 1}]}, 400, "$.encoders[1].name"),
    ("/configurations/sources/video", {"c_name": "configuration2", "s_name": "video2",
                                       "action": "make"}, 400, "$.action"),
    ("/configurations/sources/video", {"s_name": "video2", "action": "create"}, 400, "$.c_name"),
    ("/configurations/sources/video", {"c_name": 2, "s_name": "video2", "action": "create"},
     400, "$.c_name"),
    ("/configurations/sources/video", {"c_name": "configuration9", "s_name": "video2",
                                       "action": "create"}, 404, "$.c_name"),
    ("/configurations/sources/video", {"c_name": "configuration2", "s_name": "video3",
                                       "action": "create"}, 409, "$.s_name"),
    ("/configurations/sources/video", {"c_name": "configuration2", "s_name": "video9",
                                       "action": "create"}, 404, "$.s_name"),
    ("/configurations/encoders/video", {"c_name": "configuration2", "e_name": "VP8",
                                        "action": "create"}, 400, "$.e_name"),
    ("/configurations/encoders/video", {"c_name": "configuration2", "e_name": "H265",
                                        "action": "create", "extra": 1}, 400, "$.extra"),
    ("/discovery", {"enabled": 2}, 400, "$.enabled"),
    ("/discovery", {"enabled": "0"}, 400, "$.enabled"),
    ("/discovery", {}, 400, "$.enabled"),
    ("/discovery", [0], 400, "$"),
]


def snapshot(device):
    return copy.deepcopy((device.discovery_mode, device.profiles,
                          device.video_encoder_configurations))


@pytest.mark.parametrize(("path", "body", "status", "field"), CASES)
async def test_bad_body_names_the_field_and_changes_nothing(
    start_device, start_gateway, path, body, status, field
):
    device, url = await start_device()
    client = await start_gateway(url)
    auth = bearer(await login(client))
    before = snapshot(device)
    response = await client.put(path, json=body, headers=auth)
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    assert (await response.json())["field"] == field
    assert snapshot(device) == before
    store = client.app[STORE]
    assert await store.enabled("cam", "video-sources") == {}
    assert await store.enabled("cam", "video-encoders") == {}
    assert await store.owned_profiles("cam") == set()


async def test_disabled_source_or_codec_cannot_be_put_into_use(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url)
    auth = bearer(await login(client))
    await client.put("/sources/video", json={"sources": [{"name": "video2", "enabled": 0}]},
                     headers=auth)
    create = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    response = await client.put("/configurations/sources/video", json=create, headers=auth)
    assert response.status == 409
    assert (await response.json())["field"] == "$.s_name"
    assert set(device.profiles) == {"profile_1", "profile_3"}

    create["s_name"], create["c_name"] = "video1", "configuration1"
    assert (await client.put("/configurations/sources/video", json=create,
                             headers=auth)).status == 200
    await client.put("/encoders/video", json={"encoders": [{"name": "h265", "enabled": 0}]},
                     headers=auth)
    encoder = {"c_name": "configuration2", "e_name": "H265", "action": "create"}
    response = await client.put("/configurations/encoders/video", json=encoder, headers=auth)
    assert response.status == 409
    assert "video-encoders" in (await response.json())["detail"]


async def test_body_that_is_not_json_or_too_big(gateway):
    auth = bearer(await login(gateway))
    response = await gateway.put("/discovery", data=b"enabled=1", headers={
        **auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
    big = {"sources": [{"name": f"video{i}", "enabled": 1} for i in range(5000)]}
    response = await gateway.put("/sources/video", json=big, headers=auth)
    assert response.status == 413


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_numbers_json_does_not_have_are_refused_before_the_device(start_device,
                                                                      start_gateway, number):
    """NaN and the infinities are no JSON (RFC 8259), though Python's json reads them, and
    1e999 is no float: none passes a range check as a number would, so none may reach the
    device (an xs:float NaN is valid XML, and a camera may take it)."""
    device, url = await start_device()
    client = await start_gateway(url)
    auth = {**bearer(await login(client)), "Content-Type": "application/json"}
    for path, body, field in (
            ("/sources/video/video1/imaging", f'{{"brightness": {number}}}', "$.brightness"),
            ("/profiles/profile_1/ptz/move", f'{{"mode": "continuous", "pan": {number}, '
             '"tilt": 0}', "$.pan"),
            ("/sources/video/video1/focus", f'{{"action": "move", "speed": {number}}}',
             "$.speed")):
        device.calls.clear()
        response = await client.put(path, data=body, headers=auth)
        assert response.status == 400, (path, await response.text())
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["field"] == field
        assert number in problem["detail"]
        assert [name for name, _ in device.calls if not name.startswith("Get")] == [], path
    assert "video1" not in device.imaging or device.imaging["video1"].brightness == 50.0


async def test_a_body_where_none_is_taken_is_refused_and_nothing_done(start_device,
                                                                       start_gateway):
    """POST /reboot {"delay": 60} or a form must not reboot (as an unknown field changes
    nothing elsewhere); nor may PUT /logout {"all": true} end the session. None, or {}, may."""
    device, url = await start_device()
    client = await start_gateway(url)
    admin = bearer(await login(client))
    for method, path in (("POST", "/reboot"), ("PUT", "/logout"), ("POST", "/logout")):
        for body, status, field in (({"delay": 60}, 400, "$.delay"), ([], 400, "$"),
                                    ("delay=60", 415, None)):
            options = {"json": body} if not isinstance(body, str) else {
                "data": body, "headers": {**admin, "Content-Type": "text/plain"}}
            response = await client.request(method, path, **{"headers": admin, **options})
            assert response.status == status, (method, path, body, await response.text())
            assert response.content_type == "application/problem+json"
            assert (await response.json()).get("field") == field
    assert device.reboots == 0
    assert (await client.get("/device-information", headers=admin)).status == 200  # logged in
    assert (await client.post("/reboot", json={}, headers=admin)).status == 200
    assert (await client.post("/reboot", headers=admin)).status == 200
    assert device.reboots == 2
    assert (await client.put("/logout", json={}, headers=admin)).status == 204


# A client's value is quoted in a problem at most this long (its first characters and its length):
# echoed whole, a 60 KB user name made a 60 KB answer (and log line).
SHORT_DETAIL = 500


async def test_a_huge_username_is_quoted_short_at_login(gateway):
    username = "u" * 60_000
    response = await gateway.put("/login", json={"username": username, "password": "x"})
    assert response.status in (400, 401), await response.text()
    problem = await response.json()
    assert len(problem["detail"]) < SHORT_DETAIL, problem["detail"][:SHORT_DETAIL]
    assert "user 'uuuu" in problem["detail"]
    assert "(60000 characters)" in problem["detail"]
    assert len(await response.read()) < 2 * SHORT_DETAIL


async def test_a_huge_unknown_field_name_is_named_short(gateway):
    auth = bearer(await login(gateway))
    name = "f" * 5_000
    response = await gateway.put("/discovery", json={"enabled": 0, name: 1}, headers=auth)
    assert response.status == 400, await response.text()
    problem = await response.json()
    assert len(problem["detail"]) < SHORT_DETAIL, problem["detail"][:SHORT_DETAIL]
    assert "unknown field 'ffff" in problem["detail"]
    assert "(5000 characters)" in problem["detail"]
    assert problem["field"].startswith("$.ffff")
    assert "(5000 characters)" in problem["field"]
    assert len(problem["field"]) < SHORT_DETAIL


async def test_a_huge_path_token_is_quoted_short(gateway):
    auth = bearer(await login(gateway))
    token = "t" * 3_000
    response = await gateway.get(f"/profiles/{token}/stream-uri", headers=auth)
    assert response.status == 404, await response.text()
    problem = await response.json()
    assert problem["field"] == "path.token"
    assert len(problem["detail"]) < SHORT_DETAIL, problem["detail"][:SHORT_DETAIL]
    assert "(3000 characters)" in problem["detail"]


async def test_a_huge_unknown_path_or_query_parameter_is_quoted_short(gateway):
    auth = bearer(await login(gateway))
    response = await gateway.get("/" + "p" * 3_000, headers=auth)
    assert response.status == 404, await response.text()
    assert len((await response.json())["detail"]) < SHORT_DETAIL
    name = "q" * 5_000
    for path in ("/login", "/profiles/profile_1/stream-uri"):  # a route of the gateway's own,
        method = gateway.put if path == "/login" else gateway.get  # one of a mapping file
        response = await method(f"{path}?{name}=1", headers=auth,
                                json={"username": "admin", "password": "admin"})
        assert response.status == 400, await response.text()
        problem = await response.json()
        assert len(problem["detail"]) < SHORT_DETAIL, problem["detail"][:SHORT_DETAIL]
        assert "unknown query parameter 'qqqq" in problem["detail"]
        assert problem["field"] == f"query.{'q' * 100}\u2026 (5000 characters)"
