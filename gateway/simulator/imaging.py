"""The ONVIF Imaging service (ver20, timg): a video source's image settings, their options, focus.

Every setting is a row of SETTINGS: where it is in tt:ImagingSettings20, the attribute of
ImagingSettings holding it, and what it may be (a range, or the modes offered). GetOptions
reports exactly those, and SetImagingSettings refuses anything outside them (all or nothing),
as a camera does. Focus moves continuously with the device's clock (`SimulatedDevice.clock`),
from 0 (near) to 1 (far), until Stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lxml import etree

from gateway.soap.xml import TIMG, TT, qname

from .device import AccessClass, SimulatedDevice
from .operation import Call, Operation, invalid_arg, response
from .soap import SENDER, SoapFault, sub

LEVEL_RANGE: Final = (0.0, 100.0)  # brightness, colour saturation, contrast, sharpness...
FOCUS_SPEED: Final = (-1.0, 1.0)  # continuous focus speeds: position units per second


@dataclass
class ImagingSettings:
    """A video source's image settings (tt:ImagingSettings20, the simulated part) and its focus
    (position, and the continuous move under way)."""

    brightness: float = 50.0
    color_saturation: float = 50.0
    contrast: float = 50.0
    sharpness: float = 50.0
    backlight_mode: str = "OFF"
    backlight_level: float = 0.0
    exposure_mode: str = "AUTO"
    exposure_time: float = 10000.0  # microseconds
    exposure_gain: float = 0.0
    exposure_iris: float = 0.0
    focus_mode: str = "AUTO"
    focus_default_speed: float = 0.5
    focus_near_limit: float = 0.0
    focus_far_limit: float = 0.0  # 0: infinity
    ir_cut_filter: str = "AUTO"
    wdr_mode: str = "OFF"
    wdr_level: float = 50.0
    wb_mode: str = "AUTO"
    wb_cr_gain: float = 128.0
    wb_cb_gain: float = 128.0
    focus_position: float = 0.5
    focus_speed: float = 0.0
    focus_since: float = 0.0


# (element path in tt:ImagingSettings20, in schema order; attribute; range or modes offered)
SETTINGS: Final = (
    (("BacklightCompensation", "Mode"), "backlight_mode", ("OFF", "ON")),
    (("BacklightCompensation", "Level"), "backlight_level", LEVEL_RANGE),
    (("Brightness",), "brightness", LEVEL_RANGE),
    (("ColorSaturation",), "color_saturation", LEVEL_RANGE),
    (("Contrast",), "contrast", LEVEL_RANGE),
    (("Exposure", "Mode"), "exposure_mode", ("AUTO", "MANUAL")),
    (("Exposure", "ExposureTime"), "exposure_time", (10.0, 40000.0)),
    (("Exposure", "Gain"), "exposure_gain", (0.0, 100.0)),
    (("Exposure", "Iris"), "exposure_iris", (-22.0, 0.0)),
    (("Focus", "AutoFocusMode"), "focus_mode", ("AUTO", "MANUAL")),
    (("Focus", "DefaultSpeed"), "focus_default_speed", (0.0, 1.0)),
    (("Focus", "NearLimit"), "focus_near_limit", (0.0, 10.0)),
    (("Focus", "FarLimit"), "focus_far_limit", (0.0, 10.0)),
    (("IrCutFilter",), "ir_cut_filter", ("ON", "OFF", "AUTO")),
    (("Sharpness",), "sharpness", LEVEL_RANGE),
    (("WideDynamicRange", "Mode"), "wdr_mode", ("OFF", "ON")),
    (("WideDynamicRange", "Level"), "wdr_level", LEVEL_RANGE),
    (("WhiteBalance", "Mode"), "wb_mode", ("AUTO", "MANUAL")),
    (("WhiteBalance", "CrGain"), "wb_cr_gain", (0.0, 255.0)),
    (("WhiteBalance", "CbGain"), "wb_cb_gain", (0.0, 255.0)),
)
# Where tt:ImagingOptions20 names a setting otherwise (mode lists in the plural; ONVIF's options
# call the white balance gains Yr and Yb).
OPTION_NAMES: Final = MappingProxyType({"AutoFocusMode": "AutoFocusModes",
                                        "IrCutFilter": "IrCutFilterModes",
                                        "CrGain": "YrGain", "CbGain": "YbGain"})


def timg(local: str) -> str:
    """Clark name in the Imaging service namespace."""
    return qname(TIMG, local)


def _settings(call: Call) -> ImagingSettings:
    """The settings of the VideoSourceToken argument's source; ter:NoSource if it has none.
    The focus is brought up to the device's clock."""
    token = call.required("VideoSourceToken")
    device: SimulatedDevice = call.device
    if token not in device.video_sources:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoSource"), f"No video source {token!r}")
    settings = device.imaging.setdefault(token, ImagingSettings(focus_since=device.clock()))
    now = device.clock()
    moved = settings.focus_position + settings.focus_speed * (now - settings.focus_since)
    settings.focus_position = min(max(moved, 0.0), 1.0)
    settings.focus_since = now
    if settings.focus_position in (0.0, 1.0):
        settings.focus_speed = 0.0  # at its end stop
    return settings


def _tree(parent: etree._Element, rows: Sequence[tuple[tuple[str, ...], str]]) -> None:
    """Elements at these paths (in schema order), with these texts, parents made once."""
    made: dict[tuple[str, ...], etree._Element] = {}
    for path, text in rows:
        at = parent
        for depth in range(1, len(path)):
            if path[:depth] not in made:
                made[path[:depth]] = sub(at, qname(TT, path[depth - 1]))
            at = made[path[:depth]]
        sub(at, qname(TT, path[-1]), text)


def _spoken(device: SimulatedDevice, path: tuple[str, ...], mode: str) -> str:
    """A mode as the device writes it: the IR cut filter's in mixed case ("Auto") on a device
    with ir_cut_filter_mixed_case."""
    if device.ir_cut_filter_mixed_case and path[-1] in ("IrCutFilter", "IrCutFilterModes"):
        return mode.capitalize()
    return mode


def _holder(call: Call, answer: etree._Element, name: str) -> etree._Element:
    """The answer's ImagingSettings or ImagingOptions element; with imaging_token_inside, the
    requested token first in it."""
    holder = sub(answer, timg(name))
    if call.device.imaging_token_inside:
        sub(holder, qname(TT, "VideoSourceToken"), call.required("VideoSourceToken"))
    return holder


def get_imaging_settings(call: Call) -> etree._Element:
    """timg:GetImagingSettings."""
    settings = _settings(call)
    answer = response(call)
    values = [(path, _spoken(call.device, path, value)
               if isinstance(value := getattr(settings, name), str) else f"{value:g}")
              for path, name, _ in SETTINGS]
    _tree(_holder(call, answer, "ImagingSettings"), values)
    return answer


def get_options(call: Call) -> etree._Element:
    """timg:GetOptions: the range or the modes of every setting."""
    _settings(call)
    answer = response(call)
    options = _holder(call, answer, "ImagingOptions")
    if call.device.imaging_options_empty:
        return answer
    rows: list[tuple[tuple[str, ...], str]] = []
    for path, _, allowed in SETTINGS:
        named = tuple(OPTION_NAMES.get(part, part) for part in path)
        if isinstance(allowed[0], str):
            rows += [(named, _spoken(call.device, named, str(mode))) for mode in allowed]
        else:
            rows += [((*named, "Min"), f"{allowed[0]:g}"), ((*named, "Max"), f"{allowed[1]:g}")]
    _tree(options, rows)
    return answer


def set_imaging_settings(call: Call) -> etree._Element:
    """timg:SetImagingSettings: the settings given are checked, then all set (or none); what is
    left out stays as it is."""
    settings = _settings(call)
    given = call.children("ImagingSettings")
    if len(given) != 1:
        raise invalid_arg("The argument ImagingSettings is missing")
    changes: dict[str, float | str] = {}
    for path, name, allowed in SETTINGS:
        element = given[0].find("/".join(qname(TT, part) for part in path))
        if element is None:
            continue
        text = (element.text or "").strip()
        where = ".".join(path)
        if isinstance(allowed[0], str):
            if call.device.ir_cut_filter_mixed_case and path == ("IrCutFilter",):
                text = text.upper()  # taken in any case
            if text not in allowed:
                raise SoapFault(SENDER, ("InvalidArgVal", "SettingsInvalid"),
                                f"{where} {text!r} is not one of {', '.join(map(str, allowed))}")
            changes[name] = text
            continue
        try:
            value = float(text)
        except ValueError:
            raise invalid_arg(f"{where} is not an xs:float") from None
        low, high = float(allowed[0]), float(allowed[1])
        if not low <= value <= high:
            raise SoapFault(SENDER, ("InvalidArgVal", "SettingsInvalid"),
                            f"{where} {value:g} is outside {low:g}-{high:g}")
        changes[name] = value
    for name, change in changes.items():
        setattr(settings, name, change)
    return response(call)


def get_move_options(call: Call) -> etree._Element:
    """timg:GetMoveOptions: continuous focus moves only."""
    _settings(call)
    answer = response(call)
    speeds = [(("Continuous", "Speed", "Min"), f"{FOCUS_SPEED[0]:g}"),
              (("Continuous", "Speed", "Max"), f"{FOCUS_SPEED[1]:g}")]
    _tree(sub(answer, timg("MoveOptions")), speeds)
    return answer


def move(call: Call) -> etree._Element:
    """timg:Move: a continuous focus move (absolute and relative ones are not offered)."""
    settings = _settings(call)
    focus = call.children("Focus")
    speed = focus[0].findtext(f"{qname(TT, 'Continuous')}/{qname(TT, 'Speed')}") if focus else None
    if speed is None:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoImagingForSource"),
                        "Only continuous focus moves are supported")
    try:
        value = float(speed)
    except ValueError:
        raise invalid_arg("Speed is not an xs:float") from None
    if not FOCUS_SPEED[0] <= value <= FOCUS_SPEED[1]:
        raise SoapFault(SENDER, ("InvalidArgVal", "SettingsInvalid"),
                        f"Speed {value:g} is outside {FOCUS_SPEED[0]:g}-{FOCUS_SPEED[1]:g}")
    settings.focus_speed = value
    return response(call)


def stop(call: Call) -> etree._Element:
    """timg:Stop: the focus stops where it is."""
    _settings(call).focus_speed = 0.0
    return response(call)


def get_status(call: Call) -> etree._Element:
    """timg:GetStatus: the focus position and whether it moves."""
    settings = _settings(call)
    answer = response(call)
    _tree(sub(answer, timg("Status")), [
        (("FocusStatus20", "Position"), f"{settings.focus_position:.6g}"),
        (("FocusStatus20", "MoveStatus"), "MOVING" if settings.focus_speed else "IDLE")])
    return answer


# The Imaging service's operations by the Clark name of their request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    timg("GetImagingSettings"): Operation(AccessClass.READ_MEDIA, get_imaging_settings),
    timg("SetImagingSettings"): Operation(AccessClass.ACTUATE, set_imaging_settings),
    timg("GetOptions"): Operation(AccessClass.READ_MEDIA, get_options),
    timg("GetMoveOptions"): Operation(AccessClass.READ_MEDIA, get_move_options),
    timg("Move"): Operation(AccessClass.ACTUATE, move),
    timg("Stop"): Operation(AccessClass.ACTUATE, stop),
    timg("GetStatus"): Operation(AccessClass.READ_MEDIA, get_status),
})
