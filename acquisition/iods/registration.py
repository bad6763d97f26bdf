"""Spatial Registration (A.39) and Grayscale Softcopy Presentation State (A.33.1).

The registration relates two frames of reference of an exam: the fixed series' and the
one of a repositioned rescan (the engine moves the phantom by a known rigid transform, so
the matrix written is the true one). The presentation state sets window, zoom and a text
and circle annotation on one image of a series.
"""

from __future__ import annotations

__all__ = ["spatial_registration", "gsps", "rigid_matrix", "BUILDERS"]

import math
from typing import Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from . import ObjectContext, common_modules, finish
from . import modules as m
from .derived_images import Source, _item, _references, _seq


def rigid_matrix(rotation_deg: tuple[float, float, float], translation_mm: tuple[float, float, float]) -> np.ndarray:
    """A 4x4 rigid transform: rotations about x, then y, then z (degrees), then a translation."""
    ax, ay, az = (math.radians(a) for a in rotation_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    out = np.eye(4)
    out[:3, :3] = rz @ ry @ rx
    out[:3, 3] = translation_mm
    return out


def _registration_item(for_uid: str, src: Source, matrix: np.ndarray, code: tuple[str, str, str]) -> Dataset:
    item = _item(FrameOfReferenceUID=for_uid)
    item.ReferencedImageSequence = DicomSequence(m.image_references(src.frame_refs()))
    mat = _item(FrameOfReferenceTransformationMatrixType="RIGID",
                FrameOfReferenceTransformationMatrix=[m.ds_str(float(v), 8) for v in matrix.ravel()])
    reg = Dataset()
    reg.MatrixSequence = _seq(mat)
    reg.RegistrationTypeCodeSequence = _seq(m.code(*code))
    item.MatrixRegistrationSequence = _seq(reg)
    return item


def spatial_registration(ctx: ObjectContext, series: m.SeriesInfo, src: Source, moving: Source,
                         matrix: np.ndarray) -> list[Dataset]:
    """Spatial Registration IOD (A.39) with two Registration Sequence items (syngo CT VA50A
    §9.1.7 Tables 119-122): the registered frame of reference (identity, "Frame of Reference
    Identity") and the moving one, whose *matrix* maps its coordinates into the registered
    frame of reference."""
    kind = "spatial_registration"
    rule = ctx.rule(kind)
    ds = Dataset()
    common_modules(ds, ctx, series, patient_position=False)  # FoR: the registered series' (Table 119)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    # Content Label <YYYYMMDDHHMM>_REG, Content Creator's Name (syngo CT VA50A Table 120)
    m.content_identification(ds, number=rule.instance_number_start, label=f"{ctx.created:%Y%m%d%H%M}_REG",
                             description="AUTO", creator=series.operator)
    ds.ContentDate = m.da(ctx.created)
    ds.ContentTime = m.tm(ctx.created)
    ds.RegistrationSequence = DicomSequence([
        _registration_item(src.frame_of_reference_uid, src, np.eye(4),
                           ("125021", "DCM", "Frame of Reference Identity")),
        _registration_item(moving.frame_of_reference_uid, moving, np.asarray(matrix, float),
                           ("125025", "DCM", "Visual Alignment")),
    ])
    _references(ds, ctx, src, moving)
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


def _annotation_target(src: Source) -> tuple[int, tuple[float, float], float, str]:
    """(plane index, (column, row) centre, radius in pixels, label) of the annotated finding:
    the lesion where the planes cross it, else the middle plane's centre."""
    if "lesion" in src.tissues:
        lesion = src.tissues.index("lesion")
        best, area = None, 0
        for i, p in enumerate(src.planes):
            mask = src.labels(p) == lesion
            if mask.sum() > area:
                best, area = (i, mask), int(mask.sum())
        if best is not None:
            i, mask = best
            r, c = np.argwhere(mask).mean(axis=0)
            return i, (float(c) + 1.0, float(r) + 1.0), max(3.0, math.sqrt(area / math.pi) * 1.5), "Lesion"
    i = len(src.planes) // 2
    p = src.planes[i]
    return i, (p.columns / 2.0, p.rows / 2.0), p.columns / 8.0, src.description[:64] or "Region"


def gsps(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Grayscale Softcopy Presentation State IOD (A.33.1; OASIS §13.5): the source series'
    window, a 2x zoom on the finding, a text label and a circle around it."""
    kind = "gsps"
    rule = ctx.rule(kind)
    ds = Dataset()
    common_modules(ds, ctx, series, frame_of_reference=False, patient_position=False)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    # Presentation State Identification (C.11.10)
    m.content_identification(ds, number=rule.instance_number_start, label="ZOOM_ANNOTATION",
                             description=f"Window, zoom and annotation on {src.description}"[:64],
                             creator=series.operator)
    ds.PresentationCreationDate = m.da(ctx.created)
    ds.PresentationCreationTime = m.tm(ctx.created)
    refs = src.frame_refs()
    # Presentation State Relationship (C.11.11): every image of the series
    rel = _item(SeriesInstanceUID=src.series_uid)
    rel.ReferencedImageSequence = DicomSequence(m.image_references(refs))
    ds.ReferencedSeriesSequence = _seq(rel)
    index, (cx, cy), radius, label = _annotation_target(src)
    plane = src.planes[index]
    target = DicomSequence(m.image_references([refs[index]]))
    # Displayed Area (C.10.4): half the field of view around the finding, magnified 2x
    half_c, half_r = plane.columns / 4.0, plane.rows / 4.0
    tl = [int(max(1, min(plane.columns - 2 * half_c + 1, round(cx - half_c)))),
          int(max(1, min(plane.rows - 2 * half_r + 1, round(cy - half_r))))]
    area = _item(PixelOriginInterpretation="FRAME", DisplayedAreaTopLeftHandCorner=tl,
                 DisplayedAreaBottomRightHandCorner=[int(tl[0] + 2 * half_c - 1), int(tl[1] + 2 * half_r - 1)],
                 PresentationSizeMode="MAGNIFY", PresentationPixelSpacing=[m.ds_str(v) for v in plane.pixel_spacing],
                 PresentationPixelMagnificationRatio=2.0)
    ds.DisplayedAreaSelectionSequence = _seq(area)
    # Graphic Annotation (C.10.5) on layer ANNOTATION (C.10.7)
    text = _item(UnformattedTextValue=label, AnchorPointAnnotationUnits="PIXEL",
                 AnchorPoint=[float(cx), float(max(1.0, cy - radius - 2.0))], AnchorPointVisibility="N",
                 BoundingBoxAnnotationUnits="PIXEL",
                 BoundingBoxTopLeftHandCorner=[float(max(1.0, cx - radius)), float(max(1.0, cy - radius - 12.0))],
                 BoundingBoxBottomRightHandCorner=[float(cx + radius), float(max(2.0, cy - radius - 2.0))],
                 BoundingBoxTextHorizontalJustification="CENTER")
    circle = _item(GraphicAnnotationUnits="PIXEL", GraphicDimensions=2, NumberOfGraphicPoints=2,
                   GraphicData=[float(cx), float(cy), float(cx + radius), float(cy)], GraphicType="CIRCLE",
                   GraphicFilled="N")
    ann = _item(GraphicLayer="ANNOTATION")
    ann.ReferencedImageSequence = target
    ann.TextObjectSequence = _seq(text)
    ann.GraphicObjectSequence = _seq(circle)
    ds.GraphicAnnotationSequence = _seq(ann)
    ds.GraphicLayerSequence = _seq(_item(GraphicLayer="ANNOTATION", GraphicLayerOrder=1,
                                         GraphicLayerRecommendedDisplayGrayscaleValue=0xFFFF,
                                         GraphicLayerDescription="Findings"))
    # Spatial Transformation (C.10.6)
    ds.ImageRotation = 0
    ds.ImageHorizontalFlip = "N"
    # Softcopy VOI LUT (C.11.8): a window on the annotated image's tissue (2nd to 98th
    # percentile of its stored values inside the body), narrower than the acquisition's
    stored = (src.values[index] - src.value_intercept) / src.value_slope
    body = stored[src.labels(plane) > 0]
    lo, hi = (float(v) for v in np.percentile(body if body.size else stored, [2.0, 98.0]))
    voi = _item(WindowCenter=m.ds_str((lo + hi) / 2.0, 2), WindowWidth=m.ds_str(max(hi - lo, 2.0), 2),
                WindowCenterWidthExplanation="FINDINGS")
    voi.ReferencedImageSequence = DicomSequence(m.image_references(refs))
    ds.SoftcopyVOILUTSequence = _seq(voi)
    # Softcopy Presentation LUT (C.11.6)
    ds.PresentationLUTShape = "IDENTITY"
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


# kind -> (SOP Class UID, builder, modality of the new series)
BUILDERS: dict[str, tuple[str, Callable, str]] = {
    "gsps": ("1.2.840.10008.5.1.4.1.1.11.1", gsps, "PR"),
    "spatial_registration": ("1.2.840.10008.5.1.4.1.1.66.1", spatial_registration, "REG"),
}
