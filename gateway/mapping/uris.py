"""Value transforms of URIs and times that mapping files name (spec.py: host, userinfo, expires)."""

from __future__ import annotations

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


# Query parameters in which devices put a name or a password (python-onvif-zeep-async strips
# user, pass, username and password; Foscam's CGI takes usr and pwd).
CREDENTIAL_KEYS = frozenset({"user", "username", "usr", "pass", "password", "pwd"})


def without_credentials(uri: str) -> str:
    """The URI without the credentials a device put into it: its userinfo and the query
    parameters that carry a name or a password (any other parameter is kept as it was)."""
    parts = urlsplit(uri)
    kept = [p for p in parts.query.split("&")
            if p and p.partition("=")[0].lower() not in CREDENTIAL_KEYS] if parts.query else []
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2],
                                     query="&".join(kept)))


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
