"""The print queue runner: prints queued film jobs and reacts to the camera as the statement says.

For each camera (destination) with queued jobs, oldest first:

1. a stopped queue (``camera.queue_state = 'stopped'``) prints nothing until the user resumes
   it (:meth:`PrintQueue.set_queue_state` / ``vscanner printer resume``);
2. one association (:class:`~appliance.net.print_scu.PrintSession`), reused for all jobs of the
   camera (and, when serving, kept ``association_hold`` seconds for new jobs);
3. the printer status: N-GET before printing (``status_check_before_print``), and the camera
   status line when one is configured; :func:`~appliance.printing.status.react` gives the
   statement's message and reaction; *queue_stopped* stops the camera's queue, the job stays
   queued; ``print_only_when_normal`` keeps it waiting while the camera is not NORMAL;
4. the job's films in film sessions (one per copy when the product sends *n* copies as *n*
   jobs); each printed film is counted at once; N-EVENT-REPORTs (Printer, Print Job) are
   evaluated the same way while printing; a *queue_stopped* reaction stops after the current
   film and the rest of the job stays queued;
5. a response that is neither Success nor Warning fails the job ("Aborted"; the association
   is aborted or released per ``on_failure_status``); a lost association leaves it queued.

:meth:`PrintRunner.serve` adds the idle behaviour: a Printer N-GET every
``status_poll_interval`` seconds per camera, and the association hold.
"""

from __future__ import annotations

__all__ = ["PrintRunner"]

import logging
import threading
import time
from typing import Any, Callable, Sequence

from ..config import Node
from ..errors import NetworkError, VScannerError
from ..net.print_scu import PrinterEvent, PrintSession, PrintSettings, PrintStatusError
from ..profile import Profile, find_profile
from .queue import PrintJob, PrintQueue
from .status import Reaction, may_print, react, worst

LOGGER = logging.getLogger(__name__)


class PrintRunner:
    """Runs a :class:`PrintQueue`.

    Parameters
    ----------
    queue : PrintQueue
    profile_dirs : extra folders to find the jobs' profiles in.
    on_message : callable(destination, text, reaction), optional
        Called for every message shown to the user (the statement's status-bar messages and
        the runner's own notices).
    status_lines : mapping destination or AE title -> status line spec, optional
        Camera status lines (:mod:`devices.serial_status`) read as an additional status source.
    dimse_timeout : float, optional
    """

    def __init__(self, queue: PrintQueue, *, profile_dirs: Sequence[str] = (),
                 on_message: Callable[[str, str, str], None] | None = None,
                 status_lines: dict[str, Any] | None = None, dimse_timeout: float | None = None) -> None:
        self.queue = queue
        self.profile_dirs = list(profile_dirs)
        self.on_message = on_message or (lambda d, t, r: None)
        self.status_lines = dict(status_lines or {})
        self.dimse_timeout = dimse_timeout
        self._stop = threading.Event()
        self._stop_dest: dict[str, bool] = {}
        self._held: dict[tuple[str, bool], tuple[PrintSession, float]] = {}
        self._last_poll: dict[str, float] = {}
        self._last_message: dict[str, str] = {}
        self.last_reaction: dict[str, Reaction] = {}

    # --- control ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        for session, _ in list(self._held.values()):
            session.close()
        self._held.clear()

    def __enter__(self) -> "PrintRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _profile(self, name: str) -> Profile:
        return find_profile(name, self.profile_dirs)

    # --- messages and reactions ----------------------------------------------------------------------

    def _message(self, dest: str, text: str, reaction: str = "", job_id: int | None = None,
                 dedupe: bool = False) -> None:
        if not text:
            return
        if dedupe and self._last_message.get(dest) == text:
            return
        self._last_message[dest] = text
        self.queue.add_message(dest, text, job_id=job_id, reaction=reaction)
        LOGGER.info("print %s: %s", dest, text)
        self.on_message(dest, text, reaction)

    def apply(self, dest: str, reaction: Reaction, job_id: int | None = None, *, execution: bool = False) -> None:
        """Record *reaction* for the camera: status, message, and a stopped queue if so.

        An execution status (Print Job event) keeps the camera's last Printer Status / Info.
        """
        self.last_reaction[dest] = reaction
        if execution:
            cam = self.queue.camera(dest)
            if reaction.reaction != "idle" or reaction.queue_stopped:
                self.queue.record_status(dest, cam.printer_status, cam.status_info, reaction.reaction,
                                         reaction.message, stop=reaction.queue_stopped)
        else:
            self.queue.record_status(dest, reaction.printer_status, reaction.info, reaction.reaction,
                                     reaction.message, stop=reaction.queue_stopped)
        if reaction.queue_stopped:
            self._stop_dest[dest] = True
        self._message(dest, reaction.message, reaction.reaction, job_id, dedupe=True)

    def _line_reaction(self, dest: str, node: Node, pp: Any) -> Reaction | None:
        spec = self.status_lines.get(dest) or self.status_lines.get(node.ae_title) or self.status_lines.get(node.name)
        if spec is None:
            return None
        from devices.serial_status import CameraStatusClient, StatusLineError

        try:
            with CameraStatusClient(spec) as line:
                status, info = line.query()
        except (StatusLineError, OSError) as exc:
            self._message(dest, f"camera status line not readable: {exc}", "interact", dedupe=True)
            return None
        LOGGER.info("camera status line of %s: %s %s", dest, status, info)
        return react(pp, status, info)

    def _on_event(self, dest: str, pp: Any, job_ref: list[int | None]) -> Callable[[PrinterEvent], None]:
        def handle(ev: PrinterEvent) -> None:
            if ev.kind == "printer":
                r = react(pp, ev.status, ev.info)
            else:
                status = "FAILURE" if ev.status == "FAILURE" else ("NORMAL" if ev.info in ("", "NORMAL") else "WARNING")
                r = react(pp, status, ev.info, kind="execution")
                self.apply(dest, r, job_ref[0], execution=True)
                return
            self.apply(dest, r, job_ref[0])
        return handle

    # --- running ------------------------------------------------------------------------------------

    def run(self, job_ids: Sequence[int] | None = None, *, hold: bool = False) -> None:
        """Print every queued job (or those of *job_ids*), camera by camera."""
        self.queue.recover()
        jobs = [j for j in self.queue.jobs(["queued"]) if job_ids is None or j.id in job_ids]
        groups: dict[tuple[str, bool], list[PrintJob]] = {}
        for j in jobs:
            groups.setdefault((j.destination, j.color), []).append(j)
        for (dest, color), group in groups.items():
            if self._stop.is_set():
                break
            self._run_camera(dest, color, group, hold=hold)

    def _open(self, key: tuple[str, bool], profile: Profile, job: PrintJob, dest: str,
              job_ref: list[int | None]) -> PrintSession:
        held = self._held.pop(key, None)
        if held is not None and held[0].is_open:
            held[0].on_event = self._on_event(dest, profile.print, job_ref)
            return held[0]
        if held is not None:
            held[0].close()
        session = PrintSession(profile, job.node, job.calling_ae, color=job.color,
                               on_event=self._on_event(dest, profile.print, job_ref),
                               dimse_timeout=self.dimse_timeout)
        session.open()
        return session

    def _run_camera(self, dest: str, color: bool, jobs: list[PrintJob], *, hold: bool) -> None:
        first = jobs[0]
        profile = self._profile(first.profile)
        pp = profile.print
        if self.queue.camera(dest).stopped:
            cam = self.queue.camera(dest)
            self._message(dest, f"the print queue for {dest} is stopped"
                          + (f" ({cam.message})" if cam.message else "")
                          + "; resume it with `vscanner printer resume` when the camera is ready",
                          "queue_stopped", dedupe=True)
            return
        self._stop_dest[dest] = False
        job_ref: list[int | None] = [None]
        key = (dest, color)
        try:
            session = self._open(key, profile, first, dest, job_ref)
        except NetworkError as exc:
            for j in jobs:
                self.queue.requeue(j.id, str(exc.message))
            self._message(dest, f"camera not reachable: {exc.message}", "interact", dedupe=True)
            return
        keep = False
        try:
            if pp.status_check_before_print:
                status, info, _ = session.printer_status()
                reaction = react(pp, status, info)
                reaction = worst(reaction, self._line_reaction(dest, first.node, pp)) or reaction
            else:
                reaction = self._line_reaction(dest, first.node, pp) or react(pp, "NORMAL", "NORMAL")
            self.apply(dest, reaction)
            ok, why = may_print(pp, reaction)
            if not ok:
                for j in jobs:
                    self.queue.requeue(j.id, why)
                self._message(dest, f"job(s) {', '.join(str(j.id) for j in jobs)} wait: {why}", reaction.reaction,
                              dedupe=True)
                return
            for job in jobs:
                job_ref[0] = job.id
                if not self._run_job(session, profile, job, dest):
                    break
                if self._stop_dest.get(dest) or self._stop.is_set():
                    break
            keep = hold and session.is_open and bool(pp.association_hold) and not self._stop_dest.get(dest)
        except PrintStatusError as exc:
            self._message(dest, str(exc.message), "interact")
        except NetworkError as exc:
            for j in jobs:
                current = self.queue.job(j.id)
                if current is not None and current.state in ("queued", "printing"):
                    self.queue.requeue(j.id, str(exc.message))
            self._message(dest, f"print interrupted: {exc.message}", "interact")
        finally:
            if keep:
                self._held[key] = (session, time.monotonic() + float(pp.association_hold or 0))
            else:
                session.close()

    def _run_job(self, session: PrintSession, profile: Profile, job: PrintJob, dest: str) -> bool:
        """Print one job; False when the association cannot be used for further jobs."""
        try:
            films = self.queue.load_films(job)
        except VScannerError as exc:
            self.queue.finish(job.id, "failed", exc.message)
            self._message(dest, f"job {job.id} failed: {exc.message}", "interact", job.id)
            return True
        self.queue.mark_printing(job.id)
        settings = PrintSettings(**job.settings)
        per_session = len(films)
        sessions = job.units // per_session if per_session else 0
        done = job.units_done
        stopped = lambda: bool(self._stop_dest.get(dest)) or self._stop.is_set()  # noqa: E731
        try:
            for copy in range(sessions):
                first_unit = copy * per_session
                if done >= first_unit + per_session:
                    continue
                if stopped():
                    break
                start = max(0, done - first_unit)

                def counted(index: int, status: int) -> None:
                    nonlocal done
                    done = self.queue.unit_done(job.id)

                session.print_films(films, settings, start=start, on_film=counted, should_stop=stopped)
        except PrintStatusError as exc:
            self.queue.finish(job.id, "failed", exc.message)
            self._message(dest, f"print job {job.id} aborted: {exc.message}", "interact", job.id)
            for w in session.warnings:
                self._message(dest, w, "interact", job.id)
            session.warnings.clear()
            return session.is_open
        for w in session.warnings:
            self._message(dest, w, "interact", job.id)
        session.warnings.clear()
        if done >= job.units:
            self.queue.finish(job.id, "printed")
            self._message(dest, f"print job {job.id}: {done} film(s) printed", "idle", job.id)
        else:
            self.queue.requeue(job.id, "stopped before all films were printed")
            self._message(dest, f"print job {job.id}: {done} of {job.units} film(s) printed; the rest waits in the queue",
                          "queue_stopped" if self._stop_dest.get(dest) else "interact", job.id)
        return True

    # --- idle behaviour ---------------------------------------------------------------------------------

    def poll(self, dest: str, node: Node, profile: Profile, calling_ae: str) -> Reaction | None:
        """One Printer N-GET on a short association; the reaction is recorded."""
        pp = profile.print
        try:
            with PrintSession(profile, node, calling_ae, dimse_timeout=self.dimse_timeout) as session:
                status, info, _ = session.printer_status()
        except NetworkError as exc:
            self._message(dest, f"camera not reachable: {exc.message}", "interact", dedupe=True)
            return None
        reaction = react(pp, status, info)
        self.apply(dest, reaction)
        return reaction

    def serve(self, cameras: Sequence[tuple[Node, str, str]] = (), *, interval: float = 1.0,
              poll_interval: float | None = None) -> None:
        """Run until :meth:`stop`: print new jobs, hold associations, poll idle cameras.

        *cameras*: (node, profile id, calling AE) of cameras to poll even without jobs.
        *poll_interval* overrides the profiles' ``status_poll_interval`` (tests, demos).
        """
        known: dict[str, tuple[Node, str, str]] = {str(n): (n, p, a) for n, p, a in cameras}
        while not self._stop.is_set():
            for j in self.queue.jobs():
                known.setdefault(j.destination, (j.node, j.profile, j.calling_ae))
            self.run(hold=True)
            now = time.monotonic()
            for key, (session, until) in list(self._held.items()):
                if now >= until or not session.is_open:
                    session.close()
                    del self._held[key]
            for dest, (node, profile_id, calling) in known.items():
                profile = self._profile(profile_id)
                period = poll_interval if poll_interval is not None else profile.print.status_poll_interval
                if not period or any(k[0] == dest for k in self._held):
                    continue
                if now - self._last_poll.get(dest, 0.0) >= period:
                    self._last_poll[dest] = now
                    self.poll(dest, node, profile, calling)
            self._stop.wait(interval)
        self.close()
