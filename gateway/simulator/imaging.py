"""The ONVIF Imaging service (ver20, timg), minimal: a video source's image settings, read and set.

Only the four plain levels of tt:ImagingSettings20 are simulated (brightness, colour saturation,
contrast, sharpness, each 0-100); exposure, focus, white balance and the options calls are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lxml import etree

from .device import AccessClass, SimulatedDevice
from .operation import Call, Operation, invalid_arg, response
from .soap import SENDER, TIMG, TT, SoapFault, qname, sub

# The simulated range of every level (real devices report theirs in GetOptions).
LEVEL_RANGE: Final = (0.0, 100.0)
# tt:ImagingSettings20 children simulated, in schema order, by the attribute holding each.
LEVELS: Final = MappingProxyType({
    "Brightness": "brightness",
    "ColorSaturation": "color_saturation",
    "Contrast": "contrast",
    "Sharpness": "sharpness",
})


@dataclass
class ImagingSettings:
    """A video source's image levels (tt:ImagingSettings20, the simulated part)."""

    brightness: float = 50.0
    color_saturation: float = 50.0
    contrast: float = 50.0
    sharpness: float = 50.0


def timg(local: str) -> str:
    """Clark name in the Imaging service namespace."""
    return qname(TIMG, local)


def _settings(call: Call) -> ImagingSettings:
    """The settings of the VideoSourceToken argument's source; ter:NoSource if it has none."""
    token = call.required("VideoSourceToken")
    device: SimulatedDevice = call.device
    if token not in device.video_sources:
        raise SoapFault(SENDER, ("InvalidArgVal", "NoSource"), f"No video source {token!r}")
    return device.imaging.setdefault(token, ImagingSettings())


def get_imaging_settings(call: Call) -> etree._Element:
    """timg:GetImagingSettings."""
    settings = _settings(call)
    answer = response(call)
    element = sub(answer, timg("ImagingSettings"))
    for tag, attribute in LEVELS.items():
        sub(element, qname(TT, tag),
            f"{getattr(settings, attribute):g}")
    return answer


def set_imaging_settings(call: Call) -> etree._Element:
    """timg:SetImagingSettings: the levels given are checked, then all set (or none)."""
    settings = _settings(call)
    given = call.children("ImagingSettings")
    if len(given) != 1:
        raise invalid_arg("The argument ImagingSettings is missing")
    changes: dict[str, float] = {}
    for tag, attribute in LEVELS.items():
        element = given[0].find(qname(TT, tag))
        if element is None:
            continue
        try:
            value = float((element.text or "").strip())
        except ValueError:
            raise invalid_arg(f"{tag} is not an xs:float") from None
        if not LEVEL_RANGE[0] <= value <= LEVEL_RANGE[1]:
            raise SoapFault(SENDER, ("InvalidArgVal", "SettingsInvalid"),
                            f"{tag} {value:g} is outside {LEVEL_RANGE[0]:g}-{LEVEL_RANGE[1]:g}")
        changes[attribute] = value
    for attribute, value in changes.items():
        setattr(settings, attribute, value)
    return response(call)


# The Imaging service's operations by the Clark name of their request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    timg("GetImagingSettings"): Operation(AccessClass.READ_MEDIA, get_imaging_settings),
    timg("SetImagingSettings"): Operation(AccessClass.ACTUATE, set_imaging_settings),
})
