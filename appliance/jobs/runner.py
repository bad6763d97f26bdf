"""The queue runner: sends what the durable queue holds and asks the archive to commit it.

One runner per data folder at a time (an flock on ``<data>/jobs.lock``, released by the OS
when the process dies). At start it puts items interrupted in ``sending`` back to ``queued``
(see :mod:`appliance.jobs.queue` for the exactly-once rules and their limit). Then, oldest
job first:

- **send**: the job's due items go out on one association per job
  (``profile.storage_scu.association_per_job``; else one per instance), with the contexts of
  :func:`appliance.net.storage_scu.plan_contexts`, or on several at once (``associations``,
  at most ``profile.network.max_associations_initiated``), each taking the next item when it
  is free. Each outcome is committed before the next instance is sent on that association.
  A failure status either lets the job go on or stops it
  (``profile.storage_scu.on_failure``: the association is aborted and the rest of the job is
  not sent, on every association), then the job's retry policy applies (``retries`` with exponential back-off from
  ``retry_interval``; the profile's values unless the caller overrides them).
- **commit**: when a job that wants storage commitment has nothing left to send, its sent
  instances are bundled into one N-ACTION, at once (``timing = "after_send"``/``"manual"``) or
  after ``delay`` seconds (``"delayed"``); the report is taken on the request association
  or on a new one (a :class:`~appliance.net.storage_commitment.ReportListener` on the local
  port), per ``report_association``; instances are marked committed or commit failed, and
  commit failed for all still waiting when the wait ends (``report_timeout``).

Progress and outcomes go to an ``on_event`` callback (:mod:`appliance.jobs.events`).
"""

from __future__ import annotations

__all__ = ["QueueRunner", "CommitResult"]

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from pydicom.uid import generate_uid

from ..config import Node
from ..errors import NetworkError, VScannerError
from ..net.storage_commitment import (
    CommitmentReport,
    InstanceRef,
    ReportListener,
    report_waits,
    request_commitment,
)
from ..net.storage_scu import InstanceFile, StorageSession, StoreOutcome, plan_contexts, storage_class
from ..profile import Profile, find_profile
from . import events
from .queue import Item, Job, JobQueue

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommitResult:
    transaction_uid: str
    status: int | None  # N-ACTION status
    reports: tuple[CommitmentReport, ...]
    error: str = ""


class QueueRunner:
    """Runs a :class:`JobQueue`.

    Parameters
    ----------
    queue : JobQueue
    on_event : callable, optional
        Receives the dataclasses of :mod:`appliance.jobs.events`.
    profile_dirs : sequence of paths
        Extra folders to find the jobs' profiles in (jobs store the profile's path when known).
    listen_host, listen_port : where storage commitment reports on new associations are taken.
    commit_wait : float, optional
        Overrides how long to wait for a commitment report (default: the profile's).
    lock_timeout : float
        How long to wait for another runner of the same queue to finish.
    associations : int, optional
        Associations a job's instances are sent on at the same time, instead of the number
        the job was queued with (either way at most what the job's product initiates,
        ``network.max_associations_initiated``; 0 there is no limit).
    """

    def __init__(
        self,
        queue: JobQueue,
        *,
        on_event: Callable[[object], None] | None = None,
        profile_dirs: Sequence[str] = (),
        listen_host: str = "127.0.0.1",
        listen_port: int = 11112,
        commit_wait: float | None = None,
        lock_timeout: float = 0.0,
        associations: int | None = None,
    ) -> None:
        if associations is not None and associations < 1:
            raise ValueError("associations must be at least 1")
        self.queue = queue
        self.associations = associations
        self.on_event = on_event or (lambda e: None)
        self.profile_dirs = list(profile_dirs)
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.commit_wait = commit_wait
        self.lock_timeout = lock_timeout
        self._stop = threading.Event()
        self._listener: ReportListener | None = None
        self._waiters: dict[str, threading.Event] = {}
        self._reports: dict[str, list[CommitmentReport]] = {}
        self._profiles: dict[str, Profile] = {}
        self._done = 0
        self._total = 0
        self._events = threading.Lock()  # events come from every association's thread

    # --- control ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the runner to stop after the instance being sent (safe from signal handlers)."""
        self._stop.set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def __enter__(self) -> "QueueRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, event: object) -> None:
        with self._events:
            try:
                self.on_event(event)
            except Exception:  # a display problem must not stop sending
                LOGGER.exception("event callback failed for %r", event)

    def _profile(self, ref: str) -> Profile:
        if ref not in self._profiles:
            self._profiles[ref] = find_profile(ref, self.profile_dirs)
        return self._profiles[ref]

    # --- the loop ---------------------------------------------------------------------------

    def run(self, job_ids: Sequence[int] | None = None, *, wait: bool = True) -> None:
        """Process due work of *job_ids* (all jobs: None) until nothing is left.

        With *wait*, items waiting for a retry and delayed commitments are waited for;
        without, the runner returns when nothing is due now.
        """
        self.queue.acquire_runner_lock(self.lock_timeout)
        recovered = self.queue.recover()
        if recovered:
            LOGGER.warning("%d instance(s) were interrupted while sending and are queued again", recovered)
        ids = list(job_ids) if job_ids is not None else None
        self._total = sum(len(self.queue.due_items(j, now=float("inf")))
                          for j in (ids if ids is not None else [j.id for j in self.queue.jobs()]))
        self._done = 0
        try:
            while not self._stop.is_set():
                due = self.queue.due_jobs(ids)
                if due:
                    self._send_job(due[0])
                    continue
                for job in self.queue.jobs():
                    if job.commit_state == "pending" and (ids is None or job.id in ids):
                        self.queue.sending_finished(job.id)
                commits = self.queue.due_commitments(ids)
                if commits:
                    self._commit_job(commits[0])
                    continue
                if not wait:
                    break
                nxt = self.queue.next_wakeup(ids)
                if nxt is None:
                    break
                self._stop.wait(min(max(nxt - time.time(), 0.05), 1.0))
        finally:
            self.queue.release_runner_lock()

    # --- sending ----------------------------------------------------------------------------

    def _send_job(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        items = self.queue.due_items(job_id)
        if job is None or not items:
            return
        try:
            profile = self._profile(job.profile)
        except VScannerError as exc:
            self.queue.fail_now([i.id for i in items], f"profile {job.profile!r} cannot be loaded: {exc.message}")
            return
        self._emit(events.JobStarted(job.id, job.destination, len(items)))
        LOGGER.info("job %d: sending %d instance(s) to %s as %s (%s)", job.id, len(items), job.destination,
                    job.calling_ae, profile.id)

        unsendable = [i for i in items if storage_class(profile, i.sop_class_uid) is None]
        for i in unsendable:
            error = (f"{profile.id} does not send SOP class {i.sop_class_uid}: "
                     "not a storage SCU class of its statement")
            self.queue.fail_now([i.id], error)
            self._failed(job, i, None, error, None)
        items = [i for i in items if i not in unsendable]
        groups: list[tuple[list, list[Item]]] = []
        for contexts in plan_contexts(profile, [i.sop_class_uid for i in items]):
            classes = {cx.abstract_syntax for cx in contexts}
            members = [i for i in items if i.sop_class_uid in classes]
            if profile.storage_scu.association_per_job:
                groups.append((contexts, members))
            else:
                for i in members:
                    groups.append(([cx for cx in contexts if cx.abstract_syntax == i.sop_class_uid], [i]))

        lanes = self._lanes(profile, job) if profile.storage_scu.association_per_job else 1
        stop_job = ""
        for contexts, members in groups:
            if stop_job:
                self._give_up(job, list(members), stop_job)
                continue
            work = _Work(members, min(lanes, len(members)))
            if work.lanes == 1:
                self._lane(job, profile, contexts, work)
            else:
                LOGGER.info("job %d: %d instance(s) on %d associations at once", job.id, len(members), work.lanes)
                errors: list[BaseException] = []

                def lane() -> None:
                    try:
                        self._lane(job, profile, contexts, work)
                    except BaseException as exc:  # re-raised in the runner's thread
                        errors.append(exc)
                        work.stop(f"not sent: {exc}")

                threads = [threading.Thread(target=lane, name=f"vscanner-send-{job.id}-{n}", daemon=True)
                           for n in range(work.lanes)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if errors:
                    raise errors[0]
            stop_job = work.reason
        finished = self.queue.sending_finished(job.id)
        counts = self.queue.counts(job.id)
        LOGGER.info("job %d: %s", job.id, ", ".join(f"{n} {s}" for s, n in counts.items() if n))
        if finished:
            self._emit(events.JobFinished(job.id, counts))

    def _lanes(self, profile: Profile, job: Job) -> int:
        wanted = self.associations if self.associations is not None else job.associations
        limit = profile.network.max_associations_initiated
        if limit and wanted > limit:
            LOGGER.info("%s initiates at most %d association(s) at once (its statement): sending on %d",
                        profile.id, limit, limit)
            return limit
        return max(1, wanted)

    def _lane(self, job: Job, profile: Profile, contexts: list, work: "_Work") -> None:
        """Send items taken from *work* on one association, each outcome committed before the
        next instance goes out (the exactly-once rules of :mod:`appliance.jobs.queue` hold per
        association). A lost association or a failure that stops the job stops *work* for
        every association; an association the peer refuses while others are open leaves
        its instance to them."""
        item = work.take()
        if item is None:
            return
        opened = False
        try:
            with StorageSession.open(profile, job.node, job.calling_ae, contexts) as session:
                opened = True
                self._send_items(session, job, profile, work, item)
        except NetworkError as exc:  # (only opening raises it)
            if opened:
                raise
            if work.refused():
                LOGGER.warning("job %d: %s; the other associations send its instances", job.id, exc.message)
                work.put_back(item)
                return
            self._give_up(job, [item, *work.stop(exc.message)], exc.message)

    def _send_items(self, session: StorageSession, job: Job, profile: Profile, work: "_Work",
                    item: Item | None) -> None:
        marked: int | None = None  # the next item, already marked sending with the last outcome
        try:
            while item is not None:
                if self._stop.is_set():
                    work.put_back(item)  # left queued for the next run
                    break
                if work.reason:  # another association stopped the job
                    self._give_up(job, [item], work.reason)
                    break
                if marked != item.id:
                    self.queue.mark_sending(item.id)
                marked = None
                nxt = work.take()
                out = session.send(item.instance(), then=nxt.instance() if nxt is not None else None)
                follow = nxt.id if nxt is not None and out.category != "failure" and not self._stop.is_set() else None
                state, retry_at = self.queue.record_outcome(item.id, out, job, next_item_id=follow)
                if state == "sent":
                    marked = follow
                self._after_send(job, item, out, state, retry_at)
                stop = ""
                if out.connection_lost:
                    stop = f"not sent: the association was lost ({out.error})"
                elif out.category == "failure" and profile.storage_scu.on_failure == "stop":
                    session.abort()
                    stop = (f"not sent: the job stopped after {item.sop_instance_uid} failed "
                            f"({out.error}); {profile.id} stops a send job at the first failure")
                if stop:
                    self._give_up(job, [*([nxt] if nxt is not None else []), *work.stop(stop)], stop)
                    break
                item = nxt
        finally:
            if marked is not None:  # stopped before sending it (given up, or left for the next run)
                self.queue.unmark_sending(marked)

    def _after_send(self, job: Job, item: Item, out: StoreOutcome, state: str, retry_at: float | None) -> None:
        if state == "sent":
            with self._events:
                self._done += 1
                done = self._done
            self._emit(events.InstanceSent(job.id, item.id, item.sop_instance_uid, out.status,
                                           out.category == "warning", out.transfer_syntax,
                                           out.converted, item.size, done, self._total))
        else:
            self._failed(job, item, out.status, out.error, retry_at)

    def _give_up(self, job: Job, items: list[Item], error: str) -> None:
        if not items:
            return
        self.queue.retry_or_fail([i.id for i in items], error, job)
        states = {i.id: i for i in self.queue.items(job.id)}
        for i in items:
            now = states.get(i.id)
            retry_at = now.next_attempt_at if now is not None and now.state == "queued" else None
            self._failed(job, i, None, error, retry_at)

    def _failed(self, job: Job, item: Item, status: int | None, error: str, retry_at: float | None) -> None:
        if retry_at is None:
            self._done += 1
        self._emit(events.InstanceFailed(job.id, item.id, item.sop_instance_uid, status, error, retry_at,
                                         self._done, self._total))

    # --- storage commitment -----------------------------------------------------------------

    def _commit_job(self, job_id: int) -> None:
        job = self.queue.job(job_id)
        if job is None:
            return
        items = self.queue.items(job_id, states=("sent",))
        if not items:
            self.queue.commitment_done(job_id)
            return
        try:
            profile = self._profile(job.profile)
        except VScannerError as exc:
            txn = generate_uid()
            self.queue.start_commitment(job.id, job.destination, txn, [i.id for i in items])
            self.queue.fail_commitment(txn, f"profile cannot be loaded: {exc.message}", job.id)
            return
        self._request(profile, job.node, job.calling_ae, items, job)

    def commit_instances(self, profile: Profile, node: Node, ae_title: str,
                         instances: Sequence[InstanceFile]) -> CommitResult:
        """Ask *node* to commit *instances* now (outside a job); items of the queue that match
        (same destination, sent before) are updated too."""
        txn = generate_uid()
        ids = self.queue.attach_transaction(str(node), [i.sop_instance_uid for i in instances], txn)
        refs = [InstanceRef(i.sop_class_uid, i.sop_instance_uid) for i in instances]
        return self._request(profile, node, ae_title, refs, None, txn=txn, item_ids=ids)

    def _request(self, profile: Profile, node: Node, ae_title: str, items: Sequence, job: Job | None,
                 txn: str | None = None, item_ids: Sequence[int] | None = None) -> CommitResult:
        txn = txn or generate_uid()
        if item_ids is None:
            item_ids = [i.id for i in items]
        refs = [i if isinstance(i, InstanceRef) else InstanceRef(i.sop_class_uid, i.sop_instance_uid) for i in items]
        job_id = job.id if job else None
        overall, keep_open, needs_listener = report_waits(profile, self.commit_wait)
        self.queue.start_commitment(job_id, str(node), txn, item_ids)
        waiter = threading.Event()
        self._waiters[txn] = waiter
        self._reports[txn] = []
        self._emit(events.CommitmentRequested(job_id, str(node), txn, len(refs)))

        def fail(error: str, will_retry: bool = False) -> CommitResult:
            if not will_retry:
                self.queue.fail_commitment(txn, error, job_id)
            self._emit(events.CommitmentFailed(job_id, txn, error, will_retry))
            LOGGER.warning("storage commitment %s at %s: %s", txn, node, error)
            return CommitResult(txn, None, tuple(self._reports.pop(txn, [])), error)

        try:
            if needs_listener:
                try:
                    self._ensure_listener(profile, ae_title)
                except NetworkError as exc:
                    if profile.storage_commitment.report_association == "new":
                        return fail(str(exc))
                    LOGGER.warning("%s; waiting for the report on the request association only", exc.message)
                    keep_open = overall
            t0 = time.monotonic()
            try:
                status = request_commitment(profile, node, ae_title, refs, txn, self._on_report,
                                            keep_open=keep_open, reported=waiter)
            except NetworkError as exc:
                retry = job is not None and self.queue.commitment_retry(job, exc.message)
                return fail(f"N-ACTION not answered: {exc.message}", retry)
            self.queue.commitment_answered(txn, status)
            self._emit(events.CommitmentRequested(job_id, str(node), txn, len(refs), status))
            if status != 0x0000:
                return fail(f"N-ACTION refused with status 0x{status:04X}")
            deadline = t0 + overall
            while not waiter.is_set() and not self._stop.is_set() and time.monotonic() < deadline:
                waiter.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            if not waiter.is_set():
                return fail(f"no N-EVENT-REPORT within {overall:g} s")
            # instances the archive left out of its report are not committed
            left = self.queue.fail_commitment(txn, "not in the archive's storage commitment report", job_id)
            if left:
                LOGGER.warning("storage commitment %s: %d instance(s) missing from the report", txn, left)
            return CommitResult(txn, status, tuple(self._reports.pop(txn, [])))
        finally:
            self._waiters.pop(txn, None)

    def _on_report(self, report: CommitmentReport) -> None:
        committed, failed = self.queue.record_report(report)
        if report.transaction_uid in self._reports:
            self._reports[report.transaction_uid].append(report)
        self._emit(events.CommitmentReported(report.transaction_uid, len(report.committed), len(report.failed),
                                             report.same_association))
        LOGGER.info("storage commitment %s: %d committed, %d commit failed in the queue", report.transaction_uid,
                    committed, failed)
        waiter = self._waiters.get(report.transaction_uid)
        if waiter is not None:
            waiter.set()

    def _ensure_listener(self, profile: Profile, ae_title: str) -> None:
        if self._listener is None:
            self._listener = ReportListener(profile, ae_title, self.listen_host, self.listen_port,
                                            self._on_report).start()


class _Work:
    """The items of one group of a job, taken one by one by the associations sending them."""

    def __init__(self, items: Sequence[Item], lanes: int) -> None:
        self.lanes = max(lanes, 1)
        self.reason = ""  # why the rest of the job is not sent ("" while it is)
        self._items = list(items)
        self._next = 0
        self._refused = 0
        self._lock = threading.Lock()

    def take(self) -> Item | None:
        with self._lock:
            if self.reason or self._next >= len(self._items):
                return None
            self._next += 1
            return self._items[self._next - 1]

    def put_back(self, item: Item) -> None:
        with self._lock:
            self._items.insert(self._next, item)

    def refused(self) -> bool:
        """An association was refused: True while another may still send (then it takes the
        instances), False for the last one."""
        with self._lock:
            self._refused += 1
            return self._refused < self.lanes

    def stop(self, reason: str) -> list[Item]:
        """No more items are taken; the ones not taken yet, for the caller to give up."""
        with self._lock:
            if not self.reason:
                self.reason = reason
            rest, self._items = self._items[self._next:], self._items[:self._next]
            return rest

