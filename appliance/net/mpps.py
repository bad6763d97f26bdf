"""Modality Performed Procedure Step SCU: N-CREATE "IN PROGRESS", N-SET "COMPLETED" or
"DISCONTINUED", with the attributes the product's statement lists.

The data sets are built by pure functions (:func:`build_create`, :func:`build_set`), which
take the standard IHE Scheduled Workflow content (the worklist item's values copied into the
Scheduled Step Attributes Sequence, the Performed Series Sequence with the referenced images)
and keep only the top-level attributes in the profile's ``[mpps] create_attributes`` /
``set_attributes``: what each product sends is data, not code. Sequence items keep their
standard content (code items, SOP references), which the statements list only loosely.

Every operation runs on its own association (connect, N-CREATE, release; connect, N-SET,
release), as FUJIFILM OASIS documents and as all five products allow. The SCU supplies the
SOP Instance UID in the N-CREATE request (pynetdicom's N-CREATE response does not carry an
SCP-assigned one). A refused request raises :class:`MPPSError` with the SCP's status.
"""

from __future__ import annotations

__all__ = [
    "MPPS_SOP_CLASS",
    "IN_PROGRESS",
    "COMPLETED",
    "DISCONTINUED",
    "PerformedSeries",
    "ProcedureStep",
    "MPPSError",
    "build_create",
    "build_set",
    "performed_series_from_store",
    "create",
    "update",
]

import copy
import datetime as _dt
import logging
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, generate_uid
from pynetdicom.association import Association

from ..config import Node
from ..errors import NetworkError, UsageError
from ..profile import Profile, is_valid_uid
from .requestor import Context, no_response, open_association, query_character_set, require_context, status_text
from .worklist import WorklistItem

LOGGER = logging.getLogger(__name__)

MPPS_SOP_CLASS = UID("1.2.840.10008.3.1.2.3.3")
IN_PROGRESS = "IN PROGRESS"
COMPLETED = "COMPLETED"
DISCONTINUED = "DISCONTINUED"

# N-CREATE / N-SET statuses that still mean "done" (PS3.7 C.4.x, PS3.4 F.7.2): warnings.
_WARNINGS = (0x0001, 0x0107, 0x0116)
# Attributes a data set needs whatever the profile lists: without them it cannot be read.
_ALWAYS = ("SpecificCharacterSet", "PerformedProcedureStepStatus")


class MPPSError(NetworkError):
    """The MPPS SCP refused an N-CREATE or N-SET (``status`` holds its status code)."""

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class PerformedSeries:
    """One series performed in the step, as listed in the Performed Series Sequence."""

    series_instance_uid: str
    series_description: str = ""
    protocol_name: str = ""
    performing_physician: str = ""
    operators_name: str = ""
    retrieve_ae_title: str = ""
    images: tuple[tuple[str, str], ...] = ()  # (SOP Class UID, SOP Instance UID)
    non_images: tuple[tuple[str, str], ...] = ()  # e.g. a dose SR


@dataclass(frozen=True)
class ProcedureStep:
    """A performed procedure step we created: its SOP Instance UID and last status."""

    sop_instance_uid: str
    status: str
    node: str
    dataset: Dataset


def _now() -> _dt.datetime:
    return _dt.datetime.now()


def _copy_items(ds: Dataset | None, keyword: str) -> list[Dataset]:
    if ds is None:
        return []
    return [copy.deepcopy(item) for item in ds.get(keyword, [])]


def _prune(ds: Dataset, allowed: Iterable[str], what: str) -> Dataset:
    """Keep the top-level attributes named in *allowed* (and those always needed)."""
    keep = set(allowed) | set(_ALWAYS)
    for elem in list(ds):
        if elem.keyword not in keep:
            LOGGER.debug("MPPS %s: %s left out (not in the profile's list)", what, elem.keyword)
            del ds[elem.tag]
    return ds


def _character_set(profile: Profile, ds: Dataset, from_item: Dataset | None) -> None:
    """Declare the character set of the values: the worklist item's, else the product's."""
    if from_item is not None and from_item.get("SpecificCharacterSet"):
        ds.SpecificCharacterSet = copy.deepcopy(from_item.SpecificCharacterSet)
        return
    texts = [str(e.value) for e in ds.iterall() if e.VR in ("PN", "LO", "SH", "ST", "LT", "UT", "UC")
             and e.value is not None]
    charset = query_character_set(profile, texts)
    if charset:
        ds.SpecificCharacterSet = charset


def build_create(
    profile: Profile,
    ae_title: str,
    item: WorklistItem | None = None,
    *,
    patient: Mapping[str, str] | None = None,
    modality: str | None = None,
    pps_id: str | None = None,
    station_name: str | None = None,
    start: _dt.datetime | None = None,
    series: Iterable[PerformedSeries] = (),
    extra: Mapping[str, Any] | None = None,
) -> Dataset:
    """The N-CREATE attribute list (status IN PROGRESS) for a step started from *item*.

    Parameters
    ----------
    profile : Profile
        ``[mpps] create_attributes`` decides which top-level attributes are sent.
    ae_title : str
        Our AE title: Performed Station AE Title.
    item : WorklistItem, optional
        The scheduled step; None for an unscheduled step (then give *patient*).
    patient : mapping, optional
        Keyword -> value overriding or replacing the worklist's: ``PatientName``,
        ``PatientID``, ``PatientBirthDate``, ``PatientSex``, ``StudyInstanceUID``,
        ``AccessionNumber``.
    modality : str, optional
        Default: the worklist item's modality, else the product's first modality.
    pps_id : str, optional
        Performed Procedure Step ID; default the Scheduled Procedure Step ID, else created.
    station_name : str, optional
        Performed Station Name; default the host name (as the statements say).
    start : datetime, optional
        PPS start; default now.
    series : iterable of PerformedSeries
        Series already known at start (normally none: the sequence is sent empty).
    extra : mapping, optional
        Further attributes by keyword (dose, billing ...); kept only when the profile lists them.
    """
    if not profile.mpps.scu:
        raise UsageError(f"{profile.id} has no MPPS SCU (its statement lists none)",
                         "choose a profile whose product reports procedure steps")
    src = item.dataset if item is not None else None
    sps = item.scheduled_step if item is not None else Dataset()
    given = dict(patient or {})
    start = start or _now()

    def value(keyword: str, default: str = "") -> str:
        if keyword in given:
            return str(given[keyword])
        if src is not None and src.get(keyword) not in (None, ""):
            return str(src.get(keyword))
        return default

    study_uid = value("StudyInstanceUID") or generate_uid()
    if not is_valid_uid(study_uid):
        raise UsageError(f"Study Instance UID {study_uid!r} is not a valid UID")

    scheduled = Dataset()
    scheduled.StudyInstanceUID = study_uid
    scheduled.ReferencedStudySequence = _copy_items(src, "ReferencedStudySequence")
    scheduled.AccessionNumber = value("AccessionNumber")
    for kw in ("PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest"):
        if src is not None and kw in src:
            setattr(scheduled, kw, src.get(kw) or "")
    scheduled.RequestedProcedureID = value("RequestedProcedureID")
    scheduled.RequestedProcedureDescription = value("RequestedProcedureDescription")
    scheduled.ScheduledProcedureStepID = str(sps.get("ScheduledProcedureStepID", "") or "")
    scheduled.ScheduledProcedureStepDescription = str(sps.get("ScheduledProcedureStepDescription", "") or "")
    scheduled.ScheduledProtocolCodeSequence = _copy_items(sps, "ScheduledProtocolCodeSequence")

    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [scheduled]
    ds.PatientName = value("PatientName")
    ds.PatientID = value("PatientID")
    ds.PatientBirthDate = value("PatientBirthDate")
    ds.PatientSex = value("PatientSex")
    ds.ReferencedPatientSequence = _copy_items(src, "ReferencedPatientSequence")
    ds.PerformedProcedureStepID = (pps_id or scheduled.ScheduledProcedureStepID
                                   or "PPS" + start.strftime("%y%m%d%H%M%S"))[:16]
    ds.PerformedStationAETitle = ae_title
    ds.PerformedStationName = (station_name if station_name is not None else socket.gethostname())[:16]
    ds.PerformedLocation = str(sps.get("ScheduledProcedureStepLocation", "") or "")[:16]
    ds.PerformedProcedureStepStartDate = start.strftime("%Y%m%d")
    ds.PerformedProcedureStepStartTime = start.strftime("%H%M%S")
    ds.PerformedProcedureStepStatus = IN_PROGRESS
    ds.PerformedProcedureStepDescription = scheduled.ScheduledProcedureStepDescription
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = _copy_items(src, "RequestedProcedureCodeSequence")
    ds.PerformedProcedureStepEndDate = ""
    ds.PerformedProcedureStepEndTime = ""
    ds.Modality = modality or (item.modality if item is not None and item.modality else "") or (
        profile.identity.modalities[0] if profile.identity.modalities else "OT")
    ds.StudyID = scheduled.RequestedProcedureID[:16]
    ds.PerformedProtocolCodeSequence = _copy_items(sps, "ScheduledProtocolCodeSequence")
    ds.PerformedSeriesSequence = [_series_item(s) for s in series]
    for kw, v in (extra or {}).items():
        setattr(ds, kw, v)
    _character_set(profile, ds, src)
    return _prune(ds, profile.mpps.create_attributes, "N-CREATE")


def _series_item(s: PerformedSeries) -> Dataset:
    item = Dataset()
    item.PerformingPhysicianName = s.performing_physician
    item.ProtocolName = s.protocol_name or "n/a"  # Type 1 in the Performed Series Sequence
    item.OperatorsName = s.operators_name
    item.SeriesInstanceUID = s.series_instance_uid
    item.SeriesDescription = s.series_description
    item.RetrieveAETitle = s.retrieve_ae_title
    item.ReferencedImageSequence = [_reference(c, i) for c, i in s.images]
    item.ReferencedNonImageCompositeSOPInstanceSequence = [_reference(c, i) for c, i in s.non_images]
    return item


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = sop_instance
    return ref


def build_set(
    profile: Profile,
    status: str,
    series: Iterable[PerformedSeries] = (),
    *,
    end: _dt.datetime | None = None,
    character_set: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Dataset:
    """The N-SET modification list: *status* (COMPLETED, DISCONTINUED, or IN PROGRESS for an
    intermediate update), end date/time and the Performed Series Sequence.

    Only the top-level attributes in the profile's ``[mpps] set_attributes`` are kept.
    *character_set* is the Specific Character Set of the step (that of its N-CREATE).
    """
    allowed_states = (IN_PROGRESS, *profile.mpps.final_states)
    if status not in allowed_states:
        raise UsageError(f"MPPS status {status!r} is not one {profile.id} sends",
                         "use one of: " + ", ".join(allowed_states))
    end = end or _now()
    ds = Dataset()
    if character_set:
        ds.SpecificCharacterSet = copy.deepcopy(character_set)
    ds.PerformedProcedureStepStatus = status
    if status != IN_PROGRESS:
        ds.PerformedProcedureStepEndDate = end.strftime("%Y%m%d")
        ds.PerformedProcedureStepEndTime = end.strftime("%H%M%S")
    ds.PerformedSeriesSequence = [_series_item(s) for s in series]
    for kw, v in (extra or {}).items():
        setattr(ds, kw, v)
    if not character_set:
        _character_set(profile, ds, None)
    return _prune(ds, profile.mpps.set_attributes, "N-SET")


def _is_image(sop_class_uid: str) -> bool:
    name = UID(sop_class_uid).name
    return "Image Storage" in name


_SERIES_TAGS = ["SeriesInstanceUID", "SeriesDescription", "ProtocolName", "PerformingPhysicianName",
                "OperatorsName", "SpecificCharacterSet"]


def performed_series_from_store(
    store: Any,
    study_uid: str | None = None,
    sop_instance_uids: Iterable[str] | None = None,
    retrieve_ae_title: str = "",
) -> list[PerformedSeries]:
    """The Performed Series Sequence content for stored instances.

    Parameters
    ----------
    store : appliance.store.Store
    study_uid : str, optional
        Only the instances of this study.
    sop_instance_uids : iterable of str, optional
        Only these instances (e.g. the ones the exam created and sent).
    retrieve_ae_title : str
        Where they can be retrieved (from the storage commitment answer), else empty.
    """
    wanted = set(sop_instance_uids) if sop_instance_uids is not None else None
    groups: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
    for record in store.instances(study_uid):
        if wanted is not None and record.sop_instance_uid not in wanted:
            continue
        g = groups.get(record.series_uid)
        if g is None:
            header = dcmread(record.path, stop_before_pixels=True, specific_tags=_SERIES_TAGS)
            g = groups[record.series_uid] = {
                "series_description": str(header.get("SeriesDescription", "") or ""),
                "protocol_name": str(header.get("ProtocolName", "") or ""),
                "performing_physician": str(header.get("PerformingPhysicianName", "") or ""),
                "operators_name": str(header.get("OperatorsName", "") or ""),
                "images": [],
                "non_images": [],
            }
        ref = (record.sop_class_uid, record.sop_instance_uid)
        (g["images"] if _is_image(record.sop_class_uid) else g["non_images"]).append(ref)
    return [
        PerformedSeries(
            series_instance_uid=uid,
            series_description=g["series_description"],
            protocol_name=g["protocol_name"],
            performing_physician=g["performing_physician"],
            operators_name=g["operators_name"],
            retrieve_ae_title=retrieve_ae_title,
            images=tuple(g["images"]),
            non_images=tuple(g["non_images"]),
        )
        for uid, g in groups.items()
    ]


def _contexts(profile: Profile) -> list[Context]:
    cls = next((c for c in profile.classes(service="mpps", role="scu")), None)
    if cls is None:
        raise UsageError(f"{profile.id} lists no MPPS SCU class", "choose a profile with an MPPS SCU")
    return [Context(cls.uid, profile.scu_transfer_syntaxes(cls))]


def _check(assoc: Association, status: Dataset, purpose: str, node: Node, uid: str) -> int:
    if "Status" not in status:
        err = no_response(assoc, f"{purpose} {uid}", node)
        raise MPPSError(err.message, err.hint)
    code = int(status.Status)
    if code == 0x0000:
        return code
    if code in _WARNINGS:
        LOGGER.warning("%s %s: %s answered with warning %s", purpose, uid, node, status_text(status))
        return code
    hint = "the SCP refused the request; its log says why"
    if code == 0x0110 and purpose.endswith("N-SET"):
        hint = ("0x0110 after COMPLETED or DISCONTINUED means the step is final and may no longer "
                "be updated")
    raise MPPSError(f"{purpose} {uid}: {node} refused with status {status_text(status)}", hint, status=code)


def create(
    profile: Profile,
    node: Node,
    ae_title: str,
    dataset: Dataset,
    instance_uid: str | None = None,
) -> ProcedureStep:
    """Send N-CREATE on its own association; return the step (status IN PROGRESS).

    Raises
    ------
    MPPSError
        The SCP refused (``.status`` holds the code) or did not answer.
    NetworkError
        The association failed.
    """
    uid = instance_uid or generate_uid()
    purpose = "MPPS N-CREATE"
    with open_association(profile, node, ae_title, _contexts(profile), purpose=purpose) as assoc:
        require_context(assoc, MPPS_SOP_CLASS, node, purpose)
        status, _attrs = assoc.send_n_create(dataset, MPPS_SOP_CLASS, uid)
        code = _check(assoc, status, purpose, node, uid)
    state = str(dataset.get("PerformedProcedureStepStatus", IN_PROGRESS))
    LOGGER.info("%s %s -> %s: %s, status 0x%04X", purpose, uid, node, state, code)
    return ProcedureStep(sop_instance_uid=uid, status=state, node=str(node), dataset=dataset)


def update(profile: Profile, node: Node, ae_title: str, instance_uid: str, dataset: Dataset) -> ProcedureStep:
    """Send N-SET on its own association (final or intermediate update).

    Raises
    ------
    MPPSError
        The SCP refused (e.g. 0x0110 after the step was completed) or did not answer.
    """
    if not is_valid_uid(instance_uid):
        raise UsageError(f"MPPS SOP Instance UID {instance_uid!r} is not a valid UID")
    purpose = "MPPS N-SET"
    with open_association(profile, node, ae_title, _contexts(profile), purpose=purpose) as assoc:
        require_context(assoc, MPPS_SOP_CLASS, node, purpose)
        status, _attrs = assoc.send_n_set(dataset, MPPS_SOP_CLASS, instance_uid)
        code = _check(assoc, status, purpose, node, instance_uid)
    new_status = str(dataset.get("PerformedProcedureStepStatus", ""))
    LOGGER.info("%s %s -> %s: %s, %d series, status 0x%04X", purpose, instance_uid, node, new_status,
                len(dataset.get("PerformedSeriesSequence", [])), code)
    return ProcedureStep(sop_instance_uid=instance_uid, status=new_status, node=str(node), dataset=dataset)
