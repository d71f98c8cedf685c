"""GET /profiles, /profiles/{token}/stream-uri and /profiles/{token}/snapshot-uri: mapping files
only, the same JSON from a Media2 device and from a Media1-only one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, shared_wsdls
from gateway.config import parse_config
from gateway.errors import ConfigError, MappingError
from gateway.mapping.spec import load_mappings
from gateway.mapping.uris import (
    Places,
    credential_places,
    expiry,
    with_credentials,
    with_host,
    with_query_credentials,
    with_userinfo,
    without_credentials,
)
from gateway.simulator import MEDIA, User
from gateway.simulator.device import PTZ
from tests.conftest import bearer, login

MEDIA2_DEVICE: dict[str, object] = {}
MEDIA1_DEVICE = {"services": {MEDIA, PTZ}}


@pytest.fixture(params=["media2", "media1"])
def kind(request):
    return request.param


async def gateway_for(kind, start_device, start_gateway, device_options=None, **settings):
    options = MEDIA2_DEVICE if kind == "media2" else MEDIA1_DEVICE
    device, url = await start_device(**options)
    client = await start_gateway(url, device_options, **settings)
    return device, client


async def test_profiles_in_one_shape(kind, start_device, start_gateway):
    device, client = await gateway_for(kind, start_device, start_gateway)
    device.ptz_profiles = {"profile_1"}
    device.profiles["profile_1"].audio_encoder = "aec2"  # AAC, 128 kbit/s, 16 kHz
    auth = bearer(await login(client, "user", "user"))
    answer = await client.get("/profiles", headers=auth)
    assert answer.status == 200, await answer.text()
    profiles = (await answer.json())["profiles"]
    assert [p["token"] for p in profiles] == ["profile_1", "profile_3"]
    first, third = profiles
    assert first["name"] == "profile_1"
    assert first["fixed"] is True
    assert first["video_source"] == {"token": "video1", "configuration": "vsc1",
                                     "bounds": {"x": 0, "y": 0, "width": 1920, "height": 1080}}
    encoder = first["video_encoder"]
    assert encoder["configuration"] == "vec1"
    assert encoder["encoding"] == "h264"
    assert encoder["resolution"] == {"width": 1920, "height": 1080}
    assert encoder["frame_rate"] == 30
    assert encoder["bitrate"] == 4096
    assert encoder["gov_length"] == 30  # Media1: inside H264; Media2: an attribute
    assert first["audio"] == {"configuration": "aec2", "encoding": "aac", "bitrate": 128,
                              "sample_rate": 16}
    assert first["ptz"] is True
    # profile_3 holds a video source only
    assert third["video_encoder"] is None
    assert third["audio"] is None
    assert third["ptz"] is False
    assert third["video_source"]["token"] == "video3"


async def test_media2_profiles_ask_for_the_types_shown_never_all(start_device, start_gateway,
                                                                   monkeypatch):
    from gateway.simulator import server
    from gateway.simulator.operation import Operation

    asked = []
    name = "{http://www.onvif.org/ver20/media/wsdl}GetProfiles"
    original = server.OPERATIONS[name]

    def spy(call):
        asked.append(sorted(call.args("Type")))
        return original.handler(call)

    monkeypatch.setattr(server, "OPERATIONS", {**server.OPERATIONS,
                                               name: Operation(original.access, spy)})
    _, client = await gateway_for("media2", start_device, start_gateway)
    auth = bearer(await login(client))
    assert (await client.get("/profiles", headers=auth)).status == 200
    assert asked == [["AudioEncoder", "PTZ", "VideoEncoder", "VideoSource"]]


async def test_stream_uri(kind, start_device, start_gateway):
    _, client = await gateway_for(kind, start_device, start_gateway)
    auth = bearer(await login(client, "user", "user"))
    answer = await client.get("/profiles/profile_1/stream-uri", headers=auth)
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body == {"uri": "rtsp://127.0.0.1:554/dev/1/stream/profile_1", "protocol": "rtsp",
                    "valid_until": None}
    tunnel = await (await client.get("/profiles/profile_1/stream-uri?protocol=rtsp-over-http",
                                     headers=auth)).json()
    assert tunnel["protocol"] == "rtsp-over-http"
    assert tunnel["uri"].startswith("http://127.0.0.1:")
    assert (await client.get("/devices/cam/profiles/profile_1/stream-uri?protocol=udp",
                             headers=auth)).status == 200

    secure = await client.get("/profiles/profile_1/stream-uri?protocol=rtsps", headers=auth)
    if kind == "media2":
        assert (await secure.json())["uri"].startswith("rtsps://127.0.0.1:322/")
    else:  # Media1 has no RTSP over TLS
        assert secure.status == 501
        problem = await secure.json()
        assert "protocol 'rtsps'" in problem["detail"]


async def test_stream_uri_errors(kind, start_device, start_gateway):
    _, client = await gateway_for(kind, start_device, start_gateway)
    auth = bearer(await login(client))
    unknown = await client.get("/profiles/nope/stream-uri", headers=auth)
    assert unknown.status == 404
    assert (await unknown.json())["field"] == "path.token"
    bad = await client.get("/profiles/profile_1/stream-uri?protocol=ftp", headers=auth)
    assert bad.status == 400
    assert (await bad.json())["field"] == "query.protocol"
    # profile_3 has no encoder: nothing to stream
    incomplete = await client.get("/profiles/profile_3/stream-uri", headers=auth)
    assert incomplete.status == 409
    assert (await incomplete.json())["fault_subcodes"][-1] == "IncompleteConfiguration"
    assert (await client.get("/profiles/profile_1/stream-uri")).status == 401


async def test_stream_uri_with_the_session_users_own_credentials(kind, start_device,
                                                                  start_gateway):
    device, client = await gateway_for(kind, start_device, start_gateway, device_options={
        "username": "admin", "password": "admin"})  # a service account, never handed out
    device.users["viewer"] = User("p@ss:w/rd é", "User")
    auth = bearer(await login(client, "viewer", "p@ss:w/rd é"))
    answer = await client.get("/profiles/profile_1/stream-uri?credentials=1", headers=auth)
    uri = (await answer.json())["uri"]
    assert uri == "rtsp://viewer:p%40ss%3Aw%2Frd%20%C3%A9@127.0.0.1:554/dev/1/stream/profile_1"
    assert "admin" not in uri
    plain = await client.get("/profiles/profile_1/stream-uri?credentials=0", headers=auth)
    assert "@" not in (await plain.json())["uri"]
    # another user's session gets the URI with their own credentials, never the first one's
    other = bearer(await login(client, "user", "user"))
    theirs = await client.get("/profiles/profile_1/stream-uri?credentials=true", headers=other)
    assert urlsplit((await theirs.json())["uri"]).username == "user"


async def test_stream_host_rewrites_the_uri(kind, start_device, start_gateway):
    _, client = await gateway_for(kind, start_device, start_gateway, device_options={
        "stream_host": "cam.example.net:8554"})
    auth = bearer(await login(client))
    body = await (await client.get("/profiles/profile_1/stream-uri?credentials=1",
                                   headers=auth)).json()
    assert body["uri"] == "rtsp://admin:admin@cam.example.net:8554/dev/1/stream/profile_1"


async def test_snapshot_uri(kind, start_device, start_gateway):
    _, client = await gateway_for(kind, start_device, start_gateway)
    auth = bearer(await login(client, "user", "user"))
    answer = await client.get("/profiles/profile_3/snapshot-uri", headers=auth)
    assert answer.status == 200, await answer.text()
    uri = (await answer.json())["uri"]
    assert urlsplit(uri).path == "/dev/1/snapshot/profile_3.jpg"
    with_credentials = await client.get("/profiles/profile_3/snapshot-uri?credentials=1",
                                        headers=auth)
    assert urlsplit((await with_credentials.json())["uri"]).username == "user"
    assert (await client.get("/profiles/nope/snapshot-uri", headers=auth)).status == 404


async def test_snapshot_uri_missing_or_stubbed(kind, start_device, start_gateway):
    device, client = await gateway_for(kind, start_device, start_gateway)
    auth = bearer(await login(client))
    device.unsupported.add("GetSnapshotUri")
    lacking = await client.get("/profiles/profile_1/snapshot-uri", headers=auth)
    assert lacking.status == 501
    device.unsupported.clear()
    device.empty_reply.add("GetSnapshotUri")  # cheap firmware: an empty HTTP answer
    empty = await client.get("/profiles/profile_1/snapshot-uri", headers=auth)
    assert empty.status == 501


def test_uri_transforms():
    assert with_host("rtsp://10.0.0.5:554/a?b=1", "cam.example") == "rtsp://cam.example:554/a?b=1"
    assert with_host("rtsp://u:p@10.0.0.5/a", "[2001:db8::1]:8554") == \
        "rtsp://u:p@[2001:db8::1]:8554/a"
    assert with_userinfo("http://old:x@[::1]:80/s.jpg", "a b", "c@d") == \
        "http://a%20b:c%40d@[::1]:80/s.jpg"
    assert without_credentials("http://u:p@[::1]:80/s.jpg?Usr=a&channel=1&pwd=b&PASS=c") == \
        "http://[::1]:80/s.jpg?channel=1"
    assert without_credentials("rtsp://h/a?user=x&password=y") == "rtsp://h/a"
    assert without_credentials("rtsp://h/cam/realmonitor?channel=1&AuthBasic=eDp5") == \
        "rtsp://h/cam/realmonitor?channel=1"
    # credential fields of a path (Xiongmai) keep their place, emptied; no other field is touched
    assert without_credentials("rtsp://h/user=x_password=y_channel=1_stream=0.sdp?real") == \
        "rtsp://h/user=_password=_channel=1_stream=0.sdp?real"
    assert without_credentials("rtsp://h/live=1,1&Username=x&password=y") == \
        "rtsp://h/live=1,1&Username=&password="
    assert without_credentials("rtsp://h/users/password_reset?username2=z") == \
        "rtsp://h/users/password_reset?username2=z"
    # where a device takes credentials in its query: the gateway's snapshot fetch puts a user's
    device_uri = "http://h/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&Usr=admin&PWD=x&authbasic=eDp5"
    keys = credential_places(device_uri).query
    assert keys == ("Usr", "PWD", "authbasic")
    assert with_query_credentials(without_credentials(device_uri), keys, "a b", "c&d") == (
        "http://h/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&Usr=a%20b&PWD=c%26d"
        "&authbasic=YSBiOmMmZA%3D%3D")  # base64 of "a b:c&d"
    assert credential_places("rtsp://u:p@h/user=x_password=y_channel=1?channel=1") == Places(
        (), path=True, userinfo=True)
    # credentials=1: the user's own where the device had put its own, else in the userinfo
    xiongmai = "rtsp://h/user=admin_password=x_channel=1_stream=0.sdp?real_stream"
    assert with_credentials(without_credentials(xiongmai), credential_places(xiongmai), "a_b",
                            "c&d/e") == \
        "rtsp://h/user=a%5Fb_password=c%26d%2Fe_channel=1_stream=0.sdp?real_stream"
    dahua = "rtsp://h/cam/realmonitor?channel=1&authbasic=eDp5"
    assert with_credentials(without_credentials(dahua), credential_places(dahua), "a", "b") == \
        "rtsp://h/cam/realmonitor?channel=1&authbasic=YTpi"
    assert with_credentials("rtsp://h/a", credential_places("rtsp://h/a"), "a", "b") == \
        "rtsp://a:b@h/a"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry(timedelta(0), now) is None
    assert expiry(timedelta(seconds=60), now) == "2026-01-01T00:01:00+00:00"
    assert expiry("not a duration", now) is None


STREAM_URI = (MAPPINGS_DIR / "stream-uri.toml").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('host = "stream_host"', 'host = "device_host"'), "fields.uri.host: one of stream_host"),
        (('userinfo = { param = "credentials" }', 'userinfo = { param = "protocol" }'),
         "fields.uri.userinfo.param: no boolean parameter 'protocol'"),
        (('protocol = { param = "protocol" }\n# Media2', 'protocol = { param = "proto" }\n#'),
         "get[0].fields.protocol.param: no parameter 'proto'"),
        (('valid_until = { absent = true }', 'valid_until = { absent = false }'),
         "fields.valid_until.absent: only `absent = true`"),
        (('Protocol = { param = "protocol", enum = "transport" }',
          'Protocol = { param = "protocol", enum = "bad" }'),
         "StreamSetup.Transport.Protocol.enum: bad's values are not values of parameter "
         "'protocol'"),
        (('Protocol = { param = "protocol", enum = "transport" }', 'Protocol = { param = '
          '"protocol" }'), "StreamSetup.Transport.Protocol: enum protocol: 'RtspUnicast' is not "
         "a value of TransportProtocol"),
        (('profile = { param = "token" }', 'profile = { param = "protocol" }'),
         "guard.profile.param: no path parameter 'protocol' in [parameters]"),
        (('enum = "codec" }', 'enum = "codecs" }'), "guard.video_encoder.enum: no enum 'codecs'"),
    ],
)
async def test_uri_vocabulary_is_checked_at_start(tmp_path, change: tuple[str, str], message):
    assert change[0] in STREAM_URI
    text = STREAM_URI.replace(*change, 1).replace(
        "[enums]\n", '[enums]\nbad = [["rtsp", "RTSP"], ["smb", "UDP"]]\n')
    (tmp_path / "stream-uri.toml").write_text(text)
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)


@pytest.mark.parametrize(("key", "value"), [("stream_host", "user@cam"),
                                            ("stream_host", "cam/path"),
                                            ("stream_host", "cam:port"),
                                            ("snapshot_hosts", "a, b:80")])
def test_stream_and_snapshot_hosts_are_checked(tmp_path, key, value):
    text = f"[device:cam]\nurl = http://127.0.0.1:1/onvif/device_service\n{key} = {value}\n"
    with pytest.raises(ConfigError, match=f"{key} = "):
        parse_config(text, tmp_path)


async def test_no_uri_for_a_profile_the_policy_keeps_from_use(kind, start_device, start_gateway):
    _, client = await gateway_for(kind, start_device, start_gateway)
    admin = bearer(await login(client))
    # profile_1 shows video1 through an H264 encoder
    for path in ("/profiles/profile_1/stream-uri", "/profiles/profile_1/snapshot-uri",
                 "/profiles/profile_1/snapshot"):
        assert (await client.get(path, headers=admin)).status == 200, path
    off = await client.put("/sources/video", headers=admin,
                           json={"sources": [{"name": "video1", "enabled": 0}]})
    assert off.status == 200
    for path in ("/profiles/profile_1/stream-uri", "/profiles/profile_1/snapshot-uri",
                 "/profiles/profile_1/snapshot"):  # a picture kept from before is not served
        refused = await client.get(path, headers=admin)
        assert refused.status == 409, path
        problem = await refused.json()
        assert problem["field"] == "path.token"
        assert "video source 'video1', which the gateway policy disables" in problem["detail"]
    await client.put("/sources/video", headers=admin,
                     json={"sources": [{"name": "video1", "enabled": 1}]})
    await client.put("/encoders/video", headers=admin,
                     json={"encoders": [{"name": "h264", "enabled": 0}]})
    refused = await client.get("/profiles/profile_1/stream-uri", headers=admin)
    assert refused.status == 409
    assert "encodes 'h264'" in (await refused.json())["detail"]
    # profile_3 (video3, no encoder) is not kept from use; a profile the device lacks is 404
    assert (await client.get("/profiles/profile_3/snapshot-uri", headers=admin)).status == 200
    assert (await client.get("/profiles/nope/stream-uri", headers=admin)).status == 404
