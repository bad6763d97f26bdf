"""De-identification on export to media, per the product's ``[deidentification]`` options.

Two vocabularies appear in the statements and both are accepted:

- PS3.15 Annex E names (syngo MR XA11B): ``Basic Application Level Confidentiality
  Profile`` plus ``Retain UIDs Option``, ``Retain Patient Characteristics Option``,
  ``Retain Longitudinal Temporal Information with Full Dates Option``;
- the syngo levels (syngo CT VA50A §7 Table 73; syngo MR §7.1 Table 70): ``Full``,
  ``Reduced`` and ``Service de-identification``. syngo MR §7.1: "reduced anonymization
  applies the following options: Retain UIDs, Patient Chars, Long Full Dates"; full and
  reduced drop all private attributes, service keeps them and keeps dates and UIDs.

The attribute groups below follow the columns of syngo CT Table 73 / syngo MR Table 70
(a subset of PS3.15 Table E.1-1, the attributes a scanner's images carry). Attributes the
DICOMDIR needs as Type 1 (Patient ID, Study Date and Time) are replaced by dummies, not
removed; UIDs are replaced consistently within one export (same original, same new UID), so
study and series relationships survive. Patient Identity Removed (0012,0062) is ``YES`` and
De-identification Method (0012,0063) names the options; the Method Code Sequence
(0012,0064) carries the PS3.16 CID 7050 codes.

This is the export path only; the security work deepens it (pixel cleaning, private tag
whitelists per Table 74).
"""

from __future__ import annotations

__all__ = ["Deidentifier", "resolve_options", "LEVELS"]

import hashlib
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

from .errors import MediaError

BASIC = "Basic Application Level Confidentiality Profile"
RETAIN_UIDS = "Retain UIDs Option"
RETAIN_PATIENT_CHARS = "Retain Patient Characteristics Option"
RETAIN_FULL_DATES = "Retain Longitudinal Temporal Information with Full Dates Option"
RETAIN_PRIVATE = "Retain Private Attributes"  # syngo "Service" level (not a PS3.15 option)

#: The syngo levels as sets of PS3.15 options (syngo MR §7.1, syngo CT §7).
LEVELS: dict[str, frozenset[str]] = {
    "Full de-identification": frozenset({BASIC}),
    "Reduced de-identification": frozenset({BASIC, RETAIN_UIDS, RETAIN_PATIENT_CHARS, RETAIN_FULL_DATES}),
    "Service de-identification": frozenset({BASIC, RETAIN_UIDS, RETAIN_PATIENT_CHARS, RETAIN_FULL_DATES,
                                            RETAIN_PRIVATE}),
}

#: PS3.16 CID 7050 De-identification Method codes (scheme DCM).
CODES = {
    BASIC: ("113100", "Basic Application Confidentiality Profile"),
    RETAIN_FULL_DATES: ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    RETAIN_PATIENT_CHARS: ("113108", "Retain Patient Characteristics Option"),
    RETAIN_UIDS: ("113110", "Retain UIDs Option"),
}

# Removed or emptied at every level (Table 73 "Yes" in all three columns).
IDENTIFYING = (
    "PatientName", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName", "PatientAddress",
    "PatientMotherBirthName", "PatientTelephoneNumbers", "ReferringPhysicianName",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "StationName",
    "PhysiciansOfRecord", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName",
    "OtherPatientIDsSequence",
)
# Removed unless the level is Service (Table 73 "Yes" for Full and Reduced).
DESCRIPTIVE = (
    "AccessionNumber", "InstitutionName", "InstitutionAddress", "InstitutionCodeSequence",
    "ReferringPhysicianIdentificationSequence", "StudyDescription", "SeriesDescription",
    "InstitutionalDepartmentName", "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "OperatorIdentificationSequence", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "ReferencedPatientSequence", "IdentifyingComments", "IssuerOfPatientID", "PatientBirthTime",
    "PatientInsurancePlanCodeSequence", "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence", "InsurancePlanIdentification", "MilitaryRank",
    "BranchOfService", "MedicalRecordLocator", "PatientBirthDate", "ReferencedPatientPhotoSequence", "MedicalAlerts",
    "Allergies", "CountryOfResidence", "RegionOfResidence", "Occupation", "AdditionalPatientHistory",
    "PatientComments", "RequestAttributesSequence", "PerformedProcedureStepDescription",
    "RequestedProcedureDescription", "ProtocolName", "DeviceSerialNumber",
)
PATIENT_CHARACTERISTICS = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup",
                           "SmokingStatus", "PregnancyStatus")
DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "OverlayDate", "CurveDate",
         "AcquisitionDateTime", "StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "OverlayTime",
         "CurveTime", "InstanceCreationDate", "InstanceCreationTime", "PerformedProcedureStepStartDate",
         "PerformedProcedureStepStartTime", "TimezoneOffsetFromUTC", "InstanceCoercionDateTime")
UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
        "InstanceCreatorUID", "IrradiationEventUID", "CreatorVersionUID", "TransactionUID",
        "ReferencedSOPInstanceUID", "SynchronizationFrameOfReferenceUID", "ConcatenationUID",
        "DimensionOrganizationUID", "ReferencedFrameOfReferenceUID", "RelatedFrameOfReferenceUID")
# Sequences whose content refers to other instances: kept only when UIDs are retained.
REFERENCE_SEQUENCES = ("ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
                       "ReferencedImageSequence", "SourceImageSequence", "DerivationDescription")
# Type 1 values the DICOMDIR records need: replaced by dummies instead of removed.
DUMMIES = {"StudyDate": "19000101", "StudyTime": "000000"}


def resolve_options(supported: tuple[str, ...], chosen: str | list[str] | tuple[str, ...]) -> frozenset[str]:
    """Check *chosen* against the product's option list; return the PS3.15 option set."""
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    if not supported:
        raise MediaError("this product offers no de-identification on export",
                         "burn without --deidentify (the statement lists no de-identification)")
    options: set[str] = set()
    for name in names:
        match = next((s for s in supported if s.lower() == name.lower()), None)
        if match is None:
            raise MediaError(f"de-identification option {name!r} is not offered by this product",
                             "choose one of: " + "; ".join(supported))
        options |= LEVELS.get(match, {match})
    if options and BASIC not in options:
        options.add(BASIC)  # every PS3.15 option modifies the Basic profile
    return frozenset(options)


@dataclass
class Deidentifier:
    """De-identify data sets of one export consistently (one UID map, one pseudonym map)."""

    options: frozenset[str]
    salt: bytes = field(default_factory=lambda: generate_uid().encode())
    uid_map: dict[str, str] = field(default_factory=dict)

    def new_uid(self, uid: str) -> str:
        if uid not in self.uid_map:
            self.uid_map[uid] = generate_uid(entropy_srcs=[self.salt.decode(), uid])
        return self.uid_map[uid]

    def pseudonym(self, patient_id: str) -> str:
        return "ANON" + hashlib.sha256(self.salt + patient_id.encode()).hexdigest()[:12].upper()

    def __call__(self, ds: Dataset) -> Dataset:
        """De-identify *ds* in place and return it."""
        keep_uids = RETAIN_UIDS in self.options
        keep_dates = RETAIN_FULL_DATES in self.options
        keep_chars = RETAIN_PATIENT_CHARS in self.options
        service = RETAIN_PRIVATE in self.options
        pid = str(ds.get("PatientID", "") or "")
        self._walk(ds, keep_uids, keep_dates, keep_chars, service)
        ds.PatientID = self.pseudonym(pid)
        ds.PatientName = "ANONYMOUS"
        if not keep_dates:
            for kw, value in DUMMIES.items():
                setattr(ds, kw, value)
        if not service:
            ds.remove_private_tags()
        if not keep_uids:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [o for o in sorted(self.options)][:8] or ["BASIC"]
        codes = Sequence()
        for option in sorted(self.options):
            if option in CODES:
                item = Dataset()
                item.CodeValue, item.CodeMeaning = CODES[option]
                item.CodingSchemeDesignator = "DCM"
                codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        return ds

    def _walk(self, ds: Dataset, keep_uids: bool, keep_dates: bool, keep_chars: bool, service: bool) -> None:
        remove = list(IDENTIFYING)
        if not service:
            remove += DESCRIPTIVE
        if not keep_chars:
            remove += PATIENT_CHARACTERISTICS
        if not keep_dates:
            remove += [d for d in DATES if d not in DUMMIES]
        if not keep_uids:
            remove += REFERENCE_SEQUENCES
        for kw in remove:
            if kw in ds:
                del ds[kw]
        if not keep_uids:
            for kw in UIDS:
                if kw in ds and ds[kw].value:
                    value = ds[kw].value
                    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                        setattr(ds, kw, [self.new_uid(str(v)) for v in value])
                    else:
                        setattr(ds, kw, UID(self.new_uid(str(value))))
        for elem in list(ds):
            if elem.VR == "SQ" and elem.value:
                for item in elem.value:
                    self._walk(item, keep_uids, keep_dates, keep_chars, service)
