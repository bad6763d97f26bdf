"""Storage Commitment Push Model SCP (PS3.4 J): answer N-ACTION, then send the N-EVENT-REPORT.

For products whose profile says ``[storage_commitment] scp = true``. The SCP commits what the
local store holds: each referenced instance the store has with the same SOP Class goes into
the Referenced SOP Sequence; any other goes into the Failed SOP Sequence with Failure Reason
0x0112 (no such object instance) or 0x0119 (class-instance conflict). Event Type 1 when all
succeeded, 2 when some failed.

Where the report goes is the profile's ``report_association``:

- ``"same"``: on the N-ACTION association, if the requester still has it open;
- ``"new"``: on a new association to the requester, a node of the site configuration whose AE
  title is the N-ACTION's calling AE title (proposing SCP/SCU role selection with the
  scanner as SCP when ``role_selection`` is true);
- ``"either"``: the same association while the requester keeps it open (checked
  :data:`SAME_ASSOCIATION_GRACE` seconds after the N-ACTION-RSP), else a new one.

Durable before acknowledged: a commitment request is written to ``<store>/commitments/`` (fsync,
rename) before the N-ACTION-RSP says success, and removed once an N-EVENT-REPORT-RSP has been
received. Requests still pending when the server starts (a crash, or a requester that was
unreachable) are reported on a new association then. A new association that fails is retried
after each of :data:`RETRY_DELAYS` seconds.
"""

from __future__ import annotations

__all__ = [
    "CommitmentContext",
    "PendingCommitment",
    "commit_result",
    "event_information",
    "handle_n_action",
    "STORAGE_COMMITMENT_PUSH",
    "STORAGE_COMMITMENT_INSTANCE",
]

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pydicom.dataset import Dataset
from pynetdicom import build_context
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation

from ..config import Node
from ..profile import Profile, is_valid_uid
from ..store import Store

LOGGER = logging.getLogger(__name__)

STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"  # the well-known SOP Instance (PS3.4 J.3.1)

SAME_ASSOCIATION_GRACE = 0.5   # s after the N-ACTION-RSP: a requester that releases in this time wants a new one
RETRY_DELAYS = (2.0, 10.0, 30.0)
NO_SUCH_OBJECT_INSTANCE = 0x0112
CLASS_INSTANCE_CONFLICT = 0x0119

# N-ACTION statuses (PS3.7 C / PS3.4 J.3.2)
SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
NO_SUCH_SOP_INSTANCE = 0x0112
INVALID_ARGUMENT_VALUE = 0x0115
MISSING_ATTRIBUTE = 0x0120
NO_SUCH_ACTION_TYPE = 0x0123


@dataclass
class PendingCommitment:
    """A commitment request that has been acknowledged but not yet reported."""

    transaction_uid: str
    calling_ae: str
    references: list[tuple[str, str]]  # (SOP Class UID, SOP Instance UID)
    received_at: float
    file: Path | None = None

    def to_json(self) -> str:
        return json.dumps({"transaction_uid": self.transaction_uid, "calling_ae": self.calling_ae,
                           "references": self.references, "received_at": self.received_at})

    @classmethod
    def from_file(cls, path: Path) -> "PendingCommitment":
        data = json.loads(path.read_text())
        return cls(data["transaction_uid"], data["calling_ae"], [tuple(r) for r in data["references"]],
                   data["received_at"], path)


@dataclass
class CommitmentContext:
    """What the Storage Commitment SCP needs; :meth:`start` / :meth:`stop` run with the server."""

    profile: Profile
    store: Store
    ae_title: str
    ae: Any = None                      # the pynetdicom AE (to open report associations)
    nodes: Sequence[Node] = ()
    requestor_handlers: list = field(default_factory=list)
    after_response: Any = None          # policy.AfterResponse
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.store.root / "commitments"

    def node(self, ae_title: str) -> Node | None:
        for n in self.nodes:
            if n.ae_title.strip() == ae_title.strip():
                return n
        return None

    # --- durability ------------------------------------------------------------------------

    def persist(self, pending: PendingCommitment) -> None:
        """Write *pending* durably (temporary name, fsync, rename, fsync folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = pending.transaction_uid if is_valid_uid(pending.transaction_uid) else uuid.uuid4().hex
        final = self.folder / f"{name}.{uuid.uuid4().hex[:8]}.json"
        part = self.folder / f".{final.name}.part"
        with open(part, "w") as fh:
            fh.write(pending.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, final)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        pending.file = final

    def done(self, pending: PendingCommitment) -> None:
        if pending.file is not None:
            pending.file.unlink(missing_ok=True)

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Report the requests left pending by an earlier run, on new associations."""
        self._stop.clear()
        if not self.folder.is_dir():
            return
        for f in sorted(self.folder.glob("*.part")) + sorted(self.folder.glob(".*.part")):
            f.unlink(missing_ok=True)  # never acknowledged
        for f in sorted(self.folder.glob("*.json")):
            try:
                pending = PendingCommitment.from_file(f)
            except (OSError, ValueError, KeyError) as exc:
                LOGGER.error("cannot read the pending commitment %s: %s (left in place)", f, exc)
                continue
            LOGGER.info("commitment %s for %s still to report: sending it on a new association",
                        pending.transaction_uid, pending.calling_ae)
            self.spawn(report_on_new_association, pending)

    def stop(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=5)

    def spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=(self, *args), daemon=True, name="commitment-report")
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()


# --- pure policy -------------------------------------------------------------------------------


def commit_result(store: Store, references: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]],
                                                                                   list[tuple[str, str, int]]]:
    """Split *references* into (committed, failed-with-reason) against the store's contents."""
    ok: list[tuple[str, str]] = []
    failed: list[tuple[str, str, int]] = []
    for sop_class, sop_uid in references:
        record = store.get(sop_uid)
        if record is None:
            failed.append((sop_class, sop_uid, NO_SUCH_OBJECT_INSTANCE))
        elif record.sop_class_uid != sop_class:
            failed.append((sop_class, sop_uid, CLASS_INSTANCE_CONFLICT))
        else:
            ok.append((sop_class, sop_uid))
    return ok, failed


def event_information(transaction_uid: str, ok: Sequence[tuple[str, str]],
                      failed: Sequence[tuple[str, str, int]], retrieve_ae: str) -> tuple[int, Dataset]:
    """The N-EVENT-REPORT Event Type ID and Event Information (PS3.4 J.3.3.1)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    if ok:
        ds.RetrieveAETitle = retrieve_ae
        ds.ReferencedSOPSequence = []
        for sop_class, sop_uid in ok:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_uid
            ds.ReferencedSOPSequence.append(item)
    if failed:
        ds.FailedSOPSequence = []
        for sop_class, sop_uid, reason in failed:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_uid
            item.FailureReason = reason
            ds.FailedSOPSequence.append(item)
    return (2 if failed else 1), ds


# --- handlers and delivery ---------------------------------------------------------------------


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def handle_n_action(event: Any, ctx: CommitmentContext) -> tuple[Dataset, Dataset | None]:
    """``evt.EVT_N_ACTION``: check and persist the request, answer, then report."""
    req = event.request
    calling = event.assoc.requestor.ae_title
    if str(req.RequestedSOPClassUID) != STORAGE_COMMITMENT_PUSH:
        return _status(PROCESSING_FAILURE, "N-ACTION is only served for Storage Commitment"), None
    if event.action_type != 1:
        LOGGER.warning("N-ACTION from %s refused: action type %s", calling, event.action_type)
        return _status(NO_SUCH_ACTION_TYPE, "only Action Type 1 (Request Storage Commitment)"), None
    if str(req.RequestedSOPInstanceUID) != STORAGE_COMMITMENT_INSTANCE:
        return _status(NO_SUCH_SOP_INSTANCE, f"the SOP Instance must be {STORAGE_COMMITMENT_INSTANCE}"), None
    try:
        info = event.action_information
    except Exception as exc:
        return _status(PROCESSING_FAILURE, f"action information cannot be decoded: {exc}"), None
    transaction = str(info.get("TransactionUID", "") or "")
    items = info.get("ReferencedSOPSequence")
    if not transaction or not items:
        return _status(MISSING_ATTRIBUTE, "Transaction UID and Referenced SOP Sequence are required"), None
    references = []
    for item in items:
        cls, uid = str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", ""))
        if not is_valid_uid(cls) or not is_valid_uid(uid):
            return _status(INVALID_ARGUMENT_VALUE, "a Referenced SOP Sequence item lacks valid UIDs"), None
        references.append((cls, uid))
    pending = PendingCommitment(transaction, calling, references, time.time())
    try:
        ctx.persist(pending)
    except OSError as exc:
        LOGGER.error("N-ACTION from %s refused: cannot record the request: %s", calling, exc)
        return _status(PROCESSING_FAILURE, "cannot record the commitment request"), None
    LOGGER.info("storage commitment %s from %s: %d instance%s, report %s", transaction, calling, len(references),
                "" if len(references) == 1 else "s", ctx.profile.storage_commitment.report_association)
    assoc = event.assoc
    if ctx.after_response is not None:
        ctx.after_response.schedule(assoc, req.MessageID, lambda: deliver(ctx, pending, assoc))
    else:
        ctx.spawn(deliver, pending, assoc)
    return _status(SUCCESS), None


def _report(ctx: CommitmentContext, pending: PendingCommitment) -> tuple[int, Dataset]:
    ok, failed = commit_result(ctx.store, pending.references)
    return event_information(pending.transaction_uid, ok, failed, ctx.ae_title)


def _log_report(pending: PendingCommitment, event_type: int, ds: Dataset, where: str) -> None:
    n_ok = len(ds.get("ReferencedSOPSequence", []) or [])
    n_failed = len(ds.get("FailedSOPSequence", []) or [])
    LOGGER.info("storage commitment %s reported to %s on %s: event type %d, %d committed, %d failed",
                pending.transaction_uid, pending.calling_ae, where, event_type, n_ok, n_failed)


def deliver(ctx: CommitmentContext, pending: PendingCommitment, assoc: Any) -> None:
    """After the N-ACTION-RSP: report on the same association or a new one, per the profile."""
    where = ctx.profile.storage_commitment.report_association
    if where in ("same", "either"):
        ctx._stop.wait(SAME_ASSOCIATION_GRACE)
        if assoc.is_established:
            event_type, ds = _report(ctx, pending)
            try:
                status, _ = assoc.send_n_event_report(ds, event_type, STORAGE_COMMITMENT_PUSH,
                                                      STORAGE_COMMITMENT_INSTANCE)
            except (RuntimeError, ValueError) as exc:
                status = None
                LOGGER.warning("N-EVENT-REPORT on the N-ACTION association failed: %s", exc)
            code = getattr(status, "Status", None)
            if code is not None:
                _log_report(pending, event_type, ds, "the N-ACTION association")
                if code != 0x0000:
                    LOGGER.warning("N-EVENT-REPORT-RSP from %s: status 0x%04X", pending.calling_ae, code)
                ctx.done(pending)
                return
        if where == "same":
            LOGGER.error("storage commitment %s: %s closed the association before the report; the profile "
                         "reports only on the same association (kept in %s)", pending.transaction_uid,
                         pending.calling_ae, ctx.folder)
            return
    report_on_new_association(ctx, pending)


def report_on_new_association(ctx: CommitmentContext, pending: PendingCommitment) -> None:
    """Open an association to the requester and send the report; retry; keep it if all fail."""
    node = ctx.node(pending.calling_ae)
    if node is None:
        LOGGER.error("storage commitment %s: cannot report to %r on a new association: it is not a node of the "
                     "site configuration (kept in %s)", pending.transaction_uid, pending.calling_ae, ctx.folder)
        return
    profile = ctx.profile
    row = next((c for c in profile.classes(service="storage_commitment")), None)
    syntaxes = list(profile.scu_transfer_syntaxes(row)) if row else []
    syntaxes = syntaxes or ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
    context = build_context(STORAGE_COMMITMENT_PUSH, syntaxes)
    ext_neg = []
    if profile.storage_commitment.role_selection:
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = STORAGE_COMMITMENT_PUSH
        role.scu_role = False
        role.scp_role = True
        ext_neg.append(role)
        context.scu_role, context.scp_role = False, True
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        if delay and ctx._stop.wait(delay):
            return
        assoc = ctx.ae.associate(node.host, node.port, contexts=[context], ae_title=node.ae_title,
                                 ext_neg=ext_neg or None, max_pdu=profile.network.max_pdu_receive,
                                 evt_handlers=ctx.requestor_handlers)
        if not assoc.is_established:
            LOGGER.warning("storage commitment %s: %s did not accept the report association (attempt %d)",
                           pending.transaction_uid, node, attempt + 1)
            continue
        try:
            event_type, ds = _report(ctx, pending)
            status, _ = assoc.send_n_event_report(ds, event_type, STORAGE_COMMITMENT_PUSH,
                                                  STORAGE_COMMITMENT_INSTANCE)
        except (RuntimeError, ValueError) as exc:
            LOGGER.warning("storage commitment %s: N-EVENT-REPORT to %s failed: %s", pending.transaction_uid,
                           node, exc)
            status = None
        finally:
            if assoc.is_established:
                assoc.release()
        code = getattr(status, "Status", None)
        if code is not None:
            _log_report(pending, event_type, ds, f"a new association to {node}")
            if code != 0x0000:
                LOGGER.warning("N-EVENT-REPORT-RSP from %s: status 0x%04X", node, code)
            ctx.done(pending)
            return
    LOGGER.error("storage commitment %s: no report could be delivered to %s; it is kept in %s and sent when "
                 "the server starts again", pending.transaction_uid, node, ctx.folder)
