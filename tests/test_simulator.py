"""The simulated ONVIF device, over real HTTP with hand-built SOAP 1.2 envelopes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zeep
import zeep.exceptions
from aiohttp.test_utils import TestClient
from lxml import etree
from pytest_aiohttp import AiohttpClient

from gateway.simulator import (
    DEMO_USERS,
    SIMULATED_DEVICES,
    SimulatedDevice,
    User,
    create_simulator_app,
    device_path,
)
from tests.simulator_helpers import (
    DEVICE_WSDL,
    ENV,
    TDS,
    TER,
    TT,
    Answer,
    as_admin,
    call,
    check_schema,
    envelope,
    not_authorized,
    offline_wsdl,
    token,
    zeep_reply,
)


@pytest.fixture
def device() -> SimulatedDevice:
    return SimulatedDevice()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, device: SimulatedDevice) -> TestClient[Any, Any]:
    return await aiohttp_client(create_simulator_app([device]))


GET_INFO = "<tds:GetDeviceInformation/>"


# ---------------------------------------------------------------- date and time


async def test_system_date_and_time_needs_no_credentials(client: TestClient[Any, Any]) -> None:
    answer = await call(client, "<tds:GetSystemDateAndTime/>")
    assert answer.status == 200
    assert answer.text("tds:SystemDateAndTime/tt:DateTimeType") == "Manual"
    assert answer.text("tds:SystemDateAndTime/tt:TimeZone/tt:TZ") == "UTC"
    year = answer.text("tds:SystemDateAndTime/tt:UTCDateTime/tt:Date/tt:Year")
    assert year == str(datetime.now(UTC).year)


def reported_utc(answer: Answer) -> datetime:
    def part(name: str) -> int:
        return int(answer.body.findtext(f".//{{{TT}}}UTCDateTime//{{{TT}}}{name}") or "")

    return datetime(
        part("Year"), part("Month"), part("Day"), part("Hour"), part("Minute"), part("Second"),
        tzinfo=UTC,
    )  # fmt: skip


async def test_clock_skew_moves_the_reported_time(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.clock_skew = -7200.0
    reported = reported_utc(await call(client, "<tds:GetSystemDateAndTime/>"))
    expected = datetime.now(UTC) - timedelta(hours=2)
    assert abs((reported - expected).total_seconds()) < 5


# ---------------------------------------------------------------- authentication


async def test_device_information_with_a_good_digest(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await call(client, GET_INFO, token("user", "user"))
    assert answer.status == 200
    assert answer.text("tds:Manufacturer") == "RidgeRun"
    assert answer.text("tds:Model") == "model_1"
    assert answer.text("tds:FirmwareVersion") == "1.0.0.0"
    assert answer.text("tds:SerialNumber") == "123"
    assert answer.text("tds:HardwareId") == "1"


async def test_wrong_password_is_not_authorized(client: TestClient[Any, Any]) -> None:
    assert not_authorized(await call(client, GET_INFO, token("admin", "nimda")))


async def test_unknown_user_is_not_authorized(client: TestClient[Any, Any]) -> None:
    assert not_authorized(await call(client, GET_INFO, token("root", "admin")))


async def test_missing_credentials_are_not_authorized(client: TestClient[Any, Any]) -> None:
    assert not_authorized(await call(client, GET_INFO))


async def test_stale_created_is_not_authorized(client: TestClient[Any, Any]) -> None:
    stale = datetime.now(UTC) - timedelta(seconds=120)
    assert not_authorized(await call(client, GET_INFO, token("admin", "admin", created=stale)))
    future = datetime.now(UTC) + timedelta(seconds=120)
    assert not_authorized(await call(client, GET_INFO, token("admin", "admin", created=future)))


async def test_a_wrong_device_clock_needs_a_corrected_created(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.clock_skew = 3600.0
    assert not_authorized(await call(client, GET_INFO, token("admin", "admin")))
    assert (await call(client, GET_INFO, as_admin(device))).status == 200


async def test_reused_nonce_is_not_authorized(client: TestClient[Any, Any]) -> None:
    header = token("admin", "admin")
    assert (await call(client, GET_INFO, header)).status == 200
    assert not_authorized(await call(client, GET_INFO, header))


async def test_token_window_can_be_changed(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    ten_seconds_old = datetime.now(UTC) - timedelta(seconds=10)
    device.token_window = 5.0
    header = token("user", "user", created=ten_seconds_old)
    assert not_authorized(await call(client, GET_INFO, header))
    device.token_window = 60.0
    assert (await call(client, GET_INFO, header)).status == 200
    assert not_authorized(await call(client, GET_INFO, header))


@pytest.mark.parametrize(
    "created",
    ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123Z", "2024-01-01T00:00:00+00:00"],
)
async def test_created_formats(
    client: TestClient[Any, Any], device: SimulatedDevice, created: str
) -> None:
    device.clock_skew = (datetime(2024, 1, 1, tzinfo=UTC) - datetime.now(UTC)).total_seconds()
    assert (await call(client, GET_INFO, token("user", "user", created=created))).status == 200


async def test_created_without_time_zone_is_not_authorized(
    client: TestClient[Any, Any],
) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    assert not_authorized(await call(client, GET_INFO, token("user", "user", created=naive)))


async def test_password_text_is_accepted(client: TestClient[Any, Any]) -> None:
    assert (await call(client, GET_INFO, token("user", "user", text=True))).status == 200
    wrong = token("user", "resu", text=True)
    assert not_authorized(await call(client, GET_INFO, wrong))


async def test_pre_auth_operation_still_checks_credentials_sent(
    client: TestClient[Any, Any],
) -> None:
    bad = token("admin", "wrong")
    assert not_authorized(await call(client, "<tds:GetSystemDateAndTime/>", bad))
    good = token("user", "user")
    assert (await call(client, "<tds:GetSystemDateAndTime/>", good)).status == 200


# ---------------------------------------------------------------- access policy


async def test_get_users_as_admin(client: TestClient[Any, Any], device: SimulatedDevice) -> None:
    answer = await call(client, "<tds:GetUsers/>", as_admin(device))
    assert answer.status == 200
    users = {
        user.findtext(f"{{{TT}}}Username"): user.findtext(f"{{{TT}}}UserLevel")
        for user in answer.body.iterfind(f"{{{TDS}}}User")
    }
    assert users == {"admin": "Administrator", "operator": "Operator", "user": "User"}
    assert b"Password" not in etree.tostring(answer.body)


@pytest.mark.parametrize("username", ["user", "operator"])
async def test_get_users_below_administrator_is_not_authorized(
    client: TestClient[Any, Any], device: SimulatedDevice, username: str
) -> None:
    header = token(username, username, created=device.now())
    assert not_authorized(await call(client, "<tds:GetUsers/>", header))


async def test_set_then_get_discovery_mode(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    set_mode = "<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
    answer = await call(client, set_mode + "</tds:SetDiscoveryMode>", as_admin(device))
    assert answer.status == 200
    assert answer.body.tag == f"{{{TDS}}}SetDiscoveryModeResponse"
    assert device.discovery_mode == "NonDiscoverable"
    answer = await call(client, "<tds:GetDiscoveryMode/>", token("user", "user"))
    assert answer.text("tds:DiscoveryMode") == "NonDiscoverable"


async def test_set_discovery_mode_needs_administrator(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = "<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
    header = token("operator", "operator")
    assert not_authorized(await call(client, body + "</tds:SetDiscoveryMode>", header))
    assert device.discovery_mode == "Discoverable"


async def test_set_discovery_mode_rejects_unknown_modes(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = "<tds:SetDiscoveryMode><tds:DiscoveryMode>Hidden</tds:DiscoveryMode>"
    answer = await call(client, body + "</tds:SetDiscoveryMode>", as_admin(device))
    assert answer.status == 400
    assert answer.fault()[:2] == (f"{{{ENV}}}Sender", [f"{{{TER}}}InvalidArgVal"])
    assert device.discovery_mode == "Discoverable"


@pytest.mark.parametrize(("username", "reboots"), [("admin", 1), ("operator", 0), ("user", 0)])
async def test_system_reboot_is_for_administrators(
    client: TestClient[Any, Any], device: SimulatedDevice, username: str, reboots: int
) -> None:
    answer = await call(client, "<tds:SystemReboot/>", token(username, username))
    assert device.reboots == reboots
    if reboots:
        assert answer.status == 200
        assert "Rebooting" in (answer.text("tds:Message") or "")
    else:
        assert not_authorized(answer)


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "body",
    [
        "<tds:GetHostname/>",
        '<trt:GetProfiles xmlns:trt="http://www.onvif.org/ver10/media/wsdl"/>',
        "<GetDeviceInformation/>",
    ],
)
async def test_unknown_operation_is_action_not_supported(
    client: TestClient[Any, Any], device: SimulatedDevice, body: str
) -> None:
    answer = await call(client, body, as_admin(device))
    assert answer.status == 500
    code, subcodes, _ = answer.fault()
    assert (code, subcodes) == (f"{{{ENV}}}Receiver", [f"{{{TER}}}ActionNotSupported"])


async def test_unsupported_capability_category(client: TestClient[Any, Any]) -> None:
    body = "<tds:GetCapabilities><tds:Category>Analytics</tds:Category></tds:GetCapabilities>"
    answer = await call(client, body)
    assert answer.status == 500
    assert answer.fault()[:2] == (
        f"{{{ENV}}}Receiver",
        [f"{{{TER}}}ActionNotSupported", f"{{{TER}}}NoSuchService"],
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    b'<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    b'<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    b'<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    b'<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    b'<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
    b'<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl">&lol9;'
    b"</tds:GetDeviceInformation></env:Body></env:Envelope>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
    b'<tds:SetDiscoveryMode xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
    b"<tds:DiscoveryMode>&xxe;</tds:DiscoveryMode></tds:SetDiscoveryMode></env:Body></env:Envelope>"
)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml at all",
        b"<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'><env:Body>",
        b"<Envelope><Body><GetSystemDateAndTime/></Body></Envelope>",
        b"<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'/>",
        envelope(""),
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
    ],
    ids=["empty", "text", "truncated", "no-namespace", "no-body", "empty-body", "bomb", "xxe"],
)
async def test_bad_xml_is_a_sender_fault_and_the_server_survives(
    client: TestClient[Any, Any], data: bytes
) -> None:
    answer = await call(client, "", data=data)
    assert answer.status == 400
    # entities are refused, not expanded (a billion laughs) nor fetched (the file's text)
    assert answer.fault()[:2] == (f"{{{ENV}}}Sender", [f"{{{TER}}}WellFormed"])
    assert b"root:" not in etree.tostring(answer.envelope)
    assert (await call(client, "<tds:GetSystemDateAndTime/>")).status == 200


async def test_soap_1_1_is_a_version_mismatch(client: TestClient[Any, Any]) -> None:
    data = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b'<tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>'
        b"</s:Body></s:Envelope>"
    )
    answer = await call(client, "", data=data)
    assert answer.status == 500
    assert answer.fault()[:2] == (f"{{{ENV}}}VersionMismatch", [])


# ---------------------------------------------------------------- services, devices, latency


async def test_get_services_xaddr_uses_the_request_host(client: TestClient[Any, Any]) -> None:
    body = "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>"
    answer = await call(client, body, headers={"Host": "camera.example:8080"})
    assert answer.status == 200
    assert answer.text("tds:Service/tds:Namespace") == TDS
    assert answer.text("tds:Service/tds:XAddr") == (
        "http://camera.example:8080/dev/1/onvif/device_service"
    )
    assert answer.body.find(f"{{{TDS}}}Service/{{{TDS}}}Capabilities") is None


async def test_get_services_rejects_a_non_boolean(client: TestClient[Any, Any]) -> None:
    body = "<tds:GetServices><tds:IncludeCapability>yes</tds:IncludeCapability></tds:GetServices>"
    answer = await call(client, body)
    assert answer.status == 400
    assert answer.fault()[:2] == (f"{{{ENV}}}Sender", [f"{{{TER}}}InvalidArgVal"])


async def test_get_capabilities_xaddr_uses_the_request_host(client: TestClient[Any, Any]) -> None:
    answer = await call(client, "<tds:GetCapabilities/>", headers={"Host": "10.0.0.7"})
    assert answer.text("tds:Capabilities/tt:Device/tt:XAddr") == (
        "http://10.0.0.7/dev/1/onvif/device_service"
    )


async def test_two_devices_are_independent(aiohttp_client: AiohttpClient) -> None:
    first, second = SimulatedDevice(index=1), SimulatedDevice(index=2)
    app = create_simulator_app([first, second])
    assert app[SIMULATED_DEVICES] == {1: first, 2: second}
    client = await aiohttp_client(app)

    set_mode = (
        "<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
        "</tds:SetDiscoveryMode>"
    )
    assert (await call(client, set_mode, as_admin(first), index=1)).status == 200
    assert (await call(client, "<tds:SystemReboot/>", as_admin(second), index=2)).status == 200
    assert (first.discovery_mode, first.reboots) == ("NonDiscoverable", 0)
    assert (second.discovery_mode, second.reboots) == ("Discoverable", 1)

    serials = [
        (await call(client, GET_INFO, token("user", "user"), index=index)).text("tds:SerialNumber")
        for index in (1, 2)
    ]
    assert serials == ["123", "124"]

    # Nonce caches are per device: the same token is fresh for the other device.
    header = token("user", "user")
    assert (await call(client, GET_INFO, header, index=1)).status == 200
    assert (await call(client, GET_INFO, header, index=2)).status == 200

    second.users["user"].password = "changed"
    assert first.users["user"].password == "user"
    assert DEMO_USERS["user"] == User("user", "User")
    assert not_authorized(await call(client, GET_INFO, token("user", "user"), index=2))

    response = await client.post(device_path(3), data=envelope(GET_INFO))
    assert response.status == 404


def test_device_indexes_must_be_unique() -> None:
    with pytest.raises(ValueError, match="index 1"):
        create_simulator_app([SimulatedDevice(index=1), SimulatedDevice(index=1)])


async def test_latency_delays_every_answer(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.latency = 0.3
    for body in ("<tds:GetSystemDateAndTime/>", "<tds:GetHostname/>"):
        started = time.monotonic()
        await call(client, body)
        assert time.monotonic() - started >= 0.3


# ---------------------------------------------------------------- schema validation


@pytest.fixture(scope="module")
def device_wsdl() -> zeep.Client:
    return offline_wsdl(DEVICE_WSDL)


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>"),
        (
            "GetServices",
            "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>",
        ),
        (
            "GetServices",
            "<tds:GetServices><tds:IncludeCapability>0</tds:IncludeCapability></tds:GetServices>",
        ),
        ("GetCapabilities", "<tds:GetCapabilities/>"),
        (
            "GetCapabilities",
            "<tds:GetCapabilities><tds:Category>Device</tds:Category></tds:GetCapabilities>",
        ),
        ("GetDeviceInformation", GET_INFO),
        ("GetUsers", "<tds:GetUsers/>"),
        ("SystemReboot", "<tds:SystemReboot/>"),
        ("GetDiscoveryMode", "<tds:GetDiscoveryMode/>"),
        (
            "SetDiscoveryMode",
            "<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
            "</tds:SetDiscoveryMode>",
        ),
    ],
)
async def test_answers_match_the_official_schema(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    device_wsdl: zeep.Client,
    operation: str,
    body: str,
) -> None:
    answer = await call(client, body, as_admin(device))
    assert answer.status == 200
    assert answer.body.tag == f"{{{TDS}}}{operation}Response"
    check_schema(device_wsdl, operation, answer)


async def test_zeep_reads_the_faults(
    client: TestClient[Any, Any], device_wsdl: zeep.Client
) -> None:
    answer = await call(client, GET_INFO)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        zeep_reply(device_wsdl, "GetDeviceInformation", answer)
    assert raised.value.message == "Sender not authorized"
    assert raised.value.code == "env:Sender"
    assert raised.value.subcodes == [etree.QName(TER, "NotAuthorized")]
