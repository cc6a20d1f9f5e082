"""
Throwaway TLS material for tests: a certificate authority made at test time
and a server certificate it signs.  Nothing is checked in and nothing
outlives the test's temporary directory.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _builder(subject: str, issuer: str, key: Key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        # Python 3.13's default context verifies strictly (X509_STRICT): key
        # identifiers are required, as a real CA's certificates have them.
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
    )


@attrs.frozen
class Authority:
    """A CA: ``trustRoots`` is a directory holding only its certificate."""

    name: str
    key: Key
    certificate: x509.Certificate
    trustRoots: Path

    @classmethod
    def create(cls, directory: Path, name: str = "txmachines test CA") -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _builder(name, name, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                True,
            )
            .sign(key, hashes.SHA256())
        )
        trustRoots = directory / "trust"
        trustRoots.mkdir(parents=True)
        (trustRoots / "ca.pem").write_bytes(
            certificate.public_bytes(serialization.Encoding.PEM)
        )
        return cls(name, key, certificate, trustRoots)

    def issue(self, path: Path, hostname: str = "localhost") -> Path:
        """
        A server certificate for ``hostname`` (and 127.0.0.1), with its key,
        in one PEM file at ``path``: what ``ssl:...:privateKey=`` reads.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            _builder(hostname, self.name, key)
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(hostname),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()
                ),
                False,
            )
            .sign(self.key, hashes.SHA256())
        )
        path.write_bytes(
            _pem(key) + certificate.public_bytes(serialization.Encoding.PEM)
        )
        return path


def endpointQuote(path: Path) -> str:
    r"""A path as an endpoint-description argument (``:`` and ``\`` escaped)."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:")
