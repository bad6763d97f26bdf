"""FSC and FSU: a product writes file-sets to CD/DVD/BD images, USB folders and FAT images.

One export is: collect the instances (files or folders), choose the media application
profile (the given one, else the first of the product's profiles that allows the objects and
whose medium holds them), de-identify if asked, transcode each instance to a syntax both
the profile and the product allow, plan the file-set with the product's DICOMDIR
(:class:`~appliance.media.fileset.DicomdirBuilder`, the records
:class:`~appliance.media.fileset.ProductFileSet` writes), then write it: an ISO through
:mod:`appliance.media.iso` (or an emulated burner), a folder tree, or a FAT image through
mtools. An instance that needs no change is neither decoded nor copied to a staging folder:
its new File Meta Information and its data set, straight from its file, go into the image.
An existing file-set (FSU) is updated through ProductFileSet. Nothing appears under the
final name until it is complete.
"""

from __future__ import annotations

__all__ = [
    "BurnResult",
    "FileSetResult",
    "Source",
    "burn",
    "collect_files",
    "scan",
    "choose_profile",
    "write_file_set",
    "update_file_set",
    "export_folder",
    "export_fat_image",
    "writable_profiles",
    "updatable_profiles",
    "transfer_syntaxes_for",
    "capacity_for",
]

import datetime as _dt
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from ..profile import Profile
from .application_profiles import EXPLICIT_LE, ApplicationProfile, Medium, application_profile
from ..security import audit
from .deidentify import Deidentifier
from .errors import DiscFull, MediaError
from .fileset import (DicomdirBuilder, HeaderUnsupported, InstanceHeader, NotPart10, ProductFileSet, make_icon,
                      part10_head, read_instance_header)
from .iso import ImageFile, volume_identifier, write_iso, write_part
from .transcode import DEFAULT_J2K_RATIO, choose_transfer_syntax, transcode

if TYPE_CHECKING:
    from devices.burner import Burner

LOGGER = logging.getLogger(__name__)

#: progress(stage, done, total): stage is "prepare" (instances), "write" (bytes), "verify" (bytes).
Progress = Callable[[str, int, int], None]

_HEADER_TAGS = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
                "Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "BitsAllocated", "StudyID",
                "InstanceNumber"]


@functools.lru_cache(maxsize=64)
def _is_compressed(transfer_syntax: str) -> bool:
    return UID(transfer_syntax).is_compressed


@dataclass(frozen=True)
class Source:
    """One instance file to export, with the header values the export needs."""

    path: Path
    sop_class: str
    sop_instance: str
    study: str
    series: str
    patient: str
    size: int
    transfer_syntax: str
    pixel_bytes: int = 0
    study_id: str = ""
    header: InstanceHeader | None = field(default=None, compare=False, repr=False)

    def estimate(self, compressed_target: bool) -> int:
        """Bytes on the medium (rounded to 2 KiB blocks): uncompressed size unless compressing."""
        size = self.size
        if not compressed_target and _is_compressed(self.transfer_syntax):
            size += self.pixel_bytes
        return -(-size // 2048) * 2048


@dataclass(frozen=True)
class FileSetResult:
    """What one file-set write did."""

    root: Path
    instances: int
    bytes: int
    transfer_syntaxes: dict[str, int]
    file_ids: dict[str, str]
    dropped: tuple[tuple[str, str], ...] = ()
    duplicates: int = 0


@dataclass(frozen=True)
class BurnResult:
    """The result of :func:`burn`.

    ``iso`` is the (first) image; ``isos`` all of them when the data was split over
    several discs (``media.spanning = "split"``); ``bytes`` is the size of the images.
    """

    iso: Path
    instances: int
    bytes: int
    media_profile: str
    isos: tuple[Path, ...] = ()
    volume_label: str = ""
    transfer_syntaxes: dict[str, int] = field(default_factory=dict)
    dropped: tuple[tuple[str, str], ...] = ()


# --- input ------------------------------------------------------------------------------------


def _is_part10(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _candidates(paths: Iterable[str | os.PathLike[str]]) -> list[tuple[Path, bool]]:
    """The files *paths* name, folders searched recursively (DICOMDIRs left out), each with
    whether it was named itself (then it must be DICOM) rather than found in a folder."""
    out: list[tuple[Path, bool]] = []
    for p in map(Path, paths):
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                folder = Path(dirpath)
                out.extend((folder / f, False) for f in sorted(filenames) if f.upper() != "DICOMDIR")
        elif p.is_file():
            out.append((p, True))
        else:
            raise MediaError(f"{p} does not exist", "name DICOM files, folders, or a Study Instance UID in the store")
    return out


def _not_dicom(p: Path) -> MediaError:
    return MediaError(f"{p} is not a DICOM Part 10 file", "name DICOM files or folders holding them")


def collect_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """DICOM Part 10 files named by *paths*; folders are searched recursively.

    A named file that is not DICOM is an error; inside folders non-DICOM files and DICOMDIRs
    are skipped.
    """
    out: list[Path] = []
    for p, named in _candidates(paths):
        if _is_part10(p):
            out.append(p)
        elif named:
            raise _not_dicom(p)
    return out


def scan(files: Sequence[Path]) -> list[Source]:
    """Read the header of every file (no pixel data); the same SOP Instance UID counts once.

    Headers are walked as encoded (:func:`~appliance.media.fileset.read_instance_header`,
    kept in :attr:`Source.header` for the file-set); pydicom reads the others.
    """
    return _scan([(f, True) for f in files])


def _scan(candidates: Sequence[tuple[Path, bool]]) -> list[Source]:
    """:func:`scan` of ``(path, named)`` pairs not yet known to be DICOM (:func:`_candidates`):
    a file without the Part 10 prefix is skipped, or an error when it was named."""
    seen: set[str] = set()
    out: list[Source] = []
    for f, named in candidates:
        try:
            src = _source_from_header(f)
        except NotPart10:
            if not named:
                continue
            raise _not_dicom(f) from None
        if src is None:
            src = _source_from_pydicom(f)
        if not src.sop_instance or src.sop_instance in seen:
            continue
        seen.add(src.sop_instance)
        out.append(src)
    out.sort(key=lambda s: (s.patient, s.study, s.series, str(s.path)))
    return out


def _source_from_header(f: Path) -> Source | None:
    """*f*'s source from its header walked as encoded; None when pydicom must read it.
    Raises :class:`NotPart10` for a file without the Part 10 prefix."""
    try:
        h = read_instance_header(f)
    except NotPart10:
        raise
    except (HeaderUnsupported, OSError, UnicodeDecodeError):
        return None
    frames = h.number(0x00280008) or 1
    pixel_bytes = (h.us(0x00280010) * h.us(0x00280011) * frames * (h.us(0x00280002) or 1)
                   * (h.us(0x00280100) // 8))
    return Source(
        path=f, sop_class=h.uid(0x00080016), sop_instance=h.uid(0x00080018), study=h.uid(0x0020000D),
        series=h.uid(0x0020000E), patient=h.text(0x00100020), size=h.size, transfer_syntax=h.transfer_syntax,
        pixel_bytes=pixel_bytes, study_id=h.text(0x00200010), header=h,
    )


def _source_from_pydicom(f: Path) -> Source:
    try:
        ds = dcmread(f, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise MediaError(f"cannot read {f}: {exc}", "the file is damaged or not DICOM") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    pixel_bytes = (int(ds.get("Rows", 0) or 0) * int(ds.get("Columns", 0) or 0) * frames
                   * int(ds.get("SamplesPerPixel", 1) or 1) * (int(ds.get("BitsAllocated", 0) or 0) // 8))
    return Source(
        path=f, sop_class=str(ds.get("SOPClassUID", "")), sop_instance=str(ds.get("SOPInstanceUID", "") or ""),
        study=str(ds.get("StudyInstanceUID", "")), series=str(ds.get("SeriesInstanceUID", "")),
        patient=str(ds.get("PatientID", "")), size=f.stat().st_size,
        transfer_syntax=str(ds.file_meta.get("TransferSyntaxUID", EXPLICIT_LE)), pixel_bytes=pixel_bytes,
        study_id=str(ds.get("StudyID", "") or ""),
    )


# --- the product's media rules ------------------------------------------------------------------


def writable_profiles(p: Profile) -> list[str]:
    """The profiles the product writes as FSC."""
    if "FSC" not in p.media.roles:
        return []
    return list(p.media.write_profiles if p.media.write_profiles is not None else p.media.profiles)


def updatable_profiles(p: Profile) -> list[str]:
    """The profiles on which the product acts as FSU."""
    if "FSU" not in p.media.roles:
        return []
    return list(p.media.update_profiles if p.media.update_profiles is not None else writable_profiles(p))


def _product_classes(p: Profile, app: ApplicationProfile) -> set[str]:
    """The SOP classes the product writes on a medium of *app*."""
    if p.media.sop_classes is not None:
        return set(p.media.sop_classes)
    storage = {c.uid for c in p.classes(service="storage")}
    return {uid for uid in storage if app.allows(uid)}


def transfer_syntaxes_for(p: Profile, app: ApplicationProfile, sop_class: str) -> tuple[str, ...]:
    """Syntaxes the product writes *sop_class* in on *app*: both lists, product's order."""
    allowed = app.transfer_syntaxes(sop_class)
    product = p.transfer_syntaxes.media or (EXPLICIT_LE,)
    both = tuple(t for t in product if t in allowed)
    return both or ((EXPLICIT_LE,) if EXPLICIT_LE in allowed else allowed[:1])


def capacity_for(p: Profile, medium: Medium) -> int | None:
    """Bytes on one medium: the statement's figure (``media.capacity_mb``) or the default."""
    override = (p.media.capacity_mb or {}).get(medium.kind)
    return override * 1_000_000 if override else medium.capacity


def choose_profile(
    p: Profile,
    sources: Sequence[Source],
    media_profile: str | None = None,
    *,
    medium_kind: str | None = None,
    filesystem: str | None = None,
    update: bool = False,
) -> tuple[ApplicationProfile, list[Source], list[tuple[str, str]]]:
    """Pick the media application profile; return it, the kept sources and the dropped ones.

    With *media_profile* it must be one the product writes (or updates); otherwise the
    first of the product's profiles that allows the objects (on the loaded medium
    *medium_kind* / the *filesystem* asked for) and whose medium holds them.
    """
    names = updatable_profiles(p) if update else writable_profiles(p)
    role = "FSU" if update else "FSC"
    if not names:
        raise MediaError(f"{p.id} does not write media as {role}",
                         f"its statement lists the roles {', '.join(p.media.roles) or 'none'}")
    if media_profile:
        wanted = media_profile.strip().upper()
        if wanted not in names:
            hint = "it writes: " + ", ".join(names)
            if wanted in p.media.profiles:
                raise MediaError(f"{p.id} reads {wanted} but does not write it as {role}", hint)
            raise MediaError(f"{p.id} does not support the media application profile {wanted}", hint)
        candidates = [wanted]
    else:
        candidates = names
    problems: list[str] = []
    fallback = None
    for name in candidates:
        app = application_profile(name)
        if medium_kind and app.medium.kind != medium_kind:
            problems.append(f"{name}: needs {app.medium.kind}, a {medium_kind} is loaded")
            continue
        if filesystem and app.medium.filesystem != filesystem:
            problems.append(f"{name}: {app.medium.kind} media are not written as {filesystem}")
            continue
        classes = _product_classes(p, app)
        kept = [s for s in sources if s.sop_class in classes]
        dropped = [(str(s.path), f"{UID(s.sop_class).name} is not written on {name}") for s in sources
                   if s.sop_class not in classes]
        if not kept or (dropped and p.media.unsupported == "reject"):
            bad = sorted({UID(s.sop_class).name for s in sources if s.sop_class not in classes})
            problems.append(f"{name}: does not allow {', '.join(bad)}")
            continue
        cap = capacity_for(p, app.medium)
        total = sum(s.estimate(app.compressed) for s in kept)
        if media_profile or cap is None or total <= cap or p.media.spanning == "split":
            return app, kept, dropped
        problems.append(f"{name}: {total / 1e6:.0f} MB do not fit on {cap / 1e6:.0f} MB")
        fallback = fallback or (app, kept, dropped)
    if fallback is not None:
        return fallback  # nothing holds it: the first that allows the objects reports "disc full"
    raise MediaError(f"no media application profile of {p.id} can take these objects: " + "; ".join(problems),
                     "choose another --media-profile, or leave out the objects it does not allow")


# --- writing the file-set ----------------------------------------------------------------------


def _file_set(p: Profile, app: ApplicationProfile, existing: Path | None = None) -> ProductFileSet:
    keys = {k: tuple(v) for k, v in (p.media.dicomdir_keys or {}).items()}
    return ProductFileSet(
        str(existing) if existing else None,
        implementation_class_uid=p.media_implementation_class_uid,
        implementation_version_name=p.media_implementation_version_name,
        dicomdir_keys=keys,
        icon_size=p.media.icon_size,
        private_classes=app.private_classes,
    )


@dataclass
class _Plan:
    """A new file-set, not yet written: its files (the DICOMDIR last) and what went into it."""

    files: list[ImageFile]
    file_ids: dict[str, str]
    transfer_syntaxes: dict[str, int]
    instances: int

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def _plan_file_set(
    p: Profile,
    app: ApplicationProfile,
    sources: Sequence[Source],
    staging: Path,
    *,
    deidentifier: Deidentifier | None = None,
    transfer_syntax: str | None = None,
    compress: bool | None = None,
    j2k_ratio: float = DEFAULT_J2K_RATIO,
    progress: Progress | None = None,
) -> _Plan:
    """The files of a new file-set (FSC) of *sources*, the product's DICOMDIR included.

    An instance kept in its transfer syntax, neither de-identified nor given an icon, is
    taken as it is: new File Meta Information, then its data set straight from its file
    (:class:`ImageFile`), and its directory records from its encoded header. Any other is read
    with pydicom, changed, and written to *staging*.
    """
    if compress is None and app.compressed and app.standard:
        compress = True  # -J2K / -JPEG profiles exist to compress ("Patient" export)
    keys = {k: tuple(v) for k, v in (p.media.dicomdir_keys or {}).items()}
    builder = DicomdirBuilder(
        implementation_class_uid=p.media_implementation_class_uid,
        implementation_version_name=p.media_implementation_version_name,
        dicomdir_keys=keys,
        icon_size=p.media.icon_size,
        private_classes=app.private_classes,
        file_set_id=p.media.file_set_id[:16] if p.media.file_set_id else None,
    )
    parts: dict[str, ImageFile] = {}  # SOP Instance UID -> content (path set below)
    used: dict[str, int] = {}
    chosen: dict[tuple[str, str, bool], str] = {}
    for n, src in enumerate(sources, 1):
        h = src.header
        if src.sop_instance in builder:
            continue
        if h is not None and deidentifier is None and not (p.media.icon_size and h.pixel_data):
            pixels = h.pixel_data and h.us(0x00280100) in (8, 16)
            key = (src.sop_class, h.transfer_syntax, pixels)
            if key not in chosen:
                chosen[key] = choose_transfer_syntax(_stand_in(h, pixels), transfer_syntaxes_for(p, app, src.sop_class),
                                                     requested=transfer_syntax, compress=compress)
            ts = chosen[key]
            if ts == h.transfer_syntax and builder.add_header(h, ts):
                head = part10_head(h, implementation_class_uid=p.media_implementation_class_uid,
                                   implementation_version_name=p.media_implementation_version_name)
                parts[src.sop_instance] = ImageFile((), head, h.path, h.body_offset, h.size - h.body_offset)
                used[ts] = used.get(ts, 0) + 1
                if progress:
                    progress("prepare", n, len(sources))
                continue
        ds = dcmread(src.path)
        if deidentifier is not None:
            deidentifier(ds)
        if p.media.icon_size and "PixelData" in ds:
            icon = make_icon(ds, p.media.icon_size)
            if icon is not None:
                builder.icons[str(ds.SOPInstanceUID)] = icon
        ts = choose_transfer_syntax(ds, transfer_syntaxes_for(p, app, str(ds.SOPClassUID)),
                                    requested=transfer_syntax, compress=compress)
        transcode(ds, ts, j2k_ratio=j2k_ratio)
        meta = ds.file_meta
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.ImplementationClassUID = UID(p.media_implementation_class_uid)
        meta.ImplementationVersionName = p.media_implementation_version_name
        sop = str(ds.SOPInstanceUID)
        if sop in builder:
            continue
        try:
            builder.add_dataset(ds)
        except ValueError as exc:
            raise MediaError(f"{src.path} cannot be put into a DICOMDIR: {exc}",
                             "the instance lacks a key the directory records need (PS3.3 F.5)") from exc
        staged = staging / f"{n:08d}.dcm"
        ds.save_as(staged, enforce_file_format=True)
        parts[sop] = ImageFile.of((), staged)
        used[ts] = used.get(ts, 0) + 1
        if progress:
            progress("prepare", n, len(sources))
    dicomdir = builder.finish()
    files = [ImageFile(builder.file_ids[sop], f.head, f.source, f.offset, f.length) for sop, f in parts.items()]
    files.append(ImageFile(("DICOMDIR",), dicomdir))
    file_ids = {sop: "\\".join(ids) for sop, ids in builder.file_ids.items()}
    return _Plan(files, file_ids, used, len(parts))


def _stand_in(h: InstanceHeader, pixels: bool) -> Dataset:
    """What choose_transfer_syntax looks at, for an instance known by its header."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(h.transfer_syntax)
    if h.pixel_data:
        ds.BitsAllocated = h.us(0x00280100)
        ds.PixelData = b""
    return ds


def _write_files(files: Sequence[ImageFile], root: Path) -> None:
    """Write a planned file-set under *root*: instance files first, the DICOMDIR last, each
    under a hidden name until complete."""
    for f in sorted(files, key=lambda f: f.path == ("DICOMDIR",)):
        dst = root.joinpath(*f.path)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not f.head and f.source is not None and f.source.name.endswith(".dcm") and f.source.parent.name == _STAGE:
            os.replace(f.source, dst)  # written by pydicom for this file-set: moved, not copied
            continue
        part = dst.with_name(f".{dst.name}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_part(f, fd, 0)
        finally:
            os.close(fd)
        os.replace(part, dst)


_STAGE = ".vscanner-stage"


def write_file_set(
    p: Profile,
    app: ApplicationProfile,
    sources: Sequence[Source],
    root: Path,
    *,
    deidentifier: Deidentifier | None = None,
    transfer_syntax: str | None = None,
    compress: bool | None = None,
    j2k_ratio: float = DEFAULT_J2K_RATIO,
    progress: Progress | None = None,
    existing: bool = False,
) -> FileSetResult:
    """Write *sources* as a file-set of *app* under *root* (FSC), or add them (FSU, *existing*).

    Instances already in an existing file-set are skipped (duplicates avoided, as the
    statements' FSUs do). Returns counts, syntaxes used and the File ID of each instance.
    """
    root = Path(root)
    if existing:
        return _update_file_set(p, app, sources, root, deidentifier=deidentifier, transfer_syntax=transfer_syntax,
                                compress=compress, j2k_ratio=j2k_ratio, progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / _STAGE
    staging.mkdir(exist_ok=True)
    try:
        plan = _plan_file_set(p, app, sources, staging, deidentifier=deidentifier, transfer_syntax=transfer_syntax,
                              compress=compress, j2k_ratio=j2k_ratio, progress=progress)
        _write_files(plan.files, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return FileSetResult(root, plan.instances, plan.bytes, plan.transfer_syntaxes, plan.file_ids)


def _update_file_set(
    p: Profile,
    app: ApplicationProfile,
    sources: Sequence[Source],
    root: Path,
    *,
    deidentifier: Deidentifier | None = None,
    transfer_syntax: str | None = None,
    compress: bool | None = None,
    j2k_ratio: float = DEFAULT_J2K_RATIO,
    progress: Progress | None = None,
) -> FileSetResult:
    """FSU through pydicom's FileSet: load the DICOMDIR, add, rewrite."""
    if compress is None and app.compressed and app.standard:
        compress = True  # -J2K / -JPEG profiles exist to compress ("Patient" export)
    fs = _file_set(p, app, root / "DICOMDIR")
    known = {str(i.SOPInstanceUID) for i in fs}
    used: dict[str, int] = {}
    added: list[str] = []
    duplicates = 0
    try:
        for n, src in enumerate(sources, 1):
            if src.sop_instance in known:
                duplicates += 1
                continue
            ds = dcmread(src.path)
            if deidentifier is not None:
                deidentifier(ds)
            if p.media.icon_size and "PixelData" in ds:
                icon = make_icon(ds, p.media.icon_size)
                if icon is not None:
                    fs.icons[str(ds.SOPInstanceUID)] = icon
            allowed = transfer_syntaxes_for(p, app, str(ds.SOPClassUID))
            ts = choose_transfer_syntax(ds, allowed, requested=transfer_syntax, compress=compress)
            transcode(ds, ts, j2k_ratio=j2k_ratio)
            meta = ds.file_meta
            meta.MediaStorageSOPClassUID = ds.SOPClassUID
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            meta.ImplementationClassUID = UID(p.media_implementation_class_uid)
            meta.ImplementationVersionName = p.media_implementation_version_name
            try:
                fs.add(ds)
            except ValueError as exc:
                raise MediaError(f"{src.path} cannot be put into a DICOMDIR: {exc}",
                                 "the instance lacks a key the directory records need (PS3.3 F.5)") from exc
            used[ts] = used.get(ts, 0) + 1
            added.append(str(ds.SOPInstanceUID))
            known.add(str(ds.SOPInstanceUID))
            if progress:
                progress("prepare", n, len(sources))
        if added:
            fs.write()
        file_ids = {str(i.SOPInstanceUID): "\\".join(Path(i.FileID).parts) for i in fs}
    finally:
        try:
            fs._stage["t"].cleanup()  # pydicom's staging folder; freed now, not at garbage collection
        except Exception:
            pass
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return FileSetResult(root, len(added), size, used, file_ids, duplicates=duplicates)


# --- spanning -----------------------------------------------------------------------------------


def split_volumes(sources: Sequence[Source], capacity: int, compressed: bool) -> list[list[Source]]:
    """Independent file-sets, each fitting *capacity*: whole studies where possible, then
    whole series, then instances (no multi-volume file-set: PET/CT §10.2.2.1.1,
    COHERENCE §22.1.6.1)."""
    # ISO system area and volume descriptors (~40 KiB), directories, DICOMDIR (~1 KiB per record)
    budget = int(capacity * 0.98) - 96 * 1024
    if budget <= 0:
        raise DiscFull("the medium is too small for any file-set", "use a larger medium")
    volumes: list[list[Source]] = [[]]
    used = [0]

    def place(group: list[Source]) -> bool:
        size = sum(s.estimate(compressed) + 1024 for s in group)
        if used[-1] + size <= budget:
            volumes[-1].extend(group)
            used[-1] += size
            return True
        if size <= budget:
            volumes.append(list(group))
            used.append(size)
            return True
        return False

    def groups(items: Sequence[Source], key: Callable[[Source], str]) -> list[list[Source]]:
        out: dict[str, list[Source]] = {}
        for s in items:
            out.setdefault(key(s), []).append(s)
        return list(out.values())

    for study in groups(sources, lambda s: s.study):
        if place(study):
            continue
        for series in groups(study, lambda s: s.series):
            if place(series):
                continue
            for inst in series:
                if not place([inst]):
                    raise DiscFull(f"{inst.path} alone ({inst.size / 1e6:.1f} MB) is larger than one medium",
                                   "use a larger medium (DVD or BD profile)")
    return [v for v in volumes if v]


# --- labels -------------------------------------------------------------------------------------


def _volume_label(p: Profile, sources: Sequence[Source], given: str | None, n: int, total: int) -> str:
    if given:
        label = given
    elif p.media.volume_label:
        first = sources[0] if sources else None
        label = p.media.volume_label.format(
            file_set_id=p.media.file_set_id or "DICOM",
            patient_id=first.patient if first else "",
            study_id=first.study_id if first else "",
            date=_dt.date.today().strftime("%Y%m%d"),
        )
    else:
        label = p.media.file_set_id or "DICOM"
    if total > 1:
        suffix = f"_{n}"
        label = volume_identifier(label)[: 32 - len(suffix)] + suffix
    return volume_identifier(label)


# --- the operations -----------------------------------------------------------------------------


def _prepare(p: Profile, paths: Sequence[str | os.PathLike[str]]) -> list[Source]:
    sources = _scan(_candidates(paths))
    if not sources:
        raise MediaError("no DICOM instances to write in " + ", ".join(map(str, paths)),
                         "name DICOM files, folders, or a Study Instance UID in the store")
    return sources


def _deidentifier(p: Profile, deidentify: str | Sequence[str] | None) -> Deidentifier | None:
    if not deidentify:
        return None
    if not p.deidentification.supported:
        raise MediaError(f"{p.id} offers no de-identification on export",
                         "burn without --deidentify (its statement lists none)")
    return Deidentifier.from_profile(p, deidentify)


def burn(
    profile: Profile,
    paths: Sequence[str | os.PathLike[str]],
    *,
    media_profile: str | None = None,
    burner: "Burner | None" = None,
    out: Path | None = None,
    volume_label: str | None = None,
    progress: Progress | None = None,
    transfer_syntax: str | None = None,
    compress: bool | None = None,
    deidentify: str | Sequence[str] | None = None,
    j2k_ratio: float = DEFAULT_J2K_RATIO,
    durable: bool = True,
) -> BurnResult:
    """Write *paths* (files/folders) as the product writes a CD, DVD or BD: an ISO image.

    Without a *burner* the image goes to *out*; with one it is burned onto the loaded
    disc (the burner writes ``out.name``, or ``<label>.iso``, into its output folder).
    *durable*: the image at *out* is fsynced before it gets its name (see ``write_iso``).
    Raises :class:`~appliance.media.errors.MediaError` subclasses: ``NoDisc``,
    ``ClosedDisc``, ``DiscFull``, ``WriteError``, ``NoEncoder``; no partial image remains.
    """
    if burner is None and out is None:
        raise MediaError("nowhere to write the image", "give out=FILE.iso or a burner")
    disc_kind = None
    capacity: int | None
    if burner is not None:
        burner.check_writable()  # NoDisc / ClosedDisc before any work
        disc_kind = burner.disc_kind
    sources = _prepare(profile, paths)
    app, kept, dropped = choose_profile(profile, sources, media_profile, medium_kind=disc_kind, filesystem="iso9660")
    for path, reason in dropped:
        LOGGER.info("left out %s: %s", path, reason)
    capacity = burner.disc_capacity if burner is not None else capacity_for(profile, app.medium)
    deid = _deidentifier(profile, deidentify)
    estimate = sum(s.estimate(app.compressed) for s in kept)
    if profile.media.spanning == "split" and capacity:
        volumes = split_volumes(kept, capacity, app.compressed)
    else:
        if capacity and estimate > capacity:
            raise DiscFull(
                f"{len(kept)} instances need about {estimate / 1e6:.1f} MB; {app.name} ({app.medium.kind}) "
                f"holds {capacity / 1e6:.1f} MB",
                "choose a larger medium (a DVD or BD profile), a compressing profile, or fewer studies "
                f"({profile.id} writes no multi-volume file-sets)",
            )
        volumes = [kept]
    staging_parent = (burner.output_folder if burner is not None else Path(out).parent)  # type: ignore[arg-type]
    staging_parent.mkdir(parents=True, exist_ok=True)
    isos: list[Path] = []
    total_bytes = 0
    used: dict[str, int] = {}
    labels = []
    with tempfile.TemporaryDirectory(dir=staging_parent, prefix=".vscanner-media-") as tmp:
        for n, vol in enumerate(volumes, 1):
            staging = Path(tmp) / f"VOL{n}"
            staging.mkdir()
            result = _plan_file_set(profile, app, vol, staging, deidentifier=deid, transfer_syntax=transfer_syntax,
                                    compress=compress, j2k_ratio=j2k_ratio, progress=progress)
            for ts, count in result.transfer_syntaxes.items():
                used[ts] = used.get(ts, 0) + count
            label = _volume_label(profile, vol, volume_label, n, len(volumes))
            labels.append(label)
            name = Path(out).name if out is not None else f"{label}.iso"
            if len(volumes) > 1 and out is not None:
                stem, suffix = os.path.splitext(name)
                name = f"{stem}_{n}{suffix or '.iso'}"

            def write_progress(done: int, total: int) -> None:
                if progress:
                    progress("write", done, total)

            if burner is not None:
                if n > 1:  # the operator puts in the next blank disc of the same kind
                    burner.eject()
                    burner.load_disc(disc_kind or app.medium.kind, burner.disc_capacity)
                iso_path = burner.burn(result.files, volume_label=label, joliet=profile.media.joliet, name=name,
                                       application=profile.title, progress=progress)
            else:
                iso_path = Path(out).with_name(name)  # type: ignore[arg-type]
                write_iso(result.files, iso_path, volume_label=label, joliet=profile.media.joliet,
                          application=profile.title, progress=write_progress, capacity=capacity, durable=durable)
            isos.append(iso_path)
            total_bytes += iso_path.stat().st_size
    LOGGER.info("burned %d instances (%s) to %s", len(kept), app.name, ", ".join(map(str, isos)))
    audit.record_export(profile.identity.default_ae_title, f"{app.medium.kind} {labels[0]}", kept)
    return BurnResult(iso=isos[0], instances=len(kept), bytes=total_bytes, media_profile=app.name,
                      isos=tuple(isos), volume_label=labels[0], transfer_syntaxes=used, dropped=tuple(dropped))


def update_file_set(
    profile: Profile,
    root: Path,
    paths: Sequence[str | os.PathLike[str]],
    *,
    media_profile: str | None = None,
    capacity: int | None = None,
    **options: object,
) -> FileSetResult:
    """FSU: add *paths* to the file-set under *root* and rewrite its DICOMDIR.

    Only on media the product updates (``media.update_profiles``, e.g. USB only for syngo:
    "FSU only on non-optical media"); instances already present are skipped.
    """
    root = Path(root)
    if not (root / "DICOMDIR").is_file():
        raise MediaError(f"{root} holds no DICOMDIR: there is no file-set to update",
                         "write a new file-set (FSC) instead")
    sources = _prepare(profile, paths)
    app, kept, dropped = choose_profile(profile, sources, media_profile, update=True,
                                        filesystem=None)
    if app.medium.filesystem == "iso9660" and not _is_writable_folder(root):
        raise MediaError(f"{root} is not writable", "an optical disc that was burned cannot be updated")
    if capacity is not None:
        used = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        need = sum(s.estimate(app.compressed) for s in kept)
        if used + need > capacity:
            raise DiscFull(f"{need / 1e6:.1f} MB more do not fit: {used / 1e6:.1f} of {capacity / 1e6:.1f} MB used",
                           "use another stick or medium")
    deid = _deidentifier(profile, options.pop("deidentify", None))  # type: ignore[arg-type]
    result = write_file_set(profile, app, kept, root, deidentifier=deid, existing=True, **options)  # type: ignore[arg-type]
    return FileSetResult(result.root, result.instances, result.bytes, result.transfer_syntaxes, result.file_ids,
                         tuple(dropped), result.duplicates)


def _is_writable_folder(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def export_folder(
    profile: Profile,
    paths: Sequence[str | os.PathLike[str]],
    target: Path,
    *,
    media_profile: str | None = None,
    capacity: int | None = None,
    deidentify: str | Sequence[str] | None = None,
    **options: object,
) -> FileSetResult:
    """Write to a mounted folder (a USB stick): FSU when it holds a DICOMDIR, else FSC.

    The new file-set is written to a staging folder on the same disk and moved into
    *target* only when complete.
    """
    target = Path(target)
    if (target / "DICOMDIR").is_file():
        return update_file_set(profile, target, paths, media_profile=media_profile, capacity=capacity,
                               deidentify=deidentify, **options)
    sources = _prepare(profile, paths)
    app, kept, dropped = choose_profile(profile, sources, media_profile, filesystem="fat")
    need = sum(s.estimate(app.compressed) for s in kept)
    if capacity is not None and need > capacity:
        raise DiscFull(f"{need / 1e6:.1f} MB do not fit on {capacity / 1e6:.1f} MB", "use a larger stick")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".vscanner-") as tmp:
        result = write_file_set(profile, app, kept, Path(tmp) / "FS", deidentifier=_deidentifier(profile, deidentify),
                                **options)  # type: ignore[arg-type]
        staged = Path(tmp) / "FS"
        names = sorted(p.name for p in staged.iterdir())
        clash = [n for n in names if (target / n).exists()]
        if clash:
            raise MediaError(f"{target} already holds {', '.join(clash)} but no DICOMDIR",
                             "empty the stick or remove those folders")
        for n in names:  # DICOMDIR last: a file-set is visible only when complete
            if n != "DICOMDIR":
                os.replace(staged / n, target / n)
        os.replace(staged / "DICOMDIR", target / "DICOMDIR")
    file_ids = result.file_ids
    audit.record_export(profile.identity.default_ae_title, f"{app.medium.kind} {target}", kept)
    return FileSetResult(target, result.instances, result.bytes, result.transfer_syntaxes, file_ids, tuple(dropped))


def mtools_available() -> bool:
    return bool(shutil.which("mformat") and shutil.which("mcopy"))


def export_fat_image(
    profile: Profile,
    paths: Sequence[str | os.PathLike[str]],
    image: Path,
    *,
    size_mb: int | None = None,
    volume_label: str | None = None,
    media_profile: str | None = None,
    **options: object,
) -> FileSetResult:
    """Write a FAT image of a USB stick (or MOD/diskette) holding a new file-set (mtools).

    Needs ``mformat`` and ``mcopy`` (Debian package ``mtools``); without them use
    :func:`export_folder`. The image is complete before it gets its final name.
    """
    if not mtools_available():
        raise MediaError("FAT images need mtools (mformat, mcopy), which is not installed",
                         "apt-get install -y mtools, or export to a folder (a mounted stick) instead")
    image = Path(image)
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.parent, prefix=".vscanner-usb-") as tmp:
        result = export_folder(profile, paths, Path(tmp) / "stick", media_profile=media_profile, **options)
        data = result.bytes
        mib = size_mb or max(16, int(data * 1.15 / 2**20) + 8)
        if mib * 2**20 < data * 1.05:
            raise DiscFull(f"{data / 1e6:.1f} MB do not fit on a {mib} MiB image", "give a larger size")
        part = Path(tmp) / "image.part"
        with open(part, "wb") as fh:
            fh.truncate(mib * 2**20)
        label = volume_identifier(volume_label or profile.media.file_set_id or "DICOM")[:11]
        fat32 = ["-F"] if mib >= 2048 else []
        _run(["mformat", "-i", str(part), "-v", label, "-t", str(mib), "-h", "64", "-s", "32", *fat32, "::"])
        entries = sorted(p.name for p in (Path(tmp) / "stick").iterdir())
        _run(["mcopy", "-s", "-i", str(part), *[str(Path(tmp) / "stick" / e) for e in entries], "::/"])
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, image)
    return FileSetResult(image, result.instances, image.stat().st_size, result.transfer_syntaxes, result.file_ids,
                         result.dropped)


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise MediaError(f"{cmd[0]} failed: {r.stderr.strip() or r.stdout.strip()}",
                         "check the image size and free disk space")
