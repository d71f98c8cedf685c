"""Devices that bend the standard (issue 10): each behaviour seen on a third-party ONVIF server is
a switch of the simulated device, and here is what a REST client sees with it on."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from gateway.keys import DEVICES
from gateway.simulator import SENDER, SoapFault
from gateway.simulator.imaging import ImagingSettings
from tests.conftest import bearer, login
from tests.events_helpers import eventually, motion
from tests.processes import ROOT, free_port, start
from tests.simulator_helpers import TR2, as_admin, envelope
from tests.test_events import FAST, listen, motion_after_renewals, synced
from tests.test_openapi import check, ok_schema

PUT_SOURCES = {"sources": [{"name": "video1", "enabled": 0}]}


async def problem(response, status):
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    return await response.json()


async def device_entry(client, auth):
    body = await (await client.get("/devices", headers=auth)).json()
    return body["devices"][0]


# --- 1. GetUsers answers an empty list ---------------------------------------------------------

async def test_without_levels_from_the_device_the_403_says_what_to_configure(start_device,
                                                                              start_gateway):
    _, url = await start_device(get_users_empty=True)
    client = await start_gateway(url, device_options={"username": "admin", "password": "admin"})
    admin = bearer(await login(client))
    body = await problem(await client.put("/sources/video", json=PUT_SOURCES, headers=admin), 403)
    assert "[device:cam]: user_levels = admin:Administrator" in body["detail"]
    assert "service account" not in body["detail"]


async def test_user_levels_from_gateway_ini_when_the_device_tells_nothing(start_device,
                                                                           start_gateway):
    device, url = await start_device(get_users_empty=True)
    levels = (("admin", "Administrator"), ("user", "User"))
    client = await start_gateway(url, device_options={"user_levels": levels})
    admin = bearer(await login(client))
    response = await client.put("/sources/video", json=PUT_SOURCES, headers=admin)
    assert response.status == 200, await response.text()
    assert (await client.get("/reboot", headers=admin)).status == 200
    assert device.reboots == 1
    user = bearer(await login(client, "user", "user"))
    body = await problem(await client.put("/sources/video", json=PUT_SOURCES, headers=user), 403)
    assert "user 'user' is a User" in body["detail"]


async def test_what_the_device_tells_wins_over_gateway_ini(start_device, start_gateway):
    _, url = await start_device()  # its GetUsers lists admin as an Administrator
    client = await start_gateway(url, device_options={"user_levels": (("admin", "User"),)})
    admin = bearer(await login(client))
    response = await client.put("/sources/video", json=PUT_SOURCES, headers=admin)
    assert response.status == 200, await response.text()


# --- 2. GetDiscoveryMode answers true/false ----------------------------------------------------

async def test_a_boolean_discovery_mode_is_read_and_writes_stay_verified(start_device,
                                                                         start_gateway):
    device, url = await start_device(discovery_mode_boolean=True)
    client = await start_gateway(url, cache_ttl=0)
    admin = bearer(await login(client))
    response = await client.get("/discovery", headers=admin)
    assert (response.status, await response.json()) == (200, {"enabled": 1})
    response = await client.put("/discovery", json={"enabled": 0}, headers=admin)
    assert (response.status, await response.json()) == (200, {"enabled": 0})
    assert device.discovery_mode == "NonDiscoverable"
    # a write the device does not apply is still caught, through the repair
    device.stub_writes = {"SetDiscoveryMode"}
    await problem(await client.put("/discovery", json={"enabled": 1}, headers=admin), 502)


# --- 3. Empty encoder options ------------------------------------------------------------------

@pytest.mark.parametrize("services", [{"media", "media2"}, {"media"}])
async def test_empty_encoder_options_fall_back_to_the_configurations(start_device, start_gateway,
                                                                     services):
    device, url = await start_device(empty_encoder_options=True, services=services)
    client = await start_gateway(url)
    admin = bearer(await login(client))
    response = await client.get("/encoders/video", headers=admin)
    assert response.status == 200
    names = {e["name"] for e in (await response.json())["encoders"]}
    encodings = {c.encoding for c in device.video_encoder_configurations.values()}
    assert names == {{"H264": "h264", "H265": "h265", "JPEG": "jpeg", "MPEG4": "mpeg"}[e]
                     for e in encodings}
    assert "h264" in names
    # and the policy write knows these codecs too
    response = await client.put("/encoders/video", headers=admin,
                                json={"encoders": [{"name": "h264", "enabled": 0}]})
    assert response.status == 200, await response.text()


async def test_empty_options_and_no_configurations_fall_back_to_the_profiles(start_device,
                                                                             start_gateway):
    device, url = await start_device(empty_encoder_options=True,
                                     unsupported={"GetVideoEncoderConfigurations"})
    client = await start_gateway(url)
    admin = bearer(await login(client))
    response = await client.get("/encoders/video", headers=admin)
    assert response.status == 200
    in_profiles = {device.video_encoder_configurations[p.video_encoder].encoding
                   for p in device.profiles.values() if p.video_encoder}
    names = {e["name"] for e in (await response.json())["encoders"]}
    assert names == {{"H264": "h264", "H265": "h265", "JPEG": "jpeg", "MPEG4": "mpeg"}[e]
                     for e in in_profiles}


# --- 4. GetSystemDateAndTime cannot be parsed --------------------------------------------------

async def test_an_unreadable_clock_leaves_the_device_usable(start_device, start_gateway, caplog):
    _, url = await start_device(clock_unreadable=True)
    client = await start_gateway(url)
    with caplog.at_level(logging.WARNING, logger="gateway.soap.device"):
        admin = bearer(await login(client))
        response = await client.get("/device-information", headers=admin)
        assert response.status == 200
        await login(client, "user", "user")
        await client.app[DEVICES].check_health()
        await client.app[DEVICES].check_health()
    entry = await device_entry(client, admin)
    assert (entry["clock"], entry["clock_offset"], entry["status"]) == ("unknown", None, "online")
    logged = [r for r in caplog.records if "clock cannot be read" in r.getMessage()]
    assert len(logged) == 1


async def test_a_readable_clock_is_shown_with_its_offset(start_device, start_gateway):
    _, url = await start_device(clock_skew=120)
    client = await start_gateway(url)
    admin = bearer(await login(client))
    entry = await device_entry(client, admin)
    assert entry["clock"] == "read"
    assert 115 < entry["clock_offset"] < 125


async def test_a_device_telling_local_time_as_utc_gets_tokens_of_the_gateways_clock(
        start_device, start_gateway, caplog):
    # OpenIPC's majestic told its local time (UTC+10) as UTCDateTime and refused tokens dated by
    # it; the gateway signed with what it told and every call was refused (403)
    device, url = await start_device(utc_time_error=36000)
    client = await start_gateway(url, device_options={"username": "admin", "password": "admin"},
                                 cache_ttl=0)
    with caplog.at_level(logging.INFO, logger="gateway.soap.device"):
        user = bearer(await login(client, "user", "user"))
        response = await client.get("/profiles", headers=user)
        assert response.status == 200, await response.text()
        await client.app[DEVICES].check_health()
        assert (await client.get("/device-information", headers=user)).status == 200
    entry = await device_entry(client, user)
    assert (entry["clock"], entry["status"]) == ("ignored", "online")
    assert 35995 < entry["clock_offset"] < 36005  # what it tells, shown
    logged = [r.getMessage() for r in caplog.records if "own clock" in r.getMessage()]
    assert len(logged) == 1, logged
    assert "refuses tokens dated by the time it tells" in logged[0]
    assert not any("refuses the gateway's service account" in r.getMessage()
                   for r in caplog.records)
    # its firmware mended (it checks tokens against the time it tells, 10 minutes ahead): the
    # gateway signs with that time again, once its own is refused
    device.utc_time_error, device.clock_skew = 0, 600
    assert (await client.get("/device-information", headers=user)).status == 200
    entry = await device_entry(client, user)
    assert entry["clock"] == "read"
    assert 595 < entry["clock_offset"] < 605


async def test_a_wrong_password_costs_no_change_of_clock(start_device, start_gateway):
    _, url = await start_device(utc_time_error=36000)
    client = await start_gateway(url)
    response = await client.put("/login", json={"username": "user", "password": "wrong"})
    assert response.status == 401, await response.text()
    # refused with either time: the password, not the time, is wrong
    assert (await client.app[DEVICES].get("cam")).state.clock == "read"
    user = bearer(await login(client, "user", "user"))
    assert (await device_entry(client, user))["clock"] == "ignored"


@pytest.mark.parametrize("name", ["G711A", "PCMA"])
async def test_g711_a_law_named_g711a_or_pcma_in_media2_is_read(start_device, start_gateway,
                                                                name):
    # a YMA42P_C2_WM701_AF camera names its encoder G711A in Media2, PCMA is A-law's MIME name:
    # neither was known, and /profiles was a 502 for the whole list
    device, url = await start_device(media2_audio_names={"G711": name})
    device.profiles["profile_1"].audio_encoder = "aec1"
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    response = await client.get("/profiles", headers=user)
    assert response.status == 200, await response.text()
    profile = (await response.json())["profiles"][0]
    assert (profile["token"], profile["audio"]["encoding"]) == ("profile_1", "g711")
    response = await client.get("/configurations/encoders/audio", headers=user)
    assert response.status == 200, await response.text()
    assert [c["e_name"] for c in (await response.json())["configurations"]] == ["G711", "AAC"]


@pytest.mark.parametrize("name", ["G711A", "PCMA"])
async def test_g711_is_written_by_the_name_the_device_gives_it(start_device, start_gateway,
                                                               name):
    # a YMA42P_C2_WM701_AF camera offers G.711 as G711A only (its Media2 options and
    # configurations); one naming it PCMA offers no PCMU: the gateway sent PCMU, which such a
    # device refuses (the simulator's set refuses a name it does not use)
    device, url = await start_device(media2_audio_names={"G711": name})
    client = await start_gateway(url, cache_ttl=0)
    auth = bearer(await login(client, "operator", "operator"))
    source = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    assert (await client.put("/configurations/sources/video", json=source,
                             headers=auth)).status == 200
    # AAC changed to G.711: the device is sent its own name for it, and takes it
    create = {"c_name": "audio_configuration2", "e_name": "G711", "action": "create"}
    response = await client.put("/configurations/encoders/audio", json=create, headers=auth)
    assert response.status == 200, await response.text()
    assert device.audio_encoder_configurations["aec2"].encoding == "G711"
    assert (await response.json())["configurations"][1]["e_name"] == "G711"
    # a configuration that is G.711 already, by the device's name, is left as it is
    delete = {**create, "action": "delete"}
    assert (await client.put("/configurations/encoders/audio", json=delete,
                             headers=auth)).status == 200
    create = {"c_name": "audio_configuration1", "e_name": "G711", "action": "create"}
    response = await client.put("/configurations/encoders/audio", json=create, headers=auth)
    assert response.status == 200, await response.text()
    assert (await response.json())["configurations"][0] == {
        "c_name": "audio_configuration1", "e_name": "G711", "in_use": 1}


# --- 9. WS-Security off ------------------------------------------------------------------------

async def test_a_device_without_authentication_is_reported(start_device, start_gateway, caplog):
    _, url = await start_device(ws_security=False)
    client = await start_gateway(url)
    with caplog.at_level(logging.WARNING):
        auth = bearer(await login(client, "admin", "not the password"))
    assert (await device_entry(client, auth))["authentication"] == "not-enforced"
    assert any("does not enforce authentication" in r.getMessage() for r in caplog.records)


async def test_a_device_with_authentication_is_reported_so(gateway):
    auth = bearer(await login(gateway))
    assert (await device_entry(gateway, auth))["authentication"] == "enforced"


# --- Status that tells the truth ---------------------------------------------------------------

async def test_a_refused_service_account_shows_auth_failed_and_is_logged_once(
        start_device, start_gateway, caplog):
    _, url = await start_device()
    client = await start_gateway(url, device_options={"username": "admin", "password": "wrong"})
    with caplog.at_level(logging.WARNING, logger="gateway.soap.device"):
        for _ in range(3):
            await client.app[DEVICES].check_health()
        admin = bearer(await login(client))  # users' own calls say nothing of the account
        assert (await client.get("/device-information", headers=admin)).status == 200
    entry = await device_entry(client, admin)
    assert entry["status"] == "auth-failed"
    assert [r.getMessage() for r in caplog.records].count(
        "device cam refuses the gateway's service account (user 'admin'): check username and "
        "password in its gateway.ini section") == 1


async def test_health_checks_never_open_the_breaker_and_unreachable_is_logged_once(
        start_gateway, caplog):
    url = f"http://127.0.0.1:{free_port()}/onvif/device_service"
    client = await start_gateway(url, breaker_failures=2)
    with caplog.at_level(logging.WARNING, logger="gateway.soap.device"):
        for _ in range(5):
            await client.app[DEVICES].check_health()
    assert [r.getMessage().startswith("device cam is unreachable")
            for r in caplog.records].count(True) == 1
    # the first user is told why, not that the device "failed 5 times in a row"
    body = await problem(await client.put("/login", json={"username": "a", "password": "b"}), 502)
    assert body["title"] == "Device unreachable"
    await client.put("/login", json={"username": "a", "password": "b"})
    body = await problem(await client.put("/login", json={"username": "a", "password": "b"}), 503)
    assert "cannot connect" in body["detail"]  # the last cause travels with the 503


async def test_readyz_is_not_ready_when_the_only_device_is_down(start_gateway):
    url = f"http://127.0.0.1:{free_port()}/onvif/device_service"
    client = await start_gateway(url)
    assert (await client.get("/readyz")).status == 200  # not known to be down yet
    await client.app[DEVICES].check_health()
    body = await problem(await client.get("/readyz"), 503)
    assert body["checks"]["devices"] == "failing"


# --- 5. Faults in every transport shape --------------------------------------------------------

# (switches, what a fault with ter:InvalidArgVal/ter:NoVideoSource becomes)
SHAPES: dict[str, tuple[dict[str, Any], int]] = {
    "gSOAP: NotAuthorized 400, the rest 500": ({"sender_faults_500": True}, 404),
    "Node.js: HTTP 200, soap:client": ({"fault_shape": "lowercase", "fault_status": 200}, 404),
    "SOAP 1.1 fault, HTTP 200": ({"fault_shape": "soap11", "fault_status": 200}, 400),
    "stack trace, HTTP 200": ({"fault_shape": "text", "fault_status": 200}, 502),
    "stack trace, HTTP 500": ({"fault_shape": "text"}, 502),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_faults_in_every_shape(start_device, start_gateway, shape):
    switches, missing_source = SHAPES[shape]
    no_source = SoapFault(SENDER, ("InvalidArgVal", "NoVideoSource"), "no such video source")
    _, url = await start_device(faults={"GetVideoSources": no_source},
                                unsupported={"GetDiscoveryMode"}, **switches)
    client = await start_gateway(url, breaker_failures=2)
    body = await problem(await client.put("/login", json={"username": "admin",
                                                           "password": "wrong"}), 401)
    admin = bearer(await login(client))
    body = await problem(await client.get("/sources/video", headers=admin), missing_source)
    assert "no such video source" in body["detail"]  # the device's reason, whatever the shape
    # "not implemented" is recognised in every shape, and never counts against the device
    for _ in range(4):
        body = await problem(await client.get("/discovery", headers=admin), 501)
        assert "GetDiscoveryMode" in body["detail"]
    assert (await client.get("/device-information", headers=admin)).status == 200


async def test_a_connection_closed_without_an_answer_is_not_implemented(start_device,
                                                                        start_gateway):
    _, url = await start_device(close_unanswered={"GetDiscoveryMode"})
    client = await start_gateway(url, breaker_failures=2)
    admin = bearer(await login(client))
    for _ in range(4):
        body = await problem(await client.get("/discovery", headers=admin), 501)
        assert "closed the connection without answering" in body["detail"]
    assert (await client.get("/device-information", headers=admin)).status == 200
    assert (await device_entry(client, admin))["status"] == "online"


# --- 6. One request per connection, idle connections dropped ----------------------------------

async def test_one_request_per_connection(start_device, start_gateway):
    _, url = await start_device(one_request_per_connection=True)
    client = await start_gateway(url, cache_ttl=0)
    admin = bearer(await login(client))
    for _ in range(5):
        assert (await client.get("/device-information", headers=admin)).status == 200
    answers = await asyncio.gather(*(client.get("/sources/video", headers=admin)
                                     for _ in range(8)))
    assert [a.status for a in answers] == [200] * 8


async def test_a_kept_alive_connection_closed_by_the_device_costs_a_silent_retry(start_device,
                                                                                 start_gateway):
    _, url = await start_device(drop_idle_connections=True)
    client = await start_gateway(url, cache_ttl=0, breaker_failures=1)
    admin = bearer(await login(client))
    for _ in range(6):  # each on a pooled connection the device closes, then on a new one
        response = await client.get("/device-information", headers=admin)
        assert response.status == 200, await response.text()
    assert (await device_entry(client, admin))["status"] == "online"


# --- 7. Service addresses ----------------------------------------------------------------------

async def test_service_addresses_without_a_path(start_device, start_gateway):
    _, url = await start_device(xaddr_without_path=True)
    client = await start_gateway(url)
    admin = bearer(await login(client))
    for path in ("/sources/video", "/encoders/video", "/configurations/encoders/video"):
        response = await client.get(path, headers=admin)
        assert response.status == 200, (path, await response.text())
    assert (await device_entry(client, admin))["services"] == ["media", "media2"]


@pytest.mark.parametrize("first", ["/configurations/encoders/video", "/encoders/video"])
async def test_a_listed_service_that_answers_404_is_done_without(start_device, start_gateway,
                                                                 caplog, first):
    _, url = await start_device(services={"media"}, phantom_services={"media2"})
    client = await start_gateway(url)
    admin = bearer(await login(client))
    with caplog.at_level(logging.WARNING, logger="gateway.soap.services"):
        for path in (first, "/encoders/video", "/configurations/encoders/video"):
            response = await client.get(path, headers=admin)
            assert response.status == 200, (path, await response.text())
    names = {e["name"] for e in (await (await client.get("/encoders/video", headers=admin))
                                 .json())["encoders"]}
    assert names == {"h264", "mpeg", "jpeg"}  # Media1's
    entry = await device_entry(client, admin)
    assert entry["services"] == ["media"]
    assert "/dev/1/onvif/media2_service" in entry["services_unusable"]["media2"]
    assert "404" in entry["services_unusable"]["media2"]
    assert ["media2 service is listed at" in r.getMessage()
            for r in caplog.records].count(True) == 1


async def test_a_get_services_without_media2_means_media1(start_device, start_gateway):
    _, url = await start_device(unlisted_services={"media2"})
    client = await start_gateway(url)
    admin = bearer(await login(client))
    response = await client.get("/encoders/video", headers=admin)
    assert {e["name"] for e in (await response.json())["encoders"]} == {"h264", "mpeg", "jpeg"}
    assert (await device_entry(client, admin))["services"] == ["media"]


async def test_media2_without_get_profiles_is_done_without(start_device, start_gateway, caplog):
    # a Hikvision camera listing Media2 answered its GetProfiles ActionNotSupported: every profile
    # resource was a 501 though Media1 served them
    device, url = await start_device(unsupported={"media2:GetProfiles"})
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    with caplog.at_level(logging.WARNING, logger="gateway.soap.services"):
        for path in ("/profiles", "/profiles/profile_1/stream-uri",
                     "/profiles/profile_1/snapshot-uri", "/configurations/encoders/video",
                     "/encoders/video"):
            response = await client.get(path, headers=user)
            assert response.status == 200, (path, await response.text())
    profiles = (await (await client.get("/profiles", headers=user)).json())["profiles"]
    assert [p["token"] for p in profiles] == ["profile_1", "profile_3"]
    entry = await device_entry(client, user)
    assert entry["services"] == ["media"]
    assert entry["services_unusable"]["media2"] == (
        "listed, but its GetProfiles is not implemented (Operation GetProfiles is not supported)")
    assert ["media2 service is listed, but" in r.getMessage()
            for r in caplog.records].count(True) == 1
    # Media1 alone from then on: Media2 is asked nothing more
    media2 = [name for name, request in device.calls if TR2 in request.tag]
    assert media2 == [], media2


async def test_another_media2_operation_not_implemented_keeps_media2(start_device,
                                                                      start_gateway):
    _, url = await start_device(unsupported={"media2:GetVideoEncoderConfigurationOptions"})
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    assert (await client.get("/profiles", headers=user)).status == 200
    assert (await device_entry(client, user))["services"] == ["media", "media2"]


# --- 8. Media2 GetProfiles never with Type=All -------------------------------------------------

async def test_media2_profiles_are_asked_for_by_type_never_all(start_device, start_gateway):
    device, url = await start_device(get_profiles_all_crashes=True, empty_encoder_options=True,
                                     unsupported={"GetVideoEncoderConfigurations"})
    # the switch works: Type=All does crash this device
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(
                url.replace("device_service", "media2_service"),
                data=envelope("<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>",
                              as_admin(device)),
                headers={"Content-Type": "application/soap+xml"})
    client = await start_gateway(url)
    admin = bearer(await login(client))
    # profiles read for in_use, and as the last fallback of the encoders
    for path in ("/configurations/sources/video", "/encoders/video"):
        response = await client.get(path, headers=admin)
        assert response.status == 200, (path, await response.text())
    create = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    response = await client.put("/configurations/sources/video", json=create, headers=admin)
    assert response.status == 200, await response.text()


def test_no_mapping_asks_for_every_configuration_type():
    for path in (ROOT / "mappings").glob("*.toml"):
        assert '"All"' not in path.read_text(encoding="utf-8"), path


# --- 10. Events: topics with a trailing "//." ---------------------------------------------------

@pytest.mark.parametrize("suffix", ["//.", "/"])
async def test_a_topic_with_trailing_slashes_and_dots_is_the_topic_without(
        start_device, start_gateway, suffix):
    device, url = await start_device(topic_suffix=suffix)
    client = await start_gateway(url, **FAST)
    token = await login(client)
    stream = await listen(client, token, "/events?topic=motion")
    await synced(client)
    device.trigger_motion("video2", True)
    events = await stream.until(motion("true", "video2"))
    assert events[-1]["topic"] == "tns1:VideoSource/MotionAlarm" + suffix  # the device's own
    # one value per property, the Initialized ones and the changes under the same key
    response = await client.get("/events/state?topic=motion", headers=bearer(token))
    state = {e["source"]["VideoSourceToken"]: e["data"]["State"]
             for e in (await response.json())["events"]}
    assert state == {"video1": "false", "video2": "true", "video3": "false"}


async def test_a_tapos_smart_detections_under_one_topic_are_a_property_each(start_device,
                                                                           start_gateway):
    # a Tapo tells person, vehicle and pet detection under one topic and source, one Data item
    # each: /events/state kept one entry for the three, the last told
    device, url = await start_device(smart_events=("IsPeople", "IsVehicle", "IsPet"))
    client = await start_gateway(url, **FAST)
    token = await login(client)
    stream = await listen(client, token, "/events?topic=analytics")
    await synced(client)
    device.trigger_smart_event("IsPeople", True)
    device.trigger_smart_event("IsVehicle", True)
    device.trigger_smart_event("IsVehicle", False)
    await stream.until(lambda e: e["data"] == {"IsVehicle": "false"}
                       and e["operation"] == "Changed")
    response = await client.get("/events/state?topic=analytics", headers=bearer(token))
    state = {name: value for e in (await response.json())["events"]
             for name, value in e["data"].items()}
    assert state == {"IsPeople": "true", "IsVehicle": "false", "IsPet": "false"}


# --- 11. Events: Renew refused --------------------------------------------------------------

def pulled_after_renew(device):
    names = [name for name, _ in device.calls]
    return "Renew" in names and "PullMessages" in names[names.index("Renew") + 1:]


async def test_a_refused_renew_leaves_the_pull_point_to_pull_messages(start_device, start_gateway,
                                                                      clock, caplog):
    device, url = await start_device(renew_refused=True)
    device.events.clock = clock
    client = await start_gateway(url, clock=clock, event_lifetime=3.0, **FAST)
    stream = await listen(client, await login(client))
    await eventually(lambda: any(name == "PullMessages" for name, _ in device.calls))
    (point,) = device.events.live().values()
    first_end = point.expires
    with caplog.at_level(logging.INFO, logger="gateway.events.pullpoint"):
        clock.now += 2.0  # past half of its life: the gateway renews, the device refuses
        await eventually(lambda: pulled_after_renew(device))
        clock.now += 2.0  # past its first end: the pulls kept it alive
        assert point.expires > first_end
        device.trigger_motion("video2", True)
        events = await stream.until(motion("true", "video2"))
    assert not [e for e in events if e["topic"].startswith("gateway/")]
    assert device.events.created == 1
    assert ["refuses Renew" in r.getMessage() for r in caplog.records].count(True) == 1


# --- 11a. Events: pull points said unsupported, and working ----------------------------------

GET_CAPABILITIES = "<tds:GetCapabilities><tds:Category>Events</tds:Category></tds:GetCapabilities>"


async def test_pull_points_said_unsupported_are_used_all_the_same(start_device, start_gateway):
    # The gateway never reads the flag: it subscribes, and the device's answer decides.
    device, url = await start_device(pull_point_support_denied=True)
    async with aiohttp.ClientSession() as session:  # the switch works
        answer = await session.post(url, data=envelope(GET_CAPABILITIES, as_admin(device)),
                                    headers={"Content-Type": "application/soap+xml"})
        assert "<tt:WSPullPointSupport>false</tt:WSPullPointSupport>" in await answer.text()
    client = await start_gateway(url, **FAST)
    stream = await listen(client, await login(client, "user", "user"))
    await synced(client)
    device.trigger_motion("video1", True)
    await stream.until(motion("true"))
    assert device.events.created == 1


# --- 11b. Events: answers without CurrentTime and TerminationTime ---------------------------

async def test_pull_point_answers_without_times_are_renewed_on_the_gateways_own(
        start_device, start_gateway, clock):
    await motion_after_renewals(start_device, start_gateway, clock, event_times_missing=True)


# --- 11c. Events: vendor spellings of common topics -------------------------------------------

@pytest.mark.parametrize(("topic", "source", "data", "kind"), [
    # a Tapo's tamper alarm, on its cell motion detector's topic
    ("tns1:RuleEngine/CellMotionDetector/Tamper", (("VideoSourceConfigurationToken", "vsc1"),),
     (("IsTamper", "true"),), "tamper"),
    # a Hikvision's alarm input, in its own namespace
    ("tns1:Device/Trigger/tnshik:AlarmIn", (("InputToken", "AlarmIn_1"),),
     (("State", "true"),), "input"),
    # an Ajax camera's motion detection, in its own namespace (onvif-parsers' tests/test_ajax.py)
    ("tns1:RuleEngine/tnsajax:MotionDetector/Detection",
     (("VideoSourceToken", "vsconf"), ("Rule", "AjaxMotionRule")), (("Detected", "true"),),
     "motion"),
    # a Uniview IPC2124LR3-PF40M-D's person detection (home-assistant/core#175055; its topic in
    # the log of #125335, which begins with this Source; the Data item a stand-in)
    ("tns1:UserAlarm/IVA/HumanShapeDetect", (("VideoSourceConfigurationToken", "0"),),
     (("State", "true"),), "analytics"),
    # an Axis camera's (Kane610/axis, tests/event_fixtures.py: VMD4_C1P1_CHANGE, VMD3_INIT,
    # PIR_CHANGE, AUDIO_INIT, FENCE_GUARD_INIT; tnsaxis:Tampering in its EVENT_INSTANCES)
    ("tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1", (), (("active", "1"),), "motion"),
    ("tns1:RuleEngine/tnsaxis:VMD3/vmd3_video_1", (("areaid", "0"),), (("active", "1"),),
     "motion"),
    ("tns1:Device/tnsaxis:Sensor/PIR", (("sensor", "0"),), (("state", "1"),), "motion"),
    ("tns1:AudioSource/tnsaxis:TriggerLevel", (("channel", "1"),), (("triggered", "1"),),
     "audio"),
    ("tns1:VideoSource/tnsaxis:Tampering", (("channel", "1"),), (("tampering", "1"),), "tamper"),
    ("tns1:Device/tnsaxis:IO/VirtualInput", (("port", "1"),), (("active", "1"),), "input"),
    ("tnsaxis:CameraApplicationPlatform/FenceGuard/Camera1Profile1", (), (("active", "1"),),
     "analytics"),
])
async def test_vendor_spellings_of_common_topics_have_their_kind(start_device, start_gateway,
                                                                 topic, source, data, kind):
    device, url = await start_device()
    client = await start_gateway(url, **FAST)
    stream = await listen(client, await login(client), f"/events?topic={kind}")
    await synced(client)
    device.events.set_property(topic, source, data, device.now())
    events = await stream.until(lambda e: e["topic"] == topic)
    assert (events[-1]["kind"], events[-1]["data"]) == (kind, dict(data))


# --- 11c'. Events: a message's Data with an ElementItem ----------------------------------------

# A thermal camera's radiometry reading: ONVIF's Analytics Service specification (Radiometry)
# puts it in an ElementItem, as such cameras send it (the message below as public radiometry
# parsers' fixtures have it); tt:Source left out, as a message may. Sent verbatim.
RADIOMETRY = """\
<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"
    xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics"
    xmlns:ttr="https://www.onvif.org/ver20/analytics/radiometry">
  <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">
    tns1:VideoAnalytics/Radiometry/BoxTemperatureReading
  </wsnt:Topic>
  <wsnt:Message><tt:Message UtcTime="2026-04-19T21:32:08.104Z">
    <tt:Data><tt:ElementItem Name="Reading">
      <ttr:BoxTemperatureReading ItemID="D" AreaName="D" MaxTemperature="352.5"
        MinTemperature="329.6" AverageTemperature="343.5"/>
    </tt:ElementItem><tt:SimpleItem Name="TimeStamp" Value="2026-04-19T21:32:08.104Z"/></tt:Data>
  </tt:Message></wsnt:Message>
</wsnt:NotificationMessage>"""


async def test_an_element_item_is_in_the_events_data(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url, **FAST)
    stream = await listen(client, await login(client), "/events?topic=tns1:VideoAnalytics")
    await synced(client)
    device.events.send_raw(RADIOMETRY)
    (event,) = await stream.until(lambda e: "Radiometry" in e["topic"])
    assert event["topic"] == "tns1:VideoAnalytics/Radiometry/BoxTemperatureReading"
    assert (event["source"], event["operation"], event["time"]) == (
        {}, None, "2026-04-19T21:32:08.104Z")
    assert event["data"] == {
        "Reading": '<ttr:BoxTemperatureReading xmlns:ttr="https://www.onvif.org/ver20/analytics/'
                   'radiometry" ItemID="D" AreaName="D" MaxTemperature="352.5" '
                   'MinTemperature="329.6" AverageTemperature="343.5"/>',
        "TimeStamp": "2026-04-19T21:32:08.104Z"}


# --- 11c". Events: a message with a Key ----------------------------------------------------------

def objects_inside(object_id: str, inside: str) -> str:
    """A Hikvision DS-2CD2387G2-LSU/SL's (firmware V5.7.19) field detection as it sends it, one
    object (its ObjectId in tt:Key) in or out: danielwoz/ubiquiti-protect-onvif-event-listener#33
    quotes the SOAP body."""
    return f"""\
<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"
    xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">
  <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
    >tns1:RuleEngine/FieldDetector/ObjectsInside</wsnt:Topic>
  <wsnt:Message>
    <tt:Message UtcTime="2026-05-18T10:00:00Z" PropertyOperation="Changed">
      <tt:Source>
        <tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/>
        <tt:SimpleItem Name="VideoAnalyticsConfigurationToken" Value="VideoAnalyticsToken"/>
        <tt:SimpleItem Name="Rule" Value="MyFieldDetector1"/>
      </tt:Source>
      <tt:Key><tt:SimpleItem Name="ObjectId" Value="{object_id}"/></tt:Key>
      <tt:Data><tt:SimpleItem Name="IsInside" Value="{inside}"/></tt:Data>
    </tt:Message>
  </wsnt:Message>
</wsnt:NotificationMessage>"""


async def test_objects_told_apart_by_their_key_are_a_property_each(start_device, start_gateway):
    # ONVIF's message format: a Key tells apart the instances of one source's property (here an
    # object's id). Left out, the event did not say which object, and /events/state kept one
    # entry for all: the last object to leave hid the one still inside.
    device, url = await start_device()
    client = await start_gateway(url, **FAST)
    token = await login(client)
    stream = await listen(client, token, "/events?topic=analytics")
    await synced(client)
    for object_id, inside in (("90920", "true"), ("90921", "true"), ("90920", "false")):
        device.events.send_raw(objects_inside(object_id, inside))
    events = await stream.until(lambda e: e["data"] == {"IsInside": "false"})
    assert [(e["key"]["ObjectId"], e["data"]["IsInside"]) for e in events] == [
        ("90920", "true"), ("90921", "true"), ("90920", "false")]
    response = await client.get("/events/state?topic=analytics", headers=bearer(token))
    state = {e["key"]["ObjectId"]: e["data"]["IsInside"] for e in (await response.json())["events"]}
    assert state == {"90920": "false", "90921": "true"}


# --- 11d. Events: a pull point address with its port twice ----------------------------------

async def test_a_pull_point_address_with_its_port_twice_is_used(start_device, start_gateway):
    device, url = await start_device(subscription_port_twice=True, require_addressing=True)
    # the switch works: the address names the port twice
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            url.replace("device_service", "events_service"),
            data=envelope('<tev:CreatePullPointSubscription xmlns:tev="http://www.onvif.org/'
                          'ver10/events/wsdl"/>', as_admin(device)),
            headers={"Content-Type": "application/soap+xml"})
        port = url.split(":")[2].split("/")[0]
        assert f":{port}:{port}/" in await answer.text()
    device.events.drop_all()
    client = await start_gateway(url, **FAST)
    stream = await listen(client, await login(client))
    await synced(client)
    device.trigger_motion("video3", True)
    events = await stream.until(motion("true", "video3"))
    assert not [e for e in events if e["topic"].startswith("gateway/")]
    assert device.events.created == 2  # the check's, then the gateway's only


# --- 11e. Events: PullMessages given no answer when there is nothing to pull ----------------

def pulls(device):
    return [name for name, _ in device.calls].count("PullMessages")


# (pull_when_empty, PullMessages the device receives per empty pull: a pull closed unanswered
# is sent again on a fresh connection, an empty body is an answer)
UNANSWERED_PULLS = [("close", 2), ("empty", 1)]


@pytest.mark.parametrize(("when_empty", "sent"), UNANSWERED_PULLS)
async def test_a_pull_given_no_answer_with_nothing_to_send_is_an_empty_pull(
        start_device, start_gateway, caplog, when_empty, sent):
    device, url = await start_device(pull_when_empty=when_empty)
    client = await start_gateway(url, device_timeout=2.0, **FAST)  # pulls wait 1 s
    with caplog.at_level(logging.INFO, logger="gateway.events.pullpoint"):
        stream = await listen(client, await login(client))
        await synced(client)
        first = pulls(device)
        await eventually(lambda: pulls(device) >= first + 2 * sent)  # two empty pulls
        device.trigger_motion("video2", True)
        events = await stream.until(motion("true", "video2"))
    assert not [e for e in events if e["topic"].startswith("gateway/")]
    assert device.events.created == 1
    assert ["gives PullMessages no answer" in r.getMessage()
            for r in caplog.records].count(True) == 1


@pytest.mark.parametrize("switch", ["close_unanswered", "empty_reply"])
async def test_a_pull_point_that_never_answers_again_is_lost_after_its_life(
        start_device, start_gateway, clock, switch):
    device, url = await start_device(pull_when_empty="close")  # its pull points never end
    client = await start_gateway(url, clock=clock, device_timeout=2.0, event_lifetime=4.0,
                                 **FAST)
    stream = await listen(client, await login(client))
    await synced(client)
    # the device still takes connections, but gives no pull and no Renew an answer
    setattr(device, switch, {"PullMessages", "Renew"})
    clock.now += 5.0  # Renew given no answer (taken as refused), then its whole life silent
    events = await stream.until(lambda e: e["kind"] == "subscription-lost", within=20)
    assert "answered nothing for 5 s" in events[-1]["data"]["reason"]


# --- 11f. Events: property states told at a synchronization point --------------------------

def sync_points(device):
    return [name for name, _ in device.calls].count("SetSynchronizationPoint")


def states(events):
    return {(e["kind"], next(iter(e["source"].values()))): next(iter(e["data"].values()))
            for e in events}


async def initialized(stream):
    """The Initialized events a stream starts with (one per property: 3 video sources, 1 input)."""
    events = [(await stream.next())[1] for _ in range(4)]
    assert {e["operation"] for e in events} == {"Initialized"}, events
    return states(events)


def restored(event):
    return event["kind"] == "subscription-restored"


async def test_property_states_told_only_at_a_synchronization_point_reach_clients(
        start_device, start_gateway):
    device, url = await start_device(initialized_on_subscribe=False)
    device.trigger_motion("video2", True)
    device.trigger_input("input1", True)
    now = {("motion", "video1"): "false", ("motion", "video2"): "true",
           ("motion", "video3"): "false", ("input", "input1"): "true"}
    client = await start_gateway(url, **FAST)
    token = await login(client)
    stream = await listen(client, token)
    assert await initialized(stream) == now
    body = await (await client.get("/events/state", headers=bearer(token))).json()
    assert states(body["events"]) == now
    assert sync_points(device) == 1
    # every new subscription asks again (the device dropped its pull points: a reboot)
    device.trigger_motion("video2", False)
    await stream.until(motion("false", "video2"))
    device.events.drop_all()
    await stream.until(restored, within=20)
    assert await initialized(stream) == now | {("motion", "video2"): "false"}
    assert sync_points(device) == 2


async def test_a_device_telling_states_on_subscribing_and_at_the_point_tells_each_once(
        start_device, start_gateway):
    device, url = await start_device()  # ONVIF's way: Initialized messages at both
    device.trigger_motion("video3", True)
    client = await start_gateway(url, **FAST)
    stream = await listen(client, await login(client))
    assert (await initialized(stream))[("motion", "video3")] == "true"
    device.trigger_motion("video1", True)
    # the point's repeats of the same values are not sent again
    assert motion("true", "video1")((await stream.next())[1])
    assert sync_points(device) == 1


@pytest.mark.parametrize("switch", [
    {"unsupported": {"SetSynchronizationPoint"}},  # ter:ActionNotSupported
    # a Bosch FLEXIDOME IP turret 3000i IR answers it unauthorized (home-assistant/core#91089)
    {"faults": {"SetSynchronizationPoint": SoapFault(SENDER, ("NotAuthorized",),
                                                     "Sender not Authorized")}},
    {"empty_reply": {"SetSynchronizationPoint"}},
    {"close_unanswered": {"SetSynchronizationPoint"}},
], ids=["unsupported", "not-authorized", "empty-reply", "closed-unanswered"])
async def test_a_device_failing_set_synchronization_point_is_pulled_all_the_same(
        start_device, start_gateway, caplog, switch):
    device, url = await start_device(**switch)
    device.trigger_motion("video2", True)
    client = await start_gateway(url, **FAST)
    with caplog.at_level(logging.INFO, logger="gateway.events.pullpoint"):
        stream = await listen(client, await login(client))
        # what it tells on subscribing is the state
        assert (await initialized(stream))[("motion", "video2")] == "true"
        device.trigger_motion("video2", False)
        events = await stream.until(motion("false", "video2"))
        assert not [e for e in events if e["topic"].startswith("gateway/")]
        device.events.drop_all()
        await stream.until(restored, within=20)
        assert (await initialized(stream))[("motion", "video2")] == "false"
    assert device.events.created == 2
    assert ["SetSynchronizationPoint failed" in r.getMessage()
            for r in caplog.records].count(True) == 1  # not again for the new subscription


async def test_a_set_synchronization_point_held_unanswered_holds_back_no_event(
        start_device, start_gateway, caplog):
    # a device that takes the call and never answers: the first pull waited for device_timeout
    # (60 s here), and every event with it
    device, url = await start_device(held_unanswered={"SetSynchronizationPoint"})
    device.trigger_motion("video2", True)
    client = await start_gateway(url, device_timeout=60.0, **FAST)
    with caplog.at_level(logging.INFO, logger="gateway.events.pullpoint"):
        stream = await listen(client, await login(client))
        assert (await initialized(stream))[("motion", "video2")] == "true"  # within 10 s
        device.trigger_motion("video2", False)
        await stream.until(motion("false", "video2"))
    assert sync_points(device) == 1
    assert ["SetSynchronizationPoint failed (no answer within 2 s)" in r.getMessage()
            for r in caplog.records].count(True) == 1


# --- 12. Imaging without options -------------------------------------------------------------

@pytest.mark.parametrize("switches", [{"imaging_options_empty": True},
                                      {"unsupported": {"GetOptions"}}])
async def test_imaging_without_options_is_served_and_writes_are_left_to_the_device(
        start_device, start_gateway, switches):
    device, url = await start_device(**switches)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    imaging = "/sources/video/video1/imaging"
    response = await client.get(imaging, headers=operator)
    assert response.status == 200, await response.text()
    state = await response.json()
    assert (state["brightness"], state["exposure_mode"]) == (50.0, "auto")
    assert state["options"] is None  # the device tells no range nor mode
    document = await (await client.get("/openapi.json")).json()
    check(document, ok_schema(document["paths"]["/sources/video/{name}/imaging"]["get"]), state)
    # nothing to check a value against: the device decides, and the value is read back
    response = await client.put(imaging, json={"brightness": 70, "exposure_mode": "manual"},
                                headers=operator)
    assert response.status == 200, await response.text()
    assert ((await response.json())["brightness"], device.imaging["video1"].brightness) == (70, 70)
    body = await problem(await client.put(imaging, json={"brightness": 101}, headers=operator),
                         400)
    assert "InvalidArgVal" in body["fault_subcodes"]
    device.stub_writes = {"SetImagingSettings"}
    await problem(await client.put(imaging, json={"brightness": 20}, headers=operator), 502)



async def test_ir_cut_filter_modes_in_mixed_case_are_read_and_set(start_device, start_gateway):
    # Thingino's ONVIF server answers "On", "Off", "Auto" (tt:IrCutFilterMode is ON, OFF, AUTO)
    device, url = await start_device(ir_cut_filter_mixed_case=True)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    imaging = "/sources/video/video1/imaging"
    response = await client.get(imaging, headers=operator)
    assert response.status == 200, await response.text()  # was a 502 naming 'Auto'
    state = await response.json()
    assert (state["ir_cut_filter"], state["options"]["ir_cut_filter"]) == ("auto",
                                                                            ["on", "off", "auto"])
    response = await client.put(imaging, json={"ir_cut_filter": "off"}, headers=operator)
    assert response.status == 200, await response.text()
    assert (await response.json())["ir_cut_filter"] == "off"
    assert device.imaging["video1"].ir_cut_filter == "OFF"
    # another field's write sends the filter back as the device holds it, and reads it back
    response = await client.put(imaging, json={"brightness": 60}, headers=operator)
    assert response.status == 200, await response.text()
    assert ((await response.json())["ir_cut_filter"], device.imaging["video1"].brightness) == (
        "off", 60)
    body = await problem(await client.put(imaging, json={"ir_cut_filter": "Off"},
                                          headers=operator), 400)
    assert body["field"] == "$.ir_cut_filter"  # the API's own spelling is lower case

# --- 12b. Focus moves without GetMoveOptions --------------------------------------------------

async def test_focus_moves_without_move_options_are_left_to_the_device(start_device,
                                                                       start_gateway):
    device, url = await start_device(unsupported={"GetMoveOptions"})
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    focus = "/sources/video/video1/focus"
    response = await client.get(focus, headers=operator)
    assert response.status == 200, await response.text()  # was a 501 naming GetMoveOptions
    state = await response.json()
    assert (state["position"], state["speed"]) == (0.5, None)  # the device tells no range
    document = await (await client.get("/openapi.json")).json()
    check(document, ok_schema(document["paths"]["/sources/video/{name}/focus"]["get"]), state)
    response = await client.put(focus, json={"action": "move", "speed": 0.5}, headers=operator)
    assert response.status == 200, await response.text()
    assert (await response.json())["move_status"] == "MOVING"
    assert device.imaging["video1"].focus_speed == 0.5
    response = await client.put(focus, json={"action": "stop"}, headers=operator)
    assert response.status == 200, await response.text()
    assert device.imaging["video1"].focus_speed == 0
    # no range to check a speed against: the device's own check answers
    body = await problem(await client.put(focus, json={"action": "move", "speed": 5},
                                          headers=operator), 400)
    assert "InvalidArgVal" in body["fault_subcodes"]
    assert device.imaging["video1"].focus_speed == 0

async def test_imaging_answers_with_the_source_token_inside_are_read_and_set(start_device,
                                                                               start_gateway):
    # Thingino's ONVIF server writes tt:VideoSourceToken first inside ImagingSettings and
    # ImagingOptions (themactep/thingino-onvif, src/imaging_service.c), which the schema lacks
    device, url = await start_device(imaging_token_inside=True)
    device.imaging["video1"] = ImagingSettings(brightness=30.0, ir_cut_filter="ON")
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    imaging = "/sources/video/video1/imaging"
    response = await client.get(imaging, headers=operator)
    assert response.status == 200, await response.text()  # was a 502 'Unexpected element'
    state = await response.json()
    assert (state["brightness"], state["ir_cut_filter"]) == (30.0, "on")
    assert state["options"]["ir_cut_filter"] == ["on", "off", "auto"]
    assert state["options"]["brightness"] == {"min": 0.0, "max": 100.0}
    response = await client.put(imaging, json={"brightness": 70, "ir_cut_filter": "auto"},
                                headers=operator)
    assert response.status == 200, await response.text()
    assert ((await response.json())["brightness"], device.imaging["video1"].brightness,
            device.imaging["video1"].ir_cut_filter) == (70.0, 70.0, "AUTO")
    body = await problem(await client.put(imaging, json={"brightness": 101}, headers=operator),
                         400)
    assert body["field"] == "$.brightness"  # still checked against the options read
    assert device.imaging["video1"].brightness == 70.0


# --- 13. Credentials in the device's URIs -------------------------------------------------------

async def test_credentials_a_device_puts_in_its_uris_never_pass_through(start_device,
                                                                         start_gateway):
    device, url = await start_device(uri_credentials="admin")
    # the switch works: the URI's own credentials open the picture, but not beside a Digest
    own_uri = await device_uri(device, url, SNAPSHOT_URI)
    async with aiohttp.ClientSession() as session:
        assert "password=admin" in own_uri
        picture = await session.get(own_uri)
        assert picture.status == 200
        mixed = await session.get(own_uri, headers={
            "Authorization": aiohttp.encode_basic_auth("admin", "admin")})
        assert mixed.status == 401
    device.snapshot_users.clear()
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    for path in ("/profiles/profile_1/stream-uri", "/profiles/profile_1/snapshot-uri"):
        uri = urlsplit((await (await client.get(path, headers=user)).json())["uri"])
        assert (uri.username, uri.query) == (None, "")
        uri = urlsplit((await (await client.get(path + "?credentials=1", headers=user)).json())[
            "uri"])
        # the user's own where the device put its own, alone (the snapshot server refuses
        # them beside an Authorization header, which a userinfo becomes)
        assert (uri.username, uri.query) == (None, "user=user&password=user")
    # the picture is fetched with the user's own credentials, never with the device's
    response = await client.get("/profiles/profile_1/snapshot", headers=user)
    assert response.status == 200, await response.text()
    assert device.snapshot_users == ["user"]


STREAM_URI = ("<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
              "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>"
              "profile_1</trt:ProfileToken></trt:GetStreamUri>")
SNAPSHOT_URI = ("<trt:GetSnapshotUri><trt:ProfileToken>profile_1</trt:ProfileToken>"
                "</trt:GetSnapshotUri>")


async def device_uri(device, url, call=STREAM_URI):
    """The stream (or snapshot) URI the simulated device itself answers (Media1, as admin)."""
    async with aiohttp.ClientSession() as session:
        answer = await session.post(url.replace("device_service", "media_service"),
                                    data=envelope(call, as_admin(device)),
                                    headers={"Content-Type": "application/soap+xml"})
        found = re.search(r"<tt:Uri>([^<]+)</tt:Uri>", await answer.text())
    assert found is not None
    return found.group(1).replace("&amp;", "&")


@pytest.mark.parametrize(("form", "carried", "kept", "given"), [
    # a Dahua OEM's RTSP query: base64 of admin:admin; with credentials=1, of user:user
    ("authbasic", "authbasic=YWRtaW46YWRtaW4=", "?channel=1&subtype=0",
     "?channel=1&subtype=0&authbasic=dXNlcjp1c2Vy"),
    # a Xiongmai / XMEye RTSP path: the fields stay, emptied; with credentials=1, the user's
    ("path", "user=admin_password=admin_", "/user=_password=_channel=1_stream=0.sdp?real_stream",
     "/user=user_password=user_channel=1_stream=0.sdp?real_stream"),
])
async def test_credentials_in_a_stream_uri_of_other_forms_never_pass_through(
        start_device, start_gateway, form, carried, kept, given):
    device, url = await start_device(uri_credentials="admin", uri_credentials_form=form)
    assert carried in await device_uri(device, url)  # the switch works
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    # with credentials=1 the user's own go where the device reads them (it reads no userinfo),
    # never only in a userinfo
    for query, ending in (("", kept), ("&credentials=1", given)):
        answer = await client.get(f"/profiles/profile_1/stream-uri?protocol=rtsp{query}",
                                  headers=user)
        assert answer.status == 200, await answer.text()
        uri = (await answer.json())["uri"]
        assert "admin" not in uri, uri
        assert "YWRtaW46YWRtaW4" not in uri, uri
        assert uri.endswith(ending), uri
        assert urlsplit(uri).username is None
    # the snapshot URI carries nothing of them: these forms are RTSP ones
    snapshot = await client.get("/profiles/profile_1/snapshot-uri", headers=user)
    assert urlsplit((await snapshot.json())["uri"]).query == ""


async def test_a_uri_that_is_not_one_is_a_502_that_does_not_quote_it(start_device,
                                                                      start_gateway):
    # a bracket that does not close, in a URI carrying admin's password: the problem says what
    # is wrong with it, not what it says
    _, url = await start_device(uri_credentials="admin", snapshot_host="[::1")
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    body = await problem(await client.get("/profiles/profile_1/snapshot-uri", headers=user), 502)
    assert body["detail"] == "the device answered a URI that is not one (Invalid IPv6 URL)"


async def test_a_snapshot_server_taking_credentials_only_in_its_query_gets_the_users_own(
        start_device, start_gateway):
    device, url = await start_device(uri_credentials="admin", uri_credentials_form="foscam")
    # the switch works: admin's usr and pwd open the picture, nothing else does
    own_uri = await device_uri(device, url, SNAPSHOT_URI)
    async with aiohttp.ClientSession() as session:
        assert urlsplit(own_uri).query == "usr=admin&pwd=admin"
        picture = await session.get(own_uri)
        assert (picture.status, picture.content_type) == (200, "image/jpeg")
        basic = aiohttp.encode_basic_auth("admin", "admin")
        refused = await session.get(own_uri.partition("?")[0],
                                    headers={"Authorization": basic})
        assert (refused.status, refused.content_type) == (200, "text/xml")
        assert b"<result>-2</result>" in await refused.read()
    device.snapshot_users.clear()
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    given = await client.get("/profiles/profile_1/snapshot-uri", headers=user)
    assert urlsplit((await given.json())["uri"]).query == ""  # admin's never shown
    # credentials=1: the user's own, where this server takes them (a userinfo: CGI_Result -2)
    given = await client.get("/profiles/profile_1/snapshot-uri?credentials=1", headers=user)
    uri = (await given.json())["uri"]
    assert urlsplit(uri).query == "usr=user&pwd=user"
    async with aiohttp.ClientSession() as session, session.get(uri) as picture:
        assert (picture.status, picture.content_type) == (200, "image/jpeg")
    device.snapshot_users.clear()
    # fetched with the user's own name and password where the device takes them, never admin's
    response = await client.get("/profiles/profile_1/snapshot", headers=user)
    assert response.status == 200, await response.text()
    assert response.content_type == "image/jpeg"
    assert device.snapshot_users == ["user"]


async def test_a_snapshot_server_refusing_its_own_query_credentials_gets_digest(start_device,
                                                                                start_gateway):
    # the query credentials first, where the device put them; refused, Digest without them
    device, url = await start_device(uri_credentials="admin", uri_credentials_refused=True)
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    response = await client.get("/profiles/profile_1/snapshot", headers=user)
    assert response.status == 200, await response.text()
    assert device.snapshot_users == ["user"]  # by Digest, after the query was refused


# --- 13b. A snapshot URI of "(null)", or none ------------------------------------------------

@pytest.mark.parametrize(("switch", "answered"), [
    # a gm8135_v2 camera's C firmware prints a NULL string (home-assistant/core#84551): was
    # handed out as the URI "(null)", and the snapshot a 502 about a URI of scheme ''
    ("snapshot_uri_null", "'(null)'"),
    # TP-Link TL-IPC55A cameras answer GetSnapshotUri with no URI (home-assistant/core#101597):
    # /snapshot-uri was {"uri": null}, /snapshot a 502
    ("snapshot_uri_missing", "none"),
])
async def test_a_snapshot_uri_of_null_or_none_is_a_device_without_snapshots(
        start_device, start_gateway, switch, answered):
    device, url = await start_device(**{switch: True})
    client = await start_gateway(url)
    user = bearer(await login(client, "user", "user"))
    for path in ("/profiles/profile_1/snapshot-uri", "/profiles/profile_1/snapshot",
                 "/snapshot"):
        body = await problem(await client.get(path, headers=user), 501)
        assert body["detail"] == ("device cam has no such URI for this profile (it answered "
                                  f"{answered})"), path
    assert "GetSnapshotUri" in [name for name, _ in device.calls]
    assert device.snapshot_users == []  # nothing fetched
    stream = await client.get("/profiles/profile_1/stream-uri", headers=user)
    assert stream.status == 200, await stream.text()  # the stream is unaffected


# --- 14. PTZ: a pan/tilt head without zoom ---------------------------------------------------

async def test_a_head_without_zoom_is_sent_only_the_axes_moved(start_device, start_gateway):
    device, url = await start_device(ptz_zoom=False)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    state = await (await client.get(ptz, headers=operator)).json()
    assert (state["position"]["zoom"], state["limits"]["zoom"], state["velocity"]["zoom"]) == \
        (None, None, None)
    # zoom, which this head would refuse even at 0 (SpaceNotSupported), is a 400 naming it
    calls = len(device.calls)
    body = await problem(await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "pan": 0.5, "zoom": 0}), 400)
    assert body["field"] == "$.zoom"
    assert [n for n, _ in device.calls[calls:] if not n.startswith("Get")] == []
    for move in ({"mode": "continuous", "pan": 0.5}, {"mode": "relative", "tilt": 0.25},
                 {"mode": "absolute", "pan": -0.5, "tilt": 0.5}):
        response = await client.put(ptz + "/move", headers=operator, json=move)
        assert response.status == 200, (move, await response.text())
    state = await response.json()
    assert (state["position"]["pan"], state["position"]["tilt"]) == (-0.5, 0.5)
    assert device.ptz.zoom == 0.0


# --- 14b. PTZ: Stop on a head without zoom ----------------------------------------------------

@pytest.mark.parametrize("stop_refused", [False, True])
async def test_a_head_without_zoom_is_stopped_without_naming_zoom(start_device, start_gateway,
                                                                  stop_refused):
    device, url = await start_device(ptz_zoom=False, ptz_stop_refused=stop_refused)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    for stop in ({}, {"pan_tilt": True}):
        response = await client.put(ptz + "/move", headers=operator, json={
            "mode": "continuous", "pan": 0.5})
        assert response.status == 200, await response.text()
        response = await client.put(ptz + "/stop", headers=operator, json=stop)
        assert response.status == 200, (stop, await response.text())
        assert device.ptz.velocity == (0.0, 0.0, 0.0)
        assert ("fallback" in await response.json()) is stop_refused
    # a client that names zoom is told the head has none; nothing is sent
    calls = len(device.calls)
    body = await problem(await client.put(ptz + "/stop", headers=operator,
                                          json={"zoom": True}), 400)
    assert (body["field"], [n for n, _ in device.calls[calls:] if not n.startswith("Get")]) == \
        ("$.zoom", [])
    # the lease of a continuous move ends with a Stop (or zero velocities) it takes
    response = await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "tilt": 0.5, "lease_ms": 50})
    assert response.status == 200, await response.text()
    for _ in range(500):
        if device.ptz.velocity == (0.0, 0.0, 0.0):
            break
        await asyncio.sleep(0.01)
    assert device.ptz.velocity == (0.0, 0.0, 0.0)


async def described_ptz(client, auth) -> dict[str, Any]:
    """GET /profiles/profile_1/ptz: answered, and as the OpenAPI document describes it."""
    response = await client.get("/profiles/profile_1/ptz", headers=auth)
    assert response.status == 200, await response.text()
    state: dict[str, Any] = await response.json()
    document = await (await client.get("/openapi.json")).json()
    check(document, ok_schema(document["paths"]["/profiles/{token}/ptz"]["get"]), state)
    return state


# --- 14c. PTZ: a zoom-only lens --------------------------------------------------------------

async def test_a_zoom_only_lens_zooms_and_pan_or_tilt_is_a_400_naming_it(start_device,
                                                                         start_gateway, clock):
    device, url = await start_device(ptz_pan_tilt=False, clock=clock)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    state = await described_ptz(client, operator)
    assert state["position"] == {"pan": None, "tilt": None, "zoom": 0.0}
    assert (state["limits"]["pan"], state["limits"]["zoom"]) == (None, {"min": 0.0, "max": 1.0})
    assert state["supports"] | {"presets": 0} == {
        "pan_tilt": False, "zoom": True, "absolute": True, "relative": True,
        "continuous": True, "home": True, "presets": 0}
    for move in ({"mode": "absolute", "zoom": 0.5}, {"mode": "relative", "zoom": 0.25},
                 {"mode": "continuous", "zoom": 0.5}):
        response = await client.put(ptz + "/move", headers=operator, json=move)
        assert response.status == 200, (move, await response.text())
    assert device.ptz.velocity == (0.0, 0.0, 0.5)
    response = await client.put(ptz + "/stop", headers=operator, json={})
    assert response.status == 200, await response.text()
    assert device.ptz.velocity == (0.0, 0.0, 0.0)
    assert (await response.json())["position"]["zoom"] == 0.75
    # pan or tilt: a 400 naming the field, nothing sent
    calls = len(device.calls)
    for move, field in (({"mode": "continuous", "pan": 0.5}, "$.pan"),
                        ({"mode": "absolute", "pan": 0.5, "tilt": 0.0}, "$.pan"),
                        ({"mode": "relative", "tilt": 0.5, "zoom": 0.1}, "$.tilt")):
        body = await problem(await client.put(ptz + "/move", headers=operator, json=move), 400)
        assert body["field"] == field, move
        assert "supports.pan_tilt is false" in body["detail"]
    body = await problem(await client.put(ptz + "/stop", headers=operator,
                                          json={"pan_tilt": False}), 400)
    assert body["field"] == "$.pan_tilt"
    assert [n for n, _ in device.calls[calls:] if not n.startswith("Get")] == []


# --- 15. PTZ: GetNode not implemented --------------------------------------------------------

async def test_a_device_without_get_node_tells_of_its_node_in_get_nodes(start_device,
                                                                        start_gateway):
    _, url = await start_device()
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    usual = await (await client.get(ptz, headers=operator)).json()
    # GetNodes lists another head first: the node is the one the profile names
    device, url = await start_device(unsupported={"GetNode"}, ptz_other_nodes=1)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    response = await client.get(ptz, headers=operator)
    assert response.status == 200, await response.text()
    assert await response.json() == usual  # the node's spaces, from GetNodes
    assert "GetNodes" in [name for name, _ in device.calls]
    body = await problem(await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "pan": 1.5}), 400)
    assert body["field"] == "$.pan"  # still checked against the node's velocity space


async def test_without_get_node_and_get_nodes_what_the_node_says_is_null(start_device,
                                                                         start_gateway):
    device, url = await start_device(unsupported={"GetNode", "GetNodes"})
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    state = await described_ptz(client, operator)
    # what the status and the profile's configuration tell is there
    assert (state["position"], state["node"]) == ({"pan": 0.0, "tilt": 0.0, "zoom": 0.0},
                                                  "ptz_node")
    assert state["limits"]["pan"] == {"min": -1.0, "max": 1.0}
    # what only the node tells is not known
    assert state["velocity"] == {"pan": None, "tilt": None, "zoom": None}
    assert set(state["supports"].values()) == {None}
    # moves are left to the device, and read back
    response = await client.put(ptz + "/move", headers=operator, json={
        "mode": "absolute", "pan": 0.5, "tilt": -0.5})
    assert response.status == 200, await response.text()
    assert (device.ptz.pan, device.ptz.tilt) == (0.5, -0.5)
    body = await problem(await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "pan": 1.5}), 400)
    assert "InvalidVelocity" in body["fault_subcodes"]  # the device's own check
    assert "no PTZ node" in state["node_unknown"]


async def test_a_node_get_nodes_does_not_list_is_not_known_and_said_so(start_device,
                                                                       start_gateway):
    # GetNode not implemented, and GetNodes lists only a head no profile names (the profile's
    # node is not among them): served, what only the node tells null, and the answer says why
    device, url = await start_device(unsupported={"GetNode"}, ptz_other_nodes=1,
                                     ptz_node_listed=False)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    state = await described_ptz(client, operator)
    assert "GetNodes" in [name for name, _ in device.calls]
    assert state["node"] == "ptz_node"
    assert state["node_unknown"] == (
        "the device describes no PTZ node of this profile (GetNode and GetNodes do not tell of "
        "it): velocity, translation and supports are not known, and moves are checked by the "
        "device alone")
    # not another node's spaces: the head listed has none, and would refuse every move
    assert state["velocity"] == {"pan": None, "tilt": None, "zoom": None}
    assert state["translation"] == {"pan": None, "tilt": None, "zoom": None}
    assert set(state["supports"].values()) == {None}
    assert state["limits"]["pan"] == {"min": -1.0, "max": 1.0}
    # moves are left to the device and read back; a stop too
    moved = await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "pan": 0.5, "zoom": 0.5})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["move_status"]["pan_tilt"] == "MOVING"
    stopped = await client.put(ptz + "/stop", headers=operator, json={})
    assert stopped.status == 200, await stopped.text()
    assert (await stopped.json())["move_status"] == {"pan_tilt": "IDLE", "zoom": "IDLE"}
    # with a node described, nothing is said
    _, url = await start_device(unsupported={"GetNode"}, ptz_other_nodes=1)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    assert (await (await client.get(ptz, headers=operator)).json())["node_unknown"] is None


# --- A single simulated device at ONVIF's usual address ---------------------------------------

async def test_onvif_zeep_async_against_simulate():
    from onvif import ONVIFCamera  # the reference client, as Home Assistant uses it

    process, banner = await start("simulate", "--port", "0", until="users: ")
    try:
        usual = re.search(r"usual address: http://127.0.0.1:(\d+)/onvif/device_service", banner)
        assert usual is not None, banner
        port = int(usual.group(1))
        assert "admin/admin (Administrator)" in banner
        camera = ONVIFCamera("127.0.0.1", port, "admin", "admin")
        try:
            await camera.update_xaddrs()
            assert f"127.0.0.1:{port}/onvif/media_service" in str(camera.xaddrs)
            devicemgmt = await camera.create_devicemgmt_service()
            info = await devicemgmt.GetDeviceInformation()
            assert (info.Manufacturer, info.SerialNumber) == ("RidgeRun", "123")
            media = await camera.create_media_service()
            profiles = await media.GetProfiles()
            assert [p.token for p in profiles] == ["profile_1", "profile_3"]
        finally:
            await camera.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0


# --- 15b. PTZ: GetStatus not implemented ------------------------------------------------------

async def test_a_head_without_get_status_is_served_and_moved(start_device, start_gateway):
    # a Wansview W7 on Thingino firmware: Frigate finds it "does not support the ONVIF
    # GetStatus method" while its PTZ moves work (themactep/thingino-firmware#760); every PTZ
    # read and move through the gateway was a 501
    device, url = await start_device(unsupported={"GetStatus"})
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    ptz = "/profiles/profile_1/ptz"
    state = await described_ptz(client, operator)
    assert (state["position"], state["move_status"], state["error"]) == (None, None, None)
    assert "no GetStatus" in state["status_unknown"]
    # what the profile's configuration and the node tell is there
    assert state["limits"]["pan"] == {"min": -1.0, "max": 1.0}
    assert state["supports"]["absolute"] is True
    # an absolute move is made, left to the device to check (nothing to read it back from)
    moved = await client.put(ptz + "/move", headers=operator, json={
        "mode": "absolute", "pan": 0.5, "tilt": -0.5})
    assert moved.status == 200, await moved.text()
    assert (device.ptz.pan, device.ptz.tilt) == (0.5, -0.5)
    assert (await moved.json())["position"] is None
    # still checked against the limits the profile tells
    body = await problem(await client.put(ptz + "/move", headers=operator, json={
        "mode": "absolute", "pan": 1.5, "tilt": 0}), 400)
    assert body["field"] == "$.pan"
    moved = await client.put(ptz + "/move", headers=operator, json={
        "mode": "continuous", "pan": 0.5})
    assert moved.status == 200, await moved.text()
    assert device.ptz.velocity[0] != 0
    stopped = await client.put(ptz + "/stop", headers=operator, json={})
    assert stopped.status == 200, await stopped.text()
    assert device.ptz.velocity == (0.0, 0.0, 0.0)
    before = device.ptz.pan  # where the continuous move left it
    moved = await client.put(ptz + "/move", headers=operator, json={
        "mode": "relative", "pan": -0.25})
    assert moved.status == 200, await moved.text()
    assert device.ptz.pan == pytest.approx(before - 0.25)
    # without RelativeMove too, a relative move cannot be made from where the head is: 501
    _, url = await start_device(unsupported={"GetStatus"}, ptz_relative_move=False)
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    await problem(await client.put(ptz + "/move", headers=operator, json={
        "mode": "relative", "pan": -0.25}), 501)
    # a device with GetStatus says nothing of it
    _, url = await start_device()
    client = await start_gateway(url)
    operator = bearer(await login(client, "operator", "operator"))
    assert (await (await client.get(ptz, headers=operator)).json())["status_unknown"] is None
