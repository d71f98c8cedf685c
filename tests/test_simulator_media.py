"""The simulated device's Media (ver10) and Media2 (ver20) services and its quirk switches,
over real HTTP with hand-built SOAP 1.2 envelopes."""

from __future__ import annotations

from typing import Any

import pytest
import zeep
import zeep.exceptions
from aiohttp.test_utils import TestClient
from lxml import etree
from pytest_aiohttp import AiohttpClient

from gateway.simulator import (
    MEDIA,
    MEDIA2,
    Profile,
    SimulatedDevice,
    create_simulator_app,
    device_path,
    service_path,
)
from tests.simulator_helpers import (
    ENV,
    TDS,
    TER,
    TIMG,
    TR2,
    TRT,
    TT,
    WSDL_DIR,
    Answer,
    as_admin,
    call,
    check_schema,
    envelope,
    not_authorized,
    offline_wsdl,
    token,
)

MEDIA1_BINDING = f"{{{TRT}}}MediaBinding"
MEDIA2_BINDING = f"{{{TR2}}}Media2Binding"
NS = {"trt": TRT, "tr2": TR2, "tt": TT, "tds": TDS}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def device() -> SimulatedDevice:
    return SimulatedDevice()


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, device: SimulatedDevice) -> TestClient[Any, Any]:
    return await aiohttp_client(create_simulator_app([device]))


async def media1(client: TestClient[Any, Any], body: str, header: str = "") -> Answer:
    """Call the Media service of device 1."""
    return await call(client, body, header, path=service_path(1, MEDIA))


async def media2(client: TestClient[Any, Any], body: str, header: str = "") -> Answer:
    """Call the Media2 service of device 1."""
    return await call(client, body, header, path=service_path(1, MEDIA2))


def ok(answer: Answer) -> Answer:
    assert answer.status == 200, answer.data
    return answer


async def ok1(client: TestClient[Any, Any], device: SimulatedDevice, body: str) -> Answer:
    """A successful Media call by an administrator."""
    return ok(await media1(client, body, as_admin(device)))


async def ok2(client: TestClient[Any, Any], device: SimulatedDevice, body: str) -> Answer:
    """A successful Media2 call by an administrator."""
    return ok(await media2(client, body, as_admin(device)))


def fault(answer: Answer) -> tuple[int, str, list[str]]:
    """(HTTP status, env code, ter subcodes) of a fault answer, without namespaces."""
    code, subcodes, _ = answer.fault()
    assert code.startswith(f"{{{ENV}}}")
    assert all(subcode.startswith(f"{{{TER}}}") for subcode in subcodes)
    return answer.status, etree.QName(code).localname, [etree.QName(s).localname for s in subcodes]


def find(parent: etree._Element, path: str) -> etree._Element:
    """The first element at path below parent, which must be there."""
    element = parent.find(path, NS)
    assert element is not None, f"no {path} in {etree.tostring(parent)!r}"
    return element


def tokens(answer: Answer, path: str) -> list[str | None]:
    return [element.get("token") for element in answer.body.iterfind(path, NS)]


NO_PROFILE = (400, "Sender", ["InvalidArgVal", "NoProfile"])
NO_CONFIG = (400, "Sender", ["InvalidArgVal", "NoConfig"])
CONFIG_MODIFY = (400, "Sender", ["InvalidArgVal", "ConfigModify"])
CONFLICT = (500, "Receiver", ["Action", "ConfigurationConflict"])
FIXED = (400, "Sender", ["Action", "DeletionOfFixedProfile"])
MAX_PROFILES = (500, "Receiver", ["Action", "MaxNVTProfiles"])


def m1_create(name: str, profile_token: str | None = None) -> str:
    extra = "" if profile_token is None else f"<trt:Token>{profile_token}</trt:Token>"
    return f"<trt:CreateProfile><trt:Name>{name}</trt:Name>{extra}</trt:CreateProfile>"


def m1_pair(operation: str, profile: str, configuration: str | None = None) -> str:
    """A trt request with a ProfileToken and optionally a ConfigurationToken."""
    arguments = f"<trt:ProfileToken>{profile}</trt:ProfileToken>"
    if configuration is not None:
        arguments += f"<trt:ConfigurationToken>{configuration}</trt:ConfigurationToken>"
    return f"<trt:{operation}>{arguments}</trt:{operation}>"


def refs(*configurations: tuple[str, str | None]) -> str:
    """tr2:Configuration arguments."""
    return "".join(
        "<tr2:Configuration>"
        f"<tr2:Type>{kind}</tr2:Type>"
        + ("" if ref is None else f"<tr2:Token>{ref}</tr2:Token>")
        + "</tr2:Configuration>"
        for kind, ref in configurations
    )


def m2_create(name: str, *configurations: tuple[str, str | None]) -> str:
    return (
        f"<tr2:CreateProfile><tr2:Name>{name}</tr2:Name>{refs(*configurations)}</tr2:CreateProfile>"
    )


def m2_add(profile: str, *configurations: tuple[str, str | None], name: str = "") -> str:
    renamed = f"<tr2:Name>{name}</tr2:Name>" if name else ""
    return (
        f"<tr2:AddConfiguration><tr2:ProfileToken>{profile}</tr2:ProfileToken>{renamed}"
        f"{refs(*configurations)}</tr2:AddConfiguration>"
    )


def m2_remove(profile: str, *configurations: tuple[str, str | None]) -> str:
    return (
        f"<tr2:RemoveConfiguration><tr2:ProfileToken>{profile}</tr2:ProfileToken>"
        f"{refs(*configurations)}</tr2:RemoveConfiguration>"
    )


def m2_profiles(*types: str, profile: str | None = None) -> str:
    wanted = "" if profile is None else f"<tr2:Token>{profile}</tr2:Token>"
    wanted += "".join(f"<tr2:Type>{kind}</tr2:Type>" for kind in types)
    return f"<tr2:GetProfiles>{wanted}</tr2:GetProfiles>"


def m1_set_encoder(configuration: str, settings: str, persist: str = "false") -> str:
    return (
        f'<trt:SetVideoEncoderConfiguration><trt:Configuration token="{configuration}">'
        f"{settings}</trt:Configuration>"
        f"<trt:ForcePersistence>{persist}</trt:ForcePersistence></trt:SetVideoEncoderConfiguration>"
    )


def m2_set_encoder(configuration: str, settings: str, attributes: str = "") -> str:
    return (
        f'<tr2:SetVideoEncoderConfiguration><tr2:Configuration token="{configuration}" '
        f"{attributes}>{settings}</tr2:Configuration></tr2:SetVideoEncoderConfiguration>"
    )


async def m1_profile(
    client: TestClient[Any, Any], device: SimulatedDevice, token: str
) -> etree._Element:
    """The trt:Profile of GetProfile."""
    answer = await ok1(client, device, m1_pair("GetProfile", token))
    return find(answer.body, "trt:Profile")


async def m2_profile(
    client: TestClient[Any, Any], device: SimulatedDevice, token: str
) -> etree._Element | None:
    """The tr2:Configurations (all types) of one profile; None when it holds none."""
    answer = await ok2(client, device, m2_profiles("All", profile=token))
    return answer.body.find("tr2:Profiles/tr2:Configurations", NS)


def held(configurations: etree._Element | None) -> tuple[str | None, str | None]:
    """(VideoSource token, VideoEncoder token) of a tr2:Configurations element."""
    if configurations is None:
        return None, None
    source = configurations.find("tr2:VideoSource", NS)
    encoder = configurations.find("tr2:VideoEncoder", NS)
    return (
        None if source is None else source.get("token"),
        None if encoder is None else encoder.get("token"),
    )


def use_counts(answer: Answer, tag: str) -> dict[str | None, str | None]:
    return {
        element.get("token"): element.findtext("tt:UseCount", namespaces=NS)
        for element in answer.body.iterfind(tag, NS)
    }


# ---------------------------------------------------------------- the initial state


async def test_initial_state_through_media1(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await ok1(client, device, "<trt:GetVideoSources/>")
    assert tokens(answer, "trt:VideoSources") == ["video1", "video2", "video3"]
    for source in answer.body.iterfind("trt:VideoSources", NS):
        assert float(source.findtext("tt:Framerate", namespaces=NS) or "") > 0
        assert int(source.findtext("tt:Resolution/tt:Width", namespaces=NS) or "") > 0
        assert int(source.findtext("tt:Resolution/tt:Height", namespaces=NS) or "") > 0

    answer = await ok1(client, device, "<trt:GetVideoSourceConfigurations/>")
    configurations = answer.body.findall("trt:Configurations", NS)
    assert [(c.get("token"), c.findtext("tt:Name", namespaces=NS)) for c in configurations] == [
        ("vsc1", "configuration1"),
        ("vsc2", "configuration2"),
        ("vsc3", "configuration3"),
    ]
    assert [c.findtext("tt:SourceToken", namespaces=NS) for c in configurations] == [
        "video1",
        "video2",
        "video3",
    ]
    assert all(c.find("tt:Bounds", NS) is not None for c in configurations)
    assert use_counts(answer, "trt:Configurations") == {"vsc1": "1", "vsc2": "0", "vsc3": "1"}

    # Media1 cannot express H265, so vec2 is not shown by it.
    answer = await ok1(client, device, "<trt:GetVideoEncoderConfigurations/>")
    assert tokens(answer, "trt:Configurations") == ["vec1"]
    assert answer.text("trt:Configurations/tt:Name") == "configuration1"
    assert answer.text("trt:Configurations/tt:Encoding") == "H264"
    assert use_counts(answer, "trt:Configurations") == {"vec1": "1"}

    answer = await ok1(client, device, "<trt:GetProfiles/>")
    profiles = answer.body.findall("trt:Profiles", NS)
    assert [(p.get("token"), p.get("fixed")) for p in profiles] == [
        ("profile_1", "true"),
        ("profile_3", "true"),
    ]
    first, third = profiles
    assert first.findtext("tt:Name", namespaces=NS) == "profile_1"
    assert find(first, "tt:VideoSourceConfiguration").get("token") == "vsc1"
    assert find(first, "tt:VideoEncoderConfiguration").get("token") == "vec1"
    assert find(third, "tt:VideoSourceConfiguration").get("token") == "vsc3"
    assert third.find("tt:VideoEncoderConfiguration", NS) is None


async def test_initial_state_through_media2(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await ok2(client, device, "<tr2:GetVideoSourceConfigurations/>")
    assert use_counts(answer, "tr2:Configurations") == {"vsc1": "1", "vsc2": "0", "vsc3": "1"}

    answer = await ok2(client, device, "<tr2:GetVideoEncoderConfigurations/>")
    encoders = {
        c.get("token"): (
            c.findtext("tt:Name", namespaces=NS),
            c.findtext("tt:Encoding", namespaces=NS),
        )
        for c in answer.body.iterfind("tr2:Configurations", NS)
    }
    assert encoders == {"vec1": ("configuration1", "H264"), "vec2": ("configuration2", "H265")}
    assert use_counts(answer, "tr2:Configurations") == {"vec1": "1", "vec2": "0"}

    answer = await ok2(client, device, m2_profiles("All"))
    profiles = answer.body.findall("tr2:Profiles", NS)
    assert [(p.get("token"), p.get("fixed")) for p in profiles] == [
        ("profile_1", "true"),
        ("profile_3", "true"),
    ]
    assert [held(p.find("tr2:Configurations", NS)) for p in profiles] == [
        ("vsc1", "vec1"),
        ("vsc3", None),
    ]


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ((), (None, None)),
        (("VideoSource",), ("vsc1", None)),
        (("VideoEncoder",), (None, "vec1")),
        (("VideoSource", "VideoEncoder"), ("vsc1", "vec1")),
        (("AudioSource",), (None, None)),
    ],
)
async def test_media2_get_profiles_gives_the_types_asked_for(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    types: tuple[str, ...],
    expected: tuple[str | None, str | None],
) -> None:
    answer = await ok2(client, device, m2_profiles(*types, profile="profile_1"))
    assert tokens(answer, "tr2:Profiles") == ["profile_1"]
    assert answer.text("tr2:Profiles/tr2:Name") == "profile_1"
    assert held(answer.body.find("tr2:Profiles/tr2:Configurations", NS)) == expected


async def test_use_count_is_computed_from_the_profiles(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.profiles["extra"] = Profile("extra", video_source="vsc1", video_encoder="vec2")
    answer = await ok2(client, device, "<tr2:GetVideoSourceConfigurations/>")
    assert use_counts(answer, "tr2:Configurations") == {"vsc1": "2", "vsc2": "0", "vsc3": "1"}
    answer = await ok2(client, device, "<tr2:GetVideoEncoderConfigurations/>")
    assert use_counts(answer, "tr2:Configurations") == {"vec1": "1", "vec2": "1"}
    assert device.video_source_use_count("vsc1") == 2
    assert device.video_encoder_use_count("vec1") == 1


async def test_a_media1_only_device(aiohttp_client: AiohttpClient) -> None:
    device = SimulatedDevice(services={MEDIA})
    assert device.codecs == {"H264", "MPEG4", "JPEG"}
    assert device.video_encoder_configurations["vec2"].encoding == "JPEG"
    client = await aiohttp_client(create_simulator_app([device]))

    answer = await ok1(client, device, "<trt:GetVideoEncoderConfigurations/>")
    encoders = {
        c.get("token"): c.findtext("tt:Encoding", namespaces=NS)
        for c in answer.body.iterfind("trt:Configurations", NS)
    }
    assert encoders == {"vec1": "H264", "vec2": "JPEG"}
    assert use_counts(answer, "trt:Configurations") == {"vec1": "1", "vec2": "0"}

    response = await client.post(service_path(1, MEDIA2), data=envelope(m2_profiles()))
    assert response.status == 404


# ---------------------------------------------------------------- encoder options


async def test_media1_options_list_the_codecs_offered(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = "<trt:GetVideoEncoderConfigurationOptions/>"
    answer = await ok1(client, device, body)
    options = find(answer.body, "trt:Options")
    assert [etree.QName(child).localname for child in options] == [
        "QualityRange",
        "JPEG",
        "MPEG4",
        "H264",
    ]
    assert options.findtext("tt:H264/tt:H264ProfilesSupported", namespaces=NS)

    device.codecs = {"H264", "H265"}
    answer = await ok1(client, device, body)
    options = find(answer.body, "trt:Options")
    assert [etree.QName(child).localname for child in options] == ["QualityRange", "H264"]


async def test_media2_options_one_per_codec(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = "<tr2:GetVideoEncoderConfigurationOptions/>"
    answer = await ok2(client, device, body)
    encodings = [o.findtext("tt:Encoding", namespaces=NS) or "" for o in answer.body]
    assert sorted(encodings) == ["H264", "H265", "JPEG", "MPV4-ES"]

    device.codecs = {"JPEG"}
    answer = await ok2(client, device, body)
    assert [o.findtext("tt:Encoding", namespaces=NS) for o in answer.body] == ["JPEG"]


@pytest.mark.parametrize(
    ("service", "arguments", "expected"),
    [
        (MEDIA, "<trt:ConfigurationToken>nope</trt:ConfigurationToken>", NO_CONFIG),
        (MEDIA, "<trt:ConfigurationToken>vec2</trt:ConfigurationToken>", NO_CONFIG),  # H265
        (MEDIA, "<trt:ProfileToken>nope</trt:ProfileToken>", NO_PROFILE),
        (MEDIA2, "<tr2:ConfigurationToken>nope</tr2:ConfigurationToken>", NO_CONFIG),
        (MEDIA2, "<tr2:ProfileToken>nope</tr2:ProfileToken>", NO_PROFILE),
    ],
)
async def test_options_of_unknown_tokens(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    service: str,
    arguments: str,
    expected: tuple[int, str, list[str]],
) -> None:
    prefix = "trt" if service == MEDIA else "tr2"
    body = (
        f"<{prefix}:GetVideoEncoderConfigurationOptions>{arguments}"
        f"</{prefix}:GetVideoEncoderConfigurationOptions>"
    )
    answer = await call(client, body, as_admin(device), path=service_path(1, service))
    assert fault(answer) == expected


# ---------------------------------------------------------------- profiles through Media1


async def test_media1_profile_life_seen_by_media2(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await ok1(client, device, m1_create("mine", "tok"))
    created = find(answer.body, "trt:Profile")
    assert (created.get("token"), created.get("fixed")) == ("tok", "false")
    assert created.findtext("tt:Name", namespaces=NS) == "mine"
    assert len(created) == 1  # empty: only its Name
    assert held(await m2_profile(client, device, "tok")) == (None, None)

    await ok1(client, device, m1_pair("AddVideoSourceConfiguration", "tok", "vsc2"))
    await ok1(client, device, m1_pair("AddVideoEncoderConfiguration", "tok", "vec1"))
    assert held(await m2_profile(client, device, "tok")) == ("vsc2", "vec1")
    assert device.video_source_use_count("vsc2") == 1
    assert device.video_encoder_use_count("vec1") == 2
    profile = await m1_profile(client, device, "tok")
    assert find(profile, "tt:VideoEncoderConfiguration/tt:UseCount").text == "2"

    # Adding another one of a kind replaces it.
    await ok1(client, device, m1_pair("AddVideoSourceConfiguration", "tok", "vsc3"))
    assert held(await m2_profile(client, device, "tok")) == ("vsc3", "vec1")

    await ok1(client, device, m1_pair("RemoveVideoEncoderConfiguration", "tok"))
    assert held(await m2_profile(client, device, "tok")) == ("vsc3", None)
    await ok1(client, device, m1_pair("RemoveVideoSourceConfiguration", "tok"))
    assert held(await m2_profile(client, device, "tok")) == (None, None)
    # Removing what is not there has no effect.
    await ok1(client, device, m1_pair("RemoveVideoSourceConfiguration", "tok"))

    await ok1(client, device, m1_pair("DeleteProfile", "tok"))
    answer = await ok2(client, device, m2_profiles())
    assert tokens(answer, "tr2:Profiles") == ["profile_1", "profile_3"]


async def test_media1_create_profile_tokens(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await ok1(client, device, m1_create("a"))
    assert find(answer.body, "trt:Profile").get("token") == "profile_2"
    answer = await ok1(client, device, m1_create("b"))
    assert find(answer.body, "trt:Profile").get("token") == "profile_4"
    assert (device.profiles["profile_4"].name, device.profiles["profile_4"].fixed) == ("b", False)

    answer = await media1(client, m1_create("c", "profile_1"), as_admin(device))
    assert fault(answer) == (400, "Sender", ["InvalidArgVal", "ProfileExists"])


# ---------------------------------------------------------------- profiles through Media2


async def test_media2_profile_life_seen_by_media1(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    create = m2_create("two", ("VideoSource", "vsc2"), ("VideoEncoder", "vec2"))
    answer = await ok2(client, device, create)
    assert answer.text("tr2:Token") == "profile_2"
    assert (device.profiles["profile_2"].name, device.profiles["profile_2"].fixed) == ("two", False)

    # vec2 is H265: Media1 shows the profile without it.
    profile = await m1_profile(client, device, "profile_2")
    assert profile.get("fixed") == "false"
    assert find(profile, "tt:VideoSourceConfiguration").get("token") == "vsc2"
    assert profile.find("tt:VideoEncoderConfiguration", NS) is None

    add = m2_add("profile_2", ("All", None), ("VideoEncoder", "vec1"), name="renamed")
    await ok2(client, device, add)
    profile = await m1_profile(client, device, "profile_2")
    assert profile.findtext("tt:Name", namespaces=NS) == "renamed"
    assert find(profile, "tt:VideoEncoderConfiguration").get("token") == "vec1"

    # Tokens are ignored by RemoveConfiguration; types the profile lacks too.
    remove = m2_remove("profile_2", ("VideoEncoder", "whatever"), ("AudioSource", None))
    await ok2(client, device, remove)
    assert held(await m2_profile(client, device, "profile_2")) == ("vsc2", None)
    await ok2(client, device, m2_add("profile_2", ("VideoEncoder", "vec1")))
    await ok2(client, device, m2_remove("profile_2", ("All", None)))
    assert held(await m2_profile(client, device, "profile_2")) == (None, None)

    delete = "<tr2:DeleteProfile><tr2:Token>profile_2</tr2:Token></tr2:DeleteProfile>"
    await ok2(client, device, delete)
    answer = await ok1(client, device, "<trt:GetProfiles/>")
    assert tokens(answer, "trt:Profiles") == ["profile_1", "profile_3"]


async def test_media2_create_an_empty_profile(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = await ok2(client, device, m2_create("empty", ("All", None)))
    assert answer.text("tr2:Token") == "profile_2"
    assert held(await m2_profile(client, device, "profile_2")) == (None, None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (m2_create("x", ("Foo", "vsc1")), (400, "Sender", ["InvalidArgVal"])),
        (m2_create("x", ("VideoSource", None)), (400, "Sender", ["InvalidArgVal"])),
        (m2_create("x", ("VideoSource", "nope")), NO_CONFIG),
        (m2_create("x", ("VideoSource", "vsc1"), ("VideoEncoder", "nope")), NO_CONFIG),
        (m2_create("x", ("AudioSource", "a1")), (500, "Receiver", ["ActionNotSupported"])),
        (m2_create("x", ("VideoEncoder", "vec1")), CONFLICT),
        (m2_create("x" * 65), (400, "Sender", ["InvalidArgVal"])),
        ("<tr2:CreateProfile/>", (400, "Sender", ["InvalidArgVal"])),
    ],
)
async def test_media2_create_profile_faults_make_nothing(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    body: str,
    expected: tuple[int, str, list[str]],
) -> None:
    assert fault(await media2(client, body, as_admin(device))) == expected
    assert list(device.profiles) == ["profile_1", "profile_3"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (m2_add("profile_3", ("Foo", "x")), (400, "Sender", ["InvalidArgVal"])),
        (m2_add("profile_3", ("VideoEncoder", None)), (400, "Sender", ["InvalidArgVal"])),
        (m2_add("profile_3", ("PTZ", "ptz1")), (500, "Receiver", ["ActionNotSupported"])),
        (m2_add("nope", ("VideoEncoder", "vec1")), NO_PROFILE),
        (m2_add("profile_3", ("VideoEncoder", "nope")), NO_CONFIG),
        # The second fails, so the first is not added either.
        (m2_add("profile_3", ("VideoSource", "vsc2"), ("VideoEncoder", "nope")), NO_CONFIG),
        (m2_remove("profile_3", ("Foo", None)), (400, "Sender", ["InvalidArgVal"])),
        (m2_remove("nope", ("All", None)), NO_PROFILE),
        (m2_remove("profile_1", ("VideoSource", None)), CONFLICT),
    ],
)
async def test_media2_add_and_remove_faults_change_nothing(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    body: str,
    expected: tuple[int, str, list[str]],
) -> None:
    assert fault(await media2(client, body, as_admin(device))) == expected
    assert held(await m2_profile(client, device, "profile_1")) == ("vsc1", "vec1")
    assert held(await m2_profile(client, device, "profile_3")) == ("vsc3", None)


async def test_media2_add_configuration_needs_a_video_source_for_an_encoder(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    await ok2(client, device, m2_create("empty"))
    answer = await media2(client, m2_add("profile_2", ("VideoEncoder", "vec1")), as_admin(device))
    assert fault(answer) == CONFLICT
    both = m2_add("profile_2", ("VideoSource", "vsc2"), ("VideoEncoder", "vec1"))
    await ok2(client, device, both)
    assert held(await m2_profile(client, device, "profile_2")) == ("vsc2", "vec1")


# ---------------------------------------------------------------- profile faults


@pytest.mark.parametrize(
    ("service", "body"),
    [
        (MEDIA, m1_pair("DeleteProfile", "profile_1")),
        (MEDIA2, "<tr2:DeleteProfile><tr2:Token>profile_3</tr2:Token></tr2:DeleteProfile>"),
    ],
)
async def test_fixed_profiles_cannot_be_deleted(
    client: TestClient[Any, Any], device: SimulatedDevice, service: str, body: str
) -> None:
    answer = await call(client, body, as_admin(device), path=service_path(1, service))
    assert fault(answer) == FIXED
    assert list(device.profiles) == ["profile_1", "profile_3"]


@pytest.mark.parametrize(("service", "body"), [(MEDIA, m1_create("x")), (MEDIA2, m2_create("x"))])
async def test_max_profiles(
    client: TestClient[Any, Any], device: SimulatedDevice, service: str, body: str
) -> None:
    device.max_profiles = 3
    path = service_path(1, service)
    ok(await call(client, body, as_admin(device), path=path))
    assert fault(await call(client, body, as_admin(device), path=path)) == MAX_PROFILES
    assert len(device.profiles) == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (m1_pair("GetProfile", "nope"), NO_PROFILE),
        (m1_pair("DeleteProfile", "nope"), NO_PROFILE),
        (m1_pair("AddVideoSourceConfiguration", "nope", "vsc1"), NO_PROFILE),
        (m1_pair("AddVideoSourceConfiguration", "profile_3", "nope"), NO_CONFIG),
        (m1_pair("RemoveVideoSourceConfiguration", "nope"), NO_PROFILE),
        (m1_pair("AddVideoEncoderConfiguration", "nope", "vec1"), NO_PROFILE),
        (m1_pair("AddVideoEncoderConfiguration", "profile_3", "nope"), NO_CONFIG),
        (m1_pair("AddVideoEncoderConfiguration", "profile_3", "vec2"), NO_CONFIG),  # H265
        (m1_pair("RemoveVideoEncoderConfiguration", "nope"), NO_PROFILE),
        # An encoder encodes the profile's video source: not without one.
        (m1_pair("RemoveVideoSourceConfiguration", "profile_1"), CONFLICT),
        ("<trt:GetProfile/>", (400, "Sender", ["InvalidArgVal"])),
        ("<trt:CreateProfile/>", (400, "Sender", ["InvalidArgVal"])),
    ],
)
async def test_media1_profile_faults_change_nothing(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    body: str,
    expected: tuple[int, str, list[str]],
) -> None:
    assert fault(await media1(client, body, as_admin(device))) == expected
    assert held(await m2_profile(client, device, "profile_1")) == ("vsc1", "vec1")
    assert held(await m2_profile(client, device, "profile_3")) == ("vsc3", None)


async def test_media1_encoder_needs_a_video_source(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    await ok1(client, device, m1_create("empty", "e"))
    answer = await media1(
        client, m1_pair("AddVideoEncoderConfiguration", "e", "vec1"), as_admin(device)
    )
    assert fault(answer) == CONFLICT
    assert device.profiles["e"].video_encoder is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (m2_profiles(profile="nope"), NO_PROFILE),
        (m2_profiles("Foo"), (400, "Sender", ["InvalidArgVal"])),
        ("<tr2:DeleteProfile><tr2:Token>nope</tr2:Token></tr2:DeleteProfile>", NO_PROFILE),
        (
            "<tr2:GetVideoSourceConfigurations><tr2:ConfigurationToken>nope"
            "</tr2:ConfigurationToken></tr2:GetVideoSourceConfigurations>",
            NO_CONFIG,
        ),
        (
            "<tr2:GetVideoEncoderConfigurations><tr2:ProfileToken>nope"
            "</tr2:ProfileToken></tr2:GetVideoEncoderConfigurations>",
            NO_PROFILE,
        ),
    ],
)
async def test_media2_lookup_faults(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    body: str,
    expected: tuple[int, str, list[str]],
) -> None:
    assert fault(await media2(client, body, as_admin(device))) == expected


async def test_media2_get_configurations_by_token(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = (
        "<tr2:GetVideoEncoderConfigurations><tr2:ConfigurationToken>vec2</tr2:ConfigurationToken>"
        "<tr2:ProfileToken>profile_1</tr2:ProfileToken></tr2:GetVideoEncoderConfigurations>"
    )
    answer = await ok2(client, device, body)
    assert tokens(answer, "tr2:Configurations") == ["vec2"]


# ---------------------------------------------------------------- SetVideoEncoderConfiguration


async def test_media1_set_video_encoder_configuration(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    settings = (
        "<tt:Name>main</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>MPEG4</tt:Encoding>"
        "<tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution>"
        "<tt:Quality>7</tt:Quality>"
        "<tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit>"
        "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>1024</tt:BitrateLimit>"
        "</tt:RateControl>"
        "<tt:MPEG4><tt:GovLength>12</tt:GovLength><tt:Mpeg4Profile>ASP</tt:Mpeg4Profile></tt:MPEG4>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type></tt:Address><tt:Port>0</tt:Port>"
        "<tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        "<tt:SessionTimeout>PT30S</tt:SessionTimeout>"
    )
    answer = await ok1(client, device, m1_set_encoder("vec1", settings, "true"))
    assert answer.body.tag == f"{{{TRT}}}SetVideoEncoderConfigurationResponse"
    profile = await m1_profile(client, device, "profile_1")
    encoder = find(profile, "tt:VideoEncoderConfiguration")
    assert encoder.findtext("tt:Name", namespaces=NS) == "main"
    assert encoder.findtext("tt:Encoding", namespaces=NS) == "MPEG4"
    assert encoder.findtext("tt:MPEG4/tt:Mpeg4Profile", namespaces=NS) == "ASP"
    assert encoder.findtext("tt:MPEG4/tt:GovLength", namespaces=NS) == "12"
    assert encoder.find("tt:H264", NS) is None
    assert encoder.findtext("tt:Resolution/tt:Width", namespaces=NS) == "1280"

    answer = await ok2(client, device, "<tr2:GetVideoEncoderConfigurations/>")
    vec1 = find(answer.body, "tr2:Configurations")
    assert vec1.findtext("tt:Encoding", namespaces=NS) == "MPV4-ES"
    assert (vec1.get("Profile"), vec1.get("GovLength")) == ("AdvancedSimple", "12")
    assert vec1.findtext("tt:RateControl/tt:FrameRateLimit", namespaces=NS) == "15.0"

    # Back to H264 without naming a profile: the codec's default one.
    back = "<tt:Encoding>H264</tt:Encoding>"
    await ok1(client, device, m1_set_encoder("vec1", back))
    assert (
        device.video_encoder_configurations["vec1"].encoding,
        device.video_encoder_configurations["vec1"].profile,
    ) == ("H264", "Main")


@pytest.mark.parametrize(
    ("configuration", "settings", "expected"),
    [
        ("vec1", "<tt:Encoding>JPEG</tt:Encoding>", CONFIG_MODIFY),  # not offered (see below)
        ("vec1", "<tt:Encoding>H265</tt:Encoding>", CONFIG_MODIFY),  # not a tt:VideoEncoding
        (
            "vec1",
            "<tt:Resolution><tt:Width>1</tt:Width><tt:Height>1</tt:Height></tt:Resolution>",
            CONFIG_MODIFY,
        ),
        ("vec1", "<tt:Quality>11</tt:Quality>", CONFIG_MODIFY),
        ("vec1", "<tt:Quality>good</tt:Quality>", CONFIG_MODIFY),
        (
            "vec1",
            "<tt:H264><tt:GovLength>30</tt:GovLength>"
            "<tt:H264Profile>Extended</tt:H264Profile></tt:H264>",
            CONFIG_MODIFY,
        ),
        ("nope", "<tt:Encoding>H264</tt:Encoding>", NO_CONFIG),
        ("vec2", "<tt:Encoding>H264</tt:Encoding>", NO_CONFIG),  # H265: Media1 does not see it
    ],
)
async def test_media1_set_video_encoder_configuration_refusals(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    configuration: str,
    settings: str,
    expected: tuple[int, str, list[str]],
) -> None:
    device.codecs = {"H264", "H265", "MPEG4"}
    before = dict(device.video_encoder_configurations)
    answer = await media1(client, m1_set_encoder(configuration, settings), as_admin(device))
    assert fault(answer) == expected
    assert device.video_encoder_configurations == before


async def test_media2_set_video_encoder_configuration(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    settings = (
        "<tt:Name>sub</tt:Name><tt:UseCount>0</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
        "<tt:Resolution><tt:Width>640</tt:Width><tt:Height>480</tt:Height></tt:Resolution>"
        "<tt:RateControl><tt:FrameRateLimit>10</tt:FrameRateLimit>"
        "<tt:BitrateLimit>512</tt:BitrateLimit></tt:RateControl><tt:Quality>3</tt:Quality>"
    )
    body = m2_set_encoder("vec2", settings, 'GovLength="60" Profile="High"')
    answer = await ok2(client, device, body)
    assert answer.body.tag == f"{{{TR2}}}SetVideoEncoderConfigurationResponse"
    encoder = device.video_encoder_configurations["vec2"]
    assert (encoder.name, encoder.encoding, encoder.profile, encoder.gov_length) == (
        "sub",
        "H264",
        "High",
        60,
    )
    assert (encoder.width, encoder.height, encoder.quality, encoder.bitrate) == (640, 480, 3, 512)

    # Now H264, Media1 sees it too.
    answer = await ok1(client, device, "<trt:GetVideoEncoderConfigurations/>")
    assert tokens(answer, "trt:Configurations") == ["vec1", "vec2"]
    assert (
        answer.body.findall("trt:Configurations", NS)[1].findtext(
            "tt:H264/tt:H264Profile", namespaces=NS
        )
        == "High"
    )

    # A client that reads, changes only the encoding and writes back sends the old profile:
    # it is replaced by the new codec's default one.
    mpeg4 = m2_set_encoder("vec2", "<tt:Encoding>MPV4-ES</tt:Encoding>", 'Profile="High"')
    await ok2(client, device, mpeg4)
    encoder = device.video_encoder_configurations["vec2"]
    assert (encoder.encoding, encoder.profile) == ("MPEG4", "Simple")
    # But a profile the client chose must fit the codec.
    h265 = m2_set_encoder("vec2", "<tt:Encoding>H265</tt:Encoding>", 'Profile="High"')
    assert fault(await media2(client, h265, as_admin(device))) == CONFIG_MODIFY


@pytest.mark.parametrize(
    ("configuration", "settings", "attributes", "expected"),
    [
        ("vec1", "<tt:Encoding>H265</tt:Encoding>", "", CONFIG_MODIFY),  # not offered (below)
        ("vec1", "<tt:Encoding>MPEG4</tt:Encoding>", "", CONFIG_MODIFY),  # Media2 says MPV4-ES
        ("vec1", "", 'Profile="Main10"', CONFIG_MODIFY),  # an H265 profile
        ("vec1", "", 'GovLength="0"', CONFIG_MODIFY),
        ("vec1", "", 'GovLength="many"', CONFIG_MODIFY),
        (
            "vec1",
            "<tt:RateControl><tt:FrameRateLimit>60</tt:FrameRateLimit>"
            "<tt:BitrateLimit>1024</tt:BitrateLimit></tt:RateControl>",
            "",
            CONFIG_MODIFY,
        ),
        ("nope", "<tt:Encoding>H264</tt:Encoding>", "", NO_CONFIG),
    ],
)
async def test_media2_set_video_encoder_configuration_refusals(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    configuration: str,
    settings: str,
    attributes: str,
    expected: tuple[int, str, list[str]],
) -> None:
    device.codecs = {"H264", "MPEG4", "JPEG"}
    before = dict(device.video_encoder_configurations)
    body = m2_set_encoder(configuration, settings, attributes)
    assert fault(await media2(client, body, as_admin(device))) == expected
    assert device.video_encoder_configurations == before


# ---------------------------------------------------------------- switches


@pytest.mark.parametrize("status", [400, 500, 200])
async def test_fault_status_is_used_for_every_fault(
    client: TestClient[Any, Any], device: SimulatedDevice, status: int
) -> None:
    device.fault_status = status
    sender = await media1(client, m1_pair("GetProfile", "nope"), as_admin(device))
    assert (sender.status, sender.fault()[1][-1]) == (status, f"{{{TER}}}NoProfile")
    receiver = await media2(client, "<tr2:GetAudioOutputs/>", as_admin(device))
    assert (receiver.status, receiver.fault()[1]) == (status, [f"{{{TER}}}ActionNotSupported"])
    refused = await call(client, "<tds:GetUsers/>")
    assert (refused.status, refused.fault()[1]) == (status, [f"{{{TER}}}NotAuthorized"])


@pytest.mark.parametrize(
    ("service", "body", "child"),
    [
        (MEDIA, "<trt:GetProfiles/>", "Profiles"),
        (MEDIA2, m2_profiles("All"), "Profiles"),
        (MEDIA2, "<tr2:CreateProfile><tr2:Name>n</tr2:Name></tr2:CreateProfile>", "Token"),
        ("device", "<tds:GetDeviceInformation/>", "Manufacturer"),
    ],
)
async def test_wrong_namespace_moves_the_response_children_to_tt(
    client: TestClient[Any, Any], device: SimulatedDevice, service: str, body: str, child: str
) -> None:
    device.wrong_namespace = True
    answer = ok(await call(client, body, as_admin(device), path=service_path(1, service)))
    assert etree.QName(answer.body).namespace != TT  # the response element keeps its own
    assert answer.body.find(f"{{{TT}}}{child}") is not None
    assert all(etree.QName(element).namespace == TT for element in answer.body)


async def test_wrong_namespace_keeps_deeper_elements(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.wrong_namespace = True
    answer = await ok2(client, device, m2_profiles())
    assert answer.body.find("tt:Profiles/tr2:Name", NS) is not None


@pytest.mark.parametrize("mode", ["true", "Hidden", "Discoverable"])
async def test_get_discovery_mode_echoes_any_mode(
    client: TestClient[Any, Any], device: SimulatedDevice, mode: str
) -> None:
    device.discovery_mode = mode
    answer = ok(await call(client, "<tds:GetDiscoveryMode/>", token("user", "user")))
    assert answer.text("tds:DiscoveryMode") == mode


async def test_stubbed_writes_change_nothing(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.stub_writes = {
        "SetDiscoveryMode",
        "CreateProfile",
        "DeleteProfile",
        "AddVideoSourceConfiguration",
        "RemoveVideoEncoderConfiguration",
        "AddConfiguration",
        "RemoveConfiguration",
        "SetVideoEncoderConfiguration",
        "SystemReboot",
    }
    body = "<tds:SetDiscoveryMode><tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>"
    ok(await call(client, body + "</tds:SetDiscoveryMode>", as_admin(device)))
    assert device.discovery_mode == "Discoverable"
    answer = ok(await call(client, "<tds:SystemReboot/>", as_admin(device)))
    assert answer.text("tds:Message")
    assert device.reboots == 0

    answer = await ok1(client, device, m1_create("ghost"))
    created = find(answer.body, "trt:Profile")
    assert created.get("token") == "profile_2"
    assert created.findtext("tt:Name", namespaces=NS) == "ghost"
    answer = await ok1(client, device, m1_create("ghost", "mine"))
    assert find(answer.body, "trt:Profile").get("token") == "mine"
    answer = await ok2(client, device, m2_create("ghost"))
    assert answer.text("tr2:Token") == "profile_2"
    assert list(device.profiles) == ["profile_1", "profile_3"]

    # Stubs answer success without looking, even where the real operation would fault.
    await ok1(client, device, m1_pair("DeleteProfile", "profile_1"))
    await ok1(client, device, m1_pair("AddVideoSourceConfiguration", "profile_3", "vsc2"))
    await ok1(client, device, m1_pair("RemoveVideoEncoderConfiguration", "profile_1"))
    await ok2(client, device, m2_add("nope", ("VideoEncoder", "vec2")))
    await ok2(client, device, m2_remove("profile_1", ("All", None)))
    await ok1(client, device, m1_set_encoder("vec1", "<tt:Encoding>JPEG</tt:Encoding>"))
    assert held(await m2_profile(client, device, "profile_1")) == ("vsc1", "vec1")
    assert held(await m2_profile(client, device, "profile_3")) == ("vsc3", None)
    assert device.video_encoder_configurations["vec1"].encoding == "H264"

    # The access policy still applies to them.
    assert not_authorized(await media1(client, m1_create("ghost"), token("user", "user")))


async def test_unsupported_operations(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    device.unsupported = {"GetProfiles"}
    for answer in (
        await media1(client, "<trt:GetProfiles/>", as_admin(device)),
        await media2(client, m2_profiles(), as_admin(device)),
    ):
        assert fault(answer) == (500, "Receiver", ["ActionNotSupported"])
    await ok1(client, device, "<trt:GetVideoSources/>")


async def test_empty_reply(client: TestClient[Any, Any], device: SimulatedDevice) -> None:
    device.empty_reply = {"GetProfiles", "GetHostname"}
    for path, body in (
        (service_path(1, MEDIA), "<trt:GetProfiles/>"),
        (service_path(1, MEDIA2), m2_profiles()),
        (device_path(1), "<tds:GetHostname/>"),
    ):
        response = await client.post(path, data=envelope(body))  # no credentials needed
        assert response.status == 200
        assert await response.read() == b""
    await ok1(client, device, "<trt:GetVideoSources/>")


async def test_operations_answer_only_at_their_service(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    for path, body in (
        (service_path(1, MEDIA), "<tds:GetDeviceInformation/>"),
        (service_path(1, MEDIA), m2_profiles()),
        (service_path(1, MEDIA2), "<trt:GetProfiles/>"),
    ):
        answer = await call(client, body, as_admin(device), path=path)
        assert fault(answer) == (500, "Receiver", ["ActionNotSupported"])


# ---------------------------------------------------------------- services and capabilities


def listed_services(answer: Answer) -> dict[str | None, str | None]:
    return {
        service.findtext("tds:Namespace", namespaces=NS): service.findtext(
            "tds:XAddr", namespaces=NS
        )
        for service in answer.body.iterfind("tds:Service", NS)
    }


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ({MEDIA, MEDIA2}, [TDS, TRT, TR2]),
        ({MEDIA}, [TDS, TRT]),
        ({MEDIA2}, [TDS, TR2]),
        (set(), [TDS]),
    ],
)
async def test_get_services_lists_the_media_services(
    client: TestClient[Any, Any], device: SimulatedDevice, services: set[str], expected: list[str]
) -> None:
    device.services = services
    body = "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>"
    answer = ok(await call(client, body, headers={"Host": "cam.example:8080"}))
    paths = {TDS: "device_service", TRT: "media_service", TR2: "media2_service"}
    assert listed_services(answer) == {
        namespace: f"http://cam.example:8080/dev/1/onvif/{paths[namespace]}"
        for namespace in expected
    }


async def test_get_services_with_capabilities(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    body = "<tds:GetServices><tds:IncludeCapability>true</tds:IncludeCapability></tds:GetServices>"
    answer = ok(await call(client, body))
    capabilities = [
        find(service, "tds:Capabilities")[0] for service in answer.body.iterfind("tds:Service", NS)
    ]
    assert [c.tag for c in capabilities] == [
        f"{{{TDS}}}Capabilities",
        f"{{{TRT}}}Capabilities",
        f"{{{TR2}}}Capabilities",
        f"{{{TIMG}}}Capabilities",
        "{http://www.onvif.org/ver20/ptz/wsdl}Capabilities",
        "{http://www.onvif.org/ver10/events/wsdl}Capabilities",
    ]
    assert capabilities[5].get("MaxPullPoints") == "2"
    assert find(capabilities[2], "tr2:ProfileCapabilities").get("MaximumNumberOfProfiles") == "4"


async def test_get_capabilities_has_media_with_media1(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    answer = ok(await call(client, "<tds:GetCapabilities/>", headers={"Host": "10.0.0.7"}))
    assert answer.text("tds:Capabilities/tt:Device/tt:XAddr") == (
        "http://10.0.0.7/dev/1/onvif/device_service"
    )
    assert answer.text("tds:Capabilities/tt:Media/tt:XAddr") == (
        "http://10.0.0.7/dev/1/onvif/media_service"
    )
    body = "<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>"
    answer = ok(await call(client, body))
    assert [etree.QName(c).localname for c in find(answer.body, "tds:Capabilities")] == ["Media"]

    device.services = {MEDIA2}  # Media2 is only listed by GetServices
    assert fault(await call(client, body)) == (
        500,
        "Receiver",
        ["ActionNotSupported", "NoSuchService"],
    )
    answer = ok(await call(client, "<tds:GetCapabilities/>"))
    assert answer.body.find("tds:Capabilities/tt:Media", NS) is None


async def test_services_can_change_at_any_time(
    client: TestClient[Any, Any], device: SimulatedDevice
) -> None:
    await ok2(client, device, m2_profiles())
    device.services = set()
    for path in (service_path(1, MEDIA), service_path(1, MEDIA2)):
        response = await client.post(path, data=envelope("<trt:GetProfiles/>"))
        assert response.status == 404
    device.services = {MEDIA}
    await ok1(client, device, "<trt:GetProfiles/>")


# ---------------------------------------------------------------- access policy


@pytest.mark.parametrize(
    ("service", "read", "write"),
    [
        (MEDIA, "<trt:GetProfiles/>", m1_create("mine")),
        (MEDIA2, m2_profiles("All"), m2_create("mine")),
    ],
)
async def test_users_read_operators_write(
    client: TestClient[Any, Any], device: SimulatedDevice, service: str, read: str, write: str
) -> None:
    path = service_path(1, service)
    assert not_authorized(await call(client, read, path=path))
    ok(await call(client, read, token("user", "user"), path=path))
    assert not_authorized(await call(client, write, token("user", "user"), path=path))
    assert len(device.profiles) == 2
    ok(await call(client, write, token("operator", "operator"), path=path))
    assert len(device.profiles) == 3


# ---------------------------------------------------------------- schema validation


@pytest.fixture(scope="module")
def media1_wsdl() -> zeep.Client:
    return offline_wsdl(WSDL_DIR / "ver10/media/wsdl/media.wsdl")


@pytest.fixture(scope="module")
def media2_wsdl() -> zeep.Client:
    return offline_wsdl(WSDL_DIR / "ver20/media/wsdl/media.wsdl")


MEDIA1_ANSWERS = [
    ("GetVideoSources", "<trt:GetVideoSources/>"),
    ("GetVideoSourceConfigurations", "<trt:GetVideoSourceConfigurations/>"),
    ("GetVideoEncoderConfigurations", "<trt:GetVideoEncoderConfigurations/>"),
    ("GetVideoEncoderConfigurationOptions", "<trt:GetVideoEncoderConfigurationOptions/>"),
    (
        "GetVideoEncoderConfigurationOptions",
        "<trt:GetVideoEncoderConfigurationOptions><trt:ConfigurationToken>vec1"
        "</trt:ConfigurationToken></trt:GetVideoEncoderConfigurationOptions>",
    ),
    ("GetProfiles", "<trt:GetProfiles/>"),
    ("GetProfile", m1_pair("GetProfile", "profile_1")),
    ("CreateProfile", m1_create("new")),
    ("CreateProfile", m1_create("new", "token")),
    ("DeleteProfile", m1_pair("DeleteProfile", "spare")),
    ("AddVideoSourceConfiguration", m1_pair("AddVideoSourceConfiguration", "spare", "vsc2")),
    ("RemoveVideoSourceConfiguration", m1_pair("RemoveVideoSourceConfiguration", "profile_3")),
    ("AddVideoEncoderConfiguration", m1_pair("AddVideoEncoderConfiguration", "profile_3", "vec1")),
    ("RemoveVideoEncoderConfiguration", m1_pair("RemoveVideoEncoderConfiguration", "profile_1")),
    ("SetVideoEncoderConfiguration", m1_set_encoder("vec1", "<tt:Encoding>JPEG</tt:Encoding>")),
]
MEDIA2_ANSWERS = [
    ("GetProfiles", m2_profiles()),
    ("GetProfiles", m2_profiles("All")),
    ("GetProfiles", m2_profiles("VideoEncoder", profile="profile_1")),
    ("CreateProfile", m2_create("new", ("VideoSource", "vsc2"), ("VideoEncoder", "vec2"))),
    ("DeleteProfile", "<tr2:DeleteProfile><tr2:Token>spare</tr2:Token></tr2:DeleteProfile>"),
    ("AddConfiguration", m2_add("spare", ("VideoSource", "vsc1"), name="renamed")),
    ("RemoveConfiguration", m2_remove("profile_1", ("All", None))),
    ("GetVideoSourceConfigurations", "<tr2:GetVideoSourceConfigurations/>"),
    ("GetVideoEncoderConfigurations", "<tr2:GetVideoEncoderConfigurations/>"),
    ("GetVideoEncoderConfigurationOptions", "<tr2:GetVideoEncoderConfigurationOptions/>"),
    ("SetVideoEncoderConfiguration", m2_set_encoder("vec2", "<tt:Encoding>MPV4-ES</tt:Encoding>")),
]


@pytest.mark.parametrize("media1_only", [False, True], ids=["media2-device", "media1-device"])
@pytest.mark.parametrize(
    ("operation", "body"), MEDIA1_ANSWERS, ids=[operation for operation, _ in MEDIA1_ANSWERS]
)
async def test_media1_answers_match_the_official_schema(
    aiohttp_client: AiohttpClient,
    media1_wsdl: zeep.Client,
    media1_only: bool,
    operation: str,
    body: str,
) -> None:
    device = SimulatedDevice(services={MEDIA} if media1_only else {MEDIA, MEDIA2})
    device.profiles["spare"] = Profile("spare")
    client = await aiohttp_client(create_simulator_app([device]))
    answer = await ok1(client, device, body)
    assert answer.body.tag == f"{{{TRT}}}{operation}Response"
    check_schema(media1_wsdl, operation, answer, MEDIA1_BINDING)


@pytest.mark.parametrize(
    ("operation", "body"), MEDIA2_ANSWERS, ids=[operation for operation, _ in MEDIA2_ANSWERS]
)
async def test_media2_answers_match_the_official_schema(
    client: TestClient[Any, Any],
    device: SimulatedDevice,
    media2_wsdl: zeep.Client,
    operation: str,
    body: str,
) -> None:
    device.profiles["spare"] = Profile("spare")
    answer = await ok2(client, device, body)
    assert answer.body.tag == f"{{{TR2}}}{operation}Response"
    check_schema(media2_wsdl, operation, answer, MEDIA2_BINDING)


async def test_the_schema_check_refuses_the_wrong_namespace(
    client: TestClient[Any, Any], device: SimulatedDevice, media1_wsdl: zeep.Client
) -> None:
    device.wrong_namespace = True
    answer = await ok1(client, device, "<trt:GetProfiles/>")
    with pytest.raises(zeep.exceptions.Error):
        check_schema(media1_wsdl, "GetProfiles", answer, MEDIA1_BINDING)


async def test_zeep_reads_the_media_faults(
    client: TestClient[Any, Any], device: SimulatedDevice, media2_wsdl: zeep.Client
) -> None:
    body = "<tr2:DeleteProfile><tr2:Token>profile_1</tr2:Token></tr2:DeleteProfile>"
    answer = await media2(client, body, as_admin(device))
    with pytest.raises(zeep.exceptions.Fault) as raised:
        check_schema(media2_wsdl, "DeleteProfile", answer, MEDIA2_BINDING)
    assert raised.value.code == "env:Sender"
    assert raised.value.subcodes == [
        etree.QName(TER, "Action"),
        etree.QName(TER, "DeletionOfFixedProfile"),
    ]
