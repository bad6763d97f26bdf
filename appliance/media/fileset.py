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

__all__ = ["ProductFileSet", "DirectoryNode", "directory_tree", "make_icon", "read_dicomdir", "DicomdirBuilder",
           "InstanceHeader", "HeaderUnsupported", "NotPart10", "read_instance_header", "part10_head"]

import copy
import os
import struct
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
from pydicom import dcmread
from pydicom.charset import default_encoding
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO, DicomFileLike
from pydicom.filereader import read_dataset
from pydicom.fileset import DIRECTORY_RECORDERS, FileSet
from pydicom.filewriter import write_data_element, write_dataset, write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import UID

# FileSet's File ID prefixes and record type tables (pydicom 3.0), used as FileSet uses them
from pydicom.fileset import _FOUR_LEVEL_SOP_CLASSES, _PREFIXES, _SINGLE_LEVEL_SOP_CLASSES  # noqa: E402

from ..encoded import LONG_VRS as _LONG_VRS, HeaderUnsupported, walk_data_set
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


# --- a new file-set's DICOMDIR without re-reading or re-encoding the instances ----------------
#
# FileSet.add() stages a full copy of every instance and looks instances up by a linear scan
# (quadratic in the number of instances); FileSet.write() copies the staged files again. For a
# new file-set (FSC) the records only need a few header attributes, so DicomdirBuilder takes
# them from the instance header as encoded (InstanceHeader) and writes the records itself. The
# records, their order, the File IDs and the encoding are those of ProductFileSet: the upper
# level records (PATIENT, STUDY, SERIES) and any leaf it cannot build from the encoded header
# (icons, PRIVATE records, leaves other than IMAGE, syntaxes other than Explicit VR Little
# Endian) come from ProductFileSet's own record rules and pydicom's element encoder; the IMAGE
# leaves, the bulk, are encoded directly. tests/test_perf_media.py compares the DICOMDIR with
# the one FileSet.write() writes for the same instances, byte for byte.

_NOT_EXPLICIT_LE = frozenset(("1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"))
_TAG_LEN = struct.Struct("<HHL")
_SHORT_HEAD = struct.Struct("<HH2sH")
_LONG_HEAD = struct.Struct("<HH2sHL")
_PIXEL_DATA = 0x7FE00010
_HEAD_READ = 8 * 1024  # a CT/MR header without large private groups fits


@dataclass(frozen=True)
class InstanceHeader:
    """A Part 10 file's header as encoded: what a file-set needs without decoding the file.

    ``meta`` and ``elements`` map tags to ``(VR, value bytes, undefined length)`` for the File
    Meta Information and the top-level data set elements before Pixel Data; ``body_offset``
    is where the data set starts in the file.
    """

    path: Path
    size: int
    preamble: bytes
    meta: dict[int, tuple[bytes, bytes, bool]]
    body_offset: int
    elements: dict[int, tuple[bytes, bytes, bool]]
    pixel_data: bool

    @property
    def transfer_syntax(self) -> str:
        return self.uid(0x00020010, meta=True)

    def uid(self, tag: int, *, meta: bool = False) -> str:
        item = (self.meta if meta else self.elements).get(tag)
        return item[1].decode("ascii", "replace").strip(" \0") if item else ""

    def text(self, tag: int) -> str:
        item = self.elements.get(tag)
        return item[1].decode("latin-1").rstrip(" \0") if item else ""

    def us(self, tag: int) -> int:
        item = self.elements.get(tag)
        return struct.unpack_from("<H", item[1])[0] if item and len(item[1]) >= 2 else 0

    def number(self, tag: int) -> int:
        try:
            return int(self.text(tag).split("\\")[0] or 0)
        except ValueError:
            return 0


class NotPart10(HeaderUnsupported):
    """The file has no Part 10 preamble and ``DICM`` prefix: not a DICOM file."""


def _parse_header(path: Path, buf: bytes, size: int) -> InstanceHeader:
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise NotPart10("no DICM prefix")
    meta, pos, stopped = walk_data_set(buf, 132, len(buf), 0x00030000)  # group 0002
    if stopped is None:
        raise IndexError("the header continues past the data read")
    if any(undefined for _, _, undefined in meta.values()):
        raise HeaderUnsupported("an undefined length File Meta element")
    body = pos
    ts = meta.get(0x00020010, (b"", b"", False))[1].decode("ascii", "replace").strip(" \0")
    if not ts or ts in _NOT_EXPLICIT_LE:
        raise HeaderUnsupported(f"transfer syntax {ts or 'missing'}")
    end = len(buf)
    elements, pos, stopped = walk_data_set(buf, pos, end, _PIXEL_DATA)
    pixel = stopped == _PIXEL_DATA
    if pos >= end and len(buf) < size:
        raise IndexError("the header continues past the data read")
    return InstanceHeader(path, size, buf[:128], meta, body, elements, pixel)


def read_instance_header(path: Path) -> InstanceHeader:
    """The encoded header of the Part 10 file *path* (File Meta Information and the data set
    up to Pixel Data), walked without pydicom.

    Raises :class:`HeaderUnsupported` for what it does not walk (Implicit VR, Big Endian,
    deflated data sets, malformed headers) -- read those with pydicom -- and OSError.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        buf = fh.read(_HEAD_READ)
        while True:
            try:
                return _parse_header(Path(path), buf, size)
            except (IndexError, struct.error):
                if len(buf) >= size:
                    raise HeaderUnsupported("the header ends inside an element") from None
            buf += fh.read(max(len(buf), 64 * 1024))  # a longer header (private groups): read on


def _element(tag: int, vr: bytes, value: bytes, undefined: bool = False) -> bytes:
    """Explicit VR Little Endian encoding of one element (pydicom's padding for odd values)."""
    if len(value) % 2 and not undefined:
        value += b"\0" if vr in (b"UI", b"OB", b"UN") else b" "
    if vr in _LONG_VRS:
        return _LONG_HEAD.pack(tag >> 16, tag & 0xFFFF, vr, 0, 0xFFFFFFFF if undefined else len(value)) + value
    return _SHORT_HEAD.pack(tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _text_element(tag: int, vr: bytes, text: str) -> bytes:
    return _element(tag, vr, text.encode("ascii"))


def _ul(tag: int, value: int) -> bytes:
    return _SHORT_HEAD.pack(tag >> 16, tag & 0xFFFF, b"UL", 4) + struct.pack("<L", value)


def part10_head(h: InstanceHeader, *, implementation_class_uid: str, implementation_version_name: str) -> bytes:
    """The preamble and File Meta Information of *h* as written into a file-set: the Media
    Storage SOP Class/Instance UIDs from the data set, the product's media implementation
    (as ``write_file_set`` sets them before pydicom writes the file); other elements kept."""
    meta = dict(h.meta)
    meta.pop(0x00020000, None)
    meta.setdefault(0x00020001, (b"OB", b"\x00\x01", False))
    meta[0x00020002] = (b"UI", h.uid(0x00080016).encode("ascii"), False)
    meta[0x00020003] = (b"UI", h.uid(0x00080018).encode("ascii"), False)
    meta[0x00020012] = (b"UI", implementation_class_uid.encode("ascii"), False)
    meta[0x00020013] = (b"SH", implementation_version_name.encode("ascii"), False)
    group = b"".join(_element(tag, *meta[tag]) for tag in sorted(meta))
    preamble = h.preamble if len(h.preamble) == 128 else b"\0" * 128
    return preamble + b"DICM" + _SHORT_HEAD.pack(2, 0, b"UL", 4) + struct.pack("<L", len(group)) + group


class _Node:
    """One directory record of the tree being built."""

    __slots__ = ("type", "record", "fields", "children", "by_key", "parent", "index", "encoded", "offset",
                 "pos_next", "pos_lower")

    def __init__(self, rtype: str, parent: "_Node | None", record: Dataset | None = None,
                 fields: dict[int, bytes] | None = None) -> None:
        self.type = rtype
        self.record = record  # a pydicom record (encoded by pydicom)
        self.fields = fields  # or encoded elements by tag (an IMAGE leaf built here)
        self.children: list[_Node] = []
        self.by_key: dict[str, _Node] = {}
        self.parent = parent
        self.index = 0  # among the parent's children
        self.encoded = b""
        self.offset = 0
        self.pos_next = self.pos_lower = 0

    def append(self, child: "_Node") -> "_Node":
        child.index = len(self.children)
        self.children.append(child)
        return child

    def walk(self) -> Iterator["_Node"]:
        for c in self.children:
            yield c
            yield from c.walk()


_FOUR_LEVELS = ("PATIENT", "STUDY", "SERIES")
_KEY_TAGS = {"PATIENT": 0x00100020, "STUDY": 0x0020000D, "SERIES": 0x0020000E}
# Type 1 attributes pydicom's PATIENT/STUDY/SERIES/IMAGE recorders check (PS3.3 F.5)
_REQUIRED = (0x00100020, 0x00080020, 0x00080030, 0x00200010, 0x0020000D, 0x00080060, 0x0020000E, 0x00200011,
             0x00200013)
_RECORD_ELEMENTS = (0x00100010, 0x00100020, 0x00080020, 0x00080030, 0x00081030, 0x0020000D, 0x00200010,
                    0x00080050, 0x00080060, 0x0020000E, 0x00200011, 0x00200013, 0x00080005, 0x00080016,
                    0x00080018)


class DicomdirBuilder:
    """The DICOMDIR of a new file-set, as :class:`ProductFileSet` writes it (see above).

    ``add_header`` takes an instance from its encoded header (returns False when it cannot:
    then call ``add_dataset`` with the instance read by pydicom); ``add_dataset`` takes a
    pydicom data set (icons in ``icons``, as ProductFileSet). ``finish`` encodes the
    DICOMDIR; ``file_ids`` then maps each SOP Instance UID to its File ID components.
    """

    def __init__(
        self,
        *,
        implementation_class_uid: str,
        implementation_version_name: str = "",
        dicomdir_keys: Mapping[str, tuple[str, ...]] | None = None,
        icon_size: int = 0,
        private_classes: frozenset[str] = frozenset(),
        file_set_id: str | None = None,
    ) -> None:
        self._fs = ProductFileSet(implementation_class_uid=implementation_class_uid,
                                  implementation_version_name=implementation_version_name,
                                  dicomdir_keys=dicomdir_keys, icon_size=icon_size,
                                  private_classes=private_classes)
        self._fs._stage["t"].cleanup()  # no staging: nothing is added to the FileSet itself
        if file_set_id:
            self._fs.ID = file_set_id
        self.icons = self._fs.icons
        self._root = _Node("ROOT", None)
        self._leaves: dict[str, _Node] = {}
        self._private = private_classes
        self._icons = bool(icon_size)
        self._image_keys: list[tuple[int, str]] = []
        for keyword in (dicomdir_keys or {}).get("IMAGE", ()):
            tag = tag_for_keyword(keyword)
            if tag is not None:
                self._image_keys.append((int(tag), keyword))
        self.file_ids: dict[str, tuple[str, ...]] = {}

    @property
    def uid(self) -> str:
        return str(self._fs.UID)

    @uid.setter
    def uid(self, value: str) -> None:
        self._fs.UID = UID(value)

    def __contains__(self, sop_instance_uid: str) -> bool:
        return sop_instance_uid in self._leaves

    # -- adding instances --------------------------------------------------------------------

    def add_header(self, h: InstanceHeader, transfer_syntax: str) -> bool:
        """Add the instance of header *h*, written in *transfer_syntax*; False when this path
        does not build its records (call :meth:`add_dataset`)."""
        el = h.elements
        sop_class = h.uid(0x00080016)
        if (self._icons or sop_class in self._private or sop_class in _SINGLE_LEVEL_SOP_CLASSES
                or sop_class in _FOUR_LEVEL_SOP_CLASSES or 0x0020000D not in el or 0x00420011 in el
                or 0x300A0002 in el or h.text(0x00080060) in ("RTINTENT", "RTSEGANN", "RTRAD", "PLAN")):
            return False
        for tag in _REQUIRED:
            item = el.get(tag)
            if item is None or not item[1].strip(b" \0") or item[0] == b"UN":
                return False  # pydicom's recorders raise the error that names it
        if any(el[t][0] == b"UN" for t, _k in self._image_keys if t in el):
            return False  # pydicom would write the VR its dictionary knows
        sop = h.uid(0x00080018)
        parent = self._root
        for level in _FOUR_LEVELS:
            tag = _KEY_TAGS[level]
            key = h.uid(tag) if level != "PATIENT" else h.text(tag)
            node = parent.by_key.get(key)
            if node is None:
                record = DIRECTORY_RECORDERS[level](self._header_dataset(h))
                record.OffsetOfTheNextDirectoryRecord = 0
                record.RecordInUseFlag = 0xFFFF
                record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
                record.DirectoryRecordType = level
                if 0x00080005 in el:
                    record.SpecificCharacterSet = self._header_dataset(h).SpecificCharacterSet
                record = self._with_keys(record, level, h)
                node = parent.append(_Node(level, parent, record=record))
                parent.by_key[key] = node
            parent = node
        fields = {
            0x00041410: _SHORT_HEAD.pack(0x0004, 0x1410, b"US", 2) + b"\xff\xff",
            0x00041430: _text_element(0x00041430, b"CS", "IMAGE"),
            0x00041510: _text_element(0x00041510, b"UI", sop_class),
            0x00041511: _text_element(0x00041511, b"UI", sop),
            0x00041512: _text_element(0x00041512, b"UI", transfer_syntax),
            0x00200013: _element(0x00200013, *el[0x00200013]),
        }
        if 0x00080005 in el:
            fields[0x00080005] = _element(0x00080005, *el[0x00080005])
        for tag, _keyword in self._image_keys:
            item = el.get(tag)
            if item is None or tag in fields:
                continue
            if item[0] == b"SQ" or item[1].strip(b" \0"):
                fields[tag] = _element(tag, *item)
        self._leaves[sop] = parent.append(_Node("IMAGE", parent, fields=fields))
        return True

    def _header_dataset(self, h: InstanceHeader) -> Dataset:
        """The record attributes of *h* as a pydicom data set (for pydicom's record rules)."""
        wanted = set(_RECORD_ELEMENTS)
        for keywords in self._fs._vs_keys.values():
            wanted.update(t for t in (tag_for_keyword(k) for k in keywords) if t is not None)
        raw = b"".join(_element(tag, *h.elements[tag]) for tag in sorted(wanted) if tag in h.elements)
        ds = read_dataset(BytesIO(raw), False, True)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = UID(h.transfer_syntax)
        return ds

    def _with_keys(self, record: Dataset, level: str, h: InstanceHeader) -> Dataset:
        keys = self._fs._vs_keys.get(level, ())
        if keys:
            ds = self._header_dataset(h)
            for keyword in keys:
                if keyword in ds and keyword not in record and ds[keyword].value not in (None, ""):
                    record[keyword] = copy.deepcopy(ds[keyword])
        return record

    def add_dataset(self, ds: Dataset) -> None:
        """Add *ds* (its File Meta Information says its transfer syntax) by ProductFileSet's rules."""
        records = list(self._fs._recordify(ds))
        sop = str(ds.SOPInstanceUID)
        parent = self._root
        for record in records[:-1]:
            rtype = str(record.DirectoryRecordType)
            key = _record_key(record)
            node = parent.by_key.get(key)
            if node is None:
                node = parent.append(_Node(rtype, parent, record=record))
                parent.by_key[key] = node
            parent = node
        self._leaves[sop] = parent.append(_Node(str(records[-1].DirectoryRecordType), parent, record=records[-1]))

    # -- writing -----------------------------------------------------------------------------

    def finish(self) -> bytes:
        """The encoded DICOMDIR; sets :attr:`file_ids`."""
        nodes = list(self._root.walk())
        alphanumeric = len(self._leaves) > 10**6  # as FileSet.write
        chars = "0123456789ABCDEFGHIKLMNOPQRSTUVWXYZ"[: 35 if alphanumeric else 10]
        components: dict[int, str] = {}
        depth: dict[int, int] = {}
        for node in nodes:
            parent = node.parent
            depth[id(node)] = 0 if parent is self._root else depth[id(parent)] + 1  # type: ignore[arg-type]
        for sop, leaf in self._leaves.items():
            parts = []
            node = leaf
            while node is not self._root:
                key = id(node)
                if key not in components:
                    prefix = _PREFIXES[node.type]
                    if node.type == "PRIVATE":
                        prefix = f"{prefix}{depth[key]}"
                    n = node.index
                    suffix = ""
                    while n:
                        suffix += chars[n % len(chars)]
                        n //= len(chars)
                    components[key] = f"{prefix}{suffix[::-1]:>0{8 - len(prefix)}}"
                parts.append(components[key])
                node = node.parent  # type: ignore[assignment]
            self.file_ids[sop] = tuple(reversed(parts))
            if leaf.record is not None:
                leaf.record.ReferencedFileID = list(self.file_ids[sop])
            else:
                leaf.fields[0x00041500] = _text_element(  # type: ignore[index]
                    0x00041500, b"CS", "\\".join(self.file_ids[sop]))
        for node in nodes:
            self._encode(node)

        ds = self._fs._create_dicomdir()
        head = self._head(ds)
        offset = len(head) + 12  # the Directory Record Sequence's header
        for node in nodes:
            node.offset = offset
            offset += 8 + len(node.encoded)
        items = []
        for node in nodes:
            siblings = node.parent.children  # type: ignore[union-attr]
            nxt = siblings[node.index + 1] if node.index + 1 < len(siblings) else None
            buf = bytearray(node.encoded)
            struct.pack_into("<L", buf, node.pos_next, nxt.offset if nxt is not None else 0)
            struct.pack_into("<L", buf, node.pos_lower, node.children[0].offset if node.children else 0)
            items.append(_TAG_LEN.pack(0xFFFE, 0xE000, len(buf)))
            items.append(bytes(buf))
        top = self._root.children
        if top:
            ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = top[0].offset
            ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = top[-1].offset
        head = self._head(ds)
        body = b"".join(items)
        tail = BytesIO()
        fp = DicomFileLike(tail)
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_dataset(fp, ds[0x00041221:])
        return head + _LONG_HEAD.pack(0x0004, 0x1220, b"SQ", 0, len(body)) + body + tail.getvalue()

    @staticmethod
    def _head(ds: Dataset) -> bytes:
        """Preamble, File Meta Information and the DICOMDIR's elements before its records."""
        buf = BytesIO()
        fp = DicomFileLike(buf)
        fp.is_little_endian, fp.is_implicit_VR = True, False
        fp.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
        write_dataset(fp, ds[:0x00041220])
        return buf.getvalue()

    @staticmethod
    def _encode(node: _Node) -> None:
        if node.fields is not None:
            fields = node.fields
            fields[0x00041400] = _ul(0x00041400, 0)
            fields[0x00041420] = _ul(0x00041420, 0)
            parts = []
            pos = 0
            for tag in sorted(fields):
                if tag == 0x00041400:
                    node.pos_next = pos + 8
                elif tag == 0x00041420:
                    node.pos_lower = pos + 8
                parts.append(fields[tag])
                pos += len(fields[tag])
            node.encoded = b"".join(parts)
            return
        record = node.record
        assert record is not None
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        encoding = record.get("SpecificCharacterSet", default_encoding)
        for tag in sorted(record.keys()):  # as RecordNode._encode_record
            if tag.element == 0 and tag.group > 6:
                continue
            if tag == 0x00041400:
                node.pos_next = fp.tell() + 8
            elif tag == 0x00041420:
                node.pos_lower = fp.tell() + 8
            write_data_element(fp, record[tag], encoding)
        node.encoded = fp.getvalue()


def _record_key(record: Dataset) -> str:
    """The key pydicom's RecordNode merges records by (PS3.3 F.5: unique within a file-set)."""
    rtype = str(record.DirectoryRecordType)
    if rtype == "PATIENT":
        return str(record.PatientID)
    if rtype == "STUDY":
        return str(record.get("StudyInstanceUID") or record.get("ReferencedSOPInstanceUIDInFile"))
    if rtype == "SERIES":
        return str(record.SeriesInstanceUID)
    if rtype == "PRIVATE":
        return str(record.PrivateRecordUID)
    return str(record.get("ReferencedSOPInstanceUIDInFile"))
