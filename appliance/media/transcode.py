"""Transcoding an instance to the transfer syntax a media profile writes.

Pixel data goes through pydicom's encoder/decoder plugins (pylibjpeg-openjpeg for JPEG 2000,
pylibjpeg-rle / pydicom for RLE); a syntax with no installed encoder is a :class:`NoEncoder`
error naming the syntax. The SOP Instance UID is kept (a change of transfer syntax is not a
new instance, PS3.5 §10). Lossy compression records itself as PS3.3 C.7.6.1.1.5 asks:
Lossy Image Compression (0028,2110) ``01``, and the ratio (0028,2112) and method (0028,2114)
appended to any earlier values.
"""

from __future__ import annotations

__all__ = ["transcode", "can_encode", "choose_transfer_syntax", "LOSSY_METHOD", "DEFAULT_J2K_RATIO"]

import logging

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from .errors import MediaError, NoEncoder

LOGGER = logging.getLogger(__name__)

#: Lossy Image Compression Method (0028,2114) defined terms, PS3.3 C.7.6.1.1.5.1.
LOSSY_METHOD = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",
}
DEFAULT_J2K_RATIO = 10.0
_UNCOMPRESSED = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")
_LOSSLESS_COMPRESSED = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.70",
                        "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.80")


def can_encode(ts_uid: str) -> bool:
    """True when pixel data can be written in *ts_uid* with the installed plugins."""
    if ts_uid in _UNCOMPRESSED:
        return True
    try:
        from pydicom.pixels import get_encoder

        return bool(get_encoder(ts_uid).is_available)
    except (NotImplementedError, ValueError, KeyError):
        return False


def is_lossy(ts_uid: str) -> bool:
    uid = UID(ts_uid)
    return uid.is_compressed and ts_uid not in _LOSSLESS_COMPRESSED


def choose_transfer_syntax(
    ds: Dataset,
    allowed: tuple[str, ...],
    *,
    requested: str | None = None,
    compress: bool | None = None,
) -> str:
    """The syntax to write *ds* in, from *allowed* (in the product's order of preference).

    - *requested* (images only) wins when allowed and encodable;
    - ``compress=True``: the first allowed lossless compressed syntax that can be encoded;
    - ``compress=False``: Explicit VR Little Endian;
    - ``compress=None``: the current syntax when allowed (no re-encoding), else Explicit VR LE.

    Objects without 8/16-bit pixel data are never compressed. Falls back to the first
    allowed syntax that can be written; raises :class:`NoEncoder` when there is none.
    """
    has_pixels = "PixelData" in ds and int(ds.get("BitsAllocated", 0) or 0) in (8, 16)
    current = str(ds.file_meta.TransferSyntaxUID)

    def writable(t: str) -> bool:
        return t in _UNCOMPRESSED or t == current or (has_pixels and can_encode(t))

    if requested and has_pixels:
        if requested not in allowed:
            raise MediaError(
                f"transfer syntax {UID(requested).name} ({requested}) is not allowed by this media profile",
                "allowed: " + ", ".join(UID(t).name for t in allowed),
            )
        if not writable(requested):
            raise NoEncoder(f"no installed encoder writes {UID(requested).name} ({requested})",
                            _encoder_hint(requested))
        return requested
    if compress and has_pixels:
        for t in allowed:
            if UID(t).is_compressed and not is_lossy(t) and writable(t):
                return t
    if compress is None and current in allowed and (has_pixels or not UID(current).is_compressed):
        return current
    if ExplicitVRLittleEndian in allowed:
        return ExplicitVRLittleEndian
    for t in allowed:
        if writable(t):
            return t
    target = allowed[0] if allowed else ExplicitVRLittleEndian
    raise NoEncoder(f"no installed encoder writes {UID(target).name} ({target}), which this profile requires",
                    _encoder_hint(target))


def _encoder_hint(ts_uid: str) -> str:
    if ts_uid in ("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.50",
                  "1.2.840.10008.1.2.4.51"):
        return ("pydicom has no JPEG (ISO 10918) encoder; imagecodecs could provide one behind a "
                "pydicom encoder plugin, or choose a JPEG 2000 / uncompressed profile")
    return "install the pydicom encoder plugin for it (pylibjpeg-openjpeg for JPEG 2000, pylibjpeg-rle for RLE)"


def transcode(ds: Dataset, ts_uid: str, *, j2k_ratio: float = DEFAULT_J2K_RATIO) -> Dataset:
    """Re-encode *ds* (in place) to *ts_uid*, keeping its SOP Instance UID; returns *ds*."""
    current = str(ds.file_meta.TransferSyntaxUID)
    if current == ts_uid:
        return ds
    if "PixelData" in ds and UID(current).is_compressed:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # pydicom raises many kinds for missing/failed decoders
            raise MediaError(
                f"cannot decode {ds.SOPInstanceUID} from {UID(current).name}: {exc}",
                "install the pydicom decoder plugins (pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)",
            ) from exc
    if ts_uid in _UNCOMPRESSED or "PixelData" not in ds:
        ds.file_meta.TransferSyntaxUID = UID(ts_uid)
        return ds
    if not can_encode(ts_uid):
        raise NoEncoder(f"no installed encoder writes {UID(ts_uid).name} ({ts_uid})", _encoder_hint(ts_uid))
    raw_size = len(ds.PixelData)
    kwargs = {}
    if ts_uid == "1.2.840.10008.1.2.4.91":
        kwargs["j2k_cr"] = [j2k_ratio]
    try:
        ds.compress(ts_uid, generate_instance_uid=False, **kwargs)
    except Exception as exc:
        raise MediaError(f"cannot encode {ds.SOPInstanceUID} as {UID(ts_uid).name}: {exc}",
                         "choose an uncompressed media profile for this object") from exc
    if is_lossy(ts_uid):
        _mark_lossy(ds, raw_size, ts_uid)
    return ds


def _mark_lossy(ds: Dataset, raw_size: int, ts_uid: str) -> None:
    """Set (0028,2110/2112/2114) after a lossy compression, keeping earlier history."""
    from pydicom.encaps import generate_fragments

    compressed = sum(len(f) for f in generate_fragments(ds.PixelData)) or len(ds.PixelData)
    ratio = f"{raw_size / max(compressed, 1):.4g}"[:16]
    ratios = list(_multi(ds.get("LossyImageCompressionRatio")))
    methods = list(_multi(ds.get("LossyImageCompressionMethod")))
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = ratios + [ratio]
    ds.LossyImageCompressionMethod = methods + [LOSSY_METHOD.get(ts_uid, "ISO_15444_1")]


def _multi(value) -> list:  # type: ignore[no-untyped-def]
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value]
    return [str(value)]
