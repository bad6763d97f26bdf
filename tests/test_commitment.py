"""Storage Commitment SCU: policy per profile, and against Orthanc 1.10 (which answers with an
N-EVENT-REPORT on a new association to the scanner's declared port): reports received,
instances marked committed, unknown instances commit failed (0x0112); an archive that never
reports leaves them commit failed after the wait."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, MRImageStorage
from pynetdicom import AE, evt

from appliance.cli import main
from appliance.config import resolve_node
from appliance.jobs import JobQueue, QueueRunner, events
from appliance.net.storage_commitment import (
    STORAGE_COMMITMENT_PUSH,
    CommitmentReport,
    InstanceRef,
    build_action,
    parse_report,
    report_waits,
)
from appliance.net.storage_scu import read_instance_header
from appliance.profile import find_profile

from .data import ct_image, mr_image, write
from .peers import free_port
from .scu_peers import Orthanc

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --- policy --------------------------------------------------------------------------------------


def test_report_waits_follow_the_statements():
    # syngo MR / CT: report on the same association within 3 s, else on a new one
    assert report_waits(find_profile("syngo-mr-xa11b")) == (3.0, 3.0, True)
    assert report_waits(find_profile("syngo-ct-va50a"), overall=20) == (20, 3.0, True)
    # PET/CT: 1 h, same or new association
    assert report_waits(find_profile("syngo-mi-petct-2011a")) == (3600.0, 3600.0, True)
    # OASIS: no limit stated -> the default bound
    overall, same, listener = report_waits(find_profile("oasis-velocity"))
    assert overall > 0 and same == overall and listener


def test_action_and_report_datasets_round_trip():
    refs = [InstanceRef(MRImageStorage, "1.2.3.4"), InstanceRef(CTImageStorage, "1.2.3.5")]
    action = build_action("1.2.3.99", refs)
    assert action.TransactionUID == "1.2.3.99"
    assert [i.ReferencedSOPInstanceUID for i in action.ReferencedSOPSequence] == ["1.2.3.4", "1.2.3.5"]
    report_ds = build_action("1.2.3.99", refs[:1])
    failed = build_action("x", refs[1:]).ReferencedSOPSequence
    failed[0].FailureReason = 0x0112
    report_ds.FailedSOPSequence = failed
    report = parse_report(2, report_ds, "PACS")
    assert report == CommitmentReport("1.2.3.99", 2, (refs[0],), ((refs[1], 0x0112),), "PACS")


# --- Orthanc -------------------------------------------------------------------------------------


@pytest.fixture
def orthanc(tmp_path, request):
    started = []

    def start(scanner_port: int, scanner_aet: str = "VSCANNER") -> Orthanc:
        o = Orthanc(tmp_path / f"orthanc{len(started)}", scanner_aet, scanner_port)
        started.append(o)
        return o

    yield start
    for o in started:
        o.stop()
        if getattr(request.node, "rep_call_failed", False):
            print(o.log()[-5000:])


def make_files(folder: Path, n: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [write(mr_image(seed=300 + i), folder / f"mr{i}.dcm") for i in range(n // 2)]
    files += [write(ct_image(seed=400 + i), folder / f"ct{i}.dcm") for i in range(n - n // 2)]
    return files


@pytest.mark.interop
@pytest.mark.parametrize("pid", ["syngo-ct-va50a", "syngo-mi-petct-2011a", "coherence-primeview-3i"])
def test_send_and_commit_against_orthanc(orthanc, tmp_path, capsys, pid):
    listen = free_port()
    pacs = orthanc(listen)
    files = make_files(tmp_path / "exam")
    uids = {str(dcmread(f).SOPInstanceUID) for f in files}
    data = tmp_path / "data"
    # --commit-delay 0: the syngo CT waits 10 minutes by default before its N-ACTION
    rc = main(["send", str(tmp_path / "exam"), "--to", pacs.node, "--profile", pid, "--data", str(data),
               "--commit", "--commit-delay", "0", "--listen-port", str(listen), "--commit-timeout", "20"])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    assert f"{len(files)} committed" in captured.out
    assert "storage commitment report: 4 committed, 0 failed (new association)" in captured.err
    assert pacs.instance_uids() == uids
    with JobQueue(data) as q:
        assert q.counts()["committed"] == len(files)
        assert all(i.commit_transaction_uid for i in q.items())


@pytest.mark.interop
def test_commit_files_reports_unknown_instances_as_failed(orthanc, tmp_path, capsys):
    listen = free_port()
    pacs = orthanc(listen)
    sent = make_files(tmp_path / "sent", 2)
    (tmp_path / "never").mkdir()
    never_sent = write(ct_image(seed=999), tmp_path / "never" / "ct.dcm")
    data = tmp_path / "data"
    assert main(["send", str(tmp_path / "sent"), "--to", pacs.node, "--profile", "syngo-ct-va50a",
                 "--data", str(data), "-q"]) == 0
    capsys.readouterr()
    # commitment for a job sent earlier without --commit
    assert main(["commit", "--job", "1", "--data", str(data), "--listen-port", str(listen),
                 "--commit-timeout", "20", "-q"]) == 0
    assert "2 committed" in capsys.readouterr().out
    rc = main(["commit", "--to", pacs.node, "--profile", "syngo-ct-va50a", "--data", str(data),
               "--listen-port", str(listen), "--commit-timeout", "20", "-q", *map(str, sent), str(never_sent)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "failed 0x0112" in out
    assert out.count("committed ") == 2
    with JobQueue(data) as q:  # the queue's items sent before are marked committed too
        assert q.counts()["committed"] == 2


@pytest.mark.interop
def test_runner_events_and_listener_with_the_api(orthanc, tmp_path):
    listen = free_port()
    pacs = orthanc(listen)
    files = make_files(tmp_path / "exam", 2)
    queue = JobQueue(tmp_path / "data")
    job = queue.enqueue([read_instance_header(f) for f in files], resolve_node(pacs.node),
                        profile="syngo-mr-xa11b", calling_ae="VSCANNER", commit=True, commit_delay=0.5)
    seen: list[object] = []
    t0 = time.monotonic()
    with QueueRunner(queue, on_event=seen.append, listen_port=listen, commit_wait=20) as runner:
        runner.run([job.job_id])
    kinds = [type(e).__name__ for e in seen]
    assert kinds.count("InstanceSent") == 2
    assert "CommitmentReported" in kinds and "CommitmentFailed" not in kinds
    assert time.monotonic() - t0 >= 0.5  # the delayed timing was honoured
    reported = next(e for e in seen if isinstance(e, events.CommitmentReported))
    assert (reported.committed, reported.failed, reported.same_association) == (2, 0, False)
    assert queue.counts(job.job_id)["committed"] == 2
    queue.close()


# --- an archive that accepts the N-ACTION and never reports -----------------------------------


@pytest.fixture
def silent_archive():
    ae = AE(ae_title="SILENT")
    for cls in (MRImageStorage, CTImageStorage):
        ae.add_supported_context(cls, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.add_supported_context(STORAGE_COMMITMENT_PUSH, [ImplicitVRLittleEndian])
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
        (evt.EVT_C_STORE, lambda e: 0x0000), (evt.EVT_N_ACTION, lambda e: (0x0000, None))])
    yield f"SILENT@127.0.0.1:{port}"
    server.shutdown()


def test_no_report_within_the_wait_marks_commit_failed(silent_archive, tmp_path, capsys):
    files = make_files(tmp_path / "exam", 2)
    data = tmp_path / "data"
    rc = main(["send", *map(str, files), "--to", silent_archive, "--profile", "syngo-ct-va50a", "--data", str(data),
               "--commit", "--commit-delay", "0", "--commit-timeout", "1", "--listen-port", str(free_port())])
    out = capsys.readouterr().out
    assert rc == 1
    assert "2 commit failed" in out
    assert "no N-EVENT-REPORT within 1 s" in out
    # the user can ask again later
    with JobQueue(data) as q:
        assert q.retry(states=("commit_failed",)) == 2
        assert q.jobs()[0].commit_state == "due"
