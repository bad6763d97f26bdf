"""RT Image (A.17) and RT Structure Set (A.19) IODs, as a radiotherapy console writes them.

The RT Image is a portal (megavoltage) image of one treatment field with its beam
geometry (gantry, collimator and couch angles, SAD/SID, the beam limiting devices of the
exposure) and, for a cine acquisition, several frames with a Frame Time Vector. The RT
Structure Set references every image of the CT series it contours.
"""

from __future__ import annotations

__all__ = ["rt_image", "rt_structure_set", "ROI"]

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..protocols import PixelEncoding, RTImageParams
from . import ImageFrame, ObjectContext, SOP_CLASSES, common_modules, finish
from . import modules as m


def _ds8(v: float) -> str:
    """Decimal strings as COHERENCE writes them: 8 decimals ("1000.00000000"), <= 16 chars."""
    s = f"{v:.8f}"
    return s if len(s) <= 16 else m.ds_str(v)


def _bld(kind: str, distance: float, pairs: int, positions: list[float], boundaries: list[float] | None) -> Dataset:
    d = Dataset()
    d.RTBeamLimitingDeviceType = kind
    d.SourceToBeamLimitingDeviceDistance = _ds8(distance)
    d.NumberOfLeafJawPairs = pairs
    if boundaries is not None:
        d.LeafPositionBoundaries = [m.ds_str(b, 3) for b in boundaries]
    d.LeafJawPositions = [m.ds_str(p, 3) for p in positions]
    return d


def beam_limiting_devices(rt: RTImageParams) -> list[Dataset]:
    """MLC (or X jaws) shaped to the field, and the Y jaws, at the isocentre plane (mm)."""
    fx, fy = rt.field_size
    out = []
    for kind, distance in zip(rt.bld_types, rt.source_to_bld_distance):
        if kind.startswith("MLC"):
            n = rt.leaf_pairs
            width = 400.0 / n
            bounds = [-200.0 + k * width for k in range(n + 1)]
            half = fx / 2 if kind == "MLCX" else fy / 2
            other = fy / 2 if kind == "MLCX" else fx / 2
            centres = [(a + b) / 2 for a, b in zip(bounds, bounds[1:])]
            open_ = [abs(c) < other for c in centres]
            bank1 = [-half if o else -1.0 for o in open_]
            bank2 = [half if o else 1.0 for o in open_]
            out.append(_bld(kind, distance, n, bank1 + bank2, bounds))
        else:
            half = (fx if kind in ("X", "ASYMX") else fy) / 2
            out.append(_bld(kind, distance, 1, [-half, half], None))
    return out


def rt_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
             rt: RTImageParams, *, receptor_pixel_spacing: tuple[float, float],
             comments: str | None = None) -> Dataset:
    """One RT Image instance holding *frames* (portal image or cine)."""
    rule = ctx.rule("rt_image")
    image_type = series.image_type or rule.image_type or ("ORIGINAL", "PRIMARY", "PORTAL")
    f0 = frames[0]
    ds = Dataset()
    common_modules(ds, ctx, series, series_module="rt")
    m.general_equipment(ds, ctx.equipment_for("rt_image"))
    m.general_acquisition(ds, 1, f0.acquired, datetime_attr=True)
    m.general_image(ds, instance_number=rule.instance_number_start, content=f0.acquired, image_type=image_type,
                    comments=comments, patient_orientation=())  # 2C: no Image Orientation in RT Image
    stored = f0.stored if len(frames) == 1 else np.stack([f.stored for f in frames])
    m.image_pixel(ds, stored, enc, smallest_largest=False)
    if len(frames) > 1:  # Multi-frame and Cine modules
        ds.NumberOfFrames = len(frames)
        ds.FrameIncrementPointer = 0x00181065  # Frame Time Vector
        ds.FrameTimeVector = [m.ds_str(f.extra.get("frame_offset_ms", 0.0), 1) for f in frames]
    # RT Image module (C.8.8.2)
    rows, cols = f0.stored.shape
    ds.RTImageLabel = rt.label
    ds.ConversionType = "DI"
    ds.ReportedValuesOrigin = "ACTUAL"
    ds.RTImagePlane = "NORMAL"
    ds.XRayImageReceptorTranslation = [_ds8(0.0), _ds8(0.0), _ds8(rt.sad - rt.sid)]
    ds.XRayImageReceptorAngle = _ds8(0.0)
    ds.ImagePlanePixelSpacing = [_ds8(receptor_pixel_spacing[0]), _ds8(receptor_pixel_spacing[1])]
    ds.RTImagePosition = [_ds8(-(cols - 1) * receptor_pixel_spacing[1] / 2),
                          _ds8((rows - 1) * receptor_pixel_spacing[0] / 2)]
    ds.RadiationMachineName = rt.machine_name
    ds.PrimaryDosimeterUnit = "MU"
    ds.RadiationMachineSAD = _ds8(rt.sad)
    ds.RTImageSID = _ds8(rt.sid)
    ds.SourceToReferenceObjectDistance = _ds8(rt.source_to_reference_object_distance)
    exposures = []
    for i, f in enumerate(frames):
        e = Dataset()
        if len(frames) > 1:
            e.ReferencedFrameNumber = i + 1
        e.MetersetExposure = m.ds_str(rt.meterset / len(frames), 4)
        e.BeamLimitingDeviceSequence = DicomSequence(beam_limiting_devices(rt))
        e.NumberOfBlocks = 0
        exposures.append(e)
    ds.ExposureSequence = DicomSequence(exposures)
    ds.GantryAngle = _ds8(rt.gantry_angle)
    ds.BeamLimitingDeviceAngle = _ds8(rt.collimator_angle)
    ds.PatientSupportAngle = _ds8(rt.couch_angle)
    ds.TableTopEccentricAxisDistance = _ds8(rt.table_top_eccentric_axis_distance)
    ds.TableTopEccentricAngle = _ds8(0.0)
    ds.TableTopVerticalPosition = _ds8(0.0)
    ds.TableTopLongitudinalPosition = _ds8(0.0)
    ds.TableTopLateralPosition = _ds8(0.0)
    ds.IsocenterPosition = [m.ds_str(v, 3) for v in rt.isocentre]
    if series.patient_position:
        ds.PatientPosition = series.patient_position
    if f0.windows:
        m.voi_lut(ds, f0.windows)
    return finish(ds, ctx, "rt_image", ctx.instance_uid("rt_image"))


@dataclass
class ROI:
    """One structure: its contours (``(n, 3)`` point arrays in patient coordinates, each with
    the SOP Instance UID of the image it lies on, or None for a point)."""

    number: int
    name: str
    interpreted_type: str
    color: tuple[int, int, int]
    algorithm: str
    contours: list[tuple[np.ndarray, str | None]]
    relative_electron_density: float | None = None


def rt_structure_set(ctx: ObjectContext, series: m.SeriesInfo, *, label: str, name: str | None,
                     image_series_uid: str, images: list[tuple[str, str]], frame_of_reference_uid: str,
                     rois: list[ROI]) -> Dataset:
    """RT Structure Set IOD: Structure Set, ROI Contour and RT ROI Observations modules."""
    rule = ctx.rule("rtstruct")
    ds = Dataset()
    common_modules(ds, ctx, series, series_module="rt")  # Frame of Reference: M since 2021 (CP-2045)
    m.general_equipment(ds, ctx.equipment_for("rtstruct"))
    ds.InstanceNumber = rule.instance_number_start
    # Structure Set module (C.8.8.5)
    ds.StructureSetLabel = label
    if name:
        ds.StructureSetName = name
    ds.StructureSetDate = m.da(ctx.created)
    ds.StructureSetTime = m.tm(ctx.created)
    contour_images = []
    for cls, uid in images:
        r = Dataset()
        r.ReferencedSOPClassUID = cls
        r.ReferencedSOPInstanceUID = uid
        contour_images.append(r)
    rseries = Dataset()
    rseries.SeriesInstanceUID = image_series_uid
    rseries.ContourImageSequence = DicomSequence(contour_images)
    rstudy = Dataset()
    rstudy.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (as PS3.3 C.8.8.5 asks)
    rstudy.ReferencedSOPInstanceUID = ctx.study.uid
    rstudy.RTReferencedSeriesSequence = DicomSequence([rseries])
    rfor = Dataset()
    rfor.FrameOfReferenceUID = frame_of_reference_uid
    rfor.RTReferencedStudySequence = DicomSequence([rstudy])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([rfor])
    ss_rois, contours, observations = [], [], []
    image_class = {uid: cls for cls, uid in images}
    for roi in rois:
        s = Dataset()
        s.ROINumber = roi.number
        s.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        s.ROIName = roi.name
        s.ROIGenerationAlgorithm = roi.algorithm
        ss_rois.append(s)
        c = Dataset()
        c.ROIDisplayColor = list(roi.color)
        items = []
        for k, (points, image_uid) in enumerate(roi.contours, start=1):
            it = Dataset()
            it.ContourNumber = k
            if image_uid:
                ref = Dataset()
                ref.ReferencedSOPClassUID = image_class.get(image_uid, SOP_CLASSES["ct_image"])
                ref.ReferencedSOPInstanceUID = image_uid
                it.ContourImageSequence = DicomSequence([ref])
            it.ContourGeometricType = "POINT" if len(points) == 1 else "CLOSED_PLANAR"
            it.NumberOfContourPoints = len(points)
            it.ContourData = [m.ds_str(v, 2) for v in np.asarray(points).ravel()]
            items.append(it)
        c.ContourSequence = DicomSequence(items)
        c.ReferencedROINumber = roi.number
        contours.append(c)
        o = Dataset()
        o.ObservationNumber = roi.number
        o.ReferencedROINumber = roi.number
        o.ROIObservationLabel = roi.name[:16]
        o.RTROIInterpretedType = roi.interpreted_type
        o.ROIInterpreter = ""
        if roi.relative_electron_density is not None:
            p = Dataset()
            p.ROIPhysicalProperty = "REL_ELEC_DENSITY"
            p.ROIPhysicalPropertyValue = m.ds_str(roi.relative_electron_density, 3)
            o.ROIPhysicalPropertiesSequence = DicomSequence([p])
        observations.append(o)
    ds.StructureSetROISequence = DicomSequence(ss_rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    return finish(ds, ctx, "rtstruct", ctx.instance_uid("rtstruct"))
