"""Storage SCP: receive C-STORE, validate the minimal header, store durably, answer.

Policy (what status for what) is a pure function of the profile and the request, in
:func:`check_instance`; :func:`handle_store` does the I/O. Success is only returned after the
store has the instance on disk and indexed ("durable before acknowledged").
"""

from __future__ import annotations

__all__ = ["StorageContext", "handle_store", "check_instance"]

import logging
from dataclasses import dataclass
from pydicom.dataset import Dataset, FileMetaDataset

from ..errors import StoreError
from ..profile import Profile, is_valid_uid
from ..store import Duplicate, Store, StoreFull, encode_file_meta, parse_header

LOGGER = logging.getLogger(__name__)

SUCCESS = 0x0000


@dataclass
class StorageContext:
    """What the C-STORE handler needs: the profile, the store and the local AE title."""

    profile: Profile
    store: Store
    ae_title: str


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


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def handle_store(event, ctx: StorageContext) -> Dataset:  # type: ignore[no-untyped-def]
    """Handler for ``evt.EVT_C_STORE``."""
    req = event.request
    sop_class = str(req.AffectedSOPClassUID)
    sop_uid = str(req.AffectedSOPInstanceUID)
    calling = event.assoc.requestor.ae_title
    profile = ctx.profile
    policy = profile.storage_scp
    ts_uid = event.context.transfer_syntax
    raw = req.DataSet.getvalue()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid if is_valid_uid(sop_uid) else "0"
    meta.TransferSyntaxUID = ts_uid
    meta.ImplementationClassUID = profile.media_implementation_class_uid
    if profile.media_implementation_version_name:
        meta.ImplementationVersionName = profile.media_implementation_version_name
    meta.SourceApplicationEntityTitle = calling

    try:
        header = parse_header(encode_file_meta(meta) + raw, policy.required_attributes)
    except StoreError as exc:
        LOGGER.warning("C-STORE from %s refused: %s: %s", calling, sop_uid, exc.message)
        return _status(int(policy.status_unable_to_process, 16), "data set cannot be parsed")

    refused = check_instance(profile, sop_class, sop_uid, header)
    if refused:
        code, comment = refused
        LOGGER.warning("C-STORE from %s refused with 0x%04X: %s", calling, code, comment)
        return _status(code, comment)

    try:
        result = ctx.store.add_encoded(raw, meta, source_ae=calling, header=header)
    except Duplicate as exc:
        LOGGER.warning("C-STORE from %s refused: %s", calling, exc.message)
        return _status(int(policy.status_unable_to_process, 16), "duplicate SOP Instance UID")
    except StoreError as exc:
        full = isinstance(exc, StoreFull)
        code = int(policy.status_out_of_resources if full else policy.status_unable_to_process, 16)
        LOGGER.error("C-STORE from %s failed with 0x%04X: %s", calling, code, exc)
        return _status(code, exc.message)

    LOGGER.info(
        "C-STORE %s %s from %s: %s (%d bytes, %s)",
        result.outcome,
        sop_uid,
        calling,
        _class_name(sop_class),
        len(raw),
        ts_uid.name,
    )
    return _status(SUCCESS)


def _class_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name
