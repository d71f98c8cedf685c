"""WS-Security UsernameToken checking and the access policy decision."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from lxml import etree

from gateway.soap.xml import BASE64_BINARY, PASSWORD_DIGEST, PASSWORD_TEXT, WSSE, WSU, qname

from .device import ACCESS_POLICY, AccessClass, SimulatedDevice
from .soap import SENDER, SoapFault

# xs:dateTime with a mandatory time zone; fromisoformat alone also takes non-XSD forms.
_CREATED: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII
)

_log = logging.getLogger(__name__)


class _Rejected(Exception):
    """Why a token was refused; logged only, the client always sees the same fault."""


@dataclass(frozen=True)
class UsernameToken:
    """The fields of a wsse:UsernameToken, as sent."""

    username: str
    password: str
    password_type: str
    nonce: str | None
    created: str | None


def not_authorized() -> SoapFault:
    """The one fault for every authentication or authorization failure."""
    return SoapFault(SENDER, ("NotAuthorized",), "Sender not authorized")


def _find_username_token(header: etree._Element | None) -> UsernameToken | None:
    """The first wsse:Security/wsse:UsernameToken of the SOAP Header, if any."""
    if header is None:
        return None
    token = header.find(f"{qname(WSSE, 'Security')}/{qname(WSSE, 'UsernameToken')}")
    if token is None:
        return None
    password = token.find(qname(WSSE, "Password"))
    nonce = token.find(qname(WSSE, "Nonce"))
    if nonce is not None and nonce.get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        raise _Rejected("Nonce EncodingType is not Base64Binary")
    return UsernameToken(
        username=token.findtext(qname(WSSE, "Username"), ""),
        password="" if password is None else password.text or "",
        password_type=PASSWORD_TEXT if password is None else password.get("Type", PASSWORD_TEXT),
        nonce=None if nonce is None else nonce.text or "",
        created=token.findtext(qname(WSU, "Created")),
    )


def _parse_created(created: str) -> datetime:
    if not _CREATED.fullmatch(created.strip()):
        raise _Rejected(f"Created is not an xs:dateTime with a time zone: {created!r}")
    return datetime.fromisoformat(created.strip())


def _decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error:
        raise _Rejected(f"{what} is not base64") from None


def _check(device: SimulatedDevice, token: UsernameToken) -> str:
    """Return the user level of a valid token, else raise _Rejected."""
    user = device.users.get(token.username)
    if user is None:
        raise _Rejected(f"unknown user {token.username!r}")
    nonce = None if token.nonce is None else _decode_base64(token.nonce, "Nonce")
    if token.password_type == PASSWORD_DIGEST:
        if nonce is None or token.created is None:
            raise _Rejected("PasswordDigest needs both Nonce and Created")
        # SHA-1 is what the UsernameToken profile (and so every ONVIF client) uses.
        expected = hashlib.sha1(  # noqa: S324
            nonce + token.created.encode() + user.password.encode()
        ).digest()
        matches = hmac.compare_digest(expected, _decode_base64(token.password, "Password"))
    elif token.password_type == PASSWORD_TEXT:
        matches = hmac.compare_digest(user.password.encode(), token.password.encode())
    else:
        raise _Rejected(f"unknown Password Type {token.password_type!r}")
    if not matches:
        raise _Rejected(f"wrong password for {token.username!r}")
    if token.created is not None:
        skew = (_parse_created(token.created) - device.now()).total_seconds()
        if abs(skew) > device.token_window:
            raise _Rejected(f"Created is {skew:+.1f} s from the device clock")
    if nonce is not None and not device.remember_nonce(nonce):
        raise _Rejected("nonce replayed")
    return user.level


def authorize_level(device: SimulatedDevice, username: str | None, access: AccessClass) -> None:
    """Raise NotAuthorized unless an authenticated user (or anyone, for PRE_AUTH) may do this."""
    if access is AccessClass.PRE_AUTH:
        return
    user = device.users.get(username or "")
    if user is None or user.level not in ACCESS_POLICY[access]:
        _log.info("device %d: %r may not call %s operations", device.index, username, access)
        raise not_authorized()


def authorize(device: SimulatedDevice, header: etree._Element | None, access: AccessClass) -> None:
    """Raise NotAuthorized unless the request's credentials allow this access class."""
    try:
        token = _find_username_token(header)
        if token is None:
            if access is AccessClass.PRE_AUTH:
                return
            raise _Rejected(f"no UsernameToken for a {access} operation")
        level = _check(device, token)
        if level not in ACCESS_POLICY[access]:
            raise _Rejected(f"{token.username!r} ({level}) may not call {access} operations")
    except _Rejected as why:
        _log.info("device %d: not authorized: %s", device.index, why)
        raise not_authorized() from None
