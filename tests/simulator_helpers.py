"""Helpers of the simulator tests: hand-built SOAP 1.2 requests, parsed answers, schema checks."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import zeep
from aiohttp.test_utils import TestClient
from lxml import etree
from zeep import xsd
from zeep.transports import Transport
from zeep.xsd.valueobjects import AnyObject, CompoundValue

from gateway.simulator import SimulatedDevice, device_path

ENV = "http://www.w3.org/2003/05/soap-envelope"
TER = "http://www.onvif.org/ver10/error"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TR2 = "http://www.onvif.org/ver20/media/wsdl"
TIMG = "http://www.onvif.org/ver20/imaging/wsdl"
TT = "http://www.onvif.org/ver10/schema"
NAMESPACES = {"tds": TDS, "trt": TRT, "tr2": TR2, "tt": TT}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
WSDL_DIR = Path(__file__).resolve().parent.parent / "wsdl"
DEVICE_WSDL = WSDL_DIR / "ver10/device/wsdl/devicemgmt.wsdl"
SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 request envelope around body (and an optional header block)."""
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<env:Envelope xmlns:env="{ENV}" {declarations}>'
        f"<env:Header>{header}</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def token(
    username: str,
    password: str,
    *,
    created: datetime | str | None = None,
    nonce: bytes | None = None,
    text: bool = False,
) -> str:
    """A wsse:Security header with a UsernameToken; a PasswordDigest one unless text."""
    if created is None:
        created = datetime.now(UTC)
    if isinstance(created, datetime):
        created = created.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    nonce = os.urandom(16) if nonce is None else nonce
    if text:
        password_type, value = "PasswordText", password
    else:
        # The UsernameToken profile's digest is SHA-1 by definition.
        digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
        password_type, value = "PasswordDigest", base64.b64encode(digest).decode()
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PROFILE}#{password_type}">{value}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def as_admin(device: SimulatedDevice) -> str:
    """A valid admin token made with the device's own clock, as a clock-aware client does."""
    return token("admin", "admin", created=device.now())


class Answer:
    """A parsed SOAP answer: HTTP status and the first child of the Body."""

    def __init__(self, status: int, data: bytes) -> None:
        self.status = status
        self.data = data
        self.envelope = etree.fromstring(data)
        assert self.envelope.tag == f"{{{ENV}}}Envelope"
        body = self.envelope.find(f"{{{ENV}}}Body")
        assert body is not None
        self.body = body[0]

    def text(self, path: str) -> str | None:
        return self.body.findtext(path, namespaces=NAMESPACES)

    def fault(self) -> tuple[str, list[str], str]:
        """(code, subcodes, reason) of an env:Fault, QNames resolved to Clark names."""
        assert self.body.tag == f"{{{ENV}}}Fault", etree.tostring(self.body)
        values = self.body.findall(f".//{{{ENV}}}Value")
        names = [self._resolve(value) for value in values]
        text = self.body.find(f"{{{ENV}}}Reason/{{{ENV}}}Text")
        assert text is not None
        assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
        return names[0], names[1:], text.text or ""

    @staticmethod
    def _resolve(value: etree._Element) -> str:
        prefix, local = (value.text or "").split(":")
        return f"{{{value.nsmap[prefix]}}}{local}"


async def call(
    client: TestClient[Any, Any],
    body: str,
    header: str = "",
    *,
    index: int = 1,
    path: str | None = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST a request (to the Device service unless path) and parse the answer, checking the
    SOAP content type."""
    response = await client.post(
        device_path(index) if path is None else path,
        data=envelope(body, header) if data is None else data,
        headers={"Content-Type": "application/soap+xml; charset=utf-8", **(headers or {})},
    )
    assert response.headers["Content-Type"] == SOAP_CONTENT_TYPE
    return Answer(response.status, await response.read())


def not_authorized(answer: Answer) -> bool:
    return answer.status == 400 and answer.fault() == (
        f"{{{ENV}}}Sender",
        [f"{{{TER}}}NotAuthorized"],
        "Sender not authorized",
    )


# lxml.etree.XMLSchema cannot be used: libxml2 enforces the Unique Particle Attribution rule and
# refuses ONVIF's own common.xsd ("complex type 'PTZStatus': The content model is not
# determinist", an optional FieldOfView followed by xs:any ##any). So zeep, which does not check
# UPA, reads the official WSDL instead, from local files only.


class OfflineTransport(Transport):  # type: ignore[misc]
    """A zeep transport that reads local files and refuses any network fetch."""

    def _load_remote_data(self, url: str) -> bytes:
        raise AssertionError(f"the schema tried to fetch {url}")


def offline_wsdl(path: Path) -> zeep.Client:
    """A strict zeep client of an official WSDL."""
    return zeep.Client(str(path), transport=OfflineTransport(), settings=zeep.Settings(strict=True))


def zeep_reply(wsdl: zeep.Client, operation: str, answer: Answer, binding: str = "") -> Any:
    """Read an answer the way a zeep client of the official WSDL does."""
    soap_binding = wsdl.wsdl.bindings[binding or f"{{{TDS}}}DeviceBinding"]
    reply = SimpleNamespace(
        status_code=answer.status,
        content=answer.data,
        headers={"Content-Type": SOAP_CONTENT_TYPE},
        encoding="utf-8",
    )
    return soap_binding.process_reply(wsdl, soap_binding.get(operation), reply)


def rewrap_any(value: Any) -> Any:
    """zeep parses lax xs:any content into typed values but renders only AnyObjects: rewrap."""
    if isinstance(value, list):
        return [rewrap_any(item) for item in value]
    if isinstance(value, CompoundValue):
        for key in value:
            item = rewrap_any(value[key])
            if key.startswith("_value_") and isinstance(item, CompoundValue):
                item = AnyObject(xsd.Element("any", item._xsd_type), item)
            value[key] = item
    return value


def check_schema(wsdl: zeep.Client, operation: str, answer: Answer, binding: str = "") -> None:
    """Assert that an answer is what the official WSDL says."""
    # Strict zeep refuses unknown or misplaced children, but fills missing ones with None;
    # rendering the parsed value back refuses a missing required element.
    zeep_reply(wsdl, operation, answer, binding)
    element = wsdl.get_element(answer.body.tag)
    value = element.parse(answer.body, wsdl.wsdl.types)
    if value is None:  # zeep's value of an element with an empty sequence
        assert len(answer.body) == 0
    else:
        element.render(etree.Element("check"), rewrap_any(value))
