"""C-STORE requests assembled by the acceptor's upper layer and served in its thread.

The acceptor recognises a C-STORE-RQ from its command set (``parse_store_command``), gathers
its data set and serves it in the DUL thread when the association's own thread is idle; every
other message takes pynetdicom's path. These tests check the command parser against
pynetdicom's encoder, the header walker against pydicom, and, over the network, that stores
mixed with other requests keep their order and answers, that fragments split across PDUs in
every way are put back together byte for byte, that malformed fragment sequences abort, and
that DCMTK's storescu is served this way.
"""

from __future__ import annotations

import struct
import subprocess
from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.dimse_messages import C_ECHO_RQ, C_ECHO_RSP, C_FIND_RQ, C_STORE_RQ, C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_FIND, C_STORE
from pynetdicom.dsutils import encode


from appliance.net.server import Server
from appliance.net.upper_layer import AcceptorAssociation, EventDrivenDUL, parse_store_command, parse_store_response
from appliance.profile import find_profile
from appliance.store import Store
from appliance.store.index import INDEX_KEYWORDS, Header, encode_file_meta, parse_dataset_header, parse_header

from .data import ct_image, mr_image
from .peers import free_port, require
from .scu_peers import storescp  # noqa: F401 - fixture
from .ul_client import RawAssociation, command_set

pytestmark = pytest.mark.timeout(120)


def _command(message_cls, primitive) -> bytes:
    msg = message_cls()
    msg.primitive_to_message(primitive)
    return encode(msg.command_set, True, True)


def _store_rq(**extra) -> C_STORE:
    req = C_STORE()
    req.MessageID = 7
    req.AffectedSOPClassUID = CTImageStorage
    req.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.12345"
    req.Priority = 1
    req.DataSet = BytesIO(b"\0" * 8)
    for k, v in extra.items():
        setattr(req, k, v)
    return req


def test_the_command_parser_reads_what_pynetdicom_encodes():
    fields = parse_store_command(_command(C_STORE_RQ, _store_rq()))
    assert fields == {"CommandField": 1, "MessageID": 7, "AffectedSOPClassUID": CTImageStorage,
                      "AffectedSOPInstanceUID": "1.2.826.0.1.3680043.8.498.12345", "Priority": 1,
                      "CommandDataSetType": fields["CommandDataSetType"]}
    assert fields["CommandDataSetType"] != 0x0101
    moved = parse_store_command(_command(C_STORE_RQ, _store_rq(MoveOriginatorApplicationEntityTitle="QRSCU",
                                                               MoveOriginatorMessageID=3)))
    assert moved["MoveOriginatorApplicationEntityTitle"] == "QRSCU" and moved["MoveOriginatorMessageID"] == 3


def test_the_command_parser_leaves_everything_else_to_pynetdicom():
    echo = C_ECHO()
    echo.MessageID = 1
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    find = C_FIND()
    find.MessageID = 2
    find.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.1"
    find.Priority = 0
    find.Identifier = BytesIO(b"\0" * 8)
    good = _command(C_STORE_RQ, _store_rq())
    assert parse_store_command(_command(C_ECHO_RQ, echo)) is None
    assert parse_store_command(_command(C_FIND_RQ, find)) is None
    assert parse_store_command(command_set(0x0001, CTImageStorage, 1, "1.2.3", has_dataset=False)) is None
    assert parse_store_command(command_set(0x0001, CTImageStorage, 1, "1.2.3")) is not None
    assert parse_store_command(command_set(0x0001, CTImageStorage, 1, "1.2.x3")) is None  # not a plain UID
    assert parse_store_command(command_set(0x0001, CTImageStorage, 1, "1." * 40)) is None  # > 64 characters
    assert parse_store_command(command_set(0x0001, CTImageStorage, 1, None)) is None  # no instance UID
    assert parse_store_command(good[:-3]) is None  # truncated
    assert parse_store_command(good + struct.pack("<HHL", 0, 0x0902, 2) + b"ab") is None  # unknown element
    assert parse_store_command(good + good[8:]) is None  # elements twice
    priority = good.replace(struct.pack("<HHLH", 0, 0x0700, 2, 1), struct.pack("<HHLH", 0, 0x0700, 2, 7))
    assert priority != good and parse_store_command(priority) is None


def test_the_response_parser_reads_what_pynetdicom_encodes():
    for status, comment in ((0x0000, None), (0xA900, "missing or empty: StudyInstanceUID"), (0xB007, "odd")):
        rsp = C_STORE()
        rsp.MessageIDBeingRespondedTo = 9
        rsp.Status = status
        rsp.AffectedSOPClassUID = CTImageStorage
        rsp.AffectedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.777"
        rsp.ErrorComment = comment
        parsed = parse_store_response(_command(C_STORE_RSP, rsp))
        assert parsed is not None and parsed.is_valid_response
        for name in ("MessageIDBeingRespondedTo", "Status", "AffectedSOPClassUID", "AffectedSOPInstanceUID",
                     "ErrorComment"):
            assert getattr(parsed, name) == getattr(rsp, name), name
    rsp.OffendingElement = [0x00100010]
    assert parse_store_response(_command(C_STORE_RSP, rsp)) is None  # pynetdicom decodes that one
    echo = C_ECHO()
    echo.MessageIDBeingRespondedTo = 1
    echo.Status = 0
    echo.AffectedSOPClassUID = "1.2.840.10008.1.1"
    assert parse_store_response(_command(C_ECHO_RSP, echo)) is None
    assert parse_store_command(_command(C_STORE_RSP, rsp)) is None


@pytest.mark.parametrize("maker,charset,name,walked", [
    (ct_image, "ISO_IR 100", "Müller^Jörg", True),
    (mr_image, None, "Doe^Jane", True),
    (ct_image, "ISO_IR 192", "Müller^Jörg", True),
    (mr_image, "ISO 2022 IR 6\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎", False),
    (ct_image, "ISO_IR 144", "Иванов^Иван", False),
])
def test_the_header_walk_gives_what_pydicom_gives(maker, charset, name, walked):
    """Explicit VR Little Endian headers in the default, Latin-1 or UTF-8 character set are
    walked without pydicom, and the values equal pydicom's; other character sets are pydicom's."""
    ds = maker(seed=3)
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    ds.PatientName = name
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    del ds.file_meta
    raw = encode(ds, False, True)
    extra = ("Rows",)
    old = parse_header(encode_file_meta(meta) + raw, extra)
    new = parse_dataset_header(raw, ExplicitVRLittleEndian, extra)
    assert isinstance(new, Header) is walked
    for kw in INDEX_KEYWORDS + extra:
        assert new.get(kw) == old.get(kw), kw
        assert (kw in new) == (kw in old), kw
    assert str(new.SOPInstanceUID) == ds.SOPInstanceUID
    assert str(new.get("PatientName")) == name
    assert "PixelData" not in new


def _server(tmp_path, profile="syngo-ct-va50a"):
    server = Server(find_profile(profile), tmp_path / "s", ae_title="CT", port=free_port())
    server.start()
    return server


@pytest.fixture
def inline_count(monkeypatch):
    """How many requests the upper layer served in its own thread."""
    served = []
    original = AcceptorAssociation.serve_inline

    def spy(self, request, context_id):
        done = original(self, request, context_id)
        served.append(done)
        return done

    monkeypatch.setattr(AcceptorAssociation, "serve_inline", spy)
    return served


def test_stores_mixed_with_other_requests_keep_their_order_and_answers(tmp_path, inline_count):
    server = _server(tmp_path)
    try:
        ae = AE(ae_title="PROBE")
        ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
        ae.add_requested_context(CTImageStorage, ImplicitVRLittleEndian)
        ae.add_requested_context("1.2.840.10008.1.1")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.2.2.1")  # Study Root FIND
        assoc = ae.associate("127.0.0.1", server.port, ae_title="CT")
        assert assoc.is_established
        datasets = [ct_image(seed=i) for i in range(6)]
        for i, ds in enumerate(datasets):
            assert assoc.send_c_echo().Status == 0x0000
            assert assoc.send_c_store(ds).Status == 0x0000
            query = ds.__class__()
            query.QueryRetrieveLevel = "IMAGE"
            query.StudyInstanceUID = ds.StudyInstanceUID
            query.SeriesInstanceUID = ds.SeriesInstanceUID
            query.SOPInstanceUID = ""
            found = [identifier.SOPInstanceUID for status, identifier in
                     assoc.send_c_find(query, "1.2.840.10008.5.1.4.1.2.2.1") if status.Status in (0xFF00, 0xFF01)]
            assert ds.SOPInstanceUID in found  # indexed before it was answered, seen by the next request
        bad = ct_image(seed=99)
        del bad.StudyInstanceUID
        status = assoc.send_c_store(bad)
        assert status.Status == 0xA900 and "StudyInstanceUID" in status.ErrorComment
        assoc.release()
    finally:
        server.stop()
    assert inline_count.count(True) == 7  # every C-STORE, none of the others
    with Store(tmp_path / "s") as store:
        assert {r.sop_instance_uid for r in store} == {str(d.SOPInstanceUID) for d in datasets}


def _pdvs_in_pdus(pdus: list[list[tuple[int, bytes, int]]]) -> bytes:
    """P-DATA-TF PDUs, each holding the PDVs ``(context id, fragment, control header)`` given."""
    out = b""
    for pdvs in pdus:
        body = b"".join(struct.pack(">IBB", len(frag) + 2, cid, header) + frag for cid, frag, header in pdvs)
        out += struct.pack(">BBI", 0x04, 0, len(body)) + body
    return out


def test_fragments_across_pdus_are_put_back_together(tmp_path, inline_count):
    """Command sets split in two PDVs, data sets in many, two messages in one PDU: every
    stored file holds exactly the bytes sent; then a command fragment inside a data set is an
    invalid PDU and the association is aborted."""
    server = _server(tmp_path)
    sent = {}
    try:
        with RawAssociation("127.0.0.1", server.port) as raw:
            answer = raw.associate("CT", "PROBE", [(1, CTImageStorage, [ExplicitVRLittleEndian])])
            assert answer.kind == "accepted" and raw.accepted[1][0] == 0
            messages = []
            for i in range(3):
                ds = ct_image(seed=i + 1)
                del ds.file_meta
                data = encode(ds, False, True)
                sent[ds.SOPInstanceUID] = data
                messages.append((command_set(0x0001, CTImageStorage, i + 1, ds.SOPInstanceUID), data))
            (c1, d1), (c2, d2), (c3, d3) = messages
            # 1: command in two PDVs in two PDUs; data in 7 000-byte fragments, three per PDU
            frags = [d1[i:i + 7000] for i in range(0, len(d1), 7000)]
            layout = [[(1, c1[:10], 0x01)], [(1, c1[10:], 0x03)]]
            pdvs = [(1, f, 0x02 if j == len(frags) - 1 else 0x00) for j, f in enumerate(frags)]
            layout += [pdvs[j:j + 3] for j in range(0, len(pdvs), 3)]
            raw.send(_pdvs_in_pdus(layout))
            assert raw.read_answer().statuses == [0x0000]
            # 2: the command and the whole data set in one PDU, then 3 likewise
            raw.send(_pdvs_in_pdus([[(1, c2, 0x03), (1, d2, 0x02)]]))
            assert raw.read_answer().statuses == [0x0000]
            raw.send(_pdvs_in_pdus([[(1, c3, 0x03)], [(1, d3[:100], 0x00)], [(1, d3[100:], 0x02)]]))
            assert raw.read_answer().statuses == [0x0000]
            # a command fragment in the middle of a data set
            ds = ct_image(seed=50)
            del ds.file_meta
            d4 = encode(ds, False, True)
            c4 = command_set(0x0001, CTImageStorage, 4, ds.SOPInstanceUID)
            raw.send(_pdvs_in_pdus([[(1, c4, 0x03), (1, d4[:1000], 0x00)], [(1, c4, 0x03)]]))
            assert raw.read_answer().kind in ("abort", "closed")
    finally:
        server.stop()
    assert inline_count.count(True) == 3
    with Store(tmp_path / "s") as store:
        assert store.counts()["instance"] == 3
        for uid, data in sent.items():
            body = store.get(uid).path.read_bytes()
            assert body.endswith(data) and dcmread(store.get(uid).path).SOPInstanceUID == uid


def test_dcmtk_storescu_is_served_in_the_upper_layer(tmp_path, inline_count):
    storescu = require("storescu")
    files = []
    for i in range(4):
        ds = ct_image(seed=i + 20)
        path = tmp_path / f"ct{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    server = _server(tmp_path)
    try:
        r = subprocess.run([storescu, "-aet", "DCMTK", "-aec", "CT", "127.0.0.1", str(server.port),
                            *map(str, files)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        server.stop()
    assert inline_count.count(True) == 4
    with Store(tmp_path / "s") as store:
        assert store.counts()["instance"] == 4
        for path in files:
            uid = dcmread(path).SOPInstanceUID
            assert store.get(uid).path.read_bytes()[-1000:] == path.read_bytes()[-1000:]


def test_a_sender_reads_responses_in_its_upper_layer(tmp_path, storescp):
    """vscanner as the sender: its association uses the event-driven upper layer, and the
    responses it reads there -- success from DCMTK storescp, a failure with a comment from a
    product that refuses the instance -- are the statuses it reports."""
    from appliance.config import Node
    from appliance.net.storage_scu import StorageSession, plan_contexts, read_instance_header

    good = tmp_path / "good.dcm"
    ct_image(seed=31).save_as(good, enforce_file_format=True)
    bad_ds = ct_image(seed=32)
    del bad_ds.StudyInstanceUID
    bad = tmp_path / "bad.dcm"
    bad_ds.save_as(bad, enforce_file_format=True)
    profile = find_profile("syngo-ct-va50a")
    instances = [read_instance_header(good), read_instance_header(bad)]
    contexts = plan_contexts(profile, [i.sop_class_uid for i in instances])[0]
    scp = storescp()
    with StorageSession.open(profile, Node(ae_title="STORESCP", host="127.0.0.1", port=scp.port), "VSCANNER", contexts) as session:
        assert isinstance(session.assoc.dul, EventDrivenDUL)
        assert session.send(instances[0]).category == "success"
    assert scp.received_uids() == [instances[0].sop_instance_uid]
    server = _server(tmp_path)
    try:
        with StorageSession.open(profile, Node(ae_title="CT", host="127.0.0.1", port=server.port), "VSCANNER", contexts) as session:
            assert session.send(instances[0]).category == "success"
            refused = session.send(instances[1])
            assert refused.status == 0xA900 and "StudyInstanceUID" in refused.error
    finally:
        server.stop()


def test_a_response_the_reactor_takes_while_a_sender_waits_goes_back_to_it(tmp_path, storescp):
    """pynetdicom's reactor can take the response a send_* call waits for (it passed its
    pause point just before the sender cleared it); ours puts it back at the front of the
    queue. With no sender waiting, an unexpected response is dropped as pynetdicom drops it."""
    from appliance.net.upper_layer import RequestorAE, RequestorAssociation

    scp = storescp()
    ae = RequestorAE(ae_title="PROBE")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="STORESCP")
    try:
        assert isinstance(assoc, RequestorAssociation) and isinstance(assoc.dul, EventDrivenDUL)
        rsp = C_STORE()
        rsp.MessageIDBeingRespondedTo = 5
        rsp.Status = 0
        waiting = (1, C_STORE())
        assoc.dimse.msg_queue.put(waiting)
        assoc._reactor_checkpoint.clear()  # a sender is active
        assoc._serve_request(rsp, 1)
        assert assoc.dimse.msg_queue.get_nowait() == (1, rsp)  # given back, in front
        assert assoc.dimse.msg_queue.get_nowait() == waiting
        assoc._reactor_checkpoint.set()
        assoc._serve_request(rsp, 1)
        assert assoc.dimse.msg_queue.empty()
    finally:
        assoc._reactor_checkpoint.set()
        assoc.release()


def test_a_peer_that_stops_reading_ends_the_association_after_the_dimse_timeout(tmp_path, caplog):
    """The sending thread writes a request's PDUs itself; when the peer takes none of them for
    the DIMSE time-out the connection is closed and the instance reported lost, instead of
    the sender hanging in the write. The peer here is pynetdicom whose PDU handler blocks
    its reader after the first PDU, so the socket buffers fill up."""
    import threading

    from pynetdicom import evt

    from appliance.config import Node
    from appliance.net.storage_scu import StorageSession, plan_contexts, read_instance_header

    big = ct_image(seed=41)
    big.Rows, big.Columns = 2048, 6144  # a 25 MB data set: more than loopback's socket buffers
    big.PixelData = b"\0" * (2048 * 6144 * 2)
    path = tmp_path / "big.dcm"
    big.save_as(path, enforce_file_format=True)
    gate = threading.Event()

    def hold(event):  # runs in the peer's reader thread: it reads no more until the gate opens
        if type(event.pdu).__name__ == "P_DATA_TF":
            gate.wait(30)

    peer = AE(ae_title="STUCK")
    peer.add_supported_context(CTImageStorage, ExplicitVRLittleEndian)
    port = free_port()
    server = peer.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_PDU_RECV, hold)])
    profile = find_profile("syngo-ct-va50a")
    inst = read_instance_header(path)
    contexts = plan_contexts(profile, [inst.sop_class_uid])[0]
    try:
        with StorageSession.open(profile, Node(ae_title="STUCK", host="127.0.0.1", port=port), "VSCANNER", contexts) as session:
            session.assoc.dimse_timeout = 1.0
            with caplog.at_level("ERROR"):
                out = session.send(inst)
        assert out.category == "failure" and out.connection_lost
        assert out.elapsed < 15
        assert "cannot write to the peer" in caplog.text
    finally:
        gate.set()
        server.shutdown()


def test_a_sender_with_pdu_handlers_queues_its_pdus_to_the_reactor(tmp_path, storescp):
    """With an EVT_PDU_SENT handler bound, the sending thread does not write the PDUs itself:
    they go through the reactor, which reports each one; storescp stores the instance."""
    from pynetdicom import evt

    from appliance.config import Node
    from appliance.net.storage_scu import StorageSession, plan_contexts, read_instance_header

    path = tmp_path / "ct.dcm"
    ct_image(seed=51).save_as(path, enforce_file_format=True)
    inst = read_instance_header(path)
    profile = find_profile("syngo-ct-va50a")
    contexts = plan_contexts(profile, [inst.sop_class_uid])[0]
    sent: list[str] = []
    scp = storescp()
    with StorageSession.open(profile, Node(ae_title="STORESCP", host="127.0.0.1", port=scp.port), "VSCANNER", contexts) as session:
        session.assoc.bind(evt.EVT_PDU_SENT, lambda event: sent.append(type(event.pdu).__name__))
        assert session.assoc.dul.write_p_data([b""]) is False
        assert session.send(inst).category == "success"
    assert sent.count("P_DATA_TF") >= 2  # the command set and the data set
    assert scp.received_uids() == [inst.sop_instance_uid]


def test_dcmtk_storescp_that_reads_nothing_for_a_while_ends_the_association_after_the_dimse_timeout(
        tmp_path, storescp, caplog):
    """The same against DCMTK: storescp answers a C-STORE, then sleeps 5 s before it reads
    the next request (--sleep-after). The next, 25 MB instance does not fit the socket
    buffers; after the DIMSE time-out (1 s here) the sender ends the association and reports
    the instance lost rather than waiting for the peer."""
    from appliance.config import Node
    from appliance.net.storage_scu import StorageSession, plan_contexts, read_instance_header

    small = tmp_path / "small.dcm"
    ct_image(seed=61).save_as(small, enforce_file_format=True)
    big_ds = ct_image(seed=62)
    big_ds.Rows, big_ds.Columns = 2048, 6144
    big_ds.PixelData = b"\0" * (2048 * 6144 * 2)
    big = tmp_path / "big.dcm"
    big_ds.save_as(big, enforce_file_format=True)
    instances = [read_instance_header(small), read_instance_header(big)]
    profile = find_profile("syngo-ct-va50a")
    contexts = plan_contexts(profile, [i.sop_class_uid for i in instances])[0]
    scp = storescp(extra=["--sleep-after", "5"])
    with StorageSession.open(profile, Node(ae_title="STORESCP", host="127.0.0.1", port=scp.port), "VSCANNER", contexts) as session:
        assert session.send(instances[0]).category == "success"
        session.assoc.dimse_timeout = 1.0
        with caplog.at_level("ERROR"):
            out = session.send(instances[1])
    assert out.category == "failure" and out.connection_lost
    assert out.elapsed < 4.5  # well before storescp reads again
    assert "cannot write to the peer" in caplog.text
    assert scp.received_uids() == [instances[0].sop_instance_uid]
