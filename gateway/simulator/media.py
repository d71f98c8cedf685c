"""Media state of a simulated device and its rules, shared by the Media and Media2 services.

Both services show one set of video sources, configurations and profiles, as on a real camera:
a profile made with Media2 is seen by Media1 and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from lxml import etree

from gateway.soap.xml import TT, qname

from .soap import RECEIVER, SENDER, SoapFault, sub

if TYPE_CHECKING:
    from .device import SimulatedDevice

# Codecs by their internal names.
H264: Final = "H264"
H265: Final = "H265"
MPEG4: Final = "MPEG4"
JPEG: Final = "JPEG"
ALL_CODECS: Final = frozenset({H264, H265, MPEG4, JPEG})
# tt:VideoEncoding, all Media1 can express (it has no H265), in the order of its options.
MEDIA1_CODECS: Final = (JPEG, MPEG4, H264)
# Media2 names encodings by tt:VideoEncodingMimeNames, where MPEG4 is spelt "MPV4-ES".
MEDIA2_NAMES: Final = MappingProxyType({JPEG: "JPEG", MPEG4: "MPV4-ES", H264: "H264", H265: "H265"})
# The encoder profiles of each codec, as tt:VideoEncodingProfiles names them; the first one is
# what a configuration gets when it is switched to that codec without naming a profile.
CODEC_PROFILES: Final = MappingProxyType(
    {
        JPEG: (),
        MPEG4: ("Simple", "AdvancedSimple"),
        H264: ("Main", "Baseline", "High"),
        H265: ("Main", "Main10"),
    }
)
# Media1 spells the MPEG4 profiles as tt:Mpeg4Profile (its H264 profiles keep their names).
MEDIA1_MPEG4_PROFILES: Final = MappingProxyType({"Simple": "SP", "AdvancedSimple": "ASP"})

# What the encoders accept, as reported by GetVideoEncoderConfigurationOptions.
RESOLUTIONS: Final = ((1920, 1080), (1280, 720), (640, 480))
QUALITY_RANGE: Final = (1, 10)
FRAME_RATE_RANGE: Final = (1, 30)
FRAME_RATES: Final = (30, 25, 15, 10, 5, 1)  # the Media2 options list rates, not a range
GOV_LENGTH_RANGE: Final = (1, 300)
BITRATE_RANGE: Final = (64, 16384)  # kbit/s
NAME_LENGTH: Final = 64  # tt:Name and tt:ReferenceToken are at most 64 characters


@dataclass
class VideoSource:
    """A physical video input (tt:VideoSource)."""

    framerate: float
    width: int
    height: int


@dataclass
class VideoSourceConfiguration:
    """Which video source a profile uses and what part of it (tt:VideoSourceConfiguration)."""

    name: str
    source_token: str
    bounds: tuple[int, int, int, int]  # x, y, width, height


@dataclass
class VideoEncoderConfiguration:
    """One encoder setting; shown by Media1 as tt:VideoEncoderConfiguration if it can express
    the encoding, and by Media2 as tt:VideoEncoder2Configuration."""

    name: str
    encoding: str  # H264, H265, MPEG4 or JPEG
    width: int
    height: int
    quality: float = 5.0
    frame_rate: float = 30.0
    bitrate: int = 4096  # kbit/s
    gov_length: int = 30
    profile: str = "Main"  # a CODEC_PROFILES name; "" for JPEG


@dataclass
class Profile:
    """A media profile; it refers to its configurations by token."""

    name: str
    fixed: bool = False  # a fixed profile cannot be deleted
    video_source: str | None = None  # token of a VideoSourceConfiguration
    video_encoder: str | None = None  # token of a VideoEncoderConfiguration
    audio_encoder: str | None = None  # token of an AudioEncoderConfiguration


# ---------------------------------------------------------------- the reference example


def default_video_sources() -> dict[str, VideoSource]:
    """video1, video2, video3."""
    return {
        "video1": VideoSource(30.0, 1920, 1080),
        "video2": VideoSource(25.0, 1280, 720),
        "video3": VideoSource(15.0, 640, 480),
    }


def default_video_source_configurations() -> dict[str, VideoSourceConfiguration]:
    """vscN, named configurationN, each covering all of videoN."""
    return {
        f"vsc{n}": VideoSourceConfiguration(f"configuration{n}", f"video{n}", (0, 0, *size))
        for n, size in enumerate(((1920, 1080), (1280, 720), (640, 480)), start=1)
    }


def default_video_encoder_configurations() -> dict[str, VideoEncoderConfiguration]:
    """vec1 (H264) and vec2 (H265; SimulatedDevice makes it JPEG on a Media1-only device)."""
    return {
        "vec1": VideoEncoderConfiguration("configuration1", H264, 1920, 1080),
        "vec2": VideoEncoderConfiguration(
            "configuration2", H265, 1280, 720, frame_rate=25.0, bitrate=2048, gov_length=50
        ),
    }


def default_profiles() -> dict[str, Profile]:
    """profile_1 (vsc1 + vec1) and profile_3 (vsc3 only), both fixed."""
    return {
        "profile_1": Profile("profile_1", fixed=True, video_source="vsc1", video_encoder="vec1"),
        "profile_3": Profile("profile_3", fixed=True, video_source="vsc3"),
    }


# ---------------------------------------------------------------- faults of the Media specs


def no_profile(token: str) -> SoapFault:
    return SoapFault(SENDER, ("InvalidArgVal", "NoProfile"), f"No profile {token!r}")


def no_config(token: str) -> SoapFault:
    return SoapFault(SENDER, ("InvalidArgVal", "NoConfig"), f"No configuration {token!r}")


def config_modify(reason: str) -> SoapFault:
    return SoapFault(SENDER, ("InvalidArgVal", "ConfigModify"), reason)


def configuration_conflict(reason: str) -> SoapFault:
    return SoapFault(RECEIVER, ("Action", "ConfigurationConflict"), reason)


def _too_long(what: str) -> SoapFault:
    return SoapFault(SENDER, ("InvalidArgVal",), f"{what} is longer than {NAME_LENGTH} characters")


# ---------------------------------------------------------------- look-ups and changes


def find_profile(device: SimulatedDevice, token: str) -> Profile:
    profile = device.profiles.get(token)
    if profile is None:
        raise no_profile(token)
    return profile


def find_video_source_configuration(
    device: SimulatedDevice, token: str
) -> VideoSourceConfiguration:
    configuration = device.video_source_configurations.get(token)
    if configuration is None:
        raise no_config(token)
    return configuration


def find_video_encoder_configuration(
    device: SimulatedDevice, token: str, visible: Collection[str] = ALL_CODECS
) -> VideoEncoderConfiguration:
    """The encoder configuration, if its encoding is one the asking service can show."""
    configuration = device.video_encoder_configurations.get(token)
    if configuration is None or configuration.encoding not in visible:
        raise no_config(token)
    return configuration


def held_configurations(device: SimulatedDevice, profile: Profile) -> tuple[str | None, str | None]:
    """Tokens of the profile's video source and encoder configurations, None for one it lacks
    or that a test removed from the device (left out of answers rather than failing them)."""
    source, encoder = profile.video_source, profile.video_encoder
    return (
        source if source in device.video_source_configurations else None,
        encoder if encoder in device.video_encoder_configurations else None,
    )


def check_name(name: str) -> str:
    if len(name) > NAME_LENGTH:
        raise _too_long("Name")
    return name


def create_profile(
    device: SimulatedDevice,
    name: str,
    token: str | None = None,
    *,
    video_source: str | None = None,
    video_encoder: str | None = None,
) -> str:
    """Add a non-fixed profile; returns its token, the given one or one the device picks."""
    check_name(name)
    check_configurations(video_source, video_encoder)
    if token is not None and len(token) > NAME_LENGTH:
        raise _too_long("Token")
    if token is not None and token in device.profiles:
        raise SoapFault(SENDER, ("InvalidArgVal", "ProfileExists"), f"Profile {token!r} exists")
    if len(device.profiles) >= device.max_profiles:
        raise SoapFault(
            RECEIVER,
            ("Action", "MaxNVTProfiles"),
            f"The device holds at most {device.max_profiles} profiles",
        )
    token = token or device.new_profile_token()
    device.profiles[token] = Profile(name, False, video_source, video_encoder)
    return token


def delete_profile(device: SimulatedDevice, token: str) -> None:
    if find_profile(device, token).fixed:
        raise SoapFault(SENDER, ("Action", "DeletionOfFixedProfile"), f"Profile {token!r} is fixed")
    del device.profiles[token]


def check_configurations(video_source: str | None, video_encoder: str | None) -> None:
    """A profile's video encoder encodes its video source, so it cannot be there alone."""
    if video_encoder is not None and video_source is None:
        raise configuration_conflict(
            "A video encoder configuration needs a video source configuration in its profile"
        )


def assign(profile: Profile, video_source: str | None, video_encoder: str | None) -> None:
    """Give a profile these configurations, if they fit together."""
    check_configurations(video_source, video_encoder)
    profile.video_source, profile.video_encoder = video_source, video_encoder


def set_video_encoder_configuration(
    device: SimulatedDevice, token: str, changes: Mapping[str, Any]
) -> None:
    """Change an encoder configuration, all or nothing; ConfigModify for a setting the device
    cannot do, as reported by GetVideoEncoderConfigurationOptions."""
    old = device.video_encoder_configurations[token]
    encoder = replace(old, **changes)
    if encoder.encoding not in device.codecs:
        raise config_modify(f"The device does not offer {encoder.encoding} encoding")
    profiles = CODEC_PROFILES.get(encoder.encoding, ())
    if encoder.profile not in profiles and encoder.profile == old.profile:
        # The encoding changed and the profile was left as it was (not given, or sent back as
        # read by a client that only changed the encoding): the new codec's default one.
        encoder.profile = profiles[0] if profiles else ""
    if profiles and encoder.profile not in profiles:
        raise config_modify(f"{encoder.encoding} has no profile {encoder.profile!r}")
    if (encoder.width, encoder.height) not in RESOLUTIONS:
        raise config_modify(f"Resolution {encoder.width}x{encoder.height} is not available")
    for what, value, (low, high) in (
        ("Quality", encoder.quality, QUALITY_RANGE),
        ("FrameRateLimit", encoder.frame_rate, FRAME_RATE_RANGE),
        ("BitrateLimit", encoder.bitrate, BITRATE_RANGE),
        ("GovLength", encoder.gov_length, GOV_LENGTH_RANGE),
    ):
        if not low <= value <= high:  # also refuses NaN
            raise config_modify(f"{what} {value} is not in [{low}, {high}]")
    device.video_encoder_configurations[token] = encoder


# ---------------------------------------------------------------- reading arguments

Number = TypeVar("Number", int, float)


def text(parent: etree._Element, path: str) -> str | None:
    """The text at a tt: path (e.g. "Resolution/Width") below parent, None if absent."""
    found = parent.findtext("/".join(qname(TT, step) for step in path.split("/")))
    return None if found is None else found.strip()


def number(parent: etree._Element, path: str, kind: Callable[[str], Number]) -> Number | None:
    """The number at a tt: path below parent, None if absent."""
    found = text(parent, path)
    if found is None:
        return None
    try:
        return kind(found)
    except ValueError:
        raise config_modify(f"{path} is not a number: {found!r}") from None


def put(changes: dict[str, Any], key: str, value: object) -> None:
    """Record a change of a setting the request gave (None: it did not)."""
    if value is not None:
        changes[key] = value


# ---------------------------------------------------------------- XML shared by both services


def tt(local: str) -> str:
    """Clark name in the ONVIF schema namespace."""
    return qname(TT, local)


def no_multicast(parent: etree._Element) -> None:
    """A configuration's Multicast element: the simulated device streams no multicast."""
    multicast = sub(parent, tt("Multicast"))
    address = sub(multicast, tt("Address"))
    sub(address, tt("Type"), "IPv4")
    sub(address, tt("IPv4Address"), "0.0.0.0")  # noqa: S104 (a value in an answer, not a bind)
    sub(multicast, tt("Port"), "0")
    sub(multicast, tt("TTL"), "1")
    sub(multicast, tt("AutoStart"), "false")


def resolution(parent: etree._Element, tag: str, width: int, height: int) -> None:
    element = sub(parent, tag)
    sub(element, tt("Width"), str(width))
    sub(element, tt("Height"), str(height))


def value_range(parent: etree._Element, tag: str, low: float, high: float) -> None:
    """A tt:IntRange or tt:FloatRange."""
    element = sub(parent, tag)
    sub(element, tt("Min"), str(low))
    sub(element, tt("Max"), str(high))


def video_source(parent: etree._Element, tag: str, token: str, source: VideoSource) -> None:
    element = sub(parent, tag)
    element.set("token", token)
    sub(element, tt("Framerate"), str(source.framerate))
    resolution(element, tt("Resolution"), source.width, source.height)


def video_source_configuration(
    parent: etree._Element, tag: str, device: SimulatedDevice, token: str
) -> None:
    configuration = device.video_source_configurations[token]
    element = sub(parent, tag)
    element.set("token", token)
    sub(element, tt("Name"), configuration.name)
    sub(element, tt("UseCount"), str(device.video_source_use_count(token)))
    sub(element, tt("SourceToken"), configuration.source_token)
    bounds = sub(element, tt("Bounds"))
    for attribute, value in zip(("x", "y", "width", "height"), configuration.bounds, strict=True):
        bounds.set(attribute, str(value))

