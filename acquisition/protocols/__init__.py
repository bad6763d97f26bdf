"""Scan protocols and product header data, as TOML (one file per profile).

``acquisition/protocols/<profile-id>.toml`` holds what a product writes into the objects
it creates that its profile does not hold: model, station name and serial number, UID
root, pixel encodings and fixed values per object kind, the private creator blocks its
statement documents, how worklist values map into objects, and the scan protocols
(each a list of series steps with physical parameters). Every value that comes from the
statement carries a comment citing the section; emulator choices say so.

The loader is strict like the profile loader: unknown keys, wrong types and unknown
values are reported together, naming the file and the key. A sixth product puts its
``<id>.protocols.toml`` next to its profile file (or in a folder named by
``VSCANNER_PROTOCOL_PATH``).
"""

from __future__ import annotations

__all__ = [
    "ProductData",
    "Protocol",
    "SeriesSpec",
    "Geometry",
    "MRParams",
    "CTParams",
    "PETParams",
    "RTImageParams",
    "StructureSetParams",
    "ROISpec",
    "SCParams",
    "PixelEncoding",
    "ObjectRules",
    "PrivateBlock",
    "PrivateElement",
    "Header",
    "WorklistMapping",
    "load_product_data",
    "product_data_for",
    "protocol_search_path",
    "OBJECT_KINDS",
    "SERIES_KINDS",
]

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from appliance.errors import Problem, ProfileError
from appliance.schema import StrictBuilder

SPEC_VERSION = 1

# object kinds: one IOD builder each (acquisition.iods.SOP_CLASSES maps them to UIDs)
OBJECT_KINDS = ("mr_image", "enhanced_mr", "ct_image", "ct_localizer", "enhanced_ct", "pet_image",
                "sc_image", "dose_sr", "rt_image", "rtstruct",
                # made after the acquisition (Acquisition.derive)
                "segmentation", "mf_grayscale_sc", "mf_true_color_sc", "enhanced_mr_color", "rwv_mapping",
                "mr_spectroscopy", "raw_data", "gsps", "spatial_registration")


def _known_kinds() -> set[str]:
    """OBJECT_KINDS and the kinds of every builder module that is present."""
    from ..iods import SOP_CLASSES

    return set(OBJECT_KINDS) | set(SOP_CLASSES)
SERIES_KINDS = ("mr", "ct", "ct_localizer", "pet", "rt_image", "rtstruct", "sc", "dose_sr")


def _f(default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=kw)
    return field(default=default, metadata=kw)


@dataclass(frozen=True, kw_only=True)
class PixelEncoding:
    """How physical values become stored pixels (Image Pixel and rescale attributes)."""

    bits_allocated: int = _f(16)
    bits_stored: int = _f(12)
    pixel_representation: int = _f(0)
    rescale_intercept: float = _f(0.0)
    rescale_slope: float = _f(1.0)
    rescale_type: str | None = _f(None)
    per_frame_slope: bool = _f(False)  # PET: slope per image so its maximum fills the range
    signal_scale: float | None = _f(None)  # MR, portal: stored value per unit signal (a fixed receiver gain)
    windows: tuple[tuple[float, float], ...] = _f(())
    window_explanations: tuple[str, ...] = _f(())


@dataclass(frozen=True, kw_only=True)
class ObjectRules:
    """Product-specific values for one object kind (``[objects.<kind>]``)."""

    encoding: PixelEncoding | None = _f(None)
    image_type: tuple[str, ...] = _f(())
    instance_number_start: int = _f(1)
    series_number: int | None = _f(None)
    manufacturer: str | None = _f(None)
    model: str | None = _f(None)
    software_versions: tuple[str, ...] = _f(())
    uid_root: str | None = _f(None)  # when this kind's application has its own UID root
    fixed: dict[str, Any] = _f({})  # keyword -> value, written as given (statement "FIXED")
    source: str = _f("")


@dataclass(frozen=True, kw_only=True)
class PrivateElement:
    element: str = _f()  # two hex digits: the element's offset inside the creator's block
    vr: str = _f()
    value: Any = _f()
    name: str = _f("")


@dataclass(frozen=True, kw_only=True)
class PrivateBlock:
    group: str = _f()  # four hex digits, odd
    creator: str = _f()
    objects: tuple[str, ...] = _f()
    elements: tuple[PrivateElement, ...] = _f()
    source: str = _f("")


@dataclass(frozen=True, kw_only=True)
class Header:
    """Equipment identity and site values written into every created object."""

    model: str = _f()
    device_serial_number: str = _f()
    station_name: str = _f()
    software_versions: tuple[str, ...] = _f(())  # default: the profile's
    institution_name: str = _f("Virtual Hospital")
    institution_address: str = _f("1 Simulation Street, Erlangen")
    department: str = _f("Radiology")
    uid_root: str | None = _f(None)  # prefix for created UIDs; None = pydicom's root
    uid_root_source: str = _f("")
    field_strength: float | None = _f(None)  # MR, tesla
    imaging_frequency: float | None = _f(None)  # MR, MHz
    patient_position: str = _f("HFS")
    mr_object: Literal["legacy", "enhanced"] = _f("legacy")  # default when both are created
    ct_object: Literal["legacy", "enhanced"] = _f("legacy")
    operator: str = _f("TECH^VIRTUAL")
    timezone_offset: str | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class WorklistMapping:
    """How a worklist item fills the objects (each statement's MWL mapping table)."""

    study_id: Literal["requested_procedure_id", "generated"] = _f("requested_procedure_id")
    study_description: Literal["requested_procedure_description", "protocol", "body_part^protocol",
                               "scheduled_procedure_step_description"] = _f("requested_procedure_description")
    request_attributes: tuple[str, ...] = _f(("RequestedProcedureID", "AccessionNumber", "StudyInstanceUID",
                                              "RequestedProcedureDescription", "ScheduledProcedureStepID",
                                              "ScheduledProcedureStepDescription"))
    performing_physician_from_sps: bool = _f(True)
    pps_id_from_sps: bool = _f(True)
    pps_description_from_sps: bool = _f(True)
    procedure_code_from_requested: bool = _f(True)
    performed_protocol_code_from_sps: bool = _f(True)
    physicians_of_record_from_recipients: bool = _f(False)
    patient_study_module: Literal["always", "worklist_only"] = _f("always")
    source: str = _f("")


@dataclass(frozen=True, kw_only=True)
class Geometry:
    orientation: Literal["axial", "coronal", "sagittal", "three_plane"] = _f("axial")
    centre: tuple[float, float, float] = _f((0.0, 0.0, 0.0))
    fov: tuple[float, float] = _f((250.0, 250.0))  # rows direction, columns direction (mm)
    matrix: tuple[int, int] = _f((256, 256))  # rows, columns
    slices: int = _f(1)
    thickness: float = _f(5.0)
    spacing: float | None = _f(None)  # centre-to-centre; default = thickness


@dataclass(frozen=True, kw_only=True)
class MRParams:
    sequence: Literal["SE", "TSE", "GRE", "IR"] = _f()
    tr: float = _f()
    te: float = _f()
    ti: float | None = _f(None)
    flip: float = _f(90.0)
    echo_train_length: int = _f(1)
    averages: float = _f(1.0)
    bandwidth: float = _f(200.0)  # Hz/pixel
    acquisition_matrix: tuple[int, int] | None = _f(None)  # (rows, cols) measured; default = matrix
    phase_direction: Literal["ROW", "COL"] = _f("ROW")
    sequence_name: str = _f("")
    scanning_sequence: tuple[str, ...] = _f(("SE",))
    sequence_variant: tuple[str, ...] = _f(("NONE",))
    scan_options: tuple[str, ...] = _f(())
    acquisition_type: Literal["2D", "3D"] = _f("2D")
    contrast: Literal["T1", "T2", "PROTON_DENSITY", "T2_STAR", "FLUID_ATTENUATED", "STIR", "UNKNOWN"] = _f("UNKNOWN")
    receive_coil: str = _f("Head/Neck 20")
    transmit_coil: str = _f("Body")
    percent_sampling: float = _f(100.0)
    percent_phase_fov: float = _f(100.0)
    sar: float = _f(0.5)  # W/kg
    dbdt: float = _f(30.0)  # T/s


@dataclass(frozen=True, kw_only=True)
class CTParams:
    kvp: float = _f(120.0)
    mas: float = _f(100.0)  # effective mAs (per rotation / pitch)
    rotation_time: float = _f(0.5)  # s
    pitch: float = _f(1.0)
    single_collimation: float = _f(0.6)
    total_collimation: float = _f(38.4)
    kernel: str = _f("Br40")
    kernel_class: Literal["soft", "standard", "sharp"] = _f("standard")
    filter_type: str = _f("FLAT")
    focal_spot: float = _f(0.7)
    exposure_modulation_type: str = _f("NONE")
    ctdi_phantom: Literal["body", "head"] = _f("body")
    distance_source_to_detector: float = _f(1085.6)
    distance_source_to_patient: float = _f(595.0)
    data_collection_diameter: float = _f(500.0)
    table_height: float = _f(160.0)
    gantry_tilt: float = _f(0.0)
    generator_power: int = _f(50)
    sigma_ref: float = _f(11.0)  # HU noise at 100 mAs, 120 kVp, 5 mm, standard kernel, 300 mm
    scan_options: str = _f("HELICAL_CT")
    acquisition_type: Literal["SPIRAL", "SEQUENCED", "CONSTANT_ANGLE", "STATIONARY"] = _f("SPIRAL")


@dataclass(frozen=True, kw_only=True)
class PETParams:
    radiopharmaceutical: str = _f("Fluorodeoxyglucose")
    radiopharmaceutical_code: tuple[str, str, str] = _f(("C-B1031", "SRT", "Fluorodeoxyglucose F^18^"))
    radionuclide_code: tuple[str, str, str] = _f(("C-111A1", "SRT", "^18^Fluorine"))
    half_life: float = _f(6586.2)
    positron_fraction: float = _f(0.97)
    injected_dose_mbq: float = _f(350.0)
    uptake_minutes: float = _f(60.0)
    bed_duration: float = _f(120.0)  # s per bed
    bed_slices: int = _f(109)  # slices per bed (axial FOV / slice spacing)
    bed_overlap: int = _f(27)
    reconstruction_method: str = _f("PSF+TOF 2i21s")
    convolution_kernel: str = _f("XYZ Gauss2.00")
    psf_fwhm: float = _f(4.5)
    post_filter_fwhm: float = _f(2.0)
    sensitivity: float = _f(0.01)  # effective counts per decay (sets the noise)
    units: Literal["BQML", "PROPCPS"] = _f("BQML")
    series_type: tuple[str, str] = _f(("WHOLE BODY", "IMAGE"))
    corrected_image: tuple[str, ...] = _f(("NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"))
    attenuation_correction_method: str = _f("CT-derived mu-map")
    scatter_correction_method: str = _f("Model-based")
    randoms_correction_method: str = _f("DLYD")
    energy_window: tuple[float, float] = _f((435.0, 650.0))
    axial_acceptance: int = _f(49)
    axial_mash: tuple[int, int] = _f((5, 6))


@dataclass(frozen=True, kw_only=True)
class RTImageParams:
    energy_mv: float = _f(6.0)
    meterset: float = _f(2.0)  # MU
    gantry_angle: float = _f(0.0)
    collimator_angle: float = _f(0.0)
    couch_angle: float = _f(0.0)
    sad: float = _f(1000.0)
    sid: float = _f(1450.0)
    field_size: tuple[float, float] = _f((100.0, 100.0))  # X, Y at isocentre (mm)
    leaf_pairs: int = _f(41)
    frames: int = _f(1)
    frame_time: float = _f(500.0)  # ms, cine
    machine_name: str = _f("LINAC1")
    label: str = _f("Field 1")
    isocentre: tuple[float, float, float] = _f((0.0, 0.0, 0.0))
    source_to_reference_object_distance: float = _f(400.0)
    table_top_eccentric_axis_distance: float = _f(950.0)
    source_to_bld_distance: tuple[float, float] = _f((283.0, 196.9))
    bld_types: tuple[str, str] = _f(("MLCX", "Y"))


@dataclass(frozen=True, kw_only=True)
class ROISpec:
    name: str = _f()
    tissue: str | None = _f(None)  # contour the phantom's tissue (CLOSED_PLANAR)
    point: tuple[float, float, float] | None = _f(None)  # a reference point (POINT)
    interpreted_type: str = _f("ORGAN")
    color: tuple[int, int, int] = _f((255, 0, 0))
    algorithm: Literal["AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"] = _f("SEMIAUTOMATIC")
    margin: float = _f(0.0)  # mm grown around the tissue (e.g. PTV = GTV + margin)
    relative_electron_density: float | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class StructureSetParams:
    reference: str = _f()  # description of the image series (same protocol) it contours
    label: str = _f("Structures")
    name: str | None = _f(None)
    rois: tuple[ROISpec, ...] = _f()


@dataclass(frozen=True, kw_only=True)
class SCParams:
    source: str = _f()  # description of the image series (same protocol) it derives from
    render: Literal["mip", "montage"] = _f("mip")
    rows: int = _f(512)
    columns: int = _f(512)
    photometric: Literal["MONOCHROME2", "RGB"] = _f("MONOCHROME2")
    derivation_description: str = _f("Secondary Capture")


@dataclass(frozen=True, kw_only=True)
class SeriesSpec:
    kind: Literal["mr", "ct", "ct_localizer", "pet", "rt_image", "rtstruct", "sc", "dose_sr"] = _f()
    description: str = _f()
    series_number: int = _f()
    phantom: str | None = _f(None)
    body_part: str | None = _f(None)
    image_comments: str | None = _f(None)
    image_type: tuple[str, ...] = _f(())  # overrides [objects.<kind>].image_type for this series
    windows: tuple[tuple[float, float], ...] = _f(())
    window_explanations: tuple[str, ...] = _f(())
    geometry: Geometry | None = _f(None)
    mr: MRParams | None = _f(None)
    ct: CTParams | None = _f(None)
    pet: PETParams | None = _f(None)
    rt_image: RTImageParams | None = _f(None)
    rtstruct: StructureSetParams | None = _f(None)
    sc: SCParams | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class Protocol:
    name: str = _f()
    description: str = _f("")
    body_part: str = _f()
    phantom: str = _f()
    series: tuple[SeriesSpec, ...] = _f()


@dataclass(frozen=True, kw_only=True)
class ProductData:
    spec: int = _f()
    profile: str = _f()
    statement: str = _f()
    header: Header = _f()
    objects: dict[str, ObjectRules] = _f({})
    private: tuple[PrivateBlock, ...] = _f(())
    worklist: WorklistMapping = _f(WorklistMapping())
    protocols: tuple[Protocol, ...] = _f()
    source: str = field(default="", compare=False, metadata={"internal": True})

    def protocol(self, name: str | None) -> Protocol:
        """The protocol called *name* (case-insensitive), or the first one."""
        if name is None:
            return self.protocols[0]
        for p in self.protocols:
            if p.name.lower() == name.lower():
                return p
        raise KeyError(name)

    def rules(self, kind: str) -> ObjectRules:
        return self.objects.get(kind, ObjectRules())


# --- strict loader driven by the dataclasses above -------------------------------------------


class _Loader(StrictBuilder):
    """Protocol files: numbers may be negative (positions, offsets), no string checks."""


def _cross_checks(data: ProductData, ld: _Loader) -> None:
    from pydicom.datadict import tag_for_keyword

    from ..phantoms import PHANTOMS

    if data.spec != SPEC_VERSION:
        ld.problem("spec", f"spec {data.spec} is not supported (this vscanner reads spec {SPEC_VERSION})")
    known = _known_kinds()
    for kind, rules in data.objects.items():
        if kind not in known:
            ld.problem(f"objects.{kind}", f"unknown object kind; known: {', '.join(sorted(known))}")
        for kw in rules.fixed:
            if tag_for_keyword(kw) is None:
                ld.problem(f"objects.{kind}.fixed.{kw}", "not a DICOM keyword")
    for i, b in enumerate(data.private):
        try:
            group = int(b.group, 16)
        except ValueError:
            group = 0
        if group % 2 == 0 or group < 0x0009:
            ld.problem(f"private[{i}].group", f"{b.group!r} is not an odd private group")
        for j, e in enumerate(b.elements):
            try:
                ok = 0 <= int(e.element, 16) <= 0xFF
            except ValueError:
                ok = False
            if not ok:
                ld.problem(f"private[{i}].elements[{j}].element", f"{e.element!r} is not two hex digits")
        for k in b.objects:
            if k not in known:
                ld.problem(f"private[{i}].objects", f"unknown object kind {k!r}")
    for kw in data.worklist.request_attributes:
        if tag_for_keyword(kw) is None:
            ld.problem("worklist.request_attributes", f"{kw!r} is not a DICOM keyword")
    names = set()
    for i, p in enumerate(data.protocols):
        if p.name.lower() in names:
            ld.problem(f"protocols[{i}].name", f"{p.name!r} is listed twice")
        names.add(p.name.lower())
        descs = [s.description for s in p.series]
        for j, s in enumerate(p.series):
            key = f"protocols[{i}].series[{j}]"
            phantom = s.phantom or p.phantom
            if phantom not in PHANTOMS:
                ld.problem(f"{key}.phantom", f"unknown phantom {phantom!r}; known: {', '.join(PHANTOMS)}")
            needs = {"mr": "mr", "ct": "ct", "ct_localizer": "ct", "pet": "pet", "rt_image": "rt_image",
                     "rtstruct": "rtstruct", "sc": "sc"}.get(s.kind)
            if needs and getattr(s, needs) is None:
                ld.problem(f"{key}.{needs}", f"a {s.kind!r} series needs a [{needs}] table")
            if s.kind in ("mr", "ct", "ct_localizer", "pet") and s.geometry is None:
                ld.problem(f"{key}.geometry", f"a {s.kind!r} series needs a [geometry] table")
            ref = (s.rtstruct.reference if s.rtstruct else s.sc.source if s.sc else None)
            if ref is not None and ref not in descs[:j]:
                ld.problem(key, f"refers to {ref!r}, which is not an earlier series of {p.name!r}")


def load_product_data(path: str | os.PathLike[str]) -> ProductData:
    """Load and validate one protocols file; :class:`ProfileError` lists every problem."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError([Problem(str(path), "-", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError([Problem(str(path), "-", f"not valid TOML: {exc}")]) from None
    ld = _Loader(str(path))
    data = ld.build(ProductData, raw, "")
    if data is not None:
        _cross_checks(data, ld)
    if ld.problems or data is None:
        raise ProfileError(ld.problems, "fix the named keys (see acquisition/protocols/__init__.py for the schema)")
    return dataclasses.replace(data, source=str(path))


def protocol_search_path(profile_source: str = "") -> list[Path]:
    dirs = []
    if profile_source:
        dirs.append(Path(profile_source).parent)
    env = os.environ.get("VSCANNER_PROTOCOL_PATH", "")
    dirs += [Path(d) for d in env.split(os.pathsep) if d]
    dirs.append(Path(__file__).parent)
    return dirs


def product_data_for(profile_id: str, profile_source: str = "") -> ProductData:
    """The protocols file of a profile: ``<id>.protocols.toml`` beside the profile or on
    ``VSCANNER_PROTOCOL_PATH``, else the built-in ``acquisition/protocols/<id>.toml``."""
    for d in protocol_search_path(profile_source):
        for name in (f"{profile_id}.protocols.toml", f"{profile_id}.toml"):
            f = d / name
            if f.is_file() and (name.endswith(".protocols.toml") or d == Path(__file__).parent):
                return _load_cached(str(f.resolve()))
    raise ProfileError(
        f"no scan protocols for profile {profile_id!r}",
        f"write {profile_id}.protocols.toml next to the profile (schema: acquisition/protocols/__init__.py)",
    )


@lru_cache(maxsize=16)
def _load_cached(path: str) -> ProductData:
    return load_product_data(path)
