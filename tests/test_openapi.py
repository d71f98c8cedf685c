"""GET /openapi.json: a valid OpenAPI 3.1 description of every route, generated from the mapping
files and the route table; what the gateway answers matches it."""

from __future__ import annotations

import logging

import jsonschema
import pytest
from openapi_spec_validator import validate

from gateway.app import MAPPINGS_DIR, create_app
from gateway.config import DeviceConfig, GatewayConfig
from gateway.keys import RESOURCES
from gateway.mapping.bodies import XML_TEXT
from gateway.web.openapi import build_openapi
from tests.conftest import bearer, login

PUBLIC = {"/login", "/validateUser", "/healthz", "/readyz", "/openapi.json", "/docs"}


async def description(client):
    response = await client.get("/openapi.json")  # no token needed
    assert response.status == 200
    return await response.json()


def schema_of(document, schema):
    """A schema of the document, resolvable on its own (its $refs point into the document)."""
    return {**schema, "$defs": {}, "components": document["components"]}


def check(document, schema, value):
    validator = jsonschema.Draft202012Validator(schema_of(document, schema))
    validator.validate(value)


def ok_schema(operation):
    return operation["responses"][next(s for s in operation["responses"] if s.startswith("2"))][
        "content"]["application/json"]["schema"]


async def test_description_is_valid_openapi_31_and_30_for_swagger_ui(gateway):
    document = await description(gateway)
    assert document["openapi"] == "3.1.0"
    validate(document)
    response = await gateway.get("/docs/openapi-3.0.json")
    older = await response.json()
    assert older["openapi"] == "3.0.3"
    validate(older)
    assert older["paths"].keys() == document["paths"].keys()


async def test_every_route_is_described_with_its_parameters(gateway):
    document = await description(gateway)
    for route in gateway.app.router.routes():
        path = route.resource.canonical
        if route.method == "HEAD" or path.startswith("/docs/"):
            continue
        operation = document["paths"][path][route.method.lower()]
        names = {p.get("name") or p["$ref"].rpartition("/")[2] for p in operation["parameters"]}
        # DELETE /devices/{device_id} has its own, pre-filled with POST /devices's example
        assert bool({"DeviceId", "device_id"} & names) == ("{device_id}" in path), path
        assert "RequestId" in names
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    # every resource of the mapping files, at its path and for each device
    for resource in gateway.app[RESOURCES]:
        for path in (resource.path, f"/devices/{{device_id}}{resource.path}"):
            assert {m.lower() for m in resource.methods} <= document["paths"][path].keys()


async def test_security_bearer_everywhere_but_the_public_paths(gateway):
    document = await description(gateway)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "The sessionToken that PUT /login answers"}
    assert document["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        bare = path.removeprefix("/devices/{device_id}")
        for operation in operations.values():
            public = operation.get("security") == []
            assert public == (bare in PUBLIC), path
            if not public:
                assert "401" in operation["responses"], path


async def test_resource_schemas_come_from_the_mapping_files(gateway):
    document = await description(gateway)
    schemas = document["components"]["schemas"]
    assert schemas["DeviceInformation"] == {
        "type": "object", "additionalProperties": False,
        "properties": {name: {"type": "string"} for name in
                       ("firmware", "serial_number", "hardware_id", "model", "manufacturer")},
        "required": ["firmware", "serial_number", "hardware_id", "model", "manufacturer"]}
    encoder = schemas["EncodersVideo"]["properties"]["encoders"]["items"]
    assert encoder["properties"] == {"name": {"type": "string",
                                              "enum": ["h264", "h265", "mpeg", "jpeg"]},
                                     "enabled": {"type": "integer", "enum": [0, 1]}}
    update = schemas["EncodersVideoUpdate"]["properties"]["encoders"]["items"]
    assert update["required"] == ["name", "enabled"]
    assert update["properties"]["enabled"] == encoder["properties"]["enabled"]
    # a codec name is taken in either case; answers spell it as the GET schema does
    assert update["properties"]["name"]["enum"] == ["h264", "h265", "mpeg", "jpeg",
                                                    "H264", "H265", "MPEG", "JPEG"]
    # policy write: names of sources are the device's, free strings (that XML can carry)
    source = schemas["SourcesVideoUpdate"]["properties"]["sources"]["items"]
    assert source["properties"]["name"] == {"type": "string", "pattern": XML_TEXT}
    assert source["additionalProperties"] is False
    # call write: the argument's enum
    assert schemas["DiscoveryUpdate"]["properties"] == {"enabled": {"type": "integer",
                                                                    "enum": [1, 0]}}
    # configuration write: c_name, the policy field (with its enum), action
    update = schemas["ConfigurationsEncodersVideoUpdate"]
    assert update["properties"] == {
        "c_name": {"type": "string", "pattern": XML_TEXT},
        "e_name": {"type": "string", "enum": ["H264", "H265", "MPEG4", "JPEG",
                                              "h264", "h265", "mpeg4", "jpeg"],
                   "description": "Either case is taken (H264 or h264); answers spell it H264."},
        "action": {"type": "string", "enum": ["create", "delete"]}}
    assert update["additionalProperties"] is False
    # value fields, dotted names nested
    assert schemas["Reboot"]["properties"]["status"]["properties"] == {
        "code": {"type": "integer", "const": 200},
        "description": {"type": "string", "const": "Device has been reboot successfully"}}
    # PUT answers what GET answers
    put = document["paths"]["/sources/video"]["put"]
    assert ok_schema(put) == {"$ref": "#/components/schemas/SourcesVideo"}
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SourcesVideoUpdate"}
    for status in ("400", "401", "403", "404", "409", "413", "415", "502", "504"):
        assert status in put["responses"]
    assert "POST" not in {m.upper() for m in document["paths"]["/sources/video"]}
    assert {"get", "post"} <= document["paths"]["/reboot"].keys()


async def test_problem_responses_are_problem_json(gateway):
    document = await description(gateway)
    responses = document["components"]["responses"]
    assert responses["Problem429"]["headers"]["Retry-After"]
    for name, response in responses.items():
        assert response["content"] == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}, name
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "field", "device", "fault_code",
            "fault_subcodes", "retry_after", "request_id"} <= problem["properties"].keys()
    # a real problem matches it
    answer = await gateway.get("/sources/video")
    check(document, {"$ref": "#/components/schemas/Problem"}, await answer.json())


async def test_answers_match_their_schemas(gateway):
    document = await description(gateway)
    auth = bearer(await login(gateway))
    for path, operations in document["paths"].items():
        if "get" not in operations or "{" in path or path in ("/docs", "/metrics"):
            continue
        ok = operations["get"]["responses"].get("200", {})
        if "text/event-stream" in ok.get("content", {}) or "101" in operations["get"]["responses"]:
            continue  # a stream never ends: tests/test_events.py checks its events
        response = await gateway.get(path, headers=auth)
        assert response.status == 200, (path, await response.text())
        if "image/jpeg" in operations["get"]["responses"]["200"]["content"]:  # /snapshot
            assert response.content_type == "image/jpeg"
            assert (await response.read()).startswith(b"\xff\xd8\xff")
            continue
        check(document, ok_schema(operations["get"]), await response.json())
    body = {"encoders": [{"name": "h265", "enabled": 0}]}
    response = await gateway.put("/encoders/video", json=body, headers=auth)
    check(document, ok_schema(document["paths"]["/encoders/video"]["put"]), await response.json())


CLOCK = """
path = "/clock"
title = "Clock"
[get]
service = "device"
operation = "GetSystemDateAndTime"
[get.fields]
dst = "SystemDateAndTime.DaylightSavings"
"utc.year" = "SystemDateAndTime.UTCDateTime.Date.Year"
"utc.zone" = { value = "UTC" }
"""


async def test_a_new_mapping_file_is_described_too(tmp_path, start_device, aiohttp_client):
    # No Python and no description to write: the new file's resource appears, typed from the WSDL.
    (tmp_path / "device-information.toml").write_text(
        (MAPPINGS_DIR / "device-information.toml").read_text())
    (tmp_path / "clock.toml").write_text(CLOCK)
    _, url = await start_device()
    config = GatewayConfig(devices=(DeviceConfig("cam", url),), mappings_dir=tmp_path,
                           state_dir=tmp_path / "state")
    client = await aiohttp_client(await create_app(config))
    document = await description(client)
    validate(document)
    assert "/devices/{device_id}/clock" in document["paths"]
    assert "/sources/video" not in document["paths"]
    clock = document["components"]["schemas"]["Clock"]
    assert clock["properties"] == {
        "dst": {"type": "boolean"},
        "utc": {"type": "object", "additionalProperties": False, "required": ["year", "zone"],
                "properties": {
                    # UTCDateTime is optional in the WSDL: the year may be null
                    "year": {"type": ["integer", "null"]},
                    "zone": {"type": "string", "const": "UTC"}}}}
    response = await client.get("/clock", headers=bearer(await login(client)))
    answer = await response.json()
    assert isinstance(answer["utc"]["year"], int)
    check(document, clock, answer)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"])
async def test_description_and_docs_need_no_token(gateway, path):
    response = await gateway.get(path)
    assert response.status == 200


async def test_docs_serve_only_the_swagger_ui_files_they_need(gateway):
    page = await (await gateway.get("/docs")).text()
    assert "persistAuthorization: true" in page
    assert "validatorUrl: null" in page  # no badge fetched from the internet
    assert (await gateway.get("/docs/swagger-ui.js.map")).status == 404
    assert (await gateway.get("/docs/..%2f__init__.py")).status == 404


async def test_a_docs_file_is_sent_once_whole_and_its_connection_serves_on(gateway, caplog):
    # The request middleware sends plain answers itself; a file answer (aiohttp's FileResponse,
    # whose prepare() opens and sends the file each time it is called) is left to aiohttp, which
    # sends it once: sent twice, the file was opened again (and left to the garbage collector)
    # and aiohttp logged an error for the second send.
    from swagger_ui_bundle import swagger_ui_path

    expected = (swagger_ui_path / "swagger-ui.css").read_bytes()
    for _ in range(2):  # the same kept-alive connection
        response = await gateway.get("/docs/swagger-ui.css")
        assert response.status == 200
        assert await response.read() == expected
    assert (await gateway.get("/healthz")).status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_route_added_without_a_description_is_listed_all_the_same(tmp_path):
    # Whatever is served is in the description: a route of no known kind, with what its
    # handler's docstring says and a problem for any error.
    async def status_of_thing(request):
        """How the thing is."""

    config = GatewayConfig(devices=(DeviceConfig("cam", "http://127.0.0.1:1/x"),),
                           state_dir=tmp_path)
    app = await create_app(config)
    app.router.add_get("/things/{thing}", status_of_thing, allow_head=False)
    document = build_openapi(app)
    validate(document)
    operation = document["paths"]["/things/{thing}"]["get"]
    assert operation["summary"] == "How the thing is."
    assert operation["parameters"][0] == {"name": "thing", "in": "path", "required": True,
                                          "schema": {"type": "string"}}
    assert "default" in operation["responses"]
