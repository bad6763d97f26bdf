"""X-Ray Radiation Dose SR (A.35.8) with the CT Radiation Dose template, TID 10011.

The content tree follows PS3.16 TID 10011 / 10012 / 10013 / 10014 / 10015 as written
after a CT exam: one CT Acquisition container (TID 10013) per irradiation event, the
accumulated data (TID 10012: number of events, DLP total), observer context (TID 1002)
and the source of dose information. Concept names use the DCM codes of the templates and
SNOMED CT (SCT) for anatomy and procedure; units are UCUM.
"""

from __future__ import annotations

__all__ = ["IrradiationEvent", "ct_dose_report"]

from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from . import ObjectContext, common_modules, finish
from . import modules as m
from . import sr_content as sr
from .enhanced import anatomic_region


@dataclass(frozen=True)
class IrradiationEvent:
    """One CT irradiation event (a topogram or a spiral/sequence scan)."""

    uid: str
    protocol: str
    body_part: str
    acquisition_type: str  # "SPIRAL", "SEQUENCED", "CONSTANT_ANGLE"
    start: datetime
    end: datetime
    kvp: float
    tube_current: float
    exposure_time: float  # s, whole event
    rotation_time: float
    scanning_length_mm: float
    single_collimation: float
    total_collimation: float
    pitch: float | None
    ctdivol: float | None
    dlp: float | None
    phantom: str = "body"


_UNITS = {
    "mGy": ("mGy", "mGy"), "mGy.cm": ("mGy.cm", "mGy.cm"), "kV": ("kV", "kV"), "mA": ("mA", "mA"),
    "s": ("s", "s"), "mm": ("mm", "mm"), "ratio": ("{ratio}", "ratio"),
    "sources": ("{X-Ray sources}", "X-Ray sources"), "events": ("{events}", "events"),
}
_ACQ_TYPE = {
    "SPIRAL": ("116152004", "SCT", "Spiral Acquisition"),
    "SEQUENCED": ("113804", "DCM", "Sequenced Acquisition"),
    "CONSTANT_ANGLE": ("113805", "DCM", "Constant Angle Acquisition"),
    "STATIONARY": ("113806", "DCM", "Stationary Acquisition"),
}


_item, _container, _text, _code, _uidref, _datetime = (sr.item, sr.container, sr.text, sr.code, sr.uidref,
                                                      sr.datetime_item)


def _num(rel, concept, value: float, unit: str) -> Dataset:  # type: ignore[no-untyped-def]
    return sr.num(rel, concept, value, _UNITS[unit])


def _no() -> tuple[str, str, str]:
    return ("373067005", "SCT", "No")


def _acquisition(ev: IrradiationEvent, ctx: ObjectContext, device_uid: str) -> Dataset:
    """TID 10013 CT Irradiation Event Data."""
    params = [
        _num("CONTAINS", ("113824", "DCM", "Exposure Time"), ev.exposure_time, "s"),
        _num("CONTAINS", ("113825", "DCM", "Scanning Length"), ev.scanning_length_mm, "mm"),
        _num("CONTAINS", ("113826", "DCM", "Nominal Single Collimation Width"), ev.single_collimation, "mm"),
        _num("CONTAINS", ("113827", "DCM", "Nominal Total Collimation Width"), ev.total_collimation, "mm"),
    ]
    if ev.pitch is not None and ev.acquisition_type == "SPIRAL":
        params.append(_num("CONTAINS", ("113828", "DCM", "Pitch Factor"), ev.pitch, "ratio"))
    params.append(_num("CONTAINS", ("113823", "DCM", "Number of X-Ray Sources"), 1, "sources"))
    source = [
        _text("CONTAINS", ("113832", "DCM", "Identification of the X-Ray Source"), "A"),
        _num("CONTAINS", ("113733", "DCM", "KVP"), ev.kvp, "kV"),
        _num("CONTAINS", ("113833", "DCM", "Maximum X-Ray Tube Current"), ev.tube_current, "mA"),
        _num("CONTAINS", ("113734", "DCM", "X-Ray Tube Current"), ev.tube_current, "mA"),
    ]
    if ev.acquisition_type != "CONSTANT_ANGLE":
        source.append(_num("CONTAINS", ("113834", "DCM", "Exposure Time per Rotation"), ev.rotation_time, "s"))
    params.append(_container("CONTAINS", ("113831", "DCM", "CT X-Ray Source Parameters"), source))
    children = [
        _text("CONTAINS", ("125203", "DCM", "Acquisition Protocol"), ev.protocol),
        _code("CONTAINS", ("123014", "DCM", "Target Region"), anatomic_region(ev.body_part)),
        _code("CONTAINS", ("113820", "DCM", "CT Acquisition Type"), _ACQ_TYPE[ev.acquisition_type]),
        _uidref("CONTAINS", ("113769", "DCM", "Irradiation Event UID"), ev.uid),
        _container("CONTAINS", ("113822", "DCM", "CT Acquisition Parameters"), params),
    ]
    if ev.ctdivol is not None and ev.acquisition_type != "CONSTANT_ANGLE":
        phantom = {"body": ("113691", "DCM", "IEC Body Dosimetry Phantom"),
                   "head": ("113690", "DCM", "IEC Head Dosimetry Phantom")}[ev.phantom]
        children.append(_container("CONTAINS", ("113829", "DCM", "CT Dose"), [
            _num("CONTAINS", ("113830", "DCM", "Mean CTDIvol"), ev.ctdivol, "mGy"),
            _code("CONTAINS", ("113835", "DCM", "CTDIw Phantom Type"), phantom),
            _num("CONTAINS", ("113838", "DCM", "DLP"), ev.dlp or 0.0, "mGy.cm"),
        ]))
    # TID 10015 CT Dose Check Details: no alert or notification values configured
    children.append(_container("CONTAINS", ("113900", "DCM", "Dose Check Alert Details"), [
        _code("CONTAINS", ("113901", "DCM", "DLP Alert Value Configured"), _no()),
        _code("CONTAINS", ("113902", "DCM", "CTDIvol Alert Value Configured"), _no()),
    ]))
    children.append(_container("CONTAINS", ("113908", "DCM", "Dose Check Notification Details"), [
        _code("CONTAINS", ("113909", "DCM", "DLP Notification Value Configured"), _no()),
        _code("CONTAINS", ("113910", "DCM", "CTDIvol Notification Value Configured"), _no()),
    ]))
    eq = ctx.equipment
    device = _code("CONTAINS", ("113876", "DCM", "Device Role in Procedure"), ("113859", "DCM", "Irradiating Device"))
    device.ContentSequence = DicomSequence([
        _text("HAS PROPERTIES", ("113878", "DCM", "Device Manufacturer"), eq.manufacturer),
        _text("HAS PROPERTIES", ("113879", "DCM", "Device Model Name"), eq.model),
        _text("HAS PROPERTIES", ("113880", "DCM", "Device Serial Number"), eq.device_serial_number),
        _uidref("HAS PROPERTIES", ("121012", "DCM", "Device Observer UID"), device_uid),
    ])
    children.append(device)
    return _container("CONTAINS", ("113819", "DCM", "CT Acquisition"), children)


def ct_dose_report(ctx: ObjectContext, series: m.SeriesInfo, events: list[IrradiationEvent], *,
                   device_uid: str) -> Dataset:
    """The X-Ray Radiation Dose SR instance for a CT exam's irradiation events."""
    rule = ctx.rule("dose_sr")
    eq = ctx.equipment_for("dose_sr")
    ds = Dataset()
    common_modules(ds, ctx, series, frame_of_reference=False, series_module="sr")
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    # SR Document General module (C.17.2)
    ds.InstanceNumber = rule.instance_number_start
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    end = max(e.end for e in events)
    ds.ContentDate = m.da(end)
    ds.ContentTime = m.tm(end)
    ds.PerformedProcedureCodeSequence = DicomSequence([])
    if ctx.study.request_attributes:
        req = Dataset()
        src = ctx.study.request_attributes[0]
        req.StudyInstanceUID = ctx.study.uid
        req.ReferencedStudySequence = DicomSequence([])
        req.AccessionNumber = ctx.study.accession_number
        req.RequestedProcedureID = src.get("RequestedProcedureID", "")
        req.RequestedProcedureDescription = src.get("RequestedProcedureDescription", "")
        req.RequestedProcedureCodeSequence = DicomSequence([])
        req.PlacerOrderNumberImagingServiceRequest = ""
        req.FillerOrderNumberImagingServiceRequest = ""
        ds.ReferencedRequestSequence = DicomSequence([req])
    # SR Document Content module (C.17.3): TID 10011
    observer = [
        _code("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device")),
        _uidref("HAS OBS CONTEXT", ("121012", "DCM", "Device Observer UID"), device_uid),
        _text("HAS OBS CONTEXT", ("121013", "DCM", "Device Observer Name"), eq.station_name or eq.model),
        _text("HAS OBS CONTEXT", ("121014", "DCM", "Device Observer Manufacturer"), eq.manufacturer),
        _text("HAS OBS CONTEXT", ("121015", "DCM", "Device Observer Model Name"), eq.model),
        _text("HAS OBS CONTEXT", ("121016", "DCM", "Device Observer Serial Number"), eq.device_serial_number),
        _text("HAS OBS CONTEXT", ("121017", "DCM", "Device Observer Physical Location During Observation"),
              eq.department or eq.institution_name or "CT room"),
    ]
    procedure = _code("HAS CONCEPT MOD", ("121058", "DCM", "Procedure reported"),
                      ("77477000", "SCT", "Computed Tomography"))
    procedure.ContentSequence = DicomSequence([
        _code("HAS CONCEPT MOD", ("363703001", "SCT", "Has Intent"), ("261004008", "SCT", "Diagnostic Intent"))])
    scope = _code("HAS OBS CONTEXT", ("113705", "DCM", "Scope of Accumulation"), ("113014", "DCM", "Study"))
    scope.ContentSequence = DicomSequence([
        _uidref("HAS PROPERTIES", ("110180", "DCM", "Study Instance UID"), ctx.study.uid)])
    total_dlp = sum(e.dlp or 0.0 for e in events)
    accumulated = _container("CONTAINS", ("113811", "DCM", "CT Accumulated Dose Data"), [
        _num("CONTAINS", ("113812", "DCM", "Total Number of Irradiation Events"), len(events), "events"),
        _num("CONTAINS", ("113813", "DCM", "CT Dose Length Product Total"), total_dlp, "mGy.cm"),
    ])
    content = [procedure, *observer,
               _datetime("HAS OBS CONTEXT", ("113809", "DCM", "Start of X-Ray Irradiation"), min(e.start for e in events)),
               _datetime("HAS OBS CONTEXT", ("113810", "DCM", "End of X-Ray Irradiation"), end),
               scope, accumulated,
               *(_acquisition(e, ctx, device_uid) for e in events),
               _code("CONTAINS", ("113854", "DCM", "Source of Dose Information"),
                     ("113856", "DCM", "Automated Data Collection"))]
    root = _container(None, ("113701", "DCM", "X-Ray Radiation Dose Report"), content, template="10011")
    for kw in ("ValueType", "ConceptNameCodeSequence", "ContinuityOfContent", "ContentTemplateSequence",
               "ContentSequence"):
        setattr(ds, kw, root[kw].value)
    return finish(ds, ctx, "dose_sr", ctx.instance_uid("dose_sr"))
