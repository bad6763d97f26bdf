"""The durable send queue: states, de-duplication, recovery, retries with back-off, and
kill -9 of `vscanner send` mid-job followed by `vscanner queue run`: every instance reaches
storescp exactly once (storescp keeps every copy under its own name, +uf, so a second copy
would be counted)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.cli import main
from appliance.config import resolve_node
from appliance.jobs import JobQueue, QueueBusy, QueueRunner
from appliance.jobs.queue import backoff
from appliance.net.storage_scu import StoreOutcome, read_instance_header
from appliance.store import Store

from .data import ct_image, mr_image, write
from .peers import free_port
from .scu_peers import storescp  # noqa: F401  (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

NODE = resolve_node("PACS@127.0.0.1:104")


def instances(folder: Path, n: int = 3) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    return [read_instance_header(write(mr_image(seed=500 + i), folder / f"mr{i}.dcm")) for i in range(n)]


def outcome(inst, category="success", status=0x0000, error=""):  # type: ignore[no-untyped-def]
    return StoreOutcome(inst, category, status, inst.transfer_syntax_uid, False, error)


# --- unit ----------------------------------------------------------------------------------------


def test_enqueue_is_durable_and_deduplicated(tmp_path):
    insts = instances(tmp_path / "in")
    q = JobQueue(tmp_path / "data")
    r1 = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER")
    assert r1.queued == 3 and not r1.skipped
    # visible at once to another connection (another process): committed before enqueue returned
    other = sqlite3.connect(tmp_path / "data" / "jobs.sqlite")
    assert other.execute("SELECT COUNT(*) FROM item WHERE state='queued'").fetchone()[0] == 3
    # the same instances again for the same destination: skipped; another destination: queued
    r2 = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER")
    assert r2.queued == 0 and [s for _, s in r2.skipped] == ["queued"] * 3
    r3 = q.enqueue(insts, resolve_node("OTHER@127.0.0.1:105"), profile="syngo-mr-xa11b", calling_ae="VSCANNER")
    assert r3.queued == 3
    q.close()


def test_sent_is_never_sent_again_and_sending_is_recovered(tmp_path):
    insts = instances(tmp_path / "in")
    q = JobQueue(tmp_path / "data")
    job_id = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER").job_id
    job = q.job(job_id)
    a, b, c = q.due_items(job_id)
    q.mark_sending(a.id)
    q.record_outcome(a.id, outcome(insts[0]), job)
    q.mark_sending(b.id)  # ... and the process dies here
    q.close()

    q = JobQueue(tmp_path / "data")
    q.acquire_runner_lock()
    assert q.recover() == 1
    states = {i.sop_instance_uid: i.state for i in q.items()}
    assert states == {insts[0].sop_instance_uid: "sent", insts[1].sop_instance_uid: "queued",
                      insts[2].sop_instance_uid: "queued"}
    assert [i.id for i in q.due_items(job_id)] == [b.id, c.id]
    assert "interrupted" in q.items(states=("queued",))[0].last_error
    # a new send of the same files does not send the confirmed one again (unless --resend)
    r = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER")
    assert r.queued == 0
    r = q.enqueue(insts[:1], NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER", resend=True)
    assert r.queued == 1
    q.close()


def test_one_runner_per_queue(tmp_path):
    q1 = JobQueue(tmp_path / "data")
    q2 = JobQueue(tmp_path / "data")
    q1.acquire_runner_lock()
    with pytest.raises(QueueBusy):
        q2.acquire_runner_lock(timeout=0.2)
    q1.release_runner_lock()
    q2.acquire_runner_lock()
    q1.close()
    q2.close()


def test_retries_back_off_then_fail(tmp_path):
    insts = instances(tmp_path / "in", 1)
    q = JobQueue(tmp_path / "data")
    job_id = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER", retries=2,
                       retry_interval=5).job_id
    job = q.job(job_id)
    item = q.items()[0]
    dues = []
    for attempt in (1, 2, 3):
        q.mark_sending(item.id)
        t = time.time()
        state, due = q.record_outcome(item.id, outcome(insts[0], "failure", 0xA700, "out of resources"), job)
        dues.append((state, None if due is None else round(due - t)))
    assert dues == [("queued", 5), ("queued", 10), ("failed", None)]
    assert backoff(10, 20) == 600
    assert q.retry() == 1 and q.items()[0].state == "queued" and q.items()[0].attempts == 0
    q.close()


def test_purge_and_cli_list(tmp_path, capsys):
    insts = instances(tmp_path / "in", 2)
    q = JobQueue(tmp_path / "data")
    job_id = q.enqueue(insts, NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER").job_id
    item = q.due_items(job_id)[0]
    q.mark_sending(item.id)
    q.record_outcome(item.id, outcome(insts[0]), q.job(job_id))
    q.close()
    assert main(["queue", "list", "--data", str(tmp_path / "data"), "--items"]) == 0
    out = capsys.readouterr().out
    assert "1 queued, 1 sent" in out and "PACS@127.0.0.1:104" in out
    assert main(["queue", "purge", "--data", str(tmp_path / "data")]) == 0
    assert "1 item(s) removed" in capsys.readouterr().out
    with JobQueue(tmp_path / "data") as q:
        assert q.counts()["queued"] == 1 and q.counts()["sent"] == 0


# --- with storescp ------------------------------------------------------------------------------


@pytest.mark.interop
def test_archive_down_then_up_retries_with_backoff(storescp, tmp_path):
    insts = instances(tmp_path / "in", 2)
    port = free_port()
    queue = JobQueue(tmp_path / "data")
    job_id = queue.enqueue(insts, resolve_node(f"STORESCP@127.0.0.1:{port}"), profile="syngo-mr-xa11b",
                           calling_ae="VSCANNER", retries=3, retry_interval=0.5).job_id
    with QueueRunner(queue) as runner:
        runner.run([job_id], wait=False)  # nobody listens: both queued again, 0.5 s later
    items = queue.items(job_id)
    assert [i.state for i in items] == ["queued", "queued"]
    assert all(i.attempts == 1 and i.next_attempt_at > time.time() for i in items)
    assert "STORESCP@127.0.0.1" in items[0].last_error
    # the archive comes up on that port; the runner waits out the back-off and sends
    peer = storescp()
    queue.close()
    queue = JobQueue(tmp_path / "data")
    with queue._tx() as db:  # point the job at the port storescp got
        db.execute("UPDATE job SET dest_port=?", (peer.port,))
        db.execute("UPDATE item SET destination=?", (f"STORESCP@127.0.0.1:{peer.port}",))
    with QueueRunner(queue) as runner:
        runner.run([job_id])
    assert [i.state for i in queue.items(job_id)] == ["sent", "sent"]
    assert [i.attempts for i in queue.items(job_id)] == [2, 2]
    assert sorted(peer.received_uids()) == sorted(i.sop_instance_uid for i in insts)
    queue.close()


def big_ct(folder: Path, n: int) -> list[str]:
    """CT instances of 8 MB each: more than the loopback socket buffers hold, so an instance
    in flight when the sender is killed cannot reach the archive complete."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = []
    for i in range(n):
        ds = ct_image(seed=600 + i)
        ds.Rows = ds.Columns = 2048
        ds.PixelData = np.random.default_rng(i).integers(0, 4096, size=(2048, 2048), dtype=np.uint16).tobytes()
        write(ds, folder / f"ct{i}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    return uids


@pytest.mark.interop
def test_kill_9_mid_job_then_restart_sends_every_instance_exactly_once(storescp, tmp_path):
    uids = big_ct(tmp_path / "exam", 6)
    # storescp answers each C-STORE, then sleeps 2 s before reading the next request
    peer = storescp(extra=["--sleep-after", "2"])
    data = tmp_path / "data"
    log = open(tmp_path / "send.log", "wb")
    sender = subprocess.Popen([sys.executable, "-m", "appliance", "send", str(tmp_path / "exam"), "--to", peer.node,
                               "--profile", "syngo-ct-va50a", "--data", str(data)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(peer.files()) < 2 and time.monotonic() < deadline and sender.poll() is None:
            time.sleep(0.05)
        assert len(peer.files()) >= 2, (tmp_path / "send.log").read_text()
        time.sleep(0.7)  # the response to the 2nd arrived; the 3rd is being written into the socket
    finally:
        sender.send_signal(signal.SIGKILL)
        sender.wait(10)
        log.close()
    db = sqlite3.connect(data / "jobs.sqlite")
    states = dict(db.execute("SELECT state, COUNT(*) FROM item GROUP BY state").fetchall())
    db.close()
    assert states == {"sent": 2, "sending": 1, "queued": 3}, states
    time.sleep(3)  # storescp wakes up, reads what reached it of the 3rd instance, and drops it
    assert len(peer.files()) == 2

    restart = subprocess.run([sys.executable, "-m", "appliance", "queue", "run", "--data", str(data), "-q"],
                             capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert "1 instance(s) were interrupted while sending and are queued again" in restart.stderr
    assert "6 sent" in restart.stdout
    received = peer.received_uids()
    assert sorted(received) == sorted(uids), "every instance exactly once"


@pytest.mark.interop
def test_the_limit_an_instance_in_flight_at_the_kill_may_arrive_twice(storescp, tmp_path):
    """storescp kills the sender as it stores the 2nd instance (-xcr ... -xs): the instance in
    flight at that moment (marked ``sending``) may have reached the archive without its
    response reaching us; the queue cannot tell, so the restart sends that one again. Every
    instance confirmed before the kill arrives exactly once; only the one in flight may arrive
    twice (it does here whenever the archive had it complete in its socket buffer)."""
    folder = tmp_path / "exam"
    folder.mkdir()
    uids = []
    for i in range(4):
        ds = ct_image(seed=700 + i)
        write(ds, folder / f"ct{i}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    pidfile = tmp_path / "sender.pid"
    received = tmp_path / "storescp0" / "received"
    script = tmp_path / "kill-on-second.sh"
    script.write_text(f'[ "$(ls {received} | wc -l)" -eq 2 ] && kill -9 "$(cat {pidfile})"\nexit 0\n')
    peer = storescp(extra=["-xcr", f"sh {script}", "-xs"])
    data = tmp_path / "data"
    sender = subprocess.Popen([sys.executable, "-m", "appliance", "send", str(folder), "--to", peer.node,
                               "--profile", "syngo-ct-va50a", "--data", str(data), "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pidfile.write_text(str(sender.pid))
    try:
        assert sender.wait(60) == -signal.SIGKILL
    finally:
        if sender.poll() is None:
            sender.kill()
    with JobQueue(data) as q:
        in_flight = [i.sop_instance_uid for i in q.items(states=("sending",))]
        confirmed = [i.sop_instance_uid for i in q.items(states=("sent",))]
    # The kill may also land between two instances (nothing in flight): then nothing may repeat.
    assert len(in_flight) <= 1 and len(confirmed) >= 1
    restart = subprocess.run([sys.executable, "-m", "appliance", "queue", "run", "--data", str(data), "-q"],
                             capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    got = peer.received_uids()
    assert sorted(set(got)) == sorted(uids)
    for uid in uids:
        if in_flight and uid == in_flight[0]:
            assert got.count(uid) in (1, 2)
        else:
            assert got.count(uid) == 1, uid


# --- several associations at once ---------------------------------------------------------------


@pytest.mark.interop
def test_a_job_on_two_associations_at_once_reaches_dcmtk_once_each(storescp, tmp_path, monkeypatch, capsys):
    """`send --associations 2` into storescp --fork (a process per association): both
    associations are open at the same time, every instance arrives exactly once, each is
    marked sent."""
    from appliance.net import storage_scu

    insts = instances(tmp_path / "in", 12)
    peer = storescp(extra=["--fork"])
    open_now, most = [0], [0]
    real_open = storage_scu.StorageSession.open.__func__

    def counting_open(cls, *a, **k):  # how many sessions are open at once
        with real_open(cls, *a, **k) as session:
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])
            try:
                yield session
            finally:
                open_now[0] -= 1

    from contextlib import contextmanager
    monkeypatch.setattr(storage_scu.StorageSession, "open", classmethod(contextmanager(counting_open)))
    data = tmp_path / "data"
    code = main(["send", str(tmp_path / "in"), "--to", peer.node, "--profile", "syngo-ct-va50a",
                 "--data", str(data), "--associations", "2", "--queue-only"])
    assert code == 0
    assert main(["queue", "list", "--data", str(data)]) == 0
    assert "2 associations at once" in capsys.readouterr().out
    code = main(["queue", "run", "--data", str(data), "-q"])  # the job keeps its number of associations
    assert code == 0, capsys.readouterr()
    assert most[0] == 2
    received = peer.received_uids()
    assert sorted(received) == sorted(i.sop_instance_uid for i in insts)  # each exactly once
    assert peer.log().count("Received Store Request (MsgID 1,") == 2  # two associations stored
    with JobQueue(data) as q:
        assert q.counts()["sent"] == 12 and all(i.attempts == 1 for i in q.items())


def test_a_queue_of_an_older_version_gets_the_association_count(tmp_path):
    """A jobs.sqlite whose job table has no associations column (written before it existed)
    opens, and its jobs are sent on one association."""
    import sqlite3 as sql

    from appliance.jobs.queue import SCHEMA

    (tmp_path / "data").mkdir()
    old = SCHEMA.replace(",\n    associations INTEGER NOT NULL DEFAULT 1\n", "\n")
    assert old != SCHEMA
    db = sql.connect(tmp_path / "data" / "jobs.sqlite")
    db.executescript(old)
    db.execute("INSERT INTO job (dest_ae, dest_host, dest_port, profile, calling_ae, created_at) "
               "VALUES ('PACS', '127.0.0.1', 104, 'syngo-mr-xa11b', 'VSCANNER', 0)")
    db.commit()
    db.close()
    with JobQueue(tmp_path / "data") as q:
        assert [j.associations for j in q.jobs()] == [1]
        job_id = q.enqueue(instances(tmp_path / "in", 1), NODE, profile="syngo-mr-xa11b", calling_ae="VSCANNER",
                           associations=3).job_id
        assert q.job(job_id).associations == 3
    with JobQueue(tmp_path / "data") as q:  # opened again: nothing to add
        assert [j.associations for j in q.jobs()] == [1, 3]


def test_associations_beyond_what_the_product_initiates_are_refused(tmp_path, capsys):
    """OASIS Velocity initiates single associations (its statement, 3.1.2)."""
    instances(tmp_path / "in", 1)
    code = main(["send", str(tmp_path / "in"), "--to", "STORESCP@127.0.0.1:9", "--profile", "oasis-velocity",
                 "--data", str(tmp_path / "data"), "--associations", "2"])
    assert code == 2
    assert "initiates at most 1 association(s) at once" in capsys.readouterr().err
    assert not (tmp_path / "data" / "jobs.sqlite").exists() or JobQueue(tmp_path / "data").counts()["queued"] == 0


@pytest.mark.interop
def test_an_association_the_peer_refuses_leaves_its_instances_to_the_other(storescp, tmp_path, monkeypatch):
    """One of two associations is refused (here: the second one opened fails as a peer's
    "local limit exceeded" does): the job goes on, and ends, on the association storescp
    accepted; every instance arrives once."""
    from contextlib import contextmanager

    from appliance.errors import NetworkError
    from appliance.net import storage_scu

    real_open = storage_scu.StorageSession.open.__func__
    opened = [0]

    def open_once(cls, *a, **k):
        opened[0] += 1
        if opened[0] == 2:
            raise NetworkError("C-STORE: STORESCP rejected the association from VSCANNER (local limit exceeded)")
        with real_open(cls, *a, **k) as session:
            yield session

    monkeypatch.setattr(storage_scu.StorageSession, "open", classmethod(contextmanager(open_once)))
    peer = storescp()
    insts = instances(tmp_path / "in", 6)
    with JobQueue(tmp_path / "data") as queue:
        job_id = queue.enqueue(insts, resolve_node(peer.node), profile="syngo-mr-xa11b", calling_ae="VSCANNER").job_id
        with QueueRunner(queue, associations=2) as runner:
            runner.run([job_id], wait=False)
        assert [i.state for i in queue.items(job_id)] == ["sent"] * 6
    assert opened[0] == 2
    assert sorted(peer.received_uids()) == sorted(i.sop_instance_uid for i in insts)


def test_a_failure_stops_the_job_on_every_association(tmp_path):
    """syngo MI PET/CT stops a send job at the first failure (its statement, on_failure =
    "stop"): with two associations, the one that got the failure is aborted, the other ends
    after its instance, and the rest is not sent. Nothing stays "sending"; what the archive
    stored is exactly what the queue holds as sent."""
    from appliance.net.server import Server
    from appliance.profile import find_profile

    folder = tmp_path / "in"
    folder.mkdir()
    insts = []
    for i in range(10):
        ds = ct_image(seed=800 + i)
        if i == 4:
            del ds.StudyInstanceUID  # the archive refuses it (A900)
        insts.append(read_instance_header(write(ds, folder / f"ct{i}.dcm")))
    server = Server(find_profile("syngo-ct-va50a"), tmp_path / "archive", ae_title="CT", port=free_port())
    server.start()
    try:
        with JobQueue(tmp_path / "data") as queue:
            job_id = queue.enqueue(insts, resolve_node(f"CT@127.0.0.1:{server.port}"), profile="syngo-mi-petct-2011a",
                                   calling_ae="PETCT", associations=2).job_id
            with QueueRunner(queue) as runner:
                runner.run([job_id], wait=False)
            items = queue.items(job_id)
    finally:
        server.stop()
    states = {i.sop_instance_uid: i.state for i in items}
    assert set(states.values()) <= {"sent", "failed"}, states
    assert states[insts[4].sop_instance_uid] == "failed"
    assert 0 < list(states.values()).count("sent") < 9
    stops = [i for i in items if i.state == "failed" and i.sop_instance_uid != insts[4].sop_instance_uid]
    assert stops and all("stops a send job at the first failure" in i.last_error for i in stops)
    with Store(tmp_path / "archive") as store:
        stored = {r.sop_instance_uid for r in store.instances()}
    assert stored == {uid for uid, state in states.items() if state == "sent"}
