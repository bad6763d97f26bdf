"""RT Plan (A.20) and RT Dose (A.18) as the COHERENCE Dosimetrist's KonRad writes them
(§A.7.3, Tables 115-130), planned on the exam's CT and RT Structure Set.

The plan (RT General Plan, RT Fraction Scheme, RT Beams; no Patient Setup, Prescription or
Tolerance Tables, Table 115) has one fraction group, number 1 (Table 123), and opposed
static photon beams (Radiation Type PHOTON, Primary Dosimeter Unit MU, Table 124) whose
isocentre is the target's centre. Each beam has asymmetric jaws (ASYMX, ASYMY) fitted to
the target (PTV, else CTV, else GTV) and an MLCX whose leaf pairs follow the target's
extent in their band, projected at the isocentre plane. The beam meterset is chosen so
the isocentre receives the prescribed fraction dose.

The dose (Table 116) is a multi-frame grid on the CT's axial planes (Frame Increment
Pointer to Grid Frame Offset Vector, offsets relative to the first frame), Dose Units GY,
Dose Type PHYSICAL, Dose Summation Type PLAN, BA 16 / BS 16 / HB 15 unsigned with Dose Grid
Scaling (Tables 127-129), from a simple broad-beam model: exponential attenuation over the
radiological depth of the CT's electron density, a build-up region, inverse square and
Gaussian field-edge penumbra, inside the patient outline. The grid is in the CT's Frame of
Reference; the plan (which has no Frame of Reference module, Table 115) gives its
isocentre in the same patient coordinates, those of the structure set it references.
"""

from __future__ import annotations

__all__ = ["BUILDERS", "PlanParams", "rt_plan", "rt_dose", "dose_grid", "Beam"]

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from scipy import ndimage
from scipy.special import erf

from appliance.errors import UsageError

from . import ObjectContext, common_modules
from . import modules as m
from .documents import finish_as

RT_PLAN_UID = "1.2.840.10008.5.1.4.1.1.481.5"
RT_DOSE_UID = "1.2.840.10008.5.1.4.1.1.481.2"
RT_STRUCT_UID = "1.2.840.10008.5.1.4.1.1.481.3"
CT_IMAGE_UID = "1.2.840.10008.5.1.4.1.1.2"


@dataclass(frozen=True)
class PlanParams:
    """Treatment values the planner chooses (KonRad record values, Tables 122-124)."""

    machine_name: str = "LINAC1"
    energy_mv: float = 6.0
    sad: float = 1000.0
    gantry_angles: tuple[float, ...] = (0.0, 180.0)
    fractions: int = 30
    dose_per_fraction: float = 2.0  # Gy at the isocentre
    leaf_pairs: int = 41  # 82-leaf MLC (§A.8.2.6)
    margin: float = 5.0  # mm around the target projection
    plan_state: str = "UNAPPROVED"  # RT Plan Description = plan state (Table 122)
    # broad-beam model
    mu_per_mm: float = 0.0045  # effective attenuation of a 6 MV beam in water
    dmax: float = 15.0  # mm, depth of maximum dose
    output: float = 0.01  # Gy per MU at dmax on the axis, SAD setup
    penumbra_sigma: float = 3.0  # mm
    dose_spacing: float = 4.0  # mm, target in-plane spacing of the dose grid


@dataclass(frozen=True)
class Beam:
    number: int
    name: str
    gantry: float
    jaws_x: tuple[float, float]
    jaws_y: tuple[float, float]
    boundaries: tuple[float, ...]
    leaves: tuple[tuple[float, float], ...]  # (bank A, bank B) per leaf pair, mm at the isocentre
    meterset: float = 0.0
    ssd: float = 0.0


# --- source objects ---------------------------------------------------------------------------


def _ct_volume(source: list[Dataset]) -> list[Dataset]:
    cts = [d for d in source if d.SOPClassUID == CT_IMAGE_UID and "PixelData" in d
           and "LOCALIZER" not in [str(v).upper() for v in d.get("ImageType", [])][2:3]]
    if not cts:
        raise UsageError("an RT Plan or RT Dose needs the exam's axial CT images, and none were given",
                         "plan after the CT series of the exam")
    series = {}
    for d in cts:
        series.setdefault(str(d.SeriesInstanceUID), []).append(d)
    cts = max(series.values(), key=len)  # the planning CT: the largest CT series
    normal = _normal(cts[0])
    return sorted(cts, key=lambda d: float(np.asarray(d.ImagePositionPatient, float) @ normal))


def _normal(d: Dataset) -> np.ndarray:
    o = np.asarray([float(v) for v in d.ImageOrientationPatient])
    return np.cross(o[:3], o[3:])


def _one(source: list[Dataset], sop_class: str, what: str) -> Dataset:
    found = [d for d in source if d.SOPClassUID == sop_class]
    if not found:
        raise UsageError(f"an RT Plan/RT Dose needs {what} from the exam, and none was given",
                         f"build it after the {what}")
    return found[-1]


def _roi_points(ss: Dataset) -> dict[str, tuple[str, list[np.ndarray]]]:
    """ROI name -> (RT ROI Interpreted Type, contour point arrays)."""
    types = {int(o.ReferencedROINumber): str(o.get("RTROIInterpretedType", ""))
             for o in ss.get("RTROIObservationsSequence", [])}
    names = {int(r.ROINumber): str(r.ROIName) for r in ss.get("StructureSetROISequence", [])}
    out = {}
    for c in ss.get("ROIContourSequence", []):
        n = int(c.ReferencedROINumber)
        pts = [np.asarray([float(v) for v in k.ContourData]).reshape(-1, 3) for k in c.get("ContourSequence", [])]
        out[names.get(n, str(n))] = (types.get(n, ""), pts)
    return out


def _target(rois) -> np.ndarray | None:
    for kind in ("PTV", "CTV", "GTV"):
        pts = [p for t, ps in rois.values() if t == kind for p in ps]
        if pts:
            return np.concatenate(pts)
    return None


def _isocentre(rois, target: np.ndarray | None, cts: list[Dataset]) -> np.ndarray:
    """The target's centre (the planner places the isocentre there; Adaptive Targeting makes the
    first beam's Isocenter Position a reference point on import), else the structure set's
    ISOCENTER point, else the CT's centre."""
    if target is not None:
        return np.round((target.min(axis=0) + target.max(axis=0)) / 2.0, 1)
    for t, ps in rois.values():
        if t == "ISOCENTER" and ps:
            return ps[0][0]
    mid = cts[len(cts) // 2]
    o = np.asarray([float(v) for v in mid.ImageOrientationPatient])
    ps = [float(v) for v in mid.PixelSpacing]
    return (np.asarray([float(v) for v in mid.ImagePositionPatient]) + o[:3] * ps[1] * (mid.Columns - 1) / 2
            + o[3:] * ps[0] * (mid.Rows - 1) / 2)


# --- beam geometry (IEC 61217, head first supine, couch and collimator at 0) --------------------


def _beam_axes(gantry: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beam direction and the beam's-eye-view X and Y axes in patient coordinates."""
    t = math.radians(gantry)
    direction = np.array([-math.sin(t), math.cos(t), 0.0])
    bev_x = np.array([math.cos(t), math.sin(t), 0.0])
    bev_y = np.array([0.0, 0.0, 1.0])  # towards the gantry: the patient's head
    return direction, bev_x, bev_y


def _project(points: np.ndarray, iso: np.ndarray, gantry: float, sad: float) -> tuple[np.ndarray, np.ndarray]:
    """BEV coordinates of *points* at the isocentre plane (divergent projection)."""
    direction, bx, by = _beam_axes(gantry)
    source = iso - sad * direction
    rel = points - source
    depth = rel @ direction
    scale = sad / np.where(np.abs(depth) < 1e-6, 1e-6, depth)
    return (rel @ bx) * scale, (rel @ by) * scale


def _shape_beam(number: int, gantry: float, iso: np.ndarray, target: np.ndarray | None, p: PlanParams) -> Beam:
    width = 400.0 / p.leaf_pairs
    bounds = tuple(-200.0 + k * width for k in range(p.leaf_pairs + 1))
    if target is None:
        jx, jy = (-50.0, 50.0), (-50.0, 50.0)
        u = v = None
    else:
        u, v = _project(target, iso, gantry, p.sad)
        jx = (float(u.min()) - p.margin, float(u.max()) + p.margin)
        jy = (float(v.min()) - p.margin, float(v.max()) + p.margin)
        if jy[1] - jy[0] < 2 * p.margin + width:  # a thin target: at least one leaf band open
            c = (jy[0] + jy[1]) / 2
            jy = (c - p.margin - width / 2, c + p.margin + width / 2)
    jx = (round(jx[0], 1), round(jx[1], 1))
    jy = (round(jy[0], 1), round(jy[1], 1))
    leaves = []
    for lo, hi in zip(bounds, bounds[1:]):
        if hi <= jy[0] or lo >= jy[1]:
            leaves.append((jx[0], jx[0]))  # closed under the jaw
            continue
        if u is None:
            leaves.append(jx)
            continue
        near = np.abs(v - (lo + hi) / 2)
        band = u[near <= max(float(near.min()), (hi - lo) / 2) + 1e-6]
        leaves.append((round(max(float(band.min()) - p.margin, jx[0]), 1),
                       round(min(float(band.max()) + p.margin, jx[1]), 1)))
    name = {0.0: "AP", 180.0: "PA", 90.0: "LAT L", 270.0: "LAT R"}.get(float(gantry) % 360.0, f"G{gantry:g}")
    return Beam(number, name, gantry, jx, jy, bounds, tuple(leaves))


# --- dose model -------------------------------------------------------------------------------


class _DensityVolume:
    """Relative electron density of the CT (from HU) with a patient-to-voxel mapping."""

    def __init__(self, cts: list[Dataset]):
        first = cts[0]
        self.origin = np.asarray([float(v) for v in first.ImagePositionPatient])
        o = np.asarray([float(v) for v in first.ImageOrientationPatient])
        self.row_cos, self.col_cos = o[:3], o[3:]
        self.normal = np.cross(self.row_cos, self.col_cos)
        self.spacing = (float(first.PixelSpacing[0]), float(first.PixelSpacing[1]))
        positions = [float(np.asarray(d.ImagePositionPatient, float) @ self.normal) for d in cts]
        self.z0 = positions[0]
        self.dz = (positions[-1] - positions[0]) / (len(cts) - 1) if len(cts) > 1 else float(first.SliceThickness or 1)
        hu = np.stack([d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))
                       for d in cts])
        self.density = np.clip(1.0 + hu / 1000.0, 0.0, 3.0).astype(np.float32)
        # the patient outline: soft tissue and everything it encloses (lungs, airways), per slice
        self.body = np.stack([ndimage.binary_fill_holes(ndimage.binary_opening(s > 0.5, iterations=1))
                              for s in self.density]).astype(np.float32)

    def voxel(self, points: np.ndarray) -> np.ndarray:
        rel = points - self.origin
        k = (points @ self.normal - self.z0) / (self.dz or 1.0)
        return np.stack([np.clip(k, 0, self.density.shape[0] - 1), (rel @ self.col_cos) / self.spacing[0],
                         (rel @ self.row_cos) / self.spacing[1]])

    def sample(self, points: np.ndarray) -> np.ndarray:
        return ndimage.map_coordinates(self.density, self.voxel(points), order=1, mode="constant", cval=0.0)

    def inside(self, points: np.ndarray) -> np.ndarray:
        return ndimage.map_coordinates(self.body, self.voxel(points), order=0, mode="constant", cval=0.0) > 0.5


def _dose_per_mu(vol: _DensityVolume, points: np.ndarray, beam: Beam, iso: np.ndarray, p: PlanParams,
                 step: float = 3.0) -> np.ndarray:
    """Dose (Gy) per MU of *beam* at *points* (``(n, 3)``)."""
    direction, _, _ = _beam_axes(beam.gantry)
    source = iso - p.sad * direction
    # field factor at the isocentre plane: MLC leaves of the point's band within the jaws
    u, v = _project(points, iso, beam.gantry, p.sad)
    band = np.clip(np.searchsorted(np.asarray(beam.boundaries), v) - 1, 0, len(beam.leaves) - 1)
    leaves = np.asarray(beam.leaves)
    x1 = np.maximum(leaves[band, 0], beam.jaws_x[0])
    x2 = np.minimum(leaves[band, 1], beam.jaws_x[1])
    sig = p.penumbra_sigma * math.sqrt(2.0)
    field = (np.clip(0.5 * (erf((x2 - u) / sig) - erf((x1 - u) / sig)), 0.0, 1.0)
             * 0.5 * (erf((beam.jaws_y[1] - v) / sig) - erf((beam.jaws_y[0] - v) / sig)))
    out = np.zeros(len(points))
    todo = np.nonzero((field > 1e-4) & vol.inside(points))[0]  # elsewhere the dose is 0
    if not len(todo):
        return out
    rel = points[todo] - source
    dist = rel @ direction  # along the central axis
    along = np.linalg.norm(rel, axis=1)
    rays = rel / along[:, None]
    # radiological depth: density integrated from 400 mm before the isocentre to each point
    start = p.sad - 400.0
    n_steps = int(math.ceil(max(float(along.max()) - start, 0.0) / step)) + 1
    depth = np.zeros(len(todo))
    for k in range(n_steps):
        r = start + (k + 0.5) * step
        inside = r - step / 2 < along
        if not inside.any():
            break
        sample = vol.sample(source + rays * r)
        depth += np.where(inside, sample * np.clip(along - (r - step / 2), 0.0, step), 0.0)
    pdd = np.where(depth >= p.dmax, np.exp(-p.mu_per_mm * (depth - p.dmax)), 0.4 + 0.6 * depth / p.dmax)
    inverse_square = (p.sad / np.maximum(dist, 1.0)) ** 2
    out[todo] = p.output * pdd * inverse_square * field[todo]
    return out


def _ssd(vol: _DensityVolume, beam: Beam, iso: np.ndarray, p: PlanParams) -> float:
    """Source to skin distance on the central axis (first density above 0.5)."""
    direction, _, _ = _beam_axes(beam.gantry)
    source = iso - p.sad * direction
    r = np.arange(p.sad - 400.0, p.sad + 1.0, 1.0)
    hits = np.nonzero(vol.sample(source + direction * r[:, None]) > 0.5)[0]
    return float(r[hits[0]]) if len(hits) else p.sad


def _plan_beams(cts: list[Dataset], ss: Dataset, p: PlanParams) -> tuple[list[Beam], np.ndarray]:
    rois = _roi_points(ss)
    target = _target(rois)
    iso = _isocentre(rois, target, cts)
    vol = _DensityVolume(cts)
    beams = [_shape_beam(k, g, iso, target, p) for k, g in enumerate(p.gantry_angles, start=1)]
    per_mu = [float(_dose_per_mu(vol, iso[None, :], b, iso, p)[0]) for b in beams]
    share = p.dose_per_fraction / len(beams)
    out = []
    for b, d in zip(beams, per_mu):
        if d <= 0:
            raise UsageError(f"beam {b.name} gives no dose at the isocentre {iso.round(1).tolist()}",
                             "place the ISOCENTER point of the structure set inside the patient")
        out.append(Beam(b.number, b.name, b.gantry, b.jaws_x, b.jaws_y, b.boundaries, b.leaves,
                        meterset=round(share / d, 1), ssd=_ssd(vol, b, iso, p)))
    return out, iso


def dose_grid(cts: list[Dataset], beams: list[Beam], iso: np.ndarray, fractions: int, p: PlanParams
              ) -> tuple[np.ndarray, np.ndarray, tuple[float, float], np.ndarray, np.ndarray]:
    """Plan dose (Gy, ``[frame, row, column]``) on the CT's planes, in-plane spacing
    reduced to about ``p.dose_spacing``; returns (dose, first position, pixel spacing,
    orientation, frame offsets along the normal)."""
    vol = _DensityVolume(cts)
    k = max(1, int(round(p.dose_spacing / max(vol.spacing))))
    rows, cols = int(cts[0].Rows) // k, int(cts[0].Columns) // k
    spacing = (vol.spacing[0] * k, vol.spacing[1] * k)
    # pixel centres of the reduced grid: the mean of k x k CT pixels
    first = vol.origin + (k - 1) / 2 * (vol.spacing[0] * vol.col_cos + vol.spacing[1] * vol.row_cos)
    offsets = np.asarray([float(np.asarray(d.ImagePositionPatient, float) @ vol.normal) for d in cts]) - vol.z0
    r, c = np.mgrid[0:rows, 0:cols]
    plane = first + (c.ravel()[:, None] * spacing[1] * vol.row_cos + r.ravel()[:, None] * spacing[0] * vol.col_cos)
    dose = np.zeros((len(cts), rows, cols))
    for f, off in enumerate(offsets):
        pts = plane + off * vol.normal
        total = sum(b.meterset * _dose_per_mu(vol, pts, b, iso, p) for b in beams)
        dose[f] = (total * fractions).reshape(rows, cols)
    orientation = np.concatenate([vol.row_cos, vol.col_cos])
    return dose, first, spacing, orientation, offsets


# --- RT Plan ----------------------------------------------------------------------------------


def _bld_types(beam: Beam) -> list[Dataset]:
    out = []
    for kind, pairs in (("ASYMX", 1), ("ASYMY", 1), ("MLCX", len(beam.leaves))):
        d = Dataset()
        d.RTBeamLimitingDeviceType = kind
        d.NumberOfLeafJawPairs = pairs
        if kind == "MLCX":
            d.LeafPositionBoundaries = [m.ds_str(b, 3) for b in beam.boundaries]
        out.append(d)
    return out


def _bld_positions(beam: Beam) -> list[Dataset]:
    out = []
    for kind, positions in (("ASYMX", beam.jaws_x), ("ASYMY", beam.jaws_y),
                            ("MLCX", [a for a, _ in beam.leaves] + [b for _, b in beam.leaves])):
        d = Dataset()
        d.RTBeamLimitingDeviceType = kind
        d.LeafJawPositions = [m.ds_str(v, 1) for v in positions]
        out.append(d)
    return out


def rt_plan(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset],
            params: PlanParams = PlanParams()) -> list[Dataset]:
    """An RT Plan on the exam's CT and RT Structure Set (*source* holds both)."""
    kind = "rt_plan"
    cts = _ct_volume(source)
    ss = _one(source, RT_STRUCT_UID, "an RT Structure Set")
    beams, iso = _plan_beams(cts, ss, params)
    rule = ctx.rule(kind)
    ds = Dataset()
    # Table 115: Patient, General Study, RT Series, General Equipment, RT General Plan,
    # RT Fraction Scheme, RT Beams, SOP Common
    common_modules(ds, ctx, series, frame_of_reference=False, series_module="rt")
    ds.Modality = "RTPLAN"
    m.general_equipment(ds, ctx.equipment_for(kind))
    ds.InstanceNumber = rule.instance_number_start
    # RT General Plan (C.8.8.9, Table 122)
    ds.RTPlanLabel = (series.description or "PLAN")[:16]
    ds.RTPlanDescription = params.plan_state
    ds.RTPlanDate = m.da(series.when)
    ds.RTPlanTime = m.tm(series.when)
    ds.PlanIntent = "CURATIVE"
    ds.RTPlanGeometry = "PATIENT"
    ref = Dataset()
    ref.ReferencedSOPClassUID = ss.SOPClassUID
    ref.ReferencedSOPInstanceUID = ss.SOPInstanceUID
    ds.ReferencedStructureSetSequence = DicomSequence([ref])
    # RT Fraction Scheme (C.8.8.13, Table 123): a single fraction group, number 1
    fg = Dataset()
    fg.FractionGroupNumber = 1
    fg.NumberOfFractionsPlanned = params.fractions
    fg.NumberOfBeams = len(beams)
    fg.NumberOfBrachyApplicationSetups = 0
    refs = []
    for b in beams:
        r = Dataset()
        r.BeamDose = m.ds_str(params.dose_per_fraction / len(beams), 4)
        r.BeamMeterset = m.ds_str(b.meterset, 1)
        r.ReferencedBeamNumber = b.number
        refs.append(r)
    fg.ReferencedBeamSequence = DicomSequence(refs)
    ds.FractionGroupSequence = DicomSequence([fg])
    # RT Beams (C.8.8.14, Table 124)
    items = []
    for b in beams:
        it = Dataset()
        it.BeamNumber = b.number
        it.BeamName = b.name
        it.BeamDescription = b.name
        it.BeamType = "STATIC"
        it.RadiationType = "PHOTON"
        it.TreatmentMachineName = params.machine_name
        it.PrimaryDosimeterUnit = "MU"
        it.SourceAxisDistance = m.ds_str(params.sad, 2)
        it.BeamLimitingDeviceSequence = DicomSequence(_bld_types(b))
        it.TreatmentDeliveryType = "TREATMENT"
        it.NumberOfWedges = 0
        it.NumberOfCompensators = 0
        it.NumberOfBoli = 0
        it.NumberOfBlocks = 0
        it.FinalCumulativeMetersetWeight = "1"
        it.NumberOfControlPoints = 2
        cp0 = Dataset()
        cp0.ControlPointIndex = 0
        cp0.NominalBeamEnergy = m.ds_str(params.energy_mv)
        cp0.BeamLimitingDevicePositionSequence = DicomSequence(_bld_positions(b))
        cp0.GantryAngle = m.ds_str(b.gantry)
        cp0.GantryRotationDirection = "NONE"
        cp0.BeamLimitingDeviceAngle = "0"
        cp0.BeamLimitingDeviceRotationDirection = "NONE"
        cp0.PatientSupportAngle = "0"
        cp0.PatientSupportRotationDirection = "NONE"
        cp0.TableTopEccentricAngle = "0"
        cp0.TableTopEccentricRotationDirection = "NONE"
        cp0.TableTopVerticalPosition = ""  # NULL (Table 124)
        cp0.TableTopLongitudinalPosition = ""
        cp0.TableTopLateralPosition = ""
        cp0.IsocenterPosition = [m.ds_str(v, 2) for v in iso]
        cp0.SourceToSurfaceDistance = m.ds_str(b.ssd, 1)
        cp0.CumulativeMetersetWeight = "0"
        cp1 = Dataset()
        cp1.ControlPointIndex = 1
        cp1.CumulativeMetersetWeight = "1"
        it.ControlPointSequence = DicomSequence([cp0, cp1])
        items.append(it)
    ds.BeamSequence = DicomSequence(items)
    return [finish_as(ds, ctx, kind, RT_PLAN_UID)]


# --- RT Dose ----------------------------------------------------------------------------------


def _plan_beams_from(plan: Dataset) -> tuple[list[Beam], np.ndarray, int, PlanParams]:
    beams = []
    meterset = {int(r.ReferencedBeamNumber): float(r.BeamMeterset)
                for r in plan.FractionGroupSequence[0].ReferencedBeamSequence}
    iso = None
    sad = 1000.0
    for it in plan.BeamSequence:
        cp = it.ControlPointSequence[0]
        pos = {d.RTBeamLimitingDeviceType: [float(v) for v in d.LeafJawPositions]
               for d in cp.BeamLimitingDevicePositionSequence}
        jaws_x = pos.get("ASYMX") or pos.get("X") or [-200.0, 200.0]
        jaws_y = pos.get("ASYMY") or pos.get("Y") or [-200.0, 200.0]
        bounds = next((tuple(float(v) for v in d.LeafPositionBoundaries) for d in it.BeamLimitingDeviceSequence
                       if d.RTBeamLimitingDeviceType == "MLCX"), (-200.0, 200.0))
        n = len(bounds) - 1
        mlc = pos.get("MLCX") or [jaws_x[0], jaws_x[1]]  # no MLC: one open "leaf pair" at the jaws
        iso = np.asarray([float(v) for v in cp.IsocenterPosition])
        sad = float(it.SourceAxisDistance)
        beams.append(Beam(int(it.BeamNumber), str(it.BeamName), float(cp.GantryAngle), tuple(jaws_x),
                          tuple(jaws_y), bounds, tuple(zip(mlc[:n], mlc[n:])),
                          meterset=meterset[int(it.BeamNumber)]))
    fractions = int(plan.FractionGroupSequence[0].NumberOfFractionsPlanned)
    energy = float(plan.BeamSequence[0].ControlPointSequence[0].NominalBeamEnergy)
    return beams, iso, fractions, PlanParams(sad=sad, energy_mv=energy)


def rt_dose(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset],
            params: PlanParams | None = None) -> list[Dataset]:
    """The plan dose of the RT Plan in *source*, on the grid of the exam's CT (also in *source*)."""
    kind = "rt_dose"
    cts = _ct_volume(source)
    plan = _one(source, RT_PLAN_UID, "an RT Plan")
    beams, iso, fractions, read = _plan_beams_from(plan)
    p = params or read
    dose, first, spacing, orientation, offsets = dose_grid(cts, beams, iso, fractions, p)
    rule = ctx.rule(kind)
    ds = Dataset()
    # Table 116: Patient, General Study, RT Series, Frame of Reference, General Equipment, General
    # Image, Image Plane, Image Pixel, Multi-frame, RT Dose, SOP Common
    frame_uid = str(cts[0].FrameOfReferenceUID)
    common_modules(ds, ctx, series, frame_of_reference=False, series_module="rt")
    ds.Modality = "RTDOSE"
    m.frame_of_reference(ds, frame_uid)  # the CT's: the dose lies on its planes
    m.general_equipment(ds, ctx.equipment_for(kind))
    ds.InstanceNumber = rule.instance_number_start  # General Image (Table 126)
    ds.ContentDate = m.da(series.when)
    ds.ContentTime = m.tm(series.when)
    ds.ImagesInAcquisition = len(offsets)
    # Image Plane (C.7.6.2)
    ds.PixelSpacing = [m.ds_str(spacing[0]), m.ds_str(spacing[1])]
    ds.ImageOrientationPatient = [m.ds_str(v) for v in orientation]
    ds.ImagePositionPatient = [m.ds_str(v, 4) for v in first]
    ds.SliceThickness = m.ds_str(abs(offsets[1] - offsets[0]) if len(offsets) > 1 else float(cts[0].SliceThickness))
    # Image Pixel and RT Dose (C.8.8.3): BA 16 / BS 16 / HB 15 unsigned, scaled by Dose Grid Scaling
    top = float(dose.max())
    scaling = top / 65535.0 if top > 0 else 1.0
    stored = np.clip(np.rint(dose / scaling), 0, 65535).astype(np.uint16)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[1]), int(stored.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.NumberOfFrames = int(stored.shape[0])  # Multi-frame (C.7.6.6)
    ds.FrameIncrementPointer = 0x3004000C  # Grid Frame Offset Vector
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.GridFrameOffsetVector = [m.ds_str(float(v), 3) for v in offsets]
    ds.DoseGridScaling = f"{scaling:.6e}" if scaling < 1e-4 else m.ds_str(scaling, 10)
    ds.TissueHeterogeneityCorrection = "IMAGE"
    ref = Dataset()
    ref.ReferencedSOPClassUID = plan.SOPClassUID
    ref.ReferencedSOPInstanceUID = plan.SOPInstanceUID
    ds.ReferencedRTPlanSequence = DicomSequence([ref])
    ds.add_new("PixelData", "OW", stored.tobytes())
    return [finish_as(ds, ctx, kind, RT_DOSE_UID)]


BUILDERS = {
    "rt_plan": (RT_PLAN_UID, rt_plan),
    "rt_dose": (RT_DOSE_UID, rt_dose),
}
