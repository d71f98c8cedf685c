"""The aiohttp application serving the ONVIF Device, Media and Media2 services of N devices."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from aiohttp import web
from lxml import etree

from gateway.soap.xml import TDS, TEV, TIMG, TPTZ, TR2, TRT, TT, child_elements, qname

from . import events, imaging, media1, media2, ptz
from .device import (
    DEVICE,
    EVENTS,
    IMAGING,
    MEDIA,
    MEDIA2,
    PTZ,
    SERVICES,
    STANDARD_PATHS,
    SUBSCRIPTION,
    AccessClass,
    SimulatedDevice,
    service_path,
)
from .digest import challenge, digest_user
from .operation import (
    Call,
    EmptyAnswer,
    Hangup,
    Operation,
    invalid_arg,
    parse_boolean,
    response,
)
from .pullpoints import MOTION_TOPIC
from .security import authorize, authorize_level
from .soap import RECEIVER, SoapFault, fault_envelope, parse_request, serialize, sub
from .streaming import OPERATIONS as STREAMING_OPERATIONS
from .streaming import serve_snapshot, snapshot_path

SIMULATED_DEVICES: Final = web.AppKey("simulated_devices", dict[int, SimulatedDevice])

ONVIF_VERSION: Final = (2, 60)  # Major, Minor of every service reported by GetServices
DISCOVERY_MODES: Final = frozenset({"Discoverable", "NonDiscoverable"})
CAPABILITY_CATEGORIES: Final = frozenset(
    {"All", "Analytics", "Device", "Events", "Imaging", "Media", "PTZ"}
)
# The namespace of each service's WSDL, which its operations' request elements are in.
SERVICE_NAMESPACES: Final = MappingProxyType(
    {DEVICE: TDS, MEDIA: TRT, MEDIA2: TR2, IMAGING: TIMG, PTZ: TPTZ, EVENTS: TEV}
)
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


def get_system_date_and_time(call: Call) -> etree._Element:
    """tds:GetSystemDateAndTime: the device clock, in UTC (off by utc_time_error)."""
    now = call.device.now() + timedelta(seconds=call.device.utc_time_error)
    answer = response(call)
    system = sub(answer, tds("SystemDateAndTime"))
    sub(system, tt("DateTimeType"), "Manual")
    sub(system, tt("DaylightSavings"), "false")
    sub(sub(system, tt("TimeZone")), tt("TZ"), "UTC")
    _date_time(system, tt("UTCDateTime"), now)
    _date_time(system, tt("LocalDateTime"), now)
    if call.device.clock_unreadable:
        for element in system.iterdescendants():
            element.tag = tds(etree.QName(element).localname)
    return answer


def _service_capabilities(parent: etree._Element, device: SimulatedDevice, service: str) -> None:
    """The service's own GetServiceCapabilities element. Their children are attribute-only;
    zeep reads one without attributes as None, so each gets some."""
    if service == DEVICE:
        capabilities = sub(parent, tds("Capabilities"))
        for name, flags in DEVICE_SERVICE_CAPABILITIES.items():
            element = sub(capabilities, tds(name))
            for flag, value in flags.items():
                element.set(flag, value)
        return
    if service == EVENTS:
        events.capabilities(parent, device, events.tev("Capabilities"))
        return
    namespace = SERVICE_NAMESPACES[service]
    capabilities = sub(parent, qname(namespace, "Capabilities"))
    if service == IMAGING:
        capabilities.set("ImageStabilization", "false")
        return
    if service == PTZ:
        capabilities.set("MoveStatus", "true")
        capabilities.set("StatusPosition", "true")
        return
    capabilities.set("SnapshotUri", str("GetSnapshotUri" not in device.unsupported).lower())
    profile = sub(capabilities, qname(namespace, "ProfileCapabilities"))
    profile.set("MaximumNumberOfProfiles", str(device.max_profiles))
    streaming = sub(capabilities, qname(namespace, "StreamingCapabilities"))
    if service == MEDIA:
        streaming.set("RTPMulticast", "false")  # no streaming is simulated
    else:
        profile.set("ConfigurationsSupported", f"{media2.VIDEO_SOURCE} {media2.VIDEO_ENCODER}")
        streaming.set("RTSPStreaming", "false")


def get_services(call: Call) -> etree._Element:
    """tds:GetServices: the Device service and the other services the device offers."""
    include = call.args("IncludeCapability")
    include_capability = bool(include) and parse_boolean(include[0], "IncludeCapability")
    answer = response(call)
    device = call.device
    listed = (device.services | device.phantom_services) - device.unlisted_services
    for name in SERVICES:
        if name != DEVICE and name not in listed:
            continue
        service = sub(answer, tds("Service"))
        sub(service, tds("Namespace"), SERVICE_NAMESPACES[name])
        sub(service, tds("XAddr"), call.xaddr(name))
        if include_capability:
            _service_capabilities(sub(service, tds("Capabilities")), call.device, name)
        version = sub(service, tds("Version"))
        sub(version, tt("Major"), str(ONVIF_VERSION[0]))
        sub(version, tt("Minor"), str(ONVIF_VERSION[1]))
    return answer


def get_capabilities(call: Call) -> etree._Element:
    """tds:GetCapabilities: the Device category, Imaging and Media (Media1) where offered."""
    categories = {category.strip() for category in call.args("Category")} or {"All"}
    offered = {"Media": MEDIA, "Imaging": IMAGING, "PTZ": PTZ, "Events": EVENTS}
    supported = {"All", "Device"} | {
        category for category, service in offered.items() if service in call.device.services}
    for category in sorted(categories):
        if category not in CAPABILITY_CATEGORIES:
            raise invalid_arg(f"Unknown capability category {category!r}")
        if category not in supported:
            raise SoapFault(
                RECEIVER,
                ("ActionNotSupported", "NoSuchService"),
                f"The device has no {category} service",
            )
    answer = response(call)
    capabilities = sub(answer, tds("Capabilities"))
    if categories & {"All", "Device"}:
        sub(sub(capabilities, tt("Device")), tt("XAddr"), call.xaddr())
    # in tt:Capabilities' order: Device, Events, Imaging, Media
    if categories & {"All", "Events"} and EVENTS in call.device.services:
        events_element = sub(capabilities, tt("Events"))
        sub(events_element, tt("XAddr"), call.xaddr(EVENTS))
        for flag in ("WSSubscriptionPolicySupport", "WSPullPointSupport",
                     "WSPausableSubscriptionManagerInterfaceSupport"):
            pull_points = flag == "WSPullPointSupport" and not call.device.pull_point_support_denied
            sub(events_element, tt(flag), "true" if pull_points else "false")
    if categories & {"All", "Imaging"} and IMAGING in call.device.services:
        sub(sub(capabilities, tt("Imaging")), tt("XAddr"), call.xaddr(IMAGING))
    listed = call.device.services | call.device.phantom_services
    if categories & {"All", "Media"} and MEDIA in listed:
        media = sub(capabilities, tt("Media"))
        sub(media, tt("XAddr"), call.xaddr(MEDIA))
        sub(sub(media, tt("StreamingCapabilities")), tt("RTPMulticast"), "false")
        profiles = sub(sub(media, tt("Extension")), tt("ProfileCapabilities"))
        sub(profiles, tt("MaximumNumberOfProfiles"), str(call.device.max_profiles))
    if categories & {"All", "PTZ"} and PTZ in call.device.services:
        sub(sub(capabilities, tt("PTZ")), tt("XAddr"), call.xaddr(PTZ))
    return answer


def get_device_information(call: Call) -> etree._Element:
    """tds:GetDeviceInformation."""
    device = call.device
    answer = response(call)
    sub(answer, tds("Manufacturer"), device.manufacturer)
    sub(answer, tds("Model"), device.model)
    sub(answer, tds("FirmwareVersion"), device.firmware)
    sub(answer, tds("SerialNumber"), device.serial_number)
    sub(answer, tds("HardwareId"), device.hardware_id)
    return answer


def get_users(call: Call) -> etree._Element:
    """tds:GetUsers: names and levels, never passwords."""
    answer = response(call)
    if call.device.get_users_empty:
        return answer
    for username, user in call.device.users.items():
        entry = sub(answer, tds("User"))
        sub(entry, tt("Username"), username)
        sub(entry, tt("UserLevel"), user.level)
    return answer


def system_reboot(call: Call) -> etree._Element:
    """tds:SystemReboot: only counted, the simulated device keeps its state."""
    call.device.reboots += 1
    call.device.events.drop_all()  # a rebooted camera has forgotten its subscriptions
    return system_reboot_stub(call)


def system_reboot_stub(call: Call) -> etree._Element:
    answer = response(call)
    sub(answer, tds("Message"), "Rebooting in 0 seconds")
    return answer


def get_discovery_mode(call: Call) -> etree._Element:
    """tds:GetDiscoveryMode: the mode as it is, even one a test set outside tt:DiscoveryMode."""
    answer = response(call)
    mode = call.device.discovery_mode
    if call.device.discovery_mode_boolean:
        mode = {"Discoverable": "true", "NonDiscoverable": "false"}.get(mode, mode)
    sub(answer, tds("DiscoveryMode"), mode)
    return answer


def set_discovery_mode(call: Call) -> etree._Element:
    """tds:SetDiscoveryMode."""
    modes = call.args("DiscoveryMode")
    if len(modes) != 1 or modes[0] not in DISCOVERY_MODES:
        raise invalid_arg(f"DiscoveryMode must be one of {sorted(DISCOVERY_MODES)}")
    call.device.discovery_mode = modes[0]
    return response(call)


# The Device service's operations by the Clark name of their request element.
DEVICE_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        tds("GetSystemDateAndTime"): Operation(AccessClass.PRE_AUTH, get_system_date_and_time),
        tds("GetServices"): Operation(AccessClass.PRE_AUTH, get_services),
        tds("GetCapabilities"): Operation(AccessClass.PRE_AUTH, get_capabilities),
        tds("GetDeviceInformation"): Operation(AccessClass.READ_SYSTEM, get_device_information),
        tds("GetUsers"): Operation(AccessClass.READ_SYSTEM_SECRET, get_users),
        tds("SystemReboot"): Operation(
            AccessClass.UNRECOVERABLE, system_reboot, system_reboot_stub
        ),
        tds("GetDiscoveryMode"): Operation(AccessClass.READ_SYSTEM, get_discovery_mode),
        tds("SetDiscoveryMode"): Operation(AccessClass.WRITE_SYSTEM, set_discovery_mode),
    }
)


# Every implemented operation, of every service, by the Clark name of its request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {**DEVICE_OPERATIONS, **media1.OPERATIONS, **media2.OPERATIONS, **imaging.OPERATIONS,
     **ptz.OPERATIONS, **STREAMING_OPERATIONS, **events.EVENT_OPERATIONS}
)


def _misplace_namespace(answer: etree._Element) -> None:
    """Move the answer's direct children to the tt: namespace, as some cameras do."""
    for child in child_elements(answer):
        child.tag = tt(etree.QName(child).localname)


async def _answer(device: SimulatedDevice, service: str, request: web.Request,
                  data: bytes) -> bytes:
    """The serialized answer to one request to a service; raise SoapFault for a fault answer."""
    envelope = parse_request(data)
    name = etree.QName(envelope.operation).localname
    if name in device.close_unanswered:
        raise Hangup()
    if name in device.empty_reply:
        return b""
    if name in device.raw_replies:
        return device.raw_replies[name]
    namespace = etree.QName(envelope.operation).namespace
    if service == SUBSCRIPTION:  # a pull point: its operations are in two namespaces
        operation = events.SUBSCRIPTION_OPERATIONS.get(envelope.operation.tag)
        expected = namespace
    else:
        operation = OPERATIONS.get(envelope.operation.tag)
        if device.xaddr_without_path and service == DEVICE:
            # one address for every service: the operation's namespace says which
            service = next((s for s, ns in SERVICE_NAMESPACES.items() if ns == namespace),
                           service)
            if service != DEVICE and service not in device.services:
                operation = None
        expected = SERVICE_NAMESPACES[service]
    if (operation is None or namespace != expected or name in device.unsupported
            or f"{service}:{name}" in device.unsupported):
        raise SoapFault(RECEIVER, ("ActionNotSupported",), f"Operation {name} is not supported")
    if not device.ws_security:
        pass  # authentication off: nobody is asked who they are
    elif device.http_digest:
        user = digest_user(device, request)
        if user is None and operation.access is not AccessClass.PRE_AUTH:
            raise challenge(device)
        authorize_level(device, user, operation.access)
    else:
        authorize(device, envelope.header, operation.access)
    if name in device.faults:
        raise device.faults[name]
    device.calls.append((name, envelope.operation))
    if device.held_unanswered_next.get(name, 0) > 0:
        device.held_unanswered_next[name] -= 1
        await _held(request)
    if name in device.held_unanswered:
        await _held(request)
    if service == SUBSCRIPTION:
        events.check_addressing(device, envelope.header, request.path_qs)
    call = Call(device, request, envelope.operation)
    answer = operation.stub(call) if name in device.stub_writes else operation.handler(call)
    if inspect.isawaitable(answer):
        answer = await answer
    if device.wrong_namespace:
        _misplace_namespace(answer)
    return serialize(answer)


async def _held(request: web.Request) -> None:
    """Give no answer for as long as the client waits for one; then hang up."""
    # aiohttp tells a handler nothing of a client gone: its connection is looked at
    while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    raise Hangup()


def _soap_response(body: bytes, status: int) -> web.Response:
    return web.Response(
        body=body, status=status, content_type="application/soap+xml", charset="utf-8"
    )


def _fault_response(device: SimulatedDevice, fault: SoapFault) -> web.Response:
    """A fault, with the HTTP status and in the shape the device's switches say."""
    status = fault.http_status if device.fault_status is None else device.fault_status
    if device.sender_faults_500 and "NotAuthorized" not in fault.subcodes:
        status = 500
    body = fault_envelope(fault, device.fault_shape)
    if device.fault_shape == "text":
        status = 500 if device.fault_status is None else device.fault_status
        return web.Response(body=body, status=status, content_type="text/plain")
    return _soap_response(body, status)


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection with no answer; the response returned is never written."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()


class _Connections:
    """What one device remembers of its clients' connections (for the connection switches)."""

    def __init__(self) -> None:
        self.answered: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self.one_at_a_time = asyncio.Lock()


def _service_handler(
    device: SimulatedDevice, service: str, connections: _Connections
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if device.one_request_per_connection:
            async with connections.one_at_a_time:
                response = await answer(request)
            response.force_close()  # Connection: close
            return response
        transport = request.transport
        if device.drop_idle_connections and transport is not None:
            if transport in connections.answered:
                return _hang_up(request)
            connections.answered.add(transport)
        return await answer(request)

    async def answer(request: web.Request) -> web.StreamResponse:
        # Checked per request, so that a test may change device.services at any time.
        offered = EVENTS if service == SUBSCRIPTION else service
        if offered != DEVICE and offered not in device.services:
            raise web.HTTPNotFound()
        data = await request.read()
        # Every answer, faults included, is late by the same amount, like a slow camera's.
        if device.latency > 0:
            await asyncio.sleep(device.latency)
        try:
            return _soap_response(await _answer(device, service, request, data), 200)
        except SoapFault as fault:
            return _fault_response(device, fault)
        except Hangup:
            return _hang_up(request)
        except EmptyAnswer:
            return _soap_response(b"", 200)

    return handle


def _snapshot_handler(
    device: SimulatedDevice
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await serve_snapshot(request, device)

    return handle


def control_path(index: int) -> str:
    """Where a test (or a benchmark) raises events on a device: not ONVIF, the simulator's own."""
    return f"/dev/{index}/control/events"


def _control_handler(device: SimulatedDevice) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        """POST {"kind": "motion" | "input", "source": token, "state": true | false}; GET:
        the pull point counts (what a benchmark in another process checks)."""
        if request.method == "GET":
            counts = device.events
            return web.json_response({"created": counts.created, "live": len(counts.live()),
                                      "peak": counts.peak, "refused": counts.refused})
        try:
            body = json.loads(await request.read())
            kind, source, state = body["kind"], str(body["source"]), bool(body["state"])
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='send {"kind", "source", "state"}') from None
        if kind == "motion":
            device.trigger_motion(source, state)
        elif kind == "input":
            device.trigger_input(source, state)
        else:
            raise web.HTTPBadRequest(text="kind is motion or input")
        return web.Response(status=204)

    return handle


# How often the periodic-motion loop looks at the devices (SimulatedDevice.motion_every).
MOTION_TICK: Final = 0.1


async def _periodic_motion(app: web.Application) -> AsyncIterator[None]:
    """Toggle motion on the first video source of every device with motion_every set."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(MOTION_TICK)
            for device in app[SIMULATED_DEVICES].values():
                state = device.events
                if device.motion_every <= 0 or state.clock() < state.next_motion:
                    continue
                state.next_motion = state.clock() + device.motion_every
                source = next(iter(device.video_sources))
                moving = state.properties.get(
                    (MOTION_TOPIC, (("VideoSourceToken", source),), ("State",)))
                device.trigger_motion(source, moving is None or moving.data[0][1] != "true")

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _end_pull_points(app: web.Application) -> None:
    """Answer every waiting PullMessages now, so that shutting down waits for nobody."""
    for device in app[SIMULATED_DEVICES].values():
        device.events.drop_all()


def create_simulator_app(devices: Sequence[SimulatedDevice]) -> web.Application:
    """An app serving each device's services at service_path(device.index, service); a single
    device also at ONVIF's usual paths (STANDARD_PATHS: /onvif/device_service...)."""
    app = web.Application()
    app.cleanup_ctx.append(_periodic_motion)
    app.on_shutdown.append(_end_pull_points)
    by_index: dict[int, SimulatedDevice] = {}
    for device in devices:
        if device.index in by_index:
            raise ValueError(f"two simulated devices have index {device.index}")
        by_index[device.index] = device
        connections = _Connections()
        for service in SERVICES:
            handler = _service_handler(device, service, connections)
            app.router.add_post(service_path(device.index, service), handler)
            if len(devices) == 1:
                app.router.add_post(STANDARD_PATHS[service], handler)
        app.router.add_get(snapshot_path(device.index, "{profile}"),
                           _snapshot_handler(device))
        app.router.add_post(service_path(device.index, SUBSCRIPTION),
                            _service_handler(device, SUBSCRIPTION, connections))
        app.router.add_route("*", control_path(device.index), _control_handler(device))
    app[SIMULATED_DEVICES] = by_index
    return app
