"""Modality Worklist SCU: the query each product builds (pure), and real queries against DCMTK
``wlmscpfs`` serving entries this test writes with pydicom, in ISO 2022 IR 87 (Japanese),
ISO_IR 100 and ISO_IR 192, returned with their own character set (``-csk``)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from appliance.config import Node
from appliance.errors import NetworkError, UsageError
from appliance.net.requestor import Context, open_association
from appliance.net.worklist import (
    CODE_ITEM_KEYWORDS,
    REFERENCE_ITEM_KEYWORDS,
    SPS_ITEM_KEYWORDS,
    WorklistItem,
    build_query,
    parse_date_range,
    query_worklist,
)
from appliance.profile import find_profile

from .peers import PEER_ENV, PeerProcess, free_port, require, require_file, wait_for_port

PROFILES = ["syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a"]
TODAY = dt.date.today()
TODAY_S = TODAY.strftime("%Y%m%d")
TOMORROW_S = (TODAY + dt.timedelta(days=1)).strftime("%Y%m%d")

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
GERMAN = "Müller^Jörg"
CHINESE = "Wang^XiaoDong=王^小東"


# --- pure: the query each product builds ------------------------------------------------------


@pytest.mark.parametrize("pid", PROFILES)
def test_query_has_the_products_matching_keys_in_the_sps_item(pid: str) -> None:
    p = find_profile(pid)
    q = build_query(p, station_ae_title="CT01", today=dt.date(2026, 11, 30))
    sps = q.ScheduledProcedureStepSequence[0]
    assert sps.ScheduledStationAETitle == "CT01"
    assert sps.ScheduledProcedureStepStartDate == "20261130-20261130"
    assert sps.Modality == "*"
    # every return key the profile lists is asked for, at its place in the information model
    for kw in p.worklist.return_keys:
        if kw in (*CODE_ITEM_KEYWORDS, *REFERENCE_ITEM_KEYWORDS, "ScheduledProcedureStepSequence"):
            continue
        where = sps if kw in SPS_ITEM_KEYWORDS else q
        assert kw in where, f"{pid}: return key {kw} missing"
    assert "Modality" not in q and "ScheduledStationAETitle" not in q  # not at the top level


def test_code_sequence_items_follow_the_profile() -> None:
    mr = build_query(find_profile("syngo-mr-xa11b"), station_ae_title="MR")
    code = mr.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence
    assert len(code) == 1 and "CodeValue" in code[0] and "CodingSchemeDesignator" in code[0]
    assert "ReferencedSOPInstanceUID" in mr.ReferencedStudySequence[0]
    # COHERENCE lists no item keys: universal sequence matching (zero-length sequence)
    coh = build_query(find_profile("coherence-primeview-3i"), station_ae_title="RT")
    assert len(coh.ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence) == 0
    assert len(coh.ReferencedStudySequence) == 0


def test_only_the_products_matching_keys_are_accepted() -> None:
    oasis = build_query(find_profile("oasis-velocity"), station_ae_title="MR", keys={"PatientID": "DE1"})
    assert oasis.PatientID == "DE1"
    with pytest.raises(UsageError, match="does not send PatientID as a worklist matching key"):
        build_query(find_profile("syngo-mr-xa11b"), station_ae_title="MR", keys={"PatientID": "DE1"})
    petct = build_query(find_profile("syngo-mi-petct-2011a"), station_ae_title="PT",
                        keys={"ScheduledProcedureStepStartTime": "080000-120000"})
    assert petct.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "080000-120000"


def test_dates_and_station_modes() -> None:
    assert parse_date_range(None, dt.date(2026, 1, 2)) == "20260102-20260102"
    assert parse_date_range("20260101") == "20260101"
    assert parse_date_range("20260101-20260131") == "20260101-20260131"
    assert parse_date_range("-20260131") == "-20260131"
    for bad in ("2026-01-01", "20261301", "x", "20260101-2026"):
        with pytest.raises(UsageError):
            parse_date_range(bad)
    q = build_query(find_profile("syngo-ct-va50a"), station_ae_title="*", modality="CT")
    assert q.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "*"
    assert q.ScheduledProcedureStepSequence[0].Modality == "CT"


def test_non_ascii_matching_values_declare_a_character_set() -> None:
    p = find_profile("coherence-primeview-3i")
    q = build_query(p, station_ae_title="RT", keys={"PatientName": "Müller*"})
    assert q.SpecificCharacterSet == "ISO_IR 100"
    with pytest.raises(UsageError, match="not encodable"):  # COHERENCE lists no UTF-8
        build_query(p, station_ae_title="RT", keys={"PatientName": "王*"})
    oasis = find_profile("oasis-velocity")  # default ISO_IR 6, supports ISO_IR 100
    q = build_query(oasis, station_ae_title="MR", keys={"PatientID": "Jörg1"})
    assert q.SpecificCharacterSet == "ISO_IR 100"
    q = build_query(oasis, station_ae_title="MR", keys={"PatientID": "ID1"})
    assert q.SpecificCharacterSet == ""  # asked for as a return key: the RIS fills it in
    petct = find_profile("syngo-mi-petct-2011a")  # supports ISO_IR 192
    q = build_query(petct, station_ae_title="PT", keys={"ScheduledProcedureStepStartTime": "0800-"})
    assert q.SpecificCharacterSet == ""
    with pytest.raises(UsageError, match="does not send PatientName"):
        build_query(petct, station_ae_title="PT", keys={"PatientName": "王*"})


def test_a_product_without_worklist_scu_is_refused(tmp_path: Path) -> None:
    import re

    text = (Path(find_profile("syngo-ct-va50a").source)).read_text()
    text = text.replace('id = "syngo-ct-va50a"', 'id = "no-mwl"')
    text = re.sub(r"(\[worklist\]\s*\nscu = )true", r"\1false", text)
    f = tmp_path / "no-mwl.toml"
    f.write_text(text)
    with pytest.raises(UsageError, match="no Modality Worklist SCU"):
        build_query(find_profile(str(f)), station_ae_title="CT")


# --- wlmscpfs ---------------------------------------------------------------------------------


def _entry(folder: Path, name: str, *, patient_name: str, patient_id: str, charset, description: str,
           station: str = "VSCANNER", modality: str = "MR", date: str = TODAY_S) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.AccessionNumber = "ACC" + patient_id
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureID = "RP" + patient_id
    ds.RequestedProcedureDescription = description
    sps = Dataset()
    sps.Modality = modality
    sps.ScheduledStationAETitle = station
    sps.ScheduledProcedureStepStartDate = date
    sps.ScheduledProcedureStepStartTime = "093000"
    sps.ScheduledPerformingPhysicianName = patient_name
    sps.ScheduledProcedureStepDescription = description
    sps.ScheduledProcedureStepID = "SPS" + patient_id
    sps.ScheduledStationName = "STATION1"
    sps.ScheduledProcedureStepLocation = "ROOM1"
    code = Dataset()
    code.CodeValue = "P1"
    code.CodingSchemeDesignator = "99TEST"
    code.CodeMeaning = description
    sps.ScheduledProtocolCodeSequence = [code]
    ds.ScheduledProcedureStepSequence = [sps]
    ds.RequestedProcedureCodeSequence = [code]
    ds.RequestedProcedurePriority = "ROUTINE"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.31"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(folder / f"{name}.wl", enforce_file_format=True)
    return ds


class WorklistSCP(PeerProcess):
    """DCMTK wlmscpfs on 127.0.0.1 (it listens on all interfaces), AE WLMSCP."""

    ae_title = "WLMSCP"

    def __init__(self, root: Path) -> None:
        binary = require("wlmscpfs")
        self.folder = root / self.ae_title  # the called AE title is a subfolder of -dfp
        self.folder.mkdir(parents=True)
        (self.folder / "lockfile").touch()
        port = free_port()
        super().__init__([binary, "--single-process", "-csk", "-v", "-dfp", str(root), str(port)],
                         root / "wlmscpfs.log", port)

    @property
    def node(self) -> Node:
        return Node(ae_title=self.ae_title, host="127.0.0.1", port=self.port)

    @property
    def address(self) -> str:
        return f"{self.ae_title}@127.0.0.1:{self.port}"


@pytest.fixture
def wlm(tmp_path: Path, request: pytest.FixtureRequest):
    scp = WorklistSCP(tmp_path / "wlm")
    f = scp.folder
    _entry(f, "japanese", patient_name=JAPANESE, patient_id="JP1", charset=["", "ISO 2022 IR 87"],
           description="頭部 MRI")
    _entry(f, "german", patient_name=GERMAN, patient_id="DE1", charset="ISO_IR 100", description="Schädel nativ")
    _entry(f, "utf8", patient_name=CHINESE, patient_id="CN1", charset="ISO_IR 192", description="头部")
    _entry(f, "ct", patient_name="Ct^Only", patient_id="CT1", charset="ISO_IR 100", description="Thorax",
           modality="CT")
    _entry(f, "other-station", patient_name="Other^Station", patient_id="OS1", charset="ISO_IR 100",
           description="x", station="OTHERMR")
    _entry(f, "tomorrow", patient_name="Tomorrow^Pat", patient_id="TM1", charset="ISO_IR 100",
           description="x", date=TOMORROW_S)
    yield scp
    scp.stop()
    if getattr(request.node, "rep_call_failed", False):
        print(f"--- wlmscpfs log ({scp.log_path}) ---\n{scp.log()}")


def _by_id(items: list[WorklistItem]) -> dict[str, WorklistItem]:
    return {it.patient_id: it for it in items}


@pytest.mark.interop
@pytest.mark.parametrize("pid", PROFILES)
def test_every_product_gets_todays_items_for_its_station(wlm: WorklistSCP, pid: str) -> None:
    items = _by_id(query_worklist(find_profile(pid), wlm.node, "VSCANNER"))
    assert set(items) == {"JP1", "DE1", "CN1", "CT1"}  # not the other station, not tomorrow
    assert items["JP1"].patient_name == JAPANESE
    assert items["DE1"].patient_name == GERMAN
    assert items["CN1"].patient_name == CHINESE


@pytest.mark.interop
def test_items_are_decoded_with_their_character_set(wlm: WorklistSCP) -> None:
    items = _by_id(query_worklist(find_profile("syngo-mi-petct-2011a"), wlm.node, "VSCANNER"))
    jp = items["JP1"]
    assert list(jp.dataset.SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
    assert jp.patient_name == JAPANESE
    assert jp.dataset.PatientName.ideographic == "山田^太郎"
    assert jp.dataset.PatientName.phonetic == "やまだ^たろう"
    # values inside sequences are decoded with the item's character set too
    assert jp.scheduled_step_description == "頭部 MRI"
    assert jp.scheduled_step.ScheduledPerformingPhysicianName == JAPANESE
    assert jp.scheduled_step.ScheduledProtocolCodeSequence[0].CodeMeaning == "頭部 MRI"
    de = items["DE1"]
    assert de.dataset.SpecificCharacterSet == "ISO_IR 100"
    assert de.requested_procedure_description == "Schädel nativ"
    assert items["CN1"].dataset.SpecificCharacterSet == "ISO_IR 192"
    # the other fields of the item
    assert jp.patient_id == "JP1" and jp.accession_number == "ACCJP1" and jp.sex == "M"
    assert jp.birth_date == "19700101" and jp.requested_procedure_id == "RPJP1"
    assert jp.scheduled_step_id == "SPSJP1" and jp.modality == "MR" and jp.station_ae_title == "VSCANNER"
    assert jp.referring_physician == "Ref^Doc"
    assert jp.scheduled_start == dt.datetime.combine(TODAY, dt.time(9, 30))
    assert len(jp.study_instance_uid) > 10


@pytest.mark.interop
def test_modality_date_range_and_station_matching(wlm: WorklistSCP) -> None:
    ct = find_profile("syngo-ct-va50a")
    assert set(_by_id(query_worklist(ct, wlm.node, "VSCANNER", modality="CT"))) == {"CT1"}
    assert set(_by_id(query_worklist(ct, wlm.node, "VSCANNER", date=TOMORROW_S))) == {"TM1"}
    assert set(_by_id(query_worklist(ct, wlm.node, "VSCANNER", date=f"{TODAY_S}-{TOMORROW_S}"))) == {
        "JP1", "DE1", "CN1", "CT1", "TM1"}
    assert set(_by_id(query_worklist(ct, wlm.node, "OTHERMR"))) == {"OS1"}  # calling AET = station
    everyone = query_worklist(ct, wlm.node, "VSCANNER", station_ae_title="*")
    assert "OS1" in _by_id(everyone)
    oasis = find_profile("oasis-velocity")  # a product with a narrow (patient) query
    assert set(_by_id(query_worklist(oasis, wlm.node, "VSCANNER", keys={"PatientID": "DE1"}))) == {"DE1"}


@pytest.mark.interop
def test_max_items_cancels_the_query(wlm: WorklistSCP) -> None:
    import dataclasses

    p = find_profile("coherence-primeview-3i")
    limited = dataclasses.replace(p, worklist=dataclasses.replace(p.worklist, max_items=2))
    items = query_worklist(limited, wlm.node, "VSCANNER")
    assert len(items) == 2


@pytest.mark.interop
def test_sockets_have_tcp_nodelay(wlm: WorklistSCP) -> None:
    p = find_profile("syngo-mr-xa11b")
    cls = p.classes(service="worklist", role="scu")[0]
    with open_association(p, wlm.node, "VSCANNER", [Context(cls.uid, p.scu_transfer_syntaxes(cls))],
                          purpose="test") as assoc:
        sock = assoc.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.interop
def test_unknown_called_ae_and_no_peer_are_network_errors(wlm: WorklistSCP) -> None:
    p = find_profile("syngo-mr-xa11b")
    # wlmscpfs sends A-ASSOCIATE-RJ and closes at once; pynetdicom sometimes sees the close
    # first and reports an abort. Either way it is a NetworkError naming the called AE title.
    with pytest.raises(NetworkError, match="(rejected|aborted) the association") as exc:
        query_worklist(p, Node(ae_title="NOSUCHAE", host="127.0.0.1", port=wlm.port), "VSCANNER")
    assert "'NOSUCHAE' is the peer's AE title" in str(exc.value)
    with pytest.raises(NetworkError, match="cannot connect"):
        query_worklist(p, Node(ae_title="WLMSCP", host="127.0.0.1", port=free_port()), "VSCANNER")


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("VSCANNER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, env=env)


@pytest.mark.interop
def test_cli_prints_one_line_per_item_with_decoded_names(wlm: WorklistSCP) -> None:
    r = _cli("worklist", "--from", wlm.address, "--profile", "syngo-mr-xa11b", "--aet", "VSCANNER")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4
    text = r.stdout
    assert JAPANESE in text and GERMAN in text and CHINESE in text
    assert "Other^Station" not in text and "Tomorrow^Pat" not in text
    assert "4 worklist item(s)" in r.stderr

    r = _cli("worklist", "--from", wlm.address, "--profile", "syngo-ct-va50a", "--aet", "VSCANNER",
             "--modality", "CT", "--date", f"{TODAY_S}-{TOMORROW_S}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1 and "Ct^Only" in r.stdout

    r = _cli("worklist", "--from", wlm.address, "--profile", "syngo-mr-xa11b", "--aet", "VSCANNER",
             "-k", "PatientID=JP1")
    assert r.returncode == 2 and "does not send PatientID" in r.stderr

    r = _cli("worklist", "--from", wlm.address, "--profile", "oasis-velocity", "--aet", "VSCANNER",
             "-k", "PatientID=JP1", "--json")
    assert r.returncode == 0, r.stderr
    import json

    rows = json.loads(r.stdout)
    assert [row["patient_name"] for row in rows] == [JAPANESE]

    r = _cli("worklist", "--from", f"WLMSCP@127.0.0.1:{free_port()}", "--profile", "syngo-mr-xa11b")
    assert r.returncode == 1 and "cannot connect" in r.stderr


@pytest.mark.interop
def test_cli_uses_the_site_configuration(wlm: WorklistSCP, tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f"""
[local]
ae_title = "OTHERMR"
profile = "oasis-velocity"

[nodes.ris]
ae_title = "WLMSCP"
host = "127.0.0.1"
port = {wlm.port}
roles = ["worklist", "mpps"]
""")
    r = _cli("--config", str(cfg), "worklist", "--from", "ris")
    assert r.returncode == 0, r.stderr
    assert "Other^Station" in r.stdout and r.stdout.count("\n") == 1


# --- Orthanc's worklist plugin --------------------------------------------------------------------


@pytest.fixture
def orthanc_wlm(tmp_path: Path, request: pytest.FixtureRequest):
    """Orthanc with its Modality Worklists plugin serving the same kind of entries; answers in
    UTF-8. C-FIND for worklists is allowed to any AE (DicomAlwaysAllowFindWorklist)."""
    import json

    binary = require("Orthanc")
    plugin = require_file(Path("/usr/share/orthanc/plugins/libModalityWorklists.so"), "orthanc")
    root = tmp_path / "orthanc"
    (root / "db").mkdir(parents=True)
    (root / "worklists").mkdir()
    _entry(root / "worklists", "japanese", patient_name=JAPANESE, patient_id="JP1",
           charset=["", "ISO 2022 IR 87"], description="頭部 MRI")
    _entry(root / "worklists", "german", patient_name=GERMAN, patient_id="DE1", charset="ISO_IR 100",
           description="Schädel nativ")
    _entry(root / "worklists", "other-station", patient_name="Other^Station", patient_id="OS1",
           charset="ISO_IR 100", description="x", station="OTHERMR")
    port, http = free_port(), free_port()
    cfg = {"Name": "vscanner-wlm", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
           "DicomAet": "ORTHANC", "DicomPort": port, "HttpPort": http, "RemoteAccessAllowed": False,
           "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "DefaultEncoding": "Utf8",
           "Plugins": [str(plugin)], "Worklists": {"Enable": True, "Database": str(root / "worklists")},
           "DicomAlwaysAllowFindWorklist": True, "SaveJobs": False}
    (root / "orthanc.json").write_text(json.dumps(cfg))
    log_path = root / "orthanc.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([binary, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                                env=PEER_ENV, cwd=root)
    try:
        wait_for_port(port, proc, timeout=30)
        yield Node(ae_title="ORTHANC", host="127.0.0.1", port=port)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)  # Orthanc takes 2-3 s to stop
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if getattr(request.node, "rep_call_failed", False):
            print(f"--- Orthanc log ({log_path}) ---\n{log_path.read_text(errors='replace')}")


@pytest.mark.interop
def test_orthanc_worklist_plugin(orthanc_wlm: Node) -> None:
    items = _by_id(query_worklist(find_profile("syngo-ct-va50a"), orthanc_wlm, "VSCANNER"))
    assert set(items) == {"JP1", "DE1"}
    assert items["JP1"].patient_name == JAPANESE  # re-encoded by Orthanc as UTF-8, decoded by us
    assert items["JP1"].scheduled_step_description == "頭部 MRI"
    assert items["DE1"].patient_name == GERMAN
    narrow = query_worklist(find_profile("coherence-primeview-3i"), orthanc_wlm, "VSCANNER",
                            keys={"PatientName": "Mü*"})
    assert [it.patient_id for it in narrow] == ["DE1"]  # a Latin-1 matching value (ISO_IR 100)
