"""A configuration kind is a mapping file: /configurations/encoders/audio (AudioEncoder) has no
Python of its own, over Media2 and over Media1, with the seed's create/delete rules."""

from __future__ import annotations

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, shared_wsdls
from gateway.errors import MappingError
from gateway.mapping.spec import load_mappings
from gateway.simulator import MEDIA, MEDIA2
from tests.conftest import bearer, login

AUDIO = "/configurations/encoders/audio"


@pytest.mark.parametrize("services", [{MEDIA, MEDIA2}, {MEDIA}])
async def test_audio_encoder_configurations_are_created_and_deleted(
        start_device, start_gateway, services):
    device, url = await start_device(services=services)
    client = await start_gateway(url, cache_ttl=0)
    auth = bearer(await login(client, "operator", "operator"))
    listed = await (await client.get(AUDIO, headers=auth)).json()
    assert listed == {"configurations": [
        {"c_name": "audio_configuration1", "e_name": "G711", "in_use": 0},
        {"c_name": "audio_configuration2", "e_name": "AAC", "in_use": 0}]}

    create = {"c_name": "audio_configuration1", "action": "create"}
    # no gateway profile with a video source yet: nothing to add it to
    refused = await client.put(AUDIO, json=create, headers=auth)
    assert refused.status == 409
    assert (await refused.json())["field"] == "$.c_name"

    source = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    assert (await client.put("/configurations/sources/video", json=source,
                             headers=auth)).status == 200
    created = await client.put(AUDIO, json=create, headers=auth)
    assert created.status == 200, await created.text()
    assert (await created.json())["configurations"][0]["in_use"] == 1
    holder = next(p for p in device.profiles.values() if p.video_source == "vsc2")
    assert holder.audio_encoder == "aec1"
    # created again: already in use through the gateway's profile, nothing to do
    assert (await client.put(AUDIO, json=create, headers=auth)).status == 200

    deleted = await client.put(AUDIO, json={**create, "action": "delete"}, headers=auth)
    assert (await deleted.json())["configurations"][0]["in_use"] == 0
    assert holder.audio_encoder is None
    assert holder.video_source == "vsc2"  # the profile is the video source's: it stays

    # a profile the gateway did not make is never touched
    device.profiles["profile_1"].audio_encoder = "aec2"
    foreign = await client.put(AUDIO, json={"c_name": "audio_configuration2",
                                            "action": "delete"}, headers=auth)
    assert foreign.status == 409
    assert "profile_1 (fixed)" in (await foreign.json())["detail"]
    assert device.profiles["profile_1"].audio_encoder == "aec2"


@pytest.mark.parametrize("services", [{MEDIA, MEDIA2}, {MEDIA}])
async def test_an_audio_encoder_configuration_is_given_the_encoding_named(
        start_device, start_gateway, services):
    device, url = await start_device(services=services)
    client = await start_gateway(url, cache_ttl=0)
    auth = bearer(await login(client, "operator", "operator"))
    source = {"c_name": "configuration2", "s_name": "video2", "action": "create"}
    assert (await client.put("/configurations/sources/video", json=source,
                             headers=auth)).status == 200
    create = {"c_name": "audio_configuration2", "e_name": "G711", "action": "create"}
    created = await client.put(AUDIO, json=create, headers=auth)
    assert created.status == 200, await created.text()
    assert (await created.json())["configurations"][1] == {
        "c_name": "audio_configuration2", "e_name": "G711", "in_use": 1}
    assert device.audio_encoder_configurations["aec2"].encoding == "G711"
    assert device.audio_encoder_configurations["aec2"].name == "audio_configuration2"


async def test_bad_audio_bodies_are_refused(start_device, start_gateway):
    _, url = await start_device()
    client = await start_gateway(url)
    auth = bearer(await login(client, "operator", "operator"))
    for body, status, field in [
        ({"c_name": "audio_configuration1", "action": "make"}, 400, "$.action"),
        ({"c_name": "audio_configuration1", "e_name": "MP3", "action": "create"}, 400,
         "$.e_name"),
        ({"c_name": "audio_configuration9", "action": "create"}, 404, "$.c_name"),
    ]:
        answer = await client.put(AUDIO, json=body, headers=auth)
        assert answer.status == status, body
        assert (await answer.json())["field"] == field


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('of = "AudioEncoder"\ninto', 'of = "Audio"\ninto'),
         "put.of: 'Audio' is not a configuration kind (one of: VideoSource, VideoEncoder, "
         "AudioSource, AudioEncoder"),
        (('into = "VideoSource"', 'into = "Video"'), "put.into: 'Video' is not a configuration"),
        (('of = "AudioEncoder"\ninto', 'of = "Receiver"\ninto'),
         "put.of.operation: media service has no operation 'AddReceiverConfiguration'"),
        (('[put]\nwrite = "configuration"', '[put]\nmatch = { c_name = "Tokn" }\n'
          'write = "configuration"'),
         "put.match.c_name (get[0]): 'Tokn' (part 1 of 'Tokn') is not an element"),
    ],
)
async def test_a_configuration_kind_is_checked_at_start(tmp_path, change: tuple[str, str], message):
    text = (MAPPINGS_DIR / "configurations-encoders-audio.toml").read_text()
    assert change[0] in text
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    (tmp_path / "audio.toml").write_text(text.replace(*change, 1))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)
