"""The one place that turns a profile into pynetdicom Application Entities and handlers.

Services keep their policy in their own modules (``storage_scp.py``,
``query_retrieve_scp.py``, ``storage_commitment_scp.py``, ``policy.py``); this module only
binds them: presentation contexts from the profile's SCP classes and transfer syntaxes,
association acceptance, limits and timeouts from ``[network]``, implementation identity from
``[identity]``, TCP_NODELAY on every socket (accepted, and opened for C-MOVE sub-operations
and commitment reports), one log line per association.
"""

from __future__ import annotations

__all__ = [
    "build_acceptor",
    "build_provider",
    "Provider",
    "register_private_classes",
    "set_nodelay",
    "acceptor_handlers",
]

import logging
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

from pynetdicom import AE, evt
from pynetdicom.sop_class import register_uid
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class

from ..config import Node
from ..profile import Profile
from ..store import Store
from .policy import AcceptancePolicy, AfterResponse
from .query_retrieve_scp import MODELS, QueryRetrieveContext, handle_find, handle_get, handle_move, handle_sop_extended
from .storage_commitment_scp import CommitmentContext, handle_n_action
from .storage_scp import StorageContext, handle_store
from .upper_layer import ProductAE, set_nodelay

LOGGER = logging.getLogger(__name__)

# pynetdicom's default when a timeout is 0 ("none") in a profile.
_NO_TIMEOUT = None


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


def _log_rejected(event, policy: AcceptancePolicy | None = None) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    primitive = a.requestor.primitive
    called = str(getattr(primitive, "called_ae_title", "") or a.acceptor.ae_title)
    calling = str(a.requestor.ae_title)
    rejection = policy.check(calling, called) if policy is not None else None
    why = (f": {rejection.why} (result {rejection.result}, source {rejection.source}, reason {rejection.reason})"
           if rejection else "")
    LOGGER.info("association rejected: %s@%s:%s -> %s%s", calling, a.requestor.address, a.requestor.port,
                called, why)


def _log_released(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    LOGGER.info("association released: %s@%s:%s", a.requestor.ae_title, a.requestor.address, a.requestor.port)


def _log_aborted(event) -> None:  # type: ignore[no-untyped-def]
    a = event.assoc
    LOGGER.warning("association aborted: %s@%s:%s", a.requestor.ae_title, a.requestor.address, a.requestor.port)


# Handlers bound to the associations the provider side itself opens (C-MOVE sub-operations,
# storage commitment reports).
REQUESTOR_HANDLERS = [(evt.EVT_CONN_OPEN, set_nodelay)]


@dataclass
class Provider:
    """The provider-side services of one acceptor and the state they share.

    Built by :func:`build_provider`; :meth:`handlers` are what the acceptor binds.
    """

    profile: Profile
    policy: AcceptancePolicy
    storage: StorageContext
    query_retrieve: QueryRetrieveContext | None
    commitment: CommitmentContext | None
    after_response: AfterResponse = field(default_factory=AfterResponse)

    def handlers(self) -> list[tuple]:
        """The event handlers the acceptor binds, in pynetdicom's ``(event, handler)`` form."""
        out: list[tuple] = [
            (evt.EVT_CONN_OPEN, set_nodelay),
            (evt.EVT_ACCEPTED, _log_accepted),
            (evt.EVT_REJECTED, partial(_log_rejected, policy=self.policy)),
            (evt.EVT_RELEASED, _log_released),
            (evt.EVT_RELEASED, self.after_response.forget),
            (evt.EVT_ABORTED, _log_aborted),
            (evt.EVT_ABORTED, self.after_response.forget),
            (evt.EVT_DIMSE_SENT, self.after_response.on_dimse_sent),
            (evt.EVT_C_STORE, partial(handle_store, ctx=self.storage)),
        ]
        if self.query_retrieve is not None:
            qr = self.query_retrieve
            out += [
                (evt.EVT_C_FIND, partial(handle_find, ctx=qr)),
                (evt.EVT_C_MOVE, partial(handle_move, ctx=qr)),
                (evt.EVT_C_GET, partial(handle_get, ctx=qr)),
                (evt.EVT_SOP_EXTENDED, partial(handle_sop_extended, ctx=qr)),
            ]
        if self.commitment is not None:
            out.append((evt.EVT_N_ACTION, partial(handle_n_action, ctx=self.commitment)))
        return out


def build_provider(
    profile: Profile,
    store: Store,
    ae_title: str,
    *,
    nodes: Sequence[Node] | None = None,
    accept_any_calling_ae: bool = False,
    store_quota: int | None = None,
    min_free_space: int | None = None,
) -> Provider:
    """The services the profile provides, for a store and the site's *nodes*.

    *nodes* is None when there is no site configuration (then a ``"configured"`` calling AE
    policy cannot be enforced, and there are no C-MOVE destinations or report addresses).
    """
    known = None if nodes is None else [n.ae_title for n in nodes]
    policy = AcceptancePolicy.from_profile(profile, ae_title, known, accept_any_calling_ae)
    after = AfterResponse()
    storage = StorageContext(profile=profile, store=store, ae_title=ae_title, quota=store_quota,
                             min_free_space=min_free_space, after_response=after)
    qr = None
    if profile.classes(service="query_retrieve", role="scp"):
        qr = QueryRetrieveContext(profile=profile, store=store, ae_title=ae_title, nodes=tuple(nodes or ()),
                                  requestor_handlers=list(REQUESTOR_HANDLERS))
    commitment = None
    if profile.storage_commitment.scp and profile.classes(service="storage_commitment", role="scp"):
        commitment = CommitmentContext(profile=profile, store=store, ae_title=ae_title, nodes=tuple(nodes or ()),
                                       requestor_handlers=list(REQUESTOR_HANDLERS), after_response=after)
    return Provider(profile, policy, storage, qr, commitment, after)


def acceptor_handlers(profile: Profile, store: Store, ae_title: str) -> list[tuple]:
    """The event handlers of :func:`build_provider` with no site configuration."""
    return build_provider(profile, store, ae_title).handlers()


def build_acceptor(profile: Profile, ae_title: str, policy: AcceptancePolicy | None = None) -> AE:
    """An AE that accepts exactly the profile's SCP classes with their transfer syntaxes.

    Every other abstract syntax is rejected by pynetdicom with result 0x03 (abstract syntax
    not supported) and a supported one offered with none of its transfer syntaxes with 0x04
    (transfer syntaxes not supported). *policy* (default: the profile's, with no site
    configuration) decides which calling and called AE titles are accepted. When the profile
    provides C-GET, storage contexts accept the requestor's SCP/SCU role selection, so that
    the C-STORE sub-operations can go back on the C-GET association.
    """
    register_private_classes(profile)
    net = profile.network
    ae = ProductAE(ae_title=ae_title)  # pynetdicom's AE with the event-driven upper layer (upper_layer.py)
    ae.implementation_class_uid = profile.identity.implementation_class_uid
    ae.implementation_version_name = profile.identity.implementation_version_name
    ae.maximum_pdu_size = net.max_pdu_receive
    # pynetdicom counts the association being negotiated; 0 in a profile means unlimited.
    ae.maximum_associations = net.max_associations_accepted or 1000
    ae.acse_timeout = _timeout(net.timeouts.association_request, 30)
    ae.dimse_timeout = _timeout(net.timeouts.dimse, 30)
    ae.network_timeout = _timeout(net.timeouts.idle or net.timeouts.network, 60)
    (policy or AcceptancePolicy.from_profile(profile, ae_title, None)).apply(ae)
    provides_get = "GET" in profile.query_retrieve.scp_operations and any(
        MODELS.get(c.uid, ("", ""))[1] == "GET" for c in profile.classes(service="query_retrieve", role="scp"))
    for c in profile.classes(role="scp"):
        syntaxes = list(profile.scp_transfer_syntaxes(c))
        if not syntaxes:
            continue
        if provides_get and c.service == "storage":
            ae.add_supported_context(c.uid, syntaxes, scu_role=True, scp_role=True)
        else:
            ae.add_supported_context(c.uid, syntaxes)
    return ae
