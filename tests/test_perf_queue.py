"""The send queue's commits after the speed work: new work is fsynced before it is
acknowledged (synchronous=FULL for that transaction); the per-instance state changes are
synchronous=NORMAL (safe from a crash of the process, tests/test_queue.py kills the sender;
a crash of the machine can only move an item back, so it is sent again, never lost)."""

from __future__ import annotations

from pathlib import Path

from appliance.config import resolve_node
from appliance.jobs import JobQueue
from appliance.net.storage_scu import StoreOutcome, read_instance_header

from .data import ct_image, write


def traced(queue: JobQueue) -> list[str]:
    statements: list[str] = []
    queue._db.set_trace_callback(statements.append)
    return statements


def test_enqueue_is_fsynced_and_outcomes_are_not(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    insts = [read_instance_header(write(ct_image(seed=i), folder / f"ct{i}.dcm")) for i in range(3)]
    with JobQueue(tmp_path / "data") as q:
        assert q._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL between transactions
        seen = traced(q)
        job_id = q.enqueue(insts, resolve_node("PACS@127.0.0.1:104"), profile="syngo-ct-va50a",
                           calling_ae="VSCANNER").job_id
        pragmas = [s for s in seen if s.startswith(("PRAGMA", "BEGIN", "COMMIT"))]
        assert pragmas == ["PRAGMA synchronous=FULL", "BEGIN IMMEDIATE", "COMMIT", "PRAGMA synchronous=NORMAL"]
        seen.clear()
        items = q.items(job_id)
        q.mark_sending(items[0].id)
        out = StoreOutcome(items[0].instance(), "success", 0, items[0].transfer_syntax_uid, False, "")
        assert q.record_outcome(items[0].id, out, q.job(job_id), next_item_id=items[1].id) == ("sent", None)
        assert not [s for s in seen if "synchronous" in s]
        assert [i.state for i in q.items(job_id)] == ["sent", "sending", "queued"]
        seen.clear()
        assert q.retry(job_id) == 0
        assert "PRAGMA synchronous=FULL" in seen  # a retry the user asked for is durable too
        assert q._db.execute("PRAGMA synchronous").fetchone()[0] == 1
