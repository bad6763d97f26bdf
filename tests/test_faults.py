"""Faults survived with nothing lost, against real DCMTK peers, each bounded in time.

- kill -9 of `vscanner serve` while DCMTK storescu is sending: every instance storescu saw
  acknowledged is in the store after the restart (file and index), no half-written file is
  visible, and a resend completes the study without duplicates;
- the archive aborts the association mid-transfer (storescp --abort-during): the instance
  stays queued with the reason, and the queue completes once the archive is back;
- the archive rejects the association (vscanner serve as a product that answers configured
  AE titles only): the job shows the rejection, and completes after the archive is fixed.

Already covered elsewhere: kill -9 of `vscanner send` mid-job (tests/test_queue.py), the
archive down then up (test_queue.py), failure statuses per product (test_storage_scu.py), no
commitment report (test_commitment.py), out of resources and a full disk (test_store.py,
test_provider_storage.py), peer abort and outage in whole exams (scenarios).
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from .data import ct_image, write
from .peers import PEER_ENV, ServeProcess, free_port, require
from .scu_peers import Storescp
from .test_provider_common import site_config

pytestmark = pytest.mark.interop


def _study(folder: Path, n: int, seed: int = 900) -> dict[str, str]:
    """*n* CT instances of one study; returns {file name: SOP Instance UID}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    first = ct_image(seed=seed)
    for i in range(n):
        ds = ct_image(seed=seed + i)
        ds.StudyInstanceUID = first.StudyInstanceUID
        ds.SeriesInstanceUID = first.SeriesInstanceUID
        ds.InstanceNumber = i + 1
        path = write(ds, folder / f"ct{i:03d}.dcm")
        out[path.name] = str(ds.SOPInstanceUID)
    return out


def _acknowledged(storescu_output: str) -> list[str]:
    """File names storescu saw a Success response for (it logs the file, then the response)."""
    done, current = [], None
    for line in storescu_output.splitlines():
        m = re.search(r"Sending file: (.+)$", line)
        if m:
            current = Path(m.group(1).strip()).name
        elif "Received Store Response (Success)" in line and current:
            done.append(current)
            current = None
    return done


def _store_state(data: Path) -> tuple[set[str], set[str]]:
    """(SOP Instance UIDs in the index, SOP Instance UIDs of whole files on disk)."""
    db = sqlite3.connect(data / "index.sqlite")
    try:
        indexed = {row[0] for row in db.execute("SELECT sop_instance_uid FROM instance")}
    finally:
        db.close()
    files = set()
    for path in (data / "objects").rglob("*"):
        assert not path.name.endswith(".part"), f"half-written file visible after restart: {path}"
        if path.is_file():
            files.add(str(dcmread(path).SOPInstanceUID))  # every file is whole and parseable
    return indexed, files


def test_kill_9_of_serve_during_a_receive_loses_nothing_acknowledged(tmp_path):
    uids = _study(tmp_path / "exam", 40)
    data = tmp_path / "store"
    server = ServeProcess("syngo-ct-va50a", data, "CTVA50", tmp_path / "serve1.log")
    storescu = require("storescu")
    # --sleep? storescu has none; the server is killed once it logged a dozen stored instances
    sender = subprocess.Popen([storescu, "-v", "-aec", "CTVA50", "127.0.0.1", str(server.port),
                               *sorted(str(p) for p in (tmp_path / "exam").iterdir())],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=PEER_ENV)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.log().count("C-STORE stored") < 12 and sender.poll() is None:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    out, _ = sender.communicate(timeout=60)
    server.stop()
    acked = _acknowledged(out)
    assert 0 < len(acked) < 40, out[-3000:]  # the kill happened mid-transfer

    restarted = ServeProcess("syngo-ct-va50a", data, "CTVA50", tmp_path / "serve2.log")
    try:
        indexed, files = _store_state(data)
        for name in acked:
            assert uids[name] in indexed and uids[name] in files, f"{name} was acknowledged but is lost"
        # a file the kill caught between its rename and its index row was never acknowledged: the
        # sender sends it again, and the resend below takes it into the index
        assert indexed <= files and len(files - indexed) <= 1, (sorted(files - indexed), sorted(indexed - files))
        # the sender's side of recovery: send the whole study again; first copies win, nothing doubles
        again = subprocess.run([storescu, "-aec", "CTVA50", "127.0.0.1", str(restarted.port),
                                *sorted(str(p) for p in (tmp_path / "exam").iterdir())],
                               capture_output=True, text=True, env=PEER_ENV, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        indexed, files = _store_state(data)
        assert indexed == files == set(uids.values())
        assert sum(1 for p in (data / "objects").rglob("*.dcm")) == 40
    finally:
        restarted.stop()


def _queue_states(data: Path) -> dict[str, int]:
    db = sqlite3.connect(data / "jobs.sqlite")
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM item GROUP BY state").fetchall())
    finally:
        db.close()


def _vscanner(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_archive_aborts_mid_transfer_then_the_queue_completes(tmp_path):
    uids = _study(tmp_path / "exam", 4, seed=950)
    port = free_port()
    aborting = Storescp(tmp_path / "aborting", extra=["--abort-during"], port=port)
    data = tmp_path / "data"
    try:
        first = _vscanner("send", str(tmp_path / "exam"), "--to", f"STORESCP@127.0.0.1:{port}",
                          "--profile", "syngo-ct-va50a", "--data", str(data), "--retries", "0", "-q")
    finally:
        aborting.stop()
    assert first.returncode == 1, first.stdout + first.stderr
    states = _queue_states(data)
    assert states.get("sent", 0) == 0 and sum(states.values()) == 4, states
    listing = _vscanner("queue", "list", "--items", "--data", str(data))
    assert re.search(r"abort", listing.stdout + listing.stderr, re.I), listing.stdout + listing.stderr

    archive = Storescp(tmp_path / "archive", port=port)
    try:
        retry = _vscanner("queue", "retry", "--data", str(data))
        assert retry.returncode == 0, retry.stdout + retry.stderr
        run = _vscanner("queue", "run", "--data", str(data), "-q")
        assert run.returncode == 0, run.stdout + run.stderr
        assert _queue_states(data) == {"sent": 4}
        assert sorted(archive.received_uids()) == sorted(uids.values())
    finally:
        archive.stop()


def test_rejected_association_is_shown_then_the_queue_completes(tmp_path):
    uids = _study(tmp_path / "exam", 3, seed=970)
    config = site_config(tmp_path / "site.toml", {"pacs": ("PACS", 104)})
    archive_data = tmp_path / "archive"
    # syngo MR XA11B answers configured AE titles only (§8.2): VSCANNER is not configured there
    strict = ServeProcess("syngo-mr-xa11b", archive_data, "ARCHIVE", tmp_path / "strict.log",
                          extra=["--config", str(config)])
    port = strict.port
    data = tmp_path / "data"
    try:
        first = _vscanner("send", str(tmp_path / "exam"), "--to", f"ARCHIVE@127.0.0.1:{port}",
                          "--profile", "syngo-ct-va50a", "--data", str(data), "--retries", "0", "-q")
    finally:
        strict.stop()
    assert first.returncode == 1, first.stdout + first.stderr
    shown = first.stdout + first.stderr + _vscanner("queue", "list", "--items", "--data", str(data)).stdout
    assert re.search(r"reject", shown, re.I), shown
    assert _queue_states(data).get("sent", 0) == 0

    # the archive's administrator adds the scanner (here: answers any AE title); same port
    fixed = None
    for _ in range(20):  # the port may still be in TIME_WAIT for a moment
        try:
            fixed = subprocess.Popen([sys.executable, "-m", "appliance", "--config", str(config), "serve",
                                      "--profile", "syngo-mr-xa11b", "--aet", "ARCHIVE", "--host", "127.0.0.1",
                                      "--port", str(port), "--data", str(archive_data), "--accept-any-calling-aet"],
                                     stdout=open(tmp_path / "fixed.log", "wb"), stderr=subprocess.STDOUT)
            from .peers import wait_for_log

            wait_for_log(tmp_path / "fixed.log", f"on 127.0.0.1:{port} ", fixed, timeout=20)
            break
        except RuntimeError:
            fixed = None
            time.sleep(0.5)
    assert fixed is not None, (tmp_path / "fixed.log").read_text()
    try:
        assert _vscanner("queue", "retry", "--data", str(data)).returncode == 0
        run = _vscanner("queue", "run", "--data", str(data), "-q")
        assert run.returncode == 0, run.stdout + run.stderr
        assert _queue_states(data) == {"sent": 3}
        indexed, files = _store_state(archive_data)
        assert indexed == files == set(uids.values())
    finally:
        fixed.terminate()
        fixed.wait(15)


def test_association_and_network_timeouts_free_the_connection(tmp_path):
    """A connection that never sends its A-ASSOCIATE-RQ is closed after the association time-out
    (the ARTIM case); an association that stays silent is aborted after the network time-out.
    Both are configurable in the statements; the profile holds the defaults (30-60 s)."""
    from .ul_client import IMPLICIT_VR, VERIFICATION, RawAssociation

    server = ServeProcess("syngo-ct-va50a", tmp_path / "store", "CTVA50", tmp_path / "serve.log",
                          serve_args=["--association-timeout", "1", "--network-timeout", "1.5"])
    try:
        with RawAssociation("127.0.0.1", server.port, timeout=10) as silent:
            start = time.monotonic()
            answer = silent.read_answer(timeout=10)
            waited = time.monotonic() - start
        assert answer.kind in ("closed", "abort") and 0.8 <= waited < 6, (answer, waited)

        with RawAssociation("127.0.0.1", server.port, timeout=10) as idle:
            assert idle.associate("CTVA50", "IDLER", [(1, VERIFICATION, [IMPLICIT_VR])]).kind == "accepted"
            start = time.monotonic()
            answer = idle.read_answer(timeout=10)
            waited = time.monotonic() - start
        assert answer.kind in ("abort", "closed") and 1.2 <= waited < 7, (answer, waited)
        assert "IDLER" in server.log()
    finally:
        server.stop()
