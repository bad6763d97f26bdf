"""Storage SCU and Verification SCU: policy (contexts, transfer syntax choice, statuses) and
sending to DCMTK storescp - identical pixel data, transcoding when storescp accepts one syntax,
TCP_NODELAY - plus the product's reaction to failure statuses against an in-process SCP."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
)
from pynetdicom import AE, evt

from appliance.cli import main
from appliance.config import resolve_node
from appliance.jobs import JobQueue, QueueRunner
from appliance.net.storage_scu import (
    MAX_CONTEXTS,
    StorageSession,
    choose_transfer_syntax,
    classify_status,
    plan_contexts,
    read_instance_header,
    transcode,
)
from appliance.profile import find_profile

from .data import ct_image, mr_image, write
from .peers import free_port
from .scu_peers import storescp  # noqa: F401  (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def make_exam(folder: Path, n_mr: int = 3, n_ct: int = 2) -> dict[str, Path]:
    """MR and CT instances in *folder* (nested, to check recursion); uid -> path."""
    out = {}
    (folder / "series1").mkdir(parents=True, exist_ok=True)
    for i in range(n_mr):
        ds = mr_image(seed=100 + i)
        out[str(ds.SOPInstanceUID)] = write(ds, folder / "series1" / f"mr{i}.dcm")
    for i in range(n_ct):
        ds = ct_image(seed=200 + i)
        out[str(ds.SOPInstanceUID)] = write(ds, folder / f"ct{i}.dcm")
    (folder / "README.txt").write_text("not DICOM: skipped inside a folder")
    return out


def assert_same_pixels(sent: dict[str, Path], received: list[Path]) -> None:
    got = {}
    for p in received:
        ds = dcmread(p)
        got[str(ds.SOPInstanceUID)] = ds
    assert set(got) == set(sent)
    for uid, path in sent.items():
        assert np.array_equal(got[uid].pixel_array, dcmread(path).pixel_array), uid


# --- policy --------------------------------------------------------------------------------------


def test_contexts_are_classes_being_sent_times_the_statement_syntaxes_in_order():
    p = find_profile("syngo-mr-xa11b")
    mr_ts = p.scu_transfer_syntaxes(next(c for c in p.sop_classes if c.uid == MRImageStorage))
    batches = plan_contexts(p, [MRImageStorage, CTImageStorage, MRImageStorage])
    assert len(batches) == 1
    proposed = [(cx.abstract_syntax, cx.transfer_syntaxes) for cx in batches[0]]
    assert proposed[: len(mr_ts)] == [(MRImageStorage, (ts,)) for ts in mr_ts]
    assert {a for a, _ in proposed} == {MRImageStorage, CTImageStorage}
    assert list(mr_ts)[:3] == [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]


def test_contexts_are_split_over_associations_beyond_128():
    p = find_profile("syngo-mr-xa11b")
    classes = [c.uid for c in p.classes(service="storage", role="scu")]
    batches = plan_contexts(p, classes)
    assert all(len(b) <= MAX_CONTEXTS for b in batches)
    flat = [cx for b in batches for cx in b]
    assert len({cx.abstract_syntax for cx in flat}) == len(classes)
    # a class's contexts never straddle two associations
    for b in batches:
        for uid in {cx.abstract_syntax for cx in b}:
            assert sum(cx.abstract_syntax == uid for cx in b) == len(
                p.scu_transfer_syntaxes(next(c for c in p.sop_classes if c.uid == uid)))


def test_classes_the_product_does_not_send_are_not_proposed():
    p = find_profile("oasis-velocity")
    sends = {c.uid for c in p.classes(service="storage", role="scu")}
    assert CTImageStorage not in sends
    assert plan_contexts(p, [CTImageStorage]) == []


def test_transfer_syntax_choice():
    yes = lambda ts: True  # noqa: E731
    # own syntax accepted: sent as it is
    assert choose_transfer_syntax(ExplicitVRLittleEndian, [ImplicitVRLittleEndian, ExplicitVRLittleEndian],
                                  encodable=yes).convert is False
    # first producible accepted syntax in the profile's order
    c = choose_transfer_syntax(ExplicitVRLittleEndian, [JPEGBaseline8Bit, RLELossless, ImplicitVRLittleEndian],
                               encodable=yes)
    assert (c.transfer_syntax, c.convert) == (RLELossless, True)
    # no lossy copies made, lossy data never converted, no encoder -> nothing
    assert choose_transfer_syntax(ExplicitVRLittleEndian, [JPEGBaseline8Bit], encodable=yes) is None
    assert choose_transfer_syntax(JPEGBaseline8Bit, [ExplicitVRLittleEndian], encodable=yes) is None
    assert choose_transfer_syntax(ExplicitVRLittleEndian, [RLELossless], encodable=lambda ts: False) is None
    # lossless compressed source decompressed for an uncompressed-only peer
    c = choose_transfer_syntax(RLELossless, [ExplicitVRLittleEndian], decodable=yes)
    assert (c.transfer_syntax, c.convert) == (ExplicitVRLittleEndian, True)


def test_status_classes():
    assert classify_status(0x0000) == "success"
    assert classify_status(0xB000) == "warning"
    assert classify_status(0xB007) == "warning"
    for code in (0xA700, 0xA900, 0xC000, 0x0122, 0x0211):
        assert classify_status(code) == "failure"


@pytest.mark.parametrize("ts", [RLELossless, JPEG2000Lossless])
def test_transcode_keeps_uid_and_pixels(ts):
    ds = mr_image(seed=7)
    uid = ds.SOPInstanceUID
    before = ds.pixel_array.copy()
    out = transcode(copy.deepcopy(ds), ts)
    assert out.SOPInstanceUID == uid
    assert out.file_meta.TransferSyntaxUID == ts
    assert np.array_equal(out.pixel_array, before)
    back = transcode(out, ImplicitVRLittleEndian)
    assert back.SOPInstanceUID == uid
    assert np.array_equal(back.pixel_array, before)


# --- DCMTK storescp -------------------------------------------------------------------------------


@pytest.mark.interop
def test_echo_storescp_and_a_closed_port(storescp, capsys):
    peer = storescp()
    assert main(["echo", peer.node, "--profile", "syngo-ct-va50a"]) == 0
    assert "status 0x0000" in capsys.readouterr().out
    assert main(["echo", f"NOBODY@127.0.0.1:{free_port()}"]) == 1
    assert "hint:" in capsys.readouterr().err


@pytest.mark.interop
@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "syngo-ct-va50a"])
def test_send_to_storescp_every_file_arrives_with_identical_pixels(storescp, tmp_path, capsys, pid):
    exam = make_exam(tmp_path / "exam")
    peer = storescp()
    rc = main(["send", str(tmp_path / "exam"), "--to", peer.node, "--profile", pid, "--data", str(tmp_path / "data")])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    assert "5 sent" in captured.out
    assert "5/5 instances" in captured.err  # the progress bar
    assert sorted(peer.received_uids()) == sorted(exam)
    assert_same_pixels(exam, peer.files())
    for p in peer.files():  # sent as they are: no conversion needed
        assert dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


@pytest.mark.interop
@pytest.mark.parametrize("ts", [RLELossless, JPEG2000Lossless])
def test_storescp_accepting_one_syntax_gets_transcoded_instances(storescp, tmp_path, capsys, ts):
    exam = make_exam(tmp_path / "exam", n_mr=2, n_ct=2)
    peer = storescp(only_ts=ts)
    rc = main(["send", str(tmp_path / "exam"), "--to", peer.node, "--profile", "syngo-ct-va50a",
               "--data", str(tmp_path / "data"), "-q"])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    files = peer.files()
    assert len(files) == 4
    for p in files:
        assert dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts
    assert_same_pixels(exam, files)  # lossless, and the SOP Instance UIDs are the originals


@pytest.mark.interop
def test_no_acceptable_syntax_fails_the_instances_with_a_reason(storescp, tmp_path, capsys):
    make_exam(tmp_path / "exam", n_mr=1, n_ct=1)
    peer = storescp(only_ts=RLELossless)
    # OASIS Velocity never compresses (ILE, ELE, EBE only) and does not send CT at all
    rc = main(["send", str(tmp_path / "exam"), "--to", peer.node, "--profile", "oasis-velocity",
               "--data", str(tmp_path / "data"), "-q"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "2 failed" in out
    assert peer.files() == []


@pytest.mark.interop
def test_sockets_have_tcp_nodelay(storescp, tmp_path):
    peer = storescp()
    p = find_profile("syngo-ct-va50a")
    inst = read_instance_header(write(ct_image(), tmp_path / "ct.dcm"))
    contexts = plan_contexts(p, [inst.sop_class_uid])[0]
    with StorageSession.open(p, resolve_node(peer.node), "VSCANNER", contexts) as session:
        sock = session.assoc.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert session.send(inst).category == "success"


# --- statuses: an in-process SCP that fails chosen instances ---------------------------------


class ScriptedSCP:
    """A pynetdicom Storage SCP on a free port answering per SOP Instance UID from a script."""

    def __init__(self, statuses: dict[str, int]) -> None:
        self.statuses = statuses
        self.received: list[str] = []
        self.aborted = 0
        self.port = free_port()
        self.ae = AE(ae_title="SCRIPTED")
        for cls in (MRImageStorage, CTImageStorage):
            self.ae.add_supported_context(cls, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[
            (evt.EVT_C_STORE, self._store), (evt.EVT_ABORTED, self._aborted)])

    def _store(self, event):  # type: ignore[no-untyped-def]
        uid = str(event.request.AffectedSOPInstanceUID)
        self.received.append(uid)
        return self.statuses.get(uid, 0x0000)

    def _aborted(self, event):  # type: ignore[no-untyped-def]
        self.aborted += 1

    @property
    def node(self) -> str:
        return f"SCRIPTED@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def scripted():
    servers = []

    def start(statuses):  # type: ignore[no-untyped-def]
        s = ScriptedSCP(statuses)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def _queue_and_run(tmp_path: Path, files: list[Path], node: str, pid: str):
    profile = find_profile(pid)
    queue = JobQueue(tmp_path / f"data-{pid}")
    res = queue.enqueue([read_instance_header(f) for f in files], resolve_node(node), profile=pid,
                        calling_ae="VSCANNER", retries=0)
    seen = []
    with QueueRunner(queue, on_event=seen.append) as runner:
        runner.run([res.job_id])
    return queue, {i.sop_instance_uid: i for i in queue.items(res.job_id)}, profile


@pytest.mark.parametrize("pid,expect_rest", [("syngo-ct-va50a", "sent"), ("syngo-mi-petct-2011a", "failed")])
def test_failure_status_continue_or_stop_as_the_product_does(scripted, tmp_path, pid, expect_rest):
    files = [write(ct_image(seed=i), tmp_path / f"ct{i}.dcm") for i in range(4)]
    uids = [str(dcmread(f).SOPInstanceUID) for f in files]
    scp = scripted({uids[0]: 0xB000, uids[1]: 0xA700})
    queue, items, profile = _queue_and_run(tmp_path, files, scp.node, pid)
    assert items[uids[0]].state == "sent" and items[uids[0]].status == 0xB000  # warning: sent
    assert items[uids[1]].state == "failed" and items[uids[1]].status == 0xA700
    assert "0xA700" in items[uids[1]].last_error
    for uid in uids[2:]:
        assert items[uid].state == expect_rest, items[uid].last_error
    if expect_rest == "failed":  # stop: association aborted, the rest never sent
        assert scp.received == uids[:2]
        assert "stops a send job at the first failure" in items[uids[2]].last_error
    else:
        assert scp.received == uids
