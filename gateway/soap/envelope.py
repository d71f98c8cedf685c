"""SOAP envelopes of operations called without arguments: built by zeep once, then only signed.

Most of what the gateway reads (GetDeviceInformation, GetProfiles, GetUsers...) takes no
argument, so zeep would build the same envelope for every call: that was a tenth of the gateway's
CPU per request. send_async() asks zeep for that envelope once per process, as bytes with a hole
where the Security header goes, and fills the hole with a new UsernameToken for each message.
Calls with arguments, and whatever zeep would add per message (WS-Addressing's MessageID, an
egress plugin), go through zeep's own send_async unchanged; replies are zeep's to read either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zeep
from lxml import etree
from zeep import Plugin
from zeep.wsdl.utils import get_or_create_header

from gateway.soap.transport import AiohttpTransport
from gateway.soap.wsse import DeviceClockToken

HOLE = b"<!--wsse:Security-->"


@dataclass(frozen=True)
class Envelope:
    """zeep's message for one operation without arguments: as it is, and split for signing."""

    unsigned: bytes
    head: bytes  # ... up to where the Security header goes in the soap:Header
    tail: bytes
    http_headers: dict[str, str]  # Content-Type (with the SOAP 1.2 action) and SOAPAction

    def message(self, security: bytes | None) -> bytes:
        return self.unsigned if security is None else self.head + security + self.tail


# Per binding, operation name and plugins; bindings come from WSDLs parsed once per process.
_built: dict[tuple[Any, ...], Envelope | None] = {}


def _serialize(envelope: Any) -> bytes:
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=True)  # as post_xml does


def _build(binding: Any, operation: str, client: Any) -> Envelope | None:
    if binding.get(operation).abstract.wsa_action or any(
            type(plugin).egress is not Plugin.egress for plugin in client.plugins):
        return None  # zeep adds a new wsa:MessageID per message; a plugin may change anything
    # A client like the caller's, without its token: what zeep sends before signing.
    unsigned = zeep.Client(binding.wsdl, transport=client.transport, settings=client.settings,
                           plugins=client.plugins)
    envelope, http_headers = binding._create(operation, (), {}, client=unsigned,
                                             options={"address": ""})
    plain = _serialize(envelope)
    # Where zeep's UsernameToken goes: the soap:Header it creates first in the envelope.
    get_or_create_header(envelope).append(etree.Comment(HOLE[4:-3].decode()))
    head, hole, tail = _serialize(envelope).partition(HOLE)
    assert hole, "the Security header's place was not found in zeep's envelope"
    return Envelope(plain, head, tail, dict(http_headers))


async def send_async(binding: Any, client: Any, options: dict[str, Any], operation: str,
                     kwargs: dict[str, Any]) -> Any:
    """What `binding.send_async(client, options, operation, (), kwargs)` does, from an envelope
    built once when the operation has no arguments and the token is ours (or there is none)."""
    token = client.wsse
    if (kwargs or not (token is None or isinstance(token, DeviceClockToken))
            or not isinstance(client.transport, AiohttpTransport)
            or client.settings.extra_http_headers):
        return await binding.send_async(client, options, operation, (), kwargs)
    key = (binding, operation, *client.plugins)
    if key not in _built:
        _built[key] = _build(binding, operation, client)
    envelope = _built[key]
    if envelope is None:
        return await binding.send_async(client, options, operation, (), kwargs)
    security = None if token is None else token.header()
    reply = await client.transport.post(options["address"], envelope.message(security),
                                        dict(envelope.http_headers))
    if client.settings.raw_response:
        return reply
    return binding.process_reply(client, binding.get(operation), reply)
