"""The audit trail (PS3.15 A.5 audit messages): `vscanner serve --audit-log` with DCMTK storescu,
findscu and a rejected echoscu; RFC 5424 syslog over UDP on loopback; a refused TLS connection;
a media export.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from appliance.media.export import burn
from appliance.net.server import Server
from appliance.profile import find_profile
from appliance.security import audit
from appliance.security.tls import TLSSettings, generate_demo_certificates

from .data import write
from .peers import ServeProcess, require, run
from .test_provider_common import make_study

CT = "syngo-ct-va50a"


def messages(path: Path) -> list[ET.Element]:
    """Every line of the log parsed as one XML AuditMessage (a parse error fails the test)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    out = [ET.fromstring(ln) for ln in lines]
    assert all(m.tag == "AuditMessage" for m in out)
    return out


def event_id(m: ET.Element) -> str:
    return m.find("EventIdentification/EventID").get("csd-code")


def type_code(m: ET.Element) -> str | None:
    e = m.find("EventIdentification/EventTypeCode")
    return None if e is None else e.get("csd-code")


def participants(m: ET.Element) -> list[str]:
    return [p.get("AlternativeUserID", "") for p in m.findall("ActiveParticipant")]


def objects(m: ET.Element) -> dict[str, ET.Element]:
    return {o.get("ParticipantObjectID"): o for o in m.findall("ParticipantObjectIdentification")}


def wait_for(path: Path, predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            found = [m for m in messages(path) if predicate(m)]
            if found:
                return found
        time.sleep(0.05)
    raise AssertionError(f"no such audit message in {path}")


@pytest.mark.interop
def test_serve_audits_store_query_and_a_rejected_association(tmp_path):
    log = tmp_path / "audit.log"
    config = tmp_path / "site.toml"
    config.write_text("".join(f'[nodes.{n.lower()}]\nae_title = "{n}"\nhost = "127.0.0.1"\nport = 104\n\n'
                              for n in ("STORESCU", "FINDSCU", "ECHOSCU")))
    server = ServeProcess(CT, tmp_path / "store", "CTSCAN", tmp_path / "serve.log", ["--config", str(config)],
                          serve_args=["--audit-log", str(log)])
    try:
        study = make_study("CT", series=1, images=2)
        (tmp_path / "in").mkdir()
        files = [write(ds, tmp_path / "in" / f"{i}.dcm") for i, ds in enumerate(study)]
        study_uid = str(study[0].StudyInstanceUID)
        r = run([require("storescu"), "-aet", "STORESCU", "-aec", "CTSCAN", "127.0.0.1", str(server.port),
                 *map(str, files)])
        assert r.returncode == 0, r.stdout + r.stderr
        r = run([require("findscu"), "-S", "-aet", "FINDSCU", "-aec", "CTSCAN", "-k", "QueryRetrieveLevel=STUDY",
                 "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1", str(server.port)])
        assert r.returncode == 0, r.stdout + r.stderr
        r = run([require("echoscu"), "-aet", "BAD", "-aec", "CTSCAN", "127.0.0.1", str(server.port)])
        assert r.returncode != 0
        wait_for(log, lambda m: event_id(m) == "110113")
    finally:
        server.stop()
    got = messages(log)
    ids = [event_id(m) for m in got]
    # serve started and stopped: Application Activity with Application Start / Stop
    assert [type_code(m) for m in got if event_id(m) == "110100"] == ["110120", "110121"]
    # the two accepted associations: Login and Logout each, with the calling AE title
    logins = [m for m in got if event_id(m) == "110114" and type_code(m) == "110122"]
    assert {participants(m)[0] for m in logins} == {"AETITLES=STORESCU", "AETITLES=FINDSCU"}
    assert sum(1 for m in got if event_id(m) == "110114" and type_code(m) == "110123") == 2
    # instances received: one DICOM Instances Transferred for the association, with the study
    (transferred,) = [m for m in got if event_id(m) == "110104"]
    assert transferred.find("EventIdentification").get("EventActionCode") == "C"
    assert transferred.find("EventIdentification").get("EventOutcomeIndicator") == "0"
    roles = {p.get("AlternativeUserID"): p.find("RoleIDCode").get("csd-code") for p in transferred.findall("ActiveParticipant")}
    assert roles == {"AETITLES=STORESCU": "110153", "AETITLES=CTSCAN": "110152"}  # source, destination
    obj = objects(transferred)[study_uid]
    assert obj.find("ParticipantObjectIDTypeCode").get("csd-code") == "110180"
    (sop,) = obj.findall("ParticipantObjectDescription/SOPClass")
    assert sop.get("UID") == str(study[0].SOPClassUID) and sop.get("NumberOfInstances") == "2"
    assert str(study[0].PatientID) in objects(transferred)  # the patient, as a participant object
    # the query: Query with the calling AE title, the SOP class and the identifier (base64)
    (query,) = [m for m in got if event_id(m) == "110112"]
    assert participants(query)[0] == "AETITLES=FINDSCU"
    assert "1.2.840.10008.5.1.4.1.2.2.1" in objects(query)  # Study Root Q/R FIND
    assert objects(query)["1.2.840.10008.5.1.4.1.2.2.1"].find("ParticipantObjectQuery").text
    # the rejected association: Security Alert, Node Authentication, minor failure, the reason
    (alert,) = [m for m in got if event_id(m) == "110113"]
    assert type_code(alert) == "110126"
    ev = alert.find("EventIdentification")
    assert ev.get("EventOutcomeIndicator") == "4"
    assert "'BAD' is not a node of the site configuration" in ev.find("EventOutcomeDescription").text
    assert "result 1, source 1, reason 3" in ev.find("EventOutcomeDescription").text
    assert "AETITLES=BAD" in participants(alert)
    assert ids.count("110113") == 1 and "AuditSourceIdentification" in {c.tag for c in alert}
    assert alert.find("AuditSourceIdentification").get("AuditSourceID") == "CTSCAN"


@pytest.mark.interop
def test_syslog_over_udp_on_loopback(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        port = sink.getsockname()[1]
        server = ServeProcess(CT, tmp_path / "store", "CTSCAN", tmp_path / "serve.log",
                              serve_args=["--audit-syslog", f"127.0.0.1:{port}"])
        try:
            r = run([require("echoscu"), "-aet", "ECHOSCU", "-aec", "CTSCAN", "127.0.0.1", str(server.port)])
            assert r.returncode == 0, r.stdout + r.stderr
            received = []
            for _ in range(3):  # Application Start, Login, Logout
                received.append(sink.recv(65536))
        finally:
            server.stop()
    for datagram in received:
        header, _, body = datagram.partition(b"\xef\xbb\xbf")  # RFC 5424: BOM before a UTF-8 MSG
        pri_version, _ts, _host, app, _pid, msgid, sd = header.decode("ascii").split(" ")[:7]
        assert pri_version == "<85>1"  # facility authpriv (10), severity notice (5); RFC 5424 version 1
        assert app == "vscanner" and msgid == "DICOM+RFC3881" and sd == "-"
        assert ET.fromstring(body.decode("utf-8")).tag == "AuditMessage"
    codes = [event_id(ET.fromstring(d.partition(b"\xef\xbb\xbf")[2])) for d in received]
    assert codes == ["110100", "110114", "110114"]


def test_a_refused_tls_connection_is_a_security_alert(tmp_path):
    certs = generate_demo_certificates(tmp_path / "certs")
    log = tmp_path / "audit.log"
    trail = audit.AuditTrail("CTSCAN", [audit.FileSink(log)])
    settings = TLSSettings.from_paths(certs.server, certs.server_key, certs.ca)
    with Server(find_profile(CT), tmp_path / "store", "CTSCAN", port=0, tls=settings, tls_port=0, audit=trail) as s:
        with socket.create_connection(("127.0.0.1", s.tls_port), timeout=5) as plain:
            plain.sendall(b"\x01\x00\x00\x00\x00\x10not a TLS hello")  # an A-ASSOCIATE-RQ header, in the clear
            try:
                plain.recv(100)
            except OSError:
                pass
        (alert,) = wait_for(log, lambda m: event_id(m) == "110113")
    desc = alert.find("EventIdentification/EventOutcomeDescription").text
    assert desc.startswith("TLS connection refused") and type_code(alert) == "110126"


@pytest.mark.interop
def test_media_export_is_audited(tmp_path):
    log = tmp_path / "audit.log"
    study = make_study("CT", series=1, images=2)
    (tmp_path / "in").mkdir()
    for i, ds in enumerate(study):
        write(ds, tmp_path / "in" / f"{i}.dcm")
    audit.set_default(audit.AuditTrail("CTSCAN", [audit.FileSink(log)]))
    try:
        burn(find_profile(CT), [tmp_path / "in"], out=tmp_path / "disc.iso")
    finally:
        audit.default().close()
        audit.set_default(None)
    (export,) = messages(log)
    assert event_id(export) == "110106" and export.find("EventIdentification").get("EventActionCode") == "R"
    roles = [p.find("RoleIDCode").get("csd-code") for p in export.findall("ActiveParticipant")]
    assert roles == ["110153", "110154"]  # source: the console; destination media
    media = export.findall("ActiveParticipant")[1].find("MediaIdentifier/MediaType")
    assert media is not None
    obj = objects(export)[str(study[0].StudyInstanceUID)]
    assert obj.find("ParticipantObjectDescription/SOPClass").get("NumberOfInstances") == "2"


def test_cli_burn_and_usb_export_write_the_audit_log(tmp_path):
    """`vscanner burn --audit-log` audits the ISO export and the USB folder export (110106)."""
    import subprocess
    import sys

    log = tmp_path / "audit.log"
    study = make_study("CT", series=1, images=2)
    (tmp_path / "in").mkdir()
    for i, ds in enumerate(study):
        write(ds, tmp_path / "in" / f"{i}.dcm")
    for out in (str(tmp_path / "disc.iso"), str(tmp_path / "stick") + "/"):
        r = subprocess.run([sys.executable, "-m", "appliance", "burn", str(tmp_path / "in"), "--profile", CT,
                            "--out", out, "--audit-log", str(log), "-q"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    exports = messages(log)
    assert [event_id(m) for m in exports] == ["110106", "110106"]
    for m in exports:
        assert str(study[0].StudyInstanceUID) in objects(m)


@pytest.mark.interop
def test_serve_audits_a_retrieve_it_serves(tmp_path):
    """DCMTK getscu retrieves a study from COHERENCE (C-GET): 110102 Begin Transferring DICOM
    Instances, with the study asked for and the requestor as destination."""
    pid = "coherence-primeview-3i"
    log = tmp_path / "audit.log"
    server = ServeProcess(pid, tmp_path / "store", "COH", tmp_path / "serve.log",
                          serve_args=["--audit-log", str(log)])
    try:
        study = make_study("CT", series=1, images=2)
        (tmp_path / "in").mkdir()
        files = [write(ds, tmp_path / "in" / f"{i}.dcm") for i, ds in enumerate(study)]
        study_uid = str(study[0].StudyInstanceUID)
        r = run([require("storescu"), "-aet", "STORESCU", "-aec", "COH", "127.0.0.1", str(server.port),
                 *map(str, files)])
        assert r.returncode == 0, r.stdout + r.stderr
        (tmp_path / "got").mkdir()
        r = run([require("getscu"), "-S", "-aet", "GETSCU", "-aec", "COH", "-od", str(tmp_path / "got"),
                 "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}", "127.0.0.1",
                 str(server.port)])
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(list((tmp_path / "got").iterdir())) == 2
        (begin,) = wait_for(log, lambda m: event_id(m) == "110102")
    finally:
        server.stop()
    assert study_uid in objects(begin)
    roles = {p.get("UserID"): p.find("RoleIDCode").get("csd-code") for p in begin.findall("ActiveParticipant")}
    assert roles.get("GETSCU") == "110152", roles  # the destination of the instances
