"""Basic Grayscale / Color Print Management SCU, as the profile's ``[print]`` section describes it.

One :class:`PrintSession` is one association with a printer (a "camera"):

- proposed contexts (:func:`plan_contexts`): the Meta SOP class(es) (``meta_contexts``) and
  the classes the product proposes on their own (``standalone_contexts``: Printer, Print Job,
  Presentation LUT, components), each with the product's print transfer syntaxes;
- :meth:`PrintSession.printer_status`: N-GET of the Printer SOP instance (1.2.840.10008.5.1.1.17);
- :meth:`PrintSession.print_films`: one film session: Presentation LUT N-CREATE (shape IDENTITY,
  before or after the session, ``presentation_lut``), Film Session N-CREATE, then per film
  Film Box N-CREATE, Image Box N-SET for each filled box, Film Box N-ACTION (print, action 1),
  Film Box N-DELETE; finally Film Session and Presentation LUT N-DELETE. Only the
  attributes the product sends are sent (``film_session_attributes``, ``film_box_attributes``,
  ``image_box_attributes``), each when it has a value;
- N-EVENT-REPORTs from the camera (Printer status, Print Job execution status) are answered
  with 0000 and handed to ``on_event`` (:class:`PrinterEvent`);
- a response that is neither Success nor Warning ends the session: A-ABORT or release
  (``on_failure_status``), then :class:`PrintStatusError`; warnings are kept in ``warnings``.

The SCU supplies the SOP Instance UIDs of the objects it creates (pynetdicom does not return
the SCP-assigned Affected SOP Instance UID of an N-CREATE-RSP); cameras accept that.
"""

from __future__ import annotations

__all__ = [
    "PrintSession",
    "PrintSettings",
    "PrinterEvent",
    "PrintStatusError",
    "plan_contexts",
    "META_GRAYSCALE",
    "META_COLOR",
    "PRINTER",
    "PRINTER_INSTANCE",
    "PRINT_JOB",
    "FILM_SESSION",
    "FILM_BOX",
    "GRAYSCALE_IMAGE_BOX",
    "COLOR_IMAGE_BOX",
    "PRESENTATION_LUT",
    "STATUS_MEANINGS",
]

import logging
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import evt
from pynetdicom.status import code_to_category

from ..config import Node
from ..errors import NetworkError
from ..profile import Profile
from .event_reports import serve_events_safely
from .requestor import Context, no_response, open_association, status_text

LOGGER = logging.getLogger(__name__)

META_GRAYSCALE = "1.2.840.10008.5.1.1.9"
META_COLOR = "1.2.840.10008.5.1.1.18"
FILM_SESSION = "1.2.840.10008.5.1.1.1"
FILM_BOX = "1.2.840.10008.5.1.1.2"
GRAYSCALE_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
COLOR_IMAGE_BOX = "1.2.840.10008.5.1.1.4.1"
PRINTER = "1.2.840.10008.5.1.1.16"
PRINTER_INSTANCE = "1.2.840.10008.5.1.1.17"
PRINT_JOB = "1.2.840.10008.5.1.1.14"
PRESENTATION_LUT = "1.2.840.10008.5.1.1.23"

# PS3.4 H.4 / Annex C: print-specific status codes (the statements' status tables use these).
STATUS_MEANINGS = {
    0xB600: "memory allocation not supported",
    0xB601: "film session printing (collation) not supported",
    0xB602: "film session contains no image box set (empty page)",
    0xB603: "film box contains no image box set (empty page)",
    0xB604: "image demagnified to fit the image box",
    0xB605: "min/max density outside the printer's range; the printer uses its own",
    0xB609: "image cropped to fit",
    0xB60A: "image decimated to fit",
    0xC600: "film session has no film box",
    0xC601: "unable to create print job SOP instance; print queue full",
    0xC602: "unable to create print job SOP instance; print queue full",
    0xC603: "image size larger than the image box",
    0xC605: "insufficient memory in the printer",
    0xC613: "combined print image size larger than the image box",
    0xC616: "an unprinted film box exists and N-ACTION at the film session level is not supported",
    0x0106: "invalid attribute value",
    0x0110: "processing failure",
    0x0120: "missing attribute",
}

_PRINTER_EVENTS = {1: "NORMAL", 2: "WARNING", 3: "FAILURE"}
_JOB_EVENTS = {1: "PENDING", 2: "PRINTING", 3: "DONE", 4: "FAILURE"}


class PrintStatusError(NetworkError):
    """The camera answered a print request with a status that is neither Success nor Warning."""

    def __init__(self, step: str, status: int, node: Node, comment: str = "") -> None:
        meaning = STATUS_MEANINGS.get(status, "")
        text = f"{step}: {node} answered 0x{status:04X}" + (f" ({meaning})" if meaning else "")
        if comment:
            text += f": {comment}"
        super().__init__(text, "the camera refused the request; check the film size, format and medium "
                               "against what the camera supports (its log says why)")
        self.step = step
        self.status = status


@dataclass(frozen=True)
class PrinterEvent:
    """An N-EVENT-REPORT from the camera (Printer status, or Print Job execution status)."""

    kind: str             # "printer" or "print_job"
    event_type: int
    status: str           # Printer Status (NORMAL/WARNING/FAILURE) or Execution Status (PENDING ... FAILURE)
    info: str             # Printer Status Info / Execution Status Info
    instance_uid: str = ""


@dataclass
class PrintSettings:
    """Film session, film box and image box values; None leaves an attribute out."""

    film_size: str | None = None
    orientation: str | None = None
    magnification: str | None = None
    medium_type: str | None = None
    film_destination: str | None = None
    copies: int = 1
    priority: str | None = None
    label: str | None = None
    memory_allocation: int | None = None
    border_density: str | None = None
    empty_image_density: str | None = None
    min_density: int | None = None
    max_density: int | None = None
    trim: str | None = None
    smoothing_type: str | None = None
    configuration_information: str | None = None
    polarity: str | None = None
    requested_image_size: float | None = None
    illumination: int = 2000          # PS3.3 C.13.8 default (cd/m2), with a Presentation LUT
    reflected_ambient_light: int = 10  # PS3.3 C.13.8 default (cd/m2)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def plan_contexts(profile: Profile, color: bool) -> list[Context]:
    """The presentation contexts the product proposes for a print job (grayscale or color)."""
    pp = profile.print
    by_uid = {c.uid: c for c in profile.classes(service="print", role="scu")}
    wanted: list[str] = []
    if pp.meta_contexts == "both":
        wanted += [u for u in (META_GRAYSCALE, META_COLOR) if u in by_uid]
    else:
        wanted.append(META_COLOR if color else META_GRAYSCALE)
    wanted += [u for u in pp.standalone_contexts if u in by_uid and u not in wanted]
    out = []
    for uid in wanted:
        sop = by_uid.get(uid)
        ts = profile.scu_transfer_syntaxes(sop) if sop else profile.transfer_syntaxes.print
        out.append(Context(uid, tuple(ts) or ("1.2.840.10008.1.2",)))
    return out


def _set(ds: Dataset, keyword: str, value: Any) -> None:
    if value is not None and value != "":
        setattr(ds, keyword, value)


class PrintSession:
    """One print association with a camera.

    Use as a context manager; :meth:`abort` ends it without a release.
    """

    def __init__(
        self,
        profile: Profile,
        node: Node,
        ae_title: str,
        *,
        color: bool = False,
        on_event: Callable[[PrinterEvent], None] | None = None,
        dimse_timeout: float | None = None,
    ) -> None:
        self.profile = profile
        self.node = node
        self.ae_title = ae_title
        self.color = color
        self.on_event = on_event
        self.dimse_timeout = dimse_timeout
        self.warnings: list[str] = []
        self.events: list[PrinterEvent] = []
        self.print_jobs: list[str] = []
        self._stack: ExitStack | None = None
        self.assoc: Any = None
        self._lock = threading.Lock()
        self._meta: str | None = None

    # --- association ------------------------------------------------------------------------

    def __enter__(self) -> "PrintSession":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        stack = ExitStack()
        contexts = plan_contexts(self.profile, self.color)
        self.assoc = stack.enter_context(open_association(
            self.profile, self.node, self.ae_title, contexts, purpose="print",
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, self._handle_event_report)],
            dimse_timeout=self.dimse_timeout))
        serve_events_safely(self.assoc)  # camera events may arrive while a request waits for its response
        self._stack = stack
        accepted = {cx.abstract_syntax for cx in self.assoc.accepted_contexts}
        job_meta = META_COLOR if self.color else META_GRAYSCALE
        if job_meta in accepted:
            self._meta = job_meta
        elif {FILM_SESSION, FILM_BOX} <= accepted:
            self._meta = None  # components on their own contexts
        else:
            self.close()
            kind = "color" if self.color else "grayscale"
            raise NetworkError(f"print: {self.node} does not accept Basic {kind.title()} Print Management",
                               f"the camera does not print {kind} films (or not with the product's "
                               "transfer syntaxes); choose another printer")
        LOGGER.info("print association %s -> %s open (%s)", self.ae_title, self.node,
                    "color" if self.color else "grayscale")

    @property
    def is_open(self) -> bool:
        return self.assoc is not None and self.assoc.is_established

    def _live(self) -> Any:
        """The association, if it is still established, for the next DIMSE request.

        pynetdicom 3.0's ``send_n_*`` wait for the association's reactor to pause; if the peer
        has aborted or released meanwhile the reactor is gone and they would wait forever, so
        every request checks first and fails with a clear error instead.
        """
        assoc = self.assoc
        if assoc is None or not assoc.is_established or not assoc.is_alive() or not assoc.dul.is_alive():
            raise NetworkError(f"the print association with {self.node} is no longer established "
                               "(the camera aborted or released it)",
                               "look at the camera's log; the job stays in the print queue")
        return self.assoc

    def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()
        self.assoc = None

    def abort(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.abort()
            LOGGER.info("print association with %s aborted", self.node)
        self.close()

    # --- events ---------------------------------------------------------------------------------

    def _handle_event_report(self, event: Any) -> tuple[int, None]:
        req = event.request
        cls = str(req.AffectedSOPClassUID)
        try:
            info_ds = event.event_information
        except Exception:  # an undecodable event information: still acknowledged
            info_ds = Dataset()
        etype = int(req.EventTypeID or 0)
        if cls == PRINT_JOB:
            ev = PrinterEvent("print_job", etype, _JOB_EVENTS.get(etype, str(etype)),
                              str(info_ds.get("ExecutionStatusInfo", "") or ""), str(req.AffectedSOPInstanceUID or ""))
        else:
            ev = PrinterEvent("printer", etype, _PRINTER_EVENTS.get(etype, str(etype)),
                              str(info_ds.get("PrinterStatusInfo", "") or ""), str(req.AffectedSOPInstanceUID or ""))
        LOGGER.info("N-EVENT-REPORT from %s: %s %s %s", self.node, ev.kind, ev.status, ev.info)
        with self._lock:
            self.events.append(ev)
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # never let a listener break the association
                LOGGER.exception("print event listener failed")
        return 0x0000, None

    # --- DIMSE helpers ----------------------------------------------------------------------------

    def _check(self, step: str, status: Dataset | None) -> int:
        if status is None or "Status" not in status:
            raise no_response(self.assoc, f"print ({step})", self.node)
        code = int(status.Status)
        category = code_to_category(code)
        if category == "Warning":
            meaning = STATUS_MEANINGS.get(code, "")
            text = f"{step}: warning 0x{code:04X}" + (f" ({meaning})" if meaning else "")
            self.warnings.append(text)
            LOGGER.warning("print %s: %s", self.node, text)
        elif category != "Success":
            comment = str(status.get("ErrorComment", "") or "")
            if self.profile.print.on_failure_status == "abort":
                self.abort()
            raise PrintStatusError(step, code, self.node, comment)
        return code

    # --- services ---------------------------------------------------------------------------------

    def printer_status(self) -> tuple[str, str, Dataset]:
        """N-GET of the Printer: (Printer Status, Printer Status Info, all returned attributes)."""
        accepted = {cx.abstract_syntax for cx in self.assoc.accepted_contexts}
        meta = None if PRINTER in accepted else self._meta
        status, attrs = self._live().send_n_get([0x21100010, 0x21100020], PRINTER, PRINTER_INSTANCE,
                                              meta_uid=meta)
        self._check("Printer N-GET", status)
        attrs = attrs or Dataset()
        printer_status = str(attrs.get("PrinterStatus", "") or "")
        info = str(attrs.get("PrinterStatusInfo", "") or "")
        LOGGER.info("printer %s status %s %s", self.node, printer_status, info)
        return printer_status, info, attrs

    def print_films(self, films: Sequence[Any], settings: PrintSettings, *,
                    start: int = 0, on_film: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> int:
        """Print *films* (:class:`~appliance.printing.composition.FilmSheet`) in one film session.

        Films before *start* are skipped (already printed). ``on_film(index, status)`` is
        called after each successful N-ACTION; ``should_stop()`` is asked before each film.
        Returns the number of films printed in this call.
        """
        pp = self.profile.print
        meta = self._meta
        lut_uid = None
        session_uid = generate_uid()
        printed = 0

        if pp.presentation_lut == "before_session":
            lut_uid = self._create_lut(meta)
        session = Dataset()
        attrs = pp.film_session_attributes
        if "NumberOfCopies" in attrs:
            session.NumberOfCopies = str(max(1, settings.copies))
        for kw, value in (("PrintPriority", settings.priority), ("MediumType", settings.medium_type),
                          ("FilmDestination", settings.film_destination), ("FilmSessionLabel", settings.label),
                          ("MemoryAllocation", settings.memory_allocation)):
            if kw in attrs:
                _set(session, kw, value)
        status, _ = self._live().send_n_create(session, FILM_SESSION, session_uid, meta_uid=meta)
        self._check("Film Session N-CREATE", status)
        if pp.presentation_lut == "after_session":
            lut_uid = self._create_lut(meta)
        try:
            for index in range(start, len(films)):
                if should_stop is not None and should_stop():
                    break
                code = self._print_film(films[index], settings, session_uid, lut_uid, meta)
                printed += 1
                if on_film is not None:
                    on_film(index, code)
        finally:
            if self.is_open:
                status = self._live().send_n_delete(FILM_SESSION, session_uid, meta_uid=meta)
                if status is not None and "Status" in status and code_to_category(int(status.Status)) == "Failure":
                    LOGGER.warning("Film Session N-DELETE at %s: %s", self.node, status_text(status))
                if lut_uid is not None and self.is_open:
                    status = self._live().send_n_delete(PRESENTATION_LUT, lut_uid, meta_uid=meta)
                    if status is not None and "Status" in status and code_to_category(int(status.Status)) == "Failure":
                        LOGGER.warning("Presentation LUT N-DELETE at %s: %s", self.node, status_text(status))
        return printed

    def _create_lut(self, meta: str | None) -> str:
        uid = generate_uid()
        ds = Dataset()
        ds.PresentationLUTShape = "IDENTITY"
        status, _ = self._live().send_n_create(ds, PRESENTATION_LUT, uid, meta_uid=meta)
        self._check("Presentation LUT N-CREATE", status)
        return uid

    def _print_film(self, film: Any, settings: PrintSettings, session_uid: str, lut_uid: str | None,
                    meta: str | None) -> int:
        pp = self.profile.print
        attrs = pp.film_box_attributes
        box = Dataset()
        box.ImageDisplayFormat = film.display_format
        ref = Dataset()
        ref.ReferencedSOPClassUID = FILM_SESSION
        ref.ReferencedSOPInstanceUID = session_uid
        box.ReferencedFilmSessionSequence = [ref]
        values = {
            "FilmOrientation": settings.orientation,
            "FilmSizeID": settings.film_size,
            "MagnificationType": settings.magnification,
            "BorderDensity": settings.border_density or (pp.border_densities[0] if pp.border_densities else None),
            "EmptyImageDensity": settings.empty_image_density,
            "MinDensity": settings.min_density,
            "MaxDensity": settings.max_density,
            "Trim": settings.trim,
            "SmoothingType": settings.smoothing_type,
            "ConfigurationInformation": settings.configuration_information,
        }
        for kw, value in values.items():
            if kw in attrs:
                _set(box, kw, value)
        if lut_uid is not None and "ReferencedPresentationLUTSequence" in attrs:
            lref = Dataset()
            lref.ReferencedSOPClassUID = PRESENTATION_LUT
            lref.ReferencedSOPInstanceUID = lut_uid
            box.ReferencedPresentationLUTSequence = [lref]
            if "Illumination" in attrs:
                box.Illumination = settings.illumination
            if "ReflectedAmbientLight" in attrs:
                box.ReflectedAmbientLight = settings.reflected_ambient_light
        box_uid = generate_uid()
        status, reply = self._live().send_n_create(box, FILM_BOX, box_uid, meta_uid=meta)
        self._check("Film Box N-CREATE", status)
        refs = list((reply or Dataset()).get("ReferencedImageBoxSequence", []) or [])
        if len(refs) < len([b for b in film.boxes if b is not None]):
            if self.profile.print.on_failure_status == "abort":
                self.abort()
            raise NetworkError(
                f"print: {self.node} created {len(refs)} image boxes for {film.display_format}, "
                f"{len(film.boxes)} needed",
                "the camera does not support this display format")
        for position, (pixels, item) in enumerate(zip(film.boxes, refs), 1):
            if pixels is None:
                continue
            self._set_image_box(position, pixels, film, item, settings, meta)
        status, reply = self._live().send_n_action(None, 1, FILM_BOX, box_uid, meta_uid=meta)
        code = self._check("Film Box N-ACTION", status)
        for item in (reply or Dataset()).get("ReferencedPrintJobSequence", []) or []:
            self.print_jobs.append(str(item.ReferencedSOPInstanceUID))
        status = self._live().send_n_delete(FILM_BOX, box_uid, meta_uid=meta)
        self._check("Film Box N-DELETE", status)
        LOGGER.info("film printed on %s: %s, %d image(s)", self.node, film.layout or film.display_format, film.images)
        return code

    def _set_image_box(self, position: int, pixels: np.ndarray, film: Any, ref: Dataset, settings: PrintSettings,
                       meta: str | None) -> None:
        pp = self.profile.print
        color = pixels.ndim == 3
        item = Dataset()
        rows, cols = pixels.shape[:2]
        item.Rows, item.Columns = rows, cols
        item.PixelAspectRatio = [1, 1]
        item.PixelRepresentation = 0
        if color:
            item.SamplesPerPixel = 3
            item.PhotometricInterpretation = "RGB"
            item.PlanarConfiguration = pp.color_planar_configuration
            item.BitsAllocated = item.BitsStored = 8
            item.HighBit = 7
            data = (np.ascontiguousarray(pixels.transpose(2, 0, 1)) if pp.color_planar_configuration == 1
                    else np.ascontiguousarray(pixels)).astype(np.uint8).tobytes()
            item["PixelData"] = DataElement(0x7FE00010, "OB", data)
        else:
            item.SamplesPerPixel = 1
            item.PhotometricInterpretation = "MONOCHROME2"
            bits = int(film.bits_stored)
            item.BitsAllocated = 8 if bits <= 8 else 16
            item.BitsStored = bits
            item.HighBit = bits - 1
            data = pixels.astype(np.uint8 if bits <= 8 else "<u2").tobytes()
            item["PixelData"] = DataElement(0x7FE00010, "OB" if bits <= 8 else "OW", data)
        ds = Dataset()
        ds.ImageBoxPosition = position
        if color:
            ds.BasicColorImageSequence = [item]
        else:
            ds.BasicGrayscaleImageSequence = [item]
        attrs = pp.image_box_attributes
        if "Polarity" in attrs:
            _set(ds, "Polarity", settings.polarity)
        if "RequestedImageSize" in attrs and settings.requested_image_size:
            ds.RequestedImageSize = settings.requested_image_size
        if "SmoothingType" in attrs:
            _set(ds, "SmoothingType", None)  # image-level smoothing: not chosen by the console
        uid = str(ref.ReferencedSOPInstanceUID)
        cls = str(ref.get("ReferencedSOPClassUID", COLOR_IMAGE_BOX if color else GRAYSCALE_IMAGE_BOX))
        status, _ = self._live().send_n_set(ds, cls, uid, meta_uid=meta)
        self._check(f"Image Box {position} N-SET", status)
