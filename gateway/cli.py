"""The onvif-gateway command: serve, demo, simulate, discover, gencert.

Only the standard library's light parts and gateway.config are imported up front: aiohttp, zeep,
lxml and cryptography take about a second to import, so each command imports what it uses when it
runs, and `--help`, `--version` or a mistake in gateway.ini answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import logging
import re
import sys
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from gateway import __version__
from gateway.config import GatewayConfig, load_config
from gateway.errors import AddressInUse, StartupError
from gateway.logs import configure_logging

if TYPE_CHECKING:
    import asyncio
    import ssl

    from aiohttp import web

    from gateway.discovery import Target
    from gateway.simulator import SimulatedDevice
    from gateway.soap.wsdiscovery import ProbeMatch

LOOPBACK = "127.0.0.1"
# As gateway.soap.wsdiscovery and gateway.discovery say (not imported here: they pull in
# asyncio and lxml, for --help too).
DISCOVERY_PORT = 3702
DEFAULT_WAIT = 2.0
log = logging.getLogger("gateway")


async def _start(app: web.Application, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    """Start serving an app; returns its runner and the port it really got (port 0 picks one)."""
    from gateway.web import server

    try:
        return await server.start(app, host, port, ssl_context)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(f"{host}:{port} is already in use") from None
        raise


async def _until_stopped(runners: Sequence[web.AppRunner]) -> None:
    """Wait for Ctrl-C or SIGTERM, then stop every runner, last started first."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


# Installed modules that something the gateway imports would import for nothing: zeep imports
# httpx where it is installed, for an AsyncTransport the gateway never uses (its transport is
# aiohttp's), and httpx its command line's rich and click where they are: 0.03-0.2 s of CPU.
UNUSED = ("httpx",)


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """How the gateway starts. No garbage collections: its imports, WSDLs and mapping files make
    objects that live as long as the process, which collections would walk again and again for
    nothing (a sixth of the start-up); they resume once it serves. And the UNUSED modules cannot
    be imported meanwhile (zeep takes their absence as it would a missing install); anything
    that imports one later gets it."""
    collecting = gc.isenabled()
    gc.disable()
    hidden = [name for name in UNUSED if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
        if collecting:
            gc.enable()


def more_files() -> None:
    """Raise the soft limit on open files to the hard one, as a server of many connections
    should: a gateway in front of 500 devices keeps up to device_concurrency idle connections to
    each (60 s), besides its clients' and its snapshot fetches', past the usual soft 1,024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. an unlimited hard limit the kernel refuses
            log.warning("cannot raise the open-files limit from %d to %s: %s", soft, hard, exc)


async def serve(config: GatewayConfig) -> None:
    """Run the gateway as gateway.ini says."""
    more_files()
    with starting():
        from gateway.app import create_app
        from gateway.tls import server_ssl

        # Checked before anything else starts: a bad certificate or key must stop start-up.
        context = None
        if config.tls_cert is not None and config.tls_key is not None:
            context = server_ssl(config.tls_cert, config.tls_key)
        runner, port = await _start(await create_app(config), config.host, config.port, context)
    log.info("gateway serving on %s://%s:%d for %d device(s)", "https" if context else "http",
             config.host, port, len(config.devices))
    await _until_stopped([runner])


def _simulated_devices(count: int, clock_skew: float, latency_ms: float,
                       motion_every: float = 0.0) -> list[SimulatedDevice]:
    from gateway.simulator import SimulatedDevice

    return [
        SimulatedDevice(index=i, clock_skew=clock_skew, latency=latency_ms / 1000,
                        motion_every=motion_every)
        for i in range(1, count + 1)
    ]


async def _answer_probes(devices: list[SimulatedDevice], http_port: int,
                         port: int | None) -> asyncio.DatagramTransport | None:
    """Answer WS-Discovery Probes on UDP port of loopback: None is the default port, where
    being taken (another simulator) only turns discovery off; 0 turns it off."""
    from gateway.simulator.discovery import start_discovery

    if port == 0:
        return None
    try:
        transport = await start_discovery(devices, http_port, port or DISCOVERY_PORT)
    except OSError as exc:
        if port is not None:
            raise
        print(f"onvif-gateway simulate: WS-Discovery off, cannot use UDP {LOOPBACK}:"
              f"{DISCOVERY_PORT}: {exc.strerror} (choose another with --discovery-port)",
              file=sys.stderr, flush=True)
        return None
    return transport


async def simulate(port: int, devices: list[SimulatedDevice],
                   discovery_port: int | None = None) -> None:
    """Serve simulated ONVIF devices on loopback, answer Probes for them, print their addresses."""
    from gateway.simulator import DEMO_USERS, STANDARD_PATHS, create_simulator_app, device_path

    runner, port = await _start(create_simulator_app(devices), LOOPBACK, port)
    try:
        discovery = await _answer_probes(devices, port, discovery_port)
    except BaseException:
        await runner.cleanup()
        raise
    # Printed once everything is started: a reader of these lines may use it all at once.
    print(f"{len(devices)} simulated ONVIF device(s) on http://{LOOPBACK}:{port}", flush=True)
    for device in devices[:10]:
        print(f"  http://{LOOPBACK}:{port}{device_path(device.index)}", flush=True)
    if len(devices) > 10:
        print(f"  ... up to http://{LOOPBACK}:{port}{device_path(devices[-1].index)}", flush=True)
    if len(devices) == 1:
        # what clients that only take a host and port (Home Assistant, ONVIFCamera) ask
        print(f"  and at ONVIF's usual address: http://{LOOPBACK}:{port}"
              f"{STANDARD_PATHS['device']}", flush=True)
    print("users: " + ", ".join(f"{name}/{user.password} ({user.level})"
                                for name, user in DEMO_USERS.items()), flush=True)
    if discovery is not None:
        udp_port = discovery.get_extra_info("sockname")[1]
        print(f"WS-Discovery Probes answered on udp://{LOOPBACK}:{udp_port}", flush=True)
    try:
        await _until_stopped([runner])
    finally:
        if discovery is not None:
            discovery.close()


# What `discover` prints: gateway.ini sections for the devices that answered a Probe.
def scope_values(match: ProbeMatch, kind: str) -> list[str]:
    """The values of the match's onvif://www.onvif.org/<kind>/... scopes, percent-decoded."""
    prefix = f"onvif://www.onvif.org/{kind}/"
    return [unquote(scope[len(prefix):]) for scope in match.scopes
            if scope.lower().startswith(prefix) and len(scope) > len(prefix)]


def _clean_name(text: str) -> str:
    """text made a valid gateway.ini device name ('' if nothing is left of it)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    return re.sub(r"^[^A-Za-z0-9]+", "", name)[:64]


def device_name(match: ProbeMatch, taken: Iterable[str] = ()) -> str:
    """A [device:NAME] name for the match: from its name and hardware scopes, else its uuid;
    made unique among taken with -2, -3..."""
    parts = [values[0] for values in (scope_values(match, "name"), scope_values(match, "hardware"))
             if values]
    address = match.address.lower().removeprefix("urn:").removeprefix("uuid:")
    base = _clean_name("-".join(parts)) or _clean_name(address) or "device"
    used = {name.lower() for name in taken}
    name, n = base, 1
    while name.lower() in used:
        n += 1
        suffix = f"-{n}"
        name = base[:64 - len(suffix)] + suffix
    return name


def device_url(match: ProbeMatch) -> str | None:
    """The first http(s) XAddr of the match: its device-service URL."""
    for xaddr in match.xaddrs:
        parts = urlsplit(xaddr)
        if parts.scheme in ("http", "https") and parts.hostname:
            return xaddr
    return None


def config_sections(matches: Iterable[ProbeMatch]) -> str:
    """gateway.ini [device:NAME] sections for the matches, ready to paste; a match without a
    usable XAddr is only mentioned in a comment."""
    from gateway.soap.wsdiscovery import short_type

    lines: list[str] = []
    usable: list[tuple[ProbeMatch, str]] = []
    for match in matches:
        url = device_url(match)
        if url is None:
            lines += [f"# {match.address} answered without an http(s) XAddr: not usable", ""]
        else:
            usable.append((match, url))
    names: list[str] = []
    for match, url in usable:
        name = device_name(match, names)
        names.append(name)
        lines += [
            f"[device:{name}]",
            f"# {match.address}: {' '.join(map(short_type, match.types))}",
            f"# scopes: {' '.join(match.scopes)}",
            f"url = {url}",
        ]
        # gateway.ini wants one default among several devices, and the file these sections are
        # pasted into may have one already (the shipped one does): offered, never set.
        if len(usable) > 1 and len(names) == 1:
            lines += ["# the device the bare paths (/login, ...) serve, if no other section of",
                      "# gateway.ini says default = yes: uncomment the next line (one device only)",
                      "# default = yes"]
        lines.append("")
    return "\n".join(lines)


async def discover(target: Target, wait: float) -> None:
    """Probe target and print what answered as gateway.ini sections (on stderr if nothing)."""
    from gateway.discovery import probe

    matches = await probe(target, wait)
    if not matches:
        print(f"onvif-gateway discover: no ONVIF device answered a Probe sent to {target} "
              f"within {wait:g} s", file=sys.stderr, flush=True)
        return
    print(f"# {len(matches)} ONVIF device(s) answered a WS-Discovery Probe sent to {target}\n\n"
          + config_sections(matches), end="", flush=True)


def gencert(out_dir: Path, names: Sequence[str]) -> None:
    """Write a self-signed certificate and key for trying HTTPS, and say how to use them."""
    from gateway.tls import SELF_SIGNED_WARNING, fingerprint, generate_self_signed

    cert, key = (path.resolve() for path in generate_self_signed(out_dir, names))
    print(f"certificate  {cert}\n"
          f"private key  {key} (mode 0600)\n"
          f"SHA-256      {fingerprint(cert)}\n\n"
          "Add to the [gateway] section of gateway.ini to serve HTTPS:\n\n"
          f"  tls_cert = {cert}\n"
          f"  tls_key = {key}\n", flush=True)
    print(SELF_SIGNED_WARNING.format(cert=cert), file=sys.stderr, flush=True)


DEMO_MOTION_EVERY = 5.0
DEMO_BANNER = """\
ONVIF gateway demo: the gateway in front of a simulated ONVIF device, both on loopback.

  gateway   {gateway}
  device    {device}  (simulated)
  users     {users}
  API docs  {gateway}/docs  (click Authorize and paste a sessionToken)

Try it (in another terminal):

  TOKEN=$(curl -s -X PUT {gateway}/login -H 'Content-Type: application/json' \\
      -d '{{"username": "admin", "password": "admin"}}' \\
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["sessionToken"])')
  curl -s {gateway}/device-information -H "Authorization: Bearer $TOKEN"
  curl -s {gateway}/events/state -H "Authorization: Bearer $TOKEN"
  # then the events as they come (motion starts or stops every 5 s; Ctrl-C ends it):
  # curl -N {gateway}/events -H "Authorization: Bearer $TOKEN"

Ctrl-C stops it."""


def demo_config(device_url: str, port: int, state_dir: Path) -> GatewayConfig:
    """The demo's gateway: in front of the simulated device at device_url, on loopback."""
    from gateway.config import DeviceConfig
    from gateway.simulator import DEMO_USERS

    return GatewayConfig(
        # the service account lets the gateway read every user's level (GetUsers)
        devices=(DeviceConfig(name="demo", url=device_url, username="admin",
                              password=DEMO_USERS["admin"].password, default=True),),
        host=LOOPBACK, port=port, state_dir=state_dir,
    )


async def demo(port: int) -> None:
    """The gateway and one simulated device in one process, ready to try."""
    import tempfile

    with starting():
        from gateway.app import create_app
        from gateway.simulator import DEMO_USERS, create_simulator_app, device_path

        # motion on the device's first video source every few seconds, so that events flow
        sim_runner, sim_port = await _start(
            create_simulator_app(_simulated_devices(1, 0, 0, DEMO_MOTION_EVERY)), LOOPBACK, 0)
    device_url = f"http://{LOOPBACK}:{sim_port}{device_path(1)}"
    # The demo starts fresh every time: its policy store lives in a folder removed on exit.
    with tempfile.TemporaryDirectory(prefix="onvif-gateway-demo-") as state_dir:
        config = demo_config(device_url, port, Path(state_dir))
        try:
            with starting():
                runner, port = await _start(await create_app(config), LOOPBACK, port)
        except BaseException:
            await sim_runner.cleanup()
            raise
        users = ", ".join(f"{name}/{user.password} ({user.level})"
                          for name, user in DEMO_USERS.items())
        print(DEMO_BANNER.format(gateway=f"http://{LOOPBACK}:{port}", device=device_url,
                                 users=users), flush=True)
        await _until_stopped([sim_runner, runner])


def _parser() -> argparse.ArgumentParser:
    # -v before the command or after it (onvif-gateway -v serve, onvif-gateway serve -v); the
    # command's copy has no default, so that it never resets what was said before the command.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="log at debug level")
    parser = argparse.ArgumentParser(
        prog="onvif-gateway", description="A JSON REST gateway for ONVIF devices."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text, parents=[verbose])

    serve_cmd = command("serve", "run the gateway as gateway.ini says")
    serve_cmd.add_argument("-c", "--config", type=Path, default=Path("gateway.ini"),
                           help="the configuration file (default: gateway.ini)")

    demo_cmd = command("demo", "the gateway and a simulated device, on loopback")
    demo_cmd.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")

    sim_cmd = command("simulate", "simulated ONVIF devices alone, on loopback")
    sim_cmd.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sim_cmd.add_argument("--devices", type=int, default=1, help="how many devices (default 1)")
    sim_cmd.add_argument("--clock-skew", type=float, default=0.0, metavar="SECONDS",
                         help="how far the devices' clocks are ahead (negative: behind)")
    sim_cmd.add_argument("--latency", type=float, default=0.0, metavar="MS",
                         help="wait this long before every answer")
    sim_cmd.add_argument("--motion-every", type=float, default=0.0, metavar="SECONDS",
                         help="motion on each device's first video source starts or stops "
                              "this often (default 0: never)")
    sim_cmd.add_argument("--discovery-port", type=int, default=None, metavar="PORT",
                         help=f"answer WS-Discovery Probes on this UDP port of 127.0.0.1 "
                              f"(default {DISCOVERY_PORT}; 0: do not)")

    discover_cmd = command(
        "discover", "find ONVIF devices with a WS-Discovery Probe; print gateway.ini sections")
    discover_cmd.add_argument("--target", default=f"127.0.0.1:{DISCOVERY_PORT}",
                              metavar="HOST[:PORT]",
                              help="the host the Probe is sent to, unicast (default: "
                                   f"127.0.0.1:{DISCOVERY_PORT}; multicast is never used)")
    discover_cmd.add_argument("--timeout", type=float, default=DEFAULT_WAIT, metavar="SECONDS",
                              help=f"how long to wait for answers (default {DEFAULT_WAIT:g})")

    cert_cmd = command("gencert", "write a self-signed certificate and key, for trying HTTPS")
    cert_cmd.add_argument("--out", type=Path, default=Path(), metavar="DIR",
                          help="folder for gateway.crt and gateway.key (default: here)")
    cert_cmd.add_argument("--name", action="append", default=[], metavar="HOST",
                          help="a host name or IP address the certificate is for, besides "
                               "localhost and 127.0.0.1 (may be repeated)")
    return parser


def _run(command: Coroutine[Any, Any, None]) -> None:
    import asyncio  # here, not at the top: --help, --version and config errors need none of it

    asyncio.run(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the onvif-gateway command."""
    args = _parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        if args.command == "serve":
            config = load_config(args.config)
            configure_logging(args.verbose, config.log_format)  # as gateway.ini says, from now on
            _run(serve(config))
        elif args.command == "demo":
            _run(demo(args.port))
        elif args.command == "gencert":
            try:
                gencert(args.out, args.name)
            except OSError as exc:
                print(f"onvif-gateway gencert: {exc}", file=sys.stderr)
                return 1
        elif args.command == "discover":
            from gateway.discovery import parse_target

            try:
                target = parse_target(args.target)
                if not 0 < args.timeout <= 60:
                    raise ValueError("--timeout must be more than 0 and at most 60 seconds")
            except ValueError as exc:
                print(f"onvif-gateway discover: {exc}", file=sys.stderr)
                return 2
            try:
                _run(discover(target, args.timeout))
            except OSError as exc:
                print(f"onvif-gateway discover: cannot probe {target}: {exc}", file=sys.stderr)
                return 1
        else:
            if (args.devices < 1 or args.latency < 0 or args.motion_every < 0
                    or not 0 <= (args.discovery_port or 0) <= 65535):
                print("onvif-gateway: --devices must be >= 1, --latency and --motion-every "
                      ">= 0, and --discovery-port 0 to 65535", file=sys.stderr)
                return 2
            _run(simulate(args.port, _simulated_devices(
                args.devices, args.clock_skew, args.latency, args.motion_every),
                args.discovery_port))
    except AddressInUse as exc:
        hint = (f"set another with port = in the [gateway] section of {args.config}"
                if args.command == "serve" else "choose another with --port")
        print(f"onvif-gateway: cannot start: {exc} (another gateway?): {hint}", file=sys.stderr)
        return 1
    except (StartupError, OSError) as exc:
        print(f"onvif-gateway: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
