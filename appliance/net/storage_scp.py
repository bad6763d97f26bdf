"""Storage SCP: receive C-STORE, validate the minimal header, store, answer.

Policy (what status for what) is a pure function of the profile and the request, in
:func:`check_instance` and :func:`check_resources`; :func:`handle_store` does the I/O. When
success is answered follows the profile's ``response_after``: ``"disk"`` and ``"index"``
answer once the instance is fsynced, renamed into place and indexed; ``"receive"`` (products
that answer after a plausibility check, before writing) answers once the file is written,
renamed and indexed, with its fsyncs done right after by the store's background thread
(:meth:`Store.add_received`, ``durable=False``): nothing is lost when vscanner is killed, and
only a crash of the machine in those milliseconds can lose what was acknowledged -- what the
statements say of the real product.

Per profile: the failure statuses (``status_out_of_resources``, ``status_mismatch``,
``status_unable_to_process``), the duplicate policy (``duplicates``, applied by the store; a
kept or replaced duplicate is answered with success, a rejected one with
``status_unable_to_process``) and whether the association is aborted after a failure
(``abort_on_failure``). What the product changes before storing (unknown private attributes
in Implicit VR, private attributes in sequence items, decompression) is applied by
:mod:`.import_rules`. Out of resources is answered when the store's quota would be exceeded
or the disk's free space would drop under the site's threshold (``vscanner serve
--store-quota / --min-free-space``), or when the disk is really full.
"""

from __future__ import annotations

__all__ = ["StorageContext", "handle_store", "check_instance", "check_resources"]

import logging
import shutil
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from ..errors import StoreError
from ..profile import Profile, is_valid_uid
from ..store import Duplicate, Store, StoreFull
from ..store.index import encode_file_meta, encode_file_meta_fields, parse_dataset_header
from .import_rules import applies, apply_import_rules
from .policy import AfterResponse

LOGGER = logging.getLogger(__name__)

SUCCESS = 0x0000


@dataclass
class StorageContext:
    """What the C-STORE handler needs: the profile, the store and the local AE title.

    *quota* (bytes of stored instances) and *min_free_space* (bytes left on the store's
    disk) are the site's out-of-resources thresholds; None = no limit. *after_response*
    carries out ``abort_on_failure``.
    """

    profile: Profile
    store: Store
    ae_title: str
    quota: int | None = None
    min_free_space: int | None = None
    after_response: AfterResponse | None = None
    aborting: "weakref.WeakSet[Any]" = field(default_factory=weakref.WeakSet)


def check_resources(size: int, stored: int, free: int, quota: int | None, min_free_space: int | None) -> str | None:
    """Why an instance of *size* bytes does not fit, or None.

    *stored* is the bytes already in the store, *free* the free bytes of its disk.
    """
    if quota is not None and stored + size > quota:
        return f"store quota of {quota} bytes reached ({stored} stored, {size} more received)"
    if min_free_space is not None and free - size < min_free_space:
        return f"less than {min_free_space} bytes would stay free on the store's disk ({free} free)"
    return None


def check_instance(profile: Profile, request_sop_class: str, request_sop_instance: str, ds: Dataset) -> tuple[int, str] | None:
    """Return ``(status, comment)`` when the instance must be refused, else None.

    Checks, in order: the request's UIDs are valid UIDs, the profile's required attributes
    are present and filled, and the dataset's SOP Class/Instance UIDs match the request.
    """
    policy = profile.storage_scp
    mismatch = int(policy.status_mismatch, 16)
    if not is_valid_uid(request_sop_instance):
        return mismatch, f"Affected SOP Instance UID {request_sop_instance!r} is not a valid UID"
    missing = [kw for kw in policy.required_attributes if not ds.get(kw)]
    if missing:
        return mismatch, "missing or empty: " + ", ".join(missing)
    for kw in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        value = ds.get(kw)
        if value is not None and not is_valid_uid(str(value)):
            return mismatch, f"{kw} {str(value)!r} is not a valid UID"
    if str(ds.get("SOPInstanceUID", request_sop_instance)) != request_sop_instance:
        return mismatch, "SOP Instance UID in the data set differs from the C-STORE request"
    if str(ds.get("SOPClassUID", request_sop_class)) != request_sop_class:
        return mismatch, "SOP Class UID in the data set differs from the C-STORE request"
    return None


def abort_after_response(assoc) -> None:  # type: ignore[no-untyped-def]
    """A-ABORT *assoc* right after the response being sent now, before any further request.

    Called from ``evt.EVT_DIMSE_SENT``, which pynetdicom triggers just before it encodes and
    queues the response. The association's reactor is told to pause once it has sent it
    (pynetdicom's own ``_reactor_checkpoint``, the mechanism its ``send_*`` methods use), and
    a thread aborts once the response has left: the peer sees the status the statement
    gives, then the A-ABORT. A request pynetdicom had already read meanwhile is refused by
    :func:`handle_store` without being stored (its answer never reaches the peer).
    """
    checkpoint = getattr(assoc, "_reactor_checkpoint", None)
    if checkpoint is not None:
        checkpoint.clear()
    threading.Thread(target=_abort_when_sent, args=(assoc,), daemon=True, name="abort-after-failure").start()


def _abort_when_sent(assoc, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and assoc.is_established:
        if getattr(assoc, "_is_paused", True) and assoc.dul.to_provider_queue.empty():
            break
        time.sleep(0.002)
    time.sleep(0.02)  # the DUL thread writes the last PDU to the socket
    if assoc.is_established:
        assoc.abort()


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def handle_store(event, ctx: StorageContext) -> Dataset:  # type: ignore[no-untyped-def]
    """Handler for ``evt.EVT_C_STORE``.

    The data set is written as it was received: the File Meta Information is encoded once,
    the header is parsed once (up to the last indexed attribute, never the pixel data), and
    the received bytes go to the store's temporary file straight from pynetdicom's receive
    buffer (a memoryview, no copy).
    """
    req = event.request
    sop_class = str(req.AffectedSOPClassUID)
    sop_uid = str(req.AffectedSOPInstanceUID)
    calling = event.assoc.requestor.ae_title
    policy = ctx.profile.storage_scp

    if event.assoc in ctx.aborting:
        # a request read after the failure that aborts this association: not served
        LOGGER.debug("C-STORE %s from %s ignored: the association is being aborted", sop_uid, calling)
        return _status(int(policy.status_unable_to_process, 16), "association aborted")

    raw = req.DataSet.getbuffer()  # the received data set, without a copy; released below
    try:
        return _store(event, ctx, req, raw, sop_class, sop_uid, calling)
    finally:
        raw.release()


def _file_meta(ctx: StorageContext, sop_class: str, sop_uid: str, ts_uid: str, calling: str) -> bytes:
    profile = ctx.profile
    media_uid = sop_uid if is_valid_uid(sop_uid) else "0"
    version = profile.media_implementation_version_name
    try:
        return encode_file_meta_fields(sop_class, media_uid, ts_uid, profile.media_implementation_class_uid,
                                       version, calling)
    except ValueError:  # not ASCII (a malformed request): let pydicom encode what it can
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = media_uid
        meta.TransferSyntaxUID = ts_uid
        meta.ImplementationClassUID = profile.media_implementation_class_uid
        if version is not None:
            meta.ImplementationVersionName = version
        meta.SourceApplicationEntityTitle = calling
        return encode_file_meta(meta)


def _store(event, ctx: StorageContext, req, raw: memoryview,  # type: ignore[no-untyped-def]
           sop_class: str, sop_uid: str, calling: str) -> Dataset:
    profile = ctx.profile
    policy = profile.storage_scp
    ts_uid = event.context.transfer_syntax

    def failure(code: int, comment: str) -> Dataset:
        if policy.abort_on_failure and ctx.after_response is not None:
            assoc = event.assoc
            ctx.aborting.add(assoc)
            LOGGER.warning("aborting the association with %s after the failure, as the statement says", calling)
            ctx.after_response.schedule(assoc, req.MessageID, lambda: abort_after_response(assoc), inline=True)
        return _status(code, comment)

    try:
        header = parse_dataset_header(raw, ts_uid, policy.required_attributes)
    except StoreError as exc:
        LOGGER.warning("C-STORE from %s refused: %s: %s", calling, sop_uid, exc.message)
        return failure(int(policy.status_unable_to_process, 16), "data set cannot be parsed")

    refused = check_instance(profile, sop_class, sop_uid, header)
    if refused:
        code, comment = refused
        LOGGER.warning("C-STORE from %s refused with 0x%04X: %s", calling, code, comment)
        return failure(code, comment)

    if ctx.quota is not None or ctx.min_free_space is not None:
        try:
            free = shutil.disk_usage(ctx.store.root).free
        except OSError:
            free = 0
        short = check_resources(len(raw), ctx.store.total_size() if ctx.quota is not None else 0, free,
                                ctx.quota, ctx.min_free_space)
        if short and ctx.store.get(sop_uid) is None:
            code = int(policy.status_out_of_resources, 16)
            LOGGER.error("C-STORE %s from %s refused with 0x%04X: %s", sop_uid, calling, code, short)
            return failure(code, "out of resources: " + short)

    data: bytes | memoryview = raw
    stored_ts = str(ts_uid)
    if applies(policy, stored_ts):
        try:
            imported = apply_import_rules(raw, stored_ts, policy)
        except StoreError as exc:
            LOGGER.warning("C-STORE from %s refused: %s: %s", calling, sop_uid, exc.message)
            return failure(int(policy.status_unable_to_process, 16), exc.message)
        if imported is not None:
            data, stored_ts = imported.dataset, imported.transfer_syntax
            LOGGER.info("C-STORE %s from %s: %s, as the statement says", sop_uid, calling, "; ".join(imported.changes))

    try:
        result = ctx.store.add_received(data, meta_bytes=_file_meta(ctx, sop_class, sop_uid, stored_ts, calling),
                                        transfer_syntax=stored_ts, header=header, source_ae=calling,
                                        durable=policy.response_after != "receive")
    except Duplicate as exc:
        LOGGER.warning("C-STORE from %s refused: %s", calling, exc.message)
        return failure(int(policy.status_unable_to_process, 16), "duplicate SOP Instance UID")
    except StoreError as exc:
        full = isinstance(exc, StoreFull)
        code = int(policy.status_out_of_resources if full else policy.status_unable_to_process, 16)
        LOGGER.error("C-STORE from %s failed with 0x%04X: %s", calling, code, exc)
        return failure(code, exc.message)

    LOGGER.info(
        "C-STORE %s %s from %s: %s (%d bytes, %s)",
        result.outcome,
        sop_uid,
        calling,
        _class_name(sop_class),
        len(raw),
        UID(stored_ts).name,
    )
    return _status(SUCCESS)


def _class_name(uid: str) -> str:
    return UID(uid).name
