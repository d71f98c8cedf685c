"""The WSDLs are parsed once per process and never fetched from the network."""

from __future__ import annotations

import asyncio
import gc
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.app import WSDL_DIR, YOUNG_OBJECTS, create_app, shared_wsdls
from gateway.config import DeviceConfig, GatewayConfig
from gateway.errors import WsdlError
from gateway.keys import WSDLS
from gateway.soap import wsdl
from gateway.soap.wsdl import NOTIFICATION_SCHEMAS, ONVIF_SCHEMAS, SERVICES, parse_wsdls


async def test_wsdls_are_shared_between_gateways():
    config = GatewayConfig(devices=(DeviceConfig("cam", "http://127.0.0.1:9/x"),))
    first, second = await create_app(config), await create_app(config)
    assert first[WSDLS] is second[WSDLS] is await shared_wsdls(WSDL_DIR)


async def test_every_service_binding_is_there():
    wsdls = await shared_wsdls(WSDL_DIR)
    for name in SERVICES:
        assert wsdls.binding(name).get("GetServiceCapabilities") is not None


def test_remote_import_is_refused(tmp_path):
    shutil.copytree(WSDL_DIR, tmp_path / "wsdl")
    device_wsdl = tmp_path / "wsdl" / SERVICES["device"].wsdl
    # Point the device WSDL's schema import at a URL (loopback, and refused before any connection).
    text = device_wsdl.read_text().replace(
        'schemaLocation="../../../ver10/schema/onvif.xsd"',
        'schemaLocation="http://127.0.0.1:9/onvif.xsd"',
    )
    device_wsdl.write_text(text)
    with pytest.raises(WsdlError, match=r"refusing to fetch http://127\.0\.0\.1:9/onvif\.xsd"):
        parse_wsdls(tmp_path / "wsdl")


def test_missing_wsdl_is_named(tmp_path):
    with pytest.raises(WsdlError, match=r"devicemgmt\.wsdl: missing"):
        parse_wsdls(tmp_path)


async def test_the_parsed_wsdls_leave_the_garbage_collectors_sight():
    await shared_wsdls(WSDL_DIR)
    assert gc.get_freeze_count() > 50_000
    assert gc.get_threshold()[0] == YOUNG_OBJECTS


def test_services_importing_onvif_schemas_share_one_document():
    wsdls = parse_wsdls(WSDL_DIR)
    document = wsdls.document("device")
    assert [name for name in SERVICES if wsdls.document(name) is document] == [
        "device", "media", "media2", "imaging", "ptz", "deviceio"]
    # Events (and its pull points) apart: its messages' tt:Message must stay raw XML
    assert wsdls.document("events") is wsdls.document("pullpoint") is not document
    # each service's own binding, with its own operations, from the one document
    assert wsdls.binding("ptz").get("ContinuousMove").input.body.qname.namespace == (
        SERVICES["ptz"].namespace)
    assert wsdls.binding("media2").get("GetProfiles").input.body.qname.namespace == (
        SERVICES["media2"].namespace)


def test_a_missing_binding_is_named(tmp_path):
    shutil.copytree(WSDL_DIR, tmp_path / "wsdl")
    ptz_wsdl = tmp_path / "wsdl" / SERVICES["ptz"].wsdl
    ptz_wsdl.write_text(ptz_wsdl.read_text().replace('name="PTZBinding"', 'name="OtherBinding"'))
    with pytest.raises(WsdlError, match=r"ptz\.wsdl: no binding PTZBinding \(ptz\)"):
        parse_wsdls(tmp_path / "wsdl")
    assert gc.isenabled()  # parsing turns collections off while it runs, and back on


def test_parsing_leaves_collections_on():
    parse_wsdls(WSDL_DIR)
    assert gc.isenabled()


CONNECTION_STATUS = "{http://www.onvif.org/ver10/events/wsdl}ConnectionStatus"


async def test_the_events_wsdl_is_read_when_first_needed_and_once(monkeypatch):
    read: list[str] = []
    parse = wsdl._parse

    def counted(wsdl_dir: Path, schemas: str) -> Any:
        read.append(schemas)
        return parse(wsdl_dir, schemas)

    monkeypatch.setattr(wsdl, "_parse", counted)
    wsdls = parse_wsdls(WSDL_DIR)
    assert read == [ONVIF_SCHEMAS]  # at start: what the mapping files are checked against
    assert not any(wsdls.is_read(name) for name in ("events", "pullpoint", "subscription"))
    assert CONNECTION_STATUS not in wsdls.enumerations  # a simple type of the Events WSDL
    # calls arriving together all wait for the one reading
    await asyncio.gather(*(wsdls.ready(name) for name in ("events", "pullpoint", "events")))
    assert read == [ONVIF_SCHEMAS, NOTIFICATION_SCHEMAS]
    assert wsdls.document("subscription") is wsdls.document("events") is not wsdls.document(
        "device")
    assert wsdls.binding("pullpoint").get("PullMessages") is not None
    # and the enumerations of the files read for it join the others
    assert wsdls.enumerations[CONNECTION_STATUS] == ("Offline", "Connecting", "Connected")
    assert wsdls.enumerations["{http://www.onvif.org/ver10/schema}IrCutFilterMode"] == (
        "ON", "OFF", "AUTO")


def test_a_missing_events_wsdl_stops_start_up(tmp_path):
    shutil.copytree(WSDL_DIR, tmp_path / "wsdl")
    (tmp_path / "wsdl" / SERVICES["events"].wsdl).unlink()
    with pytest.raises(WsdlError, match=r"event\.wsdl: missing \(the events service's WSDL\)"):
        parse_wsdls(tmp_path / "wsdl")
