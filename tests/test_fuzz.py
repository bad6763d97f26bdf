"""Bounded fuzzing of every SCP vscanner runs: `vscanner serve` (storage, query/retrieve,
verification) for two products, and the embedded RIS, PACS and film camera.

Inputs: malformed PDUs (random bytes, every PDU type with wrong, short, long and huge
lengths, truncated streams) and, inside a valid association, malformed data sets in C-STORE
and C-FIND requests (truncations, flipped bytes, wrong element lengths, deeply nested
sequences, huge values, invalid UIDs and path-traversal strings). For each input the server
must answer with a DICOM status, an A-ABORT, a rejection or by closing the connection, within
a deadline (never hang); afterwards DCMTK echoscu still succeeds, the store holds only whole,
parseable files inside its objects folder, and the server's memory stays bounded.

Hypothesis runs derandomized (the same inputs on every run) with a fixed number of examples;
each test prints how many inputs it tried.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .data import ct_image
from .peers import ServeProcess, require, run
from .ul_client import (
    EXPLICIT_VR,
    IMPLICIT_VR,
    VERIFICATION,
    RawAssociation,
    command_set,
    encode_implicit,
    p_data,
)

pytestmark = pytest.mark.interop

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ANSWERS = {"closed", "abort", "reject", "response", "release", "accepted"}
RSS_GROWTH_LIMIT_KB = 150 * 1024

COUNTS: dict[str, int] = {}


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _echo_ok(port: int, aet: str) -> None:
    echoscu = require("echoscu")
    r = run([echoscu, "-aet", "FUZZCHECK", "-aec", aet, "127.0.0.1", str(port)], timeout=30)
    assert r.returncode == 0, f"the server stopped answering C-ECHO after fuzzing:\n{r.stdout}{r.stderr}"


# --- strategies ------------------------------------------------------------------------------

def _pdu(kind: int, body: bytes, declared: int | None) -> bytes:
    return struct.pack(">BBI", kind, 0, len(body) if declared is None else declared) + body


pdus = st.one_of(
    st.binary(max_size=512),
    st.builds(_pdu, st.integers(0, 255), st.binary(max_size=300),
              st.one_of(st.none(), st.integers(0, 400), st.just(0xFFFFFFFF), st.just(0x7FFFFFFF))),
    # a plausible A-ASSOCIATE-RQ cut short or with a lying item length
    st.builds(lambda cut, junk: (_valid_rq()[:cut] + junk), st.integers(0, 200), st.binary(max_size=40)),
)


def _valid_rq() -> bytes:
    from .ul_client import associate_rq

    return associate_rq("ANY", "FUZZER", [(1, VERIFICATION, [IMPLICIT_VR])])


BAD_UIDS = ["", "1", "../../../../etc/passwd", "1.2.3/../../x", "1.2.840..1", "1.2.abc", "0" * 80,
            "1.2.3\x00\x00", "1.2.3.4.5.6.7.8.9." * 5, "C:\\windows\\system32", "1.02.3"]


def _nested(depth: int) -> Dataset:
    ds = Dataset()
    ds.CodeValue = "X"
    inner = ds
    for _ in range(depth):
        item = Dataset()
        item.CodeMeaning = "nested"
        inner.ReferencedImageSequence = Sequence([item])
        inner = item
    return ds


def _mutate(kind: str, arg: int, blob: bytes) -> tuple[str, bytes]:
    """A malformed C-STORE data set and the SOP Instance UID put in the request."""
    ds = ct_image(seed=arg % 50)
    uid = ds.SOPInstanceUID
    if kind == "bad_uid":
        bad = BAD_UIDS[arg % len(BAD_UIDS)]
        key = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID")[arg % 4]
        setattr(ds, key, bad)
        if key == "SOPInstanceUID":
            uid = bad or "1"
        return uid, encode_implicit(ds)
    if kind == "nested":
        ds.ReferencedStudySequence = Sequence([_nested(10 + arg % 400)])
        return uid, encode_implicit(ds)
    if kind == "huge_value":
        ds.ImageComments = "A" * (1 << (10 + arg % 11))  # up to 1 MiB of text
        return uid, encode_implicit(ds)
    raw = bytearray(encode_implicit(ds))
    if kind == "truncate":
        return uid, bytes(raw[: arg % len(raw)])
    if kind == "flip":
        for i, b in enumerate(blob[:16]):
            raw[(arg * 31 + i * 977) % len(raw)] = b
        return uid, bytes(raw)
    if kind == "bad_length":
        # an element header claiming far more bytes than follow
        return uid, bytes(raw[:200]) + struct.pack("<HHI", 0x0010, 0x0010, 0xFFFFFFF0 - arg) + blob
    if kind == "garbage":
        return uid, blob
    raise AssertionError(kind)


stores = st.tuples(st.sampled_from(["bad_uid", "nested", "huge_value", "truncate", "flip", "bad_length", "garbage"]),
                   st.integers(0, 10_000), st.binary(min_size=1, max_size=256))


def _find_identifier(kind: str, arg: int, blob: bytes) -> bytes:
    ds = Dataset()
    ds.QueryRetrieveLevel = ["STUDY", "SERIES", "IMAGE", "PATIENT", "", "BOGUS"][arg % 6]
    if kind == "wildcards":
        ds.PatientName = blob.decode("latin-1")[:64]
        ds.StudyDate = "-".join(["20261130"] * (1 + arg % 3))
        ds.StudyInstanceUID = "\\".join(BAD_UIDS[: 1 + arg % len(BAD_UIDS)])
        return encode_implicit(ds)
    if kind == "nested":
        ds.StudyInstanceUID = ""
        ds.ReferencedStudySequence = Sequence([_nested(5 + arg % 300)])
        return encode_implicit(ds)
    raw = encode_implicit(ds) + blob
    if kind == "truncate":
        return raw[: arg % max(1, len(raw))]
    return raw


finds = st.tuples(st.sampled_from(["wildcards", "nested", "truncate", "append"]), st.integers(0, 10_000),
                  st.binary(max_size=200))


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["syngo-ct-va50a", "syngo-mi-petct-2011a"])
def server(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    s = ServeProcess(request.param, base / "store", "FUZZED", base / "serve.log")
    yield s
    code = s.stop()
    assert code == 0, s.log()[-4000:]


def _send_raw(port: int, data: bytes) -> str:
    with RawAssociation("127.0.0.1", port, timeout=10) as a:
        a.send(data)
        try:
            a.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return a.read_answer(timeout=10).kind


def _store_is_clean(data: Path) -> None:
    objects = data / "objects"
    for path in data.rglob("*"):
        assert ".." not in path.relative_to(data).parts
        if path.suffix == ".part":
            raise AssertionError(f"half-written file left in the store: {path}")
        if path.suffix == ".spare":  # the next instance's file, created ahead: still empty
            assert path.stat().st_size == 0, f"a spare file was written to and left: {path}"
        if path.is_file() and path.suffix == ".dcm":
            assert path.resolve().is_relative_to(objects.resolve()), path
            dcmread(path)  # a whole, parseable file


# --- tests -----------------------------------------------------------------------------------

def test_malformed_pdus(server):
    rss = _rss_kb(server.proc.pid)

    @FUZZ
    @given(pdus)
    def check(data: bytes) -> None:
        _count("pdu")
        kind = _send_raw(server.port, data)
        assert kind in ANSWERS | {"pdu-04", "pdu-05", "pdu-06"}, kind

    COUNTS.clear()
    check()
    _echo_ok(server.port, server.aet)
    grown = _rss_kb(server.proc.pid) - rss
    print(f"{server.profile}: {COUNTS.get('pdu', 0)} malformed PDUs, RSS grew {grown} KiB")
    assert grown < RSS_GROWTH_LIMIT_KB
    assert server.proc.poll() is None


def test_malformed_store_datasets(server):
    rss = _rss_kb(server.proc.pid)
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(stores)
    def check(case) -> None:
        kind, arg, blob = case
        _count("store")
        uid, body = _mutate(kind, arg, blob)
        with RawAssociation("127.0.0.1", server.port, timeout=15) as a:
            ans = a.associate(server.aet, "FUZZER", [(1, CT_IMAGE, [IMPLICIT_VR]), (3, VERIFICATION, [IMPLICIT_VR])])
            assert ans.kind == "accepted", (ans, server.log()[-2000:])
            cmd = command_set(0x0001, CT_IMAGE, sop_instance=uid.encode("latin-1", "replace").decode("latin-1")[:64])
            a.send(p_data(1, cmd, command=True))
            for start in range(0, max(len(body), 1), 15000):  # PDVs within the server's max PDU
                a.send(p_data(1, body[start:start + 15000], command=False, last=start + 15000 >= len(body)))
            answer = a.read_answer(timeout=15)
            assert answer.kind in {"response", "abort", "closed"}, (kind, answer)
            label = f"{answer.kind}:{answer.statuses[-1]:04X}" if answer.statuses else answer.kind
            outcomes[label] = outcomes.get(label, 0) + 1
            if answer.kind == "response":
                a.release()

    COUNTS.clear()
    check()
    _echo_ok(server.port, server.aet)
    _store_is_clean(server.data)
    grown = _rss_kb(server.proc.pid) - rss
    print(f"{server.profile}: {COUNTS.get('store', 0)} malformed C-STORE data sets, outcomes {outcomes}, "
          f"RSS grew {grown} KiB")
    assert grown < RSS_GROWTH_LIMIT_KB
    assert server.proc.poll() is None


def test_malformed_find_identifiers(server):
    outcomes: dict[str, int] = {}

    @FUZZ
    @given(finds)
    def check(case) -> None:
        kind, arg, blob = case
        _count("find")
        body = _find_identifier(kind, arg, blob)
        with RawAssociation("127.0.0.1", server.port, timeout=15) as a:
            ans = a.associate(server.aet, "FUZZER", [(1, STUDY_FIND, [IMPLICIT_VR, EXPLICIT_VR])])
            assert ans.kind == "accepted", ans
            a.send(p_data(1, command_set(0x0020, STUDY_FIND), command=True))
            a.send(p_data(1, body, command=False))
            answer = a.read_answer(timeout=15)
            assert answer.kind in {"response", "abort", "closed"}, (kind, answer)
            label = f"{answer.kind}:{answer.statuses[-1]:04X}" if answer.statuses else answer.kind
            outcomes[label] = outcomes.get(label, 0) + 1

    COUNTS.clear()
    check()
    _echo_ok(server.port, server.aet)
    print(f"{server.profile}: {COUNTS.get('find', 0)} malformed C-FIND identifiers, outcomes {outcomes}")
    assert server.proc.poll() is None


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    from devices.hospital import Hospital

    with Hospital("syngo-ct-va50a", folder=tmp_path_factory.mktemp("hospital")) as h:
        yield h


def _hospital_nodes(h):
    nodes = [("ris", h.site.nodes["ris"]), ("pacs", h.site.nodes["pacs"])]
    if h.printer is not None:
        nodes.append(("camera", h.printer_node))
    return nodes


def test_embedded_peers_survive_malformed_pdus(hospital):
    tried = 0
    for name, node in _hospital_nodes(hospital):

        @settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(pdus)
        def check(data: bytes) -> None:
            kind = _send_raw(node.port, data)
            assert kind in ANSWERS | {"pdu-04", "pdu-05", "pdu-06"}, (name, kind)

        check()
        tried += 60
        # still serving: a well-formed association is accepted afterwards
        with RawAssociation("127.0.0.1", node.port, timeout=10) as a:
            contexts = [(1, VERIFICATION, [IMPLICIT_VR]), (3, "1.2.840.10008.5.1.1.9", [IMPLICIT_VR])]
            ans = a.associate(node.ae_title, hospital.scanner_ae, contexts)
            assert ans.kind == "accepted", (name, ans)
            assert any(result == 0 for result, _ in a.accepted.values()), (name, a.accepted)
            a.release()
    print(f"embedded RIS, PACS and camera: {tried} malformed PDUs")


MWL_FIND = "1.2.840.10008.5.1.4.31"
MPPS = "1.2.840.10008.3.1.2.3.3"
PRINT_META = "1.2.840.10008.5.1.1.9"
FILM_SESSION = "1.2.840.10008.5.1.1.1"


def _mpps_create(kind: str, arg: int, blob: bytes) -> bytes:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = ["IN PROGRESS", "COMPLETED", "", "BOGUS"][arg % 4]
    ds.PerformedStationAETitle = "FUZZER"
    ds.PatientName = blob.decode("latin-1")[:64]
    ds.ScheduledStepAttributesSequence = Sequence([_nested(arg % 200)])
    raw = encode_implicit(ds)
    return raw[: arg % max(1, len(raw))] if kind == "truncate" else raw + (blob if kind == "append" else b"")


def _film_session(kind: str, arg: int, blob: bytes) -> bytes:
    ds = Dataset()
    ds.NumberOfCopies = str(arg % 1000)
    ds.MediumType = ["BLUE FILM", "", "PAPER", blob.decode("latin-1")[:16]][arg % 4]
    ds.FilmDestination = "MAGAZINE"
    raw = encode_implicit(ds)
    return raw[: arg % max(1, len(raw))] if kind == "truncate" else raw + (blob if kind == "append" else b"")


def test_embedded_peers_survive_malformed_data_sets(hospital):
    """Malformed Modality Worklist identifiers and MPPS N-CREATEs to the RIS, malformed C-STOREs
    to the PACS, malformed Film Session N-CREATEs to the camera: each answered (a status, an
    abort or a close) within the deadline; DCMTK echoscu succeeds against each afterwards."""
    nodes = dict(_hospital_nodes(hospital))
    cases = [
        ("ris", MWL_FIND, 0x0020, lambda k, a, b: _find_identifier(k, a, b), finds),
        ("ris", MPPS, 0x0140, _mpps_create, finds),
        ("pacs", CT_IMAGE, 0x0001, lambda k, a, b: _mutate(k, a, b)[1], stores),
    ]
    if "camera" in nodes:
        cases.append(("camera", PRINT_META, 0x0140, _film_session, finds))
    tried: dict[str, int] = {}
    for name, abstract, field_, build, strategy in cases:
        node = nodes[name]

        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(strategy)
        def check(case) -> None:
            kind, arg, blob = case
            body = build(kind, arg, blob)
            affected = FILM_SESSION if abstract == PRINT_META else abstract
            with RawAssociation("127.0.0.1", node.port, timeout=15) as a:
                ans = a.associate(node.ae_title, hospital.scanner_ae, [(1, abstract, [IMPLICIT_VR])])
                assert ans.kind == "accepted", (name, ans)
                instance = "1.2.826.0.1.3680043.10.543.99.1" if field_ == 0x0140 else None
                if field_ == 0x0001:
                    instance = "1.2.826.0.1.3680043.10.543.99.2"
                a.send(p_data(1, command_set(field_, affected, sop_instance=instance), command=True))
                a.send(p_data(1, body, command=False))
                answer = a.read_answer(timeout=15)
                assert answer.kind in {"response", "abort", "closed"}, (name, kind, answer)
            tried[name] = tried.get(name, 0) + 1

        check()
        _echo_ok(node.port, node.ae_title)
    print(f"embedded peers: malformed data sets tried {tried}")
