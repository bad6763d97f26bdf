"""The store's durability after the speed work: files are durable before they are indexed,
the index (SQLite WAL, synchronous NORMAL) catches up from ``objects/`` after a machine crash.

A `vscanner serve` killed with SIGKILL keeps every instance DCMTK's storescu was told was
stored, with its index row; lost index commits (what a power loss can do to a WAL commit
that was not fsynced) are reconciled from the files at the next open after a restart.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import generate_uid

from appliance.store import Store

from .data import ct_image, write
from .peers import PEER_ENV, ServeProcess, require


def make_series(folder: Path, n: int) -> dict[str, Path]:
    """*n* CT instances of one series as files; SOP Instance UID -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    out = {}
    for i in range(n):
        ds = ct_image(seed=i)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, i + 1
        out[str(ds.SOPInstanceUID)] = write(ds, folder / f"CT{i:03d}.dcm")
    return out


def acknowledged(storescu_output: str, files: list[Path]) -> list[Path]:
    """The files storescu -v reports a Success response for (it sends them in order)."""
    done, current = [], None
    by_name = {str(f): f for f in files}
    for line in storescu_output.splitlines():
        if "Sending file: " in line:
            current = by_name.get(line.split("Sending file: ", 1)[1].strip())
        elif "Received Store Response (Success)" in line and current is not None:
            done.append(current)
            current = None
    return done


def check_complete(data: Path, expected: dict[str, Path]) -> None:
    """Every *expected* instance is indexed and its file holds the sent data set; every file
    under objects/ is a complete instance."""
    with Store(data) as store:
        for sop, source in expected.items():
            rec = store.get(sop)
            assert rec is not None, f"acknowledged instance {sop} is not in the index"
            assert dcmread(rec.path).PixelData == dcmread(source).PixelData
        indexed = {r.path for r in store.instances()}
        on_disk = set((data / "objects").rglob("*.dcm"))
        assert on_disk == indexed  # no file the index does not know, none half-written
        assert not list((data / "tmp").glob("*.part"))


def test_acknowledged_instances_survive_sigkill_of_serve(tmp_path):
    storescu = require("storescu")
    sent = make_series(tmp_path / "in", 12)
    server = ServeProcess("syngo-ct-va50a", tmp_path / "store", "VSCANNER", tmp_path / "serve.log")
    try:
        r = subprocess.run([storescu, "-v", "-aet", "SCU", "-aec", "VSCANNER", "127.0.0.1", str(server.port),
                            *map(str, sent.values())], env=PEER_ENV, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        server.proc.send_signal(signal.SIGKILL)  # right after the last success, no shutdown
        server.proc.wait(10)
    finally:
        server.stop()
    assert len(acknowledged(r.stdout + r.stderr, list(sent.values()))) == 12
    check_complete(tmp_path / "store", sent)


def test_sigkill_in_the_middle_of_an_association_keeps_what_was_acknowledged(tmp_path):
    storescu = require("storescu")
    sent = make_series(tmp_path / "in", 60)
    files = list(sent.values())
    server = ServeProcess("syngo-ct-va50a", tmp_path / "store", "VSCANNER", tmp_path / "serve.log")
    try:
        scu = subprocess.Popen([storescu, "-v", "-aet", "SCU", "-aec", "VSCANNER", "127.0.0.1", str(server.port),
                                *map(str, files)], env=PEER_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        deadline = time.monotonic() + 30
        while server.log().count("C-STORE stored ") < 10 and time.monotonic() < deadline and scu.poll() is None:
            time.sleep(0.005)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        out, _ = scu.communicate(timeout=30)
    finally:
        server.stop()
    done = acknowledged(out, files)
    assert len(done) >= 10, out
    assert len(done) < len(files), "the server was killed after the whole association: nothing was tested"
    by_path = {p: sop for sop, p in sent.items()}
    check_complete(tmp_path / "store", {by_path[p]: p for p in done})


def test_lost_index_commits_are_reconciled_after_a_machine_restart(tmp_path, caplog):
    data = tmp_path / "store"
    sent = make_series(tmp_path / "in", 6)
    with Store(data) as store:
        for path in sent.values():
            assert store.add_dataset(dcmread(path)).outcome == "stored"
    lost = list(sent)[3:]
    db = sqlite3.connect(data / "index.sqlite")
    db.executemany("DELETE FROM instance WHERE sop_instance_uid=?", [(s,) for s in lost])
    db.execute("UPDATE store_state SET value='an-earlier-boot' WHERE key='boot_id'")
    db.commit()
    db.close()
    junk = data / "objects" / "1.2.3" / "1.2.3.4" / "1.2.3.4.5.dcm"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"not an instance")
    with Store(data) as store:  # the machine "restarted": the index is reconciled with objects/
        assert store.counts()["instance"] == 6
        assert all(store.get(s) is not None for s in sent)
        assert store.get(lost[0]).transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert "1.2.3.4.5.dcm is not indexed" in caplog.text
    with Store(data) as store:  # same boot: no second scan
        assert store.reconcile() == 0
