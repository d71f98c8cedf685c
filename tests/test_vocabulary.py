"""The mapping vocabulary beyond the seed: path and query parameters, typed and nested call
arguments checked against the XSD types at start. Every resource here is a mapping file the test
writes, with no Python of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, create_app, shared_wsdls
from gateway.config import DeviceConfig, GatewayConfig
from gateway.errors import MappingError
from gateway.mapping.spec import ConfigurationWrite, load_mappings
from gateway.simulator import MEDIA
from gateway.simulator.imaging import ImagingSettings
from tests.conftest import bearer, login

# GET/PUT /imaging/{source}: one video source's image levels (Imaging service).
IMAGING = """
path = "/imaging/{source}"
title = "Imaging settings"

[parameters]
source = { in = "path", description = "a video source token", example = "video1" }

[get]
service = "imaging"
operation = "GetImagingSettings"
arguments = { VideoSourceToken = { param = "source" } }

[get.fields]
brightness = "ImagingSettings.Brightness"
contrast = "ImagingSettings.Contrast"

[put]
write = "call"
service = "imaging"
operation = "SetImagingSettings"

[put.arguments]
VideoSourceToken = { param = "source" }
ImagingSettings = { Brightness = { field = "brightness" }, Contrast = { field = "contrast" } }
ForcePersistence = true

[put.body]
brightness = { type = "number", example = 60 }
contrast = { type = "number", example = 40.5 }
"""

# GET /media-profiles?token=...&detail=...: Media2 profiles, all or one, typed query parameters.
PROFILES = """
path = "/media-profiles"
title = "Media profiles"

[parameters]
token = { in = "query", description = "only this profile" }
detail = { in = "query", enum = "detail", default = "none" }

[get]
service = "media2"
operation = "GetProfiles"
list = "profiles"
items = "Profiles"
arguments = { Token = { param = "token" }, Type = [{ param = "detail" }] }

[get.fields]
token = "token"
fixed = "fixed"

[enums]
detail = [["none", "VideoSource"], ["all", "All"]]
"""


# GET /imaging: the imaging settings of every video source, one Imaging call per item of
# /sources/video (a fan-out).
FAN_OUT = """
path = "/imaging"
title = "Imaging settings of every video source"

[get]
service = "imaging"
operation = "GetImagingSettings"
for_each = "/sources/video"
list = "imaging"
arguments = { VideoSourceToken = { item = "name" } }

[get.fields]
source = { item = "name" }
brightness = "ImagingSettings.Brightness"
"""


async def gateway_with(tmp_path: Path, start_device: Any, aiohttp_client: Any,
                       files: dict[str, str], device_options: dict[str, Any] | None = None,
                       ) -> tuple[Any, dict[str, str], Any]:
    """A gateway serving the shipped mappings plus these files (name: TOML text), logged in
    as an Operator."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for shipped in MAPPINGS_DIR.glob("*.toml"):
        (mappings / shipped.name).write_text(shipped.read_text())
    for name, text in files.items():
        (mappings / f"{name}.toml").write_text(text)
    device, url = await start_device(**(device_options or {}))
    config = GatewayConfig(devices=(DeviceConfig("cam", url, default=True),),
                           mappings_dir=mappings, state_dir=tmp_path / "state",
                           cache_ttl=0)
    client = await aiohttp_client(await create_app(config))
    return client, bearer(await login(client, "operator", "operator")), device


async def test_a_read_with_a_path_parameter(tmp_path, start_device, aiohttp_client):
    client, auth, device = await gateway_with(tmp_path, start_device, aiohttp_client,
                                              {"imaging": IMAGING})
    device.imaging["video2"] = ImagingSettings(brightness=7)
    answer = await client.get("/imaging/video2", headers=auth)
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"brightness": 7.0, "contrast": 50.0}
    assert await (await client.get("/devices/cam/imaging/video1", headers=auth)).json() == {
        "brightness": 50.0, "contrast": 50.0}

    missing = await client.get("/imaging/video9", headers=auth)
    assert missing.status == 404
    problem = await missing.json()
    assert problem["field"] == "path.source"
    assert "source 'video9'" in problem["detail"]
    assert problem["fault_subcodes"] == ["InvalidArgVal", "NoSource"]


async def test_a_typed_call_with_a_nested_argument(tmp_path, start_device, aiohttp_client):
    client, auth, device = await gateway_with(tmp_path, start_device, aiohttp_client,
                                              {"imaging": IMAGING})
    # Brightness and Contrast are xs:float inside tt:ImagingSettings20; ForcePersistence a
    # constant xs:boolean: the call carries them nested, as the WSDL has them.
    answer = await client.put("/imaging/video3", headers=auth,
                              json={"brightness": 80, "contrast": 12.5})
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"brightness": 80.0, "contrast": 12.5}
    assert (device.imaging["video3"].brightness, device.imaging["video3"].contrast) == (80, 12.5)

    for body, field in [({"brightness": "80", "contrast": 1}, "$.brightness"),
                        ({"brightness": True, "contrast": 1}, "$.brightness"),
                        ({"brightness": 1}, "$.contrast"),
                        ({"brightness": 1, "contrast": 1, "hue": 2}, "$.hue")]:
        bad = await client.put("/imaging/video3", headers=auth, json=body)
        assert bad.status == 400, body
        assert (await bad.json())["field"] == field
    # the device refuses a level out of its range: 400 from its fault, nothing changed
    refused = await client.put("/imaging/video3", headers=auth,
                               json={"brightness": 101, "contrast": 1})
    assert refused.status == 400
    assert device.imaging["video3"].brightness == 80


async def test_query_parameters_are_typed_and_named(tmp_path, start_device, aiohttp_client):
    client, auth, _ = await gateway_with(tmp_path, start_device, aiohttp_client,
                                         {"media-profiles": PROFILES})
    every = await (await client.get("/media-profiles", headers=auth)).json()
    assert [p["token"] for p in every["profiles"]] == ["profile_1", "profile_3"]
    one = await client.get("/media-profiles?token=profile_3&detail=all", headers=auth)
    assert await one.json() == {"profiles": [{"token": "profile_3", "fixed": True}]}

    for query, field in [("detail=everything", "query.detail"), ("colour=red", "query.colour"),
                         ("token=a&token=b", "query.token")]:
        bad = await client.get(f"/media-profiles?{query}", headers=auth)
        assert bad.status == 400, query
        assert (await bad.json())["field"] == field
    described = await (await client.get("/openapi.json")).json()
    parameters = described["paths"]["/media-profiles"]["get"]["parameters"]
    assert {"name": "detail", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["none", "all"], "default": "none"}} in parameters


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Brightness = { field", "Brightnes = { field"),
         "put.arguments.ImagingSettings: 'Brightnes' is not an element of ImagingSettings20"),
        (("ForcePersistence = true", 'ForcePersistence = "yes"'),
         "put.arguments.ForcePersistence: 'yes' is not a boolean"),
        (("ImagingSettings = { Brightness", "ImagingSettings = { Exposure = { Mode = 'ON' }, "
          "Brightness"),
         "put.arguments.ImagingSettings.Exposure.Mode: 'ON' is not a value of ExposureMode (one "
         "of: AUTO, MANUAL)"),
        (("ImagingSettings = { Brightness = { field = \"brightness\" }",
          "ImagingSettings = { Brightness = { param = \"source\" }"),
         "put.arguments.ImagingSettings.Brightness: param 'source' is a string; xs:float "
         "wants a number"),
        (('brightness = { type = "number", example = 60 }', 'brightness = { type = "string" }'),
         "put.arguments.ImagingSettings.Brightness: field 'brightness' is a string; xs:float "
         "wants a number"),
        (("arguments = { VideoSourceToken = { param = \"source\" } }", "arguments = {}"),
         "get.arguments: GetImagingSettings needs 'VideoSourceToken'"),
        (("{ param = \"source\" } }", "{ param = \"sauce\" } }"),
         "get.arguments.VideoSourceToken.param: no parameter 'sauce' in [parameters]"),
        (('source = { in = "path"', 'src = { in = "path"'),
         "parameters.src: the path has no {src}"),
        (('ImagingSettings = { Brightness = { field = "brightness" }, Contrast = { field = '
          '"contrast" } }', 'ImagingSettings = 3'),
         "put.arguments.ImagingSettings: ImagingSettings20 is a complex type"),
    ],
)
async def test_call_arguments_are_checked_against_the_xsd_at_start(
        tmp_path, change: tuple[str, str], message):
    assert change[0] in IMAGING
    (tmp_path / "imaging.toml").write_text(IMAGING.replace(*change, 1))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)


async def test_an_enumerated_xsd_type_needs_an_enum(tmp_path):
    # tt:DiscoveryMode takes Discoverable or NonDiscoverable: a free string cannot feed it.
    text = (MAPPINGS_DIR / "discovery.toml").read_text().replace(
        '{ enum = "discovery", example = 0 }', '{ type = "string" }')
    (tmp_path / "discovery.toml").write_text(text)
    with pytest.raises(MappingError, match="DiscoveryMode takes one of Discoverable, "
                                           "NonDiscoverable: give field 'enabled' an enum"):
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))


# ---------------------------------------------------------------- request bodies as data


async def test_a_write_body_is_declared_once_for_checks_and_description(
        tmp_path, start_device, aiohttp_client):
    client, auth, _ = await gateway_with(tmp_path, start_device, aiohttp_client,
                                         {"imaging": IMAGING})
    described = await (await client.get("/openapi.json")).json()
    assert described["components"]["schemas"]["ImagingUpdate"] == {
        "type": "object", "additionalProperties": False, "required": ["brightness", "contrast"],
        "properties": {"brightness": {"type": "number"}, "contrast": {"type": "number"}}}
    request = described["paths"]["/imaging/{source}"]["put"]["requestBody"]
    assert request["content"]["application/json"]["example"] == {"brightness": 60,
                                                                 "contrast": 40.5}
    # the example the description shows is a body the gateway takes
    answer = await client.put("/imaging/video1", headers=auth,
                              json=request["content"]["application/json"]["example"])
    assert await answer.json() == {"brightness": 60.0, "contrast": 40.5}
    login = described["paths"]["/login"]["put"]["requestBody"]["content"]["application/json"]
    assert login["schema"]["required"] == ["username", "password"]
    assert login["example"] == {"username": "admin", "password": "admin"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('brightness = { type = "number", example = 60 }',
          'brightness = { type = "number", example = 60, min = 0 }'),
         "put.body.brightness: unknown key 'min'"),
        (('brightness = { type = "number", example = 60 }', 'brightness = { type = "float" }'),
         "put.body.brightness.type: one of string, integer, number, boolean, array"),
        (('brightness = { type = "number", example = 60 }', ''),
         "put.arguments.ImagingSettings.Brightness.field: put.body has no field 'brightness'"),
        (('contrast = { type = "number", example = 40.5 }',
          'contrast = { type = "number", example = 40.5 }\nhue = { type = "number" }'),
         "put.body.hue: no argument takes it"),
        (('[put.body]\n', '[put.bodies]\n'), "put: unknown key 'bodies'"),
        (('brightness = { type = "number", example = 60 }',
          'brightness = { type = "number", enum = "codec" }'),
         "put.body.brightness.enum: codec's values are not numbers"),
    ],
)
async def test_bad_body_declarations_stop_start_up(tmp_path, change: tuple[str, str], message):
    assert change[0] in IMAGING
    (tmp_path / "imaging.toml").write_text(IMAGING.replace(*change, 1))
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert message in str(caught.value)


async def test_a_policy_write_body_must_fit_the_write(tmp_path):
    text = (MAPPINGS_DIR / "sources-video.toml").read_text().replace(
        'enabled = { enum = "flag", example = 0 }', 'on = { enum = "flag" }')
    (tmp_path / "sources-video.toml").write_text(text)
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    with pytest.raises(MappingError, match=r"put.body.sources.items: this write takes the fields "
                                           "name, enabled"):
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))


async def test_enums_shared_by_files_are_defined_once(tmp_path):
    resources = {r.path: r for r in load_mappings(MAPPINGS_DIR, await shared_wsdls(WSDL_DIR))}
    codec = resources["/encoders/video"].reads[0].fields["name"].enum
    put = resources["/configurations/encoders/video"].put
    assert codec is not None
    assert codec.name == "codec"
    assert isinstance(put, ConfigurationWrite)
    assert put.policy is not None
    assert put.policy.enum is codec  # the codec enum of enums.toml, not a copy per file
    # a file may not define an enum of enums.toml again
    (tmp_path / "enums.toml").write_text((MAPPINGS_DIR / "enums.toml").read_text())
    (tmp_path / "encoders-video.toml").write_text(
        (MAPPINGS_DIR / "encoders-video.toml").read_text()
        + '\n[enums]\ncodec = [["h264", "H264"]]\n')
    with pytest.raises(MappingError, match=r"enums\.codec: already in enums\.toml"):
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))


def test_the_mapping_layer_does_not_reach_up_into_the_web_layer():
    import ast

    for module in (Path(__file__).parent.parent / "gateway" / "mapping").glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = [node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        assert not [name for name in imported if name.startswith("gateway.web")], module


# ---------------------------------------------------------------- fan-out


async def test_a_fan_out_read_calls_once_per_item(tmp_path, start_device, aiohttp_client):
    client, auth, device = await gateway_with(tmp_path, start_device, aiohttp_client,
                                              {"imaging": FAN_OUT})
    device.imaging["video2"] = ImagingSettings(brightness=7)
    answer = await client.get("/imaging", headers=auth)
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"imaging": [
        {"source": "video1", "brightness": 50.0},
        {"source": "video2", "brightness": 7.0},
        {"source": "video3", "brightness": 50.0}]}
    # the items are the other resource's answer: a source the device gains is there too
    device.video_sources["video4"] = device.video_sources["video1"]
    device.imaging["video4"] = ImagingSettings(brightness=99)
    entries = (await (await client.get("/imaging", headers=auth)).json())["imaging"]
    assert entries[-1] == {"source": "video4", "brightness": 99.0}
    described = await (await client.get("/openapi.json")).json()
    item = described["components"]["schemas"]["Imaging"]["properties"]["imaging"]["items"]
    assert item["properties"]["source"] == {"type": "string"}
    assert "once for each item of /sources/video" in (
        described["paths"]["/imaging"]["get"]["description"])


async def test_a_fan_out_on_a_device_without_the_service_is_501(tmp_path, start_device,
                                                              aiohttp_client):
    client, auth, _ = await gateway_with(tmp_path, start_device, aiohttp_client,
                                         {"imaging": FAN_OUT}, {"services": {MEDIA}})
    answer = await client.get("/imaging", headers=auth)
    assert answer.status == 501
    assert "imaging" in (await answer.json())["detail"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('for_each = "/sources/video"', 'for_each = "/sources/audio"'),
         "get.for_each: no mapping file maps /sources/audio"),
        (('for_each = "/sources/video"', 'for_each = "/device-information"'),
         "get.for_each: /device-information is not a list"),
        (('source = { item = "name" }', 'source = { item = "label" }'),
         "get.fields.source.item: /sources/video items have no field 'label' (they have: "
         "name, enabled)"),
        (('for_each = "/sources/video"\n', ''),
         "get.arguments.VideoSourceToken: a read takes arguments from `param` (or constants)"),
        (('list = "imaging"\n', ''), "get.for_each: goes with `list`"),
    ],
)
async def test_bad_fan_outs_stop_start_up(tmp_path, change: tuple[str, str], message):
    assert change[0] in FAN_OUT
    for shipped in MAPPINGS_DIR.glob("*.toml"):
        (tmp_path / shipped.name).write_text(shipped.read_text())
    (tmp_path / "imaging.toml").write_text(FAN_OUT.replace(*change, 1))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert "imaging.toml" in str(caught.value)
    assert message in str(caught.value)


# ---------------------------------------------------------------- what SOAP cannot carry

HOSTNAME = """
path = "/hostname"
title = "Host name"

[get]
service = "device"
operation = "GetHostname"

[get.fields]
name = "HostnameInformation.Name"

[put]
write = "call"
service = "device"
operation = "SetHostname"
arguments = { Name = { field = "name" } }

[put.body]
name = { type = "string" }
"""


async def test_values_no_soap_message_can_carry_are_refused(tmp_path, start_device,
                                                           aiohttp_client):
    # URLs and JSON can hold control characters and lone surrogates; XML cannot
    client, auth, _ = await gateway_with(tmp_path, start_device, aiohttp_client,
                                         {"imaging": IMAGING, "hostname": HOSTNAME,
                                          "media-profiles": PROFILES})
    path = await client.get("/imaging/a%00b", headers=auth)
    assert path.status == 404
    assert (await path.json())["field"] == "path.source"
    query = await client.get("/media-profiles?token=a%01b", headers=auth)
    assert query.status == 400
    assert (await query.json())["field"] == "query.token"
    body = await client.put("/hostname", headers=auth, json={"name": "cam\ud800"})
    assert body.status == 400
    assert (await body.json())["field"] == "$.name"


async def test_answers_are_cached_per_parameter_values(tmp_path, start_device, aiohttp_client):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for shipped in MAPPINGS_DIR.glob("*.toml"):
        (mappings / shipped.name).write_text(shipped.read_text())
    (mappings / "imaging.toml").write_text(IMAGING)
    device, url = await start_device()
    device.imaging["video2"] = ImagingSettings(brightness=7)
    config = GatewayConfig(devices=(DeviceConfig("cam", url, default=True),),
                           mappings_dir=mappings, state_dir=tmp_path / "state", cache_ttl=60)
    client = await aiohttp_client(await create_app(config))
    auth = bearer(await login(client))
    first = await (await client.get("/imaging/video1", headers=auth)).json()
    second = await (await client.get("/imaging/video2", headers=auth)).json()
    assert (first["brightness"], second["brightness"]) == (50.0, 7.0)
    device.imaging["video2"].brightness = 8  # within cache_ttl: the kept answer, per source
    assert (await (await client.get("/imaging/video2", headers=auth)).json())["brightness"] == 7.0


async def test_the_readme_worked_examples_load(tmp_path):
    # README's worked examples are the files above: a read and its write (one file), a fan-out
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Worked examples", 1)[1].split("\n### ", 1)[0]
    blocks = [block.split("\n", 1)[1] for block in section.split("```toml")[1:]]
    blocks = [block.split("```", 1)[0] for block in blocks]
    assert len(blocks) == 3
    for shipped in MAPPINGS_DIR.glob("*.toml"):
        (tmp_path / shipped.name).write_text(shipped.read_text())
    (tmp_path / "imaging-source.toml").write_text(blocks[0] + "\n" + blocks[1])
    (tmp_path / "imaging.toml").write_text(blocks[2])
    resources = {r.path: r for r in load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))}
    assert resources["/imaging/{source}"].put is not None
    assert resources["/imaging"].reads[0].over is resources["/sources/video"]
