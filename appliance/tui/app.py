"""The scanner console: a Textual app over a :class:`~appliance.tui.session.ConsoleSession`.

:func:`make_app` builds it with the session injected. Screens (one module each in
``screens/``), switched with the keys 1-6 or the command palette (ctrl+p):

- **Patient** - the worklist from the RIS (refresh ``r``, filter ``/``), Enter selects an entry;
  ``n`` registers an unscheduled patient (embedded RIS);
- **Exam** - the product's protocols with their editable parameters (TR/TE/TI/flip, kVp/mAs/
  kernel, dose/uptake: Enter on a parameter edits it, ``z`` resets), start ``s`` / stop ``x``,
  the steps with progress and a live preview of the slices as they are stored;
- **Browser** - the local store as patient / study / series with counts; send ``s``, print
  ``p``, burn ``b`` the highlighted node;
- **Jobs** - the send and commitment queue, the print queue (with the camera's queue state and
  message) and the burn jobs, with progress bars; retry ``t``, cancel ``c``, resume the camera
  queue ``u``;
- **Devices** - network nodes with C-ECHO (the film camera: Printer N-GET) ``e``, the film
  camera's status with the product's message and symbol, its serial status line ``l``, the
  burner's drive state;
- **Log** - every event of the exam, the queues and the devices.

Blocking work (worklist query, exam, sends, prints, burns, queue reads, echo) runs in thread
workers; the core's callbacks come back as messages through
:class:`~appliance.tui.bridge.EventBridge`. The app keeps what the screens show in
:class:`ConsoleState`; the current screen re-renders from it (``sync``) when a message changes
it, any other screen when it is shown again.
"""

from __future__ import annotations

__all__ = ["VScannerApp", "ConsoleState", "make_app", "SCREENS_ORDER"]

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..errors import VScannerError
from ..workflow.exam import STEPS, TITLES
from ..workflow import events as ev
from .bridge import (ActionDone, BrowserLoaded, CoreEvent, DeviceChanged, EchoDone, EventBridge, ExamDone,
                     JobsChanged, JobsLoaded, PreviewReady, StatusLineRead, WorklistLoaded, event_line)
from .screens import BrowserScreen, DevicesScreen, ExamScreen, JobsScreen, LogScreen, PatientScreen
from .session import ConsoleSession

SCREENS_ORDER = ("patient", "exam", "browser", "jobs", "devices", "log")
MAX_LOG = 2000


@dataclass
class StepView:
    name: str
    title: str
    status: str = "pending"
    duration: float | None = None
    counts: str = ""
    message: str = ""


@dataclass
class ConsoleState:
    """What the screens show; changed only in the app's thread."""

    worklist: list[Any] | None = None        # WorklistItem, None until loaded
    worklist_error: str = ""
    worklist_loading: bool = False
    selected: Any = None                     # the WorklistItem chosen for the next exam
    protocol: str | None = None              # None: as the worklist item asks
    edited: dict[str, Any] = field(default_factory=dict)   # protocol name -> Protocol with the operator's values
    steps: dict[str, StepView] = field(default_factory=dict)
    exam_state: str = "idle"
    exam_running: bool = False
    exam_result: Any = None
    exam_error: str = ""
    progress: tuple[str, int, int, str] | None = None   # step, done, total, detail
    preview: tuple[Any, str] | None = None               # grey image, caption
    browser: list[Any] | None = None                     # PatientNode, None until loaded
    browser_error: str = ""
    send_jobs: list[Any] = field(default_factory=list)
    print_jobs: list[Any] = field(default_factory=list)
    cameras: list[Any] = field(default_factory=list)
    burn_jobs: list[Any] = field(default_factory=list)
    jobs_error: str = ""
    jobs_loaded_at: float | None = None
    busy: dict[str, str] = field(default_factory=dict)   # action kind -> what runs
    echo: dict[str, tuple[str, bool]] = field(default_factory=dict)
    status_line: tuple[str, bool] | None = None
    log: list[str] = field(default_factory=list)       # the last MAX_LOG lines
    log_total: int = 0                                   # lines logged since the start

    def reset_steps(self) -> None:
        self.steps = {s: StepView(s, TITLES[s]) for s in STEPS}
        self.progress = None
        self.preview = None
        self.exam_result = None
        self.exam_error = ""


class VScannerApp(App):
    """The console. Build it with :func:`make_app`."""

    TITLE = "vscanner"
    CSS = """
    Screen { layout: vertical; }
    .title { text-style: bold; padding: 0 1; background: $boost; width: 100%; }
    .status { padding: 0 1; height: auto; }
    .error { color: $error; padding: 0 1; }
    DataTable { height: 1fr; }
    #filter { margin: 0 1; }
    #exam-body { height: 1fr; }
    #exam-left { width: 44; height: 1fr; }
    #protocols { height: 8; border: round $primary; }
    #params { height: 1fr; border: round $primary; }
    #param-edit { height: 3; }
    #steps { height: 14; border: round $primary; }
    #progress { padding: 0 1; height: 1; }
    #preview-row { height: 1fr; }
    #preview { width: 36; height: 1fr; border: round $primary; padding: 0 1; }
    #preview-info { height: 1fr; padding: 0 1; }
    #store { height: 1fr; border: round $primary; }
    #send, #print, #burn { height: 1fr; border: round $primary; }
    #nodes { height: auto; max-height: 12; border: round $primary; }
    #printer, #serial, #burner { border: round $primary; height: auto; padding: 0 1; }
    #log { height: 1fr; }
    RegisterScreen { align: center middle; }
    #register { width: 64; height: auto; border: round $primary; padding: 0 1; background: $surface; }
    """
    MODES = {
        "patient": PatientScreen,
        "exam": ExamScreen,
        "browser": BrowserScreen,
        "jobs": JobsScreen,
        "devices": DevicesScreen,
        "log": LogScreen,
    }
    DEFAULT_MODE = "patient"
    BINDINGS = [
        Binding("1", "show('patient')", "Patient"),
        Binding("2", "show('exam')", "Exam"),
        Binding("3", "show('browser')", "Browser"),
        Binding("4", "show('jobs')", "Jobs"),
        Binding("5", "show('devices')", "Devices"),
        Binding("6", "show('log')", "Log"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: ConsoleSession, *, autoload: bool = True,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.session = session
        self.state = ConsoleState()
        self.state.reset_steps()
        self.bridge = EventBridge(self)
        self.autoload = autoload
        self.clock = clock or time.time
        self._unwatch: Any = None
        self.title = f"vscanner · {session.product}"
        where = "embedded hospital" if session.embedded_hospital else (session.site.source or "site configuration")
        self.sub_title = f"AE {session.ae_title} · {session.profile.id} · {where}"

    # --- life cycle --------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._unwatch = self.session.watch_devices(self.bridge.device)
        self.log_line(f"console {self.session.ae_title} ({self.session.profile.id}), site: "
                      + ", ".join(f"{n} {node}" for n, node in self.session.nodes().items()))
        if self.autoload:
            self.refresh_worklist()
            self.refresh_jobs()
            self.refresh_browser()

    def on_unmount(self) -> None:
        self.bridge.close()
        if self._unwatch is not None:
            self._unwatch()
        self.session.cancel_exam()

    # --- navigation and commands ---------------------------------------------------------------

    def action_show(self, mode: str) -> None:
        self.switch_mode(mode)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode in SCREENS_ORDER:
            yield SystemCommand(f"Show {mode.title()}", f"switch to the {mode} screen",
                                lambda m=mode: self.action_show(m))
        yield SystemCommand("Refresh worklist", "query the RIS for today's scheduled steps", self.refresh_worklist)
        yield SystemCommand("Register patient", "register an unscheduled patient (Patient screen, n)",
                            lambda: self._on_screen("patient", "action_register"))
        yield SystemCommand("Start exam", "start the exam of the selected worklist entry", self.start_exam)
        yield SystemCommand("Stop exam", "stop the running exam after its current step", self.stop_exam)
        yield SystemCommand("Reset parameters", "the protocol's own TR/TE/TI/flip, kVp/mAs/kernel, dose/uptake",
                            self.reset_parameters)
        yield SystemCommand("Refresh browser", "read the local store again", self.refresh_browser)
        yield SystemCommand("Send selection", "send the highlighted patient, study or series (Browser, s)",
                            lambda: self._on_screen("browser", "action_send"))
        yield SystemCommand("Print selection", "print the highlighted patient, study or series (Browser, p)",
                            lambda: self._on_screen("browser", "action_print"))
        yield SystemCommand("Burn selection", "burn the highlighted patient, study or series (Browser, b)",
                            lambda: self._on_screen("browser", "action_burn"))
        yield SystemCommand("Refresh jobs", "read the send, print and burn queues", self.refresh_jobs)
        yield SystemCommand("Retry job", "retry the highlighted job (Jobs, t)", lambda: self._on_screen("jobs", "action_retry"))
        yield SystemCommand("Cancel job", "cancel the highlighted job (Jobs, c)",
                            lambda: self._on_screen("jobs", "action_cancel"))
        yield SystemCommand("Resume camera queue", "resume the film camera's stopped print queue and print",
                            self.resume_printer)
        yield SystemCommand("Echo all nodes", "C-ECHO every node (the film camera: Printer N-GET)", self.echo_all)
        yield SystemCommand("Read status line", "ask the film camera's serial status line (STATUS?)",
                            self.read_status_line)

    def _on_screen(self, mode: str, action: str) -> None:
        """Run a screen's action from the palette: on that screen (shown first)."""
        if self.current_mode != mode:
            self.switch_mode(mode)
        self.call_after_refresh(lambda: getattr(self.screen, action)())

    def sync(self) -> None:
        """Re-render the current screen from the state."""
        screen = self.screen
        if hasattr(screen, "sync"):
            screen.sync()

    def stamp(self, at: float | None = None) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.clock() if at is None else at))

    def log_line(self, text: str) -> None:
        self.state.log.append(f"{self.stamp()} {text}")
        self.state.log_total += 1
        del self.state.log[:-MAX_LOG]
        screen = self.screen if self.is_running else None
        if screen is not None and hasattr(screen, "append_log"):
            screen.append_log()

    # --- patient ---------------------------------------------------------------------------------

    def refresh_worklist(self) -> None:
        self.state.worklist_loading = True
        self._load_worklist()

    @work(thread=True, exclusive=True, group="worklist")
    def _load_worklist(self) -> None:
        try:
            items = self.session.worklist()
        except VScannerError as exc:
            self.bridge.post(WorklistLoaded(None, str(exc)))
        else:
            self.bridge.post(WorklistLoaded(items))

    def select(self, item: Any) -> None:
        self.state.selected = item
        self.log_line(f"selected {item.patient_name} ({item.patient_id}), accession {item.accession_number}")
        self.sync()

    def register_patient(self, name: str, patient_id: str, birth_date: str, sex: str, procedure: str) -> None:
        """Register an unscheduled patient (worker): the embedded RIS schedules a step for them now."""
        self._register_worker(name, patient_id, birth_date, sex, procedure)

    @work(thread=True, group="register")
    def _register_worker(self, name: str, patient_id: str, birth_date: str, sex: str, procedure: str) -> None:
        try:
            item = self.session.register_patient(name, patient_id, birth_date, sex, procedure)
        except VScannerError as exc:
            self.bridge.post(ActionDone("register", str(exc), False))
            return
        self.bridge.post(ActionDone("register", f"registered {item['name']} ({item['id']}), accession "
                                                f"{item['accession']}: scheduled now", True))

    # --- exam --------------------------------------------------------------------------------

    def choose_protocol(self, name: str | None) -> None:
        self.state.protocol = name
        self.sync()

    def current_protocol(self) -> Any:
        """The chosen protocol as it will be acquired (the operator's values), None: as scheduled."""
        name = self.state.protocol
        if not name:
            return None
        return self.state.edited.get(name) or self.session.protocol(name)

    def set_parameter(self, key: str, text: str) -> bool:
        protocol = self.current_protocol()
        if protocol is None:
            self.notify("choose a protocol first", severity="warning")
            return False
        try:
            edited = self.session.edit_parameter(protocol, key, text)
        except VScannerError as exc:
            self.notify(str(exc), title="parameter", severity="error")
            self.log_line(f"parameter refused: {exc.message}")
            return False
        self.state.edited[protocol.name] = edited
        changed = [p for p in self.session.parameters(edited) if p.key == key]
        if changed:
            p = changed[0]
            self.log_line(f"{protocol.name}: {p.series_description} {p.label} = {p.text} {p.unit}".rstrip())
        self.sync()
        return True

    def reset_parameters(self) -> None:
        name = self.state.protocol
        if name and self.state.edited.pop(name, None) is not None:
            self.log_line(f"{name}: the protocol's own parameters")
        self.sync()

    def start_exam(self) -> None:
        st = self.state
        if st.exam_running:
            self.notify("an exam is running", severity="warning")
            return
        if st.selected is None:
            self.notify("select a worklist entry first (Patient, Enter)", severity="warning")
            return
        if st.busy:
            self.notify(f"wait for the {', '.join(st.busy)} to end", severity="warning")
            return
        st.reset_steps()
        st.exam_running = True
        st.exam_state = "starting"
        protocol = self.current_protocol()
        edits = ""
        if protocol is not None and protocol.name in st.edited:
            changed = [p for p in self.session.parameters(protocol) if p.edited]
            edits = "; " + ", ".join(f"{p.series_description} {p.label} {p.text}" for p in changed) if changed else ""
        self.log_line(f"start exam: {st.selected.patient_name}, protocol "
                      f"{protocol.name if protocol is not None else '(as scheduled)'}{edits}")
        self.sync()
        self._run_exam(st.selected, protocol)

    def _exam_event(self, event: object) -> None:
        """The exam's callback (its thread): the event, and the stored slice as a preview."""
        self.bridge(event)
        if isinstance(event, ev.StepProgress) and event.step == "store" and event.done:
            shown = self.session.preview(event.done - 1)
            if shown is not None:
                self.bridge.post(PreviewReady(shown[0], shown[1], event.done, event.total))

    @work(thread=True, group="exam")
    def _run_exam(self, item: Any, protocol: Any) -> None:
        try:
            result = self.session.run_exam(item, protocol, on_event=self._exam_event)
        except VScannerError as exc:
            self.bridge.post(ExamDone(None, str(exc)))
        except Exception as exc:  # a bug must show on the console, not kill the worker silently
            self.bridge.post(ExamDone(None, f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self.bridge.post(ExamDone(result))

    def stop_exam(self) -> None:
        if self.session.cancel_exam():
            self.log_line("stop requested: the exam stops after its current step")
        else:
            self.notify("no exam is running")

    # --- browser: send, print, burn (the same core calls as vscanner send / print / burn) ---------

    def refresh_browser(self) -> None:
        if self.state.exam_running:
            return  # the exam writes the store; read it when the exam has ended
        self._load_browser()

    @work(thread=True, exclusive=True, group="browser")
    def _load_browser(self) -> None:
        try:
            patients = self.session.browse()
        except VScannerError as exc:
            self.bridge.post(BrowserLoaded(None, str(exc)))
        else:
            self.bridge.post(BrowserLoaded(patients))

    def _may_act(self, kind: str) -> bool:
        if self.state.exam_running:
            self.notify(f"an exam is running: {kind} when it has ended", severity="warning")
            return False
        if kind in self.state.busy:
            self.notify(f"{self.state.busy[kind]} is running", severity="warning")
            return False
        return True

    def send_paths(self, paths: Any, label: str) -> None:
        if not self._may_act("send"):
            return
        self.state.busy["send"] = f"send {label}"
        self.log_line(f"send {label}: {len(paths)} instance(s) to the archive")
        self.sync()
        self._send(tuple(paths), label)

    @work(thread=True, group="send")
    def _send(self, paths: tuple[Any, ...], label: str) -> None:
        def on_event(e: object) -> None:
            self.bridge.post(JobsChanged())

        try:
            job = self.session.send(paths, on_event=on_event)
        except VScannerError as exc:
            self.bridge.post(ActionDone("send", f"send {label}: {exc}", False))
        else:
            c = job.counts
            text = (f"send {label}: job {job.id} {job.state} - {c.get('sent', 0) + c.get('committed', 0)} sent, "
                    f"{c.get('committed', 0)} committed" + (f", {c['failed']} failed" if c.get("failed") else ""))
            self.bridge.post(ActionDone("send", text, job.state in ("sent", "committed")))

    def print_paths(self, paths: Any, label: str) -> None:
        if not self._may_act("print"):
            return
        self.state.busy["print"] = f"print {label}"
        self.log_line(f"print {label}: {len(paths)} image(s)")
        self.sync()
        self._print_worker(tuple(paths), label)

    def _print_message(self, destination: str, text: str, reaction: str) -> None:
        self.bridge.post(ActionDone("print-message", f"{destination}: {text}", reaction in ("", "idle")))

    @work(thread=True, group="print")
    def _print_worker(self, paths: tuple[Any, ...], label: str) -> None:
        try:
            r = self.session.print_images(paths, on_message=self._print_message)
        except VScannerError as exc:
            self.bridge.post(ActionDone("print", f"print {label}: {exc}", False))
        else:
            if r.ok:
                text = f"print {label}: job {r.job_id} printed, {r.films} film(s)"
            else:
                text = (f"print {label}: job {r.job_id} {r.state}" + (" - the camera's queue is stopped"
                                                                       if r.queue_stopped else "")
                        + (f" ({r.error})" if r.error else ""))
            self.bridge.post(ActionDone("print", text, r.ok))

    def burn_paths(self, paths: Any, label: str) -> None:
        try:
            job = self.session.queue_burn(paths, label)
        except VScannerError as exc:
            self.notify(str(exc), severity="error")
            return
        self.log_line(f"burn {label}: disc {job.id} queued, {len(paths)} instance(s)")
        self.refresh_jobs()
        self._burn(job.id, label)

    @work(thread=True, group="burn")
    def _burn(self, job_id: int, label: str) -> None:
        def on_progress(job: Any) -> None:
            self.bridge.post(JobsChanged())

        try:
            job = self.session.run_burn(job_id, on_progress=on_progress)
        except VScannerError as exc:
            self.bridge.post(ActionDone("burn", f"burn {label}: {exc}", False))
            return
        if job.state == "burned":
            self.bridge.post(ActionDone("burn", f"burn {label}: disc {job.id} burned ({job.media_profile}) -> {job.iso}"))
        elif job.state == "failed":
            self.bridge.post(ActionDone("burn", f"burn {label}: disc {job.id} failed: {job.error}", False))
        else:
            self.bridge.post(ActionDone("burn", f"burn {label}: disc {job.id} {job.state}", True))

    # --- jobs ------------------------------------------------------------------------------------

    def refresh_jobs(self) -> None:
        self._load_jobs()

    @work(thread=True, exclusive=True, group="jobs")
    def _load_jobs(self) -> None:
        try:
            send = self.session.send_jobs()
            prints, cameras = self.session.print_jobs()
            burns = self.session.burn_jobs()
        except VScannerError as exc:
            self.bridge.post(JobsLoaded([], [], [], [], str(exc)))
        else:
            self.bridge.post(JobsLoaded(send, prints, cameras, burns))

    def retry_job(self, kind: str, job_id: int) -> None:
        if kind == "burn":
            try:
                self.session.retry_burn(job_id)
            except VScannerError as exc:
                self.notify(str(exc), severity="warning")
                return
            self.log_line(f"burn job {job_id}: queued again")
            self._burn(job_id, f"disc {job_id}")
            self.refresh_jobs()
            return
        if not self._may_act(kind):
            return
        self.state.busy[kind] = f"retry {kind} job {job_id}"
        self.sync()
        self._retry(kind, job_id)

    @work(thread=True, group="retry")
    def _retry(self, kind: str, job_id: int) -> None:
        try:
            if kind == "send":
                n = self.session.retry_send(job_id)
                self.session.run_send(job_id, on_event=lambda e: self.bridge.post(JobsChanged()))
                job = self.session.send_job(job_id)
                state = job.state if job is not None else "gone"
                self.bridge.post(ActionDone("send", f"send job {job_id}: {n} item(s) retried, now {state}",
                                            state in ("sent", "committed")))
            else:
                n = self.session.retry_print(job_id)
                left = self.session.run_print_queue(on_message=self._print_message)
                self.bridge.post(ActionDone("print", f"print job {job_id}: {n} job(s) retried, {left} still queued",
                                            left == 0))
        except VScannerError as exc:
            self.bridge.post(ActionDone(kind, f"retry {kind} job {job_id}: {exc}", False))

    def cancel_job(self, kind: str, job_id: int) -> None:
        try:
            if kind == "send":
                n = self.session.cancel_send(job_id)
                text = f"send job {job_id}: {n} queued item(s) removed (the store keeps the images)"
            elif kind == "print":
                self.session.cancel_print(job_id)
                text = f"print job {job_id}: cancelled (t: retry brings it back)"
            else:
                self.session.cancel_burn(job_id)
                text = f"burn job {job_id}: cancelled"
        except VScannerError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.log_line(text)
        self.notify(text)
        self.refresh_jobs()

    def resume_printer(self) -> None:
        if not self._may_act("print"):
            return
        self.state.busy["print"] = "resume the camera's queue"
        self.sync()
        self._resume_printer()

    @work(thread=True, group="print")
    def _resume_printer(self) -> None:
        try:
            node = self.session.resume_printer()
            left = self.session.run_print_queue(on_message=self._print_message)
        except VScannerError as exc:
            self.bridge.post(ActionDone("print", f"resume: {exc}", False))
        else:
            self.bridge.post(ActionDone("print", f"print queue for {node} resumed; {left} job(s) still queued",
                                        left == 0))

    # --- devices -----------------------------------------------------------------------------

    def echo_all(self) -> None:
        for name in self.session.nodes():
            self.state.echo[name] = ("…", True)
        self.sync()
        self._echo_all()

    @work(thread=True, exclusive=True, group="echo")
    def _echo_all(self) -> None:
        for name, node in self.session.nodes().items():
            try:
                r = self.session.check_node(node)
            except VScannerError as exc:
                self.bridge.post(EchoDone(name, f"failed: {exc.message}", False))
            else:
                self.bridge.post(EchoDone(name, r.text, r.ok))

    def read_status_line(self) -> None:
        self._read_status_line()

    @work(thread=True, exclusive=True, group="status-line")
    def _read_status_line(self) -> None:
        try:
            got = self.session.status_line()
        except VScannerError as exc:
            self.bridge.post(StatusLineRead(f"no answer: {exc.message}", False))
            return
        if got is None:
            self.bridge.post(StatusLineRead("no status line (the embedded camera has one: --embedded)", True))
        else:
            spec, status, info = got
            self.bridge.post(StatusLineRead(f"{spec}: STATUS {status} {info}", True))

    def set_printer_status(self, printer_status: str, info: str = "") -> None:
        """Inject a camera status (embedded film camera; training)."""
        self.session.set_printer_status(printer_status, info)

    # --- messages from the core ---------------------------------------------------------------

    @on(WorklistLoaded)
    def _worklist_loaded(self, message: WorklistLoaded) -> None:
        st = self.state
        st.worklist_loading = False
        if message.items is None:
            st.worklist_error = message.error
            self.log_line(f"worklist: {message.error}")
        else:
            st.worklist, st.worklist_error = message.items, ""
            self.log_line(f"worklist: {len(message.items)} scheduled step(s)")
        self.sync()

    @on(JobsLoaded)
    def _jobs_loaded(self, message: JobsLoaded) -> None:
        st = self.state
        st.send_jobs, st.print_jobs, st.cameras, st.burn_jobs = message.send, message.prints, message.cameras, \
            message.burns
        st.jobs_error = message.error
        st.jobs_loaded_at = self.clock()
        self.sync()

    @on(JobsChanged)
    def _jobs_changed(self) -> None:
        self.refresh_jobs()

    @on(BrowserLoaded)
    def _browser_loaded(self, message: BrowserLoaded) -> None:
        if message.patients is None:
            self.state.browser_error = message.error
        else:
            self.state.browser, self.state.browser_error = message.patients, ""
        self.sync()

    @on(ActionDone)
    def _action_done(self, message: ActionDone) -> None:
        if message.kind == "print-message":
            self.log_line(f"print {message.text}")
            self.notify(message.text, title="printer", severity="information" if message.ok else "warning")
            self.refresh_jobs()
            return
        self.state.busy.pop(message.kind, None)
        self.log_line(message.text)
        self.notify(message.text, severity="information" if message.ok else "error")
        if message.kind == "register":
            self.refresh_worklist()
        self.refresh_jobs()
        self.sync()

    @on(EchoDone)
    def _echo_done(self, message: EchoDone) -> None:
        self.state.echo[message.name] = (message.text, message.ok)
        self.log_line(f"{message.name}: {message.text}")
        self.sync()

    @on(StatusLineRead)
    def _status_line_read(self, message: StatusLineRead) -> None:
        self.state.status_line = (message.text, message.ok)
        self.log_line(f"status line {message.text}")
        self.sync()

    @on(PreviewReady)
    def _preview(self, message: PreviewReady) -> None:
        self.state.preview = (message.image, f"{message.caption}  ({message.done}/{message.total})")
        self.sync()

    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        e = message.event
        st = self.state
        if isinstance(e, ev.StepStarted):
            st.steps[e.step].status = "running"
            st.progress = (e.step, 0, 0, "")
        elif isinstance(e, ev.StepProgress):
            st.progress = (e.step, e.done, e.total, e.detail)
        elif isinstance(e, ev.StepFinished):
            v = st.steps[e.step]
            v.status, v.duration, v.message = e.status, e.duration, e.message
            v.counts = ", ".join(f"{n} {k}" for k, n in e.counts.items() if k != "bytes")
            if e.step in ("send", "commit"):
                self.refresh_jobs()
        elif isinstance(e, ev.StateChanged):
            st.exam_state = e.new
        elif isinstance(e, ev.Notice) and e.level != "info":
            self.notify(f"{e.step}: {e.message}", severity="warning" if e.level == "warning" else "error")
        if not isinstance(e, ev.StepProgress):
            self.log_line(event_line(e))
        self.sync()

    @on(ExamDone)
    def _exam_done(self, message: ExamDone) -> None:
        st = self.state
        st.exam_running = False
        st.exam_result, st.exam_error = message.result, message.error
        if message.error:
            st.exam_state = "not started"
            self.log_line(f"exam: {message.error}")
            self.notify(message.error, severity="error")
        else:
            r = message.result
            if r.burn_result is not None:
                self.session.record_burn(f"exam {r.patient.get('accession', '')}".strip(), r.burn_result,
                                         r.burn_result.instances)
            self.notify(f"exam {r.outcome}: {len(r.sent)} sent, {len(r.committed)} committed",
                        severity="information" if r.ok else "warning")
        self.refresh_jobs()
        self.refresh_worklist()
        self.refresh_browser()
        self.sync()

    @on(DeviceChanged)
    def _device_changed(self, message: DeviceChanged) -> None:
        if message.device == "printer":
            if not message.text.upper().startswith("STATUS"):
                return  # a print job's line (JOB ...): the Jobs screen shows the print queue
            p = self.session.printer_state()
            text = f"camera {p.printer_status} {p.info}".rstrip()
            if p.message:
                text += f": {p.message} ({p.symbol})"
                self.notify(p.message, title="printer",
                            severity="error" if p.reaction == "queue_stopped" else "warning")
            self.log_line(text)
            self.read_status_line()
        elif message.text.startswith("state"):
            self.log_line(f"burner {message.text}")
        self.sync()


def make_app(session: ConsoleSession, *, autoload: bool = True, clock: Callable[[], float] | None = None
             ) -> VScannerApp:
    """The console app for *session* (the factory the CLI and the tests use). *clock* gives the
    times the console shows (default ``time.time``; the snapshot tests fix it)."""
    return VScannerApp(session, autoload=autoload, clock=clock)
