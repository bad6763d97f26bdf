"""The durable print queue: film jobs per camera, the cameras' queue state, the messages shown.

``<data>/print_jobs.sqlite`` (WAL, ``synchronous=FULL``) and ``<data>/print_spool/job_<id>/``
(the composed films: one ``.npy`` per image box and ``job.json``), modelled on the send queue
(:mod:`appliance.jobs.queue`) but in its own file and tables:

- ``print_job``: one job = the films of one print request for one camera, with the print
  settings, ``copies``, and progress counted in *film units* (a unit is one film of one copy
  when the product sends *n* copies as *n* jobs, else one film). States:
  ``queued`` -> ``printing`` -> ``printed`` | ``failed``; ``queued`` jobs wait while the
  camera's queue is stopped or the camera is not ready.
- ``camera``: per destination, the queue state (``running`` / ``stopped``), the last printer
  status and info, the reaction and message (the statement's status-bar message).
- ``print_message``: every message shown for a camera or job, in order.

Durable before acknowledged: the spool folder is written (temporary name, fsync, rename)
and the job row committed before :meth:`PrintQueue.enqueue` returns. Each film unit is
counted (committed) as soon as its N-ACTION is answered. After a crash, ``printing`` jobs go
back to ``queued`` and continue after the last counted unit; a film whose N-ACTION went out
but whose answer was lost may print twice (at most one per interrupted association).
"""

from __future__ import annotations

__all__ = ["PrintQueue", "PrintJob", "CameraState", "PrintMessage", "JOB_STATES"]

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import Node
from ..errors import StoreError
from ..jobs.sqlite_file import SQLiteFile
from .composition import FilmSheet

JOB_STATES = ("queued", "printing", "printed", "failed")
FILE_NAME = "print_jobs.sqlite"
SPOOL = "print_spool"

SCHEMA = """
CREATE TABLE IF NOT EXISTS print_job (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    dest_ae TEXT NOT NULL,
    dest_host TEXT NOT NULL,
    dest_port INTEGER NOT NULL,
    dest_name TEXT NOT NULL DEFAULT '',
    profile TEXT NOT NULL,
    calling_ae TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'printing', 'printed', 'failed')),
    color INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL,
    films INTEGER NOT NULL,
    copies INTEGER NOT NULL DEFAULT 1,
    units INTEGER NOT NULL,
    units_done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    spool TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    printed_at REAL
);
CREATE INDEX IF NOT EXISTS print_job_dest ON print_job(destination, state);
CREATE TABLE IF NOT EXISTS camera (
    destination TEXT PRIMARY KEY,
    queue_state TEXT NOT NULL DEFAULT 'running' CHECK (queue_state IN ('running', 'stopped')),
    printer_status TEXT NOT NULL DEFAULT '',
    status_info TEXT NOT NULL DEFAULT '',
    reaction TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS print_message (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    job_id INTEGER,
    at REAL NOT NULL,
    reaction TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class PrintJob:
    id: int
    node: Node
    profile: str
    calling_ae: str
    state: str
    color: bool
    settings: dict[str, Any]
    films: int
    copies: int
    units: int
    units_done: int
    attempts: int
    last_error: str
    spool: Path
    created_at: float

    @property
    def destination(self) -> str:
        return str(self.node)


@dataclass(frozen=True)
class CameraState:
    destination: str
    queue_state: str
    printer_status: str
    status_info: str
    reaction: str
    message: str
    updated_at: float

    @property
    def stopped(self) -> bool:
        return self.queue_state == "stopped"


@dataclass(frozen=True)
class PrintMessage:
    id: int
    destination: str
    job_id: int | None
    at: float
    reaction: str
    text: str


_JOB_COLS = ("id, dest_ae, dest_host, dest_port, dest_name, profile, calling_ae, state, color, settings, films, "
             "copies, units, units_done, attempts, last_error, spool, created_at")


def _job(row: tuple) -> PrintJob:
    (id_, ae, host, port, name, profile, calling, state, color, settings, films, copies, units, done, attempts,
     error, spool, created) = row
    return PrintJob(id_, Node(ae_title=ae, host=host, port=port, name=name), profile, calling, state, bool(color),
                    json.loads(settings), films, copies, units, done, attempts, error, Path(spool), created)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PrintQueue(SQLiteFile):
    """The print queue in *folder*; safe to share between threads of one process. Every
    transaction is fsynced (``synchronous=FULL``): a print job is a few per exam."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__(folder, FILE_NAME, SCHEMA, what="print queue", synchronous="FULL")
        try:
            (self.folder / SPOOL).mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the print queue in {self.folder}: {exc}",
                             "give a writable data folder (--data)") from exc
        self._remove_orphans()

    def __enter__(self) -> "PrintQueue":
        return self

    def _remove_orphans(self) -> None:
        """Spool folders of jobs that were never committed (a crash inside enqueue)."""
        known = {Path(r[0]).name for r in self._query("SELECT spool FROM print_job")}
        for d in (self.folder / SPOOL).iterdir():
            if d.is_dir() and d.name not in known:
                shutil.rmtree(d, ignore_errors=True)

    # --- jobs -----------------------------------------------------------------------------------

    def enqueue(self, films: Sequence[FilmSheet], node: Node, *, profile: str, calling_ae: str,
                settings: dict[str, Any], copies: int = 1, copies_as_jobs: bool = True) -> PrintJob:
        """Spool *films* for *node*; on disk and committed before it returns."""
        now = time.time()
        units = len(films) * (copies if copies_as_jobs else 1)
        color = any(f.color for f in films)
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO print_job (destination, dest_ae, dest_host, dest_port, dest_name, profile, calling_ae, "
                "state, color, settings, films, copies, units, spool, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (str(node), node.ae_title, node.host, node.port, node.name if node.name != str(node) else "",
                 profile, calling_ae, "queued", int(color), json.dumps(settings), len(films), copies, units, "", now,
                 now))
            job_id = int(cur.lastrowid or 0)
            spool = self.folder / SPOOL / f"job_{job_id}"
            self._write_spool(spool, films)
            db.execute("UPDATE print_job SET spool=? WHERE id=?", (str(spool), job_id))
            db.execute("INSERT OR IGNORE INTO camera (destination, updated_at) VALUES (?,?)", (str(node), now))
        job = self.job(job_id)
        assert job is not None
        return job

    def _write_spool(self, spool: Path, films: Sequence[FilmSheet]) -> None:
        tmp = spool.with_name(spool.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = []
        for i, film in enumerate(films):
            boxes = []
            for b, pixels in enumerate(film.boxes):
                if pixels is None:
                    boxes.append(None)
                    continue
                name = f"film_{i:04d}_box_{b:03d}.npy"
                with open(tmp / name, "wb") as fh:
                    np.save(fh, pixels)
                    fh.flush()
                    os.fsync(fh.fileno())
                boxes.append(name)
            meta.append({"display_format": film.display_format, "boxes": boxes, "bits_stored": film.bits_stored,
                         "color": film.color, "images": film.images, "layout": film.layout})
        with open(tmp / "job.json", "w") as fh:
            json.dump({"films": meta}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        os.replace(tmp, spool)
        _fsync_dir(spool.parent)

    def load_films(self, job: PrintJob) -> list[FilmSheet]:
        """The composed films of *job* from its spool folder."""
        try:
            meta = json.loads((job.spool / "job.json").read_text())
            films = []
            for f in meta["films"]:
                boxes = [None if name is None else np.load(job.spool / name) for name in f["boxes"]]
                films.append(FilmSheet(f["display_format"], boxes, f["bits_stored"], f["color"], f["images"],
                                       f.get("layout", "")))
            return films
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"print job {job.id}: its spooled films in {job.spool} cannot be read: {exc}",
                             "delete the job (vscanner printer jobs --purge) and print again") from exc

    def recover(self) -> int:
        """After a crash: ``printing`` jobs go back to ``queued``."""
        with self._tx() as db:
            return db.execute("UPDATE print_job SET state='queued', updated_at=? WHERE state='printing'",
                              (time.time(),)).rowcount

    def mark_printing(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE print_job SET state='printing', attempts=attempts+1, updated_at=? WHERE id=?",
                       (time.time(), job_id))

    def unit_done(self, job_id: int) -> int:
        with self._tx() as db:
            db.execute("UPDATE print_job SET units_done=units_done+1, updated_at=? WHERE id=?", (time.time(), job_id))
            return db.execute("SELECT units_done FROM print_job WHERE id=?", (job_id,)).fetchone()[0]

    def finish(self, job_id: int, state: str, error: str = "") -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE print_job SET state=?, last_error=?, updated_at=?, printed_at=? WHERE id=?",
                       (state, error, now, now if state == "printed" else None, job_id))

    def requeue(self, job_id: int, error: str = "") -> None:
        with self._tx() as db:
            db.execute("UPDATE print_job SET state='queued', last_error=?, updated_at=? WHERE id=?",
                       (error, time.time(), job_id))

    def retry(self, job_id: int | None = None) -> int:
        """Failed jobs (one, or all) go back to ``queued`` from their first unprinted unit."""
        where, args = ("AND id=?", [job_id]) if job_id is not None else ("", [])
        with self._tx() as db:
            return db.execute(f"UPDATE print_job SET state='queued', last_error='', updated_at=? "
                              f"WHERE state='failed' {where}", [time.time(), *args]).rowcount

    def purge(self, states: Sequence[str] = ("printed", "failed")) -> int:
        states = [s for s in states if s in ("printed", "failed", "queued")]
        if not states:
            return 0
        marks = ",".join("?" * len(states))
        rows = self._query(f"SELECT id, spool FROM print_job WHERE state IN ({marks})", states)
        with self._tx() as db:
            db.executemany("DELETE FROM print_job WHERE id=?", [(r[0],) for r in rows])
        for _, spool in rows:
            shutil.rmtree(spool, ignore_errors=True)
        return len(rows)

    def job(self, job_id: int) -> PrintJob | None:
        rows = self._query(f"SELECT {_JOB_COLS} FROM print_job WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, states: Sequence[str] | None = None, destination: str | None = None) -> list[PrintJob]:
        sql, args = f"SELECT {_JOB_COLS} FROM print_job WHERE 1=1", []
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        if destination is not None:
            sql += " AND destination=?"
            args.append(destination)
        return [_job(r) for r in self._query(sql + " ORDER BY id", args)]

    # --- cameras and messages ----------------------------------------------------------------------

    def camera(self, destination: str) -> CameraState:
        rows = self._query("SELECT destination, queue_state, printer_status, status_info, reaction, message, "
                           "updated_at FROM camera WHERE destination=?", (destination,))
        if rows:
            return CameraState(*rows[0])
        return CameraState(destination, "running", "", "", "", "", 0.0)

    def cameras(self) -> list[CameraState]:
        return [CameraState(*r) for r in self._query(
            "SELECT destination, queue_state, printer_status, status_info, reaction, message, updated_at "
            "FROM camera ORDER BY destination")]

    def record_status(self, destination: str, printer_status: str, info: str, reaction: str, message: str,
                      *, stop: bool = False) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO camera (destination, updated_at) VALUES (?,?)", (destination, now))
            db.execute("UPDATE camera SET printer_status=?, status_info=?, reaction=?, message=?, updated_at=?"
                       + (", queue_state='stopped'" if stop else "") + " WHERE destination=?",
                       (printer_status, info, reaction, message, now, destination))

    def set_queue_state(self, destination: str, state: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO camera (destination, updated_at) VALUES (?,?)", (destination, now))
            db.execute("UPDATE camera SET queue_state=?, updated_at=? WHERE destination=?", (state, now, destination))

    def add_message(self, destination: str, text: str, *, job_id: int | None = None, reaction: str = "") -> None:
        with self._tx() as db:
            db.execute("INSERT INTO print_message (destination, job_id, at, reaction, text) VALUES (?,?,?,?,?)",
                       (destination, job_id, time.time(), reaction, text))

    def messages(self, destination: str | None = None, job_id: int | None = None,
                 since_id: int = 0) -> list[PrintMessage]:
        sql, args = "SELECT id, destination, job_id, at, reaction, text FROM print_message WHERE id>?", [since_id]
        if destination is not None:
            sql += " AND destination=?"
            args.append(destination)
        if job_id is not None:
            sql += " AND (job_id=? OR job_id IS NULL)"
            args.append(job_id)
        return [PrintMessage(*r) for r in self._query(sql + " ORDER BY id", args)]
