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
- :meth:`watch_devices` - printer and burner changes to a callback.

This module may grow into the ``appliance/core.py`` facade of docs/architecture.md; the TUI
only depends on the methods above.
"""

from __future__ import annotations

__all__ = ["ConsoleSession", "PrinterState", "BurnerState", "ProtocolInfo"]

import logging
import threading
from dataclasses import dataclass
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
