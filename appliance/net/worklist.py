"""Modality Worklist SCU: the C-FIND a product sends to its RIS, and the items it gets back.

The query is built from the profile's ``[worklist]`` keys, as the product's statement lists
them: the matching keys a product fills (its own AE title as Scheduled Station AE Title, a
date range defaulting to today, its modality or ``*``) and every return key it asks for,
placed where the Modality Worklist information model puts it (PS3.4 K.6): inside the
Scheduled Procedure Step Sequence, inside code sequences, or at the top level. A sequence
whose item keys the profile does not list is sent empty (universal sequence matching).

:func:`build_query` is pure (tested without sockets); :func:`query_worklist` sends it.
Returned items are decoded with their Specific Character Set (pydicom does this from the
value of (0008,0005): ISO_IR 100, ISO_IR 192, ISO 2022 IR 87 with its escape sequences ...).
"""

from __future__ import annotations

__all__ = [
    "WorklistItem",
    "build_query",
    "query_worklist",
    "parse_date_range",
    "SPS_ITEM_KEYWORDS",
]

import datetime as _dt
import logging
import re
from dataclasses import dataclass
from typing import Mapping

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..config import Node
from ..errors import NetworkError, UsageError
from ..profile import Profile
from .requestor import (
    Context,
    no_response,
    open_association,
    query_character_set,
    require_context,
    set_value,
    status_text,
)

LOGGER = logging.getLogger(__name__)

# Attributes of a Scheduled Procedure Step Sequence item (PS3.4 Table K.6-1).
SPS_ITEM_KEYWORDS = frozenset({
    "Modality",
    "RequestedContrastAgent",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepEndTime",
    "ScheduledPerformingPhysicianName",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledProcedureStepDescription",
    "ScheduledProtocolCodeSequence",
    "ScheduledProcedureStepID",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledProcedureStepLocation",
    "ScheduledStationGeographicLocationCodeSequence",
    "PreMedication",
    "ScheduledProcedureStepStatus",
    "CommentsOnTheScheduledProcedureStep",
})
# Keys of a code sequence item and the code sequences a worklist query may hold.
CODE_ITEM_KEYWORDS = (
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning", "MappingResource",
    "ContextGroupVersion", "ContextGroupLocalVersion", "ContextGroupExtensionFlag",
    "ContextGroupExtensionCreatorUID", "ContextIdentifier",
)
# Keys of a SOP reference item and the reference sequences.
REFERENCE_ITEM_KEYWORDS = ("ReferencedSOPClassUID", "ReferencedSOPInstanceUID")
_REFERENCE_SEQUENCES = frozenset({
    "ReferencedStudySequence", "ReferencedPatientSequence", "ReferencedVisitSequence",
    "ReferencedPatientAliasSequence",
})
_ITEM_ONLY = frozenset(CODE_ITEM_KEYWORDS) | frozenset(REFERENCE_ITEM_KEYWORDS)

_DATE_RE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")

SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)
CANCELLED = 0xFE00


@dataclass(frozen=True)
class WorklistItem:
    """One Scheduled Procedure Step returned by the RIS, decoded.

    ``dataset`` is the whole identifier as received (with its Specific Character Set), for
    everything the fields below do not name.
    """

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    accession_number: str
    requested_procedure_id: str
    requested_procedure_description: str
    study_instance_uid: str
    scheduled_step_id: str
    scheduled_step_description: str
    scheduled_start_date: str
    scheduled_start_time: str
    modality: str
    station_ae_title: str
    referring_physician: str
    dataset: Dataset

    @property
    def scheduled_start(self) -> _dt.datetime | None:
        """Scheduled start as a datetime (None when the RIS left the date out)."""
        date = self.scheduled_start_date[:8]
        if not re.fullmatch(r"\d{8}", date):
            return None
        time = re.sub(r"[^0-9]", "", self.scheduled_start_time.split(".")[0])[:6].ljust(6, "0")
        try:
            return _dt.datetime.strptime(date + time, "%Y%m%d%H%M%S")
        except ValueError:
            return None

    @property
    def scheduled_step(self) -> Dataset:
        """The first Scheduled Procedure Step Sequence item (empty when missing)."""
        seq = self.dataset.get("ScheduledProcedureStepSequence")
        return seq[0] if seq else Dataset()

    def line(self) -> str:
        """One line for a terminal: start, name, ID, sex/birth, accession, step, modality."""
        start = self.scheduled_start
        when = start.strftime("%Y-%m-%d %H:%M") if start else (self.scheduled_start_date or "-")
        return "  ".join([
            when,
            self.patient_name or "(no name)",
            f"ID={self.patient_id}",
            f"{self.sex or '-'}/{self.birth_date or '-'}",
            f"ACC={self.accession_number}",
            f"SPS={self.scheduled_step_id}",
            self.modality or "-",
            self.scheduled_step_description or self.requested_procedure_description,
            f"AET={self.station_ae_title}",
        ])

    @classmethod
    def from_dataset(cls, ds: Dataset) -> "WorklistItem":
        sps_seq = ds.get("ScheduledProcedureStepSequence")
        sps = sps_seq[0] if sps_seq else Dataset()

        def text(d: Dataset, keyword: str) -> str:
            value = d.get(keyword)
            if value is None:
                return ""
            if isinstance(value, (list, tuple, MultiValue)):
                return "\\".join(str(v) for v in value)
            return str(value)

        return cls(
            patient_name=text(ds, "PatientName"),
            patient_id=text(ds, "PatientID"),
            birth_date=text(ds, "PatientBirthDate"),
            sex=text(ds, "PatientSex"),
            accession_number=text(ds, "AccessionNumber"),
            requested_procedure_id=text(ds, "RequestedProcedureID"),
            requested_procedure_description=text(ds, "RequestedProcedureDescription"),
            study_instance_uid=text(ds, "StudyInstanceUID"),
            scheduled_step_id=text(sps, "ScheduledProcedureStepID"),
            scheduled_step_description=text(sps, "ScheduledProcedureStepDescription"),
            scheduled_start_date=text(sps, "ScheduledProcedureStepStartDate"),
            scheduled_start_time=text(sps, "ScheduledProcedureStepStartTime"),
            modality=text(sps, "Modality"),
            station_ae_title=text(sps, "ScheduledStationAETitle"),
            referring_physician=text(ds, "ReferringPhysicianName"),
            dataset=ds,
        )


def parse_date_range(text: str | None, today: _dt.date | None = None) -> str:
    """A DA matching value: ``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD`` (open ends allowed) or
    ``today`` / None for today's date as the range ``today-today`` (as the Siemens products
    send it)."""
    today = today or _dt.date.today()
    if text is None or text.lower() == "today":
        d = today.strftime("%Y%m%d")
        return f"{d}-{d}"
    m = _DATE_RE.match(text)
    if not m or not (m.group(1) or m.group(3)) or (m.group(3) and not m.group(2)):
        raise UsageError(f"--date {text!r} is not a date or date range",
                         "give YYYYMMDD or YYYYMMDD-YYYYMMDD (either end may be left open)")
    for part in (m.group(1), m.group(3)):
        if part:
            try:
                _dt.datetime.strptime(part, "%Y%m%d")
            except ValueError:
                raise UsageError(f"--date {text!r}: {part} is not a calendar date",
                                 "give YYYYMMDD, e.g. 20261130") from None
    return text


def _place(keyword: str) -> str:
    if keyword in SPS_ITEM_KEYWORDS:
        return "sps"
    return "top"


def build_query(
    profile: Profile,
    *,
    station_ae_title: str | None,
    date: str | None = None,
    modality: str | None = None,
    keys: Mapping[str, str] | None = None,
    today: _dt.date | None = None,
) -> Dataset:
    """The worklist C-FIND identifier the product sends.

    Parameters
    ----------
    profile : Profile
        Its ``[worklist]`` matching and return keys decide what is sent.
    station_ae_title : str or None
        Scheduled Station AE Title to match; normally the calling AE title. ``"*"`` or None
        asks for every station (the "modality" mode of the products' broad query).
    date : str, optional
        ``YYYYMMDD`` or a range; default today (see :func:`parse_date_range`).
    modality : str, optional
        Modality to match; default ``*`` (any), as the products send it in the "own AE
        title" mode of the broad query.
    keys : mapping, optional
        Further matching values by keyword (``PatientID``, ``AccessionNumber`` ...). Each
        must be one of the profile's matching keys: a product only matches on what its
        statement says it sends.

    Raises
    ------
    UsageError
        A key the product does not match on, or a malformed date.
    """
    wl = profile.worklist
    if not wl.scu:
        raise UsageError(f"{profile.id} has no Modality Worklist SCU (its statement lists none)",
                         "choose a profile whose product queries a worklist")
    matching = set(wl.matching_keys)
    keys = dict(keys or {})
    for kw in keys:
        if kw.endswith("Sequence"):
            raise UsageError(f"{kw} is a sequence: give the keys inside it (e.g. -k Modality=MR)")
        if kw not in matching:
            raise UsageError(
                f"{profile.id} does not send {kw} as a worklist matching key",
                "its statement's matching keys are: " + ", ".join(wl.matching_keys),
            )

    values: dict[str, str] = {}
    if "ScheduledStationAETitle" in matching:
        values["ScheduledStationAETitle"] = "*" if station_ae_title in (None, "", "*") else station_ae_title
    elif station_ae_title not in (None, "", "*"):
        raise UsageError(f"{profile.id} does not match on Scheduled Station AE Title")
    if "ScheduledProcedureStepStartDate" in matching:
        values["ScheduledProcedureStepStartDate"] = parse_date_range(date, today)
    elif date is not None:
        raise UsageError(f"{profile.id} does not match on Scheduled Procedure Step Start Date")
    if "Modality" in matching:
        values["Modality"] = modality or "*"
    elif modality:
        raise UsageError(f"{profile.id} does not match on Modality")
    values.update(keys)

    requested = [kw for kw in wl.return_keys if kw not in _ITEM_ONLY]
    for kw in wl.matching_keys:
        if kw not in requested and kw not in _ITEM_ONLY:
            requested.append(kw)
    for kw in values:
        if kw not in requested:
            requested.append(kw)
    code_items = [kw for kw in CODE_ITEM_KEYWORDS if kw in wl.return_keys]
    reference_items = [kw for kw in REFERENCE_ITEM_KEYWORDS if kw in wl.return_keys]

    ds = Dataset()
    sps = Dataset()
    for kw in requested:
        if kw == "ScheduledProcedureStepSequence":
            continue
        target = sps if _place(kw) == "sps" else ds
        if kw.endswith("Sequence"):
            item_keys = code_items if kw.endswith("CodeSequence") else (
                reference_items if kw in _REFERENCE_SEQUENCES else [])
            if item_keys:
                item = Dataset()
                for ik in item_keys:
                    set_value(item, ik, "")
                set_value(target, kw, [item])
            else:
                set_value(target, kw, [])  # universal sequence matching
            continue
        set_value(target, kw, values.get(kw, ""))
    set_value(ds, "ScheduledProcedureStepSequence", [sps])

    charset = query_character_set(profile, [str(v) for v in values.values()])
    if charset:
        set_value(ds, "SpecificCharacterSet", charset)
    elif "SpecificCharacterSet" in wl.return_keys:
        set_value(ds, "SpecificCharacterSet", "")
    return ds


def query_worklist(
    profile: Profile,
    node: Node,
    ae_title: str,
    *,
    station_ae_title: str | None = "",
    date: str | None = None,
    modality: str | None = None,
    keys: Mapping[str, str] | None = None,
) -> list[WorklistItem]:
    """Query *node* for scheduled procedure steps, as the product would.

    *station_ae_title* defaults (``""``) to *ae_title*: the products query for their own
    AE title. Pass ``"*"`` for every station.

    Raises
    ------
    NetworkError
        The RIS cannot be reached, refuses the query or answers with a failure status.
    UsageError
        A key or date the product would not send.
    """
    station = ae_title if station_ae_title == "" else station_ae_title
    query = build_query(profile, station_ae_title=station, date=date, modality=modality, keys=keys)
    cls = next((c for c in profile.classes(service="worklist", role="scu")), None)
    if cls is None:
        raise UsageError(f"{profile.id} lists no Modality Worklist FIND SCU class")
    contexts = [Context(cls.uid, profile.scu_transfer_syntaxes(cls))]
    purpose = "worklist C-FIND"
    max_items = profile.worklist.max_items or 0
    items: list[WorklistItem] = []
    cancelled = False
    with open_association(profile, node, ae_title, contexts, purpose=purpose) as assoc:
        cid = require_context(assoc, cls.uid, node, purpose)
        final: Dataset | None = None
        for status, identifier in assoc.send_c_find(query, cls.uid):
            if "Status" not in status:
                raise no_response(assoc, purpose, node)
            code = int(status.Status)
            if code in PENDING:
                if identifier is None:
                    continue
                if max_items and len(items) >= max_items:
                    if not cancelled:
                        LOGGER.warning("%s: more than %d items from %s; keeping the first %d (the "
                                       "product's maximum) and cancelling", purpose, max_items, node, max_items)
                        assoc.send_c_cancel(1, cid)
                        cancelled = True
                    continue
                items.append(WorklistItem.from_dataset(identifier))
                continue
            final = status
            break
        if final is None:
            raise NetworkError(f"{purpose}: {node} ended without a final response")
        code = int(final.Status)
        if code not in (SUCCESS, CANCELLED) or (code == CANCELLED and not cancelled):
            raise NetworkError(
                f"{purpose}: {node} answered with failure status {status_text(final)} after "
                f"{len(items)} item(s)",
                "the RIS refused the query; its log says why (an unsupported key or value?)",
            )
    LOGGER.info("%s: %d item(s) from %s for station %s, date %s, modality %s", purpose, len(items), node,
                station or "*", date or "today", modality or "*")
    return items
