"""``vscanner echo``, ``send``, ``queue`` and ``commit``: the scanner as a network client;
``vscanner certs demo``; the TLS and audit options of ``vscanner serve``.

Nodes are configured names or ``AET@host:port`` (:func:`appliance.config.resolve_node`). The
local AE title, listening address, profile and data folder come from the site configuration
(``--config``) unless given here.
"""

from __future__ import annotations

__all__ = ["register", "add_serve_security_arguments", "serve_security"]

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterable, TextIO

LOGGER = logging.getLogger(__name__)

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


# --- helpers -----------------------------------------------------------------------------------


def _site(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..config import load_site_config

    return load_site_config(getattr(args, "config", None))


def _profile(args: argparse.Namespace, site):  # type: ignore[no-untyped-def]
    from ..profile import find_profile

    return find_profile(getattr(args, "profile", None) or site.local.profile, getattr(args, "profile_dir", None) or [])


def _ae_title(args: argparse.Namespace, site) -> str:  # type: ignore[no-untyped-def]
    from ..errors import UsageError
    from ..profile import ae_title_problem

    aet = getattr(args, "aet", None) or site.local.ae_title
    bad = ae_title_problem(aet)
    if bad:
        raise UsageError(f"--aet: {bad}", "give 1-16 ASCII characters, e.g. --aet VSCANNER")
    return aet


def _data(args: argparse.Namespace, site) -> Path:  # type: ignore[no-untyped-def]
    return Path(getattr(args, "data", None) or site.local.data)


def _files_under(folder: str) -> list[str]:
    """The files in *folder* and its subfolders (symbolic links followed), in path order."""
    found: list[str] = []
    todo = [folder]
    while todo:
        where = todo.pop()
        try:
            with os.scandir(where) as entries:
                for entry in entries:
                    if entry.is_dir():
                        todo.append(entry.path)
                    elif entry.is_file():
                        found.append(entry.path)
        except OSError as exc:  # an unreadable folder is left out, as pathlib's rglob leaves it
            LOGGER.warning("skipped folder %s: %s", where, exc.strerror or exc)
    return sorted(found, key=lambda path: path.split(os.sep))


def collect_instances(paths: Iterable[str]):  # type: ignore[no-untyped-def]
    """DICOM files named on the command line; folders are searched recursively.

    A named file that is not DICOM is bad input; inside folders, non-DICOM files and DICOMDIRs
    are skipped. The same SOP Instance UID twice is sent once.
    """
    from ..errors import UsageError
    from ..net.storage_scu import read_instance_header

    found = []
    seen: set[str] = set()
    for text in paths:
        p = Path(text)
        if p.is_dir():
            for f in _files_under(str(p.resolve())):
                try:
                    inst = read_instance_header(f, resolve=False)  # (the folder is resolved)
                except UsageError:
                    LOGGER.debug("skipped %s: not a DICOM file", f)
                    continue
                if inst.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
                    continue
                if inst.sop_instance_uid not in seen:
                    seen.add(inst.sop_instance_uid)
                    found.append(inst)
        elif p.exists():
            inst = read_instance_header(p)
            if inst.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
                raise UsageError(f"{p} is a DICOMDIR, not an instance", "give the folder of the file-set instead")
            if inst.sop_instance_uid not in seen:
                seen.add(inst.sop_instance_uid)
                found.append(inst)
        else:
            raise UsageError(f"{p}: no such file or folder", "give existing DICOM files or folders")
    if not found:
        raise UsageError("no DICOM instances found in " + ", ".join(map(str, paths)),
                         "give DICOM Part 10 files or folders holding them")
    return found


class ProgressBar:
    """A one-line progress bar on *stream* (a line every 10 % when it is not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30, enabled: bool = True) -> None:
        self.stream = stream = stream or sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = stream.isatty()
        self.bytes = 0
        self.failed = 0
        self.t0 = time.monotonic()
        self._last_decile = -1
        self._drawn = False

    def __call__(self, event: object) -> None:
        from ..jobs import events

        if isinstance(event, events.InstanceSent):
            self.bytes += event.size
            self._draw(event.done, event.total)
        elif isinstance(event, events.InstanceFailed):
            if event.retry_at is None:
                self.failed += 1
            self._draw(event.done, event.total)
        elif isinstance(event, events.CommitmentRequested) and event.status is None:
            self.finish()
            self._say(f"storage commitment: N-ACTION for {event.count} instance(s) to {event.destination}")
        elif isinstance(event, events.CommitmentReported):
            self._say(f"storage commitment report: {event.committed} committed, {event.failed} failed "
                      f"({'same' if event.same_association else 'new'} association)")
        elif isinstance(event, events.CommitmentFailed):
            self._say(f"storage commitment: {event.error}" + (" (will retry)" if event.will_retry else ""))

    def _say(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def _draw(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(1.0, done / total)
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        fill = int(frac * self.width)
        line = (f"[{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} instances, "
                f"{self.bytes / 1e6:.1f} MB, {self.bytes / 1e6 / elapsed:.1f} MB/s"
                + (f", {self.failed} failed" if self.failed else ""))
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
            self._drawn = True
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                print(line, file=self.stream, flush=True)

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _quiet_codecs(args: argparse.Namespace) -> None:
    """pylibjpeg-openjpeg logs every encoded tile at INFO; keep that for -v."""
    if not getattr(args, "verbose", 0):
        logging.getLogger("openjpeg").setLevel(logging.WARNING)


def _install_stop(runner) -> dict:  # type: ignore[no-untyped-def]
    previous = {}

    def _on_signal(signum: int, _frame: object) -> None:
        LOGGER.warning("received %s: stopping after the instance being sent; the rest stays queued",
                       signal.Signals(signum).name)
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread
            pass
    return previous


def _restore(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _runner(args: argparse.Namespace, site, queue, on_event):  # type: ignore[no-untyped-def]
    from ..jobs import QueueRunner

    return QueueRunner(
        queue,
        on_event=on_event,
        profile_dirs=getattr(args, "profile_dir", None) or [],
        listen_host=site.local.host,
        listen_port=getattr(args, "listen_port", None) or site.local.port,
        commit_wait=getattr(args, "commit_timeout", None),
        lock_timeout=getattr(args, "lock_timeout", 30.0),
        associations=getattr(args, "run_associations", None),
    )


def _summary(queue, job_ids: list[int], out: TextIO | None = None) -> int:  # type: ignore[no-untyped-def]
    out = out or sys.stdout
    total = dict.fromkeys(("queued", "sending", "sent", "failed", "committed", "commit_failed"), 0)
    for j in job_ids:
        for state, n in queue.counts(j).items():
            total[state] += n
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in total.items() if n]
    print("result: " + (", ".join(parts) or "nothing to do"), file=out)
    for j in job_ids:
        for item in queue.items(j, states=("failed", "commit_failed", "queued")):
            print(f"  {item.state:<13} {item.sop_instance_uid}  {item.path}: {item.last_error}", file=out)
    bad = total["failed"] + total["commit_failed"] + total["queued"] + total["sending"]
    return 1 if bad else 0


def _tls_settings(args: argparse.Namespace, site):  # type: ignore[no-untyped-def]
    """TLS settings from the command line, else the site configuration's ``[local]``."""
    from ..security.tls import TLSSettings

    local = site.local
    return TLSSettings.from_paths(getattr(args, "tls_certificate", None) or local.tls_certificate,
                                  getattr(args, "tls_key", None) or local.tls_private_key,
                                  getattr(args, "tls_ca", None) or local.tls_ca or None,
                                  legacy_ciphers=bool(getattr(args, "tls_legacy_ciphers", False)))


def _requestor_tls(args: argparse.Namespace, site, profile, extra_nodes=()) -> None:  # type: ignore[no-untyped-def]
    """Open associations over TLS to the site's nodes with ``tls = true`` (and *extra_nodes*)."""
    from ..net.requestor import use_tls
    from ..security.tls import requestor_context

    nodes = [n for n in (site.nodes or {}).values() if n.tls] + list(extra_nodes)
    if not nodes:
        use_tls(None)
        return
    use_tls(requestor_context(profile, _tls_settings(args, site)), [(n.host, n.port) for n in nodes])


def _tls_node(args: argparse.Namespace, node):  # type: ignore[no-untyped-def]
    """*node*, with TLS when ``--tls`` was given."""
    from dataclasses import replace

    return replace(node, tls=True) if getattr(args, "tls", False) else node


# --- commands ----------------------------------------------------------------------------------


def cmd_echo(args: argparse.Namespace) -> int:
    from ..config import resolve_node
    from ..net.verification import echo

    site = _site(args)
    node = _tls_node(args, resolve_node(args.node, site))
    profile = _profile(args, site)
    _requestor_tls(args, site, profile, [node] if node.tls else [])
    result = echo(profile, node, _ae_title(args, site))
    print(f"C-ECHO {node}: status 0x{result.status:04X} in {result.elapsed * 1000:.0f} ms")
    return 0 if result.ok else 1


def cmd_send(args: argparse.Namespace) -> int:
    from ..config import resolve_node
    from ..errors import UsageError
    from ..jobs import JobQueue

    site = _site(args)
    node = _tls_node(args, resolve_node(args.to, site))
    profile = _profile(args, site)
    ae_title = _ae_title(args, site)
    _requestor_tls(args, site, profile, [node] if node.tls else [])
    _quiet_codecs(args)
    instances = collect_instances(args.paths)
    sc = profile.storage_commitment
    if args.commit and not sc.scu:
        raise UsageError(f"{profile.id} is not a storage commitment SCU (its statement)",
                         "send without --commit, or use a profile whose product requests commitment")
    if args.commit_delay is not None:
        delay = args.commit_delay
    else:
        delay = (sc.delay or 0.0) if sc.timing == "delayed" else 0.0
    limit = profile.network.max_associations_initiated
    if args.associations < 1:
        raise UsageError(f"--associations {args.associations}: give 1 or more", "e.g. --associations 2")
    if limit and args.associations > limit:
        raise UsageError(f"--associations {args.associations}: {profile.id} initiates at most {limit} "
                         "association(s) at once (its statement)",
                         f"give --associations {limit}" if limit == 1 else f"give --associations 1 to {limit}")
    retries = profile.storage_scu.retries if args.retries is None else args.retries
    interval = args.retry_interval if args.retry_interval is not None else profile.storage_scu.retry_interval
    with JobQueue(_data(args, site)) as queue:
        result = queue.enqueue(instances, node, profile=profile.source or profile.id, calling_ae=ae_title,
                               retries=retries, retry_interval=interval, commit=args.commit, commit_delay=delay,
                               resend=args.resend, associations=args.associations)
        print(f"job {result.job_id}: {result.queued} instance(s) queued for {node}"
              + (f", {len(result.skipped)} skipped (already queued or sent there; --resend sends them again)"
                 if result.skipped else ""), file=sys.stderr)
        if args.commit and delay:
            print(f"storage commitment will be requested {delay:g} s after the send ({profile.id}: "
                  f"timing {sc.timing}); --commit-delay 0 asks at once", file=sys.stderr)
        if args.queue_only:
            return 0
        bar = ProgressBar(enabled=not args.quiet)
        with _runner(args, site, queue, bar) as runner:
            previous = _install_stop(runner)
            try:
                runner.run([result.job_id])
            finally:
                _restore(previous)
                bar.finish()
        return _summary(queue, [result.job_id])


def cmd_commit(args: argparse.Namespace) -> int:
    from ..config import resolve_node
    from ..errors import UsageError
    from ..jobs import JobQueue

    site = _site(args)
    if any(n.tls for n in (site.nodes or {}).values()):
        _requestor_tls(args, site, _profile(args, site))
    with JobQueue(_data(args, site)) as queue:
        bar = ProgressBar(enabled=not args.quiet)
        if args.job is not None:
            job = queue.job(args.job)
            if job is None:
                raise UsageError(f"no job {args.job} in {queue.path}", "see `vscanner queue list`")
            if args.to and str(resolve_node(args.to, site)) != job.destination:
                raise UsageError(f"job {job.id} was sent to {job.destination}, not {args.to}",
                                 "leave out --to or give the job's destination")
            queue.set_commit_due(job.id)
            with _runner(args, site, queue, bar) as runner:
                runner.run([job.id])
            return _summary(queue, [job.id])
        if not args.to or not args.paths:
            raise UsageError("give --job N, or --to NODE and the files to commit",
                             "e.g. vscanner commit --to pacs ./exam")
        node = resolve_node(args.to, site)
        profile = _profile(args, site)
        instances = collect_instances(args.paths)
        with _runner(args, site, queue, bar) as runner:
            queue.acquire_runner_lock(getattr(args, "lock_timeout", 30.0))
            try:
                result = runner.commit_instances(profile, node, _ae_title(args, site), instances)
            finally:
                queue.release_runner_lock()
        committed = {r.sop_instance_uid for rep in result.reports for r in rep.committed}
        failed = {r.sop_instance_uid: reason for rep in result.reports for r, reason in rep.failed}
        for inst in instances:
            uid = inst.sop_instance_uid
            state = "committed" if uid in committed else (
                f"failed 0x{failed[uid]:04X}" if uid in failed else "no answer")
            print(f"  {state:<16} {uid}  {inst.path}")
        print(f"result: {len(committed)} committed, {len(instances) - len(committed)} not committed"
              + (f" ({result.error})" if result.error else ""))
        return 0 if len(committed) == len(instances) else 1


def cmd_queue(args: argparse.Namespace) -> int:
    from ..jobs import JobQueue

    site = _site(args)
    _quiet_codecs(args)
    action = args.action or "list"
    if action == "run" and any(n.tls for n in (site.nodes or {}).values()):
        _requestor_tls(args, site, _profile(args, site))
    with JobQueue(_data(args, site)) as queue:
        if action == "list":
            jobs = [j for j in queue.jobs() if args.job is None or j.id == args.job]
            if not jobs:
                print(f"queue {queue.path}: empty")
                return 0
            for j in jobs:
                counts = queue.counts(j.id)
                text = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no items"
                commit = f", commitment {j.commit_state}" if j.commit_wanted else ""
                commit += f", {j.associations} associations at once" if j.associations > 1 else ""
                print(f"job {j.id}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(j.created_at))}  "
                      f"{j.calling_ae} -> {j.destination}  {Path(j.profile).stem}: {text}{commit}")
                if args.items or args.state:
                    for item in queue.items(j.id, states=[args.state] if args.state else None):
                        err = f"  {item.last_error}" if item.last_error else ""
                        print(f"  {item.id:>6} {item.state:<13} attempts {item.attempts}  {item.sop_instance_uid}  "
                              f"{item.path}{err}")
            return 0
        if action == "retry":
            states = ("failed", "commit_failed") if args.commit else ("failed",)
            n = queue.retry(args.job, states)
            print(f"{n} item(s) queued again" + ("; run `vscanner queue run` to send them" if n else ""))
            return 0
        if action == "purge":
            states = ("queued", "sent", "committed", "failed", "commit_failed") if args.all else (
                [args.state] if args.state else ("sent", "committed", "failed", "commit_failed"))
            n = queue.purge(states, args.job)
            print(f"{n} item(s) removed from {queue.path}")
            return 0
        # run
        if args.run_associations is not None and args.run_associations < 1:
            from ..errors import UsageError

            raise UsageError(f"--associations {args.run_associations}: at least one", "give --associations 1 or more")
        bar = ProgressBar(enabled=not args.quiet)
        with _runner(args, site, queue, bar) as runner:
            previous = _install_stop(runner)
            try:
                runner.run(None if args.job is None else [args.job], wait=not args.no_wait)
            finally:
                _restore(previous)
                bar.finish()
        ids = [j.id for j in queue.jobs()] if args.job is None else [args.job]
        return _summary(queue, ids)


# --- argparse ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser, *, node: bool = False, data: bool = True) -> None:
    p.add_argument("--profile", help="profile id or .toml path (default: the site configuration's)")
    p.add_argument("--aet", help="our (calling) AE title (default: the site configuration's, VSCANNER)")
    if data:
        p.add_argument("--data", type=Path, help="data folder holding the job queue (default: the site configuration's)")


def _tls_options(p: argparse.ArgumentParser, *, serve: bool = False) -> None:
    g = p.add_argument_group("TLS (products whose statement states the Basic TLS Secure Transport Connection Profile)")
    if serve:
        g.add_argument("--tls", action="store_true",
                       help="also listen with TLS on --tls-port (TLS 1.2 or newer; the requestor's certificate is "
                            "required where the statement says so)")
        g.add_argument("--tls-port", type=int, metavar="PORT",
                       help="the secure port (default: the profile's, else 2762)")
        g.add_argument("--tls-only", action="store_true",
                       help="with --tls: only the secure port (--tls-port, else --port, else the product's)")
    else:
        g.add_argument("--tls", action="store_true",
                       help="associate over TLS (also for configured nodes with tls = true)")
    g.add_argument("--tls-certificate", metavar="PEM", help="our certificate (default: [local] tls_certificate)")
    g.add_argument("--tls-key", metavar="PEM", help="its private key (default: [local] tls_private_key)")
    g.add_argument("--tls-ca", metavar="PEM", help="trusted CA certificates (default: [local] tls_ca)")
    g.add_argument("--tls-legacy-ciphers", action="store_true",
                   help="also offer the product's stated legacy cipher suites and TLS versions (weak; only as far "
                        "as this OpenSSL still has them)")


def add_serve_security_arguments(p: argparse.ArgumentParser) -> None:
    """``vscanner serve``: TLS and audit trail options."""
    _tls_options(p, serve=True)
    add_audit_arguments(p)


def add_audit_arguments(p: argparse.ArgumentParser) -> None:
    """``--audit-log`` / ``--audit-syslog`` (serve, burn)."""
    g = p.add_argument_group("audit trail (DICOM audit messages, PS3.15 A.5)")
    g.add_argument("--audit-log", metavar="FILE", type=Path,
                   help="append one XML audit message per line to FILE")
    g.add_argument("--audit-syslog", metavar="HOST:PORT",
                   help="send the audit messages as RFC 5424 syslog over UDP to HOST:PORT")


def audit_trail(args: argparse.Namespace, profile, data: Path | str | None, ae_title: str | None):  # type: ignore[no-untyped-def]
    """The audit trail the options ask for (or the profile's default file), set as the
    process default; None when there is none."""
    from ..errors import UsageError
    from ..security import audit

    sinks: list = []
    if getattr(args, "audit_log", None):
        sinks.append(audit.FileSink(args.audit_log))
    if getattr(args, "audit_syslog", None):
        host, _, port = str(args.audit_syslog).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--audit-syslog: {args.audit_syslog!r} is not HOST:PORT", "e.g. --audit-syslog 127.0.0.1:514")
        sinks.append(audit.SyslogSink(host.strip("[]"), int(port)))
    if not sinks and profile.security.audit_trail and data is not None:
        sinks.append(audit.FileSink(Path(data) / "vscanner-audit.log"))
    if not sinks:
        return None
    trail = audit.AuditTrail(ae_title or profile.identity.default_ae_title, sinks)
    audit.set_default(trail)
    return trail


def serve_security(args: argparse.Namespace, profile, site) -> dict:  # type: ignore[no-untyped-def]
    """The ``Server`` keyword arguments for the TLS and audit options of ``vscanner serve``."""
    from ..errors import UsageError

    out: dict = {}
    if getattr(args, "tls", False):
        from ..security.tls import require_tls

        require_tls(profile)
        out["tls"] = _tls_settings(args, site)
        out["plain"] = not args.tls_only
        # --tls-only without --tls-port: the secure port is --port (else the product's secure port)
        out["tls_port"] = args.tls_port if args.tls_port is not None or not args.tls_only else args.port
    elif getattr(args, "tls_only", False) or getattr(args, "tls_port", None):
        raise UsageError("--tls-port and --tls-only need --tls", "add --tls")
    trail = audit_trail(args, profile, args.data, args.aet)
    if trail is not None:
        out["audit"] = trail
    return out


def cmd_certs(args: argparse.Namespace) -> int:
    from ..security.tls import generate_demo_certificates

    files = generate_demo_certificates(args.out, hosts=args.host or ("localhost", "127.0.0.1"), days=args.days)
    print(f"demo CA and certificates in {files.folder} (valid {args.days} days; not for a real site):")
    for what, path in (("CA", files.ca), ("server certificate (serverAuth)", files.server),
                       ("server key", files.server_key), ("client certificate (clientAuth)", files.client),
                       ("client key", files.client_key)):
        print(f"  {what:<32} {path}")
    print(f"e.g. vscanner serve --profile syngo-ct-va50a --tls --tls-certificate {files.server} "
          f"--tls-key {files.server_key} --tls-ca {files.ca}")
    return 0


def _commit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen-port", type=int, metavar="PORT",
                   help="port for storage commitment reports on a new association (default: the site "
                        "configuration's local port); the archive must know this AE title at this port")
    p.add_argument("--commit-timeout", type=float, metavar="S",
                   help="how long to wait for the N-EVENT-REPORT (default: the profile's report_timeout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    sp = subparsers.add_parser("echo", help="C-ECHO a node (Verification SCU)",
                               description="Send a C-ECHO to NODE with the product's Verification context. "
                                           "Exit 0 when it answers success.")
    sp.add_argument("node", metavar="NODE", help="configured node name or AET@host:port")
    _common(sp, data=False)
    _tls_options(sp)
    sp.set_defaults(func=cmd_echo)

    sp = subparsers.add_parser(
        "send", help="send DICOM files to a node through the durable queue (Storage SCU)",
        description="Queue the instances (folders are searched recursively) for NODE in the job queue "
                    "of the data folder, then send them as the product does: its presentation contexts, "
                    "transcoding when the archive accepted another transfer syntax, its reaction to "
                    "failures. With --commit, ask the archive for storage commitment with the product's "
                    "timing. Exit 0 when all were sent (and committed), 1 when any failed, 2 bad input.",
        epilog="example: vscanner send ./exam --to STORESCP@127.0.0.1:11112 --profile syngo-ct-va50a",
    )
    sp.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders")
    sp.add_argument("--to", required=True, metavar="NODE", help="configured node name or AET@host:port")
    _common(sp)
    sp.add_argument("--commit", action="store_true", help="request storage commitment after the send")
    sp.add_argument("--commit-delay", type=float, metavar="S",
                    help="seconds between the send and the N-ACTION (default: the profile's timing)")
    _commit_options(sp)
    sp.add_argument("--retries", type=int, metavar="N",
                    help="automatic retries of failed instances (default: the profile's storage_scu.retries)")
    sp.add_argument("--retry-interval", type=float, metavar="S",
                    help="first retry delay, doubled each time (default: the profile's, else 10 s)")
    sp.add_argument("--resend", action="store_true",
                    help="send instances again that were already sent to this node")
    sp.add_argument("--queue-only", action="store_true", help="only queue them; `vscanner queue run` sends")
    sp.add_argument("--associations", type=int, default=1, metavar="N",
                    help="send on N associations at once, for archives that store in parallel (default 1; at "
                         "most what the product initiates: its network.max_associations_initiated); kept with "
                         "the job for `vscanner queue run`")
    _tls_options(sp)
    sp.set_defaults(func=cmd_send)

    sp = subparsers.add_parser(
        "certs", help="TLS certificates: make a demo CA, server and client certificate",
        description="demo: write a demo CA (ca.pem, ca.key), a server certificate (server.pem, server.key; "
                    "Extended Key Usage serverAuth) and a client certificate (client.pem, client.key; clientAuth), "
                    "RSA 2048, for tests and labs with `serve --tls`, `send --tls` and DCMTK's +tls.",
        epilog="example: vscanner certs demo --out ./certs && echoscu +tls certs/client.key certs/client.pem "
               "+cf certs/ca.pem -aec CT 127.0.0.1 2762",
    )
    sp.add_argument("action", choices=("demo",))
    sp.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the PEM files")
    sp.add_argument("--host", action="append", metavar="NAME",
                    help="subject alternative name of the certificates (repeatable; default localhost and 127.0.0.1)")
    sp.add_argument("--days", type=int, default=365, help="validity (default 365)")
    sp.set_defaults(func=cmd_certs)

    sp = subparsers.add_parser(
        "queue", help="the job queue: list, retry, purge, run",
        description="Work with the durable send queue in the data folder (jobs.sqlite). "
                    "list: jobs and their instances' states; retry: queue failed instances again "
                    "(--commit: ask commitment again for commit-failed ones); purge: remove finished "
                    "items; run: send what is queued (e.g. after a restart).",
    )
    sp.add_argument("action", nargs="?", choices=("list", "retry", "purge", "run"), default="list")
    sp.add_argument("--job", type=int, metavar="N", help="only this job")
    sp.add_argument("--state", choices=("queued", "sending", "sent", "failed", "committed", "commit_failed"),
                    help="list: show items in this state; purge: remove only these")
    sp.add_argument("--items", action="store_true", help="list: show every item")
    sp.add_argument("--commit", action="store_true", help="retry: also commit-failed items")
    sp.add_argument("--all", action="store_true", help="purge: everything except items being sent")
    sp.add_argument("--no-wait", action="store_true", help="run: do not wait for retries or delayed commitments")
    sp.add_argument("--associations", type=int, dest="run_associations", metavar="N",
                    help="run: send each job on N associations at once instead of the number it was queued with "
                         "(at most as many as its product initiates)")
    sp.add_argument("--data", type=Path, help="data folder (default: the site configuration's)")
    _commit_options(sp)
    sp.set_defaults(func=cmd_queue)

    sp = subparsers.add_parser(
        "commit", help="request storage commitment now (for a job, or for files)",
        description="Ask NODE to commit instances (Storage Commitment SCU): the sent instances of a "
                    "job (--job N), or the DICOM files given. Waits for the report on the same or a new "
                    "association as the product does. Exit 0 when all were committed.",
    )
    sp.add_argument("paths", nargs="*", metavar="PATH")
    sp.add_argument("--to", metavar="NODE", help="configured node name or AET@host:port")
    sp.add_argument("--job", type=int, metavar="N", help="commit this job's sent instances")
    _common(sp)
    _commit_options(sp)
    sp.set_defaults(func=cmd_commit)
