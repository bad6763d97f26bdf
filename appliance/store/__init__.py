"""The local store: an SQLite index (patient, study, series, instance) plus files on disk.

Writes are atomic and, by default, durable before they are acknowledged: the file goes to a
temporary name inside the store, is fsynced, renamed into place, its folder fsynced, and only
then is the index row committed. For products that answer before writing, the fsyncs follow
the answer (see :mod:`.index`). A half-received instance never appears in the index or under
its final name. File paths are built only from validated UIDs, never from raw dataset values.
"""

from __future__ import annotations

__all__ = ["Store", "InstanceRecord", "StoreResult", "Duplicate", "StoreFull", "encode_file_meta", "parse_header"]

from .index import Duplicate, StoreFull, InstanceRecord, Store, StoreResult, encode_file_meta, parse_header
