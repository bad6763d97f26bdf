"""Query/Retrieve SCU: C-FIND at the levels and with the keys of the product's statement,
C-MOVE to the scanner itself, C-GET where the product does it.

Which information models, levels and keys a product uses is data (``[query_retrieve]``
``scu_models`` and ``keys_scu``, and the Q/R rows of ``sop_classes`` with ``scu = true``):

- a level is offered when the model has it and ``keys_scu`` lists keys for it (the syngo MR
  and CT consoles query STUDY and SERIES only);
- the model is Study Root for STUDY and lower levels when the product has it, Patient Root
  for the PATIENT level (as COHERENCE documents), unless one is asked for;
- the identifier holds the level's keys (as return keys, empty) plus the unique keys of the
  levels above; a matching value for any other key is refused, as the product's UI would;
- relational queries (no unique key above the level) need ``relational = true`` and the
  peer's acceptance of the relational-query extended negotiation.

C-MOVE names our own AE title as destination; if no storage SCP answers for it on the local
port, an in-process :class:`appliance.net.server.Server` is started for the duration, so the
retrieved instances land in vscanner's store. C-GET receives them on the same association
(storage contexts proposed with SCP role selection) into the store.
"""

from __future__ import annotations

__all__ = [
    "MODELS",
    "LEVELS",
    "UNIQUE_KEYS",
    "RetrieveResult",
    "available_levels",
    "choose_model",
    "build_identifier",
    "find",
    "move",
    "get",
    "parse_keys",
]

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from pydicom.dataset import Dataset
from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

from ..config import Node, SiteConfig
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

# Information model -> operation -> SOP Class UID (PS3.4 C.6).
MODELS: dict[str, dict[str, str]] = {
    "PATIENT": {"FIND": "1.2.840.10008.5.1.4.1.2.1.1", "MOVE": "1.2.840.10008.5.1.4.1.2.1.2",
                "GET": "1.2.840.10008.5.1.4.1.2.1.3"},
    "STUDY": {"FIND": "1.2.840.10008.5.1.4.1.2.2.1", "MOVE": "1.2.840.10008.5.1.4.1.2.2.2",
              "GET": "1.2.840.10008.5.1.4.1.2.2.3"},
    "PATIENT_STUDY_ONLY": {"FIND": "1.2.840.10008.5.1.4.1.2.3.1", "MOVE": "1.2.840.10008.5.1.4.1.2.3.2",
                           "GET": "1.2.840.10008.5.1.4.1.2.3.3"},
}
LEVELS: dict[str, tuple[str, ...]] = {
    "PATIENT": ("PATIENT", "STUDY", "SERIES", "IMAGE"),
    "STUDY": ("STUDY", "SERIES", "IMAGE"),
    "PATIENT_STUDY_ONLY": ("PATIENT", "STUDY"),
}
UNIQUE_KEYS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
               "IMAGE": "SOPInstanceUID"}

SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)
WARNING = 0xB000
CANCELLED = 0xFE00
RELATIONAL = b"\x01"


@dataclass
class RetrieveResult:
    """The outcome of a C-MOVE or C-GET."""

    method: str
    status: int
    completed: int = 0
    failed: int = 0
    warning: int = 0
    instances: list[str] = field(default_factory=list)  # SOP Instance UIDs now in our store
    store: Path | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS and self.failed == 0


def parse_keys(items: Iterable[str]) -> dict[str, str]:
    """``["PatientID=123", "StudyDate=20260101-"]`` -> a dict (``Key`` alone = empty value)."""
    from pydicom.datadict import tag_for_keyword

    keys: dict[str, str] = {}
    for item in items:
        kw, _, value = item.partition("=")
        kw = kw.strip()
        if tag_for_keyword(kw) is None:
            raise UsageError(f"-k {item!r}: {kw!r} is not a DICOM attribute keyword",
                             "give Keyword=Value, e.g. -k PatientID=PID0001 or -k StudyDate=20260101-20260131")
        keys[kw] = value
    return keys


def _scu_classes(profile: Profile) -> set[str]:
    return {c.uid for c in profile.classes(service="query_retrieve", role="scu")}


def _models_for(profile: Profile, operation: str) -> list[str]:
    scu = _scu_classes(profile)
    return [m for m in profile.query_retrieve.scu_models if MODELS[m][operation] in scu]


def available_levels(profile: Profile, model: str) -> list[str]:
    """Levels the product queries in *model*: the model's levels it lists keys for."""
    keys = profile.query_retrieve.keys_scu
    return [lvl for lvl in LEVELS[model] if keys is None or lvl in keys]


def choose_model(profile: Profile, level: str, operation: str = "FIND", model: str | None = None) -> str:
    """The information model the product uses for *operation* at *level*.

    Raises :class:`UsageError` when the product does not do that.
    """
    level = level.upper()
    models = _models_for(profile, operation)
    if not models:
        raise UsageError(
            f"{profile.id} does not do C-{operation} as SCU (its statement lists no "
            f"{operation} SCU class)",
            "use --method move" if operation == "GET" else "choose a profile whose product does",
        )
    if model is not None:
        model = model.upper()
        if model not in models:
            raise UsageError(f"{profile.id} does not use the {model} model for C-{operation}",
                             "its models: " + ", ".join(models))
        candidates = [model]
    elif level == "PATIENT":
        candidates = [m for m in ("PATIENT", "PATIENT_STUDY_ONLY") if m in models]
    else:
        candidates = [m for m in ("STUDY", "PATIENT", "PATIENT_STUDY_ONLY") if m in models]
    for m in candidates:
        if level in LEVELS[m] and (operation != "FIND" or level in available_levels(profile, m)):
            return m
    offered = sorted({lvl for m in models for lvl in (available_levels(profile, m) if operation == "FIND"
                                                        else LEVELS[m])},
                     key=("PATIENT", "STUDY", "SERIES", "IMAGE").index)
    raise UsageError(
        f"{profile.id} does not query at the {level} level"
        + (f" in the {model} model" if model else "") + f" with C-{operation}",
        "its levels: " + ", ".join(offered),
    )


def _upper_levels(model: str, level: str) -> tuple[str, ...]:
    levels = LEVELS[model]
    return levels[: levels.index(level)]


def _allowed_keys(profile: Profile, model: str, level: str) -> list[str]:
    keys_scu = profile.query_retrieve.keys_scu or {}
    allowed = list(keys_scu.get(level, ()))
    for upper in (*_upper_levels(model, level), level):
        if UNIQUE_KEYS[upper] not in allowed:
            allowed.append(UNIQUE_KEYS[upper])
    if profile.query_retrieve.relational:
        for upper in _upper_levels(model, level):
            for kw in keys_scu.get(upper, ()):
                if kw not in allowed:
                    allowed.append(kw)
    return allowed


def is_relational(model: str, level: str, keys: Mapping[str, str]) -> bool:
    """True when *keys* lack a single-value unique key of a level above *level*."""
    for upper in _upper_levels(model, level):
        value = keys.get(UNIQUE_KEYS[upper], "")
        if not value or any(c in value for c in "*?\\"):
            return True
    return False


def build_identifier(
    profile: Profile,
    level: str,
    keys: Mapping[str, str] | None = None,
    model: str = "STUDY",
    *,
    return_keys: bool = True,
) -> Dataset:
    """The C-FIND identifier (with *return_keys*) or C-MOVE/C-GET identifier (without).

    Raises :class:`UsageError` for a key the product does not send at this level.
    """
    level = level.upper()
    keys = dict(keys or {})
    allowed = _allowed_keys(profile, model, level)
    if return_keys:
        for kw, value in keys.items():
            if kw.endswith("Sequence") and value:
                raise UsageError(f"{kw} is a sequence: it is sent empty (universal sequence matching)",
                                 f"give -k {kw} without a value, or match on other keys")
            if kw not in allowed:
                raise UsageError(
                    f"{profile.id} does not send {kw} in a {level}-level query ({model} root)",
                    "its keys at this level: " + ", ".join(allowed),
                )
    ds = Dataset()
    set_value(ds, "QueryRetrieveLevel", level)
    if return_keys:
        names = list((profile.query_retrieve.keys_scu or {}).get(level, ()))
        for kw in (UNIQUE_KEYS[level], *keys):
            if kw not in names:
                names.append(kw)
    else:
        names = list(keys)
    for kw in names:
        if kw.endswith("Sequence"):
            set_value(ds, kw, [])
        else:
            set_value(ds, kw, keys.get(kw, ""))
    charset = query_character_set(profile, [str(v) for v in keys.values()])
    if charset:
        set_value(ds, "SpecificCharacterSet", charset)
    return ds


def _relational_item(uid: str) -> SOPClassExtendedNegotiation:
    item = SOPClassExtendedNegotiation()
    item.sop_class_uid = uid
    item.service_class_application_information = RELATIONAL
    return item


def _qr_context(profile: Profile, uid: str) -> Context:
    cls = next(c for c in profile.sop_classes if c.uid == uid)
    return Context(uid, profile.scu_transfer_syntaxes(cls))


def _check_hierarchy(profile: Profile, model: str, level: str, keys: Mapping[str, str],
                     accepted_relational: bool | None) -> None:
    if not is_relational(model, level, keys):
        return
    needed = ", ".join(f"-k {UNIQUE_KEYS[u]}=..." for u in _upper_levels(model, level))
    if not profile.query_retrieve.relational:
        raise UsageError(
            f"{profile.id} sends hierarchical queries only: a query at the {level} level needs a single "
            "value for the unique key of every level above",
            f"give {needed}",
        )
    if accepted_relational is False:
        raise UsageError(
            f"the peer did not accept relational queries, and a query at the {level} level without a "
            "single unique key above is relational",
            f"give {needed}",
        )


def find(
    profile: Profile,
    node: Node,
    ae_title: str,
    level: str,
    keys: Mapping[str, str] | None = None,
    *,
    model: str | None = None,
) -> list[Dataset]:
    """C-FIND at *level*; return the matches (decoded with their character set).

    Raises
    ------
    UsageError
        A level, model or key the product does not use, or a relational query it cannot send.
    NetworkError
        The peer cannot be reached or answers with a failure status.
    """
    level = level.upper()
    keys = dict(keys or {})
    model = choose_model(profile, level, "FIND", model)
    identifier = build_identifier(profile, level, keys, model)
    uid = MODELS[model]["FIND"]
    relational_wanted = profile.query_retrieve.relational and model in ("PATIENT", "STUDY")
    _check_hierarchy(profile, model, level, keys, None)
    purpose = f"C-FIND {level} ({model} root)"
    matches: list[Dataset] = []
    with open_association(profile, node, ae_title, [_qr_context(profile, uid)], purpose=purpose,
                          ext_neg=[_relational_item(uid)] if relational_wanted else ()) as assoc:
        require_context(assoc, uid, node, purpose)
        accepted = assoc.acceptor.sop_class_extended.get(uid, b"")[:1] == RELATIONAL
        _check_hierarchy(profile, model, level, keys, accepted if relational_wanted else None)
        final = None
        for status, ident in assoc.send_c_find(identifier, uid):
            if "Status" not in status:
                raise no_response(assoc, purpose, node)
            code = int(status.Status)
            if code in PENDING:
                if ident is not None:
                    matches.append(ident)
                continue
            final = status
            break
        if final is None or int(final.Status) != SUCCESS:
            raise NetworkError(
                f"{purpose}: {node} answered with failure status "
                f"{status_text(final) if final is not None else '(none)'} after {len(matches)} match(es)",
                "the peer refused the query; its log says why",
            )
    LOGGER.info("%s: %d match(es) from %s", purpose, len(matches), node)
    return matches


def _retrieve_identifier(profile: Profile, model: str, level: str, keys: Mapping[str, str]) -> Dataset:
    """Unique keys of the level and those above: what a C-MOVE/C-GET identifier carries."""
    needed = [UNIQUE_KEYS[u] for u in (*_upper_levels(model, level), level)]
    # Study Root has no PATIENT level; Patient ID may still narrow a study retrieve.
    missing = [kw for kw in needed if not keys.get(kw)]
    if UNIQUE_KEYS[level] in missing:
        raise UsageError(f"a {level}-level retrieve needs -k {UNIQUE_KEYS[level]}=...",
                         "find it with `vscanner query` first")
    unknown = [kw for kw in keys if kw not in needed]
    if unknown:
        raise UsageError(f"a {level}-level retrieve ({model} root) takes only the unique keys "
                         + ", ".join(needed) + "; not " + ", ".join(unknown))
    return build_identifier(profile, level, {kw: keys[kw] for kw in needed if kw in keys}, model,
                            return_keys=False)


def _final_counts(status: Dataset, result: RetrieveResult) -> None:
    result.status = int(status.get("Status", 0xFFFF))
    for attr, kw in (("completed", "NumberOfCompletedSuboperations"), ("failed", "NumberOfFailedSuboperations"),
                     ("warning", "NumberOfWarningSuboperations")):
        value = status.get(kw)
        if value is not None:
            setattr(result, attr, int(value))


def _run_retrieve(assoc: Association, responses: Iterable[tuple[Dataset, Dataset | None]], purpose: str,
                  node: Node, result: RetrieveResult) -> None:
    final = None
    for status, _ident in responses:
        if "Status" not in status:
            raise no_response(assoc, purpose, node)
        code = int(status.Status)
        if code in PENDING:
            LOGGER.debug("%s: pending, %s remaining", purpose, status.get("NumberOfRemainingSuboperations"))
            continue
        final = status
        break
    if final is None:
        raise NetworkError(f"{purpose}: {node} ended without a final response")
    _final_counts(final, result)
    if result.status not in (SUCCESS, WARNING):
        hint = "the peer refused the retrieve; its log says why"
        if result.status == 0xA801:
            hint = ("the peer does not know the move destination; declare AE title, host and port "
                    "of vscanner in its configuration")
        raise NetworkError(f"{purpose}: {node} answered with failure status {status_text(final)} "
                           f"({result.completed} completed, {result.failed} failed)", hint)


def _local_server_running(profile: Profile, ae_title: str, host: str, port: int) -> bool:
    """True when a storage SCP answers C-ECHO as *ae_title* on host:port (a `vscanner serve`)."""
    from pynetdicom import AE

    from .upper_layer import set_nodelay

    import socket

    try:  # a plain TCP probe first, so that "nothing listens" costs no protocol error log
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError:
        return False
    ae = AE(ae_title=ae_title)
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.acse_timeout = ae.connection_timeout = ae.dimse_timeout = 5
    try:
        assoc = ae.associate(host, port, ae_title=ae_title, evt_handlers=[(evt.EVT_CONN_OPEN, set_nodelay)])
    except OSError:
        return False
    try:
        if not assoc.is_established:
            return False
        status = assoc.send_c_echo()
        return "Status" in status and int(status.Status) == SUCCESS
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def move(
    profile: Profile,
    node: Node,
    ae_title: str,
    level: str,
    keys: Mapping[str, str],
    *,
    data: str | Path,
    listen_host: str = "127.0.0.1",
    listen_port: int,
    model: str | None = None,
    site: SiteConfig | None = None,
) -> RetrieveResult:
    """C-MOVE with our own AE title as destination; instances land in the store at *data*.

    The peer must know *ae_title* at *listen_host*:*listen_port*. If no storage SCP answers
    there, an in-process :class:`~appliance.net.server.Server` (the product's SCP roles, the
    store at *data*) runs for the duration of the move. With a *site* configuration it applies
    the product's calling-AE policy to the sub-operation association, with *node* added to the
    known nodes (the archive we retrieve from is one we know).
    """
    from .server import Server

    level = level.upper()
    model = choose_model(profile, level, "MOVE", model)
    identifier = _retrieve_identifier(profile, model, level, keys)
    uid = MODELS[model]["MOVE"]
    purpose = f"C-MOVE {level} ({model} root) to {ae_title}"
    result = RetrieveResult(method="move", status=0xFFFF)
    server = None
    if _local_server_running(profile, ae_title, listen_host, listen_port):
        result.note = (f"a storage SCP already runs as {ae_title} on {listen_host}:{listen_port}; "
                       "the instances went to its store")
        LOGGER.debug("C-MOVE destination %s already served on %s:%d", ae_title, listen_host, listen_port)
    else:
        known = None
        if site is not None:
            nodes = dict(site.nodes or {})
            if not any(n.ae_title == node.ae_title for n in nodes.values()):
                nodes[node.name or str(node)] = node
            known = SiteConfig(local=site.local, nodes=nodes, source=site.source or "(command line)")
        server = Server(profile, data=data, ae_title=ae_title, host=listen_host, port=listen_port, site=known)
        server.start()
    try:
        before = {r.sop_instance_uid for r in server.store.instances()} if server else set()
        move_timeout = profile.network.timeouts.move_response
        with open_association(profile, node, ae_title, [_qr_context(profile, uid)], purpose=purpose,
                              dimse_timeout=None if move_timeout == 0 else move_timeout) as assoc:
            require_context(assoc, uid, node, purpose)
            _run_retrieve(assoc, assoc.send_c_move(identifier, ae_title, uid), purpose, node, result)
        if server is not None:
            result.store = server.store.root
            result.instances = [r.sop_instance_uid for r in server.store.instances()
                                if r.sop_instance_uid not in before]
    finally:
        if server is not None:
            server.stop()
    LOGGER.info("%s from %s: status 0x%04X, %d completed, %d failed, %d warning", purpose, node,
                result.status, result.completed, result.failed, result.warning)
    return result


def _storage_contexts(profile: Profile, limit: int) -> list[Context]:
    out = []
    for c in profile.classes(service="storage", role="scp"):
        syntaxes = profile.scp_transfer_syntaxes(c)
        if syntaxes:
            out.append(Context(c.uid, tuple(syntaxes), scp_role=True))
    if len(out) > limit:
        LOGGER.warning("C-GET: %d storage classes, only the first %d can be proposed", len(out), limit)
        out = out[:limit]
    return out


def get(
    profile: Profile,
    node: Node,
    ae_title: str,
    level: str,
    keys: Mapping[str, str],
    *,
    data: str | Path,
    model: str | None = None,
) -> RetrieveResult:
    """C-GET: instances arrive as C-STORE sub-operations on the same association, into the
    store at *data*. Only for products whose statement lists a GET SCU class."""
    from ..store import Store
    from .ae import register_private_classes
    from .storage_scp import StorageContext, handle_store

    level = level.upper()
    model = choose_model(profile, level, "GET", model)
    identifier = _retrieve_identifier(profile, model, level, keys)
    uid = MODELS[model]["GET"]
    purpose = f"C-GET {level} ({model} root)"
    register_private_classes(profile)
    store = Store(data, duplicates=profile.storage_scp.duplicates)
    ctx = StorageContext(profile=profile, store=store, ae_title=ae_title)
    received: list[str] = []

    def on_store(event):  # type: ignore[no-untyped-def]
        status = handle_store(event, ctx)
        if int(status.Status) == SUCCESS:
            received.append(str(event.request.AffectedSOPInstanceUID))
        return status

    result = RetrieveResult(method="get", status=0xFFFF, store=store.root)
    contexts = [_qr_context(profile, uid), *_storage_contexts(profile, 127)]
    try:
        with open_association(profile, node, ae_title, contexts, purpose=purpose,
                              evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
            require_context(assoc, uid, node, purpose)
            _run_retrieve(assoc, assoc.send_c_get(identifier, uid), purpose, node, result)
    finally:
        store.close()
    result.instances = received
    LOGGER.info("%s from %s: status 0x%04X, %d completed, %d failed, %d warning, %d stored", purpose, node,
                result.status, result.completed, result.failed, result.warning, len(received))
    return result
