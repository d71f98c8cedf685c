"""The aiohttp application serving the ONVIF Device service of N simulated devices."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from aiohttp import web
from lxml import etree

from .device import AccessClass, SimulatedDevice, device_path
from .security import authorize
from .soap import (
    NSMAP,
    RECEIVER,
    SENDER,
    TDS,
    TT,
    SoapFault,
    fault_envelope,
    parse_request,
    qname,
    serialize,
    sub,
)

SIMULATED_DEVICES: Final = web.AppKey("simulated_devices", dict[int, SimulatedDevice])

ONVIF_VERSION: Final = (2, 60)  # Major, Minor of the Device service reported by GetServices
DISCOVERY_MODES: Final = frozenset({"Discoverable", "NonDiscoverable"})
CAPABILITY_CATEGORIES: Final = frozenset(
    {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"}
)
SUPPORTED_CATEGORIES: Final = frozenset({"All", "Device"})
# tds:DeviceServiceCapabilities children (in schema order) and their attributes.
DEVICE_SERVICE_CAPABILITIES: Final = MappingProxyType(
    {
        "Network": {"IPFilter": "false", "ZeroConfiguration": "false", "IPVersion6": "false"},
        "Security": {"UsernameToken": "true", "HttpDigest": "false", "DefaultAccessPolicy": "true"},
        "System": {"DiscoveryResolve": "false", "DiscoveryBye": "false", "SystemBackup": "false"},
    }
)


def tds(local: str) -> str:
    """Clark name in the Device service namespace."""
    return qname(TDS, local)


def tt(local: str) -> str:
    """Clark name in the ONVIF schema namespace."""
    return qname(TT, local)


@dataclass(frozen=True)
class Call:
    """One operation call: the device, the HTTP request and the Body's operation element."""

    device: SimulatedDevice
    request: web.Request
    operation: etree._Element

    def xaddr(self) -> str:
        """This device's service address as seen by the client (scheme and Host it used)."""
        return f"{self.request.scheme}://{self.request.host}{device_path(self.device.index)}"

    def args(self, local: str) -> list[str]:
        """Texts of the operation's tds:<local> arguments."""
        return [arg.text or "" for arg in self.operation.iterfind(tds(local))]


Handler = Callable[[Call], etree._Element]


@dataclass(frozen=True)
class Operation:
    """An implemented operation: its access class and the handler building its answer."""

    access: AccessClass
    handler: Handler


def invalid_arg(reason: str) -> SoapFault:
    """ONVIF's fault for an argument value the device does not accept."""
    return SoapFault(SENDER, ("InvalidArgVal",), reason)


def _response(call: Call) -> etree._Element:
    return etree.Element(f"{call.operation.tag}Response", nsmap=NSMAP)


def _date_time(parent: etree._Element, tag: str, moment: datetime) -> None:
    date_time = sub(parent, tag)
    time = sub(date_time, tt("Time"))
    sub(time, tt("Hour"), str(moment.hour))
    sub(time, tt("Minute"), str(moment.minute))
    sub(time, tt("Second"), str(moment.second))
    date = sub(date_time, tt("Date"))
    sub(date, tt("Year"), str(moment.year))
    sub(date, tt("Month"), str(moment.month))
    sub(date, tt("Day"), str(moment.day))


def _parse_boolean(text: str, name: str) -> bool:
    value = text.strip()  # xs:boolean collapses white space
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise invalid_arg(f"{name} is not an xs:boolean: {text!r}")


def get_system_date_and_time(call: Call) -> etree._Element:
    """tds:GetSystemDateAndTime: the device clock, in UTC."""
    now = call.device.now()
    response = _response(call)
    system = sub(response, tds("SystemDateAndTime"))
    sub(system, tt("DateTimeType"), "Manual")
    sub(system, tt("DaylightSavings"), "false")
    sub(sub(system, tt("TimeZone")), tt("TZ"), "UTC")
    _date_time(system, tt("UTCDateTime"), now)
    _date_time(system, tt("LocalDateTime"), now)
    return response


def get_services(call: Call) -> etree._Element:
    """tds:GetServices: only the Device service so far."""
    include = call.args("IncludeCapability")
    include_capability = bool(include) and _parse_boolean(include[0], "IncludeCapability")
    response = _response(call)
    service = sub(response, tds("Service"))
    sub(service, tds("Namespace"), TDS)
    sub(service, tds("XAddr"), call.xaddr())
    if include_capability:
        # The schema wants the tds:Capabilities element (DeviceServiceCapabilities) here. Its
        # children are attribute-only; zeep reads one without attributes as None, so set some.
        capabilities = sub(sub(service, tds("Capabilities")), tds("Capabilities"))
        for name, flags in DEVICE_SERVICE_CAPABILITIES.items():
            element = sub(capabilities, tds(name))
            for flag, value in flags.items():
                element.set(flag, value)
    version = sub(service, tds("Version"))
    sub(version, tt("Major"), str(ONVIF_VERSION[0]))
    sub(version, tt("Minor"), str(ONVIF_VERSION[1]))
    return response


def get_capabilities(call: Call) -> etree._Element:
    """tds:GetCapabilities: only the Device category so far."""
    categories = call.args("Category") or ["All"]
    for category in categories:
        if category not in CAPABILITY_CATEGORIES:
            raise invalid_arg(f"Unknown capability category {category!r}")
        if category not in SUPPORTED_CATEGORIES:
            raise SoapFault(
                RECEIVER,
                ("ActionNotSupported", "NoSuchService"),
                f"The device has no {category} service",
            )
    response = _response(call)
    device = sub(sub(response, tds("Capabilities")), tt("Device"))
    sub(device, tt("XAddr"), call.xaddr())
    return response


def get_device_information(call: Call) -> etree._Element:
    """tds:GetDeviceInformation."""
    device = call.device
    response = _response(call)
    sub(response, tds("Manufacturer"), device.manufacturer)
    sub(response, tds("Model"), device.model)
    sub(response, tds("FirmwareVersion"), device.firmware)
    sub(response, tds("SerialNumber"), device.serial_number)
    sub(response, tds("HardwareId"), device.hardware_id)
    return response


def get_users(call: Call) -> etree._Element:
    """tds:GetUsers: names and levels, never passwords."""
    response = _response(call)
    for username, user in call.device.users.items():
        entry = sub(response, tds("User"))
        sub(entry, tt("Username"), username)
        sub(entry, tt("UserLevel"), user.level)
    return response


def system_reboot(call: Call) -> etree._Element:
    """tds:SystemReboot: only counted, the simulated device keeps its state."""
    call.device.reboots += 1
    response = _response(call)
    sub(response, tds("Message"), "Rebooting in 0 seconds")
    return response


def get_discovery_mode(call: Call) -> etree._Element:
    """tds:GetDiscoveryMode."""
    response = _response(call)
    sub(response, tds("DiscoveryMode"), call.device.discovery_mode)
    return response


def set_discovery_mode(call: Call) -> etree._Element:
    """tds:SetDiscoveryMode."""
    modes = call.args("DiscoveryMode")
    if len(modes) != 1 or modes[0] not in DISCOVERY_MODES:
        raise invalid_arg(f"DiscoveryMode must be one of {sorted(DISCOVERY_MODES)}")
    call.device.discovery_mode = modes[0]
    return _response(call)


# Every implemented operation by the Clark name of its request element: one line each.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        tds("GetSystemDateAndTime"): Operation(AccessClass.PRE_AUTH, get_system_date_and_time),
        tds("GetServices"): Operation(AccessClass.PRE_AUTH, get_services),
        tds("GetCapabilities"): Operation(AccessClass.PRE_AUTH, get_capabilities),
        tds("GetDeviceInformation"): Operation(AccessClass.READ_SYSTEM, get_device_information),
        tds("GetUsers"): Operation(AccessClass.READ_SYSTEM_SECRET, get_users),
        tds("SystemReboot"): Operation(AccessClass.UNRECOVERABLE, system_reboot),
        tds("GetDiscoveryMode"): Operation(AccessClass.READ_SYSTEM, get_discovery_mode),
        tds("SetDiscoveryMode"): Operation(AccessClass.WRITE_SYSTEM, set_discovery_mode),
    }
)


def _answer(device: SimulatedDevice, request: web.Request, data: bytes) -> bytes:
    """The serialized answer to one request; raise SoapFault for a fault answer."""
    envelope = parse_request(data)
    operation = OPERATIONS.get(envelope.operation.tag)
    name = etree.QName(envelope.operation).localname
    if operation is None or name in device.unsupported:
        raise SoapFault(RECEIVER, ("ActionNotSupported",), f"Operation {name} is not supported")
    authorize(device, envelope.header, operation.access)
    return serialize(operation.handler(Call(device, request, envelope.operation)))


def _soap_response(body: bytes, status: int) -> web.Response:
    return web.Response(
        body=body, status=status, content_type="application/soap+xml", charset="utf-8"
    )


def _device_handler(device: SimulatedDevice) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        data = await request.read()
        # Every answer, faults included, is late by the same amount, like a slow camera's.
        if device.latency > 0:
            await asyncio.sleep(device.latency)
        try:
            return _soap_response(_answer(device, request, data), 200)
        except SoapFault as fault:
            return _soap_response(fault_envelope(fault), fault.http_status)

    return handle


def create_simulator_app(devices: Sequence[SimulatedDevice]) -> web.Application:
    """An app serving each device's Device service at device_path(device.index)."""
    app = web.Application()
    by_index: dict[int, SimulatedDevice] = {}
    for device in devices:
        if device.index in by_index:
            raise ValueError(f"two simulated devices have index {device.index}")
        by_index[device.index] = device
        app.router.add_post(device_path(device.index), _device_handler(device))
    app[SIMULATED_DEVICES] = by_index
    return app
