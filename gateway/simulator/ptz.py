"""The ONVIF PTZ service (ver20, tptz): one pan/tilt/zoom head, moved over time.

One node (`ptz_node`) in ONVIF's generic spaces: pan and tilt positions -1..1, zoom 0..1,
velocities -1..1. A continuous move changes the position as the device's clock runs (`clock`,
injectable so tests move time by hand), at PAN_TILT_SPEED / ZOOM_SPEED per second at full
velocity, and stops at the limits. Absolute and relative moves, presets and the home position
arrive at once, or, with `SimulatedDevice.ptz_move_seconds`, that many seconds later (a real
head), MOVING on the way. Every profile in `SimulatedDevice.ptz_profiles` holds the one PTZ
configuration; the head, its presets and its home position are shared by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from lxml import etree

from gateway.soap.xml import TPTZ, TT, qname

from .device import AccessClass
from .operation import Call, Operation, invalid_arg, parse_boolean, response
from .soap import RECEIVER, SENDER, SoapFault, sub

if TYPE_CHECKING:
    from .device import SimulatedDevice

NODE: Final = "ptz_node"
CONFIGURATION: Final = "ptz_configuration"
PAN_TILT: Final = (-1.0, 1.0)  # pan and tilt position limits (generic space)
ZOOM: Final = (0.0, 1.0)
VELOCITY: Final = (-1.0, 1.0)
SPEED: Final = (0.0, 1.0)
PAN_TILT_SPEED: Final = 0.5  # position units per second at velocity 1
ZOOM_SPEED: Final = 0.25
MAX_PRESETS: Final = 8
SPACES: Final = "http://www.onvif.org/ver10/tptz/"
# tt:PTZSpaces children, in schema order: (element, URI, ranges: x or x and y)
NODE_SPACES: Final = (
    ("AbsolutePanTiltPositionSpace", "PanTiltSpaces/PositionGenericSpace", (PAN_TILT, PAN_TILT)),
    ("AbsoluteZoomPositionSpace", "ZoomSpaces/PositionGenericSpace", (ZOOM,)),
    ("RelativePanTiltTranslationSpace", "PanTiltSpaces/TranslationGenericSpace",
     ((-2.0, 2.0), (-2.0, 2.0))),
    ("RelativeZoomTranslationSpace", "ZoomSpaces/TranslationGenericSpace", ((-1.0, 1.0),)),
    ("ContinuousPanTiltVelocitySpace", "PanTiltSpaces/VelocityGenericSpace", (VELOCITY, VELOCITY)),
    ("ContinuousZoomVelocitySpace", "ZoomSpaces/VelocityGenericSpace", (VELOCITY,)),
    ("PanTiltSpeedSpace", "PanTiltSpaces/GenericSpeedSpace", (SPEED,)),
)


Position = tuple[float, float, float]  # pan, tilt, zoom


@dataclass
class Head:
    """The position of the PTZ head, and the continuous move under way (velocities, since when)."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    since: float = 0.0
    # A move to a position under way: from where, to where, its start and arrival times.
    journey: tuple[Position, Position, float, float] | None = None
    home: tuple[float, float, float] = (0.0, 0.0, 0.0)
    presets: dict[str, tuple[str, tuple[float, float, float]]] = field(default_factory=dict)

    def settle(self, now: float) -> None:
        """Bring the position up to `now` along the move under way: a continuous one (clamped at
        the limits) or one to a position (in a straight line)."""
        if self.journey is not None:
            start, target, began, arrives = self.journey
            share = 1.0 if now >= arrives else max(0.0, now - began) / (arrives - began)
            self.pan, self.tilt, self.zoom = (a + (b - a) * share
                                              for a, b in zip(start, target, strict=True))
            if share >= 1.0:
                self.journey = None
        elapsed = max(0.0, now - self.since)
        vpan, vtilt, vzoom = self.velocity
        self.pan = _clamp(self.pan + vpan * PAN_TILT_SPEED * elapsed, PAN_TILT)
        self.tilt = _clamp(self.tilt + vtilt * PAN_TILT_SPEED * elapsed, PAN_TILT)
        self.zoom = _clamp(self.zoom + vzoom * ZOOM_SPEED * elapsed, ZOOM)
        self.since = now

    @property
    def moving(self) -> tuple[bool, bool]:
        """Whether pan/tilt and zoom are moving (a velocity pushing into a limit is not)."""
        if self.journey is not None:
            target = self.journey[1]
            return (self.pan, self.tilt) != target[:2], self.zoom != target[2]
        vpan, vtilt, vzoom = self.velocity
        pan_tilt = any(v != 0 and _clamp(p + v, PAN_TILT) != p
                       for p, v in ((self.pan, vpan), (self.tilt, vtilt)))
        return pan_tilt, vzoom != 0 and _clamp(self.zoom + vzoom, ZOOM) != self.zoom


def _clamp(value: float, limits: tuple[float, float]) -> float:
    return min(max(value, limits[0]), limits[1])


def tptz(local: str) -> str:
    """Clark name in the PTZ service namespace."""
    return qname(TPTZ, local)


def tt(local: str) -> str:
    return qname(TT, local)


def _head(call: Call) -> Head:
    """The head a call's ProfileToken moves: ter:NoProfile for an unknown profile,
    ter:NoPTZProfile for one without the PTZ configuration."""
    device: SimulatedDevice = call.device
    token = call.required("ProfileToken")
    if token not in device.profiles:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoProfile"), f"No profile {token!r}")
    if token not in device.ptz_profiles:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoPTZProfile"),
                        f"Profile {token!r} has no PTZ configuration")
    device.ptz.settle(device.clock())
    return device.ptz


def _float(element: etree._Element | None, attribute: str, name: str) -> float | None:
    if element is None:
        return None
    text = element.get(attribute)
    if text is None:
        raise invalid_arg(f"{name} needs the attribute {attribute}")
    try:
        return float(text)
    except ValueError:
        raise invalid_arg(f"{name}@{attribute} is not an xs:float: {text!r}") from None


def _vector(call: Call, argument: str) -> tuple[float | None, float | None, float | None]:
    """pan, tilt, zoom of a tt:PTZVector or tt:PTZSpeed argument (None where left out)."""
    given = call.children(argument)
    if not given:
        return None, None, None
    pan_tilt = given[0].find(tt("PanTilt"))
    zoom = given[0].find(tt("Zoom"))
    if zoom is not None and not call.device.ptz_zoom:
        raise SoapFault(SENDER, ("InvalidArgVal", "SpaceNotSupported"),
                        f"{argument}.Zoom: this PTZ node has no zoom space")
    if pan_tilt is not None and not call.device.ptz_pan_tilt:
        raise SoapFault(SENDER, ("InvalidArgVal", "SpaceNotSupported"),
                        f"{argument}.PanTilt: No such space (this PTZ node zooms only)")
    return (_float(pan_tilt, "x", f"{argument}.PanTilt"),
            _float(pan_tilt, "y", f"{argument}.PanTilt"), _float(zoom, "x", f"{argument}.Zoom"))


def _within(values: tuple[float | None, ...], limits: tuple[tuple[float, float], ...],
            argument: str, subcode: str) -> None:
    names = ("PanTilt x", "PanTilt y", "Zoom x")
    for name, value, (low, high) in zip(names, values, limits, strict=True):
        if value is not None and not low <= value <= high:
            raise SoapFault(SENDER, ("InvalidArgVal", subcode),
                            f"{argument} {name} {value:g} is outside {low:g}..{high:g}")


def _go(call: Call, head: Head, pan: float | None, tilt: float | None,
        zoom: float | None) -> None:
    """Go to a position (what is None stays): at once, or in the device's ptz_move_seconds;
    any continuous move ends."""
    device: SimulatedDevice = call.device
    head.velocity = (0.0, 0.0, 0.0)
    target = (head.pan if pan is None else _clamp(pan, PAN_TILT),
              head.tilt if tilt is None else _clamp(tilt, PAN_TILT),
              head.zoom if zoom is None else _clamp(zoom, ZOOM))
    now = device.clock()
    head.journey = ((head.pan, head.tilt, head.zoom), target, now,
                    now + device.ptz_move_seconds)
    head.settle(now)


def _range(parent: etree._Element, tag: str, low: float, high: float) -> None:
    element = sub(parent, tag)
    sub(element, tt("Min"), f"{low:g}")
    sub(element, tt("Max"), f"{high:g}")


def _node(parent: etree._Element, tag: str, device: SimulatedDevice) -> None:
    node = sub(parent, tag)
    node.set("token", NODE)
    node.set("FixedHomePosition", "false")
    sub(node, tt("Name"), "PTZ head")
    spaces = sub(node, tt("SupportedPTZSpaces"))
    for element, uri, ranges in NODE_SPACES:
        if element.startswith("Relative") and not device.ptz_relative_move:
            continue
        if "Zoom" in element and not device.ptz_zoom:
            continue
        if "PanTilt" in element and not device.ptz_pan_tilt:
            continue
        space = sub(spaces, tt(element))
        sub(space, tt("URI"), SPACES + uri)
        for axis, (low, high) in zip(("XRange", "YRange"), ranges, strict=False):
            _range(space, tt(axis), low, high)
    sub(node, tt("MaximumNumberOfPresets"), str(MAX_PRESETS))
    sub(node, tt("HomeSupported"), "true")


def configuration(parent: etree._Element, tag: str, device: SimulatedDevice) -> None:
    """The one tt:PTZConfiguration (in PTZ answers and in Media profiles)."""
    element = sub(parent, tag)
    element.set("token", CONFIGURATION)
    sub(element, tt("Name"), "PTZ")
    sub(element, tt("UseCount"), "1")
    sub(element, tt("NodeToken"), NODE)
    # (sic: the schema spells it "Pant")
    if device.ptz_pan_tilt:
        sub(element, tt("DefaultAbsolutePantTiltPositionSpace"),
            SPACES + "PanTiltSpaces/PositionGenericSpace")
    if device.ptz_zoom:
        sub(element, tt("DefaultAbsoluteZoomPositionSpace"),
            SPACES + "ZoomSpaces/PositionGenericSpace")
    if device.ptz_pan_tilt:
        limits = sub(sub(element, tt("PanTiltLimits")), tt("Range"))
        sub(limits, tt("URI"), SPACES + "PanTiltSpaces/PositionGenericSpace")
        _range(limits, tt("XRange"), *PAN_TILT)
        _range(limits, tt("YRange"), *PAN_TILT)
    if not device.ptz_zoom:
        return
    zoom = sub(sub(element, tt("ZoomLimits")), tt("Range"))
    sub(zoom, tt("URI"), SPACES + "ZoomSpaces/PositionGenericSpace")
    _range(zoom, tt("XRange"), *ZOOM)


def _position(parent: etree._Element, tag: str, device: SimulatedDevice,
              position: Position) -> None:
    """A tt:PTZVector of the axes the head has."""
    pan, tilt, zoom = position
    vector = sub(parent, tag)
    if device.ptz_pan_tilt:
        pan_tilt = sub(vector, tt("PanTilt"))
        pan_tilt.set("x", f"{pan:.6g}")
        pan_tilt.set("y", f"{tilt:.6g}")
        pan_tilt.set("space", SPACES + "PanTiltSpaces/PositionGenericSpace")
    if not device.ptz_zoom:
        return
    zoom_element = sub(vector, tt("Zoom"))
    zoom_element.set("x", f"{zoom:.6g}")
    zoom_element.set("space", SPACES + "ZoomSpaces/PositionGenericSpace")


def get_nodes(call: Call) -> etree._Element:
    answer = response(call)
    for n in range(1, call.device.ptz_other_nodes + 1):  # heads no profile here uses
        other = sub(answer, tptz("PTZNode"))
        other.set("token", f"other_node_{n}")
        sub(other, tt("Name"), f"other head {n}")
        sub(other, tt("SupportedPTZSpaces"))
        sub(other, tt("MaximumNumberOfPresets"), "0")
        sub(other, tt("HomeSupported"), "false")
    if call.device.ptz_node_listed:
        _node(answer, tptz("PTZNode"), call.device)
    return answer


def get_node(call: Call) -> etree._Element:
    if call.required("NodeToken") != NODE:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoEntity"), "No such PTZ node")
    answer = response(call)
    _node(answer, tptz("PTZNode"), call.device)
    return answer


def get_configurations(call: Call) -> etree._Element:
    answer = response(call)
    configuration(answer, tptz("PTZConfiguration"), call.device)
    return answer


def get_configuration(call: Call) -> etree._Element:
    if call.required("PTZConfigurationToken") != CONFIGURATION:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoConfig"), "No such PTZ configuration")
    answer = response(call)
    configuration(answer, tptz("PTZConfiguration"), call.device)
    return answer


def get_status(call: Call) -> etree._Element:
    """tptz:GetStatus: where the head is now, and whether it moves."""
    head = _head(call)
    answer = response(call)
    status = sub(answer, tptz("PTZStatus"))
    _position(status, tt("Position"), call.device, (head.pan, head.tilt, head.zoom))
    if call.device.ptz_move_status:
        move = sub(status, tt("MoveStatus"))
        pan_tilt, zoom = head.moving
        if call.device.ptz_pan_tilt:
            sub(move, tt("PanTilt"), "MOVING" if pan_tilt else "IDLE")
        if call.device.ptz_zoom:
            sub(move, tt("Zoom"), "MOVING" if zoom else "IDLE")
    sub(status, tt("UtcTime"), call.device.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    return answer


def continuous_move(call: Call) -> etree._Element:
    """tptz:ContinuousMove: the head moves until Stop, a zero velocity or another move (the
    Timeout argument is not simulated: only the gateway's lease ends a move)."""
    head = _head(call)
    velocity = _vector(call, "Velocity")
    _within(velocity, (VELOCITY, VELOCITY, VELOCITY), "Velocity", "InvalidVelocity")
    head.velocity = (velocity[0] or 0.0, velocity[1] or 0.0, velocity[2] or 0.0)
    head.journey = None  # a move to a position ends where the head is now
    return response(call)


def absolute_move(call: Call) -> etree._Element:
    head = _head(call)
    position = _vector(call, "Position")
    _within(position, (PAN_TILT, PAN_TILT, ZOOM), "Position", "InvalidPosition")
    _go(call, head, *position)
    return response(call)


def relative_move(call: Call) -> etree._Element:
    if not call.device.ptz_relative_move:
        raise SoapFault(RECEIVER, ("ActionNotSupported",), "RelativeMove is not supported")
    head = _head(call)
    pan, tilt, zoom = _vector(call, "Translation")
    _within((pan, tilt, zoom), ((-2.0, 2.0), (-2.0, 2.0), (-1.0, 1.0)), "Translation",
            "InvalidTranslation")
    _go(call, head, head.pan + (pan or 0.0), head.tilt + (tilt or 0.0), head.zoom + (zoom or 0.0))
    return response(call)


def stop(call: Call) -> etree._Element:
    """tptz:Stop: pan/tilt, zoom or both (the default) stop where they are."""
    if call.device.ptz_stop_refused:
        raise SoapFault(RECEIVER, ("ActionNotSupported",), "Stop is not supported")
    head = _head(call)
    pan_tilt = [parse_boolean(text, "PanTilt") for text in call.args("PanTilt")]
    zoom = [parse_boolean(text, "Zoom") for text in call.args("Zoom")]
    # a node as strict as agsh/onvif#9's: an axis it lacks may not be named, even in Stop
    for named, has, axis in ((pan_tilt, call.device.ptz_pan_tilt, "pan/tilt"),
                             (zoom, call.device.ptz_zoom, "zoom")):
        if named and not has:
            raise SoapFault(SENDER, ("InvalidArgVal",), f"this PTZ node has no {axis}")
    stop_pan_tilt = pan_tilt[0] if pan_tilt else True
    stop_zoom = zoom[0] if zoom else True
    vpan, vtilt, vzoom = head.velocity
    head.velocity = (0.0 if stop_pan_tilt else vpan, 0.0 if stop_pan_tilt else vtilt,
                     0.0 if stop_zoom else vzoom)
    if head.journey is not None:  # the stopped axes stay where they are now
        here = (head.pan, head.tilt, head.zoom)
        _, going, _, arrives = head.journey
        target = (*(here if stop_pan_tilt else going)[:2], (here if stop_zoom else going)[2])
        head.journey = (here, target, call.device.clock(), arrives)
    return response(call)


def get_presets(call: Call) -> etree._Element:
    head = _head(call)
    answer = response(call)
    for token, (name, (pan, tilt, zoom)) in head.presets.items():
        preset = sub(answer, tptz("Preset"))
        preset.set("token", token)
        sub(preset, tt("Name"), name)
        _position(preset, tt("PTZPosition"), call.device, (pan, tilt, zoom))
    return answer


def set_preset(call: Call) -> etree._Element:
    """tptz:SetPreset: a new preset at the current position, or an existing one moved there."""
    head = _head(call)
    token, name = call.arg("PresetToken"), call.arg("PresetName")
    if token is not None and token not in head.presets:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoToken"), f"No preset {token!r}")
    if name is not None and any(n == name and t != token for t, (n, _) in head.presets.items()):
        raise SoapFault(SENDER, ("InvalidArgVal", "PresetExist"), f"A preset is named {name!r}")
    if token is None:
        if len(head.presets) >= MAX_PRESETS:
            raise SoapFault(RECEIVER, ("Action", "TooManyPresets"), "No room for a preset")
        token = next(f"preset_{n}" for n in range(1, MAX_PRESETS + 2)
                     if f"preset_{n}" not in head.presets)
        name = name or token
    head.presets[token] = (name or head.presets[token][0], (head.pan, head.tilt, head.zoom))
    answer = response(call)
    sub(answer, tptz("PresetToken"), token)
    return answer


def _preset(call: Call, head: Head) -> str:
    token = call.required("PresetToken")
    if token not in head.presets:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoToken"), f"No preset {token!r}")
    return token


def goto_preset(call: Call) -> etree._Element:
    head = _head(call)
    _go(call, head, *head.presets[_preset(call, head)][1])
    return response(call)


def remove_preset(call: Call) -> etree._Element:
    head = _head(call)
    del head.presets[_preset(call, head)]
    return response(call)


def goto_home_position(call: Call) -> etree._Element:
    head = _head(call)
    _go(call, head, *head.home)
    return response(call)


def set_home_position(call: Call) -> etree._Element:
    head = _head(call)
    head.home = (head.pan, head.tilt, head.zoom)
    return response(call)


# The PTZ service's operations by the Clark name of their request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    tptz("GetNodes"): Operation(AccessClass.READ_MEDIA, get_nodes),
    tptz("GetNode"): Operation(AccessClass.READ_MEDIA, get_node),
    tptz("GetConfigurations"): Operation(AccessClass.READ_MEDIA, get_configurations),
    tptz("GetConfiguration"): Operation(AccessClass.READ_MEDIA, get_configuration),
    tptz("GetStatus"): Operation(AccessClass.READ_MEDIA, get_status),
    tptz("GetPresets"): Operation(AccessClass.READ_MEDIA, get_presets),
    tptz("ContinuousMove"): Operation(AccessClass.ACTUATE, continuous_move),
    tptz("AbsoluteMove"): Operation(AccessClass.ACTUATE, absolute_move),
    tptz("RelativeMove"): Operation(AccessClass.ACTUATE, relative_move),
    tptz("Stop"): Operation(AccessClass.ACTUATE, stop),
    tptz("SetPreset"): Operation(AccessClass.ACTUATE, set_preset),
    tptz("GotoPreset"): Operation(AccessClass.ACTUATE, goto_preset),
    tptz("RemovePreset"): Operation(AccessClass.ACTUATE, remove_preset),
    tptz("GotoHomePosition"): Operation(AccessClass.ACTUATE, goto_home_position),
    tptz("SetHomePosition"): Operation(AccessClass.ACTUATE, set_home_position),
})
