"""The snapshot proxy: the gateway's one HTTP fetch that is not SOAP.

A device names the address of a profile's JPEG (GetSnapshotUri); the gateway fetches it with the
session user's credentials, answering HTTP Digest or Basic, whichever the device asks for, and
hands the client the picture alone: the device's URI and the credentials never reach it. Where
the device's URI carried credentials in its query (a Foscam takes them nowhere else), the
user's own go in those same parameters first, never the device's; refused, Digest or Basic.

A device could name any address, so the gateway fetches only from the device's own host (the one
of its url in gateway.ini) or the hosts its `snapshot_hosts` allow; it never follows a redirect,
reads at most `snapshot_max_bytes` and waits at most `snapshot_timeout`. A picture is kept
`snapshot_ttl` seconds per device and profile, and concurrent requests for the same picture share
one fetch (single flight): a hundred clients polling one camera cause one fetch per period.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cachetools import TTLCache

from gateway.credentials import Credentials
from gateway.errors import (
    DeviceBadReply,
    DeviceError,
    DeviceFault,
    DeviceTimeout,
    DeviceUnreachable,
    quoted,
)
from gateway.mapping.uris import with_query_credentials
from gateway.soap.device import DeviceClient
from gateway.tls import certificate_problem, device_ssl

log = logging.getLogger(__name__)
JPEG_START = b"\xff\xd8\xff"  # SOI and the first marker: what every JPEG file begins with
# At most this many bytes of pictures are kept in all (the oldest go first).
KEPT_BYTES = 64 * 1024 * 1024
# Told of every fetch from a device (metrics): the device and how it ended ("ok", "refused"...).
FetchObserver = Callable[[str, str], None]


class SnapshotRefused(DeviceBadReply):
    """The gateway refused to fetch from where the device pointed it (502)."""

    slug = "snapshot-refused"
    title = "Snapshot refused"


def _outcome(error: Exception | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, SnapshotRefused):
        return "refused"
    if isinstance(error, DeviceTimeout):
        return "timeout"
    if isinstance(error, DeviceUnreachable):
        return "unreachable"
    if isinstance(error, DeviceFault):
        return "unauthorized"
    return "bad_reply"


class Snapshots:
    """Fetches snapshots from devices, keeps them a moment and shares fetches in flight."""

    def __init__(self, ttl: float, timeout: float, max_bytes: int,
                 observer: FetchObserver | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock  # what the pictures' ages are measured with (tests turn it)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._observer = observer
        self._kept: TTLCache[Hashable, bytes] = TTLCache(
            maxsize=KEPT_BYTES, ttl=ttl or 1, timer=lambda: self.clock(), getsizeof=len)
        self._flights: dict[Hashable, asyncio.Task[bytes]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[str, ssl.SSLContext | aiohttp.Fingerprint | bool] = {}

    async def close(self) -> None:
        """Close the connection pool (once no fetch is in flight)."""
        for flight in list(self._flights.values()):
            flight.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        """The picture kept under key if it is fresh; else the one a fetch in flight for key
        brings; else what fetch() brings (kept ttl seconds)."""
        if self.ttl > 0 and (kept := self._kept.get(key)) is not None:
            return kept
        flight = self._flights.get(key)
        if flight is None:
            # A task of its own: a client that goes away does not cancel the others' picture.
            flight = self._flights[key] = asyncio.create_task(self._fly(key, fetch))
            # its error is seen by whoever awaits it; if all went away, by nobody, quietly
            flight.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(flight)

    async def _fly(self, key: Hashable, fetch: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            picture = await fetch()
            if self.ttl > 0 and len(picture) <= KEPT_BYTES:
                self._kept[key] = picture
            return picture
        finally:
            del self._flights[key]

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit_per_host=4))
        return self._session

    def _check_host(self, device: DeviceClient, uri: str) -> None:
        """Only from the device's own host or the hosts gateway.ini allows for it."""
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 (raises ValueError for a port that is not one)
        except ValueError:
            raise SnapshotRefused(f"device {device.name} names a snapshot URI that is not a "
                                  "URL", device.name) from None
        own = urlsplit(device.config.url).hostname
        allowed = {own, *device.config.snapshot_hosts}
        if parts.scheme not in ("http", "https"):
            raise SnapshotRefused(f"device {device.name} names a snapshot URI of scheme "
                                  f"{parts.scheme!r}; the gateway fetches http and https only",
                                  device.name)
        if parts.hostname not in allowed:
            raise SnapshotRefused(
                f"device {device.name} names a snapshot URI on host {parts.hostname!r}, which "
                f"is not its own ({own!r}): refused. If that host is the device's, allow it in "
                f"gateway.ini, section [device:{device.name}]: snapshot_hosts = {parts.hostname}",
                device.name)

    async def fetch(self, device: DeviceClient, uri: str, credentials: Credentials,
                    query_keys: tuple[str, ...] = ()) -> bytes:
        """GET the picture at a device's snapshot URI with the user's credentials; query_keys:
        the query parameters in which the device's own URI carried credentials."""
        self._check_host(device, uri)
        error: Exception | None = None
        try:
            async with asyncio.timeout(self._timeout):
                if query_keys:
                    picture = await self._get_with_query(device, uri, credentials, query_keys)
                    if picture is not None:
                        return picture
                return await self._get(device, uri, credentials)
        except Exception as exc:
            error = self._translate(exc, device)
            if error is exc:
                raise
            raise error from exc
        finally:
            if self._observer is not None:
                self._observer(device.name, _outcome(error))

    async def _get_with_query(self, device: DeviceClient, uri: str, credentials: Credentials,
                              keys: tuple[str, ...]) -> bytes | None:
        """The picture asked for with the user's name and password in the query parameters
        where the device put credentials, and no Authorization header (a Foscam takes them
        nowhere else; others refuse them mixed with Basic or Digest: python-onvif-zeep-async#88);
        None if the device refuses them with 401 or 403 (then Digest or Basic are tried)."""
        given = with_query_credentials(uri, keys, credentials.username, credentials.password)
        async with self._http().get(given, **self._request(device)) as response:
            if response.status in (401, 403):
                return None
            return await self._picture(device, response, credentials)

    def _request(self, device: DeviceClient) -> dict[str, Any]:
        """A fetch's settings: no redirect followed, the device's TLS settings."""
        if device.name not in self._ssl:
            self._ssl[device.name] = device_ssl(device.config)
        return {"allow_redirects": False, "ssl": self._ssl[device.name]}

    async def _get(self, device: DeviceClient, uri: str, credentials: Credentials) -> bytes:
        request = self._request(device)
        # Digest first (aiohttp answers a Digest challenge); Basic, which shows the password to
        # the network, only when the device's challenge asks for it.
        usable = ":" not in credentials.username
        digest = (aiohttp.DigestAuthMiddleware(credentials.username, credentials.password),)
        async with self._http().get(uri, middlewares=digest if usable else (),
                                    **request) as response:
            offered = [h.split(" ", 1)[0].lower()
                       for h in response.headers.getall("WWW-Authenticate", [])]
            if response.status != 401 or "basic" not in offered or not usable:
                return await self._picture(device, response, credentials)
        basic = aiohttp.encode_basic_auth(credentials.username, credentials.password)
        async with self._http().get(uri, headers={"Authorization": basic},
                                    **request) as response:
            return await self._picture(device, response, credentials)

    async def _picture(self, device: DeviceClient, response: aiohttp.ClientResponse,
                       credentials: Credentials) -> bytes:
        name = device.name
        if 300 <= response.status < 400:
            raise SnapshotRefused(f"device {name} answered the snapshot request with a redirect "
                                  f"(HTTP {response.status}), which the gateway does not follow",
                                  name)
        if response.status in (401, 403):
            raise DeviceFault(f"device {name} refused user {quoted(credentials.username)} the "
                              f"snapshot (HTTP {response.status})", name, "Sender",
                              ["NotAuthorized"])
        if response.status != 200:
            raise DeviceBadReply(f"device {name} answered the snapshot request with HTTP "
                                 f"{response.status}", name)
        if (response.content_length or 0) > self._max_bytes:
            raise self._too_large(name)
        picture = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            picture += chunk
            if len(picture) > self._max_bytes:
                raise self._too_large(name)
        if not picture.startswith(JPEG_START):
            raise DeviceBadReply(f"device {name} answered the snapshot request with "
                                 f"{response.content_type} ({len(picture)} bytes), not a JPEG "
                                 "picture", name)
        return bytes(picture)

    def _too_large(self, name: str) -> DeviceBadReply:
        return DeviceBadReply(f"device {name} sent a snapshot of more than "
                              f"{self._max_bytes} bytes (snapshot_max_bytes): cut off", name)

    def _translate(self, exc: Exception, device: DeviceClient) -> Exception:
        """Lower-layer errors of a fetch as the gateway's own, most specific first."""
        where = f"snapshot from device {device.name}"
        if isinstance(exc, DeviceError):
            return exc
        if isinstance(exc, TimeoutError):
            return DeviceTimeout(f"{where}: not received within {self._timeout:g} s "
                                 "(snapshot_timeout)", device.name)
        if (problem := certificate_problem(exc)) is not None:
            return DeviceUnreachable(f"{where}: {problem}", device.name)
        if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.InvalidURL):
            return DeviceUnreachable(f"{where}: cannot connect ({type(exc).__name__})",
                                     device.name)
        if isinstance(exc, aiohttp.ClientError | ValueError):
            return DeviceBadReply(f"{where}: unusable answer ({type(exc).__name__})",
                                  device.name)
        return exc
