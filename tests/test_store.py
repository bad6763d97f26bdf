"""The local store: atomic, durable, indexed, never writes outside its folder."""

from __future__ import annotations

import errno
import os

import pytest

from appliance.errors import StoreError
from appliance.store import Duplicate, Store, StoreFull

from .data import ct_image, mr_image


def test_add_and_index(tmp_path):
    with Store(tmp_path / "s") as store:
        mr, ct = mr_image(), ct_image()
        assert store.add_dataset(mr, source_ae="A").outcome == "stored"
        assert store.add_dataset(ct).outcome == "stored"
        assert store.counts() == {"patient": 1, "study": 2, "series": 2, "instance": 2}
        rec = store.get(mr.SOPInstanceUID)
        assert rec.path.is_file() and rec.path.is_relative_to(store.objects)
        assert rec.path.name == f"{mr.SOPInstanceUID}.dcm"
        assert rec.source_ae == "A"
        assert not list(store.tmp.iterdir())


@pytest.mark.parametrize("bad", ["../../x", "1.2.3/../../x", "/etc/passwd", "1.2.03", "", "1." * 40])
def test_unsafe_uids_are_refused(tmp_path, bad):
    with Store(tmp_path / "s") as store:
        ds = ct_image()
        ds.SOPInstanceUID = bad
        with pytest.raises(StoreError, match="SOPInstanceUID"):
            store.add_dataset(ds)
        assert store.counts()["instance"] == 0
    files = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert all(str(f).startswith("s/") for f in files)
    assert not any(p.suffix == ".dcm" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("field", ["StudyInstanceUID", "SeriesInstanceUID"])
def test_unsafe_folder_uids_are_refused(tmp_path, field):
    with Store(tmp_path / "s") as store:
        ds = ct_image()
        setattr(ds, field, "..")
        with pytest.raises(StoreError, match=field):
            store.add_dataset(ds)


def test_duplicate_policies(tmp_path):
    ds = mr_image()
    with Store(tmp_path / "keep") as store:
        first = store.add_dataset(ds)
        size = first.record.path.stat().st_size
        ds.PatientName = "Other^Name^Longer^Than^Before"
        again = store.add_dataset(ds)
        assert again.outcome == "duplicate"
        assert first.record.path.stat().st_size == size
    with Store(tmp_path / "replace", duplicates="replace") as store:
        store.add_dataset(mr_image(seed=3, sop_uid=ds.SOPInstanceUID))
        assert store.add_dataset(ds).outcome == "replaced"
        assert store.counts()["instance"] == 1
    with Store(tmp_path / "reject", duplicates="reject") as store:
        store.add_dataset(ds)
        with pytest.raises(Duplicate):
            store.add_dataset(ds)


def test_partial_files_from_a_crash_are_discarded(tmp_path):
    root = tmp_path / "s"
    with Store(root) as store:
        store.add_dataset(ct_image())
    leftover = root / "tmp" / "deadbeef.part"
    leftover.write_bytes(b"half an instance")
    with Store(root) as store:
        assert not leftover.exists()
        assert store.counts()["instance"] == 1


def test_full_disk_is_reported_and_leaves_nothing(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreFull) as info:
        store.add_dataset(ct_image())
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "free disk space" in info.value.hint
    assert store.counts()["instance"] == 0
    assert not list(store.tmp.iterdir())
    assert not any(p.suffix == ".dcm" for p in store.objects.rglob("*"))
    store.close()


def _received(ds):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from appliance.store.index import encode_file_meta_fields, parse_dataset_header

    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    body = buf.getvalue()
    meta = encode_file_meta_fields(ds.SOPClassUID, ds.SOPInstanceUID, "1.2.840.10008.1.2.1", "1.2.3.4", "V1", "PEER")
    return body, meta, parse_dataset_header(body, "1.2.840.10008.1.2.1")


def test_answer_before_writing_defers_only_the_fsyncs(tmp_path, monkeypatch):
    """``durable=False`` (products answering before they write): the file is whole, in place and
    indexed when add_received returns; its fsyncs (file, then folder) follow on the store's
    thread, and close() waits for them."""
    synced: list[str] = []
    real_fsync = os.fsync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    store = Store(tmp_path / "s")
    ds = ct_image(seed=31)
    body, meta, header = _received(ds)
    monkeypatch.setattr(os, "fsync", record)
    result = store.add_received(body, meta_bytes=meta, transfer_syntax="1.2.840.10008.1.2.1", header=header,
                                durable=False)
    assert result.outcome == "stored" and result.record.path.read_bytes() == meta + body
    assert store.get(ds.SOPInstanceUID) is not None
    store.close()  # flushes
    assert str(result.record.path) in synced and str(result.record.path.parent) in synced
    assert synced.index(str(result.record.path)) < synced.index(str(result.record.path.parent))


def test_after_a_machine_crash_unwritten_acknowledged_instances_leave_the_index(tmp_path, caplog):
    root = tmp_path / "s"
    kept, lost = ct_image(seed=41), ct_image(seed=42)
    with Store(root) as store:
        store.add_dataset(kept)
        store.add_dataset(lost)
        lost_path = store.get(lost.SOPInstanceUID).path
        # the machine stops: the second file's data never reached the disk; next boot
        store._db.execute("UPDATE store_state SET value='an-earlier-boot' WHERE key='boot_id'")
    lost_path.write_bytes(lost_path.read_bytes()[:100])
    with Store(root) as store:
        assert store.get(kept.SOPInstanceUID) is not None
        assert store.get(lost.SOPInstanceUID) is None and not lost_path.exists()
    assert "did not reach the disk before the machine stopped" in caplog.text


def test_a_killed_process_is_noticed_and_the_index_catches_up(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "s"
    ds = ct_image(seed=51)
    from .data import write

    src = write(ds, tmp_path / "x.dcm")
    code = (f"import os; from appliance.store import Store; from pydicom import dcmread\n"
            f"s = Store({str(root)!r}); d = dcmread({str(src)!r})\n"
            f"s.add_dataset(d)\n"
            f"p = s.get(d.SOPInstanceUID).path\n"
            f"s._db.execute('DELETE FROM instance')\n"  # the row's commit never happened
            f"os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 9
    with Store(root) as store:  # the killed opener is noticed: objects/ is reconciled
        assert store.get(ds.SOPInstanceUID) is not None
