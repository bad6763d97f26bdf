"""The one place that turns a profile into pynetdicom Application Entities and handlers.

Services keep their policy in their own modules (``storage_scp.py`` ...); this module only
binds them: presentation contexts from the profile's SCP classes and transfer syntaxes,
association limits and timeouts from ``[network]``, implementation identity from
``[identity]``, TCP_NODELAY on every socket, one log line per association.
"""

from __future__ import annotations

__all__ = ["build_acceptor", "register_private_classes", "set_nodelay", "acceptor_handlers"]

import logging
import re
import socket
from functools import partial

from pynetdicom import AE, evt
from pynetdicom.sop_class import register_uid
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

from ..profile import Profile
from ..store import Store
from . import unavailable
from .storage_scp import StorageContext, handle_store

LOGGER = logging.getLogger(__name__)

# pynetdicom's default when a timeout is 0 ("none") in a profile.
_NO_TIMEOUT = None


def set_nodelay(event) -> None:  # type: ignore[no-untyped-def]
    """``EVT_CONN_OPEN`` handler: disable Nagle's algorithm on the association's socket.

    Without it every C-STORE on Linux loopback waits ~45 ms for a delayed ACK.
    """
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # e.g. the peer already closed
            LOGGER.debug("TCP_NODELAY not set: %s", exc)


def register_private_classes(profile: Profile) -> None:
    """Make pynetdicom treat the profile's private storage classes as Storage service."""
    for c in profile.sop_classes:
        if c.service != "storage":
            continue
        if uid_to_service_class(c.uid) is StorageServiceClass:
            continue
        keyword = "Private_" + re.sub(r"\W", "_", c.uid)
        try:
            register_uid(c.uid, keyword, StorageServiceClass)
        except ValueError:
            pass  # already registered under that keyword


def _timeout(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return _NO_TIMEOUT if value == 0 else value


def _log_accepted(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    accepted = [cx for cx in a.accepted_contexts]
    LOGGER.info(
        "association accepted: %s@%s:%s -> %s, %d of %d presentation contexts accepted, peer max PDU %s",
        a.requestor.ae_title,
        a.requestor.address,
        a.requestor.port,
        a.acceptor.ae_title,
        len(accepted),
        len(accepted) + len(a.rejected_contexts),
        a.requestor.maximum_length,
    )
    for cx in a.rejected_contexts:
        LOGGER.debug("  rejected context %s (%s): result %s", cx.abstract_syntax, cx.abstract_syntax.name, cx.result)


def _log_rejected(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    LOGGER.info("association rejected: %s@%s:%s -> %s", a.requestor.ae_title, a.requestor.address,
                a.requestor.port, a.acceptor.ae_title)


def _log_released(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    LOGGER.info("association released: %s@%s:%s", a.requestor.ae_title, a.requestor.address, a.requestor.port)


def _log_aborted(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    LOGGER.warning("association aborted: %s@%s:%s", a.requestor.ae_title, a.requestor.address, a.requestor.port)


def acceptor_handlers(profile: Profile, store: Store, ae_title: str) -> list[tuple]:
    """The event handlers the acceptor binds, in pynetdicom's ``(event, handler)`` form."""
    storage = StorageContext(profile=profile, store=store, ae_title=ae_title)
    return [
        (evt.EVT_CONN_OPEN, set_nodelay),
        (evt.EVT_ACCEPTED, _log_accepted),
        (evt.EVT_REJECTED, _log_rejected),
        (evt.EVT_RELEASED, _log_released),
        (evt.EVT_ABORTED, _log_aborted),
        (evt.EVT_C_STORE, partial(handle_store, ctx=storage)),
        (evt.EVT_C_FIND, unavailable.handle_find),
        (evt.EVT_N_ACTION, unavailable.handle_n_action),
    ]


def build_acceptor(profile: Profile, ae_title: str) -> AE:
    """An AE that accepts exactly the profile's SCP classes with their transfer syntaxes.

    Every other abstract syntax is rejected by pynetdicom with result 0x03 (abstract syntax
    not supported) and a supported one offered with none of its transfer syntaxes with 0x04
    (transfer syntaxes not supported).
    """
    register_private_classes(profile)
    net = profile.network
    ae = AE(ae_title=ae_title)
    ae.implementation_class_uid = profile.identity.implementation_class_uid
    ae.implementation_version_name = profile.identity.implementation_version_name
    ae.maximum_pdu_size = net.max_pdu_receive
    # pynetdicom counts the association being negotiated; 0 in a profile means unlimited.
    ae.maximum_associations = net.max_associations_accepted or 1000
    ae.acse_timeout = _timeout(net.timeouts.association_request, 30)
    ae.dimse_timeout = _timeout(net.timeouts.dimse, 30)
    ae.network_timeout = _timeout(net.timeouts.idle or net.timeouts.network, 60)
    ae.require_called_aet = net.called_ae_policy == "match"
    for c in profile.classes(role="scp"):
        syntaxes = list(profile.scp_transfer_syntaxes(c))
        if not syntaxes:
            continue
        ae.add_supported_context(c.uid, syntaxes)
    return ae
