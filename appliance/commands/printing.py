"""``vscanner print`` and ``vscanner printer ...``: film printing, the emulated camera, camera status.

- ``vscanner print PATHS --to PRINTER [--film-size SIZE] [--format STANDARD\\C,R] ...``: compose
  films as the product does and print them through the durable print queue (``<data>``);
  prints the statement's messages; exit 0 when every film was accepted, 1 otherwise (the job
  stays queued when the camera was not ready).
- ``vscanner printer serve --tray DIR [--aet CAMERA] [--port P] [--status-line pty|URL]``: the
  emulated film camera (devices/printer.py) in the foreground.
- ``vscanner printer status NAME [--set CODE] [--line URL]``: the camera's status by N-GET
  (and the product's reaction to it), or by / through its serial status line; ``--set``
  changes it over the line.
- ``vscanner printer resume NAME``, ``vscanner printer jobs``: the queue of a camera.

Printers are configured nodes with role ``printer`` or ``AET@host:port``.
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

LOGGER = logging.getLogger(__name__)


def _site(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..config import load_site_config

    return load_site_config(getattr(args, "config", None))


def _profile(args: argparse.Namespace, site):  # type: ignore[no-untyped-def]
    from ..profile import find_profile

    return find_profile(getattr(args, "profile", None) or site.local.profile, getattr(args, "profile_dir", None) or [])


def _printer(text: str | None, site):  # type: ignore[no-untyped-def]
    from ..config import resolve_node
    from ..errors import UsageError

    if text:
        return resolve_node(text, site)
    printers = site.nodes_with_role("printer")
    if len(printers) == 1:
        return printers[0]
    raise UsageError("which printer?", "give --to NAME (a configured node with role \"printer\") or AET@host:port")


def _aet(args: argparse.Namespace, site) -> str:  # type: ignore[no-untyped-def]
    from ..errors import UsageError
    from ..profile import ae_title_problem

    aet = getattr(args, "aet", None) or site.local.ae_title
    bad = ae_title_problem(aet)
    if bad:
        raise UsageError(f"--aet: {bad}", "give 1-16 ASCII characters, e.g. --aet VSCANNER")
    return aet


# --- vscanner print ------------------------------------------------------------------------------


def cmd_print(args: argparse.Namespace) -> int:
    from ..printing import print_images

    site = _site(args)
    profile = _profile(args, site)
    node = _printer(args.to, site)
    data = Path(args.data or site.local.data)

    def show(dest: str, text: str, reaction: str) -> None:
        mark = {"queue_stopped": "STOPPED", "interact": "!"}.get(reaction, "")
        print(f"{dest}: {text}" + (f"  [{mark}]" if mark else ""), file=sys.stderr, flush=True)

    result = print_images(
        profile, node, args.paths, local_ae=_aet(args, site), film_size=args.film_size, display_format=args.format,
        copies=args.copies, data=data, orientation=args.orientation, medium_type=args.medium,
        film_destination=args.destination, magnification=args.magnification, border_density=args.border_density,
        trim=args.trim, min_density=args.min_density, max_density=args.max_density,
        empty_image_density=args.empty_image_density, polarity=args.polarity, mode=args.mode, dpi=args.dpi, annotations=not args.no_annotations, status_line=args.status_line,
        on_message=show,
    )
    print(f"print job {result.job_id}: {result.state}, {result.films}/{result.films_expected} film(s); "
          f"printer {result.status or '?'} {result.status_info}".rstrip()
          + ("; the camera's queue is STOPPED" if result.queue_stopped else ""))
    return 0 if result.ok else 1


# --- vscanner printer serve ---------------------------------------------------------------------------


def cmd_printer_serve(args: argparse.Namespace) -> int:
    from devices.printer import DEFAULT_FILM_SIZES, FilmPrinter

    printer = FilmPrinter(
        args.tray, ae_title=args.aet, host=args.host, port=args.port,
        film_sizes=args.film_sizes or DEFAULT_FILM_SIZES, dpi=args.dpi, color=not args.grayscale,
        send_events=args.events, status_line=args.status_line,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    with printer:
        print(f"film camera {printer.ae_title} listening on {args.host}:{printer.port}, tray {printer.tray}",
              flush=True)
        if printer.status_line_device:
            print(f"camera status line: {printer.status_line_device}", flush=True)
        if args.status:
            status, _, info = args.status.partition(":")
            printer.set_status(status, info)
        while not stop.wait(0.5):
            pass
    print(f"stopped; {len(printer.films)} film(s) printed", flush=True)
    return 0


# --- vscanner printer status ------------------------------------------------------------------------------


def cmd_printer_status(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..printing.status import react

    site = _site(args)
    if args.set:
        if not args.line:
            raise UsageError("--set needs the camera's status line", "give --line DEVICE_OR_URL (e.g. /dev/pts/3, "
                                                                       "socket://host:port)")
        from devices.serial_status import CameraStatusClient

        text = " ".join(args.set.upper().split())
        head, _, rest = text.partition(" ")
        with CameraStatusClient(args.line) as line:
            if head in ("NORMAL", "WARNING", "FAILURE"):
                line.set(head, rest)
            else:
                line.set(None, text)
            status, info = line.query()
        print(f"{args.name}: {status} {info}")
        return 0
    profile = _profile(args, site)
    if args.line:
        from devices.serial_status import CameraStatusClient

        with CameraStatusClient(args.line) as line:
            status, info = line.query()
        source = "status line"
    else:
        from ..net.print_scu import PrintSession

        node = _printer(args.name, site)
        with PrintSession(profile, node, _aet(args, site)) as session:
            status, info, _ = session.printer_status()
        source = "N-GET"
    r = react(profile.print, status, info)
    print(f"{args.name}: {status} {info} ({source})")
    print(f"{profile.id} shows: {r.message or '(no message)'}; camera symbol {r.reaction}"
          + (" - the print queue for this camera is stopped" if r.queue_stopped else "") + f" [{r.rule}]")
    return 0


# --- vscanner printer resume / jobs ------------------------------------------------------------------------


def cmd_printer_resume(args: argparse.Namespace) -> int:
    from ..printing import PrintQueue, PrintRunner

    site = _site(args)
    node = _printer(args.name, site)
    with PrintQueue(Path(args.data or site.local.data)) as queue:
        queue.set_queue_state(str(node), "running")
        print(f"print queue for {node} resumed")
        if args.no_run:
            return 0
        with PrintRunner(queue, profile_dirs=getattr(args, "profile_dir", None) or [],
                         on_message=lambda d, t, r: print(f"{d}: {t}", file=sys.stderr)) as runner:
            runner.run([j.id for j in queue.jobs(["queued"], destination=str(node))])
        left = queue.jobs(["queued"], destination=str(node))
    return 0 if not left else 1


def cmd_printer_run(args: argparse.Namespace) -> int:
    from ..printing import PrintQueue, PrintRunner

    site = _site(args)
    cameras = []
    for name in args.poll or []:
        node = _printer(name, site)
        cameras.append((node, _profile(args, site).source or _profile(args, site).id, _aet(args, site)))
    with PrintQueue(Path(args.data or site.local.data)) as queue:
        runner = PrintRunner(queue, profile_dirs=getattr(args, "profile_dir", None) or [],
                             on_message=lambda d, t, r: print(f"{d}: {t}", file=sys.stderr, flush=True))
        if not args.serve:
            with runner:
                runner.run()
            return 0 if not queue.jobs(["queued"]) else 1

        def _on_signal(signum: int, _frame: object) -> None:
            runner.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _on_signal)
        print("print queue running; Ctrl-C stops", file=sys.stderr, flush=True)
        runner.serve(cameras, poll_interval=args.poll_interval)
    return 0


def cmd_printer_jobs(args: argparse.Namespace) -> int:
    from ..printing import PrintQueue

    site = _site(args)
    with PrintQueue(Path(args.data or site.local.data)) as queue:
        if args.retry:
            print(f"{queue.retry()} failed job(s) queued again")
        if args.purge:
            print(f"{queue.purge()} printed/failed job(s) removed")
        for cam in queue.cameras():
            print(f"{cam.destination}: queue {cam.queue_state}, printer {cam.printer_status} {cam.status_info}"
                  + (f" - {cam.message}" if cam.message else ""))
        for j in queue.jobs():
            print(f"  job {j.id} -> {j.destination}: {j.state}, {j.units_done}/{j.units} film(s)"
                  + (f" ({j.last_error})" if j.last_error else ""))
    return 0


# --- registration ----------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = subparsers.add_parser(
        "print", help="print DICOM images on a film printer as the product does",
        description="Compose films from DICOM images as the product's console does (one pre-rendered page "
                    "per film, or one image box per image), queue the job durably in --data and print it on "
                    "PRINTER. Prints the statement's status messages; exit 1 when the job did not print "
                    "(it stays queued).")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="DICOM image files or folders (series)")
    sp.add_argument("--to", metavar="PRINTER", help="configured printer node or AET@host:port")
    sp.add_argument("--profile", help="product profile (default: the site configuration's)")
    sp.add_argument("--aet", help="calling AE title")
    sp.add_argument("--data", help="data folder holding the print queue")
    sp.add_argument("--film-size", help="Film Size ID, e.g. 14INX17IN")
    sp.add_argument("--format", help="layout, e.g. STANDARD\\2,2 (default STANDARD\\2,2)")
    sp.add_argument("--orientation", choices=("PORTRAIT", "LANDSCAPE"))
    sp.add_argument("--medium", help="Medium Type, e.g. \"BLUE FILM\"")
    sp.add_argument("--destination", help="Film Destination, e.g. MAGAZINE")
    sp.add_argument("--magnification", help="Magnification Type (REPLICATE, BILINEAR, CUBIC, NONE)")
    sp.add_argument("--border-density", help="Border Density (BLACK, WHITE)")
    sp.add_argument("--trim", choices=("YES", "NO"), help="Trim (sent where the product sends it)")
    sp.add_argument("--min-density", type=int, help="Min Density, hundredths of OD")
    sp.add_argument("--max-density", type=int, help="Max Density, hundredths of OD")
    sp.add_argument("--empty-image-density", help="Empty Image Density (BLACK, WHITE or a density)")
    sp.add_argument("--polarity", choices=("NORMAL", "REVERSE"), help="image box Polarity")
    sp.add_argument("--copies", type=int, default=1)
    sp.add_argument("--mode", choices=("page", "image"), help="pre-rendered page or one box per image "
                                                             "(default: the product's)")
    sp.add_argument("--dpi", type=float, default=100.0, help="resolution of pre-rendered pages (default 100)")
    sp.add_argument("--no-annotations", action="store_true", help="no patient/image text on the films")
    sp.add_argument("--status-line", metavar="URL", help="also read the camera's serial status line")
    sp.set_defaults(func=cmd_print)

    sp = subparsers.add_parser("printer", help="the emulated film camera and camera status",
                               description="The emulated film camera, camera status and the print queue.")
    psub = sp.add_subparsers(dest="printer_command", metavar="ACTION", required=True)

    p = psub.add_parser("serve", help="run the emulated film camera (a DICOM Print SCP writing PNGs)",
                        description="Run the emulated film camera in the foreground: every printed film is "
                                    "written to --tray as a PNG with a JSON manifest per film session. Stop "
                                    "with Ctrl-C or SIGTERM.")
    p.add_argument("--tray", required=True, type=Path, help="output tray folder")
    p.add_argument("--aet", default="CAMERA")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=10400)
    p.add_argument("--film-sizes", nargs="+", metavar="SIZE", help="accepted Film Size IDs")
    p.add_argument("--dpi", type=float, default=50.0, help="film resolution of the PNGs (default 50)")
    p.add_argument("--grayscale", action="store_true", help="grayscale only (no Basic Color Print)")
    p.add_argument("--events", action="store_true",
                   help="send Printer / Print Job N-EVENT-REPORTs on the print association (DCMTK's "
                        "dcmprscu takes them; pynetdicom-based SCUs, vscanner's own included, cannot)")
    p.add_argument("--status-line", metavar="pty|DEVICE|URL",
                   help="serve the camera status on a serial line ('pty' creates a pty pair and prints its device)")
    p.add_argument("--status", metavar="STATUS[:INFO]", help="initial status, e.g. FAILURE:FILM JAM")
    p.set_defaults(func=cmd_printer_serve)

    p = psub.add_parser("status", help="a camera's status and the product's reaction; --set changes it",
                        description="Show the camera's Printer Status and Info (N-GET, or the serial status line "
                                    "with --line) and what the product's console shows for it. --set CODE sets "
                                    "the status through the status line (SET FILM JAM, SET FAILURE XYZ, SET NORMAL).")
    p.add_argument("name", metavar="NAME", help="configured printer node or AET@host:port")
    p.add_argument("--set", metavar="CODE", help="new status: an info (FILM JAM) or STATUS INFO (FAILURE FILM JAM)")
    p.add_argument("--line", metavar="DEVICE|URL", help="the camera's serial status line")
    p.add_argument("--profile", help="product whose reaction is shown (default: the site configuration's)")
    p.add_argument("--aet", help="calling AE title")
    p.set_defaults(func=cmd_printer_status)

    p = psub.add_parser("resume", help="resume a stopped print queue and print what waits",
                        description="Resume the print queue of a camera that the statement's reaction stopped, "
                                    "then print its queued jobs.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--data", help="data folder holding the print queue")
    p.add_argument("--no-run", action="store_true", help="only resume, print later")
    p.set_defaults(func=cmd_printer_resume)

    p = psub.add_parser("run", help="print what waits in the queue (--serve: keep running, poll the cameras)",
                        description="Print the queued jobs. With --serve, keep running: new jobs are printed, the "
                                    "association is held as the product does (association_hold) and idle cameras "
                                    "get a Printer N-GET every status_poll_interval seconds.")
    p.add_argument("--data", help="data folder holding the print queue")
    p.add_argument("--serve", action="store_true", help="keep running until Ctrl-C / SIGTERM")
    p.add_argument("--poll", nargs="+", metavar="NAME", help="cameras to poll even without jobs")
    p.add_argument("--poll-interval", type=float, help="override the product's polling period (seconds)")
    p.add_argument("--profile", help="product of the polled cameras (default: the site configuration's)")
    p.add_argument("--aet", help="calling AE title for polling")
    p.set_defaults(func=cmd_printer_run)

    p = psub.add_parser("jobs", help="list the print queue", description="List cameras and print jobs.")
    p.add_argument("--data", help="data folder holding the print queue")
    p.add_argument("--retry", action="store_true", help="queue failed jobs again")
    p.add_argument("--purge", action="store_true", help="remove printed and failed jobs")
    p.set_defaults(func=cmd_printer_jobs)
