#!/usr/bin/env python3
"""Benchmark: writing acquired series to disk, against baselines measured in the same run.

    python benchmarks/bench_acquisition.py [--tmp DIR] [--repeat N]

Two workloads: a 300-slice 512x512 CT series (syngo CT VA50A, single-frame CT
Image Storage, 16-bit) and a 200-frame 256x256 Enhanced MR (syngo MR XA11B). For each it
prints the time to simulate the series (physics, not the target), the time and MB/s of
``Acquisition.write`` (encoding with pydicom and writing the files), and two baselines on
the same bytes: a plain file copy (``shutil.copyfile``) and DCMTK's ``dcmconv`` re-writing
the files (when installed). Ratios > 1 mean vscanner is faster than the baseline. This is
not a test: nothing is asserted; the target is >= 200 MB/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acquisition.engine import acquire  # noqa: E402
from acquisition.protocols import product_data_for  # noqa: E402
from appliance.profile import find_profile  # noqa: E402


def ct_workload():
    """300 x 512 x 512 CT slices: the thorax protocol's CT series at 1 mm, alone."""
    proto = product_data_for("syngo-ct-va50a").protocol("Thorax routine")
    spec = next(s for s in proto.series if s.kind == "ct")
    geo = dataclasses.replace(spec.geometry, slices=300, thickness=1.0, matrix=(512, 512))
    return "syngo-ct-va50a", dataclasses.replace(proto, series=(dataclasses.replace(spec, geometry=geo),))


def mr_workload():
    """A 200-frame 256 x 256 Enhanced MR: the 3D T1 protocol with 200 partitions."""
    proto = product_data_for("syngo-mr-xa11b").protocol("T1 3D MPRAGE")
    spec = proto.series[0]
    geo = dataclasses.replace(spec.geometry, slices=200, matrix=(256, 256))
    return "syngo-mr-xa11b", dataclasses.replace(proto, series=(dataclasses.replace(spec, geometry=geo),))


def _mb(n: int) -> float:
    return n / 1e6


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = fn()
        times.append(t)
    return min(times)


def bench(name: str, profile_id: str, protocol, tmp: Path, repeat: int) -> None:
    t0 = time.perf_counter()
    acq = acquire(find_profile(profile_id), protocol, enhanced=True if profile_id == "syngo-mr-xa11b" else None,
                  seed=1)
    t_sim = time.perf_counter() - t0
    n_files = len(acq.datasets)

    def write_once(workers: int = 1) -> float:
        out = tmp / f"{name}-write"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        acq.write(out, workers=workers)
        return time.perf_counter() - t

    cpus = os.cpu_count() or 1
    t_parallel = _best(lambda: write_once(cpus), repeat) if cpus > 1 and n_files > 1 else None
    t_write = _best(write_once, repeat)
    files = sorted((tmp / f"{name}-write").rglob("*.dcm"))
    size = sum(f.stat().st_size for f in files)

    def copy_once() -> float:
        out = tmp / f"{name}-copy"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        t = time.perf_counter()
        for f in files:
            shutil.copyfile(f, out / f.name)
        return time.perf_counter() - t

    t_copy = _best(copy_once, repeat)
    dcmconv = shutil.which("dcmconv")
    t_dcmtk = None
    if dcmconv:
        def dcmconv_once() -> float:
            out = tmp / f"{name}-dcmconv"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            t = time.perf_counter()
            for f in files:
                subprocess.run([dcmconv, "+te", str(f), str(out / f.name)], check=True)
            return time.perf_counter() - t

        t_dcmtk = _best(dcmconv_once, repeat)
    rate = _mb(size) / t_write
    print(f"\n{name}: {n_files} file(s), {_mb(size):.1f} MB")
    print(f"  simulate (physics + IOD build)  {t_sim:7.2f} s")
    print(f"  vscanner write (1 process)      {t_write:7.3f} s  {rate:8.1f} MB/s  (target >= 200 MB/s)")
    if t_parallel is not None:
        print(f"  vscanner write ({cpus} processes)    {t_parallel:7.3f} s  {_mb(size) / t_parallel:8.1f} MB/s")
    print(f"  plain file copy                 {t_copy:7.3f} s  {_mb(size) / t_copy:8.1f} MB/s  "
          f"ratio vscanner/copy {t_copy / t_write:.2f}")
    if t_dcmtk is not None:
        print(f"  DCMTK dcmconv +te (1 process/file) {t_dcmtk:5.3f} s  {_mb(size) / t_dcmtk:8.1f} MB/s  "
              f"ratio vscanner/dcmconv {t_dcmtk / t_write:.2f}")
    else:
        print("  DCMTK dcmconv not installed (apt-get install dcmtk): no DCMTK baseline")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tmp", help="folder for the written files (default: a new temporary folder)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement; the best is shown")
    args = ap.parse_args(argv)
    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="vscanner-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"writing into {tmp} ({os.cpu_count()} CPUs); best of {args.repeat}")
    try:
        bench("CT 300 x 512x512", *ct_workload(), tmp, args.repeat)
        bench("Enhanced MR 200 x 256x256", *mr_workload(), tmp, args.repeat)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
