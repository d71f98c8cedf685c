"""Value transforms of URIs and times that mapping files name (spec.py: host, userinfo, expires)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit


def _hostport(host: str | None, port: int | None) -> str:
    shown = f"[{host}]" if host and ":" in host else (host or "")
    return shown + (f":{port}" if port is not None else "")


def with_host(uri: str, address: str) -> str:
    """The URI on another host ("host" keeps the URI's port, "host:port" replaces it too): a
    device reached through NAT or a port forward names its inside address."""
    parts, given = urlsplit(uri), urlsplit(f"//{address}")
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = _hostport(given.hostname, given.port if given.port is not None else parts.port)
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}" if userinfo else netloc))


# What a credential query parameter carries.
NAME, PASSWORD, NAME_PASSWORD_BASE64 = "name", "password", "name:password in base64"
# Query parameters in which devices put credentials into the URIs they answer, by name in lower
# case (a device may spell them in any case), and what each carries.
QUERY_CREDENTIALS: dict[str, str] = {
    # python-onvif-zeep-async strips these for Home Assistant (its #88: cameras that refuse
    # them mixed with Basic or Digest)
    "user": NAME, "username": NAME, "pass": PASSWORD, "password": PASSWORD,
    # Foscam's CGI takes its credentials only here (its CGI guide: "?usr=admin&pwd=123")
    "usr": NAME, "pwd": PASSWORD,
    # Dahua OEM RTSP URIs (IC Realtime: evercam/evercam-api#376)
    "authbasic": NAME_PASSWORD_BASE64,
}
# Fields of a path in which devices put credentials: Xiongmai / XMEye RTSP URIs,
# /user=admin_password=tlJwpbo6_channel=1_stream=0.sdp or /user=admin&password=...&channel=1
# (home-assistant/core#66554, an XM530; ZoneMinder/zoneminder#3058); the password there may be
# the device's hash of it, which opens the stream as well. Their values are emptied.
PATH_CREDENTIALS = re.compile(r"(?<=[/_&])(user|username|password)=[^_&/]*", re.IGNORECASE)


def _credential(param: str) -> str | None:
    """What a query parameter ("name=value") carries, if it is a credential."""
    return QUERY_CREDENTIALS.get(param.partition("=")[0].lower())


@dataclass(frozen=True)
class Places:
    """Where a device put credentials into a URI."""

    query: tuple[str, ...] = ()  # the query parameters that carry them, spelled as in the URI
    path: bool = False  # fields of its path (a Xiongmai's)
    userinfo: bool = False


def credential_places(uri: str) -> Places:
    """Where a URI carries credentials."""
    parts = urlsplit(uri)
    return Places(tuple(p.partition("=")[0] for p in parts.query.split("&")
                        if p and _credential(p)),
                  PATH_CREDENTIALS.search(parts.path) is not None, "@" in parts.netloc)


def without_credentials(uri: str) -> str:
    """The URI without the credentials a device put into it: its userinfo, the query parameters
    that carry credentials (any other is kept as it was) and the values of the path's
    credential fields."""
    parts = urlsplit(uri)
    kept = [p for p in parts.query.split("&") if p and not _credential(p)]
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2],
                                     path=PATH_CREDENTIALS.sub(r"\1=", parts.path),
                                     query="&".join(kept)))


def with_query_credentials(uri: str, keys: tuple[str, ...], username: str,
                           password: str) -> str:
    """The URI with these credential query parameters carrying these credentials (each what
    its name carries, percent-encoded), added after its other parameters."""
    carried = {NAME: username, PASSWORD: password, NAME_PASSWORD_BASE64:
               base64.b64encode(f"{username}:{password}".encode()).decode()}
    parts = urlsplit(uri)
    given = [f"{key}={quote(carried[QUERY_CREDENTIALS[key.lower()]], safe='')}" for key in keys]
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, *given]))))


def with_path_credentials(uri: str, username: str, password: str) -> str:
    """The URI with its path's credential fields (emptied by without_credentials) carrying these
    credentials, percent-encoded ("_" too: it separates a Xiongmai's fields)."""

    def given(field: re.Match[str]) -> str:
        value = password if field.group(1).lower() == "password" else username
        return f"{field.group(1)}={quote(value, safe='').replace('_', '%5F')}"

    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=PATH_CREDENTIALS.sub(given, parts.path)))


def with_credentials(uri: str, places: Places, username: str, password: str) -> str:
    """A URI stripped of its device's credentials (without_credentials), carrying these ones
    where the device had put its own (a Xiongmai reads them only in its path, a Dahua OEM only
    in its `authbasic`: a player would not move the userinfo's there; some snapshot servers
    refuse query credentials beside an Authorization header), else in its userinfo (where
    players take them)."""
    if places.query:
        uri = with_query_credentials(uri, places.query, username, password)
    if places.path:
        uri = with_path_credentials(uri, username, password)
    if places.userinfo or places == Places():
        uri = with_userinfo(uri, username, password)
    return uri


def with_userinfo(uri: str, username: str, password: str) -> str:
    """The URI carrying these credentials (percent-encoded, so any character is safe), in place
    of any it had."""
    parts = urlsplit(uri)
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(
        netloc=f"{userinfo}@{_hostport(parts.hostname, parts.port)}"))


def expiry(duration: Any, now: datetime) -> str | None:
    """When an xs:duration that starts now ends (ISO 8601, UTC); None for a zero duration (ONVIF's
    PT0S: valid indefinitely) or one that cannot be read."""
    if not isinstance(duration, timedelta):
        # zeep gives isodate's Duration for years and months; such URIs live as good as forever
        try:
            end = now + duration
        except TypeError:
            return None
        return end.isoformat() if isinstance(end, datetime) else None
    if duration <= timedelta(0):
        return None
    return (now + duration).isoformat()
