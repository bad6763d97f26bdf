"""The durable send queue: every instance to every destination, with its state, in SQLite.

``<data>/jobs.sqlite`` (WAL). An *item* is one instance to one destination; its state is one of

``queued`` -> ``sending`` -> ``sent`` | ``failed`` ; ``sent`` -> ``committed`` | ``commit_failed``

with the number of attempts, the last DIMSE status and error, timestamps and the time of the
next attempt (retries back off exponentially). A *job* groups the items of one request (one
``vscanner send``): destination, profile, calling AE title, retry policy, whether storage
commitment is wanted, with its timing, and on how many associations at once it is sent.

Exactly-once rules (see also :mod:`appliance.jobs.runner`):

- enqueueing (and ``retry``) is on disk before it returns ("durable before acknowledged":
  ``synchronous=FULL`` for that transaction);
- an item is marked ``sending`` (committed) before its C-STORE goes out and ``sent`` (committed)
  as soon as the response arrives, before the next instance is sent (after a success, "this
  one sent" and "the next one sending" are one transaction per instance). These commits
  are ``synchronous=NORMAL``: written to the WAL before they return, so a crash of the
  process (kill -9) loses none of them, but not fsynced each time. A crash of the machine
  may undo the last of them; every such loss moves an item back (``sent`` to ``sending`` or
  ``queued``), so the instance is sent again - at least once, never lost;
- at start-up, under the runner lock, ``sending`` items go back to ``queued``: they were
  interrupted, and the peer may or may not have received them (a response that was lost
  cannot be told apart from a request that never arrived - at most one instance per
  interrupted association);
- an item in ``sent`` or ``committed`` is never sent again unless the user asks
  (``resend``); enqueueing the same instance for the same destination again is skipped.
"""

from __future__ import annotations

__all__ = ["JobQueue", "Job", "Item", "EnqueueResult", "STATES", "QueueBusy", "backoff"]

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..config import Node
from ..errors import VScannerError
from ..net.storage_commitment import CommitmentReport
from ..net.storage_scu import InstanceFile, StoreOutcome
from .sqlite_file import SQLiteFile

STATES = ("queued", "sending", "sent", "failed", "committed", "commit_failed")
FILE_NAME = "jobs.sqlite"
LOCK_NAME = "jobs.lock"
MAX_BACKOFF = 600.0
DEFAULT_RETRY_INTERVAL = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY,
    dest_ae TEXT NOT NULL,
    dest_host TEXT NOT NULL,
    dest_port INTEGER NOT NULL,
    dest_name TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    retries INTEGER NOT NULL DEFAULT 0,
    retry_interval REAL NOT NULL DEFAULT 10,
    commit_wanted INTEGER NOT NULL DEFAULT 0,
    commit_delay REAL NOT NULL DEFAULT 0,
    commit_state TEXT NOT NULL DEFAULT 'none'
        CHECK (commit_state IN ('none', 'pending', 'due', 'requested', 'done')),
    commit_due_at REAL,
    commit_attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    associations INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS item (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES job(id),
    destination TEXT NOT NULL,
    path TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'committed', 'commit_failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    status INTEGER,
    sent_transfer_syntax TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at REAL NOT NULL DEFAULT 0,
    commit_transaction_uid TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    committed_at REAL,
    UNIQUE (destination, sop_instance_uid)
);
-- by job; and the items due for sending (an index on the state would change with every
-- item sent: two more pages written per instance)
DROP INDEX IF EXISTS item_job;
CREATE INDEX IF NOT EXISTS item_job_id ON item(job_id);
CREATE INDEX IF NOT EXISTS item_queued ON item(job_id, next_attempt_at) WHERE state='queued';
CREATE INDEX IF NOT EXISTS item_txn ON item(commit_transaction_uid);
CREATE TABLE IF NOT EXISTS commitment (
    transaction_uid TEXT PRIMARY KEY,
    job_id INTEGER,
    destination TEXT NOT NULL,
    requested_at REAL NOT NULL,
    action_status INTEGER,
    reported_at REAL,
    event_type INTEGER,
    note TEXT NOT NULL DEFAULT ''
);
"""


class QueueBusy(VScannerError):
    """Another vscanner process is running this queue."""


def backoff(interval: float, attempt: int) -> float:
    """Seconds before attempt *attempt* + 1: interval, 2x, 4x ... capped at 10 minutes."""
    return min(MAX_BACKOFF, max(0.0, interval) * (2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class Job:
    id: int
    node: Node
    profile: str
    calling_ae: str
    retries: int
    retry_interval: float
    commit_wanted: bool
    commit_delay: float
    commit_state: str
    commit_due_at: float | None
    commit_attempts: int
    created_at: float
    associations: int = 1  # sent on this many associations at once

    @property
    def destination(self) -> str:
        return str(self.node)


@dataclass(frozen=True)
class Item:
    id: int
    job_id: int
    destination: str
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    size: int
    state: str
    attempts: int
    status: int | None
    sent_transfer_syntax: str | None
    last_error: str
    next_attempt_at: float
    commit_transaction_uid: str | None
    created_at: float
    updated_at: float

    def instance(self) -> InstanceFile:
        return InstanceFile(self.path, self.sop_class_uid, self.sop_instance_uid, self.transfer_syntax_uid, self.size)


@dataclass(frozen=True)
class EnqueueResult:
    job_id: int
    queued: int
    skipped: tuple[tuple[str, str], ...]  # (sop instance uid, state it is already in)


_ITEM_COLS = ("id, job_id, destination, path, sop_class_uid, sop_instance_uid, transfer_syntax_uid, size, state, "
              "attempts, status, sent_transfer_syntax, last_error, next_attempt_at, commit_transaction_uid, "
              "created_at, updated_at")
_JOB_COLS = ("id, dest_ae, dest_host, dest_port, dest_name, profile, calling_ae, retries, retry_interval, "
             "commit_wanted, commit_delay, commit_state, commit_due_at, commit_attempts, created_at, associations")


def _item(row: tuple) -> Item:
    r = list(row)
    r[3] = Path(r[3])
    return Item(*r)


def _job(row: tuple) -> Job:
    (id_, ae, host, port, name, profile, calling, retries, interval, wanted, delay, cstate, due, cattempts,
     created, associations) = row
    return Job(id_, Node(ae_title=ae, host=host, port=port, name=name), profile, calling, retries, interval,
               bool(wanted), delay, cstate, due, cattempts, created, associations)


class JobQueue(SQLiteFile):
    """The queue in ``<folder>/jobs.sqlite``; safe to share between threads of one process.

    Transactions are fsynced only when they must be (``_tx(durable=True)``: new work the user
    was told is queued); the others survive a crash of the process, not always one of the
    machine (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder, FILE_NAME, SCHEMA, what="job queue", synchronous="NORMAL", foreign_keys=True)
        self._lock_fh: int | None = None
        with self._lock:  # a queue written by an older vscanner: jobs without an association count
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(job)")}
            if "associations" not in columns:
                try:
                    self._db.execute("ALTER TABLE job ADD COLUMN associations INTEGER NOT NULL DEFAULT 1")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise

    def close(self) -> None:
        super().close()
        self.release_runner_lock()

    def __enter__(self) -> "JobQueue":
        return self

    # --- the runner lock --------------------------------------------------------------------

    def acquire_runner_lock(self, timeout: float = 0.0) -> None:
        """Become the one process that sends from this queue (an flock, freed when we die).

        Raises :class:`QueueBusy` when another process holds it after *timeout* seconds.
        """
        if self._lock_fh is not None:
            return
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise QueueBusy(
                        f"another vscanner process (pid {holder or '?'}) is sending from {self.folder}",
                        "wait for it to finish; your instances are queued and it will send them "
                        "if it runs `vscanner queue run`, else run that afterwards",
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fh = fd

    def release_runner_lock(self) -> None:
        if self._lock_fh is not None:
            os.close(self._lock_fh)  # closing the descriptor releases the flock
            self._lock_fh = None

    # --- writing ----------------------------------------------------------------------------

    def enqueue(
        self,
        instances: Iterable[InstanceFile],
        node: Node,
        *,
        profile: str,
        calling_ae: str,
        retries: int = 0,
        retry_interval: float | None = None,
        commit: bool = False,
        commit_delay: float = 0.0,
        resend: bool = False,
        associations: int = 1,
    ) -> EnqueueResult:
        """Add a job with *instances* for *node*; committed to disk before it returns.

        An instance already queued, being sent, sent or committed to the same destination
        is skipped (reported in ``skipped``) unless *resend*; one that failed before is queued
        again in this job. *associations*: how many the job is sent on at once (the runner
        bounds it by what the product initiates).
        """
        now = time.time()
        dest = str(node)
        skipped: list[tuple[str, str]] = []
        queued = 0
        with self._tx(durable=True) as db:
            cur = db.execute(
                "INSERT INTO job (dest_ae, dest_host, dest_port, dest_name, profile, calling_ae, retries, "
                "retry_interval, commit_wanted, commit_delay, commit_state, created_at, associations) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (node.ae_title, node.host, node.port, node.name if node.name != dest else "", profile, calling_ae,
                 retries, DEFAULT_RETRY_INTERVAL if retry_interval is None else retry_interval, int(commit),
                 commit_delay, "pending" if commit else "none", now, max(1, associations)),
            )
            job_id = int(cur.lastrowid or 0)
            for inst in instances:
                row = db.execute("SELECT id, state FROM item WHERE destination=? AND sop_instance_uid=?",
                                 (dest, inst.sop_instance_uid)).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO item (job_id, destination, path, sop_class_uid, sop_instance_uid, "
                        "transfer_syntax_uid, size, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (job_id, dest, str(inst.path), inst.sop_class_uid, inst.sop_instance_uid,
                         inst.transfer_syntax_uid, inst.size, "queued", now, now),
                    )
                    queued += 1
                    continue
                item_id, state = row
                if state in ("queued", "sending") or (state in ("sent", "committed") and not resend):
                    skipped.append((inst.sop_instance_uid, state))
                    continue
                db.execute(
                    "UPDATE item SET job_id=?, path=?, sop_class_uid=?, transfer_syntax_uid=?, size=?, "
                    "state='queued', attempts=0, status=NULL, last_error='', next_attempt_at=0, "
                    "commit_transaction_uid=NULL, sent_at=NULL, committed_at=NULL, updated_at=? WHERE id=?",
                    (job_id, str(inst.path), inst.sop_class_uid, inst.transfer_syntax_uid, inst.size, now, item_id),
                )
                queued += 1
        return EnqueueResult(job_id, queued, tuple(skipped))

    def recover(self) -> int:
        """After a crash: items left in ``sending`` go back to ``queued``; interrupted
        commitment requests become due again. Call only while holding the runner lock."""
        now = time.time()
        with self._tx() as db:
            n = db.execute(
                "UPDATE item SET state='queued', next_attempt_at=0, updated_at=?, "
                "last_error='interrupted while sending (vscanner stopped); queued again' WHERE state='sending'",
                (now,),
            ).rowcount
            db.execute("UPDATE job SET commit_state='due', commit_due_at=? WHERE commit_state='requested'", (now,))
        return n

    def mark_sending(self, item_id: int) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE item SET state='sending', attempts=attempts+1, updated_at=? WHERE id=?", (now, item_id))

    def record_outcome(self, item_id: int, out: StoreOutcome, job: Job,
                       next_item_id: int | None = None) -> tuple[str, float | None]:
        """Store a C-STORE outcome; returns the new state and, for a retry, when it is due.

        *next_item_id*: the item the runner sends next on the same association. After a
        success (or warning) it is marked ``sending`` in the same transaction, so that one
        commit per instance keeps both rules: this item is ``sent`` and the next one
        ``sending`` on disk before its C-STORE goes out. After a failure it is not marked
        (the caller decides whether the job goes on and calls :meth:`mark_sending`); an
        item marked but then not sent goes back with :meth:`unmark_sending`.
        """
        if out.category in ("success", "warning"):
            now = time.time()
            with self._tx() as db:
                db.execute(
                    "UPDATE item SET state='sent', status=?, sent_transfer_syntax=?, last_error=?, "
                    "sent_at=?, updated_at=? WHERE id=?",
                    (out.status, out.transfer_syntax, out.error, now, now, item_id),
                )
                if next_item_id is not None:
                    db.execute("UPDATE item SET state='sending', attempts=attempts+1, updated_at=? WHERE id=?",
                               (now, next_item_id))
            return "sent", None
        return self.retry_or_fail([item_id], out.error, job, status=out.status)

    def unmark_sending(self, item_id: int) -> None:
        """An item marked ``sending`` whose C-STORE was not sent after all goes back to ``queued``
        (the attempt is not counted)."""
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE item SET state='queued', attempts=MAX(attempts-1, 0), updated_at=? "
                       "WHERE id=? AND state='sending'", (now, item_id))

    def retry_or_fail(self, item_ids: Sequence[int], error: str, job: Job, status: int | None = None) -> tuple[str, float | None]:
        """Items that could not be sent: queued again after a back-off while the job's retries
        last (counted per item, by attempts), else failed."""
        now = time.time()
        state, due = "failed", None
        with self._tx() as db:
            for item_id in item_ids:
                row = db.execute("SELECT attempts, state FROM item WHERE id=?", (item_id,)).fetchone()
                if row is None:
                    continue
                attempts = row[0]
                if row[1] == "queued":  # not sent this round (the association failed): still an attempt
                    attempts += 1
                    db.execute("UPDATE item SET attempts=? WHERE id=?", (attempts, item_id))
                if attempts <= job.retries:
                    due = now + backoff(job.retry_interval, attempts)
                    state = "queued"
                    db.execute("UPDATE item SET state='queued', status=?, last_error=?, next_attempt_at=?, "
                               "updated_at=? WHERE id=?", (status, error, due, now, item_id))
                else:
                    state = "failed"
                    db.execute("UPDATE item SET state='failed', status=?, last_error=?, updated_at=? WHERE id=?",
                               (status, error, now, item_id))
        return state, due

    def fail_now(self, item_ids: Sequence[int], error: str) -> None:
        """Fail items without retry (nothing a retry could change)."""
        now = time.time()
        with self._tx() as db:
            db.executemany("UPDATE item SET state='failed', last_error=?, updated_at=? WHERE id=?",
                           [(error, now, i) for i in item_ids])

    def sending_finished(self, job_id: int) -> bool:
        """If no item of the job waits to be sent, make its commitment due; True when so."""
        with self._tx() as db:
            left = db.execute("SELECT COUNT(*) FROM item WHERE job_id=? AND state IN ('queued','sending')",
                              (job_id,)).fetchone()[0]
            if left:
                return False
            row = db.execute("SELECT commit_state, commit_delay FROM job WHERE id=?", (job_id,)).fetchone()
            if row and row[0] == "pending":
                db.execute("UPDATE job SET commit_state='due', commit_due_at=? WHERE id=?",
                           (time.time() + row[1], job_id))
        return True

    def set_commit_due(self, job_id: int, at: float | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE job SET commit_wanted=1, commit_state='due', commit_due_at=? WHERE id=?",
                       (time.time() if at is None else at, job_id))

    def start_commitment(self, job_id: int | None, destination: str, transaction_uid: str,
                         item_ids: Sequence[int]) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO commitment (transaction_uid, job_id, destination, requested_at) VALUES (?,?,?,?)",
                       (transaction_uid, job_id, destination, now))
            db.executemany("UPDATE item SET commit_transaction_uid=?, updated_at=? WHERE id=?",
                           [(transaction_uid, now, i) for i in item_ids])
            if job_id is not None:
                db.execute("UPDATE job SET commit_state='requested', commit_attempts=commit_attempts+1 WHERE id=?",
                           (job_id,))

    def commitment_answered(self, transaction_uid: str, status: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE commitment SET action_status=? WHERE transaction_uid=?", (status, transaction_uid))

    def record_report(self, report: CommitmentReport) -> tuple[int, int]:
        """Mark the report's instances committed / commit failed; returns the counts updated.

        Matches by transaction UID and SOP Instance UID; a late report still updates items
        that were marked commit failed for want of a report.
        """
        now = time.time()
        committed = failed = 0
        with self._tx() as db:
            db.execute("UPDATE commitment SET reported_at=?, event_type=? WHERE transaction_uid=?",
                       (now, report.event_type, report.transaction_uid))
            for ref in report.committed:
                committed += db.execute(
                    "UPDATE item SET state='committed', committed_at=?, last_error='', updated_at=? "
                    "WHERE commit_transaction_uid=? AND sop_instance_uid=? AND state IN ('sent','commit_failed')",
                    (now, now, report.transaction_uid, ref.sop_instance_uid)).rowcount
            for ref, reason in report.failed:
                failed += db.execute(
                    "UPDATE item SET state='commit_failed', last_error=?, updated_at=? "
                    "WHERE commit_transaction_uid=? AND sop_instance_uid=? AND state IN ('sent','commit_failed')",
                    (f"archive did not commit it: failure reason 0x{reason:04X}", now, report.transaction_uid,
                     ref.sop_instance_uid)).rowcount
        return committed, failed

    def fail_commitment(self, transaction_uid: str, error: str, job_id: int | None = None) -> int:
        """Items of the transaction still waiting (``sent``) become ``commit_failed``."""
        now = time.time()
        with self._tx() as db:
            n = db.execute("UPDATE item SET state='commit_failed', last_error=?, updated_at=? "
                           "WHERE commit_transaction_uid=? AND state='sent'", (error, now, transaction_uid)).rowcount
            db.execute("UPDATE commitment SET note=? WHERE transaction_uid=?", (error, transaction_uid))
            if job_id is not None:
                db.execute("UPDATE job SET commit_state='done' WHERE id=?", (job_id,))
        return n

    def commitment_done(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE job SET commit_state='done' WHERE id=?", (job_id,))

    def commitment_retry(self, job: Job, error: str) -> bool:
        """After a network failure of the N-ACTION: due again after a back-off, or give up.
        Returns True when it will be retried."""
        if job.commit_attempts + 1 <= job.retries:
            with self._tx() as db:
                db.execute("UPDATE job SET commit_state='due', commit_due_at=? WHERE id=?",
                           (time.time() + backoff(job.retry_interval, job.commit_attempts + 1), job.id))
            return True
        return False

    def attach_transaction(self, destination: str, sop_uids: Sequence[str], transaction_uid: str) -> list[int]:
        """For a commitment asked outside a job: link known items to the transaction."""
        ids: list[int] = []
        with self._tx() as db:
            for uid in sop_uids:
                row = db.execute("SELECT id FROM item WHERE destination=? AND sop_instance_uid=? "
                                 "AND state IN ('sent','committed','commit_failed')", (destination, uid)).fetchone()
                if row:
                    ids.append(row[0])
                    db.execute("UPDATE item SET state='sent', commit_transaction_uid=? WHERE id=?",
                               (transaction_uid, row[0]))
        return ids

    def retry(self, job_id: int | None = None, states: Sequence[str] = ("failed",)) -> int:
        """Queue failed items again (attempts reset); ``commit_failed`` items get a new
        commitment request instead. Returns the number of items affected."""
        now = time.time()
        where, args = ("AND job_id=?", [job_id]) if job_id is not None else ("", [])
        n = 0
        with self._tx(durable=True) as db:
            if "failed" in states:
                n += db.execute(f"UPDATE item SET state='queued', attempts=0, next_attempt_at=0, updated_at=? "
                                f"WHERE state='failed' {where}", [now, *args]).rowcount
                db.execute(f"UPDATE job SET commit_state='pending' WHERE commit_wanted=1 AND commit_state='done' "
                           f"AND id IN (SELECT job_id FROM item WHERE state='queued' {where})", args)
            if "commit_failed" in states:
                jobs = [r[0] for r in db.execute(f"SELECT DISTINCT job_id FROM item WHERE state='commit_failed' {where}",
                                                 args)]
                n += db.execute(f"UPDATE item SET state='sent', updated_at=? WHERE state='commit_failed' {where}",
                                [now, *args]).rowcount
                db.executemany("UPDATE job SET commit_wanted=1, commit_state='due', commit_due_at=? WHERE id=?",
                               [(now, j) for j in jobs])
        return n

    def purge(self, states: Sequence[str] = ("sent", "committed", "failed", "commit_failed"),
              job_id: int | None = None) -> int:
        """Delete items in *states* (never ``sending``), then jobs left without items."""
        states = [s for s in states if s in STATES and s != "sending"]
        if not states:
            return 0
        marks = ",".join("?" * len(states))
        where, args = ("AND job_id=?", [job_id]) if job_id is not None else ("", [])
        with self._tx() as db:
            n = db.execute(f"DELETE FROM item WHERE state IN ({marks}) {where}", [*states, *args]).rowcount
            db.execute("DELETE FROM job WHERE id NOT IN (SELECT DISTINCT job_id FROM item)")
        return n

    # --- reading ----------------------------------------------------------------------------

    def job(self, job_id: int) -> Job | None:
        rows = self._query(f"SELECT {_JOB_COLS} FROM job WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self) -> list[Job]:
        return [_job(r) for r in self._query(f"SELECT {_JOB_COLS} FROM job ORDER BY id")]

    def items(self, job_id: int | None = None, states: Sequence[str] | None = None,
              transaction_uid: str | None = None) -> list[Item]:
        sql = f"SELECT {_ITEM_COLS} FROM item WHERE 1=1"
        args: list = []
        if job_id is not None:
            sql += " AND job_id=?"
            args.append(job_id)
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        if transaction_uid is not None:
            sql += " AND commit_transaction_uid=?"
            args.append(transaction_uid)
        return [_item(r) for r in self._query(sql + " ORDER BY id", args)]

    def due_items(self, job_id: int, now: float | None = None) -> list[Item]:
        now = time.time() if now is None else now
        return [_item(r) for r in self._query(
            f"SELECT {_ITEM_COLS} FROM item WHERE job_id=? AND state='queued' AND next_attempt_at<=? ORDER BY id",
            (job_id, now))]

    def due_jobs(self, job_ids: Sequence[int] | None = None, now: float | None = None) -> list[int]:
        """Jobs with items due for sending, oldest first."""
        now = time.time() if now is None else now
        rows = self._query("SELECT DISTINCT job_id FROM item WHERE state='queued' AND next_attempt_at<=? "
                           "ORDER BY job_id", (now,))
        return [r[0] for r in rows if job_ids is None or r[0] in job_ids]

    def due_commitments(self, job_ids: Sequence[int] | None = None, now: float | None = None) -> list[int]:
        now = time.time() if now is None else now
        rows = self._query("SELECT id FROM job WHERE commit_state='due' AND commit_due_at<=? ORDER BY id", (now,))
        return [r[0] for r in rows if job_ids is None or r[0] in job_ids]

    def next_wakeup(self, job_ids: Sequence[int] | None = None) -> float | None:
        """When the next item or commitment of *job_ids* (all jobs: None) becomes due; None if nothing waits."""
        times: list[float] = []
        for job_id, t in self._query("SELECT job_id, MIN(next_attempt_at) FROM item WHERE state='queued' GROUP BY job_id"):
            if job_ids is None or job_id in job_ids:
                times.append(t)
        for job_id, t in self._query("SELECT id, commit_due_at FROM job WHERE commit_state IN ('due')"):
            if job_ids is None or job_id in job_ids:
                times.append(t or 0.0)
        return min(times) if times else None

    def pending_commit(self, job_ids: Sequence[int] | None = None) -> bool:
        rows = self._query("SELECT id FROM job WHERE commit_state IN ('pending','due','requested')")
        return any(job_ids is None or r[0] in job_ids for r in rows)

    def counts(self, job_id: int | None = None) -> dict[str, int]:
        sql, args = "SELECT state, COUNT(*) FROM item", []
        if job_id is not None:
            sql += " WHERE job_id=?"
            args.append(job_id)
        out = dict.fromkeys(STATES, 0)
        out.update({s: n for s, n in self._query(sql + " GROUP BY state", args)})
        return out
