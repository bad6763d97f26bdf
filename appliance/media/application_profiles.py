"""Media application profiles (DICOM PS3.11) and physical media (PS3.12), as data.

A media application profile fixes which SOP classes a file-set may hold, in which transfer
syntaxes, on which physical medium and file system. A profile *name* is built from parts:
``STD-`` (standard) / ``AUG-`` (augmented: a standard profile plus the vendor's private
classes) / ``PRI-`` (private), a *family* (``GEN``, ``CTMR``, ``XABC``, ``XA1K``,
``US-ID-SF`` ..., ``WVFM-GEN``, ``SYNGO``), a *medium* (``CD``, ``DVD``, ``BD``, ``USB``,
``MOD23`` ...) and, for the general-purpose families, a compression suffix (``-J2K``,
``-JPEG``). :func:`application_profile` turns any such name into one
:class:`ApplicationProfile`; the tables below are the whole of the knowledge.

Sources (titles as in PS3.11, current edition; the same rules as DCMTK's ``dcmmkdir``
checks, which the tests use as the reference FSC):

- *General Purpose CD-R and DVD Interchange* (``STD-GEN-CD``, ``STD-GEN-DVD-RAM``): every
  composite storage SOP class, Explicit VR Little Endian only.
- *General Purpose DVD / BD / USB and Flash Memory Interchange with JPEG / JPEG 2000*
  (``STD-GEN-DVD-JPEG``, ``STD-GEN-DVD-J2K``, ``STD-GEN-BD-J2K``, ``STD-GEN-USB-J2K`` ...):
  every composite class; Explicit VR LE, plus for images JPEG Lossless SV1, Baseline and
  Extended (``-JPEG``) or JPEG 2000 lossless and lossy (``-J2K``).
- *CT and MR Images* (``STD-CTMR-xxxx``): CT Image, MR Image, Secondary Capture, Grayscale
  Softcopy Presentation State, X-Ray Radiation Dose SR (CP-1182); Explicit VR LE, images
  also JPEG Lossless SV1.
- *Basic Cardiac X-Ray Angiographic Studies on CD-R* (``STD-XABC-CD``) and *1024 X-Ray
  Angiographic Studies* (``STD-XA1K-CD``): XA Image in JPEG Lossless SV1.
- *Ultrasound* (``STD-US-zz-yF-xxxx``): US (multi-frame) Image; Explicit VR LE, RLE, JPEG
  Baseline.
- *Waveform Diskette Interchange* (``STD-WVFM-...-FD``): waveform classes, Explicit VR LE.

Vendor profiles named by the statements:

- ``STD-GEN-DVD`` / ``STD-GEN-BD`` (syngo MR / CT, not PS3.11 identifiers): read as the
  uncompressed general-purpose profile on DVD / BD, which is what their statements say
  ("only Explicit VR Little Endian").
- ``PRI-SYNGO-xxx`` (syngo MI PET/CT Table 97, COHERENCE Table 63): composite images and
  non-images plus CSA Non-Image; Explicit VR LE mandatory, JPEG Lossless SV1, Explicit VR
  Big Endian, JPEG Baseline/Extended and (PET/CT) JPEG 2000 optional for the FSC; RLE is
  "for decompression only".
- ``AUG-xxx``: the standard profile plus the Siemens CSA Non-Image private class
  (``1.3.12.2.1107.5.9.1``) in Explicit VR LE (syngo MR Table 65, syngo CT Table 68).

What a product writes is the intersection of the profile's transfer syntaxes with the
product's own ``transfer_syntaxes.media`` list, in the product's order of preference: both
the standard and the statement allow it.
"""

from __future__ import annotations

__all__ = [
    "ApplicationProfile",
    "Medium",
    "MEDIA",
    "application_profile",
    "is_image_class",
    "CSA_NON_IMAGE",
    "EXPLICIT_LE",
]

import re
from dataclasses import dataclass
from functools import lru_cache

from pydicom.uid import UID

from .errors import MediaError

EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
RLE = "1.2.840.10008.1.2.5"

#: Siemens CSA Non-Image Storage (private; syngo MR Table 65, syngo CT Table 68, PET/CT T-99).
CSA_NON_IMAGE = "1.3.12.2.1107.5.9.1"

# --- physical media (PS3.12 annexes; capacities as the brief and the statements give them) ----


@dataclass(frozen=True)
class Medium:
    """One kind of physical medium.

    ``capacity`` is in bytes (``None``: given by the device, e.g. a USB stick);
    ``filesystem`` is ``"iso9660"`` (an ISO image is written) or ``"fat"`` (a FAT image or
    a folder tree).
    """

    kind: str
    description: str
    capacity: int | None
    filesystem: str


MEDIA: dict[str, Medium] = {
    # "700 MB" CD-R (80 min): 700 MiB; DVD and BD capacities are decimal as printed on discs.
    "CD": Medium("CD", "120 mm CD-R, ISO 9660 (PS3.12)", 700 * 1024 * 1024, "iso9660"),
    "DVD": Medium("DVD", "120 mm DVD-R, 4.7 GB (PS3.12)", 4_700_000_000, "iso9660"),
    "DVD-RAM": Medium("DVD-RAM", "120 mm DVD-RAM, 4.7 GB (PS3.12)", 4_700_000_000, "iso9660"),
    "BD": Medium("BD", "120 mm BD-R, 25 GB (PS3.12)", 25_000_000_000, "iso9660"),
    "USB": Medium("USB", "USB mass storage, FAT16/FAT32 (PS3.12)", None, "fat"),
    "FD": Medium("FD", "90 mm 1.44 MB diskette, PC DOS (PS3.12)", 1_457_664, "fat"),
    "MOD128": Medium("MOD128", "90 mm 128 MB MOD, PC DOS", 128_000_000, "fat"),
    "MOD230": Medium("MOD230", "90 mm 230 MB MOD, PC DOS", 230_000_000, "fat"),
    "MOD540": Medium("MOD540", "90 mm 540 MB MOD, PC DOS", 540_000_000, "fat"),
    "MOD650": Medium("MOD650", "130 mm 650 MB MOD, PC DOS", 650_000_000, "fat"),
    "MOD12": Medium("MOD12", "130 mm 1.2 GB MOD, PC DOS", 1_200_000_000, "fat"),
    "MOD23": Medium("MOD23", "130 mm 2.3 GB MOD, PC DOS", 2_300_000_000, "fat"),
    "MOD41": Medium("MOD41", "130 mm 4.1 GB MOD, PC DOS", 4_100_000_000, "fat"),
}
# Name suffixes that mean the same medium.
_MEDIUM_ALIASES = {"CDR": "CD", "FLOP": "FD", "DVD-RAM": "DVD-RAM", "RAM": "DVD-RAM"}


# --- SOP class families -----------------------------------------------------------------------

# Storage classes that carry pixel data (may be compressed in "images only" syntaxes).
_NON_IMAGE_KEYWORDS = (
    "SR", "Waveform", "PresentationState", "Registration", "Fiducials", "RawData",
    "Spectroscopy", "KeyObject", "Encapsulated", "RTDose", "RTStructure", "RTPlan", "RTIonPlan",
    "RTBeams", "RTBrachy", "RTTreatment", "RTIonBeams", "RealWorldValue", "ProcedureLog",
    "SurfaceSegmentation", "HangingProtocol", "ColorPalette", "StructuredDisplay",
)


def is_image_class(sop_class_uid: str) -> bool:
    """True for storage SOP classes whose instances are images (pixel data module).

    Decided from pydicom's keyword for the UID; private classes count as non-images.
    """
    uid = UID(sop_class_uid)
    keyword = uid.keyword or ""
    if not keyword or uid == CSA_NON_IMAGE:
        return False
    return not any(k in keyword for k in _NON_IMAGE_KEYWORDS)


_CT = "1.2.840.10008.5.1.4.1.1.2"
_MR = "1.2.840.10008.5.1.4.1.1.4"
_SC = "1.2.840.10008.5.1.4.1.1.7"
_GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
_XR_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
_XA = "1.2.840.10008.5.1.4.1.1.12.1"
_US = "1.2.840.10008.5.1.4.1.1.6.1"
_US_MF = "1.2.840.10008.5.1.4.1.1.3.1"
_WAVEFORMS = (
    "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
    "1.2.840.10008.5.1.4.1.1.9.1.2",  # General ECG
    "1.2.840.10008.5.1.4.1.1.9.1.3",  # Ambulatory ECG
    "1.2.840.10008.5.1.4.1.1.9.2.1",  # Hemodynamic
    "1.2.840.10008.5.1.4.1.1.9.3.1",  # Cardiac Electrophysiology
    "1.2.840.10008.5.1.4.1.1.9.4.1",  # Basic Voice Audio
)


@dataclass(frozen=True)
class _Family:
    """The SOP classes and transfer syntaxes of one profile family (one PS3.11 annex)."""

    title: str
    sop_classes: frozenset[str] | None  # None: every composite storage class
    image_ts: tuple[str, ...]  # what images may be written in
    other_ts: tuple[str, ...]  # what non-images may be written in
    read_ts: tuple[str, ...] = ()  # further syntaxes an FSR must read (FSR "M" only)
    compression_suffixes: tuple[str, ...] = ()


_FAMILIES: dict[str, _Family] = {
    "GEN": _Family(
        "General Purpose Interchange (PS3.11)", None, (EXPLICIT_LE,), (EXPLICIT_LE,),
        compression_suffixes=("J2K", "JPEG"),
    ),
    "CTMR": _Family(
        "CT and MR Images (PS3.11)", frozenset({_CT, _MR, _SC, _GSPS, _XR_DOSE_SR}),
        (EXPLICIT_LE, JPEG_LOSSLESS_SV1), (EXPLICIT_LE,),
    ),
    "XABC": _Family(
        "Basic Cardiac X-Ray Angiographic Studies on CD-R (PS3.11)", frozenset({_XA}),
        (JPEG_LOSSLESS_SV1,), (EXPLICIT_LE,),
    ),
    "XA1K": _Family(
        "1024 X-Ray Angiographic Studies (PS3.11)", frozenset({_XA, _SC}),
        (JPEG_LOSSLESS_SV1,), (EXPLICIT_LE,),
    ),
    "US-SF": _Family(
        "Ultrasound Single Frame (PS3.11)", frozenset({_US}),
        (EXPLICIT_LE, RLE, JPEG_BASELINE), (EXPLICIT_LE,),
    ),
    "US-MF": _Family(
        "Ultrasound Single and Multi-Frame (PS3.11)", frozenset({_US, _US_MF}),
        (EXPLICIT_LE, RLE, JPEG_BASELINE), (EXPLICIT_LE,),
    ),
    "WVFM": _Family(
        "Waveform Diskette Interchange (PS3.11)", frozenset(_WAVEFORMS), (EXPLICIT_LE,), (EXPLICIT_LE,),
    ),
    # Siemens private profile (syngo MI PET/CT §10.2.3 Table 97, COHERENCE §22.1.7 Table 63).
    "SYNGO": _Family(
        "Siemens PRI-SYNGO private profile (statement)", None,
        (EXPLICIT_LE, JPEG_LOSSLESS_SV1, EXPLICIT_BE, JPEG_BASELINE, JPEG_EXTENDED, J2K_LOSSLESS, J2K),
        (EXPLICIT_LE, EXPLICIT_BE),
        read_ts=(RLE, "1.2.840.10008.1.2.4.57"),
    ),
}

_COMPRESSION = {
    # General Purpose ... with JPEG / with JPEG 2000 (PS3.11).
    "J2K": ((EXPLICIT_LE, J2K_LOSSLESS, J2K), "with JPEG 2000"),
    "JPEG": ((EXPLICIT_LE, JPEG_LOSSLESS_SV1, JPEG_BASELINE, JPEG_EXTENDED), "with JPEG"),
}


@dataclass(frozen=True)
class ApplicationProfile:
    """One media application profile, resolved from its name.

    Attributes
    ----------
    name : str
        As the product's statement names it (standard spelling).
    title : str
        What it is and where it is defined.
    medium : Medium
        The physical medium.
    sop_classes : frozenset of str or None
        Allowed SOP classes; ``None`` means every composite storage class.
    image_transfer_syntaxes, other_transfer_syntaxes : tuple of str
        Syntaxes an FSC may write images / non-image objects in.
    private_classes : frozenset of str
        Private classes an ``AUG-``/``PRI-`` profile adds (Explicit VR LE).
    standard : bool
        ``STD-`` (and its augmentation) versus a vendor's own name.
    """

    name: str
    title: str
    medium: Medium
    sop_classes: frozenset[str] | None
    image_transfer_syntaxes: tuple[str, ...]
    other_transfer_syntaxes: tuple[str, ...]
    private_classes: frozenset[str] = frozenset()
    read_transfer_syntaxes: tuple[str, ...] = ()
    standard: bool = True

    def allows(self, sop_class_uid: str) -> bool:
        """Whether instances of *sop_class_uid* may be in a file-set of this profile."""
        if sop_class_uid in self.private_classes:
            return True
        if self.sop_classes is None:
            uid = UID(sop_class_uid)
            # every composite storage class of the standard (PS3.4 Annex B), no private ones
            return uid.is_valid and uid.startswith("1.2.840.10008.5.1.4.1.1.")
        return sop_class_uid in self.sop_classes

    def transfer_syntaxes(self, sop_class_uid: str) -> tuple[str, ...]:
        """Syntaxes an FSC may write *sop_class_uid* in (private classes: Explicit VR LE)."""
        if sop_class_uid in self.private_classes:
            return (EXPLICIT_LE,)
        return self.image_transfer_syntaxes if is_image_class(sop_class_uid) else self.other_transfer_syntaxes

    @property
    def compressed(self) -> bool:
        """True when the profile allows any compressed syntax."""
        return any(UID(t).is_compressed for t in self.image_transfer_syntaxes)


_NAME_RE = re.compile(r"^(STD|AUG|PRI)-(.+)$")


@lru_cache(maxsize=256)
def application_profile(name: str) -> ApplicationProfile:
    """The :class:`ApplicationProfile` for a PS3.11 (or statement) profile name.

    Raises :class:`MediaError` for a name that cannot be resolved.
    """
    m = _NAME_RE.match(name.strip().upper())
    if not m:
        raise MediaError(f"unknown media application profile {name!r}",
                         "use a PS3.11 name such as STD-GEN-CD or STD-GEN-DVD-J2K")
    prefix, rest = m.groups()
    parts = rest.split("-")
    family_key: str
    medium_parts: list[str]
    compression: str | None = None
    if parts[0] == "US" and len(parts) >= 4:
        family_key = f"US-{parts[2]}"  # STD-US-zz-yF-xxxx: zz = ID|SC|CC only changes checks
        medium_parts = parts[3:]
    elif parts[0] == "WVFM":
        family_key = "WVFM"
        medium_parts = parts[2:] if len(parts) > 2 else parts[1:]
    elif parts[0] == "SYNGO" and prefix == "PRI":
        family_key = "SYNGO"
        medium_parts = parts[1:]
    else:
        family_key = parts[0]
        medium_parts = parts[1:]
    family = _FAMILIES.get(family_key)
    if family is None or not medium_parts:
        raise MediaError(f"unknown media application profile {name!r}",
                         "known families: GEN, CTMR, XABC, XA1K, US-zz-SF/MF, WVFM, PRI-SYNGO")
    if medium_parts[-1] in family.compression_suffixes:
        compression = medium_parts.pop()
    medium_name = "-".join(medium_parts)
    medium_name = _MEDIUM_ALIASES.get(medium_name, medium_name)
    medium = MEDIA.get(medium_name)
    if medium is None:
        raise MediaError(f"unknown medium {medium_name!r} in media application profile {name!r}",
                         "known media: " + ", ".join(MEDIA))
    image_ts, other_ts = family.image_ts, family.other_ts
    title = family.title
    if compression:
        image_ts = _COMPRESSION[compression][0]
        title = f"{title} {_COMPRESSION[compression][1]}"
    private = frozenset({CSA_NON_IMAGE}) if prefix in ("AUG", "PRI") else frozenset()
    # STD-GEN-DVD / STD-GEN-BD without suffix: a vendor's name for uncompressed general purpose.
    standard = prefix != "PRI" and not (family_key == "GEN" and medium_name in ("DVD", "BD") and not compression)
    return ApplicationProfile(
        name=name.strip().upper(),
        title=f"{title} on {medium.description}",
        medium=medium,
        sop_classes=family.sop_classes,
        image_transfer_syntaxes=image_ts,
        other_transfer_syntaxes=other_ts,
        private_classes=private,
        read_transfer_syntaxes=family.read_ts,
        standard=standard,
    )
