"""Stream and snapshot URIs (Media1 and Media2), and the snapshot pictures served over HTTP.

No media is streamed: a stream URI is only handed out. A snapshot URI leads to a real JPEG, a new
one each time (it shows a counter), behind HTTP Digest or Basic with the device's users, as on
a camera's web server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web
from lxml import etree

from gateway.soap.xml import TR2, TRT, qname

from . import media
from .device import MEDIA, MEDIA2, AccessClass, SimulatedDevice
from .digest import REALM, challenge, digest_user
from .jpeg import frame
from .operation import Call, Operation, response
from .soap import RECEIVER, SoapFault, sub

RTSP_PORT: Final = 554
RTSPS_PORT: Final = 322
# tt:StreamType and tt:TransportProtocol (Media1), tr2:TransportProtocol (Media2)
MEDIA1_TRANSPORTS: Final = frozenset({"UDP", "TCP", "RTSP", "HTTP"})
MEDIA1_STREAMS: Final = frozenset({"RTP-Unicast", "RTP-Multicast"})
MEDIA2_PROTOCOLS: Final = frozenset(
    {"RtspUnicast", "RtspMulticast", "RtspsUnicast", "RtspsMulticast", "RTSP", "RtspOverHttp"})
HUGE_CHUNK: Final = 64 * 1024
# The query parameters of uri_credentials: name, password (the "query" and "foscam" forms).
QUERY_KEYS: Final = ("user", "password")
FOSCAM_KEYS: Final = ("usr", "pwd")
# A Foscam's answer to a request without valid credentials in its query (-2: user name or
# password error), sent with HTTP 200.
CGI_REFUSAL: Final = b"<CGI_Result>\n    <result>-2</result>\n</CGI_Result>\n"
LOGIN_PAGE: Final = b"<!DOCTYPE html><html><body><form>User <input name=user></form></body></html>"


def snapshot_path(index: int, profile: str) -> str:
    """HTTP path of a profile's snapshot on the device with this index."""
    return f"/dev/{index}/snapshot/{profile}.jpg"


def _incomplete(token: str) -> SoapFault:
    return SoapFault(RECEIVER, ("Action", "IncompleteConfiguration"),
                     f"Profile {token!r} has no video encoder configuration")


def _with_credentials(device: SimulatedDevice, uri: str, stream: bool) -> str:
    """The URI with the uri_credentials user's name and password where the device's
    uri_credentials_form puts them, if any (the RTSP forms in a stream URI only)."""
    name, form = device.uri_credentials, device.uri_credentials_form
    user = device.users.get(name)
    if user is None or (form in ("authbasic", "path") and not stream) or (
            form == "foscam" and stream):
        return uri
    # (the URIs made here have no query; one that is not one stays so: snapshot_host)
    if form == "path":
        return f"{uri}/user={name}_password={user.password}_channel=1_stream=0.sdp?real_stream"
    if form == "authbasic":
        basic = base64.b64encode(f"{name}:{user.password}".encode()).decode()
        return f"{uri}?channel=1&subtype=0&authbasic={basic}"  # its "=" as the cameras write it
    keys = FOSCAM_KEYS if form == "foscam" else QUERY_KEYS
    return f"{uri}?{urlencode({keys[0]: name, keys[1]: user.password})}"


def _stream_uri(call: Call, token: str, secure: bool, tunnel: bool) -> str:
    host = urlsplit(f"//{call.request.host}").hostname or "127.0.0.1"
    path = f"/dev/{call.device.index}/stream/{token}"
    if tunnel:  # RTSP in HTTP goes to the device's web server
        uri = f"{call.request.scheme}://{call.request.host}{path}"
    elif secure:
        uri = f"rtsps://{host}:{RTSPS_PORT}{path}"
    else:
        uri = f"rtsp://{host}:{RTSP_PORT}{path}"
    return _with_credentials(call.device, uri, stream=True)


def _streamable(call: Call, token: str) -> None:
    """A stream needs a profile with an encoder (what it sends) on a source."""
    profile = media.find_profile(call.device, token)
    if profile.video_encoder is None or profile.video_source is None:
        raise _incomplete(token)


def _media_uri(answer: etree._Element, namespace: str, uri: str) -> None:
    """A tt:MediaUri: valid indefinitely, as the specification wants."""
    element = sub(answer, qname(namespace, "MediaUri"))
    sub(element, media.tt("Uri"), uri)
    sub(element, media.tt("InvalidAfterConnect"), "false")
    sub(element, media.tt("InvalidAfterReboot"), "false")
    sub(element, media.tt("Timeout"), "PT0S")


def get_stream_uri_media1(call: Call) -> etree._Element:
    """trt:GetStreamUri: StreamSetup names the stream type and the transport."""
    setup = call.children("StreamSetup")
    stream = media.text(setup[0], "Stream") if setup else None
    transport = media.text(setup[0], "Transport/Protocol") if setup else None
    if stream not in MEDIA1_STREAMS or transport not in MEDIA1_TRANSPORTS:
        raise SoapFault("Sender", ("InvalidArgVal", "InvalidStreamSetup"),
                        f"Stream {stream!r} over {transport!r} is not a valid StreamSetup")
    token = call.required("ProfileToken")
    _streamable(call, token)
    answer = response(call)
    _media_uri(answer, TRT, _stream_uri(call, token, False, transport == "HTTP"))
    return answer


def get_stream_uri_media2(call: Call) -> etree._Element:
    """tr2:GetStreamUri: Protocol is a tr2:TransportProtocol."""
    protocol = call.required("Protocol")
    if protocol not in MEDIA2_PROTOCOLS:
        raise SoapFault("Sender", ("InvalidArgVal", "InvalidStreamSetup"),
                        f"{protocol!r} is not a tr2:TransportProtocol")
    token = call.required("ProfileToken")
    _streamable(call, token)
    answer = response(call)
    uri = _stream_uri(call, token, protocol.startswith("Rtsps"), protocol == "RtspOverHttp")
    sub(answer, qname(TR2, "Uri"), uri)
    return answer


def _snapshot_uri(call: Call, token: str) -> str:
    profile = media.find_profile(call.device, token)
    if profile.video_source is None:
        raise _incomplete(token)
    if call.device.snapshot_uri_null:
        return "(null)"
    parts = urlsplit(f"{call.request.scheme}://{call.request.host}")
    netloc = parts.netloc
    if call.device.snapshot_host is not None:
        netloc = call.device.snapshot_host + (f":{parts.port}" if parts.port else "")
    return _with_credentials(call.device, urlunsplit(
        (parts.scheme, netloc, snapshot_path(call.device.index, token), "", "")), stream=False)


def get_snapshot_uri_media1(call: Call) -> etree._Element:
    answer = response(call)
    uri = _snapshot_uri(call, call.required("ProfileToken"))
    if not call.device.snapshot_uri_missing:
        _media_uri(answer, TRT, uri)
    return answer


def get_snapshot_uri_media2(call: Call) -> etree._Element:
    answer = response(call)
    uri = _snapshot_uri(call, call.required("ProfileToken"))
    if not call.device.snapshot_uri_missing:
        sub(answer, qname(TR2, "Uri"), uri)
    return answer


OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    qname(TRT, "GetStreamUri"): Operation(AccessClass.READ_MEDIA, get_stream_uri_media1),
    qname(TR2, "GetStreamUri"): Operation(AccessClass.READ_MEDIA, get_stream_uri_media2),
    qname(TRT, "GetSnapshotUri"): Operation(AccessClass.READ_MEDIA, get_snapshot_uri_media1),
    qname(TR2, "GetSnapshotUri"): Operation(AccessClass.READ_MEDIA, get_snapshot_uri_media2),
})


# ---------------------------------------------------------------- the pictures, over HTTP


def _basic_user(device: SimulatedDevice, request: web.Request) -> str | None:
    """The user whose valid Basic credentials the request carries, else None."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = device.users.get(username)
    if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
        return None
    return username


def _query_user(device: SimulatedDevice, request: web.Request) -> str | None:
    """The user whose valid name and password the request's query carries, else None."""
    name, password = FOSCAM_KEYS if device.uri_credentials_form == "foscam" else QUERY_KEYS
    user = device.users.get(request.query.get(name, ""))
    if user is None or not hmac.compare_digest(user.password.encode(),
                                               request.query.get(password, "").encode()):
        return None
    return request.query[name]


def _user(device: SimulatedDevice, request: web.Request) -> str | None:
    """The user whose credentials the request carries, in a scheme the device takes ("" when
    it asks for none); any user may read media."""
    auth = device.snapshot_auth
    if auth == "none":
        return ""
    if device.uri_credentials and device.uri_credentials_form == "foscam":
        return _query_user(device, request)  # whatever else the request carries
    if device.uri_credentials and "password" in request.query:
        if "Authorization" in request.headers or device.uri_credentials_refused:
            return None  # query credentials mixed with Basic or Digest (or at all): refused
        return _query_user(device, request)
    user = digest_user(device, request) if auth in ("digest", "both") else None
    if user is None and auth in ("basic", "both"):
        user = _basic_user(device, request)
    return user


def _refusal(device: SimulatedDevice) -> web.HTTPUnauthorized:
    basic = f'Basic realm="{REALM}"'
    if device.snapshot_auth == "basic":
        return web.HTTPUnauthorized(headers={"WWW-Authenticate": basic})
    refusal = challenge(device)
    if device.snapshot_auth == "both":
        refusal.headers.add("WWW-Authenticate", basic)
    return refusal


async def serve_snapshot(request: web.Request, device: SimulatedDevice) -> web.StreamResponse:
    """GET a profile's snapshot: a new JPEG each time, or whatever the device's switches say."""
    if not device.services & {MEDIA, MEDIA2}:
        raise web.HTTPNotFound()
    user = _user(device, request)
    if user is None and device.uri_credentials_form == "foscam":
        return web.Response(body=CGI_REFUSAL, content_type="text/xml")
    if user is None:
        raise _refusal(device)
    device.snapshot_users.append(user)
    token = request.match_info["profile"]
    if token not in device.profiles:
        raise web.HTTPNotFound()
    if device.snapshot_delay > 0:
        await asyncio.sleep(device.snapshot_delay)
    if device.snapshot_redirect:
        raise web.HTTPFound("/login.html")
    if device.snapshot_html:
        return web.Response(body=LOGIN_PAGE, content_type="text/html")
    device.snapshots_served += 1
    picture = frame(device.snapshots_served)
    if not device.snapshot_huge:
        return web.Response(body=picture, content_type="image/jpeg")
    # A picture followed by megabytes, sent without a length: only counting tells the size.
    answer = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
    await answer.prepare(request)
    await answer.write(picture[:-2])
    for _ in range(device.snapshot_huge // HUGE_CHUNK):
        await answer.write(b"\0" * HUGE_CHUNK)
    await answer.write_eof()
    return answer

