"""Scripted exams for CI: timed faults in the embedded hospital, expected outcomes, reports.

A scenario is a TOML file (strictly checked like profiles: an unknown key is an error naming
the file and the key)::

    name = "PACS outage during the send"
    description = "The archive is down for 2 s when the send starts; every instance arrives."
    profile = "syngo-mr-xa11b"          # or profiles = [...]; `--profile` / `--all-profiles` override

    [exam]                              # appliance.workflow.ExamOptions (the site's settings)
    send_retries = 6                    # the site's retry configuration (the profiles say 0)
    retry_interval = 0.25

    [hospital]                          # devices.hospital.Hospital
    commit_delay = 0.2

    [[faults]]
    kind = "pacs_down"                  # pacs_down | printer_status | disc_full | mpps_reject | abort_mid_send
    at = "send"                         # "start" or a step name: the fault clock starts there
    after = 0.0                         # seconds after `at`
    duration = 2.0                      # how long it lasts (None: the rest of the exam)

    [expect]
    outcome = "completed"
    steps = { send = "ok", commit = "ok" }
    pacs_holds_all = true
    min_send_retries = 1

Fault kinds:

- ``pacs_down``: the PACS stops listening and aborts its associations; back after ``duration``.
- ``printer_status``: the camera reports ``printer_status`` / ``info`` (default FAILURE /
  FILM JAM) until ``duration`` ends.
- ``disc_full``: the blank disc in the burner has only ``capacity`` bytes (default 32 KiB).
- ``mpps_reject``: the RIS refuses MPPS ``operations`` (N-CREATE, N-SET) with ``status``.
- ``abort_mid_send``: the PACS aborts the association on the (``instances`` + 1)-th C-STORE.

Expectations (all optional): ``outcome``; ``steps`` (step -> status); ``pacs_holds_all``
(every acquired instance is in the archive); ``all_committed`` (and reported committed by the
archive); ``mpps_final`` (the RIS's state of the step); ``mpps_references_sent`` (the RIS's
Performed Series Sequence references exactly the instances sent); ``min_send_retries``;
``print_message`` (``"product"``: the product's own status-bar message for the injected
printer status, per its ``[print]`` table; or a text); ``print_queue_stopped`` (``"product"``,
``"yes"``, ``"no"``); ``print_step`` (``"product"``: failed when the product stops the queue
for that status, else ok); ``min_films`` (PNG films in the camera's tray); ``iso`` (an image was
burned, or none); ``nothing_lost`` (the scanner's store still holds every acquired instance and
the burner left no partial image). Each fault must also have been applied.

:func:`run_scenario` runs one profile and returns a :class:`ScenarioRun`; :func:`json_report`
and :func:`junit_report` write the results (JUnit: one test suite per run, one test case per
expectation).
"""

from __future__ import annotations

__all__ = [
    "Scenario",
    "FaultSpec",
    "Check",
    "ScenarioRun",
    "ScenarioError",
    "load_scenario",
    "find_scenario",
    "run_scenario",
    "json_report",
    "junit_report",
    "FAULT_KINDS",
    "builtin_scenario_dir",
]

import dataclasses
import json
import logging
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..errors import ConfigError, Problem, UsageError
from ..profile import build_table, schema_field
from . import events
from .exam import STEPS, Exam, ExamOptions, ExamResult

LOGGER = logging.getLogger(__name__)

FAULT_KINDS = ("pacs_down", "printer_status", "disc_full", "mpps_reject", "abort_mid_send")
STATUSES = ("ok", "failed", "skipped", "n/a", "not available")
OUTCOMES = ("completed", "completed_with_errors", "discontinued", "failed", "cancelled")


class ScenarioError(ConfigError):
    """A scenario file is missing or invalid (exit code 2)."""

    title = "invalid scenario"


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    kind: Literal[FAULT_KINDS] = schema_field()  # type: ignore[valid-type]
    at: str = schema_field("start")
    after: float = schema_field(0.0)
    duration: float | None = schema_field(None)
    printer_status: Literal["NORMAL", "WARNING", "FAILURE"] = schema_field("FAILURE")
    info: str = schema_field("FILM JAM")
    capacity: int = schema_field(32768)
    status: str = schema_field("0110", check="status")
    operations: tuple[Literal["N-CREATE", "N-SET"], ...] = schema_field(("N-CREATE",))
    instances: int = schema_field(2)


@dataclass(frozen=True, kw_only=True)
class ExamSettings:
    protocol: str | None = schema_field(None)
    full_size: bool = schema_field(False)
    seed: int = schema_field(0)
    time_scale: float = schema_field(0.001)
    send_retries: int | None = schema_field(None)
    retry_interval: float | None = schema_field(None)
    commit_wait: float | None = schema_field(None)
    max_wait: float = schema_field(60.0)
    discontinue: bool = schema_field(False)
    auto_print: bool = schema_field(True)
    burn: bool = schema_field(True)
    media_kind: Literal["CD", "DVD", "BD"] = schema_field("CD")


@dataclass(frozen=True, kw_only=True)
class HospitalSettings:
    commit_delay: float = schema_field(0.2)
    schedule: int = schema_field(6)
    locale: Literal["de", "en", "ja"] | None = schema_field(None)
    seed: int = schema_field(0)
    disc_capacity: int | None = schema_field(None)


@dataclass(frozen=True, kw_only=True)
class Expectations:
    outcome: Literal[OUTCOMES] | None = schema_field(None)  # type: ignore[valid-type]
    steps: dict[str, str] | None = schema_field(None)
    pacs_holds_all: bool | None = schema_field(None)
    all_committed: bool | None = schema_field(None)
    mpps_final: Literal["COMPLETED", "DISCONTINUED", "IN PROGRESS", "none"] | None = schema_field(None)
    mpps_references_sent: bool | None = schema_field(None)
    min_send_retries: int | None = schema_field(None)
    print_message: str | None = schema_field(None)
    print_queue_stopped: Literal["product", "yes", "no"] | None = schema_field(None)
    print_step: Literal["product"] | None = schema_field(None)
    min_films: int | None = schema_field(None)
    iso: bool | None = schema_field(None)
    nothing_lost: bool | None = schema_field(None)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str = schema_field()
    description: str = schema_field("")
    profile: str | None = schema_field(None)
    profiles: tuple[str, ...] = schema_field(())
    exam: ExamSettings = schema_field(ExamSettings())
    hospital: HospitalSettings = schema_field(HospitalSettings())
    faults: tuple[FaultSpec, ...] = schema_field(())
    expect: Expectations = schema_field(Expectations())
    source: str = field(default="", compare=False, metadata={"internal": True})

    @property
    def default_profiles(self) -> list[str]:
        return list(self.profiles) or [self.profile or "syngo-mr-xa11b"]


def builtin_scenario_dir() -> Path:
    """``scenarios/`` of the source tree (the example scenarios)."""
    return Path(__file__).resolve().parents[2] / "scenarios"


def find_scenario(name: str) -> Path:
    """A scenario file by path, or by the name of an example in ``scenarios/``."""
    p = Path(name)
    if p.is_file():
        return p
    for candidate in (builtin_scenario_dir() / name, builtin_scenario_dir() / f"{name}.toml"):
        if candidate.is_file():
            return candidate
    known = sorted(f.stem for f in builtin_scenario_dir().glob("*.toml"))
    raise UsageError(f"scenario {name!r} not found",
                     "give a TOML file, or one of the examples: " + (", ".join(known) or "none"))


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; every problem is listed (:class:`ScenarioError`)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"scenario {path} not found", "give an existing TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(str(path), "-", f"not valid TOML: {exc}")]) from None
    scenario, problems = build_table(Scenario, data, str(path))
    if scenario is not None:
        problems = list(problems)
        for i, f in enumerate(scenario.faults):
            if f.at != "start" and f.at not in STEPS:
                problems.append(Problem(str(path), f"faults[{i}].at",
                                        f"{f.at!r} is not 'start' or a step ({', '.join(STEPS)})"))
        for step, status in (scenario.expect.steps or {}).items():
            if step not in STEPS:
                problems.append(Problem(str(path), f"expect.steps.{step}", f"not a step ({', '.join(STEPS)})"))
            if status not in STATUSES:
                problems.append(Problem(str(path), f"expect.steps.{step}",
                                        f"{status!r} is not a step status ({', '.join(STATUSES)})"))
    if problems or scenario is None:
        raise ScenarioError(problems, "fix the named keys (see appliance/workflow/scenario.py for every key)")
    return dataclasses.replace(scenario, source=str(path))


# --- running -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    expected: Any
    actual: Any
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expected": _jsonable(self.expected), "actual": _jsonable(self.actual),
                "passed": self.passed, "detail": self.detail}


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    return str(v)


@dataclass
class AppliedFault:
    spec: FaultSpec
    applied_at: float | None = None  # seconds since the exam started
    cleared_at: float | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = {k: _jsonable(v) for k, v in dataclasses.asdict(self.spec).items()}
        return {**d, "applied_at": None if self.applied_at is None else round(self.applied_at, 3),
                "cleared_at": None if self.cleared_at is None else round(self.cleared_at, 3), "error": self.error}


@dataclass
class ScenarioRun:
    scenario: Scenario
    profile: str
    result: ExamResult | None
    checks: list[Check]
    faults: list[AppliedFault]
    duration: float
    error: str = ""
    folder: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "file": self.scenario.source, "profile": self.profile,
                "passed": self.passed, "duration": round(self.duration, 3), "error": self.error,
                "folder": self.folder, "faults": [f.as_dict() for f in self.faults],
                "checks": [c.as_dict() for c in self.checks],
                "exam": self.result.as_dict() if self.result is not None else None}


class _FaultInjector:
    """Applies the scenario's faults to the hospital's devices on time (bounded timers)."""

    def __init__(self, hospital: Any, specs: tuple[FaultSpec, ...], notice: Callable[[str, str], None]) -> None:
        self.hospital = hospital
        self.faults = [AppliedFault(s) for s in specs]
        self.notice = notice
        self.t0 = time.monotonic()
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._trigger("start")

    def on_event(self, event: object) -> None:
        if isinstance(event, events.StepStarted):
            self._trigger(event.step)

    def _trigger(self, at: str) -> None:
        for f in self.faults:
            if f.spec.at == at and f.applied_at is None:
                if f.spec.after > 0:
                    self._later(f.spec.after, self._apply, f)
                else:
                    self._apply(f)

    def _later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._closed:
                return
            t = threading.Timer(delay, fn, args)
            t.daemon = True
            self._timers.append(t)
            t.start()

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _apply(self, f: AppliedFault) -> None:
        h, s = self.hospital, f.spec
        try:
            if s.kind == "pacs_down":
                h.pacs.go_down(s.duration)
                what = "PACS down" + (f" for {s.duration:g} s" if s.duration else "")
            elif s.kind == "abort_mid_send":
                h.pacs.abort_after(s.instances)
                what = f"PACS will abort the association after {s.instances} more instance(s)"
            elif s.kind == "mpps_reject":
                h.ris.reject_mpps(int(s.status, 16), s.operations)
                what = f"RIS refuses MPPS {'/'.join(s.operations)} with 0x{s.status}"
                if s.duration:
                    self._later(s.duration, self._clear, f)
            elif s.kind == "printer_status":
                if h.printer is None:
                    raise RuntimeError(h.missing.get("printer", "no printer in the hospital"))
                h.printer.set_status(s.printer_status, s.info)
                what = f"camera reports {s.printer_status} {s.info}"
                if s.duration:
                    self._later(s.duration, self._clear, f)
            elif s.kind == "disc_full":
                if h.burner is None:
                    raise RuntimeError(h.missing.get("burner", "no burner in the hospital"))
                if h.burner.state == "loaded":
                    h.burner.eject()
                h.burner.load_disc("CD", capacity_bytes=s.capacity)
                what = f"a CD with only {s.capacity} bytes free is in the burner"
            else:  # pragma: no cover - the loader checks the kinds
                raise RuntimeError(f"unknown fault {s.kind}")
        except Exception as exc:
            f.error = f"not applied: {exc}"
            self.notice(f"fault {s.kind} {f.error}", "error")
            return
        f.applied_at = self._now()
        self.notice(f"fault: {what}", "warning")

    def _clear(self, f: AppliedFault) -> None:
        h, s = self.hospital, f.spec
        try:
            if s.kind == "mpps_reject" and h.ris is not None:
                h.ris.accept_mpps()
            elif s.kind == "printer_status" and h.printer is not None:
                h.printer.set_status("NORMAL", "")
        except Exception as exc:
            LOGGER.warning("clearing fault %s failed: %s", s.kind, exc)
            return
        f.cleared_at = self._now()
        self.notice(f"fault cleared: {s.kind}", "info")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, []
        for t in timers:
            t.cancel()


def _exam_options(s: ExamSettings) -> ExamOptions:
    values = dataclasses.asdict(s)
    return ExamOptions(**values)


def run_scenario(scenario: Scenario, profile: str, *, folder: str | Path | None = None,
                 on_event: Callable[[object], None] | None = None, full_size: bool | None = None) -> ScenarioRun:
    """Start the embedded hospital for *profile*, apply the faults, run one exam, check.

    *folder* keeps everything (stores, films, discs) there; default a temporary folder that is
    removed afterwards.
    """
    from devices.hospital import Hospital

    t0 = time.monotonic()
    hs = scenario.hospital
    settings = scenario.exam if full_size is None else dataclasses.replace(scenario.exam, full_size=full_size)
    run = ScenarioRun(scenario, profile, None, [], [], 0.0)
    hospital = Hospital(profile, folder, commit_delay=hs.commit_delay, schedule=hs.schedule, locale=hs.locale,
                        seed=hs.seed, disc_capacity=hs.disc_capacity)
    run.folder = str(hospital.folder) if folder is not None else ""
    out = on_event or (lambda e: None)
    injector: _FaultInjector | None = None
    try:
        hospital.start()
        holder: dict[str, Exam] = {}

        def notice(message: str, level: str) -> None:
            ev = events.Notice("scenario", level, message)
            exam = holder.get("exam")
            if exam is not None:
                exam.result.notices.append(("scenario", level, message))
            out(ev)

        injector = _FaultInjector(hospital, scenario.faults, notice)

        def on(ev: object) -> None:
            injector.on_event(ev)  # type: ignore[union-attr]
            out(ev)

        exam = Exam(hospital.profile, hospital.site, options=_exam_options(settings), on_event=on,
                    burner=hospital.burner)
        holder["exam"] = exam
        injector.start()
        result = exam.run()
        run.result = result
        injector.close()
        run.faults = injector.faults
        run.checks = _check(scenario, hospital, result, injector.faults)
    except Exception as exc:  # the scenario could not run: report it, do not crash the whole report
        LOGGER.exception("scenario %s on %s could not run", scenario.name, profile)
        run.error = f"{type(exc).__name__}: {exc}"
        if injector is not None:
            run.faults = injector.faults
    finally:
        if injector is not None:
            injector.close()
        hospital.stop()
        run.duration = time.monotonic() - t0
    return run


def _product_reaction(profile: Any, faults: list[AppliedFault]) -> Any:
    from ..printing.status import react

    for f in faults:
        if f.spec.kind == "printer_status":
            return react(profile.print, f.spec.printer_status, f.spec.info)
    return None


def _check(scenario: Scenario, h: Any, r: ExamResult, faults: list[AppliedFault]) -> list[Check]:
    e = scenario.expect
    checks: list[Check] = []

    def add(name: str, expected: Any, actual: Any, passed: bool | None = None, detail: str = "") -> None:
        checks.append(Check(name, expected, actual, (expected == actual) if passed is None else passed, detail))

    for f in faults:
        add(f"fault {f.spec.kind} applied", True, f.applied_at is not None, detail=f.error)
    if e.outcome is not None:
        add("outcome", e.outcome, r.outcome)
    for step, status in (e.steps or {}).items():
        add(f"step {step}", status, r.step(step).status, detail=r.step(step).message)
    acquired = set(r.acquired)
    if e.pacs_holds_all is not None:
        held = h.pacs.instances() if h.pacs is not None else set()
        ok = bool(acquired) and acquired <= held
        add("PACS holds every acquired instance", e.pacs_holds_all, ok,
            detail=f"{len(acquired & held)} of {len(acquired)} in the archive")
    if e.all_committed is not None:
        deadline = time.monotonic() + 5.0  # the PACS records the report's response just after sending it
        while h.pacs is not None and not acquired <= h.pacs.committed and time.monotonic() < deadline:
            time.sleep(0.05)
        by_pacs = h.pacs.committed if h.pacs is not None else set()
        ok = bool(acquired) and acquired <= set(r.committed) and acquired <= by_pacs
        add("every instance committed", e.all_committed, ok,
            detail=f"scanner: {len(set(r.committed) & acquired)} of {len(acquired)} committed; archive reported "
                   f"{len(by_pacs & acquired)}")
    step = h.ris.steps.get(r.mpps_uid) if (h.ris is not None and r.mpps_uid) else None
    if e.mpps_final is not None:
        actual = step.status if step is not None else "none"
        add("MPPS state at the RIS", e.mpps_final, actual)
    if e.mpps_references_sent is not None:
        refs = {u for _c, u in step.referenced_instances} if step is not None else set()
        ok = bool(refs) and refs == set(r.sent)
        add("MPPS references exactly the instances sent", e.mpps_references_sent, ok,
            detail=f"{len(refs)} referenced, {len(r.sent)} sent")
    if e.min_send_retries is not None:
        add(f"at least {e.min_send_retries} send retr{'y' if e.min_send_retries == 1 else 'ies'}", True,
            r.send_retries >= e.min_send_retries, detail=f"{r.send_retries} retries")
    reaction = None
    if e.print_message is not None or e.print_queue_stopped == "product" or e.print_step == "product":
        try:
            reaction = _product_reaction(h.profile, faults)
        except ImportError as exc:
            add("print reaction", "available", f"not available ({exc})", False)
    pr = r.print_result
    messages = list(pr.messages) if pr is not None else []
    if e.print_message is not None:
        wanted = reaction.message if (e.print_message == "product" and reaction is not None) else e.print_message
        add("print message", wanted, messages, passed=bool(wanted) and any(wanted in m for m in messages))
    if e.print_queue_stopped is not None:
        wanted_stop = (reaction.queue_stopped if reaction is not None else None) if e.print_queue_stopped == "product" \
            else e.print_queue_stopped == "yes"
        add("print queue stopped", wanted_stop, getattr(pr, "queue_stopped", None))
    if e.print_step == "product":
        wanted = "failed" if reaction is not None and reaction.queue_stopped else "ok"
        add("step print (product's reaction)", wanted, r.step("print").status, detail=r.step("print").message)
    if e.min_films is not None:
        films = [p for p in (h.printer.films if h.printer is not None else []) if Path(p).is_file()]
        add(f"at least {e.min_films} film PNG(s)", True, len(films) >= e.min_films, detail=f"{len(films)} film(s)")
    if e.iso is not None:
        burned = [p for p in (h.burner.output_folder.glob("*.iso") if h.burner is not None else [])]
        exists = bool(r.iso) and Path(r.iso).is_file()
        add("ISO image burned", e.iso, exists if e.iso else bool(burned),
            detail=", ".join(p.name for p in burned) or "none")
    if e.nothing_lost is not None:
        from ..store import Store

        with Store(h.scanner_data) as store:
            have = {rec.sop_instance_uid for rec in store.instances() if Path(rec.path).is_file()}
        partial = []
        if h.burner is not None:
            partial = [p.name for p in h.burner.output_folder.iterdir()
                       if p.name.startswith(".") or p.suffix in (".part", ".tmp")]
        ok = bool(acquired) and acquired <= have and not partial
        add("nothing lost", e.nothing_lost, ok,
            detail=f"scanner store holds {len(acquired & have)} of {len(acquired)}; partial files: "
                   f"{', '.join(partial) or 'none'}")
    return checks


# --- reports -----------------------------------------------------------------------------------


def json_report(runs: list[ScenarioRun]) -> str:
    """Every run with its faults, checks and exam (steps, counts, notices)."""
    return json.dumps({"passed": all(r.passed for r in runs), "runs": [r.as_dict() for r in runs]},
                      indent=2, ensure_ascii=False)


def junit_report(runs: list[ScenarioRun]) -> str:
    """JUnit XML: a test suite per run (scenario x profile), a test case per expectation."""
    root = ET.Element("testsuites", name="vscanner scenarios", tests=str(sum(len(r.checks) or 1 for r in runs)),
                      failures=str(sum(1 for r in runs for c in r.checks if not c.passed)),
                      errors=str(sum(1 for r in runs if r.error)),
                      time=f"{sum(r.duration for r in runs):.3f}")
    for run in runs:
        slug = "".join(ch if ch.isalnum() else "_" for ch in run.scenario.name.lower()).strip("_")
        suite = ET.SubElement(root, "testsuite", name=f"{run.scenario.name} [{run.profile}]",
                              tests=str(len(run.checks) or 1),
                              failures=str(sum(1 for c in run.checks if not c.passed)),
                              errors="1" if run.error else "0", time=f"{run.duration:.3f}")
        classname = f"vscanner.scenario.{slug}.{run.profile}"
        if run.error:
            case = ET.SubElement(suite, "testcase", classname=classname, name="run", time=f"{run.duration:.3f}")
            ET.SubElement(case, "error", message=run.error[:200]).text = run.error
        for c in run.checks:
            case = ET.SubElement(suite, "testcase", classname=classname, name=c.name, time="0")
            if not c.passed:
                msg = f"expected {c.expected!r}, got {c.actual!r}"
                ET.SubElement(case, "failure", message=msg[:300]).text = f"{msg}\n{c.detail}".strip()
        out = ET.SubElement(suite, "system-out")
        out.text = run.result.table() if run.result is not None else run.error
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
