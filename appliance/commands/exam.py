"""``vscanner demo`` and ``vscanner exam``: the whole exam, end to end.

``vscanner demo [--profile P] [--all-profiles] [--keep DIR]`` starts the embedded hospital (RIS,
PACS, film camera, CD burner on free 127.0.0.1 ports), runs one whole exam headless with a
line per step (and a bar for long steps on a terminal), then prints the table of steps; the
exit code is 0 only when every step succeeded.

``vscanner exam --scenario FILE.toml`` runs a scripted exam with timed faults in the embedded
hospital and checks its expected outcomes (``--json`` / ``--junit`` reports; exit 0 when every
expectation holds). ``vscanner exam`` without ``--scenario`` runs one exam against the nodes of
the site configuration (``--config``): a real RIS, PACS and printer.
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError

LOGGER = logging.getLogger(__name__)

PROFILES = ("syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a")


def _quiet(args: argparse.Namespace, devices_too: bool = False) -> None:
    """Keep the terminal for the exam's own lines: library INFO logs only with -v."""
    if not getattr(args, "verbose", 0):
        logging.getLogger().setLevel(logging.WARNING)
        logging.getLogger("openjpeg").setLevel(logging.WARNING)
        # connection errors are the exam's to report (a step line, a notice), once
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        if devices_too:  # deliberate faults make the devices warn; the exam's notices say it once
            logging.getLogger("devices").setLevel(logging.ERROR)
            logging.getLogger("appliance").setLevel(logging.ERROR)
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


def _profiles(args: argparse.Namespace, default: list[str]) -> list[str]:
    from ..profile import available_profiles, find_profile

    dirs = list(getattr(args, "profile_dir", None) or [])
    if args.all_profiles:
        if args.profile:
            raise UsageError("give either --profile or --all-profiles")
        known = available_profiles(dirs)
        ids = [p for p in PROFILES if p in known] + sorted(p for p in known if p not in PROFILES)
        return ids
    ids = [args.profile] if args.profile else default
    for pid in ids:
        find_profile(pid, dirs)  # a bad name is a usage error (exit 2) before anything starts
    return ids


def _header(text: str, out: Any) -> None:
    print(f"\n== {text} ==", file=out)


# --- demo --------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from devices.hospital import Hospital

    from ..profile import find_profile
    from ..workflow import DEMO_TIME_SCALE, Exam, ExamOptions
    from ..workflow.console import ConsoleReporter, profiles_table

    _quiet(args)
    out = sys.stdout
    ids = _profiles(args, ["syngo-mr-xa11b"])
    summary: list[tuple[str, Any, float]] = []
    reports: list[dict[str, Any]] = []
    worst = 0
    for pid in ids:
        profile = find_profile(pid, list(getattr(args, "profile_dir", None) or []))
        _header(f"vscanner demo: {profile.title} ({profile.id})", out)
        folder = Path(args.keep) / profile.id if args.keep else None
        t0 = time.monotonic()
        result = None
        try:
            with Hospital(profile, folder, commit_delay=args.commit_delay) as hospital:
                for line in hospital.describe():
                    print("  " + line, file=out)
                options = ExamOptions(time_scale=1.0 if args.real_time else DEMO_TIME_SCALE,
                                      full_size=args.full_size, max_wait=args.max_wait, seed=args.seed)
                if not args.real_time:
                    print(f"  product delays x{DEMO_TIME_SCALE:g} (--real-time for the product's own timing); "
                          f"{'full-size' if args.full_size else 'small'} images", file=out)
                print(file=out)
                reporter = ConsoleReporter(out, notices=not args.quiet)
                exam = Exam(profile, hospital.site, options=options, on_event=reporter, burner=hospital.burner)
                result = exam.run()
                reporter.finish()
                print("\n" + result.table(), file=out)
                films = [str(p) for p in (hospital.printer.films if hospital.printer is not None else [])]
                reports.append(_demo_report(hospital, result, films))
                if args.keep:
                    print(f"\n  kept in {hospital.folder}: films {len(films)}, disc {result.iso or 'none'}", file=out)
        finally:
            seconds = time.monotonic() - t0
            summary.append((pid, result, seconds))
        if result is None or not result.ok:
            worst = 1
    if len(ids) > 1:
        _header("summary", out)
        print(profiles_table(summary), file=out)
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({"passed": worst == 0, "runs": reports}, indent=2, ensure_ascii=False))
        print(f"\nJSON report: {args.json}", file=out)
    print(f"\n{'every step succeeded' if worst == 0 else 'some steps did not succeed'} "
          f"({sum(s for _p, _r, s in summary):.1f} s)", file=out)
    return worst


def _demo_report(hospital: Any, result: Any, films: list[str]) -> dict[str, Any]:
    """The exam and what the hospital's devices saw, for --json (CI assertions)."""
    pacs, ris, burner = hospital.pacs, hospital.ris, hospital.burner
    steps = {}
    for uid, st in (ris.steps.items() if ris is not None else []):
        steps[uid] = {"status": st.status, "history": [s for _t, s in st.history],
                      "referenced": [u for _c, u in st.referenced_instances], "problems": st.problems}
    return {
        "profile": hospital.profile.id,
        "folder": str(hospital.folder),
        "exam": result.as_dict(),
        "pacs": {"node": str(pacs.node), "instances": sorted(pacs.instances()),
                 "committed": sorted(pacs.committed)} if pacs is not None else None,
        "ris": {"node": str(ris.node), "mpps": steps} if ris is not None else None,
        "printer": {"films": films} if hospital.printer is not None else hospital.missing.get("printer"),
        "burner": {"discs": [str(p) for p in burner.burned]} if burner is not None
        else hospital.missing.get("burner"),
    }


# --- exam --------------------------------------------------------------------------------------


def cmd_exam(args: argparse.Namespace) -> int:
    if args.scenario:
        return _run_scenarios(args)
    if args.json or args.junit:
        raise UsageError("--json / --junit report scenarios", "give --scenario FILE.toml")
    return _run_site_exam(args)


def _run_scenarios(args: argparse.Namespace) -> int:
    from ..workflow.console import ConsoleReporter
    from ..workflow.scenario import find_scenario, json_report, junit_report, load_scenario, run_scenario

    _quiet(args, devices_too=True)
    scenario = load_scenario(find_scenario(args.scenario))
    ids = _profiles(args, scenario.default_profiles)
    out = sys.stdout
    runs = []
    for pid in ids:
        _header(f"scenario {scenario.name!r} on {pid}", out)
        if scenario.description:
            print("  " + scenario.description, file=out)
        reporter = ConsoleReporter(out)
        folder = Path(args.keep) / pid if args.keep else None
        run = run_scenario(scenario, pid, folder=folder, on_event=reporter, full_size=args.full_size or None)
        reporter.finish()
        if run.result is not None:
            print("\n" + run.result.table(), file=out)
        if run.error:
            print(f"\n  the scenario could not run: {run.error}", file=out)
        print(file=out)
        for c in run.checks:
            mark = "pass" if c.passed else "FAIL"
            line = f"  [{mark}] {c.name}"
            if not c.passed:
                line += f": expected {c.expected!r}, got {c.actual!r}"
            if c.detail and (not c.passed or args.verbose):
                line += f" ({c.detail})"
            print(line, file=out)
        print(f"  => {'PASSED' if run.passed else 'FAILED'} in {run.duration:.1f} s", file=out)
        runs.append(run)
    if args.json:
        Path(args.json).write_text(json_report(runs))
        print(f"JSON report: {args.json}", file=out)
    if args.junit:
        Path(args.junit).write_text(junit_report(runs))
        print(f"JUnit XML report: {args.junit}", file=out)
    passed = sum(1 for r in runs if r.passed)
    print(f"\n{passed} of {len(runs)} run(s) passed", file=out)
    return 0 if passed == len(runs) else 1


def _run_site_exam(args: argparse.Namespace) -> int:
    from ..config import load_site_config
    from ..profile import find_profile
    from ..workflow import Exam, ExamOptions
    from ..workflow.console import ConsoleReporter

    if args.all_profiles:
        raise UsageError("--all-profiles is for the embedded hospital", "use --scenario, or vscanner demo")
    _quiet(args)
    site = load_site_config(getattr(args, "config", None))
    if not site.nodes:
        raise UsageError("no nodes in the site configuration",
                         "give --config site.toml with the RIS (worklist, mpps), the archive and the printer, "
                         "or try `vscanner demo` (embedded hospital) / `vscanner exam --scenario FILE`")
    profile = find_profile(args.profile or site.local.profile, list(getattr(args, "profile_dir", None) or []))
    if any(n.tls for n in site.nodes.values()):
        from .network import _requestor_tls

        _requestor_tls(args, site, profile)  # nodes with tls = true: certificates from [local]
    options = ExamOptions(protocol=args.protocol, patient_id=args.patient_id, accession_number=args.accession,
                          full_size=args.full_size, time_scale=args.time_scale, max_wait=args.max_wait,
                          send_retries=args.retries, retry_interval=args.retry_interval, seed=args.seed,
                          auto_print=not args.no_print, burn=not args.no_burn, discontinue=args.discontinue)
    print(f"exam on {profile.title} as {site.local.ae_title} (site {site.source or 'defaults'})")
    reporter = ConsoleReporter(sys.stdout)
    result = Exam(profile, site, options=options, on_event=reporter).run()
    reporter.finish()
    print("\n" + result.table())
    return 0 if result.ok else 1


# --- parsers -----------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = subparsers.add_parser(
        "demo",
        help="start an embedded hospital (RIS, PACS, printer, burner) and run one whole exam",
        description="Start the embedded RIS, PACS, film camera and CD burner on free 127.0.0.1 ports and run one "
                    "whole exam headless: worklist, MPPS IN PROGRESS, acquisition, store, send, storage "
                    "commitment, MPPS COMPLETED, print, burn. Prints a line per step and a table at the end; "
                    "exit code 0 only when every step succeeded.",
    )
    sp.add_argument("--profile", help="profile id or .toml path (default syngo-mr-xa11b)")
    sp.add_argument("--all-profiles", action="store_true", help="one exam per profile, then a summary")
    sp.add_argument("--keep", metavar="DIR", help="keep stores, films and discs in DIR/<profile> (default: removed)")
    sp.add_argument("--full-size", action="store_true", help="acquire at the protocols' full matrices (slower)")
    sp.add_argument("--real-time", action="store_true",
                    help="use the product's delays as they are (e.g. storage commitment 600 s after the send)")
    sp.add_argument("--commit-delay", type=float, default=0.2, metavar="S",
                    help="seconds the PACS waits before its commitment report (default 0.2)")
    sp.add_argument("--max-wait", type=float, default=60.0, metavar="S", help="upper bound of any wait (default 60)")
    sp.add_argument("--seed", type=int, default=0, help="image noise seed")
    sp.add_argument("-q", "--quiet", action="store_true", help="no notices, only step lines and the table")
    sp.add_argument("--json", metavar="FILE",
                    help="write the exams and what the devices saw (archive, commitments, MPPS, films, discs) as JSON")
    sp.set_defaults(func=cmd_demo)

    sp = subparsers.add_parser(
        "exam",
        help="run a scripted exam with faults (--scenario) or one exam against the configured site",
        description="With --scenario FILE.toml (or the name of an example in scenarios/): start the embedded "
                    "hospital, apply the scenario's timed faults (PACS down, FILM JAM, disc full, MPPS refused, "
                    "association abort mid-send), run one exam and check the expected outcomes; write --json "
                    "and --junit reports; exit 0 when every expectation holds. Without --scenario: run one exam "
                    "against the nodes of the site configuration (--config).",
    )
    sp.add_argument("--scenario", metavar="FILE", help="scenario TOML file or example name (scenarios/*.toml)")
    sp.add_argument("--profile", help="profile id or .toml path (default: the scenario's / the site's)")
    sp.add_argument("--all-profiles", action="store_true", help="run the scenario on every profile")
    sp.add_argument("--json", metavar="FILE", help="write the JSON report")
    sp.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    sp.add_argument("--keep", metavar="DIR", help="keep the hospital's files in DIR/<profile>")
    sp.add_argument("--full-size", action="store_true", help="acquire at the protocols' full matrices")
    site = sp.add_argument_group("an exam against the site configuration (without --scenario)")
    site.add_argument("--protocol", help="the protocol to run (default: the one the worklist item asks for)")
    site.add_argument("--patient-id", help="perform the scheduled step of this patient")
    site.add_argument("--accession", help="perform the scheduled step with this accession number")
    site.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                      help="multiply the product's delays (default 1)")
    site.add_argument("--max-wait", type=float, default=600.0, metavar="S", help="upper bound of any wait")
    site.add_argument("--retries", type=int, help="send retries (default: the profile's)")
    site.add_argument("--retry-interval", type=float, metavar="S", help="first retry interval (doubling)")
    site.add_argument("--seed", type=int, default=0, help="image noise seed")
    site.add_argument("--no-print", action="store_true", help="do not print films")
    site.add_argument("--no-burn", action="store_true", help="do not write a CD image (<data>/media/)")
    site.add_argument("--discontinue", action="store_true", help="discontinue the step after acquisition")
    sp.set_defaults(func=cmd_exam)
