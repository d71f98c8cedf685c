"""Envelopes of operations without arguments: zeep's, built once, with a new token per message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import zeep
from lxml import etree
from zeep import Plugin
from zeep.wsdl.bindings.soap import SoapBinding

from gateway.app import WSDL_DIR, shared_wsdls
from gateway.config import DeviceConfig, DeviceLimits
from gateway.credentials import Credentials
from gateway.soap import envelope
from gateway.soap.device import DeviceClient
from gateway.soap.quirks import PLUGINS
from gateway.soap.transport import AiohttpTransport
from gateway.soap.wsdl import SERVICES, ZEEP_SETTINGS
from gateway.soap.wsse import DeviceClockToken
from tests.conftest import StartDevice


class FixedToken(DeviceClockToken):
    """The same header every time, so zeep's envelope and the template's can be compared."""

    def __init__(self) -> None:
        super().__init__("admin", "secret", timedelta(0))
        self.fixed = super().header()

    def header(self) -> bytes:
        return self.fixed


def canonical(message: bytes) -> bytes:
    return etree.tostring(etree.fromstring(message), method="c14n")


async def test_every_operation_without_arguments_gets_zeeps_own_envelope():
    """For each operation of every service that zeep can send without arguments, the message
    made from the template is the one zeep builds and signs itself, HTTP headers included."""
    wsdls = await shared_wsdls(WSDL_DIR)
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session)
        compared = 0
        for name in SERVICES:
            binding = wsdls.binding(name)
            token = FixedToken()
            client = zeep.Client(binding.wsdl, wsse=token, transport=transport,
                                 settings=ZEEP_SETTINGS, plugins=PLUGINS)
            for operation in binding._operations:
                try:
                    zeeps, headers = binding._create(operation, (), {}, client=client,
                                                     options={"address": "http://x/"})
                except (zeep.exceptions.ValidationError, TypeError):
                    continue  # needs arguments: never templated
                built = envelope._build(binding, operation, client)
                if built is None:
                    assert binding.get(operation).abstract.wsa_action
                    continue
                zeep_bytes = etree.tostring(zeeps, encoding="utf-8", xml_declaration=True)
                assert canonical(built.message(token.header())) == canonical(zeep_bytes)
                assert built.http_headers == headers
                compared += 1
        assert compared > 100  # the services' Get* operations, and more


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A session for the transports that these tests give zeep (nothing goes out through it)."""
    async with aiohttp.ClientSession() as session:
        yield session


async def test_unsigned_messages_are_zeeps_too(http):
    wsdls = await shared_wsdls(WSDL_DIR)
    binding = wsdls.binding("device")
    client = zeep.Client(binding.wsdl, transport=AiohttpTransport(http), settings=ZEEP_SETTINGS)
    zeeps, _ = binding._create("GetSystemDateAndTime", (), {}, client=client,
                               options={"address": "http://x/"})
    built = envelope._build(binding, "GetSystemDateAndTime", client)
    assert built is not None
    assert built.message(None) == etree.tostring(zeeps, encoding="utf-8", xml_declaration=True)
    assert b"Header" not in built.message(None)


async def test_a_plugin_that_changes_outgoing_messages_gets_zeeps_path(http):
    class Stamp(Plugin):  # type: ignore[misc]  # zeep is untyped (setup.cfg)
        def egress(self, envelope: Any, http_headers: Any, operation: Any,
                   binding_options: Any) -> Any:
            return envelope, http_headers

    wsdls = await shared_wsdls(WSDL_DIR)
    binding = wsdls.binding("device")
    client = zeep.Client(binding.wsdl, transport=AiohttpTransport(http), settings=ZEEP_SETTINGS,
                         plugins=[*PLUGINS, Stamp()])
    assert envelope._build(binding, "GetDeviceInformation", client) is None


async def test_calls_build_each_envelope_once_and_sign_each_message_anew(
        start_device: StartDevice, monkeypatch):
    created: list[str] = []
    original = SoapBinding._create

    def counting(self, operation, *args, **kwargs):
        created.append(operation)
        return original(self, operation, *args, **kwargs)

    monkeypatch.setattr(SoapBinding, "_create", counting)
    monkeypatch.setattr(envelope, "_built", {})
    device, url = await start_device()
    nonces: list[bytes] = []
    original_authorize = device.remember_nonce

    def remember(nonce: bytes) -> bool:
        nonces.append(nonce)
        return original_authorize(nonce)

    monkeypatch.setattr(device, "remember_nonce", remember)
    client = DeviceClient(DeviceConfig("cam", url), await shared_wsdls(WSDL_DIR), DeviceLimits())
    try:
        for _ in range(3):
            info = await client.call("device", "GetDeviceInformation", Credentials("admin",
                                                                                   "admin"))
            assert info["Manufacturer"]
        services = await client.call("device", "GetServices", Credentials("admin", "admin"),
                                     IncludeCapability=False)
        assert services["Service"]
    finally:
        await client.close()
    # one build each for the clock read and the three signed calls; GetServices (an argument)
    # goes through zeep every time
    assert created.count("GetDeviceInformation") == 1
    assert created.count("GetSystemDateAndTime") == 1
    assert created.count("GetServices") == 1
    assert len(nonces) == len(set(nonces)) >= 4


def test_the_security_header_goes_where_zeep_puts_it():
    built = envelope.Envelope(b"<u/>", b"<h>", b"</h>", {})
    assert built.message(b"<s/>") == b"<h><s/></h>"
    assert built.message(None) == b"<u/>"


@pytest.mark.parametrize("kwargs", [{"IncludeCapability": False}])
async def test_calls_with_arguments_are_zeeps(kwargs, http):
    wsdls = await shared_wsdls(WSDL_DIR)
    binding = wsdls.binding("device")
    sent: list[Any] = []

    class Recording(AiohttpTransport):
        async def post_xml(self, address, envelope_, headers):
            sent.append(envelope_)
            raise RuntimeError("recorded")

    client = zeep.Client(binding.wsdl, transport=Recording(http), settings=ZEEP_SETTINGS)
    with pytest.raises(RuntimeError, match="recorded"):
        await envelope.send_async(binding, client, {"address": "http://x/"}, "GetServices",
                                  kwargs)
    assert len(sent) == 1
