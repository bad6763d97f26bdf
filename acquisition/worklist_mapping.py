"""Map a Modality Worklist item into the objects an exam creates.

The worklist SCU (appliance/net) produces :class:`WorklistItem` values; this module
turns one into the Patient, General Study and Patient Study modules and the series-level
request attributes (Request Attributes Sequence, performed procedure step values), as
each product's statement maps them. The per-product differences are data, in the
``[worklist]`` table of ``acquisition/protocols/<profile-id>.toml``
(:class:`~acquisition.protocols.WorklistMapping`), e.g.:

- syngo MR XA11B (§9.1.1, Table 35 notes): Requested Procedure ID -> Study ID; the Request
  Attributes Sequence holds RP ID, Accession Number, Study Instance UID, RP Description,
  SPS ID and Description, Referenced Study, Requested Procedure and Scheduled Protocol codes;
- syngo CT VA50A (Tables 77-80): the same plus Reason for the Requested Procedure and
  Requested Procedure Comments (VNAP); Procedure Code Sequence is AUTO (not the RP code);
  the Patient Study module is left out when no worklist supplied it (emergency);
- syngo MI.PET/CT (T-60): Study Description "<Body Region>^<Scan Protocol>", Names of
  Intended Recipients -> Physician(s) of Record.

Without a worklist item (manual registration, emergency) the study is created locally.
"""

from __future__ import annotations

__all__ = ["WorklistItem", "as_worklist_item", "map_worklist", "worklist_modules"]

from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from .iods import modules as m
from .iods.uids import UIDFactory
from .protocols import WorklistMapping

Code = tuple[str, str, str]


@dataclass(frozen=True)
class WorklistItem:
    """One scheduled procedure step as the worklist SCU returns it (the values we use)."""

    patient_name: str
    patient_id: str
    patient_birth_date: str = ""
    patient_sex: str = ""
    accession_number: str = ""
    requested_procedure_id: str = ""
    requested_procedure_description: str = ""
    study_instance_uid: str = ""
    scheduled_procedure_step_id: str = ""
    scheduled_procedure_step_description: str = ""
    referring_physician: str = ""
    # optional return keys some products map
    patient_weight_kg: float | None = None
    patient_size_m: float | None = None
    issuer_of_patient_id: str = ""
    scheduled_performing_physician: str = ""
    requested_procedure_codes: tuple[Code, ...] = ()
    scheduled_protocol_codes: tuple[Code, ...] = ()
    reason_for_requested_procedure: str = ""
    requested_procedure_comments: str = ""
    names_of_intended_recipients: str = ""
    requesting_service: str = ""
    referenced_study: tuple[str, str] | None = None  # (SOP Class UID, SOP Instance UID)
    medical_alerts: str = ""
    allergies: str = ""
    specific_character_set: str = ""

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "WorklistItem":
        """The values of a Modality Worklist C-FIND response identifier."""
        sps_seq = ds.get("ScheduledProcedureStepSequence")
        sps = sps_seq[0] if sps_seq else Dataset()

        def text(d: Dataset, kw: str) -> str:
            v = d.get(kw)
            if v is None:
                return ""
            return "\\".join(map(str, v)) if isinstance(v, (list, tuple, MultiValue)) else str(v)

        def number(kw: str) -> float | None:
            try:
                return float(ds.get(kw)) if ds.get(kw) not in (None, "") else None
            except (TypeError, ValueError):
                return None

        def codes(d: Dataset, kw: str) -> tuple[Code, ...]:
            return tuple((str(c.get("CodeValue", "")), str(c.get("CodingSchemeDesignator", "")),
                          str(c.get("CodeMeaning", ""))) for c in d.get(kw) or [] if c.get("CodeValue"))

        ref = (ds.get("ReferencedStudySequence") or [None])[0]
        return cls(
            patient_name=text(ds, "PatientName"), patient_id=text(ds, "PatientID"),
            patient_birth_date=text(ds, "PatientBirthDate"), patient_sex=text(ds, "PatientSex"),
            accession_number=text(ds, "AccessionNumber"),
            requested_procedure_id=text(ds, "RequestedProcedureID"),
            requested_procedure_description=text(ds, "RequestedProcedureDescription"),
            study_instance_uid=text(ds, "StudyInstanceUID"),
            scheduled_procedure_step_id=text(sps, "ScheduledProcedureStepID"),
            scheduled_procedure_step_description=text(sps, "ScheduledProcedureStepDescription"),
            referring_physician=text(ds, "ReferringPhysicianName"),
            patient_weight_kg=number("PatientWeight"), patient_size_m=number("PatientSize"),
            issuer_of_patient_id=text(ds, "IssuerOfPatientID"),
            scheduled_performing_physician=text(sps, "ScheduledPerformingPhysicianName"),
            requested_procedure_codes=codes(ds, "RequestedProcedureCodeSequence"),
            scheduled_protocol_codes=codes(sps, "ScheduledProtocolCodeSequence"),
            reason_for_requested_procedure=text(ds, "ReasonForTheRequestedProcedure"),
            requested_procedure_comments=text(ds, "RequestedProcedureComments"),
            names_of_intended_recipients=text(ds, "NamesOfIntendedRecipientsOfResults"),
            requesting_service=text(ds, "RequestingService"),
            referenced_study=(str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID))
            if ref is not None and "ReferencedSOPInstanceUID" in ref else None,
            medical_alerts=text(ds, "MedicalAlerts"), allergies=text(ds, "Allergies"),
            specific_character_set=text(ds, "SpecificCharacterSet"),
        )


def as_worklist_item(item) -> WorklistItem | None:
    """Accept a :class:`WorklistItem`, a C-FIND identifier (Dataset), or any object with a
    ``dataset`` attribute holding one (the network worklist SCU's decoded items)."""
    if item is None or isinstance(item, WorklistItem):
        return item
    if isinstance(item, Dataset):
        return WorklistItem.from_dataset(item)
    ds = getattr(item, "dataset", None)
    if isinstance(ds, Dataset):
        return WorklistItem.from_dataset(ds)
    raise TypeError(f"not a worklist item: {type(item).__name__}")


def _request_item(item: WorklistItem, keywords: tuple[str, ...], study_uid: str) -> Dataset:
    values = {
        "RequestedProcedureID": item.requested_procedure_id,
        "AccessionNumber": item.accession_number,
        "StudyInstanceUID": study_uid,
        "RequestedProcedureDescription": item.requested_procedure_description,
        "ScheduledProcedureStepID": item.scheduled_procedure_step_id,
        "ScheduledProcedureStepDescription": item.scheduled_procedure_step_description,
        "ReasonForTheRequestedProcedure": item.reason_for_requested_procedure,
        "RequestedProcedureComments": item.requested_procedure_comments,
    }
    codes = {
        "RequestedProcedureCodeSequence": item.requested_procedure_codes,
        "ScheduledProtocolCodeSequence": item.scheduled_protocol_codes,
    }
    out = Dataset()
    for kw in keywords:
        if kw in values:
            if values[kw] or kw in ("ReasonForTheRequestedProcedure", "RequestedProcedureComments"):
                setattr(out, kw, values[kw])  # the last two are VNAP: present, maybe empty
        elif kw in codes:
            if codes[kw]:
                setattr(out, kw, DicomSequence([m.code(*c) for c in codes[kw]]))
        elif kw == "ReferencedStudySequence":
            if item.referenced_study:
                ref = Dataset()
                ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = item.referenced_study
                out.ReferencedStudySequence = DicomSequence([ref])
        else:
            raise ValueError(f"request attribute {kw!r} is not mapped from a worklist item")
    return out


def map_worklist(
    item: WorklistItem | None,
    mapping: WorklistMapping,
    *,
    uids: UIDFactory,
    when: datetime,
    protocol_name: str,
    body_part: str = "",
    manual_patient: m.PatientInfo | None = None,
    study_id: str = "1",
    referenced_pps_uid: str | None = None,
) -> tuple[m.PatientInfo, m.StudyInfo]:
    """Patient and study values for an exam, from *item* as *mapping* says.

    Without *item* the patient comes from *manual_patient* (manual registration) and the
    study is created: new Study Instance UID, Study ID *study_id*, no request attributes.
    """
    item = as_worklist_item(item)
    if item is None:
        patient = manual_patient or m.PatientInfo()
        description = {"body_part^protocol": f"{body_part}^{protocol_name}" if body_part else protocol_name}.get(
            mapping.study_description, protocol_name)
        study = m.StudyInfo(uid=uids.new("study"), date=m.da(when), time=m.tm(when), id=study_id,
                            description=description, pps_id=uids.new("pps")[-16:], pps_start=when,
                            pps_description=protocol_name, referenced_pps_uid=referenced_pps_uid,
                            patient_study_module=mapping.patient_study_module == "always")
        return patient, study

    base = manual_patient or m.PatientInfo()
    patient = m.PatientInfo(
        name=item.patient_name, id=item.patient_id, birth_date=item.patient_birth_date, sex=item.patient_sex,
        weight_kg=item.patient_weight_kg if item.patient_weight_kg is not None else base.weight_kg,
        size_m=item.patient_size_m if item.patient_size_m is not None else base.size_m,
        issuer_of_patient_id=item.issuer_of_patient_id or None,
        medical_alerts=item.medical_alerts or None, allergies=item.allergies or None,
    )
    study_uid = item.study_instance_uid or uids.new("study")
    descriptions = {
        "requested_procedure_description": item.requested_procedure_description or protocol_name,
        "scheduled_procedure_step_description": item.scheduled_procedure_step_description or protocol_name,
        "protocol": protocol_name,
        "body_part^protocol": f"{body_part}^{protocol_name}" if body_part else protocol_name,
    }
    sps = bool(item.scheduled_procedure_step_id)
    study = m.StudyInfo(
        uid=study_uid,
        date=m.da(when),
        time=m.tm(when),
        id=(item.requested_procedure_id or study_id) if mapping.study_id == "requested_procedure_id" else study_id,
        accession_number=item.accession_number,
        referring_physician=item.referring_physician,
        description=descriptions[mapping.study_description][:64],
        procedure_codes=tuple(m.code(*c) for c in item.requested_procedure_codes)
        if mapping.procedure_code_from_requested else (),
        physicians_of_record=(item.names_of_intended_recipients or None)
        if mapping.physicians_of_record_from_recipients else None,
        requesting_service=item.requesting_service or None,
        request_attributes=(_request_item(item, mapping.request_attributes, study_uid),),
        performing_physician=item.scheduled_performing_physician if mapping.performing_physician_from_sps else "",
        pps_id=item.scheduled_procedure_step_id if (mapping.pps_id_from_sps and sps) else uids.new("pps")[-16:],
        pps_description=(item.scheduled_procedure_step_description or None)
        if mapping.pps_description_from_sps else protocol_name,
        pps_start=when,
        performed_protocol_codes=tuple(m.code(*c) for c in item.scheduled_protocol_codes)
        if mapping.performed_protocol_code_from_sps else (),
        referenced_pps_uid=referenced_pps_uid,
        patient_study_module=True,
    )
    return patient, study


def worklist_modules(item: WorklistItem | None, mapping: WorklistMapping, *, uids: UIDFactory, when: datetime,
                     protocol_name: str, body_part: str = "", manual_patient: m.PatientInfo | None = None,
                     referenced_pps_uid: str | None = None) -> Dataset:
    """The Patient, General Study and Patient Study modules and the series-level request
    attributes (Request Attributes Sequence, PPS ID/description/start, Referenced PPS) as
    one dataset, for code that builds its own objects (e.g. an MPPS N-CREATE)."""
    patient, study = map_worklist(item, mapping, uids=uids, when=when, protocol_name=protocol_name,
                                  body_part=body_part, manual_patient=manual_patient,
                                  referenced_pps_uid=referenced_pps_uid)
    ds = Dataset()
    m.patient(ds, patient)
    m.general_study(ds, study)
    if study.patient_study_module:
        m.patient_study(ds, patient, when)
    if study.performing_physician:
        ds.PerformingPhysicianName = study.performing_physician
    m.performed_procedure(ds, study)
    return ds
