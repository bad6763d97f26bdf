"""``vscanner burn`` and ``vscanner import``: the product's media, as FSC/FSU and FSR.

    vscanner burn 1.2.3.4 --media-profile STD-GEN-CD --out patient.iso --profile syngo-mr-xa11b
    vscanner burn ./exam --out /media/stick/           # a folder: USB stick (FSC, or FSU when it has a DICOMDIR)
    vscanner burn ./exam --out stick.img               # a FAT image (needs mtools)
    vscanner import patient.iso --data ./store
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    from .network import add_audit_arguments

    sp = subparsers.add_parser(
        "burn",
        help="write studies or files to a CD/DVD/BD image, USB folder or FAT image, as the product does",
        description="Write instances as the product's File-set Creator: the DICOMDIR and files of one of "
                    "its media application profiles (transcoded to a syntax the profile allows, with the "
                    "product's File Meta), then an ISO 9660 image (--out FILE.iso), a folder tree on a "
                    "mounted USB stick (--out DIR/; updates an existing file-set as FSU where the product "
                    "does), or a FAT image (--out FILE.img, needs mtools). TARGETS are DICOM files, "
                    "folders, or Study Instance UIDs in the store (--data).",
        epilog="examples:\n"
               "  vscanner burn 1.2.826.0.1.3680043.8.498.1 --profile syngo-ct-va50a --out cd.iso\n"
               "  vscanner burn ./exam --profile syngo-mr-xa11b --media-profile STD-GEN-DVD-J2K --out dvd.iso\n"
               "  vscanner burn ./exam --profile syngo-ct-va50a --deidentify 'Full de-identification' "
               "--out anon.iso\n"
               "  vscanner burn ./exam --profile syngo-ct-va50a --media-profile STD-GEN-USB-J2K --out /mnt/stick/\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("targets", nargs="+", metavar="STUDY_UID_OR_PATH",
                    help="DICOM files, folders, or Study Instance UIDs of the store")
    sp.add_argument("--out", required=True,
                    help="FILE.iso (CD/DVD/BD image), DIR/ (USB stick folder) or FILE.img (FAT image)")
    sp.add_argument("--media-profile", help="media application profile, e.g. STD-GEN-CD (default: the "
                                            "product's first that allows the objects and holds them)")
    sp.add_argument("--profile", help="product profile id or .toml (default: the site configuration's)")
    sp.add_argument("--data", type=Path, help="store folder for Study Instance UID targets "
                                              "(default: the site configuration's)")
    sp.add_argument("--volume-label", help="ISO volume identifier (default: the profile's rule)")
    sp.add_argument("--transfer-syntax", metavar="UID", help="write images in this syntax (must be allowed)")
    comp = sp.add_mutually_exclusive_group()
    comp.add_argument("--compress", dest="compress", action="store_const", const=True,
                      help="compress images losslessly where the profile allows (the 'Patient' export)")
    comp.add_argument("--uncompressed", dest="compress", action="store_const", const=False,
                      help="write Explicit VR Little Endian (the 'Standard' export)")
    sp.add_argument("--j2k-ratio", type=float, default=10.0,
                    help="compression ratio for lossy JPEG 2000 (1.2.840.10008.1.2.4.91), default 10")
    sp.add_argument("--deidentify", action="append", metavar="OPTION",
                    help="de-identify on export with one of the product's options (repeatable); "
                         "see `vscanner conformance PROFILE`")
    sp.add_argument("--size-mb", type=int, help="FAT image size in MiB (default: fitted to the data)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_audit_arguments(sp)
    sp.set_defaults(func=cmd_burn)

    ip = subparsers.add_parser(
        "import",
        help="read a medium (ISO, folder, FAT image) into the store, as the product's FSR does",
        description="Read the DICOMDIR of a medium and copy the instances it references into the store "
                    "(--data), byte for byte. As the statements' File-set Readers do, only instances of "
                    "SOP classes the product supports are imported; the others are listed as skipped.",
        epilog="examples:\n  vscanner import patient.iso --data ./store --profile syngo-mr-xa11b\n"
               "  vscanner import /mnt/stick --data ./store\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ip.add_argument("medium", metavar="MEDIA", help="an .iso file, a folder holding a DICOMDIR, or a FAT image")
    ip.add_argument("--data", type=Path, help="store folder (default: the site configuration's)")
    ip.add_argument("--profile", help="product profile id or .toml (default: the site configuration's)")
    ip.set_defaults(func=cmd_import)


def _context(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..config import load_site_config
    from ..profile import find_profile

    site = load_site_config(getattr(args, "config", None))
    profile = find_profile(args.profile or site.local.profile, list(getattr(args, "profile_dir", None) or []))
    data = Path(args.data or site.local.data)
    return profile, data


def _targets(targets: list[str], data: Path) -> list[Path]:
    """Paths for path targets; the store's files for Study Instance UID targets."""
    from ..errors import UsageError
    from ..profile import is_valid_uid

    out: list[Path] = []
    store = None
    try:
        for t in targets:
            p = Path(t)
            if p.exists():
                out.append(p)
                continue
            if not is_valid_uid(t):
                raise UsageError(f"{t}: no such file or folder, and not a Study Instance UID",
                                 "give DICOM files, folders, or a Study Instance UID of the store")
            if store is None:
                if not (data / "index.sqlite").exists():
                    raise UsageError(f"{t} looks like a Study Instance UID but {data} holds no store",
                                     "give --data STORE_FOLDER")
                from ..store import Store

                store = Store(data)
            records = store.instances(t)
            if not records:
                raise UsageError(f"study {t} is not in the store {data}", "check the UID (or give paths)")
            out.extend(r.path for r in records)
    finally:
        if store is not None:
            store.close()
    return out


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet or total <= 0:
            return
        decile = int(10 * done / total)
        if (stage, decile) != self.last:
            self.last = (stage, decile)
            print(f"{stage}: {100 * done // total:3d} %", file=sys.stderr, flush=True)


def cmd_burn(args: argparse.Namespace) -> int:
    from .network import audit_trail

    profile, data = _context(args)
    trail = audit_trail(args, profile, data, None)  # export audit (110106) when asked or the profile says
    try:
        return _burn(args, profile, data)
    finally:
        if trail is not None:
            from ..security import audit

            audit.set_default(None)
            trail.close()


def _burn(args: argparse.Namespace, profile, data) -> int:  # type: ignore[no-untyped-def]
    from ..media import burn
    from ..media.export import export_fat_image, export_folder

    paths = _targets(args.targets, data)
    progress = _Progress(args.quiet)
    out = Path(args.out)
    common = dict(media_profile=args.media_profile, transfer_syntax=args.transfer_syntax, compress=args.compress,
                  j2k_ratio=args.j2k_ratio, deidentify=args.deidentify, progress=progress)
    if args.out.endswith(("/", "\\")) or out.is_dir():
        kind = "updated the file-set with" if (out / "DICOMDIR").is_file() else "wrote"
        result = export_folder(profile, paths, out, **common)  # type: ignore[arg-type]
        print(f"{kind} {result.instances} instance(s) on {out} "
              f"({', '.join(f'{n} x {t}' for t, n in result.transfer_syntaxes.items()) or 'nothing new'}"
              + (f"; {result.duplicates} already there" if result.duplicates else "") + ")")
        for path, reason in result.dropped:
            print(f"left out {path}: {reason}")
        return 0
    if out.suffix.lower() in (".img", ".ima", ".fat"):
        result = export_fat_image(profile, paths, out, size_mb=args.size_mb, volume_label=args.volume_label,
                                  **common)  # type: ignore[arg-type]
        print(f"wrote {result.instances} instance(s) to the FAT image {out} ({result.bytes / 1e6:.1f} MB)")
        return 0
    r = burn(profile, paths, out=out, volume_label=args.volume_label, **common)  # type: ignore[arg-type]
    ts = ", ".join(f"{n} x {t}" for t, n in r.transfer_syntaxes.items())
    print(f"burned {r.instances} instance(s) as {r.media_profile} ({ts}), volume {r.volume_label}: "
          + ", ".join(f"{p} ({p.stat().st_size / 1e6:.1f} MB)" for p in r.isos))
    for path, reason in r.dropped:
        print(f"left out {path}: {reason}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..media import MediaError, import_media
    from ..store import Store

    profile, data = _context(args)
    if "FSR" not in profile.media.roles:
        raise MediaError(f"{profile.id} does not read media (no FSR role)", "use another product profile")
    classes = {c.uid for c in profile.classes(service="storage")}
    with Store(data, duplicates=profile.storage_scp.duplicates) as store:
        r = import_media(Path(args.medium), store, sop_classes=classes)
    print(f"imported {r.instances} instance(s) into {data}"
          + (f", {r.duplicates} already there" if r.duplicates else "")
          + (f", {len(r.skipped)} skipped" if r.skipped else ""))
    for name, reason in r.skipped:
        print(f"skipped {name}: {reason}")
    return 0 if r.instances or r.duplicates or not r.skipped else 1
