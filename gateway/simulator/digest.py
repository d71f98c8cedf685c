"""HTTP Digest authentication (RFC 7616, MD5, qop=auth), as cameras that skip WS-Security do.

Hikvision cameras whose ONVIF authentication is set to "Digest" (not "Digest&ws-username token")
are such cameras (agsh/onvif#294); the ONVIF Core specification allows either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

from aiohttp import web
from cachetools import TTLCache

from .device import SimulatedDevice

REALM: Final = "onvif-simulator"
_PARAM: Final = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]*))')
# Nonces the simulator handed out, per device, good for five minutes.
_nonces: dict[int, TTLCache[str, bool]] = {}


def _md5(text: str) -> str:
    # MD5 is what RFC 7616's default algorithm, and cameras, use.
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324


def challenge(device: SimulatedDevice) -> web.HTTPUnauthorized:
    """A 401 asking for Digest credentials, with a fresh nonce."""
    nonce = secrets.token_hex(16)
    device.digest_challenges += 1
    _nonces.setdefault(device.index, TTLCache(maxsize=10_000, ttl=300))[nonce] = True
    return web.HTTPUnauthorized(headers={
        "WWW-Authenticate":
            f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5',
    })


def digest_user(device: SimulatedDevice, request: web.Request) -> str | None:
    """The user whose valid Digest credentials the request carries, else None."""
    scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {key: quoted or bare for key, quoted, bare in _PARAM.findall(rest)}
    user = device.users.get(params.get("username", ""))
    nonce = params.get("nonce", "")
    if user is None or nonce not in _nonces.get(device.index, {}):
        return None
    ha1 = _md5(f"{params['username']}:{REALM}:{user.password}")
    ha2 = _md5(f"{request.method}:{params.get('uri', '')}")
    expected = _md5(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:"
                    f"{params.get('qop', '')}:{ha2}")
    if not hmac.compare_digest(expected, params.get("response", "")):
        return None
    return str(params["username"])
