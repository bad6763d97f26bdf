"""The scanner console: a Textual app over a :class:`~appliance.tui.session.ConsoleSession`.

:func:`make_app` builds it with the session injected. Screens (one module each in
``screens/``), switched with the keys 1-5 or the command palette (ctrl+p):

- **Patient** - the worklist from the RIS (refresh ``r``, filter), Enter selects an entry;
- **Exam** - the product's protocols, start ``s`` / stop ``x`` the exam, its steps and progress;
- **Jobs** - the durable send queue: every instance with its state (refresh ``r``);
- **Devices** - network nodes with C-ECHO (``e``), the film camera's status with the product's
  message and symbol, the burner's drive state;
- **Log** - every event of the exam and the devices.

Blocking work (worklist query, exam, queue reads, echo) runs in thread workers; the core's
callbacks come back as messages through :class:`~appliance.tui.bridge.EventBridge`. The app
keeps what the screens show in :class:`ConsoleState`; the current screen re-renders from it
(``sync``) when a message changes it, any other screen when it is shown again.
"""

from __future__ import annotations

__all__ = ["VScannerApp", "ConsoleState", "make_app", "SCREENS_ORDER"]

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..errors import VScannerError
from ..workflow.exam import STEPS, TITLES
from ..workflow import events as ev
from .bridge import CoreEvent, DeviceChanged, EchoDone, EventBridge, ExamDone, JobsLoaded, WorklistLoaded, event_line
from .screens import DevicesScreen, ExamScreen, JobsScreen, LogScreen, PatientScreen
from .session import ConsoleSession

SCREENS_ORDER = ("patient", "exam", "jobs", "devices", "log")
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
    steps: dict[str, StepView] = field(default_factory=dict)
    exam_state: str = "idle"
    exam_running: bool = False
    exam_result: Any = None
    exam_error: str = ""
    progress: tuple[str, int, int, str] | None = None   # step, done, total, detail
    jobs: list[Any] = field(default_factory=list)
    jobs_error: str = ""
    jobs_loaded_at: float | None = None
    echo: dict[str, tuple[str, bool]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)       # the last MAX_LOG lines
    log_total: int = 0                                   # lines logged since the start

    def reset_steps(self) -> None:
        self.steps = {s: StepView(s, TITLES[s]) for s in STEPS}
        self.progress = None
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
    #protocols { width: 40; height: 1fr; border: round $primary; }
    #steps { height: 1fr; border: round $primary; }
    #progress { padding: 0 1; height: 1; }
    #nodes { height: auto; max-height: 12; border: round $primary; }
    #printer, #burner { border: round $primary; height: auto; padding: 0 1; }
    #log { height: 1fr; }
    """
    MODES = {
        "patient": PatientScreen,
        "exam": ExamScreen,
        "jobs": JobsScreen,
        "devices": DevicesScreen,
        "log": LogScreen,
    }
    DEFAULT_MODE = "patient"
    BINDINGS = [
        Binding("1", "show('patient')", "Patient"),
        Binding("2", "show('exam')", "Exam"),
        Binding("3", "show('jobs')", "Jobs"),
        Binding("4", "show('devices')", "Devices"),
        Binding("5", "show('log')", "Log"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, session: ConsoleSession, *, autoload: bool = True) -> None:
        super().__init__()
        self.session = session
        self.state = ConsoleState()
        self.state.reset_steps()
        self.bridge = EventBridge(self)
        self.autoload = autoload
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
        yield SystemCommand("Start exam", "start the exam of the selected worklist entry", self.start_exam)
        yield SystemCommand("Stop exam", "stop the running exam after its current step", self.stop_exam)
        yield SystemCommand("Refresh jobs", "read the durable send queue", self.refresh_jobs)
        yield SystemCommand("Echo all nodes", "C-ECHO every configured node", self.echo_all)

    def sync(self) -> None:
        """Re-render the current screen from the state."""
        screen = self.screen
        if hasattr(screen, "sync"):
            screen.sync()

    def log_line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.state.log.append(f"{stamp} {text}")
        self.state.log_total += 1
        del self.state.log[:-MAX_LOG]
        screen = self.screen if self.is_running else None
        if screen is not None and hasattr(screen, "append_log"):
            screen.append_log()

    # --- actions (the core API, in workers) ---------------------------------------------------

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

    def refresh_jobs(self) -> None:
        self._load_jobs()

    @work(thread=True, exclusive=True, group="jobs")
    def _load_jobs(self) -> None:
        try:
            items = self.session.job_items()
        except VScannerError as exc:
            self.bridge.post(JobsLoaded([], str(exc)))
        else:
            self.bridge.post(JobsLoaded(items))

    def select(self, item: Any) -> None:
        self.state.selected = item
        self.log_line(f"selected {item.patient_name} ({item.patient_id}), accession {item.accession_number}")
        self.sync()

    def choose_protocol(self, name: str | None) -> None:
        self.state.protocol = name

    def start_exam(self) -> None:
        st = self.state
        if st.exam_running:
            self.notify("an exam is running", severity="warning")
            return
        if st.selected is None:
            self.notify("select a worklist entry first (Patient, Enter)", severity="warning")
            return
        st.reset_steps()
        st.exam_running = True
        st.exam_state = "starting"
        self.log_line(f"start exam: {st.selected.patient_name}, protocol {st.protocol or '(as scheduled)'}")
        self.sync()
        self._run_exam(st.selected, st.protocol)

    @work(thread=True, group="exam")
    def _run_exam(self, item: Any, protocol: str | None) -> None:
        try:
            result = self.session.run_exam(item, protocol, on_event=self.bridge)
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

    def echo_all(self) -> None:
        for name in self.session.nodes():
            self.state.echo[name] = ("…", True)
        self.sync()
        self._echo_all()

    @work(thread=True, exclusive=True, group="echo")
    def _echo_all(self) -> None:
        for name, node in self.session.nodes().items():
            try:
                r = self.session.echo(node)
            except VScannerError as exc:
                self.bridge.post(EchoDone(name, f"failed: {exc.message}", False))
            else:
                self.bridge.post(EchoDone(name, f"0x{r.status:04X} in {r.elapsed * 1000:.0f} ms", r.ok))

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
        self.state.jobs, self.state.jobs_error = message.items, message.error
        self.state.jobs_loaded_at = time.time()
        self.sync()

    @on(EchoDone)
    def _echo_done(self, message: EchoDone) -> None:
        self.state.echo[message.name] = (message.text, message.ok)
        self.log_line(f"C-ECHO {message.name}: {message.text}")
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
            self.notify(f"exam {r.outcome}: {len(r.sent)} sent, {len(r.committed)} committed",
                        severity="information" if r.ok else "warning")
        self.refresh_jobs()
        self.refresh_worklist()
        self.sync()

    @on(DeviceChanged)
    def _device_changed(self, message: DeviceChanged) -> None:
        if message.device == "printer":
            p = self.session.printer_state()
            text = f"camera {p.printer_status} {p.info}".rstrip()
            if p.message:
                text += f": {p.message} ({p.symbol})"
                self.notify(p.message, title="printer",
                            severity="error" if p.reaction == "queue_stopped" else "warning")
            self.log_line(text)
        elif message.text.startswith("state"):
            self.log_line(f"burner {message.text}")
        self.sync()


def make_app(session: ConsoleSession, *, autoload: bool = True) -> VScannerApp:
    """The console app for *session* (the factory the CLI and the tests use)."""
    return VScannerApp(session, autoload=autoload)
