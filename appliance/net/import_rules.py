"""What a product changes in a received instance before it stores it (``[storage_scp]``).

Three rules from the statements, each a profile key, none answered with a coercion status
(the statements list no B000/B006/B007 for storage):

- ``implicit_vr_unknown_private = "remove"``: with Implicit VR Little Endian the receiver
  cannot know the VR of a private attribute it has no dictionary entry for, so it removes
  it (syngo MI.PET/CT §3.2.3.1.5, COHERENCE §5.1.3.1.5). "Known" is decided by private
  creator: the product's ``known_private_creators`` (a trailing ``*`` matches a prefix, for
  families such as ``SIEMENS MED OCS ...`` with one creator per element).
- ``private_in_sequences = "remove"``: private attributes inside sequence items are removed
  whatever the transfer syntax (syngo MI.PET/CT §3.2.3.1.1 Note).
- ``decompress_on_import``: instances received in one of these transfer syntaxes are
  decompressed and stored in Explicit VR Little Endian (both statements: RLE Lossless, and
  for PET/CT JPEG Lossless Process 14).

:func:`apply_import_rules` returns None when nothing applies or nothing changed, so the
common path keeps writing the received bytes untouched.
"""

from __future__ import annotations

__all__ = ["ImportResult", "applies", "apply_import_rules", "known_creator"]

from dataclasses import dataclass, field
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ..errors import StoreError
from ..profile import StorageSCP


@dataclass
class ImportResult:
    """The instance as the product stores it: encoded data set, its transfer syntax, what changed."""

    dataset: bytes
    transfer_syntax: str
    changes: list[str] = field(default_factory=list)


def applies(policy: StorageSCP, transfer_syntax: str) -> bool:
    """Whether any import rule can change an instance received in *transfer_syntax*."""
    return (
        policy.private_in_sequences == "remove"
        or (policy.implicit_vr_unknown_private == "remove" and transfer_syntax == ImplicitVRLittleEndian)
        or transfer_syntax in policy.decompress_on_import
    )


def known_creator(creator: str, known: tuple[str, ...]) -> bool:
    """Whether private creator *creator* is in the product's dictionary (*known*)."""
    name = creator.strip()
    for entry in known:
        if entry.endswith("*"):
            if name.startswith(entry[:-1].rstrip()):
                return True
        elif name == entry:
            return True
    return False


def _creator_of(ds: Dataset, tag: BaseTag) -> str | None:
    if tag.is_private_creator:
        value = ds[tag].value
    else:
        creator_tag = Tag(tag.group, tag.element >> 8)
        if creator_tag not in ds:
            return None
        value = ds[creator_tag].value
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value or "")


def _remove_unknown_private(ds: Dataset, known: tuple[str, ...]) -> int:
    doomed = []
    for elem in ds:
        tag = elem.tag
        if not tag.is_private or tag.element < 0x0010:  # group lengths and the like stay
            continue
        creator = _creator_of(ds, tag)
        if creator is None or not known_creator(creator, known):
            doomed.append(tag)
    for tag in doomed:
        del ds[tag]
    return len(doomed)


def _remove_private_in_items(ds: Dataset, top: bool = True) -> int:
    removed = 0
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                removed += _remove_private_in_items(item, top=False)
        elif not top and elem.tag.is_private:
            del ds[elem.tag]
            removed += 1
    if not top:
        # a private sequence inside an item is private too
        for elem in list(ds):
            if elem.tag.is_private:
                del ds[elem.tag]
                removed += 1
    return removed


def _encode(ds: Dataset, implicit: bool, little: bool) -> bytes:
    buf = DicomBytesIO()
    buf.is_implicit_VR = implicit
    buf.is_little_endian = little
    ds.set_original_encoding(implicit, little, ds.get("SpecificCharacterSet"))
    write_dataset(buf, ds)
    return buf.getvalue()


def apply_import_rules(raw: bytes | memoryview, transfer_syntax: str, policy: StorageSCP) -> ImportResult | None:
    """Apply the product's import rules to a received data set (no preamble, no File Meta).

    Returns the re-encoded data set when something changed, None when it is stored as
    received. Raises :class:`StoreError` when the data set cannot be parsed or decompressed.
    """
    if not applies(policy, transfer_syntax):
        return None
    ts = UID(transfer_syntax)
    implicit, little = (ts.is_implicit_VR, ts.is_little_endian) if ts.is_transfer_syntax else (False, True)
    try:
        ds = read_dataset(BytesIO(bytes(raw)), implicit, little)
    except Exception as exc:  # pydicom raises many kinds on malformed input
        raise StoreError(f"the data set cannot be parsed: {exc}") from exc

    changes: list[str] = []
    if policy.implicit_vr_unknown_private == "remove" and ts == ImplicitVRLittleEndian:
        n = _remove_unknown_private(ds, policy.known_private_creators)
        if n:
            changes.append(f"{n} unknown private attribute(s) removed (Implicit VR)")
    if policy.private_in_sequences == "remove":
        n = _remove_private_in_items(ds)
        if n:
            changes.append(f"{n} private attribute(s) in sequence items removed")
    out_ts = transfer_syntax
    if transfer_syntax in policy.decompress_on_import and "PixelData" in ds:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
        try:
            ds.decompress()
        except Exception as exc:  # no decoder, corrupt stream
            raise StoreError(f"the image cannot be decompressed from {ts.name}: {exc}") from exc
        del ds.file_meta
        out_ts = ExplicitVRLittleEndian
        implicit, little = False, True
        changes.append(f"decompressed from {ts.name}")
    if not changes:
        return None
    return ImportResult(_encode(ds, implicit, little), str(out_ts), changes)
