"""ISO 9660 images of a file-set, written with pycdlib (PS3.12: CD-R / DVD / BD).

The file-set is a folder, or a list of :class:`ImageFile` (bytes, then a range of a file:
an instance's new File Meta Information and its data set as it is in the store). pycdlib
lays the image out and writes its descriptors and directories; the file contents are
copied by the kernel (``copy_file_range``) from their sources into the image, not through
Python.

Names follow ISO 9660 interchange level 1 with DICOM File IDs (PS3.10 §8.5: at most 8
characters from ``A-Z 0-9 _`` per component, no extension): a file ``IM000001`` is
recorded as ``IM000001.;1`` (the form ``genisoimage -iso-level 1`` writes), directories
as they are. A Joliet tree with the same names is added where the product's profile says so
(``media.joliet``). The image is written to a hidden temporary file next to the target,
fsynced and renamed into place: a failed or interrupted write leaves no ``.iso``.
"""

from __future__ import annotations

__all__ = ["iso_size", "write_iso", "volume_identifier", "read_tree", "IsoReader", "ImageFile", "tree_files",
           "write_part", "copy_range"]

import errno
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import pycdlib

from ..store.index import fsync_path
from .errors import MediaError, WriteError

Progress = Callable[[int, int], None]

_D_CHARS = re.compile(r"[^A-Z0-9_]")
_NOT_A_CHARS = re.compile(r"[^A-Z0-9_ !\"%&'()*+,\-./:;<=>?]")


def _a_string(text: str, length: int) -> str:
    """*text* in ISO 9660 a-characters (upper case, ASCII), at most *length*."""
    return _NOT_A_CHARS.sub("", text.upper())[:length]


def volume_identifier(label: str) -> str:
    """*label* as an ISO 9660 volume identifier: d-characters only, at most 32."""
    ident = _D_CHARS.sub("_", label.upper())[:32]
    return ident or "DICOM"


def _check_component(path: tuple[str, ...], i: int) -> None:
    name = path[i]
    if not (0 < len(name) <= 8) or _D_CHARS.search(name):
        raise MediaError(
            f"{Path(*path[: i + 1])} is not a DICOM File ID component (1-8 characters A-Z, 0-9, _)",
            "write the file-set with appliance.media (PS3.10 §8.5 names) before imaging it",
        )


@dataclass(frozen=True)
class ImageFile:
    """One file of an image: *head* bytes, then bytes ``[offset, offset + length)`` of *source*.

    A file-set written straight to an image names its instance files this way (new File
    Meta Information, then the data set as it is in the store) instead of copying them to a
    staging folder first. *path* holds the DICOM File ID components.
    """

    path: tuple[str, ...]
    head: bytes = b""
    source: Path | None = None
    offset: int = 0
    length: int = 0

    @property
    def size(self) -> int:
        return len(self.head) + self.length

    def read(self) -> bytes:
        """The whole content (for verification)."""
        if self.source is None:
            return self.head
        with open(self.source, "rb") as fh:
            fh.seek(self.offset)
            return self.head + fh.read(self.length)

    @classmethod
    def of(cls, path: tuple[str, ...], source: Path) -> "ImageFile":
        return cls(path, source=Path(source), length=os.stat(source).st_size)


Tree = Union[Path, Sequence[ImageFile]]


def tree_files(tree: Tree) -> list[ImageFile]:
    """The files of *tree*: a file-set folder (hidden and ``.part`` files left out) or the files
    themselves, sorted by path."""
    if not isinstance(tree, (str, os.PathLike)):
        return sorted(tree, key=lambda f: f.path)
    root = Path(tree).resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for f in sorted(filenames):
            if f.startswith(".") or f.endswith(".part"):
                continue
            out.append(ImageFile.of((*rel.parts, f), Path(dirpath) / f))
    return sorted(out, key=lambda f: f.path)


class _Span:
    """What :class:`_FileReader` hands to pycdlib instead of bytes: a stretch of an
    :class:`ImageFile` that :class:`_SpliceWriter` copies inside the kernel."""

    __slots__ = ("file", "start", "length")

    def __init__(self, file: ImageFile, start: int, length: int) -> None:
        self.file, self.start, self.length = file, start, length

    def __len__(self) -> int:
        return self.length


class _FileReader:
    """The file object pycdlib reads an :class:`ImageFile` from (``add_fp``)."""

    mode = "rb"

    def __init__(self, file: ImageFile) -> None:
        self.file = file
        self.pos = 0

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = (0, self.pos, self.file.size)[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> "_Span":
        end = self.file.size if size is None or size < 0 else min(self.file.size, self.pos + size)
        span = _Span(self.file, self.pos, max(0, end - self.pos))
        self.pos = end
        return span


class _SpliceWriter:
    """The output file object pycdlib writes the image to: bytes are written, a
    :class:`_Span` is copied from its source file by :func:`copy_range`."""

    mode = "wb"

    def __init__(self, fh: io.FileIO, writeback: bool = True) -> None:
        self.fh = fh
        self.fd = fh.fileno()
        self._writeback = writeback and _sync_file_range is not None
        self._flushed = 0  # the image before this offset is already on its way to the disk

    def _start_writeback(self, upto: int) -> None:
        """Have the kernel start writing the image's pages behind the copy (asynchronously),
        so that the closing fsync waits for little more than the last chunk (measured: the
        1000-instance burn of benchmarks/bench_dicom.py 0.66 -> 0.56 s)."""
        if self._writeback and upto - self._flushed >= _WRITEBACK_CHUNK:
            _sync_file_range(self.fd, self._flushed, upto - self._flushed, 2)  # SYNC_FILE_RANGE_WRITE
            self._flushed = upto

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def write(self, data: Any) -> int:
        if not isinstance(data, _Span):
            return self.fh.write(data)
        pos = self.fh.tell()
        write_part(data.file, self.fd, pos, data.start, data.length)
        self.fh.seek(pos + data.length)
        self._start_writeback(pos + data.length)
        return data.length


def write_part(f: ImageFile, fd: int, dst_off: int, start: int = 0, length: int | None = None) -> None:
    """Write bytes ``[start, start + length)`` of *f* (all of it by default) to *fd* at *dst_off*."""
    length = f.size - start if length is None else length
    head = f.head[start:start + length]
    if head:
        os.pwrite(fd, head, dst_off)
    n = len(head)
    if n < length and f.source is not None:
        src = os.open(f.source, os.O_RDONLY)
        try:
            copy_range(src, f.offset + start + n - len(f.head), fd, dst_off + n, length - n, name=str(f.source))
        finally:
            os.close(src)


_COPY_FILE_RANGE = [hasattr(os, "copy_file_range")]
_WRITEBACK_CHUNK = 16 << 20


def _libc_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux sync_file_range(2) (not in the os module); None elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _libc_sync_file_range()


def copy_range(src: int, src_off: int, dst: int, dst_off: int, count: int, *, name: str = "the source") -> None:
    """Copy *count* bytes between file descriptors at explicit offsets: ``copy_file_range``
    (inside the kernel, no pass through Python), else ``pread``/``pwrite``."""
    while count > 0:
        if _COPY_FILE_RANGE[0]:
            try:
                done = os.copy_file_range(src, dst, count, src_off, dst_off)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM):
                    raise
                _COPY_FILE_RANGE[0] = False  # this kernel or file system does not: copy through memory
                continue
        else:
            data = os.pread(src, min(count, 1 << 20), src_off)
            done = os.pwrite(dst, data, dst_off) if data else 0
        if done <= 0:
            raise OSError(errno.EIO, f"{name} ended before its expected length")
        src_off += done
        dst_off += done
        count -= done


def _build(tree: Tree, volume_label: str, joliet: bool, application: str) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=1,
        vol_ident=volume_identifier(volume_label),
        sys_ident="LINUX",
        app_ident_str=_a_string(application, 128),
        preparer_ident_str="VSCANNER",
        joliet=3 if joliet else None,
    )
    made: set[tuple[str, ...]] = set()
    for f in tree_files(tree):
        for i in range(len(f.path)):
            _check_component(f.path, i)
        for i in range(1, len(f.path)):
            folder = f.path[:i]
            if folder not in made:
                made.add(folder)
                iso_path = "/" + "/".join(folder)
                iso.add_directory(iso_path, joliet_path=iso_path if joliet else None)
        path = "/" + "/".join(f.path)
        iso.add_fp(_FileReader(f), f.size, path + ".;1", joliet_path=path if joliet else None)
    return iso


def iso_size(tree: Tree, *, joliet: bool = False, volume_label: str = "DICOM") -> int:
    """The exact size in bytes of the image :func:`write_iso` would write for *tree*."""
    iso = _build(tree, volume_label, joliet, "")
    try:
        return int(iso.pvd.space_size) * int(iso.logical_block_size)
    finally:
        iso.close()


def write_iso(
    tree: Tree,
    out: Path,
    *,
    volume_label: str,
    joliet: bool = False,
    application: str = "",
    progress: Progress | None = None,
    capacity: int | None = None,
    durable: bool = True,
) -> int:
    """Write *tree* (a file-set folder, or its files) as an ISO 9660 image to *out*; return its size.

    The image gets its name only when complete; *durable* (the default): only once it is on
    the disk too (fsync, the burned disc survives a crash of the machine). Without, it is
    named when written to the page cache, as ``genisoimage`` leaves its output.
    Raises :class:`~appliance.media.errors.DiscFull` (from the caller's *capacity*) before
    writing anything, :class:`WriteError` when the disk fails; *out* is then untouched.
    """
    from .errors import DiscFull

    out = Path(out)
    iso = _build(tree, volume_label, joliet, application)
    part = out.with_name(f".{out.name}.part")
    try:
        size = int(iso.pvd.space_size) * int(iso.logical_block_size)
        if capacity is not None and size > capacity:
            raise DiscFull(
                f"the image needs {size / 1e6:.1f} MB but the medium holds {capacity / 1e6:.1f} MB",
                "choose a larger medium (DVD or BD profile), a compressing profile, or fewer studies",
            )
        out.parent.mkdir(parents=True, exist_ok=True)

        def cb(done: int, total: int, _opaque: object) -> None:
            if progress is not None:
                progress(done, total)

        try:
            with open(part, "wb", buffering=0) as fh:
                # one read per file: pycdlib hands each file over whole, the writer copies it
                iso.write_fp(_SpliceWriter(fh, writeback=durable), blocksize=1 << 40,  # type: ignore[arg-type]
                             progress_cb=cb)
                if durable:
                    os.fsync(fh.fileno())
            os.replace(part, out)
            if durable:
                fsync_path(out.parent)
        except OSError as exc:
            raise WriteError(f"cannot write {out}: {exc.strerror or exc}",
                             "check free space and permissions of the output folder") from exc
        return size
    finally:
        iso.close()
        part.unlink(missing_ok=True)


def _normal(name: str) -> str:
    """ISO 9660 name without version and trailing dot, upper case (``IM1.;1`` -> ``IM1``)."""
    return name.split(";")[0].rstrip(".").upper()


class IsoReader:
    """Read files of an ISO 9660 image by DICOM File ID, whatever the writer's name style."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(self.path))
        except (pycdlib.pycdlibexception.PyCdlibException, OSError) as exc:
            raise MediaError(f"{self.path} is not a readable ISO 9660 image: {exc}",
                             "give an .iso written by vscanner, genisoimage or a burner") from exc
        self.files: dict[str, str] = {}  # "DIR/FILE" (normalised) -> ISO path
        for dirpath, _dirs, files in self._iso.walk(iso_path="/"):
            for f in files:
                full = dirpath.rstrip("/") + "/" + f
                key = "/".join(_normal(p) for p in full.strip("/").split("/"))
                self.files[key] = full

    def read(self, file_id: str | list[str] | tuple[str, ...]) -> bytes:
        """The bytes of the file with DICOM File ID *file_id* (components or ``A\\B``)."""
        parts = file_id if isinstance(file_id, (list, tuple)) else re.split(r"[\\/]", str(file_id))
        key = "/".join(_normal(p) for p in parts)
        if key not in self.files:
            raise MediaError(f"{self.path}: no file {key} on the medium",
                             "the DICOMDIR references a file that is missing")
        buf = io.BytesIO()
        self._iso.get_file_from_iso_fp(buf, iso_path=self.files[key])
        return buf.getvalue()

    def volume_label(self) -> str:
        return self._iso.pvd.volume_identifier.decode("ascii", "replace").strip()

    def close(self) -> None:
        self._iso.close()

    def __enter__(self) -> "IsoReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_tree(path: Path) -> dict[str, int]:
    """``{"DIR/FILE": size}`` of every file on an ISO image (normalised names)."""
    with IsoReader(path) as r:
        out = {}
        for key, iso_path in r.files.items():
            rec = r._iso.get_record(iso_path=iso_path)
            out[key] = int(rec.get_data_length())
        return out
