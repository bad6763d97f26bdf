"""One whole exam, as the products' statements describe it: a state machine with plain callbacks.

The steps, in order (:data:`STEPS`)::

    worklist -> select -> mpps_start -> acquire -> store -> send -> commit -> mpps_complete -> print -> burn

- **worklist**: Modality Worklist C-FIND to the ``worklist`` node with the product's keys
  (:func:`appliance.net.worklist.query_worklist`: own AE title, today, any modality).
- **select**: the scheduled step to perform: the one named by patient ID / accession number,
  else the earliest. The protocol is the one named by the step's Scheduled Protocol Code
  Sequence (code meaning = protocol name) or description, else the product's first.
- **mpps_start**: N-CREATE IN PROGRESS to the ``mpps`` node (the profile's create attributes).
  A refusal does not stop the exam: the images are still made and sent (the step fails).
- **acquire**: :func:`acquisition.acquire` with the worklist item and the MPPS SOP Instance UID;
  small matrices by default (:func:`small_limits`), full size with ``ExamOptions(full_size=True)``.
- **store**: every object into the local store (atomic, durable) in the data folder.
- **send**: through the durable queue (:mod:`appliance.jobs`) to the ``archive`` node, with the
  profile's association and failure rules; retries are the profile's unless the exam's options
  (the site's service configuration) say otherwise.
- **commit**: Storage Commitment of the sent instances, at the profile's time (``timing``,
  ``delay`` - multiplied by ``time_scale``), reports on the request association or a new one
  (``report_association``) on the scanner's port (``[local] port``).
- **mpps_complete**: N-SET COMPLETED (DISCONTINUED when the acquisition failed or the operator
  discontinues) with the Performed Series Sequence of the instances delivered to the archive,
  each retrievable there (Retrieve AE Title = the archive once committed).
- **print**: auto-print one film of the protocol's main series on the ``printer`` node
  (:func:`appliance.printing.print_images`), reacting to the camera as the statement says.
- **burn**: a CD for the patient (:func:`appliance.media.burn`) on a burner, or an ISO file.

Each step ends ``ok``, ``failed``, ``skipped`` (an earlier failure or a node that is not
configured), ``n/a`` (the product's statement has no such service) or ``not available`` (the
module that does it is not installed). :attr:`ExamResult.ok` is true only when every step is
``ok`` or ``n/a``. The exam's state (:attr:`Exam.state`) moves forward through the steps to one
of the final states ``done``, ``done_with_errors``, ``discontinued`` or ``failed``; every change is
published as a :class:`~appliance.workflow.events.StateChanged` event, and each step as
``StepStarted`` / ``StepProgress`` / ``StepFinished`` (:mod:`appliance.workflow.events`).

Product delays are real by default; ``time_scale`` multiplies them (the demo uses 0.001: a
"delayed" storage commitment of 600 s is asked for after 0.6 s). Time-outs are not scaled but
capped by ``max_wait``, and every wait of the exam is bounded by it.
"""

from __future__ import annotations

__all__ = [
    "Exam",
    "ExamOptions",
    "ExamResult",
    "StepResult",
    "STEPS",
    "TITLES",
    "FINAL_STATES",
    "small_limits",
    "DEMO_TIME_SCALE",
    "ExamError",
    "run_exam",
]

import dataclasses
import datetime as _dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import Node, SiteConfig
from ..errors import VScannerError
from ..profile import Profile
from . import events

LOGGER = logging.getLogger(__name__)

STEPS = ("worklist", "select", "mpps_start", "acquire", "store", "send", "commit", "mpps_complete", "print", "burn")
TITLES = {
    "worklist": "worklist query",
    "select": "select the scheduled step",
    "mpps_start": "MPPS N-CREATE IN PROGRESS",
    "acquire": "acquire the protocol's series",
    "store": "store locally",
    "send": "send to the archive",
    "commit": "storage commitment",
    "mpps_complete": "MPPS N-SET final state",
    "print": "print films",
    "burn": "burn a CD",
}
FINAL_STATES = ("done", "done_with_errors", "discontinued", "failed", "cancelled")
OK_STATUSES = ("ok", "n/a")
DEMO_TIME_SCALE = 0.001
_LOCALIZER = re.compile(r"localizer|localiser|topogram|scanogram|survey|scout|3-plane|tri-?pilot", re.I)


class ExamError(VScannerError):
    """The exam cannot start (no worklist node, a bad option ...)."""


def small_limits() -> Any:
    """The default caps of an exam's images: 64 x 64 matrices, at most 4 slices / 2 frames."""
    from acquisition.engine import Limits

    return Limits(max_matrix=64, max_slices=4, max_frames=2)


@dataclass(frozen=True)
class ExamOptions:
    """How to run one exam (defaults: the product's rules, real time, small images).

    Parameters
    ----------
    protocol : str or acquisition.protocols.Protocol, optional
        The product's protocol to run; default: the one the worklist item asks for. A
        ``Protocol`` value (one of the product's, its parameters edited by the operator) is
        acquired as given; its name must be one of the product's protocols.
    patient_id, accession_number : str, optional
        Which scheduled step to perform; default the earliest.
    full_size : bool
        Acquire at the protocol's matrices and slice counts (default: small, for speed).
    limits : acquisition.engine.Limits, optional
        Explicit caps (overrides *full_size*).
    seed : int
        Pixels depend on it.
    time_scale : float
        Multiplies the product's delays (storage commitment delay, retry interval).
    send_retries, retry_interval : optional
        The site's retry configuration for sending; default the profile's (``[storage_scu]``).
    commit_wait : float, optional
        How long to wait for the storage commitment report; default *max_wait*.
    max_wait : float
        Upper bound of every wait of the exam (seconds).
    discontinue : bool
        The operator discontinues after acquisition: MPPS DISCONTINUED.
    auto_print, burn : bool
        Print / burn at the end.
    film_size, display_format, copies : print settings (defaults: the product's).
    media_kind : str
        Disc put into the burner when it holds none (or a closed one): CD, DVD or BD.
    """

    protocol: Any = None
    patient_id: str | None = None
    accession_number: str | None = None
    full_size: bool = False
    limits: Any = None
    seed: int = 0
    time_scale: float = 1.0
    send_retries: int | None = None
    retry_interval: float | None = None
    commit_wait: float | None = None
    max_wait: float = 120.0
    discontinue: bool = False
    auto_print: bool = True
    burn: bool = True
    film_size: str | None = None
    display_format: str | None = None
    copies: int = 1
    media_kind: str = "CD"


@dataclass
class StepResult:
    name: str
    title: str
    status: str = "pending"
    duration: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    message: str = ""
    started_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "status": self.status, "duration": round(self.duration, 3),
                "counts": dict(self.counts), "message": self.message}


@dataclass
class ExamResult:
    """What one exam came to."""

    profile: str
    steps: list[StepResult]
    state: str = "idle"
    outcome: str = ""  # completed, completed_with_errors, discontinued, failed, cancelled
    patient: dict[str, str] = field(default_factory=dict)
    protocol: str = ""
    study_uid: str = ""
    mpps_uid: str | None = None
    mpps_final: str = ""
    mpps_referenced: list[str] = field(default_factory=list)
    acquired: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    send_retries: int = 0
    print_result: Any = None
    films: int = 0
    burn_result: Any = None
    iso: str = ""
    data: str = ""
    duration: float = 0.0
    notices: list[tuple[str, str, str]] = field(default_factory=list)  # (step, level, message)

    @property
    def ok(self) -> bool:
        """True when every step succeeded (``ok``, or ``n/a`` for the product)."""
        return all(s.status in OK_STATUSES for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def as_dict(self) -> dict[str, Any]:
        pr = self.print_result
        br = self.burn_result
        return {
            "profile": self.profile, "ok": self.ok, "state": self.state, "outcome": self.outcome,
            "duration": round(self.duration, 3), "patient": self.patient, "protocol": self.protocol,
            "study_uid": self.study_uid, "mpps_uid": self.mpps_uid, "mpps_final": self.mpps_final,
            "acquired": list(self.acquired), "sent": list(self.sent), "committed": list(self.committed),
            "mpps_referenced": list(self.mpps_referenced), "send_retries": self.send_retries,
            "films": self.films, "iso": self.iso, "data": self.data,
            "print": None if pr is None else {"ok": pr.ok, "films": pr.films, "status": pr.status,
                                              "status_info": getattr(pr, "status_info", ""),
                                              "reaction": getattr(pr, "reaction", ""),
                                              "queue_stopped": getattr(pr, "queue_stopped", False),
                                              "messages": list(pr.messages)},
            "burn": None if br is None else {"iso": str(br.iso), "instances": br.instances, "bytes": br.bytes,
                                             "media_profile": br.media_profile},
            "steps": [s.as_dict() for s in self.steps],
            "notices": [{"step": s, "level": lv, "message": m} for s, lv, m in self.notices],
        }

    def table(self) -> str:
        """The steps as a text table: status, duration, counts, message."""
        rows = [("step", "status", "duration", "counts", "message")]
        for s in self.steps:
            counts = format_counts(s.counts)
            rows.append((s.name, s.status, f"{s.duration:.2f} s" if s.started_at else "-", counts, s.message))
        rows.append(("total", self.outcome or self.state, f"{self.duration:.2f} s", "", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for i, r in enumerate(rows):
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3])]
            msg = r[4] if len(r[4]) <= 100 else r[4][:97] + "..."
            lines.append("  ".join(cells + [msg]).rstrip())
            if i == 0 or i == len(rows) - 2:
                lines.append("-" * min(120, sum(widths) + 8 + 20))
        return "\n".join(lines)


def format_counts(counts: dict[str, int]) -> str:
    """``4 series, 12 instances, 0.20 MB`` (bytes shown in MB)."""
    return ", ".join(f"{v / 1e6:.2f} MB" if k == "bytes" else f"{v} {k.replace('_', ' ')}" for k, v in counts.items())


def _first(site: SiteConfig, *roles: str) -> Node | None:
    for role in roles:
        nodes = site.nodes_with_role(role)
        if nodes:
            return nodes[0]
    return None


def _frames(ds: Any) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


class Exam:
    """One exam of *profile* at the site *site*.

    Parameters
    ----------
    profile : Profile
    site : SiteConfig
        ``[local]`` (AE title, the port for commitment reports, the data folder) and nodes
        with the roles ``worklist``, ``mpps``, ``archive`` (+ ``storage_commitment``) and
        ``printer``.
    options : ExamOptions
    on_event : callable, optional
        Receives the events of :mod:`appliance.workflow.events`.
    burner : devices.burner.Burner, optional
        The drive for the ``burn`` step; without one the ISO image is written to
        ``<data>/media/``.
    data : path, optional
        The scanner's data folder (store, send queue, print queue); default ``site.local.data``.
    """

    def __init__(self, profile: Profile, site: SiteConfig, *, options: ExamOptions | None = None,
                 on_event: Callable[[object], None] | None = None, burner: Any = None,
                 data: str | Path | None = None) -> None:
        self.profile = profile
        self.site = site
        self.options = options or ExamOptions()
        if self.options.time_scale < 0 or self.options.max_wait <= 0:
            raise ExamError("time_scale must be >= 0 and max_wait > 0",
                            "e.g. time_scale=0.001 for a fast simulated day, max_wait=60")
        self.on_event = on_event or (lambda e: None)
        self.burner = burner
        self.data = Path(data if data is not None else site.local.data)
        self.local_ae = site.local.ae_title
        self.state = "idle"
        self.result = ExamResult(profile.id, [StepResult(s, TITLES[s]) for s in STEPS], data=str(self.data))
        self._cancel = threading.Event()
        self._runner: Any = None
        self._store: Any = None
        self._queue: Any = None
        self._items: list[Any] = []
        self._item: Any = None
        self._protocol: str | None = None
        self._mpps_create: Any = None
        self._acquisition: Any = None
        self._records: list[Any] = []
        self._job_id: int | None = None
        self._acquired_ok = False
        self._last_retry_at: float | None = None

    # --- events and states -------------------------------------------------------------------

    def _emit(self, event: object) -> None:
        try:
            self.on_event(event)
        except Exception:  # a display or a scenario hook must not break the exam
            LOGGER.exception("exam event callback failed for %r", event)

    def _notice(self, step: str, message: str, level: str = "info") -> None:
        self.result.notices.append((step, level, message))
        getattr(LOGGER, "warning" if level != "info" else "info")("%s: %s", step, message)
        self._emit(events.Notice(step, level, message))

    def _enter(self, state: str) -> None:
        """Move forward: to a later step, or to a final state (never back)."""
        order = ("idle", *STEPS)
        if self.state in FINAL_STATES:
            raise RuntimeError(f"exam already ended ({self.state})")
        if state not in FINAL_STATES and order.index(state) <= order.index(self.state):
            raise RuntimeError(f"exam cannot go from {self.state} back to {state}")
        old, self.state = self.state, state
        self.result.state = state
        self._emit(events.StateChanged(old, state))

    @property
    def acquisition(self) -> Any:
        """The :class:`acquisition.engine.Acquisition` once the acquire step has run (else None)."""
        return self._acquisition

    def cancel(self) -> None:
        """Stop after the current step (sending stops after the instance in flight)."""
        self._cancel.set()
        runner = self._runner
        if runner is not None:
            runner.stop()

    def _scaled(self, seconds: float) -> float:
        return seconds * self.options.time_scale

    # --- running -----------------------------------------------------------------------------

    def run(self) -> ExamResult:
        """Run every step; returns the result (never raises for a failed step)."""
        t0 = time.monotonic()
        self.data.mkdir(parents=True, exist_ok=True)
        try:
            plan: list[tuple[str, Callable[[], tuple[str, dict[str, int], str]]]] = [
                ("worklist", self._worklist), ("select", self._select), ("mpps_start", self._mpps_start),
                ("acquire", self._acquire), ("store", self._store_step), ("send", self._send),
                ("commit", self._commit), ("mpps_complete", self._mpps_complete), ("print", self._print),
                ("burn", self._burn),
            ]
            for index, (name, fn) in enumerate(plan, start=1):
                why = self._blocked(name)
                if why:
                    off = name in ("print", "burn") and why.endswith(" is off")  # the operator's choice
                    self._finish_step(name, "n/a" if off else "skipped", 0.0, {}, why, started=False)
                    continue
                self._run_step(name, fn, index, len(plan))
        finally:
            self._close()
            self.result.duration = time.monotonic() - t0
            self._conclude()
            self._emit(events.ExamFinished(self.result))
        return self.result

    def _blocked(self, name: str) -> str:
        """Why *name* cannot run after what happened before ("" if it can)."""
        r = self.result
        if self._cancel.is_set() and name != "mpps_complete":
            return "cancelled by the operator"
        if name in ("select",) and r.step("worklist").status != "ok":
            return "no worklist"
        if name in ("mpps_start", "acquire") and r.step("select").status != "ok":
            return "no scheduled step selected"
        if name == "store" and not self._acquired_ok:
            return "nothing acquired"
        if name in ("send", "print", "burn") and r.step("store").status != "ok":
            return "nothing stored"
        if name == "commit" and r.step("send").status == "skipped":
            return "nothing sent"
        if name == "commit" and not self._sent_items():
            return "nothing sent"
        if name == "print" and not self.options.auto_print:
            return "auto-print is off"
        if name == "burn" and not self.options.burn:
            return "burning is off"
        if name == "mpps_complete" and not self.result.mpps_uid:
            return ("no performed procedure step to complete (N-CREATE failed)"
                    if r.step("mpps_start").status == "failed" else "no performed procedure step")
        return ""

    def _run_step(self, name: str, fn: Callable[[], tuple[str, dict[str, int], str]], index: int, total: int) -> None:
        step = self.result.step(name)
        self._enter(name)
        step.started_at = time.time()
        self._emit(events.StepStarted(name, TITLES[name], index, total))
        t = time.monotonic()
        try:
            status, counts, message = fn()
        except VScannerError as exc:
            status, counts, message = "failed", {}, exc.message + (f" ({exc.hint})" if exc.hint else "")
            LOGGER.warning("%s failed: %s", name, exc)
        except Exception as exc:  # a bug: say so, keep the exam's other steps going
            LOGGER.exception("%s failed with an internal error", name)
            status, counts, message = "failed", {}, f"internal error: {type(exc).__name__}: {exc}"
        self._finish_step(name, status, time.monotonic() - t, counts, message)

    def _finish_step(self, name: str, status: str, duration: float, counts: dict[str, int], message: str,
                     started: bool = True) -> None:
        step = self.result.step(name)
        step.status, step.duration, step.counts, step.message = status, duration, dict(counts), message
        if not started:
            step.started_at = None
        self._emit(events.StepFinished(name, status, duration, dict(counts), message))

    def _conclude(self) -> None:
        r = self.result
        if self._cancel.is_set():
            r.outcome, final = "cancelled", "cancelled"
        elif not self._acquired_ok:
            r.outcome, final = "failed", "failed"
        elif r.mpps_final == "DISCONTINUED":
            r.outcome, final = "discontinued", "discontinued"
        elif r.ok:
            r.outcome, final = "completed", "done"
        else:
            r.outcome, final = "completed_with_errors", "done_with_errors"
        if self.state not in FINAL_STATES:
            self._enter(final)

    def _close(self) -> None:
        for attr in ("_runner", "_queue", "_store"):
            obj = getattr(self, attr)
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    LOGGER.exception("closing %s failed", attr)
                setattr(self, attr, None)

    # --- steps -------------------------------------------------------------------------------

    def _worklist(self) -> tuple[str, dict[str, int], str]:
        from ..net.worklist import query_worklist

        if not self.profile.worklist.scu:
            raise ExamError(f"{self.profile.id} has no worklist SCU", "register the patient manually")
        node = _first(self.site, "worklist")
        if node is None:
            raise ExamError("no node with the role 'worklist' in the site configuration",
                            "add the RIS to [nodes] with roles = [\"worklist\", \"mpps\"]")
        items = query_worklist(self.profile, node, self.local_ae)
        self._items = items
        return "ok", {"items": len(items)}, f"{len(items)} scheduled step(s) for {self.local_ae} today from {node}"

    def _select(self) -> tuple[str, dict[str, int], str]:
        from acquisition import list_protocols

        items = list(self._items)
        o = self.options
        if o.patient_id:
            items = [i for i in items if i.patient_id == o.patient_id]
        if o.accession_number:
            items = [i for i in items if i.accession_number == o.accession_number]
        if not items:
            wanted = " ".join(f"{k}={v}" for k, v in (("patient ID", o.patient_id), ("accession", o.accession_number))
                              if v)
            raise ExamError(f"no scheduled step for {self.local_ae} today" + (f" with {wanted}" if wanted else ""),
                            "check the RIS schedule (vscanner worklist)")
        items.sort(key=lambda i: (i.scheduled_start or _dt.datetime.max, i.scheduled_step_id))
        item = items[0]
        self._item = item
        protocols = [p.name for p in list_protocols(self.profile)]
        how = "the product's first protocol"
        chosen = protocols[0] if protocols else None
        if o.protocol:
            wanted = o.protocol if isinstance(o.protocol, str) else o.protocol.name
            match = [p for p in protocols if p.lower() == wanted.lower()]
            if not match:
                raise ExamError(f"{self.profile.id} has no protocol {wanted!r}", "known: " + ", ".join(protocols))
            chosen, how = match[0], ("as asked" if isinstance(o.protocol, str)
                                     else "as asked, with the operator's parameters")
        else:
            codes = item.scheduled_step.get("ScheduledProtocolCodeSequence") or []
            meanings = [str(c.get("CodeMeaning", "")) for c in codes] + [item.scheduled_step_description]
            for text in meanings:
                match = [p for p in protocols if p.lower() == text.strip().lower()]
                if match:
                    chosen = match[0]
                    how = ("the Scheduled Protocol Code Sequence" if text != item.scheduled_step_description
                           else "the step description")
                    break
        self._protocol = chosen
        r = self.result
        r.protocol = chosen or ""
        r.study_uid = item.study_instance_uid
        r.patient = {"name": item.patient_name, "id": item.patient_id, "birth_date": item.birth_date,
                     "sex": item.sex, "accession": item.accession_number,
                     "procedure": item.requested_procedure_description, "step": item.scheduled_step_id}
        return "ok", {}, (f"{item.patient_name} ({item.patient_id}), accession {item.accession_number}, "
                          f"{item.requested_procedure_description or item.scheduled_step_description}; "
                          f"protocol {chosen!r} from {how}")

    def _mpps_start(self) -> tuple[str, dict[str, int], str]:
        from pydicom.uid import generate_uid

        from ..net import mpps

        if not self.profile.mpps.scu:
            return "n/a", {}, f"{self.profile.id} sends no MPPS"
        node = _first(self.site, "mpps")
        if node is None:
            return "skipped", {}, "no node with the role 'mpps' in the site configuration"
        uid = generate_uid()
        ds = mpps.build_create(self.profile, self.local_ae, self._item, station_name=self._station_name())
        self._mpps_create = ds
        mpps.create(self.profile, node, self.local_ae, ds, instance_uid=uid)
        self.result.mpps_uid = uid
        return "ok", {}, f"{uid} IN PROGRESS at {node}"

    def _station_name(self) -> str:
        try:
            from acquisition.protocols import product_data_for

            return product_data_for(self.profile.id, self.profile.source).header.station_name[:16]
        except Exception:
            return self.local_ae[:16]

    def _acquire(self) -> tuple[str, dict[str, int], str]:
        from acquisition import acquire
        from acquisition.engine import Limits

        o = self.options
        limits = o.limits if o.limits is not None else (Limits() if o.full_size else small_limits())

        def progress(done: int, total: int, message: str) -> None:
            self._emit(events.StepProgress("acquire", done, total, message))
            if self._cancel.is_set():
                raise ExamError("acquisition stopped by the operator")

        edited = o.protocol if o.protocol is not None and not isinstance(o.protocol, str) else None
        acq = acquire(self.profile, edited or self._protocol, worklist=self._item, seed=o.seed, limits=limits,
                      progress=progress, mpps_uid=self.result.mpps_uid)
        self._acquisition = acq
        self._acquired_ok = True
        datasets = acq.datasets
        self.result.acquired = [str(d.SOPInstanceUID) for d in datasets]
        size = "full size" if limits == Limits() else "small matrices"
        return "ok", {"series": len(acq.series), "instances": len(datasets)}, (
            f"{acq.protocol.name}: " + ", ".join(f"{s.spec.description} ({len(s.datasets)})" for s in acq.series)
            + f"; {size}")

    def _store_step(self) -> tuple[str, dict[str, int], str]:
        from ..store import Store

        self._store = Store(self.data, duplicates=self.profile.storage_scp.duplicates)
        total = len(self._acquisition.datasets)
        size = 0
        for n, ds in enumerate(self._acquisition.datasets, start=1):
            rec = self._store.add_dataset(ds, source_ae=self.local_ae).record
            self._records.append(rec)
            size += rec.size
            self._emit(events.StepProgress("store", n, total, str(ds.SOPInstanceUID)))
        return "ok", {"instances": len(self._records), "bytes": size}, f"{size / 1e6:.2f} MB in {self._store.root}"

    # --- send and commit ---------------------------------------------------------------------

    def _job_event(self, ev: object) -> None:
        from ..jobs import events as jev

        if isinstance(ev, jev.InstanceSent):
            self._emit(events.StepProgress("send", ev.done, ev.total, ev.sop_instance_uid))
        elif isinstance(ev, jev.InstanceFailed):
            if ev.retry_at is not None:
                # one retry round per failed association (every item of it gets the same time)
                if self._last_retry_at is None or abs(ev.retry_at - self._last_retry_at) > 0.05:
                    self._last_retry_at = ev.retry_at
                    self.result.send_retries += 1
                    wait = max(0.0, ev.retry_at - time.time())
                    self._notice("send", f"{ev.error}; retry {self.result.send_retries} in {wait:.2f} s", "warning")
            else:
                self._notice("send", f"{ev.sop_instance_uid} not sent: {ev.error}", "error")
                self._emit(events.StepProgress("send", ev.done, ev.total, ev.sop_instance_uid))
        elif isinstance(ev, jev.CommitmentRequested) and ev.status not in (None, 0x0000):
            self._notice("commit", f"N-ACTION for {ev.count} instance(s) refused with 0x{ev.status:04X}", "warning")
        elif isinstance(ev, jev.CommitmentReported):
            where = "the request association" if ev.same_association else "a new association"
            self._notice("commit", f"N-EVENT-REPORT on {where}: {ev.committed} committed, {ev.failed} failed")
        elif isinstance(ev, jev.CommitmentFailed):
            self._notice("commit", ev.error + (" (will retry)" if ev.will_retry else ""), "warning")

    def _new_runner(self) -> Any:
        from ..jobs import QueueRunner

        if self._runner is not None:
            self._runner.close()
        o = self.options
        commit_wait = o.commit_wait if o.commit_wait is not None else o.max_wait
        self._runner = QueueRunner(self._queue, on_event=self._job_event, listen_host=self.site.local.host,
                                   listen_port=self.site.local.port, commit_wait=min(commit_wait, o.max_wait),
                                   lock_timeout=min(30.0, o.max_wait))
        return self._runner

    def _run_bounded(self, runner: Any, step: str) -> bool:
        """Run the queue for this exam's job, stopping it after ``max_wait``; True if stopped."""
        stopped = threading.Event()

        def watchdog() -> None:
            stopped.set()
            runner.stop()

        timer = threading.Timer(self.options.max_wait, watchdog)
        timer.daemon = True
        timer.start()
        try:
            runner.run([self._job_id])
        finally:
            timer.cancel()
        if stopped.is_set():
            self._notice(step, f"stopped waiting after {self.options.max_wait:g} s (max_wait); what is left stays in "
                               "the durable queue (vscanner queue run)", "warning")
        return stopped.is_set()

    def _sent_items(self) -> list[Any]:
        if self._queue is None or self._job_id is None:
            return []
        return self._queue.items(self._job_id, states=("sent", "committed", "commit_failed"))

    def _send(self) -> tuple[str, dict[str, int], str]:
        from ..jobs import JobQueue
        from ..net.storage_scu import InstanceFile

        node = _first(self.site, "archive")
        if node is None:
            return "skipped", {}, "no node with the role 'archive' in the site configuration"
        p = self.profile
        o = self.options
        retries = p.storage_scu.retries if o.send_retries is None else o.send_retries
        if o.retry_interval is not None:
            interval = o.retry_interval
        else:
            from ..jobs.queue import DEFAULT_RETRY_INTERVAL

            interval = self._scaled(p.storage_scu.retry_interval or DEFAULT_RETRY_INTERVAL)
        self._queue = JobQueue(self.data)
        instances = [InstanceFile(r.path, r.sop_class_uid, r.sop_instance_uid, r.transfer_syntax_uid, r.size)
                     for r in self._records]
        res = self._queue.enqueue(instances, node, profile=p.source or p.id, calling_ae=self.local_ae,
                                  retries=retries, retry_interval=interval, commit=False)
        self._job_id = res.job_id
        if retries:
            self._notice("send", f"up to {retries} retr{'y' if retries == 1 else 'ies'} from {interval:g} s "
                                 "(doubling)")
        runner = self._new_runner()
        self._run_bounded(runner, "send")
        counts = self._queue.counts(res.job_id)
        sent = [i.sop_instance_uid for i in self._queue.items(res.job_id, states=("sent", "committed"))]
        self.result.sent = sent
        failed = counts["failed"]
        left = counts["queued"] + counts["sending"]
        out = {"sent": len(sent), "failed": failed}
        if left:
            out["still queued"] = left
        if self.result.send_retries:
            out["retries"] = self.result.send_retries
        if len(sent) == len(instances):
            return "ok", out, f"{len(sent)} instance(s) to {node}" + (
                f" after {self.result.send_retries} retr{'y' if self.result.send_retries == 1 else 'ies'}"
                if self.result.send_retries else "")
        errors = {i.last_error for i in self._queue.items(res.job_id, states=("failed", "queued"))}
        return "failed", out, f"{len(sent)} of {len(instances)} sent to {node}: " + "; ".join(sorted(errors))[:300]

    def _commit(self) -> tuple[str, dict[str, int], str]:
        p = self.profile
        sc = p.storage_commitment
        if not sc.scu:
            return "n/a", {}, f"{p.id} asks no storage commitment"
        node = _first(self.site, "archive")
        if node is None or "storage_commitment" not in node.roles:
            return "skipped", {}, "the archive node has no 'storage_commitment' role in the site configuration"
        if sc.timing == "delayed":
            product = sc.delay or 0.0
            delay = self._scaled(product)
            self._notice("commit", f"{p.id} asks {product:g} s after the send (timing delayed)"
                         + (f"; x{self.options.time_scale:g} -> {delay:.2f} s" if self.options.time_scale != 1 else ""))
        else:
            delay = 0.0
            if sc.timing == "manual":
                self._notice("commit", f"{p.id} asks when the operator says so (timing manual): asked now")
        assert self._queue is not None and self._job_id is not None
        self._queue.set_commit_due(self._job_id, at=time.time() + delay)
        runner = self._new_runner()
        self._run_bounded(runner, "commit")
        counts = self._queue.counts(self._job_id)
        committed = [i.sop_instance_uid for i in self._queue.items(self._job_id, states=("committed",))]
        self.result.committed = committed
        out = {"committed": len(committed), "commit failed": counts["commit_failed"]}
        sent = len(self.result.sent)
        if committed and len(committed) == sent:
            return "ok", out, f"{len(committed)} instance(s) committed by {node}"
        errors = {i.last_error for i in self._queue.items(self._job_id, states=("commit_failed", "sent"))}
        return "failed", out, f"{len(committed)} of {sent} committed: " + "; ".join(sorted(e for e in errors if e))[:300]

    # --- MPPS final state --------------------------------------------------------------------

    def _mpps_complete(self) -> tuple[str, dict[str, int], str]:
        from ..net import mpps

        node = _first(self.site, "mpps")
        assert node is not None
        p = self.profile
        final = mpps.DISCONTINUED if (self.options.discontinue or not self._acquired_ok or self._cancel.is_set()) \
            else mpps.COMPLETED
        if final not in p.mpps.final_states and p.mpps.final_states:
            final = p.mpps.final_states[0]
        series: list[Any] = []
        if self._store is not None and self.result.sent:
            archive = _first(self.site, "archive")
            retrieve = archive.ae_title if archive is not None and self.result.committed else ""
            series = mpps.performed_series_from_store(self._store, self.result.study_uid,
                                                      sop_instance_uids=self.result.sent, retrieve_ae_title=retrieve)
        charset = self._mpps_create.get("SpecificCharacterSet") if self._mpps_create is not None else None
        ds = mpps.build_set(p, final, series, character_set=charset)
        refs = [uid for s in series for _c, uid in (*s.images, *s.non_images)]
        self.result.mpps_final = final
        mpps.update(p, node, self.local_ae, self.result.mpps_uid, ds)
        self.result.mpps_referenced = refs
        missing = len(self.result.acquired) - len(refs) if self._acquired_ok else 0
        note = (f"; {missing} acquired instance(s) not referenced: not delivered to the archive" if missing > 0
                else "")
        if final == mpps.DISCONTINUED and not self.options.discontinue and not self._cancel.is_set():
            return "failed", {"series": len(series), "references": len(refs)}, f"DISCONTINUED at {node}" + note
        return "ok", {"series": len(series), "references": len(refs)}, f"{final} at {node}" + note

    # --- print and burn ----------------------------------------------------------------------

    def _print_paths(self) -> list[Path]:
        """One film's worth of images of the protocol's main (non-localizer) series."""
        from ..printing import composition

        layout = composition.parse_display_format(self.options.display_format or "STANDARD\\2,2")
        cells = max(1, int(layout.boxes))
        image_series = [s for s in self._acquisition.series
                        if s.datasets and "PixelData" in s.datasets[0] and "Image Storage" in
                        str(getattr(s.datasets[0].SOPClassUID, "name", ""))]
        main = [s for s in image_series if not _LOCALIZER.search(s.spec.description)] or image_series
        paths: list[Path] = []
        frames = 0
        by_uid = {r.sop_instance_uid: r.path for r in self._records}
        for s in main:
            for ds in s.datasets:
                if frames >= cells:
                    return paths
                paths.append(Path(by_uid[str(ds.SOPInstanceUID)]))
                frames += _frames(ds)
        return paths

    def _print(self) -> tuple[str, dict[str, int], str]:
        p = self.profile
        if not p.print.scu:
            return "n/a", {}, f"{p.id} prints nothing"
        node = _first(self.site, "printer")
        if node is None:
            return "skipped", {}, "no node with the role 'printer' in the site configuration"
        try:
            from ..printing import print_images
        except ImportError as exc:
            return "not available", {}, f"not available: appliance.printing cannot be imported ({exc})"
        paths = self._print_paths()
        if not paths:
            return "skipped", {}, "no images to print"

        def on_message(destination: str, text: str, reaction: str) -> None:
            level = {"idle": "info", "interact": "warning", "queue_stopped": "error"}.get(reaction, "info")
            self._notice("print", f"{destination}: {text}", level)

        result = print_images(p, node, paths, local_ae=self.local_ae, film_size=self.options.film_size,
                              display_format=self.options.display_format, copies=self.options.copies, data=self.data,
                              on_message=on_message, dimse_timeout=min(60.0, self.options.max_wait))
        self.result.print_result = result
        self.result.films = int(result.films)
        counts = {"films": int(result.films), "images": len(paths)}
        if result.ok:
            return "ok", counts, f"{result.films} film(s) on {node}" + (
                f" ({result.messages[-1]})" if result.messages else "")
        text = "; ".join(dict.fromkeys(m for m in result.messages if m)) or result.error or "not printed"
        state = " - the camera's print queue is stopped" if getattr(result, "queue_stopped", False) else ""
        return "failed", counts, f"{text}{state} (job {getattr(result, 'state', '') or 'not printed'})"

    def _burn(self) -> tuple[str, dict[str, int], str]:
        p = self.profile
        if "FSC" not in p.media.roles:
            return "n/a", {}, f"{p.id} creates no media"
        try:
            from ..media import burn
        except ImportError as exc:
            return "not available", {}, f"not available: appliance.media cannot be imported ({exc})"
        paths = [Path(r.path) for r in self._records]
        burner = self.burner
        out = None
        if burner is not None:
            disc = getattr(burner, "disc", None)
            if burner.state in ("empty", "ejected") or disc is None or getattr(disc, "closed", False):
                if burner.state == "loaded":
                    burner.eject()
                burner.load_disc(self.options.media_kind)
                self._notice("burn", f"blank {self.options.media_kind} inserted")
        else:
            name = re.sub(r"[^A-Za-z0-9]+", "_", self.result.patient.get("accession") or "EXAM").strip("_") or "EXAM"
            out = self.data / "media" / f"{name}.iso"

        def progress(stage: str, done: int, total: int) -> None:
            self._emit(events.StepProgress("burn", done, total, stage))

        result = burn(p, paths, burner=burner, out=out, progress=progress)
        self.result.burn_result = result
        self.result.iso = str(result.iso)
        return "ok", {"instances": result.instances, "bytes": result.bytes}, (
            f"{result.media_profile} -> {result.iso}")


def run_exam(hospital: Any, *, on_event: Callable[[object], None] | None = None, **options: Any) -> ExamResult:
    """Run one exam against a running :class:`devices.hospital.Hospital` (or anything with
    ``profile``, ``site`` and ``burner`` attributes). *options* are :class:`ExamOptions` fields;
    ``time_scale`` defaults to :data:`DEMO_TIME_SCALE` (the product's delays 1000x faster)."""
    options.setdefault("time_scale", DEMO_TIME_SCALE)
    known = {f.name for f in dataclasses.fields(ExamOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ExamError(f"unknown exam option(s): {', '.join(unknown)}", "known: " + ", ".join(sorted(known)))
    exam = Exam(hospital.profile, hospital.site, options=ExamOptions(**options), on_event=on_event,
                burner=getattr(hospital, "burner", None))
    return exam.run()
