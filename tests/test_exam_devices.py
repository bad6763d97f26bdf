"""The embedded hospital's devices: the RIS (worklist schedule, MPPS state machine), the PACS
(storage, commitment after a delay on a new association, Q/R, faults) and the Hospital itself.
Real peers (DCMTK findscu / storescu) talk to them where it matters."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE

from acquisition import acquire
from acquisition.engine import Limits
from appliance.config import Node, load_site_config
from appliance.net import mpps
from appliance.net.storage_commitment import InstanceRef, ReportListener, request_commitment
from appliance.net.worklist import query_worklist
from appliance.profile import find_profile
from devices.hospital import Hospital
from devices.pacs import PACS
from devices.ris import RIS, generate_schedule, locale_for

from .peers import PEER_ENV, free_port, require, run

PROFILES = ["syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a"]
SMALL = Limits(max_matrix=32, max_slices=2, max_frames=1)


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- the schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", PROFILES)
def test_schedule_is_in_the_products_character_set(pid: str) -> None:
    p = find_profile(pid)
    items = generate_schedule(p, "SCANNER", count=4, protocols=[("Head routine", "HEAD")])
    mine = [i for i in items if i.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "SCANNER"]
    assert len(mine) == 4 and len(items) == 5  # plus one step for another station
    if pid == "oasis-velocity":  # FUJIFILM lists the Japanese sets first after the default repertoire
        assert locale_for(p) == "ja"
        assert list(items[0].SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
        assert all("=" in str(i.PatientName) for i in items)  # romaji=kanji=hiragana
    else:
        assert locale_for(p) == "de"
        assert items[0].SpecificCharacterSet == "ISO_IR 100"
        assert any(not str(i.PatientName).isascii() for i in items)
    for i in mine:
        sps = i.ScheduledProcedureStepSequence[0]
        assert sps.Modality == p.identity.modalities[0]
        assert sps.ScheduledProtocolCodeSequence[0].CodeMeaning == "Head routine"
        assert sps.ScheduledProcedureStepStatus == "SCHEDULED"
        assert i.AccessionNumber and i.RequestedProcedureID and i.StudyInstanceUID and i.PatientID


# --- the RIS ----------------------------------------------------------------------------------------


@pytest.fixture
def ris():
    server = RIS(ae_title="RIS").start()
    yield server
    server.stop()


def test_worklist_returns_own_steps_decoded_in_japanese(ris: RIS) -> None:
    p = find_profile("oasis-velocity")
    ris.schedule(generate_schedule(p, "DCMSERVER", count=3))
    items = query_worklist(p, ris.node, "DCMSERVER")
    assert len(items) == 3  # not the other station's step
    names = [i.patient_name for i in items]
    assert all("=" in n and not n.isascii() for n in names)
    expected = {str(i.PatientName) for i in ris.items}
    assert set(names) <= expected
    one = query_worklist(p, ris.node, "DCMSERVER", keys={"PatientID": items[1].patient_id})
    assert [i.patient_id for i in one] == [items[1].patient_id]
    assert query_worklist(p, ris.node, "DCMSERVER", modality="CT") == []


@pytest.mark.interop
def test_dcmtk_findscu_reads_the_japanese_worklist(ris: RIS, tmp_path: Path) -> None:
    findscu = require("findscu")
    p = find_profile("oasis-velocity")
    ris.schedule(generate_schedule(p, "DCMSERVER", count=2))
    proc = subprocess.run([findscu, "-W", "-aec", "RIS", "-X", "-k",
                           "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=DCMSERVER", "-k", "PatientName",
                           "-k", "SpecificCharacterSet", "127.0.0.1", str(ris.port)],
                          cwd=tmp_path, env=PEER_ENV, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    files = sorted(tmp_path.glob("rsp*.dcm"))
    assert len(files) == 2
    names = {str(dcmread(f).PatientName) for f in files}
    assert names <= {str(i.PatientName) for i in ris.items} and all("=" in n for n in names)
    assert list(dcmread(files[0]).SpecificCharacterSet) == ["", "ISO 2022 IR 87"]


def _item(ris: RIS, profile, ae: str):
    ris.schedule(generate_schedule(profile, ae, count=2))
    return query_worklist(profile, ris.node, ae)[0]


def test_mpps_state_machine(ris: RIS) -> None:
    p = find_profile("syngo-ct-va50a")
    item = _item(ris, p, "CTAWP01")
    create = mpps.build_create(p, "CTAWP01", item)
    uid = generate_uid()
    mpps.create(p, ris.node, "CTAWP01", create, instance_uid=uid)
    assert ris.steps[uid].status == "IN PROGRESS"
    assert ris.sps_status(item.study_instance_uid) == "STARTED"
    with pytest.raises(mpps.MPPSError) as dup:
        mpps.create(p, ris.node, "CTAWP01", create, instance_uid=uid)
    assert dup.value.status == 0x0111
    bad = mpps.build_create(p, "CTAWP01", item)
    bad.PerformedProcedureStepStatus = "COMPLETED"
    with pytest.raises(mpps.MPPSError) as invalid:
        mpps.create(p, ris.node, "CTAWP01", bad, instance_uid=generate_uid())
    assert invalid.value.status == 0x0106
    with pytest.raises(mpps.MPPSError) as unknown:
        mpps.update(p, ris.node, "CTAWP01", generate_uid(), mpps.build_set(p, "COMPLETED"))
    assert unknown.value.status == 0x0112
    no_end = mpps.build_set(p, "COMPLETED")
    del no_end.PerformedProcedureStepEndDate
    with pytest.raises(mpps.MPPSError) as missing:
        mpps.update(p, ris.node, "CTAWP01", uid, no_end)
    assert missing.value.status == 0x0120
    ref = mpps.PerformedSeries(series_instance_uid=generate_uid(), protocol_name="Head routine",
                               images=(("1.2.840.10008.5.1.4.1.1.2", generate_uid()),))
    mpps.update(p, ris.node, "CTAWP01", uid, mpps.build_set(p, "COMPLETED", [ref]))
    step = ris.steps[uid]
    assert step.status == "COMPLETED" and [s for _t, s in step.history] == ["IN PROGRESS", "COMPLETED"]
    assert step.referenced_instances == list(ref.images)
    with pytest.raises(mpps.MPPSError) as final:
        mpps.update(p, ris.node, "CTAWP01", uid, mpps.build_set(p, "DISCONTINUED"))
    assert final.value.status == 0x0110  # a final step may no longer be updated
    assert ris.sps_status(item.study_instance_uid) == "COMPLETED"
    assert item.study_instance_uid not in {i.study_instance_uid for i in query_worklist(p, ris.node, "CTAWP01")}
    codes = [(r.operation, r.response_status) for r in ris.mpps_log]
    assert codes == [("N-CREATE", 0), ("N-CREATE", 0x0111), ("N-CREATE", 0x0106), ("N-SET", 0x0112),
                     ("N-SET", 0x0120), ("N-SET", 0), ("N-SET", 0x0110)]


def test_mpps_rejection_fault(ris: RIS) -> None:
    p = find_profile("syngo-mr-xa11b")
    item = _item(ris, p, "MRC40251")
    ris.reject_mpps(0xC000, ["N-CREATE"], count=1)
    ds = mpps.build_create(p, "MRC40251", item)
    with pytest.raises(mpps.MPPSError) as refused:
        mpps.create(p, ris.node, "MRC40251", ds, instance_uid=generate_uid())
    assert refused.value.status == 0xC000
    mpps.create(p, ris.node, "MRC40251", ds, instance_uid=generate_uid())  # count=1: accepted again
    assert [s.status for s in ris.steps.values()] == ["IN PROGRESS"]


# --- the PACS ---------------------------------------------------------------------------------------


@pytest.fixture
def exam_files(tmp_path: Path) -> list[Path]:
    acq = acquire(find_profile("syngo-ct-va50a"), "Head routine", seed=1, limits=SMALL)
    out = tmp_path / "exam"
    acq.write(out)
    return sorted(out.rglob("*.dcm"))


@pytest.fixture
def pacs(tmp_path: Path):
    archive = PACS(tmp_path / "pacs", commit_delay=0.5).start()
    yield archive
    archive.stop()


@pytest.mark.interop
def test_dcmtk_stores_finds_and_retrieves(pacs: PACS, exam_files: list[Path], tmp_path: Path) -> None:
    storescu, findscu = require("storescu"), require("findscu")
    getscu, movescu = require("getscu"), require("movescu")
    res = run([storescu, "-aec", "PACS", "-aet", "MODALITY", "127.0.0.1", str(pacs.port), *map(str, exam_files)])
    assert res.returncode == 0, res.stderr
    uids = {str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in exam_files}
    assert pacs.instances() == uids
    study = str(dcmread(exam_files[0], stop_before_pixels=True).StudyInstanceUID)
    res = run([findscu, "-v", "-S", "-aec", "PACS", "-k", "QueryRetrieveLevel=STUDY", "-k",
               f"StudyInstanceUID={study}", "-k", "NumberOfStudyRelatedInstances", "127.0.0.1", str(pacs.port)])
    assert res.returncode == 0, res.stderr
    assert study in res.stderr + res.stdout
    assert f"[{len(uids)}" in (res.stderr + res.stdout).replace(" ", "")  # NumberOfStudyRelatedInstances
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
    (tmp_path / "get").mkdir()
    res = run([getscu, "-S", "-aec", "PACS", *keys, "-od", str(tmp_path / "get"), "127.0.0.1", str(pacs.port)])
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "get").iterdir())) == len(uids)  # C-GET: on the same association
    port = free_port()
    pacs.add_node(Node(ae_title="MOVESCU", host="127.0.0.1", port=port))  # a known move destination
    (tmp_path / "move").mkdir()
    res = run([movescu, "-S", "-aec", "PACS", "-aet", "MOVESCU", "-aem", "MOVESCU", "+P", str(port), "-od",
               str(tmp_path / "move"), *keys, "127.0.0.1", str(pacs.port)])
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "move").iterdir())) == len(uids)  # C-MOVE: on a new association


@pytest.mark.interop
def test_commitment_report_after_the_delay_on_a_new_association(pacs: PACS, exam_files: list[Path]) -> None:
    storescu = require("storescu")
    assert run([storescu, "-aec", "PACS", "127.0.0.1", str(pacs.port), *map(str, exam_files)]).returncode == 0
    profile = find_profile("syngo-mi-petct-2011a")
    port = free_port()
    pacs.add_node(Node(ae_title="PETCT", host="127.0.0.1", port=port))
    reports = []
    got = threading.Event()

    def on_report(report) -> None:  # type: ignore[no-untyped-def]
        reports.append((time.monotonic(), report))
        got.set()

    refs = [InstanceRef(str(d.SOPClassUID), str(d.SOPInstanceUID))
            for d in (dcmread(f, stop_before_pixels=True) for f in exam_files)]
    unknown = InstanceRef("1.2.840.10008.5.1.4.1.1.2", generate_uid())
    listener = ReportListener(profile, "PETCT", "127.0.0.1", port, on_report).start()
    try:
        t0 = time.monotonic()
        status = request_commitment(profile, pacs.node, "PETCT", refs + [unknown], generate_uid(), on_report,
                                    keep_open=0)
        assert status == 0x0000
        assert got.wait(10)
    finally:
        listener.stop()
    at, report = reports[0]
    assert at - t0 >= 0.45  # the configured delay
    assert not report.same_association  # a separate association opened by the PACS
    assert {r.sop_instance_uid for r in report.committed} == {r.sop_instance_uid for r in refs}
    assert [(r.sop_instance_uid, reason) for r, reason in report.failed] == [(unknown.sop_instance_uid, 0x0112)]
    assert _wait(lambda: pacs.committed == {r.sop_instance_uid for r in refs})


@pytest.mark.interop
def test_pacs_outage_and_abort_mid_send(pacs: PACS, exam_files: list[Path]) -> None:
    storescu = require("storescu")
    pacs.go_down(0.6)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", pacs.port), timeout=1).close()
    assert _wait(lambda: pacs.is_up, 5)
    pacs.abort_after(2)
    res = run([storescu, "-aec", "PACS", "127.0.0.1", str(pacs.port), *map(str, exam_files)])
    assert res.returncode != 0  # the association was aborted under it
    assert pacs.aborts == 1 and len(pacs.instances()) == 2
    assert run([storescu, "-aec", "PACS", "127.0.0.1", str(pacs.port), *map(str, exam_files)]).returncode == 0
    assert len(pacs.instances()) == len(exam_files)
    assert len(pacs.down_periods) == 1 and pacs.down_periods[0][1] is not None


def test_pacs_sockets_have_tcp_nodelay(pacs: PACS) -> None:
    seen = []

    def on_open(event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    ae = AE(ae_title="PROBE")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title="PACS")
    assert assoc.is_established
    server_sockets = [a.dul.socket.socket for a in pacs._server.active_associations]
    flags = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in server_sockets if s is not None]
    assoc.release()
    assert flags and all(flags)


# --- the hospital -----------------------------------------------------------------------------------


def test_hospital_site_configuration(tmp_path: Path) -> None:
    with Hospital("syngo-ct-va50a", tmp_path / "h") as h:
        site = h.site
        assert site.local.ae_title == "CTAWP01" and site.local.port == h.scanner_port
        assert {n.name: set(n.roles) for n in site.nodes.values()} == {
            "ris": {"worklist", "mpps"}, "pacs": {"archive", "storage_commitment", "query_retrieve"},
            "printer": {"printer"}}
        ports = {n.port for n in site.nodes.values()} | {h.scanner_port}
        assert len(ports) == 4 and all(p > 0 for p in ports)
        again = load_site_config(h.write_config(tmp_path / "site.toml"))
        assert again.nodes["pacs"].port == h.pacs.port and again.local.port == h.scanner_port
        assert h.burner is not None and any(line.startswith("RIS") for line in h.describe())
        ris_port = h.ris.port
    with pytest.raises(OSError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", ris_port), timeout=1).close()
    assert (tmp_path / "h").is_dir()  # a given folder is kept


def test_hospital_removes_its_temporary_folder() -> None:
    h = Hospital("coherence-primeview-3i", printer=False, burner=False).start()
    folder = h.folder
    assert folder.is_dir() and h.printer is None and "printer" not in h.site.nodes
    h.stop()
    assert not folder.exists()


def test_every_generated_name_fits_the_pn_length_when_encoded():
    """dciodvfy refuses a PN value over 64 bytes; ISO 2022 escapes count too."""
    from pydicom.charset import convert_encodings
    from pydicom.valuerep import PersonName

    from devices.ris import LOCALES

    for code, locale in LOCALES.items():
        encodings = convert_encodings(list(locale.charset) if not isinstance(locale.charset, str) else [locale.charset])
        names = [p.name for p in locale.patients] + list(locale.physicians)
        for name in names:
            assert len(PersonName(name).encode(encodings)) <= 64, (code, name)
