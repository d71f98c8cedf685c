"""Audio encoder configurations, in Media1 (trt) and Media2 (tr2): listed, their options, their
encoding changed, and added to or removed from profiles. The simulated device has no audio input
to encode: what matters here is that a profile can hold an audio encoder configuration, its
encoding and its UseCount."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from lxml import etree

from gateway.soap.xml import TR2, TRT, qname

from .device import AccessClass, SimulatedDevice
from .media import config_modify, find_profile, no_config, no_multicast, text, tt
from .operation import Call, Operation, invalid_arg, response
from .soap import sub

AUDIO_ENCODER: Final = "AudioEncoder"  # its tr2:ConfigurationEnumeration value
# Media2 names an encoding by its MIME subtype (tt:AudioEncodingMimeNames), Media1 by
# tt:AudioEncoding.
MEDIA2_ENCODINGS: Final = MappingProxyType({"G711": "PCMU", "G726": "G726", "AAC": "MP4A-LATM"})


@dataclass
class AudioEncoderConfiguration:
    """One audio encoder setting (tt:AudioEncoderConfiguration, tt:AudioEncoder2Configuration)."""

    name: str
    encoding: str  # G711, G726 or AAC
    bitrate: int = 64  # kbit/s
    sample_rate: int = 8  # kHz


def default_audio_encoder_configurations() -> dict[str, AudioEncoderConfiguration]:
    """aec1 (G711) and aec2 (AAC), named audio_configuration1 and 2, in no profile."""
    return {
        "aec1": AudioEncoderConfiguration("audio_configuration1", "G711"),
        "aec2": AudioEncoderConfiguration("audio_configuration2", "AAC", 128, 16),
    }


def find(device: SimulatedDevice, token: str) -> AudioEncoderConfiguration:
    configuration = device.audio_encoder_configurations.get(token)
    if configuration is None:
        raise no_config(token)
    return configuration


def held(device: SimulatedDevice, token: str) -> str | None:
    """The audio encoder configuration a profile holds, if it still exists."""
    held = device.profiles[token].audio_encoder
    return held if held in device.audio_encoder_configurations else None


def use_count(device: SimulatedDevice, token: str) -> int:
    return sum(p.audio_encoder == token for p in device.profiles.values())


def media2_name(device: SimulatedDevice, encoding: str) -> str:
    """The name Media2 gives an encoding on this device (its MIME name, unless the device names
    it its own way: media2_audio_names)."""
    return device.media2_audio_names.get(encoding, MEDIA2_ENCODINGS[encoding])


def configuration(parent: etree._Element, tag: str, device: SimulatedDevice, token: str,
                  media2: bool) -> None:
    """A tt:AudioEncoderConfiguration (Media1) or tt:AudioEncoder2Configuration (Media2)."""
    found = device.audio_encoder_configurations[token]
    element = sub(parent, tag)
    element.set("token", token)
    sub(element, tt("Name"), found.name)
    sub(element, tt("UseCount"), str(use_count(device, token)))
    sub(element, tt("Encoding"), media2_name(device, found.encoding) if media2 else found.encoding)
    if not media2:  # Media1's order: Bitrate and SampleRate before Multicast
        sub(element, tt("Bitrate"), str(found.bitrate))
        sub(element, tt("SampleRate"), str(found.sample_rate))
    no_multicast(element)
    if media2:
        sub(element, tt("Bitrate"), str(found.bitrate))
        sub(element, tt("SampleRate"), str(found.sample_rate))
    else:
        sub(element, tt("SessionTimeout"), "PT60S")


def _configurations(call: Call, tag: str, media2: bool) -> etree._Element:
    device = call.device
    wanted = call.arg("ConfigurationToken")
    if wanted is not None:
        find(device, wanted)
    answer = response(call)
    for token in [wanted] if wanted is not None else list(device.audio_encoder_configurations):
        configuration(answer, tag, device, token, media2)
    return answer


def get_configurations_1(call: Call) -> etree._Element:
    """trt:GetAudioEncoderConfigurations."""
    return _configurations(call, qname(TRT, "Configurations"), media2=False)


def get_configurations_2(call: Call) -> etree._Element:
    """tr2:GetAudioEncoderConfigurations (all, or the one of ConfigurationToken)."""
    return _configurations(call, qname(TR2, "Configurations"), media2=True)


def _options(call: Call, parent: etree._Element, tag: str, media2: bool) -> None:
    """One option set per encoding the device offers (all three), by the service's names."""
    token = call.arg("ConfigurationToken")
    if token is not None:
        find(call.device, token)
    for encoding in MEDIA2_ENCODINGS:
        options = sub(parent, tag)
        sub(options, tt("Encoding"), media2_name(call.device, encoding) if media2 else encoding)
        sub(sub(options, tt("BitrateList")), tt("Items"), "64 128")
        sub(sub(options, tt("SampleRateList")), tt("Items"), "8 16")


def get_options_1(call: Call) -> etree._Element:
    """trt:GetAudioEncoderConfigurationOptions: a tt:AudioEncoderConfigurationOptions."""
    answer = response(call)
    _options(call, sub(answer, qname(TRT, "Options")), tt("Options"), media2=False)
    return answer


def get_options_2(call: Call) -> etree._Element:
    """tr2:GetAudioEncoderConfigurationOptions: a tt:AudioEncoder2ConfigurationOptions each."""
    answer = response(call)
    _options(call, answer, qname(TR2, "Options"), media2=True)
    return answer


def _set(call: Call, media2: bool) -> etree._Element:
    """Set...AudioEncoderConfiguration: the name and encoding (by the service's names: a Media2
    name the device does not use is refused, as a device offering only its own would);
    Bitrate, SampleRate, Multicast and SessionTimeout are accepted and ignored."""
    configurations = call.children("Configuration")
    if not configurations:
        raise invalid_arg("The argument Configuration is missing")
    found = find(call.device, (configurations[0].get("token") or "").strip())
    names = {media2_name(call.device, e) if media2 else e: e for e in MEDIA2_ENCODINGS}
    encoding = text(configurations[0], "Encoding")
    if encoding is not None and encoding not in names:
        raise config_modify(f"The device offers no audio encoding {encoding!r}")
    name = text(configurations[0], "Name")
    if name:
        found.name = name
    if encoding is not None:
        found.encoding = names[encoding]
    return response(call)


def set_1(call: Call) -> etree._Element:
    """trt:SetAudioEncoderConfiguration."""
    return _set(call, media2=False)


def set_2(call: Call) -> etree._Element:
    """tr2:SetAudioEncoderConfiguration."""
    return _set(call, media2=True)


def add_1(call: Call) -> etree._Element:
    """trt:AddAudioEncoderConfiguration: replaces the profile's audio encoder, if any."""
    profile = find_profile(call.device, call.required("ProfileToken"))
    token = call.required("ConfigurationToken")
    find(call.device, token)
    profile.audio_encoder = token
    return response(call)


def remove_1(call: Call) -> etree._Element:
    """trt:RemoveAudioEncoderConfiguration."""
    find_profile(call.device, call.required("ProfileToken")).audio_encoder = None
    return response(call)


# The Media1 operations; Media2 adds and removes with AddConfiguration/RemoveConfiguration.
MEDIA1_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    qname(TRT, "GetAudioEncoderConfigurations"): Operation(AccessClass.READ_MEDIA,
                                                           get_configurations_1),
    qname(TRT, "GetAudioEncoderConfigurationOptions"): Operation(AccessClass.READ_MEDIA,
                                                                 get_options_1),
    qname(TRT, "SetAudioEncoderConfiguration"): Operation(AccessClass.ACTUATE, set_1),
    qname(TRT, "AddAudioEncoderConfiguration"): Operation(AccessClass.ACTUATE, add_1),
    qname(TRT, "RemoveAudioEncoderConfiguration"): Operation(AccessClass.ACTUATE, remove_1),
})
MEDIA2_OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({
    qname(TR2, "GetAudioEncoderConfigurations"): Operation(AccessClass.READ_MEDIA,
                                                           get_configurations_2),
    qname(TR2, "GetAudioEncoderConfigurationOptions"): Operation(AccessClass.READ_MEDIA,
                                                                 get_options_2),
    qname(TR2, "SetAudioEncoderConfiguration"): Operation(AccessClass.ACTUATE, set_2),
})
