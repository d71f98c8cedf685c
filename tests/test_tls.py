"""TLS: gencert, the gateway serving HTTPS, devices reached over HTTPS (verified, pinned or not)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import stat
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.app import create_app
from gateway.config import DeviceConfig, parse_config
from gateway.errors import ConfigError, StartupError
from gateway.simulator import SimulatedDevice, create_simulator_app, device_path
from gateway.tls import device_ssl, fingerprint, generate_self_signed, server_ssl
from tests.conftest import bearer, login
from tests.processes import ROOT, port_of, start, stop

HTTPS_DEVICE = "[device:cam]\nurl = https://127.0.0.1:8443/onvif/device_service\n"
HTTP_DEVICE = "[device:cam]\nurl = http://127.0.0.1:8000/onvif/device_service\n"


def trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate."""
    return ssl.create_default_context(cafile=cert)


# --- gencert -------------------------------------------------------------------------------------


async def test_gencert_writes_a_pair_and_warns(tmp_path):
    out = tmp_path / "certs"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "gencert", "--out", str(out), "--name", "cam.example",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
    assert process.returncode == 0, output
    cert, key = out / "gateway.crt", out / "gateway.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"tls_cert = {cert}" in output
    assert f"tls_key = {key}" in output
    assert "WARNING: this is a self-signed certificate, for testing only" in output
    assert "your own CA" in output
    assert fingerprint(cert) in output
    # the pair loads as the gateway's server certificate, and names what --name asked for
    server_ssl(cert, key)
    san = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cam.example", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]

    again = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "gencert", "--out", str(out),
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(again.communicate(), timeout=60)
    assert again.returncode == 1
    assert b"already exists" in err


# --- the gateway serving HTTPS -------------------------------------------------------------------


async def test_gateway_serves_https_only(start_device, tmp_path):
    _, device_url = await start_device()
    cert, _ = generate_self_signed(tmp_path / "tls")
    ini = tmp_path / "gateway.ini"
    # relative paths: taken from the ini file's folder, not the working directory (ROOT)
    ini.write_text("[gateway]\nport = 0\n"
                   "tls_cert = tls/gateway.crt\ntls_key = tls/gateway.key\n"
                   f"[device:cam]\nurl = {device_url}\n")
    server, log = await start("serve", "-c", str(ini), until="gateway serving on")
    port = port_of(log, "gateway serving on")
    try:
        assert f"gateway serving on https://127.0.0.1:{port}" in log
        base = f"https://127.0.0.1:{port}"
        trusted = aiohttp.TCPConnector(ssl=trusting(cert))
        async with aiohttp.ClientSession(connector=trusted) as http:
            async with http.put(f"{base}/login",
                                json={"username": "admin", "password": "admin"}) as response:
                assert response.status == 200
                token = (await response.json())["sessionToken"]
            async with http.get(f"{base}/device-information", headers=bearer(token)) as response:
                assert response.status == 200
                assert (await response.json())["manufacturer"] == "RidgeRun"

            # Plain HTTP on the HTTPS port gets no HTTP answer...
            async with aiohttp.ClientSession() as plain:
                with pytest.raises(aiohttp.ClientError):
                    async with plain.put(f"http://127.0.0.1:{port}/login",
                                         json={"username": "admin", "password": "admin"}):
                        pass
            # ...nor does a client that does not trust the certificate...
            async with aiohttp.ClientSession() as untrusting:
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await untrusting.get(f"{base}/device-information")
            # ...and the gateway goes on serving HTTPS.
            async with http.get(f"{base}/device-information", headers=bearer(token)) as response:
                assert response.status == 200
    finally:
        assert await stop(server) == 0


async def test_serve_stops_on_a_certificate_it_cannot_use(tmp_path):
    generate_self_signed(tmp_path)
    ini = tmp_path / "gateway.ini"
    ini.write_text(f"[gateway]\nport = 0\ntls_cert = gateway.crt\n"
                   f"tls_key = missing.key\n{HTTP_DEVICE}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "-c", str(ini), stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert f"cannot start: tls_key {tmp_path / 'missing.key'}: cannot read it".encode() in err


def _encrypted_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    return path


def test_server_ssl_names_what_is_wrong(tmp_path):
    cert, key = generate_self_signed(tmp_path / "a")
    other_cert, other_key = generate_self_signed(tmp_path / "b")
    assert server_ssl(cert, key).minimum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(StartupError, match=r"tls_cert .* cannot read it"):
        server_ssl(tmp_path / "nope.crt", key)
    with pytest.raises(StartupError, match=r"tls_cert .* is not a PEM certificate"):
        server_ssl(key, key)
    with pytest.raises(StartupError, match=r"tls_key .* is not an unencrypted PEM private key"):
        server_ssl(cert, cert)
    with pytest.raises(StartupError, match=r"tls_key .* is not an unencrypted PEM private key"):
        server_ssl(cert, _encrypted_key(tmp_path / "encrypted.key"))
    with pytest.raises(StartupError, match=r"tls_key .* does not belong to tls_cert"):
        server_ssl(cert, other_key)
    assert other_cert.exists()


# --- gateway.ini ---------------------------------------------------------------------------------


def test_tls_settings_are_read_relative_to_the_file(tmp_path):
    (tmp_path / "ca.pem").write_text("not checked until start")
    pin = "AB:" * 31 + "CD"
    config = parse_config(
        "[gateway]\ntls_cert = gw.crt\ntls_key = gw.key\n"
        + HTTPS_DEVICE + "tls_ca = ca.pem\ndefault = yes\n"
        + HTTPS_DEVICE.replace("cam]", "pinned]") + f"tls_fingerprint = {pin}\n"
        + HTTPS_DEVICE.replace("cam]", "open]") + "tls_verify = no\n",
        tmp_path,
    )
    assert (config.tls_cert, config.tls_key) == (tmp_path / "gw.crt", tmp_path / "gw.key")
    cam, pinned, open_ = config.devices
    assert (cam.tls_ca, cam.tls_fingerprint, cam.tls_verify) == (tmp_path / "ca.pem", None, True)
    assert pinned.tls_fingerprint == "ab" * 31 + "cd"
    assert open_.tls_verify is False
    assert parse_config(HTTP_DEVICE, tmp_path).tls_cert is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway]\ntls_cert = gw.crt\n" + HTTP_DEVICE, "[gateway] tls_cert and tls_key go"),
        ("[gateway]\ntls_key = gw.key\n" + HTTP_DEVICE, "[gateway] tls_cert and tls_key go"),
        (HTTPS_DEVICE + "tls_fingerprint = abcd\n",
         "[device:cam] tls_fingerprint = 'abcd': must be the SHA-256 fingerprint of the device's "
         "certificate: 64 hex digits"),
        (HTTPS_DEVICE + "tls_fingerprint = " + "g" * 64 + "\n", "64 hex digits"),
        (HTTPS_DEVICE + "tls_ca = nowhere.pem\n", "[device:cam] tls_ca file"),  # ... is missing
        (HTTPS_DEVICE + "tls_verify = perhaps\n", "[device:cam] tls_verify = 'perhaps': must be"),
        (HTTP_DEVICE + "tls_verify = no\n", "[device:cam] tls_verify is only for an https:// url"),
        (HTTP_DEVICE + "tls_fingerprint = " + "0" * 64 + "\n",
         "[device:cam] tls_fingerprint is only for an https:// url"),
        (HTTPS_DEVICE + "tls_fingerprint = " + "0" * 64 + "\ntls_verify = no\n",
         "[device:cam] tls_fingerprint and tls_verify = no do not go together"),
        (HTTPS_DEVICE + "tls_ca = gateway.ini\ntls_fingerprint = " + "0" * 64 + "\n",
         "[device:cam] tls_ca and tls_fingerprint do not go together"),
        (HTTPS_DEVICE + "tls_certificate = x\n", "[device:cam] unknown key 'tls_certificate'"),
    ],
)
def test_tls_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, tmp_path)
    assert message in str(caught.value)


def test_a_tls_ca_that_does_not_load_stops_start_up(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    device = DeviceConfig("cam", "https://127.0.0.1:1/", tls_ca=bad)
    with pytest.raises(StartupError, match=r"\[device:cam\] tls_ca .* cannot load it"):
        device_ssl(device)


# --- devices over HTTPS --------------------------------------------------------------------------


@pytest.fixture
async def https_device(aiohttp_server, tmp_path):
    """A simulated device served over HTTPS with a fresh self-signed certificate for 127.0.0.1."""
    cert, key = generate_self_signed(tmp_path / "device")
    device = SimulatedDevice()
    server = await aiohttp_server(create_simulator_app([device]), host="127.0.0.1",
                                  ssl=server_ssl(cert, key))
    return f"https://127.0.0.1:{server.port}{device_path(device.index)}", cert


@pytest.fixture
def gateway_for(aiohttp_client, tmp_path):
    """A gateway (in-process) in front of a device section written as in gateway.ini."""

    async def start(device_section: str):
        config = parse_config(f"[gateway]\nstate_dir = state\n{device_section}", tmp_path)
        return await aiohttp_client(await create_app(config))

    return start


async def test_untrusted_device_certificate_is_a_502_that_says_so(https_device, gateway_for):
    url, _ = https_device
    client = await gateway_for(f"[device:cam]\nurl = {url}\n")
    response = await client.put("/login", json={"username": "admin", "password": "admin"})
    assert response.status == 502
    problem = await response.json()
    assert problem["type"] == "urn:onvif-gateway:problem:device-unreachable"
    assert "certificate not trusted" in problem["detail"]
    assert "tls_ca" in problem["detail"]


async def test_device_trusted_through_tls_ca(https_device, gateway_for):
    url, cert = https_device
    client = await gateway_for(f"[device:cam]\nurl = {url}\ntls_ca = {cert}\n")
    token = await login(client)
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 200
    assert (await response.json())["manufacturer"] == "RidgeRun"
    # Media goes over HTTPS too: its address from GetServices is put on the configured https URL.
    response = await client.get("/sources/video", headers=bearer(token))
    assert response.status == 200


async def test_device_pinned_by_fingerprint(https_device, gateway_for):
    url, cert = https_device
    client = await gateway_for(f"[device:cam]\nurl = {url}\ntls_fingerprint = {fingerprint(cert)}")
    token = await login(client)
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 200


async def test_wrong_fingerprint_is_a_502_that_says_so(https_device, gateway_for, tmp_path):
    url, _ = https_device
    other, _ = generate_self_signed(tmp_path / "other")
    client = await gateway_for(f"[device:cam]\nurl = {url}\ntls_fingerprint = {fingerprint(other)}")
    response = await client.put("/login", json={"username": "admin", "password": "admin"})
    assert response.status == 502
    problem = await response.json()
    assert problem["type"] == "urn:onvif-gateway:problem:device-unreachable"
    assert "certificate fingerprint mismatch" in problem["detail"]


async def test_tls_verify_no_reaches_a_self_signed_device_and_warns(
    https_device, gateway_for, caplog
):
    url, _ = https_device
    with caplog.at_level(logging.WARNING, logger="gateway.tls"):
        client = await gateway_for(f"[device:cam]\nurl = {url}\ntls_verify = no\n")
    token = await login(client)
    response = await client.get("/device-information", headers=bearer(token))
    assert response.status == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "gateway.tls"]
    assert warnings == ["device cam: TLS certificate verification is off (tls_verify = no); "
                        "anyone on the network path can impersonate it"]


async def test_plain_http_device_on_an_https_url_is_a_tls_problem(start_device, gateway_for):
    _, url = await start_device()
    client = await gateway_for(f"[device:cam]\nurl = {url.replace('http:', 'https:')}\n")
    response = await client.put("/login", json={"username": "admin", "password": "admin"})
    assert response.status == 502
    assert "TLS handshake failed" in (await response.json())["detail"]
