"""ISO 9660 images of a file-set folder, written with pycdlib (PS3.12: CD-R / DVD / BD).

Names follow ISO 9660 interchange level 1 with DICOM File IDs (PS3.10 §8.5: at most 8
characters from ``A-Z 0-9 _`` per component, no extension): a file ``IM000001`` is
recorded as ``IM000001.;1`` (the form ``genisoimage -iso-level 1`` writes), directories
as they are. A Joliet tree with the same names is added where the product's profile says so
(``media.joliet``). The image is written to a hidden temporary file next to the target,
fsynced and renamed into place: a failed or interrupted write leaves no ``.iso``.
"""

from __future__ import annotations

__all__ = ["iso_size", "write_iso", "volume_identifier", "read_tree", "IsoReader"]

import io
import os
import re
from pathlib import Path
from typing import Callable

import pycdlib

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


def _check_component(name: str, where: Path) -> None:
    if not (0 < len(name) <= 8) or _D_CHARS.search(name):
        raise MediaError(
            f"{where} is not a DICOM File ID component (1-8 characters A-Z, 0-9, _)",
            "write the file-set with appliance.media (PS3.10 §8.5 names) before imaging it",
        )


def _build(tree: Path, volume_label: str, joliet: bool, application: str) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=1,
        vol_ident=volume_identifier(volume_label),
        sys_ident="LINUX",
        app_ident_str=_a_string(application, 128),
        preparer_ident_str="VSCANNER",
        joliet=3 if joliet else None,
    )
    root = tree.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for d in dirnames:
            _check_component(d, rel / d)
            iso_path = "/" + (rel / d).as_posix()
            iso.add_directory(iso_path, joliet_path=iso_path if joliet else None)
        for f in sorted(filenames):
            if f.startswith(".") or f.endswith(".part"):
                continue
            _check_component(f, rel / f)
            path = "/" + (rel / f).as_posix()
            iso.add_file(os.path.join(dirpath, f), path + ".;1", joliet_path=path if joliet else None)
    return iso


def iso_size(tree: Path, *, joliet: bool = False, volume_label: str = "DICOM") -> int:
    """The exact size in bytes of the image :func:`write_iso` would write for *tree*."""
    iso = _build(tree, volume_label, joliet, "")
    try:
        return int(iso.pvd.space_size) * int(iso.logical_block_size)
    finally:
        iso.close()


def write_iso(
    tree: Path,
    out: Path,
    *,
    volume_label: str,
    joliet: bool = False,
    application: str = "",
    progress: Progress | None = None,
    capacity: int | None = None,
) -> int:
    """Write *tree* (a file-set folder) as an ISO 9660 image to *out*; return its size.

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
            iso.write(str(part), progress_cb=cb)
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(part, out)
            _fsync_dir(out.parent)
        except OSError as exc:
            raise WriteError(f"cannot write {out}: {exc.strerror or exc}",
                             "check free space and permissions of the output folder") from exc
        return size
    finally:
        iso.close()
        part.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
