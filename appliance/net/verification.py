"""Verification SCU: C-ECHO a node with the product's Verification presentation context."""

from __future__ import annotations

__all__ = ["EchoResult", "echo"]

import logging
import time
from dataclasses import dataclass

from pydicom.uid import UID

from ..config import Node
from ..errors import NetworkError
from ..profile import Profile
from .requestor import Context, open_association, status_text

LOGGER = logging.getLogger(__name__)

VERIFICATION = "1.2.840.10008.1.1"


@dataclass(frozen=True)
class EchoResult:
    node: Node
    status: int
    transfer_syntax: str
    elapsed: float  # seconds, association set-up to release

    @property
    def ok(self) -> bool:
        return self.status == 0x0000


def verification_context(profile: Profile) -> Context:
    """One context: Verification with the profile's SCU transfer syntaxes, in order."""
    rows = profile.classes(service="verification", role="scu")
    syntaxes = profile.scu_transfer_syntaxes(rows[0]) if rows else profile.transfer_syntaxes.verification_scu
    return Context(VERIFICATION, tuple(syntaxes) or ("1.2.840.10008.1.2",))


def echo(profile: Profile, node: Node, ae_title: str) -> EchoResult:
    """C-ECHO *node* as *ae_title*.

    Raises
    ------
    NetworkError
        The node cannot be reached, rejects the association or does not answer the C-ECHO.
    """
    t0 = time.perf_counter()
    cx = verification_context(profile)
    with open_association(profile, node, ae_title, [cx], purpose="C-ECHO") as assoc:
        accepted = [c for c in assoc.accepted_contexts if c.abstract_syntax == VERIFICATION]
        ts = str(accepted[0].transfer_syntax[0]) if accepted else ""
        rsp = assoc.send_c_echo()
        if "Status" not in rsp:
            raise NetworkError(f"C-ECHO: no response from {node}",
                               "the peer aborted or did not answer within the DIMSE time-out")
        status = int(rsp.Status)
    elapsed = time.perf_counter() - t0
    LOGGER.info("C-ECHO %s -> %s: %s (%s) in %.0f ms", ae_title, node, status_text(rsp),
                UID(ts).name if ts else "-", elapsed * 1000)
    return EchoResult(node, status, ts, elapsed)
