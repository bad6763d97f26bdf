"""The console's session: what the TUI asks of the core, with no Textual in it.

A :class:`ConsoleSession` holds one product (:class:`appliance.profile.Profile`), one site
configuration and, with ``embedded=True``, the embedded hospital (RIS, PACS, film camera,
burner on free loopback ports, :class:`devices.hospital.Hospital`). Every method is a plain
blocking call into the same API the CLI uses (``vscanner demo`` / ``vscanner exam``): the TUI
runs them in worker threads.

- :meth:`worklist` - Modality Worklist C-FIND as the product (``appliance.net.worklist``);
- :meth:`protocols` - the product's scan protocols (``acquisition``);
- :meth:`run_exam` - one whole exam (:class:`appliance.workflow.Exam`) for a chosen worklist
  item and protocol, its events to a callback; :meth:`cancel_exam` stops it after the step;
- :meth:`job_items` / :meth:`job_counts` - the durable send queue (``appliance.jobs``);
- :meth:`echo` - C-ECHO a node (``appliance.net.verification``);
- :meth:`printer_state` - the camera's status and the product's reaction and message
  (``appliance.printing.status.react``); :meth:`burner_state` - the drive;
- :meth:`watch_devices` - printer and burner changes to a callback;
- :meth:`protocol` / :meth:`parameters` / :meth:`edit_parameter` - a protocol with the operator's
  TR/TE/TI/flip (MR), kVp/mAs/kernel (CT), dose/uptake (PET), given to :meth:`run_exam`;
- :meth:`preview` - a slice of the running exam's acquisition as a small grey image;
- :meth:`browse` - the local store as patients, studies and series with counts;
  :meth:`send`, :meth:`print_images`, :meth:`queue_burn` / :meth:`run_burn` act on its files;
- :meth:`send_jobs`, :meth:`retry_send`, :meth:`cancel_send`, :meth:`run_send` - the send and
  commitment queue by job; :meth:`print_jobs`, :meth:`retry_print`, :meth:`cancel_print`,
  :meth:`resume_printer` - the durable print queue (``appliance.printing.queue``);
  :meth:`burn_jobs`, :meth:`retry_burn`, :meth:`cancel_burn` - the burner's jobs;
- :meth:`check_node` - C-ECHO, or the Printer N-GET for a film camera (which offers no
  Verification); :meth:`status_line` - the camera's serial status line.

This module may grow into the ``appliance/core.py`` facade of docs/architecture.md; the TUI
only depends on the methods above.
"""

from __future__ import annotations

__all__ = ["ConsoleSession", "PrinterState", "BurnerState", "ProtocolInfo", "Parameter", "PatientNode",
           "StudyNode", "SeriesNode", "SendJob", "BurnJob", "NodeCheck", "EDITABLE"]

import dataclasses
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import Node, SiteConfig
from ..errors import UsageError, VScannerError
from ..profile import Profile, find_profile

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtocolInfo:
    name: str
    description: str
    body_part: str
    series: int


@dataclass(frozen=True)
class PrinterState:
    """The camera's status as the console shows it."""

    node: str               # AE@host:port, or "" when no printer is configured
    printer_status: str     # NORMAL, WARNING, FAILURE; "" when unknown
    info: str               # Printer Status Info
    reaction: str           # idle, interact, queue_stopped ("" when unknown)
    message: str            # the product's status-bar message ("" = none)
    known: bool = True      # False: the status of a real camera is only known while printing

    @property
    def symbol(self) -> str:
        """The product's camera symbol, as text."""
        return {"idle": "● idle", "interact": "▲ interact", "queue_stopped": "■ queue stopped"}.get(
            self.reaction, "? unknown")


@dataclass(frozen=True)
class BurnerState:
    available: bool
    state: str = ""          # empty, loaded, burning, verifying, ejected
    disc: str = ""           # CD, DVD, BD ("" when none)
    closed: bool = False
    burned: int = 0          # images written in this session
    fault: str = ""          # an injected fault ("" when none)
    detail: str = ""         # why it is not available / the last progress


# The parameters an operator may change before a scan, per series kind: (field, label, unit).
# The fields are those of acquisition.protocols.MRParams / CTParams / PETParams.
EDITABLE: dict[str, tuple[tuple[str, str, str], ...]] = {
    "mr": (("tr", "TR", "ms"), ("te", "TE", "ms"), ("ti", "TI", "ms"), ("flip", "flip", "°")),
    "ct": (("kvp", "kVp", "kV"), ("mas", "mAs", "mAs"), ("kernel", "kernel", "")),
    "pet": (("injected_dose_mbq", "dose", "MBq"), ("uptake_minutes", "uptake", "min")),
}
_PARAMS_OF = {"mr": "mr", "ct": "ct", "ct_localizer": "ct", "pet": "pet"}
# Accepted ranges [emulator choice]: the physics' tables (tissue CT numbers 80-140 kVp) and
# values a console would accept for a routine scan.
_RANGES: dict[str, tuple[float, float]] = {
    "tr": (1.0, 20000.0), "te": (0.5, 1000.0), "ti": (1.0, 5000.0), "flip": (1.0, 180.0),
    "kvp": (80.0, 140.0), "mas": (1.0, 2000.0), "injected_dose_mbq": (1.0, 2000.0), "uptake_minutes": (1.0, 600.0),
}


@dataclass(frozen=True)
class Parameter:
    """One editable scan parameter of one series of a protocol."""

    key: str                 # "<series index>.<field>"
    series: int              # index into Protocol.series
    series_description: str
    kind: str                # mr, ct, pet
    field: str
    label: str
    unit: str
    value: Any
    original: Any
    choices: tuple[str, ...] = ()

    @property
    def edited(self) -> bool:
        return self.value != self.original

    @property
    def text(self) -> str:
        v = self.value
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)


@dataclass(frozen=True)
class SeriesNode:
    uid: str
    number: int | None
    description: str
    modality: str
    instances: int
    size: int
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class StudyNode:
    uid: str
    date: str
    description: str
    accession: str
    series: tuple[SeriesNode, ...]

    @property
    def instances(self) -> int:
        return sum(s.instances for s in self.series)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for s in self.series for p in s.paths)


@dataclass(frozen=True)
class PatientNode:
    patient_id: str
    name: str
    studies: tuple[StudyNode, ...]

    @property
    def series_count(self) -> int:
        return sum(len(st.series) for st in self.studies)

    @property
    def instances(self) -> int:
        return sum(st.instances for st in self.studies)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for st in self.studies for p in st.paths)


@dataclass(frozen=True)
class SendJob:
    """One job of the send queue with its items counted by state."""

    id: int
    destination: str
    created_at: float
    counts: dict[str, int]
    commit_wanted: bool
    commit_state: str
    last_error: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        """Items that reached their end: sent (and committed, when asked)."""
        c = self.counts
        return c.get("committed", 0) + (0 if self.commit_wanted else c.get("sent", 0))

    @property
    def state(self) -> str:
        c = self.counts
        if c.get("sending"):
            return "sending"
        if c.get("queued"):
            return "queued"
        if c.get("failed") or c.get("commit_failed"):
            return "failed"
        if self.commit_wanted and c.get("sent"):
            return "awaiting commitment"
        return "committed" if self.commit_wanted else "sent"


@dataclass
class BurnJob:
    """One disc to burn (kept by the console while it runs; the burned image is the record)."""

    id: int
    label: str
    paths: tuple[Path, ...]
    state: str = "queued"        # queued, burning, burned, failed, cancelled
    stage: str = ""
    done: int = 0
    total: int = 0
    iso: str = ""
    media_profile: str = ""
    error: str = ""
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class NodeCheck:
    """The answer of a node to the console's liveness check."""

    ok: bool
    text: str


class ConsoleSession:
    """One console: a product, a site, optionally the embedded hospital.

    Parameters
    ----------
    profile : Profile or str
    site : SiteConfig, optional
        Required without *hospital*.
    hospital : devices.hospital.Hospital, optional
        A running embedded hospital; its site is used.
    time_scale : float
        Multiplies the product's delays in exams (embedded default: 0.001, as the demo).
    max_wait : float
        Upper bound of every wait of an exam.
    """

    def __init__(self, profile: Profile | str, site: SiteConfig | None = None, *, hospital: Any = None,
                 time_scale: float | None = None, max_wait: float = 60.0) -> None:
        self.profile = find_profile(profile) if isinstance(profile, str) else profile
        self.hospital = hospital
        if hospital is None and site is None:
            raise UsageError("a console needs a site configuration or the embedded hospital",
                             "give --config site.toml or --embedded")
        self._site = site
        if time_scale is None:
            from ..workflow import DEMO_TIME_SCALE

            time_scale = DEMO_TIME_SCALE if hospital is not None else 1.0
        self.time_scale = time_scale
        self.max_wait = max_wait
        self._exam: Any = None
        self._lock = threading.Lock()
        self._owns_hospital = False
        self._burner_detail = ""
        self._burns: list[BurnJob] = []
        self._burn_lock = threading.Lock()
        self._burner_busy = threading.Lock()   # one disc at a time

    @classmethod
    def embedded(cls, profile: Profile | str, folder: str | Path | None = None, **kwargs: Any) -> "ConsoleSession":
        """Start the embedded hospital for *profile* and a session on it (:meth:`close` stops it)."""
        from devices.hospital import Hospital

        hospital = Hospital(profile, folder).start()
        try:
            session = cls(hospital.profile, hospital=hospital, **kwargs)
        except BaseException:
            hospital.stop()
            raise
        session._owns_hospital = True
        return session

    def close(self) -> None:
        self.cancel_exam()
        if self._owns_hospital and self.hospital is not None:
            self.hospital.stop()
            self.hospital = None

    def __enter__(self) -> "ConsoleSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- identity ----------------------------------------------------------------------------

    @property
    def site(self) -> SiteConfig:
        if self.hospital is not None:
            return self.hospital.site
        assert self._site is not None
        return self._site

    @property
    def ae_title(self) -> str:
        return self.site.local.ae_title

    @property
    def product(self) -> str:
        return self.profile.title

    @property
    def data(self) -> Path:
        return Path(self.site.local.data)

    @property
    def embedded_hospital(self) -> bool:
        return self.hospital is not None

    def _node(self, role: str) -> Node | None:
        nodes = self.site.nodes_with_role(role)
        return nodes[0] if nodes else None

    # --- patient -----------------------------------------------------------------------------

    def worklist(self) -> list[Any]:
        """The scheduled steps for this scanner today (``WorklistItem``), earliest first."""
        from ..net.worklist import query_worklist

        node = self._node("worklist")
        if node is None:
            raise UsageError("no node with the role 'worklist' in the site configuration")
        items = query_worklist(self.profile, node, self.ae_title)
        import datetime as _dt

        return sorted(items, key=lambda i: (i.scheduled_start or _dt.datetime.max, i.scheduled_step_id))

    def register_patient(self, name: str, patient_id: str, birth_date: str = "", sex: str = "",
                         procedure: str = "") -> dict[str, str]:
        """Register an unscheduled patient: the embedded RIS schedules a step for this scanner now
        (an order as its generated ones), so the exam runs with the worklist as for any other.
        A real site registers the patient at its RIS."""
        import datetime as _dt

        ris = getattr(self.hospital, "ris", None)
        if ris is None:
            raise UsageError("registering an unscheduled patient here needs the embedded RIS",
                             "register the patient at the site's RIS, then refresh the worklist (r)")
        name, patient_id = name.strip(), patient_id.strip()
        birth_date, sex, procedure = birth_date.strip(), sex.strip().upper(), procedure.strip()
        if not name or not patient_id:
            raise UsageError("a patient needs a name and an ID", "e.g. Doe^Jane and P12345")
        if len(patient_id) > 64 or "\\" in patient_id:
            raise UsageError(f"patient ID {patient_id!r} is not a DICOM LO value", "at most 64 characters, no \\")
        if birth_date and not re.fullmatch(r"(19|20)\d{6}", birth_date):
            raise UsageError(f"birth date {birth_date!r} is not YYYYMMDD", "e.g. 19700131, or leave it empty")
        if sex not in ("", "M", "F", "O"):
            raise UsageError(f"sex {sex!r} is not M, F or O", "or leave it empty")
        from acquisition import list_protocols
        from devices.ris import generate_schedule

        now = _dt.datetime.now().replace(microsecond=0)
        protocols = [(p.name, p.body_part) for p in list_protocols(self.profile)]
        ds = generate_schedule(self.profile, self.ae_title, count=1, date=now.date(), seed=int(now.timestamp()),
                               protocols=protocols, station_name=self.ae_title, other_stations=())[0]
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = name, patient_id, birth_date, sex
        ds.AccessionNumber = f"U{now:%y%m%d%H%M%S}"
        ds.RequestedProcedureID = f"RPU{now:%H%M%S}"
        sps = ds.ScheduledProcedureStepSequence[0]
        sps.ScheduledProcedureStepStartDate = now.strftime("%Y%m%d")
        sps.ScheduledProcedureStepStartTime = now.strftime("%H%M%S")
        sps.ScheduledProcedureStepID = f"SPSU{now:%H%M%S}"
        if procedure:
            ds.RequestedProcedureDescription = procedure
            ds.RequestedProcedureCodeSequence[0].CodeMeaning = procedure
            sps.ScheduledProcedureStepDescription = procedure
        ris.schedule([ds])
        return {"name": name, "id": patient_id, "accession": str(ds.AccessionNumber)}

    # --- exam --------------------------------------------------------------------------------

    def protocols(self) -> list[ProtocolInfo]:
        from acquisition import list_protocols

        return [ProtocolInfo(p.name, p.description, p.body_part, len(p.series)) for p in list_protocols(self.profile)]

    def run_exam(self, item: Any = None, protocol: str | None = None, *,
                 on_event: Callable[[object], None] | None = None, **options: Any) -> Any:
        """Run one whole exam (blocking) for worklist *item* with *protocol*; returns the
        :class:`appliance.workflow.ExamResult`. *options* are further ``ExamOptions`` fields."""
        from ..workflow import Exam, ExamOptions

        opts = dict(time_scale=self.time_scale, max_wait=self.max_wait)
        if item is not None:
            opts.update(patient_id=item.patient_id, accession_number=item.accession_number or None)
        if protocol:
            opts["protocol"] = protocol
        opts.update(options)
        burner = getattr(self.hospital, "burner", None)
        exam = Exam(self.profile, self.site, options=ExamOptions(**opts), on_event=on_event, burner=burner)
        with self._lock:
            if self._exam is not None:
                raise UsageError("an exam is running", "wait for it to end or stop it")
            self._exam = exam
        try:
            return exam.run()
        finally:
            with self._lock:
                self._exam = None

    @property
    def exam_running(self) -> bool:
        return self._exam is not None

    def cancel_exam(self) -> bool:
        """Stop the running exam after its current step; False when none runs."""
        exam = self._exam
        if exam is None:
            return False
        exam.cancel()
        return True

    # --- jobs --------------------------------------------------------------------------------

    def job_items(self) -> list[Any]:
        """Every item of the durable send queue (``appliance.jobs.Item``), oldest first."""
        if not (self.data / "jobs.sqlite").exists():
            return []
        from ..jobs import JobQueue

        queue = JobQueue(self.data)
        try:
            return queue.items()
        finally:
            queue.close()

    def job_counts(self) -> dict[str, int]:
        from ..jobs import STATES

        out = dict.fromkeys(STATES, 0)
        for i in self.job_items():
            out[i.state] = out.get(i.state, 0) + 1
        return out

    # --- devices -----------------------------------------------------------------------------

    def nodes(self) -> dict[str, Node]:
        return dict(self.site.nodes or {})

    def echo(self, node: Node) -> Any:
        """C-ECHO *node* as the product; returns ``EchoResult`` (raises ``NetworkError``)."""
        from ..net.verification import echo

        return echo(self.profile, node, self.ae_title)

    def printer_state(self) -> PrinterState:
        from ..printing.status import react

        node = self._node("printer")
        printer = getattr(self.hospital, "printer", None)
        if printer is None:
            return PrinterState(str(node or ""), "", "", "", "", known=False)
        status, info = printer.status
        r = react(self.profile.print, status, info)
        return PrinterState(str(node or ""), status, info, r.reaction, r.message)

    def set_printer_status(self, printer_status: str, info: str = "") -> None:
        """Inject a camera status into the embedded film camera (training, tests)."""
        printer = getattr(self.hospital, "printer", None)
        if printer is None:
            raise UsageError("no embedded film camera", "start the console with --embedded")
        printer.set_status(printer_status, info)

    def burner_state(self) -> BurnerState:
        burner = getattr(self.hospital, "burner", None)
        if burner is None:
            why = (self.hospital.missing.get("burner", "off") if self.hospital is not None
                   else "no burner (ISO images go to the data folder)")
            return BurnerState(False, detail=why)
        disc = burner.disc
        return BurnerState(True, burner.state, disc.kind if disc else "", bool(disc and disc.closed),
                           len(burner.burned), str(getattr(burner, "fault", "") or ""), self._burner_detail)

    def watch_devices(self, callback: Callable[[str, str], None]) -> Callable[[], None]:
        """Call ``callback(device, text)`` when the camera status or the burner changes (in the
        device's thread). Returns a function that stops watching."""
        printer = getattr(self.hospital, "printer", None)
        burner = getattr(self.hospital, "burner", None)
        undo: list[Callable[[], None]] = []
        if printer is not None:
            def on_printer(line: str) -> None:
                callback("printer", line)

            printer.add_listener(on_printer)
            undo.append(lambda: printer.remove_listener(on_printer))
        if burner is not None:
            previous = burner.on_event

            def on_burner(event: str, data: dict[str, Any]) -> None:
                if previous is not None:
                    previous(event, data)
                if event == "progress":
                    if {"stage", "done", "total"} <= set(data):
                        self._burner_detail = f"{data['stage']} {data['done']}/{data['total']}"
                    else:
                        self._burner_detail = " ".join(f"{k} {v}" for k, v in data.items())
                callback("burner", f"{event} {data}")

            burner.on_event = on_burner

            def restore() -> None:
                burner.on_event = previous

            undo.append(restore)

        def stop() -> None:
            for fn in undo:
                try:
                    fn()
                except VScannerError:
                    pass

        return stop

    # --- protocol parameters -----------------------------------------------------------------

    def protocol(self, name: str) -> Any:
        """The product's protocol *name* (an ``acquisition.protocols.Protocol`` value)."""
        from acquisition.protocols import product_data_for

        try:
            return product_data_for(self.profile.id, self.profile.source).protocol(name)
        except KeyError:
            raise UsageError(f"{self.profile.id} has no protocol {name!r}",
                             "known: " + ", ".join(p.name for p in self.protocols())) from None

    def kernels(self) -> dict[str, str]:
        """The product's reconstruction kernels (from its protocols) and their kernel classes."""
        from acquisition.protocols import product_data_for

        out: dict[str, str] = {}
        for proto in product_data_for(self.profile.id, self.profile.source).protocols:
            for spec in proto.series:
                if spec.ct is not None:
                    out.setdefault(spec.ct.kernel, spec.ct.kernel_class)
        return out

    def parameters(self, protocol: Any) -> list[Parameter]:
        """The editable parameters of *protocol* (a Protocol value, possibly edited already)."""
        original = self.protocol(protocol.name)
        kernels = tuple(self.kernels())
        out: list[Parameter] = []
        for i, spec in enumerate(protocol.series):
            attr = _PARAMS_OF.get(spec.kind)
            params = getattr(spec, attr) if attr else None
            if attr is None or params is None:
                continue
            base = getattr(original.series[i], attr) if i < len(original.series) else params
            for fld, label, unit in EDITABLE[attr]:
                value = getattr(params, fld)
                if value is None:  # TI of a sequence without inversion
                    continue
                out.append(Parameter(f"{i}.{fld}", i, spec.description, attr, fld, label, unit, value,
                                     getattr(base, fld), kernels if fld == "kernel" else ()))
        return out

    def edit_parameter(self, protocol: Any, key: str, text: str) -> Any:
        """*protocol* with the parameter *key* (``Parameter.key``) set to *text*; a new Protocol
        value (the product's protocols file is not changed). Raises UsageError for a bad value."""
        index_text, _, fld = key.partition(".")
        try:
            spec = protocol.series[int(index_text)]
        except (ValueError, IndexError):
            raise UsageError(f"no parameter {key!r} in {protocol.name!r}") from None
        attr = _PARAMS_OF.get(spec.kind)
        params = getattr(spec, attr) if attr else None
        names = {f: (label, unit) for f, label, unit in EDITABLE.get(attr or "", ())}
        if params is None or fld not in names:
            raise UsageError(f"{spec.description}: {fld!r} cannot be edited",
                             "editable: TR, TE, TI, flip (MR); kVp, mAs, kernel (CT); dose, uptake (PET)")
        label, unit = names[fld]
        what = f"{spec.description} {label}"
        text = text.strip()
        if fld == "kernel":
            kernels = self.kernels()
            match = [k for k in kernels if k.lower() == text.lower()]
            if not match:
                raise UsageError(f"{what}: {text!r} is not a kernel of {self.profile.title}",
                                 "one of: " + ", ".join(kernels))
            new = dataclasses.replace(params, kernel=match[0], kernel_class=kernels[match[0]])
        else:
            try:
                value = float(text)
            except ValueError:
                raise UsageError(f"{what}: {text!r} is not a number", f"give a value in {unit}") from None
            lo, hi = _RANGES[fld]
            if not lo <= value <= hi:
                raise UsageError(f"{what}: {value:g} {unit} is out of range", f"give {lo:g} to {hi:g} {unit}")
            if fld == "te" and value >= params.tr:
                raise UsageError(f"{what}: TE {value:g} ms must be shorter than TR {params.tr:g} ms",
                                 "lengthen TR first")
            if fld == "tr" and value <= params.te:
                raise UsageError(f"{what}: TR {value:g} ms must be longer than TE {params.te:g} ms",
                                 "shorten TE first")
            if fld == "ti" and value >= params.tr:
                raise UsageError(f"{what}: TI {value:g} ms must be shorter than TR {params.tr:g} ms")
            new = dataclasses.replace(params, **{fld: value})
        series = list(protocol.series)
        series[int(index_text)] = dataclasses.replace(spec, **{attr: new})
        return dataclasses.replace(protocol, series=tuple(series))

    # --- live preview ------------------------------------------------------------------------

    def preview(self, index: int, size: int = 32) -> tuple[Any, str] | None:
        """Slice *index* of the running exam's acquisition: a grey ``uint8`` array of at most
        *size* x *size* and its caption (series, instance); None when there is none, or it has
        no pixels."""
        exam = self._exam
        acq = getattr(exam, "acquisition", None) if exam is not None else None
        if acq is None:
            return None
        datasets = acq.datasets
        if not 0 <= index < len(datasets):
            return None
        ds = datasets[index]
        image = thumbnail(ds, size)
        if image is None:
            return None
        return image, f"{ds.get('SeriesDescription', '')} #{ds.get('InstanceNumber', index + 1)}".strip()

    # --- the store ---------------------------------------------------------------------------

    def browse(self) -> list[PatientNode]:
        """The local store as patients, studies and series, with counts (headers read once per series)."""
        if not (self.data / "index.sqlite").exists():
            return []
        import pydicom

        from ..store import Store

        store = Store(self.data)
        try:
            rows = store.hierarchy()
        finally:
            store.close()
        tree: dict[str, dict[str, dict[str, list[Any]]]] = {}
        for r in rows:
            tree.setdefault(r.patient_id, {}).setdefault(r.study_uid, {}).setdefault(r.series_uid, []).append(r)
        tags = ["PatientName", "StudyDate", "StudyDescription", "AccessionNumber", "SeriesDescription",
                "SeriesNumber", "Modality", "SpecificCharacterSet"]
        patients: list[PatientNode] = []
        for pid, studies in tree.items():
            name = ""
            study_nodes = []
            for study_uid, series in studies.items():
                study_head: Any = None
                series_nodes = []
                for series_uid, items in series.items():
                    try:
                        head = pydicom.dcmread(items[0].path, stop_before_pixels=True, specific_tags=tags)
                    except Exception as exc:  # an unreadable file still counts; say so in the row
                        LOGGER.warning("browser: cannot read %s: %s", items[0].path, exc)
                        head = pydicom.Dataset()
                    study_head = study_head or head
                    number = head.get("SeriesNumber")
                    series_nodes.append(SeriesNode(
                        series_uid, int(number) if number not in (None, "") else None,
                        str(head.get("SeriesDescription", "") or ""),
                        str(head.get("Modality", "") or items[0].modality or ""), len(items),
                        sum(i.size for i in items), tuple(i.path for i in items)))
                series_nodes.sort(key=lambda s: (s.number is None, s.number or 0, s.uid))
                h = study_head if study_head is not None else {}
                name = name or str(h.get("PatientName", "") or "")
                study_nodes.append(StudyNode(study_uid, str(h.get("StudyDate", "") or ""),
                                             str(h.get("StudyDescription", "") or ""),
                                             str(h.get("AccessionNumber", "") or ""), tuple(series_nodes)))
            study_nodes.sort(key=lambda st: (st.date, st.uid))
            patients.append(PatientNode(pid, name, tuple(study_nodes)))
        return patients

    # --- send (the durable send queue, as `vscanner send`) -------------------------------------

    def send(self, paths: Any, *, on_event: Callable[[object], None] | None = None) -> SendJob:
        """Queue *paths* for the archive (with storage commitment when the product asks for it,
        at the product's time x ``time_scale``) and run the job; blocking, bounded by ``max_wait``."""
        from ..jobs import JobQueue
        from ..jobs.queue import DEFAULT_RETRY_INTERVAL
        from ..net.storage_scu import read_instance_header

        node = self._node("archive")
        if node is None:
            raise UsageError("no node with the role 'archive' in the site configuration",
                             "add the PACS to [nodes] with roles = [\"archive\", \"storage_commitment\"]")
        instances = [read_instance_header(Path(p)) for p in paths]
        if not instances:
            raise UsageError("nothing to send", "choose a patient, study or series with instances")
        p = self.profile
        sc = p.storage_commitment
        commit = bool(sc.scu and "storage_commitment" in node.roles)
        delay = (sc.delay or 0.0) * self.time_scale if commit and sc.timing == "delayed" else 0.0
        interval = (p.storage_scu.retry_interval or DEFAULT_RETRY_INTERVAL) * self.time_scale
        with JobQueue(self.data) as queue:
            # an operator's send sends again what was sent before (the CLI's --resend)
            res = queue.enqueue(instances, node, profile=p.source or p.id, calling_ae=self.ae_title,
                                retries=p.storage_scu.retries, retry_interval=interval, commit=commit,
                                commit_delay=delay, resend=True)
        self.run_send(res.job_id, on_event=on_event)
        job = self.send_job(res.job_id)
        assert job is not None
        return job

    def run_send(self, job_id: int | None = None, *, on_event: Callable[[object], None] | None = None) -> None:
        """Run the send queue (one job, or every due one) until it is done or ``max_wait`` passes."""
        from ..jobs import JobQueue, QueueRunner

        if self._exam is not None:
            raise UsageError("an exam is running: it runs the send queue itself", "wait for the exam to end")
        with JobQueue(self.data) as queue:
            runner = QueueRunner(queue, on_event=on_event, listen_host=self.site.local.host,
                                 listen_port=self.site.local.port, commit_wait=self.max_wait,
                                 lock_timeout=min(30.0, self.max_wait))
            timer = threading.Timer(self.max_wait, runner.stop)
            timer.daemon = True
            timer.start()
            try:
                with runner:
                    runner.run(None if job_id is None else [job_id])
            finally:
                timer.cancel()

    def send_jobs(self) -> list[SendJob]:
        """Every job of the send queue with its items counted by state, oldest first."""
        if not (self.data / "jobs.sqlite").exists():
            return []
        from ..jobs import JobQueue

        with JobQueue(self.data) as queue:
            out = []
            for j in queue.jobs():
                counts = queue.counts(j.id)
                if not any(counts.values()):
                    continue  # its items were queued again in a later job (a send of the same images)
                errors = [i.last_error for i in queue.items(j.id, states=("failed", "commit_failed", "queued"))
                          if i.last_error]
                out.append(SendJob(j.id, j.destination, j.created_at, counts, j.commit_wanted,
                                   j.commit_state, errors[-1] if errors else ""))
            return out

    def send_job(self, job_id: int) -> SendJob | None:
        return next((j for j in self.send_jobs() if j.id == job_id), None)

    def retry_send(self, job_id: int) -> int:
        """Queue the failed items of *job_id* again (commitment failures get a new request)."""
        from ..jobs import JobQueue

        with JobQueue(self.data) as queue:
            return queue.retry(job_id, ("failed", "commit_failed"))

    def cancel_send(self, job_id: int) -> int:
        """Remove the items of *job_id* not sent yet from the queue (the store keeps the images)."""
        from ..jobs import JobQueue

        with JobQueue(self.data) as queue:
            return queue.purge(("queued",), job_id)

    # --- print (the durable print queue, as `vscanner print`) ---------------------------------

    def _printer_node(self) -> Node:
        node = self._node("printer")
        if node is None:
            raise UsageError("no node with the role 'printer' in the site configuration",
                             "add the film camera to [nodes] with roles = [\"printer\"]")
        if not self.profile.print.scu:
            raise UsageError(f"{self.profile.id} prints no films (its statement has no Print Management SCU)")
        return node

    def print_images(self, paths: Any, *, on_message: Callable[[str, str, str], None] | None = None) -> Any:
        """Print *paths* on the site's camera through the durable print queue; blocking. Returns
        ``appliance.printing.PrintResult`` (a stopped camera queue keeps the job queued)."""
        from ..printing import print_images

        node = self._printer_node()
        return print_images(self.profile, node, [Path(p) for p in paths], local_ae=self.ae_title, data=self.data,
                            on_message=on_message, dimse_timeout=min(60.0, self.max_wait))

    def print_jobs(self) -> tuple[list[Any], list[Any]]:
        """The print queue's jobs and cameras (``PrintJob``, ``CameraState``)."""
        if not (self.data / "print_jobs.sqlite").exists():
            return [], []
        from ..printing import PrintQueue

        with PrintQueue(self.data) as queue:
            return queue.jobs(), queue.cameras()

    def run_print_queue(self, *, on_message: Callable[[str, str, str], None] | None = None) -> int:
        """Print the queued jobs (cameras whose queue is not stopped); returns the jobs still queued."""
        from ..printing import PrintQueue, PrintRunner

        with PrintQueue(self.data) as queue:
            ids = [j.id for j in queue.jobs(["queued"])]
            if ids:
                with PrintRunner(queue, on_message=on_message, dimse_timeout=min(60.0, self.max_wait)) as runner:
                    runner.run(ids)
            return len(queue.jobs(["queued"]))

    def retry_print(self, job_id: int) -> int:
        """A failed (or cancelled) print job goes back to the queue from its first unprinted film."""
        from ..printing import PrintQueue

        with PrintQueue(self.data) as queue:
            return queue.retry(job_id)

    def cancel_print(self, job_id: int) -> None:
        """Take a queued print job out of the queue (it ends failed, "cancelled by the operator";
        retry brings it back)."""
        from ..printing import PrintQueue

        with PrintQueue(self.data) as queue:
            job = queue.job(job_id)
            if job is None:
                raise UsageError(f"no print job {job_id}")
            if job.state != "queued":
                raise UsageError(f"print job {job_id} is {job.state}: only a queued job can be cancelled")
            queue.finish(job_id, "failed", "cancelled by the operator")

    def resume_printer(self) -> str:
        """Resume the camera's stopped print queue (as ``vscanner printer resume --no-run``)."""
        from ..printing import PrintQueue

        node = self._printer_node()
        with PrintQueue(self.data) as queue:
            queue.set_queue_state(str(node), "running")
        return str(node)

    # --- burn ---------------------------------------------------------------------------------

    def queue_burn(self, paths: Any, label: str) -> BurnJob:
        """A disc to burn with *paths*; :meth:`run_burn` burns it."""
        if "FSC" not in self.profile.media.roles:
            raise UsageError(f"{self.profile.id} creates no media (its statement has no FSC role)")
        with self._burn_lock:
            job = BurnJob(len(self._burns) + 1, label, tuple(Path(p) for p in paths))
            self._burns.append(job)
        return dataclasses.replace(job)

    def record_burn(self, label: str, result: Any, instances: int) -> BurnJob:
        """Add a disc burned elsewhere (the exam's burn step) to the burn jobs."""
        with self._burn_lock:
            job = BurnJob(len(self._burns) + 1, label, (), "burned", "done", instances, instances,
                          str(result.iso), result.media_profile)
            self._burns.append(job)
        return dataclasses.replace(job)

    def burn_jobs(self) -> list[BurnJob]:
        with self._burn_lock:
            return [dataclasses.replace(j) for j in self._burns]

    def _burn_job(self, job_id: int) -> BurnJob:
        for j in self._burns:
            if j.id == job_id:
                return j
        raise UsageError(f"no burn job {job_id}")

    def run_burn(self, job_id: int, *, on_progress: Callable[[BurnJob], None] | None = None) -> BurnJob:
        """Burn job *job_id* (blocking; one disc at a time): on the burner, a blank CD put in
        when it holds none or a closed one; without a burner an ISO image in ``<data>/media/``."""
        from ..media import burn

        with self._burn_lock:
            job = self._burn_job(job_id)
            if job.state != "queued":
                return dataclasses.replace(job)
        burner = getattr(self.hospital, "burner", None)
        with self._burner_busy:
            with self._burn_lock:
                if job.state != "queued":   # cancelled while it waited for the drive
                    return dataclasses.replace(job)
                job.state, job.error, job.stage, job.done, job.total = "burning", "", "", 0, 0
            out = None
            try:
                if burner is not None:
                    disc = burner.disc
                    if burner.state in ("empty", "ejected") or disc is None or disc.closed:
                        if burner.state == "loaded":
                            burner.eject()
                        burner.load_disc("CD")
                else:
                    name = re.sub(r"[^A-Za-z0-9]+", "_", job.label).strip("_") or f"DISC{job.id}"
                    out = self.data / "media" / f"{name}_{job.id}.iso"

                def progress(stage: str, done: int, total: int) -> None:
                    job.stage, job.done, job.total = stage, done, total
                    if on_progress is not None:
                        on_progress(dataclasses.replace(job))

                result = burn(self.profile, list(job.paths), burner=burner, out=out, progress=progress)
            except VScannerError as exc:
                with self._burn_lock:
                    job.state, job.error = "failed", exc.message + (f" ({exc.hint})" if exc.hint else "")
            else:
                with self._burn_lock:
                    job.state, job.iso, job.media_profile = "burned", str(result.iso), result.media_profile
            return dataclasses.replace(job)

    def retry_burn(self, job_id: int) -> BurnJob:
        with self._burn_lock:
            job = self._burn_job(job_id)
            if job.state not in ("failed", "cancelled"):
                raise UsageError(f"burn job {job_id} is {job.state}: only a failed or cancelled one is retried")
            if not job.paths:
                raise UsageError(f"burn job {job_id} was the exam's disc", "burn the study again from the Browser")
            job.state, job.error = "queued", ""
            return dataclasses.replace(job)

    def cancel_burn(self, job_id: int) -> BurnJob:
        with self._burn_lock:
            job = self._burn_job(job_id)
            if job.state != "queued":
                raise UsageError(f"burn job {job_id} is {job.state}: only a queued one can be cancelled")
            job.state = "cancelled"
            return dataclasses.replace(job)

    # --- liveness of the nodes, the camera's status line ----------------------------------------

    def check_node(self, node: Node) -> NodeCheck:
        """C-ECHO *node*; a film camera is asked for its Printer status instead (N-GET), since
        a Print SCP need not offer Verification (the embedded camera does not)."""
        t = time.monotonic()
        if "printer" in node.roles:
            if not self.profile.print.scu:
                return NodeCheck(True, f"not checked: {self.profile.id} prints nothing")
            from ..net.print_scu import PrintSession

            with PrintSession(self.profile, node, self.ae_title, dimse_timeout=min(10.0, self.max_wait)) as ps:
                status, info, _ = ps.printer_status()
            ms = (time.monotonic() - t) * 1000
            return NodeCheck(True, f"N-GET Printer {status} {info} in {ms:.0f} ms")
        r = self.echo(node)
        return NodeCheck(r.ok, f"C-ECHO 0x{r.status:04X} in {r.elapsed * 1000:.0f} ms")

    def status_line(self) -> tuple[str, str, str] | None:
        """(line, printer status, info) read with ``STATUS?`` on the embedded camera's serial
        status line (``camera://<AE>``); None without one."""
        printer = getattr(self.hospital, "printer", None)
        if printer is None:
            return None
        from devices.serial_status import CameraStatusClient

        spec = f"camera://{printer.ae_title}"
        with CameraStatusClient(spec) as line:
            status, info = line.query(timeout=min(2.0, self.max_wait))
        return spec, status, info


def thumbnail(ds: Any, size: int = 32) -> Any:
    """A grey ``uint8`` image of at most *size* x *size* of *ds* (middle frame; block means;
    window 1st-99th percentile; MONOCHROME1 inverted), or None without pixels."""
    import numpy as np

    if "PixelData" not in ds:
        return None
    try:
        arr = np.asarray(ds.pixel_array, dtype=np.float32)
    except Exception:  # no decoder for the transfer syntax: no preview, the exam goes on
        return None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[frames // 2]
    if arr.ndim == 3:
        arr = arr.mean(axis=-1)
    if arr.ndim != 2:
        return None
    rows, cols = arr.shape
    step = max(1, -(-max(rows, cols) // size))
    r, c = rows // step * step, cols // step * step
    if not r or not c:
        return None
    arr = arr[:r, :c].reshape(r // step, step, c // step, step).mean(axis=(1, 3))
    lo, hi = np.percentile(arr, (1, 99))
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((arr - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out
