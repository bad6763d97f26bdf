"""The ``vscanner`` command: a thin argparse layer over the core.

Exit codes: 0 ok, 1 failed operation, 2 bad input or configuration.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import UsageError, VScannerError

LOGGER = logging.getLogger("vscanner")

# Further subcommands live in appliance/commands/<module>.py, each with a
# ``register(subparsers)`` that adds its parsers and sets ``func`` (args -> exit code).
COMMAND_MODULES: list[str] = ["workflow", "network", "acquire", "media", "printing", "exam", "tui"]

DESCRIPTION = """\
vscanner: a virtual scanner console that behaves, on the wire and on media, like one of
five real MR/CT/PET/RT products as their DICOM Conformance Statements describe them.
Each product is a profile (a TOML file); `vscanner profiles` lists them.
"""

EPILOG = """\
examples:
  vscanner profiles
  vscanner conformance syngo-ct-va50a --format markdown
  vscanner serve --profile syngo-mr-xa11b --aet MRC --port 11112 --data ./mr-store
  echoscu -aec MRC 127.0.0.1 11112            # DCMTK, from another shell
  storescu -aec MRC 127.0.0.1 11112 image.dcm
  vscanner profile validate my-product.toml  # check a profile you wrote
"""


def _profile_dirs(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "profile_dir", None) or [])


def cmd_profiles(args: argparse.Namespace) -> int:
    from .profile import available_profiles, find_profile

    rows = []
    for pid, path in sorted(available_profiles(_profile_dirs(args)).items()):
        p = find_profile(str(path))
        rows.append({"id": pid, "product": p.title, "manufacturer": p.identity.manufacturer,
                     "statement": p.statement, "file": str(path)})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(r["id"]) for r in rows), default=2)
        for r in rows:
            print(f"{r['id']:<{width}}  {r['product']}")
    return 0


def cmd_conformance(args: argparse.Namespace) -> int:
    from .conformance import conformance_dict, conformance_markdown
    from .profile import find_profile

    p = find_profile(args.profile, _profile_dirs(args))
    if args.format == "json":
        print(json.dumps(conformance_dict(p), indent=2))
    else:
        sys.stdout.write(conformance_markdown(p))
    return 0


def cmd_profile_validate(args: argparse.Namespace) -> int:
    from .profile import validate_file

    worst = 0
    for f in args.files:
        profile, problems = validate_file(f)
        if problems:
            worst = 2
            for pr in problems:
                print(pr, file=sys.stderr)
        else:
            assert profile is not None
            print(f"{f}: ok, {len(profile.sop_classes)} SOP classes")
    return worst


def cmd_serve(args: argparse.Namespace) -> int:
    from .net.server import Server
    from .profile import find_profile

    import pydicom.config

    # The SCP validates what it needs itself and answers with a DICOM status; pydicom's own
    # warnings about odd values from peers would only flood the log.
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    p = find_profile(args.profile, _profile_dirs(args))
    if args.aet is not None:
        from .profile import ae_title_problem

        bad = ae_title_problem(args.aet)
        if bad:
            raise UsageError(f"--aet: {bad}", "give 1-16 ASCII characters, e.g. --aet VSCANNER")
    from .commands.network import serve_security
    from .config import load_site_config

    site = load_site_config(getattr(args, "config", None))
    server = Server(p, data=args.data, ae_title=args.aet, host=args.host, port=args.port, site=site,
                    accept_any_calling_ae=args.accept_any_calling_aet,
                    store_quota=_size(args.store_quota, "--store-quota"),
                    min_free_space=_size(args.min_free_space, "--min-free-space"),
                    association_timeout=args.association_timeout, network_timeout=args.network_timeout,
                    **serve_security(args, p, site))
    server.serve_forever()
    return 0


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse type)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}


def _size(text: str | None, option: str) -> int | None:
    """``"500M"`` -> bytes; None stays None."""
    if text is None:
        return None
    import re

    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise UsageError(f"{option}: {text!r} is not a size", "give bytes or a number with K, M or G, e.g. 500M")
    return int(m.group(1)) * _SIZE_UNITS[unit]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vscanner",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vscanner {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output; -v -v adds pynetdicom's own protocol log")
    parser.add_argument("--profile-dir", action="append", metavar="DIR",
                        help="also look for <id>.toml profiles in DIR (repeatable; "
                             "also VSCANNER_PROFILE_PATH)")
    parser.add_argument("--config", metavar="FILE",
                        help="site configuration (local AE, remote nodes); default $VSCANNER_CONFIG "
                             "or ./vscanner.toml when present")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sp = sub.add_parser("profiles", help="list the product profiles",
                        description="List the product profiles (id and product).")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.set_defaults(func=cmd_profiles)

    sp = sub.add_parser(
        "conformance",
        help="render a product's conformance overview",
        description="Render the overview of a product's conformance statement from its profile: "
                    "identity, SOP classes with roles, transfer syntaxes per service, media "
                    "profiles, character sets.",
    )
    sp.add_argument("profile", metavar="PROFILE", help="profile id (see `vscanner profiles`) or a .toml path")
    sp.add_argument("--format", choices=("markdown", "json"), default="markdown")
    sp.set_defaults(func=cmd_conformance)

    sp = sub.add_parser("profile", help="work with profile files",
                        description="Work with profile files.")
    psub = sp.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    pv = psub.add_parser("validate", help="check profile files and list every problem",
                         description="Check profile files; print every problem with file and key. "
                                     "Exit code 2 when any file has a problem.")
    pv.add_argument("files", nargs="+", metavar="FILE")
    pv.set_defaults(func=cmd_profile_validate)

    sp = sub.add_parser(
        "serve",
        help="play the product's provider roles (Verification, Storage, Q/R, Storage Commitment SCP) in the "
             "foreground",
        description="Listen for associations as the product would: accept exactly the SCP SOP "
                    "classes and transfer syntaxes of the profile, reject all other presentation "
                    "contexts, honour its max PDU and association limit, and store received "
                    "instances in --data. Where the profile provides them, answer C-FIND, C-MOVE "
                    "and C-GET from the store and Storage Commitment requests. With --config, only "
                    "the site configuration's nodes may associate (for products whose statement says "
                    "so); they are also the C-MOVE destinations and where commitment reports go. "
                    "Stop with Ctrl-C or SIGTERM.",
    )
    sp.add_argument("--profile", required=True, help="profile id (see `vscanner profiles`) or a .toml path")
    sp.add_argument("--aet", help="local AE title (default: the profile's default AE title)")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; use 0.0.0.0 to accept other machines)")
    sp.add_argument("--port", type=int, help="port (default: the profile's default port)")
    sp.add_argument("--data", default="vscanner-data", type=Path,
                    help="store folder for received instances (default ./vscanner-data)")
    sp.add_argument("--accept-any-calling-aet", action="store_true",
                    help="accept associations from any calling AE title, even when the product accepts "
                         "only configured nodes (the statements' 'answer any AET' switch)")
    sp.add_argument("--store-quota", metavar="SIZE",
                    help="answer C-STORE with the product's out-of-resources status once the stored "
                         "instances would exceed SIZE (bytes, or with K/M/G)")
    sp.add_argument("--min-free-space", metavar="SIZE",
                    help="answer out of resources when less than SIZE would stay free on the store's disk")
    sp.add_argument("--association-timeout", metavar="S", type=_seconds,
                    help="seconds a new connection may take to send its A-ASSOCIATE-RQ (default: the "
                         "profile's association_request time-out)")
    sp.add_argument("--network-timeout", metavar="S", type=_seconds,
                    help="seconds an association may stay silent before it is aborted (default: the "
                         "profile's idle or network time-out)")
    from .commands.network import add_serve_security_arguments

    add_serve_security_arguments(sp)
    sp.set_defaults(func=cmd_serve)

    for module in COMMAND_MODULES:
        importlib.import_module(f"appliance.commands.{module}").register(sub)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except VScannerError as exc:
        print(f"vscanner: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
