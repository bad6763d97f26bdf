"""A faster DICOM Upper Layer: pynetdicom's, with its polling replaced by waits.

pynetdicom 3.0 runs two threads per association that poll: the DUL reactor sleeps 1 ms
whenever it has nothing to do (so a response queued waits up to 1 ms before it is written,
and the first PDU of the next message up to 1 ms before it is read), and the association
reactor sleeps 1 ms before every look at its message queue. Each P-DATA-TF PDU is read 4096
bytes per ``recv``, decoded into objects and passed through two events and the state machine
(~0.1 ms per PDU); each PDU sent takes the same way back; every command set is decoded and
encoded with pydicom, and every request is handed from the DUL thread to the association's
and its response back. Profiling ``storescu`` into ``vscanner serve`` and ``vscanner send``
into ``storescp`` showed these as the largest share of the per-instance time.

This module changes when the threads wake up, how P-DATA is read and written, and how
C-STORE messages are decoded and encoded, by subclassing (never patching) pynetdicom:

- :class:`EventDrivenDUL` waits in ``select`` on the association's socket and on a wake-up
  socket that :meth:`~EventDrivenDUL.send_pdu` and :meth:`~EventDrivenDUL.kill_dul` signal,
  instead of sleeping. It reads each PDU in one piece and hands the PDVs of a P-DATA-TF
  received in the data transfer state straight to the DIMSE provider (what the state
  machine's DT-2 does), and writes the queued P-DATA with one ``sendmsg`` (DT-1). A sender
  may also write the PDUs of a request itself (:meth:`~EventDrivenDUL.write_p_data`, in the
  data transfer state, under the lock the reactor works under), so they go out without a
  hand-over to the reactor. Every other PDU goes through pynetdicom's decoding, events and
  state machine. A C-STORE-RQ
  (acceptor) or C-STORE-RSP (requestor) is recognised from its command set
  (:func:`parse_store_command`, :func:`parse_store_response`); anything else, and any
  command set these parsers do not fully understand, goes to pynetdicom's DIMSE provider.
- :class:`AcceptorDIMSE` encodes C-STORE responses with :func:`encode_store_response` (the
  same bytes; anything unusual still goes through pynetdicom).
- :class:`AcceptorAssociation` uses both; a complete C-STORE request is served by
  pynetdicom's Storage service class in the DUL thread when the association's own thread is
  idle (:meth:`AcceptorAssociation.serve_inline`), else queued to it. Its reactor waits on
  the DIMSE message queue instead of sleeping before every look; the pause protocol
  (``_reactor_checkpoint``) is unchanged. pynetdicom's standard logging handlers are
  unbound unless its log is at DEBUG.
- :class:`ResponseSafeAssociation` (the base of all these associations) gives a response
  its reactor took by mistake back to the ``send_*`` call waiting for it.
- :class:`ProductAE` makes ``start_server`` use them (through pynetdicom's documented
  ``server_class`` / ``request_handler`` parameters); :class:`RequestorAE` does the same
  for the associations ``associate`` requests (:class:`RequestorAssociation`).

The subclasses override private methods of pynetdicom 3.0.x. With any other pynetdicom
version (:data:`SUPPORTED` is False) :class:`ProductAE` and :class:`RequestorAE` behave
exactly like ``pynetdicom.AE``. TLS sockets keep pynetdicom's own loop (``select`` cannot
see data the TLS layer buffered).
"""

from __future__ import annotations

__all__ = [
    "EventDrivenDUL",
    "AcceptorAssociation",
    "AcceptorDIMSE",
    "ProductAE",
    "RequestorAE",
    "RequestorAssociation",
    "ResponseSafeAssociation",
    "SUPPORTED",
    "encode_store_response",
    "parse_store_command",
    "parse_store_response",
    "quiet_standard_handlers",
    "set_nodelay",
]

import logging
import queue
import re
import select
import socket
import ssl
import struct
import threading
import time
from copy import deepcopy
from datetime import datetime
from io import BytesIO
from typing import Any

import pynetdicom
from pydicom.uid import UID
from pynetdicom import AE, _config, evt
from pynetdicom._globals import MODE_ACCEPTOR
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import decode
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import uid_to_service_class
from pynetdicom.transport import (
    AssociationServer,
    AssociationSocket,
    RequestHandler,
    ThreadedAssociationServer,
)

LOGGER = logging.getLogger(__name__)
# The code below that is pynetdicom's logs where pynetdicom logs it.
_DUL_LOG = logging.getLogger("pynetdicom.dul")
_ASSOC_LOG = logging.getLogger("pynetdicom.association")

#: The overridden internals are those of pynetdicom 3.0.x.
SUPPORTED = pynetdicom.__version__.startswith("3.0.")

# Longest wait of an idle DUL reactor: the ARTIM timer is checked at least this often.
_IDLE_WAIT = 0.01
# Longest association-control PDU read (an A-ASSOCIATE-RQ with 128 presentation contexts and
# user identity is some tens of KiB), and longest P-DATA-TF when no maximum PDU length was set.
_CONTROL_PDU_LIMIT = 1 << 20
_UNLIMITED_PDU = 64 << 20
# Longest wait of the association reactor for a message. A received request, release or abort
# wakes it at once (the DUL notifies it); the network time-out, the DUL thread's end and a
# pause asked by another thread's send_* call are noticed within this time.
_REACTOR_WAIT = 0.01
# how long the DUL thread waits for the association's thread to be idle before it queues a
# C-STORE request to it instead of serving it itself
_INLINE_WAIT = 0.005
_PDU_TYPES = frozenset(range(0x01, 0x08))
# P-DATA-TF PDUs read in one go when they are already waiting (a 525 kB instance is 17 PDUs
# at a 32 KiB maximum); the reactor then looks at its queues and timers again.
_P_DATA_BURST = 64
# Bytes asked of the socket per recv: several PDUs of a data set at once (one system call
# instead of three per PDU); a longer PDU grows the buffer.
_RECV_BUFFER = 256 * 1024
_PDU_HEAD = struct.Struct(">BBL")
_UL_BE = struct.Struct(">L")
_PDV_HEAD = struct.Struct(">LB")  # a presentation data value item's length and context ID
# buffers written per sendmsg call (IOV_MAX is 1024 on Linux): the PDUs of a few messages
_SEND_BUFFERS = 300
_TAG_LEN = struct.Struct("<HHL")  # an Implicit VR Little Endian element's tag and length

_STANDARD_HANDLERS = (
    (evt.EVT_DIMSE_RECV, standard_dimse_recv_handler),
    (evt.EVT_DIMSE_SENT, standard_dimse_sent_handler),
    (evt.EVT_PDU_RECV, standard_pdu_recv_handler),
    (evt.EVT_PDU_SENT, standard_pdu_sent_handler),
)


def quiet_standard_handlers(target: Any) -> None:
    """Unbind pynetdicom's standard logging handlers from *target* unless its log is at DEBUG.

    *target* is an association or a server (both have the public ``unbind``). Those handlers
    only write pynetdicom's DEBUG log, but run for every PDU and DIMSE message (building an
    event object each time, and copying a received data set just to say it is not empty).
    """
    if logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        return
    for event, handler in _STANDARD_HANDLERS:
        try:
            target.unbind(event, handler)
        except (ValueError, KeyError):
            pass


class _NotifyingQueue(queue.Queue):
    """A queue that calls *on_put* after each ``put``."""

    def __init__(self, on_put: Any) -> None:
        super().__init__()
        self._on_put = on_put

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:  # noqa: D102
        super().put(item, block, timeout)
        self._on_put()


class GuardedDUL(DULServiceProvider):
    """pynetdicom's DUL service provider whose ``receive_pdu`` wait ends when the DUL ends."""

    def receive_pdu(self, wait: bool = False, timeout: float | None = None) -> Any:
        """pynetdicom's ``receive_pdu``, except that a wait ends as soon as the DUL has ended.

        The acceptor waits here for the A-ASSOCIATE-RQ for up to the product's association
        time-out (30-60 s). A peer that connects and closes (or sends garbage the state
        machine answers by closing) ends the DUL at once, yet pynetdicom's wait went on for the
        whole time-out, holding one of the product's few association slots: a dozen such
        connections made the scanner refuse real peers with "local limit exceeded". Nothing
        can arrive once the DUL thread is gone, so the wait ends with None (the association
        then ends as on a time-out).
        """
        if not wait:
            return super().receive_pdu(wait=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = _IDLE_WAIT * 5 if deadline is None else min(_IDLE_WAIT * 5, max(deadline - time.monotonic(), 0))
            try:
                return self.to_user_queue.get(block=True, timeout=step)
            except queue.Empty:
                pass
            if not self.is_alive() and self._started_once():
                return super().receive_pdu(wait=False)  # anything queued just before the end
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def _started_once(self) -> bool:
        # a Thread that was never started is not alive either; only a finished one counts
        return getattr(self, "_started", None) is not None and self._started.is_set()



def set_nodelay(event) -> None:  # type: ignore[no-untyped-def]
    """``EVT_CONN_OPEN`` handler: disable Nagle's algorithm on the association's socket.

    Without it every C-STORE on Linux loopback waits ~45 ms for a delayed ACK.
    """
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # e.g. the peer already closed
            LOGGER.debug("TCP_NODELAY not set: %s", exc)


class EventDrivenDUL(GuardedDUL):
    """pynetdicom's DUL service provider, waiting for work instead of sleeping 1 ms.

    The reactor loop is pynetdicom's (``run_reactor`` of 3.0.4) with ``time.sleep`` replaced
    by :meth:`_wait`: ``select`` on the peer socket and a wake-up socket pair, written to by
    :meth:`send_pdu` (primitives from the DIMSE/ACSE threads) and :meth:`kill_dul`. Every
    other source of work is the reactor's own thread (socket events, the state machine's
    actions), which loops without waiting after any event. The ARTIM timer is checked at
    least every 10 ms when idle.
    """

    def __init__(self, assoc: Association) -> None:
        super().__init__(assoc)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # received bytes not yet taken as PDUs: self._rbuf[self._rlo:self._rhi] (plain sockets)
        self._rbuf = bytearray(_RECV_BUFFER)
        self._rlo = self._rhi = 0
        # a command set being received here: (context ID, fragments); a C-STORE data set:
        # (context ID, command fields, data set)
        self._command: tuple[int, list[bytes]] | None = None
        self._store: tuple[int, dict[str, Any], BytesIO] | None = None
        # what the state machine gives the association (A-RELEASE, A-ABORT indications) wakes it
        self.to_user_queue = _NotifyingQueue(self._wake_association)
        # held by the reactor while it works (not while it waits), and by write_p_data
        self._io = threading.Lock()

    def _wake_association(self) -> None:
        messages = getattr(getattr(self.assoc, "dimse", None), "msg_queue", None)
        if messages is not None:
            with messages.not_empty:
                messages.not_empty.notify_all()

    # --- waking up --------------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # buffer full (already signalled) or closed (reactor gone)
            pass

    def send_pdu(self, primitive: Any) -> None:
        """pynetdicom's ``send_pdu``, waking the reactor when this primitive is the only one
        queued (with more, whoever queued the first woke it, and it empties the queue before it
        waits again: one system call per message instead of one per PDU)."""
        super().send_pdu(primitive)
        if threading.current_thread() is not self and self.to_provider_queue.qsize() == 1:
            self._wake()  # (the reactor's own thread looks at its queue next anyway)

    def send_pdus(self, primitives: Any) -> None:
        """Queue several primitives (the P-DATA of one message) and wake the reactor once."""
        for primitive in primitives:
            DULServiceProvider.send_pdu(self, primitive)
        if threading.current_thread() is not self:
            self._wake()

    def write_p_data(self, buffers: list[Any]) -> bool:
        """Write the P-DATA-TF PDUs of one message (*buffers*: their bytes in order) from the
        calling thread, as the reactor's DT-1 would, without handing them to the reactor; False
        when that cannot be done here (then queue the P-DATA primitives with :meth:`send_pdus`).

        Only in the data transfer state with nothing queued for or by the reactor, on a plain
        socket, and when no handler wants EVT_PDU_SENT/EVT_DATA_SENT. The reactor does not run
        while the PDUs are written (it works under the same lock). A peer that takes none of
        them within the DIMSE time-out, or a connection that fails, ends the association as a
        closed connection does (Evt17): the waiting request then gets no response.
        """
        sock = self._plain_socket()
        if sock is None or threading.current_thread() is self:
            return False
        with self._io:
            if (self.state_machine.current_state != "Sta6" or not self.to_provider_queue.empty()
                    or not self.event_queue.empty() or self.assoc.get_handlers(evt.EVT_PDU_SENT)
                    or self.assoc.get_handlers(evt.EVT_DATA_SENT)):
                return False
            try:
                _send_all(sock, buffers, timeout=self.assoc.dimse_timeout)
            except OSError as exc:
                _DUL_LOG.error("cannot write to the peer (%s): closing the connection", exc or "timed out")
                self.event_queue.put("Evt17")
                self._wake()
        return True

    def kill_dul(self) -> None:  # noqa: D102
        super().kill_dul()
        self._wake()

    def stop_dul(self) -> bool:
        """pynetdicom's ``stop_dul`` (stop the reactor once in Sta1), waking the reactor so that
        it sees the flag at once rather than after its idle wait."""
        if self.state_machine.current_state == "Sta1":
            self._kill_thread = True
            self._wake()
            while self.is_alive():
                time.sleep(self._run_loop_delay)
            return True
        return False

    def _plain_socket(self) -> socket.socket | None:
        sock = self.socket.socket if self.socket is not None else None
        if sock is None or isinstance(sock, ssl.SSLSocket) or sock.fileno() < 0:
            return None
        return sock

    def _wait(self) -> None:
        """Block until the peer sent data, a primitive was queued, or 10 ms passed."""
        sock = self._plain_socket()
        if sock is None:
            time.sleep(self._run_loop_delay)
            return
        if not self.to_provider_queue.empty() or not self.event_queue.empty() or self._buffered_pdu():
            return
        try:
            readable, _, _ = select.select([sock, self._wake_r], [], [], _IDLE_WAIT)
        except (OSError, ValueError):  # closed meanwhile: the next loop notices
            time.sleep(self._run_loop_delay)
            return
        if self._wake_r in readable:
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:
                pass

    # --- reading PDUs -----------------------------------------------------------------------
    #
    # pynetdicom reads a PDU 4096 bytes per recv, copies it, decodes it into PDU item objects,
    # triggers two events, queues "Evt10", and its state machine (DT-2) turns the PDU into a
    # P-DATA primitive for the DIMSE provider: ~0.1 ms per P-DATA-TF PDU, 17 PDUs per 525 kB
    # instance at a 32 KiB max PDU. Here the socket is read with recv_into into a receive
    # buffer, up to 256 KiB per call (PDUs that arrived together are taken from it without
    # further system calls; nothing is read ahead of what the peer sent), and,
    # in the data transfer state (Sta6, where Evt10 only ever means DT-2) with nobody bound to
    # EVT_DATA_RECV/EVT_PDU_RECV, its PDVs go straight to the DIMSE provider as the P-DATA
    # primitive DT-2 would have built. Every other PDU, and every PDU in any other state,
    # takes pynetdicom's path.

    def _length_limit(self, pdu_type: int) -> int:
        """Largest PDU length read: a P-DATA-TF within our maximum PDU length (with slack for
        peers that count it differently; :data:`_UNLIMITED_PDU` when we announced no limit),
        every other PDU within :data:`_CONTROL_PDU_LIMIT`."""
        if pdu_type != 0x04:
            return _CONTROL_PDU_LIMIT
        local = self.assoc.acceptor if self.assoc.is_acceptor else self.assoc.requestor
        ours = int(getattr(local, "maximum_length", 0) or 0)
        return _UNLIMITED_PDU if ours == 0 else max(2 * ours, _CONTROL_PDU_LIMIT)

    def _fill(self, sock: socket.socket, need: int) -> bool:
        """Have at least *need* bytes in the receive buffer, reading *sock* (blocking, as
        pynetdicom reads a PDU); False when the peer closed first."""
        while self._rhi - self._rlo < need:
            if self._rlo + need > len(self._rbuf):  # make room: what is unread to the start
                unread = self._rbuf[self._rlo:self._rhi]
                if need > len(self._rbuf):  # a PDU longer than the buffer
                    self._rbuf = bytearray(need)
                self._rbuf[: len(unread)] = unread
                self._rlo, self._rhi = 0, len(unread)
            n = sock.recv_into(memoryview(self._rbuf)[self._rhi:])
            if not n:
                return False
            self._rhi += n
        return True

    def _pull(self, sock: socket.socket) -> None:
        """Add whatever the socket already holds to the receive buffer (never blocks)."""
        if self._rhi == len(self._rbuf):
            if self._rlo == 0:
                return
            unread = self._rbuf[self._rlo:self._rhi]
            self._rbuf[: len(unread)] = unread
            self._rlo, self._rhi = 0, len(unread)
        try:
            n = sock.recv_into(memoryview(self._rbuf)[self._rhi:], 0, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # the reactor's next look at the socket handles it
        self._rhi += n

    def _buffered_pdu(self) -> int:
        """The type of the complete PDU at the head of the receive buffer, or 0."""
        lo, have = self._rlo, self._rhi - self._rlo
        if have < 6:
            return 0
        pdu_type, _, length = _PDU_HEAD.unpack_from(self._rbuf, lo)
        return pdu_type if have >= 6 + length else 0

    def _direct_p_data(self) -> bool:
        return (self.state_machine.current_state == "Sta6" and self.event_queue.empty() and self._recv_pdu.empty()
                and not self.assoc.get_handlers(evt.EVT_DATA_RECV) and not self.assoc.get_handlers(evt.EVT_PDU_RECV))

    def _is_transport_event(self) -> bool:
        """pynetdicom's check for incoming data, counting what is already in the receive buffer."""
        if self._rhi > self._rlo and self._plain_socket() is not None:
            if self._buffered_pdu() or (self.socket is not None and self.socket.ready):
                self._read_pdu_data()
                return True
            return False  # part of a PDU: wait for the rest
        return super()._is_transport_event()

    def _read_pdu_data(self) -> None:
        """pynetdicom's ``_read_pdu_data``, reading the PDU in one piece (see above).

        After a P-DATA-TF that went straight to the DIMSE provider, the next P-DATA-TF is read
        at once when it is already waiting (the rest of a data set usually is), up to
        :data:`_P_DATA_BURST` PDUs and while nothing waits to be sent, without a pass through
        the reactor loop and its two ``select`` calls per PDU.
        """
        sock = self._plain_socket()
        if sock is None:
            super()._read_pdu_data()
            return
        for _ in range(_P_DATA_BURST):
            if not self._read_one_pdu(sock) or not self.to_provider_queue.empty():
                return  # (a primitive to send, e.g. a response, goes first)
            if self._buffered_pdu() != 0x04:
                self._pull(sock)
                if self._buffered_pdu() != 0x04:
                    return

    def _read_one_pdu(self, sock: socket.socket) -> bool:
        """Read one PDU; True when it was a P-DATA-TF given straight to the DIMSE provider."""
        try:
            complete = self._fill(sock, 6)
        except (OSError, TimeoutError) as exc:
            _DUL_LOG.error("Connection closed before the entire PDU was received")
            _DUL_LOG.exception(exc)
            self.event_queue.put("Evt17")
            return False
        if not complete:
            self.event_queue.put("Evt17")
            return False
        pdu_type, _, length = _PDU_HEAD.unpack_from(self._rbuf, self._rlo)
        if pdu_type not in _PDU_TYPES:
            _DUL_LOG.error(f"Unknown PDU type received '0x{pdu_type:02X}'")
            self.event_queue.put("Evt19")
            return False
        limit = self._length_limit(pdu_type)
        if length > limit:
            # the buffer is sized by the header: a lying length must not make us allocate it
            _DUL_LOG.error(f"PDU of type 0x{pdu_type:02X} announces {length} bytes, more than the "
                           f"{limit} accepted: aborting")
            self.event_queue.put("Evt19")
            return False
        try:
            complete = self._fill(sock, 6 + length)
        except (OSError, TimeoutError) as exc:
            _DUL_LOG.error("Connection closed before the entire PDU was received")
            _DUL_LOG.exception(exc)
            self.event_queue.put("Evt17")
            return False
        if not complete:
            got = self._rhi - self._rlo
            _DUL_LOG.error(f"The received PDU is shorter than expected ({got} of {6 + length} bytes received)")
            self.event_queue.put("Evt17")
            return False
        lo, hi = self._rlo, self._rlo + 6 + length
        if pdu_type == 0x04 and self._store is not None and self._direct_p_data():
            complete = self._store_fragments(lo + 6, hi)
            if complete is not None:  # taken from the receive buffer as it is
                self._rlo = hi
                if self._rlo == self._rhi:
                    self._rlo = self._rhi = 0
                if complete:
                    store, self._store = self._store, None
                    self._deliver_store(store)
                return True
        data = self._rbuf[lo:hi]  # a copy: the buffer is reused
        self._rlo = hi
        if self._rlo == self._rhi:
            self._rlo = self._rhi = 0
        if pdu_type == 0x04 and self._direct_p_data():
            return self._p_data_to_dimse(data)
        try:
            pdu, event = self._decode_pdu(data)
            self.event_queue.put(event)
        except Exception as exc:
            _DUL_LOG.error("Unable to decode the received PDU data")
            _DUL_LOG.exception(exc)
            self.event_queue.put("Evt19")
            return False
        self._recv_pdu.put(pdu)
        return False

    def _p_data_to_dimse(self, data: bytearray) -> bool:
        """DT-2 for a P-DATA-TF PDU (PS3.8 9.3.5): its PDVs to the DIMSE provider. A malformed
        PDV list is Evt19 (invalid PDU), as pynetdicom's decoder makes it; False then.

        C-STORE requests are assembled here (:meth:`_take_pdv`) when nobody listens to
        ``EVT_DIMSE_RECV``; every other message goes to pynetdicom's DIMSE provider as before.
        """
        view = memoryview(data)
        pdvs: list[tuple[int, memoryview]] = []
        offset, end = 6, len(data)
        while offset < end:
            item_length = struct.unpack_from(">L", data, offset)[0] if offset + 4 <= end else 0
            if item_length < 2 or offset + 4 + item_length > end:
                _DUL_LOG.error("Unable to decode the received PDU data")
                self.event_queue.put("Evt19")
                return False
            # (presentation context ID, message control header + fragment), as P_DATA_TF.to_primitive gives
            pdvs.append((data[offset + 4], view[offset + 5:offset + 4 + item_length]))
            offset += 4 + item_length
        if not self._assembles_stores():
            primitive = P_DATA()
            primitive.presentation_data_value_list.extend(pdvs)
            self.assoc.dimse.receive_primitive(primitive)
            return True
        return all(self._take_pdv(context_id, pdv) for context_id, pdv in pdvs)

    # --- C-STORE requests -------------------------------------------------------------------
    #
    # pynetdicom's DIMSE provider decodes each received message's command set with pydicom,
    # builds the request primitive through validating setters, and hands it to the association
    # thread, which wakes up, serves it and hands the response back to this thread: about
    # 0.5 ms per C-STORE, for a few dozen bytes of command and two thread switches. Here a
    # C-STORE-RQ is recognised from its command set (:func:`parse_store_command`), its data
    # set fragments are gathered as pynetdicom gathers them, and the complete request is served
    # by pynetdicom's own Storage service class -- in this thread when the association thread
    # is idle (:meth:`AcceptorAssociation.serve_inline`), else queued to it as pynetdicom queues
    # it. Every other command (and any command set this parser does not fully understand) is
    # passed to pynetdicom's DIMSE provider unchanged.

    def _assembles_stores(self) -> bool:
        """Whether C-STORE requests (an acceptor) or C-STORE responses (a requestor) are
        recognised here."""
        if self.assoc.get_handlers(evt.EVT_DIMSE_RECV):
            return False
        if isinstance(self.assoc, AcceptorAssociation):
            return not _config.STORE_RECV_CHUNKED_DATASET
        return not self.assoc.is_acceptor

    def _to_dimse(self, context_id: int, pdv: Any) -> None:
        primitive = P_DATA()
        primitive.presentation_data_value_list.append((context_id, pdv))
        self.assoc.dimse.receive_primitive(primitive)

    def _invalid_message(self, why: str) -> bool:
        _DUL_LOG.error(f"Invalid DIMSE message fragment: {why}")
        self._command = self._store = None
        self.event_queue.put("Evt19")
        return False

    def _take_pdv(self, context_id: int, pdv: memoryview) -> bool:
        """One received PDV (message control header + fragment, PS3.8 E.2); False on Evt19."""
        header = pdv[0]
        store = self._store
        if store is not None:  # a C-STORE data set being received
            if header & 1 or context_id != store[0]:
                return self._invalid_message("a command fragment or another presentation context "
                                             "inside a C-STORE data set")
            store[2].write(pdv[1:])
            if header & 2:
                self._store = None
                self._deliver_store(store)
            return True
        if self._command is not None:  # a command set being received
            if not header & 1 or context_id != self._command[0]:
                return self._invalid_message("a data set fragment or another presentation context "
                                             "inside a command set")
            self._command[1].append(bytes(pdv[1:]))
        elif self.assoc.dimse.message is not None or not header & 1:
            self._to_dimse(context_id, pdv)  # pynetdicom's message, or whatever pynetdicom makes of it
            return True
        else:
            self._command = (context_id, [bytes(pdv[1:])])
        if header & 2:  # the last command fragment
            command = b"".join(self._command[1])
            self._command = None
            if context_id not in self.assoc._accepted_cx:
                self._to_dimse(context_id, memoryview(b"\x03" + command))
            elif not isinstance(self.assoc, AcceptorAssociation):  # a requestor: its C-STORE responses
                rsp = parse_store_response(command)
                if rsp is None:
                    self._to_dimse(context_id, memoryview(b"\x03" + command))
                else:
                    rsp._context_id = context_id
                    self.assoc.dimse.msg_queue.put((context_id, rsp))  # as pynetdicom queues it
            else:
                fields = parse_store_command(command)
                if fields is None:
                    self._to_dimse(context_id, memoryview(b"\x03" + command))
                else:
                    self._store = (context_id, fields, BytesIO())
        return True

    def _store_fragments(self, lo: int, hi: int) -> bool | None:
        """The PDVs in ``self._rbuf[lo:hi]`` (a P-DATA-TF's), when all are fragments of the
        C-STORE data set being received: written to it, and whether the last one ended it.
        None (nothing taken) for anything else -- :meth:`_take_pdv` then handles them."""
        buf, context_id, data = self._rbuf, self._store[0], self._store[2]  # type: ignore[index]
        fragments = []
        last = False
        pos = lo
        while pos < hi:
            if last or pos + 6 > hi:
                return None  # something after the last fragment, or a malformed item
            (item_length,) = _UL_BE.unpack_from(buf, pos)
            header = buf[pos + 5]
            if item_length < 2 or pos + 4 + item_length > hi or buf[pos + 4] != context_id or header & 1:
                return None
            fragments.append((pos + 6, pos + 4 + item_length))
            last = bool(header & 2)
            pos += 4 + item_length
        with memoryview(buf) as view:
            for start, end in fragments:
                data.write(view[start:end])
        return last

    def _deliver_store(self, store: tuple[int, dict[str, Any], BytesIO]) -> None:
        context_id, fields, data = store
        req = C_STORE()
        req.MessageID = fields["MessageID"]
        req.Priority = fields.get("Priority", 2)
        # the UIDs were checked by parse_store_command: pynetdicom's validating setters skipped
        req._affected_sop_class_uid = UID(fields["AffectedSOPClassUID"])
        req._affected_sop_instance_uid = UID(fields["AffectedSOPInstanceUID"])
        if "MoveOriginatorApplicationEntityTitle" in fields:
            req.MoveOriginatorApplicationEntityTitle = fields["MoveOriginatorApplicationEntityTitle"]
        if "MoveOriginatorMessageID" in fields:
            req.MoveOriginatorMessageID = fields["MoveOriginatorMessageID"]
        req.DataSet = data
        req._context_id = context_id
        req._dataset_path = None
        req._dataset_file = None
        assoc = self.assoc
        if not assoc.serve_inline(req, context_id):
            assoc.dimse.msg_queue.put((context_id, req))

    # --- sending P-DATA ---------------------------------------------------------------------
    #
    # pynetdicom sends each queued P-DATA primitive through Evt9 and the state machine's DT-1:
    # a PDU object built and encoded, one send per PDU, two events. In the data transfer state
    # with nobody bound to EVT_PDU_SENT / EVT_DATA_SENT, DT-1 is only "send the P-DATA-TF": the
    # primitives waiting at the head of the queue (the PDUs of one message, usually) are
    # framed here and written with one sendmsg.

    def _send_p_data(self) -> bool:
        """DT-1 (PS3.8 9.3.5) for the P-DATA primitives at the head of the queue; False when
        there are none or pynetdicom's path applies."""
        pending = self.to_provider_queue.queue
        if not pending or not isinstance(pending[0], P_DATA):
            return False
        sock = self._plain_socket()
        if (sock is None or self.state_machine.current_state != "Sta6" or not self.event_queue.empty()
                or self.assoc.get_handlers(evt.EVT_PDU_SENT) or self.assoc.get_handlers(evt.EVT_DATA_SENT)):
            return False
        buffers: list[Any] = []
        while pending and isinstance(pending[0], P_DATA) and len(buffers) < _SEND_BUFFERS:
            primitive = self.to_provider_queue.get_nowait()
            pdvs = primitive.presentation_data_value_list
            buffers.append(_PDU_HEAD.pack(0x04, 0, sum(5 + len(data) for _, data in pdvs)))
            for context_id, data in pdvs:  # (message control header + fragment)
                buffers.append(_PDV_HEAD.pack(len(data) + 1, context_id))
                buffers.append(data)
        try:
            _send_all(sock, buffers)
        except OSError:  # as pynetdicom's AssociationSocket.send: the connection is gone
            self.event_queue.put("Evt17")
        return True

    # --- the reactor ------------------------------------------------------------------------

    def run_reactor(self) -> None:
        """pynetdicom 3.0.4's reactor loop, waiting in :meth:`_wait` instead of sleeping."""
        try:
            self._reactor()
        finally:
            self._wake_association()
            for s in (self._wake_r, self._wake_w):
                try:
                    s.close()
                except OSError:
                    pass

    def _reactor(self) -> None:
        self._idle_timer.start()
        sleep = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
                sleep = True
            if sleep:
                self._wait()
            with self._io:
                step = self._step()
            if step is None:
                return
            sleep = step

    def _step(self) -> bool | None:
        """One pass of the reactor loop: True when it found nothing to do (then it waits),
        None when the reactor ends."""
        if self._kill_thread:
            return None
        if self.artim_timer.expired:
            self.event_queue.put("Evt18")
        try:
            if self._send_p_data() or self._process_recv_primitive():
                pass
            elif self._is_transport_event():
                self._idle_timer.restart()
        except Exception as exc:  # as pynetdicom: abort on any error in the reactor
            _DUL_LOG.error("Exception in DUL.run(), aborting association")
            _DUL_LOG.exception(exc)
            abort_pdu = A_ABORT_RQ()
            abort_pdu.source = 0x02
            abort_pdu.reason_diagnostic = 0x00
            if self.socket is not None:
                self.socket.send(abort_pdu.encode())
            self.assoc.is_aborted = True
            self.assoc.is_established = False
            self.assoc._kill = True
            self._kill_thread = True
            return None
        try:
            event = self.event_queue.get(block=False)
        except queue.Empty:
            return True
        self.state_machine.do_action(event)
        return False


def _send_all(sock: socket.socket, buffers: list[Any], timeout: float | None = None) -> None:
    """Write *buffers* in order, with as few ``sendmsg`` calls as the socket allows; with a
    *timeout*, TimeoutError when the peer has taken nothing for that long."""
    views = [memoryview(b).cast("B") for b in buffers]
    while views:
        if timeout is None:
            sent = sock.sendmsg(views)
        else:
            try:
                sent = sock.sendmsg(views, [], socket.MSG_DONTWAIT)
            except BlockingIOError:
                if not select.select([], [sock], [], timeout)[1]:
                    raise TimeoutError(f"the peer took no data for {timeout:g} s") from None
                continue
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


# --- C-STORE requests ------------------------------------------------------------------------

_US = struct.Struct("<H")
_PLAIN_UID = re.compile(r"[0-9.]{1,64}")
# command elements these parsers read, by element number: (parameter name, kind)
_COMMAND_ELEMENTS = {
    0x0002: ("AffectedSOPClassUID", "UI"),
    0x0100: ("CommandField", "US"),
    0x0110: ("MessageID", "US"),
    0x0120: ("MessageIDBeingRespondedTo", "US"),
    0x0700: ("Priority", "US"),
    0x0800: ("CommandDataSetType", "US"),
    0x0900: ("Status", "US"),
    0x0902: ("ErrorComment", "LO"),
    0x1000: ("AffectedSOPInstanceUID", "UI"),
    0x1030: ("MoveOriginatorApplicationEntityTitle", "AE"),
    0x1031: ("MoveOriginatorMessageID", "US"),
}
_STORE_RQ = frozenset(("CommandField", "MessageID", "AffectedSOPClassUID", "AffectedSOPInstanceUID", "Priority",
                       "CommandDataSetType", "MoveOriginatorApplicationEntityTitle", "MoveOriginatorMessageID"))
_STORE_RSP = frozenset(("CommandField", "MessageID", "MessageIDBeingRespondedTo", "AffectedSOPClassUID",
                        "AffectedSOPInstanceUID", "CommandDataSetType", "Status", "ErrorComment"))


def _command_fields(command: bytes, allowed: frozenset[str]) -> dict[str, Any] | None:
    """The elements of an Implicit VR Little Endian command set, by parameter name; None when
    it holds anything not in *allowed*, an element twice, a length past the end, a UID that is
    not 1-64 digits and dots (trailing NUL/space padding removed), a text that is not plain
    printable ASCII within its length (AE 16, LO 64), or a multi-valued element."""
    fields: dict[str, Any] = {}
    offset, end = 0, len(command)
    while offset < end:
        if offset + 8 > end:
            return None
        group, element, length = _TAG_LEN.unpack_from(command, offset)
        offset += 8
        if group != 0 or offset + length > end:
            return None
        value = command[offset:offset + length]
        offset += length
        if element == 0x0000:  # Command Group Length
            continue
        name, kind = _COMMAND_ELEMENTS.get(element, ("", ""))
        if name not in allowed or name in fields:
            return None
        if kind == "US":
            if length != 2:
                return None
            parsed: Any = _US.unpack(value)[0]
        elif kind == "UI":
            parsed = value.rstrip(b"\0 ").decode("latin-1")
            if not _PLAIN_UID.fullmatch(parsed):
                return None
        else:  # AE, LO
            parsed = value.decode("latin-1").strip(" ")
            if (len(parsed) > (16 if kind == "AE" else 64) or not (parsed.isascii() and parsed.isprintable())
                    or "\\" in parsed or (kind == "AE" and not parsed)):
                return None
        fields[name] = parsed
    return fields


def parse_store_command(command: bytes) -> dict[str, Any] | None:
    """The fields of a C-STORE-RQ command set (Implicit VR Little Endian) followed by a data set.

    Keys are pynetdicom's primitive parameter names (``MessageID``, ``AffectedSOPClassUID``,
    ``AffectedSOPInstanceUID``, ``Priority``, ``MoveOriginatorApplicationEntityTitle``,
    ``MoveOriginatorMessageID``; ``CommandField`` and ``CommandDataSetType`` too). None for
    any other command, and for a C-STORE-RQ this parser does not fully understand -- an
    element it does not know or that appears twice, a length past the end, a UID that is not
    1-64 digits and dots (trailing NUL/space padding removed), a Priority other than 0-2, an
    unusual Move Originator AE title: pynetdicom's DIMSE provider decodes those, as before.
    """
    fields = _command_fields(command, _STORE_RQ)
    if fields is None or fields.get("CommandField") != 0x0001 or fields.get("CommandDataSetType", 0x0101) == 0x0101:
        return None
    if not {"MessageID", "AffectedSOPClassUID", "AffectedSOPInstanceUID"} <= fields.keys():
        return None
    if fields.get("Priority", 2) not in (0, 1, 2):
        return None
    return fields


def parse_store_response(command: bytes) -> C_STORE | None:
    """A C-STORE-RSP command set as pynetdicom's response primitive, or None.

    None for any other command and for a response this parser does not fully understand
    (see :func:`_command_fields`; an Offending Element, for instance): pynetdicom's DIMSE
    provider decodes those.
    """
    fields = _command_fields(command, _STORE_RSP)
    if (fields is None or fields.get("CommandField") != 0x8001 or fields.get("CommandDataSetType") != 0x0101
            or "MessageIDBeingRespondedTo" not in fields or "Status" not in fields):
        return None
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = fields["MessageIDBeingRespondedTo"]
    rsp.Status = fields["Status"]
    if "MessageID" in fields:
        rsp.MessageID = fields["MessageID"]
    # the UIDs were checked above: pynetdicom's validating setters skipped
    if "AffectedSOPClassUID" in fields:
        rsp._affected_sop_class_uid = UID(fields["AffectedSOPClassUID"])
    if "AffectedSOPInstanceUID" in fields:
        rsp._affected_sop_instance_uid = UID(fields["AffectedSOPInstanceUID"])
    if "ErrorComment" in fields:
        rsp.ErrorComment = fields["ErrorComment"]
    rsp._dataset_path = None
    rsp._dataset_file = None
    return rsp


# --- C-STORE responses -----------------------------------------------------------------------

def _element(elem: int, value: bytes) -> bytes:
    return _TAG_LEN.pack(0x0000, elem, len(value)) + value


def _text(value: str, pad: bytes) -> bytes:
    raw = value.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def encode_store_response(primitive: C_STORE) -> bytes | None:
    """The command set of a C-STORE-RSP (Implicit VR Little Endian, PS3.7 9.3.1.2), or None.

    The same bytes as pynetdicom's ``C_STORE_RSP`` encoding (group length, Affected SOP
    Class UID, Command Field 8001H, Message ID Being Responded To, Command Data Set Type
    0101H, Status, Error Comment, Affected SOP Instance UID), built with ``struct`` instead of
    two pydicom encodes. None when the response has anything else (an Offending Element, a
    non-ASCII comment, no UIDs): pynetdicom then encodes it.
    """
    if (primitive.MessageIDBeingRespondedTo is None or primitive.Status is None
            or primitive.AffectedSOPClassUID is None or primitive.AffectedSOPInstanceUID is None
            or primitive.OffendingElement is not None):
        return None
    try:
        comment = primitive.ErrorComment
        body = b"".join((
            _element(0x0002, _text(str(primitive.AffectedSOPClassUID), b"\0")),
            _element(0x0100, struct.pack("<H", 0x8001)),
            _element(0x0120, struct.pack("<H", int(primitive.MessageIDBeingRespondedTo))),
            _element(0x0800, struct.pack("<H", 0x0101)),
            _element(0x0900, struct.pack("<H", int(primitive.Status))),
            _element(0x0902, _text(str(comment), b" ")) if comment is not None else b"",
            _element(0x1000, _text(str(primitive.AffectedSOPInstanceUID), b"\0")),
        ))
    except (UnicodeEncodeError, struct.error):
        return None
    return _element(0x0000, struct.pack("<L", len(body))) + body


class _SentStoreResponse(C_STORE_RSP):
    """The C-STORE-RSP given to ``EVT_DIMSE_SENT`` handlers: its command set is decoded from the
    encoded bytes only when a handler looks at it."""

    def __init__(self, encoded: bytes, context_id: int) -> None:  # no super().__init__: nothing to build
        self.context_id = context_id
        self.data_set = None
        self._data_set_path = None
        self._data_set_file = None
        self._encoded = encoded
        self._command_set: Any = None

    @property  # type: ignore[override]
    def command_set(self) -> Any:
        if self._command_set is None:
            self._command_set = decode(BytesIO(self._encoded), True, True)
        return self._command_set

    @command_set.setter
    def command_set(self, value: Any) -> None:
        self._command_set = value


class AcceptorDIMSE(DIMSEServiceProvider):
    """pynetdicom's DIMSE provider; C-STORE responses are encoded by :func:`encode_store_response`.

    pynetdicom builds a pydicom Dataset for every response and encodes it twice (once for
    the group length): ~0.5 ms per C-STORE-RSP when profiled, for ~100 bytes.
    The order is pynetdicom's: ``EVT_DIMSE_SENT`` is triggered, then the P-DATA is queued.
    """

    def send_msg(self, primitive: Any, context_id: int) -> None:  # noqa: D102
        encoded = encode_store_response(primitive) if isinstance(primitive, C_STORE) else None
        max_pdu = self.maximum_pdu_size
        if encoded is None or (max_pdu and len(encoded) + 6 > max_pdu):  # the PDV must fit in one PDU
            super().send_msg(primitive, context_id)
            return
        evt.trigger(self.assoc, evt.EVT_DIMSE_SENT, {"message": _SentStoreResponse(encoded, context_id)})
        pdata = P_DATA()
        pdata.presentation_data_value_list.append((context_id, b"\x03" + encoded))  # last command fragment
        self.dul.send_pdu(pdata)


class ResponseSafeAssociation(Association):
    """pynetdicom's association, except that its reactor never discards the response a
    ``send_*`` call of another thread is waiting for.

    pynetdicom's ``send_*`` methods pause the reactor by clearing ``_reactor_checkpoint`` and
    waiting until ``_is_paused`` is true; the reactor sets that flag just before its wait at
    the checkpoint and clears it just after. A reactor that has just passed the checkpoint
    takes one more message off the queue: when the peer's response is already there (it
    comes within a fraction of a millisecond when the upper layer wakes on its arrival),
    pynetdicom logs "unexpected ... service message", drops it, and the request times out.
    Here a response taken while a sender is active (the checkpoint is cleared) goes back to
    the front of the queue, where the sender's ``get_msg`` finds it.
    """

    def _serve_request(self, msg: Any, context_id: int) -> None:  # noqa: D102 - pynetdicom's, see above
        if not msg.is_valid_request and not self._reactor_checkpoint.is_set():
            messages = self.dimse.msg_queue
            with messages.mutex:
                messages.queue.appendleft((context_id, msg))
                messages.not_empty.notify()
            return
        super()._serve_request(msg, context_id)


class RequestorAssociation(ResponseSafeAssociation):
    """A requested association (:class:`RequestorAE`): :class:`ResponseSafeAssociation`."""


class AcceptorAssociation(ResponseSafeAssociation):
    """An acceptor association with :class:`EventDrivenDUL` and a reactor that waits for messages.

    ``_run_reactor`` is pynetdicom 3.0.4's with its ``time.sleep(0.001)`` before every loop
    replaced by a wait of at most 1 ms for a DIMSE message: a received request is served as
    soon as it is complete; everything else is checked as often as before. The order
    "wait, pause point, take the message" is kept, so a ``send_*`` call that paused the
    reactor still gets its response.
    """

    def __init__(self, ae: AE, mode: str) -> None:
        super().__init__(ae, mode)
        self.dul = EventDrivenDUL(self)
        # the new DUL's timers, as pynetdicom sets them on its own: ARTIM = the association
        # time-out, idle = the network time-out (else they stay at 30 s and 60 s)
        self.acse_timeout = self.acse_timeout
        self.network_timeout = self.network_timeout
        self.dimse = AcceptorDIMSE(self)
        quiet_standard_handlers(self)  # the association binds them itself, besides the server's
        # serve_inline and this thread's taking of messages and pausing exclude each other
        self._inline = threading.Lock()
        self._serving = False  # this thread is serving a request
        self._inline_failed = False  # a request served inline raised: end the association

    def serve_inline(self, request: C_STORE, context_id: int) -> bool:
        """Serve the C-STORE *request* in the calling thread (the DUL's); False when it must be
        queued to this association's thread instead, as pynetdicom queues every request.

        Served here only when this association's thread is idle (waited for up to
        ``_INLINE_WAIT``): it is not serving a request,
        none is queued, nobody paused it to send something (pynetdicom's ``send_*`` methods
        clear ``_reactor_checkpoint`` first), and the association is established and not being
        released or aborted. It then stays idle until this call returns (:attr:`_inline`), so
        requests are still served one at a time and in order, exactly as pynetdicom's
        ``_serve_request`` would serve them, by pynetdicom's Storage service class.
        """
        # This thread waits a moment for the association's thread to become idle: it holds
        # the lock for microseconds, but may lose the GIL inside; and the response to a request
        # it served can reach the peer, and the peer's next request arrive here, just before it
        # marks itself idle again.
        deadline = time.monotonic() + _INLINE_WAIT
        while True:
            if not self._inline.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
                return False
            if not self._serving or time.monotonic() >= deadline:
                break
            self._inline.release()
            time.sleep(0.0001)
        try:
            if (self._serving or not self.dimse.msg_queue.empty() or not self._reactor_checkpoint.is_set()
                    or not self.is_established or self._sent_release or self._sent_abort or self._kill):
                return False
            context = self._accepted_cx.get(context_id)
            class_uid = str(request.AffectedSOPClassUID)
            class_uid = self.acceptor.accepted_common_extended.get(class_uid, (class_uid,))[0]
            service = StorageServiceClass if _config.UNRESTRICTED_STORAGE_SERVICE else uid_to_service_class(class_uid)
            if context is None or not issubclass(service, StorageServiceClass):
                return False  # pynetdicom's own thread handles (and logs) that
            self.dimse.cancel_req = {}
            try:
                service(self).SCP(request, context)
            except Exception as exc:  # as _serve_request, but never blocking this (the DUL) thread
                _ASSOC_LOG.exception(exc)
                self._inline_failed = True
                self.abort(block=False)
            self.dimse.cancel_req = {}
            return True
        finally:
            self._inline.release()

    def kill(self) -> None:
        """pynetdicom's ``kill``, polling the DUL's end every 1 ms instead of 10 ms: the DUL
        wakes when told to stop, so the association's slot (``max_associations_accepted``) is
        free ~1 ms after the release instead of ~10 ms."""
        self._reactor_checkpoint.set()
        self._kill = True
        self.is_established = False
        self._is_paused = True
        while self.dul.is_alive() and not self.dul.stop_dul():
            time.sleep(0.001)

    def _wait_for_message(self, timeout: float) -> None:
        q = self.dimse.msg_queue
        with q.not_empty:  # the queue's own condition (shares its lock)
            if not q.queue:
                q.not_empty.wait(timeout)

    def _run_reactor(self) -> None:
        self._is_paused = False
        while not self._kill:
            self._wait_for_message(_REACTOR_WAIT)

            with self._inline:  # (a request being served inline ends first)
                self._is_paused = True
            self._reactor_checkpoint.wait()
            self._is_paused = False

            with self._inline:
                context_id, msg = self.dimse.get_msg(block=False)
                self._serving = msg is not None
            if msg:
                try:
                    self._serve_request(msg, context_id)  # type: ignore[arg-type]
                finally:
                    self._serving = False

            if self._inline_failed:
                self.kill()
                return

            if self.is_established and self.acse.is_release_requested():
                self.acse.send_release(is_response=True)
                _ASSOC_LOG.info("Association Released")
                self.is_released = True
                self.is_established = False
                evt.trigger(self, evt.EVT_RELEASED, {})
                self.kill()
                return

            if self.acse.is_aborted():
                log_msg = "Association Aborted"
                if self.acse.is_aborted("a-p-abort"):
                    log_msg += " (A-P-ABORT)"
                _ASSOC_LOG.info(log_msg)
                self.dul.receive_pdu(wait=False)
                self.is_aborted = True
                self.is_established = False
                evt.trigger(self, evt.EVT_ABORTED, {})
                self.kill()
                return

            if not self.dul.is_alive():
                self.kill()
                return

            if self.dul.idle_timer_expired():
                _ASSOC_LOG.error("Network timeout reached")
                if self.network_timeout_response == "A-RELEASE":
                    self._is_paused = True
                    self._reactor_checkpoint.wait()
                    self.release()
                    self._is_paused = False
                else:
                    self.abort()
                self.kill()
                return


class GuardedAssociation(ResponseSafeAssociation):
    """pynetdicom's acceptor association with :class:`GuardedDUL` only (TLS sockets, where the
    event-driven reading of :class:`EventDrivenDUL` does not apply)."""

    def __init__(self, ae: AE, mode: str) -> None:
        super().__init__(ae, mode)
        self.dul = GuardedDUL(self)
        self.acse_timeout = self.acse_timeout  # the new DUL's ARTIM and idle timers (see AcceptorAssociation)
        self.network_timeout = self.network_timeout


class AcceptorRequestHandler(RequestHandler):
    """pynetdicom's request handler, creating an :class:`AcceptorAssociation`."""

    association_class: type = AcceptorAssociation

    def _create_association(self) -> Association:
        # pynetdicom 3.0.4 RequestHandler._create_association, with our Association class
        assoc = self.association_class(self.ae, MODE_ACCEPTOR)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        sock = AssociationSocket(assoc, client_socket=self.request)  # type: ignore[arg-type]
        assoc.set_socket(sock)
        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        assoc.acceptor.supported_contexts = deepcopy(self.server.contexts)
        assoc.requestor.address_info = self.remote
        for event in self.server._handlers:
            if event.is_intervention and self.server._handlers[event]:
                assoc.bind(event, *self.server._handlers[event])  # type: ignore[misc]
            elif isinstance(event, evt.NotificationEvent):
                for handler in self.server._handlers[event]:
                    assoc.bind(event, handler[0], handler[1])  # type: ignore[index]
        return assoc


class _Server(AssociationServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["request_handler"] = AcceptorRequestHandler
        super().__init__(*args, **kwargs)
        quiet_standard_handlers(self)


class _ThreadedServer(ThreadedAssociationServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["request_handler"] = AcceptorRequestHandler
        super().__init__(*args, **kwargs)
        quiet_standard_handlers(self)


_SERVERS: dict[type, type] = {AssociationServer: _Server, ThreadedAssociationServer: _ThreadedServer}


class GuardedRequestHandler(AcceptorRequestHandler):
    association_class = GuardedAssociation


class _TLSServer(AssociationServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["request_handler"] = GuardedRequestHandler
        super().__init__(*args, **kwargs)


class _TLSThreadedServer(ThreadedAssociationServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["request_handler"] = GuardedRequestHandler
        super().__init__(*args, **kwargs)


_TLS_SERVERS: dict[type, type] = {AssociationServer: _TLSServer, ThreadedAssociationServer: _TLSThreadedServer}


class RequestorAE(AE):
    """``pynetdicom.AE`` whose requested associations are :class:`RequestorAssociation` with
    :class:`EventDrivenDUL` (pynetdicom 3.0.x).

    pynetdicom's own DUL looks for the peer's answer every 1 ms (after a sleep), so a sender
    waits up to 1 ms for each C-STORE response; this one wakes when it arrives. The DUL is
    replaced in ``_create_socket``, which ``associate`` calls before it starts the DUL thread.
    """

    def _create_socket(self, assoc, address, tls_args):  # type: ignore[no-untyped-def, override]
        if SUPPORTED and type(assoc) is Association:
            assoc.__class__ = RequestorAssociation  # pynetdicom's class with one method overridden
            assoc.dul = EventDrivenDUL(assoc)
            assoc.acse_timeout = assoc.acse_timeout  # the new DUL's timers (see AcceptorAssociation)
            assoc.network_timeout = assoc.network_timeout
            quiet_standard_handlers(assoc)
        return super()._create_socket(assoc, address, tls_args)


class ProductAE(RequestorAE):
    """``pynetdicom.AE`` whose servers use :class:`AcceptorAssociation` (pynetdicom 3.0.x)."""

    def make_server(self, address, ae_title=None, contexts=None, ssl_context=None,  # type: ignore[no-untyped-def, override]
                    evt_handlers=None, server_class=None, **kwargs):
        if SUPPORTED:
            servers = _SERVERS if ssl_context is None else _TLS_SERVERS
            server_class = servers.get(server_class or AssociationServer, server_class)
        return super().make_server(address, ae_title=ae_title, contexts=contexts, ssl_context=ssl_context,
                                   evt_handlers=evt_handlers, server_class=server_class, **kwargs)
