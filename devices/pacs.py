"""The embedded PACS: a generic archive with Storage, Storage Commitment and Query/Retrieve SCPs.

Not a product: the archive's capabilities are one in-memory profile (:func:`archive_profile`,
built through the same strict loader as the product profiles) that accepts every standard
storage class with the uncompressed and the usual compressed transfer syntaxes, answers
C-FIND/C-MOVE/C-GET in the Patient Root and Study Root models (relational queries allowed),
and plays the Storage Commitment Push Model SCP. The provider services are vscanner's own
(``appliance.net``: storage SCP over :class:`appliance.store.Store`, the Q/R matching engine),
so what the archive holds is on disk and indexed before it says success.

Storage commitment: N-ACTION is answered at once; the N-EVENT-REPORT goes out after
:attr:`PACS.commit_delay` seconds on a **separate association** that the PACS opens to the
requester, which must be one of its known nodes (:meth:`PACS.add_node`), as archives do it.
Instances it holds (same SOP Class) go into the Referenced SOP Sequence, others into the Failed
SOP Sequence with 0x0112 (0x0119 for a class mismatch). A report that cannot be delivered is
retried a few times (bounded).

Faults for scenarios: :meth:`PACS.go_down` (stop listening and abort what is open, optionally
coming back after N seconds on the same port), :meth:`PACS.abort_after` (A-ABORT the
association in the middle of a send, after N more instances).

    >>> pacs = PACS("/tmp/archive").start()           # doctest: +SKIP
    >>> pacs.add_node(Node(ae_title="MRC", host="127.0.0.1", port=11112))  # report address
    >>> pacs.holds(sop_uids), pacs.committed          # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["PACS", "CommitmentRecord", "archive_profile", "ARCHIVE_TRANSFER_SYNTAXES"]

import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydicom.uid import UID
from pynetdicom import AllStoragePresentationContexts, build_context, evt

from appliance.config import Node
from appliance.errors import NetworkError, ProfileError
from appliance.net.ae import REQUESTOR_HANDLERS, build_acceptor, build_provider
from appliance.net.storage_commitment_scp import commit_result, event_information
from appliance.net.storage_scp import handle_store
from appliance.profile import Profile, validate_data
from appliance.store import Store

LOGGER = logging.getLogger(__name__)

STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
REPORT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # bounded: ~7.5 s of retries, then the report is given up

UNCOMPRESSED = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]
ARCHIVE_TRANSFER_SYNTAXES = UNCOMPRESSED + [
    "1.2.840.10008.1.2.1.99",   # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50",   # JPEG Baseline
    "1.2.840.10008.1.2.4.51",   # JPEG Extended
    "1.2.840.10008.1.2.4.57",   # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70",   # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",   # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",   # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",   # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",   # JPEG 2000
    "1.2.840.10008.1.2.5",      # RLE Lossless
]
_QR = {
    "Patient Root Query/Retrieve Information Model - FIND": "1.2.840.10008.5.1.4.1.2.1.1",
    "Patient Root Query/Retrieve Information Model - MOVE": "1.2.840.10008.5.1.4.1.2.1.2",
    "Patient Root Query/Retrieve Information Model - GET": "1.2.840.10008.5.1.4.1.2.1.3",
    "Study Root Query/Retrieve Information Model - FIND": "1.2.840.10008.5.1.4.1.2.2.1",
    "Study Root Query/Retrieve Information Model - MOVE": "1.2.840.10008.5.1.4.1.2.2.2",
    "Study Root Query/Retrieve Information Model - GET": "1.2.840.10008.5.1.4.1.2.2.3",
}
_PATIENT_KEYS = ["PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
                 "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances"]
_KEYS = {
    "PATIENT": _PATIENT_KEYS,
    "STUDY": _PATIENT_KEYS + ["StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
                              "StudyDescription", "ReferringPhysicianName", "ModalitiesInStudy",
                              "SOPClassesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"],
    "SERIES": ["SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate", "SeriesTime",
               "BodyPartExamined", "ProtocolName", "PerformedProcedureStepStartDate",
               "PerformedProcedureStepStartTime", "NumberOfSeriesRelatedInstances"],
    "IMAGE": ["SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate", "ContentTime", "ImageType",
              "NumberOfFrames", "Rows", "Columns"],
}


@lru_cache(maxsize=1)
def archive_profile() -> Profile:
    """The generic archive's capabilities, validated by the profile loader."""
    classes = [{"name": "Verification", "uid": "1.2.840.10008.1.1", "service": "verification", "scu": True,
                "scp": True}]
    seen = set()
    for cx in AllStoragePresentationContexts:
        uid = str(cx.abstract_syntax)
        if uid in seen:
            continue
        seen.add(uid)
        classes.append({"name": UID(uid).name, "uid": uid, "service": "storage", "scu": True, "scp": True})
    classes.append({"name": "Storage Commitment Push Model", "uid": STORAGE_COMMITMENT_PUSH,
                    "service": "storage_commitment", "scu": False, "scp": True})
    for name, uid in _QR.items():
        classes.append({"name": name, "uid": uid, "service": "query_retrieve", "scu": False, "scp": True})
    data = {
        "spec": 1,
        "id": "embedded-archive",
        "statement": "(none: the generic archive of devices/pacs.py)",
        "title": "vscanner embedded archive (generic PACS)",
        "identity": {"manufacturer": "vscanner", "product": "embedded archive", "modalities": [],
                     "implementation_class_uid": "1.2.826.0.1.3680043.8.498.1.7",
                     "implementation_version_name": "VSCANNER_PACS", "default_ae_title": "PACS",
                     "default_port": 0},
        "network": {"max_pdu_receive": 131072, "max_associations_accepted": 32, "calling_ae_policy": "any",
                    "called_ae_policy": "match",
                    "timeouts": {"association_request": 30, "dimse": 60, "network": 60, "idle": 120}},
        "sop_classes": classes,
        "transfer_syntaxes": {
            "verification_scu": UNCOMPRESSED, "verification_scp": UNCOMPRESSED,
            "storage_scu": UNCOMPRESSED, "storage_scp": ARCHIVE_TRANSFER_SYNTAXES,
            "storage_commitment": UNCOMPRESSED, "storage_commitment_event": UNCOMPRESSED,
            "query_retrieve": UNCOMPRESSED, "query_retrieve_scp": UNCOMPRESSED,
        },
        "storage_scp": {"duplicates": "replace", "response_after": "index"},
        "query_retrieve": {"scp_models": ["PATIENT", "STUDY"], "scp_operations": ["FIND", "MOVE", "GET"],
                           "relational": True, "keys_scp": _KEYS, "case_insensitive_names": True},
    }
    profile, problems = validate_data(data, "devices/pacs.py:archive_profile")
    if profile is None:
        raise ProfileError(problems)
    return profile


@dataclass(frozen=True)
class CommitmentRecord:
    """One storage commitment request and what became of its report."""

    transaction_uid: str
    calling_ae: str
    requested: int
    committed: tuple[str, ...] = ()
    failed: tuple[tuple[str, int], ...] = ()  # (SOP Instance UID, failure reason)
    requested_at: float = 0.0
    reported_at: float | None = None
    report_status: int | None = None
    error: str = ""


@dataclass
class _Faults:
    abort_after: int | None = None  # abort on the (n+1)-th C-STORE from now
    received: int = 0
    aborted: int = 0


class PACS:
    """A generic archive on one AE.

    Parameters
    ----------
    folder : path
        Its store (``index.sqlite`` + ``objects/``).
    ae_title : str
        The archive's AE title (the called AE title must match it).
    host, port : listening address; port 0 picks a free one (kept across :meth:`go_down`).
    commit_delay : float
        Seconds between the N-ACTION response and the N-EVENT-REPORT.
    nodes : sequence of Node
        Known remote AEs: where reports go (by the N-ACTION's calling AE title) and the
        C-MOVE destinations.
    """

    def __init__(self, folder: str | Path, ae_title: str = "PACS", host: str = "127.0.0.1", port: int = 0, *,
                 commit_delay: float = 0.5, nodes: Sequence[Node] = ()) -> None:
        self.folder = Path(folder)
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.commit_delay = commit_delay
        self.profile = archive_profile()
        self.store = Store(self.folder, duplicates=self.profile.storage_scp.duplicates)
        self._nodes: list[Node] = list(nodes)
        self._lock = threading.Lock()
        self._faults = _Faults()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: Any = None
        self._up_timer: threading.Timer | None = None
        self.commitments: list[CommitmentRecord] = []
        self.down_periods: list[tuple[float, float | None]] = []  # (down at, up at)
        self.provider = build_provider(self.profile, self.store, ae_title, nodes=self._nodes,
                                       accept_any_calling_ae=True)
        self.ae = build_acceptor(self.profile, ae_title, self.provider.policy)

    # --- life cycle --------------------------------------------------------------------------

    def _handlers(self) -> list[tuple]:
        out = []
        for h in self.provider.handlers():
            if h[0] is evt.EVT_C_STORE:
                out.append((evt.EVT_C_STORE, self._on_store))
            else:
                out.append(h)
        out.append((evt.EVT_N_ACTION, self._on_n_action))
        return out

    def start(self) -> "PACS":
        """Start listening (returns at once)."""
        self._stop.clear()
        self._listen()
        LOGGER.info("PACS %s listening on %s:%d (store %s, commitment reports after %.2f s on a new association)",
                    self.ae_title, self.host, self.port, self.store.root, self.commit_delay)
        return self

    def _listen(self) -> None:
        try:
            self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=self._handlers())
        except OSError as exc:
            raise NetworkError(f"PACS cannot listen on {self.host}:{self.port}: {exc.strerror}",
                               "give another port (0 picks a free one)") from exc
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        """Stop listening, stop report threads (bounded), close the store."""
        self._stop.set()
        if self._up_timer is not None:
            self._up_timer.cancel()
        self._shutdown_server()
        for t in list(self._threads):
            t.join(timeout=5)
        self.ae.shutdown()
        self.store.close()

    def _shutdown_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            for assoc in list(server.active_associations):
                assoc.abort()
            server.shutdown()

    def __enter__(self) -> "PACS":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def node(self) -> Node:
        return Node(ae_title=self.ae_title, host=self.host, port=self.port,
                    roles=("archive", "storage_commitment", "query_retrieve"), name="pacs")

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def add_node(self, node: Node) -> None:
        """Know *node*: report address for its commitment requests, and a C-MOVE destination."""
        with self._lock:
            self._nodes[:] = [n for n in self._nodes if n.ae_title != node.ae_title] + [node]
        if self.provider.query_retrieve is not None:
            self.provider.query_retrieve.nodes = tuple(self._nodes)

    def _node(self, ae_title: str) -> Node | None:
        with self._lock:
            return next((n for n in self._nodes if n.ae_title.strip() == ae_title.strip()), None)

    # --- faults ------------------------------------------------------------------------------

    def go_down(self, duration: float | None = None) -> None:
        """Stop answering: close the listening socket and abort open associations. With
        *duration*, come back on the same port after that many seconds."""
        if self._server is None:
            return
        LOGGER.warning("PACS %s goes down%s", self.ae_title, f" for {duration:g} s" if duration else "")
        self._shutdown_server()
        self.down_periods.append((time.time(), None))
        if duration is not None:
            self._up_timer = threading.Timer(duration, self.come_up)
            self._up_timer.daemon = True
            self._up_timer.start()

    def come_up(self) -> None:
        """Listen again (on the same port)."""
        if self._server is not None or self._stop.is_set():
            return
        self._listen()
        if self.down_periods and self.down_periods[-1][1] is None:
            self.down_periods[-1] = (self.down_periods[-1][0], time.time())
        LOGGER.warning("PACS %s is up again on %s:%d", self.ae_title, self.host, self.port)

    def abort_after(self, instances: int) -> None:
        """A-ABORT the association that brings the (*instances* + 1)-th C-STORE from now, without
        answering it (once)."""
        with self._lock:
            self._faults.abort_after = instances
            self._faults.received = 0

    @property
    def aborts(self) -> int:
        return self._faults.aborted

    # --- what it holds -----------------------------------------------------------------------

    def instances(self) -> set[str]:
        """SOP Instance UIDs in the archive."""
        return {r.sop_instance_uid for r in self.store.instances()}

    def holds(self, sop_uids: Iterable[str]) -> bool:
        return set(sop_uids) <= self.instances()

    @property
    def committed(self) -> set[str]:
        """SOP Instance UIDs reported committed in a delivered N-EVENT-REPORT."""
        out: set[str] = set()
        for c in self.commitments:
            if c.report_status == 0x0000:
                out.update(c.committed)
        return out

    # --- handlers ----------------------------------------------------------------------------

    def _on_store(self, event: Any):  # type: ignore[no-untyped-def]
        abort = False
        with self._lock:
            f = self._faults
            if f.abort_after is not None:
                if f.received >= f.abort_after:
                    f.abort_after = None
                    f.aborted += 1
                    abort = True
                else:
                    f.received += 1
        if abort:
            LOGGER.warning("PACS %s: aborting the association from %s in the middle of a send (fault injection)",
                           self.ae_title, event.assoc.requestor.ae_title)
            event.assoc.abort(block=False)  # queued before any response: the C-STORE is never answered
            return 0xA700
        return handle_store(event, ctx=self.provider.storage)

    def _on_n_action(self, event: Any):  # type: ignore[no-untyped-def]
        req = event.request
        calling = event.assoc.requestor.ae_title
        if str(req.RequestedSOPClassUID) != STORAGE_COMMITMENT_PUSH or event.action_type != 1:
            return 0x0123, None  # no such action type
        try:
            info = event.action_information
        except Exception:
            return 0x0110, None
        txn = str(info.get("TransactionUID", "") or "")
        refs = [(str(i.get("ReferencedSOPClassUID", "")), str(i.get("ReferencedSOPInstanceUID", "")))
                for i in info.get("ReferencedSOPSequence") or []]
        if not txn or not refs:
            return 0x0120, None  # missing attribute
        record = CommitmentRecord(txn, calling, len(refs), requested_at=time.time())
        with self._lock:
            self.commitments.append(record)
        LOGGER.info("PACS %s: storage commitment %s from %s for %d instance(s); report in %.2f s", self.ae_title,
                    txn, calling, len(refs), self.commit_delay)
        t = threading.Thread(target=self._report, args=(record, refs), daemon=True, name="pacs-commit-report")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return 0x0000, None

    def _update(self, record: CommitmentRecord, **changes: Any) -> CommitmentRecord:
        new = replace(record, **changes)
        with self._lock:
            self.commitments = [new if c is record else c for c in self.commitments]
        return new

    def _report(self, record: CommitmentRecord, refs: list[tuple[str, str]]) -> None:
        if self._stop.wait(self.commit_delay):
            return
        ok, failed = commit_result(self.store, refs)
        event_type, ds = event_information(record.transaction_uid, ok, failed, self.ae_title)
        record = self._update(record, committed=tuple(u for _, u in ok), failed=tuple((u, r) for _, u, r in failed))
        node = self._node(record.calling_ae)
        if node is None:
            self._update(record, error=f"{record.calling_ae!r} is not a known node: nowhere to send the report")
            LOGGER.error("PACS %s: cannot report commitment %s: %r is not a known node", self.ae_title,
                         record.transaction_uid, record.calling_ae)
            return
        context = build_context(STORAGE_COMMITMENT_PUSH, UNCOMPRESSED)
        error = ""
        for attempt, delay in enumerate((0.0, *REPORT_RETRY_DELAYS)):
            if delay and self._stop.wait(delay):
                return
            assoc = self.ae.associate(node.host, node.port, contexts=[context], ae_title=node.ae_title,
                                      evt_handlers=list(REQUESTOR_HANDLERS))
            if not assoc.is_established:
                error = f"{node} did not accept the report association"
                LOGGER.warning("PACS %s: commitment %s: %s (attempt %d)", self.ae_title, record.transaction_uid,
                               error, attempt + 1)
                continue
            try:
                status, _ = assoc.send_n_event_report(ds, event_type, STORAGE_COMMITMENT_PUSH,
                                                      STORAGE_COMMITMENT_INSTANCE)
            except (RuntimeError, ValueError) as exc:
                status, error = None, str(exc)
            finally:
                if assoc.is_established:
                    assoc.release()
            code = getattr(status, "Status", None)
            if code is not None:
                self._update(record, reported_at=time.time(), report_status=int(code))
                LOGGER.info("PACS %s: commitment %s reported to %s: event type %d, %d committed, %d failed, "
                            "response 0x%04X", self.ae_title, record.transaction_uid, node, event_type, len(ok),
                            len(failed), code)
                return
            error = error or f"{node} did not answer the N-EVENT-REPORT"
        self._update(record, error=error)
        LOGGER.error("PACS %s: commitment %s could not be reported to %s: %s", self.ae_title,
                     record.transaction_uid, node, error)

