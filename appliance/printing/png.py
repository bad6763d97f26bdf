"""PNG files without an imaging library: 8-bit grayscale or RGB, written and read with zlib.

Films leave the emulated camera as PNGs and tests read them back; pillow is not a
dependency, and these two functions cover what print needs (PNG spec, ISO/IEC 15948:
signature, IHDR, one IDAT with filter type 0 per row, IEND; reading also undoes the
Sub/Up/Average/Paeth filters other writers use).
"""

from __future__ import annotations

__all__ = ["write_png", "read_png", "encode_png"]

import os
import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray, *, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes for a ``(rows, cols)`` grayscale or ``(rows, cols, 3)`` RGB uint8 array."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise ValueError(f"PNG writer takes uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        color_type, rows, cols = 0, a.shape[0], a.shape[1]
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, rows, cols = 2, a.shape[0], a.shape[1]
    else:
        raise ValueError(f"PNG writer takes (rows, cols) or (rows, cols, 3) arrays, got {a.shape}")
    raw = np.ascontiguousarray(a).reshape(rows, -1)
    filtered = np.hstack([np.zeros((rows, 1), np.uint8), raw])  # filter type 0 (None) per row
    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, color_type, 0, 0, 0)
    out = [_SIGNATURE, _chunk(b"IHDR", ihdr)]
    for key, value in (text or {}).items():
        out.append(_chunk(b"tEXt", key.encode("latin-1")[:79] + b"\x00" + value.encode("latin-1", "replace")))
    out.append(_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray, *, text: dict[str, str] | None = None) -> Path:
    """Write *pixels* to *path* atomically (temporary name, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    data = encode_png(pixels, text=text)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit grayscale or RGB, non-interlaced PNG into a uint8 array."""
    data = Path(path).read_bytes()
    if not data.startswith(_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    cols, rows, depth, color_type, _, _, interlace = header
    if depth != 8 or color_type not in (0, 2) or interlace:
        raise ValueError(f"{path}: only 8-bit grayscale/RGB non-interlaced PNGs are read")
    channels = 1 if color_type == 0 else 3
    stride = cols * channels
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(rows, stride + 1)
    out = np.zeros((rows, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(rows):
        ftype, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        else:  # Sub, Average, Paeth depend on the left neighbour: per pixel
            cur = np.zeros(stride, np.int32)
            for x in range(stride):
                left = cur[x - channels] if x >= channels else 0
                up = prev[x]
                ul = prev[x - channels] if x >= channels else 0
                if ftype == 1:
                    cur[x] = (line[x] + left) & 0xFF
                elif ftype == 3:
                    cur[x] = (line[x] + (left + up) // 2) & 0xFF
                elif ftype == 4:
                    cur[x] = (line[x] + _paeth(left, up, ul)) & 0xFF
                else:
                    raise ValueError(f"{path}: bad PNG filter type {ftype}")
        out[y] = cur
        prev = cur
    return out if channels == 1 else out.reshape(rows, cols, 3)
