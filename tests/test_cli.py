"""The onvif-gateway command, run as a user runs it: a real process, spoken to over HTTP."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import os
import socket
import subprocess
import sys

import aiohttp
import pytest

import gateway
from gateway import cli, discovery
from gateway.cli import _parser
from gateway.soap import wsdiscovery
from tests.processes import port_of, start, stop


async def test_demo_prints_what_to_do_and_serves_it():
    process, banner = await start("demo", "--port", "0", until="Ctrl-C stops it")
    try:
        gateway = f"http://127.0.0.1:{port_of(banner, 'gateway')}"
        assert f"API docs  {gateway}/docs" in banner
        assert "admin/admin (Administrator)" in banner
        assert "operator/operator (Operator)" in banner
        assert "user/user (User)" in banner
        assert f"curl -s -X PUT {gateway}/login" in banner
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{gateway}/login",
                                json={"username": "user", "password": "user"}) as response:
                token = (await response.json())["sessionToken"]
            async with http.get(f"{gateway}/device-information",
                                headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200
                assert (await response.json())["manufacturer"] == "RidgeRun"
    finally:
        assert await stop(process) == 0


async def test_demo_banner_curl_commands_work():
    """The banner's ready-to-paste shell commands, pasted into a shell."""
    process, banner = await start("demo", "--port", "0", until="Ctrl-C stops it")
    try:
        commands = banner.split("Try it (in another terminal):")[1].split("Ctrl-C")[0]
        shell = await asyncio.create_subprocess_exec(
            "bash", "-c", "set -e\n" + commands, stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(shell.communicate(), timeout=60)
        assert shell.returncode == 0
        assert b'"serial_number": "123"' in out
    finally:
        await stop(process)


async def test_simulate_then_serve_with_a_config(tmp_path):
    simulator, listing = await start("simulate", "--port", "0", "--devices", "3",
                                     "--clock-skew", "-500", until="/dev/3/")
    sim_port = port_of(listing, "simulated ONVIF device(s) on")
    assert f"http://127.0.0.1:{sim_port}/dev/2/onvif/device_service" in listing
    ini = tmp_path / "gateway.ini"
    ini.write_text(
        "[gateway]\nport = 0\n"
        f"[device:second]\nurl = http://127.0.0.1:{sim_port}/dev/2/onvif/device_service\n"
    )
    server, log = await start("serve", "-c", str(ini), until="gateway serving on")
    gw_port = port_of(log, "gateway serving on")
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{gw_port}"
            async with http.put(f"{base}/login",
                                json={"username": "admin", "password": "admin"}) as response:
                token = (await response.json())["sessionToken"]
            async with http.get(f"{base}/device-information",
                                headers={"Authorization": f"Bearer {token}"}) as response:
                # device 2 of the simulator, reached with its clock 500 s behind
                assert (await response.json())["serial_number"] == "124"
    finally:
        assert await stop(server) == 0
        assert await stop(simulator) == 0


async def test_serve_with_a_bad_config_says_why(tmp_path):
    ini = tmp_path / "gateway.ini"
    ini.write_text("[gateway]\nprot = 1\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "-c", str(ini),
        stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert b"[gateway] unknown key 'prot'" in err


def test_version_is_the_package_version():
    done = subprocess.run([sys.executable, "-m", "gateway", "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert done.stdout == f"onvif-gateway {gateway.__version__}\n"
    assert importlib.metadata.version("onvif-gateway") == gateway.__version__  # setup.cfg's


@pytest.mark.parametrize(("argv", "verbose"), [
    (["serve"], False), (["-v", "serve"], True), (["serve", "-v"], True),
    (["demo", "--verbose", "--port", "1"], True), (["-v", "discover", "-v"], True),
])
def test_verbose_before_or_after_the_command(argv, verbose):
    assert _parser().parse_args(argv).verbose is verbose


# What --help, --version and a bad gateway.ini must not wait for (about a second to import).
HEAVY = ("aiohttp", "zeep", "lxml", "cryptography", "redis", "prometheus_client", "asyncio")
IMPORTED = """
import sys
from gateway.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(",".join(sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))))
"""


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["serve", "--help"], ["serve", "-c"]])
def test_help_and_config_errors_import_nothing_heavy(argv, tmp_path):
    if argv[-1] == "-c":
        (tmp_path / "gateway.ini").write_text("[gateway]\nport = eighty\n")
        argv = [*argv, str(tmp_path / "gateway.ini")]
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{IMPORTED}", *argv],
                          capture_output=True, text=True, check=False)
    assert done.stdout.splitlines()[-1] == "", done.stdout + done.stderr
    if argv[0] == "serve" and argv[1] == "-c":
        assert "[gateway] port = 'eighty': must be a whole number" in done.stderr


def test_no_garbage_collections_while_starting():
    assert gc.isenabled()
    with cli.starting():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(OSError, match="address in use"), cli.starting():
        raise OSError("address in use")
    assert gc.isenabled()  # back on when start-up fails too
    gc.disable()
    try:
        with cli.starting():
            pass
        assert not gc.isenabled()  # left off where it was off
    finally:
        gc.enable()


HIDDEN = """
import sys
from gateway.cli import starting
with starting():
    import zeep.transports
print(zeep.transports.httpx)  # zeep took httpx for missing
import httpx  # anything later gets it
print(httpx.__name__, zeep.transports.httpx)
"""


def test_zeep_does_not_import_httpx_while_the_gateway_starts():
    # the test environment has httpx (onvif-zeep-async needs it): a gateway's may too
    done = subprocess.run([sys.executable, "-c", HIDDEN], capture_output=True, text=True,
                          check=False)
    assert done.stdout.splitlines() == ["None", "httpx None"], done.stdout + done.stderr


def test_discovery_defaults_are_the_protocols():
    # written twice (the CLI does not import WS-Discovery for --help): kept equal here
    assert (cli.DISCOVERY_PORT, cli.DEFAULT_WAIT) == (wsdiscovery.DISCOVERY_PORT,
                                                      discovery.DEFAULT_WAIT)


@pytest.mark.slow  # three commands started in turn
async def test_a_port_in_use_says_how_to_choose_another(tmp_path):
    ini = tmp_path / "cameras.ini"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ini.write_text(f"[gateway]\nport = {port}\n"
                       "[device:cam]\nurl = http://127.0.0.1:1/onvif/device_service\n")
        for argv, hint in [
            (["demo", "--port", str(port)], "choose another with --port"),
            (["simulate", "--port", str(port), "--discovery-port", "0"],
             "choose another with --port"),
            (["serve", "-c", str(ini)],
             f"set another with port = in the [gateway] section of {ini}"),
        ]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", *argv, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(process.communicate(), timeout=60)
            assert process.returncode == 1
            assert err.decode().splitlines()[-1] == (
                f"onvif-gateway: cannot start: 127.0.0.1:{port} is already in use "
                f"(another gateway?): {hint}")


async def test_serve_raises_its_open_files_limit_to_the_hard_one(tmp_path):
    # a gateway in front of hundreds of devices keeps idle connections to each: started with a
    # soft limit of 256 (as a shell may give), it serves with the hard limit
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ini = tmp_path / "gateway.ini"
    ini.write_text(f"[gateway]\nport = 0\nstate_dir = {tmp_path / 'state'}\n"
                   "[device:cam]\nurl = http://127.0.0.1:9/onvif/device_service\n")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, soft), hard))
    try:
        server, _ = await start("serve", "-c", str(ini), until="gateway serving on")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        served_with = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    finally:
        assert await stop(server) == 0
    if hard == resource.RLIM_INFINITY:  # Linux refuses an unlimited soft limit: it stays
        assert served_with == (min(256, soft), hard)
    else:
        assert served_with == (hard, hard)
