"""Errors of the media services and the emulated drives (exit code 1: a failed operation)."""

from __future__ import annotations

__all__ = ["MediaError", "NoDisc", "DiscFull", "WriteError", "ClosedDisc", "NoEncoder"]

from ..errors import VScannerError


class MediaError(VScannerError):
    """A file-set, ISO image, disc or USB stick could not be written or read."""


class NoDisc(MediaError):
    """The drive holds no disc (empty or ejected)."""


class DiscFull(MediaError):
    """The data does not fit on the medium; nothing was written."""


class WriteError(MediaError):
    """The drive failed while writing; the partial image was removed."""


class ClosedDisc(MediaError):
    """The disc in the drive is finalized (closed): it cannot be written or updated."""


class NoEncoder(MediaError):
    """No installed pixel encoder writes the transfer syntax the profile needs."""
