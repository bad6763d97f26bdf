"""The audit trail: DICOM audit messages (PS3.15 A.5, the DICOM audit message schema on RFC 3881).

One XML ``<AuditMessage>`` per event, written as one line to a log file (:class:`FileSink`)
or sent as an RFC 5424 syslog message over UDP (:class:`SyslogSink`, RFC 5426; MSGID
``DICOM+RFC3881`` as IHE ATNA uses). None of the five statements describes an audit trail
(``[security] audit_trail = false`` everywhere), so ``vscanner serve`` audits only when asked
(``--audit-log FILE``, ``--audit-syslog HOST:PORT``).

Events (PS3.16 CID 400 / 401 / 403 codes, scheme DCM):

==============================================  ======  ========================================
what                                            EventID EventTypeCode
==============================================  ======  ========================================
serve started / stopped                         110100  110120 Application Start / 110121 Stop
association accepted / released or aborted      110114  110122 Login / 110123 Logout
association rejected (calling/called AE title)  110113  110126 Node Authentication (failure 4)
TLS handshake refused                           110113  110126 Node Authentication (failure 4)
instances received on one association           110104  (action C; one object per study)
C-FIND received                                 110112  (the query, base64, in the object)
C-MOVE / C-GET received                         110102  (the study asked for; destination AE)
media export (burn)                             110106  (action R; destination media)
==============================================  ======  ========================================

:class:`AuditTrail` builds the messages; :class:`AssociationAuditor` binds it to an acceptor
with pynetdicom notification events only (``EVT_ACCEPTED``, ``EVT_REJECTED``,
``EVT_RELEASED``, ``EVT_ABORTED``, ``EVT_DIMSE_RECV``), never the service handlers.
"""

from __future__ import annotations

__all__ = [
    "AuditTrail",
    "AssociationAuditor",
    "FileSink",
    "SyslogSink",
    "EVENT_IDS",
    "set_default",
    "default",
    "record_export",
]

import base64
import datetime
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence
from xml.sax.saxutils import quoteattr

LOGGER = logging.getLogger(__name__)

#: PS3.16 CID 400 Audit Event ID.
EVENT_IDS = {
    "110100": "Application Activity",
    "110102": "Begin Transferring DICOM Instances",
    "110104": "DICOM Instances Transferred",
    "110106": "Export",
    "110107": "Import",
    "110112": "Query",
    "110113": "Security Alert",
    "110114": "User Authentication",
}
_TYPE_CODES = {
    "110120": "Application Start",
    "110121": "Application Stop",
    "110122": "Login",
    "110123": "Logout",
    "110126": "Node Authentication",
}
_ROLES = {
    "110150": "Application",
    "110151": "Application Launcher",
    "110152": "Destination Role ID",
    "110153": "Source Role ID",
    "110154": "Destination Media",
}
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = 0, 4, 8


class Sink(Protocol):
    def write(self, message: str) -> None: ...
    def close(self) -> None: ...


class FileSink:
    """Append one message per line to *path* (created with its folder)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, message: str) -> None:
        with self._lock:
            if self._fh.closed:
                return
            self._fh.write(message.replace("\n", " ") + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __str__(self) -> str:
        return str(self.path)


class SyslogSink:
    """RFC 5424 messages over UDP (RFC 5426) to ``host:port``: facility authpriv (10), severity
    notice (5), or warning (4) for failures; APP-NAME ``vscanner``, MSGID ``DICOM+RFC3881``."""

    def __init__(self, host: str, port: int, app_name: str = "vscanner") -> None:
        self.address = (host, int(port))
        self.app_name = app_name
        self.hostname = socket.gethostname() or "-"
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)

    def write(self, message: str, failure: bool = False) -> None:
        pri = 10 * 8 + (4 if failure else 5)
        ts = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        header = f"<{pri}>1 {ts} {self.hostname} {self.app_name} {os.getpid()} DICOM+RFC3881 - "
        data = header.encode("ascii") + b"\xef\xbb\xbf" + message.encode("utf-8")
        try:
            self._sock.sendto(data, self.address)
        except OSError as exc:
            LOGGER.warning("audit message to syslog %s:%d not sent: %s", *self.address, exc)

    def close(self) -> None:
        self._sock.close()

    def __str__(self) -> str:
        return f"syslog udp://{self.address[0]}:{self.address[1]}"


def _code(element: str, code: str, meaning: str, scheme: str = "DCM") -> str:
    return f"<{element} csd-code={quoteattr(code)} codeSystemName={quoteattr(scheme)} originalText={quoteattr(meaning)}/>"


@dataclass(frozen=True)
class Participant:
    """An ActiveParticipant: who took part (an AE, a process, a medium)."""

    user_id: str
    requestor: bool
    role: str | None = None  # a _ROLES code
    ae_titles: Sequence[str] = ()
    address: str | None = None
    media: str | None = None

    def xml(self) -> str:
        attrs = f"UserID={quoteattr(self.user_id)}"
        if self.ae_titles:
            attrs += f" AlternativeUserID={quoteattr('AETITLES=' + ';'.join(t.strip() for t in self.ae_titles))}"
        attrs += f" UserIsRequestor={quoteattr('true' if self.requestor else 'false')}"
        if self.address:
            kind = "2" if self.address.replace(".", "").isdigit() or ":" in self.address else "1"
            attrs += f" NetworkAccessPointID={quoteattr(self.address)} NetworkAccessPointTypeCode={quoteattr(kind)}"
        inner = _code("RoleIDCode", self.role, _ROLES[self.role]) if self.role else ""
        if self.media:
            inner += f"<MediaIdentifier>{_code('MediaType', '110030', self.media)}</MediaIdentifier>"
        return f"<ActiveParticipant {attrs}>{inner}</ActiveParticipant>"


@dataclass
class Study:
    """A ParticipantObject for one study: its UID and instances per SOP class."""

    uid: str
    sop_classes: dict[str, int] = field(default_factory=dict)

    def add(self, sop_class: str) -> None:
        self.sop_classes[sop_class] = self.sop_classes.get(sop_class, 0) + 1

    def xml(self) -> str:
        classes = "".join(f"<SOPClass UID={quoteattr(uid)} NumberOfInstances={quoteattr(str(n))}/>"
                          for uid, n in sorted(self.sop_classes.items()))
        return (f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(self.uid)} "
                f"ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"3\">"
                f"{_code('ParticipantObjectIDTypeCode', '110180', 'Study Instance UID')}"
                f"<ParticipantObjectDescription>{classes}</ParticipantObjectDescription>"
                f"</ParticipantObjectIdentification>")


def _patient(patient_id: str) -> str:
    return (f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(patient_id)} "
            f"ParticipantObjectTypeCode=\"1\" ParticipantObjectTypeCodeRole=\"1\">"
            f"{_code('ParticipantObjectIDTypeCode', '2', 'Patient Number', 'RFC-3881')}"
            f"</ParticipantObjectIdentification>")


class AuditTrail:
    """Builds PS3.15 A.5 audit messages and writes them to its sinks.

    Parameters
    ----------
    source_id : str
        AuditSourceID: this console (its AE title).
    sinks : sequence of Sink
    site : str, optional
        AuditEnterpriseSiteID.
    """

    def __init__(self, source_id: str, sinks: Sequence[Any], site: str = "") -> None:
        self.source_id = source_id.strip()
        self.sinks = list(sinks)
        self.site = site
        self.process = f"vscanner[{os.getpid()}]"

    def describe(self) -> str:
        return ", ".join(str(s) for s in self.sinks) or "nowhere"

    # --- the message ---------------------------------------------------------------------------

    def message(self, event_id: str, participants: Iterable[Participant], objects: Iterable[str] = (), *,
                action: str = "E", outcome: int = SUCCESS, type_code: str | None = None,
                description: str = "") -> str:
        """One ``<AuditMessage>`` (no XML declaration: one message per line)."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        ev = (f"<EventIdentification EventActionCode={quoteattr(action)} EventDateTime={quoteattr(now)} "
              f"EventOutcomeIndicator={quoteattr(str(outcome))}>"
              f"{_code('EventID', event_id, EVENT_IDS[event_id])}"
              + (_code("EventTypeCode", type_code, _TYPE_CODES[type_code]) if type_code else "")
              + (f"<EventOutcomeDescription>{_text(description)}</EventOutcomeDescription>" if description else "")
              + "</EventIdentification>")
        site = f" AuditEnterpriseSiteID={quoteattr(self.site)}" if self.site else ""
        source = (f"<AuditSourceIdentification{site} AuditSourceID={quoteattr(self.source_id)}>"
                  f"{_code('AuditSourceTypeCode', '2', 'Data Acquisition Device or Instrument', 'RFC-3881')}"
                  f"</AuditSourceIdentification>")
        return ("<AuditMessage>" + ev + "".join(p.xml() for p in participants) + source + "".join(objects)
                + "</AuditMessage>")

    def emit(self, message: str, failure: bool = False) -> None:
        for sink in self.sinks:
            try:
                if isinstance(sink, SyslogSink):
                    sink.write(message, failure)
                else:
                    sink.write(message)
            except Exception:  # an audit sink must not stop the service; say so
                LOGGER.exception("audit message not written to %s", sink)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    # --- events --------------------------------------------------------------------------------

    def _us(self, ae_title: str, requestor: bool, role: str | None = None, address: str | None = None) -> Participant:
        return Participant(self.process, requestor, role, (ae_title,), address)

    def application(self, started: bool, ae_title: str) -> None:
        self.emit(self.message("110100", [self._us(ae_title, False, "110150")],
                               type_code="110120" if started else "110121"))

    def association(self, calling: str, address: str, called: str, *, login: bool, outcome: int = SUCCESS,
                    description: str = "") -> None:
        parts = [Participant(calling.strip(), True, None, (calling,), address), self._us(called, False)]
        self.emit(self.message("110114", parts, type_code="110122" if login else "110123", outcome=outcome,
                               description=description), failure=outcome != SUCCESS)

    def security_alert(self, subject: str, description: str, *, peer: str = "", address: str | None = None,
                       ae_title: str = "") -> None:
        parts = [self._us(ae_title or self.source_id, False)]
        if peer or address:
            parts.append(Participant(peer or (address or "?"), True, None, (peer,) if peer else (), address))
        node = (f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(subject)} "
                f"ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"13\">"
                f"{_code('ParticipantObjectIDTypeCode', '110182', 'Node ID')}"
                f"<ParticipantObjectDetail type=\"Alert Description\" value={quoteattr(_b64(description))}/>"
                f"</ParticipantObjectIdentification>")
        self.emit(self.message("110113", parts, [node], outcome=MINOR_FAILURE, type_code="110126",
                               description=description), failure=True)

    def instances_transferred(self, source: Participant, destination: Participant, studies: Iterable[Study],
                              patients: Iterable[str], *, action: str = "C", outcome: int = SUCCESS,
                              description: str = "") -> None:
        objects = [s.xml() for s in studies] + [_patient(p) for p in sorted(set(patients)) if p]
        self.emit(self.message("110104", [source, destination], objects, action=action, outcome=outcome,
                               description=description), failure=outcome != SUCCESS)

    def begin_transfer(self, source: Participant, destination: Participant, studies: Iterable[Study],
                       patients: Iterable[str], *, description: str = "") -> None:
        """110102 Begin Transferring DICOM Instances (a retrieve this node serves)."""
        objects = [s.xml() for s in studies] + [_patient(p) for p in sorted(set(patients)) if p]
        self.emit(self.message("110102", [source, destination], objects, action="E", description=description))

    def query(self, calling: str, address: str, called: str, sop_class: str, query: bytes, transfer_syntax: str) -> None:
        parts = [Participant(calling.strip(), True, "110153", (calling,), address),
                 self._us(called, False, "110152")]
        obj = (f"<ParticipantObjectIdentification ParticipantObjectID={quoteattr(sop_class)} "
               f"ParticipantObjectTypeCode=\"2\" ParticipantObjectTypeCodeRole=\"3\">"
               f"{_code('ParticipantObjectIDTypeCode', '110181', 'SOP Class UID')}"
               f"<ParticipantObjectQuery>{base64.b64encode(query).decode('ascii')}</ParticipantObjectQuery>"
               f"<ParticipantObjectDetail type=\"TransferSyntax\" value={quoteattr(_b64(transfer_syntax))}/>"
               f"</ParticipantObjectIdentification>")
        self.emit(self.message("110112", parts, [obj]))

    def export(self, ae_title: str, media: str, studies: Iterable[Study], patients: Iterable[str], *,
               outcome: int = SUCCESS, description: str = "") -> None:
        parts = [self._us(ae_title, True, "110153"), Participant(media, False, "110154", media=media)]
        objects = [s.xml() for s in studies] + [_patient(p) for p in sorted(set(patients)) if p]
        self.emit(self.message("110106", parts, objects, action="R", outcome=outcome, description=description),
                  failure=outcome != SUCCESS)


def _text(value: str) -> str:
    from xml.sax.saxutils import escape

    return escape(value)


def _b64(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


# --- the acceptor side -----------------------------------------------------------------------


def _study_of(message: Any, transfer_syntax: str) -> tuple[str, str]:
    """(Study Instance UID, Patient ID) from the start of a received C-STORE data set."""
    from pydicom.filereader import read_dataset
    from pydicom.uid import UID

    data = getattr(message, "data_set", None)
    if data is None:
        return "", ""
    try:
        buf = data.getbuffer()
        try:
            head = bytes(buf[:262144])
        finally:
            buf.release()
        ts = UID(transfer_syntax)
        if ts.is_deflated:
            return "", ""
        ds = read_dataset(BytesIO(head), ts.is_implicit_VR, ts.is_little_endian,
                          stop_when=lambda tag, vr, length: tag > 0x0020000D)
        return str(ds.get("StudyInstanceUID", "") or ""), str(ds.get("PatientID", "") or "")
    except Exception as exc:  # a header the audit cannot read is still stored; the audit says "unknown"
        LOGGER.debug("audit: study of a received instance not read: %s", exc)
        return "", ""


def _transfer_syntax(assoc: Any, context_id: int) -> str:
    for cx in assoc.accepted_contexts:
        if cx.context_id == context_id:
            return str(cx.transfer_syntax[0])
    return "1.2.840.10008.1.2"


class AssociationAuditor:
    """Audit an acceptor's associations through pynetdicom notification events.

    Bind :meth:`handlers`; ``policy`` (an :class:`~appliance.net.policy.AcceptancePolicy`) says
    why a rejected association was rejected.
    """

    def __init__(self, trail: AuditTrail, ae_title: str, policy: Any = None) -> None:
        self.trail = trail
        self.ae_title = ae_title
        self.policy = policy
        self._lock = threading.Lock()
        self._received: dict[int, tuple[dict[str, Study], set[str]]] = {}

    def handlers(self) -> list[tuple]:
        from pynetdicom import evt

        return [
            (evt.EVT_ACCEPTED, self.on_accepted),
            (evt.EVT_REJECTED, self.on_rejected),
            (evt.EVT_RELEASED, self.on_ended),
            (evt.EVT_ABORTED, self.on_ended),
            (evt.EVT_DIMSE_RECV, self.on_dimse_recv),
        ]

    def on_accepted(self, event: Any) -> None:
        a = event.assoc
        self.trail.association(str(a.requestor.ae_title), str(a.requestor.address), self.ae_title, login=True)

    def on_rejected(self, event: Any) -> None:
        a = event.assoc
        calling = str(a.requestor.ae_title).strip()
        called = str(getattr(a.requestor.primitive, "called_ae_title", "") or self.ae_title).strip()
        why = ""
        if self.policy is not None:
            rejection = self.policy.check(calling, called)
            if rejection is not None:
                why = (f"{rejection.why} (A-ASSOCIATE-RJ result {rejection.result}, source {rejection.source}, "
                       f"reason {rejection.reason})")
        why = why or "association rejected"
        self.trail.security_alert(f"{calling}@{a.requestor.address}", why, peer=calling,
                                  address=str(a.requestor.address), ae_title=self.ae_title)

    def tls_refused(self, peer: tuple[str, int], exc: Exception) -> None:
        """``on_handshake_failure`` of :func:`appliance.security.tls.acceptor_context`."""
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        self.trail.security_alert(f"{peer[0]}:{peer[1]}", f"TLS connection refused: {reason}", address=str(peer[0]),
                                  ae_title=self.ae_title)

    def on_dimse_recv(self, event: Any) -> None:
        message = event.message
        command = getattr(message, "command_set", None)
        if command is None:
            return
        field_ = int(getattr(command, "CommandField", 0) or 0)
        a = event.assoc
        if field_ == 0x0001:  # C-STORE-RQ
            ts = _transfer_syntax(a, message.context_id)
            study, patient = _study_of(message, ts)
            with self._lock:
                studies, patients = self._received.setdefault(id(a), ({}, set()))
                studies.setdefault(study or "unknown", Study(study or "unknown")).add(
                    str(command.AffectedSOPClassUID))
                if patient:
                    patients.add(patient)
        elif field_ in (0x0021, 0x0010):  # C-MOVE-RQ, C-GET-RQ: we begin sending instances
            ts = _transfer_syntax(a, message.context_id)
            study, patient = _study_of(message, ts)
            calling = str(a.requestor.ae_title).strip()
            dest_ae = str(getattr(command, "MoveDestination", "") or calling).strip()
            source = self.trail._us(self.ae_title, False, "110153")
            dest = Participant(dest_ae, True, "110152", (dest_ae,),
                               str(a.requestor.address) if dest_ae == calling else None)
            self.trail.begin_transfer(source, dest, [Study(study or "unknown")], [patient] if patient else [],
                                      description=("C-MOVE to " + dest_ae) if field_ == 0x0021 else "C-GET")
        elif field_ == 0x0020:  # C-FIND-RQ
            ts = _transfer_syntax(a, message.context_id)
            data = message.data_set.getvalue() if getattr(message, "data_set", None) is not None else b""
            self.trail.query(str(a.requestor.ae_title), str(a.requestor.address), self.ae_title,
                             str(command.AffectedSOPClassUID), data, ts)

    def on_ended(self, event: Any) -> None:
        a = event.assoc
        aborted = event.event.name == "EVT_ABORTED"
        with self._lock:
            received = self._received.pop(id(a), None)
        calling = str(a.requestor.ae_title)
        if received is not None:
            studies, patients = received
            source = Participant(calling.strip(), True, "110153", (calling,), str(a.requestor.address))
            dest = Participant(self.trail.process, False, "110152", (self.ae_title,))
            self.trail.instances_transferred(source, dest, studies.values(), patients,
                                             outcome=MINOR_FAILURE if aborted else SUCCESS,
                                             description="association aborted" if aborted else "")
        self.trail.association(calling, str(a.requestor.address), self.ae_title, login=False,
                               outcome=MINOR_FAILURE if aborted else SUCCESS,
                               description="association aborted" if aborted else "")


# --- the process default (for media export) ----------------------------------------------------

_default: AuditTrail | None = None


def set_default(trail: AuditTrail | None) -> None:
    """The trail :func:`record_export` writes to (set by the command that configured auditing)."""
    global _default
    _default = trail


def default() -> AuditTrail | None:
    return _default


def record_export(ae_title: str, media: str, sources: Iterable[Any]) -> None:
    """Audit a media export (110106) of *sources* (objects with ``study``, ``sop_class`` and
    ``patient``) when a default trail is set; else nothing."""
    trail = _default
    if trail is None:
        return
    studies: dict[str, Study] = {}
    patients: set[str] = set()
    for s in sources:
        studies.setdefault(s.study, Study(s.study)).add(s.sop_class)
        if getattr(s, "patient", ""):
            patients.add(s.patient)
    trail.export(ae_title, media, studies.values(), patients)
