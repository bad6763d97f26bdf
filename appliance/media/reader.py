"""FSR: browse a medium's DICOMDIR and import its instances into the store.

A medium is an ISO image, a folder (a mounted disc or USB stick) or a FAT image (read with
mtools). The DICOMDIR is walked by its record offsets; every referenced file is read and
stored byte for byte (the data set is not re-encoded; the store writes its own File Meta
group with the same values). As the statements' FSRs do, only instances of SOP classes the
product supports are imported (syngo MR §5.2.1.1.2, PET/CT §9.1.2.2, COHERENCE §21.1.2.2);
the others are reported as skipped. No attribute value precedence is applied.
"""

from __future__ import annotations

__all__ = ["ImportResult", "browse", "import_media", "MediaReader"]

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Callable

from pydicom.filereader import read_preamble, _read_file_meta_info
from pydicom.uid import UID

from ..errors import StoreError
from ..store import Store
from .errors import MediaError
from .fileset import DirectoryNode, directory_tree, read_dicomdir
from .iso import IsoReader

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_media` did: ``instances`` newly stored, ``duplicates`` already
    there, ``skipped`` as (File ID, reason)."""

    instances: int
    duplicates: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    file_set_id: str = ""
    studies: tuple[str, ...] = ()


class MediaReader:
    """Read access to a medium: ``read(file_id) -> bytes`` and its DICOMDIR."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._iso: IsoReader | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._root: Path | None = None
        if self.path.is_dir():
            self._root = self.path
        elif self.path.is_file():
            head = self.path.read_bytes()[:0x8006] if self.path.stat().st_size > 0x8006 else self.path.read_bytes()
            if head[0x8001:0x8006] == b"CD001":
                self._iso = IsoReader(self.path)
            elif len(head) > 512 and head[510:512] == b"\x55\xaa":
                self._root = self._extract_fat()
            else:
                raise MediaError(f"{self.path} is neither an ISO 9660 image, a FAT image nor a folder",
                                 "give an .iso, a FAT image (.img) or a mounted medium folder")
        else:
            raise MediaError(f"{self.path} does not exist", "give an .iso, a FAT image or a folder")

    def _extract_fat(self) -> Path:
        if not shutil.which("mcopy"):
            raise MediaError(f"{self.path} is a FAT image; reading it needs mtools (mcopy)",
                             "apt-get install -y mtools, or mount the image and import the folder")
        self._tmp = tempfile.TemporaryDirectory(prefix="vscanner-fat-")
        r = subprocess.run(["mcopy", "-s", "-n", "-i", str(self.path), "::/", self._tmp.name],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise MediaError(f"cannot read the FAT image {self.path}: {r.stderr.strip()}", "is it a FAT image?")
        return Path(self._tmp.name)

    def _locate(self, parts: list[str]) -> Path:
        assert self._root is not None
        p = self._root
        for part in parts:
            if (p / part).exists():
                p = p / part
                continue
            match = [c for c in p.iterdir() if c.name.split(";")[0].rstrip(".").upper() == part.upper()] \
                if p.is_dir() else []
            if not match:
                raise MediaError(f"{self.path}: no file {'/'.join(parts)} on the medium",
                                 "the DICOMDIR references a file that is missing")
            p = match[0]
        return p

    def read(self, file_id: tuple[str, ...] | list[str]) -> bytes:
        if self._iso is not None:
            return self._iso.read(list(file_id))
        return self._locate(list(file_id)).read_bytes()

    def dicomdir(self):  # type: ignore[no-untyped-def]
        try:
            data = self.read(["DICOMDIR"])
        except MediaError as exc:
            raise MediaError(f"{self.path} holds no DICOMDIR: it is not a DICOM medium",
                             "an FSR reads media with a DICOMDIR only") from exc
        return read_dicomdir(data)

    def close(self) -> None:
        if self._iso is not None:
            self._iso.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "MediaReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def browse(path: Path) -> list[DirectoryNode]:
    """The directory records of a medium as a tree (Browse Directory Information)."""
    with MediaReader(path) as m:
        return directory_tree(m.dicomdir())


def _split_part10(data: bytes):  # type: ignore[no-untyped-def]
    """(file meta, data set bytes) of a Part 10 file, without decoding the data set."""
    fp = BytesIO(data)
    read_preamble(fp, force=False)
    meta = _read_file_meta_info(fp)
    return meta, data[fp.tell():]


def import_media(
    path: Path,
    store: Store,
    *,
    sop_classes: set[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportResult:
    """Import every instance a medium's DICOMDIR references into *store*.

    *sop_classes* restricts the import to the product's supported classes (the CLI passes
    the profile's storage classes); ``None`` imports every class.
    """
    with MediaReader(Path(path)) as medium:
        dicomdir = medium.dicomdir()
        tree = directory_tree(dicomdir)
        leaves = [n for top in tree for n in top.walk() if n.file_id]
        stored = duplicates = 0
        skipped: list[tuple[str, str]] = []
        studies: list[str] = []
        for i, node in enumerate(leaves, 1):
            file_id = node.file_id or ()
            name = "\\".join(file_id)
            sop_class = str(node.record.get("ReferencedSOPClassUIDInFile", ""))
            if sop_classes is not None and sop_class not in sop_classes:
                skipped.append((name, f"{UID(sop_class).name} is not supported by the product"))
                continue
            try:
                meta, body = _split_part10(medium.read(file_id))
                result = store.add_encoded(body, meta, source_ae=None)
            except MediaError as exc:
                skipped.append((name, exc.message))
                continue
            except (StoreError, Exception) as exc:  # one damaged file does not stop the import
                skipped.append((name, str(exc)))
                continue
            if result.outcome == "duplicate":
                duplicates += 1
            else:
                stored += 1
                if result.record.study_uid not in studies:
                    studies.append(result.record.study_uid)
            if progress:
                progress("import", i, len(leaves))
        for name, reason in skipped:
            LOGGER.info("not imported %s: %s", name, reason)
        return ImportResult(stored, duplicates, tuple(skipped), str(dicomdir.get("FileSetID", "") or ""),
                            tuple(studies))
