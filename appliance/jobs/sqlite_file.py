"""One SQLite file shared by the threads of a process: the durable queues' common plumbing.

Both durable queues (the send queue, :mod:`appliance.jobs.queue`, and the print queue,
:mod:`appliance.printing.queue`) keep their state in a WAL-mode SQLite file in the data
folder, open it the same way, serialise use with one lock, and write in ``BEGIN IMMEDIATE``
transactions; a ``durable`` transaction is fsynced before it returns (``synchronous=FULL``
for it alone when the file's default is ``NORMAL``).
"""

from __future__ import annotations

__all__ = ["SQLiteFile"]

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal, Sequence

from ..errors import StoreError


class SQLiteFile:
    """``<folder>/<file_name>`` opened with *schema*; a context manager."""

    def __init__(self, folder: str | Path, file_name: str, schema: str, *, what: str,
                 synchronous: Literal["NORMAL", "FULL"] = "NORMAL", foreign_keys: bool = False) -> None:
        self.folder = Path(folder)
        self._synchronous = synchronous
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = self.folder / file_name
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            if foreign_keys:
                self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the {what} in {self.folder}: {exc}",
                             "give a writable data folder (--data)") from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; *durable*: fsynced before it returns."""
        with self._lock:
            switch = durable and self._synchronous != "FULL"
            if switch:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if switch:
                    self._db.execute(f"PRAGMA synchronous={self._synchronous}")

    def _query(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()
