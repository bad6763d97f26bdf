"""Shared module builders (PS3.3 C.7 ff.), in the manner of highdicom.

Each function adds one module's attributes to a :class:`pydicom.Dataset` from value
classes (:class:`PatientInfo`, :class:`StudyInfo`, :class:`SeriesInfo`,
:class:`Equipment`) and returns the dataset, so an IOD is a short list of module calls.
Legacy and enhanced objects, images and SR share them. Type 2 attributes are always
written (empty when unknown); type 3 only when there is a value.
"""

from __future__ import annotations

__all__ = [
    "PatientInfo",
    "StudyInfo",
    "SeriesInfo",
    "Equipment",
    "code",
    "da",
    "tm",
    "dt",
    "ds_str",
    "patient",
    "general_study",
    "patient_study",
    "general_series",
    "performed_procedure",
    "sr_document_series",
    "rt_series",
    "frame_of_reference",
    "general_equipment",
    "enhanced_general_equipment",
    "general_acquisition",
    "general_image",
    "image_plane",
    "image_pixel",
    "encode_pixels",
    "voi_lut",
    "sop_common",
    "coerce_text",
    "fixed_values",
    "private_blocks",
    "file_meta",
    "content_identification",
    "common_instance_reference",
    "image_references",
    "dimension_index",
    "evidence",
    "srgb_icc_profile",
]

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Sequence

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian

from ..geometry import Plane
from ..protocols import PixelEncoding, PrivateBlock


# --- value classes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientInfo:
    name: str = "DOE^JANE"
    id: str = "VS0001"
    birth_date: str = "19700101"
    sex: str = "F"
    weight_kg: float | None = 70.0
    size_m: float | None = 1.70
    issuer_of_patient_id: str | None = None
    other_patient_ids: str | None = None
    birth_time: str | None = None
    ethnic_group: str | None = None
    comments: str | None = None
    medical_alerts: str | None = None
    allergies: str | None = None
    pregnancy_status: int | None = None
    admitting_diagnoses: str | None = None

    def age(self, on: datetime) -> str:
        """Patient's Age (0010,1010) on a date, ``nnnY``."""
        try:
            b = datetime.strptime(self.birth_date, "%Y%m%d")
        except ValueError:
            return ""
        years = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
        return f"{max(years, 0):03d}Y"


@dataclass(frozen=True)
class StudyInfo:
    uid: str
    date: str
    time: str
    id: str = ""
    accession_number: str = ""
    referring_physician: str = ""
    description: str = ""
    procedure_codes: tuple[Dataset, ...] = ()
    physicians_of_record: str | None = None
    requesting_service: str | None = None
    # series-level values the worklist fills (General Series module)
    request_attributes: tuple[Dataset, ...] = ()
    performing_physician: str = ""
    pps_id: str | None = None
    pps_description: str | None = None
    pps_start: datetime | None = None
    performed_protocol_codes: tuple[Dataset, ...] = ()
    referenced_pps_uid: str | None = None
    patient_study_module: bool = True


@dataclass(frozen=True)
class Equipment:
    manufacturer: str
    model: str
    device_serial_number: str
    software_versions: tuple[str, ...]
    station_name: str = ""
    institution_name: str = ""
    institution_address: str = ""
    department: str = ""


@dataclass(frozen=True)
class SeriesInfo:
    uid: str
    number: int
    modality: str
    description: str
    protocol_name: str
    when: datetime
    body_part: str | None = None
    patient_position: str | None = None
    operator: str = ""
    frame_of_reference_uid: str | None = None
    laterality: str | None = None
    image_type: tuple[str, ...] = ()  # a series-specific Image Type, else the product's rule


# --- small helpers ----------------------------------------------------------------------------


def code(value: str, scheme: str, meaning: str, version: str | None = None) -> Dataset:
    """A code sequence item (Code Value, Coding Scheme Designator, Code Meaning)."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    if version:
        item.CodingSchemeVersion = version
    item.CodeMeaning = meaning
    return item


def da(t: datetime) -> str:
    return t.strftime("%Y%m%d")


def tm(t: datetime) -> str:
    return t.strftime("%H%M%S.%f")


def dt(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S.%f")


def ds_str(v: float, digits: int = 6) -> str:
    """A Decimal String of at most 16 characters."""
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    while len(s) > 16:
        digits -= 1
        s = f"{v:.{max(digits, 0)}f}"
    return s


def _opt(ds: Dataset, keyword: str, value: Any) -> None:
    if value is not None and value != "":
        setattr(ds, keyword, value)


# --- modules ----------------------------------------------------------------------------------


def patient(ds: Dataset, p: PatientInfo) -> Dataset:
    """Patient module (C.7.1.1)."""
    ds.PatientName = p.name
    ds.PatientID = p.id
    _opt(ds, "IssuerOfPatientID", p.issuer_of_patient_id)
    ds.PatientBirthDate = p.birth_date
    _opt(ds, "PatientBirthTime", p.birth_time)
    ds.PatientSex = p.sex
    _opt(ds, "OtherPatientIDs", p.other_patient_ids)
    _opt(ds, "EthnicGroup", p.ethnic_group)
    _opt(ds, "PatientComments", p.comments)
    return ds


def general_study(ds: Dataset, s: StudyInfo) -> Dataset:
    """General Study module (C.7.2.1)."""
    ds.StudyInstanceUID = s.uid
    ds.StudyDate = s.date
    ds.StudyTime = s.time
    ds.ReferringPhysicianName = s.referring_physician
    ds.StudyID = s.id
    ds.AccessionNumber = s.accession_number
    _opt(ds, "StudyDescription", s.description)
    if s.procedure_codes:
        ds.ProcedureCodeSequence = DicomSequence(list(s.procedure_codes))
    _opt(ds, "PhysiciansOfRecord", s.physicians_of_record)
    _opt(ds, "RequestingService", s.requesting_service)
    return ds


def patient_study(ds: Dataset, p: PatientInfo, on: datetime) -> Dataset:
    """Patient Study module (C.7.2.2)."""
    _opt(ds, "AdmittingDiagnosesDescription", p.admitting_diagnoses)
    ds.PatientAge = p.age(on)
    if p.size_m:
        ds.PatientSize = ds_str(p.size_m, 2)
    if p.weight_kg:
        ds.PatientWeight = ds_str(p.weight_kg, 1)
    _opt(ds, "MedicalAlerts", p.medical_alerts)
    _opt(ds, "Allergies", p.allergies)
    _opt(ds, "PregnancyStatus", p.pregnancy_status)
    return ds


def general_series(ds: Dataset, se: SeriesInfo, st: StudyInfo, *, patient_position: bool = True) -> Dataset:
    """General Series module (C.7.3.1), including the worklist-derived request attributes."""
    ds.Modality = se.modality
    ds.SeriesInstanceUID = se.uid
    ds.SeriesNumber = se.number
    if se.laterality is not None:
        ds.Laterality = se.laterality
    ds.SeriesDate = da(se.when)
    ds.SeriesTime = tm(se.when)
    if st.performing_physician:
        ds.PerformingPhysicianName = st.performing_physician
    _opt(ds, "ProtocolName", se.protocol_name)
    _opt(ds, "SeriesDescription", se.description)
    _opt(ds, "OperatorsName", se.operator)
    _opt(ds, "BodyPartExamined", se.body_part)
    if patient_position and se.patient_position:
        ds.PatientPosition = se.patient_position
    performed_procedure(ds, st)
    return ds


def sr_document_series(ds: Dataset, se: SeriesInfo, st: StudyInfo) -> Dataset:
    """SR Document Series module (C.17.1): Referenced PPS Sequence is type 2."""
    ds.Modality = "SR"
    ds.SeriesInstanceUID = se.uid
    ds.SeriesNumber = se.number
    ds.SeriesDate = da(se.when)
    ds.SeriesTime = tm(se.when)
    _opt(ds, "ProtocolName", se.protocol_name)
    _opt(ds, "SeriesDescription", se.description)
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence([])
    if st.referenced_pps_uid:
        performed_procedure(ds, StudyInfo(uid=st.uid, date=st.date, time=st.time,
                                           referenced_pps_uid=st.referenced_pps_uid))
    return ds


def rt_series(ds: Dataset, se: SeriesInfo, st: StudyInfo) -> Dataset:
    """RT Series module (C.8.8.1), with the worklist-derived request attributes."""
    ds.Modality = se.modality
    ds.SeriesInstanceUID = se.uid
    ds.SeriesNumber = se.number
    ds.SeriesDate = da(se.when)
    ds.SeriesTime = tm(se.when)
    _opt(ds, "SeriesDescription", se.description)
    ds.OperatorsName = se.operator
    performed_procedure(ds, st)
    return ds


def performed_procedure(ds: Dataset, st: StudyInfo) -> None:
    """Referenced PPS, Request Attributes Sequence and the PPS attributes of a series."""
    if st.referenced_pps_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        ref.ReferencedSOPInstanceUID = st.referenced_pps_uid
        ds.ReferencedPerformedProcedureStepSequence = DicomSequence([ref])
    if st.request_attributes:
        ds.RequestAttributesSequence = DicomSequence([_copy(i) for i in st.request_attributes])
    if st.pps_id is not None:
        ds.PerformedProcedureStepID = st.pps_id
    if st.pps_start is not None:
        ds.PerformedProcedureStepStartDate = da(st.pps_start)
        ds.PerformedProcedureStepStartTime = tm(st.pps_start)
    _opt(ds, "PerformedProcedureStepDescription", st.pps_description)
    if st.performed_protocol_codes:
        ds.PerformedProtocolCodeSequence = DicomSequence([_copy(i) for i in st.performed_protocol_codes])


def _copy(item: Dataset) -> Dataset:
    out = Dataset()
    out.update(item)
    return out


def frame_of_reference(ds: Dataset, uid: str, position_reference_indicator: str = "") -> Dataset:
    """Frame of Reference module (C.7.4.1)."""
    ds.FrameOfReferenceUID = uid
    ds.PositionReferenceIndicator = position_reference_indicator
    return ds


def general_equipment(ds: Dataset, eq: Equipment) -> Dataset:
    """General Equipment module (C.7.5.1)."""
    ds.Manufacturer = eq.manufacturer
    _opt(ds, "InstitutionName", eq.institution_name)
    _opt(ds, "InstitutionAddress", eq.institution_address)
    _opt(ds, "StationName", eq.station_name)
    _opt(ds, "InstitutionalDepartmentName", eq.department)
    ds.ManufacturerModelName = eq.model
    ds.DeviceSerialNumber = eq.device_serial_number
    ds.SoftwareVersions = list(eq.software_versions) if len(eq.software_versions) > 1 else eq.software_versions[0]
    return ds


def enhanced_general_equipment(ds: Dataset, eq: Equipment) -> Dataset:
    """Enhanced General Equipment module (C.7.5.2): the same attributes, all type 1."""
    return general_equipment(ds, eq)


def general_acquisition(ds: Dataset, number: int, when: datetime, *, irradiation_event_uid: str | None = None,
                        datetime_attr: bool = True) -> Dataset:
    """General Acquisition module (C.7.10.1)."""
    ds.AcquisitionNumber = number
    ds.AcquisitionDate = da(when)
    ds.AcquisitionTime = tm(when)
    if datetime_attr:
        ds.AcquisitionDateTime = dt(when)
    if irradiation_event_uid:
        ds.IrradiationEventUID = irradiation_event_uid
    return ds


def general_image(ds: Dataset, *, instance_number: int, content: datetime, image_type: Sequence[str] | None,
                  comments: str | None = None, patient_orientation: Sequence[str] | None = None,
                  burned_in_annotation: str = "NO", lossy: str = "00") -> Dataset:
    """General Image module (C.7.6.1)."""
    ds.InstanceNumber = instance_number
    if patient_orientation is not None:
        ds.PatientOrientation = list(patient_orientation) if patient_orientation else ""
    ds.ContentDate = da(content)
    ds.ContentTime = tm(content)
    if image_type:
        ds.ImageType = list(image_type)
    _opt(ds, "ImageComments", comments)
    ds.BurnedInAnnotation = burned_in_annotation
    ds.LossyImageCompression = lossy
    return ds


def image_plane(ds: Dataset, plane: Plane, *, slice_location: bool = True) -> Dataset:
    """Image Plane module (C.7.6.2)."""
    ds.PixelSpacing = [ds_str(plane.pixel_spacing[0]), ds_str(plane.pixel_spacing[1])]
    ds.ImageOrientationPatient = [ds_str(v) for v in (*plane.row_cosine, *plane.column_cosine)]
    ds.ImagePositionPatient = [ds_str(v, 4) for v in plane.position]
    ds.SliceThickness = ds_str(plane.thickness)
    if slice_location:
        ds.SliceLocation = ds_str(plane.slice_location, 4)
    return ds


def _range(enc: PixelEncoding) -> tuple[int, int]:
    if enc.pixel_representation:
        return -(1 << (enc.bits_stored - 1)), (1 << (enc.bits_stored - 1)) - 1
    return 0, (1 << enc.bits_stored) - 1


def encode_pixels(values: np.ndarray, enc: PixelEncoding, slope: float | None = None,
                  intercept: float | None = None) -> np.ndarray:
    """Stored values for physical *values*: ``round((v - intercept) / slope)`` clipped to the
    range of Bits Stored and Pixel Representation, in the dtype of Bits Allocated."""
    slope = enc.rescale_slope if slope is None else slope
    intercept = enc.rescale_intercept if intercept is None else intercept
    lo, hi = _range(enc)
    stored = np.clip(np.rint((np.asarray(values, np.float64) - intercept) / slope), lo, hi)
    dtype = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}[
        (enc.bits_allocated, enc.pixel_representation)]
    return stored.astype(dtype)


def image_pixel(ds: Dataset, stored: np.ndarray, enc: PixelEncoding | None, *, photometric: str = "MONOCHROME2",
                smallest_largest: bool = True, pixel_data: bool = True) -> Dataset:
    """Image Pixel module (C.7.6.3) for *stored* values (``[rows, cols]``, ``[frames, rows,
    cols]``, or ``[..., 3]`` RGB with ``enc=None``)."""
    if photometric == "RGB":
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.Rows, ds.Columns = int(stored.shape[-3]), int(stored.shape[-2])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        assert enc is not None
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.Rows, ds.Columns = int(stored.shape[-2]), int(stored.shape[-1])
        ds.BitsAllocated = enc.bits_allocated
        ds.BitsStored = enc.bits_stored
        ds.HighBit = enc.bits_stored - 1
        ds.PixelRepresentation = enc.pixel_representation
        if smallest_largest:
            vr = "SS" if enc.pixel_representation else "US"
            ds.add_new("SmallestImagePixelValue", vr, int(stored.min()))
            ds.add_new("LargestImagePixelValue", vr, int(stored.max()))
    if pixel_data:
        ds.add_new("PixelData", "OB" if ds.BitsAllocated == 8 else "OW", np.ascontiguousarray(stored).tobytes())
    return ds


def voi_lut(ds: Dataset, windows: Iterable[tuple[float, float]], explanations: Sequence[str] = ()) -> Dataset:
    """VOI LUT module (C.11.2): Window Center/Width (and explanation) when given."""
    windows = list(windows)
    if windows:
        centres = [ds_str(c, 2) for c, _ in windows]
        widths = [ds_str(max(w, 1.0), 2) for _, w in windows]
        ds.WindowCenter = centres if len(centres) > 1 else centres[0]
        ds.WindowWidth = widths if len(widths) > 1 else widths[0]
        if explanations:
            ex = list(explanations)[: len(windows)]
            ds.WindowCenterWidthExplanation = ex if len(ex) > 1 else ex[0]
    return ds


def sop_common(ds: Dataset, sop_class_uid: str, sop_instance_uid: str, *, charset: str, created: datetime,
               timezone_offset: str | None = None, instance_number: int | None = None) -> Dataset:
    """SOP Common module (C.12.1)."""
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    if charset and charset != "ISO_IR 6":
        ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    ds.InstanceCreationDate = da(created)
    ds.InstanceCreationTime = tm(created)
    _opt(ds, "TimezoneOffsetFromUTC", timezone_offset)
    if instance_number is not None:
        ds.InstanceNumber = instance_number
    return ds


_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})


def coerce_text(ds: Dataset, charset: str) -> Dataset:
    """Replace characters the object's character set cannot encode with ``?`` (as the
    Siemens statements describe for illegal characters). Only single-byte sets without code
    extensions are checked; the default repertoire (no Specific Character Set) is ASCII."""
    from pydicom.charset import python_encoding

    codec = "ascii" if charset in ("", "ISO_IR 6") else python_encoding.get(charset)
    if codec is None or charset.startswith("ISO 2022") or charset in ("ISO_IR 192", "GB18030", "GBK"):
        return ds
    for elem in ds.iterall():
        if elem.VR in _TEXT_VRS and elem.value not in (None, ""):
            values = elem.value if isinstance(elem.value, (list, tuple)) or type(elem.value).__name__ == "MultiValue" \
                else [elem.value]
            fixed = [str(v).encode(codec, "replace").decode(codec) for v in values]
            if fixed != [str(v) for v in values]:
                elem.value = fixed if len(fixed) > 1 else fixed[0]
    return ds


def fixed_values(ds: Dataset, values: dict[str, Any]) -> Dataset:
    """Statement-fixed values (``[objects.<kind>].fixed``): keyword -> value."""
    for kw, v in values.items():
        tag = tag_for_keyword(kw)
        vr = dictionary_VR(tag)
        if vr == "SQ":
            ds.add_new(tag, "SQ", DicomSequence([_item_from(x) for x in v]))
        else:
            ds.add_new(tag, vr, list(v) if isinstance(v, (list, tuple)) else v)
    return ds


def _item_from(d: dict[str, Any]) -> Dataset:
    item = Dataset()
    fixed_values(item, d)
    return item


def private_blocks(ds: Dataset, blocks: Iterable[PrivateBlock], kind: str) -> Dataset:
    """Add the product's private creator blocks that apply to object *kind*.

    Each creator reserves the first free block ``(gggg,0010)..(gggg,00FF)`` of its group;
    its elements are ``(gggg, bbee)`` with ``bb`` the block and ``ee`` the element offset.
    String values may name attributes of *ds* in braces, e.g. ``"{SeriesDate}{SeriesTime}"``.
    """
    for b in blocks:
        if kind not in b.objects:
            continue
        block = ds.private_block(int(b.group, 16), b.creator, create=True)
        for e in b.elements:
            value = e.value
            if isinstance(value, str) and "{" in value and e.vr not in ("OB", "UN"):
                value = value.format_map(_Attributes(ds))
            if e.vr in ("OB", "UN"):
                value = value.encode("latin-1") if isinstance(value, str) else bytes(value)
                if len(value) % 2:
                    value += b"\x00"
            block.add_new(int(e.element, 16), e.vr, value)
    return ds


class _Attributes(dict):
    def __init__(self, ds: Dataset) -> None:
        super().__init__()
        self.ds = ds

    def __missing__(self, keyword: str) -> str:
        v = self.ds.get(keyword, "")
        return "\\".join(map(str, v)) if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else str(v)


def file_meta(ds: Dataset, *, implementation_class_uid: str, implementation_version_name: str) -> Dataset:
    """File Meta Information (PS3.10 7.1) with the product's media implementation values."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = implementation_class_uid
    # "left blank" in a statement (e.g. syngo MR XA11B Table 62) is written as zero length
    meta.ImplementationVersionName = implementation_version_name
    ds.file_meta = meta
    return ds


# --- derived objects ----------------------------------------------------------------------------


def content_identification(ds: Dataset, *, number: int, label: str, description: str = "",
                           creator: str = "") -> Dataset:
    """Content Identification macro (C.10.9): Instance Number, Content Label (CS), Content
    Description and Content Creator's Name (both type 2)."""
    ds.InstanceNumber = number
    ds.ContentLabel = label
    ds.ContentDescription = description
    ds.ContentCreatorName = creator
    return ds


def image_references(references: Iterable[tuple[str, str, int | None]]) -> list[Dataset]:
    """Referenced Image Sequence items ``(class, instance, frame or None)``; frames of one
    multi-frame instance are merged into one item with several Referenced Frame Numbers."""
    items: dict[str, Dataset] = {}
    frames: dict[str, list[int]] = {}
    for cls, uid, frame in references:
        if uid not in items:
            item = items[uid] = Dataset()
            item.ReferencedSOPClassUID = cls
            item.ReferencedSOPInstanceUID = uid
            frames[uid] = []
        if frame is not None:
            frames[uid].append(int(frame))
    for uid, numbers in frames.items():
        if numbers:
            items[uid].ReferencedFrameNumber = numbers if len(numbers) > 1 else numbers[0]
    return list(items.values())


def _sop_references(instances: Iterable[tuple[str, str]]) -> DicomSequence:
    """Referenced SOP Class / Instance UID items, each ``(class, instance)`` once, in order."""
    refs = []
    for cls, uid in dict.fromkeys(instances):
        r = Dataset()
        r.ReferencedSOPClassUID = cls
        r.ReferencedSOPInstanceUID = uid
        refs.append(r)
    return DicomSequence(refs)


def common_instance_reference(ds: Dataset, study_uid: str,
                              series: Iterable[tuple[str, str, list[tuple[str, str]]]]) -> Dataset:
    """Common Instance Reference module (C.12.2): the referenced instances by series
    ``(study, series, [(class, instance)])``; series of other studies go into the Studies
    Containing Other Referenced Instances Sequence."""
    local, other = [], {}
    for study, series_uid, instances in series:
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedInstanceSequence = _sop_references(instances)
        if study == study_uid:
            local.append(item)
        else:
            other.setdefault(study, []).append(item)
    if local:
        ds.ReferencedSeriesSequence = DicomSequence(local)
    if other:
        studies = []
        for study, items in other.items():
            s = Dataset()
            s.StudyInstanceUID = study
            s.ReferencedSeriesSequence = DicomSequence(items)
            studies.append(s)
        ds.StudiesContainingOtherReferencedInstancesSequence = DicomSequence(studies)
    return ds


def dimension_index(ds: Dataset, uid: str, pointers: Sequence[tuple[str, str, str]]) -> Dataset:
    """Multi-frame Dimension module (C.7.6.17): one Dimension Index item per
    ``(index keyword, functional group keyword, label)``."""
    from pydicom.tag import Tag

    org = Dataset()
    org.DimensionOrganizationUID = uid
    ds.DimensionOrganizationSequence = DicomSequence([org])
    items = []
    for index, group, label in pointers:
        d = Dataset()
        d.DimensionOrganizationUID = uid
        d.DimensionIndexPointer = Tag(tag_for_keyword(index))
        d.FunctionalGroupPointer = Tag(tag_for_keyword(group))
        d.DimensionDescriptionLabel = label
        items.append(d)
    ds.DimensionIndexSequence = DicomSequence(items)
    return ds


def evidence(study_uid: str, series: Iterable[tuple[str, list[tuple[str, str]]]]) -> list[Dataset]:
    """Hierarchical SOP Instance Reference macro items (C.17.2.1) for the Referenced/Source
    Image Evidence Sequences: one study, its series ``(series, [(class, instance)])``."""
    study = Dataset()
    study.StudyInstanceUID = study_uid
    items = []
    for series_uid, instances in series:
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = _sop_references(instances)
        items.append(item)
    study.ReferencedSeriesSequence = DicomSequence(items)
    return [study]


def srgb_icc_profile() -> bytes:
    """A small ICC v2 display profile of sRGB (D50-adapted primaries, gamma 2.2 curves) for the
    ICC Profile module (C.11.15) of colour images."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", int(round(v * 65536)))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"sRGB (gamma 2.2)"
    desc = (b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" + struct.pack(">II", 0, 0)
            + struct.pack(">HB", 0, 0) + bytes(67))
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 563) + b"\0\0"  # gamma 2.2 as u8Fixed8
    tags = [(b"desc", desc), (b"cprt", b"text\0\0\0\0No copyright, use freely\0"),
            (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
            (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)), (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(24) + struct.pack(">I", 0)
              + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
