"""Query/Retrieve SCP of each product against real DCMTK peers: findscu at every model and
level the profile answers, movescu to a DCMTK storescp registered in the site configuration,
getscu where the product provides C-GET; plus pynetdicom requests for what DCMTK cannot send
(relational extended negotiation, two retrieves on one association, cancel).
"""

from __future__ import annotations

import re

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation
from pynetdicom.sop_class import (
    MRImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from appliance.net.query_retrieve_scp import LEVELS, UNIQUE_KEYS
from appliance.profile import find_profile

from .peers import require, run
from .test_profiles import PROFILE_IDS
from .test_provider_common import (  # noqa: F401  (fixtures)
    findscu,
    make_study,
    provider,
    seed_store,
    site_config,
    storescp,
)

pytestmark = pytest.mark.interop

MODEL_FLAGS = {"PATIENT": "-P", "STUDY": "-S", "PATIENT_STUDY_ONLY": "-O"}


def _studies():
    a = make_study("MR", series=2, images=2, patient_id="PID0001", patient_name="Müller^Jörg",
                   description="BRAIN^ROUTINE", study_date="20261130", accession="ACC0001")
    b = make_study("MR", series=1, images=1, patient_id="PID0002", patient_name="Smith^John",
                   description="KNEE", study_date="20250102", accession="ACC0002")
    return a, b


def _start(provider, tmp_path, pid, extra_nodes=None, seed=True):
    a, b = _studies()
    data = tmp_path / "store"
    if seed:
        seed_store(data, a + b)
    nodes = {"dcmtk": ("DCMTK", 1)}
    nodes.update(extra_nodes or {})
    config = site_config(tmp_path / "site.toml", nodes)
    server = provider(pid, aet="SCANNER", config=config, data=data)
    return server, a, b


def _identifier_keys(level: str, model: str, a: list[Dataset], level_keys: list[str]) -> list[str]:
    """findscu -k arguments for a query of study A at *level* (hierarchical: unique keys above)."""
    first = a[0]
    keys = [f"QueryRetrieveLevel={level}"]
    values = {"PATIENT": first.PatientID, "STUDY": first.StudyInstanceUID, "SERIES": first.SeriesInstanceUID}
    for upper in LEVELS[model][: LEVELS[model].index(level)]:
        keys.append(f"{UNIQUE_KEYS[upper]}={values[upper]}")
    keys += [f"{k}=" for k in level_keys if f"{k}=" not in keys and not any(x.startswith(k + "=") for x in keys)]
    return keys


@pytest.mark.parametrize("pid", PROFILE_IDS)
def test_findscu_every_model_and_level(provider, tmp_path, pid):
    """Every model x level the profile answers: the right entities, the statement's keys only."""
    profile = find_profile(pid)
    keys_scp = profile.query_retrieve.keys_scp
    server, a, b = _start(provider, tmp_path, pid)
    expected_count = {"PATIENT": 1, "STUDY": 1, "SERIES": 2, "IMAGE": 2}  # IMAGE: series 1 of study A
    asked_extra = ["StudyDescription", "PatientBirthDate", "NumberOfStudyRelatedInstances"]
    checked = 0
    for model in profile.query_retrieve.scp_models:
        for level in LEVELS[model]:
            if level not in keys_scp:
                continue
            # universal matching at the level, study A by the unique keys above; at PATIENT and
            # STUDY level narrow to patient A with Patient ID
            keys = _identifier_keys(level, model, a, [UNIQUE_KEYS[level]] + list(keys_scp[level]) + asked_extra)
            if level in ("PATIENT", "STUDY") and not any(k.startswith("PatientID=P") for k in keys):
                keys = [k for k in keys if not k.startswith("PatientID=")] + [f"PatientID={a[0].PatientID}"]
            rsps = findscu(server, MODEL_FLAGS[model], keys, tmp_path / f"rsp-{model}-{level}")
            assert len(rsps) == expected_count[level], f"{model} {level}: {len(rsps)} responses"
            supported = set(keys_scp[level]) | {UNIQUE_KEYS[level]}
            for rsp in rsps:
                assert rsp.QueryRetrieveLevel == level
                assert rsp.get(UNIQUE_KEYS[level])
                for kw in asked_extra:
                    if kw not in supported:
                        assert kw not in rsp, f"{model} {level}: {kw} is not a key of the statement"
                if "PatientName" in rsp and rsp.PatientName:
                    assert str(rsp.PatientName) == "Müller^Jörg"
                    assert rsp.SpecificCharacterSet == "ISO_IR 100"
                if "NumberOfStudyRelatedInstances" in rsp:
                    assert int(rsp.NumberOfStudyRelatedInstances) == 4
            if level == "IMAGE":
                assert {r.SOPInstanceUID for r in rsps} == {d.SOPInstanceUID for d in a[:2]}
            checked += 1
    assert checked >= 2
    assert "C-FIND from DCMTK" in server.log()


def test_findscu_matching_date_range_wildcard_and_empty_result(provider, tmp_path):
    server, a, b = _start(provider, tmp_path, "syngo-mi-petct-2011a")
    out = tmp_path / "rsp"
    base = ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=", "PatientName=", "StudyDate="]
    both = findscu(server, "-S", base, out)
    assert {r.StudyInstanceUID for r in both} == {a[0].StudyInstanceUID, b[0].StudyInstanceUID}
    in_2026 = findscu(server, "-S", base[:-1] + ["StudyDate=20260101-20261231"], out)
    assert [r.StudyInstanceUID for r in in_2026] == [a[0].StudyInstanceUID]
    # PET/CT: Patient's Name case-insensitive (§3.4.3.1.3); everything else case-sensitive
    smith = findscu(server, "-S", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=", "PatientName=smith*"], out)
    assert [r.StudyInstanceUID for r in smith] == [b[0].StudyInstanceUID]
    assert findscu(server, "-S", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=", "StudyDescription=knee"], out) == []
    # '?' treated as '*' (§3.4.3.1.3): "?ith*" finds SMITH
    q = findscu(server, "-S", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=", "PatientName=?ith*"], out)
    assert [r.StudyInstanceUID for r in q] == [b[0].StudyInstanceUID]
    # counts from the index
    counts = findscu(server, "-S", ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={a[0].StudyInstanceUID}",
                                    "NumberOfStudyRelatedSeries=", "NumberOfStudyRelatedInstances=",
                                    "ModalitiesInStudy="], out)
    assert (int(counts[0].NumberOfStudyRelatedSeries), int(counts[0].NumberOfStudyRelatedInstances)) == (2, 4)
    assert counts[0].ModalitiesInStudy == "MR"


def test_findscu_after_storescu_and_max_matches(provider, tmp_path):
    """syngo CT: instances pushed by DCMTK storescu are found; at most 100 matches (Table 64)."""
    from .data import write

    storescu = require("storescu")
    many = []
    for n in range(101):
        many += make_study("CT", series=1, images=1, patient_id=f"P{n:03d}", patient_name=f"Test^{n}")
    seed_store(tmp_path / "store", many[1:])
    config = site_config(tmp_path / "site.toml", {"dcmtk": ("DCMTK", 1)})
    server = provider("syngo-ct-va50a", aet="CTAWP", config=config, data=tmp_path / "store")
    path = write(many[0], tmp_path / "pushed.dcm")
    r = run([storescu, "-aet", "DCMTK", "-aec", "CTAWP", "127.0.0.1", str(server.port), str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "rsp"
    one = findscu(server, "-S", ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={many[0].StudyInstanceUID}",
                                 "PatientID="], out)
    assert [r.PatientID for r in one] == ["P000"]
    assert len(findscu(server, "-S", ["QueryRetrieveLevel=STUDY", "StudyInstanceUID="], out)) == 100
    assert "more than 100 matches" in server.log()


@pytest.mark.parametrize("pid", PROFILE_IDS)
def test_movescu_to_a_configured_storescp(provider, storescp, tmp_path, pid):
    profile = find_profile(pid)
    movescu = require("movescu")
    dest = storescp("ARCHIVE")
    server, a, b = _start(provider, tmp_path, pid, {"archive": ("ARCHIVE", dest.port)})
    model = "STUDY" if "STUDY" in profile.query_retrieve.scp_models else profile.query_retrieve.scp_models[0]
    keys = ["QueryRetrieveLevel=STUDY", f"StudyInstanceUID={a[0].StudyInstanceUID}"]
    if model != "STUDY":
        keys.append(f"PatientID={a[0].PatientID}")
    cmd = [movescu, "-v", MODEL_FLAGS[model], "-aet", "DCMTK", "-aec", "SCANNER", "-aem", "ARCHIVE"]
    for k in keys:
        cmd += ["-k", k]
    r = run(cmd + ["127.0.0.1", str(server.port)], timeout=120)
    output = r.stdout + r.stderr
    assert r.returncode == 0, output
    received = dest.received()
    assert {d.SOPInstanceUID for d in received} == {d.SOPInstanceUID for d in a}
    by_uid = {d.SOPInstanceUID: d for d in a}
    for d in received:
        assert d.PixelData == by_uid[d.SOPInstanceUID].PixelData
        assert d.PatientName == "Müller^Jörg"
    assert "Received Final Move Response (Success)" in output
    assert output.count("(Pending)") == 4  # one pending response per sub-operation
    assert "C-MOVE from DCMTK to ARCHIVE@127.0.0.1" in server.log()


@pytest.mark.parametrize("pid", ["oasis-velocity", "syngo-ct-va50a"])
def test_movescu_to_an_unknown_destination_gets_a801(provider, storescp, tmp_path, pid):
    movescu = require("movescu")
    server, a, b = _start(provider, tmp_path, pid)
    cmd = [movescu, "-v", "-S", "-aet", "DCMTK", "-aec", "SCANNER", "-aem", "NOWHERE",
           "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={a[0].StudyInstanceUID}",
           "127.0.0.1", str(server.port)]
    r = run(cmd, timeout=60)
    output = r.stdout + r.stderr
    assert "0xa801" in output.lower() or "MoveDestinationUnknown" in output.replace(" ", ""), output
    assert "refused with 0xA801" in server.log()


@pytest.mark.parametrize("pid", ["syngo-mi-petct-2011a", "coherence-primeview-3i"])
@pytest.mark.parametrize("level", ["STUDY", "SERIES", "IMAGE"])
def test_getscu_where_the_product_provides_c_get(provider, tmp_path, pid, level):
    getscu = require("getscu")
    server, a, b = _start(provider, tmp_path, pid)
    keys = {"STUDY": [f"StudyInstanceUID={a[0].StudyInstanceUID}"],
            "SERIES": [f"StudyInstanceUID={a[0].StudyInstanceUID}", f"SeriesInstanceUID={a[0].SeriesInstanceUID}"],
            "IMAGE": [f"StudyInstanceUID={a[0].StudyInstanceUID}", f"SeriesInstanceUID={a[0].SeriesInstanceUID}",
                      f"SOPInstanceUID={a[0].SOPInstanceUID}"]}[level]
    out = tmp_path / "got"
    out.mkdir()
    cmd = [getscu, "-v", "-S", "-aet", "DCMTK", "-aec", "SCANNER", "-od", str(out), "-k", f"QueryRetrieveLevel={level}"]
    for k in keys:
        cmd += ["-k", k]
    r = run(cmd + ["127.0.0.1", str(server.port)], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    from pydicom import dcmread

    got = {dcmread(f).SOPInstanceUID for f in out.iterdir()}
    expected = {"STUDY": a, "SERIES": a[:2], "IMAGE": a[:1]}[level]
    assert got == {d.SOPInstanceUID for d in expected}
    assert "C-GET from DCMTK" in server.log()


@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "oasis-velocity", "syngo-ct-va50a"])
def test_no_c_get_where_the_statement_has_none(provider, tmp_path, pid):
    server, a, b = _start(provider, tmp_path, pid)
    ae = AE(ae_title="DCMTK")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER")
    assert assoc.is_established
    try:
        get_cx = [cx for cx in assoc.rejected_contexts if cx.abstract_syntax == StudyRootQueryRetrieveInformationModelGet]
        assert get_cx and get_cx[0].result == 0x03
    finally:
        assoc.release()


def _pynetdicom_find(server, identifier, relational=False, calling="DCMTK"):
    ae = AE(ae_title=calling)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ext = []
    if relational:
        item = SOPClassExtendedNegotiation()
        item.sop_class_uid = StudyRootQueryRetrieveInformationModelFind
        item.service_class_application_information = b"\x01"
        ext.append(item)
    assoc = ae.associate("127.0.0.1", server.port, ae_title=server.aet, ext_neg=ext or None)
    assert assoc.is_established
    try:
        results = list(assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    statuses = [s.Status for s, _ in results if s]
    return statuses, [i for s, i in results if s and s.Status in (0xFF00, 0xFF01)]


@pytest.mark.parametrize("pid, relational", [("syngo-mr-xa11b", True), ("syngo-mi-petct-2011a", False)])
def test_relational_query_only_where_the_statement_has_it(provider, tmp_path, pid, relational):
    server, a, b = _start(provider, tmp_path, pid)
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.PatientID = a[0].PatientID      # a study-level key, no Study Instance UID: relational
    ds.SeriesInstanceUID = ""
    statuses, matches = _pynetdicom_find(server, ds, relational=True)
    if relational:
        assert statuses[-1] == 0x0000 and len(matches) == 2
        assert "(relational)" in server.log()
    else:
        assert statuses == [0xA900] and not matches


@pytest.mark.parametrize("pid, second_status", [("syngo-mi-petct-2011a", 0xC001), ("syngo-mr-xa11b", 0x0000)])
def test_retrieves_per_association(provider, storescp, tmp_path, pid, second_status):
    """PET/CT serves one C-MOVE per association (§3.4.3.3.1); the MR has no such limit stated."""
    dest = storescp("ARCHIVE")
    server, a, b = _start(provider, tmp_path, pid, {"archive": ("ARCHIVE", dest.port)})
    ae = AE(ae_title="DCMTK")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER")
    assert assoc.is_established
    try:
        finals = []
        for study in (a, b):
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = study[0].StudyInstanceUID
            responses = list(assoc.send_c_move(ds, "ARCHIVE", StudyRootQueryRetrieveInformationModelMove))
            finals.append(responses[-1][0].Status)
    finally:
        assoc.release()
    assert finals == [0x0000, second_status]


def test_c_get_with_pynetdicom_sends_on_the_same_association(provider, tmp_path):
    server, a, b = _start(provider, tmp_path, "coherence-primeview-3i")
    received = []

    def on_store(event):
        received.append(event.dataset.SOPInstanceUID)
        return 0x0000

    from pynetdicom import evt

    ae = AE(ae_title="VIEWER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER", ext_neg=[build_role(MRImageStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    try:
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = b[0].StudyInstanceUID
        responses = list(assoc.send_c_get(ds, StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    assert responses[-1][0].Status == 0x0000
    assert received == [b[0].SOPInstanceUID]


def test_associations_the_scp_opens_have_tcp_nodelay(tmp_path):
    """In-process: the C-MOVE sub-operation association has Nagle switched off."""
    import socket as socketlib

    from appliance.config import Node, SiteConfig
    from appliance.net.server import Server

    from .peers import free_port

    a, b = _studies()
    seed_store(tmp_path / "store", b)
    seen = []
    dest_port = free_port()
    server = Server(find_profile("syngo-mr-xa11b"), tmp_path / "store", ae_title="MRC", port=free_port(),
                    site=SiteConfig(nodes={"dest": Node(ae_title="DEST", host="127.0.0.1", port=dest_port),
                                           "dcmtk": Node(ae_title="DCMTK", host="127.0.0.1", port=1)}))

    def on_store(event):
        for assoc in server.ae.active_associations:
            if assoc.is_requestor and assoc.dul.socket and assoc.dul.socket.socket:
                seen.append(assoc.dul.socket.socket.getsockopt(socketlib.IPPROTO_TCP, socketlib.TCP_NODELAY))
        return 0x0000

    from pynetdicom import evt

    dest = AE(ae_title="DEST")
    dest.add_supported_context(MRImageStorage)
    listener = dest.start_server(("127.0.0.1", dest_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    server.start()
    try:
        ae = AE(ae_title="DCMTK")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="MRC")
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = b[0].StudyInstanceUID
        responses = list(assoc.send_c_move(ds, "DEST", StudyRootQueryRetrieveInformationModelMove))
        assoc.release()
    finally:
        server.stop()
        listener.shutdown()
    assert responses[-1][0].Status == 0x0000
    assert seen and all(v == 1 for v in seen)


@pytest.mark.parametrize("pid,expected", [("syngo-mi-petct-2011a", "0xff01"), ("coherence-primeview-3i", "0xff01"),
                                          ("syngo-ct-va50a", "0xff00")])
def test_unsupported_optional_key_gives_the_statements_pending_status(provider, tmp_path, pid, expected):
    """001 Table 27 / 003 Table 24 list FF01 for matches where an optional key was not supported;
    syngo CT VA50A's Find SCP answers FF00 and simply leaves the key out."""
    profile = find_profile(pid)
    assert "EthnicGroup" not in (profile.query_retrieve.keys_scp or {}).get("STUDY", ())
    server, a, _ = _start(provider, tmp_path, pid)
    binary = require("findscu")
    r = run([binary, "-d", "-S", "-aet", "DCMTK", "-aec", server.aet, "-k", "QueryRetrieveLevel=STUDY",
             "-k", f"StudyInstanceUID={a[0].StudyInstanceUID}", "-k", "EthnicGroup=", "127.0.0.1", str(server.port)])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    statuses = re.findall(r"DIMSE Status\s+:\s+(0x[0-9a-f]{4})", out)
    assert statuses == [expected, "0x0000"], out
    pending = out.split("Received Find Response")[1]
    assert "(0020,000d)" in pending and "(0010,2160)" not in pending, pending  # the key is left out
