"""SQLite index and atomic file placement for received and acquired instances.

Durability, in the order the work is done for one instance: the file is written under
``tmp/`` and fsynced, renamed into ``objects/<study>/<series>/`` and that folder fsynced --
only then is the index row committed and the instance reported stored. A crash leaves
either a ``tmp/*.part`` or ``tmp/*.spare`` (never acknowledged; removed at the next open) or
a complete file.

The index (SQLite, WAL) commits with ``synchronous=NORMAL``: a commit is safe from a crash
of the process (the WAL is written before COMMIT returns) but the last commits before a
crash of the machine (power loss) may be missing from it. Such a crash is noticed at the
next open (the kernel's boot id differs from the one the index recorded), and the index is
then reconciled with ``objects/``: every instance file the index does not list is read and
indexed. Files are the record; the index catches up from them.

A product that answers a C-STORE before it has written the instance (``response_after =
"receive"``: syngo CT VA50A Table 13, syngo MI.PET/CT and COHERENCE §3.2.3.1.3 / §5.1.3.1.3)
is emulated with :meth:`Store.add_received` ``durable=False``: the file is written and renamed
into place and indexed (so a crash of the process loses nothing: the bytes are in the
operating system's cache), the answer goes out, and a background thread fsyncs the file and
its folder. Only a crash of the machine in those milliseconds can lose an acknowledged
instance -- the risk the statements describe. After such a crash the reconciliation also
checks every indexed file is whole and drops (and logs) the rows of those that are not.
A process that did not close the store (killed) is noticed too, and the next open
reconciles.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import queue
import sqlite3
import struct
import threading
import time
import typing
import uuid
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Iterator, Literal

from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from ..encoded import HeaderUnsupported, walk_data_set
from ..errors import StoreError
from ..profile import is_valid_uid

LOGGER = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS patient (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    issuer TEXT NOT NULL DEFAULT '',
    name TEXT,
    birth_date TEXT,
    sex TEXT,
    UNIQUE (patient_id, issuer)
);
CREATE TABLE IF NOT EXISTS study (
    study_uid TEXT PRIMARY KEY,
    patient INTEGER NOT NULL REFERENCES patient(id),
    study_date TEXT,
    study_time TEXT,
    accession_number TEXT,
    study_id TEXT,
    description TEXT
);
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES study(study_uid),
    modality TEXT,
    series_number INTEGER,
    description TEXT
);
CREATE TABLE IF NOT EXISTS instance (
    sop_instance_uid TEXT PRIMARY KEY,
    sop_class_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL REFERENCES series(series_uid),
    instance_number INTEGER,
    transfer_syntax_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    source_ae TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS instance_series ON instance(series_uid);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE TABLE IF NOT EXISTS store_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    """This boot of the machine (Linux); empty where unknown (then every open reconciles)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""

# Attributes read from a dataset to index it (pixel data is never parsed).
INDEX_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "IssuerOfPatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "StudyDescription",
    "Modality",
    "SeriesNumber",
    "SeriesDescription",
    "InstanceNumber",
    "SpecificCharacterSet",
)


@dataclass(frozen=True)
class InstanceRecord:
    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax_uid: str
    path: Path
    size: int
    source_ae: str | None


@dataclass(frozen=True)
class HierarchyRow:
    """One instance with the keys of its patient, study and series (see :meth:`Store.hierarchy`)."""

    patient_id: str
    issuer: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: Path
    size: int
    modality: str | None
    instance_number: int | None


@dataclass(frozen=True)
class StoreResult:
    record: InstanceRecord
    outcome: Literal["stored", "duplicate", "replaced"]


class StoreFull(StoreError):
    """The disk holding the store is full: the instance was not stored."""


class Duplicate(StoreError):
    """Raised when the store's duplicate policy is ``reject`` and the instance is known."""


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class Store:
    """An instance store rooted at *root* (created if missing).

    Parameters
    ----------
    root : path
        Folder holding ``index.sqlite``, ``objects/`` and ``tmp/``.
    duplicates : {"keep_existing", "replace", "reject"}
        What :meth:`add` does with a SOP Instance UID already in the index.
    reconcile : bool, optional
        Check the index against ``objects/`` now (:meth:`reconcile`). By default only when
        the machine has restarted since the index was last opened (see the module docstring).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        duplicates: Literal["keep_existing", "replace", "reject"] = "keep_existing",
        reconcile: bool | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.duplicates = duplicates
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        try:
            self.objects.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store folder {self.root}: {exc.strerror}",
                "give --data a folder you can write to",
            ) from exc
        self._clean_tmp()
        self._lock = threading.Lock()
        self._tmp_prefix = uuid.uuid4().hex[:16]
        self._tmp_counter = itertools.count()  # next() on it is atomic: safe across association threads
        self._folders: set[Path] = set()  # series folders known to exist (durably) inside objects/
        self._total_size: int | None = None  # bytes of indexed instances, once computed
        self._data_version: int | None = None  # PRAGMA data_version when _total_size was computed
        self._patients: dict[tuple[str, str], tuple[int, str | None]] = {}  # indexed: row id, name
        self._series: set[str] = set()  # series UIDs indexed (their study too)
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: no fsync per commit; files are durable before they are indexed, and the
        # index catches up from them after a machine crash (module docstring)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        boot = _boot_id()
        row = self._db.execute("SELECT value FROM store_state WHERE key='boot_id'").fetchone()
        rebooted = not boot or row is None or row[0] != boot
        killed = self._openers_gone()
        if reconcile or (reconcile is None and (rebooted or killed)):
            self.reconcile(verify=rebooted and row is not None)
        with self._lock:
            if boot and (row is None or row[0] != boot):
                self._db.execute("INSERT OR REPLACE INTO store_state(key, value) VALUES ('boot_id', ?)", (boot,))
            self._opener = f"open:{os.getpid()}:{self._tmp_prefix}"
            self._db.execute("INSERT OR REPLACE INTO store_state(key, value) VALUES (?, ?)",
                             (self._opener, str(os.getpid())))
        self._syncs: "queue.Queue[tuple[Path, Path] | None]" = queue.Queue()
        self._syncer: threading.Thread | None = None
        self._sync_error: OSError | None = None
        # a temporary file created ahead by the fsync thread for the next received instance
        # (creating a file can cost 0.1-0.4 ms of the kernel's time -- ext4 skips inodes freed
        # in the last minutes one by one -- which is then spent while the peer sends, not
        # while it waits for the answer)
        self._spare: tuple[Path, typing.BinaryIO] | None = None
        self._spare_lock = threading.Lock()

    def _openers_gone(self) -> bool:
        """Whether a process that opened this store ended without closing it (killed); their
        marks are removed."""
        gone = []
        for key, pid in self._db.execute("SELECT key, value FROM store_state WHERE key LIKE 'open:%'"):
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                gone.append(key)
            except (PermissionError, ValueError):
                pass
        for key in gone:
            self._db.execute("DELETE FROM store_state WHERE key=?", (key,))
        return bool(gone)

    def close(self) -> None:
        self.flush()
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare[1].close()
            spare[0].unlink(missing_ok=True)
        with self._lock:
            try:
                self._db.execute("DELETE FROM store_state WHERE key=?", (self._opener,))
            except sqlite3.Error:
                pass
            self._db.close()

    # --- deferred fsyncs ("answer before writing" products) ---------------------------------

    def _sync_later(self, path: Path, folder: Path) -> None:
        if self._syncer is None or not self._syncer.is_alive():
            self._syncer = threading.Thread(target=self._sync_loop, name="store-fsync", daemon=True)
            self._syncer.start()
        self._syncs.put((path, folder))

    def _sync_loop(self) -> None:
        """fsync what :meth:`_sync_later` queued: every file, then each of their folders once
        (all that is queued when the thread looks is one batch: one folder fsync per batch
        instead of one per file)."""
        while True:
            batch = [self._syncs.get()]
            if batch[0] is not None:
                self._make_spare()
            while True:
                try:
                    batch.append(self._syncs.get_nowait())
                except queue.Empty:
                    break
            try:
                folders: dict[Path, None] = {}
                for item in batch:
                    if item is not None:
                        path, folder = item
                        if self._fsync_quietly(path):
                            folders[folder] = None
                for folder in folders:
                    self._fsync_quietly(folder)
            finally:
                for _ in batch:
                    self._syncs.task_done()
            if None in batch:
                return

    def _fsync_quietly(self, path: Path) -> bool:
        """fsync *path* (a file or a folder); an error is logged and kept, not raised."""
        try:
            fsync_path(path)
            return True
        except FileNotFoundError:
            return False  # replaced or removed meanwhile
        except OSError as exc:
            self._sync_error = exc
            LOGGER.error("store: %s could not be synced to disk: %s", path, exc)
            return False

    def _make_spare(self) -> None:
        """Create the next temporary file ahead (fsync thread; see ``_spare``): an empty
        ``tmp/*.spare`` until an instance is written to it."""
        if self._spare is not None:
            return
        part = self._new_part(".spare")
        try:
            fh = open(part, "wb", buffering=0)  # noqa: SIM115 - closed by _place or close()
        except OSError:
            return  # _place then creates its own, and reports the error
        with self._spare_lock:
            if self._spare is None:
                self._spare = (part, fh)
                return
        fh.close()
        part.unlink(missing_ok=True)

    def _new_part(self, suffix: str = ".part") -> Path:
        return self.tmp / f"{self._tmp_prefix}-{next(self._tmp_counter)}{suffix}"

    def _open_part(self) -> tuple[Path, typing.BinaryIO]:
        """A new temporary file under ``tmp/``: the spare one, when there is one."""
        with self._spare_lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            return spare
        part = self._new_part()
        return part, open(part, "wb", buffering=0)

    def flush(self) -> None:
        """Wait until every deferred fsync is done (the instances are durable)."""
        if self._syncer is not None and self._syncer.is_alive():
            self._syncs.join()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _clean_tmp(self) -> None:
        """Remove partial files left by a crash (never acknowledged), and spare ones."""
        for pattern in ("*.part", "*.spare"):
            for f in self.tmp.glob(pattern):
                try:
                    f.unlink()
                except OSError:
                    pass

    def _drop_broken(self) -> int:
        """After a crash of the machine: drop the index rows of files that are missing, of
        another size, or not whole DICOM (acknowledged before they were on disk)."""
        with self._lock:
            rows = list(self._db.execute("SELECT sop_instance_uid, path, size FROM instance"))
        broken = []
        for uid, rel, size in rows:
            path = self.root / rel
            try:
                ok = path.stat().st_size == size
                if ok:
                    parse_header(path.read_bytes())
            except (OSError, StoreError):
                ok = False
            if not ok:
                broken.append((uid, path))
        for uid, path in broken:
            LOGGER.error("store: %s (%s) was acknowledged but did not reach the disk before the machine "
                         "stopped; it is removed from the index (the sender must send it again)", uid, path)
            with self._lock:
                self._db.execute("DELETE FROM instance WHERE sop_instance_uid=?", (uid,))
            path.unlink(missing_ok=True)
        return len(broken)

    def reconcile(self, verify: bool = False) -> int:
        """Index every instance file under ``objects/`` that the index does not list; return
        how many. A file that cannot be read as DICOM is left where it is and logged. With
        *verify* (after a crash of the machine), first drop the rows of files that are not whole."""
        if verify and self._drop_broken():
            self._total_size = None
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT path FROM instance")}
        added = 0
        for dirpath, _dirs, files in os.walk(self.objects):
            for name in files:
                if not name.endswith(".dcm"):
                    continue
                path = Path(dirpath) / name
                rel = str(path.relative_to(self.root))
                if rel in known:
                    continue
                try:
                    data = path.read_bytes()
                    header = parse_header(data)
                    uids = self._safe_uids(header)
                    if self._folder(uids) / f"{uids['SOPInstanceUID']}.dcm" != path:
                        raise StoreError("its name or folder does not match its UIDs")
                    record = InstanceRecord(
                        sop_instance_uid=uids["SOPInstanceUID"], sop_class_uid=uids["SOPClassUID"],
                        study_uid=uids["StudyInstanceUID"], series_uid=uids["SeriesInstanceUID"],
                        transfer_syntax_uid=str(header.file_meta.get("TransferSyntaxUID", "")),
                        path=path, size=len(data), source_ae=None)
                    with self._lock:
                        if self._get_locked(record.sop_instance_uid) is None:
                            self._index_locked(header, record)
                            added += 1
                except (OSError, StoreError, sqlite3.Error) as exc:
                    LOGGER.warning("store: %s is not indexed and cannot be read as an instance: %s", path, exc)
        if added:
            self._total_size = None
            LOGGER.warning("store: %d instance file(s) were missing from the index (a crash); "
                           "indexed again from objects/", added)
        return added

    # --- writing ----------------------------------------------------------------------------

    def add_encoded(
        self,
        dataset_bytes: bytes,
        file_meta: FileMetaDataset,
        source_ae: str | None = None,
        header: Dataset | None = None,
    ) -> StoreResult:
        """Store an encoded dataset (as received over the network) with *file_meta*.

        The bytes are written unchanged after a Part 10 preamble and the given File Meta
        Information. *header* is the dataset's attributes if the caller has already parsed
        them (:func:`parse_header`). Raises :class:`StoreError` when it cannot be indexed.
        """
        meta_bytes = encode_file_meta(file_meta)
        if header is None:
            header = parse_header(meta_bytes + dataset_bytes)
        return self._place(header, [meta_bytes, dataset_bytes], str(file_meta.TransferSyntaxUID), source_ae)

    def add_received(
        self,
        dataset: bytes | memoryview,
        *,
        meta_bytes: bytes,
        transfer_syntax: str,
        header: Dataset,
        source_ae: str | None = None,
        durable: bool = True,
    ) -> StoreResult:
        """Store a data set as received over the network, without re-encoding anything.

        *meta_bytes* is the preamble and File Meta Information (:func:`encode_file_meta_fields`),
        *header* the data set's attributes (:func:`parse_dataset_header`); *dataset* may be a
        memoryview of the receive buffer: it is written as it is, after *meta_bytes*. With
        *durable* False the fsyncs are done afterwards by a background thread (module docstring).
        """
        return self._place(header, [meta_bytes, dataset], transfer_syntax, source_ae, sync=durable)

    def add_dataset(self, ds: Dataset, source_ae: str | None = None) -> StoreResult:
        """Store a pydicom Dataset (with ``file_meta``) as a Part 10 file."""
        self._safe_uids(ds)
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        return self._place(ds, [data], str(ds.file_meta.TransferSyntaxUID), source_ae)

    @staticmethod
    def _safe_uids(ds: Dataset) -> dict[str, str]:
        """The four UIDs that name files, each checked to be a valid UID (no path parts)."""
        uids = {}
        for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            value = str(ds.get(kw, "") or "")
            if not is_valid_uid(value):
                raise StoreError(f"{kw} {value!r} is missing or not a valid UID; the instance is not stored")
            uids[kw] = value
        return uids

    def _folder(self, uids: dict[str, str]) -> Path:
        """The instance's series folder, checked to be inside ``objects/`` (resolved once per folder)."""
        folder = self.objects / uids["StudyInstanceUID"] / uids["SeriesInstanceUID"]
        if folder not in self._folders:
            # Defence in depth: the path must stay inside the store whatever the UIDs were.
            if not folder.resolve().is_relative_to(self.objects):
                raise StoreError(f"refusing to write outside the store for SOP Instance UID {uids['SOPInstanceUID']!r}")
        return folder

    def _place(self, ds: Dataset, chunks: list, ts_uid: str, source_ae: str | None, sync: bool = True) -> StoreResult:
        uids = self._safe_uids(ds)
        sop_uid = uids["SOPInstanceUID"]
        folder = self._folder(uids)
        final = folder / f"{sop_uid}.dcm"

        # (a duplicate is found under the lock below, after the write: one index look-up per
        # instance instead of two; a duplicate costs a write)
        part = None
        size = 0
        try:
            part, fh = self._open_part()
            with fh:
                for c in chunks:
                    fh.write(c)
                    size += len(c)
                if sync:
                    os.fsync(fh.fileno())
        except OSError as exc:
            if part is not None:
                part.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(f"cannot write {sop_uid}: {exc.strerror}", "free disk space in the store folder") from exc
            raise StoreError(f"cannot write {sop_uid}: {exc.strerror}") from exc

        record = InstanceRecord(
            sop_instance_uid=sop_uid,
            sop_class_uid=uids["SOPClassUID"],
            study_uid=uids["StudyInstanceUID"],
            series_uid=uids["SeriesInstanceUID"],
            transfer_syntax_uid=ts_uid,
            path=final,
            size=size,
            source_ae=source_ae,
        )
        with self._lock:
            # a concurrent association may have won
            existing = self._get_locked(sop_uid) if self._known_locked(sop_uid) else None
            if existing is not None and self.duplicates != "replace":
                part.unlink(missing_ok=True)
                if self.duplicates == "reject":
                    raise Duplicate(f"SOP Instance UID {sop_uid} is already stored")
                return StoreResult(existing, "duplicate")
            try:
                if folder not in self._folders:
                    _make_dirs_durable(folder, self.objects)
                    self._folders.add(folder)
                try:
                    os.replace(part, final)
                except FileNotFoundError:  # the folder was removed behind our back: make it again
                    self._folders.discard(folder)
                    _make_dirs_durable(folder, self.objects)
                    self._folders.add(folder)
                    os.replace(part, final)
                if sync:
                    fsync_path(folder)
                self._index_locked(ds, record)
            except (OSError, sqlite3.Error) as exc:
                part.unlink(missing_ok=True)
                if existing is None:
                    final.unlink(missing_ok=True)
                raise StoreError(f"cannot store {sop_uid}: {exc}") from exc
            if self._total_size is not None:
                self._total_size += size - (existing.size if existing is not None else 0)
        if not sync:
            self._sync_later(final, folder)
        outcome = "replaced" if existing is not None else "stored"
        return StoreResult(record, outcome)

    def _index_locked(self, ds: Dataset, r: InstanceRecord) -> None:
        db = self._db
        pid = _text(ds, "PatientID") or ""
        issuer = _text(ds, "IssuerOfPatientID") or ""
        name = _text(ds, "PatientName")
        known_patient = self._patients.get((pid, issuer))
        # rows are never deleted from the index: a patient (with this name) or a series seen
        # by this store object is still there, and its statements can be left out
        new_series = r.series_uid not in self._series
        db.execute("BEGIN IMMEDIATE")
        try:
            if known_patient is None or known_patient[1] != name:
                db.execute(
                    "INSERT INTO patient(patient_id, issuer, name, birth_date, sex) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(patient_id, issuer) DO UPDATE SET name=excluded.name WHERE name IS NOT excluded.name",
                    (pid, issuer, name, _text(ds, "PatientBirthDate"), _text(ds, "PatientSex")),
                )
                (patient_row,) = db.execute(
                    "SELECT id FROM patient WHERE patient_id=? AND issuer=?", (pid, issuer)
                ).fetchone()
            else:
                patient_row = known_patient[0]
            if new_series:
                db.execute(
                    "INSERT OR IGNORE INTO study(study_uid, patient, study_date, study_time, accession_number, "
                    "study_id, description) VALUES (?,?,?,?,?,?,?)",
                    (
                        r.study_uid,
                        patient_row,
                        _text(ds, "StudyDate"),
                        _text(ds, "StudyTime"),
                        _text(ds, "AccessionNumber"),
                        _text(ds, "StudyID"),
                        _text(ds, "StudyDescription"),
                    ),
                )
                db.execute(
                    "INSERT OR IGNORE INTO series(series_uid, study_uid, modality, series_number, description) "
                    "VALUES (?,?,?,?,?)",
                    (r.series_uid, r.study_uid, _text(ds, "Modality"), _int(ds, "SeriesNumber"),
                     _text(ds, "SeriesDescription")),
                )
            db.execute(
                "INSERT OR REPLACE INTO instance(sop_instance_uid, sop_class_uid, series_uid, instance_number, "
                "transfer_syntax_uid, path, size, source_ae, received_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    r.sop_instance_uid,
                    r.sop_class_uid,
                    r.series_uid,
                    _int(ds, "InstanceNumber"),
                    r.transfer_syntax_uid,
                    str(r.path.relative_to(self.root)),
                    r.size,
                    r.source_ae,
                    time.time(),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._patients[(pid, issuer)] = (patient_row, name)
        self._series.add(r.series_uid)

    # --- reading ----------------------------------------------------------------------------

    def _row_to_record(self, row: tuple) -> InstanceRecord:
        sop, cls, study, series, ts, path, size, src = row
        return InstanceRecord(sop, cls, study, series, ts, self.root / path, size, src)

    _SELECT = (
        "SELECT i.sop_instance_uid, i.sop_class_uid, s.study_uid, i.series_uid, i.transfer_syntax_uid, "
        "i.path, i.size, i.source_ae FROM instance i JOIN series s ON s.series_uid = i.series_uid"
    )

    def _get_locked(self, sop_uid: str) -> InstanceRecord | None:
        row = self._db.execute(self._SELECT + " WHERE i.sop_instance_uid=?", (sop_uid,)).fetchone()
        return self._row_to_record(row) if row else None

    def _known_locked(self, sop_uid: str) -> bool:
        """Whether the index lists *sop_uid* (the primary key alone: no join, no record)."""
        return self._db.execute("SELECT 1 FROM instance WHERE sop_instance_uid=?", (sop_uid,)).fetchone() is not None

    def get(self, sop_uid: str) -> InstanceRecord | None:
        """The record of one instance, or None."""
        with self._lock:
            return self._get_locked(sop_uid)

    def instances(self, study_uid: str | None = None) -> list[InstanceRecord]:
        """All instances, or those of one study, ordered by series and instance number."""
        sql = self._SELECT
        args: tuple = ()
        if study_uid:
            sql += " WHERE s.study_uid=?"
            args = (study_uid,)
        sql += " ORDER BY s.study_uid, i.series_uid, i.instance_number, i.sop_instance_uid"
        with self._lock:
            return [self._row_to_record(r) for r in self._db.execute(sql, args).fetchall()]

    def counts(self) -> dict[str, int]:
        """Number of patients, studies, series and instances in the index."""
        with self._lock:
            return {
                t: self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("patient", "study", "series", "instance")
            }

    def __iter__(self) -> Iterator[InstanceRecord]:
        return iter(self.instances())

    # --- queries for the Query/Retrieve and Storage Commitment SCPs --------------------------

    _HIERARCHY = (
        "SELECT p.patient_id, p.issuer, s.study_uid, i.series_uid, i.sop_instance_uid, i.sop_class_uid, "
        "i.transfer_syntax_uid, i.path, i.size, se.modality, i.instance_number "
        "FROM instance i JOIN series se ON se.series_uid = i.series_uid "
        "JOIN study s ON s.study_uid = se.study_uid JOIN patient p ON p.id = s.patient"
    )

    def hierarchy(
        self,
        patient_ids: typing.Sequence[str] | None = None,
        study_uids: typing.Sequence[str] | None = None,
        series_uids: typing.Sequence[str] | None = None,
        sop_instance_uids: typing.Sequence[str] | None = None,
    ) -> list[HierarchyRow]:
        """Every instance with its patient, study and series keys, optionally narrowed.

        Each argument, when given, keeps only rows whose key is one of its values (exact
        matches, as a Q/R SCP's unique keys and UID lists need). Rows come ordered by patient,
        study, series, instance number and SOP Instance UID.
        """
        clauses: list[str] = []
        args: list[str] = []
        for column, values in (
            ("p.patient_id", patient_ids),
            ("s.study_uid", study_uids),
            ("i.series_uid", series_uids),
            ("i.sop_instance_uid", sop_instance_uids),
        ):
            if values is None:
                continue
            values = list(dict.fromkeys(values))
            if not values:
                return []
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
        sql = self._HIERARCHY
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY p.patient_id, p.issuer, s.study_uid, i.series_uid, i.instance_number, i.sop_instance_uid"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            HierarchyRow(pid, issuer, study, series, sop, cls, ts, self.root / path, size, modality, number)
            for pid, issuer, study, series, sop, cls, ts, path, size, modality, number in rows
        ]

    def total_size(self) -> int:
        """Bytes of all indexed instance files (for a store quota); summed once, then kept up to date."""
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]  # changes on other connections' commits
            if self._total_size is None or version != self._data_version:
                self._total_size = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM instance").fetchone()[0])
                self._data_version = version
            return self._total_size


def encode_file_meta(file_meta: FileMetaDataset) -> bytes:
    """Preamble, ``DICM`` and the encoded File Meta Information group."""
    buf = BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, file_meta, enforce_standard=True)
    return buf.getvalue()


_SHORT = struct.Struct("<HH2sH")  # explicit VR element header with a 2-byte length (UI, SH, AE)
_LONG = struct.Struct("<HH2sHL")  # OB header: tag, VR, 2 reserved, 4-byte length (also: tag, "UL", 4, UL value)


def _meta_element(elem: int, vr: bytes, value: str, pad: bytes) -> bytes:
    raw = value.encode("ascii")
    if len(raw) % 2:
        raw += pad
    return _SHORT.pack(0x0002, elem, vr, len(raw)) + raw


def encode_file_meta_fields(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    implementation_class_uid: str,
    implementation_version_name: str | None = None,
    source_ae_title: str | None = None,
) -> bytes:
    """Preamble, ``DICM`` and the File Meta Information group for these values (PS3.10 7.1).

    The same bytes as :func:`encode_file_meta` for a group holding only these elements
    (and the version 00\\01), built directly: pydicom's writer costs ~0.2 ms per
    instance on the receive path. An *implementation_version_name* of ``""`` is written as
    an empty element (a product whose statement leaves it blank), None leaves it out.
    Values must be ASCII (UIDs, AE titles and the implementation version are); a
    ValueError is raised otherwise.
    """
    try:
        body = b"".join(
            (
                _LONG.pack(0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01",
                _meta_element(0x0002, b"UI", sop_class_uid, b"\0"),
                _meta_element(0x0003, b"UI", sop_instance_uid, b"\0"),
                _meta_element(0x0010, b"UI", transfer_syntax_uid, b"\0"),
                _meta_element(0x0012, b"UI", implementation_class_uid, b"\0"),
                (_meta_element(0x0013, b"SH", implementation_version_name, b" ")
                 if implementation_version_name is not None else b""),
                _meta_element(0x0016, b"AE", source_ae_title, b" ") if source_ae_title else b"",
            )
        )
    except UnicodeEncodeError as exc:
        raise ValueError(f"File Meta Information values must be ASCII: {exc}") from None
    return b"\x00" * 128 + b"DICM" + _LONG.pack(0x0002, 0x0000, b"UL", 4, len(body)) + body


class _ViewReader:
    """The read/seek/tell of a binary file over a memoryview, without copying it first."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._pos = 0
        self.name = "<received data set>"

    def read(self, size: int = -1) -> bytes:
        start = self._pos
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._pos = end
        return bytes(self._view[start:end])

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, len(self._view))[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class Header(dict):
    """Attributes of a received data set by keyword, as :func:`parse_dataset_header` read them.

    A plain mapping (``get``, ``in``) with attribute access, holding what pydicom would give
    for these values: ``str`` for text and UIDs (a list for a multi-valued Specific Character
    Set), ``int`` for IS and US, None for an empty number.
    """

    def __getattr__(self, keyword: str) -> typing.Any:
        try:
            return self[keyword]
        except KeyError:
            raise AttributeError(keyword) from None


_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_TEXT_VRS = frozenset((b"AE", b"AS", b"CS", b"DA", b"DT", b"LO", b"LT", b"PN", b"SH", b"ST", b"TM", b"UC", b"UT"))
# VRs whose characters the Specific Character Set selects (PS3.5 6.1.2.3); the others are ASCII
_CHARSET_VRS = frozenset((b"LO", b"LT", b"PN", b"SH", b"ST", b"UC", b"UT"))
# single-byte and UTF-8 character sets, decoded as pydicom decodes them; any other (ISO 2022
# code extensions, multi-byte sets): pydicom reads the header
_ENCODINGS = {"": "ascii", "ISO_IR 6": "ascii", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8"}


def _plain_value(keyword: str, vr: bytes, raw: bytes | memoryview, encoding: str) -> typing.Any:
    """The value pydicom gives for one encoded element, for the VRs and character sets whose
    decoding is plain (*encoding* for the VRs the character set applies to, ASCII for the
    others); HeaderUnsupported otherwise."""
    data = bytes(raw)
    if vr == b"US":
        if len(data) == 0:
            return None
        if len(data) != 2:
            raise HeaderUnsupported("a multi-valued US")
        return struct.unpack("<H", data)[0]
    if b"\x1b" in data:  # an ISO 2022 escape sequence: pydicom's job
        raise HeaderUnsupported("a code extension")
    text = data.decode(encoding if vr in _CHARSET_VRS else "ascii")  # UnicodeDecodeError: pydicom's job
    if vr == b"UI":
        text = text.rstrip("\0 ")
    elif vr == b"IS":
        text = text.strip(" \0")
        if "\\" in text:
            raise HeaderUnsupported("a multi-valued IS")
        return int(text) if text else None  # ValueError for anything else: pydicom's job
    elif vr in _TEXT_VRS:
        text = text.rstrip(" \0")
    else:
        raise HeaderUnsupported(f"a {vr.decode('ascii', 'replace')} value")
    if "\\" in text:
        if keyword != "SpecificCharacterSet":
            raise HeaderUnsupported("a multi-valued attribute")
        return [part.strip(" ") for part in text.split("\\")]
    return text


def _walk_header(view: memoryview, keywords: dict[int, str], last: int) -> Header:
    elements, _, _ = walk_data_set(view, 0, len(view), last + 1, keywords)
    charset = elements.get(0x00080005)
    try:
        encoding = _ENCODINGS[bytes(charset[1]).decode("ascii").strip(" \0") if charset else ""]
    except (KeyError, UnicodeDecodeError):
        raise HeaderUnsupported("a character set pydicom decodes") from None
    return Header({keywords[tag]: _plain_value(keywords[tag], vr, raw, encoding)
                   for tag, (vr, raw, _) in elements.items()})


def parse_dataset_header(
    dataset: bytes | memoryview, transfer_syntax: str, extra_keywords: tuple[str, ...] = ()
) -> Header | Dataset:
    """Parse the attributes the index needs (plus *extra_keywords*) from an encoded data set.

    *dataset* is the data set as received over the network (no preamble or File Meta
    Information) in *transfer_syntax*. Reading stops at the first attribute after the last
    one wanted, so pixel data is never read. Raises :class:`StoreError` on malformed input.

    Explicit VR Little Endian data sets in the default, Latin-1 or UTF-8 character set are
    walked without pydicom (:mod:`appliance.encoded`) and give a :class:`Header`; everything
    else (other syntaxes and character sets, odd values) is read by pydicom and gives a
    ``Dataset``.
    Both answer ``get(keyword)`` alike.
    """
    keywords = {t: k for k, t in ((k, tag_for_keyword(k)) for k in dict.fromkeys(INDEX_KEYWORDS + tuple(extra_keywords)))
                if t is not None}
    last = max(keywords)
    ts = UID(transfer_syntax)
    view = memoryview(dataset).cast("B")
    if ts == _EXPLICIT_LE:
        try:
            return _walk_header(view, keywords, last)
        except (HeaderUnsupported, IndexError, ValueError, struct.error):  # (UnicodeDecodeError too)
            pass  # pydicom reads it (and says what is wrong, if anything)
    try:
        if ts == DeflatedExplicitVRLittleEndian:
            view = memoryview(zlib.decompress(bytes(view), -zlib.MAX_WBITS))
            implicit, little = False, True
        else:
            # a syntax pydicom does not know is Explicit VR Little Endian (PS3.5 A.4), as dcmread assumes
            implicit, little = (ts.is_implicit_VR, ts.is_little_endian) if ts.is_transfer_syntax else (False, True)
        return read_dataset(
            _ViewReader(view),  # type: ignore[arg-type]
            implicit,
            little,
            stop_when=lambda tag, vr, length: tag > last,
            specific_tags=list(keywords),  # type: ignore[arg-type]
        )
    except Exception as exc:  # pydicom raises many kinds on malformed input
        raise StoreError(f"the data set cannot be parsed: {exc}") from exc


def parse_header(part10: bytes, extra_keywords: tuple[str, ...] = ()) -> Dataset:
    """Parse the attributes the index needs (plus *extra_keywords*) from a Part 10 byte string.

    Pixel data is never decoded. Raises :class:`StoreError` on malformed input.
    """
    try:
        return dcmread(
            BytesIO(part10),
            stop_before_pixels=True,
            specific_tags=list(dict.fromkeys(INDEX_KEYWORDS + tuple(extra_keywords))),
        )
    except Exception as exc:  # pydicom raises many kinds on malformed input
        raise StoreError(f"the data set cannot be parsed: {exc}") from exc


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (its entries) by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs_durable(folder: Path, top: Path) -> None:
    """Create *folder* (below *top*) and fsync each parent whose entries changed."""
    missing = []
    p = folder
    while not p.exists() and p != top:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_path(d.parent)
