#!/usr/bin/env python3
"""The DICOM data path against DCMTK, side by side, in one run on one generated corpus.

    python benchmarks/bench_dicom.py [--count 1000] [--runs 3] [--profile syngo-ct-va50a]
                                     [--acq-slices 300] [--only a,b,c,d] [--tmp DIR]

(a) send:    ``vscanner send`` vs DCMTK ``storescu``, both into the same DCMTK ``storescp``
             (process wall time of each command; vscanner's includes Python start-up and its
             durable job queue). Also shown: vscanner's start-up alone, the same sends
             in-process (``StorageSession``, no start-up, no queue), and, into a
             ``storescp --fork`` (a process per association), ``send --associations 2``
             against ``storescu`` on its one association.
(b) receive: DCMTK ``storescu`` into ``vscanner serve`` vs into DCMTK ``storescp -od``
             (``storescp`` writes without fsync; vscanner fsyncs every file, its folder and
             the index before it answers). Also shown: the store alone (parse, write, fsync,
             rename, index; no network) -- the floor the receive path cannot go under -- and
             storescp's time plus one ``sync`` after it (its data on the disk too).
(c) acquisition: ``Acquisition.write`` MB/s of a CT series, vs a plain file copy and vs
             DCMTK ``dcmconv`` on the same files (the functions of bench_acquisition.py).
(d) media:   burning an ISO of the instances vs ``genisoimage`` on the same files -- only when
             ``appliance.media.burn`` exists -- compared like for like: vscanner's burn, which
             fsyncs the image before naming it, vs genisoimage followed by one ``sync``; and
             ``burn(..., durable=False)`` vs genisoimage as it is (both leave the image in the
             page cache). The durable burn vs genisoimage without sync is shown too (info).

Every ratio is vscanner's throughput / DCMTK's (1.0 = as fast; targets: (a), (b) >= 0.5;
(d): time <= 1.5x genisoimage's). vscanner's modules are byte-compiled first, as an installed
package has them. Each number is the median of --runs runs, DCMTK and
vscanner alternating. DCMTK runs with TCP_NODELAY=1 (Debian's build keeps Nagle on
otherwise); vscanner sets TCP_NODELAY itself. DCMTK binaries are the compiled ones
(tests.peers.require skips pynetdicom's Python scripts of the same names). Every server is
started on a free port, bounded in time by a watchdog, and stopped at the end of its run.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import inspect
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_receive import make_corpus  # noqa: E402
from tests.peers import free_port, require, wait_for_log, wait_for_port  # noqa: E402

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
SERVER_LIMIT = 900.0  # seconds any server may live, whatever happens
CLIENT_LIMIT = 600.0  # seconds any client command may take
TARGETS = {"a": 0.5, "b": 0.5}


# --- helpers -----------------------------------------------------------------------------------


def need(binary: str) -> str | None:
    """The compiled DCMTK (or other) *binary*, or None with the reason printed."""
    try:
        return require(binary)
    except BaseException as exc:  # pytest's skip/fail outcomes when the binary is missing
        if isinstance(exc, KeyboardInterrupt):
            raise
        print(f"  {exc}")
        return None


@contextmanager
def bounded(cmd: list[str], *, env: dict | None = None, log: Path | None = None,
            limit: float = SERVER_LIMIT) -> Iterator[subprocess.Popen]:
    """Run a server *cmd*; a watchdog kills it after *limit* seconds; stopped on exit."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    watchdog = threading.Timer(limit, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if log:
            out.close()  # type: ignore[union-attr]


def settle() -> None:
    """Write back what earlier runs left dirty in the page cache, so that no run pays for
    another's writes (storescp does not fsync; a later fsync would flush its data too)."""
    os.sync()


def timed(cmd: list[str], env: dict | None = None) -> float:
    """Wall time of a client command, which must succeed (after :func:`settle`)."""
    settle()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=CLIENT_LIMIT)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} ... failed ({r.returncode}):\n"
                         f"{(r.stdout + r.stderr)[-1500:]}")
    return elapsed


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def med(values: list[float]) -> float:
    return statistics.median(values)


def runs_text(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


@dataclasses.dataclass
class Ratio:
    part: str
    what: str
    ratio: float | None
    target: str
    met: bool | None


def rate_line(label: str, values: list[float], mb: float, count: int) -> str:
    m = med(values)
    return (f"  {label:<44} {m:7.3f} s  {mb / m:7.1f} MB/s  {count / m:7.1f} inst/s   runs {runs_text(values)}")


def storescp_cmd(storescp: str, port: int, out: Path) -> list[str]:
    return [storescp, "-aet", "STORESCP", "-od", str(out), "--max-pdu", "131072", "-ta", "30", "-td", "60",
            str(port)]


# --- (a) send ----------------------------------------------------------------------------------


def startup_time(runs: int) -> float:
    code = "import appliance.cli, appliance.commands.network, appliance.jobs, appliance.net.storage_scu"
    return med([timed([sys.executable, "-c", code]) for _ in range(runs)])


def in_process_send(profile_id: str, port: int, corpus: Path) -> float:
    """Seconds to send the corpus on one StorageSession (no CLI start-up, no job queue)."""
    from appliance.config import Node
    from appliance.net.storage_scu import StorageSession, plan_contexts, read_instance_header
    from appliance.profile import find_profile

    profile = find_profile(profile_id)
    instances = [read_instance_header(f) for f in sorted(corpus.iterdir())]
    node = Node(ae_title="STORESCP", host="127.0.0.1", port=port)
    contexts = plan_contexts(profile, [i.sop_class_uid for i in instances])[0]
    settle()
    t0 = time.perf_counter()
    with StorageSession.open(profile, node, "VSCANNER", contexts) as session:
        for i, inst in enumerate(instances):
            out = session.send(inst, then=instances[i + 1] if i + 1 < len(instances) else None)
            if out.category != "success":
                raise SystemExit(f"in-process send failed: {out.error}")
    return time.perf_counter() - t0


def send_runs(a: argparse.Namespace, tmp: Path, corpus: Path, files: list[str], storescu: str, storescp: str, *,
              name: str, scp_extra: Sequence[str] = (), send_extra: Sequence[str] = (),
              in_process: bool = False) -> dict[str, list[float]]:
    """Seconds of each run of storescu and of `vscanner send` (alternating) into one storescp;
    with *in_process*, of in-process StorageSession sends too."""
    results: dict[str, list[float]] = {"storescu": [], "send": [], "inproc": []}
    out = tmp / f"{name}-received"
    clear(out)
    port = free_port()
    with bounded([*storescp_cmd(storescp, port, out), *scp_extra], env=DCMTK_ENV) as scp:
        wait_for_port(port, scp)
        for run in range(a.runs):
            order = ("storescu", "send") if run % 2 == 0 else ("send", "storescu")
            for who in order:
                clear(out)
                if who == "storescu":
                    results["storescu"].append(timed([storescu, "-aet", "VSCANNER", "-aec", "STORESCP", "127.0.0.1",
                                                      str(port), *files], env=DCMTK_ENV))
                else:
                    queue = tmp / f"{name}-queue-{run}"  # a fresh queue: one already holding them skips sent ones
                    results["send"].append(timed([sys.executable, "-m", "appliance", "send", str(corpus), "--to",
                                                  f"STORESCP@127.0.0.1:{port}", "--profile", a.profile, "--aet",
                                                  "VSCANNER", "--data", str(queue), "-q", *send_extra]))
                    shutil.rmtree(queue, ignore_errors=True)
            if in_process:
                clear(out)
                try:
                    results["inproc"].append(in_process_send(a.profile, port, corpus))
                except SystemExit as exc:  # reported, not fatal: the process numbers still hold
                    print(f"  in-process run {run + 1}: {exc}")
        clear(out)
    return results


def bench_send(a: argparse.Namespace, tmp: Path, corpus: Path, files: list[str], mb: float) -> list[Ratio]:
    print("\n(a) send: vscanner send vs DCMTK storescu, both into one DCMTK storescp "
          "(max PDU 131072, -od, TCP_NODELAY=1)")
    storescu, storescp = need("storescu"), need("storescp")
    if not storescu or not storescp:
        print("  (a) skipped: DCMTK missing")
        return []
    results = send_runs(a, tmp, corpus, files, storescu, storescp, name="a", in_process=True)
    startup = startup_time(a.runs)
    print(rate_line("DCMTK storescu (process)", results["storescu"], mb, a.count))
    print(rate_line("vscanner send (process)", results["send"], mb, a.count))
    print(f"    of which Python start-up and imports        {startup:7.3f} s")
    ratio = med(results["storescu"]) / med(results["send"])
    ratios = [Ratio("a", "vscanner send / storescu", ratio, ">= 0.5", ratio >= TARGETS["a"])]
    if results["inproc"]:
        print(rate_line("vscanner StorageSession (in-process)", results["inproc"], mb, a.count))
        inproc = med(results["storescu"]) / med(results["inproc"])
        ratios.append(Ratio("a'", "in-process session / storescu (info)", inproc, "-", None))
        print(f"  ratio vscanner send / storescu throughput: {ratio:.2f}   (in-process session: {inproc:.2f})")
    else:
        print(f"  ratio vscanner send / storescu throughput: {ratio:.2f}")
    ratios += bench_send_parallel(a, tmp, corpus, files, mb, storescu, storescp)
    return ratios


def bench_send_parallel(a: argparse.Namespace, tmp: Path, corpus: Path, files: list[str], mb: float,
                        storescu: str, storescp: str) -> list[Ratio]:
    """(a, info): into a storescp that stores each association in its own process (--fork),
    `vscanner send --associations 2` against storescu (one association: it has no such option)."""
    print("  into storescp --fork (a process per association; info):")
    results = send_runs(a, tmp, corpus, files, storescu, storescp, name="a2", scp_extra=["--fork"],
                        send_extra=["--associations", "2"])
    print(rate_line("  DCMTK storescu (one association)", results["storescu"], mb, a.count))
    print(rate_line("  vscanner send --associations 2", results["send"], mb, a.count))
    ratio = med(results["storescu"]) / med(results["send"])
    print(f"  ratio vscanner send --associations 2 / storescu throughput: {ratio:.2f}")
    return [Ratio("a''", "send on 2 associations / storescu, into storescp --fork (info)", ratio, "-", None)]


# --- (b) receive -------------------------------------------------------------------------------


def store_alone(profile_id: str, corpus: Path, data: Path) -> float:
    """Seconds for the store to take the corpus as received (parse, write, fsync, rename, index)."""
    from appliance.net.storage_scu import split_part10
    from appliance.profile import find_profile
    from appliance.store import Store
    from appliance.store.index import encode_file_meta_fields, parse_dataset_header

    profile = find_profile(profile_id)
    payloads = []
    for f in sorted(corpus.iterdir()):
        raw = f.read_bytes()
        meta = split_part10(raw)
        payloads.append((meta, memoryview(raw)[meta.offset:]))
    settle()
    t0 = time.perf_counter()
    with Store(data, duplicates=profile.storage_scp.duplicates) as store:
        for meta, body in payloads:
            header = parse_dataset_header(body, meta.transfer_syntax_uid, profile.storage_scp.required_attributes)
            meta_bytes = encode_file_meta_fields(meta.sop_class_uid, meta.sop_instance_uid, meta.transfer_syntax_uid,
                                                 profile.media_implementation_class_uid,
                                                 profile.media_implementation_version_name, "BENCH")
            store.add_received(body, meta_bytes=meta_bytes, transfer_syntax=meta.transfer_syntax_uid, header=header,
                               source_ae="BENCH")
    return time.perf_counter() - t0


def bench_receive(a: argparse.Namespace, tmp: Path, corpus: Path, files: list[str], mb: float) -> list[Ratio]:
    from appliance.profile import find_profile

    pdu = find_profile(a.profile).network.max_pdu_receive
    print(f"\n(b) receive: DCMTK storescu into vscanner serve ({a.profile}, max PDU {pdu} as its statement says) "
          "vs into DCMTK storescp (max PDU 131072, -od)")
    storescu, storescp = need("storescu"), need("storescp")
    if not storescu or not storescp:
        print("  (b) skipped: DCMTK missing")
        return []
    results: dict[str, list[float]] = {"storescp": [], "storescp+sync": [], "serve": [], "store": []}
    for run in range(a.runs):
        order = ("storescp", "serve") if run % 2 == 0 else ("serve", "storescp")
        for who in order:
            port = free_port()
            if who == "storescp":
                out = tmp / "b-received"
                clear(out)
                with bounded(storescp_cmd(storescp, port, out), env=DCMTK_ENV) as scp:
                    wait_for_port(port, scp)
                    results["storescp"].append(timed([storescu, "-aet", "BENCH", "-aec", "STORESCP", "127.0.0.1",
                                                      str(port), *files], env=DCMTK_ENV))
                    t0 = time.perf_counter()
                    os.sync()  # what storescp left in the page cache, written to the disk
                    results["storescp+sync"].append(results["storescp"][-1] + time.perf_counter() - t0)
                shutil.rmtree(out, ignore_errors=True)
            else:
                data = tmp / "b-store"
                shutil.rmtree(data, ignore_errors=True)
                log = tmp / f"b-serve-{run}.log"
                cmd = [sys.executable, "-m", "appliance", "serve", "--profile", a.profile, "--aet", "VSCANNER",
                       "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
                with bounded(cmd, log=log) as srv:
                    wait_for_log(log, f"on 127.0.0.1:{port} ", srv)
                    results["serve"].append(timed([storescu, "-aet", "BENCH", "-aec", "VSCANNER", "127.0.0.1",
                                                   str(port), *files], env=DCMTK_ENV))
                stored = log.read_text(errors="replace").count("C-STORE stored ")
                if stored != a.count:
                    raise SystemExit(f"vscanner serve stored {stored} of {a.count} instances; see {log}")
                shutil.rmtree(data, ignore_errors=True)
        data = tmp / "b-store-alone"
        shutil.rmtree(data, ignore_errors=True)
        try:
            results["store"].append(store_alone(a.profile, corpus, data))
        except ImportError:  # an older vscanner (no add_received): not measured
            pass
        shutil.rmtree(data, ignore_errors=True)
    print(rate_line("DCMTK storescp -od (no fsync)", results["storescp"], mb, a.count))
    print(rate_line("  the same, then one sync (data on disk; info)", results["storescp+sync"], mb, a.count))
    from appliance.profile import find_profile as _find

    when = _find(a.profile).storage_scp.response_after
    how = ("answers after the write and index, fsyncs follow as the statement says" if when == "receive"
           else "durable before acknowledged")
    print(rate_line(f"vscanner serve ({how})", results["serve"], mb, a.count))
    ratio = med(results["storescp"]) / med(results["serve"])
    ratios = [Ratio("b", "storescu->serve / storescu->storescp", ratio, ">= 0.5", ratio >= TARGETS["b"]),
              Ratio("b''", "serve / storescp then sync (info)", med(results["storescp+sync"]) / med(results["serve"]),
                    "-", None)]
    if results["store"]:
        print(rate_line("vscanner store alone, no network (floor)", results["store"], mb, a.count))
        floor = med(results["storescp"]) / med(results["store"])
        ratios.append(Ratio("b'", "store alone / storescp (ceiling, info)", floor, "-", None))
        print(f"  ratio vscanner serve / storescp throughput: {ratio:.2f}   "
              f"(the durable store alone would allow at most {floor:.2f})")
    else:
        print(f"  ratio vscanner serve / storescp throughput: {ratio:.2f}")
    return ratios


# --- (c) acquisition ---------------------------------------------------------------------------


def bench_acquisition(a: argparse.Namespace, tmp: Path) -> list[Ratio]:
    from acquisition.engine import acquire
    from appliance.profile import find_profile
    from bench_acquisition import ct_workload

    profile_id, protocol = ct_workload()
    spec = protocol.series[0]
    protocol = dataclasses.replace(
        protocol, series=(dataclasses.replace(spec, geometry=dataclasses.replace(spec.geometry, slices=a.acq_slices)),))
    print(f"\n(c) acquisition: Acquisition.write of a {a.acq_slices}-slice 512x512 CT series ({profile_id}) "
          "vs plain file copy and DCMTK dcmconv on the same files")
    t0 = time.perf_counter()
    acq = acquire(find_profile(profile_id), protocol, seed=1)
    print(f"  simulate (physics + IOD build, not timed below)  {time.perf_counter() - t0:7.2f} s")
    out = tmp / "c-write"

    def write_once() -> float:
        shutil.rmtree(out, ignore_errors=True)
        settle()
        t = time.perf_counter()
        acq.write(out)
        return time.perf_counter() - t

    writes = [write_once() for _ in range(a.runs)]
    written = sorted(out.rglob("*.dcm"))
    mb = sum(f.stat().st_size for f in written) / 1e6

    def copy_once() -> float:
        dst = tmp / "c-copy"
        clear(dst)
        settle()
        t = time.perf_counter()
        for f in written:
            shutil.copyfile(f, dst / f.name)
        return time.perf_counter() - t

    copies = [copy_once() for _ in range(a.runs)]
    print(rate_line("vscanner Acquisition.write (1 process)", writes, mb, len(written)))
    print(rate_line("plain file copy", copies, mb, len(written)))
    ratios = [Ratio("c", "acquisition write / plain copy (info)", med(copies) / med(writes), "-", None)]
    dcmconv = shutil.which("dcmconv")
    if dcmconv:
        dst = tmp / "c-dcmconv"

        def dcmconv_once() -> float:
            clear(dst)
            settle()
            t = time.perf_counter()
            for f in written:
                subprocess.run([dcmconv, "+te", str(f), str(dst / f.name)], check=True, timeout=60)
            return time.perf_counter() - t

        convs = [dcmconv_once() for _ in range(a.runs)]
        print(rate_line("DCMTK dcmconv +te (one process per file)", convs, mb, len(written)))
        ratios.append(Ratio("c", "acquisition write / dcmconv (info)", med(convs) / med(writes), "-", None))
        shutil.rmtree(dst, ignore_errors=True)
    print(f"  acquisition write: {mb / med(writes):.1f} MB/s; ratio to plain copy {med(copies) / med(writes):.2f}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(tmp / "c-copy", ignore_errors=True)
    return ratios


# --- (d) media ---------------------------------------------------------------------------------


def bench_media(a: argparse.Namespace, tmp: Path, corpus: Path) -> list[Ratio]:
    """(d): `appliance.media.burn` (DICOMDIR + file-set + ISO 9660) vs genisoimage of the same files."""
    from appliance.media import burn as media_burn
    from appliance.profile import find_profile

    print(f"\n(d) media: an ISO image of {a.count} instances, vscanner vs genisoimage on the same files")
    genisoimage = need("genisoimage")
    if genisoimage is None:
        print("  (d) skipped: genisoimage is missing (apt-get install -y genisoimage)")
        return []
    profile = find_profile(a.profile)

    durable_option = "durable" in inspect.signature(media_burn).parameters

    def burn(files: list[Path], iso: Path, durable: bool = True) -> None:
        if durable_option:
            media_burn(profile, files, out=iso, durable=durable)
        else:  # a vscanner from before the option: always durable
            media_burn(profile, files, out=iso)

    files = sorted(corpus.iterdir())
    results: dict[str, list[float]] = {"genisoimage": [], "genisoimage+sync": [], "vscanner": [],
                                       "vscanner-nofsync": []}
    for run in range(a.runs):
        iso = tmp / "d.iso"
        order = ["genisoimage", "vscanner"] + (["vscanner-nofsync"] if durable_option else [])
        for who in (order if run % 2 == 0 else order[::-1]):
            iso.unlink(missing_ok=True)
            if who == "genisoimage":
                results[who].append(timed([genisoimage, "-quiet", "-V", "DICOM", "-o", str(iso), str(corpus)]))
                t0 = time.perf_counter()
                os.sync()  # what genisoimage left in the page cache, written to the disk
                results["genisoimage+sync"].append(results[who][-1] + time.perf_counter() - t0)
            else:
                settle()
                t0 = time.perf_counter()
                burn(files, iso, durable=who == "vscanner")
                results[who].append(time.perf_counter() - t0)
        iso.unlink(missing_ok=True)
    mb = sum(f.stat().st_size for f in files) / 1e6
    print(rate_line("genisoimage (no fsync)", results["genisoimage"], mb, len(files)))
    print(rate_line("  the same, then one sync (image on disk; info)", results["genisoimage+sync"], mb, len(files)))
    print(rate_line("vscanner (image fsynced before it is named)", results["vscanner"], mb, len(files)))
    times = med(results["vscanner"]) / med(results["genisoimage"])
    synced = med(results["vscanner"]) / med(results["genisoimage+sync"])
    ratios = [Ratio("d", "durable burn / genisoimage then sync", synced, "<= 1.5", synced <= 1.5)]
    if results["vscanner-nofsync"]:
        print(rate_line("vscanner durable=False (no fsync, as genisoimage)", results["vscanner-nofsync"], mb,
                        len(files)))
        alike = med(results["vscanner-nofsync"]) / med(results["genisoimage"])
        ratios.append(Ratio("d", "burn without fsync / genisoimage", alike, "<= 1.5", alike <= 1.5))
        print(f"  like for like: vscanner's durable burn / genisoimage then sync: {synced:.2f}; "
              f"vscanner without fsync / genisoimage: {alike:.2f}")
    ratios.append(Ratio("d'", "durable burn / genisoimage without sync (info)", times, "-", None))
    print(f"  (vscanner's durable burn / genisoimage without sync: {times:.2f} -- the image's fsync is disk time "
          "genisoimage does not spend)")
    return ratios


# --- main --------------------------------------------------------------------------------------


def precompile() -> None:
    """Byte-compile vscanner's modules, as installing a package does (an editable install
    compiles them at every start when the environment sets PYTHONDONTWRITEBYTECODE)."""
    import compileall

    for package in ("appliance", "acquisition", "devices"):
        compileall.compile_dir(str(ROOT / package), quiet=2, force=False, legacy=False, workers=1)
    print("vscanner's modules byte-compiled (as an installed package has them)")


def describe_machine(tmp: Path) -> None:
    import pydicom
    import pynetdicom

    storescu = shutil.which("storescu", path="/usr/bin") or "storescu"
    try:
        dcmtk = subprocess.run([storescu, "--version"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    except (OSError, subprocess.TimeoutExpired):
        dcmtk = "not found"
    print(f"machine: {os.cpu_count()} cores ({platform.machine()}), {platform.system()} {platform.release()}; "
          f"Python {platform.python_version()}, pydicom {pydicom.__version__}, pynetdicom {pynetdicom.__version__}, "
          f"DCMTK {dcmtk.strip('$ ').strip() or '?'}; work folder {tmp}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000, help="CT instances in the corpus (525 kB each)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is shown")
    ap.add_argument("--profile", default="syngo-ct-va50a", help="the product vscanner plays in (a) and (b)")
    ap.add_argument("--acq-slices", type=int, default=300, help="CT slices written in (c)")
    ap.add_argument("--only", default="a,b,c,d", help="parts to run, e.g. a,b")
    ap.add_argument("--tmp", help="work folder (default: a new temporary folder, removed at the end)")
    a = ap.parse_args(argv)
    parts = {p.strip() for p in a.only.split(",")}
    tmp = Path(a.tmp) if a.tmp else Path(tempfile.mkdtemp(prefix="vscanner-bench-dicom-"))
    tmp.mkdir(parents=True, exist_ok=True)
    describe_machine(tmp)
    precompile()
    ratios: list[Ratio] = []
    try:
        corpus = tmp / "corpus"
        corpus.mkdir(exist_ok=True)
        if parts & {"a", "b", "d"}:
            t0 = time.perf_counter()
            total = make_corpus(corpus, a.count)
            print(f"corpus: {a.count} CT instances 512x512x16 bit, Explicit VR Little Endian, {total / 1e6:.1f} MB "
                  f"(generated in {time.perf_counter() - t0:.1f} s); {a.runs} runs per measurement, median shown")
        files = sorted(glob.glob(str(corpus / "*.dcm")))
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        if "a" in parts:
            ratios += bench_send(a, tmp, corpus, files, mb)
        if "b" in parts:
            ratios += bench_receive(a, tmp, corpus, files, mb)
        if "c" in parts:
            ratios += bench_acquisition(a, tmp)
        if "d" in parts:
            ratios += bench_media(a, tmp, corpus)
    finally:
        if not a.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nsummary ({os.cpu_count()} cores; ratio = vscanner throughput / DCMTK's unless said otherwise)")
    for r in ratios:
        verdict = "" if r.met is None else ("  target met" if r.met else "  target NOT met")
        print(f"  ({r.part}) {r.what:<44} {r.ratio:6.2f}   target {r.target}{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
