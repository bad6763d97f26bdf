"""`vscanner serve`: negotiation exactly as the statement's SCP table; DCMTK echo and store.

Negotiation is checked with a pynetdicom requestor proposing every SCP class of the statement
(from tests/statement_tables, written from the statement text) plus classes the statement
does not list. DCMTK's echoscu and storescu prove interoperability with a real peer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    UID,
)
from pynetdicom import AE, build_context

from appliance.profile import find_profile

from .data import ct_image, mr_image, write
from .peers import require, run
from .statement_tables import TABLES
from .test_profiles import PROFILE_IDS

UNCOMPRESSED = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
# Classes none of the five statements lists as SCP.
NOT_LISTED = [
    "1.2.840.10008.5.1.4.1.1.77.1.6",   # VL Whole Slide Microscopy Image Storage
    "1.2.840.10008.5.1.4.1.1.130",      # Enhanced PET Image Storage
    "1.2.840.10008.5.1.4.34.6.1",       # Unified Procedure Step - Push
]


def negotiate(port: int, called: str, uids: list[str], syntaxes: list[str]) -> dict[str, int]:
    """Propose *uids* (each with *syntaxes*), in chunks of 100; return uid -> result code."""
    results: dict[str, int] = {}
    for start in range(0, len(uids), 100):
        ae = AE(ae_title="NEGOTIATOR")
        ae.requested_contexts = [build_context(u, syntaxes) for u in uids[start:start + 100]]
        assoc = ae.associate("127.0.0.1", port, ae_title=called)
        assert assoc.is_established, "association refused"
        try:
            for cx in assoc.accepted_contexts + assoc.rejected_contexts:
                results[str(cx.abstract_syntax)] = cx.result
        finally:
            assoc.release()
    return results


@pytest.mark.parametrize("pid", PROFILE_IDS)
def test_accepted_set_is_the_statement_scp_set(serve, pid):
    statement_scp = {uid for _, uid, _, scp in TABLES[pid] if scp}
    assert not statement_scp & set(NOT_LISTED)
    server = serve(pid, aet="VSCANNER")
    proposed = sorted(statement_scp) + NOT_LISTED
    results = negotiate(server.port, "VSCANNER", proposed, UNCOMPRESSED)
    accepted = {uid for uid, result in results.items() if result == 0x00}
    assert accepted == statement_scp, (
        f"accepted but not SCP in the statement: {sorted(accepted - statement_scp)}; "
        f"SCP in the statement but refused: {sorted(statement_scp - accepted)}"
    )
    for uid in NOT_LISTED:
        assert results[uid] == 0x03, f"{uid}: expected 'abstract syntax not supported'"


@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "syngo-ct-va50a"])
def test_unsupported_transfer_syntax_is_refused_with_reason_4(serve, pid):
    profile = find_profile(pid)
    server = serve(pid)
    storage = [c for c in profile.classes(service="storage", role="scp") if not c.private]
    cls = storage[0]
    accepted = set(profile.scp_transfer_syntaxes(cls))
    # a transfer syntax this class is not accepted with, as the profile says
    foreign = next(u for u in ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.1.99")
                   if u not in accepted)
    # Verification keeps the association up whatever happens to the context under test
    ae = AE(ae_title="NEGOTIATOR")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.add_requested_context(cls.uid, [foreign])
    assoc = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    assert assoc.is_established
    results = {str(cx.abstract_syntax): cx.result for cx in assoc.accepted_contexts + assoc.rejected_contexts}
    assoc.release()
    assert results[cls.uid] == 0x04, f"{cls.name} with {UID(foreign).name}"


def test_max_pdu_and_identity_are_the_profiles(serve):
    profile = find_profile("syngo-ct-va50a")
    server = serve("syngo-ct-va50a")
    ae = AE(ae_title="PROBE")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    assert assoc.is_established
    try:
        assert assoc.acceptor.maximum_length == profile.network.max_pdu_receive
        assert assoc.acceptor.implementation_class_uid == profile.identity.implementation_class_uid
        assert assoc.acceptor.implementation_version_name == profile.identity.implementation_version_name
    finally:
        assoc.release()


def test_association_limit_is_honoured(serve, tmp_path):
    """A profile with max 2 accepted associations refuses the third, then accepts again."""
    src = Path(find_profile("syngo-mr-xa11b").source).read_text()
    import re

    text = re.sub(r"(?m)^max_associations_accepted\s*=.*$", "max_associations_accepted = 2", src)
    text = text.replace('id = "syngo-mr-xa11b"', 'id = "two-assoc"')
    path = tmp_path / "two-assoc.toml"
    path.write_text(text)
    server = serve(str(path))
    ae = AE(ae_title="PROBE")
    ae.add_requested_context("1.2.840.10008.1.1")
    first = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    second = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    third = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    try:
        assert first.is_established and second.is_established
        assert third.is_rejected
    finally:
        for a in (first, second, third):
            if a.is_established:
                a.release()
    again = ae.associate("127.0.0.1", server.port, ae_title="VSCANNER")
    assert again.is_established
    again.release()


@pytest.mark.interop
def test_dcmtk_echoscu(serve):
    echoscu = require("echoscu")
    server = serve("syngo-mr-xa11b", aet="MRC")
    r = run([echoscu, "-aet", "DCMTK", "-aec", "MRC", "127.0.0.1", str(server.port)])
    assert r.returncode == 0, r.stderr
    assert "association accepted: DCMTK@127.0.0.1" in server.log()


@pytest.mark.interop
@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "syngo-ct-va50a"])
def test_dcmtk_storescu_mr_and_ct(serve, tmp_path, pid):
    storescu = require("storescu")
    server = serve(pid, aet="SCANNER")
    mr, ct = mr_image(), ct_image()
    files = [write(mr, tmp_path / "mr.dcm"), write(ct, tmp_path / "ct.dcm")]
    r = run([storescu, "-aet", "DCMTK", "-aec", "SCANNER", "127.0.0.1", str(server.port), *map(str, files)])
    assert r.returncode == 0, r.stdout + r.stderr
    server.stop()
    db = sqlite3.connect(server.data / "index.sqlite")
    rows = dict(db.execute("SELECT sop_instance_uid, path FROM instance").fetchall())
    assert set(rows) == {mr.SOPInstanceUID, ct.SOPInstanceUID}
    for original in (mr, ct):
        stored = dcmread(server.data / rows[original.SOPInstanceUID])
        assert stored.PixelData == original.PixelData
        assert stored.PatientName == original.PatientName
        assert stored.file_meta.SourceApplicationEntityTitle == "DCMTK"
    assert db.execute("SELECT COUNT(*) FROM patient").fetchone()[0] == 1
    log = server.log()
    for original in (mr, ct):  # one line per instance
        assert log.count(f"C-STORE stored {original.SOPInstanceUID} from DCMTK") == 1


@pytest.mark.interop
def test_path_traversal_uid_is_refused_without_writing_outside(serve, tmp_path):
    storescu = require("storescu")
    server = serve("syngo-mr-xa11b", aet="MRC")
    evil = ct_image(sop_uid="../../x")
    path = write(evil, tmp_path / "evil.dcm")
    before = {p for p in tmp_path.rglob("*")}
    r = run([storescu, "-v", "-aec", "MRC", "127.0.0.1", str(server.port), str(path)])
    assert r.returncode != 0
    assert "Received Store Response (Error: DataSetDoesNotMatchSOPClass)" in r.stdout + r.stderr
    assert "refused with 0xA900" in server.log()
    server.stop()
    after = {p for p in tmp_path.rglob("*")}
    new = {p for p in after - before if not p.is_relative_to(server.data)}
    assert not new, f"written outside the store: {new}"
    assert not any(p.name == "x" or p.name == "x.dcm" for p in after)
    db = sqlite3.connect(server.data / "index.sqlite")
    assert db.execute("SELECT COUNT(*) FROM instance").fetchone()[0] == 0


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_signals_stop_cleanly(serve, signame):
    import signal

    server = serve("oasis-velocity")
    server.proc.send_signal(getattr(signal, signame))
    assert server.proc.wait(15) == 0
    log = server.log()
    assert f"received {signame}, stopping" in log and "stopped" in log


def test_every_socket_has_tcp_nodelay(tmp_path):
    """In-process: the accepted socket of a live association has Nagle switched off."""
    import socket as socketlib

    from appliance.net.server import Server

    from .peers import free_port

    server = Server(find_profile("syngo-ct-va50a"), tmp_path / "s", ae_title="CT", port=free_port())
    server.start()
    try:
        ae = AE(ae_title="PROBE")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", server.port, ae_title="CT")
        assert assoc.is_established
        try:
            acceptors = [a for a in server.ae.active_associations if a.is_acceptor]
            assert acceptors
            for a in acceptors:
                sock = a.dul.socket.socket
                assert sock.getsockopt(socketlib.IPPROTO_TCP, socketlib.TCP_NODELAY) == 1
        finally:
            assoc.release()
    finally:
        server.stop()
