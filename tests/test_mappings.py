"""Mapping files are checked against the WSDL types at start; a bad one names file and path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import MAPPINGS_DIR, WSDL_DIR, create_app, shared_wsdls
from gateway.config import DeviceConfig, GatewayConfig
from gateway.errors import MappingError
from gateway.mapping.spec import load_mappings
from gateway.mapping.values import parse_enum

GOOD = (MAPPINGS_DIR / "device-information.toml").read_text()


def write(tmp_path: Path, text: str, name: str = "thing.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


async def test_shipped_mappings_load():
    resources = load_mappings(MAPPINGS_DIR, await shared_wsdls(WSDL_DIR))
    info = next(r for r in resources if r.path == "/device-information")
    assert info.reads[0].operation == "GetDeviceInformation"
    assert info.reads[0].fields["serial_number"].path == ("SerialNumber",)
    assert {r.path for r in resources} == {
        "/device-information", "/sources/video", "/encoders/video", "/reboot", "/discovery",
        "/configurations/sources/video", "/configurations/encoders/video",
        "/configurations/encoders/audio", "/profiles", "/profiles/{token}/stream-uri",
        "/profiles/{token}/snapshot-uri",
        "/profiles/{token}/ptz", "/profiles/{token}/ptz/move", "/profiles/{token}/ptz/stop",
        "/profiles/{token}/ptz/home", "/profiles/{token}/ptz/presets",
        "/sources/video/{name}/imaging", "/sources/video/{name}/focus",
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('firmware = "FirmwareVersion"', 'firmware = "FirmwareVersio"'),
         "get.fields.firmware: 'FirmwareVersio' (part 1 of 'FirmwareVersio') is not an element "
         "or attribute of GetDeviceInformationResponse"),
        (('model = "Model"', 'model = "Model.Name"'),
         "get.fields.model: 'Name' (part 2 of 'Model.Name') is not an element or attribute "
         "of Model"),
        (('operation = "GetDeviceInformation"', 'operation = "GetDeviceInfo"'),
         "get.operation: device service has no operation 'GetDeviceInfo'"),
        (('service = "device"', 'service = "thermal"'), "get.service: unknown service 'thermal'"),
        (('title = "Device information"', 'titel = "x"'), "unknown key 'titel'"),
        (('path = "/device-information"', 'path = "device-information"'), "path: must start"),
        (('model = "Model"', 'model = 3'), "get.fields.model: must be an element path"),
        (('[get]', '[get]\nverb = "x"'), "unknown key 'verb'"),
        (('title = "Device information"', 'title = "x'), "thing.toml"),
    ],
)
async def test_bad_mapping_is_refused_naming_file_and_path(tmp_path, change, message):
    write(tmp_path, GOOD.replace(*change))
    with pytest.raises(MappingError) as caught:
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))
    assert str(tmp_path / "thing.toml") in str(caught.value)
    assert message in str(caught.value)


async def test_two_files_for_one_path_are_refused(tmp_path):
    write(write(tmp_path, GOOD, "a.toml"), GOOD, "b.toml")
    with pytest.raises(MappingError, match="more than one file maps /device-information"):
        load_mappings(tmp_path, await shared_wsdls(WSDL_DIR))


async def test_a_new_read_only_resource_is_a_mapping_file(tmp_path, start_device, aiohttp_client):
    # No Python: a file declares GET /identity from the same ONVIF call, other fields.
    write(tmp_path, GOOD, "device-information.toml")
    write(tmp_path, """
path = "/identity"
title = "Identity"
[get]
service = "device"
operation = "GetDeviceInformation"
[get.fields]
vendor = "Manufacturer"
serial = "SerialNumber"
""", "identity.toml")
    _, url = await start_device()
    config = GatewayConfig(devices=(DeviceConfig("cam", url),), mappings_dir=tmp_path,
                           state_dir=tmp_path / "state")
    client = await aiohttp_client(await create_app(config))
    login = await client.put("/login", json={"username": "user", "password": "user"})
    token = (await login.json())["sessionToken"]
    response = await client.get("/identity", headers={"Authorization": f"Bearer {token}"})
    assert await response.json() == {"vendor": "RidgeRun", "serial": "123"}


def test_serve_refuses_to_start_with_a_bad_mapping(tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    write(mappings, GOOD.replace('"HardwareId"', '"HardwareID"'), "device-information.toml")
    ini = tmp_path / "gateway.ini"
    ini.write_text(f"[gateway]\nport = 0\nmappings_dir = {mappings}\n"
                   "[device:cam]\nurl = http://127.0.0.1:9/onvif/device_service\n")
    run = subprocess.run([sys.executable, "-m", "gateway", "serve", "-c", str(ini)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1
    assert "cannot start" in run.stderr
    assert "device-information.toml" in run.stderr
    assert "get.fields.hardware_id: 'HardwareID'" in run.stderr


@pytest.mark.parametrize("table", [
    {"either_case": True, "values": [["a", "1"], ["A", "2"]]},  # the same name twice, in two cases
    {"either_case": True, "values": [[0, "0"], [1, "1"]]},  # numbers have no case
    {"either_case": "yes", "values": [["a", "1"]]},
    {"values": [["a", "1"]]},
])
def test_either_case_enums_are_checked(table):
    with pytest.raises(MappingError, match=r"enums\.x: (either_case|a table is)"):
        parse_enum("x", table, "enums.x")


def test_an_either_case_enum_takes_both_spellings_and_gives_its_own():
    enum = parse_enum("x", {"either_case": True, "values": [["h264", "H264"]]}, "enums.x")
    assert enum.accepted == ["h264", "H264"]
    assert enum.from_client("H264") == enum.from_client("h264") == "h264"
    with pytest.raises(KeyError):
        enum.from_client("H264 ")
