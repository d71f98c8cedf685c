"""zeep's transport, carried by one aiohttp client session per device."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from lxml import etree
from multidict import CIMultiDictProxy
from zeep.transports import Transport

# A device answer larger than this is not a configuration reply; refuse it rather than buffer it.
MAX_REPLY_BYTES = 4 * 1024 * 1024


class ReplyTooLarge(Exception):
    """The device sent more than MAX_REPLY_BYTES."""


class NotSoap(Exception):
    """The device answered with something that is no SOAP message: a redirect (never followed:
    it would re-post the signed envelope wherever the device points), or a multipart reply."""


class EmptyReply(Exception):
    """The device answered with an empty body."""


class ClosedWithoutAnswer(Exception):
    """The device closed the connection without answering, on a fresh connection too (raised by
    the caller that sent the request again: gateway.soap.device)."""


# A request that failed so was never answered: the connection was closed as it was sent
# (ServerDisconnectedError) or found dead while it was written (ClientConnectionResetError).
NEVER_ANSWERED = (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError)


class HttpUnauthorized(Exception):
    """The device refused the request at the HTTP level (401), as HTTP Digest devices do."""


@dataclass(frozen=True)
class Reply:
    """The parts of an HTTP answer zeep's SOAP binding reads (it expects a requests.Response)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes
    encoding: str | None


# At most this many users' (and service hosts') Digest answers are kept per device.
DIGEST_ANSWERS = 16


class DigestAnswers:
    """A device's HTTP Digest state, shared by its transports: nothing until the device asks.

    Devices that want HTTP Digest instead of WS-Security (Hikvision cameras whose ONVIF
    authentication is set to Digest only: agsh/onvif#294) answer 401 with a challenge. Most
    devices never do, and their requests go without aiohttp's Digest middleware (a layer around
    every request). Once a device asked, each user's middleware is kept, per service host (the
    middleware answers its first host only): it then answers that device's next challenges
    itself, and sends its credentials with later requests at once rather than after a 401.

    A middleware holds its user's password: it is dropped when forgotten (the user logged out),
    or once unused for `idle` seconds (no session of that user can still be live and idle that
    long), whichever comes first; a user still logged in gets a new one at the next challenge.
    """

    def __init__(self, idle: float = float("inf"),
                 clock: Callable[[], float] = time.monotonic) -> None:
        # (username, password, origin): the middleware, and when it was last used
        self.middlewares: dict[tuple[str, str, str],
                               tuple[aiohttp.DigestAuthMiddleware, float]] | None = None
        self._idle = idle
        self._clock = clock

    def asked(self) -> None:
        """The device sent a Digest challenge."""
        if self.middlewares is None:
            self.middlewares = {}

    def middleware(self, credentials: tuple[str, str] | None,
                   address: str) -> tuple[aiohttp.DigestAuthMiddleware, ...]:
        """The middleware for these credentials and the address's origin, once the device
        asked for Digest; none before, or without credentials."""
        if self.middlewares is None or credentials is None:
            return ()
        now = self._clock()
        for key in [k for k, (_, used) in self.middlewares.items() if now - used > self._idle]:
            del self.middlewares[key]
        key = (*credentials, "/".join(address.split("/", 3)[:3]))
        kept = self.middlewares.pop(key, None)
        if kept is None and len(self.middlewares) >= DIGEST_ANSWERS:
            del self.middlewares[next(iter(self.middlewares))]  # the least recently used
        middleware = aiohttp.DigestAuthMiddleware(*credentials) if kept is None else kept[0]
        self.middlewares[key] = (middleware, now)
        return (middleware,)

    def forget(self, username: str, password: str | None = None) -> None:
        """Drop the middlewares of a user (a session of theirs ended), or of these credentials
        alone (the device refused them)."""
        if self.middlewares is not None:
            for key in [k for k in self.middlewares
                        if k[0] == username and password in (None, k[1])]:
                del self.middlewares[key]

    def users(self) -> set[str]:
        """The users whose middleware (so whose password) is kept."""
        return {key[0] for key in self.middlewares or {}}


class AiohttpTransport(Transport):  # type: ignore[misc]
    """Posts SOAP envelopes over the device's own aiohttp session; never loads documents."""

    def __init__(
        self, session: aiohttp.ClientSession, digest: tuple[str, str] | None = None,
        answers: DigestAnswers | None = None,
    ) -> None:
        # zeep's Transport.__init__ builds a requests session we never use: skip it on purpose,
        # and tell its __del__ there is no such session to close.
        self.session = session
        self.cache = None
        self._close_session = False
        # The credentials to answer a Digest challenge with (RFC 1945 allows no ":" in a
        # username), and the device's Digest state.
        self._digest = None if digest is None or ":" in digest[0] else digest
        self._answers = DigestAnswers() if answers is None else answers

    def authenticated(self, username: str, password: str) -> AiohttpTransport:
        """This transport, answering HTTP Digest challenges with these credentials."""
        return AiohttpTransport(self.session, (username, password), self._answers)

    def over(self, session: aiohttp.ClientSession) -> AiohttpTransport:
        """This transport (its Digest credentials and state) over another session."""
        return AiohttpTransport(session, self._digest, self._answers)

    def load(self, url: str) -> bytes:
        raise RuntimeError("WSDLs are parsed once at start-up; a device transport loads nothing")

    async def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Reply:
        message = etree.tostring(envelope, encoding="utf-8", xml_declaration=True)
        return await self.post(address, message, headers)

    async def post(self, address: str, message: bytes, headers: dict[str, str]) -> Reply:
        """POST a SOAP message already serialized (gateway.soap.envelope's)."""
        return await self._post(self.session, address, message, headers)

    async def _post(self, session: aiohttp.ClientSession, address: str, message: bytes,
                    headers: dict[str, str]) -> Reply:
        middlewares = self._answers.middleware(self._digest, address)
        async with session.post(address, data=message, headers=headers,
                                middlewares=middlewares,
                                allow_redirects=False) as response:
            if response.status == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                if (middlewares or self._digest is None
                        or not challenge.lower().startswith("digest ")):
                    if middlewares and self._digest is not None:  # refused: not kept
                        self._answers.forget(*self._digest)
                    raise HttpUnauthorized(challenge)
                self._answers.asked()  # sent again below, through the Digest middleware
            else:
                return await self._reply(response)
        return await self._post(session, address, message, headers)

    async def _reply(self, response: aiohttp.ClientResponse) -> Reply:
        if 300 <= response.status < 400:
            raise NotSoap(f"HTTP {response.status} redirecting to "
                          f"{response.headers.get('Location', 'nowhere')!r}; the gateway "
                          "does not follow a device's redirects")
        if response.content_type.startswith("multipart/"):
            raise NotSoap(f"a {response.content_type} reply (MTOM); the gateway reads "
                          "plain SOAP messages only")
        if (response.content_length or 0) > MAX_REPLY_BYTES:
            raise ReplyTooLarge(f"{response.content_length} bytes")
        if response.content.is_eof():  # it all came with the headers, as most replies do
            body = response.content.read_nowait()
            if len(body) > MAX_REPLY_BYTES:
                raise ReplyTooLarge(f"more than {MAX_REPLY_BYTES} bytes")
        else:
            body = await self._body(response)
        if not body.strip():
            raise EmptyReply(f"HTTP {response.status} with an empty body")
        return Reply(response.status, response.headers, body, response.charset)

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        body = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > MAX_REPLY_BYTES:
                raise ReplyTooLarge(f"more than {MAX_REPLY_BYTES} bytes")
        return bytes(body)
