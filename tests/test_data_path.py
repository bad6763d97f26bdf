"""The fast DICOM data path: every shortcut gives the bytes pynetdicom/pydicom would
have given, the event-driven upper layer is the one serving, and the queue keeps its
exactly-once rules with one commit per instance."""

from __future__ import annotations

import os
import time
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, build_context, evt
from pynetdicom.dimse_messages import C_STORE_RQ, C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF

from appliance.config import resolve_node
from appliance.jobs import JobQueue, QueueRunner
from appliance.net.server import Server
from appliance.net.storage_scu import (
    StorageSession,
    encode_store_request,
    p_data_buffers,
    p_data_fragments,
    plan_contexts,
    read_instance_header,
    split_part10,
)
from appliance.net.upper_layer import AcceptorAssociation, EventDrivenDUL, encode_store_response
from appliance.profile import find_profile
from appliance.store import Store
from appliance.store.index import (
    INDEX_KEYWORDS,
    encode_file_meta,
    encode_file_meta_fields,
    parse_dataset_header,
    parse_header,
)

from .data import ct_image, mr_image, write
from .peers import free_port

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --- bytes identical to pydicom's and pynetdicom's -----------------------------------------------


@pytest.mark.parametrize("version,source", [("SIEMENS_S10VA50A", "STORESCU"), ("", "AB"), (None, None), ("V1", None)])
def test_file_meta_is_pydicoms(version, source):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.45"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.3.12.2.1107.5.1.4"
    if version is not None:
        meta.ImplementationVersionName = version
    if source is not None:
        meta.SourceApplicationEntityTitle = source
    ours = encode_file_meta_fields(CTImageStorage, "1.2.3.45", ExplicitVRLittleEndian, "1.3.12.2.1107.5.1.4",
                                   version, source)
    if version is None:  # pydicom then invents its own version name; we leave it out
        assert dcmread(BytesIO(ours)).file_meta.get("ImplementationVersionName") is None
    else:
        assert ours == encode_file_meta(meta)
    with pytest.raises(ValueError):
        encode_file_meta_fields(CTImageStorage, "1.2.3", ExplicitVRLittleEndian, "1.2", "Jörg", None)


def _encoded(ds, ts: str) -> bytes:
    """*ds* encoded as a peer sends it in *ts* (pynetdicom's encoder, as in send_c_store)."""
    del ds.file_meta
    return encode(ds, ts == ImplicitVRLittleEndian, ts != ExplicitVRBigEndian, ts == DeflatedExplicitVRLittleEndian)


@pytest.mark.parametrize("ts", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                                DeflatedExplicitVRLittleEndian])
def test_header_parse_of_received_bytes_equals_dcmread(ts):
    ds = mr_image(seed=7)
    raw = _encoded(ds, ts)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    extra = ("Rows",)  # beyond the index keywords: still read, pixel data still not
    old = parse_header(encode_file_meta(meta) + raw, extra)
    view = memoryview(bytearray(raw))
    new = parse_dataset_header(view, ts, extra)
    for kw in INDEX_KEYWORDS + extra:
        assert new.get(kw) == old.get(kw), kw
    assert str(new.PatientName) == "Müller^Jörg"
    assert "PixelData" not in new
    view.release()  # nothing kept a reference into the receive buffer


def test_store_response_and_request_are_pynetdicoms():
    for status, comment in ((0x0000, None), (0xA900, "missing or empty: SOPClassUID"), (0xC000, "odd")):
        rsp = C_STORE()
        rsp.MessageIDBeingRespondedTo = 7
        rsp.AffectedSOPClassUID = CTImageStorage
        rsp.AffectedSOPInstanceUID = "1.2.3.45"
        rsp.Status = status
        if comment:
            rsp.ErrorComment = comment
        msg = C_STORE_RSP()
        msg.primitive_to_message(rsp)
        stock = b"".join(pdv[1][1:] for p in msg.encode_msg(1, 16384) for pdv in p.presentation_data_value_list)
        assert encode_store_response(rsp) == stock
    rsp.OffendingElement = [0x00100010]
    assert encode_store_response(rsp) is None  # pynetdicom encodes those

    data = os.urandom(100_001)
    for max_pdu in (0, 4096, 131072):
        req = C_STORE()
        req.MessageID = 65535
        req.Priority = 2
        req.AffectedSOPClassUID = CTImageStorage
        req.AffectedSOPInstanceUID = "1.2.3.45"
        req.DataSet = BytesIO(data)
        msg = C_STORE_RQ()
        msg.primitive_to_message(req)
        stock = [p.presentation_data_value_list for p in msg.encode_msg(3, max_pdu)]
        ours = [p.presentation_data_value_list
                for p in p_data_fragments(3, encode_store_request(65535, CTImageStorage, "1.2.3.45"), data, max_pdu)]
        assert ours == stock
        # the same PDUs as the bytes a sending thread writes itself: pynetdicom's encoding of each
        pdus = []
        for primitive in msg.encode_msg(3, max_pdu):
            pdu = P_DATA_TF()
            pdu.from_primitive(primitive)
            pdus.append(pdu.encode())
        buffers = p_data_buffers(3, encode_store_request(65535, CTImageStorage, "1.2.3.45"), data, max_pdu)
        assert b"".join(bytes(b) for b in buffers) == b"".join(pdus)


def test_part10_split_and_header_without_pydicom(tmp_path):
    path = write(ct_image(), tmp_path / "ct.dcm")
    raw = path.read_bytes()
    meta = split_part10(raw)
    ds = dcmread(path)
    assert meta.sop_instance_uid == ds.SOPInstanceUID and meta.transfer_syntax_uid == ExplicitVRLittleEndian
    assert raw[meta.offset:meta.offset + 8] == raw[raw.index(b"\x08\x00\x05\x00"):][:8]  # first data set element
    assert split_part10(raw[:meta.offset - 3]) is None  # meta group cut short
    assert split_part10(b"\0" * 200) is None
    inst = read_instance_header(path)
    assert (inst.sop_class_uid, inst.sop_instance_uid, inst.size) == (CTImageStorage, ds.SOPInstanceUID,
                                                                      path.stat().st_size)


# --- the store -----------------------------------------------------------------------------------


def test_store_recreates_a_removed_folder_and_keeps_its_size_total(tmp_path):
    import shutil

    with Store(tmp_path / "s") as store:
        first = store.add_dataset(ct_image(seed=1))
        assert store.total_size() == first.record.size
        shutil.rmtree(first.record.path.parent)  # behind the store's back
        ds = ct_image(seed=2)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = first.record.study_uid, first.record.series_uid
        second = store.add_dataset(ds)
        assert second.record.path.is_file()
        assert store.total_size() == first.record.size + second.record.size
        with Store(tmp_path / "s") as other:  # another process adds one: the total follows
            third = other.add_dataset(ct_image(seed=3))
        assert store.total_size() == first.record.size + second.record.size + third.record.size


def test_concurrent_associations_store_in_parallel(tmp_path):
    """Several association threads at once (the product accepts up to 12): every instance is
    stored once, durably, under its own temporary name."""
    import threading

    datasets = [ct_image(seed=i) for i in range(24)]
    encoded = []
    for ds in datasets:
        raw = _encoded(ds, ExplicitVRLittleEndian)
        header = parse_dataset_header(raw, ExplicitVRLittleEndian)
        meta = encode_file_meta_fields(CTImageStorage, str(ds.SOPInstanceUID), ExplicitVRLittleEndian, "1.2.3")
        encoded.append((raw, meta, header))
    errors: list[BaseException] = []
    with Store(tmp_path / "s") as store:
        def worker(k: int) -> None:
            try:
                for raw, meta, header in encoded[k::4]:
                    store.add_received(raw, meta_bytes=meta, transfer_syntax=ExplicitVRLittleEndian, header=header)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert store.counts()["instance"] == 24
        assert not list(store.tmp.iterdir())
        for ds in datasets:
            assert dcmread(store.get(str(ds.SOPInstanceUID)).path).SOPInstanceUID == ds.SOPInstanceUID


# --- the acceptor --------------------------------------------------------------------------------


def test_server_uses_the_event_driven_upper_layer_and_stores(tmp_path):
    server = Server(find_profile("syngo-ct-va50a"), tmp_path / "s", ae_title="CT", port=free_port())
    server.start()
    try:
        ae = AE(ae_title="PROBE")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="CT")
        assert assoc.is_established
        acceptors = [a for a in server.ae.active_associations if a.is_acceptor]
        assert acceptors and all(isinstance(a, AcceptorAssociation) and isinstance(a.dul, EventDrivenDUL)
                                 for a in acceptors)
        datasets = [ct_image(seed=i) for i in range(5)]
        t0 = time.perf_counter()
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0x0000
        elapsed = time.perf_counter() - t0
        bad = ct_image(seed=9)
        del bad.StudyInstanceUID  # required by the statement: refused, with a comment
        status = assoc.send_c_store(bad)
        assert status.Status == 0xA900 and "StudyInstanceUID" in status.ErrorComment
        t0 = time.perf_counter()
        assoc.release()
        assert time.perf_counter() - t0 < 1.0
        assert elapsed < 5.0
    finally:
        server.stop()
    with Store(tmp_path / "s") as store:
        assert {r.sop_instance_uid for r in store} == {str(d.SOPInstanceUID) for d in datasets}
        meta = dcmread(store.get(str(datasets[0].SOPInstanceUID)).path).file_meta
        assert meta.SourceApplicationEntityTitle == "PROBE"
        assert meta.ImplementationVersionName == "SIEMENS_S10VA50A"


def test_a_malformed_p_data_pdu_aborts_the_association(tmp_path):
    """A P-DATA-TF whose PDV length runs past the PDU is an invalid PDU (Evt19): A-ABORT."""
    import struct

    server = Server(find_profile("syngo-ct-va50a"), tmp_path / "s", ae_title="CT", port=free_port())
    server.start()
    try:
        ae = AE(ae_title="PROBE")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="CT")
        assert assoc.is_established
        body = struct.pack(">LB", 500, 1) + b"\x03" + b"\0" * 10  # item length 500, 12 bytes present
        assoc.dul.socket.send(struct.pack(">BBL", 0x04, 0, len(body)) + body)
        deadline = time.monotonic() + 5
        while assoc.is_established and time.monotonic() < deadline:
            time.sleep(0.01)
        assert assoc.is_aborted
    finally:
        server.stop()


# --- the sender ----------------------------------------------------------------------------------


class _Archive:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.port = free_port()
        self.ae = AE(ae_title="ARCHIVE")
        self.ae.supported_contexts = [build_context(CTImageStorage, [ExplicitVRLittleEndian])]
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._store)])

    def _store(self, event):  # type: ignore[no-untyped-def]
        self.received.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    def stop(self) -> None:
        self.server.shutdown()


def test_session_sends_file_bytes_and_notices_a_changed_file(tmp_path):
    archive = _Archive()
    try:
        p = find_profile("syngo-ct-va50a")
        paths = [write(ct_image(seed=i), tmp_path / f"ct{i}.dcm") for i in range(3)]
        insts = [read_instance_header(f) for f in paths]
        write(ct_image(seed=99), paths[2])  # replaced by another instance after it was queued
        contexts = plan_contexts(p, [i.sop_class_uid for i in insts])[0]
        with StorageSession.open(p, resolve_node(f"ARCHIVE@127.0.0.1:{archive.port}"), "VSCANNER",
                                 contexts) as session:
            assert session.fast
            outs = [session.send(i) for i in insts]
        assert [o.category for o in outs] == ["success", "success", "failure"]
        assert "now holds another instance" in outs[2].error and not outs[2].connection_lost
        assert archive.received == [i.sop_instance_uid for i in insts[:2]]
    finally:
        archive.stop()


def test_one_commit_per_instance_and_nothing_left_sending(tmp_path):
    archive = _Archive()
    try:
        folder = tmp_path / "in"
        folder.mkdir()
        insts = [read_instance_header(write(ct_image(seed=i), folder / f"ct{i}.dcm")) for i in range(4)]
        queue = JobQueue(tmp_path / "data")
        job_id = queue.enqueue(insts, resolve_node(f"ARCHIVE@127.0.0.1:{archive.port}"), profile="syngo-ct-va50a",
                               calling_ae="VSCANNER").job_id
        seen: list[tuple[str, ...]] = []

        def on_event(event):  # type: ignore[no-untyped-def]
            # when an instance is reported sent, the next one is already 'sending' on disk
            seen.append(tuple(i.state for i in queue.items(job_id)))

        with QueueRunner(queue, on_event=on_event) as runner:
            runner.run([job_id])
        assert [i.state for i in queue.items(job_id)] == ["sent"] * 4
        assert [i.attempts for i in queue.items(job_id)] == [1] * 4
        sent_events = [s for s in seen if "sending" in s]
        assert ("sent", "sending", "queued", "queued") in sent_events
        # a runner stopped between two instances leaves the next one queued, not 'sending'
        more = [read_instance_header(write(ct_image(seed=10 + i), folder / f"x{i}.dcm")) for i in range(3)]
        job2 = queue.enqueue(more, resolve_node(f"ARCHIVE@127.0.0.1:{archive.port}"), profile="syngo-ct-va50a",
                             calling_ae="VSCANNER").job_id
        from appliance.jobs.events import InstanceSent

        runner = QueueRunner(queue, on_event=lambda e: isinstance(e, InstanceSent) and runner.stop())
        runner.run([job2], wait=False)
        states = [i.state for i in queue.items(job2)]
        assert states[0] == "sent" and "sending" not in states
        assert [i.attempts for i in queue.items(job2)][1:] == [0, 0]
        queue.close()
    finally:
        archive.stop()


def test_a_file_that_is_not_dicom_is_still_refused(tmp_path: Path):
    # read_instance_header reads the meta group itself; a non-DICOM file still goes to pydicom, which says so
    f = tmp_path / "x.txt"
    f.write_text("hello")
    from appliance.errors import UsageError

    with pytest.raises(UsageError, match="not a DICOM Part 10 file"):
        read_instance_header(f)
