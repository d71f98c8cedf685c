"""The ONVIF Media service (ver10, trt): the Profile S view of the device's media."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from lxml import etree

from gateway.soap.xml import TRT, qname

from . import audio, media, ptz
from .device import PTZ, AccessClass, SimulatedDevice
from .media import (
    FRAME_RATE_RANGE,
    GOV_LENGTH_RANGE,
    H264,
    JPEG,
    MEDIA1_CODECS,
    MEDIA1_MPEG4_PROFILES,
    MPEG4,
    QUALITY_RANGE,
    RESOLUTIONS,
    config_modify,
    no_multicast,
    number,
    put,
    resolution,
    text,
    tt,
    value_range,
)
from .operation import Call, Operation, invalid_arg, parse_boolean, response
from .soap import sub

SESSION_TIMEOUT: Final = "PT60S"
ENCODING_INTERVAL_RANGE: Final = (1, 1)  # every frame is encoded


def trt(local: str) -> str:
    """Clark name in the Media service namespace."""
    return qname(TRT, local)


def _video_encoder_configuration(
    parent: etree._Element, tag: str, device: SimulatedDevice, token: str
) -> None:
    encoder = device.video_encoder_configurations[token]
    element = sub(parent, tag)
    element.set("token", token)
    sub(element, tt("Name"), encoder.name)
    sub(element, tt("UseCount"), str(device.video_encoder_use_count(token)))
    sub(element, tt("Encoding"), encoder.encoding)
    resolution(element, tt("Resolution"), encoder.width, encoder.height)
    sub(element, tt("Quality"), str(encoder.quality))
    rate_control = sub(element, tt("RateControl"))
    sub(rate_control, tt("FrameRateLimit"), str(round(encoder.frame_rate)))  # an xs:int here
    sub(rate_control, tt("EncodingInterval"), str(ENCODING_INTERVAL_RANGE[0]))
    sub(rate_control, tt("BitrateLimit"), str(encoder.bitrate))
    if encoder.encoding == MPEG4:
        mpeg4 = sub(element, tt("MPEG4"))
        sub(mpeg4, tt("GovLength"), str(encoder.gov_length))
        sub(mpeg4, tt("Mpeg4Profile"), MEDIA1_MPEG4_PROFILES[encoder.profile])
    elif encoder.encoding == H264:
        h264 = sub(element, tt("H264"))
        sub(h264, tt("GovLength"), str(encoder.gov_length))
        sub(h264, tt("H264Profile"), encoder.profile)
    no_multicast(element)
    sub(element, tt("SessionTimeout"), SESSION_TIMEOUT)


def _visible_encoder(device: SimulatedDevice, token: str) -> bool:
    """Whether Media1 can show this encoder configuration: an H265 one it cannot."""
    encoder = device.video_encoder_configurations.get(token)
    return encoder is not None and encoder.encoding in MEDIA1_CODECS


def _profile(parent: etree._Element, tag: str, device: SimulatedDevice, token: str) -> None:
    profile = device.profiles[token]
    element = sub(parent, tag)
    element.set("token", token)
    element.set("fixed", "true" if profile.fixed else "false")
    sub(element, tt("Name"), profile.name)
    source, encoder = media.held_configurations(device, profile)
    if source is not None:
        media.video_source_configuration(element, tt("VideoSourceConfiguration"), device, source)
    if encoder is not None and _visible_encoder(device, encoder):
        _video_encoder_configuration(element, tt("VideoEncoderConfiguration"), device, encoder)
    if (audio_encoder := audio.held(device, token)) is not None:
        audio.configuration(element, tt("AudioEncoderConfiguration"), device, audio_encoder,
                            media2=False)
    if token in device.ptz_profiles and PTZ in device.services:
        ptz.configuration(element, tt("PTZConfiguration"), device)


def get_video_sources(call: Call) -> etree._Element:
    answer = response(call)
    for token, source in call.device.video_sources.items():
        media.video_source(answer, trt("VideoSources"), token, source)
    return answer


def get_video_source_configurations(call: Call) -> etree._Element:
    answer = response(call)
    for token in call.device.video_source_configurations:
        media.video_source_configuration(answer, trt("Configurations"), call.device, token)
    return answer


def get_video_encoder_configurations(call: Call) -> etree._Element:
    """Only the configurations whose encoding Media1 can express."""
    answer = response(call)
    for token in call.device.video_encoder_configurations:
        if _visible_encoder(call.device, token):
            _video_encoder_configuration(answer, trt("Configurations"), call.device, token)
    return answer


def get_video_encoder_configuration_options(call: Call) -> etree._Element:
    """The same options for every configuration and profile; the tokens must exist."""
    device = call.device
    configuration, profile = call.arg("ConfigurationToken"), call.arg("ProfileToken")
    if configuration is not None:
        media.find_video_encoder_configuration(device, configuration, MEDIA1_CODECS)
    if profile is not None:
        media.find_profile(device, profile)
    answer = response(call)
    options = sub(answer, trt("Options"))
    if device.empty_encoder_options:
        return answer
    value_range(options, tt("QualityRange"), *QUALITY_RANGE)
    for codec in MEDIA1_CODECS:
        if codec not in device.codecs:
            continue
        codec_options = sub(options, tt(codec))  # tt:JPEG, tt:MPEG4, tt:H264
        for width, height in RESOLUTIONS:
            resolution(codec_options, tt("ResolutionsAvailable"), width, height)
        if codec != JPEG:
            value_range(codec_options, tt("GovLengthRange"), *GOV_LENGTH_RANGE)
        value_range(codec_options, tt("FrameRateRange"), *FRAME_RATE_RANGE)
        value_range(codec_options, tt("EncodingIntervalRange"), *ENCODING_INTERVAL_RANGE)
        for name in media.CODEC_PROFILES[codec]:
            if codec == MPEG4:
                sub(codec_options, tt("Mpeg4ProfilesSupported"), MEDIA1_MPEG4_PROFILES[name])
            else:
                sub(codec_options, tt("H264ProfilesSupported"), name)
    return answer


def get_profiles(call: Call) -> etree._Element:
    answer = response(call)
    for token in call.device.profiles:
        _profile(answer, trt("Profiles"), call.device, token)
    return answer


def get_profile(call: Call) -> etree._Element:
    token = call.required("ProfileToken")
    media.find_profile(call.device, token)
    answer = response(call)
    _profile(answer, trt("Profile"), call.device, token)
    return answer


def create_profile(call: Call) -> etree._Element:
    """An empty profile, with the client's Token if it gave one."""
    token = media.create_profile(call.device, call.required("Name"), call.arg("Token") or None)
    answer = response(call)
    _profile(answer, trt("Profile"), call.device, token)
    return answer


def create_profile_stub(call: Call) -> etree._Element:
    """A plausible answer for a profile that is not made."""
    answer = response(call)
    profile = sub(answer, trt("Profile"))
    profile.set("token", call.arg("Token") or call.device.new_profile_token())
    profile.set("fixed", "false")
    sub(profile, tt("Name"), call.arg("Name") or "")
    return answer


def delete_profile(call: Call) -> etree._Element:
    media.delete_profile(call.device, call.required("ProfileToken"))
    return response(call)


def add_video_source_configuration(call: Call) -> etree._Element:
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    token = call.required("ConfigurationToken")
    media.find_video_source_configuration(call.device, token)
    media.assign(profile, token, profile.video_encoder)
    return response(call)


def remove_video_source_configuration(call: Call) -> etree._Element:
    """Refused while the profile still has a video encoder (remove that first)."""
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    media.assign(profile, None, profile.video_encoder)
    return response(call)


def add_video_encoder_configuration(call: Call) -> etree._Element:
    """Only to a profile with a video source configuration, which is what it encodes."""
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    token = call.required("ConfigurationToken")
    media.find_video_encoder_configuration(call.device, token, MEDIA1_CODECS)
    media.assign(profile, profile.video_source, token)
    return response(call)


def remove_video_encoder_configuration(call: Call) -> etree._Element:
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    media.assign(profile, profile.video_source, None)
    return response(call)


def _encoder_changes(configuration: etree._Element, encoding: str) -> dict[str, Any]:
    """The settings a tt:VideoEncoderConfiguration gives; what it leaves out is kept."""
    changes: dict[str, Any] = {}
    name = text(configuration, "Name")
    put(changes, "name", None if name is None else media.check_name(name))
    given = text(configuration, "Encoding")
    if given is not None:
        if given not in MEDIA1_CODECS:
            raise config_modify(f"Encoding {given!r} is not a tt:VideoEncoding")
        encoding = changes["encoding"] = given
    put(changes, "width", number(configuration, "Resolution/Width", int))
    put(changes, "height", number(configuration, "Resolution/Height", int))
    put(changes, "quality", number(configuration, "Quality", float))
    put(changes, "frame_rate", number(configuration, "RateControl/FrameRateLimit", int))
    put(changes, "bitrate", number(configuration, "RateControl/BitrateLimit", int))
    # Only the MPEG4 or H264 settings of the encoding the configuration will have count.
    if encoding == MPEG4:
        put(changes, "gov_length", number(configuration, "MPEG4/GovLength", int))
        profile = text(configuration, "MPEG4/Mpeg4Profile")
        if profile is not None:
            names = {short: long for long, short in MEDIA1_MPEG4_PROFILES.items()}
            if profile not in names:
                raise config_modify(f"Mpeg4Profile {profile!r} is not a tt:Mpeg4Profile")
            changes["profile"] = names[profile]
    elif encoding == H264:
        put(changes, "gov_length", number(configuration, "H264/GovLength", int))
        put(changes, "profile", text(configuration, "H264/H264Profile"))
    return changes


def set_video_encoder_configuration(call: Call) -> etree._Element:
    """Multicast and SessionTimeout are accepted and ignored."""
    configurations = call.children("Configuration")
    if not configurations:
        raise invalid_arg("The argument Configuration is missing")
    token = (configurations[0].get("token") or "").strip()
    encoder = media.find_video_encoder_configuration(call.device, token, MEDIA1_CODECS)
    persistence = call.arg("ForcePersistence")
    if persistence is not None:
        parse_boolean(persistence, "ForcePersistence")  # every change persists anyway
    changes = _encoder_changes(configurations[0], encoder.encoding)
    media.set_video_encoder_configuration(call.device, token, changes)
    return response(call)


# The Media service's operations by the Clark name of their request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        trt("GetVideoSources"): Operation(AccessClass.READ_MEDIA, get_video_sources),
        trt("GetVideoSourceConfigurations"): Operation(
            AccessClass.READ_MEDIA, get_video_source_configurations
        ),
        trt("GetVideoEncoderConfigurations"): Operation(
            AccessClass.READ_MEDIA, get_video_encoder_configurations
        ),
        trt("GetVideoEncoderConfigurationOptions"): Operation(
            AccessClass.READ_MEDIA, get_video_encoder_configuration_options
        ),
        trt("GetProfiles"): Operation(AccessClass.READ_MEDIA, get_profiles),
        trt("GetProfile"): Operation(AccessClass.READ_MEDIA, get_profile),
        trt("CreateProfile"): Operation(AccessClass.ACTUATE, create_profile, create_profile_stub),
        trt("DeleteProfile"): Operation(AccessClass.ACTUATE, delete_profile),
        trt("AddVideoSourceConfiguration"): Operation(
            AccessClass.ACTUATE, add_video_source_configuration
        ),
        trt("RemoveVideoSourceConfiguration"): Operation(
            AccessClass.ACTUATE, remove_video_source_configuration
        ),
        trt("AddVideoEncoderConfiguration"): Operation(
            AccessClass.ACTUATE, add_video_encoder_configuration
        ),
        trt("RemoveVideoEncoderConfiguration"): Operation(
            AccessClass.ACTUATE, remove_video_encoder_configuration
        ),
        trt("SetVideoEncoderConfiguration"): Operation(
            AccessClass.ACTUATE, set_video_encoder_configuration
        ),
        **audio.MEDIA1_OPERATIONS,
    }
)
