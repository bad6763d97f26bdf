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
