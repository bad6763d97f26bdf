"""Storage Commitment SCP for the products whose statement makes them one (syngo MI PET/CT,
COHERENCE / PRIMEVIEW 3i): N-ACTION, then N-EVENT-REPORT on the same association while the
requester keeps it open, else on a new association to the requester (a site configuration
node). The requester is a pynetdicom SCU: DCMTK 3.6.7 has no commitment SCU, nor has Orthanc.
"""

from __future__ import annotations

import threading

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StorageCommitmentPushModel

from appliance.profile import find_profile

from .peers import free_port, wait_for_log
from .test_provider_common import make_study, provider, seed_store, site_config  # noqa: F401  (fixtures)

pytestmark = pytest.mark.interop

COMMIT_PIDS = [pid for pid in ("syngo-mi-petct-2011a", "coherence-primeview-3i")
               if find_profile(pid).storage_commitment.scp]
WELL_KNOWN = "1.2.840.10008.1.20.1.1"


def test_the_commitment_scps_are_the_statements():
    assert COMMIT_PIDS == ["syngo-mi-petct-2011a", "coherence-primeview-3i"]
    for pid in ("syngo-mr-xa11b", "oasis-velocity", "syngo-ct-va50a"):
        assert not find_profile(pid).storage_commitment.scp


def _request(stored: list[Dataset], unknown: int = 1) -> tuple[Dataset, list[str]]:
    ds = Dataset()
    ds.TransactionUID = generate_uid()
    ds.ReferencedSOPSequence = []
    missing = []
    for d in stored:
        item = Dataset()
        item.ReferencedSOPClassUID = d.SOPClassUID
        item.ReferencedSOPInstanceUID = d.SOPInstanceUID
        ds.ReferencedSOPSequence.append(item)
    for _ in range(unknown):
        item = Dataset()
        item.ReferencedSOPClassUID = stored[0].SOPClassUID
        item.ReferencedSOPInstanceUID = generate_uid()
        missing.append(item.ReferencedSOPInstanceUID)
        ds.ReferencedSOPSequence.append(item)
    return ds, missing


class Reports:
    """Collects N-EVENT-REPORTs (and on which association they came) for the requester."""

    def __init__(self) -> None:
        self.items: list[tuple[int, Dataset, object]] = []
        self.arrived = threading.Event()

    def handler(self, event):
        self.items.append((event.event_type, event.event_information, event.assoc))
        self.arrived.set()
        return 0x0000, None


def _check(report: tuple[int, Dataset, object], transaction: str, stored: list[Dataset], missing: list[str]) -> None:
    event_type, info, _ = report
    assert event_type == 2                       # some failed
    assert info.TransactionUID == transaction
    assert {i.ReferencedSOPInstanceUID for i in info.ReferencedSOPSequence} == {d.SOPInstanceUID for d in stored}
    assert [(i.ReferencedSOPInstanceUID, i.FailureReason) for i in info.FailedSOPSequence] == \
        [(uid, 0x0112) for uid in missing]


@pytest.mark.parametrize("pid", COMMIT_PIDS)
def test_report_on_the_same_association_while_it_is_open(provider, tmp_path, pid):
    study = make_study("MR", series=1, images=2)
    seed_store(tmp_path / "store", study)
    server = provider(pid, aet="SCANNER", data=tmp_path / "store")
    reports = Reports()
    ae = AE(ae_title="COMMITTER")
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER",
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handler)])
    assert assoc.is_established
    try:
        request, missing = _request(study)
        status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, WELL_KNOWN)
        assert status.Status == 0x0000
        assert reports.arrived.wait(10), "no N-EVENT-REPORT on the N-ACTION association"
    finally:
        assoc.release()
    assert len(reports.items) == 1 and reports.items[0][2] is assoc
    _check(reports.items[0], request.TransactionUID, study, missing)
    log = server.log()
    assert "reported to COMMITTER on the N-ACTION association: event type 2, 2 committed, 1 failed" in log
    assert not list((tmp_path / "store" / "commitments").glob("*.json"))   # done: nothing pending


class Listener:
    """The requester's own acceptor, where a report on a new association arrives."""

    def __init__(self, aet: str = "COMMITTER", port: int | None = None) -> None:
        self.reports = Reports()
        self.roles: list[tuple] = []
        self.port = port or free_port()
        self.ae = AE(ae_title=aet)
        self.ae.add_supported_context(StorageCommitmentPushModel, scu_role=True, scp_role=True)

        def on_report(event):
            self.roles.append(tuple((r.scu_role, r.scp_role) for r in event.assoc.requestor.role_selection.values()))
            return self.reports.handler(event)

        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False,
                                           evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def listener():
    started: list[Listener] = []

    def start(**kwargs) -> Listener:
        lst = Listener(**kwargs)
        started.append(lst)
        return lst

    yield start
    for lst in started:
        lst.stop()


@pytest.mark.parametrize("pid", COMMIT_PIDS)
def test_report_on_a_new_association_when_the_requester_released(provider, listener, tmp_path, pid):
    profile = find_profile(pid)
    study = make_study("MR", series=1, images=2)
    seed_store(tmp_path / "store", study)
    back = listener()
    config = site_config(tmp_path / "site.toml", {"committer": ("COMMITTER", back.port)})
    server = provider(pid, aet="SCANNER", config=config, data=tmp_path / "store")
    ae = AE(ae_title="COMMITTER")
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER")
    assert assoc.is_established
    request, missing = _request(study, unknown=2)
    status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, WELL_KNOWN)
    assoc.release()                            # does not wait for the report
    assert status.Status == 0x0000
    assert back.reports.arrived.wait(15), "no N-EVENT-REPORT on a new association"
    _check(back.reports.items[0], request.TransactionUID, study, missing)
    # SCP/SCU role selection (scanner as SCP) is proposed only where the profile says so
    expected = ((False, True),) if profile.storage_commitment.role_selection else ()
    assert back.roles == [expected]
    wait_for_log(server.log_path, f"on a new association to COMMITTER@127.0.0.1:{back.port}", server.proc, 10)


def test_an_acknowledged_request_survives_a_restart(provider, listener, tmp_path):
    """Durable before acknowledged: the requester is unreachable, the scanner stops; the
    report goes out when it starts again."""
    pid = "coherence-primeview-3i"
    study = make_study("MR", series=1, images=1)
    data = seed_store(tmp_path / "store", study)
    port = free_port()
    config = site_config(tmp_path / "site.toml", {"committer": ("COMMITTER", port)})
    first = provider(pid, aet="SCANNER", config=config, data=data)
    ae = AE(ae_title="COMMITTER")
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate("127.0.0.1", first.port, ae_title="SCANNER")
    request, missing = _request(study, unknown=1)
    status, _ = assoc.send_n_action(request, 1, StorageCommitmentPushModel, WELL_KNOWN)
    assoc.release()
    assert status.Status == 0x0000
    pending = data / "commitments"
    assert len(list(pending.glob("*.json"))) == 1       # on disk before the success went out
    wait_for_log(first.log_path, "did not accept the report association (attempt 1)", first.proc, timeout=10)
    assert first.stop() == 0
    assert len(list(pending.glob("*.json"))) == 1       # still pending
    back = listener(port=port)
    second = provider(pid, aet="SCANNER", config=config, data=data)
    assert back.reports.arrived.wait(15), second.log()
    _check(back.reports.items[0], request.TransactionUID, study, missing)
    wait_for_log(second.log_path, "reported to COMMITTER", second.proc, timeout=10)
    assert not list(pending.glob("*.json"))


@pytest.mark.parametrize("pid", COMMIT_PIDS)
def test_bad_requests_are_refused(provider, tmp_path, pid):
    server = provider(pid, aet="SCANNER")
    ae = AE(ae_title="COMMITTER")
    ae.add_requested_context(StorageCommitmentPushModel)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="SCANNER")
    try:
        no_references = Dataset()
        no_references.TransactionUID = generate_uid()
        status, _ = assoc.send_n_action(no_references, 1, StorageCommitmentPushModel, WELL_KNOWN)
        assert status.Status == 0x0120                 # missing attribute
        request, _ = _request(make_study("MR", series=1, images=1))
        status, _ = assoc.send_n_action(request, 2, StorageCommitmentPushModel, WELL_KNOWN)
        assert status.Status == 0x0123                 # no such action type
    finally:
        assoc.release()
