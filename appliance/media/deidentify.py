"""De-identification on export to media, per the product's ``[deidentification]`` table.

The statements print which attributes each de-identification level de-identifies (syngo MR
XA11B §7.1 Tables 70/71, syngo CT VA50A §7 Tables 73/74: "Yes" - de-identified, "No" - kept,
for the levels Full, Reduced and Service). Those tables are in the profile
(``deidentification.levels``, ``attributes``, ``private_attributes``, docs/profiles.md) and are
the source here: :meth:`Deidentifier.from_profile` de-identifies exactly the listed attributes
the chosen level marks "Yes" (in the data set and in every sequence item), keeps every other
attribute, and treats private attributes as the level says (all removed; only the listed ones
kept; all kept).

Two vocabularies appear in the statements and both are accepted as the user's choice:

- the levels (``Full de-identification`` ...): the table's column;
- PS3.15 Annex E names (syngo MR §7.1 describes its Reduced level by them): ``Basic
  Application Level Confidentiality Profile`` plus ``Retain UIDs Option``, ``Retain Patient
  Characteristics Option``, ``Retain Longitudinal Temporal Information with Full Dates
  Option``: the first (strictest) column less what the options retain; private attributes removed.

A profile with options but no table uses the built-in groups below (a subset of PS3.15 Table
E.1-1, the attributes a scanner's images carry).

How a "Yes" attribute is de-identified (the statements give no actions; PS3.15 Table E.1-1's
kinds are used so that the objects stay valid): a UID is replaced by a new UID, the same for
the same original within one export (study and series relationships survive; the file meta
Media Storage SOP Instance UID follows); Patient ID by a pseudonym; Patient's Name by
``ANONYMOUS``; an attribute the objects need as Type 1 gets a dummy value (:data:`DUMMIES`:
Study Date and Time and Study ID, which the DICOMDIR needs too, Content Date and Time,
Acquisition DateTime, Device Serial Number); one they need as Type 2 is emptied (:data:`EMPTIED`); every other
attribute is removed. Patient Identity Removed (0012,0062) is ``YES``, De-identification
Method (0012,0063) names the level or options, the Method Code Sequence (0012,0064) carries
the PS3.16 CID 7050 codes.
"""

from __future__ import annotations

__all__ = ["Deidentifier", "ConfidentialityRules", "resolve_options", "LEVELS", "parse_table_tag"]

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

from .errors import MediaError

if TYPE_CHECKING:
    from ..profile import Profile

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
# Type 1 values (in the DICOMDIR records, or in the enhanced image modules): dummies, not removed.
DUMMIES = {"StudyDate": "19000101", "StudyTime": "000000", "ContentDate": "19000101", "ContentTime": "000000",
           "AcquisitionDateTime": "19000101000000", "DeviceSerialNumber": "0", "StudyID": "0"}
# Type 2 in the modules the products' images carry (Patient, General Study, General Image ...):
# emptied, not removed.
EMPTIED = frozenset({
    "PatientBirthDate", "PatientSex", "ReferringPhysicianName", "AccessionNumber",
    "AcquisitionContextSequence", "AcquisitionDate", "AcquisitionTime", "SeriesDate", "SeriesTime",
    "ReferencedPerformedProcedureStepSequence",
})
_DATE_VRS = ("DA", "TM", "DT")


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


_TAG_RE = re.compile(r"^\(([0-9A-Fx]{4}),([0-9A-Fx]{4})\)$")
_PRIVATE_RE = re.compile(r"^\(([0-9A-F]{4}), ?([^,()]+?), ?([0-9A-F]{2})\)$")


def parse_table_tag(text: str) -> tuple[str, object]:
    """A tag as the statements print it -> ``("tag", int)``, ``("mask", (mask, value))`` for
    repeating groups (``(60xx,3000)``), or ``("private", (group, creator, element byte))``."""
    m = _TAG_RE.match(text)
    if m:
        hexes = m.group(1) + m.group(2)
        if "x" not in hexes:
            return "tag", int(hexes, 16)
        mask = int("".join("0" if c == "x" else "F" for c in hexes), 16)
        value = int(hexes.replace("x", "0"), 16)
        return "mask", (mask, value)
    m = _PRIVATE_RE.match(text)
    if m:
        return "private", (int(m.group(1), 16), m.group(2).strip(), int(m.group(3), 16))
    raise ValueError(f"{text!r} is not a tag as the statements print them")


@dataclass(frozen=True)
class ConfidentialityRules:
    """Which attributes one level de-identifies: the profile table's column, compiled.

    ``tags``/``masks``/``private`` map each listed attribute to True ("Yes": de-identified) or
    False ("No": kept); ``private_attributes`` is ``"remove"``, ``"listed"`` or ``"keep"``.
    """

    level: str
    tags: dict[int, bool]
    masks: tuple[tuple[int, int, bool], ...]
    private: dict[tuple[int, str, int], bool]
    private_attributes: str

    @classmethod
    def from_profile(cls, profile: "Profile", level: str | None, options: frozenset[str]) -> "ConfidentialityRules":
        """The column of *level*; with no level, the first column less what *options* retain."""
        d = profile.deidentification
        column = d.levels.index(level) if level is not None else 0
        private_policy = d.private_attributes[column] if level is not None and d.private_attributes else "remove"
        tags: dict[int, bool] = {}
        masks: list[tuple[int, int, bool]] = []
        private: dict[tuple[int, str, int], bool] = {}
        for a in d.attributes:
            yes = a.deidentified[column]
            kind, key = parse_table_tag(a.tag)
            if kind == "tag":
                if level is None and yes:
                    yes = not _retained(int(key), options)  # type: ignore[arg-type]
                tags[int(key)] = yes  # type: ignore[arg-type]
            elif kind == "mask":
                masks.append((key[0], key[1], yes))  # type: ignore[index]
            else:
                private[key] = yes  # type: ignore[index]
        return cls(level or "+".join(sorted(options)), tags, tuple(masks), private, private_policy)

    def listed(self, tag: int) -> bool | None:
        """True/False for a listed standard attribute, None when the table does not list it."""
        if tag in self.tags:
            return self.tags[tag]
        for mask, value, yes in self.masks:
            if tag & mask == value:
                return yes
        return None


def _retained(tag: int, options: frozenset[str]) -> bool:
    """Whether the PS3.15 *options* keep the attribute *tag* (used without a level)."""
    from pydicom.datadict import dictionary_VR, keyword_for_tag

    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return False
    keyword = keyword_for_tag(tag)
    if RETAIN_UIDS in options and (vr == "UI" or keyword in REFERENCE_SEQUENCES):
        return True
    if RETAIN_FULL_DATES in options and (vr in _DATE_VRS or keyword == "TimezoneOffsetFromUTC"):
        return True
    if RETAIN_PATIENT_CHARS in options and keyword in PATIENT_CHARACTERISTICS:
        return True
    return False


def _builtin_rules(options: frozenset[str]) -> ConfidentialityRules:
    """The built-in groups as rules, for a profile that lists options but no table."""
    from pydicom.datadict import tag_for_keyword

    service = RETAIN_PRIVATE in options
    groups = [(IDENTIFYING, True), (DESCRIPTIVE, not service),
              (PATIENT_CHARACTERISTICS, RETAIN_PATIENT_CHARS not in options),
              (DATES, RETAIN_FULL_DATES not in options),
              (UIDS + REFERENCE_SEQUENCES, RETAIN_UIDS not in options)]
    tags: dict[int, bool] = {}
    for keywords, yes in groups:
        for kw in keywords:
            tag = tag_for_keyword(kw)
            if tag is not None:
                tags[tag] = tags.get(tag, False) or yes
    tags[0x00100010] = tags[0x00100020] = True  # Patient's Name, Patient ID
    return ConfidentialityRules("+".join(sorted(options)), tags, (), {}, "keep" if service else "remove")


@dataclass
class Deidentifier:
    """De-identify data sets of one export consistently (one UID map, one pseudonym map).

    ``Deidentifier(options)`` uses the built-in groups; :meth:`from_profile` the profile's table.
    """

    options: frozenset[str]
    salt: bytes = field(default_factory=lambda: generate_uid().encode())
    uid_map: dict[str, str] = field(default_factory=dict)
    rules: ConfidentialityRules | None = None
    method: tuple[str, ...] = ()

    @classmethod
    def from_profile(cls, profile: "Profile", chosen: str | Iterable[str]) -> "Deidentifier":
        """The de-identifier for the user's choice (a level, or PS3.15 options) on *profile*."""
        d = profile.deidentification
        if not d.supported:
            raise MediaError(f"{profile.id} offers no de-identification on export",
                             "burn without --deidentify (its statement lists none)")
        names = [chosen] if isinstance(chosen, str) else list(chosen)
        options = resolve_options(d.options, names)
        if not d.attributes:
            return cls(options)
        canonical = [next(s for s in d.options if s.lower() == n.lower()) for n in names]
        levels = [n for n in canonical if n in d.levels]
        if len(levels) > 1 or (levels and len(canonical) > 1):
            raise MediaError("choose one de-identification level, or PS3.15 options, not both: " + ", ".join(canonical),
                             "e.g. --deidentify 'Full de-identification'")
        level = levels[0] if levels else None
        rules = ConfidentialityRules.from_profile(profile, level, options)
        return cls(options, rules=rules, method=(level,) if level else ())

    def new_uid(self, uid: str) -> str:
        if uid not in self.uid_map:
            self.uid_map[uid] = generate_uid(entropy_srcs=[self.salt.decode(), uid])
        return self.uid_map[uid]

    def pseudonym(self, patient_id: str) -> str:
        return "ANON" + hashlib.sha256(self.salt + patient_id.encode()).hexdigest()[:12].upper()

    def __call__(self, ds: Dataset) -> Dataset:
        """De-identify *ds* in place and return it."""
        rules = self.rules or _builtin_rules(self.options)
        if rules.private_attributes == "remove":
            ds.remove_private_tags()
        self._walk(ds, rules)
        if rules.listed(0x00080018) and "SOPInstanceUID" in ds and hasattr(ds, "file_meta"):
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientIdentityRemoved = "YES"
        method = list(self.method) or [o for o in sorted(self.options)]
        ds.DeidentificationMethod = [m[:64] for m in method][:8] or ["BASIC"]
        codes = Sequence()
        for option in sorted(self.options):
            if option in CODES:
                item = Dataset()
                item.CodeValue, item.CodeMeaning = CODES[option]
                item.CodingSchemeDesignator = "DCM"
                codes.append(item)
        ds.DeidentificationMethodCodeSequence = codes
        return ds

    def _walk(self, ds: Dataset, rules: ConfidentialityRules) -> None:
        creators: dict[tuple[int, int], str] = {}
        for elem in list(ds):
            tag = int(elem.tag)
            group, element = tag >> 16, tag & 0xFFFF
            if group % 2 == 1:
                if 0x0010 <= element <= 0x00FF:  # a private creator
                    creators[(group, element)] = str(elem.value).strip()
                    continue
                yes = rules.tags.get(tag)  # printed without a creator, e.g. (0019,0005) in syngo CT Table 74
                if yes is None:
                    yes = rules.private.get((group, creators.get((group, element >> 8), ""), element & 0xFF))
                if yes is None and rules.private_attributes == "listed":
                    del ds[elem.tag]
                elif yes:
                    self._deidentify(ds, elem)
                elif elem.VR == "SQ" and elem.value:
                    for item in elem.value:
                        self._walk(item, rules)
                continue
            if rules.listed(tag):
                self._deidentify(ds, elem)
            elif elem.VR == "SQ" and elem.value:
                for item in elem.value:
                    self._walk(item, rules)
        if rules.private_attributes == "listed":  # drop creators whose elements are all gone
            for (group, element), _ in creators.items():
                block = element << 8
                if not any((int(e.tag) >> 16) == group and block <= (int(e.tag) & 0xFFFF) < block + 0x100 for e in ds):
                    del ds[(group << 16) | element]

    def _deidentify(self, ds: Dataset, elem) -> None:  # type: ignore[no-untyped-def]
        """PS3.15 Table E.1-1 kinds: U (UID), D (dummy), Z (empty), X (remove); see the module docstring."""
        keyword = elem.keyword
        if elem.VR == "UI":
            if elem.value:
                if isinstance(elem.value, (list, tuple)) or type(elem.value).__name__ == "MultiValue":
                    elem.value = [self.new_uid(str(v)) for v in elem.value]
                else:
                    elem.value = UID(self.new_uid(str(elem.value)))
        elif keyword == "PatientID":
            elem.value = self.pseudonym(str(elem.value or ""))
        elif keyword == "PatientName":
            elem.value = "ANONYMOUS"
        elif keyword in DUMMIES:
            elem.value = DUMMIES[keyword]
        elif keyword in EMPTIED:
            elem.value = [] if elem.VR == "SQ" else ""
        else:
            del ds[elem.tag]
