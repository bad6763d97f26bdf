"""The embedded RIS: a Modality Worklist SCP serving a generated schedule, and an MPPS SCP.

What a scanner's department RIS does on the wire, small enough to start inside a test:

- **Schedule** (:func:`generate_schedule`): a day of realistic orders for one modality -
  patients with birth dates, weights and allergies, accession and order numbers, requested
  procedures with codes, one scheduled procedure step each (station, start time, performing
  physician, location, a Scheduled Protocol Code whose meaning names one of the product's
  protocols, as RIS-to-modality protocol mapping works). Names and descriptions are in the
  product's character sets: the first character set a profile lists beyond the default
  repertoire decides the locale (:func:`locale_for`): Japanese (``\\ISO 2022 IR 87``, the
  PS3.5 Annex H style ``Yamada^Tarou=山田^太郎=やまだ^たろう``) for a product whose list
  starts with a Japanese set (FUJIFILM OASIS), German in Latin-1 (``ISO_IR 100``) for the
  Siemens products, plain ASCII otherwise.
- **Modality Worklist SCP** (C-FIND, PS3.4 K): single value, wildcard (``*``/``?``), range
  (DA/TM), list-of-UID and sequence matching on every key the query fills; Patient's Name is
  matched case-insensitively (as most RIS do). Each response holds exactly the requested keys
  (a requested sequence without item keys is returned whole) and the item's Specific
  Character Set. Steps that are COMPLETED or DISCONTINUED are no longer offered.
- **MPPS SCP** (N-CREATE / N-SET, PS3.4 F.7): validates the state machine - N-CREATE must be
  IN PROGRESS with a new SOP Instance UID (else 0x0106 / 0x0111); N-SET on an unknown step is
  0x0112; after COMPLETED or DISCONTINUED every N-SET is refused with 0x0110 ("may no longer
  be updated"); a final N-SET must carry the end date and time (0x0120 otherwise). Each
  request, accepted or refused, is recorded (:attr:`RIS.mpps_log`); the scheduled step's
  status follows (STARTED, COMPLETED, DISCONTINUED).
- **Fault**: :meth:`RIS.reject_mpps` makes the MPPS SCP refuse requests with a chosen status
  until :meth:`RIS.accept_mpps` (or for a number of requests).

Everything binds 127.0.0.1 on a free port by default and sets TCP_NODELAY on every socket.

    >>> ris = RIS(ae_title="RIS").start()                                  # doctest: +SKIP
    >>> ris.schedule(generate_schedule(profile, "MRC40251", count=6))       # doctest: +SKIP
    >>> ris.node                                                           # doctest: +SKIP
    Node(ae_title='RIS', host='127.0.0.1', port=40123, roles=('worklist', 'mpps'), ...)
"""

from __future__ import annotations

__all__ = [
    "RIS",
    "PerformedStep",
    "MPPSRequest",
    "generate_schedule",
    "locale_for",
    "LOCALES",
    "MWL_FIND",
    "MPPS_CLASS",
]

import copy
import datetime as _dt
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt

from appliance.config import Node
from appliance.errors import NetworkError
from appliance.net.upper_layer import ProductAE
from appliance.net.ae import set_nodelay

LOGGER = logging.getLogger(__name__)

MWL_FIND = "1.2.840.10008.5.1.4.31"
MPPS_CLASS = "1.2.840.10008.3.1.2.3.3"
VERIFICATION = "1.2.840.10008.1.1"
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"  # Referenced Study Sequence class, as RIS send it
_SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]

# MPPS statuses (PS3.4 F.7.2, PS3.7 C)
SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
DUPLICATE_INSTANCE = 0x0111
NO_SUCH_INSTANCE = 0x0112
INVALID_ATTRIBUTE_VALUE = 0x0106
MISSING_ATTRIBUTE = 0x0120
IN_PROGRESS, COMPLETED, DISCONTINUED = "IN PROGRESS", "COMPLETED", "DISCONTINUED"
FINAL_STATES = (COMPLETED, DISCONTINUED)
# Scheduled Procedure Step Status the RIS shows once the modality reports (PS3.3 C.4.10 defined terms)
_SPS_STATUS = {IN_PROGRESS: "STARTED", COMPLETED: "COMPLETED", DISCONTINUED: "DISCONTINUED"}
# PS3.4 F.7.2.1: Type 1 attributes of the N-CREATE (missing ones are recorded as problems)
_CREATE_TYPE1 = ("PerformedProcedureStepID", "PerformedStationAETitle", "PerformedProcedureStepStartDate",
                 "PerformedProcedureStepStartTime", "PerformedProcedureStepStatus", "Modality")


# --- locales and the generated schedule --------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    sex: str


@dataclass(frozen=True)
class Locale:
    """Names and words of one RIS site, and the character set its worklist items declare."""

    code: str
    charset: tuple[str, ...]  # Specific Character Set values
    patients: tuple[_Person, ...]
    physicians: tuple[str, ...]
    locations: tuple[str, ...]
    services: tuple[str, ...]
    allergies: tuple[str, ...]
    alerts: tuple[str, ...]
    words: dict[str, str]  # procedure words by key


_DE = Locale(
    code="de",
    charset=("ISO_IR 100",),
    patients=(
        _Person("Müller^Anna", "F"), _Person("Schröder^Jürgen", "M"), _Person("Weiß^Günther", "M"),
        _Person("Bäcker^Sören", "M"), _Person("Köhler^Renée", "F"), _Person("Groß^Thérèse", "F"),
        _Person("Löffler^Björn", "M"), _Person("Hübner^Käthe", "F"), _Person("Krüger^Jörg^^Dr.", "M"),
        _Person("Straßer^Zoë", "F"),
    ),
    physicians=("Dr. Fröhlich^Ulrike", "Dr. Öztürk^Cem", "Prof. Wörner^Jens", "Dr. Schäfer^Mareike"),
    locations=("Radiologie UG Raum 2", "Station 4b", "Notaufnahme", "Ambulanz Neurologie"),
    services=("Neurologie", "Innere Medizin", "Onkologie", "Chirurgie"),
    allergies=("", "Penicillin", "Jodhaltiges Kontrastmittel", "Latex"),
    alerts=("", "Herzschrittmacher geprüft (MR-tauglich)", "Klaustrophobie", "Diabetes mellitus Typ 2"),
    words={"MR": "MRT", "CT": "CT", "PT": "PET/CT", "RT": "Bestrahlung", "HEAD": "Schädel", "BRAIN": "Schädel",
           "CHEST": "Thorax", "WHOLEBODY": "Ganzkörper", "native": "nativ", "contrast": "mit KM",
           "fraction": "Fraktion", "verification": "Verifikation", "reason": "Verdacht auf Raumforderung",
           "followup": "Verlaufskontrolle"},
)
_EN = Locale(
    code="en",
    charset=(),
    patients=(
        _Person("Doe^Jane", "F"), _Person("Smith^John^A", "M"), _Person("Garcia^Maria", "F"),
        _Person("O'Brien^Patrick", "M"), _Person("Nguyen^Linh", "F"), _Person("Johnson^Robert", "M"),
        _Person("Williams^Emma", "F"), _Person("Brown^Michael", "M"),
    ),
    physicians=("House^Gregory^^Dr.", "Cameron^Allison^^Dr.", "Chase^Robert^^Dr.", "Foreman^Eric^^Dr."),
    locations=("Radiology B2", "Ward 3B", "Emergency", "Outpatients"),
    services=("Neurology", "Internal Medicine", "Oncology", "Surgery"),
    allergies=("", "Penicillin", "Iodinated contrast", "Latex"),
    alerts=("", "Pacemaker (MR conditional)", "Claustrophobia", "Diabetes type 2"),
    words={"MR": "MR", "CT": "CT", "PT": "PET/CT", "RT": "Radiotherapy", "HEAD": "Head", "BRAIN": "Brain",
           "CHEST": "Chest", "WHOLEBODY": "Whole body", "native": "without contrast", "contrast": "with contrast",
           "fraction": "fraction", "verification": "verification", "reason": "suspected mass",
           "followup": "follow-up"},
)
# PS3.5 Annex H: alphabetic (romaji) = ideographic (kanji) = phonetic (hiragana), ISO 2022 IR 87.
# Every name fits the PN limit of 64 bytes once encoded with its escape sequences (dciodvfy checks).
_JA = Locale(
    code="ja",
    charset=("", "ISO 2022 IR 87"),
    patients=(
        _Person("Yamada^Tarou=山田^太郎=やまだ^たろう", "M"), _Person("Suzuki^Hanako=鈴木^花子=すずき^はなこ", "F"),
        _Person("Tanaka^Ichirou=田中^一郎=たなか^いちろう", "M"), _Person("Satou^Yuki=佐藤^由紀=さとう^ゆき", "F"),
        _Person("Kimura^Kenji=木村^健二=きむら^けんじ", "M"),
        _Person("Watanabe^Mika=渡辺^美香=わたなべ^みか", "F"),
        _Person("Itou^Hiroshi=伊藤^博=いとう^ひろし", "M"), _Person("Mori^Sakura=森^さくら=もり^さくら", "F"),
    ),
    physicians=("Kobayashi^Makoto=小林^誠=こばやし^まこと", "Katou^Naomi=加藤^直美=かとう^なおみ",
                "Yoshida^Takeshi=吉田^武=よしだ^たけし"),
    locations=("放射線科 MR室1", "第3病棟", "救急外来", "脳神経外科外来"),
    services=("脳神経外科", "内科", "腫瘍内科", "整形外科"),
    allergies=("", "ペニシリン", "ヨード造影剤", "ラテックス"),
    alerts=("", "ペースメーカー (MR対応)", "閉所恐怖症", "糖尿病"),
    words={"MR": "MRI", "CT": "CT", "PT": "PET/CT", "RT": "放射線治療", "HEAD": "頭部", "BRAIN": "頭部",
           "CHEST": "胸部", "WHOLEBODY": "全身", "native": "単純", "contrast": "造影", "fraction": "分割",
           "verification": "照合撮影", "reason": "腫瘤の疑い", "followup": "経過観察"},
)
LOCALES = {"de": _DE, "en": _EN, "ja": _JA}
_JAPANESE_SETS = ("ISO_IR 13", "ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 159")
_LATIN1_SETS = ("ISO_IR 100", "ISO 2022 IR 100")
_DEFAULT_REPERTOIRE = ("", "ISO_IR 6", "ISO 2022 IR 6")


def locale_for(profile: Any) -> str:
    """The RIS locale for a product: from the first character set its profile lists beyond the
    default repertoire (``[character_sets] supported``, in the statement's order).

    A Japanese set (ISO_IR 13, ISO 2022 IR 13/87/159) gives ``"ja"`` when the product supports
    ``ISO 2022 IR 87`` (kanji); Latin-1 gives ``"de"``; anything else ``"en"`` (ASCII).
    """
    supported = tuple(profile.character_sets.supported)
    for term in supported:
        if term in _DEFAULT_REPERTOIRE:
            continue
        if term in _JAPANESE_SETS:
            return "ja" if "ISO 2022 IR 87" in supported else "en"
        if term in _LATIN1_SETS:
            return "de"
        break
    return "en"


def _modality(profile: Any) -> str:
    mods = tuple(profile.identity.modalities)
    return mods[0] if mods else "OT"


def _describe(loc: Locale, modality: str, body_part: str, index: int) -> tuple[str, str]:
    """(requested procedure description, scheduled step description) in the locale's words."""
    w = loc.words
    region = w.get(body_part.upper(), body_part.title())
    if modality in ("RTIMAGE", "RTPLAN", "RTSTRUCT", "RTDOSE"):
        rp = f"{w['RT']} {region}"
        return rp, f"{rp} {w['fraction']} {index + 1} {w['verification']}"
    name = w.get(modality, modality)
    if loc.code == "ja":
        rp = f"{region}{name}"
        return rp, f"{rp} {w['contrast'] if index % 3 == 2 else w['native']}"
    rp = f"{name} {region}"
    return rp, f"{rp} {w['contrast'] if index % 3 == 2 else w['native']}"


def generate_schedule(
    profile: Any,
    station_ae_title: str,
    *,
    count: int = 6,
    date: _dt.date | None = None,
    seed: int = 0,
    locale: str | None = None,
    protocols: Sequence[tuple[str, str]] = (),
    station_name: str = "",
    other_stations: Sequence[str] = ("OTHERSCANNER",),
) -> list[Dataset]:
    """A day of worklist items for *station_ae_title*, plus one item for each of *other_stations*.

    Parameters
    ----------
    profile : appliance.profile.Profile
        Its first modality is the scheduled modality; its character sets choose the locale.
    station_ae_title : str
        Scheduled Station AE Title of the generated steps (the scanner's AE title).
    count : int
        Steps for this station, every 30 minutes from 08:00 on *date*.
    date : datetime.date, optional
        Default today (a scanner queries today's date range).
    seed : int
        Patients, times and codes come from ``random.Random(seed)``; UIDs are always new.
    locale : str, optional
        ``"de"``, ``"en"`` or ``"ja"``; default :func:`locale_for` the profile.
    protocols : sequence of (name, body part)
        The product's protocols; step *i* asks for protocol *i* modulo their number in its
        Scheduled Protocol Code Sequence (code meaning = protocol name).
    station_name : str
        Scheduled Station Name; default derived from the AE title.
    other_stations : sequence of str
        AE titles of other scanners in the department: one step each, which the scanner's own
        query must not return.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    loc = LOCALES[locale or locale_for(profile)]
    rnd = random.Random(seed)
    date = date or _dt.date.today()
    modality = _modality(profile)
    protocols = list(protocols) or [("", "HEAD" if modality in ("MR", "CT") else "CHEST")]
    people = list(loc.patients)
    rnd.shuffle(people)
    items = []
    stations = [station_ae_title] * count + list(other_stations)
    for i, station in enumerate(stations):
        person = people[i % len(people)]
        proto_name, body_part = protocols[i % len(protocols)]
        start = _dt.datetime.combine(date, _dt.time(8, 0)) + _dt.timedelta(minutes=30 * i)
        rp_desc, sps_desc = _describe(loc, modality, body_part or "HEAD", i)
        birth = _dt.date(1940, 1, 1) + _dt.timedelta(days=rnd.randrange(0, 60 * 365))
        ds = Dataset()
        if loc.charset:
            ds.SpecificCharacterSet = list(loc.charset) if len(loc.charset) > 1 else loc.charset[0]
        ds.PatientName = person.name
        ds.PatientID = f"VH{rnd.randrange(10**6, 10**7)}"
        ds.IssuerOfPatientID = "VHOSP"
        ds.PatientBirthDate = birth.strftime("%Y%m%d")
        ds.PatientSex = person.sex
        ds.PatientWeight = str(rnd.randrange(48, 105))
        ds.PatientSize = f"{rnd.randrange(150, 195) / 100:.2f}"
        ds.Allergies = rnd.choice(loc.allergies)
        ds.MedicalAlerts = rnd.choice(loc.alerts)
        if person.sex == "F":
            ds.PregnancyStatus = 4  # unknown (PS3.3 C.2.4)
        ds.AdmissionID = f"ADM{rnd.randrange(10**5, 10**6)}"
        ds.CurrentPatientLocation = rnd.choice(loc.locations)
        ds.AccessionNumber = f"A{date.strftime('%y%m%d')}{i + 1:04d}"
        ds.ReferringPhysicianName = rnd.choice(loc.physicians)
        ds.RequestingPhysician = rnd.choice(loc.physicians)
        ds.RequestingService = rnd.choice(loc.services)
        ds.PlacerOrderNumberImagingServiceRequest = f"PL{rnd.randrange(10**6, 10**7)}"
        ds.FillerOrderNumberImagingServiceRequest = f"FI{rnd.randrange(10**6, 10**7)}"
        ds.IssueDateOfImagingServiceRequest = (date - _dt.timedelta(days=rnd.randrange(1, 10))).strftime("%Y%m%d")
        ds.StudyInstanceUID = generate_uid()
        ref = Dataset()
        ref.ReferencedSOPClassUID = DETACHED_STUDY_MANAGEMENT
        ref.ReferencedSOPInstanceUID = generate_uid()
        ds.ReferencedStudySequence = [ref]
        ds.ReferencedPatientSequence = []
        ds.RequestedProcedureID = f"RP{date.strftime('%y%m%d')}{i + 1:03d}"
        ds.RequestedProcedureDescription = rp_desc
        rp_code = Dataset()
        rp_code.CodeValue = f"{modality}{body_part[:4].upper()}{i % 3 + 1}"
        rp_code.CodingSchemeDesignator = "99VHRIS"
        rp_code.CodeMeaning = rp_desc
        ds.RequestedProcedureCodeSequence = [rp_code]
        ds.RequestedProcedurePriority = rnd.choice(("ROUTINE", "ROUTINE", "HIGH"))
        ds.ReasonForTheRequestedProcedure = loc.words["reason"] if i % 2 == 0 else loc.words["followup"]
        ds.NamesOfIntendedRecipientsOfResults = ds.ReferringPhysicianName
        sps = Dataset()
        sps.Modality = modality
        sps.ScheduledStationAETitle = station
        sps.ScheduledStationName = (station_name if station == station_ae_title and station_name
                                    else station)[:16]
        sps.ScheduledProcedureStepStartDate = start.strftime("%Y%m%d")
        sps.ScheduledProcedureStepStartTime = start.strftime("%H%M%S")
        sps.ScheduledPerformingPhysicianName = rnd.choice(loc.physicians)
        sps.ScheduledProcedureStepDescription = sps_desc
        code = Dataset()
        code.CodeValue = f"P{(i % len(protocols)) + 1:03d}"
        code.CodingSchemeDesignator = "99VHPROT"
        code.CodeMeaning = proto_name or sps_desc
        sps.ScheduledProtocolCodeSequence = [code]
        sps.ScheduledProcedureStepID = f"SPS{date.strftime('%y%m%d')}{i + 1:03d}"
        sps.ScheduledProcedureStepLocation = f"{modality[:2]}{1 + i % 2}"
        sps.ScheduledProcedureStepStatus = "SCHEDULED"
        sps.RequestedContrastAgent = ""
        sps.PreMedication = ""
        ds.ScheduledProcedureStepSequence = [sps]
        items.append(ds)
    return items


# --- matching (PS3.4 C.2.2.2, K.2.2) ------------------------------------------------------------


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v) for v in value]
    return [str(value)]


def _norm_time(text: str) -> str:
    digits = re.sub(r"[^0-9]", "", text.split(".")[0])
    return digits.ljust(6, "0")[:6]


def _in_range(vr: str, query: str, value: str) -> bool:
    lo, _, hi = query.partition("-")
    norm = _norm_time if vr == "TM" else (lambda t: t.strip())
    v = norm(value)
    if lo.strip() and v < norm(lo):
        return False
    if hi.strip() and v > norm(hi):
        return False
    return True


def _match_value(vr: str, query: str, value: str, ignore_case: bool) -> bool:
    query, value = query.strip(), value.strip()
    if vr in ("DA", "TM", "DT") and "-" in query:
        return bool(value) and _in_range(vr, query, value)
    if vr not in ("UI", "DA", "TM", "DT") and ("*" in query or "?" in query):
        pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in query)
        return re.fullmatch(pattern, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None
    if ignore_case:
        return query.lower() == value.lower()
    return query == value


def _universal(elem: DataElement) -> bool:
    if elem.VR == "SQ":  # no item, or items whose keys are all universal: return keys only
        return not elem.value or all(all(_universal(e) for e in item) for item in elem.value)
    vals = [v for v in _values(elem.value) if v.strip()]
    return not vals or vals == ["*"]


def matches(query: Dataset, stored: Dataset) -> bool:
    """True when *stored* matches every non-universal key of the identifier *query*."""
    for elem in query:
        if elem.keyword == "SpecificCharacterSet" or _universal(elem):
            continue
        if elem.tag not in stored:
            return False
        have = stored[elem.tag]
        if elem.VR == "SQ":
            wanted = elem.value[0]
            if not any(matches(wanted, item) for item in (have.value or [])):
                return False
            continue
        stored_values = _values(have.value)
        if not stored_values:
            return False
        ignore_case = elem.VR == "PN"
        queries = [q for q in _values(elem.value)]
        if not any(_match_value(elem.VR, q, v, ignore_case) for q in queries for v in stored_values):
            # a PN also matches on any of its component groups (alphabetic, ideographic, phonetic)
            if elem.VR == "PN" and any(_match_value("PN", q, g, True) for q in queries for v in stored_values
                                       for g in v.split("=")):
                continue
            return False
    return True


def _answer(stored: Dataset, query: Dataset) -> Dataset:
    """The requested keys of *query* with the values of *stored*."""
    out = Dataset()
    for elem in query:
        if elem.keyword == "SpecificCharacterSet":
            continue
        have = stored[elem.tag] if elem.tag in stored else None
        if elem.VR == "SQ":
            if have is None or have.VR != "SQ":
                out.add_new(elem.tag, "SQ", [])
            elif elem.value and len(elem.value[0]):
                out.add_new(elem.tag, "SQ", [_answer(item, elem.value[0]) for item in have.value])
            else:
                out.add_new(elem.tag, "SQ", [copy.deepcopy(item) for item in have.value])
            continue
        if have is not None:
            out[elem.tag] = copy.deepcopy(have)
        else:
            out.add_new(elem.tag, elem.VR, None)
    return out


# --- MPPS records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MPPSRequest:
    """One MPPS request as the RIS saw it (accepted or not)."""

    time: float
    operation: str  # "N-CREATE" or "N-SET"
    sop_instance_uid: str
    calling_ae: str
    requested_status: str
    response_status: int
    comment: str = ""


@dataclass
class PerformedStep:
    """A Modality Performed Procedure Step held by the RIS."""

    sop_instance_uid: str
    status: str
    attributes: Dataset
    calling_ae: str
    created_at: float
    history: list[tuple[float, str]] = field(default_factory=list)  # (time, status)
    problems: list[str] = field(default_factory=list)

    @property
    def study_instance_uid(self) -> str:
        seq = self.attributes.get("ScheduledStepAttributesSequence") or []
        return str(seq[0].get("StudyInstanceUID", "")) if seq else ""

    @property
    def referenced_instances(self) -> list[tuple[str, str]]:
        """(SOP Class UID, SOP Instance UID) of every image and non-image reference in the
        Performed Series Sequence (the latest one the modality sent)."""
        refs = []
        for series in self.attributes.get("PerformedSeriesSequence") or []:
            for kw in ("ReferencedImageSequence", "ReferencedNonImageCompositeSOPInstanceSequence"):
                for r in series.get(kw) or []:
                    refs.append((str(r.ReferencedSOPClassUID), str(r.ReferencedSOPInstanceUID)))
        return refs

    @property
    def series_uids(self) -> list[str]:
        return [str(s.SeriesInstanceUID) for s in self.attributes.get("PerformedSeriesSequence") or []]


def _status(code: int, comment: str = "") -> Dataset:
    st = Dataset()
    st.Status = code
    if comment:
        st.ErrorComment = comment[:64]
    return st


# --- the RIS ------------------------------------------------------------------------------------


class RIS:
    """Modality Worklist and MPPS SCP on one AE.

    Parameters
    ----------
    ae_title : str
        The RIS's AE title; the called AE title must match it.
    host, port : listening address; port 0 picks a free port (see :attr:`port` after start).
    items : iterable of Dataset, optional
        The initial schedule (see :func:`generate_schedule`).
    """

    def __init__(self, ae_title: str = "RIS", host: str = "127.0.0.1", port: int = 0,
                 items: Iterable[Dataset] = ()) -> None:
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._items: list[Dataset] = [copy.deepcopy(i) for i in items]
        self.steps: dict[str, PerformedStep] = {}
        self.mpps_log: list[MPPSRequest] = []
        self.queries: list[tuple[float, str, int]] = []  # (time, calling AE, matches)
        self._reject: tuple[int, frozenset[str], int | None] | None = None
        self._server: Any = None
        self.ae = self._build_ae()

    # --- life cycle --------------------------------------------------------------------------

    def _build_ae(self) -> AE:
        ae = ProductAE(ae_title=self.ae_title)
        ae.require_called_aet = True
        ae.maximum_associations = 20
        ae.acse_timeout = ae.dimse_timeout = 30
        ae.network_timeout = 60
        for uid in (VERIFICATION, MWL_FIND, MPPS_CLASS):
            ae.add_supported_context(uid, _SYNTAXES)
        return ae

    def start(self) -> "RIS":
        try:
            self._server = self.ae.start_server((self.host, self.port), block=False, evt_handlers=[
                (evt.EVT_CONN_OPEN, set_nodelay),
                (evt.EVT_C_FIND, self._on_find),
                (evt.EVT_N_CREATE, self._on_n_create),
                (evt.EVT_N_SET, self._on_n_set),
            ])
        except OSError as exc:
            raise NetworkError(f"RIS cannot listen on {self.host}:{self.port}: {exc.strerror}",
                               "give another port (0 picks a free one)") from exc
        self.port = self._server.server_address[1]
        LOGGER.info("RIS %s listening on %s:%d (worklist %d item(s), MPPS)", self.ae_title, self.host, self.port,
                    len(self._items))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        self.ae.shutdown()

    def __enter__(self) -> "RIS":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def node(self) -> Node:
        return Node(ae_title=self.ae_title, host=self.host, port=self.port, roles=("worklist", "mpps"), name="ris")

    # --- the schedule ------------------------------------------------------------------------

    def schedule(self, items: Iterable[Dataset]) -> None:
        """Add worklist items."""
        with self._lock:
            self._items.extend(copy.deepcopy(i) for i in items)

    @property
    def items(self) -> list[Dataset]:
        with self._lock:
            return [copy.deepcopy(i) for i in self._items]

    def sps_status(self, study_uid: str) -> str:
        """Scheduled Procedure Step Status of the step(s) of *study_uid* ("" if unknown)."""
        with self._lock:
            for item in self._items:
                if str(item.get("StudyInstanceUID", "")) == study_uid:
                    return str(item.ScheduledProcedureStepSequence[0].get("ScheduledProcedureStepStatus", ""))
        return ""

    # --- faults ------------------------------------------------------------------------------

    def reject_mpps(self, status: int = PROCESSING_FAILURE, operations: Iterable[str] = ("N-CREATE", "N-SET"),
                    count: int | None = None) -> None:
        """Refuse MPPS requests of *operations* with *status* (for *count* requests, or until
        :meth:`accept_mpps`)."""
        ops = frozenset(o.upper() if o.upper().startswith("N-") else "N-" + o.upper() for o in operations)
        with self._lock:
            self._reject = (status, ops, count)
        LOGGER.warning("RIS %s: MPPS %s will be refused with 0x%04X%s", self.ae_title, "/".join(sorted(ops)),
                       status, f" ({count} request(s))" if count else "")

    def accept_mpps(self) -> None:
        with self._lock:
            self._reject = None

    def _rejection(self, operation: str) -> int | None:
        with self._lock:
            if self._reject is None:
                return None
            status, ops, count = self._reject
            if operation not in ops:
                return None
            if count is not None:
                count -= 1
                self._reject = (status, ops, count) if count > 0 else None
            return status

    # --- handlers ----------------------------------------------------------------------------

    def _on_find(self, event: Any):  # type: ignore[no-untyped-def]
        if str(event.request.AffectedSOPClassUID) != MWL_FIND:
            yield 0xC000, None
            return
        try:
            query = event.identifier
        except Exception as exc:  # an identifier we cannot decode
            LOGGER.warning("worklist C-FIND with an unreadable identifier: %s", exc)
            yield 0xC000, None
            return
        calling = event.assoc.requestor.ae_title
        with self._lock:
            candidates = [copy.deepcopy(i) for i in self._items]
        found = 0
        for item in candidates:
            sps = item.ScheduledProcedureStepSequence[0]
            if str(sps.get("ScheduledProcedureStepStatus", "")) in FINAL_STATES:
                continue
            if not matches(query, item):
                continue
            if event.is_cancelled:
                yield 0xFE00, None
                return
            answer = _answer(item, query)
            if "SpecificCharacterSet" in item:
                answer.SpecificCharacterSet = copy.deepcopy(item.SpecificCharacterSet)
            found += 1
            yield 0xFF00, answer
        self.queries.append((time.time(), calling, found))
        LOGGER.info("worklist C-FIND from %s: %d item(s)", calling, found)
        yield 0x0000, None

    def _record(self, operation: str, uid: str, calling: str, requested: str, code: int, comment: str) -> Dataset:
        self.mpps_log.append(MPPSRequest(time.time(), operation, uid, calling, requested, code, comment))
        if code != SUCCESS:
            LOGGER.warning("MPPS %s %s from %s (%s) refused: 0x%04X %s", operation, uid, calling, requested, code,
                           comment)
        return _status(code, comment)

    def _on_n_create(self, event: Any):  # type: ignore[no-untyped-def]
        calling = event.assoc.requestor.ae_title
        uid = str(event.request.AffectedSOPInstanceUID or "") or generate_uid()
        try:
            attrs = event.attribute_list
        except Exception as exc:
            return self._record("N-CREATE", uid, calling, "?", PROCESSING_FAILURE, f"cannot decode: {exc}"), None
        requested = str(attrs.get("PerformedProcedureStepStatus", "") or "")
        forced = self._rejection("N-CREATE")
        if forced is not None:
            return self._record("N-CREATE", uid, calling, requested, forced, "refused (RIS fault injection)"), None
        with self._lock:
            if uid in self.steps:
                return self._record("N-CREATE", uid, calling, requested, DUPLICATE_INSTANCE,
                                    "SOP Instance UID already exists"), None
            if requested != IN_PROGRESS:
                return self._record("N-CREATE", uid, calling, requested, INVALID_ATTRIBUTE_VALUE,
                                    "a step must be created IN PROGRESS"), None
            problems = [f"Type 1 {kw} missing or empty" for kw in _CREATE_TYPE1 if not attrs.get(kw)]
            sched = attrs.get("ScheduledStepAttributesSequence") or []
            if not sched or not sched[0].get("StudyInstanceUID"):
                problems.append("Scheduled Step Attributes Sequence without Study Instance UID")
            now = time.time()
            step = PerformedStep(uid, IN_PROGRESS, copy.deepcopy(attrs), calling, now, [(now, IN_PROGRESS)], problems)
            self.steps[uid] = step
            self._follow(step)
        for p in problems:
            LOGGER.warning("MPPS N-CREATE %s from %s: %s", uid, calling, p)
        LOGGER.info("MPPS N-CREATE %s from %s: IN PROGRESS", uid, calling)
        self._record("N-CREATE", uid, calling, requested, SUCCESS, "")
        return _status(SUCCESS), attrs

    def _on_n_set(self, event: Any):  # type: ignore[no-untyped-def]
        calling = event.assoc.requestor.ae_title
        uid = str(event.request.RequestedSOPInstanceUID or "")
        try:
            mods = event.modification_list
        except Exception as exc:
            return self._record("N-SET", uid, calling, "?", PROCESSING_FAILURE, f"cannot decode: {exc}"), None
        requested = str(mods.get("PerformedProcedureStepStatus", "") or "")
        forced = self._rejection("N-SET")
        if forced is not None:
            return self._record("N-SET", uid, calling, requested, forced, "refused (RIS fault injection)"), None
        with self._lock:
            step = self.steps.get(uid)
            if step is None:
                return self._record("N-SET", uid, calling, requested, NO_SUCH_INSTANCE,
                                    "no such Performed Procedure Step"), None
            if step.status in FINAL_STATES:
                return self._record("N-SET", uid, calling, requested, PROCESSING_FAILURE,
                                    "Performed Procedure Step Object may no longer be updated"), None
            new = requested or step.status
            if new not in (IN_PROGRESS, *FINAL_STATES):
                return self._record("N-SET", uid, calling, requested, INVALID_ATTRIBUTE_VALUE,
                                    f"unknown Performed Procedure Step Status {new!r}"), None
            if new in FINAL_STATES:
                merged = copy.deepcopy(step.attributes)
                merged.update(mods)
                if not merged.get("PerformedProcedureStepEndDate") or not merged.get("PerformedProcedureStepEndTime"):
                    return self._record("N-SET", uid, calling, requested, MISSING_ATTRIBUTE,
                                        "End Date and Time are required to complete or discontinue"), None
            step.attributes.update(copy.deepcopy(mods))
            step.status = new
            step.history.append((time.time(), new))
            self._follow(step)
        LOGGER.info("MPPS N-SET %s from %s: %s, %d series, %d reference(s)", uid, calling, new,
                    len(step.series_uids), len(step.referenced_instances))
        self._record("N-SET", uid, calling, requested, SUCCESS, "")
        return _status(SUCCESS), mods

    def _follow(self, step: PerformedStep) -> None:
        """The scheduled step's status follows the performed step (lock held)."""
        study = step.study_instance_uid
        sched = step.attributes.get("ScheduledStepAttributesSequence") or []
        sps_id = str(sched[0].get("ScheduledProcedureStepID", "")) if sched else ""
        for item in self._items:
            sps = item.ScheduledProcedureStepSequence[0]
            if str(item.get("StudyInstanceUID", "")) == study and (
                    not sps_id or str(sps.get("ScheduledProcedureStepID", "")) == sps_id):
                sps.ScheduledProcedureStepStatus = _SPS_STATUS[step.status]
