"""``vscanner tui``: the scanner console in the terminal (Textual).

``vscanner tui [--profile P] [--embedded]`` opens the console: Patient (worklist, registration
of an unscheduled patient), Exam (protocols with editable parameters, start/stop, steps, live
preview), Browser (the store; send, print, burn), Jobs (send, print and burn queues; retry,
cancel), Devices (echo, film camera, its status line, burner) and Log.
With ``--embedded`` - the default when no site configuration exists - the embedded RIS, PACS,
film camera and burner start with it on free 127.0.0.1 ports (as ``vscanner demo``). Textual is
imported only when the command runs, so ``vscanner --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import logging
from pathlib import Path

from ..errors import UsageError


def cmd_tui(args: argparse.Namespace) -> int:
    from ..config import load_site_config
    from ..profile import find_profile

    dirs = list(getattr(args, "profile_dir", None) or [])
    site = load_site_config(getattr(args, "config", None))
    embedded = args.embedded or not site.nodes
    # the console owns the terminal: library logs would draw over it
    logging.getLogger().setLevel(logging.CRITICAL if not getattr(args, "verbose", 0) else logging.WARNING)
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    try:
        from ..tui.app import make_app
        from ..tui.session import ConsoleSession
    except ImportError as exc:  # Textual is a dependency, but say what is missing if it is not there
        raise UsageError(f"the console needs Textual: {exc}", "pip install textual") from None
    if embedded:
        profile = find_profile(args.profile or "syngo-mr-xa11b", dirs)
        session = ConsoleSession.embedded(profile, Path(args.keep) if args.keep else None,
                                          max_wait=args.max_wait)
    else:
        profile = find_profile(args.profile or site.local.profile, dirs)
        if any(n.tls for n in site.nodes.values()):
            from .network import _requestor_tls

            _requestor_tls(args, site, profile)  # nodes with tls = true: certificates from [local]
        session = ConsoleSession(profile, site, max_wait=args.max_wait)
    try:
        make_app(session).run()
    finally:
        session.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = subparsers.add_parser(
        "tui",
        help="the scanner console in the terminal (worklist, exam, browser, jobs, devices, log)",
        description="Open the scanner console: Patient (worklist with filter; n registers an unscheduled "
                    "patient), Exam (protocols with editable TR/TE/TI/flip, kVp/mAs/kernel, dose/uptake; start "
                    "and stop; steps, progress and a live preview of the slices), Browser (the store as patient / "
                    "study / series; send, print, burn), Jobs (send and commitment, print and burn queues with "
                    "progress; retry, cancel, resume the camera's queue), Devices (C-ECHO, the film camera's "
                    "status with the product's message and its serial status line, the burner) and Log. With "
                    "--embedded (the default when no site configuration exists) the embedded RIS, PACS, film "
                    "camera and burner start with it. Keys 1-6 switch screens, ctrl+p opens the command "
                    "palette, q quits.",
    )
    sp.add_argument("--profile", help="profile id or .toml path (default: the site's, else syngo-mr-xa11b)")
    sp.add_argument("--embedded", action="store_true",
                    help="start the embedded hospital (RIS, PACS, camera, burner) on free 127.0.0.1 ports")
    sp.add_argument("--keep", metavar="DIR", help="with --embedded: keep the hospital's files in DIR")
    sp.add_argument("--max-wait", type=float, default=60.0, metavar="S", help="upper bound of any wait of an exam")
    sp.set_defaults(func=cmd_tui)
