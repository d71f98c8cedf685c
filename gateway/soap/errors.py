"""What goes wrong beneath a device call, as the gateway's device errors: the one place where zeep,
aiohttp and lxml errors are translated (the gateway's own tree is in gateway.errors).

A call raises, beneath the gateway, one of these; each becomes the device error on its right.
EXC_MAP walks them in this order, most specific first, and the first that matches decides:

    DeviceError                      itself (already the gateway's)
    zeep.exceptions.Fault            DeviceFault: the fault's code (SOAP 1.1's client and server
                                     read as Sender and Receiver), its subcodes, and the subcode
                                     its reason says in words ("not implemented", "not
                                     authorized") where it gives none the gateway knows
    transport.HttpUnauthorized       DeviceFault Sender/NotAuthorized (HTTP Digest's refusal)
    transport.EmptyReply             DeviceFault Receiver/ActionNotSupported
    transport.ClosedWithoutAnswer    DeviceFault Receiver/ActionNotSupported
    TimeoutError                     DeviceTimeout (aiohttp's ServerTimeoutError among them)
    aiohttp.ServerFingerprintMismatch,
    aiohttp.ClientSSLError           DeviceUnreachable, saying what to set (gateway.tls)
    aiohttp.ClientConnectionError,
    aiohttp.InvalidURL               DeviceUnreachable
    zeep.exceptions.TransportError   an HTTP answer without SOAP: DeviceFault ActionNotSupported
                                     for 404, 405, 501 (404 also NoSuchService: the address does
                                     not serve the service); DeviceFault when its text says what
                                     went wrong; otherwise DeviceBadReply
    transport.ReplyTooLarge, transport.NotSoap, lxml's XMLSyntaxError, any other zeep error,
    any other aiohttp.ClientError    DeviceBadReply
    Exception                        DeviceBadReply, logged with its traceback: whatever else a
                                     reply makes zeep or lxml raise is still the device's unusable
                                     answer (a 502), not a gateway failure

The caller raises the result `from` the original, so the log keeps both.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from lxml.etree import XMLSyntaxError
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError

from gateway.errors import (
    FAULT_STATUS,
    DeviceBadReply,
    DeviceError,
    DeviceFault,
    DeviceTimeout,
    DeviceUnreachable,
)
from gateway.soap.transport import (
    ClosedWithoutAnswer,
    EmptyReply,
    HttpUnauthorized,
    NotSoap,
    ReplyTooLarge,
)
from gateway.tls import certificate_problem

log = logging.getLogger(__name__)

# The fault codes devices write, by lower-cased local name: SOAP 1.2's, and SOAP 1.1's that some
# devices still send, in any case (soap:client).
FAULT_CODES = {"sender": "Sender", "client": "Sender", "receiver": "Receiver",
               "server": "Receiver", "versionmismatch": "VersionMismatch",
               "mustunderstand": "MustUnderstand", "dataencodingunknown": "DataEncodingUnknown"}
# How devices say in words (a fault's reason, a plain-text error or stack trace) what no ter:
# subcode says: that they lack the operation, or that the sender is not authorized.
NOT_IMPLEMENTED = re.compile(
    r"not\s+(?:been\s+)?implemented|actionnotsupported|is\s+not\s+a\s+function"
    r"|\b(?:operation|action|method)\b.{0,80}?\bnot\s+(?:supported|found|known)"
    r"|(?:unknown|no\s+such)\s+(?:operation|action|method)", re.IGNORECASE | re.DOTALL)
NOT_AUTHORIZED = re.compile(r"not\s*authori[sz]ed|unauthori[sz]ed", re.IGNORECASE)
# HTTP statuses that, without a SOAP answer, say there is no such operation or service here.
MISSING_STATUS = {404: "Not Found", 405: "Method Not Allowed", 501: "Not Implemented"}


@dataclass(frozen=True)
class Exchange:
    """The call that failed, as the error's words need it."""

    device: str
    operation: str
    timeout: float  # seconds the device had to answer

    def __str__(self) -> str:
        return f"{self.operation} on device {self.device}"


def translate(exc: Exception, exchange: Exchange) -> DeviceError:
    """The device error that a lower-layer error stands for (the first match in EXC_MAP)."""
    for kind, to_device_error in EXC_MAP:
        if isinstance(exc, kind):
            return to_device_error(exc, exchange)
    raise AssertionError("EXC_MAP ends with Exception")  # pragma: no cover


def _fault(exc: Fault, where: Exchange) -> DeviceError:
    local = (exc.code or "").rpartition(":")[2]
    code = FAULT_CODES.get(local.lower(), local or None)
    subcodes = [getattr(s, "localname", str(s)) for s in exc.subcodes or []]
    reason = exc.message or "no reason given"
    return DeviceFault(f"{where} failed: {reason}", where.device, code,
                       subcodes + _recognised(reason, subcodes))


def _http_unauthorized(exc: HttpUnauthorized, where: Exchange) -> DeviceError:
    # The same refusal as ter:NotAuthorized, told by HTTP (Digest) instead of SOAP, as Hikvision
    # cameras set to Digest-only ONVIF authentication do (agsh/onvif#294).
    return DeviceFault(f"{where} failed: HTTP 401 Unauthorized", where.device, "Sender",
                       ["NotAuthorized"])


def _empty_reply(exc: EmptyReply, where: Exchange) -> DeviceError:
    # Devices that answer an operation they lack with an empty HTTP body, not a fault (cheap
    # firmware; Pelco cameras answered so a request whose Content-Type lacked the SOAP action,
    # which zeep always sends: agsh/onvif#498).
    return DeviceFault(f"{where}: the device answered with an empty reply; it does not "
                       "implement this operation", where.device, "Receiver",
                       ["ActionNotSupported"])


def _closed_without_answer(exc: ClosedWithoutAnswer, where: Exchange) -> DeviceError:
    # Devices that close the connection, without any answer, on an operation they do not know or
    # a request they cannot parse (a C server run as CGI; asked again on a new connection: the
    # same).
    return DeviceFault(f"{where}: the device closed the connection without answering, twice; it "
                       "does not implement this operation or cannot read the request",
                       where.device, "Receiver", ["ActionNotSupported"])


def unanswered(exc: DeviceError) -> str | None:
    """How the device gave the call no answer at all (the DeviceFaults of _closed_without_answer
    and _empty_reply), or None when it did answer."""
    if isinstance(exc.__cause__, ClosedWithoutAnswer):
        return "the connection closed unanswered, on a fresh connection too"
    if isinstance(exc.__cause__, EmptyReply):
        return "HTTP 200 with an empty body"
    return None


def _timeout(exc: TimeoutError, where: Exchange) -> DeviceError:
    return DeviceTimeout(f"{where}: no answer within {where.timeout:g} s", where.device)


def _certificate(exc: aiohttp.ClientError, where: Exchange) -> DeviceError:
    return DeviceUnreachable(f"{where}: {certificate_problem(exc) or _describe(exc)}",
                             where.device)


def _cannot_connect(exc: aiohttp.ClientError, where: Exchange) -> DeviceError:
    return DeviceUnreachable(f"{where}: cannot connect ({_describe(exc)})", where.device)


def _without_soap(exc: TransportError, where: Exchange) -> DeviceError:
    """An HTTP answer that is no SOAP message: an error page, a stack trace in plain text."""
    status = exc.status_code
    if status in MISSING_STATUS:
        # 404: nothing at this address (a service listed but not served)
        subcodes = ["ActionNotSupported"] + (["NoSuchService"] if status == 404 else [])
        return DeviceFault(f"{where}: the device does not implement it: HTTP {status} "
                           f"{MISSING_STATUS[status]}", where.device, "Receiver", subcodes)
    text = (exc.content or b"").decode("utf-8", "replace").strip()
    first_line = text.splitlines()[0][:200] if text else ""
    recognised = _recognised(text[:4096], [])
    if recognised:
        # A text that says what went wrong (a Node.js device's stack trace, "Error: Sender
        # not authorized"): the device's fault, without the SOAP around it.
        code = "Sender" if recognised == ["NotAuthorized"] else "Receiver"
        return DeviceFault(f"{where} failed: {first_line} (in plain text, HTTP {status})",
                           where.device, code, recognised)
    said = f": {first_line!r}" if first_line else ""
    return DeviceBadReply(f"{where}: HTTP {status} without a SOAP answer{said}", where.device)


def _unusable(exc: Exception, where: Exchange) -> DeviceError:
    return DeviceBadReply(f"{where}: unusable answer ({_describe(exc)})", where.device)


def _unreadable(exc: Exception, where: Exchange) -> DeviceError:
    log.warning("%s: an answer the gateway cannot read", where, exc_info=exc)
    return DeviceBadReply(f"{where}: unusable answer ({type(exc).__name__})", where.device)


def _ours(exc: DeviceError, where: Exchange) -> DeviceError:
    return exc


# Most specific first: no row may be shadowed by an earlier one (tests/test_errors.py checks).
# Fault and TransportError are zeep Errors, the certificate errors and ServerTimeoutError (a
# TimeoutError) are aiohttp ClientConnectionErrors, and those are aiohttp ClientErrors.
EXC_MAP: tuple[tuple[type[Exception], Callable[[Any, Exchange], DeviceError]], ...] = (
    (DeviceError, _ours),
    (Fault, _fault),
    (HttpUnauthorized, _http_unauthorized),
    (EmptyReply, _empty_reply),
    (ClosedWithoutAnswer, _closed_without_answer),
    (TimeoutError, _timeout),
    (aiohttp.ServerFingerprintMismatch, _certificate),
    (aiohttp.ClientSSLError, _certificate),
    (aiohttp.ClientConnectionError, _cannot_connect),
    (aiohttp.InvalidURL, _cannot_connect),
    (TransportError, _without_soap),
    (ReplyTooLarge, _unusable),
    (NotSoap, _unusable),
    (XMLSyntaxError, _unusable),
    (ZeepError, _unusable),
    (aiohttp.ClientError, _unusable),
    (Exception, _unreadable),
)


def _recognised(text: str, subcodes: list[str]) -> list[str]:
    """The subcode a text stands for, where the device gave none that the gateway knows."""
    if any(s in FAULT_STATUS for s in subcodes):
        return []
    if NOT_AUTHORIZED.search(text):
        return ["NotAuthorized"]
    if NOT_IMPLEMENTED.search(text):
        return ["ActionNotSupported"]
    return []


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
