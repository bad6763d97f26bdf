"""A raw DICOM Upper Layer client for fuzz and fault tests: it sends exactly the bytes it is
given, including ones no well-behaved library would send (bad lengths, unknown PDU types,
truncated streams, malformed data sets after a valid association).

Only what the tests need: A-ASSOCIATE-RQ encoding, A-ASSOCIATE-AC parsing (accepted contexts),
P-DATA-TF framing, DIMSE command sets in Implicit VR Little Endian, and reading the peer's
answer (a DIMSE response, an A-ABORT, a rejection or a closed connection) with a deadline.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_VR = "1.2.840.10008.1.2"
EXPLICIT_VR = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"


def _uid(text: str) -> bytes:
    raw = text.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def associate_rq(called: str, calling: str, contexts: list[tuple[int, str, list[str]]], max_pdu: int = 16384) -> bytes:
    """An A-ASSOCIATE-RQ PDU; *contexts* are ``(id, abstract syntax, [transfer syntaxes])``."""
    body = struct.pack(">HH", 1, 0) + called.ljust(16).encode("ascii")[:16] + calling.ljust(16).encode("ascii")[:16]
    body += b"\x00" * 32
    body += _item(0x10, _uid(APPLICATION_CONTEXT))
    for cid, abstract, syntaxes in contexts:
        sub = _item(0x30, _uid(abstract)) + b"".join(_item(0x40, _uid(ts)) for ts in syntaxes)
        body += _item(0x20, struct.pack(">BBBB", cid, 0, 0, 0) + sub)
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, _uid("1.2.826.0.1.3680043.10.543.9"))
    body += _item(0x50, user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def p_data(context_id: int, payload: bytes, command: bool, last: bool = True) -> bytes:
    """One P-DATA-TF PDU with one PDV."""
    header = (0x01 if command else 0x00) | (0x02 if last else 0x00)
    pdv = struct.pack(">IBB", len(payload) + 2, context_id, header) + payload
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def encode_implicit(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, ds)
    return fp.getvalue()


def command_set(field_: int, sop_class: str, message_id: int = 1, sop_instance: str | None = None,
                has_dataset: bool = True) -> bytes:
    """A DIMSE request command set (C-STORE 0x0001, C-FIND 0x0020, C-ECHO 0x0030, N-CREATE 0x0140)."""
    ds = Dataset()
    ds.AffectedSOPClassUID = sop_class
    ds.CommandField = field_
    ds.MessageID = message_id
    if field_ in (0x0001, 0x0020, 0x0021, 0x0010):  # the DIMSE-C requests with a priority
        ds.Priority = 0
    ds.CommandDataSetType = 0x0000 if has_dataset else 0x0101
    if sop_instance is not None:
        ds.AffectedSOPInstanceUID = sop_instance
    body = encode_implicit(ds)
    ds.CommandGroupLength = len(body)
    return encode_implicit(ds)


@dataclass
class Answer:
    """What the peer did: ``kind`` is ``"response"``, ``"abort"``, ``"reject"``, ``"release"``,
    ``"closed"`` or ``"timeout"``; ``statuses`` are the DIMSE statuses received."""

    kind: str
    statuses: list[int] = field(default_factory=list)
    pdu_types: list[int] = field(default_factory=list)


class RawAssociation:
    """A TCP connection that speaks just enough of the Upper Layer protocol."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.accepted: dict[int, tuple[int, str]] = {}  # context id -> (result, transfer syntax)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawAssociation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:  # the peer closed or reset: an acceptable answer to garbage
            return False

    def _recv_exact(self, n: int, deadline: float) -> bytes | None:
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(min(n - len(out), 1 << 16))
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            out += chunk
        return bytes(out)

    def read_pdu(self, deadline: float) -> tuple[int, bytes] | None:
        """The next PDU as ``(type, body)``; None when the connection was closed."""
        head = self._recv_exact(6, deadline)
        if head is None:
            return None
        kind, _, length = struct.unpack(">BBI", head)
        if length > 64 << 20:
            raise ValueError(f"peer sent a PDU of {length} bytes")
        body = self._recv_exact(length, deadline)
        if body is None:
            return None
        return kind, body

    def associate(self, called: str, calling: str, contexts: list[tuple[int, str, list[str]]]) -> Answer:
        self.send(associate_rq(called, calling, contexts))
        answer = self.read_answer(one_pdu=True)
        return answer

    def _parse_ac(self, body: bytes) -> None:
        pos = 68
        while pos + 4 <= len(body):
            kind, _, length = struct.unpack(">BBH", body[pos:pos + 4])
            item = body[pos + 4:pos + 4 + length]
            if kind == 0x21 and len(item) >= 4:
                cid, result = item[0], item[2]
                ts = ""
                if len(item) > 8 and item[4] == 0x40:
                    ts_len = struct.unpack(">H", item[6:8])[0]
                    ts = item[8:8 + ts_len].rstrip(b"\x00").decode("ascii", "replace")
                self.accepted[cid] = (result, ts)
            pos += 4 + length

    def read_answer(self, one_pdu: bool = False, timeout: float | None = None) -> Answer:
        """Read until a final DIMSE response, an abort, a rejection, a release or a close."""
        deadline = time.monotonic() + (timeout or self.timeout)
        answer = Answer("closed")
        command = bytearray()
        try:
            while True:
                pdu = self.read_pdu(deadline)
                if pdu is None:
                    answer.kind = "closed"
                    return answer
                kind, body = pdu
                answer.pdu_types.append(kind)
                if kind == 0x02:
                    self._parse_ac(body)
                    answer.kind = "accepted"
                    return answer
                if kind == 0x03:
                    answer.kind = "reject"
                    return answer
                if kind == 0x07:
                    answer.kind = "abort"
                    return answer
                if kind == 0x06:
                    answer.kind = "release"
                    return answer
                if kind == 0x04:
                    pos = 0
                    while pos + 6 <= len(body):
                        length = struct.unpack(">I", body[pos:pos + 4])[0]
                        header = body[pos + 5]
                        data = body[pos + 6:pos + 4 + length]
                        if header & 0x01:
                            command += data
                            if header & 0x02:
                                status = read_dataset(BytesIO(bytes(command)), True, True).get("Status")
                                command.clear()
                                if status is not None:
                                    answer.statuses.append(int(status))
                                    if int(status) not in (0xFF00, 0xFF01):
                                        answer.kind = "response"
                                        return answer
                        pos += 4 + length
                if one_pdu:
                    answer.kind = f"pdu-{kind:02x}"
                    return answer
        except TimeoutError:
            answer.kind = "timeout"
            return answer
        except OSError:
            answer.kind = "closed"
            return answer

    def release(self) -> Answer:
        self.send(struct.pack(">BBI", 0x05, 0, 4) + b"\x00" * 4)
        return self.read_answer()
