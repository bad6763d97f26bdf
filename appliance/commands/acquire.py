"""``vscanner acquire``: run a scan protocol of a product and write its objects.

    vscanner acquire --profile syngo-ct-va50a --list-protocols
    vscanner acquire --profile syngo-ct-va50a --protocol "Head routine" --out ./exam
    vscanner acquire --profile syngo-mr-xa11b --legacy --patient-name "DOE^JOHN" --patient-id P1 --out ./mr
    vscanner acquire --profile syngo-mr-xa11b --list-objects
    vscanner acquire --profile syngo-mr-xa11b --derive segmentation --derive gsps --out ./mr
"""

from __future__ import annotations

import argparse
import sys
import time

from ..errors import UsageError


def register(subparsers) -> None:
    sp = subparsers.add_parser(
        "acquire",
        help="simulate a scan: write the series a product's protocol creates",
        description="Run one of a product's scan protocols on a numeric phantom and write the "
                    "objects the product creates (as its conformance statement describes them) "
                    "into --out, one folder per series. Prints counts and bytes per series.",
        epilog="examples:\n"
               "  vscanner acquire --profile syngo-ct-va50a --list-protocols\n"
               "  vscanner acquire --profile syngo-ct-va50a --protocol 'Head routine' --out exam\n"
               "  vscanner acquire --profile syngo-mr-xa11b --legacy --patient-name DOE^JOHN "
               "--patient-id P1 --out mr\n"
               "  vscanner acquire --profile syngo-mr-xa11b --list-objects\n"
               "  vscanner acquire --profile syngo-mr-xa11b --derive segmentation --derive gsps --out mr\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--profile", required=True, help="profile id (see `vscanner profiles`) or a .toml path")
    sp.add_argument("--protocol", help="protocol name (default: the product's first; see --list-protocols)")
    sp.add_argument("--list-protocols", action="store_true", help="list the product's protocols and exit")
    sp.add_argument("--list-objects", action="store_true",
                    help="list the classes the product creates, their object kinds and how each is made, and exit")
    sp.add_argument("--derive", action="append", default=[], metavar="KIND",
                    help="also make an object of KIND from the acquired series (repeatable; see --list-objects), "
                         "e.g. segmentation, gsps, spatial_registration")
    sp.add_argument("--derive-from", metavar="SERIES",
                    help="the series description --derive objects are made from (default: the first "
                         "single-orientation image series)")
    kind = sp.add_mutually_exclusive_group()
    kind.add_argument("--enhanced", dest="enhanced", action="store_const", const=True,
                      help="write Enhanced MR/CT objects (if the product creates them)")
    kind.add_argument("--legacy", dest="enhanced", action="store_const", const=False,
                      help="write single-frame MR/CT Image objects (if the product creates them)")
    sp.add_argument("--patient-name", default="DOE^JANE", help="Patient's Name, DICOM PN (default DOE^JANE)")
    sp.add_argument("--patient-id", default="VS0001", help="Patient ID (default VS0001)")
    sp.add_argument("--patient-birth-date", default="19700101", help="YYYYMMDD (default 19700101)")
    sp.add_argument("--patient-sex", default="F", choices=("M", "F", "O"), help="default F")
    sp.add_argument("--patient-weight", type=float, default=70.0, help="kg (default 70; PET SUV uses it)")
    sp.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same pixels")
    sp.add_argument("--max-matrix", type=int, help="cap matrices (quick previews)")
    sp.add_argument("--max-slices", type=int, help="cap slices per stack (quick previews)")
    sp.add_argument("--out", help="output folder (created); required unless --list-protocols")
    sp.set_defaults(func=cmd_acquire)


def cmd_acquire(args: argparse.Namespace) -> int:
    from acquisition.engine import Limits, acquire, list_protocols
    from acquisition.iods.modules import PatientInfo

    from ..profile import find_profile

    profile = find_profile(args.profile, list(getattr(args, "profile_dir", None) or []))
    if args.list_protocols:
        for p in list_protocols(profile):
            kinds = ", ".join(f"{s.series_number}:{s.kind}" for s in p.series)
            print(f"{p.name:<22} {p.description}  [{kinds}]")
        return 0
    if args.list_objects:
        from acquisition.engine import list_objects

        for uid, name, kinds, how in list_objects(profile):
            print(f"{name:<58} {uid:<30} {how:<11} {', '.join(kinds) or '-'}")
        return 0
    if not args.out:
        raise UsageError("--out is required", f"e.g. vscanner acquire --profile {args.profile} --out ./exam")
    for value, name in ((args.max_matrix, "--max-matrix"), (args.max_slices, "--max-slices")):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value}", f"e.g. {name} 64")
    if args.patient_weight <= 0:
        raise UsageError(f"--patient-weight must be positive, got {args.patient_weight}", "e.g. --patient-weight 70")
    patient = PatientInfo(name=args.patient_name, id=args.patient_id, birth_date=args.patient_birth_date,
                          sex=args.patient_sex, weight_kg=args.patient_weight)
    bar = _ProgressBar(sys.stderr)
    started = time.perf_counter()
    acq = acquire(profile, args.protocol, enhanced=args.enhanced, patient=patient, seed=args.seed,
                  limits=Limits(max_matrix=args.max_matrix, max_slices=args.max_slices), progress=bar.acquiring,
                  derived=args.derive, derive_from=args.derive_from)
    import os

    workers = min(os.cpu_count() or 1, 4) if len(acq.datasets) >= 32 else 1
    written = acq.write(args.out, progress=bar.writing, workers=workers)
    bar.done()
    files = sum(w.files for w in written)
    size = sum(w.bytes for w in written)
    print(f"{profile.id}: {acq.protocol.name!r} for {acq.patient.name} ({acq.patient.id}), "
          f"study {acq.study.uid}")
    from pydicom.uid import UID

    for w in written:
        print(f"  series {w.number:>4}  {w.files:>4} file(s) {w.bytes:>12,} bytes  {UID(w.sop_class).name:<34} "
              f"{w.description}")
    print(f"total: {len(written)} series, {files} files, {size:,} bytes in {args.out} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


class _ProgressBar:
    """A one-line progress bar on stderr, shown only for long runs on a terminal."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.started = time.perf_counter()
        self.shown = False

    def _show(self, phase: str, done: int, total: int, label: str) -> None:
        if not self.enabled or (time.perf_counter() - self.started < 1.0 and not self.shown):
            return
        width = 30
        filled = int(width * done / max(total, 1))
        self.stream.write(f"\r{phase} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:30]:<30}")
        self.stream.flush()
        self.shown = True

    def acquiring(self, done: int, total: int, label: str) -> None:
        self._show("acquiring", done, total, label)

    def writing(self, done: int, total: int, label: str) -> None:
        self._show("writing  ", done, total, label)

    def done(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
