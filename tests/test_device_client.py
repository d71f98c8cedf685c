"""DeviceClient: service addresses, the GetCapabilities fallback, and where addresses point."""

from __future__ import annotations

import pytest

from gateway.app import WSDL_DIR, shared_wsdls
from gateway.config import DeviceConfig, DeviceLimits
from gateway.credentials import Credentials
from gateway.errors import DeviceFault
from gateway.soap.device import DeviceClient

ADMIN = Credentials("admin", "admin")


@pytest.fixture
async def client_for(start_device):
    clients = []

    async def make(**device_options):
        device, url = await start_device(**device_options)
        client = DeviceClient(DeviceConfig("cam", url), await shared_wsdls(WSDL_DIR),
                              DeviceLimits())
        clients.append(client)
        return device, client

    yield make
    for client in clients:
        await client.close()


async def test_call_returns_the_response_element_as_data(client_for):
    _, client = await client_for()
    reply = await client.call("device", "GetDiscoveryMode", ADMIN)
    # zeep would unwrap a one-child response to its bare value; the client keeps the element.
    assert reply == {"DiscoveryMode": "Discoverable"}
    users = await client.call("device", "GetUsers", ADMIN)
    assert [u["Username"] for u in users["User"]] == ["admin", "operator", "user"]


async def test_a_service_the_device_lacks_is_501(client_for):
    _, client = await client_for(services=set())
    with pytest.raises(DeviceFault) as caught:
        await client.call("media", "GetProfiles", ADMIN)
    assert caught.value.status == 501
    assert "does not offer the media service" in caught.value.detail


async def test_without_get_services_falls_back_to_get_capabilities(client_for):
    _, client = await client_for(unsupported={"GetServices"})
    # GetCapabilities names the Media service (not Media2, which it cannot express)
    profiles = await client.call("media", "GetProfiles", ADMIN)
    assert [p["token"] for p in profiles["Profiles"]] == ["profile_1", "profile_3"]
    assert not await client.offers("media2")


async def test_media_services_from_get_services(client_for):
    _, client = await client_for()
    assert await client.offers("media")
    assert await client.offers("media2")
    profiles = await client.call("media2", "GetProfiles", ADMIN, Type=["All"])
    assert [p["token"] for p in profiles["Profiles"]] == ["profile_1", "profile_3"]


async def test_service_addresses_stay_on_the_configured_host(client_for):
    _, client = await client_for()
    # A device behind NAT reports its own LAN address; the gateway keeps to gateway.ini's host.
    assert client._services.on_device_host("http://192.0.2.7:80/onvif/media_service?x=1") == (
        client.config.url.split("/dev/")[0] + "/onvif/media_service?x=1"
    )


async def test_clock_offset_read_once(client_for):
    _, client = await client_for(clock_skew=-120)
    await client.call("device", "GetDeviceInformation", ADMIN)
    first = client.clock_offset
    assert first is not None
    assert abs(first.total_seconds() + 120) < 5
    await client.call("device", "GetDeviceInformation", ADMIN)
    assert client.clock_offset is first  # one GetSystemDateAndTime per device, not per call


@pytest.mark.parametrize("unsupported", [set(), {"GetServices"}])
async def test_every_service_of_the_table_is_found(client_for, unsupported):
    # Imaging, PTZ and Events by their namespaces in GetServices, or by tt:Capabilities without it
    _, client = await client_for(unsupported=unsupported)
    assert await client.offers("imaging")
    assert await client.offers("ptz")
    assert await client.offers("events")
    assert not await client.offers("deviceio")
    status = await client.call("ptz", "GetStatus", ADMIN, ProfileToken="profile_1")
    assert status["PTZStatus"]["MoveStatus"]["PanTilt"] == "IDLE"
    reply = await client.call("imaging", "GetImagingSettings", ADMIN, VideoSourceToken="video1")
    assert reply["ImagingSettings"]["Brightness"] == 50.0


async def test_a_reply_of_bytes_read_before_is_not_read_again_and_is_a_copy(client_for,
                                                                             monkeypatch):
    device, client = await client_for()
    binding = (await shared_wsdls(WSDL_DIR)).binding("device")
    reads = []
    process_reply = binding.process_reply

    def counted(zeep_client, operation, reply):
        reads.append(operation.name)
        return process_reply(zeep_client, operation, reply)

    monkeypatch.setattr(binding, "process_reply", counted)
    first = await client.call("device", "GetUsers", ADMIN)
    first["User"][0]["Username"] = "changed by its caller"
    again = await client.call("device", "GetUsers", ADMIN)
    # the device was asked twice, zeep read its (same) answer once, the caller's change stayed
    assert reads.count("GetUsers") <= 1
    assert [u["Username"] for u in again["User"]] == ["admin", "operator", "user"]
    # another answer (the device changed) is read, and is what the caller gets
    device.discovery_mode = "NonDiscoverable"
    assert await client.call("device", "GetDiscoveryMode", ADMIN) == {
        "DiscoveryMode": "NonDiscoverable"}
    device.discovery_mode = "Discoverable"
    assert await client.call("device", "GetDiscoveryMode", ADMIN) == {
        "DiscoveryMode": "Discoverable"}
