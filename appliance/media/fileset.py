"""DICOM file-sets (PS3.10) through pydicom's :class:`~pydicom.fileset.FileSet`.

:class:`ProductFileSet` is pydicom's FileSet with what a product's profile adds:

- the File Meta Information of the DICOMDIR carries the product's media Implementation
  Class UID and Version Name (a blank version name is written empty);
- directory records get the additional keys the statement lists (``media.dicomdir_keys``,
  copied when the instance has them) and, where the statement requires it
  (``media.icon_size``), an Icon Image Sequence (PS3.3 F.7: 8-bit MONOCHROME2, square);
- File IDs are pydicom's ``PTxxxxxx/STxxxxxx/SExxxxxx/IMxxxxxx``: at most 8 upper-case
  characters per component, no extension (PS3.10 §8.5, PS3.12 ISO 9660 level 1).

:func:`directory_tree` walks a DICOMDIR's records by their offsets (what an FSR browses);
the tests compare that tree with the one DCMTK's ``dcmmkdir`` writes for the same files.
"""

from __future__ import annotations

__all__ = ["ProductFileSet", "DirectoryNode", "directory_tree", "make_icon", "read_dicomdir"]

import copy
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence
from pydicom.uid import UID

from .errors import MediaError

_LEVELS = {"PATIENT": "PATIENT", "STUDY": "STUDY", "SERIES": "SERIES", "IMAGE": "IMAGE"}


class ProductFileSet(FileSet):
    """A pydicom FileSet that writes a product's DICOMDIR (see the module docstring)."""

    def __init__(
        self,
        ds: Any = None,
        *,
        implementation_class_uid: str,
        implementation_version_name: str = "",
        dicomdir_keys: Mapping[str, tuple[str, ...]] | None = None,
        icon_size: int = 0,
        private_classes: frozenset[str] = frozenset(),
    ) -> None:
        self._vs_private = private_classes
        self._vs_meta = (implementation_class_uid, implementation_version_name)
        self._vs_keys = dict(dicomdir_keys or {})
        self._vs_icon_size = icon_size
        self.icons: dict[str, Dataset] = {}  # SOP Instance UID -> icon item, set before add()
        super().__init__(ds)

    # pydicom builds a new DICOMDIR data set here for new file-sets ...
    def _create_dicomdir(self) -> Dataset:
        ds = super()._create_dicomdir()
        self._stamp(ds)
        return ds

    # ... and reads the existing one here (FSU: the updater's identity goes into the meta)
    def load(self, ds_or_path: Any, include_orphans: bool = True, raise_orphans: bool = False) -> None:
        super().load(ds_or_path, include_orphans=include_orphans, raise_orphans=raise_orphans)
        self._stamp(self._ds)

    def _stamp(self, ds: Dataset) -> None:
        uid, name = self._vs_meta
        ds.file_meta.ImplementationClassUID = UID(uid)
        # a blank version name (syngo MR Table 62) stays blank rather than becoming pydicom's
        ds.file_meta.ImplementationVersionName = name

    def _recordify(self, ds: Dataset) -> Iterator[Dataset]:
        for record in super()._recordify(ds):
            level = str(record.DirectoryRecordType)
            if "ReferencedSOPClassUIDInFile" in record and str(ds.SOPClassUID) in self._vs_private:
                # private objects are referenced by PRIVATE records (PS3.3 F.5.36; PET/CT T-99)
                record.DirectoryRecordType = "PRIVATE"
                record.PrivateRecordUID = UID(str(ds.SOPClassUID))
                yield record
                continue
            for keyword in self._vs_keys.get(level, ()):
                if keyword in ds and keyword not in record and ds[keyword].value not in (None, ""):
                    record[keyword] = copy.deepcopy(ds[keyword])
            if level == "IMAGE" and self._vs_icon_size:
                icon = self.icons.get(str(ds.SOPInstanceUID))
                if icon is not None:
                    record.IconImageSequence = Sequence([icon])
            yield record


def make_icon(ds: Dataset, size: int = 64) -> Dataset | None:
    """An Icon Image Sequence item (PS3.3 F.7) for *ds*: *size* x *size*, 8-bit MONOCHROME2.

    Uses the first frame, the first window of the VOI LUT module when present (else the
    value range), nearest-neighbour resampling. Returns None for objects it cannot render
    (no pixel data, colour, undecodable).
    """
    if "PixelData" not in ds or int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    try:
        arr = ds.pixel_array
    except Exception:  # an undecodable image gets no icon, it is still written
        return None
    if arr.ndim == 3:
        arr = arr[0]
    values = arr.astype(np.float64) * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    center, width = _window(ds)
    if center is None or width is None or width <= 1:
        lo, hi = float(values.min()), float(values.max())
    else:
        lo, hi = center - width / 2, center + width / 2
    scaled = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1) * 255
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        scaled = 255 - scaled
    rows = np.linspace(0, arr.shape[0] - 1, size).round().astype(int)
    cols = np.linspace(0, arr.shape[1] - 1, size).round().astype(int)
    icon_pixels = scaled[np.ix_(rows, cols)].astype(np.uint8)
    icon = Dataset()
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.Rows = icon.Columns = size
    icon.BitsAllocated = icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = icon_pixels.tobytes()
    icon["PixelData"].VR = "OB"
    return icon


def _window(ds: Dataset) -> tuple[float | None, float | None]:
    def first(value: Any) -> float | None:
        if value is None or value == "":
            return None
        try:
            return float(value[0] if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"
                         else value)
        except (TypeError, ValueError):
            return None

    return first(ds.get("WindowCenter")), first(ds.get("WindowWidth"))


@dataclass
class DirectoryNode:
    """One directory record and the records below it."""

    type: str
    record: Dataset
    children: list["DirectoryNode"] = field(default_factory=list)

    @property
    def file_id(self) -> tuple[str, ...] | None:
        value = self.record.get("ReferencedFileID")
        if value is None or value == "":
            return None
        return tuple(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else (str(value),)

    def walk(self) -> Iterator["DirectoryNode"]:
        yield self
        for c in self.children:
            yield from c.walk()


def read_dicomdir(data: bytes | Path) -> Dataset:
    """Parse a DICOMDIR (bytes or path); :class:`MediaError` when it is not one."""
    try:
        ds = dcmread(BytesIO(data) if isinstance(data, (bytes, bytearray)) else str(data))
    except Exception as exc:
        raise MediaError(f"the DICOMDIR cannot be parsed: {exc}", "the medium is damaged or not DICOM") from exc
    if ds.file_meta.get("MediaStorageSOPClassUID") != "1.2.840.10008.1.3.10" or "DirectoryRecordSequence" not in ds:
        raise MediaError("the DICOMDIR is not a Media Storage Directory (Basic Directory) object",
                         "the medium holds no DICOM file-set")
    return ds


def directory_tree(dicomdir: Dataset) -> list[DirectoryNode]:
    """The records of *dicomdir* as a tree, following the PS3.3 F.3 offsets.

    Records not in use (Record In-use Flag 0) are skipped. Loops are refused.
    """
    records = dicomdir.DirectoryRecordSequence
    by_offset = {int(r.seq_item_tell): r for r in records if getattr(r, "seq_item_tell", None) is not None}
    seen: set[int] = set()

    def chain(offset: int) -> list[DirectoryNode]:
        out = []
        while offset:
            if offset in seen:
                raise MediaError("the DICOMDIR's record offsets form a loop", "the medium is damaged")
            seen.add(offset)
            rec = by_offset.get(offset)
            if rec is None:
                raise MediaError(f"the DICOMDIR references a record at offset {offset} that does not exist",
                                 "the medium is damaged")
            if int(rec.get("RecordInUseFlag", 0xFFFF)) != 0:
                node = DirectoryNode(str(rec.DirectoryRecordType), rec)
                node.children = chain(int(rec.get("OffsetOfReferencedLowerLevelDirectoryEntity", 0) or 0))
                out.append(node)
            offset = int(rec.get("OffsetOfTheNextDirectoryRecord", 0) or 0)
        return out

    first = int(dicomdir.get("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity", 0) or 0)
    if not first and records:
        raise MediaError("the DICOMDIR has records but no root record offset", "the medium is damaged")
    return chain(first)
