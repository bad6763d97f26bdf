"""Tissue property tables: MR relaxation, CT attenuation and PET FDG uptake.

Every phantom voxel carries a tissue label; the physics modules look the label's
properties up here. Values are typical literature figures rounded for a simulator,
not reference data:

- MR: proton density (relative to CSF = 1), T1, T2 and T2* in ms at 1.5 T and 3 T
  (Stanisz et al., MRM 2005; Bojorquez et al., MRI 2017; Gold et al., AJR 2004 for
  body tissues). Other field strengths are interpolated (T1 log-log in B0, T2 linear).
- CT: attenuation in Hounsfield units at 80, 100, 120 and 140 kVp. Water is 0 and air
  -1000 at every kVp by definition; high-Z tissues (bone, iodine) fall as kVp rises.
- PET: FDG standardised uptake value (SUVbw) about 60 min after injection.

``relative_electron_density`` is used by RT structure observations.
"""

from __future__ import annotations

__all__ = ["Tissue", "TISSUES", "tissue", "KVP_POINTS", "mr_parameters", "ct_hu", "suv"]

from dataclasses import dataclass, field

import numpy as np

KVP_POINTS = (80.0, 100.0, 120.0, 140.0)


@dataclass(frozen=True)
class Tissue:
    """Properties of one tissue class.

    ``mr`` maps field strength (T) to ``(PD, T1 ms, T2 ms, T2* ms)``; ``hu`` holds the CT
    number at each of :data:`KVP_POINTS`.
    """

    name: str
    mr: dict[float, tuple[float, float, float, float]]
    hu: tuple[float, float, float, float]
    suv: float
    relative_electron_density: float = 1.0
    display: str = field(default="", compare=False)


def _t(name, mr15, mr30, hu, suv, red=None, display=""):
    if red is None:
        red = max(0.0, 1.0 + hu[2] / 1000.0) if hu[2] < 100 else 1.0 + hu[2] / 1950.0
    return Tissue(name, {1.5: mr15, 3.0: mr30}, hu, suv, round(red, 3), display or name.replace("_", " "))


#                   name              PD    T1     T2    T2*     PD    T1     T2    T2*      HU 80  100   120   140   SUV
_TABLE = [
    _t("air",             (0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (-1000, -1000, -1000, -1000), 0.0, 0.001),
    _t("water",           (1.0, 3000, 2000, 1200), (1.0, 3200, 1800, 900), (0, 0, 0, 0), 1.0, 1.0),
    _t("pmma",            (0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0), (125, 122, 120, 118), 0.0, 1.16),
    _t("skin",            (0.80, 700, 50, 35), (0.80, 1000, 45, 30), (35, 32, 30, 29), 0.9),
    _t("fat",             (0.90, 260, 85, 55), (0.90, 370, 70, 45), (-115, -105, -100, -95), 0.4),
    _t("muscle",          (0.80, 870, 47, 30), (0.80, 1400, 40, 28), (55, 52, 50, 49), 0.8),
    _t("soft_tissue",     (0.82, 900, 60, 40), (0.82, 1300, 55, 35), (42, 41, 40, 40), 1.0),
    _t("bone_cortical",   (0.05, 300, 1.5, 0.8), (0.05, 400, 1.2, 0.6), (1350, 1150, 1000, 920), 0.5, 1.69),
    _t("bone_trabecular", (0.40, 365, 45, 10), (0.40, 550, 40, 8), (320, 270, 240, 225), 1.5, 1.15),
    _t("csf",             (1.00, 4000, 2000, 1000), (1.00, 4300, 1800, 900), (8, 8, 8, 8), 0.2),
    _t("grey_matter",     (0.86, 1100, 95, 60), (0.86, 1600, 85, 50), (42, 41, 40, 40), 8.0),
    _t("white_matter",    (0.72, 650, 75, 50), (0.72, 1000, 70, 45), (31, 30, 30, 30), 3.0),
    _t("lesion",          (0.88, 1300, 130, 80), (0.88, 1800, 115, 70), (58, 50, 45, 42), 8.0),
    _t("blood",           (0.90, 1440, 250, 120), (0.90, 1930, 200, 60), (45, 42, 40, 39), 1.8),
    _t("myocardium",      (0.80, 1030, 45, 30), (0.80, 1470, 45, 28), (48, 46, 45, 44), 4.0),
    _t("lung",            (0.15, 1200, 80, 2), (0.15, 1400, 60, 1), (-850, -850, -850, -850), 0.35),
    _t("liver",           (0.75, 580, 45, 30), (0.75, 810, 35, 20), (62, 60, 58, 57), 2.5),
    _t("spleen",          (0.80, 1060, 80, 50), (0.80, 1330, 60, 40), (52, 50, 48, 47), 2.0),
    _t("kidney",          (0.85, 690, 90, 55), (0.85, 1190, 80, 45), (40, 37, 35, 34), 3.0),
    _t("urine",           (1.00, 3000, 1800, 900), (1.00, 3200, 1600, 800), (5, 5, 5, 5), 25.0),
    _t("vitreous",        (1.00, 3500, 1600, 900), (1.00, 3800, 1500, 800), (10, 10, 10, 10), 0.3),
    _t("disc",            (0.85, 1000, 100, 60), (0.85, 1200, 90, 50), (85, 82, 80, 79), 0.8),
    _t("contrast_blood",  (0.90, 300, 200, 60), (0.90, 400, 150, 40), (480, 370, 300, 255), 1.8),
]

TISSUES: dict[str, Tissue] = {t.name: t for t in _TABLE}


def tissue(name: str) -> Tissue:
    """The tissue called *name*; :class:`KeyError` names the known ones."""
    try:
        return TISSUES[name]
    except KeyError:
        raise KeyError(f"unknown tissue {name!r}; known: {', '.join(TISSUES)}") from None


def mr_parameters(t: Tissue, field_strength: float) -> tuple[float, float, float, float]:
    """``(PD, T1, T2, T2*)`` of *t* at *field_strength* tesla.

    T1 grows roughly as a power of B0, so it is interpolated (and extrapolated) linearly in
    log(T1) against log(B0); PD, T2 and T2* linearly, clamped to the table's range.
    """
    b = float(field_strength)
    (pd1, t11, t21, s1), (pd3, t13, t23, s3) = t.mr[1.5], t.mr[3.0]
    w = (b - 1.5) / 1.5
    if t11 > 1.0 and t13 > 1.0 and b > 0:
        k = np.log(t13 / t11) / np.log(2.0)
        t1 = t11 * (b / 1.5) ** k
    else:
        t1 = t11 + w * (t13 - t11)
    wc = min(max(w, 0.0), 1.0)
    return (pd1 + wc * (pd3 - pd1), float(t1), t21 + wc * (t23 - t21), s1 + wc * (s3 - s1))


def ct_hu(t: Tissue, kvp: float) -> float:
    """CT number of *t* at tube voltage *kvp* (linear in kVp between table points)."""
    return float(np.interp(kvp, KVP_POINTS, t.hu))


def suv(t: Tissue) -> float:
    return t.suv
