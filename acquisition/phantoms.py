"""3-D numeric phantoms: analytic shapes painted with tissue labels.

A phantom is a list of shapes in patient coordinates (DICOM LPS, millimetres: +x to the
patient's left, +y posterior, +z toward the head), each filled with one tissue of
:mod:`acquisition.tissues`. Shapes are painted in order, so a later shape overrides an
earlier one where they overlap (the skull is painted, then the brain inside it).

Being analytic, a phantom can be sampled at any point: :meth:`Phantom.labels_at` returns
the tissue label of arbitrary coordinates (any slice orientation, any matrix) and
:meth:`Phantom.voxelize` returns a labelled voxel volume. Label 0 is always ``air``.

Built-in phantoms (:data:`PHANTOMS`): ``head`` (skin, fat, skull, CSF, grey and white
matter, ventricles, eyes, a lesion, neck), ``body`` (thorax/abdomen/pelvis with lungs,
heart, aorta, spine, ribs, liver, spleen, kidneys, bladder), ``pet_torso`` (body with
hot lesions), ``whole_body`` (body + head, for PET/CT) and ``water_cylinder`` (QA:
200 mm water in a PMMA shell).
"""

from __future__ import annotations

__all__ = [
    "Arc",
    "Ellipsoid",
    "EllipticCylinder",
    "Box",
    "Phantom",
    "PHANTOMS",
    "make_phantom",
]

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Protocol

import numpy as np

from .tissues import TISSUES

Vec3 = tuple[float, float, float]


class Shape(Protocol):
    tissue: str

    def bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray: ...

    def shifted(self, d: Vec3) -> "Shape": ...


def _rot(x: np.ndarray, y: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    if not angle_deg:
        return x, y
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    return c * x + s * y, -s * x + c * y


@dataclass(frozen=True)
class Ellipsoid:
    """Solid ellipsoid; ``angle`` rotates it about the z axis (degrees)."""

    tissue: str
    center: Vec3
    semi_axes: Vec3
    angle: float = 0.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.semi_axes[0], self.semi_axes[1]) if self.angle else None
        ax = (r, r, self.semi_axes[2]) if r else self.semi_axes
        c = np.asarray(self.center, float)
        return c - ax, c + ax

    def contains(self, x, y, z):
        cx, cy, cz = self.center
        u, v = _rot(x - cx, y - cy, self.angle)
        a, b, c = self.semi_axes
        return (u / a) ** 2 + (v / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0

    def shifted(self, d: Vec3) -> "Ellipsoid":
        return Ellipsoid(self.tissue, tuple(np.add(self.center, d)), self.semi_axes, self.angle)


@dataclass(frozen=True)
class EllipticCylinder:
    """Elliptic cylinder along z between ``z_range``; ``inner`` semi-axes make it a tube."""

    tissue: str
    center_xy: tuple[float, float]
    semi_axes: tuple[float, float]
    z_range: tuple[float, float]
    inner: tuple[float, float] | None = None
    angle: float = 0.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r = max(self.semi_axes)
        ax = (r, r) if self.angle else self.semi_axes
        lo = np.array([self.center_xy[0] - ax[0], self.center_xy[1] - ax[1], self.z_range[0]])
        hi = np.array([self.center_xy[0] + ax[0], self.center_xy[1] + ax[1], self.z_range[1]])
        return lo, hi

    def contains(self, x, y, z):
        u, v = _rot(x - self.center_xy[0], y - self.center_xy[1], self.angle)
        a, b = self.semi_axes
        inside = ((u / a) ** 2 + (v / b) ** 2 <= 1.0) & (z >= self.z_range[0]) & (z <= self.z_range[1])
        if self.inner:
            ia, ib = self.inner
            inside &= (u / ia) ** 2 + (v / ib) ** 2 > 1.0
        return inside

    def shifted(self, d: Vec3) -> "EllipticCylinder":
        return EllipticCylinder(
            self.tissue,
            (self.center_xy[0] + d[0], self.center_xy[1] + d[1]),
            self.semi_axes,
            (self.z_range[0] + d[2], self.z_range[1] + d[2]),
            self.inner,
            self.angle,
        )


@dataclass(frozen=True)
class Arc:
    """A rib: a tube of ``width`` x ``height`` mm following the ellipse ``semi_axes`` around
    ``center_xy`` between polar angles ``angles`` (degrees, 90 = posterior), at height ``z``
    where it leaves the spine and sloping down by ``drop`` mm toward the front."""

    tissue: str
    center_xy: tuple[float, float]
    semi_axes: tuple[float, float]
    z: float
    angles: tuple[float, float]
    width: float = 10.0
    height: float = 9.0
    drop: float = 0.0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.semi_axes
        w = self.width
        lo = np.array([self.center_xy[0] - a - w, self.center_xy[1] - b - w, self.z - self.drop - self.height])
        hi = np.array([self.center_xy[0] + a + w, self.center_xy[1] + b + w, self.z + self.height])
        return lo, hi

    def contains(self, x, y, z):
        a, b = self.semi_axes
        u, v = x - self.center_xy[0], y - self.center_xy[1]
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        t = np.degrees(np.arctan2(v / b, u / a)) % 360.0
        t0, t1 = (v % 360.0 for v in self.angles)
        in_angle = (t >= t0) & (t <= t1) if t0 <= t1 else (t >= t0) | (t <= t1)
        front = np.clip(0.2 - np.sin(np.radians(t)), 0.0, None) / 1.2  # 0 at the back, 1 at the front
        zc = self.z - self.drop * front
        return in_angle & (np.abs(r - 1.0) * min(a, b) <= self.width / 2) & (np.abs(z - zc) <= self.height / 2)

    def shifted(self, d: Vec3) -> "Arc":
        return Arc(self.tissue, (self.center_xy[0] + d[0], self.center_xy[1] + d[1]), self.semi_axes, self.z + d[2],
                   self.angles, self.width, self.height, self.drop)


@dataclass(frozen=True)
class Box:
    tissue: str
    low: Vec3
    high: Vec3

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.low, float), np.asarray(self.high, float)

    def contains(self, x, y, z):
        (x0, y0, z0), (x1, y1, z1) = self.low, self.high
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1) & (z >= z0) & (z <= z1)

    def shifted(self, d: Vec3) -> "Box":
        return Box(self.tissue, tuple(np.add(self.low, d)), tuple(np.add(self.high, d)))


@dataclass(frozen=True)
class Phantom:
    """Shapes painted in order; ``tissues[label]`` names the tissue of each label."""

    name: str
    shapes: tuple[Shape, ...]
    description: str = ""
    tissues: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = ["air"]
        for s in self.shapes:
            if s.tissue not in TISSUES:
                raise ValueError(f"phantom {self.name!r}: unknown tissue {s.tissue!r}")
            if s.tissue not in names:
                names.append(s.tissue)
        object.__setattr__(self, "tissues", tuple(names))

    def label(self, tissue_name: str) -> int:
        return self.tissues.index(tissue_name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        los, his = zip(*(s.bounds() for s in self.shapes))
        return np.min(los, axis=0), np.max(his, axis=0)

    def labels_at(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Tissue labels (uint8) at the points ``(x, y, z)`` (arrays of one shape, mm)."""
        x, y, z = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float))
        out = np.zeros(x.shape, np.uint8)
        lo = np.array([x.min(), y.min(), z.min()]) if x.size else np.zeros(3)
        hi = np.array([x.max(), y.max(), z.max()]) if x.size else np.zeros(3)
        for s in self.shapes:
            slo, shi = s.bounds()
            if np.any(shi < lo) or np.any(slo > hi):
                continue  # the shape misses every point: skip the arithmetic
            out[s.contains(x, y, z)] = self.tissues.index(s.tissue)
        return out

    def labels_on_grid(self, origin, row_step, column_step, shape: tuple[int, int]) -> np.ndarray:
        """Labels of the planar grid ``origin + r * row_step + c * column_step`` (vectors in mm),
        ``r < shape[0]``, ``c < shape[1]``.

        Each shape is evaluated only inside the index window its bounding box covers (exact
        for grids whose coordinates each follow one index, as for axial, coronal and sagittal
        planes; oblique grids fall back to the whole grid), so the cost follows the area the
        shapes cover, not their number times the grid size.
        """
        o, dr, dc = (np.asarray(v, float) for v in (origin, row_step, column_step))
        rows, cols = shape
        out = np.zeros(shape, np.uint8)
        eps = 1e-9
        for s in self.shapes:
            lo, hi = s.bounds()
            win = [0, rows, 0, cols]
            for k in range(3):
                a, b = dr[k], dc[k]
                if abs(a) < eps and abs(b) < eps:
                    if not lo[k] <= o[k] <= hi[k]:
                        win = None
                        break
                elif abs(a) < eps or abs(b) < eps:
                    step, i = (b, 2) if abs(a) < eps else (a, 0)
                    t0, t1 = sorted(((lo[k] - o[k]) / step, (hi[k] - o[k]) / step))
                    win[i] = max(win[i], int(np.floor(t0)))
                    win[i + 1] = min(win[i + 1], int(np.ceil(t1)) + 1)
            if win is None or win[0] >= win[1] or win[2] >= win[3]:
                continue
            r = np.arange(win[0], win[1])[:, None]
            c = np.arange(win[2], win[3])[None, :]
            x, y, z = (o[k] + r * dr[k] + c * dc[k] for k in range(3))
            sub = out[win[0]:win[1], win[2]:win[3]]
            sub[s.contains(x, y, z)] = self.tissues.index(s.tissue)
        return out

    def voxelize(self, origin: Vec3, spacing: Vec3, shape: tuple[int, int, int]) -> np.ndarray:
        """Labelled volume ``[k, j, i]`` with voxel centres ``origin + (i, j, k) * spacing``."""
        nz, ny, nx = shape
        out = np.empty(shape, np.uint8)
        for k in range(nz):
            out[k] = self.labels_on_grid((origin[0], origin[1], origin[2] + spacing[2] * k),
                                         (0.0, spacing[1], 0.0), (spacing[0], 0.0, 0.0), (ny, nx))
        return out

    def shifted(self, d: Vec3, name: str | None = None) -> "Phantom":
        return Phantom(name or self.name, tuple(s.shifted(d) for s in self.shapes), self.description)

    def __add__(self, other: "Phantom") -> "Phantom":
        return Phantom(f"{self.name}+{other.name}", self.shapes + other.shapes, self.description)


# --- the built-in phantoms -------------------------------------------------------------------


def _head() -> Phantom:
    E, C = Ellipsoid, EllipticCylinder
    shapes = [
        C("skin", (0, 8), (58, 60), (-230, -70)),  # neck
        C("muscle", (0, 8), (54, 56), (-230, -70)),
        C("bone_trabecular", (0, 22), (13, 12), (-230, -75)),  # cervical spine
        C("csf", (0, 34), (6, 6), (-230, -60)),  # spinal canal
        E("skin", (0, 0, 0), (76, 96, 106)),
        E("fat", (0, 0, 0), (72, 92, 102)),
        E("bone_cortical", (0, 0, 0), (68, 88, 98)),
        E("bone_trabecular", (0, 0, 0), (66, 86, 96)),
        E("bone_cortical", (0, 0, 0), (64.5, 84.5, 94.5)),
        E("csf", (0, 0, 0), (63, 83, 93)),
        E("grey_matter", (0, 2, 3), (60, 80, 88)),
        E("white_matter", (0, 4, 10), (50, 66, 72)),
        E("csf", (0, 0, 45), (1.6, 72, 40)),  # interhemispheric fissure
    ]
    jitter = np.random.default_rng(20260115)  # fixed: the phantom is the same in every run
    for z, scale in ((-15.0, 0.80), (8.0, 0.93), (30.0, 0.93), (52.0, 0.82)):  # sulci: radial CSF clefts
        for k in range(16):
            t = 2 * np.pi * (k + jitter.uniform(-0.35, 0.35)) / 16
            depth = jitter.uniform(7.0, 14.0)
            cx, cy = 54 * scale * np.cos(t), 2 + 74 * scale * np.sin(t)
            shapes.append(E("csf", (cx, cy, z + jitter.uniform(-8, 8)), (depth, 1.3, jitter.uniform(9, 18)),
                            angle=float(np.degrees(np.arctan2(cy / 74, cx / 54)) + jitter.uniform(-15, 15))))
    shapes += [
        E("grey_matter", (-14, 4, 0), (8, 12, 10)),  # deep grey nuclei
        E("grey_matter", (14, 4, 0), (8, 12, 10)),
        E("csf", (-9, -2, 14), (5, 26, 9), angle=-8),  # lateral ventricles
        E("csf", (9, -2, 14), (5, 26, 9), angle=8),
        E("csf", (0, 6, -8), (2, 8, 6)),  # third ventricle
        E("grey_matter", (0, 52, -62), (40, 26, 20)),  # cerebellum
        E("white_matter", (0, 52, -60), (20, 12, 10)),
        E("white_matter", (0, 18, -55), (12, 14, 30)),  # brain stem
        E("fat", (-32, -62, -28), (19, 16, 16)),  # orbits and eyes
        E("fat", (32, -62, -28), (19, 16, 16)),
        E("vitreous", (-32, -70, -28), (12, 12, 12)),
        E("vitreous", (32, -70, -28), (12, 12, 12)),
        E("lesion", (26, -22, 30), (9, 9, 9)),
    ]
    return Phantom("head", tuple(shapes), "adult head: skin, fat, skull, CSF, grey/white matter, a lesion")


def _body() -> Phantom:
    E, C = Ellipsoid, EllipticCylinder
    z0, z1 = -380.0, 260.0
    shapes: list = [
        C("skin", (0, 5), (172, 117), (z0, z1)),
        C("fat", (0, 5), (168, 113), (z0, z1)),
        C("muscle", (0, 5), (152, 100), (z0, z1)),
        C("soft_tissue", (0, 2), (140, 88), (z0, z1)),
    ]
    for k in range(9):  # ribs: from the spine round the side to the front, sloping down
        shapes.append(Arc("bone_cortical", (0, 5), (146, 94), 45 + 24 * k, (-35.0, 215.0), width=8.0, height=9.0,
                          drop=30.0))
    shapes += [
        E("liver", (-62, -5, -45), (88, 76, 78)),
        E("spleen", (88, 42, -30), (34, 44, 50)),
        E("kidney", (-72, 58, -120), (26, 24, 52)),
        E("kidney", (72, 58, -110), (26, 24, 52)),
        E("lung", (-78, 8, 120), (60, 74, 128)),
        E("lung", (76, 8, 128), (56, 72, 122)),
        E("myocardium", (18, -22, 80), (55, 46, 58), angle=-25),
        E("blood", (22, -22, 82), (32, 28, 36), angle=-25),
        C("blood", (8, 38), (13, 13), (-160, 160)),  # descending aorta
        C("blood", (-22, 30), (11, 11), (-200, 60)),  # vena cava
        E("urine", (0, -35, -320), (45, 35, 32)),  # bladder
        E("bone_cortical", (-102, 38, -270), (28, 60, 62)),  # iliac wings
        E("bone_trabecular", (-102, 38, -270), (22, 54, 56)),
        E("bone_cortical", (102, 38, -270), (28, 60, 62)),
        E("bone_trabecular", (102, 38, -270), (22, 54, 56)),
        C("bone_cortical", (0, 70), (22, 19), (z0, z1)),  # vertebral bodies
        C("bone_trabecular", (0, 70), (19, 16), (z0, z1)),
    ]
    z = z0 + 20
    while z < z1:  # intervertebral discs
        shapes.append(C("disc", (0, 70), (19, 16), (z, z + 7)))
        z += 34
    shapes.append(C("csf", (0, 96), (8, 8), (z0, z1)))  # spinal canal
    shapes.append(C("bone_cortical", (0, 106), (6, 6), (z0, z1)))  # spinous processes (simplified)
    return Phantom("body", tuple(shapes), "adult trunk: lungs, heart, liver, spleen, kidneys, spine, ribs, bladder")


def _lesions() -> tuple:
    E = Ellipsoid
    return (
        E("lesion", (70, -15, 150), (10, 10, 10)),  # lung nodule
        E("lesion", (-20, -5, 135), (8, 8, 8)),  # mediastinal node
        E("lesion", (-45, -30, -40), (15, 15, 15)),  # liver metastasis
        E("lesion", (0, 70, -200), (9, 9, 9)),  # vertebral metastasis
    )


def _pet_torso() -> Phantom:
    b = _body()
    return Phantom("pet_torso", b.shapes + _lesions(), "trunk with hot FDG lesions (lung, node, liver, bone)")


def _whole_body() -> Phantom:
    head = _head().shifted((0, 5, 500))
    neck = (
        EllipticCylinder("skin", (0, 10), (70, 65), (240, 300)),
        EllipticCylinder("muscle", (0, 10), (64, 59), (240, 300)),
        EllipticCylinder("bone_trabecular", (0, 28), (14, 13), (240, 300)),
    )
    return Phantom("whole_body", _pet_torso().shapes + neck + head.shapes,
                   "head, neck and trunk with hot lesions, for whole-body PET/CT")


def _water_cylinder() -> Phantom:
    return Phantom(
        "water_cylinder",
        (EllipticCylinder("pmma", (0, 0), (103, 103), (-110, 110)),
         EllipticCylinder("water", (0, 0), (100, 100), (-100, 100))),
        "QA phantom: 200 mm water cylinder in a 3 mm PMMA shell",
    )


PHANTOMS: dict[str, Callable[[], Phantom]] = {
    "head": _head,
    "body": _body,
    "pet_torso": _pet_torso,
    "whole_body": _whole_body,
    "water_cylinder": _water_cylinder,
}


@lru_cache(maxsize=None)
def make_phantom(name: str) -> Phantom:
    """The built-in phantom *name* (see :data:`PHANTOMS`)."""
    try:
        return PHANTOMS[name]()
    except KeyError:
        raise KeyError(f"unknown phantom {name!r}; known: {', '.join(PHANTOMS)}") from None
