"""N-EVENT-REPORTs received on an association this side requested, without the reactor race.

pynetdicom 3.0 serves an N-EVENT-REPORT request that arrives on a requestor's association on a
thread of its own (so the DUL is not blocked) through ``Association._serve_request``, which
sets ``_is_paused = True`` before the handler and ``_is_paused = False`` after it. Meanwhile
the requestor may be inside ``send_n_*``, which clears the reactor checkpoint and spins until
``_is_paused`` is true. When the event thread's ``_is_paused = False`` lands after the reactor
has parked itself at the checkpoint, the flag says "running" while the reactor is paused, and
``send_n_*`` spins forever (seen with the emulated camera sending Printer and Print Job events
during a multi-film job: Film Box N-CREATE hung). When it lands the other way round, the
reactor can take the awaited response off the queue and discard it as unexpected.

Serving an N-EVENT-REPORT needs no pause: the service class's handler only answers it with
``dimse.send_msg``, it never calls a ``send_*`` method. :class:`EventSafeAssociation` serves
N-EVENT-REPORT requests exactly as pynetdicom does, minus the two writes of ``_is_paused``;
everything else goes to pynetdicom's own ``_serve_request``. :func:`serve_events_safely` gives
an open association that behaviour (a subclass of pynetdicom's own class, so nothing else
changes); with a pynetdicom other than 3.0.x it leaves the association as it is.
"""

from __future__ import annotations

__all__ = ["EventSafeAssociation", "serve_events_safely", "SUPPORTED"]

import logging
from typing import Any

import pynetdicom
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.sop_class import uid_to_service_class

from .upper_layer import RequestorAssociation

LOGGER = logging.getLogger(__name__)

#: ``_serve_request``, ``_accepted_cx`` and ``_is_paused`` are those of pynetdicom 3.0.x.
SUPPORTED = pynetdicom.__version__.startswith("3.0.")


class EventSafeAssociation(RequestorAssociation):
    """A requestor's association that serves N-EVENT-REPORTs without touching the pause flag."""

    def _serve_request(self, msg: Any, context_id: int) -> None:  # noqa: D102 - pynetdicom's, see module
        if not isinstance(msg, N_EVENT_REPORT) or not msg.is_valid_request or self._sent_release:
            super()._serve_request(msg, context_id)
            return
        context = self._accepted_cx.get(context_id)
        if context is None:
            LOGGER.warning("N-EVENT-REPORT on presentation context %s, which was not accepted: aborting", context_id)
            self.abort()
            return
        service_class = uid_to_service_class(msg.AffectedSOPClassUID)(self)
        try:
            service_class.SCP(msg, context)
        except NotImplementedError:
            LOGGER.error("no service class serves N-EVENT-REPORTs of %s", msg.AffectedSOPClassUID)
            self.abort()


def serve_events_safely(assoc: Any) -> Any:
    """Give *assoc* (an open pynetdicom 3.0 requestor association) the race-free event serving."""
    if SUPPORTED and type(assoc) in (Association, RequestorAssociation):
        assoc.__class__ = EventSafeAssociation
    return assoc
