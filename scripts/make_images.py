#!/usr/bin/env python3
"""Render PNG montages of what each product's acquisition produces, into ``images/``.

    python scripts/make_images.py            # all products
    python scripts/make_images.py --out DIR  # elsewhere

Images are rendered from the written DICOM pixels (stored values, rescale and the first
window of each image), so they show what a viewer would. PNGs are written with numpy and
zlib only (no pillow or matplotlib needed); each is a grey 8-bit montage well under 300 KB.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acquisition.engine import Limits, acquire  # noqa: E402
from appliance.profile import find_profile  # noqa: E402

# (profile, protocol, limits, caption) -- one montage each
QUICK = Limits(max_matrix=256, max_slices=24, max_frames=2)
SHOTS = [
    ("syngo-mr-xa11b", "Head routine", QUICK, "syngo MR XA11B brain: localizer, T1 SE, T2 TSE, FLAIR"),
    ("oasis-velocity", "Brain routine", QUICK, "OASIS Velocity 1.2 T brain: scanogram, T1 SE, T2 FSE, FLAIR, montage"),
    ("syngo-ct-va50a", "Head routine", QUICK, "syngo CT VA50A head: topogram and axial (brain window)"),
    ("syngo-ct-va50a", "Thorax routine", Limits(max_matrix=256), "syngo CT VA50A thorax: topogram, axial, MIP"),
    ("syngo-mi-petct-2011a", "PET/CT Whole Body", Limits(max_matrix=128),
     "Biograph PET/CT: topogram, CT, PET, PET MIP"),
    ("coherence-primeview-3i", "Portal Imaging", QUICK, "PRIMEVIEW 3i portal images (AP, lateral, cine)"),
    ("coherence-primeview-3i", "Cone Beam CT", QUICK, "PRIMEVIEW 3i cone-beam CT with structures, MIP"),
]


def write_png(path: Path, image: np.ndarray) -> int:
    """Write an 8-bit greyscale (2-D) or RGB (3-D) array as PNG; return its size."""
    img = np.ascontiguousarray(image.astype(np.uint8))
    h, w = img.shape[:2]
    colour = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path.write_bytes(png)
    return len(png)


def displayed(ds, frame: int | None = None) -> np.ndarray:
    """Pixels of a dataset as a viewer shows them (rescale + window), 0..255."""
    arr = ds.pixel_array.astype(np.float64)
    if frame is not None and arr.ndim == 3:
        arr = arr[frame]
    if getattr(ds, "SamplesPerPixel", 1) == 3:
        return arr
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    v = arr * slope + intercept
    if "WindowCenter" in ds:
        c = ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter
        w = ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth
        c, w = float(c), float(w)
        if "WindowCenter" in ds and ds.Modality == "PT":
            c, w = c * slope, w * slope
    else:
        lo, hi = np.percentile(v, [1, 99.5])
        c, w = (lo + hi) / 2, max(hi - lo, 1)
    return np.clip((v - (c - w / 2)) / w * 255.0, 0, 255)


def tile(images: list[np.ndarray], size: int = 224) -> np.ndarray:
    """Fit every image into a size x size cell (nearest neighbour), side by side."""
    cells = []
    for im in images:
        if im.ndim == 3:
            im = im.mean(axis=2)
        h, w = im.shape
        f = size / max(h, w)
        rows = np.clip((np.arange(int(h * f)) / f).astype(int), 0, h - 1)
        cols = np.clip((np.arange(int(w * f)) / f).astype(int), 0, w - 1)
        small = im[rows][:, cols]
        cell = np.zeros((size, size))
        r0, c0 = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
        cell[r0:r0 + small.shape[0], c0:c0 + small.shape[1]] = small
        cells.append(cell)
    gap = np.full((size, 4), 40.0)
    row = [cells[0]]
    for c in cells[1:]:
        row += [gap, c]
    return np.hstack(row)


def overlay_contours(base: np.ndarray, ds_img, rtstruct) -> np.ndarray:
    """Draw the structure set's contours on one CT image (white dots)."""
    out = base.copy()
    ipp = np.array([float(v) for v in ds_img.ImagePositionPatient])
    ps = [float(v) for v in ds_img.PixelSpacing]
    uid = ds_img.SOPInstanceUID
    for roi in rtstruct.ROIContourSequence:
        for c in getattr(roi, "ContourSequence", []):
            if "ContourImageSequence" not in c or c.ContourImageSequence[0].ReferencedSOPInstanceUID != uid:
                continue
            pts = np.array([float(v) for v in c.ContourData]).reshape(-1, 3)
            for a, b in zip(pts, np.roll(pts, -1, axis=0)):
                for t in np.linspace(0, 1, 12):
                    p = a + t * (b - a)
                    col = int(round((p[0] - ipp[0]) / ps[1]))
                    row = int(round((p[1] - ipp[1]) / ps[0]))
                    if 0 <= row < out.shape[0] and 0 <= col < out.shape[1]:
                        out[row, col] = 255
    return out


def render(profile_id: str, protocol: str, limits: Limits = QUICK) -> list[np.ndarray]:
    acq = acquire(find_profile(profile_id), protocol, seed=7, when=datetime(2026, 1, 15, 9, 30), limits=limits)
    images: list[np.ndarray] = []
    rtstruct = next((s.datasets[0] for s in acq.series if s.kind == "rtstruct"), None)
    for s in acq.series:
        if s.kind in ("dose_sr", "rtstruct"):
            continue
        ds = s.datasets[0]
        n = int(getattr(ds, "NumberOfFrames", 1))
        if len(s.datasets) > 1:  # middle instance of a stack
            picks = [s.datasets[len(s.datasets) // 2]]
            if s.spec.geometry and s.spec.geometry.orientation == "three_plane":
                k = len(s.datasets) // 3
                picks = [s.datasets[k // 2], s.datasets[k + k // 2], s.datasets[2 * k + k // 2]]
            for d in picks:
                img = displayed(d)
                if rtstruct is not None and d.Modality == "CT":
                    img = overlay_contours(img, d, rtstruct)
                images.append(img)
        else:
            images.append(displayed(ds, n // 2 if n > 1 else None))
    return images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "images"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for profile_id, protocol, limits, caption in SHOTS:
        images = render(profile_id, protocol, limits)
        name = f"{profile_id}_{protocol.lower().replace('/', '_').replace(' ', '_')}.png"
        size = write_png(out / name, tile(images))
        print(f"{out / name}  {size // 1024} KB  {caption}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
