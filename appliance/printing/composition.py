"""Film composition: images windowed, scaled and laid out on films, with annotations.

Pure numpy (and scipy for interpolation); no networking. Shared by the print SCU (which
composes what it sends) and the emulated camera (which renders what it receives).

- :func:`film_size_inches`, :func:`film_pixels`: Film Size ID (PS3.3 C.13.8) -> physical size
  and pixel size at a resolution (dots per inch), per orientation.
- :func:`parse_display_format`, :func:`box_rectangles`: Image Display Format
  (``STANDARD\\C,R``, ``ROW\\a,b,...``, ``COL\\a,b,...``) -> image box rectangles, in Image Box
  Position order.
- :func:`load_images`: DICOM files -> :class:`SourceImage` (modality LUT, VOI window from the
  header or the pixel range, MONOCHROME1 inverted, RGB kept), one per frame.
- :func:`fit`: scale an image into a box with the Magnification Type's interpolation.
- :func:`render_film_box`: the printer's side: one Film Box and its image boxes -> the film page.
- :func:`compose_films`: the console's side: images -> :class:`FilmSheet` list, either one
  pre-rendered page per film (``page_mode``: the layout is drawn by the console and sent as
  ``STANDARD\\1,1``) or one image box per image (the printer lays them out).

Display values are floats in 0..1 (0 = black on the film, i.e. maximum density, as for
MONOCHROME2 P-values); :func:`to_pvalues` quantizes them for an image box.
"""

from __future__ import annotations

__all__ = [
    "SourceImage",
    "FilmSheet",
    "DisplayFormat",
    "film_size_inches",
    "film_pixels",
    "parse_display_format",
    "box_rectangles",
    "density_level",
    "window",
    "load_images",
    "fit",
    "place",
    "compose_page",
    "compose_films",
    "render_film_box",
    "to_pvalues",
    "annotation_lines",
]

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UsageError
from .font import GLYPH_H, draw_text, text_size

LOGGER = logging.getLogger(__name__)

_MM_PER_INCH = 25.4
# PS3.3 C.13.8 Film Size ID defined terms that are not <w>INX<h>IN / <w>CMX<h>CM
_NAMED_SIZES_MM = {"A3": (297.0, 420.0), "A4": (210.0, 297.0)}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)(IN|CM)X(\d+(?:\.\d+)?)(IN|CM)$")


def film_size_inches(film_size_id: str) -> tuple[float, float]:
    """(short side, long side) in inches of a Film Size ID such as ``14INX17IN`` or ``24CMX30CM``."""
    text = film_size_id.strip().upper()
    if text in _NAMED_SIZES_MM:
        w, h = _NAMED_SIZES_MM[text]
        return (w / _MM_PER_INCH, h / _MM_PER_INCH)
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f"film size {film_size_id!r} is not a Film Size ID",
                         "use e.g. 8INX10IN, 14INX17IN, 24CMX30CM or A4")
    a = float(m.group(1)) / (2.54 if m.group(2) == "CM" else 1.0)
    b = float(m.group(3)) / (2.54 if m.group(4) == "CM" else 1.0)
    return (min(a, b), max(a, b))


def film_pixels(film_size_id: str, orientation: str = "PORTRAIT", dpi: float = 100.0) -> tuple[int, int]:
    """(columns, rows) of a film at *dpi*; LANDSCAPE puts the long side horizontally."""
    short, long_ = film_size_inches(film_size_id)
    cols, rows = round(short * dpi), round(long_ * dpi)
    if orientation.strip().upper() == "LANDSCAPE":
        cols, rows = rows, cols
    return cols, rows


@dataclass(frozen=True)
class DisplayFormat:
    """A parsed Image Display Format (PS3.3 C.13.8, Film Box)."""

    kind: str                 # STANDARD, ROW or COL
    counts: tuple[int, ...]   # STANDARD: (columns, rows); ROW: images per row; COL: images per column
    text: str

    @property
    def boxes(self) -> int:
        if self.kind == "STANDARD":
            return self.counts[0] * self.counts[1]
        return sum(self.counts)


def parse_display_format(text: str) -> DisplayFormat:
    """Parse ``STANDARD\\C,R``, ``ROW\\a,b,...`` or ``COL\\a,b,...`` (a UsageError otherwise)."""
    raw = text.strip().upper()
    m = re.fullmatch(r"(STANDARD|ROW|COL)\\(\d+(?:,\d+)*)", raw)
    counts = tuple(int(x) for x in m.group(2).split(",")) if m else ()
    if not m or any(c < 1 or c > 32 for c in counts) or (m.group(1) == "STANDARD" and len(counts) != 2):
        raise UsageError(f"image display format {text!r} is not valid",
                         "use STANDARD\\C,R (columns, rows), ROW\\a,b,... or COL\\a,b,..., e.g. STANDARD\\2,2")
    return DisplayFormat(m.group(1), counts, f"{m.group(1)}\\{m.group(2)}")


def _split(total: int, parts: int) -> list[tuple[int, int]]:
    """*parts* (offset, length) pieces covering 0..total as evenly as integers allow."""
    edges = [round(i * total / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(parts)]


def box_rectangles(fmt: DisplayFormat | str, cols: int, rows: int) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of each image box on a *cols* x *rows* film, in position order.

    Position order (PS3.3 C.13.8): STANDARD and ROW left to right, then top to bottom;
    COL top to bottom, then left to right.
    """
    if isinstance(fmt, str):
        fmt = parse_display_format(fmt)
    out: list[tuple[int, int, int, int]] = []
    if fmt.kind == "STANDARD":
        c, r = fmt.counts
        for y, h in _split(rows, r):
            for x, w in _split(cols, c):
                out.append((x, y, w, h))
    elif fmt.kind == "ROW":
        for (y, h), n in zip(_split(rows, len(fmt.counts)), fmt.counts):
            for x, w in _split(cols, n):
                out.append((x, y, w, h))
    else:
        for (x, w), n in zip(_split(cols, len(fmt.counts)), fmt.counts):
            for y, h in _split(rows, n):
                out.append((x, y, w, h))
    return out


def density_level(value: str | int | None, *, min_density: int = 20, max_density: int = 320,
                  default: float = 0.0) -> float:
    """Display level (0 black .. 1 white) of a Border / Empty Image Density value.

    ``BLACK`` -> 0, ``WHITE`` -> 1, a number (hundredths of optical density) -> linear between
    *max_density* (black) and *min_density* (white).
    """
    if value is None or value == "":
        return default
    text = str(value).strip().upper()
    if text == "BLACK":
        return 0.0
    if text == "WHITE":
        return 1.0
    try:
        d = float(text)
    except ValueError:
        return default
    span = max(1.0, float(max_density - min_density))
    return float(min(1.0, max(0.0, 1.0 - (d - min_density) / span)))


# --- images -----------------------------------------------------------------------------------


@dataclass
class SourceImage:
    """One frame ready for film: display values 0..1 (2-D gray, or 3-D RGB) and its labels."""

    pixels: np.ndarray
    labels: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def color(self) -> bool:
        return self.pixels.ndim == 3


def window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear VOI function, to display values 0..1."""
    width = max(float(width), 1.0)
    lo = center - 0.5 - (width - 1) / 2
    out = (values - lo) / (width - 1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _first(value: object) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") and not isinstance(value, (str, bytes)):
            value = value[0]  # type: ignore[index]
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None


def _labels(ds) -> dict[str, str]:  # type: ignore[no-untyped-def]
    def text(keyword: str) -> str:
        v = ds.get(keyword, "")
        return "" if v is None else str(v)

    return {
        "patient_name": text("PatientName").replace("^", " ").strip(),
        "patient_id": text("PatientID"),
        "study_date": text("StudyDate"),
        "modality": text("Modality"),
        "series": text("SeriesNumber"),
        "instance": text("InstanceNumber"),
        "institution": text("InstitutionName"),
        "description": text("SeriesDescription"),
    }


def load_images(paths: Sequence[str | Path]) -> list[SourceImage]:
    """Read DICOM images for printing; folders are searched recursively, non-images skipped.

    Raises :class:`UsageError` when a named file is not a readable image.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        elif p.exists():
            files.append(p)
        else:
            raise UsageError(f"{p} does not exist", "give DICOM image files or folders to print")
    explicit = {Path(p) for p in paths if Path(p).is_file()}
    images: list[SourceImage] = []
    for f in files:
        try:
            ds = dcmread(f)
        except (InvalidDicomError, OSError, ValueError) as exc:
            if f in explicit:
                raise UsageError(f"{f} is not a DICOM file: {exc}", "give DICOM image files to print") from None
            continue
        if "PixelData" not in ds:
            if f in explicit:
                raise UsageError(f"{f} has no pixel data", "print image objects (CT, MR, PET, SC ...)")
            continue
        try:
            images.extend(_frames(ds, str(f)))
        except Exception as exc:  # a codec missing, a broken pixel module ...
            raise UsageError(f"{f}: cannot decode its pixels: {exc}",
                             "check the file (dcmdump) and that the codec plugin is installed") from None
    images.sort(key=lambda im: (im.labels.get("series", ""), _int(im.labels.get("instance")), im.source))
    return images


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _frames(ds, source: str) -> list[SourceImage]:  # type: ignore[no-untyped-def]
    from pydicom.pixels import apply_modality_lut, convert_color_space

    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    spp = int(ds.get("SamplesPerPixel", 1))
    labels = _labels(ds)
    if frames == 1:
        arr = arr[np.newaxis, ...]
    out = []
    for i in range(arr.shape[0]):
        frame = arr[i]
        lab = dict(labels)
        if frames > 1:
            lab["instance"] = f"{labels.get('instance', '')}.{i + 1}"
        if spp == 3:
            if photometric.startswith("YBR"):
                frame = convert_color_space(frame, photometric, "RGB")
            bits = int(ds.get("BitsStored", 8))
            rgb = frame.astype(np.float32) / float((1 << bits) - 1)
            out.append(SourceImage(np.clip(rgb, 0, 1), lab, source))
            continue
        values = apply_modality_lut(frame, ds).astype(np.float64)
        center = _first(ds.get("WindowCenter"))
        width = _first(ds.get("WindowWidth"))
        if center is None or width is None or width <= 0:
            lo, hi = float(values.min()), float(values.max())
            center, width = (lo + hi) / 2 + 0.5, max(hi - lo + 1, 1.0)
        shown = window(values, center, width)
        if photometric == "MONOCHROME1":
            shown = 1.0 - shown
        out.append(SourceImage(shown, lab, source))
    return out


# --- scaling and layout -----------------------------------------------------------------------

_ORDER = {"REPLICATE": 0, "NONE": 0, "BILINEAR": 1, "CUBIC": 3}


def fit(image: np.ndarray, width: int, height: int, magnification: str = "BILINEAR") -> np.ndarray:
    """Scale *image* to fit a *width* x *height* box, keeping its aspect ratio.

    REPLICATE and NONE use nearest neighbour (NONE never enlarges), BILINEAR linear and CUBIC
    cubic interpolation (scipy.ndimage.zoom orders 0, 1, 3).
    """
    from scipy.ndimage import zoom

    rows, cols = image.shape[:2]
    if rows == 0 or cols == 0 or width <= 0 or height <= 0:
        return np.zeros((max(height, 0), max(width, 0)) + image.shape[2:], image.dtype)
    mag = (magnification or "BILINEAR").strip().upper()
    factor = min(width / cols, height / rows)
    if mag == "NONE":
        factor = min(factor, 1.0)
        if factor < 1.0:  # demagnify by an integer step: pixels are dropped, not interpolated
            factor = 1.0 / math.ceil(1.0 / factor)
    out_rows = max(1, min(height, int(round(rows * factor))))
    out_cols = max(1, min(width, int(round(cols * factor))))
    if (out_rows, out_cols) == (rows, cols):
        return image
    zooms = (out_rows / rows, out_cols / cols) + ((1,) if image.ndim == 3 else ())
    out = zoom(image.astype(np.float32), zooms, order=_ORDER.get(mag, 1), mode="nearest", grid_mode=True)
    out = out[:out_rows, :out_cols]
    return np.clip(out, 0.0, 1.0) if image.dtype.kind == "f" else out


def place(page: np.ndarray, img: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """Put *img* centred into *rect* = (x, y, width, height) of *page*."""
    x, y, w, h = rect
    ih, iw = img.shape[:2]
    ox, oy = x + (w - iw) // 2, y + (h - ih) // 2
    page[oy:oy + ih, ox:ox + iw] = img


def annotation_lines(image: SourceImage) -> tuple[str, str]:
    """The two text lines burnt into an image box: patient (name, ID) and image (series/instance)."""
    lab = image.labels
    top = " ".join(x for x in (lab.get("patient_name", ""), lab.get("patient_id", "")) if x)
    bottom = " ".join(x for x in (lab.get("modality", ""),
                                  f"SE {lab['series']}" if lab.get("series") else "",
                                  f"IM {lab['instance']}" if lab.get("instance") else "") if x)
    return top, bottom


def _annotate_box(page: np.ndarray, rect: tuple[int, int, int, int], image: SourceImage, white: float | tuple) -> None:
    x, y, w, h = rect
    scale = max(1, min(w, h) // 160)
    pad = 2 * scale
    top, bottom = annotation_lines(image)
    for i, line in enumerate((top, bottom)):
        if not line:
            continue
        tw, th = text_size(line, scale)
        if tw > w - 2 * pad:  # too long for the box: cut it
            keep = max(1, (w - 2 * pad) // (6 * scale))
            line = line[:keep]
        ty = y + pad if i == 0 else y + h - pad - GLYPH_H * scale
        draw_text(page, line, x + pad, ty, scale=scale, value=white)


def compose_page(
    images: Sequence[SourceImage | None],
    display_format: DisplayFormat | str,
    cols: int,
    rows: int,
    *,
    magnification: str = "BILINEAR",
    border: float = 0.0,
    empty: float = 0.0,
    color: bool = False,
    annotate: bool = True,
    footer: str = "",
) -> np.ndarray:
    """One film page (display values 0..1) with *images* laid out in *display_format*."""
    shape = (rows, cols, 3) if color else (rows, cols)
    page = np.full(shape, border, np.float32)
    white = (1.0, 1.0, 1.0) if color else 1.0
    for i, rect in enumerate(box_rectangles(display_format, cols, rows)):
        img = images[i] if i < len(images) else None
        x, y, w, h = rect
        if img is None:
            page[y:y + h, x:x + w] = empty
            continue
        pixels = img.pixels
        if color and pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
        elif not color and pixels.ndim == 3:
            pixels = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
        place(page, fit(pixels, w, h, magnification), rect)
        if annotate:
            _annotate_box(page, rect, img, white)
    if footer:
        scale = max(1, cols // 600)
        tw, th = text_size(footer, scale)
        draw_text(page, footer, max(0, cols - tw - 4 * scale), rows - th - 2 * scale, scale=scale, value=white)
    return page


def to_pvalues(pixels: np.ndarray, bits_stored: int = 8) -> np.ndarray:
    """Quantize display values 0..1 to P-values of *bits_stored* bits (uint8 for 8, else uint16)."""
    top = (1 << bits_stored) - 1
    q = np.rint(np.clip(pixels, 0.0, 1.0) * top)
    return q.astype(np.uint8 if bits_stored <= 8 else np.uint16)


@dataclass
class FilmSheet:
    """What one Film Box carries: its display format and the image box contents in position order.

    ``boxes`` hold P-values (uint8 / uint16 gray, or uint8 RGB); None leaves a box empty.
    """

    display_format: str
    boxes: list[np.ndarray | None]
    bits_stored: int = 8
    color: bool = False
    images: int = 0  # source images on this film
    layout: str = ""  # the layout the console drew (page mode)


def compose_films(
    images: Sequence[SourceImage],
    *,
    layout: str,
    page_mode: bool,
    film_size: str = "14INX17IN",
    orientation: str = "PORTRAIT",
    dpi: float = 100.0,
    magnification: str = "BILINEAR",
    bits_stored: int = 8,
    color: bool = False,
    border: float = 0.0,
    empty: float = 0.0,
    annotate: bool = True,
    box_pixels: int = 512,
) -> list[FilmSheet]:
    """Split *images* over films of *layout* and compose what each Film Box sends.

    In page mode the console draws each film itself (``dpi`` sets the page's pixel size) and
    sends it as one image box in ``STANDARD\\1,1``. Otherwise each image goes into its own
    image box of *layout*, scaled to fit ``box_pixels`` on its long side, with its annotations.
    """
    fmt = parse_display_format(layout)
    per_film = fmt.boxes
    chunks = [list(images[i:i + per_film]) for i in range(0, len(images), per_film)] or [[]]
    films: list[FilmSheet] = []
    total = len(chunks)
    for n, chunk in enumerate(chunks, 1):
        if page_mode:
            cols, rows = film_pixels(film_size, orientation, dpi)
            page = compose_page(chunk, fmt, cols, rows, magnification=magnification, border=border, empty=empty,
                                color=color, annotate=annotate, footer=f"FILM {n}/{total}")
            films.append(FilmSheet("STANDARD\\1,1", [to_pvalues(page, 8 if color else bits_stored)],
                                   8 if color else bits_stored, color, len(chunk), fmt.text))
            continue
        boxes: list[np.ndarray | None] = []
        for img in chunk:
            pixels = img.pixels
            if color and pixels.ndim == 2:
                pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
            elif not color and pixels.ndim == 3:
                pixels = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
            rows, cols = pixels.shape[:2]
            if max(rows, cols) > box_pixels:
                f = box_pixels / max(rows, cols)
                pixels = fit(pixels, max(1, round(cols * f)), max(1, round(rows * f)), magnification)
            pixels = np.array(pixels, np.float32, copy=True)
            if annotate:
                _annotate_box(pixels, (0, 0, pixels.shape[1], pixels.shape[0]), img,
                              (1.0, 1.0, 1.0) if color else 1.0)
            boxes.append(to_pvalues(pixels, 8 if color else bits_stored))
        boxes.extend([None] * (per_film - len(boxes)))
        films.append(FilmSheet(fmt.text, boxes, 8 if color else bits_stored, color, len(chunk), fmt.text))
    return films


def render_film_box(film_box, images, *, dpi: float, color: bool) -> tuple[np.ndarray, list[dict]]:
    """The printer's side: render one Film Box as the film comes out (uint8 gray or RGB page).

    *film_box*: the Film Box attributes (FilmSizeID, FilmOrientation, ImageDisplayFormat,
    MagnificationType, Border/Empty Image Density, Min/Max Density, Trim); *images*: per image
    box position, (display values 0..1 or None, attributes: Polarity, MagnificationType,
    RequestedImageSize (mm), ...). Returns the page and a description of each box.
    """
    size, orientation = str(film_box.FilmSizeID), str(film_box.FilmOrientation)
    cols, rows = film_pixels(size, orientation, dpi)
    min_d, max_d = int(film_box.MinDensity), int(film_box.MaxDensity)
    border = density_level(film_box.get("BorderDensity"), min_density=min_d, max_density=max_d)
    empty = density_level(film_box.get("EmptyImageDensity"), min_density=min_d, max_density=max_d)
    page = np.full((rows, cols, 3) if color else (rows, cols), border, np.float32)
    trim = str(film_box.get("Trim", "NO")) == "YES"
    info_keys = ("rows", "columns", "bits_stored", "photometric", "Polarity", "MagnificationType",
                 "RequestedImageSize")
    boxes: list[dict] = []
    for rect, (pixels, attrs) in zip(box_rectangles(str(film_box.ImageDisplayFormat), cols, rows), images):
        x, y, w, h = rect
        info = {"position": len(boxes) + 1, "rect": list(rect), "filled": pixels is not None}
        info.update({k: v for k, v in attrs.items() if k in info_keys})
        boxes.append(info)
        if pixels is None:
            page[y:y + h, x:x + w] = empty
            continue
        if attrs.get("Polarity") == "REVERSE":
            pixels = 1.0 - pixels
        if color and pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, np.newaxis], 3, axis=2)
        elif not color and pixels.ndim == 3:
            pixels = pixels @ np.array([0.299, 0.587, 0.114], np.float32)
        box_w = w
        if attrs.get("RequestedImageSize"):  # width in mm
            box_w = min(w, round(float(attrs["RequestedImageSize"]) / _MM_PER_INCH * dpi))
        img = fit(pixels, box_w, h, attrs.get("MagnificationType") or str(film_box.MagnificationType))
        place(page, img, rect)
        if trim:  # a thin white frame around the image
            ih, iw = img.shape[:2]
            ox, oy = x + (w - iw) // 2, y + (h - ih) // 2
            page[oy, ox:ox + iw] = page[oy + ih - 1, ox:ox + iw] = 1.0
            page[oy:oy + ih, ox] = page[oy:oy + ih, ox + iw - 1] = 1.0
    return np.rint(np.clip(page, 0.0, 1.0) * 255).astype(np.uint8), boxes
