"""Walking encoded Explicit VR Little Endian data sets without decoding them.

The receive path (the store's header parse) and the media path (the DICOMDIR builder) need a
few top-level attributes of data sets that are already encoded. pydicom reads them too, but
builds a ``DataElement`` for every attribute it passes; these functions only step over the
encoded elements (PS3.5 7.1.2: tag, VR, 2- or 4-byte length; sequences of undefined length
by their items, PS3.5 7.5) and hand back the raw value bytes of the ones asked for.

They raise :class:`HeaderUnsupported` for what they do not walk -- an element without an
explicit VR, an undefined length on anything but a sequence, a malformed item -- and
``IndexError`` (or ``struct.error``) when the bytes end inside an element; callers then use
pydicom, or read more of the file.
"""

from __future__ import annotations

__all__ = ["HeaderUnsupported", "walk_data_set", "walk_items", "walk_elements", "LONG_VRS", "SHORT_VRS"]

import struct
from typing import Container

#: VRs with a reserved field and a 4-byte length (PS3.5 Table 7.1-1)
LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
#: VRs with a 2-byte length (PS3.5 Table 7.1-2)
SHORT_VRS = frozenset((b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
                       b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"))
_TAG = struct.Struct("<HH")
_TAG_LEN = struct.Struct("<HHL")
_SHORT_HEAD = struct.Struct("<HH2sH")
_UL = struct.Struct("<L")
_US = struct.Struct("<H")
_UNDEFINED = 0xFFFFFFFF

#: an element as walked: (VR, value bytes, whether its length was undefined)
Element = tuple[bytes, bytes, bool]


class HeaderUnsupported(Exception):
    """The encoded data set is not one these functions walk (pydicom reads it)."""


def walk_items(buf: bytes | memoryview, pos: int, end: int) -> int:
    """Skip the items of an undefined length sequence starting at *pos*; the position after its
    Sequence Delimitation Item."""
    while pos + 8 <= end:
        group, elem, length = _TAG_LEN.unpack_from(buf, pos)
        pos += 8
        if (group, elem) == (0xFFFE, 0xE0DD):
            return pos
        if (group, elem) != (0xFFFE, 0xE000):
            raise HeaderUnsupported("a sequence item is malformed")
        if length != _UNDEFINED:
            pos += length
            continue
        pos = walk_elements(buf, pos, end, item=True)
    raise IndexError("the data set continues past the bytes at hand")


def walk_elements(buf: bytes | memoryview, pos: int, end: int, *, item: bool) -> int:
    """Skip the elements of an undefined length item (to its Item Delimitation Item)."""
    while pos + 8 <= end:
        group, elem = _TAG.unpack_from(buf, pos)
        if item and (group, elem) == (0xFFFE, 0xE00D):
            return pos + 8
        vr = bytes(buf[pos + 4:pos + 6])
        if not vr.isalpha() or not vr.isupper():
            raise HeaderUnsupported("an element without an explicit VR")
        if vr in LONG_VRS:
            (length,) = _UL.unpack_from(buf, pos + 8)
            pos += 12
        else:
            (length,) = _US.unpack_from(buf, pos + 6)
            pos += 8
        if length == _UNDEFINED:
            if vr != b"SQ":
                raise HeaderUnsupported(f"an undefined length {vr.decode()} element")
            pos = walk_items(buf, pos, end)
        else:
            pos += length
    raise IndexError("the data set continues past the bytes at hand")


def walk_data_set(buf: bytes | memoryview, pos: int, end: int, stop: int,
                  wanted: Container[int] | None = None) -> tuple[dict[int, Element], int, int | None]:
    """Walk the top-level elements of ``buf[pos:end]`` up to the first tag >= *stop*.

    Returns ``(elements, position, tag)``: the elements walked (only those in *wanted*, when
    given) by tag, the position where the walk ended, and the tag of the element it stopped
    at (None when it reached *end*). Value bytes are slices of *buf* (views, for a
    memoryview). Sequences of undefined length are kept whole, items and delimiter included.
    """
    elements: dict[int, Element] = {}
    unpack_head, unpack_long, long_vrs, short_vrs = _SHORT_HEAD.unpack_from, _UL.unpack_from, LONG_VRS, SHORT_VRS
    while pos < end:
        if pos + 8 > end:
            raise IndexError("the data set continues past the bytes at hand")
        group, elem, vr, length = unpack_head(buf, pos)
        tag = (group << 16) | elem
        if tag >= stop:
            return elements, pos, tag
        if vr in long_vrs:
            if pos + 12 > end:
                raise IndexError("the data set continues past the bytes at hand")
            (length,) = unpack_long(buf, pos + 8)
            start = pos + 12
        elif vr in short_vrs:
            start = pos + 8
        else:
            raise HeaderUnsupported("an element without an explicit VR")
        if length == _UNDEFINED:
            if vr != b"SQ":
                raise HeaderUnsupported(f"an undefined length {vr.decode()} element")
            after = walk_items(buf, start, end)
            undefined = True
        else:
            after = start + length
            if after > end:
                raise IndexError("the data set continues past the bytes at hand")
            undefined = False
        if wanted is None or tag in wanted:
            elements[tag] = (vr, buf[start:after], undefined)
        pos = after
    return elements, pos, None
