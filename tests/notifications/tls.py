"""A throwaway certificate authority for the TLS tests, and loopback SMTP servers that use it.

``make_pki(directory)`` writes a private CA (as a government intranet has) and a server
certificate it signed for ``localhost`` and ``127.0.0.1`` into ``directory``, as PEM files:
``ca.pem`` is what ``TASKFLOW_SMTP_CA_FILE`` points at; ``server.pem``/``server.key`` are the
server's chain and key. ``starttls_server(pki)`` is the aiosmtpd server of servers.py
(recording handler, fault injection) requiring STARTTLS; ``implicit_tls_server(pki)`` speaks
TLS from the first byte (port 465 style).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.notifications.servers import SmtpServer

HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca_file: Path  # the CA certificate (PEM): what clients trust
    cert_file: Path  # the server certificate, then the CA's (PEM chain)
    key_file: Path  # the server's private key (PEM, unencrypted)

    def server_context(self) -> ssl.SSLContext:
        """A server-side context with the certificate; clients are not asked for one."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Taskflow tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_pki(directory: Path, *, ca_name: str = "Taskflow Test CA",
             hosts: tuple[str, ...] = HOSTS) -> Pki:
    """A CA and a server certificate for ``hosts`` (names and IP addresses), as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    not_before, not_after = now - timedelta(minutes=5), now + timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_public = ca_key.public_key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name)).issuer_name(_name(ca_name))
        .public_key(ca_public).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_public), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pki = Pki(directory, directory / "ca.pem", directory / "server.pem",
              directory / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(_pem_key(key))
    pki.key_file.chmod(0o600)
    return pki


def starttls_server(pki: Pki, **kwargs) -> SmtpServer:
    """A started server that offers STARTTLS and refuses mail (530) until it is used."""
    return SmtpServer(tls_context=pki.server_context(), require_starttls=True,
                      **kwargs).start()


def implicit_tls_server(pki: Pki, **kwargs) -> SmtpServer:
    """A started server that speaks TLS from the first byte (what port 465 does)."""
    return SmtpServer(ssl_context=pki.server_context(), **kwargs).start()


__all__ = ["Pki", "implicit_tls_server", "make_pki", "starttls_server"]
