"""Identity: the lab's certificate authority and SPIFFE workload certificates.

Like istiod's CA: one self-signed root (10 years, as Istio's self-signed root), and per service
account a workload certificate whose only identity is the URI SAN
``spiffe://cluster.local/ns/<ns>/sa/<sa>``, valid 24 h by default (Istio's ``SECRET_TTL``).
Keys are ECDSA P-256. Files are written with mode 0600 (keys) in a 0700 directory, so they are
never world-readable; anyone can check what a proxy presents with ``openssl x509`` or
``openssl s_client``.

    ca = LabCA.create(directory)
    wc = ca.issue("default", "bookinfo-reviews")        # -> WorkloadCert(spiffe_id, cert_path, key_path, ...)
    ctx = server_context(wc.cert_path, wc.key_path, ca.root_path)   # mTLS: TLS 1.3 preferred, 1.2 minimum
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from .topology.model import CLUSTER_DOMAIN

DEFAULT_TTL = dt.timedelta(hours=24)
ROOT_TTL = dt.timedelta(days=3650)


def spiffe_id(namespace: str, service_account: str, trust_domain: str = CLUSTER_DOMAIN) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def principal(spiffe: str) -> str:
    """``spiffe://cluster.local/ns/a/sa/b`` -> ``cluster.local/ns/a/sa/b`` (AuthorizationPolicy form)."""
    return spiffe.removeprefix("spiffe://")


@dataclass(frozen=True)
class WorkloadCert:
    spiffe_id: str
    cert_path: str
    key_path: str
    not_after: dt.datetime


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


class LabCA:
    """A root CA: its certificate on disk, its key only in this process. ``issue`` writes a
    workload cert + key next to the root certificate."""

    def __init__(self, directory: Path, cert, key):
        self.dir, self._cert, self._key = Path(directory), cert, key
        self.root_path = str(self.dir / "root-cert.pem")

    @classmethod
    def create(cls, directory: str | Path, trust_domain: str = CLUSTER_DOMAIN) -> "LabCA":
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d, 0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                x509.NameAttribute(NameOID.COMMON_NAME, "meshlab lab CA (istiod stand-in)"),
            ]
        )
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + ROOT_TTL)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        ca = cls(d, cert, key)
        # Only the root certificate goes on disk. The CA's key stays in the memory of the lab's
        # controller (istiod's place), which signs every workload's certificate: no proxy — on
        # loopback every process is the same user; on mininet a sidecar may read any file — can
        # read it from the lab's directory.
        _write(d / "root-cert.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return ca

    def issue(self, namespace: str, service_account: str, ttl: dt.timedelta = DEFAULT_TTL) -> WorkloadCert:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID

        if ttl <= dt.timedelta(0):
            raise ValueError(f"a certificate lifetime must be positive; got {ttl}")
        sid = spiffe_id(namespace, service_account)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        not_after = now + ttl
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))  # Istio: empty subject, SAN only
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(sid)]), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        base = self.dir / f"{namespace}.{service_account}"
        cert_path, key_path = Path(f"{base}.cert.pem"), Path(f"{base}.key.pem")
        # the chain a proxy presents: its own cert, then the root (as istio-agent serves it)
        _write(
            cert_path,
            cert.public_bytes(serialization.Encoding.PEM)
            + self._cert.public_bytes(serialization.Encoding.PEM),
            0o644,
        )
        _write(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            0o600,
        )
        return WorkloadCert(sid, str(cert_path), str(key_path), not_after)


# ------------------------------------------------------------------------------------------------
# TLS contexts for mutual TLS between proxies (used by the proxy processes, not by the lab)
# ------------------------------------------------------------------------------------------------


def _base_context(purpose, cert_path: str, key_path: str, root_path: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if purpose == "server" else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM")  # Istio: TLS 1.2 minimum with AES-GCM suites
    ctx.load_cert_chain(cert_path, key_path)
    ctx.load_verify_locations(root_path)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual: both sides present a lab-CA certificate
    if purpose == "client":
        ctx.check_hostname = False  # identity is the SPIFFE URI SAN, checked by the caller
    return ctx


def server_context(
    cert_path: str,
    key_path: str,
    root_path: str,
    alpn: list[str] | None = None,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    ctx = _base_context("server", cert_path, key_path, root_path)
    if not require_client_cert:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def client_context(
    cert_path: str, key_path: str, root_path: str, alpn: list[str] | None = None
) -> ssl.SSLContext:
    ctx = _base_context("client", cert_path, key_path, root_path)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def cert_spiffe_id(cert_path: str) -> str | None:
    """The SPIFFE URI SAN of the first certificate in a PEM file (a proxy's own), or None."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    return next(
        (u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("spiffe://")),
        None,
    )


def peer_cert_sha256(ssl_object) -> str | None:
    """The SHA-256 of the peer's certificate (DER), in hex: the ``Hash`` Envoy puts in
    ``x-forwarded-client-cert``; None with no peer certificate."""
    import hashlib

    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return hashlib.sha256(der).hexdigest() if der else None


def peer_spiffe_id(ssl_object) -> str | None:
    """The SPIFFE URI SAN of the peer's (verified) certificate, or None."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    for kind, value in (cert or {}).get("subjectAltName", ()):
        if kind == "URI" and value.startswith("spiffe://"):
            return value
    return None
