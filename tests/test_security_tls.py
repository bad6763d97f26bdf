"""TLS (Basic TLS Secure Transport Connection Profile) against DCMTK built with OpenSSL:
echoscu/storescu ``+tls`` into ``vscanner serve --tls``, refusals (plain client, no certificate,
a certificate without clientAuth, a certificate from another CA), ``vscanner send --tls`` into
``storescp +tls``, the legacy cipher switch, and profiles without TLS.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from appliance.errors import UsageError
from appliance.net.server import Server
from appliance.profile import find_profile
from appliance.security.tls import TLSSettings, acceptor_context, generate_demo_certificates, requestor_context

from .data import ct_image, mr_image, write
from .peers import PEER_ENV, ServeProcess, free_port, require, run, wait_for_log, wait_for_port

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return generate_demo_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_serve(tmp_path, certs):
    """Factory: ``vscanner serve --tls`` on free plain and secure ports; stopped at teardown."""
    started: list[ServeProcess] = []

    def start(profile: str, aet: str = "SCANNER", args: list[str] = (), global_args: list[str] = ()):
        n = len(started)
        only = "--tls-only" in args  # then the secure port is --port
        port = None if only else free_port()
        server = ServeProcess(profile, tmp_path / f"store{n}", aet, tmp_path / f"serve{n}.log", list(global_args),
                              serve_args=["--tls", *(() if only else ("--tls-port", str(port))),
                                          "--tls-certificate", str(certs.server), "--tls-key", str(certs.server_key),
                                          "--tls-ca", str(certs.ca), *args])
        server.tls_port = server.port if only else port
        started.append(server)
        wait_for_log(server.log_path, f"with TLS on 127.0.0.1:{server.tls_port} ", server.proc)
        return server

    yield start
    for s in started:
        s.stop()


def _echo(server, *tls: str, calling: str = "ECHOSCU"):
    return run([require("echoscu"), "-v", *tls, "-aet", calling, "-aec", server.aet, "127.0.0.1",
                str(server.tls_port)])


def _client(certs, key=None, cert=None) -> list[str]:
    return ["+tls", str(key or certs.client_key), str(cert or certs.client), "+cf", str(certs.ca)]


@pytest.mark.parametrize("pid", ["syngo-ct-va50a", "oasis-velocity"])
def test_dcmtk_echoscu_and_storescu_over_tls(tls_serve, certs, tmp_path, pid):
    server = tls_serve(pid)
    r = _echo(server, *_client(certs))
    assert r.returncode == 0, r.stdout + r.stderr
    image = write(ct_image() if pid == "syngo-ct-va50a" else mr_image(), tmp_path / "image.dcm")
    r = run([require("storescu"), "-v", *_client(certs), "-aet", "STORESCU", "-aec", server.aet, "127.0.0.1",
             str(server.tls_port), str(image)])
    assert r.returncode == 0, r.stdout + r.stderr
    stored = [p for p in server.data.rglob("*") if p.is_file() and p.suffix == ".dcm"]
    uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in stored}
    assert str(dcmread(image).SOPInstanceUID) in uids
    assert "TLS connection from 127.0.0.1" in server.log() and "peer certificate vscanner demo client" in server.log()
    # the plain port keeps working next to the secure one
    plain = run([require("echoscu"), "-aet", "ECHOSCU", "-aec", server.aet, "127.0.0.1", str(server.port)])
    assert plain.returncode == 0, plain.stdout + plain.stderr


def test_refusals_on_the_secure_port(tls_serve, certs, tmp_path):
    server = tls_serve("oasis-velocity", args=["--tls-only"])
    # a plain DICOM client on the TLS port
    plain = _echo(server)
    assert plain.returncode != 0
    # no certificate: OASIS §10.1.1 "always asks for the Association Requestor's certificate"
    anonymous = _echo(server, "+tla", "+cf", str(certs.ca))
    assert anonymous.returncode != 0
    # a certificate whose Extended Key Usage lacks clientAuth (syngo CT §4.4.1.3's rule, OpenSSL's check)
    wrong_usage = _echo(server, *_client(certs, certs.server_key, certs.server))
    assert wrong_usage.returncode != 0
    # a certificate from a CA the scanner does not trust
    other = generate_demo_certificates(tmp_path / "other", organization="elsewhere")
    stranger = _echo(server, "+tls", str(other.client_key), str(other.client), "+cf", str(certs.ca))
    assert stranger.returncode != 0
    log = server.log()
    assert log.count("refused: ") == 4, log
    assert "WRONG_VERSION_NUMBER" in log  # the plain A-ASSOCIATE-RQ is not a TLS ClientHello
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log
    assert "CERTIFICATE_VERIFY_FAILED" in log
    assert "SCP presentation contexts" not in log  # --tls-only: no plain port
    # and a good client still gets in after all that
    assert _echo(server, *_client(certs)).returncode == 0


def test_calling_ae_policy_applies_on_the_secure_port(tls_serve, certs, tmp_path):
    config = tmp_path / "site.toml"
    config.write_text('[nodes.pacs]\nae_title = "PACS"\nhost = "127.0.0.1"\nport = 104\n')
    server = tls_serve("syngo-ct-va50a", global_args=["--config", str(config)])
    assert _echo(server, *_client(certs), calling="PACS").returncode == 0
    r = _echo(server, *_client(certs), calling="INTRUDER")
    assert r.returncode != 0 and "Calling AE Title Not Recognized" in r.stdout + r.stderr


def test_vscanner_send_over_tls_to_storescp(certs, tmp_path):
    storescp = require("storescp")
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    log = open(tmp_path / "storescp.log", "wb")
    proc = subprocess.Popen([storescp, "-v", "+tls", str(certs.server_key), str(certs.server), "+cf", str(certs.ca),
                             "-aet", "STORESCP", "-od", str(out), str(port)], env=PEER_ENV, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc)
        (tmp_path / "in").mkdir()
        image = write(ct_image(), tmp_path / "in" / "ct.dcm")
        cmd = [sys.executable, "-m", "appliance", "send", str(image.parent), "--to", f"STORESCP@127.0.0.1:{port}",
               "--profile", "syngo-ct-va50a", "--aet", "CTSCANNER", "--data", str(tmp_path / "data"), "-q",
               "--tls", "--tls-certificate", str(certs.client), "--tls-key", str(certs.client_key),
               "--tls-ca", str(certs.ca)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        received = list(out.iterdir())
        assert len(received) == 1 and dcmread(received[0]).SOPInstanceUID == dcmread(image).SOPInstanceUID
        # the same from a site configuration: [local] certificates, the node with tls = true
        site = tmp_path / "site.toml"
        site.write_text(f'[local]\nae_title = "CTSCANNER"\nprofile = "syngo-ct-va50a"\ndata = "{tmp_path / "data2"}"\n'
                        f'tls_certificate = "{certs.client}"\ntls_private_key = "{certs.client_key}"\n'
                        f'tls_ca = "{certs.ca}"\n\n[nodes.archive]\nae_title = "STORESCP"\nhost = "127.0.0.1"\n'
                        f'port = {port}\ntls = true\n')
        received[0].unlink()
        r = subprocess.run([sys.executable, "-m", "appliance", "--config", str(site), "send", str(image.parent),
                            "--to", "archive", "-q"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(list(out.iterdir())) == 1
        # a CA file that is not there: bad input, said before anything is queued
        r = subprocess.run(cmd[:cmd.index("--tls-ca")] + ["--tls-ca", str(tmp_path / "missing.pem"), "--resend"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "missing.pem not found" in r.stderr
        # the peer's certificate is checked: a CA that did not sign it fails the handshake
        other = generate_demo_certificates(tmp_path / "other", organization="elsewhere")
        r = subprocess.run(cmd[:cmd.index("--tls-ca")] + ["--tls-ca", str(other.ca), "--resend", "--retries", "0"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "over TLS" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_a_tls_node_without_certificates_is_a_clear_error():
    from appliance.config import Node
    from appliance.errors import NetworkError
    from appliance.net.requestor import open_association, use_tls

    use_tls(None)
    node = Node(ae_title="PACS", host="127.0.0.1", port=2762, tls=True)
    with pytest.raises(NetworkError, match="configured for TLS, but no TLS certificate"):
        with open_association(find_profile("syngo-ct-va50a"), node, "CT", [], purpose="C-ECHO"):
            pass


def test_profile_without_tls_refuses(tmp_path, certs):
    r = subprocess.run([sys.executable, "-m", "appliance", "serve", "--profile", "syngo-mr-xa11b", "--port", "0",
                        "--data", str(tmp_path / "d"), "--tls", "--tls-certificate", str(certs.server), "--tls-key",
                        str(certs.server_key), "--tls-ca", str(certs.ca)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "syngo-mr-xa11b has no TLS" in r.stderr and find_profile("syngo-mr-xa11b").statement in r.stderr
    settings = TLSSettings.from_paths(certs.server, certs.server_key, certs.ca)
    with pytest.raises(UsageError, match="has no TLS"):
        requestor_context(find_profile("syngo-mi-petct-2011a"), settings)


def _handshake(port: int, ca: Path, certs, ciphers: str) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(ca))
    ctx.load_cert_chain(str(certs.client), str(certs.client_key))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.cipher()[0]


def test_legacy_cipher_suites_only_with_the_explicit_option(tmp_path, certs, caplog):
    profile = find_profile("oasis-velocity")  # §10.1.1: 3DES, AES128-SHA, NULL-SHA
    default = acceptor_context(profile, TLSSettings.from_paths(certs.server, certs.server_key, certs.ca))
    assert default.minimum_version == ssl.TLSVersion.TLSv1_2
    assert "AES128-SHA" not in {c["name"] for c in default.get_ciphers()}
    for legacy, expect_ok in ((False, False), (True, True)):
        settings = TLSSettings.from_paths(certs.server, certs.server_key, certs.ca, legacy_ciphers=legacy)
        with Server(profile, tmp_path / f"s{legacy}", "OASIS", port=0, tls=settings, tls_port=0) as server:
            if expect_ok:
                assert _handshake(server.tls_port, certs.ca, certs, "AES128-SHA") == "AES128-SHA"
            else:
                with pytest.raises((ssl.SSLError, ConnectionError)):
                    _handshake(server.tls_port, certs.ca, certs, "AES128-SHA")
    assert "legacy TLS enabled" in caplog.text and "TLS_RSA_WITH_AES_128_CBC_SHA" not in caplog.text
    # syngo CT Table 75 lists TLS 1.0-1.2: the legacy switch lowers the minimum version
    ct = acceptor_context(find_profile("syngo-ct-va50a"),
                          TLSSettings.from_paths(certs.server, certs.server_key, certs.ca, legacy_ciphers=True))
    assert ct.minimum_version == ssl.TLSVersion.TLSv1


def test_tls_connections_closed_before_associating_free_their_slot(tls_serve, certs):
    """A client that completes the TLS handshake and closes without an A-ASSOCIATE-RQ must not
    hold one of the product's association slots for the whole association time-out."""
    server = tls_serve("syngo-ct-va50a")
    limit = find_profile("syngo-ct-va50a").network.max_associations_accepted
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.load_cert_chain(str(certs.client), str(certs.client_key))
    ctx.check_hostname = False
    for _ in range(limit + 3):
        with socket.create_connection(("127.0.0.1", server.tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.settimeout(10)
                pass  # handshake done; closed without associating
    r = _echo(server, *_client(certs))
    assert r.returncode == 0, r.stdout + r.stderr + server.log()[-3000:]
