"""Storage SCU: send instances to an archive as the product's statement says.

Policy, pure and tested without sockets:

- :func:`plan_contexts` - the presentation contexts to propose: for each SOP class being sent
  (and only those), one context per transfer syntax of the profile's list for that class, in
  the statement's order, so that the archive can accept several and the sender chooses per
  instance (as the Siemens statements describe: "the Storage SCU will choose ... among those
  accepted by the SCP"). At most 128 contexts per association (PS3.8: context ids 1..255,
  odd); more classes are split over several associations.
- :func:`choose_transfer_syntax` - per instance: its own transfer syntax when the archive
  accepted it (nothing is converted, the file is streamed as it is); else the first accepted
  syntax, in the profile's order, that vscanner can produce without loss: another
  uncompressed little-endian syntax, or a lossless compression whose pydicom encoder plugin
  is installed (RLE, JPEG 2000 lossless, JPEG-LS lossless). Instances stored lossy are never
  converted (the statements' rule); vscanner never makes a lossy copy on its own, and does not
  convert to or from Explicit VR Big Endian.
- :func:`classify_status` - success, warning or failure of a C-STORE response (PS3.7 C, PS3.4 B.2.3).

I/O: :class:`StorageSession` holds one association and sends instance files one after another,
logging one INFO line per association and one line per instance (DEBUG for a success, INFO for
a warning status, WARNING for a failure). A file sent in its own transfer syntax
is not decoded: its File Meta Information is skipped (:func:`split_part10`) and its data set
bytes go out as they are, after a command set built directly (:func:`encode_store_request`,
:func:`p_data_buffers`), with pynetdicom's reactor paused once per session rather than once
per instance (see :meth:`StorageSession._send_file`). Transcoding goes through pydicom
(``Dataset.decompress`` / ``Dataset.compress`` with the installed plugins) and keeps the SOP
Instance UID (pydicom would mint a new one by default). The reaction to a failure (continue
or stop, ``profile.storage_scu.on_failure``) is the caller's (appliance.jobs.runner), because it
decides about the rest of the job.
"""

from __future__ import annotations

__all__ = [
    "InstanceFile",
    "Part10Meta",
    "split_part10",
    "encode_store_request",
    "p_data_fragments",
    "p_data_buffers",
    "StoreOutcome",
    "StorageSession",
    "plan_contexts",
    "choose_transfer_syntax",
    "classify_status",
    "transcode",
    "read_instance_header",
    "can_encode",
    "can_decode",
    "MAX_CONTEXTS",
]

import functools
import logging
import os
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import _config as pynetdicom_config
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA

from ..config import Node
from ..errors import UsageError
from ..profile import Profile, SOPClass
from .requestor import Context, open_association, status_text
from .upper_layer import SUPPORTED as FAST_PATH_SUPPORTED, quiet_standard_handlers

LOGGER = logging.getLogger(__name__)

# PS3.8 9.3.2.2: presentation context ids are odd numbers 1..255.
MAX_CONTEXTS = 128

UNCOMPRESSED_LE = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
UNCOMPRESSED = UNCOMPRESSED_LE + (ExplicitVRBigEndian,)

# Encapsulated syntaxes whose pixel data is always reversible (PS3.5 8.2, A.4).
LOSSLESS_COMPRESSED = frozenset(
    {
        "1.2.840.10008.1.2.5",  # RLE Lossless
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless Only
        "1.2.840.10008.1.2.4.92",  # JPEG 2000 Part 2 Multi-component Lossless Only
        "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    }
)

Category = Literal["success", "warning", "failure"]


# --- policy ------------------------------------------------------------------------------------


def classify_status(code: int) -> Category:
    """Success, warning or failure for a C-STORE response status (PS3.7 C, PS3.4 B.2.3)."""
    if code == 0x0000:
        return "success"
    if code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
        return "warning"
    return "failure"


def is_lossy(ts: str) -> bool:
    """True for encapsulated syntaxes that may hold lossy pixel data."""
    uid = UID(ts)
    return uid.is_encapsulated and ts not in LOSSLESS_COMPRESSED


def can_encode(ts: str) -> bool:
    """True if pydicom has an available (plugin installed) encoder for *ts*."""
    from pydicom.pixels import get_encoder

    try:
        return bool(get_encoder(ts).is_available)
    except (NotImplementedError, ValueError):
        return False


def can_decode(ts: str) -> bool:
    """True if pydicom has an available decoder for the encapsulated syntax *ts*."""
    from pydicom.pixels import get_decoder

    try:
        return bool(get_decoder(ts).is_available)
    except (NotImplementedError, ValueError):
        return False


def storage_class(profile: Profile, sop_class_uid: str) -> SOPClass | None:
    """The profile's storage SCU row for *sop_class_uid*, or None when the product does not send it."""
    for c in profile.classes(service="storage", role="scu"):
        if c.uid == sop_class_uid:
            return c
    return None


def plan_contexts(profile: Profile, sop_class_uids: Sequence[str], limit: int = MAX_CONTEXTS) -> list[list[Context]]:
    """Presentation contexts to propose, split into associations of at most *limit* contexts.

    Classes keep their first-seen order; each class gets one context per transfer syntax of
    the profile's list for it (``Profile.scu_transfer_syntaxes``), in that order. Classes the
    profile does not send are left out (the caller fails those instances).
    """
    batches: list[list[Context]] = []
    current: list[Context] = []
    seen: set[str] = set()
    for uid in sop_class_uids:
        if uid in seen:
            continue
        seen.add(uid)
        row = storage_class(profile, uid)
        if row is None:
            continue
        syntaxes = list(dict.fromkeys(profile.scu_transfer_syntaxes(row)))[:limit]
        if not syntaxes:
            continue
        if len(current) + len(syntaxes) > limit:
            batches.append(current)
            current = []
        current.extend(Context(uid, (ts,)) for ts in syntaxes)
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True)
class Choice:
    transfer_syntax: str
    convert: bool


def choose_transfer_syntax(
    source_ts: str,
    accepted: Sequence[str],
    *,
    encodable=can_encode,  # type: ignore[no-untyped-def]
    decodable=can_decode,  # type: ignore[no-untyped-def]
) -> Choice | None:
    """The transfer syntax to send an instance in, or None when none of *accepted* will do.

    *accepted* are the syntaxes the archive accepted for the instance's class, in the
    profile's (proposal) order. See the module docstring for the rules.
    """
    if source_ts in accepted:
        return Choice(source_ts, False)
    if is_lossy(source_ts) or source_ts == ExplicitVRBigEndian:
        return None
    source_is_pixels = source_ts in UNCOMPRESSED_LE or decodable(source_ts)
    if not source_is_pixels:
        return None
    for ts in accepted:
        if ts in UNCOMPRESSED_LE:
            return Choice(ts, True)
        if ts in LOSSLESS_COMPRESSED and encodable(ts):
            return Choice(ts, True)
    return None


# --- reading files without decoding them -------------------------------------------------------

# Files up to this size are read whole and sent from memory; larger ones are streamed by
# pynetdicom (STORE_SEND_CHUNKED_DATASET) so that a multi-frame file never sits in memory.
READ_WHOLE_LIMIT = 64 * 1024 * 1024
# pynetdicom's DUL idle sleep while a storage session's association is open (its default: 1 ms).
SESSION_POLL_DELAY = 0.0002
_META_PEEK = 8192
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
_TAG_VR = struct.Struct("<HH2s")


@dataclass(frozen=True)
class Part10Meta:
    """What the File Meta Information of a Part 10 file says, and where its data set starts."""

    offset: int
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


def split_part10(head: bytes) -> Part10Meta | None:
    """Walk the File Meta Information (group 0002, always Explicit VR Little Endian, PS3.10 7.1)
    at the start of *head*; None when *head* is not a Part 10 file or its meta group does not
    end inside *head*. Nothing is decoded with pydicom."""
    if len(head) < 132 or head[128:132] != b"DICM":
        return None
    pos = 132
    values: dict[int, str] = {}
    while True:
        if pos + 8 > len(head):
            return None
        group, elem, vr = _TAG_VR.unpack_from(head, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            if pos + 12 > len(head):
                return None
            (length,) = struct.unpack_from("<L", head, pos + 8)
            start = pos + 12
        else:
            (length,) = struct.unpack_from("<H", head, pos + 6)
            start = pos + 8
        if length == 0xFFFFFFFF or start + length > len(head):
            return None
        if elem in (0x0002, 0x0003, 0x0010):
            values[elem] = head[start:start + length].rstrip(b"\0 ").decode("ascii", "replace")
        pos = start + length
    if not all(values.get(e) for e in (0x0002, 0x0003, 0x0010)):
        return None
    return Part10Meta(pos, values[0x0002], values[0x0003], values[0x0010])


def encode_store_request(message_id: int, sop_class_uid: str, sop_instance_uid: str, priority: int = 2) -> bytes:
    """The command set of a C-STORE-RQ with a data set (Implicit VR Little Endian, PS3.7 9.3.1.1).

    The same bytes as pynetdicom's ``C_STORE_RQ`` encoding without Move Originator
    attributes: group length, Affected SOP Class UID, Command Field 0001H, Message ID,
    Priority, Command Data Set Type 0001H, Affected SOP Instance UID.
    """
    def element(elem: int, value: bytes) -> bytes:
        return struct.pack("<HHL", 0x0000, elem, len(value)) + value

    def uid(value: str) -> bytes:
        raw = value.encode("ascii")
        return raw + b"\0" if len(raw) % 2 else raw

    body = b"".join((
        element(0x0002, uid(sop_class_uid)),
        element(0x0100, struct.pack("<H", 0x0001)),
        element(0x0110, struct.pack("<H", message_id)),
        element(0x0700, struct.pack("<H", priority)),
        element(0x0800, struct.pack("<H", 0x0001)),
        element(0x1000, uid(sop_instance_uid)),
    ))
    return element(0x0000, struct.pack("<L", len(body))) + body


def _fragments(command: bytes, dataset: bytes | memoryview, max_pdu: int) -> Iterator[tuple[int, memoryview]]:
    """(message control header, bytes) of each PDV of one DIMSE message, each PDV within the
    peer's *max_pdu* (0 = unlimited), as pynetdicom fragments them: the command set in its own
    PDUs, then the data set (PS3.8 E.2)."""
    size = max_pdu - 6 if max_pdu else max(len(command), len(dataset), 1)
    for flags, payload in ((0x01, memoryview(command)), (0x00, memoryview(dataset))):
        total = len(payload)
        start = 0
        while True:
            end = min(start + size, total)
            last = 0x02 if end >= total else 0x00
            yield flags | last, payload[start:end]
            if last:
                break
            start = end


def p_data_fragments(context_id: int, command: bytes, dataset: bytes | memoryview, max_pdu: int) -> Iterator[P_DATA]:
    """P-DATA primitives carrying one DIMSE message, one PDV each (:func:`_fragments`)."""
    for control, fragment in _fragments(command, dataset, max_pdu):
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, b"".join((bytes((control,)), fragment))))
        yield pdata


# a P-DATA-TF PDU with one PDV, up to its data: PDU type, reserved, PDU length; PDV item
# length, presentation context ID, message control header (PS3.8 9.3.5, E.2)
_P_DATA_HEAD = struct.Struct(">BBLLBB")


def p_data_buffers(context_id: int, command: bytes, dataset: bytes | memoryview, max_pdu: int) -> list[Any]:
    """The P-DATA-TF PDUs of :func:`p_data_fragments` as the bytes to write, in order: each
    PDU's 12-byte head, then its fragment (a view of *command* or *dataset*, not a copy)."""
    buffers: list[Any] = []
    for control, fragment in _fragments(command, dataset, max_pdu):
        n = len(fragment)
        buffers.append(_P_DATA_HEAD.pack(0x04, 0, n + 6, n + 2, context_id, control))
        buffers.append(fragment)
    return buffers


# --- instances ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceFile:
    """A Part 10 file to send: where it is and what it is (read from its header)."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    size: int


def read_instance_header(path: str | Path, *, resolve: bool = True) -> InstanceFile:
    """Read the identifying UIDs of a DICOM Part 10 file (pixel data is not read).

    The path kept is the file's resolved path; with *resolve* False, *path* as given (for
    absolute paths already resolved).

    The File Meta Information says what the file holds (Media Storage SOP Class/Instance
    UID, Transfer Syntax UID); it is read without pydicom when it is complete. Otherwise the
    data set's SOP Class/Instance UIDs are read with pydicom.

    Raises
    ------
    UsageError
        The file is missing, unreadable or not a DICOM Part 10 file with SOP Class/Instance UIDs.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            meta = split_part10(fh.read(_META_PEEK))
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", "give existing files or folders") from None
    except OSError as exc:
        raise UsageError(f"{path}: not a DICOM Part 10 file ({exc})",
                         "give DICOM files (with the 'DICM' preamble)") from None
    if meta is not None:
        return InstanceFile(path.resolve() if resolve else path, meta.sop_class_uid, meta.sop_instance_uid,
                            meta.transfer_syntax_uid, size)
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", "give existing files or folders") from None
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{path}: not a DICOM Part 10 file ({exc})", "give DICOM files (with the 'DICM' preamble)") from None
    meta_ds = ds.file_meta
    ts = meta_ds.get("TransferSyntaxUID")
    sop_class = meta_ds.get("MediaStorageSOPClassUID") or ds.get("SOPClassUID")
    sop_uid = meta_ds.get("MediaStorageSOPInstanceUID") or ds.get("SOPInstanceUID")
    if not ts or not sop_class or not sop_uid:
        raise UsageError(
            f"{path}: DICOM file without Transfer Syntax, SOP Class or SOP Instance UID",
            "write the file with its File Meta Information (pydicom: enforce_file_format=True)",
        )
    return InstanceFile(path.resolve() if resolve else path, str(sop_class), str(sop_uid), str(ts), size)


def transcode(ds: Dataset, target_ts: str) -> Dataset:
    """Re-encode *ds* (in place) in *target_ts*, keeping its SOP Instance UID.

    Compressed sources are decompressed first; compressed targets are encoded through
    pydicom's encoder plugins. Raises pydicom's errors when a codec fails.
    """
    target = UID(target_ts)
    source = UID(ds.file_meta.TransferSyntaxUID)
    if source == target:
        return ds
    if source.is_encapsulated:
        ds.decompress(generate_instance_uid=False)
    if target.is_encapsulated:
        ds.compress(target, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = target
    ds.set_original_encoding(target.is_implicit_VR, target.is_little_endian, ds.original_character_set)
    return ds


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreOutcome:
    """What happened to one instance."""

    instance: InstanceFile
    category: Category
    status: int | None  # DIMSE status; None when nothing was sent or no response came
    transfer_syntax: str | None  # what it was sent in
    converted: bool
    error: str  # "" on success
    connection_lost: bool = False  # the association is gone (abort, time-out): nothing more can be sent on it
    elapsed: float = 0.0


_chunked_lock = threading.Lock()
_chunked_users = 0
_chunked_previous = False


@contextmanager
def _chunked_send() -> Iterator[None]:
    """Stream files without decoding while our sends run.

    pynetdicom reads ``_config.STORE_SEND_CHUNKED_DATASET`` when ``send_c_store`` is given a
    path (Datasets are unaffected); it is set only while a path is being sent by this module
    and restored when the last such send ends.
    """
    global _chunked_users, _chunked_previous
    with _chunked_lock:
        if _chunked_users == 0:
            _chunked_previous = pynetdicom_config.STORE_SEND_CHUNKED_DATASET
            pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True
        _chunked_users += 1
    try:
        yield
    finally:
        with _chunked_lock:
            _chunked_users -= 1
            if _chunked_users == 0:
                pynetdicom_config.STORE_SEND_CHUNKED_DATASET = _chunked_previous


class StorageSession:
    """One association to an archive, proposing *contexts*; send instances with :meth:`send`.

    Use :meth:`open` (a context manager). The association is released at the end, or aborted
    by :meth:`abort` (the products that stop a job after a failure abort it).
    """

    def __init__(self, profile: Profile, node: Node, assoc: Association, ae_title: str) -> None:
        self.profile = profile
        self.node = node
        self.assoc = assoc
        self.ae_title = ae_title
        self.message_id = 0
        self._classes_sent: dict[str, bool] = {}
        self._then: InstanceFile | None = None  # sent next (see send)
        self._prefetched: "tuple[Path, tuple[Part10Meta, bytes] | str] | None" = None
        # sop class -> accepted transfer syntaxes in proposal (context id) order
        self.accepted: dict[str, list[str]] = {}
        self._context_ids: dict[tuple[str, str], int] = {}
        for cx in sorted(assoc.accepted_contexts, key=lambda c: c.context_id):
            if cx.as_scu is False:
                continue
            self.accepted.setdefault(str(cx.abstract_syntax), []).append(str(cx.transfer_syntax[0]))
            self._context_ids.setdefault((str(cx.abstract_syntax), str(cx.transfer_syntax[0])), int(cx.context_id))
        # the fast path (see _send_file) needs pynetdicom 3.0's reactor pause protocol
        self.fast = FAST_PATH_SUPPORTED and hasattr(assoc, "_reactor_checkpoint")
        if self.fast:
            quiet_standard_handlers(assoc)
            # pynetdicom's DUL thread sleeps this long whenever it finds nothing to do (1 ms by
            # default): the first PDU of each request and each response wait for it. pynetdicom
            # documents the delay as its latency/idle-CPU trade-off; a session is busy while
            # it lasts, so it polls more often (0.2 ms: -10 % per instance, measured).
            assoc.dul._run_loop_delay = SESSION_POLL_DELAY

    @classmethod
    @contextmanager
    def open(cls, profile: Profile, node: Node, ae_title: str, contexts: Sequence[Context]) -> Iterator["StorageSession"]:
        """Associate with *node*; raises NetworkError when that fails (see requestor.open_association)."""
        dimse = profile.network.timeouts.dimse
        with open_association(profile, node, ae_title, contexts, purpose="C-STORE",
                              dimse_timeout=None if dimse == 0 else (dimse or 30.0)) as assoc:
            session = cls(profile, node, assoc, ae_title)
            LOGGER.info(
                "association %s -> %s for C-STORE: %d of %d presentation contexts accepted (%d classes), peer max PDU %s",
                ae_title, node, len(assoc.accepted_contexts), len(contexts),
                len(session.accepted), assoc.acceptor.maximum_length,
            )
            yield session

    @property
    def is_established(self) -> bool:
        return bool(self.assoc.is_established)

    def abort(self) -> None:
        if self.assoc.is_established:
            self.assoc.abort()
            LOGGER.info("association %s -> %s aborted", self.ae_title, self.node)

    def _sends(self, sop_class_uid: str) -> bool:
        """Whether the profile sends *sop_class_uid* (a storage SCU class of its statement)."""
        known = self._classes_sent.get(sop_class_uid)
        if known is None:
            known = self._classes_sent[sop_class_uid] = storage_class(self.profile, sop_class_uid) is not None
        return known

    def _next_id(self) -> int:
        self.message_id = self.message_id % 65535 + 1
        return self.message_id

    # --- the fast path ----------------------------------------------------------------------
    #
    # pynetdicom's send_c_store pauses the association's reactor thread for every request and
    # waits for it to reach its pause point, which it checks only after a 1 ms sleep: ~1 ms
    # per instance (profiled). A session sends instances one after another and
    # expects nothing else on its association, so the reactor is paused once and stays
    # paused while the session sends (pynetdicom's release and abort resume it). A file
    # is read as it is, its File Meta Information skipped by split_part10, and its data set
    # bytes, after a command set built by encode_store_request, are written by this thread
    # as P-DATA-TF PDUs (p_data_buffers, EventDrivenDUL.write_p_data) or, where that upper
    # layer cannot (TLS, PDU event handlers), queued to pynetdicom's DUL as P-DATA
    # primitives (p_data_fragments): nothing is decoded or re-encoded with pydicom.
    # (pynetdicom's DIMSE provider is bypassed for the request only; no EVT_DIMSE_SENT is
    # triggered for it. The response comes through pynetdicom's DIMSE provider.)

    def _pause_reactor(self, timeout: float = 5.0) -> None:
        """Stop the association's reactor thread from taking DIMSE messages, as pynetdicom's
        ``send_*`` methods do, but once for the session, and without their race.

        The reactor sets ``_is_paused`` just before it waits at the checkpoint and clears it
        just after it passed; then it takes one message off the queue. Seeing ``_is_paused``
        once is not enough: the reactor may have just passed the checkpoint and still take a
        message (pynetdicom's ``send_c_store`` has that window before every request; under
        load the reactor then takes the C-STORE response, logs "unexpected C-STORE service
        message" and the request times out). So the flag is checked again after 2 ms, two
        reactor periods, before anything is sent: by then such an iteration is over.
        """
        assoc = self.assoc
        if not assoc._reactor_checkpoint.is_set():
            return
        assoc._reactor_checkpoint.clear()
        deadline = time.monotonic() + timeout
        for _ in range(2):
            while not assoc._is_paused and time.monotonic() < deadline:
                time.sleep(0.0001)
            time.sleep(0.002)

    @staticmethod
    def _read(path: Path) -> "tuple[Part10Meta, bytes] | str":
        """A file's File Meta Information and its data set bytes, or why it cannot be sent."""
        with open(path, "rb") as fh:
            head = fh.read(_META_PEEK)
            meta = split_part10(head)
            if meta is None:  # a meta group longer than the peek, or not Part 10: look at all of it
                head += fh.read()
                meta = split_part10(head)
                if meta is None:
                    return f"{path} is no longer a DICOM Part 10 file with File Meta Information"
                return meta, head[meta.offset:]
            fh.seek(meta.offset)
            return meta, fh.read()

    def _prefetch(self) -> None:
        """Read the file of the instance sent next (:meth:`send` ``then``) while the peer works
        on this one: the read is then off the path between two requests."""
        nxt, self._then = self._then, None
        if nxt is None or not self.fast or nxt.size > READ_WHOLE_LIMIT:
            return
        try:
            self._prefetched = (nxt.path, self._read(nxt.path))
        except OSError:
            self._prefetched = None  # read (and reported) when it is sent

    def _send_file(self, inst: InstanceFile, transfer_syntax: str) -> Dataset | str:
        """C-STORE the file of *inst* as it is; the response status, or why it was not sent."""
        prefetched, self._prefetched = self._prefetched, None
        loaded = prefetched[1] if prefetched is not None and prefetched[0] == inst.path else self._read(inst.path)
        if isinstance(loaded, str):
            return loaded
        meta, data = loaded
        if meta.sop_instance_uid != inst.sop_instance_uid:
            return f"{inst.path} now holds another instance ({meta.sop_instance_uid})"
        if not data:
            return f"{inst.path} holds no data set after its File Meta Information"
        if meta.transfer_syntax_uid != transfer_syntax:
            return (f"{inst.path} is now encoded in {_name(meta.transfer_syntax_uid)}, not "
                    f"{_name(transfer_syntax)} as when it was queued; queue it again")
        context_id = self._context_ids.get((meta.sop_class_uid, transfer_syntax))
        if context_id is None:
            return (f"{self.node} accepted no presentation context for {_name(meta.sop_class_uid)} "
                    f"in {_name(transfer_syntax)}")
        message_id = self._next_id()
        try:
            command = encode_store_request(message_id, meta.sop_class_uid, meta.sop_instance_uid)
        except UnicodeEncodeError:
            return f"{inst.path}: its File Meta Information holds a UID that is not ASCII"
        self._pause_reactor()
        max_pdu = self.assoc.acceptor.maximum_length or 0
        dul = self.assoc.dul
        if hasattr(dul, "write_p_data") and dul.write_p_data(p_data_buffers(context_id, command, data, max_pdu)):
            pass  # the event-driven upper layer, in the data transfer state: written from this thread
        elif hasattr(dul, "send_pdus"):  # queued together, one wake-up
            dul.send_pdus(list(p_data_fragments(context_id, command, data, max_pdu)))
        else:
            for pdata in p_data_fragments(context_id, command, data, max_pdu):
                dul.send_pdu(pdata)
        self._prefetch()
        _, rsp = self.assoc.dimse.get_msg(block=True)
        if rsp is None:  # aborted, connection closed or DIMSE time-out
            self._no_response()
            return Dataset()
        if not isinstance(rsp, C_STORE) or not rsp.is_valid_response or rsp.MessageIDBeingRespondedTo != message_id:
            LOGGER.error("received an invalid or unexpected response to C-STORE %s from %s", inst.sop_instance_uid,
                         self.node)
            return Dataset()
        if rsp.Status == 0x0000 and all(getattr(rsp, k, None) is None for k in rsp.STATUS_OPTIONAL_KEYWORDS):
            return _SUCCESS  # (most responses: no Dataset built for each)
        status = Dataset()
        status.Status = rsp.Status
        for keyword in rsp.STATUS_OPTIONAL_KEYWORDS:
            if getattr(rsp, keyword, None) is not None:
                setattr(status, keyword, getattr(rsp, keyword))
        return status

    def _no_response(self) -> None:
        """As pynetdicom after a request got no response: abort unless the peer already did."""
        self.assoc._reactor_checkpoint.set()  # let the reactor see what ended the association
        if self.assoc.acse.is_aborted():
            return
        if self.assoc.is_established:
            LOGGER.error("no C-STORE response from %s within the DIMSE time-out: aborting", self.node)
            self.assoc.abort()

    def send(self, inst: InstanceFile, then: InstanceFile | None = None) -> StoreOutcome:
        """Send one instance; never raises for DICOM or codec problems (they are outcomes).

        *then*: the instance the caller sends next on this session, if it knows; its file is
        read while the peer works on this one.
        """
        t0 = time.perf_counter()
        self._then = then

        def outcome(category: Category, status: int | None, ts: str | None, converted: bool, error: str,
                    lost: bool = False) -> StoreOutcome:
            out = StoreOutcome(inst, category, status, ts, converted, error, lost, time.perf_counter() - t0)
            _log_outcome(out, self.node)
            return out

        if not self.assoc.is_established:
            return outcome("failure", None, None, False, "association no longer established", True)
        if not self._sends(inst.sop_class_uid):
            return outcome("failure", None, None, False,
                           f"{self.profile.id} does not send {_name(inst.sop_class_uid)} "
                           f"({inst.sop_class_uid}): not a storage SCU class of its statement")
        accepted = self.accepted.get(inst.sop_class_uid, [])
        if not accepted:
            return outcome("failure", None, None, False,
                           f"{self.node} accepted no presentation context for {_name(inst.sop_class_uid)}")
        choice = choose_transfer_syntax(inst.transfer_syntax_uid, accepted)
        if choice is None:
            return outcome("failure", None, None, False,
                           f"cannot send {_name(inst.transfer_syntax_uid)} data: {self.node} accepted only "
                           + ", ".join(_name(t) for t in accepted)
                           + (" (lossy data is never converted)" if is_lossy(inst.transfer_syntax_uid) else
                              " and no lossless encoder for those is installed"))
        try:
            if choice.convert:
                ds = dcmread(inst.path)
                if str(ds.SOPInstanceUID) != inst.sop_instance_uid:
                    return outcome("failure", None, None, False,
                                   f"{inst.path} now holds another instance ({ds.SOPInstanceUID})")
                try:
                    transcode(ds, choice.transfer_syntax)
                except Exception as exc:  # codec plugins raise many kinds
                    return outcome("failure", None, choice.transfer_syntax, True,
                                   f"cannot convert to {_name(choice.transfer_syntax)}: {exc}")
                rsp = self.assoc.send_c_store(ds, msg_id=self._next_id())
            elif self.fast and inst.size <= READ_WHOLE_LIMIT:
                sent = self._send_file(inst, choice.transfer_syntax)
                if isinstance(sent, str):
                    return outcome("failure", None, choice.transfer_syntax, False, sent)
                rsp = sent
            else:
                with _chunked_send():
                    rsp = self.assoc.send_c_store(inst.path, msg_id=self._next_id())
        except (ValueError, AttributeError) as exc:  # no matching context, unencodable data
            return outcome("failure", None, choice.transfer_syntax, choice.convert, f"not sent: {exc}")
        except FileNotFoundError:
            return outcome("failure", None, None, False, f"{inst.path} no longer exists")
        except OSError as exc:
            return outcome("failure", None, choice.transfer_syntax, choice.convert, f"cannot read {inst.path}: {exc}")
        if "Status" not in rsp:
            # pynetdicom aborts the association when no (valid) response came
            return outcome("failure", None, choice.transfer_syntax, choice.convert,
                           "no C-STORE response (association aborted or DIMSE time-out)", True)
        code = int(rsp.Status)
        category = classify_status(code)
        error = "" if category == "success" else status_text(rsp)
        return outcome(category, code, choice.transfer_syntax, choice.convert, error)


_SUCCESS = Dataset()  # the status of a plain success response (shared, never changed)
_SUCCESS.Status = 0x0000


@functools.lru_cache(maxsize=256)
def _name(uid: str) -> str:
    return UID(uid).name


def _log_outcome(out: StoreOutcome, node: Node) -> None:
    # one line per instance: successes only with -v (DEBUG; a job logs its start and its
    # counts), warning statuses at INFO, failures at WARNING
    level = {"success": logging.DEBUG, "warning": logging.INFO}.get(out.category, logging.WARNING)
    if not LOGGER.isEnabledFor(level):
        return
    inst = out.instance
    how = _name(out.transfer_syntax) if out.transfer_syntax else "-"
    if out.converted and out.transfer_syntax:
        how += f" (converted from {_name(inst.transfer_syntax_uid)})"
    status = f"0x{out.status:04X}" if out.status is not None else "-"
    LOGGER.log(level, "C-STORE %s %s %s to %s: %s, %s, %d bytes, %.0f ms%s", out.category, status,
               inst.sop_instance_uid, node, _name(inst.sop_class_uid), how, inst.size,
               out.elapsed * 1000, f": {out.error}" if out.error else "")

