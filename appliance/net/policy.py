"""Association policy of the provider side: who may associate, and what follows a response.

Acceptance (PS3.8 7.1.1.9, A-ASSOCIATE-RJ): the profile's ``[network]`` says whether the
product answers only remote AEs configured at the site (``calling_ae_policy = "configured"``)
or any AE (``"any"``), and whether the Called AE Title must be its own
(``called_ae_policy = "match"``). None of the five statements prints the A-ASSOCIATE-RJ
codes, so the standard ones are used (and pynetdicom sends exactly these):

======================================  ======  ======  ======
case                                    result  source  reason
======================================  ======  ======  ======
calling AE title not configured         1       1       3
called AE title is not this AE's        1       1       7
more associations than the profile's    2       3       2
======================================  ======  ======  ======

(result 1 = rejected-permanent, 2 = rejected-transient; source 1 = service-user,
3 = service-provider presentation related; reasons as PS3.8 Table 9-21.)

:class:`AcceptancePolicy` is pure: :meth:`AcceptancePolicy.check` says what would happen to a
request; :meth:`AcceptancePolicy.apply` configures a pynetdicom AE to do it.

After-response actions: some products act on an association *after* a response has gone out
(abort after a failed C-STORE, send an N-EVENT-REPORT after the N-ACTION-RSP).
:class:`AfterResponse` runs such an action once pynetdicom has sent the response
(``evt.EVT_DIMSE_SENT``): in its own thread (the association goes on meanwhile), or inline in
the association's thread, so that no further request is served before it (an abort).
"""

from __future__ import annotations

__all__ = [
    "AcceptancePolicy",
    "Rejection",
    "AfterResponse",
    "REJECT_CALLING_AE",
    "REJECT_CALLED_AE",
    "REJECT_LIMIT",
]

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from pynetdicom import AE

from ..profile import Profile

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    """An A-ASSOCIATE-RJ: result, source, reason (PS3.8 9.3.4) and why, in words."""

    result: int
    source: int
    reason: int
    why: str


REJECT_CALLING_AE = (0x01, 0x01, 0x03)  # rejected-permanent, service-user, calling AE title not recognized
REJECT_CALLED_AE = (0x01, 0x01, 0x07)   # rejected-permanent, service-user, called AE title not recognized
REJECT_LIMIT = (0x02, 0x03, 0x02)       # rejected-transient, service-provider (presentation), local limit exceeded


@dataclass(frozen=True)
class AcceptancePolicy:
    """Who may open an association with the local AE.

    Parameters
    ----------
    local_ae_title : str
        The AE title the scanner answers to.
    calling : {"configured", "any"}
        The profile's ``network.calling_ae_policy`` (or ``"any"`` when overridden).
    known_calling_ae_titles : frozenset of str
        AE titles of the site configuration's nodes; used when *calling* is ``"configured"``.
    called : {"match", "any"}
        The profile's ``network.called_ae_policy``.
    enforced : bool
        False when *calling* is ``"configured"`` but there is no site configuration to take
        the AE titles from; then every calling AE is accepted (and :meth:`describe` says so).
    """

    local_ae_title: str
    calling: str = "any"
    known_calling_ae_titles: frozenset[str] = field(default_factory=frozenset)
    called: str = "any"
    enforced: bool = True

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        local_ae_title: str,
        known_calling_ae_titles: Iterable[str] | None,
        accept_any_calling_ae: bool = False,
    ) -> "AcceptancePolicy":
        """The policy the profile describes, for the site's known AEs.

        *known_calling_ae_titles* is None when no site configuration was given: a
        ``"configured"`` policy then cannot be enforced and is relaxed to any calling AE.
        *accept_any_calling_ae* is the statements' "answer any AET" service switch.
        """
        calling = profile.network.calling_ae_policy
        known = frozenset(a.strip() for a in (known_calling_ae_titles or ()))
        enforced = True
        if accept_any_calling_ae:
            calling = "any"
        elif calling == "configured" and known_calling_ae_titles is None:
            enforced = False
        return cls(
            local_ae_title=local_ae_title.strip(),
            calling=calling,
            known_calling_ae_titles=known,
            called=profile.network.called_ae_policy,
            enforced=enforced,
        )

    @property
    def checks_calling(self) -> bool:
        return self.calling == "configured" and self.enforced

    def check(self, calling_ae_title: str, called_ae_title: str) -> Rejection | None:
        """The rejection an A-ASSOCIATE-RQ from *calling* to *called* gets, or None.

        Same order as pynetdicom: a wrong called AE title wins over an unknown caller.
        """
        calling_ae_title = calling_ae_title.strip()
        called_ae_title = called_ae_title.strip()
        if self.called == "match" and called_ae_title != self.local_ae_title:
            return Rejection(*REJECT_CALLED_AE,
                             f"called AE title {called_ae_title!r} is not this scanner's {self.local_ae_title!r}")
        if self.checks_calling and calling_ae_title not in self.known_calling_ae_titles:
            return Rejection(*REJECT_CALLING_AE,
                             f"calling AE title {calling_ae_title!r} is not a node of the site configuration")
        return None

    def apply(self, ae: AE) -> None:
        """Make pynetdicom reject what :meth:`check` rejects (with the same codes)."""
        ae.require_called_aet = self.called == "match"
        if self.checks_calling:
            # pynetdicom treats an empty list as "anyone": a configured site with no nodes
            # accepts nobody, so give it a title no peer can send (17 characters).
            ae.require_calling_aet = sorted(self.known_calling_ae_titles) or ["<no known nodes>"]
        else:
            ae.require_calling_aet = []

    def describe(self) -> str:
        """One line for the start-up log."""
        called = f"called AE must be {self.local_ae_title!r}" if self.called == "match" else "any called AE"
        if self.calling == "configured" and not self.enforced:
            calling = ("any calling AE (the profile accepts only configured AEs, but no site configuration "
                       "was given: pass --config with [nodes] to enforce it)")
        elif self.checks_calling:
            known = ", ".join(sorted(self.known_calling_ae_titles)) or "none"
            calling = f"calling AE must be a configured node ({known})"
        else:
            calling = "any calling AE"
        return f"{calling}; {called}"


class AfterResponse:
    """Run an action once the response to one request has been sent on an association.

    Bind :meth:`on_dimse_sent` to ``evt.EVT_DIMSE_SENT``; a handler calls :meth:`schedule`
    with the request's Message ID before it returns its status. The action runs in a new
    daemon thread after the response message left, or is dropped if the association ends
    first (:meth:`forget`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], tuple[Any, Callable[[], None], bool]] = {}

    def schedule(self, assoc: Any, message_id: int, action: Callable[[], None], inline: bool = False) -> None:
        """Run *action* after the response to request *message_id* on *assoc* was sent.

        *inline*: run it in the association's own thread before it reads the next request
        (it must not wait for the peer); else in a new thread.
        """
        with self._lock:
            self._pending[(id(assoc), int(message_id))] = (assoc, action, inline)

    def on_dimse_sent(self, event: Any) -> None:
        """``evt.EVT_DIMSE_SENT`` handler."""
        if not self._pending:
            return
        command = getattr(event.message, "command_set", None)
        responded = getattr(command, "MessageIDBeingRespondedTo", None) if command is not None else None
        if responded is None:
            return
        status = getattr(command, "Status", 0)
        if status in (0xFF00, 0xFF01):  # pending responses are not the end of the operation
            return
        with self._lock:
            entry = self._pending.pop((id(event.assoc), int(responded)), None)
        if entry is None:
            return
        _, action, inline = entry
        if inline:
            _run_logged(action)
        else:
            threading.Thread(target=_run_logged, args=(action,), daemon=True,
                             name=f"after-response-{responded}").start()

    def forget(self, event: Any) -> None:
        """``EVT_RELEASED`` / ``EVT_ABORTED`` handler: drop actions of an ended association."""
        with self._lock:
            for key in [k for k, entry in self._pending.items() if entry[0] is event.assoc]:
                del self._pending[key]


def _run_logged(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # an action's failure must not kill anything else; say what happened
        LOGGER.exception("action after a response failed")
