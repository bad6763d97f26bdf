"""Product profiles: load, validate and type the TOML file that makes vscanner one product.

A profile holds what a product's DICOM Conformance Statement says (docs/profiles.md lists
every key). The loader is strict: an unknown key, a wrong type, a malformed UID or an
unknown transfer syntax is a :class:`~appliance.errors.Problem` naming the file, the key and
the value, and all problems of a file are reported together in one
:class:`~appliance.errors.ProfileError`.

Each TOML table maps onto one frozen dataclass below; the dataclass fields *are* the schema
(their types and ``metadata["check"]`` drive validation), so the code and the documentation
of a key cannot drift apart silently: ``tests/test_profiles.py`` checks that every field is
documented in docs/profiles.md.

Run ``python -m appliance.profile FILE...`` to validate files.
"""

from __future__ import annotations

__all__ = [
    "Profile",
    "SOPClass",
    "load_profile",
    "find_profile",
    "available_profiles",
    "builtin_profile_dir",
    "profile_search_path",
    "validate_file",
    "build_table",
    "ae_title_problem",
    "is_valid_uid",
    "SERVICES",
    "TRANSFER_SYNTAX_KEYS",
]

import dataclasses
import os
import re
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydicom.datadict import tag_for_keyword
from pydicom.uid import UID

from .errors import Problem, ProfileError
from .schema import StrictBuilder

SPEC_VERSION = 1

SERVICES = (
    "verification",
    "storage",
    "storage_commitment",
    "query_retrieve",
    "worklist",
    "mpps",
    "print",
    "instance_availability",
    "other",
)
AE_SERVICES = (
    "verification",
    "storage",
    "storage_commitment",
    "query_retrieve",
    "worklist",
    "mpps",
    "print",
    "media",
)
TRANSFER_SYNTAX_KEYS = (
    "verification_scu",
    "verification_scp",
    "storage_scu",
    "storage_scp",
    "storage_commitment",
    "storage_commitment_event",
    "query_retrieve",
    "query_retrieve_scp",
    "worklist",
    "mpps",
    "print",
    "media",
)

_UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_STATUS_RE = re.compile(r"^[0-9A-Fa-f]{4}$")
QR_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


def is_valid_uid(value: str) -> bool:
    """True if *value* is a syntactically valid DICOM UID (PS3.5 9.1)."""
    return isinstance(value, str) and 0 < len(value) <= 64 and bool(_UID_RE.match(value))


def is_transfer_syntax(value: str) -> bool:
    """True if *value* is a transfer syntax UID in pydicom's PS3.6 registry."""
    return is_valid_uid(value) and UID(value).is_transfer_syntax


def _uid_name(uid: str) -> str:
    name = UID(uid).name
    return name if name != uid else ""


# --- checks, named in field metadata --------------------------------------------------------


def _check_uid(v: str) -> str | None:
    if not is_valid_uid(v):
        return f"{v!r} is not a valid DICOM UID (digits and dots, no leading zeros, <= 64 chars)"
    return None


def _check_ts(v: str) -> str | None:
    bad = _check_uid(v)
    if bad:
        return bad
    if not UID(v).is_transfer_syntax:
        return f"{v!r} is not a known transfer syntax UID"
    return None


def _check_keyword(v: str) -> str | None:
    if tag_for_keyword(v) is None:
        return f"{v!r} is not a DICOM attribute keyword (see pydicom.datadict)"
    return None


def _check_status(v: str) -> str | None:
    if not _STATUS_RE.match(v):
        return f"{v!r} is not a DIMSE status (four hex digits, e.g. \"A700\")"
    return None


def ae_title_problem(v: str) -> str | None:
    """Why *v* is not a valid AE title, or None if it is."""
    return _check_ae(v)


def _check_ae(v: str) -> str | None:
    if not (0 < len(v) <= 16) or not v.isascii() or "\\" in v or any(ord(c) < 32 for c in v):
        return f"{v!r} is not a valid AE title (1-16 ASCII characters, no control characters or backslash)"
    if not v.strip():
        return f"{v!r} is not a valid AE title (only spaces)"
    return None


_STATUS_INFO_RE = re.compile(r"^[A-Z0-9 _-]{1,16}$")


def _check_status_info(v: str) -> str | None:
    if not _STATUS_INFO_RE.match(v):
        return (f"{v!r} is not a printer/execution status info defined term "
                "(1-16 upper-case letters, digits, space, '_' or '-' as in a Code String)")
    return None


def _check_id(v: str) -> str | None:
    if not _ID_RE.match(v):
        return f"{v!r} is not a valid profile id (lowercase letters, digits and '-')"
    return None


def _check_version_name(v: str) -> str | None:
    if len(v) > 16:
        return f"{v!r} is longer than 16 characters (Implementation Version Name is at most 16)"
    return None


def _check_qr_level(v: str) -> str | None:
    if v not in QR_LEVELS:
        return f"{v!r} is not a query/retrieve level (one of {', '.join(QR_LEVELS)})"
    return None


_DEID_TAG_RE = re.compile(r"^\((?:[0-9A-Fx]{4},[0-9A-Fx]{4}|[0-9A-F]{4}, ?[^,()]+, ?[0-9A-F]{2})\)$")


def _check_deid_tag(v: str) -> str | None:
    if not _DEID_TAG_RE.match(v):
        return (f"{v!r} is not a tag as the statements print it: \"(gggg,eeee)\" (x for a repeating group digit) "
                "or \"(gggg, PRIVATE CREATOR, ee)\"")
    return None


_CHECKS = {
    "deid_tag": _check_deid_tag,
    "uid": _check_uid,
    "ts": _check_ts,
    "keyword": _check_keyword,
    "status": _check_status,
    "ae": _check_ae,
    "id": _check_id,
    "version_name": _check_version_name,
    "qr_level": _check_qr_level,
    "status_info": _check_status_info,
}


def schema_field(default: Any = dataclasses.MISSING, check: str | None = None, doc: str = "") -> Any:
    """A dataclass field for a strictly checked config table (see :func:`build_table`)."""
    return _f(default, check, doc)


def _f(default: Any = dataclasses.MISSING, check: str | None = None, doc: str = "") -> Any:
    """A dataclass field with an optional value check; immutable defaults only."""
    meta = {"check": check, "doc": doc}
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples / None for defaults")
    return field(default=default, metadata=meta)


# --- the schema -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Identity:
    manufacturer: str = _f()
    product: str = _f()
    models: tuple[str, ...] = _f(())
    software_versions: tuple[str, ...] = _f(())
    modalities: tuple[str, ...] = _f(())
    implementation_class_uid: str = _f(check="uid")
    implementation_version_name: str = _f(check="version_name")
    media_implementation_class_uid: str | None = _f(None, check="uid")
    media_implementation_version_name: str | None = _f(None, check="version_name")
    default_ae_title: str = _f(check="ae")
    default_port: int = _f()


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    association_request: float | None = _f(None)
    dimse: float | None = _f(None)
    network: float | None = _f(None)
    idle: float | None = _f(None)
    move_response: float | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class Network:
    application_context: str = _f("1.2.840.10008.3.1.1.1", check="uid")
    max_pdu_receive: int = _f()
    max_pdu_limit: int | None = _f(None)
    max_associations_accepted: int = _f()
    max_associations_initiated: int = _f(0)
    async_window: int = _f(1)
    calling_ae_policy: Literal["configured", "any"] = _f("any")
    called_ae_policy: Literal["match", "any"] = _f("any")
    tls: bool = _f(False)
    timeouts: Timeouts = _f(Timeouts())


@dataclass(frozen=True, kw_only=True)
class ApplicationEntity:
    name: str = _f()
    services: tuple[Literal[AE_SERVICES], ...] = _f(())  # type: ignore[valid-type]
    default_ae_title: str | None = _f(None, check="ae")
    default_port: int | None = _f(None)
    max_pdu_receive: int | None = _f(None)
    max_associations_accepted: int | None = _f(None)
    note: str | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class SOPClass:
    name: str = _f()
    uid: str = _f(check="uid")
    service: Literal[SERVICES] = _f()  # type: ignore[valid-type]
    scu: bool = _f()
    scp: bool = _f()
    creates: bool = _f(False)
    display: bool | None = _f(None)
    retired: bool = _f(False)
    private: bool = _f(False)
    transfer_syntaxes_scu: tuple[str, ...] | None = _f(None, check="ts")
    transfer_syntaxes_scp: tuple[str, ...] | None = _f(None, check="ts")
    note: str | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class TransferSyntaxes:
    verification_scu: tuple[str, ...] = _f(("1.2.840.10008.1.2",), check="ts")
    verification_scp: tuple[str, ...] = _f(("1.2.840.10008.1.2",), check="ts")
    storage_scu: tuple[str, ...] = _f((), check="ts")
    storage_scp: tuple[str, ...] = _f((), check="ts")
    storage_commitment: tuple[str, ...] = _f((), check="ts")
    storage_commitment_event: tuple[str, ...] = _f((), check="ts")
    query_retrieve: tuple[str, ...] = _f((), check="ts")
    query_retrieve_scp: tuple[str, ...] = _f((), check="ts")
    worklist: tuple[str, ...] = _f((), check="ts")
    mpps: tuple[str, ...] = _f((), check="ts")
    print: tuple[str, ...] = _f((), check="ts")
    media: tuple[str, ...] = _f((), check="ts")


@dataclass(frozen=True, kw_only=True)
class StorageSCU:
    on_failure: Literal["continue", "stop"] = _f("continue")
    association_per_job: bool = _f(True)
    retries: int = _f(0)
    retry_interval: float | None = _f(None)
    compression_rules: str | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class StorageSCP:
    duplicates: Literal["keep_existing", "replace", "reject"] = _f("keep_existing")
    response_after: Literal["receive", "disk", "index"] = _f("index")
    level: int | None = _f(None)
    coercion: bool = _f(False)
    required_attributes: tuple[str, ...] = _f(
        ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"), check="keyword"
    )
    status_out_of_resources: str = _f("A700", check="status")
    status_mismatch: str = _f("A900", check="status")
    status_unable_to_process: str = _f("C000", check="status")
    abort_on_failure: bool = _f(False)
    implicit_vr_unknown_private: Literal["keep", "remove"] = _f("keep")
    private_in_sequences: Literal["keep", "remove"] = _f("keep")
    known_private_creators: tuple[str, ...] = _f(())
    decompress_on_import: tuple[str, ...] = _f((), check="ts")


@dataclass(frozen=True, kw_only=True)
class StorageCommitment:
    scu: bool = _f(False)
    scp: bool = _f(False)
    timing: Literal["after_send", "delayed", "manual"] = _f("after_send")
    delay: float | None = _f(None)
    report_timeout: float | None = _f(None)
    report_association: Literal["same", "new", "either"] = _f("either")
    role_selection: bool = _f(True)


@dataclass(frozen=True, kw_only=True)
class QueryRetrieve:
    scu_models: tuple[Literal["PATIENT", "STUDY", "PATIENT_STUDY_ONLY"], ...] = _f(())
    scp_models: tuple[Literal["PATIENT", "STUDY", "PATIENT_STUDY_ONLY"], ...] = _f(())
    scp_operations: tuple[Literal["FIND", "MOVE", "GET"], ...] = _f(())
    relational: bool = _f(False)
    max_matches: int | None = _f(None)
    keys_scp: dict[str, tuple[str, ...]] | None = _f(None, check="keyword")
    keys_scu: dict[str, tuple[str, ...]] | None = _f(None, check="keyword")
    status_unable_to_process: str = _f("C000", check="status")
    question_mark_as_asterisk: bool = _f(False)
    case_insensitive_names: bool = _f(False)
    retrieves_per_association: int = _f(0)
    pending_unsupported_keys: Literal["FF00", "FF01"] = _f("FF00")


@dataclass(frozen=True, kw_only=True)
class Worklist:
    scu: bool = _f(False)
    query_interval: float | None = _f(None)
    matching_keys: tuple[str, ...] = _f((), check="keyword")
    return_keys: tuple[str, ...] = _f((), check="keyword")
    max_items: int | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class MPPS:
    scu: bool = _f(False)
    create_attributes: tuple[str, ...] = _f((), check="keyword")
    set_attributes: tuple[str, ...] = _f((), check="keyword")
    final_states: tuple[Literal["COMPLETED", "DISCONTINUED"], ...] = _f(())


PRINT_REACTIONS = ("idle", "interact", "queue_stopped")


@dataclass(frozen=True, kw_only=True)
class PrinterStatusReaction:
    """The console's reaction to one Printer Status Info / Execution Status Info value."""

    info: str = _f(check="status_info")
    message: str = _f("")
    reaction: Literal[PRINT_REACTIONS] = _f()  # type: ignore[valid-type]
    vendor: str | None = _f(None)
    applies_to: Literal["printer", "execution", "both"] = _f("both")


@dataclass(frozen=True, kw_only=True)
class UnknownStatusRule:
    """The catch-all reaction to a status info the table does not define, by Printer Status."""

    printer_status: Literal["NORMAL", "WARNING", "FAILURE"] = _f()
    message: str = _f()
    reaction: Literal[PRINT_REACTIONS] = _f()  # type: ignore[valid-type]


@dataclass(frozen=True, kw_only=True)
class Print:
    scu: bool = _f(False)
    color: bool = _f(False)
    film_sizes: tuple[str, ...] = _f(())
    medium_types: tuple[str, ...] = _f(())
    film_destinations: tuple[str, ...] = _f(())
    display_formats: tuple[str, ...] = _f(())
    magnification_types: tuple[str, ...] = _f(())
    orientations: tuple[str, ...] = _f(())
    max_copies: int | None = _f(None)
    page_mode: bool = _f(False)
    meta_contexts: Literal["both", "job"] = _f("both")
    standalone_contexts: tuple[str, ...] = _f((), check="uid")
    presentation_lut: Literal["none", "before_session", "after_session"] = _f("none")
    film_session_attributes: tuple[str, ...] = _f(("NumberOfCopies", "MediumType"), check="keyword")
    film_box_attributes: tuple[str, ...] = _f(
        ("ImageDisplayFormat", "ReferencedFilmSessionSequence", "FilmOrientation", "FilmSizeID",
         "MagnificationType"), check="keyword")
    image_box_attributes: tuple[str, ...] = _f(("ImageBoxPosition",), check="keyword")
    border_densities: tuple[str, ...] = _f(())
    grayscale_bits_stored: tuple[int, ...] = _f((8,))
    color_planar_configuration: int = _f(0)
    status_check_before_print: bool = _f(True)
    print_only_when_normal: bool = _f(False)
    evaluates_printer_status: bool = _f(True)
    on_failure_status: Literal["abort", "release"] = _f("release")
    association_hold: float | None = _f(None)
    status_poll_interval: float | None = _f(None)
    status_reactions: tuple[PrinterStatusReaction, ...] = _f(())
    unknown_status_rules: tuple[UnknownStatusRule, ...] = _f(())


@dataclass(frozen=True, kw_only=True)
class Media:
    profiles: tuple[str, ...] = _f(())
    roles: tuple[Literal["FSC", "FSU", "FSR"], ...] = _f(())
    file_set_id: str | None = _f(None)
    # what it writes and updates (default: every profile when the role is listed)
    write_profiles: tuple[str, ...] | None = _f(None)
    update_profiles: tuple[str, ...] | None = _f(None)
    sop_classes: tuple[str, ...] | None = _f(None, check="uid")
    unsupported: Literal["reject", "drop"] = _f("reject")
    # the medium
    spanning: Literal["none", "split"] = _f("none")
    joliet: bool = _f(False)
    volume_label: str | None = _f(None)
    capacity_mb: dict[str, int] | None = _f(None)
    # the DICOMDIR
    dicomdir_keys: dict[str, tuple[str, ...]] | None = _f(None, check="keyword")
    icon_size: int = _f(0)


@dataclass(frozen=True, kw_only=True)
class CharacterSets:
    supported: tuple[str, ...] = _f(("ISO_IR 6",))
    default: str = _f("ISO_IR 100")


@dataclass(frozen=True, kw_only=True)
class ConfidentialityAttribute:
    """One row of a statement's "Application Level Confidentiality Profile Attributes" table."""

    tag: str = _f(check="deid_tag")
    name: str = _f()
    deidentified: tuple[bool, ...] = _f()


@dataclass(frozen=True, kw_only=True)
class Deidentification:
    supported: bool = _f(False)
    options: tuple[str, ...] = _f(())
    levels: tuple[str, ...] = _f(())
    private_attributes: tuple[Literal["remove", "listed", "keep"], ...] = _f(())
    attributes: tuple[ConfidentialityAttribute, ...] = _f(())


@dataclass(frozen=True, kw_only=True)
class Security:
    tls: bool = _f(False)
    tls_port: int | None = _f(None)
    tls_versions: tuple[Literal["1.0", "1.1", "1.2", "1.3"], ...] = _f(())
    tls_cipher_suites: tuple[str, ...] = _f(())
    tls_client_certificate: Literal["required", "optional"] = _f("required")
    audit_trail: bool = _f(False)
    note: str | None = _f(None)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """One product, as its conformance statement describes it (see docs/profiles.md)."""

    spec: int = _f()
    id: str = _f(check="id")
    statement: str = _f()
    title: str = _f()
    identity: Identity = _f()
    network: Network = _f()
    sop_classes: tuple[SOPClass, ...] = _f()
    transfer_syntaxes: TransferSyntaxes = _f()
    application_entities: tuple[ApplicationEntity, ...] = _f(())
    storage_scu: StorageSCU = _f(StorageSCU())
    storage_scp: StorageSCP = _f(StorageSCP())
    storage_commitment: StorageCommitment = _f(StorageCommitment())
    query_retrieve: QueryRetrieve = _f(QueryRetrieve())
    worklist: Worklist = _f(Worklist())
    mpps: MPPS = _f(MPPS())
    print: Print = _f(Print())
    media: Media = _f(Media())
    character_sets: CharacterSets = _f(CharacterSets())
    deidentification: Deidentification = _f(Deidentification())
    security: Security = _f(Security())
    source: str = field(default="", compare=False, metadata={"internal": True})

    # --- views the engine uses --------------------------------------------------------------

    def classes(self, *, service: str | None = None, role: str | None = None) -> list[SOPClass]:
        """SOP classes, optionally of one *service* and with one *role* (``"scu"``/``"scp"``)."""
        out = []
        for c in self.sop_classes:
            if service is not None and c.service != service:
                continue
            if role is not None and not getattr(c, role):
                continue
            out.append(c)
        return out

    def scp_transfer_syntaxes(self, sop_class: SOPClass) -> tuple[str, ...]:
        """Transfer syntaxes accepted for *sop_class* as SCP, in order of preference."""
        if sop_class.transfer_syntaxes_scp:
            return sop_class.transfer_syntaxes_scp
        ts = self.transfer_syntaxes
        by_service = {
            "verification": ts.verification_scp,
            "storage": ts.storage_scp,
            "storage_commitment": ts.storage_commitment_event or ts.storage_commitment,
            "query_retrieve": ts.query_retrieve_scp or ts.query_retrieve,
            "worklist": ts.worklist,
            "mpps": ts.mpps,
            "print": ts.print,
        }
        return by_service.get(sop_class.service, ts.storage_scp)

    def scu_transfer_syntaxes(self, sop_class: SOPClass) -> tuple[str, ...]:
        """Transfer syntaxes proposed for *sop_class* as SCU, in order of preference."""
        if sop_class.transfer_syntaxes_scu:
            return sop_class.transfer_syntaxes_scu
        ts = self.transfer_syntaxes
        by_service = {
            "verification": ts.verification_scu,
            "storage": ts.storage_scu,
            "storage_commitment": ts.storage_commitment,
            "query_retrieve": ts.query_retrieve,
            "worklist": ts.worklist,
            "mpps": ts.mpps,
            "print": ts.print,
        }
        return by_service.get(sop_class.service, ts.storage_scu)

    @property
    def media_implementation_class_uid(self) -> str:
        return self.identity.media_implementation_class_uid or self.identity.implementation_class_uid

    @property
    def media_implementation_version_name(self) -> str:
        v = self.identity.media_implementation_version_name
        return self.identity.implementation_version_name if v is None else v


# --- generic validation driven by the dataclasses ------------------------------------------


class _Builder(StrictBuilder):
    """Profiles: numbers are counts, sizes and seconds (never negative); strings may ask for
    one of :data:`_CHECKS`; the keys of a ``keyword`` table are Q/R levels."""

    negative_numbers = False
    checks = _CHECKS

    def check_table_key(self, check: str | None, key: str) -> str | None:
        return _check_qr_level(key) if check == "keyword" else None


def _cross_checks(p: Profile, b: _Builder) -> None:
    """Checks that span keys: spec version, id = file stem, unique UIDs, roles vs lists."""
    if p.spec != SPEC_VERSION:
        b.problem("spec", f"profile spec {p.spec} is not supported (this vscanner reads spec {SPEC_VERSION})")
    stem = Path(b.file).stem
    if b.file.endswith(".toml") and p.id != stem:
        b.problem("id", f"{p.id!r} must equal the file name stem {stem!r}")
    seen: dict[str, int] = {}
    for i, c in enumerate(p.sop_classes):
        if c.uid in seen:
            b.problem(f"sop_classes[{i}].uid", f"{c.uid} is listed twice (also sop_classes[{seen[c.uid]}])")
        seen[c.uid] = i
        if c.creates and c.service != "storage":
            b.problem(f"sop_classes[{i}].creates", f"only storage classes can be created ({c.name})")
        if c.scp and c.service == "storage" and not p.scp_transfer_syntaxes(c):
            b.problem(
                f"sop_classes[{i}]",
                f"{c.name} is SCP but no transfer syntax is accepted (set transfer_syntaxes.storage_scp)",
            )


def _deidentification_checks(p: Profile, b: _Builder) -> None:
    """``[deidentification]``: every attribute row and ``private_attributes`` has one entry per level."""
    d = p.deidentification
    n = len(d.levels)
    if (d.attributes or d.private_attributes) and not n:
        b.problem("deidentification.levels", "name the levels (the table's columns) the attributes refer to")
        return
    if d.private_attributes and len(d.private_attributes) != n:
        b.problem("deidentification.private_attributes", f"needs one entry per level ({n}), not {len(d.private_attributes)}")
    for level in d.levels:
        if level not in d.options:
            b.problem("deidentification.levels", f"{level!r} is not one of deidentification.options")
    for i, a in enumerate(d.attributes):
        if len(a.deidentified) != n:
            b.problem(f"deidentification.attributes[{i}].deidentified",
                      f"{a.tag} has {len(a.deidentified)} values, the table has {n} levels")


def _print_checks(p: Profile, b: _Builder) -> None:
    """``[print]`` keys that refer to each other or to ``sop_classes``."""
    pp = p.print
    print_uids = {c.uid for c in p.sop_classes if c.service == "print"}
    for i, uid in enumerate(pp.standalone_contexts):
        if uid not in print_uids:
            b.problem(f"print.standalone_contexts[{i}]", f"{uid} is not a print SOP class of sop_classes")
    seen: dict[tuple[str, str], int] = {}
    for i, r in enumerate(pp.status_reactions):
        for kind in (("printer", "execution") if r.applies_to == "both" else (r.applies_to,)):
            if (r.info, kind) in seen:
                b.problem(f"print.status_reactions[{i}].info",
                          f"{r.info!r} is listed twice for {kind} status (also status_reactions[{seen[(r.info, kind)]}])")
            seen[(r.info, kind)] = i
    statuses = [r.printer_status for r in pp.unknown_status_rules]
    for i, st in enumerate(statuses):
        if statuses.index(st) != i:
            b.problem(f"print.unknown_status_rules[{i}].printer_status", f"{st} has two rules")
    for i, bits in enumerate(pp.grayscale_bits_stored):
        if bits not in (8, 10, 12, 16):
            b.problem(f"print.grayscale_bits_stored[{i}]", f"{bits} is not 8, 10, 12 or 16")
    if pp.color_planar_configuration not in (0, 1):
        b.problem("print.color_planar_configuration", f"{pp.color_planar_configuration} is not 0 or 1")


def build_table(cls: type, data: dict[str, Any], file: str) -> tuple[Any, list[Problem]]:
    """Build the frozen dataclass *cls* from a parsed TOML table with the same strict checks
    as profiles (unknown keys, types, ``metadata["check"]``). Used for other config files."""
    b = _Builder(file)
    obj = b.build(cls, data, "")
    return (obj if not b.problems else None), b.problems


def validate_data(data: dict[str, Any], file: str) -> tuple[Profile | None, list[Problem]]:
    """Validate parsed TOML *data*; return the profile (or None) and every problem found."""
    b = _Builder(file)
    profile = b.build(Profile, data, "")
    if profile is not None:
        _cross_checks(profile, b)
        _print_checks(profile, b)
        _deidentification_checks(profile, b)
    return (profile if not b.problems else None), b.problems


def validate_file(path: str | os.PathLike[str]) -> tuple[Profile | None, list[Problem]]:
    """Read and validate one profile file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return None, [Problem(str(path), "-", "file not found")]
    except tomllib.TOMLDecodeError as exc:
        return None, [Problem(str(path), "-", f"not valid TOML: {exc}")]
    except OSError as exc:
        return None, [Problem(str(path), "-", f"cannot read: {exc}")]
    profile, problems = validate_data(data, str(path))
    if profile is not None:
        profile = dataclasses.replace(profile, source=str(path))
    return profile, problems


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Load one profile file, raising :class:`ProfileError` listing every problem."""
    profile, problems = validate_file(path)
    if problems or profile is None:
        raise ProfileError(problems)
    return profile


# --- finding profiles -----------------------------------------------------------------------


def builtin_profile_dir() -> Path:
    return Path(__file__).with_name("profiles")


def profile_search_path(extra: typing.Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders searched for ``<id>.toml``: *extra*, then ``VSCANNER_PROFILE_PATH``, then built-ins."""
    dirs = [Path(d) for d in extra]
    env = os.environ.get("VSCANNER_PROFILE_PATH", "")
    dirs += [Path(d) for d in env.split(os.pathsep) if d]
    dirs.append(builtin_profile_dir())
    return dirs


def available_profiles(extra: typing.Sequence[str | os.PathLike[str]] = ()) -> dict[str, Path]:
    """Map profile id (file stem) to file, first folder on the search path wins."""
    found: dict[str, Path] = {}
    for d in profile_search_path(extra):
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found.setdefault(f.stem, f)
    return found


def find_profile(name: str, extra: typing.Sequence[str | os.PathLike[str]] = ()) -> Profile:
    """Load a profile by id, or by path when *name* ends in ``.toml`` or names a file."""
    if name.endswith(".toml") or os.sep in name:
        return _load_cached(str(Path(name).resolve()))
    known = available_profiles(extra)
    if name not in known:
        raise ProfileError(
            f"no profile named {name!r}",
            "known profiles: " + ", ".join(sorted(known)) + " (or give a path to a .toml file)",
        )
    return _load_cached(str(known[name].resolve()))


@lru_cache(maxsize=32)
def _load_cached(path: str) -> Profile:
    return load_profile(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m appliance.profile FILE...``: validate files, print every problem."""
    files = sys.argv[1:] if argv is None else argv
    if not files:
        files = [str(p) for p in sorted(builtin_profile_dir().glob("*.toml"))]
    worst = 0
    for f in files:
        profile, problems = validate_file(f)
        if problems:
            worst = 2
            for p in problems:
                print(p)
        elif profile is not None:
            print(f"{f}: ok ({len(profile.sop_classes)} SOP classes)")
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
