"""TLS for DICOM associations: the Basic TLS Secure Transport Connection Profile (PS3.15 B.1).

Where a product's statement states TLS (``[security] tls = true``), ``vscanner serve --tls``
listens on a secure port (the profile's ``tls_port``, else 2762, the IANA "dicom-tls" port)
and the requestor side opens TLS associations to nodes configured with ``tls = true``.

- Certificates, private key and trusted CAs are PEM files named in the site configuration
  (``[local] tls_certificate``, ``tls_private_key``, ``tls_ca``) or on the command line;
  :func:`generate_demo_certificates` (``vscanner certs demo``) makes a demo CA, a server and a
  client certificate for tests and labs.
- TLS 1.2 is the minimum and OpenSSL's default cipher suites apply. The products' own legacy
  suites and versions (syngo CT VA50A §8.1.2 Table 75: TLS 1.0-1.2 with 3DES; OASIS §10.1.1:
  TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_NULL_SHA) are
  enabled only with ``legacy_ciphers`` (``--tls-legacy-ciphers``), as far as the local OpenSSL
  still provides them, with a warning.
- As acceptor the requestor's certificate is required when the profile says so
  (``tls_client_certificate = "required"``; OASIS §10.1.1 "always asks for the Association
  Requestor's certificate ... the TLS connection request is denied"; syngo CT §4.4.1.3 pins
  the remote nodes' certificates). OpenSSL checks the Extended Key Usage of a peer's
  certificate when it has one: clientAuth for a requestor, serverAuth for an acceptor, which is
  syngo CT §4.4.1.3's rule.
- The TLS handshake of an incoming connection is bounded in time; a failed handshake is
  logged and reported to ``on_handshake_failure`` (the audit trail's security alert).
"""

from __future__ import annotations

__all__ = [
    "TLSSettings",
    "DemoCertificates",
    "DEFAULT_TLS_PORT",
    "IANA_TO_OPENSSL",
    "require_tls",
    "tls_port",
    "acceptor_context",
    "requestor_context",
    "generate_demo_certificates",
]

import datetime
import ipaddress
import logging
import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UsageError
from ..profile import Profile

LOGGER = logging.getLogger(__name__)

DEFAULT_TLS_PORT = 2762  # IANA "dicom-tls"; syngo CT VA50A §4.4.1.3 / §8.1.2 default secure port
HANDSHAKE_TIMEOUT = 10.0  # seconds an incoming connection may take for its TLS handshake

#: Cipher suite names of the statements (IANA) -> OpenSSL names.
IANA_TO_OPENSSL = {
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_NULL_SHA": "NULL-SHA",
}
_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TLSSettings:
    """Where the PEM files are and whether the product's legacy suites are allowed.

    Parameters
    ----------
    certificate, private_key : Path
        This console's certificate (chain) and its private key, PEM.
    ca : Path, optional
        Trusted CA certificates, PEM: a requestor's certificate must chain to one of them
        (acceptor), and so must the acceptor's (requestor). Without it the requestor trusts
        the system's CAs, and an acceptor cannot require client certificates.
    legacy_ciphers : bool
        Also offer the product's stated legacy cipher suites and TLS versions.
    """

    certificate: Path
    private_key: Path
    ca: Path | None = None
    legacy_ciphers: bool = False

    @classmethod
    def from_paths(cls, certificate: str | Path | None, private_key: str | Path | None,
                   ca: str | Path | None = None, legacy_ciphers: bool = False) -> "TLSSettings":
        """Check that the files exist; raise :class:`UsageError` naming what is missing."""
        if not certificate or not private_key:
            raise UsageError(
                "TLS needs a certificate and its private key",
                "give --tls-certificate and --tls-key (or [local] tls_certificate and tls_private_key in the "
                "site configuration); `vscanner certs demo --out DIR` makes demo ones",
            )
        paths = {"certificate": Path(certificate), "private key": Path(private_key)}
        if ca:
            paths["CA file"] = Path(ca)
        for what, path in paths.items():
            if not path.is_file():
                raise UsageError(f"TLS {what} {path} not found", "give an existing PEM file")
        return cls(Path(certificate), Path(private_key), Path(ca) if ca else None, legacy_ciphers)


def require_tls(profile: Profile) -> None:
    """Raise :class:`UsageError` when the product's statement states no TLS."""
    if not profile.security.tls:
        raise UsageError(
            f"{profile.id} has no TLS: its conformance statement ({profile.statement}) states no secure "
            "transport connection profile",
            "leave out --tls (and tls = true on the node), or use a profile whose product supports TLS "
            "(oasis-velocity, syngo-ct-va50a)",
        )


def tls_port(profile: Profile) -> int:
    """The product's secure port (its statement's, else the IANA dicom-tls port 2762)."""
    return profile.security.tls_port or DEFAULT_TLS_PORT


class _HandshakeBoundContext(ssl.SSLContext):
    """An acceptor context whose server-side handshake is bounded in time and reported on failure.

    pynetdicom wraps accepted sockets with :meth:`wrap_socket` in its accept loop; a peer that
    connects and never speaks TLS would otherwise hold the loop.
    """

    on_handshake_failure: Callable[[tuple[str, int], Exception], None] | None = None
    handshake_timeout: float = HANDSHAKE_TIMEOUT

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, *args: Any, **kwargs: Any):  # type: ignore[override]
        if not server_side:
            return super().wrap_socket(sock, server_side, *args, **kwargs)
        try:
            peer = sock.getpeername()
        except OSError:
            peer = ("?", 0)
        previous = sock.gettimeout()
        sock.settimeout(self.handshake_timeout)
        try:
            wrapped = super().wrap_socket(sock, True, *args, **kwargs)
        except (ssl.SSLError, OSError) as exc:
            LOGGER.warning("TLS connection from %s:%s refused: %s", peer[0], peer[1], _reason(exc))
            if self.on_handshake_failure is not None:
                try:
                    self.on_handshake_failure(peer, exc)
                except Exception:  # the report must not break the accept loop
                    LOGGER.exception("reporting a TLS failure failed")
            sock.close()
            raise
        wrapped.settimeout(previous)
        peer_cert = wrapped.getpeercert()
        subject = dict(x[0] for x in peer_cert.get("subject", ())) if peer_cert else {}
        LOGGER.info("TLS connection from %s:%s: %s, %s, peer certificate %s", peer[0], peer[1], wrapped.version(),
                    (wrapped.cipher() or ("?",))[0], subject.get("commonName", "none"))
        return wrapped


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, socket.timeout):
        return f"no TLS handshake within {HANDSHAKE_TIMEOUT:g} s"
    return str(exc)


def _legacy(ctx: ssl.SSLContext, profile: Profile, role: str) -> None:
    """Offer the product's stated suites and versions as far as OpenSSL has them; warn."""
    sec = profile.security
    wanted = [IANA_TO_OPENSSL.get(s, s) for s in sec.tls_cipher_suites]
    available, missing = [], []
    for name in wanted:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            probe.set_ciphers(f"{name}:@SECLEVEL=0")
        except ssl.SSLError:
            missing.append(name)
            continue
        if any(c["name"] == name for c in probe.get_ciphers()):
            available.append(name)
        else:
            missing.append(name)
    ctx.set_ciphers(":".join(["DEFAULT", *available, "@SECLEVEL=0"]))
    versions = [_VERSIONS[v] for v in sec.tls_versions if v in _VERSIONS]
    if versions:
        try:
            with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated; this switch asks for them explicitly
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = min(versions)
        except (ValueError, ssl.SSLError) as exc:  # OpenSSL built without the old versions
            LOGGER.warning("TLS minimum version %s not available: %s", min(versions).name, exc)
    LOGGER.warning(
        "%s: legacy TLS enabled for %s (--tls-legacy-ciphers): minimum %s, product cipher suites %s%s; "
        "these are weak, use them only with a peer that has nothing better",
        profile.id, role, ctx.minimum_version.name, ", ".join(available) or "none available",
        f" (not in this OpenSSL: {', '.join(missing)})" if missing else "",
    )


def _load_identity(ctx: ssl.SSLContext, settings: TLSSettings) -> None:
    try:
        ctx.load_cert_chain(str(settings.certificate), str(settings.private_key))
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"cannot use TLS certificate {settings.certificate} with key {settings.private_key}: {exc}",
                         "give a PEM certificate and the PEM private key that belongs to it") from exc
    if settings.ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(settings.ca))
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"cannot read TLS CA file {settings.ca}: {exc}",
                             "give a file of PEM CA certificates") from exc


def acceptor_context(profile: Profile, settings: TLSSettings,
                     on_handshake_failure: Callable[[tuple[str, int], Exception], None] | None = None,
                     ) -> ssl.SSLContext:
    """The server-side context for ``vscanner serve --tls``."""
    require_tls(profile)
    ctx = _HandshakeBoundContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_identity(ctx, settings)
    if profile.security.tls_client_certificate == "required":
        if settings.ca is None:
            raise UsageError(f"{profile.id} requires the requestor's certificate, so it needs trusted CAs",
                             "give --tls-ca (or [local] tls_ca in the site configuration)")
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif settings.ca is not None:
        ctx.verify_mode = ssl.CERT_OPTIONAL
    if settings.legacy_ciphers:
        _legacy(ctx, profile, "the acceptor")
    ctx.on_handshake_failure = on_handshake_failure
    return ctx


def requestor_context(profile: Profile, settings: TLSSettings) -> ssl.SSLContext:
    """The client-side context for associations to nodes with ``tls = true``."""
    require_tls(profile)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.ca is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    _load_identity(ctx, settings)
    if settings.legacy_ciphers:
        _legacy(ctx, profile, "the requestor")
    return ctx


# --- demo certificates --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCertificates:
    """PEM files written by :func:`generate_demo_certificates`."""

    folder: Path
    ca: Path
    ca_key: Path
    server: Path
    server_key: Path
    client: Path
    client_key: Path


def generate_demo_certificates(out: str | Path, hosts: Sequence[str] = ("localhost", "127.0.0.1"),
                               days: int = 365, organization: str = "vscanner demo") -> DemoCertificates:
    """Write a demo CA and two certificates it signed into *out*.

    ``server.pem`` (Extended Key Usage serverAuth, subject alternative names *hosts*) is for an
    acceptor (``vscanner serve --tls``, DCMTK ``storescp +tls``); ``client.pem`` (clientAuth)
    for a requestor (DCMTK ``echoscu +tls``, ``vscanner send`` to a TLS node). RSA 2048 keys,
    as the statements' RSA key exchange needs. Keys are unencrypted and readable only by the
    owner: demo material, not for a real site.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)

    def key() -> Any:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(path: Path, k: Any) -> None:
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()))
        path.chmod(0o600)

    ca_key = key()
    ca_name = name(f"{organization} CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage: Any) -> tuple[Any, Any]:
        k = key()
        alt: list[Any] = []
        for h in hosts:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                alt.append(x509.DNSName(h))
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_name).public_key(k.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert, k

    server, server_key = leaf(f"{organization} server", ExtendedKeyUsageOID.SERVER_AUTH)
    client, client_key = leaf(f"{organization} client", ExtendedKeyUsageOID.CLIENT_AUTH)
    out_files = DemoCertificates(folder, folder / "ca.pem", folder / "ca.key", folder / "server.pem",
                                 folder / "server.key", folder / "client.pem", folder / "client.key")
    for path, cert in ((out_files.ca, ca), (out_files.server, server), (out_files.client, client)):
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_key(out_files.ca_key, ca_key)
    write_key(out_files.server_key, server_key)
    write_key(out_files.client_key, client_key)
    return out_files
