"""``vscanner worklist``, ``query``, ``retrieve`` and ``mpps``: the scanner's workflow SCU roles
from the command line, as the product does them (its profile's keys, models and attributes).

NODE is a node name from the site configuration or ``AET@host:port``. Our AE title, profile,
store folder and listening port default to the site configuration's ``[local]`` table.
"""

from __future__ import annotations

__all__ = ["register"]

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError

LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
MODELS = ("PATIENT", "STUDY", "PATIENT_STUDY_ONLY")


def _setup(args: argparse.Namespace, node_text: str) -> tuple[Any, Any, Any, str]:
    """(site config, profile, node, our AE title) from the common options."""
    from ..config import load_site_config, resolve_node
    from ..profile import ae_title_problem, find_profile

    config = load_site_config(getattr(args, "config", None))
    profile = find_profile(args.profile or config.local.profile, list(getattr(args, "profile_dir", None) or []))
    node = resolve_node(node_text, config)
    aet = args.aet or config.local.ae_title
    bad = ae_title_problem(aet)
    if bad:
        raise UsageError(f"--aet: {bad}", "give 1-16 ASCII characters, e.g. --aet VSCANNER")
    return config, profile, node, aet


def _common(sp: argparse.ArgumentParser, node_option: str, node_help: str) -> None:
    sp.add_argument(node_option, dest="node", required=True, metavar="NODE",
                    help=node_help + " (a configured node name or AET@host:port)")
    sp.add_argument("--profile", help="profile id or .toml path (default: the site configuration's local.profile)")
    sp.add_argument("--aet", help="our (calling) AE title (default: the site configuration's local.ae_title)")


def _keys(args: argparse.Namespace) -> dict[str, str]:
    from ..net.query_retrieve_scu import parse_keys

    return parse_keys(args.key or [])


# --- worklist -------------------------------------------------------------------------------


def cmd_worklist(args: argparse.Namespace) -> int:
    from ..net.worklist import query_worklist

    _config, profile, node, aet = _setup(args, args.node)
    station = aet if args.station is None else args.station
    items = query_worklist(profile, node, aet, station_ae_title=station, date=args.date,
                           modality=args.modality, keys=_keys(args))
    if args.json:
        rows = [{k: v for k, v in vars(it).items() if k != "dataset"} for it in items]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for it in items:
            print(it.line())
    print(f"{len(items)} worklist item(s) from {node}", file=sys.stderr)
    return 0


# --- query ----------------------------------------------------------------------------------

_NOT_SHOWN = {"QueryRetrieveLevel", "SpecificCharacterSet"}


def _match_line(ds: Any) -> str:
    from pydicom.multival import MultiValue

    parts = []
    for elem in ds:
        if elem.keyword in _NOT_SHOWN or elem.VR == "SQ" or elem.value in (None, "", b""):
            continue
        value = elem.value
        if isinstance(value, (list, tuple, MultiValue)):
            value = "\\".join(str(v) for v in value)
        parts.append(f"{elem.keyword}={value}")
    return "  ".join(parts)


def cmd_query(args: argparse.Namespace) -> int:
    from ..net.query_retrieve_scu import find

    _config, profile, node, aet = _setup(args, args.node)
    matches = find(profile, node, aet, args.level, _keys(args), model=args.model)
    if args.json:
        print(json.dumps([ds.to_json_dict() for ds in matches], indent=2, ensure_ascii=False))
    else:
        for ds in matches:
            print(_match_line(ds))
    print(f"{len(matches)} match(es) at the {args.level.upper()} level from {node}", file=sys.stderr)
    return 0


# --- retrieve -------------------------------------------------------------------------------


def cmd_retrieve(args: argparse.Namespace) -> int:
    from ..net import query_retrieve_scu as qr

    config, profile, node, aet = _setup(args, args.node)
    data = args.data or Path(config.local.data)
    keys = _keys(args)
    if args.method == "get":
        result = qr.get(profile, node, aet, args.level, keys, data=data, model=args.model)
    else:
        port = config.local.port if args.port is None else args.port
        host = args.host or config.local.host
        result = qr.move(profile, node, aet, args.level, keys, data=data, listen_host=host, listen_port=port,
                         model=args.model, site=config)
    where = str(result.store) if result.store else "the running storage SCP's store"
    print(f"C-{args.method.upper()} from {node}: {result.completed} completed, {result.failed} failed, "
          f"{result.warning} warning; {len(result.instances)} new instance(s) in {where}")
    if result.note:
        print(result.note, file=sys.stderr)
    for uid in result.instances:
        print(uid)
    return 0 if result.ok else 1


# --- mpps -----------------------------------------------------------------------------------


def cmd_mpps_create(args: argparse.Namespace) -> int:
    from ..net import mpps

    _config, profile, node, aet = _setup(args, args.node)
    patient = {kw: v for kw, v in (
        ("PatientName", args.patient_name), ("PatientID", args.patient_id),
        ("PatientBirthDate", args.birth_date), ("PatientSex", args.sex),
        ("StudyInstanceUID", args.study_uid), ("AccessionNumber", args.accession),
        ("RequestedProcedureID", args.requested_procedure_id),
    ) if v is not None}
    ds = mpps.build_create(profile, aet, None, patient=patient, modality=args.modality, pps_id=args.pps_id)
    step = mpps.create(profile, node, aet, ds, instance_uid=args.uid)
    print(step.sop_instance_uid)
    return 0


def cmd_mpps_set(args: argparse.Namespace) -> int:
    from ..net import mpps
    from ..store import Store

    config, profile, node, aet = _setup(args, args.node)
    series: list = []
    if args.data is not None or args.study is not None:
        data = args.data or Path(config.local.data)
        if not Path(data).is_dir():
            raise UsageError(f"--data {data}: no such store folder", "give the folder of vscanner's store")
        with Store(data) as store:
            series = mpps.performed_series_from_store(store, args.study, retrieve_ae_title=args.retrieve_aet or "")
    ds = mpps.build_set(profile, args.status, series)
    mpps.update(profile, node, aet, args.uid, ds)
    n_images = sum(len(s.images) + len(s.non_images) for s in series)
    print(f"{args.uid} {args.status}: {len(series)} series, {n_images} instance(s) referenced")
    return 0


# --- registration ---------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser(
        "worklist",
        help="query the RIS worklist as the product does (Modality Worklist C-FIND)",
        description="Query a Modality Worklist SCP with the product's matching and return keys: "
                    "our AE title as Scheduled Station AE Title, today's date (or --date) and "
                    "--modality (default any). Prints one line per scheduled step with the "
                    "decoded patient name.",
    )
    _common(sp, "--from", "the worklist SCP")
    sp.add_argument("--date", help="YYYYMMDD or YYYYMMDD-YYYYMMDD (default: today)")
    sp.add_argument("--modality", help="modality to match (default: any, '*')")
    sp.add_argument("--station", help="Scheduled Station AE Title to match (default: our AE title; '*' = any)")
    sp.add_argument("-k", "--key", action="append", metavar="KEY=VALUE",
                    help="a further matching key the product sends (e.g. PatientID=123); repeatable")
    sp.add_argument("--json", action="store_true", help="print the items as JSON")
    sp.set_defaults(func=cmd_worklist)

    sp = sub.add_parser(
        "query",
        help="C-FIND at a level of the product's query/retrieve models",
        description="Query a Q/R SCP at one level with the product's keys for that level; -k sets "
                    "matching values (wildcards, date ranges). Prints one line per match.",
    )
    _common(sp, "--from", "the query/retrieve SCP")
    sp.add_argument("--level", required=True, type=str.upper, choices=LEVELS)
    sp.add_argument("-k", "--key", action="append", metavar="KEY=VALUE", help="matching key; repeatable")
    sp.add_argument("--model", type=str.upper, choices=MODELS,
                    help="information model (default: Study Root, Patient Root for PATIENT level)")
    sp.add_argument("--json", action="store_true", help="print the matches as DICOM JSON")
    sp.set_defaults(func=cmd_query)

    sp = sub.add_parser(
        "retrieve",
        help="C-MOVE to vscanner itself (or C-GET) into the local store",
        description="Retrieve instances into vscanner's store. C-MOVE names our AE title as "
                    "destination: the peer must know it at our host and --port; when no storage "
                    "SCP of ours answers there, one runs in-process for the duration. C-GET "
                    "(--method get) receives on the same association, for products that do it.",
    )
    _common(sp, "--from", "the query/retrieve SCP")
    sp.add_argument("--level", required=True, type=str.upper, choices=LEVELS)
    sp.add_argument("-k", "--key", action="append", metavar="KEY=VALUE",
                    help="unique key(s), e.g. -k StudyInstanceUID=1.2.3; repeatable")
    sp.add_argument("--method", choices=("move", "get"), default="move")
    sp.add_argument("--model", type=str.upper, choices=MODELS)
    sp.add_argument("--data", type=Path, help="store folder (default: the site configuration's local.data)")
    sp.add_argument("--port", type=int, help="our listening port for C-MOVE (default: local.port)")
    sp.add_argument("--host", help="our listening address for C-MOVE (default: local.host)")
    sp.set_defaults(func=cmd_retrieve)

    sp = sub.add_parser(
        "mpps",
        help="send MPPS N-CREATE / N-SET (for testing; the exam workflow sends them itself)",
        description="Create a performed procedure step (IN PROGRESS) or set its final state, with "
                    "the attributes the product's statement lists.",
    )
    _common(sp, "--to", "the MPPS SCP")
    msub = sp.add_subparsers(dest="mpps_action", metavar="ACTION", required=True)
    c = msub.add_parser("create", help="N-CREATE IN PROGRESS; prints the SOP Instance UID",
                        description="N-CREATE a step with status IN PROGRESS (unscheduled unless the "
                                    "values come from a worklist item).")
    c.add_argument("--patient-name")
    c.add_argument("--patient-id")
    c.add_argument("--birth-date")
    c.add_argument("--sex")
    c.add_argument("--study-uid")
    c.add_argument("--accession")
    c.add_argument("--requested-procedure-id")
    c.add_argument("--modality")
    c.add_argument("--pps-id")
    c.add_argument("--uid", help="SOP Instance UID to create (default: a new one)")
    c.set_defaults(func=cmd_mpps_create)
    s = msub.add_parser("set", help="N-SET COMPLETED / DISCONTINUED with the stored series",
                        description="N-SET the step's status; the Performed Series Sequence lists "
                                    "the instances of --study in the store at --data.")
    s.add_argument("uid", metavar="UID", help="the step's SOP Instance UID")
    s.add_argument("--status", required=True, type=str.upper,
                   choices=("COMPLETED", "DISCONTINUED", "IN PROGRESS"))
    s.add_argument("--data", type=Path, help="store folder whose instances are referenced")
    s.add_argument("--study", help="only the instances of this Study Instance UID")
    s.add_argument("--retrieve-aet", help="Retrieve AE Title for the series (e.g. the archive's)")
    s.set_defaults(func=cmd_mpps_set)
