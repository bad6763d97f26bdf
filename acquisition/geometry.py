"""Image geometry in patient coordinates (DICOM LPS, mm), shared by physics and IODs.

A :class:`Plane` is one image: the centre of its first pixel (Image Position (Patient)),
the row and column direction cosines (Image Orientation (Patient)), the pixel spacing and
the matrix. :func:`stack` lays out parallel slices; :func:`pixel_centres` gives the
coordinates the phantom is sampled at. Nothing here knows about DICOM encoding.
"""

from __future__ import annotations

__all__ = ["Plane", "ORIENTATIONS", "stack", "pixel_centres", "grid", "slice_positions"]

from dataclasses import dataclass

import numpy as np

# row cosine, column cosine for the three standard planes (patient coordinates).
ORIENTATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True)
class Plane:
    """One image plane.

    ``pixel_spacing`` is ``(between rows, between columns)`` as in (0028,0030); pixel
    ``[r, c]`` lies at ``position + c * spacing[1] * row_cosine + r * spacing[0] * column_cosine``.
    """

    position: tuple[float, float, float]
    row_cosine: tuple[float, float, float]
    column_cosine: tuple[float, float, float]
    pixel_spacing: tuple[float, float]
    rows: int
    columns: int
    thickness: float

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_cosine, self.column_cosine)

    @property
    def slice_location(self) -> float:
        """Signed distance of the plane from the origin along its normal (0020,1041)."""
        return float(np.dot(self.position, self.normal))

    @property
    def centre(self) -> np.ndarray:
        p = np.asarray(self.position, float)
        return (p + (self.columns - 1) / 2 * self.pixel_spacing[1] * np.asarray(self.row_cosine)
                + (self.rows - 1) / 2 * self.pixel_spacing[0] * np.asarray(self.column_cosine))

    @property
    def orientation_name(self) -> str:
        n = np.abs(self.normal)
        return ("sagittal", "coronal", "axial")[int(np.argmax(n))]


def stack(
    orientation: str,
    centre: tuple[float, float, float],
    fov: tuple[float, float],
    matrix: tuple[int, int],
    n_slices: int,
    spacing: float,
    thickness: float,
    descending: bool = True,
) -> list[Plane]:
    """Parallel slices through *centre*.

    ``fov`` and ``matrix`` are ``(rows direction, columns direction)``. Axial slices go
    from head to feet when *descending* (CT's usual order; IPP z falls by *spacing* per
    slice); other stacks advance along the plane normal (row x column cosine): sagittal
    from the patient's left to right, coronal from anterior to posterior.
    """
    rc, cc = (np.asarray(v, float) for v in ORIENTATIONS[orientation])
    normal = np.cross(rc, cc)
    rows, cols = matrix
    ps = (fov[0] / rows, fov[1] / cols)
    offsets = (np.arange(n_slices) - (n_slices - 1) / 2) * spacing
    if orientation == "axial" and descending:
        offsets = offsets[::-1]
    planes = []
    for off in offsets:
        centre_k = np.asarray(centre, float) + off * normal
        first = centre_k - (cols - 1) / 2 * ps[1] * rc - (rows - 1) / 2 * ps[0] * cc
        planes.append(Plane(tuple(float(v) for v in np.round(first, 6)), tuple(rc), tuple(cc),
                            ps, rows, cols, thickness))
    return planes


def pixel_centres(plane: Plane, oversample: int = 1, through: float = 0.0
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates ``(x, y, z)`` of every pixel centre of *plane*, shape ``(rows, cols)``.

    With *oversample* n the grid is n times finer in both directions (sub-pixel centres,
    shape ``(rows*n, cols*n)``); *through* shifts the plane along its normal (mm), used to
    sample several depths inside a thick slice.
    """
    n = oversample
    r = (np.arange(plane.rows * n) + 0.5) / n - 0.5
    c = (np.arange(plane.columns * n) + 0.5) / n - 0.5
    rr, cc = np.meshgrid(r * plane.pixel_spacing[0], c * plane.pixel_spacing[1], indexing="ij")
    p = np.asarray(plane.position, float) + through * plane.normal
    rc, colc = np.asarray(plane.row_cosine), np.asarray(plane.column_cosine)
    return tuple(p[i] + cc * rc[i] + rr * colc[i] for i in range(3))  # type: ignore[return-value]


def grid(plane: Plane, oversample: int = 1, through: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """``(origin, row_step, column_step, shape)`` of the same points as :func:`pixel_centres`,
    for :meth:`acquisition.phantoms.Phantom.labels_on_grid`."""
    n = oversample
    rc, colc = np.asarray(plane.row_cosine), np.asarray(plane.column_cosine)
    dr = colc * plane.pixel_spacing[0] / n
    dc = rc * plane.pixel_spacing[1] / n
    shift = (0.5 / n - 0.5)
    origin = np.asarray(plane.position, float) + through * plane.normal + shift * (n * dr + n * dc)
    return origin, dr, dc, (plane.rows * n, plane.columns * n)


def slice_positions(planes: list[Plane]) -> np.ndarray:
    """Position of each plane along the first plane's normal (mm)."""
    n = planes[0].normal
    return np.array([float(np.dot(p.position, n)) for p in planes])
