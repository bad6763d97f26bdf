"""Answers for services whose contexts the profile accepts but whose SCP is not built yet.

The product's statement lists these SCP roles, so negotiation accepts them; until their
own modules exist, requests get a failure status with a comment saying so, and one log
line, instead of a traceback.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

LOGGER = logging.getLogger(__name__)

UNABLE_TO_PROCESS_FIND = 0xC000
PROCESSING_FAILURE = 0x0110


def _failure(code: int, what: str) -> Dataset:
    status = Dataset()
    status.Status = code
    status.ErrorComment = f"{what} SCP not available in this vscanner version"[:64]
    return status


def handle_find(event):  # type: ignore[no-untyped-def]
    """``evt.EVT_C_FIND``: one failure response."""
    LOGGER.warning("C-FIND from %s refused: the Query/Retrieve SCP is not available yet",
                   event.assoc.requestor.ae_title)
    yield _failure(UNABLE_TO_PROCESS_FIND, "Query/Retrieve"), None


def handle_n_action(event):  # type: ignore[no-untyped-def]
    """``evt.EVT_N_ACTION``: processing failure."""
    LOGGER.warning("N-ACTION from %s refused: the Storage Commitment SCP is not available yet",
                   event.assoc.requestor.ae_title)
    return _failure(PROCESSING_FAILURE, "Storage Commitment"), None
