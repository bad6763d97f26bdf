"""Document-like objects a console creates from an exam's images.

- Key Object Selection Document (A.35.4) with TID 2010: a document title from CID 7010
  ("Of Interest", "For Teaching" ...), observer context, a description and one IMAGE or
  COMPOSITE item per selected instance, all listed in the Current Requested Procedure
  Evidence Sequence (OASIS Velocity §13.6);
- Enhanced SR (A.35.2) and Comprehensive SR (A.35.3) measurement reports following
  TID 1500 with one TID 1410 planar ROI measurement group per measured series: an image
  region (SCOORD CIRCLE selected from the image) with its area and the mean, standard
  deviation (and for PET the maximum) of the region's values: Hounsfield units for CT,
  signal intensity for MR, SUVbw for PET (syngo MR XA11B §9.1.5 "evidence documents";
  syngo MI.PET/CT §5.1.2.2 "Comprehensive Structured Reports"). Only by-value
  relationships are used, so the same tree is valid in both classes;
- Encapsulated PDF (A.45.1): a one-page exam report written by a minimal PDF 1.4 writer
  (standard Helvetica fonts, one content stream, a cross-reference table);
- CSA Non-Image (Siemens private 1.3.12.2.1107.5.9.1, syngo MI.PET/CT §5.2.4, Tables
  87-90): General Series, General Equipment, the CSA Non-Image module and the private
  ``SIEMENS CSA NON-IMAGE`` elements: CSA Data Type (0029,xx08), Version (0029,xx09),
  Info (0029,xx10, a CSA2 header) and CSA Data (7FE1,xx10, the byte stream).

Every builder has the signature ``build(ctx, series, source) -> list[Dataset]`` where
*source* holds the already-built datasets of the exam the new object refers to;
:data:`BUILDERS` maps each object kind to ``(SOP Class UID, builder)``.
"""

from __future__ import annotations

__all__ = [
    "BUILDERS",
    "finish_as",
    "key_object_selection",
    "enhanced_sr",
    "comprehensive_sr",
    "encapsulated_pdf",
    "csa_non_image",
    "pdf_report",
    "csa2_header",
    "read_csa2_header",
    "evidence_sequence",
]

import math
import struct
from datetime import datetime
from typing import Callable, Iterable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from appliance.errors import UsageError

from . import ObjectContext
from . import modules as m
from . import sr_content as sr
from .enhanced import anatomic_region

KOS_UID = "1.2.840.10008.5.1.4.1.1.88.59"
ENHANCED_SR_UID = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR_UID = "1.2.840.10008.5.1.4.1.1.88.33"
ENCAPSULATED_PDF_UID = "1.2.840.10008.5.1.4.1.1.104.1"
CSA_NON_IMAGE_UID = "1.3.12.2.1107.5.9.1"


# --- shared ------------------------------------------------------------------------------------


def finish_as(ds: Dataset, ctx: ObjectContext, kind: str, sop_class_uid: str,
              sop_instance_uid: str | None = None) -> Dataset:
    """SOP Common, the product's fixed values and private blocks for *kind*, File Meta
    (as :func:`acquisition.iods.finish`, with the SOP Class UID given)."""
    m.sop_common(ds, sop_class_uid, sop_instance_uid or ctx.instance_uid(kind), charset=ctx.charset,
                 created=ctx.created, timezone_offset=ctx.timezone_offset)
    m.fixed_values(ds, dict(ctx.rule(kind).fixed))
    m.private_blocks(ds, ctx.private, kind)
    m.coerce_text(ds, ctx.charset)
    m.file_meta(ds, implementation_class_uid=ctx.implementation_class_uid,
                implementation_version_name=ctx.implementation_version_name)
    return ds


def _patient_study(ds: Dataset, ctx: ObjectContext, when: datetime) -> None:
    m.patient(ds, ctx.patient)
    m.general_study(ds, ctx.study)
    if ctx.study.patient_study_module:
        m.patient_study(ds, ctx.patient, when)


def _document_series(ds: Dataset, series: m.SeriesInfo, study: m.StudyInfo, modality: str) -> None:
    """SR Document Series (C.17.1), Key Object Document Series (C.17.6.1) and
    Encapsulated Document Series (C.24.1): Referenced PPS Sequence is type 2 in the first
    two, type 3 (one item or absent) in the last."""
    ds.Modality = modality
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = series.number
    ds.SeriesDate = m.da(series.when)
    ds.SeriesTime = m.tm(series.when)
    if series.description:
        ds.SeriesDescription = series.description
    refs = []
    if study.referenced_pps_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        ref.ReferencedSOPInstanceUID = study.referenced_pps_uid
        refs.append(ref)
    if refs or modality in ("SR", "KO"):
        ds.ReferencedPerformedProcedureStepSequence = DicomSequence(refs)


def _referenced_request(ctx: ObjectContext) -> DicomSequence | None:
    """Referenced Request Sequence (C.17.2 / C.17.6.2), from the worklist request."""
    if not ctx.study.request_attributes:
        return None
    src = ctx.study.request_attributes[0]
    req = Dataset()
    req.StudyInstanceUID = ctx.study.uid
    req.ReferencedStudySequence = DicomSequence([])
    req.AccessionNumber = ctx.study.accession_number
    req.RequestedProcedureID = src.get("RequestedProcedureID", "")
    req.RequestedProcedureDescription = src.get("RequestedProcedureDescription", "")
    req.RequestedProcedureCodeSequence = DicomSequence([])
    req.PlacerOrderNumberImagingServiceRequest = ""
    req.FillerOrderNumberImagingServiceRequest = ""
    return DicomSequence([req])


def evidence_sequence(datasets: Iterable[Dataset]) -> DicomSequence:
    """Hierarchical SOP Instance Reference Macro (C.17.2.1): study, series, instances."""
    tree: dict[str, dict[str, list[Dataset]]] = {}
    for d in datasets:
        tree.setdefault(str(d.StudyInstanceUID), {}).setdefault(str(d.SeriesInstanceUID), []).append(d)
    studies = []
    for study_uid, series in tree.items():
        st = Dataset()
        st.StudyInstanceUID = study_uid
        items = []
        for series_uid, members in series.items():
            se = Dataset()
            se.SeriesInstanceUID = series_uid
            se.ReferencedSOPSequence = DicomSequence([_sop_ref(d) for d in members])
            items.append(se)
        st.ReferencedSeriesSequence = DicomSequence(items)
        studies.append(st)
    return DicomSequence(studies)


def _sop_ref(d: Dataset, frame: int | None = None) -> Dataset:
    r = Dataset()
    r.ReferencedSOPClassUID = d.SOPClassUID
    r.ReferencedSOPInstanceUID = d.SOPInstanceUID
    if frame is not None:
        r.ReferencedFrameNumber = frame
    return r


def _equipment(ds: Dataset, ctx: ObjectContext, kind: str) -> None:
    m.general_equipment(ds, ctx.equipment_for(kind))


# --- SR content items (PS3.3 C.17.3) ------------------------------------------------------------


_item, _container, _text, _code, _uidref, _pname = sr.item, sr.container, sr.text, sr.code, sr.uidref, sr.pname


def _reference(rel, concept, d: Dataset, frame: int | None = None) -> Dataset:
    """IMAGE for objects with pixel data, else COMPOSITE."""
    it = _item(rel, "IMAGE" if "PixelData" in d else "COMPOSITE", concept)
    it.ReferencedSOPSequence = DicomSequence([_sop_ref(d, frame)])
    return it


def _num(rel, concept, value: float, unit: tuple[str, str], modifiers: list[Dataset] = ()) -> Dataset:  # type: ignore[no-untyped-def]
    return sr.num(rel, concept, value, unit, modifiers, digits=4 if abs(value) < 1e6 else 0)


def _root(ds: Dataset, root: Dataset) -> None:
    for kw in ("ValueType", "ConceptNameCodeSequence", "ContinuityOfContent", "ContentTemplateSequence",
               "ContentSequence"):
        if kw in root:
            setattr(ds, kw, root[kw].value)


def _observer(ctx: ObjectContext, kind: str, person: str | None) -> list[Dataset]:
    """Observer Context (TID 1002): the operator as person observer, else the device (TID 1004)."""
    if person:
        return [_code("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121006", "DCM", "Person")),
                _pname("HAS OBS CONTEXT", ("121008", "DCM", "Person Observer Name"), person)]
    eq = ctx.equipment_for(kind)
    return [
        _code("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device")),
        _uidref("HAS OBS CONTEXT", ("121012", "DCM", "Device Observer UID"), ctx.uids.new("device")),
        _text("HAS OBS CONTEXT", ("121013", "DCM", "Device Observer Name"), eq.station_name or eq.model),
        _text("HAS OBS CONTEXT", ("121014", "DCM", "Device Observer Manufacturer"), eq.manufacturer),
        _text("HAS OBS CONTEXT", ("121015", "DCM", "Device Observer Model Name"), eq.model),
        _text("HAS OBS CONTEXT", ("121016", "DCM", "Device Observer Serial Number"), eq.device_serial_number),
    ]


def _require(source: list[Dataset], what: str) -> None:
    if not source:
        raise UsageError(f"{what} needs the exam's instances to refer to, and none were given",
                         "build it after the image series of the exam")


# --- Key Object Selection (TID 2010) ------------------------------------------------------------

# CID 7010 Key Object Selection Document Title; a series description naming one selects it
KOS_TITLES: dict[str, tuple[str, str, str]] = {
    "of interest": ("113000", "DCM", "Of Interest"),
    "for referring provider": ("113002", "DCM", "For Referring Provider"),
    "for surgery": ("113003", "DCM", "For Surgery"),
    "for teaching": ("113004", "DCM", "For Teaching"),
    "for conference": ("113005", "DCM", "For Conference"),
    "for therapy": ("113006", "DCM", "For Therapy"),
    "quality issue": ("113010", "DCM", "Quality Issue"),
}


def kos_title(description: str) -> tuple[str, str, str]:
    """The document title a series description names (``"For Teaching"``), else "Of Interest"."""
    text = (description or "").lower()
    return next((code for key, code in KOS_TITLES.items() if key in text), KOS_TITLES["of interest"])


def key_object_selection(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset]) -> list[Dataset]:
    """A Key Object Selection Document selecting every instance of *source* (§13.6)."""
    kind = "kos"
    _require(source, "a Key Object Selection Document")
    rule = ctx.rule(kind)
    ds = Dataset()
    _patient_study(ds, ctx, series.when)
    _document_series(ds, series, ctx.study, "KO")
    _equipment(ds, ctx, kind)
    # Key Object Document module (C.17.6.2)
    ds.InstanceNumber = rule.instance_number_start
    ds.ContentDate = m.da(series.when)
    ds.ContentTime = m.tm(series.when)
    request = _referenced_request(ctx)
    if request is not None:
        ds.ReferencedRequestSequence = request
    ds.CurrentRequestedProcedureEvidenceSequence = evidence_sequence(source)
    # SR Document Content module (C.17.3), TID 2010
    title = kos_title(series.description)
    described = sorted({str(d.get("SeriesDescription", "")) for d in source} - {""})
    description = f"{len(source)} instance(s) selected {title[2].lower()}" + (
        f" from {', '.join(described)}" if described else "")
    children = [*_observer(ctx, kind, series.operator or None),
                _text("CONTAINS", ("113012", "DCM", "Key Object Description"), description[:1024]),
                *(_reference("CONTAINS", None, d) for d in source)]
    _root(ds, _container(None, title, children, template="2010"))
    return [finish_as(ds, ctx, kind, KOS_UID)]


# --- measurement reports (TID 1500 / TID 1410) --------------------------------------------------


class _Region:
    """One 2-D image (a single-frame instance or one frame) with its geometry and values."""

    def __init__(self, ds: Dataset, values: np.ndarray, position, orientation, spacing, frame: int | None):
        self.ds, self.values, self.frame = ds, values, frame
        self.position = np.asarray([float(v) for v in position])
        o = [float(v) for v in orientation]
        self.row_cosine, self.column_cosine = np.asarray(o[:3]), np.asarray(o[3:])
        self.spacing = (float(spacing[0]), float(spacing[1]))  # (row spacing, column spacing)

    def pixel_of(self, point: np.ndarray) -> tuple[float, float]:
        """(row, column) of a patient-coordinate point projected onto the image plane."""
        d = np.asarray(point) - self.position
        return float(d @ self.column_cosine / self.spacing[0]), float(d @ self.row_cosine / self.spacing[1])

    def point_of(self, row: float, column: float) -> np.ndarray:
        return self.position + column * self.spacing[1] * self.row_cosine + row * self.spacing[0] * self.column_cosine

    @property
    def normal_position(self) -> float:
        return float(self.position @ np.cross(self.row_cosine, self.column_cosine))


def _attr(item: Dataset, shared: Dataset | None, seq: str) -> Dataset | None:
    for holder in (item, shared):
        if holder is not None and seq in holder:
            return holder[seq][0]
    return None


def _regions(d: Dataset, frames: Iterable[int] | None = None) -> list[_Region]:
    """The 2-D images of an instance (every frame of a multi-frame one, or *frames*, 0-based)."""
    pixels = d.pixel_array.astype(np.float64)
    if "PerFrameFunctionalGroupsSequence" in d:
        shared = d.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in d else None
        out = []
        per_frame = d.PerFrameFunctionalGroupsSequence
        for k in (range(len(per_frame)) if frames is None else frames):
            item = per_frame[k]
            pos = _attr(item, shared, "PlanePositionSequence")
            ori = _attr(item, shared, "PlaneOrientationSequence")
            meas = _attr(item, shared, "PixelMeasuresSequence")
            pvt = _attr(item, shared, "PixelValueTransformationSequence")
            values = pixels[k] if pixels.ndim == 3 else pixels
            if pvt is not None:
                values = values * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
            out.append(_Region(d, values, pos.ImagePositionPatient, ori.ImageOrientationPatient, meas.PixelSpacing,
                               k + 1))
        return out
    values = pixels * float(d.get("RescaleSlope", 1.0)) + float(d.get("RescaleIntercept", 0.0))
    return [_Region(d, values, d.ImagePositionPatient, d.ImageOrientationPatient, d.PixelSpacing, None)]


def _measurable(d: Dataset) -> bool:
    image_type = [str(v).upper() for v in d.get("ImageType", [])]
    has_plane = "ImagePositionPatient" in d or "PerFrameFunctionalGroupsSequence" in d
    return ("PixelData" in d and has_plane and d.get("Modality") in ("CT", "MR", "PT")
            and "LOCALIZER" not in image_type[2:3])


def _by_series(source: list[Dataset]) -> list[list[Dataset]]:
    groups: dict[str, list[Dataset]] = {}
    for d in source:
        if _measurable(d):
            groups.setdefault(str(d.SeriesInstanceUID), []).append(d)
    return [sorted(g, key=lambda d: int(d.get("InstanceNumber", 0))) for g in groups.values()]


def _suv_factor(d: Dataset) -> float:
    """SUVbw per Bq/ml (PET Units BQML, Decay Correction START): weight [g] / dose decayed to
    the series start [Bq]."""
    rp = d.RadiopharmaceuticalInformationSequence[0]
    dose = float(rp.RadionuclideTotalDose)
    half_life = float(rp.RadionuclideHalfLife)
    injection = datetime.strptime(str(rp.RadiopharmaceuticalStartDateTime).split(".")[0][:14], "%Y%m%d%H%M%S")
    start = datetime.strptime(str(d.SeriesDate) + str(d.SeriesTime).split(".")[0][:6], "%Y%m%d%H%M%S")
    decayed = dose * math.exp(-math.log(2.0) * (start - injection).total_seconds() / half_life)
    weight = float(d.get("PatientWeight") or 75.0)
    return weight * 1000.0 / decayed


def _circle(region: _Region, centre: tuple[float, float], radius_mm: float) -> np.ndarray:
    rows, cols = region.values.shape
    r, c = np.mgrid[0:rows, 0:cols]
    # pixel centres are at (index + 0.5) in the image coordinate system of SCOORD (C.18.6.1.2)
    return (((r + 0.5 - centre[0]) * region.spacing[0]) ** 2 + ((c + 0.5 - centre[1]) * region.spacing[1]) ** 2
            <= radius_mm ** 2)


_PROCEDURES = {
    "CT": ("77477000", "SCT", "Computed tomography"),
    "MR": ("113091000", "SCT", "Magnetic resonance imaging"),
    "PT": ("443271005", "SCT", "PET/CT FDG imaging of whole body"),
}
_MEAN = ("373098007", "SCT", "Mean")
_SD = ("386136009", "SCT", "Standard Deviation")
_MAX = ("56851009", "SCT", "Maximum")
_DERIVATION = ("121401", "DCM", "Derivation")


def _measurement_group(ctx: ObjectContext, number: int, series: list[Dataset], hot_point: np.ndarray | None
                       ) -> tuple[Dataset, Dataset, np.ndarray | None]:
    """TID 1410 Planar ROI Measurements for one series; returns (group, measured instance,
    the ROI centre in patient coordinates)."""
    first = series[0]
    modality = str(first.Modality)
    if modality == "PT":  # the hottest voxel of the series, a 10 mm circle around it
        best = None
        for d in series:
            for reg in _regions(d):
                k = int(np.argmax(reg.values))
                if best is None or reg.values.flat[k] > best[0]:
                    best = (float(reg.values.flat[k]), reg, np.unravel_index(k, reg.values.shape))
        _, region, (row, col) = best
        centre = (row + 0.5, col + 0.5)
        radius = max(10.0, 1.5 * max(region.spacing))
    else:
        if "PerFrameFunctionalGroupsSequence" in first:
            n = len(first.PerFrameFunctionalGroupsSequence)
            candidates = _regions(first, range(n))
        else:
            candidates = [r for d in series for r in _regions(d)]
        if hot_point is not None:  # the slice through the PET hot spot
            region = min(candidates, key=lambda r: _distance(r, hot_point))
            centre = region.pixel_of(hot_point)
        else:
            region = candidates[len(candidates) // 2]
            rows, cols = region.values.shape
            centre = (rows / 2.0, cols / 2.0)
        rows, cols = region.values.shape
        radius = max(0.1 * min(rows * region.spacing[0], cols * region.spacing[1]), 2.0 * max(region.spacing))
    mask = _circle(region, centre, radius)
    if not mask.any():
        mask[int(min(max(centre[0], 0), region.values.shape[0] - 1)),
             int(min(max(centre[1], 0), region.values.shape[1] - 1))] = True
    inside = region.values[mask]
    area = float(mask.sum()) * region.spacing[0] * region.spacing[1]
    if modality == "PT":
        inside = inside * _suv_factor(region.ds)
        quantity, unit = ("126401", "DCM", "SUVbw"), ("g/ml{SUVbw}", "Standardized Uptake Value body weight")
        method = [_code("HAS CONCEPT MOD", ("370129005", "SCT", "Measurement Method"),
                        ("126410", "DCM", "SUV body weight calculation method"))]
    elif modality == "CT":
        quantity, unit, method = ("112031", "DCM", "Attenuation Coefficient"), ("[hnsf'U]", "Hounsfield unit"), []
    else:
        quantity, unit, method = ("110852", "DCM", "MR signal intensity"), ("1", "no units"), []
    region_item = _item("CONTAINS", "SCOORD", ("111030", "DCM", "Image Region"))
    radius_px = radius / region.spacing[1]
    region_item.GraphicType = "CIRCLE"
    region_item.GraphicData = [float(centre[1]), float(centre[0]), float(centre[1] + radius_px), float(centre[0])]
    region_item.ContentSequence = DicomSequence([_reference("SELECTED FROM", None, region.ds, region.frame)])
    measurements = [_num("CONTAINS", ("42798000", "SCT", "Area"), area, ("mm2", "square millimeter"))]
    stats = [(_MEAN, float(inside.mean())), (_SD, float(inside.std()))]
    if modality == "PT":
        stats.insert(0, (_MAX, float(inside.max())))
    for derivation, value in stats:
        measurements.append(_num("CONTAINS", quantity, value, unit,
                                 [_code("HAS CONCEPT MOD", _DERIVATION, derivation), *method]))
    children = [
        _text("HAS OBS CONTEXT", ("112039", "DCM", "Tracking Identifier"),
              f"{first.get('SeriesDescription', modality)} ROI {number}"[:64]),
        _uidref("HAS OBS CONTEXT", ("112040", "DCM", "Tracking Unique Identifier"), ctx.uids.new("tracking")),
    ]
    if modality == "PT":
        children.append(_code("CONTAINS", ("121071", "DCM", "Finding"), ("52988006", "SCT", "Lesion")))
    children.append(_code("HAS CONCEPT MOD", ("363698007", "SCT", "Finding Site"),
                          anatomic_region(str(first.get("BodyPartExamined", "")))))
    children += [region_item, *measurements]
    group = _container("CONTAINS", ("125007", "DCM", "Measurement Group"), children, template="1410")
    point = region.point_of(centre[0] - 0.5, centre[1] - 0.5)
    return group, region.ds, point


def _distance(region: _Region, point: np.ndarray) -> float:
    n = np.cross(region.row_cosine, region.column_cosine)
    return abs(float((np.asarray(point) - region.position) @ n))


def _measurement_report(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset], kind: str,
                        sop_class_uid: str) -> list[Dataset]:
    groups_in = _by_series(source)
    if not groups_in:
        raise UsageError(f"a measurement report ({kind}) needs CT, MR or PET images with a plane geometry, "
                         "and the exam has none", "build it after an image series of the exam")
    rule = ctx.rule(kind)
    ds = Dataset()
    _patient_study(ds, ctx, series.when)
    _document_series(ds, series, ctx.study, "SR")
    _equipment(ds, ctx, kind)
    # SR Document General module (C.17.2)
    ds.InstanceNumber = rule.instance_number_start
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.ContentDate = m.da(series.when)
    ds.ContentTime = m.tm(series.when)
    request = _referenced_request(ctx)
    if request is not None:
        ds.ReferencedRequestSequence = request
    ds.PerformedProcedureCodeSequence = DicomSequence([])
    # PET first, so the CT region is placed on the PET hot spot
    groups_in.sort(key=lambda g: 0 if g[0].Modality == "PT" else 1)
    hot = None
    groups, measured = [], []
    for number, members in enumerate(groups_in, start=1):
        group, instance, point = _measurement_group(ctx, number, members, hot)
        if members[0].Modality == "PT":
            hot = point
        groups.append(group)
        if all(instance.SOPInstanceUID != d.SOPInstanceUID for d in measured):
            measured.append(instance)
    ds.CurrentRequestedProcedureEvidenceSequence = evidence_sequence(measured)
    modalities = {str(g[0].Modality) for g in groups_in}
    procedure = _PROCEDURES["PT" if "PT" in modalities else "CT" if "CT" in modalities else "MR"]
    library = _container("CONTAINS", ("111028", "DCM", "Image Library"), [
        _container("CONTAINS", ("126200", "DCM", "Image Library Group"),
                   [_reference("CONTAINS", None, d) for d in measured])])
    content = [
        _code("HAS CONCEPT MOD", ("121049", "DCM", "Language of Content Item and Descendants"),
              ("en-US", "RFC5646", "English (United States)")),
        *_observer(ctx, kind, None),
        _code("HAS CONCEPT MOD", ("121058", "DCM", "Procedure reported"), procedure),
        library,
        _container("CONTAINS", ("126010", "DCM", "Imaging Measurements"), groups),
    ]
    _root(ds, _container(None, ("126000", "DCM", "Imaging Measurement Report"), content, template="1500"))
    return [finish_as(ds, ctx, kind, sop_class_uid)]


def enhanced_sr(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset]) -> list[Dataset]:
    """An Enhanced SR evidence document (syngo MR XA11B §9.1.5): TID 1500 measurements."""
    return _measurement_report(ctx, series, source, "enhanced_sr", ENHANCED_SR_UID)


def comprehensive_sr(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset]) -> list[Dataset]:
    """A Comprehensive SR measurement report (syngo MI.PET/CT §5.1.2.2): TID 1500, with an
    SUVbw group on the PET hot spot and an attenuation group at the same place on the CT."""
    return _measurement_report(ctx, series, source, "comprehensive_sr", COMPREHENSIVE_SR_UID)


# --- Encapsulated PDF ---------------------------------------------------------------------------


def _pdf_text(s: str) -> bytes:
    raw = s.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_report(title: str, lines: list[tuple[str, str]], *, author: str, created: datetime,
               footer: str = "") -> bytes:
    """A one-page A4 PDF 1.4: *title* in bold, then ``(label, value)`` rows.

    Objects: catalog, page tree, page, two standard Type 1 fonts (Helvetica, Helvetica-Bold,
    WinAnsiEncoding), the content stream and an information dictionary; the cross-reference
    table holds the byte offset of each.
    """
    ops = [b"BT", b"/F2 16 Tf", b"56 780 Td", b"(" + _pdf_text(title) + b") Tj", b"ET"]
    y = 748
    for label, value in lines:
        if y < 60:
            break
        if label:
            ops += [b"BT", b"/F2 10 Tf", b"56 %d Td" % y, b"(" + _pdf_text(label) + b") Tj", b"ET"]
        ops += [b"BT", b"/F1 10 Tf", b"%d %d Td" % (200 if label else 56, y), b"(" + _pdf_text(value) + b") Tj",
                b"ET"]
        y -= 15
    if footer:
        ops += [b"BT", b"/F1 8 Tf", b"56 40 Td", b"(" + _pdf_text(footer) + b") Tj", b"ET"]
    stream = b"\n".join(ops)
    stamp = created.strftime("D:%Y%m%d%H%M%S")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Title (" + _pdf_text(title) + b") /Author (" + _pdf_text(author) + b") /Producer ("
        + _pdf_text(author) + b") /CreationDate (" + stamp.encode() + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1) + b"0000000000 65535 f \n"
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, len(objects), xref)
    return bytes(out)


def _report_lines(ctx: ObjectContext, source: list[Dataset]) -> list[tuple[str, str]]:
    p, st = ctx.patient, ctx.study
    lines = [
        ("Patient", str(p.name).replace("^", " ").strip()), ("Patient ID", p.id),
        ("Birth date", p.birth_date), ("Sex", p.sex),
        ("Study date", f"{st.date} {st.time[:6]}"), ("Accession number", st.accession_number or "-"),
        ("Study", st.description or "-"), ("Study Instance UID", st.uid), ("", ""),
    ]
    per_series: dict[str, list[Dataset]] = {}
    for d in source:
        per_series.setdefault(str(d.SeriesInstanceUID), []).append(d)
    lines.append(("Series", "Modality / description / instances"))
    for members in sorted(per_series.values(), key=lambda g: int(g[0].get("SeriesNumber", 0))):
        d = members[0]
        frames = sum(int(x.get("NumberOfFrames", 1)) for x in members)
        lines.append((f"  {d.get('SeriesNumber', '')}",
                      f"{d.get('Modality', '')}  {d.get('SeriesDescription', '')}  {len(members)} instance(s), "
                      f"{frames} image(s)"))
    return lines


def encapsulated_pdf(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset]) -> list[Dataset]:
    """An Encapsulated PDF exam report listing the exam's series (syngo MR XA11B Table 1)."""
    kind = "encapsulated_pdf"
    _require(source, "an Encapsulated PDF report")
    rule = ctx.rule(kind)
    eq = ctx.equipment_for(kind)
    title = f"{eq.model} examination report"
    pdf = pdf_report(title, _report_lines(ctx, source), author=f"{eq.manufacturer} {eq.model}",
                     created=series.when, footer=f"{eq.institution_name}  {eq.station_name}".strip())
    ds = Dataset()
    _patient_study(ds, ctx, series.when)
    _document_series(ds, series, ctx.study, "DOC")
    m.general_equipment(ds, eq)
    ds.ConversionType = "WSD"  # SC Equipment module (C.8.6.1): workstation
    # Encapsulated Document module (C.24.2)
    ds.InstanceNumber = rule.instance_number_start
    ds.ContentDate = m.da(series.when)
    ds.ContentTime = m.tm(series.when)
    ds.AcquisitionDateTime = m.dt(series.when)
    ds.BurnedInAnnotation = "YES"  # the page names the patient
    ds.RecognizableVisualFeatures = "NO"
    ds.SourceInstanceSequence = DicomSequence([_sop_ref(d) for d in source])
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = DicomSequence([m.code("18748-4", "LN", "Diagnostic imaging study")])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return [finish_as(ds, ctx, kind, ENCAPSULATED_PDF_UID)]


# --- CSA Non-Image ------------------------------------------------------------------------------


def csa2_header(tags: list[tuple[str, str, list[str]]]) -> bytes:
    """A Siemens CSA2 header ("SV10"): per tag a 64-byte name, VM, VR, SyngoDT, item count and
    77; per item four int32 (length, length, 77, length) then the value, NUL-terminated and
    padded to 4 bytes."""
    out = bytearray(b"SV10\x04\x03\x02\x01" + struct.pack("<2I", len(tags), 77))
    for name, vr, values in tags:
        out += struct.pack("<64si4s3i", name.encode("ascii")[:63], len(values), vr.encode("ascii"), 0, len(values), 77)
        for v in values:
            raw = v.encode("latin-1") + b"\x00"
            out += struct.pack("<4i", len(raw), len(raw), 77, len(raw)) + raw + b"\x00" * (-len(raw) % 4)
    return bytes(out)


def read_csa2_header(data: bytes) -> dict[str, list[str]]:
    """Tag name -> values of a CSA2 header (the inverse of :func:`csa2_header`)."""
    if data[:4] != b"SV10":
        raise ValueError("not a CSA2 header (no SV10 signature)")
    n, _ = struct.unpack_from("<2I", data, 8)
    pos, out = 16, {}
    for _ in range(n):
        name, vm, vr, _dt, items, _ = struct.unpack_from("<64si4s3i", data, pos)
        pos += 84
        values = []
        for _ in range(items):
            _a, length, _b, _c = struct.unpack_from("<4i", data, pos)
            pos += 16
            values.append(data[pos:pos + length].rstrip(b"\x00").decode("latin-1"))
            pos += length + (-length % 4)
        out[name.split(b"\x00")[0].decode("ascii")] = values
    return out


# Table 90: Image Type value 3 of PETsyngo non-image objects = CSA Data Type (0029,xx08)
CSA_DATA_TYPES = ("PET_EM_SINO", "PET_LISTMODE", "PET_CALIBRATION", "PETCT_SPL", "PET_PHYSIO", "PET_REPLAY_PARAM")


def _protocol_text(series: m.SeriesInfo, source: list[Dataset]) -> str:
    """The exam's scan protocol as ``key = value`` lines, from the source series' headers."""
    lines = ["### CSA PROTOCOL BEGIN ###", f'tProtocolName = "{series.protocol_name}"']
    per_series: dict[str, list[Dataset]] = {}
    for d in source:
        per_series.setdefault(str(d.SeriesInstanceUID), []).append(d)
    for k, members in enumerate(sorted(per_series.values(), key=lambda g: int(g[0].get("SeriesNumber", 0)))):
        d = members[0]
        p = f"asSeries[{k}]"
        lines += [f'{p}.tDescription = "{d.get("SeriesDescription", "")}"',
                  f'{p}.tModality = "{d.get("Modality", "")}"',
                  f"{p}.lImages = {sum(int(x.get('NumberOfFrames', 1)) for x in members)}",
                  f'{p}.tSeriesInstanceUID = "{d.SeriesInstanceUID}"']
        for kw, key in (("SliceThickness", "dSliceThicknessMM"), ("KVP", "dKVP"),
                        ("ReconstructionDiameter", "dReconDiameterMM"), ("ConvolutionKernel", "tKernel")):
            if kw in d and d[kw].value not in (None, ""):
                v = d[kw].value
                lines.append(f"{p}.{key} = " + (f'"{v}"' if isinstance(v, str) else str(v)))
        if "RadiopharmaceuticalInformationSequence" in d:
            rp = d.RadiopharmaceuticalInformationSequence[0]
            lines += [f'{p}.sPET.tRadiopharmaceutical = "{rp.get("Radiopharmaceutical", "")}"',
                      f"{p}.sPET.dTotalDoseBq = {rp.RadionuclideTotalDose}",
                      f"{p}.sPET.dHalfLifeS = {rp.RadionuclideHalfLife}",
                      f"{p}.sPET.lBeds = {len({int(x.get('AcquisitionNumber', 0)) for x in members})}",
                      f'{p}.sPET.tUnits = "{d.get("Units", "")}"']
    lines.append("### CSA PROTOCOL END ###")
    return "\n".join(lines) + "\n"


def csa_non_image(ctx: ObjectContext, series: m.SeriesInfo, source: list[Dataset]) -> list[Dataset]:
    """A CSA Non-Image object holding the exam's protocol data (PETsyngo "Protocol data",
    Image Type ORIGINAL\\PRIMARY\\PETCT_SPL, Table 90) in CSA Data (7FE1,xx10)."""
    kind = "csa_non_image"
    _require(source, "a CSA Non-Image object")
    rule = ctx.rule(kind)
    image_type = tuple(series.image_type or rule.image_type or ("ORIGINAL", "PRIMARY", "PETCT_SPL"))
    data_type = image_type[2] if len(image_type) > 2 and image_type[2] in CSA_DATA_TYPES else "PETCT_SPL"
    ds = Dataset()
    _patient_study(ds, ctx, series.when)
    m.general_series(ds, series, ctx.study, patient_position=False)  # Table 87: General Series
    _equipment(ds, ctx, kind)
    # CSA Non-Image module (§5.2.4.3, Table 88): standard attributes, all type 3
    ds.ImageType = list(image_type)
    first = min(source, key=lambda d: (str(d.get("AcquisitionDate", "")), str(d.get("AcquisitionTime", ""))))
    if "AcquisitionDate" in first:
        ds.AcquisitionDate = first.AcquisitionDate
        ds.AcquisitionTime = first.AcquisitionTime
    ds.ReferencedImageSequence = DicomSequence([_sop_ref(d) for d in source if "PixelData" in d][:64])
    if series.patient_position:
        ds.PatientPosition = series.patient_position
    ds.InstanceNumber = rule.instance_number_start
    if series.frame_of_reference_uid:
        ds.FrameOfReferenceUID = series.frame_of_reference_uid
    ds.QualityControlImage = "NO"
    data = _protocol_text(series, source).encode("latin-1", "replace")
    if len(data) % 2:
        data += b"\n"
    header = csa2_header([
        ("DataType", "CS", [data_type]), ("DataFormat", "CS", ["ASCII"]), ("DataLength", "UL", [str(len(data))]),
        ("NumberOfReferencedImages", "IS", [str(len(ds.ReferencedImageSequence))]),
        ("SoftwareVersions", "LO", list(ctx.equipment_for(kind).software_versions)),
    ])
    block = ds.private_block(0x0029, "SIEMENS CSA NON-IMAGE", create=True)
    block.add_new(0x08, "CS", data_type)
    block.add_new(0x09, "LO", ctx.equipment_for(kind).software_versions[0])
    block.add_new(0x10, "OB", header)
    ds.private_block(0x7FE1, "SIEMENS CSA NON-IMAGE", create=True).add_new(0x10, "OB", data)
    return [finish_as(ds, ctx, kind, CSA_NON_IMAGE_UID)]


Builder = Callable[[ObjectContext, m.SeriesInfo, list[Dataset]], list[Dataset]]

BUILDERS: dict[str, tuple[str, Builder]] = {
    "kos": (KOS_UID, key_object_selection),
    "enhanced_sr": (ENHANCED_SR_UID, enhanced_sr),
    "comprehensive_sr": (COMPREHENSIVE_SR_UID, comprehensive_sr),
    "encapsulated_pdf": (ENCAPSULATED_PDF_UID, encapsulated_pdf),
    "csa_non_image": (CSA_NON_IMAGE_UID, csa_non_image),
}
