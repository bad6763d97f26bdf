"""Image-like objects derived from an acquired series: Segmentation, multi-frame Secondary
Capture (grayscale word and true colour), Enhanced MR Color, Real World Value Mapping,
MR Spectroscopy and Raw Data.

Each builder takes the exam's :class:`ObjectContext`, the new series and a :class:`Source`
(the acquired series: its datasets, planes, physical values and the phantom's tissue
labels on its planes) and returns finished datasets. Every object references its source
instances (Referenced Series / Source Image / Derivation Image sequences) in the exam's
study.
"""

from __future__ import annotations

__all__ = ["Source", "segmentation", "mf_grayscale_sc", "mf_true_color_sc", "enhanced_mr_color",
           "rwv_mapping", "mr_spectroscopy", "raw_data", "BUILDERS", "SEGMENTS", "segment_masks"]

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from scipy import ndimage

from ..geometry import Plane
from ..protocols import MRParams
from . import ObjectContext, common_modules, finish
from . import modules as m


@dataclass
class Source:
    """An acquired image series a derived object is made from."""

    series_uid: str
    modality: str
    description: str
    datasets: list[Dataset]
    planes: list[Plane]
    values: np.ndarray  # physical values [image, row, column]
    labels: Callable[[Plane], np.ndarray]  # the phantom's tissue labels at a plane's pixel centres
    tissues: tuple[str, ...]
    frame_of_reference_uid: str
    study_uid: str
    body_part: str | None = None
    mr: MRParams | None = None
    field_strength: float = 1.5
    frequency: float = 63.87
    value_slope: float = 1.0  # physical value = stored x value_slope + value_intercept
    value_intercept: float = 0.0
    second: "Source | None" = None  # another series on the same planes (fusion overlays)

    def frame_refs(self) -> list[tuple[str, str, int | None]]:
        """(SOP Class, SOP Instance, frame number or None) of each plane."""
        if len(self.datasets) == 1 and int(self.datasets[0].get("NumberOfFrames", 1) or 1) > 1:
            ds = self.datasets[0]
            return [(str(ds.SOPClassUID), str(ds.SOPInstanceUID), i + 1) for i in range(len(self.planes))]
        return [(str(d.SOPClassUID), str(d.SOPInstanceUID), None) for d in self.datasets]

    def instances(self) -> list[tuple[str, str]]:
        return [(str(d.SOPClassUID), str(d.SOPInstanceUID)) for d in self.datasets]


def _item(**values: Any) -> Dataset:
    ds = Dataset()
    for kw, v in values.items():
        setattr(ds, kw, v)
    return ds


def _seq(*items: Dataset) -> DicomSequence:
    return DicomSequence(list(items))


def _source_image(ref: tuple[str, str, int | None], purpose: Dataset) -> Dataset:
    item = _item(ReferencedSOPClassUID=ref[0], ReferencedSOPInstanceUID=ref[1])
    if ref[2] is not None:
        item.ReferencedFrameNumber = ref[2]
    item.PurposeOfReferenceCodeSequence = _seq(purpose)
    return item


_PURPOSE_SOURCE = ("121322", "DCM", "Source image for image processing operation")


def _purpose() -> Dataset:
    return m.code(*_PURPOSE_SOURCE)


def _references(ds: Dataset, ctx: ObjectContext, *sources: Source) -> None:
    """Common Instance Reference module of the sources' instances."""
    m.common_instance_reference(ds, ctx.study.uid, [(s.study_uid, s.series_uid, s.instances()) for s in sources])


def _evidence(src: Source) -> DicomSequence:
    return DicomSequence(m.evidence(src.study_uid, [(src.series_uid, src.instances())]))


def _orientation(plane: Plane) -> list[str]:
    return [m.ds_str(v) for v in (*plane.row_cosine, *plane.column_cosine)]


def _spacing(planes: list[Plane]) -> float:
    if len(planes) < 2:
        return planes[0].thickness
    step = float(abs(np.dot(np.subtract(planes[1].position, planes[0].position), planes[0].normal)))
    return step or planes[0].thickness


def _normalise(a: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.7) -> np.ndarray:
    lo, hi = np.percentile(a, [lo_pct, hi_pct])
    return np.clip((a - lo) / max(float(hi - lo), 1e-9), 0.0, 1.0)


def _hot(t: np.ndarray) -> np.ndarray:
    """A "hot iron" colour map of *t* in [0, 1]: [..., 3] floats."""
    return np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], axis=-1)


def _fused(src: Source) -> np.ndarray:
    """RGB uint8 frames: the source in grey with a hot colour overlay of the second series
    (or of the source itself) where the overlay is in its upper third."""
    grey = _normalise(src.values)
    over = _normalise((src.second or src).values, 50.0, 99.9)
    alpha = np.clip((over - 0.33) / 0.67, 0.0, 1.0)[..., None] * 0.7
    rgb = grey[..., None] * (1 - alpha) + _hot(over) * alpha
    return np.rint(rgb * 255).astype(np.uint8)


def _sc_common(ds: Dataset, ctx: ObjectContext, kind: str, series: m.SeriesInfo, src: Source, *,
               image_type: tuple[str, ...], derivation: str) -> None:
    """Patient/Study/Series, General Equipment, SC Equipment, General Image of a multi-frame SC."""
    rule = ctx.rule(kind)
    common_modules(ds, ctx, series, frame_of_reference=False, patient_position=False)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    ds.ConversionType = "WSD"  # workstation (C.8.6.1)
    ds.SecondaryCaptureDeviceManufacturer = eq.manufacturer
    ds.SecondaryCaptureDeviceManufacturerModelName = eq.model
    ds.SecondaryCaptureDeviceSoftwareVersions = list(eq.software_versions)
    m.general_image(ds, instance_number=rule.instance_number_start, content=ctx.created,
                    image_type=series.image_type or rule.image_type or image_type, patient_orientation=())
    ds.DerivationDescription = derivation
    ds.SourceImageSequence = DicomSequence([_source_image(r, _purpose()) for r in src.frame_refs()])
    ds.DateOfSecondaryCapture = m.da(ctx.created)
    ds.TimeOfSecondaryCapture = m.tm(ctx.created)


# --- Segmentation (A.51) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSpec:
    label: str
    tissues: tuple[str, ...]
    category: tuple[str, str, str]
    property_type: tuple[str, str, str]
    colour_lab: tuple[int, int, int]  # Recommended Display CIELab Value (scaled to 0..65535)


SEGMENTS = (
    SegmentSpec("Brain", ("grey_matter", "white_matter"), ("91723000", "SCT", "Anatomical Structure"),
                ("12738006", "SCT", "Brain"), (43803, 26565, 37722)),
    SegmentSpec("Lesion", ("lesion",), ("49755003", "SCT", "Morphologically Altered Structure"),
                ("52988006", "SCT", "Lesion"), (34885, 53255, 50172)),
    SegmentSpec("Liver", ("liver",), ("91723000", "SCT", "Anatomical Structure"),
                ("10200004", "SCT", "Liver"), (41129, 40856, 44338)),
)


def segment_masks(src: Source) -> list[tuple[SegmentSpec, np.ndarray]]:
    """The segments the source's phantom has, each with its mask ``[plane, row, column]``."""
    labels = np.stack([src.labels(p) for p in src.planes])
    out = []
    for spec in SEGMENTS:
        ids = [src.tissues.index(t) for t in spec.tissues if t in src.tissues]
        if ids:
            out.append((spec, np.isin(labels, ids)))
    return out


def segmentation(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Segmentation IOD (A.51), BINARY: one segment per tissue class of the phantom (brain,
    lesion, liver) found on the source planes; one frame per segment and plane."""
    kind = "segmentation"
    rule = ctx.rule(kind)
    segments = segment_masks(src)
    if not segments:
        raise ValueError(f"the phantom of {src.description!r} has none of the segmented tissues")
    ds = Dataset()
    common_modules(ds, ctx, series, patient_position=False)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    ds.ImageType = list(rule.image_type or ("DERIVED", "PRIMARY"))
    m.content_identification(ds, number=rule.instance_number_start, label="TISSUE_SEGMENTS",
                             description=f"Tissue segments of {src.description}", creator=series.operator)
    ds.ContentDate = m.da(ctx.created)
    ds.ContentTime = m.tm(ctx.created)
    ds.SegmentationType = "BINARY"
    ds.SegmentsOverlap = "NO"
    items = []
    for number, (spec, _) in enumerate(segments, start=1):
        it = _item(SegmentNumber=number, SegmentLabel=spec.label, SegmentAlgorithmType="AUTOMATIC",
                   SegmentAlgorithmName="Tissue classification")
        it.SegmentedPropertyCategoryCodeSequence = _seq(m.code(*spec.category))
        it.SegmentedPropertyTypeCodeSequence = _seq(m.code(*spec.property_type))
        it.RecommendedDisplayCIELabValue = list(spec.colour_lab)
        items.append(it)
    ds.SegmentSequence = DicomSequence(items)
    plane0 = src.planes[0]
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(_item(
        PixelSpacing=[m.ds_str(v) for v in plane0.pixel_spacing], SliceThickness=m.ds_str(plane0.thickness),
        SpacingBetweenSlices=m.ds_str(_spacing(src.planes))))
    shared.PlaneOrientationSequence = _seq(_item(ImageOrientationPatient=_orientation(plane0)))
    refs = src.frame_refs()
    per, frames = [], []
    for number, (_, mask) in enumerate(segments, start=1):
        for i, plane in enumerate(src.planes):
            g = Dataset()
            g.FrameContentSequence = _seq(_item(DimensionIndexValues=[number, i + 1]))
            g.PlanePositionSequence = _seq(_item(ImagePositionPatient=[m.ds_str(v, 4) for v in plane.position]))
            g.SegmentIdentificationSequence = _seq(_item(ReferencedSegmentNumber=number))
            derivation = _item()
            derivation.DerivationCodeSequence = _seq(m.code("113076", "DCM", "Segmentation"))
            derivation.SourceImageSequence = _seq(_source_image(refs[i], _purpose()))
            g.DerivationImageSequence = _seq(derivation)
            per.append(g)
            frames.append(mask[i])
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.NumberOfFrames = len(frames)
    m.dimension_index(ds, ctx.uids.new("dimension"), [
        ("ReferencedSegmentNumber", "SegmentIdentificationSequence", "Segment Number"),
        ("ImagePositionPatient", "PlanePositionSequence", "Image Position Patient")])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = plane0.rows, plane0.columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.LossyImageCompression = "00"
    packed = np.packbits(np.stack(frames).astype(np.uint8).ravel(), bitorder="little").tobytes()
    ds.add_new("PixelData", "OB", packed + (b"\x00" if len(packed) % 2 else b""))
    _references(ds, ctx, src)
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


# --- multi-frame Secondary Capture (A.8.4, A.8.5) ----------------------------------------------


def rotating_mip(src: Source, angles: int = 12) -> tuple[np.ndarray, list[float]]:
    """Maximum intensity projections of the source volume rotated about the stack axis in
    *angles* steps over 180 degrees: frames ``[angle, slice, column]`` (slices stretched to
    square pixels)."""
    vol = src.values.astype(np.float32)
    aspect = _spacing(src.planes) / src.planes[0].pixel_spacing[1]
    steps = [180.0 * k / angles for k in range(angles)]
    frames = []
    for a in steps:
        rot = ndimage.rotate(vol, a, axes=(1, 2), reshape=False, order=1) if a else vol
        frames.append(rot.max(axis=1))
    out = np.stack(frames)
    if vol.shape[0] > 1 and abs(aspect - 1.0) > 1e-3:
        out = ndimage.zoom(out, (1.0, aspect, 1.0), order=1)
    return out, steps


def mf_grayscale_sc(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Multi-frame Grayscale Word SC (A.8.4): a rotating MIP of the source volume, one frame
    per projection angle (Frame Increment Pointer -> Frame Primary Angle Vector)."""
    kind = "mf_grayscale_sc"
    frames, angles = rotating_mip(src)
    ds = Dataset()
    _sc_common(ds, ctx, kind, series, src, image_type=("DERIVED", "SECONDARY", "MIP"),
               derivation=f"Rotating maximum intensity projection of {src.description}")
    bits = 12
    top = (1 << bits) - 1
    stored = np.rint(_normalise(frames, 0.5, 99.9) * top).astype(np.uint16)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[1]), int(stored.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.NumberOfFrames = len(frames)
    ds.FrameIncrementPointer = Tag(0x0018, 0x2003)  # Frame Primary Angle Vector
    ds.FramePrimaryAngleVector = [m.ds_str(a, 2) for a in angles]
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.PixelSpacing = [m.ds_str(src.planes[0].pixel_spacing[1])] * 2
    m.voi_lut(ds, [(top / 2.0, float(top))])
    ds.add_new("PixelData", "OW", np.ascontiguousarray(stored).tobytes())
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


def mf_true_color_sc(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Multi-frame True Color SC (A.8.5): a colour-fused rendering of the source series with
    a hot overlay of a second series on the same planes, one frame per plane
    (Frame Increment Pointer -> Slice Location Vector)."""
    kind = "mf_true_color_sc"
    rgb = _fused(src)
    ds = Dataset()
    overlay = src.second.description if src.second else src.description
    _sc_common(ds, ctx, kind, series, src, image_type=("DERIVED", "SECONDARY", "FUSION"),
               derivation=f"Fusion of {src.description} with {overlay} (hot colour map)")
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb.shape[1]), int(rgb.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = len(rgb)
    ds.FrameIncrementPointer = Tag(0x0018, 0x2005)  # Slice Location Vector
    ds.SliceLocationVector = [m.ds_str(p.slice_location, 4) for p in src.planes]
    ds.PixelSpacing = [m.ds_str(v) for v in src.planes[0].pixel_spacing]
    ds.add_new("PixelData", "OB", np.ascontiguousarray(rgb).tobytes())
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


# --- Enhanced MR Color (A.36.4) -----------------------------------------------------------------


def enhanced_mr_color(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Enhanced MR Color Image (A.36.4): the colour-fused overlay as RGB frames on the source
    planes, with the Enhanced MR functional groups of the source acquisition (§9.1.2:
    as Enhanced MR but Samples per Pixel 3, RGB, 8 bits)."""
    from .enhanced import _mr_shared_groups, anatomic_region

    kind = "enhanced_mr_color"
    rule = ctx.rule(kind)
    mr = src.mr or MRParams(sequence="SE", tr=500.0, te=10.0)
    image_type = rule.image_type or ("DERIVED", "PRIMARY", "VOLUME", "NONE")
    rgb = _fused(src)
    ds = Dataset()
    common_modules(ds, ctx, series)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    plane0 = src.planes[0]
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(_item(
        PixelSpacing=[m.ds_str(v) for v in plane0.pixel_spacing], SliceThickness=m.ds_str(plane0.thickness)))
    shared.PlaneOrientationSequence = _seq(_item(ImageOrientationPatient=_orientation(plane0)))
    anat = _item(FrameLaterality="U")
    anat.AnatomicRegionSequence = _seq(anatomic_region(src.body_part))
    shared.FrameAnatomySequence = _seq(anat)
    _mr_shared_groups(shared, mr, image_type, frequency=src.frequency, matrix=(plane0.rows, plane0.columns),
                      slices=len(src.planes), manufacturer=eq.manufacturer)
    shared.MRImageFrameTypeSequence[0].PixelPresentation = "TRUE_COLOR"
    refs = src.frame_refs()
    per = []
    for i, plane in enumerate(src.planes):
        g = Dataset()
        g.FrameContentSequence = _seq(_item(
            FrameAcquisitionNumber=1, FrameReferenceDateTime=m.dt(series.when),
            FrameAcquisitionDateTime=m.dt(series.when), FrameAcquisitionDuration=0.0,
            StackID="1", InStackPositionNumber=i + 1, DimensionIndexValues=[1, i + 1]))
        g.PlanePositionSequence = _seq(_item(ImagePositionPatient=[m.ds_str(v, 4) for v in plane.position]))
        derivation = _item()
        # colour blend of two co-registered series (CID 7203)
        derivation.DerivationCodeSequence = _seq(m.code("113042", "DCM", "Pixel by pixel addition"))
        derivation.SourceImageSequence = _seq(_source_image(refs[i], _purpose()))
        g.DerivationImageSequence = _seq(derivation)
        per.append(g)
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.InstanceNumber = rule.instance_number_start
    ds.ContentDate = m.da(ctx.created)
    ds.ContentTime = m.tm(ctx.created)
    ds.NumberOfFrames = len(rgb)
    m.dimension_index(ds, ctx.uids.new("dimension"), [
        ("StackID", "FrameContentSequence", "Stack ID"),
        ("InStackPositionNumber", "FrameContentSequence", "In-Stack Position Number")])
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb.shape[1]), int(rgb.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.ImageType = list(image_type)
    ds.PixelPresentation = "TRUE_COLOR"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = mr.contrast
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.ContentQualification = "PRODUCT"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = m.dt(series.when)
    ds.AcquisitionDuration = 0.0
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = m.ds_str(src.field_strength)
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.PresentationLUTShape = "IDENTITY"
    # MR Image and Spectroscopy Instance macro: the derived frames' sources (C.8.13.1)
    ds.SourceImageEvidenceSequence = _evidence(src)
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.ICCProfile = m.srgb_icc_profile()  # ICC Profile module (C.11.15)
    ds.ColorSpace = "SRGB"
    ds.add_new("PixelData", "OB", np.ascontiguousarray(rgb).tobytes())
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


# --- Real World Value Mapping (A.46) ------------------------------------------------------------


def rwv_mapping(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Real World Value Mapping IOD (A.46): the linear map from the source's stored values to
    its physical values (the receiver-gain-normalised signal for MR, HU for CT, Bq/ml for PET)."""
    kind = "rwv_mapping"
    rule = ctx.rule(kind)
    ds = Dataset()
    common_modules(ds, ctx, series, frame_of_reference=False, patient_position=False)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.content_identification(ds, number=rule.instance_number_start, label="SIGNAL_MAP",
                             description=f"Stored value to {_UNITS[src.modality][2]} for {src.description}",
                             creator=series.operator)
    ds.ContentDate = m.da(ctx.created)
    ds.ContentTime = m.tm(ctx.created)
    d0 = src.datasets[0]
    bits = int(d0.BitsStored)
    signed = int(d0.PixelRepresentation)
    first, last = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    slope, intercept = src.value_slope, src.value_intercept
    mapping = _item(LUTExplanation=f"{_UNITS[src.modality][2]} = stored x {m.ds_str(slope, 8)} + "
                                   f"{m.ds_str(intercept, 4)}",
                    LUTLabel="SIGNAL", RealWorldValueFirstValueMapped=first, RealWorldValueLastValueMapped=last,
                    RealWorldValueIntercept=float(intercept), RealWorldValueSlope=float(slope))
    if signed:
        mapping["RealWorldValueFirstValueMapped"].VR = "SS"
        mapping["RealWorldValueLastValueMapped"].VR = "SS"
    mapping.MeasurementUnitsCodeSequence = _seq(m.code(*_UNITS[src.modality][:2], _UNITS[src.modality][2]))
    ref = _item()
    ref.RealWorldValueMappingSequence = _seq(mapping)
    ref.ReferencedImageSequence = DicomSequence(m.image_references(src.frame_refs()))
    ds.ReferencedImageRealWorldValueMappingSequence = _seq(ref)
    _references(ds, ctx, src)
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


_UNITS = {"MR": ("1", "UCUM", "no units"), "CT": ("[hnsf'U]", "UCUM", "Hounsfield unit"),
          "PT": ("Bq/mL", "UCUM", "Becquerels/milliliter")}


# --- MR Spectroscopy (A.36.3) -------------------------------------------------------------------

# metabolite: (chemical shift ppm, T2 ms); concentrations (mM) per tissue; water at 4.7 ppm
_METABOLITES = {"NAA": (2.01, 250.0), "Cr": (3.03, 160.0), "Cho": (3.21, 230.0), "mI": (3.56, 180.0),
                "Lac": (1.33, 600.0)}
_CONCENTRATION = {
    "grey_matter": {"NAA": 10.0, "Cr": 8.0, "Cho": 1.6, "mI": 6.0, "Lac": 0.0},
    "white_matter": {"NAA": 9.0, "Cr": 6.0, "Cho": 2.0, "mI": 5.0, "Lac": 0.0},
    "lesion": {"NAA": 3.0, "Cr": 5.0, "Cho": 5.0, "mI": 4.0, "Lac": 4.0},
}


def voxel_composition(src: Source, centre: np.ndarray, size: float) -> dict[str, float]:
    """Tissue volume fractions in a cube of *size* mm at *centre* (sampled on 1 mm planes)."""
    from .. import geometry

    counts: dict[str, int] = {}
    n = max(2, int(size))
    for dz in np.linspace(-size / 2, size / 2, n):
        plane = geometry.stack("axial", (float(centre[0]), float(centre[1]), float(centre[2] + dz)),
                               (size, size), (n, n), 1, 1.0, 1.0)[0]
        for label, k in zip(*np.unique(src.labels(plane), return_counts=True)):
            counts[src.tissues[label]] = counts.get(src.tissues[label], 0) + int(k)
    total = sum(counts.values())
    return {t: k / total for t, k in counts.items()}


def spectrum_fid(composition: dict[str, float], *, frequency_mhz: float, te_ms: float, points: int,
                 spectral_width: float, rng: np.random.Generator) -> np.ndarray:
    """A water-suppressed single-voxel FID (complex64): one decaying line per metabolite at its
    chemical shift relative to water (4.7 ppm), amplitude = concentration x T2 decay at TE."""
    t = np.arange(points) / spectral_width
    fid = np.zeros(points, np.complex128)
    for name, (ppm, t2) in _METABOLITES.items():
        conc = sum(f * _CONCENTRATION.get(tissue, {}).get(name, 0.0) for tissue, f in composition.items())
        if conc <= 0:
            continue
        amp = conc * np.exp(-te_ms / t2)
        hz = (ppm - 4.7) * frequency_mhz
        fid += amp * np.exp(2j * np.pi * hz * t) * np.exp(-t * np.pi * 6.0)  # ~6 Hz line width
    fid += 0.02 * (rng.standard_normal(points) + 1j * rng.standard_normal(points)) * max(np.abs(fid[0]), 1.0)
    return fid.astype(np.complex64)


def mr_spectroscopy(ctx: ObjectContext, series: m.SeriesInfo, src: Source, *, voxel_mm: float = 15.0,
                    points: int = 1024, rng: np.random.Generator | None = None) -> list[Dataset]:
    """MR Spectroscopy IOD (A.36.3, §9.1.3): a single-voxel PRESS spectrum (time domain,
    complex) of the phantom's tissue at a voxel: the lesion if the source planes cross it,
    else the centre of the source volume."""
    from .enhanced import anatomic_region

    kind = "mr_spectroscopy"
    rule = ctx.rule(kind)
    rng = rng or np.random.default_rng(0)
    labels = np.stack([src.labels(p) for p in src.planes])
    centre = np.mean([p.centre for p in src.planes], axis=0)
    if "lesion" in src.tissues and (labels == src.tissues.index("lesion")).any():
        k, r, c = (float(v) for v in np.argwhere(labels == src.tissues.index("lesion")).mean(axis=0))
        p = src.planes[int(round(k))]
        centre = (np.asarray(p.position) + c * p.pixel_spacing[1] * np.asarray(p.row_cosine)
                  + r * p.pixel_spacing[0] * np.asarray(p.column_cosine))
    composition = voxel_composition(src, centre, voxel_mm)
    width = 2000.0 if src.field_strength >= 2.0 else 1000.0  # Hz
    te, tr = 30.0, 2000.0
    fid = spectrum_fid(composition, frequency_mhz=src.frequency, te_ms=te, points=points,
                       spectral_width=width, rng=rng)
    mr = MRParams(sequence="SE", tr=tr, te=te, contrast="UNKNOWN", sequence_name="*svs_se_30",
                  receive_coil=src.mr.receive_coil if src.mr else "Head/Neck 20")
    image_type = rule.image_type or ("ORIGINAL", "PRIMARY", "SPECTROSCOPY", "NONE")
    ds = Dataset()
    common_modules(ds, ctx, series)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    orientation = [m.ds_str(v) for v in (1, 0, 0, 0, 1, 0)]
    position = centre - np.array([voxel_mm / 2, voxel_mm / 2, 0.0])
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(_item(PixelSpacing=[m.ds_str(voxel_mm)] * 2,
                                              SliceThickness=m.ds_str(voxel_mm)))
    shared.PlaneOrientationSequence = _seq(_item(ImageOrientationPatient=orientation))
    shared.PlanePositionSequence = _seq(_item(ImagePositionPatient=[m.ds_str(v, 4) for v in position]))
    anat = _item(FrameLaterality="U")
    anat.AnatomicRegionSequence = _seq(anatomic_region(src.body_part))
    shared.FrameAnatomySequence = _seq(anat)
    shared.MRSpectroscopyFrameTypeSequence = _seq(_item(
        FrameType=list(image_type), VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE",
        ComplexImageComponent="COMPLEX", AcquisitionContrast="UNKNOWN"))
    timing = _item(RepetitionTime=tr, FlipAngle=90.0, EchoTrainLength=1, RFEchoTrainLength=1,
                   GradientEchoTrainLength=0, GradientOutputType="DB_DT", GradientOutput=20.0)
    timing.SpecificAbsorptionRateSequence = _seq(_item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY",
                                                       SpecificAbsorptionRateValue=0.3))
    timing.OperatingModeSequence = _seq(_item(OperatingModeType="STATIC FIELD", OperatingMode="IEC_NORMAL"))
    shared.MRTimingAndRelatedParametersSequence = _seq(timing)
    shared.MRSpectroscopyFOVGeometrySequence = _seq(_item(
        SpectroscopyAcquisitionDataColumns=points, SpectroscopyAcquisitionPhaseRows=1,
        SpectroscopyAcquisitionPhaseColumns=1, SpectroscopyAcquisitionOutOfPlanePhaseSteps=1,
        PercentSampling=100.0, PercentPhaseFieldOfView=100.0))
    shared.MREchoSequence = _seq(_item(EffectiveEchoTime=te))
    shared.MRModifierSequence = _seq(_item(
        InversionRecovery="NO", FlowCompensation="NONE", T2Preparation="NO", SpectrallySelectedExcitation="NONE",
        SpatialPresaturation="NONE", PartialFourier="NO", ParallelAcquisition="NO"))
    coil = _item(ReceiveCoilName=mr.receive_coil, ReceiveCoilManufacturerName=eq.manufacturer,
                 ReceiveCoilType="MULTICOIL", QuadratureReceiveCoil="NO")
    coil.MultiCoilDefinitionSequence = DicomSequence([
        _item(MultiCoilElementName=f"E{i}", MultiCoilElementUsed="YES") for i in range(1, 5)])
    shared.MRReceiveCoilSequence = _seq(coil)
    shared.MRTransmitCoilSequence = _seq(_item(TransmitCoilName=mr.transmit_coil,
                                               TransmitCoilManufacturerName=eq.manufacturer,
                                               TransmitCoilType="BODY"))
    shared.MRAveragesSequence = _seq(_item(NumberOfAverages=64.0))
    shared.MRSpatialSaturationSequence = DicomSequence([])
    duration = tr * 64 / 1000.0
    fc = _item(FrameAcquisitionNumber=1, FrameReferenceDateTime=m.dt(series.when),
               FrameAcquisitionDateTime=m.dt(series.when), FrameAcquisitionDuration=duration * 1000.0,
               StackID="1", InStackPositionNumber=1, DimensionIndexValues=[1, 1])
    per = _item()
    per.FrameContentSequence = _seq(fc)
    ref = src.frame_refs()[len(src.planes) // 2]
    per.ReferencedImageSequence = _seq(_source_image(ref, m.code("121311", "DCM", "Localizer")))
    ds.SharedFunctionalGroupsSequence = _seq(shared)
    ds.PerFrameFunctionalGroupsSequence = _seq(per)
    ds.InstanceNumber = rule.instance_number_start
    ds.ContentDate = m.da(series.when + timedelta(seconds=duration))
    ds.ContentTime = m.tm(series.when + timedelta(seconds=duration))
    ds.NumberOfFrames = 1
    m.dimension_index(ds, ctx.uids.new("dimension"), [
        ("StackID", "FrameContentSequence", "Stack ID"),
        ("InStackPositionNumber", "FrameContentSequence", "In-Stack Position Number")])
    # MR Spectroscopy module (C.8.14.1, §9.1.3.17)
    ds.ImageType = list(image_type)
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = m.dt(series.when)
    ds.AcquisitionDuration = duration
    ds.ContentQualification = "PRODUCT"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = m.ds_str(src.field_strength)
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.ComplexImageComponent = "COMPLEX"
    ds.AcquisitionContrast = "UNKNOWN"
    ds.ImageComments = "voxel " + ", ".join(f"{t} {f:.0%}" for t, f in sorted(composition.items(),
                                                                           key=lambda kv: -kv[1]) if f >= 0.01)
    ds.TransmitterFrequency = [float(src.frequency)]
    ds.SpectralWidth = [width]
    ds.ChemicalShiftReference = [4.7]
    ds.VolumeLocalizationTechnique = "PRESS"
    slabs = []
    for axis in np.eye(3):
        slabs.append(_item(SlabThickness=voxel_mm, SlabOrientation=[float(v) for v in axis],
                           MidSlabPosition=[float(v) for v in centre]))
    ds.VolumeLocalizationSequence = DicomSequence(slabs)
    ds.Decoupling = "NO"
    ds.TimeDomainFiltering = "NONE"
    ds.NumberOfZeroFills = 0
    ds.BaselineCorrection = "NONE"
    ds.FrequencyCorrection = "NO"
    ds.FirstOrderPhaseCorrection = "NO"
    ds.WaterReferencedPhaseCorrection = "NO"
    ds.ReferencedImageEvidenceSequence = DicomSequence(m.evidence(src.study_uid, [(src.series_uid, [ref[:2]])]))
    # MR Spectroscopy Pulse Sequence module (C.8.14.3, §9.1.3.18)
    ds.PulseSequenceName = "svs_se"
    ds.MRSpectroscopyAcquisitionType = "SINGLE_VOXEL"
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "NO"
    ds.MultiPlanarExcitation = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SpectrallySelectedSuppression = "WATER"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "SINGLE"
    ds.NumberOfKSpaceTrajectories = 1
    ds.EchoPeakPosition = 0
    # MR Spectroscopy Data module (C.8.14.4, §9.1.3.19)
    ds.Rows, ds.Columns = 1, 1
    ds.DataPointRows = 1
    ds.DataPointColumns = points
    ds.DataRepresentation = "COMPLEX"
    ds.SignalDomainColumns = "TIME"
    ds.add_new("SpectroscopyData", "OF", np.ascontiguousarray(fid).view(np.float32).tobytes())
    ds.AcquisitionContextSequence = DicomSequence([])  # §9.1.3.16: empty
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


# --- Raw Data (A.37) ------------------------------------------------------------------------------


def raw_data(ctx: ObjectContext, series: m.SeriesInfo, src: Source) -> list[Dataset]:
    """Raw Data IOD (A.37): the complex k-space of every source plane (float32 pairs,
    ``[plane, row, column]``) in a private block; the public header says what it belongs to."""
    kind = "raw_data"
    rule = ctx.rule(kind)
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(src.values.astype(np.float32), axes=(1, 2))),
                             axes=(1, 2)).astype(np.complex64)
    ds = Dataset()
    common_modules(ds, ctx, series, patient_position=False)
    m.general_equipment(ds, ctx.equipment_for(kind))
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.InstanceNumber = rule.instance_number_start
    ds.ContentDate = m.da(ctx.created)
    ds.ContentTime = m.tm(ctx.created)
    ds.AcquisitionDateTime = m.dt(series.when)
    ds.CreatorVersionUID = RAW_FORMAT_UID
    ds.ReferencedInstanceSequence = DicomSequence([_source_image((c, u, None), _purpose())
                                                   for c, u in src.instances()])
    # the CSA Non-Image layout: data type, version, info; the k-space in (0029,xx20) rather than
    # (7FE1,xx10), which dciodvfy takes for Pixel Data
    block = ds.private_block(0x0029, RAW_CREATOR, create=True)
    block.add_new(0x08, "CS", "MR_KSPACE")
    block.add_new(0x09, "LO", "COMPLEX64 [PLANE,ROW,COLUMN]")
    block.add_new(0x10, "OB", np.asarray(kspace.shape, "<u4").tobytes())
    block.add_new(0x20, "OB", kspace.tobytes())
    return [finish(ds, ctx, kind, ctx.instance_uid(kind))]


RAW_CREATOR = "SIEMENS CSA NON-IMAGE"  # [emulator choice]: the creator Siemens raw data carries
RAW_FORMAT_UID = "1.3.12.2.1107.5.9.1.1"  # [emulator choice]: version of the k-space layout


# kind -> (SOP Class UID, builder, modality of the new series or "" for the source's)
BUILDERS: dict[str, tuple[str, Callable, str]] = {
    "segmentation": ("1.2.840.10008.5.1.4.1.1.66.4", segmentation, "SEG"),
    "mf_grayscale_sc": ("1.2.840.10008.5.1.4.1.1.7.3", mf_grayscale_sc, ""),
    "mf_true_color_sc": ("1.2.840.10008.5.1.4.1.1.7.4", mf_true_color_sc, ""),
    "enhanced_mr_color": ("1.2.840.10008.5.1.4.1.1.4.3", enhanced_mr_color, "MR"),
    "rwv_mapping": ("1.2.840.10008.5.1.4.1.1.67", rwv_mapping, "RWV"),
    "mr_spectroscopy": ("1.2.840.10008.5.1.4.1.1.4.2", mr_spectroscopy, "MR"),
    "raw_data": ("1.2.840.10008.5.1.4.1.1.66", raw_data, ""),
}
