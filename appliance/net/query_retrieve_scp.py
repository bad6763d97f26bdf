"""Query/Retrieve SCP: C-FIND, C-MOVE and C-GET over the local store, as the profile says.

What the profile decides (``[query_retrieve]``, docs/profiles.md):

- the information models (``scp_models``; each needs its SCP row in ``sop_classes`` to be
  negotiated at all) and the levels each model has (Patient Root: PATIENT..IMAGE, Study Root:
  STUDY..IMAGE, Patient/Study Only: PATIENT, STUDY) that ``keys_scp`` lists;
- the keys matched and returned per level (``keys_scp``) plus the unique keys;
- relational queries (``relational``, accepted through extended negotiation) or hierarchical
  ones, which must carry the unique key of every level above the query level;
- ``max_matches``; the failure status for "unable to process"; the matching quirks
  ``question_mark_as_asterisk`` and ``case_insensitive_names``; ``retrieves_per_association``.

Matching is PS3.4 C.2.2.2: universal (empty, or a lone ``*``), single value, wildcard (``*``
and ``?`` in string VRs), range (DA, TM, DT with ``-``), list of UIDs (UI with several values;
several values of another key match any of them), and sequence matching (an item whose
non-empty keys all match). An entity without a value matches only universal matching.

Values come from the store: the SQLite index gives the hierarchy (patient, study, series,
instance) and the counts (Number of ... Related ..., Modalities in Study, SOP Classes in Study);
every other attribute comes from the header of one stored instance of the entity, read once
and cached. Each response carries the Specific Character Set of that instance, so text goes out
in the character set it was stored in.

C-MOVE sends the matching instances on a new association to the Move Destination, which must
be a node of the site configuration (else A801), proposing the product's storage SCU classes
and transfer syntaxes; C-GET sends them on the requesting association. pynetdicom counts the
sub-operations and gives the final status (0000, B000 with the failed UIDs, or A702).
A C-MOVE that fails for another reason than an unknown destination (bad identifier, second
retrieve on the association) is answered after pynetdicom has opened and closed an
association to the destination: its handler API decides the destination first.
"""

from __future__ import annotations

__all__ = [
    "QueryRetrieveContext",
    "QueryError",
    "Query",
    "MODELS",
    "LEVELS",
    "UNIQUE_KEYS",
    "parse_query",
    "match_element",
    "find_matches",
    "retrieve_rows",
    "handle_find",
    "handle_move",
    "handle_get",
    "handle_sop_extended",
]

import copy
import logging
import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, UID
from pynetdicom.presentation import build_context

from ..config import Node
from ..profile import Profile
from ..store import Store
from ..store.index import HierarchyRow

LOGGER = logging.getLogger(__name__)

# SOP Class UID -> (information model, operation)
MODELS: dict[str, tuple[str, str]] = {
    "1.2.840.10008.5.1.4.1.2.1.1": ("PATIENT", "FIND"),
    "1.2.840.10008.5.1.4.1.2.1.2": ("PATIENT", "MOVE"),
    "1.2.840.10008.5.1.4.1.2.1.3": ("PATIENT", "GET"),
    "1.2.840.10008.5.1.4.1.2.2.1": ("STUDY", "FIND"),
    "1.2.840.10008.5.1.4.1.2.2.2": ("STUDY", "MOVE"),
    "1.2.840.10008.5.1.4.1.2.2.3": ("STUDY", "GET"),
    "1.2.840.10008.5.1.4.1.2.3.1": ("PATIENT_STUDY_ONLY", "FIND"),
    "1.2.840.10008.5.1.4.1.2.3.2": ("PATIENT_STUDY_ONLY", "MOVE"),
    "1.2.840.10008.5.1.4.1.2.3.3": ("PATIENT_STUDY_ONLY", "GET"),
}
MODEL_NAMES = {"PATIENT": "Patient Root", "STUDY": "Study Root", "PATIENT_STUDY_ONLY": "Patient/Study Only"}
# The levels of each information model, top down (PS3.4 C.6).
LEVELS: dict[str, tuple[str, ...]] = {
    "PATIENT": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "STUDY": ("STUDY", "SERIES", "IMAGE"),
    "PATIENT_STUDY_ONLY": ("PATIENT", "STUDY"),
}
UNIQUE_KEYS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
               "IMAGE": "SOPInstanceUID"}
# Attributes computed from the index, by the level whose entity they describe.
DERIVED = {
    "NumberOfPatientRelatedStudies": "PATIENT",
    "NumberOfPatientRelatedSeries": "PATIENT",
    "NumberOfPatientRelatedInstances": "PATIENT",
    "NumberOfStudyRelatedSeries": "STUDY",
    "NumberOfStudyRelatedInstances": "STUDY",
    "ModalitiesInStudy": "STUDY",
    "SOPClassesInStudy": "STUDY",
    "NumberOfSeriesRelatedInstances": "SERIES",
}
# Keys every response may carry when asked, whatever keys_scp says (PS3.4 C.4.1.1.3.2).
ALWAYS_RETURNABLE = ("RetrieveAETitle", "InstanceAvailability")

SUCCESS, PENDING, CANCEL = 0x0000, 0xFF00, 0xFE00
PENDING_UNSUPPORTED_KEYS = 0xFF01
NOT_KEYS = ("QueryRetrieveLevel", "SpecificCharacterSet", "TimezoneOffsetFromUTC")
IDENTIFIER_DOES_NOT_MATCH = 0xA900
STRING_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
NUMERIC_VRS = {"IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"}
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
MAX_CONTEXTS = 128


class QueryError(Exception):
    """A request the SCP refuses: the status and an Error Comment."""

    def __init__(self, status: int, comment: str) -> None:
        super().__init__(comment)
        self.status = status
        self.comment = comment


# --- context ---------------------------------------------------------------------------------


class HeaderCache:
    """Headers (no pixel data) of stored files, parsed once; keyed by path, size and mtime."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int, int], Dataset] = OrderedDict()

    def get(self, path: Path) -> Dataset:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            ds = self._items.get(key)
            if ds is not None:
                self._items.move_to_end(key)
                return ds
        ds = dcmread(path, stop_before_pixels=True)
        with self._lock:
            self._items[key] = ds
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return ds


@dataclass
class QueryRetrieveContext:
    """What the Q/R handlers need.

    *nodes* are the site configuration's nodes (C-MOVE destinations, by AE title);
    *requestor_handlers* are bound to the associations the SCP opens (TCP_NODELAY).
    """

    profile: Profile
    store: Store
    ae_title: str
    nodes: Sequence[Node] = ()
    requestor_handlers: list = field(default_factory=list)
    headers: HeaderCache = field(default_factory=HeaderCache)
    _retrieves: "weakref.WeakKeyDictionary[Any, int]" = field(default_factory=weakref.WeakKeyDictionary)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def destination(self, ae_title: str) -> Node | None:
        """The configured node with AE title *ae_title*, or None (C-MOVE: A801)."""
        for node in self.nodes:
            if node.ae_title.strip() == ae_title.strip():
                return node
        return None

    def count_retrieve(self, assoc: Any) -> int:
        """Count one more C-MOVE/C-GET on *assoc*; return how many it had before."""
        with self._lock:
            before = self._retrieves.get(assoc, 0)
            self._retrieves[assoc] = before + 1
            return before

    @property
    def unable_to_process(self) -> int:
        return int(self.profile.query_retrieve.status_unable_to_process, 16)


# --- the request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A checked C-FIND / C-MOVE / C-GET identifier."""

    model: str
    level: str
    identifier: Dataset
    relational: bool = False

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels from the model's top down to the query level."""
        levels = LEVELS[self.model]
        return levels[: levels.index(self.level) + 1]


def model_levels(profile: Profile, model: str) -> tuple[str, ...]:
    """The levels of *model* that the profile answers (those with keys in ``keys_scp``)."""
    keys = profile.query_retrieve.keys_scp or {}
    return tuple(level for level in LEVELS[model] if level in keys)


def matching_keys(profile: Profile, query: Query) -> set[str]:
    """Keywords the SCP matches on (and returns) for *query*."""
    keys_scp = profile.query_retrieve.keys_scp or {}
    out = set(keys_scp.get(query.level, ())) | {UNIQUE_KEYS[query.level]}
    for level in query.levels[:-1]:
        out.add(UNIQUE_KEYS[level])
        if query.relational:
            out |= set(keys_scp.get(level, ()))
    return out


def unsupported_keys(profile: Profile, query: Query) -> list[str]:
    """Keys of *query*'s identifier the product neither matches nor returns (left out of responses)."""
    keys = matching_keys(profile, query) | set(ALWAYS_RETURNABLE) | set(NOT_KEYS)
    return [e.keyword or str(e.tag) for e in _requested(query.identifier) if e.keyword not in keys]


def _values(value: Any) -> list[str]:
    """A DICOM value as a list of strings ([] when empty)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v).strip() for v in value if v is not None and str(v).strip() != ""]
    text = str(value).strip()
    return [text] if text else []


def _single_value(ds: Dataset, keyword: str) -> str | None:
    values = _values(ds.get(keyword))
    return values[0] if len(values) == 1 else None


def parse_query(profile: Profile, model: str, identifier: Dataset, relational: bool = False,
                retrieve: bool = False) -> Query:
    """Check an identifier against the model, the profile's levels and the hierarchy rules.

    Raises :class:`QueryError` (0xA900, Identifier does not match SOP Class) when the level
    is missing or not one the product answers, or a required unique key is missing.
    """
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if not level:
        raise QueryError(IDENTIFIER_DOES_NOT_MATCH, "Query/Retrieve Level (0008,0052) missing")
    levels = model_levels(profile, model)
    if level not in levels:
        raise QueryError(IDENTIFIER_DOES_NOT_MATCH,
                         f"level {level} not supported with {MODEL_NAMES[model]} (supported: {', '.join(levels)})")
    query = Query(model, level, identifier, relational)
    if retrieve:
        # "All unique keys have to be supplied according to the selected level" (a list is allowed)
        if not _values(identifier.get(UNIQUE_KEYS[level])):
            raise QueryError(IDENTIFIER_DOES_NOT_MATCH, f"{UNIQUE_KEYS[level]} missing for a {level} level retrieve")
        return query
    if not relational:
        for upper in query.levels[:-1]:
            key = UNIQUE_KEYS[upper]
            value = _single_value(identifier, key)
            if value is None or (key == "PatientID" and any(c in value for c in "*?")):
                raise QueryError(IDENTIFIER_DOES_NOT_MATCH,
                                 f"hierarchical query: {key} must have a single value at {level} level")
    return query


# --- matching (pure) -------------------------------------------------------------------------


def _norm_tm(text: str) -> str:
    text = text.replace(":", "")
    whole, _, frac = text.partition(".")
    return whole.ljust(6, "0") + ("." + frac if frac else "")


def _norm(vr: str, text: str) -> str:
    if vr == "TM":
        return _norm_tm(text)
    if vr == "DA":
        return text.replace(".", "")
    return text


def _in_range(vr: str, query: str, value: str) -> bool:
    low, _, high = query.partition("-")
    value = _norm(vr, value)
    if low.strip() and value < _norm(vr, low.strip()):
        return False
    if high.strip():
        top = _norm(vr, high.strip())
        if vr == "TM":
            top = top if "." in top else top + ".999999"
        if value[: len(top)] > top if vr != "TM" else value > top:
            return False
    return True


def _wildcard(query: str, question_as_asterisk: bool, ignore_case: bool) -> re.Pattern[str]:
    out = []
    for ch in query:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".*" if question_as_asterisk else ".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _pn(text: str) -> str:
    return text.rstrip("^= ")


def match_one(vr: str, query: str, value: str, profile: Profile) -> bool:
    """Single-value, wildcard or range match of one query value against one stored value."""
    qr = profile.query_retrieve
    ignore_case = vr == "PN" and qr.case_insensitive_names
    if vr in ("DA", "TM", "DT") and "-" in query:
        return _in_range(vr, query, value)
    if vr in STRING_VRS and vr not in ("DA", "TM", "DT") and ("*" in query or "?" in query):
        if vr == "PN":
            value = _pn(value)
        return bool(_wildcard(query, qr.question_mark_as_asterisk, ignore_case).fullmatch(value))
    if vr in NUMERIC_VRS:
        try:
            return float(query) == float(value)
        except ValueError:
            return query == value
    if vr == "PN":
        query, value = _pn(query), _pn(value)
        return query.lower() == value.lower() if ignore_case else query == value
    if vr in ("DA", "TM"):
        return _norm(vr, query) == _norm(vr, value)
    return query == value


def match_element(query: DataElement, stored: DataElement | None, profile: Profile) -> bool:
    """PS3.4 C.2.2.2 matching of one identifier element against the stored element."""
    if query.VR == "SQ":
        items = [item for item in (query.value or []) if any(not _universal(e) for e in item)]
        if not items:
            return True
        if stored is None or stored.VR != "SQ" or not stored.value:
            return False
        wanted = items[0]
        return any(
            all(_universal(e) or match_element(e, item.get(e.tag), profile) for e in wanted)
            for item in stored.value
        )
    if _universal(query):
        return True
    stored_values = _values(stored.value) if stored is not None else []
    if not stored_values:
        return False
    vr = query.VR
    return any(match_one(vr, q, v, profile) for q in _values(query.value) for v in stored_values)


def _universal(elem: DataElement) -> bool:
    if elem.VR == "SQ":
        return not elem.value or all(all(_universal(e) for e in item) for item in elem.value)
    values = _values(elem.value)
    return not values or (elem.VR in STRING_VRS and values == ["*"])


# --- the data --------------------------------------------------------------------------------


class _Entity:
    """One patient, study, series or instance: its rows, a representative header, counts."""

    def __init__(self, ctx: QueryRetrieveContext, level: str, rows: list[HierarchyRow]) -> None:
        self.ctx = ctx
        self.level = level
        self.rows = rows
        self._header: Dataset | None = None

    @property
    def header(self) -> Dataset:
        if self._header is None:
            try:
                self._header = self.ctx.headers.get(self.rows[0].path)
            except (OSError, Exception) as exc:  # a vanished or unreadable file: no attributes
                LOGGER.warning("cannot read %s: %s", self.rows[0].path, exc)
                self._header = Dataset()
        return self._header

    def _rows_of(self, level: str) -> list[HierarchyRow]:
        """All rows of this entity's ancestor (or self) at *level*."""
        first = self.rows[0]
        if level == self.level or (LEVELS["PATIENT"].index(level) > LEVELS["PATIENT"].index(self.level)):
            return self.rows
        if level == "PATIENT":
            return [r for r in self.ctx.store.hierarchy(patient_ids=[first.patient_id]) if r.issuer == first.issuer]
        if level == "STUDY":
            return self.ctx.store.hierarchy(study_uids=[first.study_uid])
        return self.ctx.store.hierarchy(series_uids=[first.series_uid])

    def derived(self, keyword: str) -> Any:
        rows = self._rows_of(DERIVED[keyword])
        if keyword.endswith("RelatedStudies"):
            return len({r.study_uid for r in rows})
        if keyword.endswith("RelatedSeries"):
            return len({r.series_uid for r in rows})
        if keyword.endswith("RelatedInstances"):
            return len(rows)
        if keyword == "ModalitiesInStudy":
            return sorted({r.modality for r in rows if r.modality})
        if keyword == "SOPClassesInStudy":
            return sorted({r.sop_class_uid for r in rows})
        raise KeyError(keyword)

    def element(self, keyword: str) -> DataElement | None:
        """The entity's value of *keyword* as an element, or None when it has none."""
        tag = tag_for_keyword(keyword)
        if tag is None:
            return None
        vr = dictionary_VR(tag)
        if keyword in DERIVED:
            return DataElement(tag, vr, self.derived(keyword))
        if keyword == "RetrieveAETitle":
            return DataElement(tag, vr, self.ctx.ae_title)
        if keyword == "InstanceAvailability":
            return DataElement(tag, vr, "ONLINE")
        first = self.rows[0]
        if keyword == "PatientID":
            return DataElement(tag, vr, first.patient_id)
        if keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
            value = {"StudyInstanceUID": first.study_uid, "SeriesInstanceUID": first.series_uid,
                     "SOPInstanceUID": first.sop_instance_uid, "SOPClassUID": first.sop_class_uid}[keyword]
            return DataElement(tag, vr, value)
        return self.header.get(tag)


def _group(rows: list[HierarchyRow], level: str) -> list[list[HierarchyRow]]:
    key = {
        "PATIENT": lambda r: (r.patient_id, r.issuer),
        "STUDY": lambda r: r.study_uid,
        "SERIES": lambda r: r.series_uid,
        "IMAGE": lambda r: r.sop_instance_uid,
    }[level]
    groups: OrderedDict[Any, list[HierarchyRow]] = OrderedDict()
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return list(groups.values())


def _narrowing(query: Query, keys: set[str]) -> dict[str, list[str]]:
    """Exact unique-key values usable to narrow the index lookup."""
    out: dict[str, list[str]] = {}
    for level in query.levels:
        key = UNIQUE_KEYS[level]
        if key not in keys or key not in query.identifier:
            continue
        values = _values(query.identifier.get(key))
        if not values or any(c in v for v in values for c in "*?"):
            continue
        out[key] = values
    return out


def _rows(ctx: QueryRetrieveContext, narrow: dict[str, list[str]]) -> list[HierarchyRow]:
    return ctx.store.hierarchy(
        patient_ids=narrow.get("PatientID"),
        study_uids=narrow.get("StudyInstanceUID"),
        series_uids=narrow.get("SeriesInstanceUID"),
        sop_instance_uids=narrow.get("SOPInstanceUID"),
    )


def _requested(identifier: Dataset) -> list[DataElement]:
    skip = {0x00080052, 0x00080005}
    return [e for e in identifier if e.tag.group not in (0x0000, 0x0002) and not e.tag.is_private
            and int(e.tag) not in skip and keyword_for_tag(e.tag)]


def _entity_matches(entity: _Entity, query: Query, keys: set[str], profile: Profile) -> bool:
    for elem in _requested(query.identifier):
        if elem.keyword not in keys or (elem.VR != "SQ" and _universal(elem)):
            continue
        if not match_element(elem, entity.element(elem.keyword), profile):
            return False
    return True


def _filtered_items(stored: DataElement | None, wanted: DataElement) -> DicomSequence:
    if stored is None or stored.VR != "SQ" or not stored.value:
        return DicomSequence([])
    template = wanted.value[0] if wanted.value else None
    out = []
    for item in stored.value:
        if template is None or len(template) == 0:
            out.append(copy.deepcopy(item))
            continue
        new = Dataset()
        for e in template:
            sub = item.get(e.tag)
            if e.VR == "SQ":
                new.add(DataElement(e.tag, "SQ", _filtered_items(sub, e)))
            elif sub is not None:
                new.add(copy.deepcopy(sub))
            else:
                new.add(DataElement(e.tag, e.VR, None))
        out.append(new)
    return DicomSequence(out)


def _response(entity: _Entity, query: Query, keys: set[str]) -> Dataset:
    ds = Dataset()
    charset = entity.header.get("SpecificCharacterSet")
    if _values(charset):
        ds.SpecificCharacterSet = charset
    ds.QueryRetrieveLevel = query.level
    returnable = keys | set(ALWAYS_RETURNABLE)
    for elem in _requested(query.identifier):
        if elem.keyword not in returnable:
            continue  # not supported: left out of the response
        stored = entity.element(elem.keyword)
        if elem.VR == "SQ":
            ds.add(DataElement(elem.tag, "SQ", _filtered_items(stored, elem)))
        elif stored is not None and stored.VR != "SQ":
            ds.add(DataElement(elem.tag, stored.VR, copy.deepcopy(stored.value)))
        else:
            ds.add(DataElement(elem.tag, elem.VR, None))
    return ds


def find_matches(ctx: QueryRetrieveContext, query: Query) -> Iterator[Dataset]:
    """Response identifiers of the entities matching *query*, in index order."""
    profile = ctx.profile
    keys = matching_keys(profile, query)
    rows = _rows(ctx, _narrowing(query, keys))
    for group in _group(rows, query.level):
        entity = _Entity(ctx, query.level, group)
        if _entity_matches(entity, query, keys, profile):
            yield _response(entity, query, keys)


def retrieve_rows(ctx: QueryRetrieveContext, query: Query) -> list[HierarchyRow]:
    """The instances a C-MOVE / C-GET *query* selects (by unique keys)."""
    keys = {UNIQUE_KEYS[level] for level in query.levels}
    narrow = _narrowing(query, keys)
    rows = _rows(ctx, narrow)
    # wildcards in Patient ID (the only non-UID unique key) are matched here
    patient_ids = _values(query.identifier.get("PatientID")) if "PatientID" in keys else []
    if patient_ids and "PatientID" not in narrow:
        elem = query.identifier["PatientID"]
        rows = [r for r in rows if match_element(elem, DataElement(0x00100020, "LO", r.patient_id), ctx.profile)]
    return rows


# --- handlers --------------------------------------------------------------------------------


def _status(code: int, comment: str = "") -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment[:64]
    return status


def _is_relational(event: Any, sop_class: str) -> bool:
    info = event.assoc.acceptor.sop_class_extended.get(sop_class, b"")
    return bool(info) and info[:1] == b"\x01"


def _parse(event: Any, ctx: QueryRetrieveContext, operation: str) -> Query:
    sop_class = str(event.request.AffectedSOPClassUID)
    model, _ = MODELS[sop_class]
    if model not in ctx.profile.query_retrieve.scp_models:
        raise QueryError(ctx.unable_to_process, f"{MODEL_NAMES[model]} is not answered by this product")
    try:
        identifier = event.identifier
    except Exception as exc:  # undecodable identifier
        raise QueryError(ctx.unable_to_process, f"identifier cannot be decoded: {exc}") from exc
    relational = operation == "FIND" and ctx.profile.query_retrieve.relational and _is_relational(event, sop_class)
    return parse_query(ctx.profile, model, identifier, relational, retrieve=operation != "FIND")


def handle_sop_extended(event: Any, ctx: QueryRetrieveContext) -> dict[str, bytes]:
    """``evt.EVT_SOP_EXTENDED``: accept relational queries for C-FIND when the profile says so."""
    if not ctx.profile.query_retrieve.relational:
        return {}
    accepted = {}
    for uid, info in (event.app_info or {}).items():
        model_op = MODELS.get(str(uid))
        if model_op and model_op[1] == "FIND" and model_op[0] in ctx.profile.query_retrieve.scp_models:
            if info and info[:1] == b"\x01":
                accepted[str(uid)] = b"\x01"
    return accepted


def handle_find(event: Any, ctx: QueryRetrieveContext) -> Iterator[tuple[Any, Dataset | None]]:
    """``evt.EVT_C_FIND``: one pending response per match, then success."""
    calling = event.assoc.requestor.ae_title
    try:
        query = _parse(event, ctx, "FIND")
    except QueryError as exc:
        LOGGER.warning("C-FIND from %s refused with 0x%04X: %s", calling, exc.status, exc.comment)
        yield _status(exc.status, exc.comment), None
        return
    limit = ctx.profile.query_retrieve.max_matches or 0
    count = 0
    pending = PENDING
    unsupported = unsupported_keys(ctx.profile, query)
    if unsupported and ctx.profile.query_retrieve.pending_unsupported_keys == "FF01":
        pending = PENDING_UNSUPPORTED_KEYS
        LOGGER.info("C-FIND from %s: optional keys not supported: %s (pending status FF01)", calling,
                    ", ".join(unsupported))
    try:
        for match in find_matches(ctx, query):
            if event.is_cancelled:
                LOGGER.info("C-FIND from %s cancelled after %d matches", calling, count)
                yield CANCEL, None
                return
            if limit and count >= limit:
                LOGGER.warning("C-FIND from %s: more than %d matches, the rest are not returned (max_matches)",
                               calling, limit)
                break
            count += 1
            yield pending, match
    except QueryError as exc:
        yield _status(exc.status, exc.comment), None
        return
    except Exception as exc:
        LOGGER.exception("C-FIND from %s failed", calling)
        yield _status(ctx.unable_to_process, f"unable to process: {exc}"), None
        return
    LOGGER.info("C-FIND from %s: %s, %s level, %d match%s%s", calling, MODEL_NAMES[query.model], query.level,
                count, "" if count == 1 else "es", " (relational)" if query.relational else "")


def _load(path: Path) -> Dataset:
    return dcmread(path)


def _storage_contexts(ctx: QueryRetrieveContext, rows: list[HierarchyRow]) -> list:
    """Presentation contexts for sending *rows*: the product's storage SCU classes only,
    each with its SCU transfer syntaxes that the stored encoding can be sent in."""
    profile = ctx.profile
    scu = {c.uid: c for c in profile.classes(service="storage", role="scu")}
    wanted: OrderedDict[str, set[str]] = OrderedDict()
    for r in rows:
        wanted.setdefault(r.sop_class_uid, set()).add(r.transfer_syntax_uid)
    contexts = []
    for uid, stored in wanted.items():
        cls = scu.get(uid)
        if cls is None:
            LOGGER.warning("%s (%s) is not a storage class this product sends: its instances will fail",
                           UID(uid).name, uid)
            continue
        preferred = profile.scu_transfer_syntaxes(cls)
        syntaxes: list[str] = []
        for ts in preferred:
            if ts in stored or (ts in UNCOMPRESSED and stored & {str(u) for u in UNCOMPRESSED + (ExplicitVRBigEndian,)}):
                syntaxes.append(ts)
        for ts in stored:  # a compressed stored syntax the profile does not list: send as stored
            if ts not in syntaxes and ts not in (str(u) for u in UNCOMPRESSED + (ExplicitVRBigEndian,)):
                syntaxes.append(ts)
        if not syntaxes:
            syntaxes = [str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)]
        contexts.append(build_context(uid, syntaxes))
    if len(contexts) > MAX_CONTEXTS:
        LOGGER.warning("%d storage classes to send, only the first %d can be proposed", len(contexts), MAX_CONTEXTS)
        contexts = contexts[:MAX_CONTEXTS]
    return contexts


def _sub_operations(event: Any, rows: list[HierarchyRow], what: str) -> Iterator[tuple[Any, Dataset | None]]:
    for r in rows:
        if event.is_cancelled:
            LOGGER.info("%s cancelled", what)
            yield CANCEL, None
            return
        try:
            ds = _load(r.path)
        except Exception as exc:
            LOGGER.error("%s: cannot read %s: %s", what, r.path, exc)
            continue  # pynetdicom counts it as remaining -> failed in the final response
        yield PENDING, ds


def handle_move(event: Any, ctx: QueryRetrieveContext) -> Iterator[Any]:
    """``evt.EVT_C_MOVE``: C-STORE sub-operations to a configured destination."""
    calling = event.assoc.requestor.ae_title
    destination_ae = str(event.move_destination).strip()
    node = ctx.destination(destination_ae)
    if node is None:
        LOGGER.warning("C-MOVE from %s refused with 0xA801: move destination %r is not a node of the site "
                       "configuration", calling, destination_ae)
        yield None, None
        return
    try:
        earlier = ctx.count_retrieve(event.assoc)
        limit = ctx.profile.query_retrieve.retrieves_per_association
        if limit and earlier >= limit:
            raise QueryError(ctx.unable_to_process, f"only {limit} C-MOVE/C-GET per association")
        query = _parse(event, ctx, "MOVE")
        rows = retrieve_rows(ctx, query)
    except QueryError as exc:
        LOGGER.warning("C-MOVE from %s refused with 0x%04X: %s", calling, exc.status, exc.comment)
        yield node.host, node.port, {"contexts": [build_context("1.2.840.10008.1.1")],
                                     "evt_handlers": ctx.requestor_handlers}
        yield 1
        yield _status(exc.status, exc.comment), None
        return
    kwargs = {
        "contexts": _storage_contexts(ctx, rows) or [build_context("1.2.840.10008.1.1")],
        "max_pdu": ctx.profile.network.max_pdu_receive,
        "evt_handlers": ctx.requestor_handlers,
    }
    LOGGER.info("C-MOVE from %s to %s: %s, %s level, %d instance%s", calling, node, MODEL_NAMES[query.model],
                query.level, len(rows), "" if len(rows) == 1 else "s")
    yield node.host, node.port, kwargs
    yield len(rows)
    yield from _sub_operations(event, rows, f"C-MOVE from {calling} to {destination_ae}")


def handle_get(event: Any, ctx: QueryRetrieveContext) -> Iterator[Any]:
    """``evt.EVT_C_GET``: C-STORE sub-operations on the requesting association."""
    calling = event.assoc.requestor.ae_title
    try:
        earlier = ctx.count_retrieve(event.assoc)
        limit = ctx.profile.query_retrieve.retrieves_per_association
        if limit and earlier >= limit:
            raise QueryError(ctx.unable_to_process, f"only {limit} C-MOVE/C-GET per association")
        query = _parse(event, ctx, "GET")
        rows = retrieve_rows(ctx, query)
    except QueryError as exc:
        LOGGER.warning("C-GET from %s refused with 0x%04X: %s", calling, exc.status, exc.comment)
        yield 1
        yield _status(exc.status, exc.comment), None
        return
    LOGGER.info("C-GET from %s: %s, %s level, %d instance%s", calling, MODEL_NAMES[query.model], query.level,
                len(rows), "" if len(rows) == 1 else "s")
    yield len(rows)
    yield from _sub_operations(event, rows, f"C-GET from {calling}")
