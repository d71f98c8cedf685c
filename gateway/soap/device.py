"""The gateway's link to one ONVIF device: its connection pool, clock offset, breaker, calls.

What each call's failure means is gateway.soap.errors' to say; where each of the device's
services is, gateway.soap.services'.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
import zeep
from zeep.helpers import serialize_object
from zeep.wsa import WsAddressingPlugin

from gateway.config import DeviceConfig, DeviceLimits
from gateway.credentials import Credentials
from gateway.errors import (
    DeviceBadReply,
    DeviceError,
    DeviceFault,
    DeviceTimeout,
    DeviceUnavailable,
    DeviceUnreachable,
)
from gateway.soap import envelope, replies
from gateway.soap.breaker import BreakerOpen, CircuitBreaker
from gateway.soap.errors import Exchange, translate
from gateway.soap.quirks import PLUGINS
from gateway.soap.services import ServiceAddresses
from gateway.soap.transport import (
    NEVER_ANSWERED,
    AiohttpTransport,
    ClosedWithoutAnswer,
    DigestAnswers,
)
from gateway.soap.wsdl import ADDRESSED, Wsdls
from gateway.soap.wsse import DeviceClockToken
from gateway.tls import device_ssl

log = logging.getLogger(__name__)
# GetSystemDateAndTime has whole seconds, and the round trip blurs it further.
CLOCK_RESOLUTION = timedelta(seconds=2)
# How long a device's idle connection is kept for its next call (aiohttp's default is 15 s): a
# gateway in front of hundreds of devices asks each one every few seconds to a minute, and a new
# connection per call cost it (and the devices) about a third more CPU per request, 500 devices
# against 64. A device that closes an idle connection sooner is no trouble: aiohttp drops a
# connection closed while idle, and the transport retries a request sent as it closed.
IDLE_CONNECTION_SECONDS = 60.0
# Told of every SOAP exchange with a device (metrics): device, service, operation, the gateway's
# error for it (None when it succeeded) and the seconds it took.
CallObserver = Callable[[str, str, str, Exception | None, float], None]
# A pull point is named by its address alone, so calls to it carry WS-Addressing headers (wsa:To,
# wsa:Action, wsa:MessageID): cameras that route on wsa:To refuse them otherwise (XiongMai and
# Wanscam cameras answer a Renew without them with 400: home-assistant/core#45513), and zeep
# sends none unless told to.
ADDRESSED_PLUGINS = [*PLUGINS, WsAddressingPlugin()]


# Per binding and operation (bindings live as long as the WSDLs parsed once per process).
_output_fields: dict[tuple[Any, str], tuple[str, ...]] = {}


def output_fields(wsdls: Wsdls, service: str, operation: str) -> tuple[str, ...]:
    """Names of the child elements of an operation's response element (worked out once: zeep
    walks the type's elements anew each time it is asked)."""
    key = (wsdls.binding(service), operation)
    if key not in _output_fields:
        body = key[0].get(operation).output.body
        _output_fields[key] = tuple(name for name, _ in body.type.elements)
    return _output_fields[key]


@dataclass
class DeviceState:
    """What the gateway has seen of a device (for GET /devices)."""

    status: str = "unknown"  # online | auth-failed | unreachable | unknown
    last_seen: datetime | None = None
    manufacturer: str | None = None
    model: str | None = None
    # Why the device is unreachable or auth-failed (the last such error), for GET /devices.
    cause: str | None = None
    # "read", or "unknown" when its GetSystemDateAndTime answer cannot be read (the gateway then
    # signs with its own clock), or "ignored" when it refused tokens dated by the time it tells
    # and took the gateway's (which it then signs with); None until asked.
    clock: str | None = None
    clock_offset: float | None = None  # seconds the device clock is ahead of the gateway's
    # "not-enforced" when the device answers a call that needs credentials without any (its
    # WS-Security is off: any password logs in); "enforced"; None until a login asked.
    authentication: str | None = None
    # Services the device lists but that do not work, and why (e.g. an address answering 404).
    services_unusable: dict[str, str] = field(default_factory=dict)


class DeviceClient:
    """Calls one device's ONVIF services over a single connection pool of its own."""

    def __init__(self, config: DeviceConfig, wsdls: Wsdls, limits: DeviceLimits,
                 observer: CallObserver | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 digest_idle: float = float("inf")) -> None:
        self.config = config
        self.name = config.name
        self.state = DeviceState()
        self._wsdls = wsdls
        self._limits = limits
        self._timeout = limits.timeout
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._breaker = CircuitBreaker(limits.breaker_failures, limits.breaker_reset, clock)
        self._transport: AiohttpTransport | None = None
        # HTTP Digest answers of its users, if it asks for Digest; one kept unused for
        # digest_idle seconds (the sessions' idle timeout) belongs to no live session
        self.digest = DigestAnswers(digest_idle, clock)
        self._clock_offset: timedelta | None = None
        # Tokens carry the gateway's own time, not the time the device tells: it refused these
        # and took those (firmware telling its local time as UTCDateTime).
        self._own_clock = False
        self._services = ServiceAddresses(config.name, config.url, self._ask_device,
                                          self.state.services_unusable)
        self._prepare_lock = asyncio.Lock()
        # Built at start, so that a bad tls_ca stops start-up rather than a first request.
        self._ssl = device_ssl(config)
        self._observer = observer

    @property
    def clock_offset(self) -> timedelta | None:
        """How far the device clock is ahead of ours, once it has been read."""
        return self._clock_offset

    async def close(self) -> None:
        """Close the device's connection pool."""
        if self._transport is not None:
            await self._transport.session.close()
            self._transport = None

    async def call(
        self, service: str, operation: str, credentials: Credentials | None, **kwargs: Any
    ) -> dict[str, Any]:
        """Call an operation and return its response element as plain data (dicts and lists)."""
        await self._prepare()
        address = await self._services.address(service)
        try:
            return await self._send(service, operation, address, credentials, kwargs)
        except DeviceFault as exc:
            if (unserved := self._services.unserved(service, address, operation, exc)) is not None:
                raise unserved from None
            if credentials is None or "NotAuthorized" not in exc.subcodes:
                raise
            # A device whose clock jumped (NTP, a reboot, a user) refuses tokens stamped with the
            # old offset: read its clock again, and retry once if it moved.
            if not await self._clock_moved():
                raise
            return await self._send(service, operation, address, credentials, kwargs)

    async def call_at(
        self, address: str, service: str, operation: str, credentials: Credentials | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call an operation at an address the device gave (a pull point's), kept on the host
        and port gateway.ini names like every service address."""
        await self._prepare()
        return await self._send(service, operation, self._services.on_device_host(address),
                                credentials, kwargs)

    async def _clock_moved(self) -> bool:
        """Re-read the device clock; whether it moved more than the clock's resolution."""
        if self.state.clock == "unknown":
            return False  # it could not be read before; reading it again tells nothing
        before = self._clock_offset or timedelta(0)
        async with self._prepare_lock:
            self._clock_offset = await self._read_clock_offset()
        moved = abs(self._clock_offset - before) > CLOCK_RESOLUTION
        if moved:
            log.info("device %s clock moved by %.0f s", self.name,
                     (self._clock_offset - before).total_seconds())
        return moved

    async def _prepare(self) -> None:
        """Read the device clock once, before the first signed call (GetSystemDateAndTime)."""
        if self._clock_offset is not None:
            return
        async with self._prepare_lock:
            if self._clock_offset is None:
                self._clock_offset = await self._read_clock_offset()

    async def _read_clock_offset(self, background: bool = False) -> timedelta:
        """How far the device clock is ahead; zero when its answer cannot be read.

        As onvif-zeep-async does, a device whose clock cannot be read (a fault, an answer in the
        wrong namespaces, no UTC time) stays usable: tokens carry the gateway's own time.
        """
        sent = datetime.now(UTC)
        try:
            reply = await self._send("device", "GetSystemDateAndTime", self.config.url, None, {},
                                     background=background)
            received = datetime.now(UTC)
            utc = (reply.get("SystemDateAndTime") or {}).get("UTCDateTime")
            if not utc:
                raise ValueError("the answer has no UTCDateTime")
            date, time = utc["Date"], utc["Time"]
            device_now = datetime(
                date["Year"], date["Month"], date["Day"],
                time["Hour"], time["Minute"], time["Second"], tzinfo=UTC,
            )
        except (DeviceFault, DeviceBadReply, ValueError, TypeError, KeyError) as exc:
            if self.state.clock != "unknown":
                log.warning("device %s: its clock cannot be read (%s); signing with the "
                            "gateway's own clock", self.name, exc)
            self.state.clock, self.state.clock_offset = "unknown", None
            return timedelta(0)
        offset = device_now - (sent + (received - sent) / 2)
        if self.state.clock == "unknown":
            log.info("device %s: its clock can be read again", self.name)
        self.state.clock = "ignored" if self._own_clock else "read"
        self.state.clock_offset = round(offset.total_seconds(), 1)
        log.debug("device %s clock offset %.1f s", self.name, offset.total_seconds())
        return offset

    async def check(self) -> None:
        """The health check: read the clock (no credentials needed) and, with the gateway's
        service account, who the device is (which also tells whether that account works).

        Its calls neither wait for nor count toward the breaker: a background check must not
        shut users out of a device; a check that succeeds closes the breaker."""
        self._clock_offset = await self._read_clock_offset(background=True)
        if self.service_credentials is not None:
            await self._send("device", "GetDeviceInformation", self.config.url,
                             self.service_credentials, {}, background=True)

    async def probe_authentication(self) -> str | None:
        """Whether the device enforces authentication ("enforced" / "not-enforced"), asked once:
        GetDeviceInformation needs credentials (READ_SYSTEM), so it is called without any."""
        if self.state.authentication is None:
            try:
                await self.call("device", "GetDeviceInformation", None)
            except DeviceFault as exc:
                if "NotAuthorized" in exc.subcodes:
                    self.state.authentication = "enforced"
            except DeviceError:
                pass  # it tells nothing; asked again at the next login
            else:
                self.state.authentication = "not-enforced"
                log.warning("device %s answers without credentials: its authentication "
                            "(WS-Security) is off, any username and password log in", self.name)
        return self.state.authentication

    @property
    def services(self) -> list[str]:
        """The media services the device is known to offer (empty until it was asked)."""
        return self._services.media

    async def offers(self, service: str) -> bool:
        """Whether the device offers a service (the device service it always does)."""
        return await self._services.offers(service)

    async def _ask_device(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A device-service call with the gateway's own account (for the service addresses)."""
        return await self.call("device", operation, self.service_credentials, **kwargs)

    @property
    def service_credentials(self) -> Credentials | None:
        """The gateway's own account on the device (gateway.ini), if it has one."""
        if self.config.username is None or self.config.password is None:
            return None
        return Credentials(self.config.username, self.config.password)

    def _http(self) -> AiohttpTransport:
        """The device's transport, made on first use (an aiohttp session needs a running loop)."""
        if self._transport is None:
            self._transport = AiohttpTransport(aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self._limits.concurrency, ssl=self._ssl,
                                               keepalive_timeout=IDLE_CONNECTION_SECONDS),
            ), answers=self.digest)
        return self._transport

    def _fresh_session(self) -> aiohttp.ClientSession:
        """A session of one new connection (the retry of a request a device never answered)."""
        return aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            connector=aiohttp.TCPConnector(limit=1, force_close=True, ssl=self._ssl),
        )

    async def _send(
        self,
        service: str,
        operation: str,
        address: str,
        credentials: Credentials | None,
        kwargs: Mapping[str, Any],
        background: bool = False,
    ) -> dict[str, Any]:
        """One SOAP call through the device's breaker and concurrency limit, noting the outcome.

        A background call (the health check) skips the breaker and its failures are not counted.
        """
        trial = False
        if not background:
            try:
                trial = self._breaker.check()
            except BreakerOpen as exc:
                cause = f" (last: {self.state.cause})" if self.state.cause else ""
                raise DeviceUnavailable(
                    f"device {self.name} failed {self._limits.breaker_failures} times in a "
                    f"row{cause}; it is not asked again for {exc.retry_after} s",
                    self.name, exc.retry_after,
                ) from None
        try:
            if self._slots.locked():
                async with asyncio.timeout(self._limits.timeout):  # the wait counts too
                    await self._slots.acquire()
            else:
                await self._slots.acquire()  # at once: no timer to set and cancel
        except BaseException as exc:
            # The gateway's own queue, not the device's failure: the breaker is not told (but
            # a trial that never reached the device is over).
            self._breaker.end_trial(trial)
            if not isinstance(exc, TimeoutError):
                raise
            raise DeviceTimeout(f"{operation} on device {self.name}: still waiting for one of "
                                f"its {self._limits.concurrency} connections", self.name) from None
        try:
            result = await self._exchange(service, operation, address, credentials, kwargs)
        except (DeviceUnreachable, DeviceTimeout, DeviceBadReply) as exc:
            if not background:
                self._breaker.failed()
            if isinstance(exc, DeviceBadReply):
                self.state.last_seen = datetime.now(UTC)  # it answered, if with nothing usable
            else:
                self._status("unreachable", exc.detail)
            raise
        except DeviceFault as exc:
            self._breaker.succeeded()
            refused = ("NotAuthorized" in exc.subcodes and credentials is not None
                       and credentials == self.service_credentials)
            if refused:
                self._status("auth-failed", exc.detail)
            else:
                self._status("online", credentials=credentials)
            raise
        finally:
            self._slots.release()
            self._breaker.end_trial(trial)
        self._breaker.succeeded()
        self._status("online", credentials=credentials)
        if operation == "GetDeviceInformation":
            self.state.manufacturer = result.get("Manufacturer")
            self.state.model = result.get("Model")
        return result

    def _status(self, status: str, cause: str | None = None,
                credentials: Credentials | None = None) -> None:
        """Note what the last exchange showed; log each change of state once.

        auth-failed (the service account is refused) ends only when that account works again:
        calls without it (reading the clock, users' own calls) say nothing about it.
        """
        state = self.state
        if status != "unreachable":
            state.last_seen = datetime.now(UTC)
        if (status == "online" and state.status == "auth-failed"
                and credentials != self.service_credentials):
            return
        if status != state.status:
            if status == "unreachable":
                log.warning("device %s is unreachable: %s", self.name, cause)
            elif status == "auth-failed":
                log.warning("device %s refuses the gateway's service account (user %r): check "
                            "username and password in its gateway.ini section", self.name,
                            self.config.username)
            elif state.status in ("unreachable", "auth-failed"):
                log.info("device %s is online again", self.name)
        state.status = status
        state.cause = cause

    async def _exchange(
        self,
        service: str,
        operation: str,
        address: str,
        credentials: Credentials | None,
        kwargs: Mapping[str, Any],
    ) -> dict[str, Any]:
        if not self._wsdls.is_read(service):
            await self._wsdls.ready(service)
        if credentials is None:
            return await self._exchange_signed(service, operation, address, None, kwargs, None)
        told, own = self._clock_offset or timedelta(0), self._own_clock
        try:
            return await self._exchange_signed(service, operation, address, credentials, kwargs,
                                               timedelta(0) if own else told)
        except DeviceFault as refused:
            if "NotAuthorized" not in refused.subcodes or abs(told) <= CLOCK_RESOLUTION:
                raise
            first = refused  # dated by one clock; the other may be the one it checks against
        # A device may check tokens against another clock than the one it tells: firmware that
        # tells its local time as UTCDateTime checks against UTC (OpenIPC's majestic:
        # OpenIPC/majestic-webui#292). A token of the other time it takes (any answer but
        # NotAuthorized) decides which it is signed with from then on.
        own = not own  # (not the current way: a concurrent call may have changed it already)
        try:
            result = await self._exchange_signed(service, operation, address, credentials,
                                                 kwargs, timedelta(0) if own else told)
        except DeviceFault as again:
            if "NotAuthorized" in again.subcodes:
                raise first from None  # neither: the credentials, not the time, are refused
            self._sign_with_own_clock(own)
            raise
        self._sign_with_own_clock(own)
        return result

    def _sign_with_own_clock(self, own: bool) -> None:
        if own == self._own_clock:
            return  # a concurrent call found it out first
        self._own_clock = own
        if self.state.clock != "unknown":
            self.state.clock = "ignored" if own else "read"
        told = (self._clock_offset or timedelta(0)).total_seconds()
        if own:
            log.warning("device %s refuses tokens dated by the time it tells (%+.0f s from the "
                        "gateway's) and takes the gateway's: signing with the gateway's own clock",
                        self.name, told)
        else:
            log.info("device %s takes tokens dated by the time it tells (%+.0f s from the "
                     "gateway's) again, not the gateway's own clock", self.name, told)

    async def _exchange_signed(
        self,
        service: str,
        operation: str,
        address: str,
        credentials: Credentials | None,
        kwargs: Mapping[str, Any],
        offset: timedelta | None,
    ) -> dict[str, Any]:
        """One exchange, its token (with credentials) dated by the gateway's clock + offset."""
        token, transport = None, self._http()
        if credentials is not None and offset is not None:
            token = DeviceClockToken(credentials.username, credentials.password, offset)
            transport = transport.authenticated(credentials.username, credentials.password)
        client = zeep.Client(
            self._wsdls.document(service), wsse=token, transport=transport,
            settings=replies.RAW_REPLY_SETTINGS,
            plugins=ADDRESSED_PLUGINS if service in ADDRESSED else PLUGINS,
        )
        started = time.monotonic()
        try:
            # The binding itself, not a ServiceProxy: a proxy builds an object for every
            # operation of the service, per call (a tenth of the gateway's CPU under load).
            binding = self._wsdls.binding(service)
            try:
                reply = await envelope.send_async(binding, client, {"address": address},
                                                  operation, dict(kwargs))
            except NEVER_ANSWERED:
                reply = await self._send_again(binding, client, transport, address, operation,
                                               kwargs)
            result = await replies.parse(binding, client, operation, reply,
                                         partial(self._as_response, service, operation))
        except Exception as exc:
            mapped = translate(exc, Exchange(self.name, operation, self._timeout))
            self._observe(service, operation, mapped, started)
            if mapped is exc:
                raise
            raise mapped from exc
        self._observe(service, operation, None, started)
        return result

    async def _send_again(self, binding: Any, client: zeep.Client, transport: AiohttpTransport,
                          address: str, operation: str, kwargs: Mapping[str, Any]) -> Any:
        """Send a request the device never answered once more, on a new connection.

        A device may close an idle keep-alive connection at any time (RFC 9112 §9.3.1); a
        request sent as it closed was never answered. Thingino firmware closes every connection
        after its answer without saying so (python-onvif-zeep-async#140), and a TP-Link Tapo
        C125's closes met a pull-point client every 10 s or so (#169 there). Like
        onvif-zeep-async's AsyncTransportProtocolErrorHandler, the gateway sends it once more,
        on a connection of its own (the pool's other idle ones may have been closed too); unlike
        it, as a new message with a new UsernameToken: a device that read the first one before
        it closed (one that closes a PullMessages it has nothing for: gateway.events.pullpoint)
        refuses its nonce a second time as a replay.
        """
        async with self._fresh_session() as session:
            client.transport = transport.over(session)
            try:
                return await envelope.send_async(binding, client, {"address": address},
                                                 operation, dict(kwargs))
            except NEVER_ANSWERED as exc:
                raise ClosedWithoutAnswer(str(exc) or type(exc).__name__) from exc

    def _observe(self, service: str, operation: str, error: Exception | None,
                 started: float) -> None:
        if self._observer is not None:
            self._observer(self.name, service, operation, error, time.monotonic() - started)

    def _as_response(self, service: str, operation: str, result: Any) -> dict[str, Any]:
        """The response element as a dict, undoing zeep's unwrapping of one-child responses."""
        data = serialize_object(result, dict)
        names = output_fields(self._wsdls, service, operation)
        if len(names) == 1 and not (isinstance(data, dict) and names[0] in data):
            return {names[0]: data}
        return data if isinstance(data, dict) else {}
