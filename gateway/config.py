"""gateway.ini: reading it, checking every key and value, and the typed settings that come out."""

from __future__ import annotations

import configparser
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.access import LEVELS
from gateway.errors import ConfigError
from gateway.logs import LOG_FORMATS

DEVICE_PREFIX = "device:"
# Matched whole (fullmatch: a '$' alone lets a trailing newline through); the anchors are for
# the OpenAPI document, which uses it as a JSON Schema pattern.
DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A DNS name: labels of letters, digits and inner hyphens (RFC 1123), dot-separated.
HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


@dataclass(frozen=True)
class DeviceConfig:
    """One ONVIF device the gateway fronts."""

    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    default: bool = False
    # https:// only. By default the device's certificate must chain to a system CA and name its
    # host; tls_ca trusts one CA file instead, tls_fingerprint pins the certificate itself (SHA-256
    # of its DER, 64 lowercase hex digits), tls_verify = False turns the checks off.
    tls_ca: Path | None = None
    tls_fingerprint: str | None = None
    tls_verify: bool = True
    # user_levels: the tt:UserLevel of named users, for a device whose GetUsers does not say
    # (it answers an empty list, or refuses); what the device tells always wins.
    user_levels: tuple[tuple[str, str], ...] = ()
    # The host (or host:port) clients reach the device's streams at, when not the one the device
    # names in its stream URIs (NAT, a port forward): stream URIs are rewritten to it.
    stream_host: str | None = None
    # Hosts besides the device's own (its url's) the gateway may fetch snapshots from.
    snapshot_hosts: tuple[str, ...] = ()

    def stated_level(self, username: str) -> str | None:
        """The level gateway.ini states for a user of this device, if any."""
        return dict(self.user_levels).get(username)


@dataclass(frozen=True)
class DeviceLimits:
    """How long to wait for a device, how many calls at once, when to stop asking it."""

    timeout: float = 10.0
    concurrency: int = 4
    breaker_failures: int = 5
    breaker_reset: float = 30.0


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs to start; built from gateway.ini or by the demo."""

    devices: tuple[DeviceConfig, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    session_idle_timeout: float = 900.0
    session_max_age: float = 8 * 3600.0
    max_sessions: int = 10_000
    # A client connection that has not sent a whole request head within this many seconds (from
    # connecting, or since its last answer) is closed; one client address holds at most
    # connections_per_address connections at once.
    header_timeout: float = 15.0
    connections_per_address: int = 256
    # One user of a device, and one client address, hold at most this many sessions: a new one
    # past it ends the oldest of their own, never anybody else's.
    sessions_per_user: int = 100
    sessions_per_address: int = 1_000
    # Who may add and remove devices (fleet administration): these users of the default device;
    # empty: the default device's Administrators.
    fleet_admins: tuple[str, ...] = ()
    device_timeout: float = 10.0
    device_concurrency: int = 4
    breaker_failures: int = 5
    breaker_reset: float = 30.0
    health_interval: float = 60.0
    cache_ttl: float = 1.0
    # A continuous PTZ or focus move stops by itself this long after its last PUT (seconds),
    # unless the client asks for another lease (lease_ms), at most move_lease_max.
    move_lease: float = 2.0
    move_lease_max: float = 30.0
    # An absolute PTZ move is read back once the head says it stopped moving, waiting at most
    # this long (seconds; 0: read back at once).
    move_settle: float = 10.0
    login_max_failures: int = 5
    login_lockout: float = 300.0
    state_dir: Path = Path("state")
    # Set: sessions, policy and runtime devices live in this Redis, shared by every instance.
    redis_url: str | None = None
    # None: the mapping files that come with the gateway
    mappings_dir: Path | None = None
    # Both set: the gateway serves HTTPS only, with this PEM certificate (chain) and key.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # "plain" text log lines, or "json": one JSON object a line
    log_format: str = "plain"
    # Snapshots: kept this many seconds per device and profile (0: every request fetches one),
    # fetched within snapshot_timeout seconds, at most snapshot_max_bytes long.
    snapshot_ttl: float = 1.0
    snapshot_timeout: float = 5.0
    snapshot_max_bytes: int = 8 * 1024 * 1024
    # Client networks that may read /metrics without a bearer token (a Prometheus scraper).
    metrics_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Where the devices above were configured: the file's name (GET /devices says it).
    source: str = "built in"
    # Events: kept per device for Last-Event-ID; waiting for one client before it is dropped;
    # the life the gateway asks for its subscriptions (renewed at half of it); how long a
    # subscription outlives its last listener; the first wait before subscribing again.
    event_buffer: int = 1000
    event_client_queue: int = 1000
    event_lifetime: float = 60.0
    event_linger: float = 5.0
    event_retry: float = 1.0
    # With redis_url: one instance holds each device's subscription under a lease this long in
    # Redis, renewed every third of it; another takes over within it when that one dies.
    event_lease: float = 5.0
    # Webhooks may only point into these networks (default: this machine only); a delivery
    # is tried webhook_retries more times, waiting webhook_retry seconds (doubling) between.
    webhook_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    webhook_retries: int = 5
    webhook_retry: float = 1.0

    @property
    def device_limits(self) -> DeviceLimits:
        """What every device connection is held to."""
        return DeviceLimits(self.device_timeout, self.device_concurrency,
                            self.breaker_failures, self.breaker_reset)

    @property
    def default_device(self) -> DeviceConfig:
        """The device the seed's bare paths serve: the one marked default, or the only one."""
        marked = [d for d in self.devices if d.default]
        return marked[0] if marked else self.devices[0]


def _float(value: str) -> float:
    # said in the user's words, not Python's ("could not convert string to float")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number (seconds, say 10 or 2.5)") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("must be a number (seconds, say 10 or 2.5)")
    return number


def _int(value: str) -> int:
    # said in the user's words, not Python's ("invalid literal for int() with base 10")
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _positive_float(value: str) -> float:
    number = _float(value)
    if not number > 0:
        raise ValueError("must be greater than 0")
    return number


def _not_negative_float(value: str) -> float:
    number = _float(value)
    if not number >= 0:
        raise ValueError("must be 0 or more")
    return number


def _not_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _positive_int(value: str) -> int:
    number = _int(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _port(value: str) -> int:
    number = _int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a port number, 0 to 65535")
    return number


def _boolean(value: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if value.lower() not in states:
        raise ValueError("must be yes or no")
    return states[value.lower()]


def _redis_url(value: str) -> str:
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _device_url(value: str) -> str:
    """An http(s) URL with a host name or IP address, a port from 1 to 65535 if any, and no
    user name or password in it (they would be shown to every session by GET /devices)."""
    parts = urlsplit(value)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL of the device service")
    # (the one character both a space and printable is " ": one look at each character, not two
    # Python calls, which were a third of reading gateway.ini with 500 devices)
    if " " in value or not value.isprintable():
        raise ValueError("must not hold spaces or control characters")
    if "@" in parts.netloc:
        raise ValueError("must not hold a user name or password; give them as username and "
                         "password")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError("has a port that is not a number from 1 to 65535")
    if not HOST_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a host name or IP address") from None
    return value


def _user_levels(value: str) -> tuple[tuple[str, str], ...]:
    """Comma-separated name:Level pairs; a level is one of ONVIF's (any case)."""
    levels = {level.lower(): level for level in LEVELS}
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        name, _, level = part.rpartition(":")
        if not name.strip() or level.strip().lower() not in levels:
            raise ValueError(f"{part!r} is not user:level with a level of "
                             f"{', '.join(LEVELS)}")
        pairs[name.strip()] = levels[level.strip().lower()]
    return tuple(pairs.items())


def _names(value: str) -> tuple[str, ...]:
    """Comma-separated user names."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or networks (10.0.0.0/8); host bits set are refused as typos."""
    networks = []
    for part in (p.strip() for p in value.split(",") if value):
        try:
            networks.append(ipaddress.ip_network(part))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not an IP address or network ({exc})") from None
    return tuple(networks)


def _host(value: str) -> str:
    """A host name or address, with a port or without (IPv6 in brackets)."""
    try:
        parts = urlsplit(f"//{value}")
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise ValueError(f"must be a host or host:port ({exc})") from None
    if not parts.hostname or parts.netloc != value or "@" in value:
        raise ValueError("must be a host or host:port, nothing else")
    return value


def _hosts(value: str) -> tuple[str, ...]:
    """Comma-separated host names or addresses (no ports: any port of theirs)."""
    hosts = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        parts = urlsplit(f"//{_host(part)}")
        if parts.port is not None or not parts.hostname:
            raise ValueError(f"{part!r}: a host without a port")
        hosts.append(parts.hostname)
    return tuple(hosts)


def _fingerprint(value: str) -> str:
    digits = value.replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError("must be the SHA-256 fingerprint of the device's certificate: "
                         "64 hex digits, colons allowed")
    return digits


GATEWAY_KEYS: dict[str, Callable[[str], Any]] = {
    "host": str,
    "port": _port,
    "session_idle_timeout": _positive_float,
    "session_max_age": _positive_float,
    "max_sessions": _positive_int,
    "header_timeout": _positive_float,
    "connections_per_address": _positive_int,
    "sessions_per_user": _positive_int,
    "sessions_per_address": _positive_int,
    "fleet_admins": _names,
    "device_timeout": _positive_float,
    "device_concurrency": _positive_int,
    "breaker_failures": _positive_int,
    "breaker_reset": _positive_float,
    "health_interval": _not_negative_float,
    "cache_ttl": _not_negative_float,
    "move_lease": _positive_float,
    "move_lease_max": _positive_float,
    "move_settle": _not_negative_float,
    "login_max_failures": _positive_int,
    "login_lockout": _positive_float,
    "state_dir": Path,
    "mappings_dir": Path,
    "redis_url": _redis_url,
    "tls_cert": Path,
    "tls_key": Path,
    "log_format": _log_format,
    "metrics_allow": _networks,
    "snapshot_ttl": _not_negative_float,
    "snapshot_timeout": _positive_float,
    "snapshot_max_bytes": _positive_int,
    "event_buffer": _positive_int,
    "event_client_queue": _positive_int,
    "event_lifetime": _positive_float,
    "event_linger": _not_negative_float,
    "event_retry": _positive_float,
    "event_lease": _positive_float,
    "webhook_allow": _networks,
    "webhook_retries": _not_negative_int,
    "webhook_retry": _positive_float,
}
DEVICE_KEYS: dict[str, Callable[[str], Any]] = {
    "url": _device_url,
    "username": str,
    "password": str,
    "default": _boolean,
    "tls_ca": Path,
    "tls_fingerprint": _fingerprint,
    "tls_verify": _boolean,
    "user_levels": _user_levels,
    "stream_host": _host,
    "snapshot_hosts": _hosts,
}


def _shown(key: str, raw: str) -> str:
    """A value as an error message repeats it: never a password, nor one inside a URL."""
    if key == "password":
        return ""
    return f" = {re.sub(r'//[^/@]*@', '//***@', raw)!r}"


def _read_section(
    name: str, section: configparser.SectionProxy, keys: dict[str, Callable[[str], Any]]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in section.items():
        if key not in keys:
            known = ", ".join(keys)
            raise ConfigError(f"[{name}] unknown key {key!r} (known keys: {known})")
        try:
            values[key] = keys[key](raw.strip())
        except ValueError as exc:
            raise ConfigError(f"[{name}] {key}{_shown(key, raw)}: {exc}") from None
    return values


def _check_device_tls(section: str, values: dict[str, Any], base_dir: Path) -> None:
    """A device's tls_* keys: https:// only, one way to trust it; tls_ca relative to the file."""
    tls_keys = [key for key in values if key.startswith("tls_")]
    if tls_keys and urlsplit(values["url"]).scheme != "https":
        raise ConfigError(f"[{section}] {tls_keys[0]} is only for an https:// url")
    ways: list[str] = [key for key in ("tls_ca", "tls_fingerprint") if key in values]
    ways += ["tls_verify = no"] if values.get("tls_verify") is False else []
    if len(ways) > 1:
        raise ConfigError(f"[{section}] {' and '.join(ways)} do not go together: "
                          "choose one way to trust the device")
    if "tls_ca" in values:
        values["tls_ca"] = base_dir / values["tls_ca"]
        if not values["tls_ca"].is_file():
            raise ConfigError(f"[{section}] tls_ca file {values['tls_ca']} is missing")


def device_from_json(name: str, url: str) -> DeviceConfig:
    """A device added at run time (POST /devices), checked like a [device:NAME] section."""
    if not DEVICE_NAME.fullmatch(name):
        raise ConfigError("a device name is 1 to 64 letters, digits, '.', '_' or '-'")
    if "@" in urlsplit(url).netloc:  # (_device_url's words point to gateway.ini's keys)
        raise ConfigError("url: must not hold a user name or password (GET /devices shows every "
                          "address); a device added at run time has no service account: "
                          "sessions log in to it with their own")
    try:
        return DeviceConfig(name, _device_url(url))
    except ValueError as exc:
        raise ConfigError(f"url: {exc}") from None  # not echoed: it may hold a password


def _read_ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    try:
        parser.read_string(text)
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"line {exc.lineno}: [{exc.section}] appears twice "
                          "(each section once: merge them)") from None
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"line {exc.lineno}: [{exc.section}] {exc.option} is set twice") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(f"not a valid INI file: line {exc.lineno}: {exc.line.strip()!r} comes "
                          "before any [section]") from None
    except configparser.ParsingError as exc:
        lineno = exc.errors[0][0]
        line = text.splitlines()[lineno - 1].strip()
        raise ConfigError(f"not a valid INI file: line {lineno}: {line!r} is neither "
                          "key = value nor a [section]") from None
    except configparser.Error as exc:
        raise ConfigError(f"not a valid INI file: {exc}") from None
    return parser


def parse_config(text: str, base_dir: Path, source: str = "gateway.ini") -> GatewayConfig:
    """Build the settings from the text of a gateway.ini; relative paths are taken from base_dir,
    source is the file's name (GET /devices says where a device is configured)."""
    parser = _read_ini(text)

    settings: dict[str, Any] = {}
    devices: list[DeviceConfig] = []
    for name in parser.sections():
        if name == "gateway":
            settings = _read_section(name, parser[name], GATEWAY_KEYS)
        elif name.startswith(DEVICE_PREFIX):
            device_name = name[len(DEVICE_PREFIX) :]
            if not DEVICE_NAME.fullmatch(device_name):
                raise ConfigError(
                    f"[{name}] a device name is 1 to 64 letters, digits, '.', '_' or '-'"
                )
            values = _read_section(name, parser[name], DEVICE_KEYS)
            if "url" not in values:
                raise ConfigError(f"[{name}] url is missing (the device's ONVIF service URL)")
            if ("username" in values) != ("password" in values):
                raise ConfigError(f"[{name}] username and password go together")
            _check_device_tls(name, values, base_dir)
            devices.append(DeviceConfig(name=device_name, **values))
        else:
            raise ConfigError(f"unknown section [{name}] (known: [gateway], [device:NAME])")

    if not devices:
        raise ConfigError("no [device:NAME] section: the gateway needs at least one device")
    defaults = [f"[{DEVICE_PREFIX}{d.name}]" for d in devices if d.default]
    if len(defaults) > 1:
        raise ConfigError(f"more than one device has default = yes: {', '.join(defaults)} "
                          "(keep it on the one the bare paths serve)")
    if len(devices) > 1 and not defaults:
        raise ConfigError("several devices: mark the one the bare paths serve with default = yes")
    if settings.get("move_lease", 2.0) > settings.get("move_lease_max", 30.0):
        raise ConfigError("[gateway] move_lease is longer than move_lease_max")
    if settings.get("session_idle_timeout", 0) > settings.get("session_max_age", float("inf")):
        raise ConfigError("[gateway] session_idle_timeout is longer than session_max_age")
    if ("tls_cert" in settings) != ("tls_key" in settings):
        raise ConfigError("[gateway] tls_cert and tls_key go together (a certificate and its key)")

    # Paths in the file are relative to the file, not to wherever the gateway was started.
    for key in ("state_dir", "mappings_dir", "tls_cert", "tls_key"):
        if key in settings:
            settings[key] = base_dir / settings[key]
    settings.setdefault("state_dir", base_dir / "state")
    return GatewayConfig(devices=tuple(devices), source=source, **settings)


def load_config(path: Path) -> GatewayConfig:
    """Read and check gateway.ini at path; every mistake is reported with the file's path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (UTF-8)") from None
    try:
        return parse_config(text, path.parent, path.name)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
