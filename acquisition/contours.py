"""Outline structures of a phantom on image planes (for RT Structure Sets).

A structure is a set of tissues (``"*"`` = everything but air, the body outline). On each
plane the connected regions of the structure are found on the pixel grid, then each region
is outlined by casting rays from its centroid and finding, at sub-millimetre steps on the
analytic phantom, where the structure ends (plus an optional margin, e.g. a PTV around a
GTV). This is exact for the star-shaped regions the phantoms are made of.
"""

from __future__ import annotations

__all__ = ["outline"]

import numpy as np
from scipy import ndimage

from .geometry import Plane, pixel_centres
from .phantoms import Phantom


def _member(phantom: Phantom, tissues: tuple[str, ...]):
    if tissues == ("*",):
        return lambda labels: labels > 0
    wanted = np.array([phantom.tissues.index(t) for t in tissues if t in phantom.tissues])
    return lambda labels: np.isin(labels, wanted)


def outline(phantom: Phantom, plane: Plane, tissues: tuple[str, ...], *, margin: float = 0.0,
            angles: int = 72, step: float = 0.5, min_area_mm2: float = 20.0) -> list[np.ndarray]:
    """Closed contours ``(n, 3)`` (patient coordinates, mm) of *tissues* on *plane*."""
    member = _member(phantom, tissues)
    x, y, z = pixel_centres(plane)
    mask = member(phantom.labels_at(x, y, z))
    if margin:
        mask = ndimage.binary_dilation(mask, iterations=max(1, int(round(margin / min(plane.pixel_spacing)))))
    regions, n = ndimage.label(mask)
    out = []
    rc, cc = np.asarray(plane.row_cosine), np.asarray(plane.column_cosine)
    pixel_area = plane.pixel_spacing[0] * plane.pixel_spacing[1]
    for k in range(1, n + 1):
        sel = regions == k
        if sel.sum() * pixel_area < min_area_mm2:
            continue
        r, c = (v.mean() for v in np.nonzero(sel))
        centre = np.asarray(plane.position) + c * plane.pixel_spacing[1] * rc + r * plane.pixel_spacing[0] * cc
        reach = np.hypot(*(np.ptp(v) + 2 for v in np.nonzero(sel))) * max(plane.pixel_spacing) + margin + 5
        theta = np.linspace(0, 2 * np.pi, angles, endpoint=False)
        d = np.arange(0.0, reach, step)
        dirs = np.cos(theta)[:, None, None] * rc + np.sin(theta)[:, None, None] * cc  # (angles, 1, 3)
        pts = centre + d[None, :, None] * dirs  # (angles, steps, 3)
        inside = member(phantom.labels_at(pts[..., 0], pts[..., 1], pts[..., 2]))
        # last contiguous inside sample from the centre outwards
        first_out = np.argmax(~inside, axis=1)
        first_out[inside.all(axis=1)] = len(d) - 1
        radius = np.maximum(d[np.maximum(first_out - 1, 0)] + step / 2 + margin, step)
        out.append(centre + radius[:, None] * dirs[:, 0, :])
    return out
