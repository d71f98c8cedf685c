"""The ONVIF Media2 service (ver20, tr2): the Profile T view of the device's media."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from lxml import etree

from gateway.soap.xml import TR2, qname

from . import audio, media, ptz
from .audio import AUDIO_ENCODER
from .device import PTZ, AccessClass, SimulatedDevice
from .media import (
    BITRATE_RANGE,
    CODEC_PROFILES,
    FRAME_RATES,
    GOV_LENGTH_RANGE,
    H264,
    H265,
    JPEG,
    MEDIA2_NAMES,
    MPEG4,
    QUALITY_RANGE,
    RESOLUTIONS,
    config_modify,
    number,
    put,
    resolution,
    text,
    tt,
    value_range,
)
from .operation import Call, Hangup, Operation, invalid_arg, response
from .soap import RECEIVER, SoapFault, sub

ALL: Final = "All"
VIDEO_SOURCE: Final = "VideoSource"
VIDEO_ENCODER: Final = "VideoEncoder"
# tr2:ConfigurationEnumeration: every type a client may name; the device has the video ones.
CONFIGURATION_TYPES: Final = frozenset(
    {
        ALL,
        VIDEO_SOURCE,
        VIDEO_ENCODER,
        "AudioSource",
        "AudioEncoder",
        "AudioOutput",
        "AudioDecoder",
        "Metadata",
        "Analytics",
        "PTZ",
        "Receiver",
    }
)
CODEC_ORDER: Final = (H264, H265, MPEG4, JPEG)  # of the options
CODECS_BY_NAME: Final = MappingProxyType({name: codec for codec, name in MEDIA2_NAMES.items()})


def tr2(local: str) -> str:
    """Clark name in the Media2 service namespace."""
    return qname(TR2, local)


def _video_encoder_configuration(
    parent: etree._Element, tag: str, device: SimulatedDevice, token: str
) -> None:
    encoder = device.video_encoder_configurations[token]
    element = sub(parent, tag)
    element.set("token", token)
    if encoder.encoding != JPEG:  # JPEG has neither GOPs nor profiles
        element.set("GovLength", str(encoder.gov_length))
        element.set("Profile", encoder.profile)
    sub(element, tt("Name"), encoder.name)
    sub(element, tt("UseCount"), str(device.video_encoder_use_count(token)))
    sub(element, tt("Encoding"), MEDIA2_NAMES.get(encoder.encoding, encoder.encoding))
    resolution(element, tt("Resolution"), encoder.width, encoder.height)
    rate_control = sub(element, tt("RateControl"))
    sub(rate_control, tt("FrameRateLimit"), str(float(encoder.frame_rate)))
    sub(rate_control, tt("BitrateLimit"), str(encoder.bitrate))
    sub(element, tt("Quality"), str(encoder.quality))


def _profile(parent: etree._Element, device: SimulatedDevice, token: str, types: set[str]) -> None:
    """A tr2:MediaProfile with the configurations of the types asked for."""
    profile = device.profiles[token]
    element = sub(parent, tr2("Profiles"))
    element.set("token", token)
    element.set("fixed", "true" if profile.fixed else "false")
    sub(element, tr2("Name"), profile.name)
    configurations = etree.Element(tr2("Configurations"))
    source, encoder = media.held_configurations(device, profile)
    if source is not None and types & {ALL, VIDEO_SOURCE}:
        media.video_source_configuration(configurations, tr2("VideoSource"), device, source)
    if encoder is not None and types & {ALL, VIDEO_ENCODER}:
        _video_encoder_configuration(configurations, tr2("VideoEncoder"), device, encoder)
    if (audio_encoder := audio.held(device, token)) is not None and types & {ALL, AUDIO_ENCODER}:
        audio.configuration(configurations, tr2("AudioEncoder"), device, audio_encoder,
                            media2=True)
    if token in device.ptz_profiles and PTZ in device.services and types & {ALL, "PTZ"}:
        ptz.configuration(configurations, tr2("PTZ"), device)
    if len(configurations):
        element.append(configurations)


def _configuration_refs(call: Call) -> list[tuple[str, str | None]]:
    """(Type, Token) of each tr2:Configuration argument; a Type must be a known one."""
    refs: list[tuple[str, str | None]] = []
    for configuration in call.children("Configuration"):
        kind = (configuration.findtext(tr2("Type")) or "").strip()
        if kind not in CONFIGURATION_TYPES:
            raise invalid_arg(f"{kind!r} is not a tr2:ConfigurationEnumeration value")
        token = (configuration.findtext(tr2("Token")) or "").strip()
        refs.append((kind, token or None))
    return refs


def _with_added(
    call: Call, video_source: str | None, video_encoder: str | None
) -> tuple[str | None, str | None]:
    """A profile's video source and encoder tokens once the request's are added to them (an
    audio encoder the caller adds itself: _audio_added)."""
    for kind, token in _configuration_refs(call):
        if kind in (ALL, AUDIO_ENCODER):
            continue  # the specification says to ignore All here
        if kind not in (VIDEO_SOURCE, VIDEO_ENCODER):
            raise SoapFault(
                RECEIVER, ("ActionNotSupported",), f"The device has no {kind} configurations"
            )
        if token is None:
            raise invalid_arg(f"The {kind} configuration has no Token")
        if kind == VIDEO_SOURCE:
            media.find_video_source_configuration(call.device, token)
            video_source = token
        else:
            media.find_video_encoder_configuration(call.device, token)
            video_encoder = token
    return video_source, video_encoder


def _audio_added(call: Call, current: str | None) -> str | None:
    """A profile's audio encoder token once the request's (if any) is added."""
    for kind, token in _configuration_refs(call):
        if kind == AUDIO_ENCODER:
            if token is None:
                raise invalid_arg(f"The {kind} configuration has no Token")
            audio.find(call.device, token)
            current = token
    return current


def get_profiles(call: Call) -> etree._Element:
    """All profiles or the one of Token, with the configurations of the Types asked for."""
    types = {kind.strip() for kind in call.args("Type")}
    if "All" in types and call.device.get_profiles_all_crashes:
        raise Hangup()
    if not types <= CONFIGURATION_TYPES:
        raise invalid_arg(f"{sorted(types - CONFIGURATION_TYPES)} are not configuration types")
    token = call.arg("Token")
    if token is not None:
        media.find_profile(call.device, token)
    answer = response(call)
    for each in call.device.profiles if token is None else [token]:
        _profile(answer, call.device, each, types)
    return answer


def create_profile(call: Call) -> etree._Element:
    name = call.required("Name")
    video_source, video_encoder = _with_added(call, None, None)
    token = media.create_profile(
        call.device, name, video_source=video_source, video_encoder=video_encoder
    )
    answer = response(call)
    sub(answer, tr2("Token"), token)
    return answer


def create_profile_stub(call: Call) -> etree._Element:
    """A token for a profile that is not made."""
    answer = response(call)
    sub(answer, tr2("Token"), call.device.new_profile_token())
    return answer


def delete_profile(call: Call) -> etree._Element:
    media.delete_profile(call.device, call.required("Token"))
    return response(call)


def add_configuration(call: Call) -> etree._Element:
    """Adds (replacing those of the same type) and renames, all or nothing."""
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    name = call.arg("Name")
    if name is not None:
        media.check_name(name)
    audio_encoder = _audio_added(call, profile.audio_encoder)
    media.assign(profile, *_with_added(call, profile.video_source, profile.video_encoder))
    profile.audio_encoder = audio_encoder
    if name is not None:
        profile.name = name
    return response(call)


def remove_configuration(call: Call) -> etree._Element:
    """Tokens are ignored; "All" empties the profile; types it does not hold are ignored."""
    profile = media.find_profile(call.device, call.required("ProfileToken"))
    kinds = {kind for kind, _ in _configuration_refs(call)}
    if not kinds:
        raise invalid_arg("The argument Configuration is missing")
    if ALL in kinds:
        kinds |= {VIDEO_SOURCE, VIDEO_ENCODER, AUDIO_ENCODER}
    media.assign(
        profile,
        None if VIDEO_SOURCE in kinds else profile.video_source,
        None if VIDEO_ENCODER in kinds else profile.video_encoder,
    )
    if AUDIO_ENCODER in kinds:
        profile.audio_encoder = None
    return response(call)


def _selected(
    call: Call, tokens: Iterable[str], find: Callable[[SimulatedDevice, str], object]
) -> list[str]:
    """The configurations a tr2:GetConfiguration request asks for: all of them, or the one
    of ConfigurationToken. Every configuration suits every profile, but the tokens must exist."""
    profile = call.arg("ProfileToken")
    if profile is not None:
        media.find_profile(call.device, profile)
    token = call.arg("ConfigurationToken")
    if token is None:
        return list(tokens)
    find(call.device, token)
    return [token]


def get_video_source_configurations(call: Call) -> etree._Element:
    device = call.device
    answer = response(call)
    for token in _selected(
        call, device.video_source_configurations, media.find_video_source_configuration
    ):
        media.video_source_configuration(answer, tr2("Configurations"), device, token)
    return answer


def get_video_encoder_configurations(call: Call) -> etree._Element:
    device = call.device
    answer = response(call)
    for token in _selected(
        call, device.video_encoder_configurations, media.find_video_encoder_configuration
    ):
        _video_encoder_configuration(answer, tr2("Configurations"), device, token)
    return answer


def get_video_encoder_configuration_options(call: Call) -> etree._Element:
    """One tt:VideoEncoder2ConfigurationOptions per codec offered, the same for every
    configuration and profile."""
    _selected(call, (), media.find_video_encoder_configuration)
    answer = response(call)
    if call.device.empty_encoder_options:
        sub(answer, tr2("Options"))
        return answer
    for codec in CODEC_ORDER:
        if codec not in call.device.codecs:
            continue
        options = sub(answer, tr2("Options"))
        if codec != JPEG:
            options.set("GovLengthRange", " ".join(map(str, GOV_LENGTH_RANGE)))
            options.set("ProfilesSupported", " ".join(CODEC_PROFILES[codec]))
        options.set("FrameRatesSupported", " ".join(map(str, FRAME_RATES)))
        sub(options, tt("Encoding"), MEDIA2_NAMES[codec])
        value_range(options, tt("QualityRange"), *map(float, QUALITY_RANGE))
        for width, height in RESOLUTIONS:
            resolution(options, tt("ResolutionsAvailable"), width, height)
        value_range(options, tt("BitrateRange"), *BITRATE_RANGE)
    return answer


def _encoder_changes(configuration: etree._Element) -> dict[str, Any]:
    """The settings a tt:VideoEncoder2Configuration gives; what it leaves out is kept."""
    changes: dict[str, Any] = {}
    name = text(configuration, "Name")
    put(changes, "name", None if name is None else media.check_name(name))
    encoding = text(configuration, "Encoding")
    if encoding is not None:
        if encoding not in CODECS_BY_NAME:
            raise config_modify(f"Encoding {encoding!r} is not a tt:VideoEncodingMimeNames")
        changes["encoding"] = CODECS_BY_NAME[encoding]
    put(changes, "width", number(configuration, "Resolution/Width", int))
    put(changes, "height", number(configuration, "Resolution/Height", int))
    put(changes, "frame_rate", number(configuration, "RateControl/FrameRateLimit", float))
    put(changes, "bitrate", number(configuration, "RateControl/BitrateLimit", int))
    put(changes, "quality", number(configuration, "Quality", float))
    gov_length = configuration.get("GovLength")
    if gov_length is not None:
        try:
            changes["gov_length"] = int(gov_length.strip())
        except ValueError:
            raise config_modify(f"GovLength is not a number: {gov_length!r}") from None
    profile = configuration.get("Profile")
    put(changes, "profile", None if profile is None else profile.strip())
    return changes


def set_video_encoder_configuration(call: Call) -> etree._Element:
    """Multicast is accepted and ignored."""
    configurations = call.children("Configuration")
    if not configurations:
        raise invalid_arg("The argument Configuration is missing")
    token = (configurations[0].get("token") or "").strip()
    media.find_video_encoder_configuration(call.device, token)
    changes = _encoder_changes(configurations[0])
    media.set_video_encoder_configuration(call.device, token, changes)
    return response(call)


# The Media2 service's operations by the Clark name of their request element.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType(
    {
        tr2("GetProfiles"): Operation(AccessClass.READ_MEDIA, get_profiles),
        tr2("CreateProfile"): Operation(AccessClass.ACTUATE, create_profile, create_profile_stub),
        tr2("DeleteProfile"): Operation(AccessClass.ACTUATE, delete_profile),
        tr2("AddConfiguration"): Operation(AccessClass.ACTUATE, add_configuration),
        tr2("RemoveConfiguration"): Operation(AccessClass.ACTUATE, remove_configuration),
        tr2("GetVideoSourceConfigurations"): Operation(
            AccessClass.READ_MEDIA, get_video_source_configurations
        ),
        tr2("GetVideoEncoderConfigurations"): Operation(
            AccessClass.READ_MEDIA, get_video_encoder_configurations
        ),
        tr2("GetVideoEncoderConfigurationOptions"): Operation(
            AccessClass.READ_MEDIA, get_video_encoder_configuration_options
        ),
        tr2("SetVideoEncoderConfiguration"): Operation(
            AccessClass.ACTUATE, set_video_encoder_configuration
        ),
        **audio.MEDIA2_OPERATIONS,
    }
)
