"""UIDs for created objects, under the product's UID root.

A product whose statement gives its UID root (``[header].uid_root`` in its protocols file,
e.g. syngo CT VA50A: ``1.3.12.2.1107.5.1.7.<device serial number>...``) gets UIDs under
that root; otherwise pydicom's own root ``1.2.826.0.1.3680043.8.498.`` is used (documented
in the protocols file). The rest of the UID is a hash of the entropy (seed, exam time,
a counter, and a random component unless *reproducible*), so UIDs are unique across runs
and, with ``reproducible=True``, identical for the same seed and time (tests).
"""

from __future__ import annotations

__all__ = ["UIDFactory", "PYDICOM_ROOT"]

import uuid

from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

PYDICOM_ROOT = PYDICOM_ROOT_UID


class UIDFactory:
    """Makes UIDs ``root + digits`` (at most 64 characters)."""

    def __init__(self, root: str | None, *entropy: object, reproducible: bool = False) -> None:
        prefix = (root or PYDICOM_ROOT).rstrip(".") + "."
        if len(prefix) > 40:
            raise ValueError(f"UID root {prefix!r} leaves too few digits (at most 40 characters)")
        self.prefix = prefix
        self._entropy = [str(e) for e in entropy]
        if not reproducible:
            self._entropy.append(uuid.uuid4().hex)
        self._count = 0

    def derived(self, root: str) -> "UIDFactory":
        """A factory under another *root* sharing this one's entropy (same reproducibility)."""
        f = UIDFactory(root, reproducible=True)
        f._entropy = [*self._entropy, root]
        return f

    def new(self, purpose: str = "") -> str:
        self._count += 1
        return generate_uid(self.prefix, entropy_srcs=[*self._entropy, purpose, str(self._count)])
