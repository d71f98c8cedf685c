"""What every operation handler gets and gives: the call, its arguments, the answer element."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from lxml import etree

from gateway.soap.xml import qname

from .device import DEVICE, STANDARD_PATHS, AccessClass, SimulatedDevice, service_path
from .soap import NSMAP, SENDER, SoapFault


@dataclass(frozen=True)
class Call:
    """One operation call: the device, the HTTP request and the Body's operation element."""

    device: SimulatedDevice
    request: web.Request
    operation: etree._Element

    @property
    def namespace(self) -> str:
        """The namespace of the operation, i.e. of its service's WSDL."""
        return etree.QName(self.operation).namespace or ""

    def xaddr(self, service: str = DEVICE) -> str:
        """A service's address on this device as seen by the client (scheme and Host it used):
        at ONVIF's usual paths when the client came to one of them (a single device)."""
        root = f"{self.request.scheme}://{self.request.host}"
        if self.device.xaddr_without_path:
            return root
        if self.request.path == STANDARD_PATHS[DEVICE]:
            return root + STANDARD_PATHS[service]
        return root + service_path(self.device.index, service)

    def children(self, local: str) -> list[etree._Element]:
        """The operation's arguments named local (in the operation's namespace)."""
        return list(self.operation.iterfind(qname(self.namespace, local)))

    def args(self, local: str) -> list[str]:
        """Texts of the operation's arguments named local."""
        return [arg.text or "" for arg in self.children(local)]

    def arg(self, local: str) -> str | None:
        """Text of the first argument named local, None if there is none."""
        texts = self.args(local)
        return texts[0].strip() if texts else None

    def required(self, local: str) -> str:
        """Text of a mandatory argument; a missing one is an invalid argument."""
        text = self.arg(local)
        if text is None:
            raise invalid_arg(f"The argument {local} is missing")
        return text


# PullMessages waits for events, so a handler may be a coroutine function.
Handler = Callable[[Call], etree._Element | Awaitable[etree._Element]]


class Hangup(Exception):
    """Close the connection without any answer, as a device whose server crashed does."""


class EmptyAnswer(Exception):
    """Answer HTTP 200 with an empty body, no SOAP message."""


def response(call: Call) -> etree._Element:
    """The empty <Operation>Response element in the operation's namespace."""
    return etree.Element(f"{call.operation.tag}Response", nsmap=NSMAP)


@dataclass(frozen=True)
class Operation:
    """An implemented operation: its access class and the handler building its answer.

    stub answers instead of handler when the operation is in the device's stub_writes: it must
    change nothing and never fault, as firmware that only pretends to implement a write does.
    """

    access: AccessClass
    handler: Handler
    stub: Handler = field(default=response)


def invalid_arg(reason: str) -> SoapFault:
    """ONVIF's fault for an argument value the device does not accept."""
    return SoapFault(SENDER, ("InvalidArgVal",), reason)


def parse_boolean(text: str, name: str) -> bool:
    """An xs:boolean argument; anything else is an invalid argument."""
    value = text.strip()  # xs:boolean collapses white space
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise invalid_arg(f"{name} is not an xs:boolean: {text!r}")
