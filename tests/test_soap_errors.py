"""The translation table (gateway/soap/errors.py): most specific first, and what each row makes of
the lower-layer error. Behaviour against devices is pinned end to end by test_errors.py,
test_real_devices.py, test_quirks.py and test_device_client.py."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from lxml import etree
from zeep.exceptions import Fault, TransportError, ValidationError

from gateway.errors import (
    DeviceBadReply,
    DeviceFault,
    DeviceTimeout,
    DeviceUnavailable,
    DeviceUnreachable,
)
from gateway.soap.errors import EXC_MAP, Exchange, translate
from gateway.soap.transport import ClosedWithoutAnswer, EmptyReply, HttpUnauthorized, ReplyTooLarge

EXCHANGE = Exchange("cam", "GetProfiles", 5)


def test_no_row_is_shadowed_by_an_earlier_one():
    kinds = [kind for kind, _ in EXC_MAP]
    for i, later in enumerate(kinds):
        for earlier in kinds[:i]:
            assert not issubclass(later, earlier), f"{earlier.__name__} catches {later.__name__}"
    assert kinds[-1] is Exception  # every error is translated


def xml_error() -> etree.XMLSyntaxError:
    try:
        etree.fromstring(b"<a>")
    except etree.XMLSyntaxError as exc:
        return exc
    raise AssertionError("lxml parsed <a>")


@pytest.mark.parametrize(("exc", "kind", "words", "subcodes"), [
    (Fault("Method not implemented", code="soap:Server"), DeviceFault,
     "GetProfiles on device cam failed: Method not implemented", ["ActionNotSupported"]),
    (Fault("no", code="env:Sender", subcodes=[etree.QName("ter", "NotAuthorized")]), DeviceFault,
     "failed: no", ["NotAuthorized"]),
    (HttpUnauthorized(), DeviceFault, "HTTP 401 Unauthorized", ["NotAuthorized"]),
    (EmptyReply(), DeviceFault, "empty reply", ["ActionNotSupported"]),
    (ClosedWithoutAnswer(), DeviceFault, "closed the connection", ["ActionNotSupported"]),
    # a ClientConnectionError too, but a timeout first
    (aiohttp.ServerTimeoutError("read"), DeviceTimeout, "no answer within 5 s", None),
    (aiohttp.ServerFingerprintMismatch(b"a", b"b", "cam", 443), DeviceUnreachable,
     "certificate fingerprint mismatch", None),
    (aiohttp.ServerDisconnectedError(), DeviceUnreachable, "cannot connect", None),
    (aiohttp.InvalidURL("x"), DeviceUnreachable, "cannot connect", None),
    (TransportError(status_code=404, content=b""), DeviceFault, "HTTP 404 Not Found",
     ["ActionNotSupported", "NoSuchService"]),
    (TransportError(status_code=500, content=b"Error: Sender not authorized\n    at x.js:1"),
     DeviceFault, "failed: Error: Sender not authorized (in plain text, HTTP 500)",
     ["NotAuthorized"]),
    (TransportError(status_code=500, content=b"<html>oops</html>"), DeviceBadReply,
     "HTTP 500 without a SOAP answer: '<html>oops</html>'", None),
    (ReplyTooLarge("more than 4 MiB"), DeviceBadReply, "unusable answer (more than 4 MiB)", None),
    (xml_error(), DeviceBadReply, "unusable answer (", None),
    (ValidationError("bad"), DeviceBadReply, "unusable answer (bad)", None),
    (aiohttp.ClientPayloadError("truncated"), DeviceBadReply, "unusable answer (truncated)", None),
])
def test_each_lower_layer_error_becomes_a_device_error(exc, kind, words, subcodes):
    mapped = translate(exc, EXCHANGE)
    assert type(mapped) is kind
    assert words in mapped.detail
    assert mapped.device == "cam"
    if subcodes is not None:
        assert isinstance(mapped, DeviceFault)
        assert mapped.subcodes == subcodes


def test_a_device_error_passes_through_unchanged():
    ours = DeviceUnavailable("busy", "cam", 30)
    assert translate(ours, EXCHANGE) is ours


def test_anything_else_is_a_bad_reply_with_its_traceback_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.soap.errors"):
        mapped = translate(KeyError("UTCDateTime"), EXCHANGE)
    assert type(mapped) is DeviceBadReply
    assert mapped.detail == "GetProfiles on device cam: unusable answer (KeyError)"
    [record] = caplog.records
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
