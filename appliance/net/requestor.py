"""Associations the scanner opens as requestor (worklist, MPPS, query/retrieve SCU).

One helper, :func:`open_association`, builds a requesting AE from the profile (implementation
identity, max PDU, timeouts), proposes the given presentation contexts, sets TCP_NODELAY on
the socket through :func:`appliance.net.upper_layer.set_nodelay` bound to ``EVT_CONN_OPEN``, and turns
every way an association can fail into a :class:`~appliance.errors.NetworkError` that names
the node and says what to check.
The services log one INFO line per association (what was done, with whom, the outcome).

TLS: a node with ``tls = true`` in the site configuration, or whose address was registered with
:func:`use_tls`, is associated over TLS with the requestor context given to :func:`use_tls`
(the command line builds it from the site's certificates, see
:mod:`appliance.security.tls`). The address matters because queued jobs keep only the node's
AE title, host and port.

It also holds two small policies the SCU services share: how to read a DIMSE status
(:func:`status_text`) and which Specific Character Set a query needs (:func:`query_character_set`).
"""

from __future__ import annotations

__all__ = [
    "Context",
    "open_association",
    "context_id",
    "status_text",
    "query_character_set",
    "set_value",
    "require_context",
    "no_response",
    "use_tls",
]

import logging
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from pydicom import config as pydicom_config
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.association import Association

from ..config import Node
from ..errors import NetworkError, UsageError
from ..profile import Profile
from .upper_layer import set_nodelay
from .upper_layer import RequestorAE

LOGGER = logging.getLogger(__name__)


_tls_lock = threading.Lock()
_tls_context: ssl.SSLContext | None = None
_tls_addresses: set[tuple[str, int]] = set()


def use_tls(context: ssl.SSLContext | None, addresses: Iterable[tuple[str, int]] = ()) -> None:
    """Associate over TLS with *context*: nodes with ``tls = true`` and the given (host, port)s.

    ``use_tls(None)`` forgets the context and the addresses.
    """
    global _tls_context
    with _tls_lock:
        _tls_context = context
        _tls_addresses.clear()
        if context is not None:
            _tls_addresses.update((h, int(p)) for h, p in addresses)


def _tls_args(node: Node, purpose: str) -> tuple[ssl.SSLContext, str] | None:
    with _tls_lock:
        wanted = node.tls or (node.host, node.port) in _tls_addresses
        context = _tls_context
    if not wanted:
        return None
    if context is None:
        raise NetworkError(f"{purpose}: {node} is configured for TLS, but no TLS certificate is configured here",
                           "set [local] tls_certificate, tls_private_key and tls_ca in the site configuration")
    return context, node.host


@dataclass(frozen=True)
class Context:
    """A presentation context to propose: abstract syntax and transfer syntaxes in order."""

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]
    scp_role: bool = False  # propose SCP/SCU role selection with us as SCP (C-GET storage)


def _seconds(value: float | None, default: float | None) -> float | None:
    """A profile timeout: missing -> *default*, 0 -> no limit."""
    if value is None:
        return default
    return None if value == 0 else float(value)


def _requestor_ae(profile: Profile, ae_title: str, dimse_timeout: float | None) -> AE:
    net = profile.network
    ae = RequestorAE(ae_title=ae_title)  # pynetdicom's AE, waking when the peer answers (upper_layer.py)
    ae.implementation_class_uid = profile.identity.implementation_class_uid
    ae.implementation_version_name = profile.identity.implementation_version_name
    ae.maximum_pdu_size = net.max_pdu_receive
    ae.acse_timeout = _seconds(net.timeouts.association_request, 30)
    ae.connection_timeout = _seconds(net.timeouts.network, 30)
    ae.dimse_timeout = dimse_timeout
    # The idle timer must not fire while a peer is legitimately busy (C-MOVE sub-operations).
    ae.network_timeout = None if dimse_timeout is None else max(dimse_timeout, 60.0)
    return ae


@contextmanager
def open_association(
    profile: Profile,
    node: Node,
    ae_title: str,
    contexts: Sequence[Context],
    *,
    purpose: str,
    ext_neg: Sequence[Any] = (),
    evt_handlers: Sequence[tuple] = (),
    dimse_timeout: float | None = None,
) -> Iterator[Association]:
    """Associate with *node* as *ae_title*, yield the association, release it afterwards.

    Parameters
    ----------
    profile : Profile
        Supplies the implementation identity, max PDU and timeouts.
    node : Node
        The peer.
    ae_title : str
        Our (calling) AE title.
    contexts : sequence of Context
        Proposed presentation contexts, in order.
    purpose : str
        Named in the log line and in errors ("worklist C-FIND", "MPPS N-CREATE", ...).
    ext_neg : sequence
        Extended negotiation items (pynetdicom primitives); role selection items are added
        for every context with ``scp_role``.
    evt_handlers : sequence
        Further ``(event, handler[, args])`` bindings; ``EVT_CONN_OPEN`` -> TCP_NODELAY is
        always bound.
    dimse_timeout : float, optional
        Overrides the profile's DIMSE timeout (e.g. the C-MOVE response time-out).

    Raises
    ------
    NetworkError
        The peer cannot be reached, rejects or aborts the association, or accepts none of
        the proposed contexts.
    """
    from pynetdicom import build_role

    timeout = dimse_timeout if dimse_timeout is not None else _seconds(profile.network.timeouts.dimse, 30)
    ae = _requestor_ae(profile, ae_title, timeout)
    negotiation = list(ext_neg)
    for cx in contexts:
        ae.add_requested_context(cx.abstract_syntax, list(cx.transfer_syntaxes))
        if cx.scp_role:
            negotiation.append(build_role(cx.abstract_syntax, scp_role=True))

    rejection: dict[str, str] = {}
    connected: list[bool] = []

    def _on_open(event) -> None:  # type: ignore[no-untyped-def]
        connected.append(True)
        set_nodelay(event)

    def _on_acse_recv(event) -> None:  # type: ignore[no-untyped-def]
        primitive = getattr(event, "primitive", None)
        if getattr(primitive, "result", None) in (0x01, 0x02):
            rejection["reason"] = f"{primitive.result_str}, {primitive.source_str}: {primitive.reason_str}"

    handlers = [(evt.EVT_CONN_OPEN, _on_open), (evt.EVT_ACSE_RECV, _on_acse_recv), *evt_handlers]
    try:
        tls_args = _tls_args(node, purpose)
    except NetworkError:
        ae.shutdown()
        raise
    try:
        assoc = ae.associate(
            node.host,
            node.port,
            ae_title=node.ae_title,
            ext_neg=negotiation or None,
            evt_handlers=handlers,
            tls_args=tls_args,
        )
    except (OSError, ValueError) as exc:  # bad host name, invalid AE title ...
        ae.shutdown()
        raise NetworkError(f"{purpose}: cannot associate with {node}: {exc}",
                           "check the node's host, port and AE title") from exc

    if not assoc.is_established:
        ae.shutdown()
        if not connected and tls_args is not None:
            raise NetworkError(
                f"{purpose}: cannot connect to {node} over TLS (connection refused, or the TLS handshake failed)",
                f"check that the peer listens with TLS on {node.host}:{node.port}, that its certificate is "
                "signed by a CA in tls_ca and names the host, and that it trusts our certificate",
            )
        if not connected:
            raise NetworkError(
                f"{purpose}: cannot connect to {node} (connection refused or no answer)",
                f"check that the peer runs and listens on {node.host}:{node.port} "
                "(and that nothing blocks the port)",
            )
        if assoc.is_rejected:
            raise NetworkError(
                f"{purpose}: {node} rejected the association from {ae_title}"
                + (f" ({rejection['reason']})" if rejection else ""),
                f"check that {node.ae_title!r} is the peer's AE title and that the peer knows "
                f"{ae_title!r} (calling AE title)",
            )
        if assoc.is_aborted:  # includes a rejection whose A-ASSOCIATE-RJ raced the peer's close
            raise NetworkError(
                f"{purpose}: {node} aborted the association request from {ae_title}",
                f"check that {node.ae_title!r} is the peer's AE title and that the peer accepts "
                f"{ae_title!r}; the peer's log says why"
                + ("" if tls_args is not None else " (a peer that expects TLS on this port aborts a plain request: "
                   "configure the node with tls = true)"),
            )
        raise NetworkError(
            f"{purpose}: no DICOM answer from {node}",
            f"check that the peer runs and listens on {node.host}:{node.port} "
            "(and that nothing blocks the port)",
        )
    try:
        if not assoc.accepted_contexts:
            raise NetworkError(
                f"{purpose}: {node} accepted none of the {len(contexts)} proposed presentation contexts",
                "the peer does not offer this service with the product's transfer syntaxes; "
                "check the peer's configuration",
            )
        LOGGER.debug(
            "%s: association %s -> %s established, %d of %d presentation contexts accepted, peer max PDU %s",
            purpose,
            ae_title,
            node,
            len(assoc.accepted_contexts),
            len(assoc.accepted_contexts) + len(assoc.rejected_contexts),
            assoc.acceptor.maximum_length,
        )
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def context_id(assoc: Association, abstract_syntax: str) -> int | None:
    """The id of the accepted presentation context for *abstract_syntax*, or None."""
    for cx in assoc.accepted_contexts:
        if cx.abstract_syntax == abstract_syntax:
            return cx.context_id
    return None


def require_context(assoc: Association, abstract_syntax: str, node: Node, purpose: str) -> int:
    """Like :func:`context_id` but raise :class:`NetworkError` when it was not accepted."""
    cid = context_id(assoc, abstract_syntax)
    if cid is None:
        raise NetworkError(
            f"{purpose}: {node} did not accept {UID(abstract_syntax).name} ({abstract_syntax})",
            "the peer does not provide this service (or not with the product's transfer syntaxes)",
        )
    return cid


def no_response(assoc: Association, purpose: str, node: Node) -> NetworkError:
    """The error for an empty status from pynetdicom: the peer aborted, or did not answer."""
    if assoc.is_aborted:
        return NetworkError(f"{purpose}: {node} aborted the association instead of answering",
                            "the peer refused the request; its log says why (is our AE title "
                            "allowed to use this service there?)")
    return NetworkError(f"{purpose}: no response from {node} within the DIMSE time-out",
                        "check the peer's log; a slow peer needs a longer time-out")


def status_text(status: Dataset) -> str:
    """``0xC000 (ErrorComment)`` for a DIMSE status dataset."""
    code = int(status.get("Status", 0xFFFF))
    comment = status.get("ErrorComment")
    return f"0x{code:04X}" + (f" ({comment})" if comment else "")


def query_character_set(profile: Profile, values: Iterable[str]) -> str | None:
    """The Specific Character Set a query with these matching *values* must declare.

    None when every value is plain ASCII (the default repertoire); else the profile's default
    character set when it can encode them, else ISO_IR 100 (Latin-1) or ISO_IR 192 (UTF-8) when
    the product supports them. Raises :class:`UsageError` when the product cannot send the values at all.
    """
    from pydicom.charset import python_encoding

    text = "".join(values)
    if text.isascii():
        return None
    default = profile.character_sets.default
    candidates = [default] + [t for t in ("ISO_IR 100", "ISO_IR 192") if t in profile.character_sets.supported]
    for term in candidates:
        if term in ("ISO_IR 6", "ISO 2022 IR 6"):  # the default repertoire: ASCII only
            continue
        encoding = python_encoding.get(term)
        if not encoding:
            continue
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            continue
        return term
    raise UsageError(
        f"{profile.id} cannot send {text!r} in a query: not encodable in its character sets",
        "use wildcards ('*') for the characters it cannot encode",
    )


def set_value(ds: Dataset, keyword: str, value: Any) -> None:
    """Set *keyword* to *value* without pydicom's value validation.

    Query values may hold wildcards (``*``, ``?``), ranges (``20260101-20260131``) and
    lists of UIDs (``a\\b``), which are valid in an Identifier but not in a stored object.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise UsageError(f"{keyword!r} is not a DICOM attribute keyword", "see pydicom.datadict for keywords")
    vr = dictionary_VR(tag)
    if isinstance(value, str) and "\\" in value and vr not in ("SQ", "LT", "ST", "UT"):
        value = value.split("\\")
    ds[tag] = DataElement(tag, vr, value, validation_mode=pydicom_config.IGNORE)
