"""Receive throughput: DCMTK storescu -> `vscanner serve` versus -> DCMTK storescp, same run.

Usage: python benchmarks/bench_receive.py [--count 200] [--runs 3] [--profile syngo-ct-va50a]

Generates N 512x512 16-bit CT instances (Explicit VR LE, ~525 kB each) in a temp folder,
then for each receiver runs `storescu` over one association, --runs times, and prints the
median wall time, MB/s, instances/s and the ratio vscanner/DCMTK. Both receivers write
every instance to disk; TCP_NODELAY=1 is set for DCMTK (as our server sets it itself).
Every server is bound in time and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.peers import free_port, require, wait_for_log, wait_for_port  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def make_corpus(folder: Path, n: int) -> int:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((xx - 256) / 200.0) ** 2 + ((yy - 256) / 160.0) ** 2 <= 1.0
    base = np.where(body, 1040, 24).astype(np.int32)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    total = 0
    for i in range(n):
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.Modality = "BENCH^CT", "BENCH1", "CT"
        ds.StudyDate, ds.StudyTime = "20261130", "090000"
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "BENCH0001", ""  # DICOMDIR keys
        ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
        ds.Rows = ds.Columns = 512
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        img = base + rng.integers(-20, 21, size=(512, 512), dtype=np.int32)
        ds.PixelData = np.clip(img, 0, 4095).astype(np.uint16).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"CT{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def time_send(storescu: str, aec: str, port: int, files: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([storescu, "-aet", "BENCH", "-aec", aec, "127.0.0.1", str(port), *files],
                       env=ENV, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"storescu failed ({r.returncode}): {r.stderr[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="syngo-ct-va50a")
    a = ap.parse_args()
    storescu, storescp = require("storescu"), require("storescp")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        total = make_corpus(corpus, a.count)
        files = sorted(str(p) for p in corpus.iterdir())
        results: dict[str, list[float]] = {"dcmtk storescp": [], "vscanner serve": []}
        for run in range(a.runs):
            # DCMTK storescp, writing files, max PDU 131072 (our profiles offer theirs)
            out = tmp / f"scp{run}"
            out.mkdir()
            port = free_port()
            scp = subprocess.Popen([storescp, "-aet", "STORESCP", "-od", str(out), "--max-pdu", "131072",
                                    str(port)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for_port(port, scp)
                results["dcmtk storescp"].append(time_send(storescu, "STORESCP", port, files))
            finally:
                scp.terminate()
                scp.wait(10)
            # vscanner serve
            port = free_port()
            log = tmp / f"serve{run}.log"
            with open(log, "wb") as fh:
                srv = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--profile", a.profile,
                                        "--aet", "VSCANNER", "--port", str(port), "--data", str(tmp / f"store{run}")],
                                       stdout=fh, stderr=subprocess.STDOUT)
                try:
                    wait_for_log(log, f"on 127.0.0.1:{port} ", srv)
                    results["vscanner serve"].append(time_send(storescu, "VSCANNER", port, files))
                finally:
                    srv.terminate()
                    srv.wait(20)
        mb = total / 1e6
        print(f"{a.count} CT instances, {mb:.1f} MB, {a.runs} runs each, median wall time of storescu")
        med = {k: statistics.median(v) for k, v in results.items()}
        for k, v in results.items():
            print(f"  {k:<16} runs {', '.join(f'{x:.2f}' for x in v)} s  median {med[k]:.2f} s  "
                  f"{mb / med[k]:7.1f} MB/s  {a.count / med[k]:7.1f} inst/s")
        print(f"  ratio vscanner/DCMTK throughput: {med['dcmtk storescp'] / med['vscanner serve']:.2f}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
