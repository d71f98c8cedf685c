"""TLS: self-signed certificates (gencert), the gateway's server context, device connections."""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from gateway.config import DeviceConfig
from gateway.errors import StartupError

# cryptography (a tenth of a second to import) only where certificates are made or read:
# every gateway checks device certificates, few make or serve their own.
if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)

CERT_FILE = "gateway.crt"
KEY_FILE = "gateway.key"
# Names every generated certificate holds, so that it works on the machine that made it.
LOCAL_NAMES = ("localhost", "127.0.0.1")

SELF_SIGNED_WARNING = """\
WARNING: this is a self-signed certificate, for testing only. No client trusts it until it is
told to (e.g. curl --cacert {cert}). In production, use a certificate from your own CA."""


def generate_self_signed(out_dir: Path, names: Sequence[str] = (), days: int = 365
                         ) -> tuple[Path, Path]:
    """Write a self-signed EC P-256 certificate and its key to out_dir; returns their paths.

    The certificate is valid for localhost, 127.0.0.1 and `names`. Existing files are never
    overwritten: a key someone relies on must not be lost to a mistyped --out.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_path, key_path = out_dir / CERT_FILE, out_dir / KEY_FILE
    for path in (cert_path, key_path):
        if path.exists():
            raise FileExistsError(f"{path} already exists; remove it or choose another folder")
    all_names = list(dict.fromkeys([*names, *LOCAL_NAMES]))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, all_names[0])])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # tolerate clients whose clock is behind
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in all_names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Strict verifiers (Python 3.13's default context) want both key identifiers.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Created 0600 from the start, so the key is never readable by others, not even briefly.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _general_name(name: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def fingerprint(cert_path: Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate's DER form, as tls_fingerprint takes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":")


def server_ssl(cert: Path, key: Path) -> ssl.SSLContext:
    """The gateway's HTTPS context (TLS 1.2 or later), or a StartupError saying what is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        x509.load_pem_x509_certificate(cert.read_bytes())
    except OSError as exc:
        raise StartupError(f"tls_cert {cert}: cannot read it ({exc.strerror})") from None
    except ValueError:
        raise StartupError(f"tls_cert {cert} is not a PEM certificate") from None
    try:
        # Checked here first because ssl would prompt on the terminal for an encrypted key's
        # password, and a service must fail instead.
        serialization.load_pem_private_key(key.read_bytes(), password=None)
    except OSError as exc:
        raise StartupError(f"tls_key {key}: cannot read it ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise StartupError(f"tls_key {key} is not an unencrypted PEM private key") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise StartupError(f"tls_key {key} does not belong to tls_cert {cert} ({exc.reason})"
                           ) from None
    return context


def device_ssl(config: DeviceConfig) -> ssl.SSLContext | aiohttp.Fingerprint | bool:
    """The ssl argument of a device's aiohttp connector, from its tls_* settings.

    True is aiohttp's default: the system's CAs and the host name are checked. Turning checks off
    is logged, as whoever reads the log should know the device could be impersonated.
    """
    if config.tls_fingerprint is not None:
        return aiohttp.Fingerprint(bytes.fromhex(config.tls_fingerprint))
    if config.tls_ca is not None:
        try:
            return ssl.create_default_context(cafile=config.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"[device:{config.name}] tls_ca {config.tls_ca}: cannot load it "
                               f"as PEM CA certificates ({exc})") from None
    if not config.tls_verify:
        log.warning("device %s: TLS certificate verification is off (tls_verify = no); "
                    "anyone on the network path can impersonate it", config.name)
        return False
    return True


def certificate_problem(exc: Exception) -> str | None:
    """What went wrong with a device's certificate, in words for the client; None if not that."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return ("certificate fingerprint mismatch: the device's certificate is not the one "
                "tls_fingerprint pins")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        reason = getattr(error, "verify_message", None) or str(error)
        return (f"certificate not trusted ({reason}); give the device's CA as tls_ca or pin "
                "its certificate with tls_fingerprint")
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake failed ({exc.os_error})"
    return None
