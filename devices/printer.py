"""The emulated film camera: a DICOM Print SCP that writes each printed film as a PNG.

:class:`FilmPrinter` accepts Basic Grayscale and Basic Color Print Management (the Meta SOP
classes, and their components, Printer, Print Job and Presentation LUT on contexts of their
own) and plays a film camera:

- Film Session, Film Box, Image Box and Presentation LUT objects per association, validated
  against the camera's configuration (film sizes, media, destinations, display formats,
  magnification types, densities); a bad value gets 0x0106 (invalid attribute value) with an
  error comment, as DCMTK's dcmprscp does;
- Film Box N-ACTION (or Film Session N-ACTION) prints: the film is rendered at the camera's
  resolution (``dpi``) - film size and orientation give the pixel size, the Image Display
  Format the boxes, Border / Empty Image Density the background, Magnification Type the
  interpolation, Polarity and Trim - and written to the output tray as ``film_NNNN.png``
  (one file per copy), with ``session_NNNN.json``, the manifest of the film session;
- a Print Job SOP instance per N-ACTION (returned in the Referenced Print Job Sequence),
  with execution status PENDING -> PRINTING -> DONE; while the camera is in FAILURE, jobs are
  held (PENDING, with the printer status info as Execution Status Info) and printed when the
  status clears;
- the printer status (Printer Status and Printer Status Info) is set at run time
  (:meth:`FilmPrinter.set_status`, the camera status line, ``vscanner printer status --set``)
  and reported by N-GET of the Printer SOP instance and by N-EVENT-REPORT (Printer events
  1/2/3, Print Job events 1-4) when ``send_events=True``. Events are sent on the open
  association just before the camera answers that association's next request. They are off
  by default: an SCU built on pynetdicom 3.0 (vscanner's own) takes the first message after
  its request as the response, so an N-EVENT-REPORT there breaks its exchange (seen as a hung
  N-DELETE under load); DCMTK's dcmprscu takes them;
- :func:`status_vocabulary`: every Printer Status Info / Execution Status Info the five
  statements list (and PS3.3's), with the printer status the camera reports it with.

Serial status line: ``status_line="pty"`` (or any :func:`devices.serial_status.open_port`
spec) serves the camera's status on a line (protocol in :mod:`devices.serial_status`);
``camera://<AE title>`` reaches it in-process.
"""

from __future__ import annotations

__all__ = ["FilmPrinter", "PrintJobRecord", "status_vocabulary", "default_printer_status", "default_info"]

import datetime as _dt
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid)
from pynetdicom import evt
from pynetdicom.dimse_primitives import N_EVENT_REPORT
from pynetdicom.dsutils import encode

from appliance.net.print_scu import (COLOR_IMAGE_BOX, FILM_BOX, FILM_SESSION, GRAYSCALE_IMAGE_BOX, META_COLOR,
                                     META_GRAYSCALE, PRESENTATION_LUT, PRINT_JOB, PRINTER, PRINTER_INSTANCE)
from appliance.printing.composition import film_size_inches, parse_display_format, render_film_box
from appliance.printing.status import default_info, default_printer_status, status_vocabulary
from appliance.printing.png import write_png
from appliance.net.upper_layer import ProductAE

LOGGER = logging.getLogger(__name__)

DEFAULT_FILM_SIZES = ("8INX10IN", "10INX12IN", "10INX14IN", "11INX14IN", "14INX14IN", "14INX17IN",
                      "24CMX24CM", "24CMX30CM", "A4")
DEFAULT_MEDIUM_TYPES = ("PAPER", "CLEAR FILM", "BLUE FILM", "MAMMO CLEAR FILM", "MAMMO BLUE FILM")
DEFAULT_DESTINATIONS = ("MAGAZINE", "PROCESSOR", "BIN_1", "BIN_2")
DEFAULT_MAGNIFICATIONS = ("REPLICATE", "BILINEAR", "CUBIC", "NONE")
VERIFICATION = "1.2.840.10008.1.1"
_TRANSFER_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian]
_STATUS_EVENT = {"NORMAL": 1, "WARNING": 2, "FAILURE": 3}
_JOB_EVENT = {"PENDING": 1, "PRINTING": 2, "DONE": 3, "FAILURE": 4}

class _EventResponseFilter(logging.Filter):
    """Drop pynetdicom's warning about the SCU's N-EVENT-REPORT-RSP to an event this camera sent
    without waiting (see FilmPrinter._flush_events): expected, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "unexpected N-EVENT-REPORT" not in record.getMessage()


_EVENT_FILTER = _EventResponseFilter()

# --- objects of a print session -------------------------------------------------------------------


@dataclass
class _ImageBox:
    uid: str
    position: int
    color: bool
    pixels: np.ndarray | None = None  # display values 0..1
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _FilmBox:
    uid: str
    attrs: Dataset
    boxes: list[_ImageBox]
    lut_uid: str | None = None


@dataclass
class _FilmSession:
    uid: str
    attrs: Dataset
    color: bool
    number: int
    films: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PrintJobRecord:
    """A print job of the camera (Print Job SOP instance)."""

    uid: str
    status: str                     # PENDING, PRINTING, DONE, FAILURE
    info: str = ""
    films: list[Path] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    calling_ae: str = ""
    priority: str = "MED"
    session_label: str = ""


class _AssocState:
    def __init__(self, assoc: Any) -> None:
        self.assoc = assoc
        self.session: _FilmSession | None = None
        self.film_boxes: dict[str, _FilmBox] = {}
        self.image_boxes: dict[str, _ImageBox] = {}
        self.luts: dict[str, str] = {}
        self.events: list[tuple[str, str, int, Dataset]] = []
        self.context_id: int | None = None
        self.msg_id = 0x7000


def _status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:64]
    return ds


class FilmPrinter:
    """An emulated DICOM film camera (Print SCP) with an output tray folder.

    Parameters
    ----------
    tray : Path
        Folder for the printed films (PNG) and session manifests (JSON); created.
    ae_title, host, port : where it listens; ``port=0`` picks a free port (see :attr:`port`).
    film_sizes, medium_types, film_destinations, magnification_types : accepted values.
    display_formats : accepted Image Display Formats (None: any STANDARD/ROW/COL format).
    min_density, max_density : the camera's density range (hundredths of OD).
    dpi : film resolution of the PNGs (pixels per inch).
    color : accept Basic Color Print Management.
    send_events : send Printer / Print Job N-EVENT-REPORTs on the print association (off by
        default; see the module docstring).
    status_line : serve the status on a serial line (``"pty"``, a device, a pyserial URL).
    printer_name : Printer Name (2110,0030).
    """

    def __init__(
        self,
        tray: Path | str,
        ae_title: str = "CAMERA",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        film_sizes: Sequence[str] = DEFAULT_FILM_SIZES,
        medium_types: Sequence[str] = DEFAULT_MEDIUM_TYPES,
        film_destinations: Sequence[str] = DEFAULT_DESTINATIONS,
        magnification_types: Sequence[str] = DEFAULT_MAGNIFICATIONS,
        display_formats: Sequence[str] | None = None,
        min_density: int = 20,
        max_density: int = 320,
        max_copies: int = 99,
        dpi: float = 50.0,
        color: bool = True,
        send_events: bool = False,
        status_line: Any = None,
        printer_name: str = "VSCANNER CAMERA",
        manufacturer: str = "vscanner",
        model: str = "Virtual Film Camera",
    ) -> None:
        self.tray = Path(tray)
        self.ae_title = ae_title
        self.host = host
        self._port = port
        self.film_sizes = tuple(s.upper() for s in film_sizes)
        self.medium_types = tuple(s.upper() for s in medium_types)
        self.film_destinations = tuple(s.upper() for s in film_destinations)
        self.magnification_types = tuple(s.upper() for s in magnification_types)
        self.display_formats = None if display_formats is None else tuple(parse_display_format(f).text
                                                                           for f in display_formats)
        self.min_density = min_density
        self.max_density = max_density
        self.max_copies = max_copies
        self.dpi = dpi
        self.color = color
        self.send_events = send_events
        self.printer_name = printer_name
        self.manufacturer = manufacturer
        self.model = model
        self.films: list[Path] = []
        self.jobs: list[PrintJobRecord] = []
        self.manifests: list[Path] = []
        self._status = ("NORMAL", "NORMAL")
        self._lock = threading.RLock()
        self._states: dict[int, _AssocState] = {}
        self._held: list[tuple[PrintJobRecord, Callable[[], None]]] = []
        self._listeners: list[Callable[[str], None]] = []
        self._film_counter = 0
        self._session_counter = 0
        self._server: Any = None
        self._line_spec = status_line
        self.status_line: Any = None
        self._films_changed = threading.Condition(self._lock)

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    @property
    def status_line_device(self) -> str | None:
        """The device path of the host end of the status line (with ``status_line="pty"``)."""
        return getattr(self.status_line, "device", None)

    def start(self) -> "FilmPrinter":
        from devices.serial_status import CameraStatusLine, register_camera

        self.tray.mkdir(parents=True, exist_ok=True)
        pyn_log = logging.getLogger("pynetdicom.association")
        if _EVENT_FILTER not in pyn_log.filters:
            pyn_log.addFilter(_EVENT_FILTER)
        ae = ProductAE(ae_title=self.ae_title)
        ae.maximum_pdu_size = 0
        ae.network_timeout = 60
        ae.dimse_timeout = 60
        for uid in self._abstract_syntaxes():
            ae.add_supported_context(uid, _TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION, _TRANSFER_SYNTAXES)  # cameras answer C-ECHO (the console's "test node")
        handlers = [
            (evt.EVT_CONN_OPEN, self._on_open),
            (evt.EVT_RELEASED, self._on_close),
            (evt.EVT_ABORTED, self._on_close),
            (evt.EVT_CONN_CLOSE, self._on_close),
            (evt.EVT_N_CREATE, self._guard(self._handle_create)),
            (evt.EVT_N_SET, self._guard(self._handle_set)),
            (evt.EVT_N_ACTION, self._guard(self._handle_action)),
            (evt.EVT_N_DELETE, self._guard(self._handle_delete)),
            (evt.EVT_N_GET, self._guard(self._handle_get)),
        ]
        try:
            self._server = ae.start_server((self.host, self._port), block=False, evt_handlers=handlers)
        except OSError as exc:
            from appliance.errors import NetworkError

            raise NetworkError(f"film camera {self.ae_title}: cannot listen on {self.host}:{self._port}: {exc}",
                               "choose a free port (--port) or stop what uses it") from None
        register_camera(self.ae_title, self)
        if self._line_spec is not None:
            self.status_line = CameraStatusLine(self, self._line_spec)
        LOGGER.info("film camera %s listening on %s:%d, tray %s", self.ae_title, self.host, self.port, self.tray)
        return self

    def stop(self) -> None:
        from devices.serial_status import unregister_camera

        if self.status_line is not None:
            self.status_line.close()
            self.status_line = None
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        unregister_camera(self.ae_title, self)

    def __enter__(self) -> "FilmPrinter":
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _abstract_syntaxes(self) -> list[str]:
        uids = [META_GRAYSCALE, FILM_SESSION, FILM_BOX, GRAYSCALE_IMAGE_BOX, PRINTER, PRINT_JOB, PRESENTATION_LUT]
        if self.color:
            uids[1:1] = [META_COLOR]
            uids.append(COLOR_IMAGE_BOX)
        return uids

    # --- status -------------------------------------------------------------------------------

    @property
    def status(self) -> tuple[str, str]:
        """(Printer Status, Printer Status Info)."""
        return self._status

    def get_status(self) -> tuple[str, str]:
        return self._status

    def set_status(self, printer_status: str, info: str = "") -> None:
        """Set the camera status, e.g. ``("FAILURE", "FILM JAM")``; ``("NORMAL", "")`` clears it.

        Reported by N-GET, by a Printer N-EVENT-REPORT on every open association and on the
        status line; held jobs are printed when the status is no longer FAILURE.
        """
        status = printer_status.strip().upper()
        if status not in _STATUS_EVENT:
            raise ValueError(f"printer status {printer_status!r} is not NORMAL, WARNING or FAILURE")
        info = " ".join(str(info or "").upper().split()) or default_info(status)
        if len(info) > 64:
            raise ValueError(f"printer status info {info!r} is too long")
        with self._lock:
            self._status = (status, info)
            event_ds = Dataset()
            if status != "NORMAL":
                event_ds.PrinterStatusInfo = info
            for state in self._states.values():
                state.events.append((PRINTER, PRINTER_INSTANCE, _STATUS_EVENT[status], event_ds))
            held = [] if status == "FAILURE" else self._held
            self._held = self._held if status == "FAILURE" else []
        LOGGER.info("camera %s status %s %s", self.ae_title, status, info)
        self._notify(f"STATUS {status} {info}")
        for job, render in held:
            render()

    def vocabulary(self) -> dict[str, str]:
        return status_vocabulary()

    def job_lines(self) -> list[str]:
        with self._lock:
            return [f"JOB {j.uid} {j.status} {j.info}".rstrip() for j in self.jobs]

    def add_listener(self, fn: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _notify(self, line: str) -> None:
        for fn in list(self._listeners):
            try:
                fn(line)
            except Exception:
                LOGGER.exception("status listener failed")

    def wait_for_films(self, count: int, timeout: float = 10.0) -> list[Path]:
        """Wait (bounded) until at least *count* films are in the tray; returns them."""
        deadline = time.monotonic() + timeout
        with self._films_changed:
            while len(self.films) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._films_changed.wait(left)
            return list(self.films)

    # --- association bookkeeping --------------------------------------------------------------

    def _on_open(self, event: Any) -> None:
        from appliance.net.ae import set_nodelay

        set_nodelay(event)

    def _state(self, assoc: Any) -> _AssocState:
        with self._lock:
            st = self._states.get(id(assoc))
            if st is None:
                st = self._states[id(assoc)] = _AssocState(assoc)
            return st

    def _on_close(self, event: Any) -> None:
        with self._lock:
            st = self._states.pop(id(event.assoc), None)
        if st is not None and st.session is not None:
            self._write_manifest(st.session, event.assoc)

    def _guard(self, handler: Callable[[Any, _AssocState], Any]) -> Callable[[Any], Any]:
        def run(event: Any) -> Any:
            st = self._state(event.assoc)
            self._flush_events(st)
            try:
                return handler(event, st)
            except Exception as exc:
                LOGGER.exception("camera %s: %s failed", self.ae_title, handler.__name__)
                failed = _status(0x0110, f"processing failure: {exc}")
                return failed if handler.__name__ == "_handle_delete" else (failed, None)
        run.__name__ = handler.__name__
        return run

    def _flush_events(self, st: _AssocState) -> None:
        """Send queued N-EVENT-REPORTs now, before the answer to the request being handled."""
        with self._lock:
            events, st.events = st.events, []
        if not self.send_events or not st.assoc.is_established:
            return
        accepted = {cx.abstract_syntax: cx for cx in st.assoc.accepted_contexts}
        for cls, uid, etype, ds in events:
            cx = accepted.get(cls) or next((c for c in st.assoc.accepted_contexts
                                            if c.context_id == st.context_id), None)
            if cx is None:
                continue
            ts = cx.transfer_syntax[0] if isinstance(cx.transfer_syntax, list) else cx.transfer_syntax
            req = N_EVENT_REPORT()
            st.msg_id += 1
            req.MessageID = st.msg_id
            req.AffectedSOPClassUID = cls
            req.AffectedSOPInstanceUID = uid
            req.EventTypeID = etype
            if len(ds):
                req.EventInformation = BytesIO(encode(ds, ts.is_implicit_VR, ts.is_little_endian))
            st.assoc.dimse.send_msg(req, cx.context_id)
            LOGGER.debug("N-EVENT-REPORT %s type %d sent to %s", cls, etype, st.assoc.requestor.ae_title)

    def _queue_job_event(self, job: PrintJobRecord, assoc_state: _AssocState | None) -> None:
        self._notify(f"JOB {job.uid} {job.status} {job.info}".rstrip())
        if assoc_state is None:
            return
        ds = Dataset()
        ds.ExecutionStatusInfo = job.info or "NORMAL"
        ds.PrinterName = self.printer_name
        if job.session_label:
            ds.FilmSessionLabel = job.session_label
        with self._lock:
            if id(assoc_state.assoc) in self._states:
                assoc_state.events.append((PRINT_JOB, job.uid, _JOB_EVENT[job.status], ds))

    # --- N-CREATE -----------------------------------------------------------------------------

    def _handle_create(self, event: Any, st: _AssocState) -> tuple[Dataset, Dataset | None]:
        cls = str(event.request.AffectedSOPClassUID)
        uid = str(event.request.AffectedSOPInstanceUID or generate_uid())
        ds = event.attribute_list
        st.context_id = event.context.context_id
        if cls == FILM_SESSION:
            return self._create_session(event, st, uid, ds)
        if cls == FILM_BOX:
            return self._create_film_box(event, st, uid, ds)
        if cls == PRESENTATION_LUT:
            shape = str(ds.get("PresentationLUTShape", "") or "")
            if not shape and "PresentationLUTSequence" not in ds:
                return _status(0x0120, "Presentation LUT Shape or Sequence missing"), None
            st.luts[uid] = shape or "TABLE"
            reply = Dataset()
            if shape:
                reply.PresentationLUTShape = shape
            reply.AffectedSOPInstanceUID = uid
            return _status(0x0000), reply
        return _status(0x0118, f"N-CREATE of {cls} not supported"), None

    def _create_session(self, event: Any, st: _AssocState, uid: str, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        copies = ds.get("NumberOfCopies", 1)
        try:
            copies = int(copies or 1)
        except (TypeError, ValueError):
            return _status(0x0106, f"Number of Copies {copies!r}"), None
        if not 1 <= copies <= self.max_copies:
            return _status(0x0106, f"Number of Copies {copies} out of range 1-{self.max_copies}"), None
        checks = (("MediumType", self.medium_types), ("FilmDestination", self.film_destinations),
                  ("PrintPriority", ("HIGH", "MED", "LOW")))
        for kw, allowed in checks:
            value = str(ds.get(kw, "") or "").upper()
            if value and value not in allowed:
                return _status(0x0106, f"illegal {kw} {value}"), None
        reply = Dataset()
        reply.NumberOfCopies = str(copies)
        reply.PrintPriority = str(ds.get("PrintPriority", "") or "MED")
        reply.MediumType = str(ds.get("MediumType", "") or self.medium_types[0])
        reply.FilmDestination = str(ds.get("FilmDestination", "") or self.film_destinations[0])
        reply.FilmSessionLabel = str(ds.get("FilmSessionLabel", "") or "")
        if "MemoryAllocation" in ds:
            reply.MemoryAllocation = ds.MemoryAllocation
        color = event.context.abstract_syntax == META_COLOR
        with self._lock:
            self._session_counter += 1
            number = self._session_counter
        if st.session is not None:
            self._write_manifest(st.session, event.assoc)
        st.session = _FilmSession(uid, reply, color, number)
        st.film_boxes.clear()
        st.image_boxes.clear()
        out = Dataset()
        out.update(reply)
        out.AffectedSOPInstanceUID = uid
        LOGGER.info("camera %s: film session %d from %s (%s, %s copies)", self.ae_title, number,
                    event.assoc.requestor.ae_title, reply.MediumType, copies)
        return _status(0x0000), out

    def _create_film_box(self, event: Any, st: _AssocState, uid: str, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        if st.session is None:
            return _status(0x0106, "no film session"), None
        fmt_text = str(ds.get("ImageDisplayFormat", "") or "")
        if not fmt_text:
            return _status(0x0120, "Image Display Format missing"), None
        try:
            fmt = parse_display_format(fmt_text)
        except Exception:
            return _status(0x0106, f"illegal Image Display Format {fmt_text}"), None
        if self.display_formats is not None and fmt.text not in self.display_formats:
            return _status(0x0106, f"Image Display Format {fmt.text} not supported"), None
        refs = ds.get("ReferencedFilmSessionSequence") or []
        if refs and str(refs[0].get("ReferencedSOPInstanceUID", "")) != st.session.uid:
            return _status(0x0106, "Referenced Film Session Sequence does not name the film session"), None
        orientation = str(ds.get("FilmOrientation", "") or "PORTRAIT").upper()
        size = str(ds.get("FilmSizeID", "") or self.film_sizes[0]).upper()
        mag = str(ds.get("MagnificationType", "") or self.magnification_types[0]).upper()
        if orientation not in ("PORTRAIT", "LANDSCAPE"):
            return _status(0x0106, f"illegal Film Orientation {orientation}"), None
        if size not in self.film_sizes:
            return _status(0x0106, f"illegal Film Size ID {size}"), None
        if mag not in self.magnification_types:
            return _status(0x0106, f"illegal Magnification Type {mag}"), None
        for kw in ("BorderDensity", "EmptyImageDensity"):
            value = str(ds.get(kw, "") or "").upper()
            if value and value not in ("BLACK", "WHITE") and not value.isdigit():
                return _status(0x0106, f"illegal {kw} {value}"), None
        trim = str(ds.get("Trim", "") or "NO").upper()
        if trim not in ("YES", "NO"):
            return _status(0x0106, f"illegal Trim {trim}"), None
        code = 0x0000
        min_d = int(ds.get("MinDensity", self.min_density) or self.min_density)
        max_d = int(ds.get("MaxDensity", self.max_density) or self.max_density)
        if max_d > self.max_density or min_d < self.min_density:
            code = 0xB605  # the camera uses its own limits
            max_d, min_d = min(max_d, self.max_density), max(min_d, self.min_density)
        lut_uid = None
        lut_refs = ds.get("ReferencedPresentationLUTSequence") or []
        if lut_refs:
            lut_uid = str(lut_refs[0].get("ReferencedSOPInstanceUID", ""))
            if lut_uid not in st.luts:
                return _status(0x0106, "Referenced Presentation LUT does not exist"), None
        reply = Dataset()
        reply.ImageDisplayFormat = fmt.text
        reply.FilmOrientation = orientation
        reply.FilmSizeID = size
        reply.MagnificationType = mag
        reply.SmoothingType = str(ds.get("SmoothingType", "") or "NONE")
        reply.BorderDensity = str(ds.get("BorderDensity", "") or "BLACK")
        reply.EmptyImageDensity = str(ds.get("EmptyImageDensity", "") or "BLACK")
        reply.MinDensity = min_d
        reply.MaxDensity = max_d
        reply.Trim = trim
        reply.ConfigurationInformation = str(ds.get("ConfigurationInformation", "") or "")
        if "Illumination" in ds:
            reply.Illumination = ds.Illumination
        if "ReflectedAmbientLight" in ds:
            reply.ReflectedAmbientLight = ds.ReflectedAmbientLight
        ref = Dataset()
        ref.ReferencedSOPClassUID = FILM_SESSION
        ref.ReferencedSOPInstanceUID = st.session.uid
        reply.ReferencedFilmSessionSequence = [ref]
        box_class = COLOR_IMAGE_BOX if st.session.color else GRAYSCALE_IMAGE_BOX
        boxes = []
        reply.ReferencedImageBoxSequence = []
        for position in range(1, fmt.boxes + 1):
            ib = _ImageBox(generate_uid(), position, st.session.color)
            boxes.append(ib)
            st.image_boxes[ib.uid] = ib
            item = Dataset()
            item.ReferencedSOPClassUID = box_class
            item.ReferencedSOPInstanceUID = ib.uid
            reply.ReferencedImageBoxSequence.append(item)
        if lut_uid:
            lref = Dataset()
            lref.ReferencedSOPClassUID = PRESENTATION_LUT
            lref.ReferencedSOPInstanceUID = lut_uid
            reply.ReferencedPresentationLUTSequence = [lref]
        st.film_boxes[uid] = _FilmBox(uid, reply, boxes, lut_uid)
        out = Dataset()
        out.update(reply)
        out.AffectedSOPInstanceUID = uid
        return _status(code), out

    # --- N-SET ----------------------------------------------------------------------------------

    def _handle_set(self, event: Any, st: _AssocState) -> tuple[Dataset, Dataset | None]:
        cls = str(event.request.RequestedSOPClassUID)
        uid = str(event.request.RequestedSOPInstanceUID)
        ds = event.modification_list
        if cls in (GRAYSCALE_IMAGE_BOX, COLOR_IMAGE_BOX):
            box = st.image_boxes.get(uid)
            if box is None:
                return _status(0x0112, "no such image box"), None
            return self._set_image_box(box, cls, ds)
        if cls == FILM_SESSION and st.session is not None and st.session.uid == uid:
            for elem in ds:
                st.session.attrs[elem.tag] = elem
            return _status(0x0000), None
        if cls == FILM_BOX and uid in st.film_boxes:
            for kw in ("MagnificationType", "SmoothingType", "BorderDensity", "EmptyImageDensity", "MinDensity",
                       "MaxDensity", "Trim", "Illumination", "ReflectedAmbientLight"):
                if kw in ds:
                    setattr(st.film_boxes[uid].attrs, kw, ds[kw].value)
            return _status(0x0000), None
        return _status(0x0112, "no such SOP instance"), None

    def _set_image_box(self, box: _ImageBox, cls: str, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        seq_kw = "BasicColorImageSequence" if cls == COLOR_IMAGE_BOX else "BasicGrayscaleImageSequence"
        seq = ds.get(seq_kw)
        position = int(ds.get("ImageBoxPosition", box.position) or box.position)
        if position != box.position:
            return _status(0x0106, f"Image Box Position {position} is not this box's ({box.position})"), None
        for kw in ("Polarity", "MagnificationType", "SmoothingType", "RequestedImageSize"):
            if kw in ds and ds[kw].value not in (None, ""):
                box.attrs[kw] = str(ds[kw].value).upper() if kw != "RequestedImageSize" else float(ds[kw].value)
        if box.attrs.get("Polarity", "NORMAL") not in ("NORMAL", "REVERSE"):
            return _status(0x0106, f"illegal Polarity {box.attrs['Polarity']}"), None
        if not seq:
            if "ImageBoxPosition" in ds and len(ds) == 1:
                box.pixels = None
                return _status(0x0000), None
            return _status(0x0120, f"{seq_kw} missing"), None
        item = seq[0]
        try:
            rows, cols = int(item.Rows), int(item.Columns)
            bits_alloc, bits_stored = int(item.BitsAllocated), int(item.BitsStored)
            spp = int(item.SamplesPerPixel)
            photometric = str(item.PhotometricInterpretation).upper()
            raw = item.PixelData
        except (AttributeError, TypeError, ValueError) as exc:
            return _status(0x0120, f"image pixel attribute missing: {exc}"), None
        if spp == 3:
            if photometric != "RGB" or bits_alloc != 8:
                return _status(0x0106, "color image box: RGB, 8 bits expected"), None
            expected = rows * cols * 3
            if len(raw) < expected:
                return _status(0x0106, "Pixel Data shorter than Rows x Columns"), None
            arr = np.frombuffer(raw[:expected], np.uint8)
            if int(item.get("PlanarConfiguration", 0)) == 1:
                arr = arr.reshape(3, rows, cols).transpose(1, 2, 0)
            else:
                arr = arr.reshape(rows, cols, 3)
            box.pixels = arr.astype(np.float32) / 255.0
        else:
            if photometric not in ("MONOCHROME1", "MONOCHROME2") or bits_alloc not in (8, 16):
                return _status(0x0106, f"grayscale image box: {photometric} {bits_alloc} bits not supported"), None
            dtype = np.uint8 if bits_alloc == 8 else np.dtype("<u2")
            expected = rows * cols * (bits_alloc // 8)
            if len(raw) < expected:
                return _status(0x0106, "Pixel Data shorter than Rows x Columns"), None
            arr = np.frombuffer(raw[:expected], dtype).reshape(rows, cols).astype(np.float32)
            arr = np.clip(arr / float((1 << bits_stored) - 1), 0.0, 1.0)
            box.pixels = 1.0 - arr if photometric == "MONOCHROME1" else arr
        box.attrs.update({"rows": rows, "columns": cols, "bits_stored": bits_stored, "photometric": photometric})
        return _status(0x0000), None

    # --- N-ACTION: print ----------------------------------------------------------------------------

    def _handle_action(self, event: Any, st: _AssocState) -> tuple[Dataset, Dataset | None]:
        cls = str(event.request.RequestedSOPClassUID)
        uid = str(event.request.RequestedSOPInstanceUID)
        if int(event.request.ActionTypeID or 0) != 1:
            return _status(0x0123, "only action type 1 (print)"), None
        if st.session is None:
            return _status(0xC600, "no film session"), None
        if cls == FILM_BOX:
            if uid not in st.film_boxes:
                return _status(0x0112, "no such film box"), None
            boxes = [st.film_boxes[uid]]
        elif cls == FILM_SESSION and uid == st.session.uid:
            boxes = list(st.film_boxes.values())
            if not boxes:
                return _status(0xC600, "film session has no film box"), None
        else:
            return _status(0x0112, "no such SOP instance"), None
        code = 0x0000
        if all(ib.pixels is None for fb in boxes for ib in fb.boxes):
            code = 0xB603 if cls == FILM_BOX else 0xB602
        session = st.session
        job = PrintJobRecord(generate_uid(), "PENDING", calling_ae=str(event.assoc.requestor.ae_title),
                             priority=str(session.attrs.get("PrintPriority", "MED")),
                             session_label=str(session.attrs.get("FilmSessionLabel", "") or ""))
        snapshot = [self._snapshot(fb) for fb in boxes]
        assoc = event.assoc
        with self._lock:
            self.jobs.append(job)

        def render() -> None:
            job.status, job.info = "PRINTING", "NORMAL"
            self._queue_job_event(job, self._states.get(id(assoc)))
            try:
                for fb_attrs, images, lut in snapshot:
                    self._render_film(session, fb_attrs, images, lut, job, str(assoc.requestor.ae_title))
                job.status, job.info = "DONE", "NORMAL"
            except Exception as exc:
                LOGGER.exception("camera %s: rendering failed", self.ae_title)
                job.status, job.info = "FAILURE", "INVALID PAGE DES"
                LOGGER.error("print job %s failed: %s", job.uid, exc)
            self._queue_job_event(job, self._states.get(id(assoc)))
            self._write_manifest(session, assoc)

        with self._lock:
            failing = self._status[0] == "FAILURE"
            if failing:
                job.info = self._status[1]
                self._held.append((job, render))
        self._queue_job_event(job, st)
        if not failing:
            render()
        else:
            LOGGER.info("camera %s is in FAILURE (%s): print job %s held", self.ae_title, job.info, job.uid)
        reply = Dataset()
        ref = Dataset()
        ref.ReferencedSOPClassUID = PRINT_JOB
        ref.ReferencedSOPInstanceUID = job.uid
        reply.ReferencedPrintJobSequence = [ref]
        return _status(code), reply

    def _snapshot(self, fb: _FilmBox) -> tuple[Dataset, list[tuple[np.ndarray | None, dict]], str | None]:
        attrs = Dataset()
        attrs.update(fb.attrs)
        return attrs, [(None if ib.pixels is None else ib.pixels.copy(), dict(ib.attrs)) for ib in fb.boxes], fb.lut_uid

    def _render_film(self, session: _FilmSession, fb: Dataset, images: list[tuple[np.ndarray | None, dict]],
                     lut: str | None, job: PrintJobRecord, calling_ae: str) -> None:
        size, orientation = str(fb.FilmSizeID), str(fb.FilmOrientation)
        out, boxes_info = render_film_box(fb, images, dpi=self.dpi, color=session.color)
        rows, cols = out.shape[:2]
        copies = int(session.attrs.get("NumberOfCopies", 1) or 1)
        files = []
        for _ in range(copies):
            with self._lock:
                self._film_counter += 1
                path = self.tray / f"film_{self._film_counter:04d}.png"
            write_png(path, out, text={"Software": "vscanner film camera", "Title": f"{size} {fb.ImageDisplayFormat}"})
            files.append(path)
        film = {
            "files": [p.name for p in files],
            "print_job": job.uid,
            "calling_ae": calling_ae,
            "film_size": size,
            "orientation": orientation,
            "film_inches": list(film_size_inches(size)),
            "pixels": [cols, rows],
            "dpi": self.dpi,
            "image_display_format": str(fb.ImageDisplayFormat),
            "magnification_type": str(fb.MagnificationType),
            "border_density": str(fb.get("BorderDensity", "")),
            "empty_image_density": str(fb.get("EmptyImageDensity", "")),
            "min_density": int(fb.MinDensity),
            "max_density": int(fb.MaxDensity),
            "trim": str(fb.get("Trim", "NO")),
            "presentation_lut": lut,
            "image_boxes": boxes_info,
            "printer_status": list(self._status),
            "printed_at": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        with self._films_changed:
            session.films.append(film)
            job.films.extend(files)
            self.films.extend(files)
            self._films_changed.notify_all()
        LOGGER.info("camera %s printed %s (%s %s, %d x %d px) x%d", self.ae_title, files[0].name, size,
                    fb.ImageDisplayFormat, cols, rows, copies)

    def _write_manifest(self, session: _FilmSession, assoc: Any) -> None:
        path = self.tray / f"session_{session.number:04d}.json"
        data = {
            "camera": self.ae_title,
            "calling_ae": str(getattr(assoc.requestor, "ae_title", "")),
            "film_session": {
                "uid": session.uid,
                "number_of_copies": str(session.attrs.get("NumberOfCopies", "")),
                "print_priority": str(session.attrs.get("PrintPriority", "")),
                "medium_type": str(session.attrs.get("MediumType", "")),
                "film_destination": str(session.attrs.get("FilmDestination", "")),
                "film_session_label": str(session.attrs.get("FilmSessionLabel", "")),
            },
            "color": session.color,
            "films": session.films,
            "print_jobs": [{"uid": j.uid, "status": j.status, "info": j.info, "films": [f.name for f in j.films]}
                           for j in self.jobs if any(f.get("print_job") == j.uid for f in session.films)
                           or j.status == "PENDING"],
        }
        tmp = path.with_name(f".{path.name}.part")
        with self._lock:
            with open(tmp, "w") as fh:
                json.dump(data, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            if path not in self.manifests:
                self.manifests.append(path)

    # --- N-DELETE, N-GET -----------------------------------------------------------------------------

    def _handle_delete(self, event: Any, st: _AssocState) -> Dataset:
        cls = str(event.request.RequestedSOPClassUID)
        uid = str(event.request.RequestedSOPInstanceUID)
        if cls == FILM_SESSION and st.session is not None and st.session.uid == uid:
            self._write_manifest(st.session, event.assoc)
            st.session = None
            st.film_boxes.clear()
            st.image_boxes.clear()
            return _status(0x0000)
        if cls == FILM_BOX and uid in st.film_boxes:
            fb = st.film_boxes.pop(uid)
            for ib in fb.boxes:
                st.image_boxes.pop(ib.uid, None)
            return _status(0x0000)
        if cls == PRESENTATION_LUT and uid in st.luts:
            del st.luts[uid]
            return _status(0x0000)
        return _status(0x0112, "no such SOP instance")

    def _handle_get(self, event: Any, st: _AssocState) -> tuple[Dataset, Dataset | None]:
        cls = str(event.request.RequestedSOPClassUID)
        uid = str(event.request.RequestedSOPInstanceUID)
        ds = Dataset()
        if cls == PRINTER and uid == PRINTER_INSTANCE:
            status, info = self._status
            ds.PrinterStatus = status
            ds.PrinterStatusInfo = info
            ds.PrinterName = self.printer_name
            ds.Manufacturer = self.manufacturer
            ds.ManufacturerModelName = self.model
            ds.DeviceSerialNumber = "0001"
            ds.SoftwareVersions = "1"
        elif cls == PRINT_JOB:
            job = next((j for j in self.jobs if j.uid == uid), None)
            if job is None:
                return _status(0x0112, "no such print job"), None
            ds.ExecutionStatus = job.status
            ds.ExecutionStatusInfo = job.info or "NORMAL"
            ds.PrintPriority = job.priority
            ds.CreationDate = time.strftime("%Y%m%d", time.localtime(job.created))
            ds.CreationTime = time.strftime("%H%M%S", time.localtime(job.created))
            ds.PrinterName = self.printer_name
            ds.Originator = job.calling_ae
        else:
            return _status(0x0112, "no such SOP instance"), None
        wanted = list(event.attribute_identifiers)
        if wanted:
            keep = Dataset()
            for tag in wanted:
                if tag in ds:
                    keep[tag] = ds[tag]
            ds = keep
        return _status(0x0000), ds
