"""Storage Commitment SCU (Push Model): N-ACTION with the sent instances, N-EVENT-REPORT back.

The request goes out on its own association (:func:`request_commitment`). The archive answers
with an N-EVENT-REPORT either on that association (handled by the same handler while it is
kept open) or on a new association it opens to the scanner; :class:`ReportListener` is the
small acceptor for that case: it accepts the Storage Commitment Push Model context with the
profile's transfer syntaxes and, when the statement supports SCP/SCU role selection
(``profile.storage_commitment.role_selection``), accepts the archive's proposal to act as SCP
on an association it requested.

Policy (pure): :func:`report_waits` - how long the request association is kept open for a
report and whether a listener is needed, from ``report_association`` and ``report_timeout``.
:func:`build_action` and :func:`parse_report` convert between datasets and
:class:`CommitmentReport`.
"""

from __future__ import annotations

__all__ = [
    "STORAGE_COMMITMENT_PUSH",
    "STORAGE_COMMITMENT_INSTANCE",
    "InstanceRef",
    "CommitmentReport",
    "build_action",
    "parse_report",
    "report_waits",
    "request_commitment",
    "ReportListener",
    "handle_n_event_report",
    "DEFAULT_REPORT_WAIT",
]

import logging
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt

from ..config import Node
from ..errors import NetworkError
from ..profile import Profile
from .upper_layer import set_nodelay
from .requestor import Context, open_association, status_text

LOGGER = logging.getLogger(__name__)

STORAGE_COMMITMENT_PUSH = "1.2.840.10008.1.20.1"
# PS3.4 J.3.5: the well-known SOP Instance of the Storage Commitment Push Model
STORAGE_COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
VERIFICATION = "1.2.840.10008.1.1"
# How long to wait for a report when the profile sets no limit (report_timeout 0 or absent).
DEFAULT_REPORT_WAIT = 120.0


@dataclass(frozen=True)
class InstanceRef:
    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True)
class CommitmentReport:
    """An N-EVENT-REPORT's content: which instances the archive committed, which it did not."""

    transaction_uid: str
    event_type: int  # 1 all committed, 2 some failed
    committed: tuple[InstanceRef, ...]
    failed: tuple[tuple[InstanceRef, int], ...]  # (instance, Failure Reason)
    calling_ae: str = ""
    same_association: bool = False
    retrieve_ae: str = ""


def build_action(transaction_uid: str, refs: Sequence[InstanceRef]) -> Dataset:
    """The N-ACTION Action Information (PS3.4 J.3.2.1.1)."""
    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for r in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = r.sop_class_uid
        item.ReferencedSOPInstanceUID = r.sop_instance_uid
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


def parse_report(event_type: int, ds: Dataset, calling_ae: str = "", same_association: bool = False) -> CommitmentReport:
    """Read an N-EVENT-REPORT Event Information dataset (PS3.4 J.3.3.1)."""
    committed = tuple(
        InstanceRef(str(i.get("ReferencedSOPClassUID", "")), str(i.get("ReferencedSOPInstanceUID", "")))
        for i in ds.get("ReferencedSOPSequence", [])
    )
    failed = tuple(
        (InstanceRef(str(i.get("ReferencedSOPClassUID", "")), str(i.get("ReferencedSOPInstanceUID", ""))),
         int(i.get("FailureReason", 0x0110)))
        for i in ds.get("FailedSOPSequence", [])
    )
    return CommitmentReport(
        transaction_uid=str(ds.get("TransactionUID", "")),
        event_type=int(event_type),
        committed=committed,
        failed=failed,
        calling_ae=calling_ae,
        same_association=same_association,
        retrieve_ae=str(ds.get("RetrieveAETitle", "")),
    )


def report_waits(profile: Profile, overall: float | None = None) -> tuple[float, float, bool]:
    """``(overall_wait, same_association_wait, needs_listener)`` for a commitment request.

    *overall* overrides how long to wait for the report in total; by default it is the
    profile's ``report_timeout`` (0 or absent: :data:`DEFAULT_REPORT_WAIT`). The request
    association is kept open for a report on it: the whole wait when the statement says
    ``same``, up to ``report_timeout`` when ``either`` (the syngo products release it after
    3 s), not at all when ``new``. A listener is needed unless the statement says ``same``.
    """
    sc = profile.storage_commitment
    timeout = sc.report_timeout or None
    wait = overall if overall is not None else (timeout or DEFAULT_REPORT_WAIT)
    if sc.report_association == "same":
        return wait, wait, False
    if sc.report_association == "either":
        return wait, min(wait, timeout or wait), True
    return wait, 0.0, True


def handle_n_event_report(event, on_report: Callable[[CommitmentReport], None], same_association: bool = False):  # type: ignore[no-untyped-def]
    """``evt.EVT_N_EVENT_REPORT`` handler: parse the report, hand it to *on_report*, answer.

    Returns 0x0000 when the report was read (also for transactions vscanner does not know:
    the archive did its part), 0x0113 for an unknown event type, 0x0110 when the report
    cannot be read.
    """
    req = event.request
    if str(req.AffectedSOPClassUID) != STORAGE_COMMITMENT_PUSH:
        return 0x0118, None  # no such SOP class
    if event.event_type not in (1, 2):
        LOGGER.warning("N-EVENT-REPORT with event type %s refused", event.event_type)
        return 0x0113, None
    calling = event.assoc.requestor.ae_title if not same_association else event.assoc.acceptor.ae_title
    try:
        report = parse_report(event.event_type, event.event_information, calling, same_association)
    except Exception as exc:  # a malformed dataset from the peer
        LOGGER.warning("N-EVENT-REPORT from %s cannot be read: %s", calling, exc)
        return 0x0110, None
    LOGGER.info(
        "N-EVENT-REPORT storage commitment %s from %s (%s association): event type %d, %d committed, %d failed",
        report.transaction_uid, calling, "same" if same_association else "new", report.event_type,
        len(report.committed), len(report.failed),
    )
    try:
        on_report(report)
    except Exception:  # the archive must still get its answer; the error is ours
        LOGGER.exception("recording storage commitment report %s failed", report.transaction_uid)
        return 0x0110, None
    return 0x0000, None


def request_commitment(
    profile: Profile,
    node: Node,
    ae_title: str,
    refs: Sequence[InstanceRef],
    transaction_uid: str,
    on_report: Callable[[CommitmentReport], None],
    *,
    keep_open: float,
    reported: threading.Event | None = None,
) -> int:
    """Send the N-ACTION; keep the association open up to *keep_open* s for a report on it.

    The association is released as soon as *reported* is set (by whichever association
    brought the report). Returns the N-ACTION status.

    Raises
    ------
    NetworkError
        The archive cannot be reached, does not accept Storage Commitment or does not answer.
    """
    syntaxes = profile.transfer_syntaxes.storage_commitment or ("1.2.840.10008.1.2",)
    handler = partial(handle_n_event_report, on_report=on_report, same_association=True)
    dimse = profile.network.timeouts.dimse
    with open_association(
        profile, node, ae_title, [Context(STORAGE_COMMITMENT_PUSH, tuple(syntaxes))],
        purpose="storage commitment N-ACTION",
        evt_handlers=[(evt.EVT_N_EVENT_REPORT, handler)],
        dimse_timeout=None if dimse == 0 else (dimse or 30.0),
    ) as assoc:
        if not any(c.abstract_syntax == STORAGE_COMMITMENT_PUSH for c in assoc.accepted_contexts):
            raise NetworkError(f"{node} does not accept Storage Commitment Push Model",
                               "configure the archive as a storage commitment SCP, or send without --commit")
        action = build_action(transaction_uid, refs)
        status, _reply = assoc.send_n_action(action, 1, STORAGE_COMMITMENT_PUSH, STORAGE_COMMITMENT_INSTANCE)
        if status is None or "Status" not in status:
            raise NetworkError(f"storage commitment: no N-ACTION response from {node}",
                               "the archive aborted or did not answer within the DIMSE time-out")
        code = int(status.Status)
        LOGGER.info("N-ACTION storage commitment %s -> %s: %s, %d instances, transaction %s",
                    ae_title, node, status_text(status), len(refs), transaction_uid)
        if code == 0x0000 and keep_open > 0 and reported is not None:
            reported.wait(keep_open)
    return code


@dataclass
class _ListenerState:
    on_report: Callable[[CommitmentReport], None]
    reports: list[CommitmentReport] = field(default_factory=list)


class ReportListener:
    """An acceptor for N-EVENT-REPORTs the archive sends on an association it opens.

    Parameters
    ----------
    profile : Profile
        Transfer syntaxes (``storage_commitment_event``, else ``storage_commitment``), role
        selection, max PDU, called-AE policy and identity.
    ae_title, host, port : where the archive reaches the scanner (its configured modality entry).
    on_report : callable
        Called (in a pynetdicom thread) with each :class:`CommitmentReport`.
    """

    def __init__(self, profile: Profile, ae_title: str, host: str, port: int,
                 on_report: Callable[[CommitmentReport], None]) -> None:
        self.profile = profile
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.on_report = on_report
        self._server = None
        self.ae = self._build_ae()

    def _build_ae(self) -> AE:
        p = self.profile
        ae = AE(ae_title=self.ae_title)
        ae.implementation_class_uid = p.identity.implementation_class_uid
        ae.implementation_version_name = p.identity.implementation_version_name
        ae.maximum_pdu_size = p.network.max_pdu_receive
        ae.require_called_aet = p.network.called_ae_policy == "match"
        ae.maximum_associations = p.network.max_associations_accepted or 1000
        dimse = p.network.timeouts.dimse
        ae.dimse_timeout = None if dimse == 0 else (dimse or 30.0)
        ae.acse_timeout = p.network.timeouts.association_request or 30.0
        ae.network_timeout = 60.0
        syntaxes = list(p.transfer_syntaxes.storage_commitment_event or p.transfer_syntaxes.storage_commitment
                        or ("1.2.840.10008.1.2",))
        roles = {"scu_role": True, "scp_role": True} if p.storage_commitment.role_selection else {}
        ae.add_supported_context(STORAGE_COMMITMENT_PUSH, syntaxes, **roles)
        ae.add_supported_context(VERIFICATION, list(p.transfer_syntaxes.verification_scp or ("1.2.840.10008.1.2",)))
        return ae

    def handlers(self) -> list[tuple]:
        return [
            (evt.EVT_CONN_OPEN, set_nodelay),
            (evt.EVT_ACCEPTED, self._log_accepted),
            (evt.EVT_N_EVENT_REPORT, partial(handle_n_event_report, on_report=self.on_report)),
        ]

    @staticmethod
    def _log_accepted(event) -> None:  # type: ignore[no-untyped-def]
        a = event.assoc
        LOGGER.info("association accepted for storage commitment reports: %s@%s:%s -> %s",
                    a.requestor.ae_title, a.requestor.address, a.requestor.port, a.acceptor.ae_title)

    def start(self) -> "ReportListener":
        try:
            self._server = self.ae.start_server((self.host, self.port), block=False,
                                                evt_handlers=self.handlers())
        except OSError as exc:
            raise NetworkError(
                f"cannot listen for storage commitment reports on {self.host}:{self.port}: {exc.strerror}",
                "another program (e.g. `vscanner serve`) uses that port: stop it or give --listen-port "
                "(and declare that port for this AE title in the archive)",
            ) from exc
        self.port = self._server.server_address[1]
        LOGGER.info("listening for storage commitment reports as %s on %s:%d", self.ae_title, self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            self.ae.shutdown()

    def __enter__(self) -> "ReportListener":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def failure_reason_text(code: int) -> str:
    """PS3.4 J.3.3.1.1 Failure Reason meanings."""
    return {
        0x0110: "processing failure",
        0x0112: "no such object instance",
        0x0213: "resource limitation",
        0x0122: "referenced SOP class not supported",
        0x0119: "class/instance conflict",
        0x0131: "duplicate transaction UID",
    }.get(code, "failure")


def describe(ref: InstanceRef) -> str:
    return f"{UID(ref.sop_class_uid).name} {ref.sop_instance_uid}"
