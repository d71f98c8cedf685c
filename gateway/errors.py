"""The gateway's exceptions, in one tree.

    GatewayError                    anything the gateway reports to a client (has an HTTP status)
    ├── BadRequest           400    the request is wrong; names the JSON field when there is one
    ├── Unauthorized         401    no session, or the credentials were refused at login
    ├── Forbidden            403    a valid session without the rights for this
    ├── NotFound             404    no such resource
    ├── MethodNotAllowed     405
    ├── Conflict             409    it clashes with the gateway policy or the device's state
    ├── PayloadTooLarge      413
    ├── UnsupportedMediaType 415
    ├── ExpectationFailed    417    an Expect header other than 100-continue
    ├── TooManyRequests      429    too many login guesses: wait retry_after seconds
    ├── NotReady             503    the gateway cannot serve yet (or any more): /readyz
    ├── StoreUnavailable     503    the shared state store (Redis) does not answer
    └── DeviceError                 something went wrong on the way to, or at, an ONVIF device
        ├── DeviceFault      4xx/5xx  a SOAP fault from the device (status from its subcodes)
        ├── DeviceUnreachable  502  connection refused, reset, DNS, TLS...
        ├── DeviceBadReply     502  the device answered, but not with a usable SOAP message
        ├── DeviceDidNotApply  502  the device accepted a write but its state did not change
        ├── DeviceUnavailable  503  the device failed too often lately: not tried (Retry-After)
        └── DeviceTimeout      504  the device did not answer in time

    StartupError                    the gateway cannot start: nothing is served
    ├── ConfigError                 a bad gateway.ini (names the section and key)
    ├── MappingError                a bad mapping file (names the file and the path in it)
    ├── WsdlError                   a WSDL that cannot be loaded (or wants the network)
    └── AddressInUse                the port to listen on is taken (the CLI says how to change it)

Lower-layer errors (zeep, aiohttp, lxml) are translated in one place, `gateway.soap.errors` (its
docstring has the tree of what is raised beneath and what each becomes), and the HTTP side renders
every GatewayError as application/problem+json in `gateway.web.problems`.
"""

from __future__ import annotations

from typing import Any

# A client's value is quoted in a problem's detail, its field or a log line at most this long: its
# first characters, then how long it was. Echoed whole, a 60 KB user name made a 60 KB answer.
QUOTED_LENGTH = 100


def shortened(text: str) -> str:
    """A client's text, bounded: its first QUOTED_LENGTH characters and its length, if longer
    (a field name the client made up, in `field`)."""
    if len(text) <= QUOTED_LENGTH:
        return text
    return f"{text[:QUOTED_LENGTH]}\u2026 ({len(text)} characters)"


def quoted(value: object) -> str:
    """repr() of a client's value, bounded as shortened() does: the way a detail or a log line
    quotes what the client sent (a name, token, user name, value or query parameter)."""
    if isinstance(value, str) and len(value) > QUOTED_LENGTH:
        return f"{value[:QUOTED_LENGTH]!r}\u2026 ({len(value)} characters)"
    return shortened(repr(value))


def echo_shortened(text: str, *values: object) -> str:
    """A device's text (a fault's reason) with the client's long values it repeats ("No profile
    'ttt...'") shortened as shortened() does; the device's own words stay whole."""
    for value in values:
        if isinstance(value, str) and len(value) > QUOTED_LENGTH:
            text = text.replace(value, shortened(value))
    return text


class GatewayError(Exception):
    """An error the client is told about, as an RFC 9457 problem."""

    status = 500
    title = "Internal error"
    slug = "internal-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = {key: value for key, value in extra.items() if value is not None}


class BadRequest(GatewayError):
    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, field=field, **extra)


class Unauthorized(GatewayError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(GatewayError):
    status = 404
    title = "Not found"
    slug = "not-found"


class MethodNotAllowed(GatewayError):
    status = 405
    title = "Method not allowed"
    slug = "method-not-allowed"


class Conflict(GatewayError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class UnsupportedMediaType(GatewayError):
    status = 415
    title = "Unsupported media type"
    slug = "unsupported-media-type"


class ExpectationFailed(GatewayError):
    status = 417
    title = "Expectation failed"
    slug = "expectation-failed"


class TooManyRequests(GatewayError):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"

    def __init__(self, detail: str, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.retry_after = retry_after


class NotReady(GatewayError):
    status = 503
    title = "Not ready"
    slug = "not-ready"


class StoreUnavailable(GatewayError):
    status = 503
    title = "State store unavailable"
    slug = "store-unavailable"


class DeviceError(GatewayError):
    """Base for what happens between the gateway and a device; always names the device."""

    status = 502
    title = "Device error"
    slug = "device-error"

    def __init__(self, detail: str, device: str, **extra: Any) -> None:
        super().__init__(detail, device=device, **extra)
        self.device = device


# ONVIF fault subcodes (ter:*) and the HTTP status each means to a REST client (DESIGN.md, Errors).
FAULT_STATUS: dict[str, int] = {
    "NotAuthorized": 403,
    "InvalidArgVal": 400,
    "InvalidArgs": 400,
    "NoConfig": 404,
    "NoProfile": 404,
    "NoVideoSource": 404,
    "NoSource": 404,  # Imaging: no such video source
    "NoPTZProfile": 404,  # PTZ: the profile has no PTZ configuration
    "NoEntity": 404,  # PTZ: no such node
    "NoToken": 404,  # PTZ: no such preset
    "PresetExist": 409,  # PTZ: a preset has that name already
    "TooManyPresets": 409,
    "ProfileExists": 409,
    "DeletionOfFixedProfile": 409,
    "MaxNVTProfiles": 409,
    "ConfigurationConflict": 409,
    "IncompleteConfiguration": 409,  # a stream of a profile without an encoder, say
    "ActionNotSupported": 501,
}


class DeviceFault(DeviceError):
    """The device answered with a SOAP fault; `subcodes` are local names of the ter: subcodes."""

    title = "Device fault"
    slug = "device-fault"

    def __init__(
        self, detail: str, device: str, code: str | None, subcodes: list[str]
    ) -> None:
        super().__init__(detail, device, fault_code=code, fault_subcodes=subcodes)
        self.code = code
        self.subcodes = subcodes
        # The most specific subcode that we know decides; a Receiver fault we do not know is the
        # device's own failure (502), a Sender fault we do not know is a bad request (400).
        statuses = [FAULT_STATUS[s] for s in reversed(subcodes) if s in FAULT_STATUS]
        if statuses:
            self.status = statuses[0]
        else:
            self.status = 400 if code == "Sender" else 502

    @property
    def not_implemented(self) -> bool:
        """The device lacks the operation or the service (501)."""
        return self.status == FAULT_STATUS["ActionNotSupported"]


class DeviceUnreachable(DeviceError):
    status = 502
    title = "Device unreachable"
    slug = "device-unreachable"


class DeviceBadReply(DeviceError):
    status = 502
    title = "Bad reply from device"
    slug = "device-bad-reply"


class DeviceDidNotApply(DeviceError):
    status = 502
    title = "Device did not apply the change"
    slug = "device-did-not-apply"


class DeviceUnavailable(DeviceError):
    status = 503
    title = "Device unavailable"
    slug = "device-unavailable"

    def __init__(self, detail: str, device: str, retry_after: int) -> None:
        super().__init__(detail, device, retry_after=retry_after)
        self.retry_after = retry_after


class DeviceTimeout(DeviceError):
    status = 504
    title = "Device timeout"
    slug = "device-timeout"


class StartupError(Exception):
    """The gateway cannot start; the message says what to fix."""


class ConfigError(StartupError):
    pass


class MappingError(StartupError):
    pass


class WsdlError(StartupError):
    pass


class AddressInUse(StartupError):
    pass
