"""Print: film composition, the durable print queue, and the statement's reaction to the camera.

The Python API the workflow calls::

    from appliance.printing import print_images
    result = print_images(profile, node, paths, local_ae="VSCANNER", film_size="14INX17IN",
                          display_format="STANDARD\\\\2,2", copies=1, data=Path("vscanner-data"))
    result.ok, result.films, result.messages, result.status

:func:`print_images` loads the images (windowed per their VOI), composes the films as the
product does (one pre-rendered page per film in ``page_mode``, else one image box per image),
puts the job in the durable print queue (``<data>/print_jobs.sqlite``; a temporary queue when
*data* is None), runs it (:class:`~appliance.printing.runner.PrintRunner`) and reports what the
console would show: the statement's status-bar messages, the printer status, and whether the
camera's queue was stopped. A job that could not print stays queued in *data* and prints on
the next run once the camera is ready (``vscanner printer resume`` for a stopped queue).
"""

from __future__ import annotations

__all__ = [
    "print_images",
    "PrintResult",
    "resolve_settings",
    "PrintPlan",
    "PrintRunner",
    "PrintQueue",
    "react",
    "Reaction",
]

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import Node
from ..errors import UsageError
from ..net.print_scu import PrintSettings
from ..profile import Profile
from .composition import compose_films, density_level, load_images, parse_display_format
from .queue import PrintQueue
from .runner import PrintRunner
from .status import Reaction, react

DEFAULT_LAYOUT = "STANDARD\\2,2"
DEFAULT_FILM_SIZE = "14INX17IN"


@dataclass
class PrintResult:
    """What a print request came to, as the console shows it."""

    ok: bool                       # every film of the job was accepted by the camera
    films: int                     # films printed (each copy counts)
    messages: list[str]            # the statement's messages and the console's notices, in order
    status: str                    # final Printer Status (NORMAL, WARNING, FAILURE; "" if unknown)
    status_info: str = ""          # final Printer Status Info
    reaction: str = ""             # idle, interact, queue_stopped
    queue_stopped: bool = False    # the camera's print queue is stopped
    job_id: int | None = None
    state: str = ""                # queued, printing, printed, failed
    error: str = ""
    films_expected: int = 0


@dataclass(frozen=True)
class PrintPlan:
    """The resolved print request: settings sent, layout drawn, mode and color."""

    settings: PrintSettings
    layout: str
    page_mode: bool
    color: bool
    bits_stored: int
    copies_as_jobs: bool
    magnification: str


def _choose(value: str | None, allowed: Sequence[str], what: str, default: str | None, profile: Profile,
            option: str) -> str | None:
    if value is None:
        return default
    v = value.strip().upper()
    if allowed and v not in allowed:
        raise UsageError(f"{profile.id} does not print with {what} {v!r}",
                         f"{option}: choose one of {', '.join(allowed)} (the statement's values)")
    return v


def resolve_settings(
    profile: Profile,
    *,
    film_size: str | None = None,
    display_format: str | None = None,
    copies: int = 1,
    orientation: str | None = None,
    medium_type: str | None = None,
    film_destination: str | None = None,
    magnification: str | None = None,
    border_density: str | None = None,
    mode: str | None = None,
    color: bool = False,
    label: str | None = None,
    trim: str | None = None,
    min_density: int | None = None,
    max_density: int | None = None,
    empty_image_density: str | None = None,
    polarity: str | None = None,
) -> PrintPlan:
    """Check a print request against the profile's ``[print]`` values and fill the defaults.

    Raises :class:`UsageError` naming the allowed values when a choice is not the product's.
    """
    pp = profile.print
    if not pp.scu:
        raise UsageError(f"{profile.id} has no print SCU", "print from a product whose statement lists print")
    if copies < 1:
        raise UsageError(f"copies must be at least 1, got {copies}", "give --copies 1 or more")
    if pp.max_copies not in (None, 1) and copies > pp.max_copies:
        raise UsageError(f"{profile.id} prints at most {pp.max_copies} copies", f"give --copies 1..{pp.max_copies}")
    sizes = tuple(pp.film_sizes)
    size_default = DEFAULT_FILM_SIZE if not sizes or DEFAULT_FILM_SIZE in sizes else sizes[0]
    size = _choose(film_size, sizes, "film size", size_default, profile, "--film-size")
    orient = _choose(orientation, tuple(pp.orientations), "film orientation",
                     pp.orientations[0] if pp.orientations else "PORTRAIT", profile, "--orientation")
    medium = _choose(medium_type, tuple(pp.medium_types), "medium type",
                     pp.medium_types[0] if pp.medium_types else None, profile, "--medium")
    dest = _choose(film_destination, tuple(pp.film_destinations), "film destination",
                   pp.film_destinations[0] if pp.film_destinations else None, profile, "--destination")
    mag = _choose(magnification, tuple(pp.magnification_types), "magnification type",
                  pp.magnification_types[0] if pp.magnification_types else None, profile, "--magnification")
    border = _choose(border_density, tuple(pp.border_densities) if not (border_density or "").isdigit() else (),
                     "border density", None, profile, "--border-density")
    layout = parse_display_format(display_format or DEFAULT_LAYOUT).text
    image_mode_allowed = (not pp.page_mode) or any(f.upper() != "STANDARD\\1,1" for f in pp.display_formats)
    if mode not in (None, "page", "image"):
        raise UsageError(f"print mode {mode!r} is not page or image", "give --mode page or --mode image")
    if mode == "image" and not image_mode_allowed:
        raise UsageError(f"{profile.id} sends every film as one pre-rendered page (STANDARD\\1,1)",
                         "leave out --mode image: the layout is drawn into the page")
    if mode == "page" and not pp.page_mode:
        raise UsageError(f"{profile.id} does not render pages; the camera lays out the images",
                         "leave out --mode page")
    page_mode = pp.page_mode if mode is None else mode == "page"
    if not page_mode and pp.display_formats:
        allowed = {f.upper() for f in pp.display_formats}
        generic = "STANDARD\\C,R" in allowed and layout.startswith("STANDARD\\")
        if layout not in allowed and not generic:
            raise UsageError(f"{profile.id} does not print the display format {layout}",
                             f"--format: choose one of {', '.join(pp.display_formats)}")
    if trim is not None and trim.upper() not in ("YES", "NO"):
        raise UsageError(f"trim {trim!r} is not YES or NO", "give --trim YES or --trim NO")
    if polarity is not None and polarity.upper() not in ("NORMAL", "REVERSE"):
        raise UsageError(f"polarity {polarity!r} is not NORMAL or REVERSE", "give --polarity NORMAL or REVERSE")
    if min_density is not None and max_density is not None and min_density >= max_density:
        raise UsageError(f"min density {min_density} is not below max density {max_density}",
                         "densities are hundredths of optical density, e.g. --min-density 20 --max-density 320")
    copies_as_jobs = pp.max_copies == 1
    settings = PrintSettings(
        film_size=size, orientation=orient, magnification=mag, medium_type=medium, film_destination=dest,
        copies=1 if copies_as_jobs else copies, border_density=border, label=label,
        priority="MED" if "PrintPriority" in pp.film_session_attributes else None,
        trim=trim.upper() if trim else None, min_density=min_density, max_density=max_density,
        empty_image_density=empty_image_density.upper() if empty_image_density else None,
        polarity=polarity.upper() if polarity else None,
    )
    bits = int(pp.grayscale_bits_stored[0]) if pp.grayscale_bits_stored else 8
    return PrintPlan(settings, layout, page_mode, bool(color and pp.color), bits, copies_as_jobs, mag or "BILINEAR")


def print_images(
    profile: Profile,
    node: Node,
    paths: Sequence[Path | str],
    *,
    local_ae: str = "VSCANNER",
    film_size: str | None = None,
    display_format: str | None = None,
    copies: int = 1,
    data: Path | str | None = None,
    orientation: str | None = None,
    medium_type: str | None = None,
    film_destination: str | None = None,
    magnification: str | None = None,
    border_density: str | None = None,
    trim: str | None = None,
    min_density: int | None = None,
    max_density: int | None = None,
    empty_image_density: str | None = None,
    polarity: str | None = None,
    mode: str | None = None,
    color: bool | None = None,
    dpi: float = 100.0,
    annotations: bool = True,
    status_line: Any = None,
    dimse_timeout: float | None = None,
    on_message: Callable[[str, str, str], None] | None = None,
) -> PrintResult:
    """Print DICOM images on *node* as *profile*'s console does, through the durable queue.

    Parameters
    ----------
    profile, node : the product and the camera.
    paths : DICOM files or folders (every frame of every image is printed, in series /
        instance order).
    local_ae : calling AE title.
    film_size, display_format : Film Size ID and the layout (``STANDARD\\C,R``, ...); defaults:
        14INX17IN (or the product's first size) and STANDARD\\2,2.
    copies : copies of the job (sent as repeated jobs when the product always sends 1 copy).
    data : folder of the durable print queue; None uses a temporary one.
    orientation, medium_type, film_destination, magnification, border_density : print values,
        checked against the profile (defaults: the statement's first value).
    trim, min_density, max_density, empty_image_density, polarity : further Film Box / Image
        Box values; each is sent only when the product sends that attribute.
    mode : ``"page"`` or ``"image"`` (default: the product's: page mode when it pre-renders).
    color : print in color (default: when the images are color and the product prints color).
    dpi : resolution of pre-rendered pages.
    annotations : burn patient and image labels into the films.
    status_line : a camera status line (:mod:`devices.serial_status`) read as a further
        status source.
    on_message : callable(destination, text, reaction) for live display.
    """
    images = load_images(paths)
    if not images:
        raise UsageError("nothing to print: no DICOM images in " + ", ".join(map(str, paths)),
                         "give image files or folders (CT, MR, PET, SC ...)")
    is_color = any(im.color for im in images) if color is None else color
    plan = resolve_settings(profile, film_size=film_size, display_format=display_format, copies=copies,
                            orientation=orientation, medium_type=medium_type, film_destination=film_destination,
                            magnification=magnification, border_density=border_density, mode=mode,
                            color=is_color, trim=trim, min_density=min_density, max_density=max_density,
                            empty_image_density=empty_image_density, polarity=polarity)
    settings = plan.settings
    border = density_level(settings.border_density, default=0.0)
    films = compose_films(images, layout=plan.layout, page_mode=plan.page_mode, film_size=settings.film_size or
                          DEFAULT_FILM_SIZE, orientation=settings.orientation or "PORTRAIT", dpi=dpi,
                          magnification=plan.magnification, bits_stored=plan.bits_stored, color=plan.color,
                          border=border, annotate=annotations)
    tmp = None
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="vscanner-print-")
        data = tmp.name
    queue = PrintQueue(data)
    try:
        job = queue.enqueue(films, node, profile=profile.source or profile.id, calling_ae=local_ae,
                            settings=settings.as_dict(), copies=copies, copies_as_jobs=plan.copies_as_jobs)
        dest = job.destination
        first_message = max((m.id for m in queue.messages(dest)), default=0)
        lines = {dest: status_line, node.ae_title: status_line} if status_line is not None else {}
        with PrintRunner(queue, on_message=on_message, status_lines=lines, dimse_timeout=dimse_timeout) as runner:
            runner.run([job.id])
        final = queue.job(job.id)
        cam = queue.camera(dest)
        messages = [m.text for m in queue.messages(dest, since_id=first_message)]
        assert final is not None
        return PrintResult(
            ok=final.state == "printed",
            films=final.units_done,
            messages=messages,
            status=cam.printer_status,
            status_info=cam.status_info,
            reaction=cam.reaction,
            queue_stopped=cam.stopped,
            job_id=final.id,
            state=final.state,
            error=final.last_error,
            films_expected=final.units,
        )
    finally:
        queue.close()
        if tmp is not None:
            tmp.cleanup()
