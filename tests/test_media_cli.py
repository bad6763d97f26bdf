"""``vscanner burn`` and ``vscanner import`` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from appliance.store import Store

from .peers import require, run
from .test_media_fileset import make_exam

pytestmark = pytest.mark.interop


def vscanner(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_burn_study_from_store_and_import(tmp_path):
    files = make_exam(tmp_path / "in", series=2, per_series=3, kind="CT")
    study = dcmread(files[0]).StudyInstanceUID
    with Store(tmp_path / "store") as store:
        for f in files:
            store.add_dataset(dcmread(f))
    r = vscanner("burn", study, "--profile", "syngo-ct-va50a", "--data", str(tmp_path / "store"),
                 "--media-profile", "STD-GEN-DVD-J2K", "--out", str(tmp_path / "dvd.iso"), "-q")
    assert r.returncode == 0, r.stderr
    assert "burned 6 instance(s) as STD-GEN-DVD-J2K (6 x 1.2.840.10008.1.2.4.90)" in r.stdout
    listing = run([require("isoinfo"), "-f", "-i", str(tmp_path / "dvd.iso")]).stdout
    assert "/DICOMDIR.;1" in listing and listing.count("/IM0000") == 6
    r = vscanner("import", str(tmp_path / "dvd.iso"), "--data", str(tmp_path / "fresh"), "--profile", "syngo-ct-va50a")
    assert r.returncode == 0, r.stderr
    assert "imported 6 instance(s)" in r.stdout
    with Store(tmp_path / "fresh") as store:
        assert {x.sop_instance_uid for x in store.instances(study)} == {dcmread(f).SOPInstanceUID for f in files}


def test_burn_errors_name_the_problem(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=1)
    r = vscanner("burn", str(tmp_path / "in"), "--profile", "syngo-mr-xa11b", "--media-profile", "STD-GEN-BD",
                 "--out", str(tmp_path / "x.iso"))
    assert r.returncode == 1 and "does not support the media application profile STD-GEN-BD" in r.stderr
    assert "hint: it writes: STD-GEN-CD" in r.stderr
    r = vscanner("burn", "1.2.3.4", "--profile", "syngo-mr-xa11b", "--data", str(tmp_path / "nostore"),
                 "--out", str(tmp_path / "x.iso"))
    assert r.returncode == 2 and "holds no store" in r.stderr
    r = vscanner("import", str(tmp_path / "in"), "--data", str(tmp_path / "s"), "--profile", "syngo-mr-xa11b")
    assert r.returncode == 1 and "no DICOMDIR" in r.stderr
    assert not list(tmp_path.glob("*.iso"))


def test_usb_folder_and_fat_image_targets(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=2)
    stick = tmp_path / "stick"
    stick.mkdir()
    r = vscanner("burn", str(tmp_path / "in"), "--profile", "syngo-mr-xa11b", "--out", f"{stick}/", "-q")
    assert r.returncode == 0, r.stderr
    assert "wrote 2 instance(s)" in r.stdout and (stick / "DICOMDIR").is_file()
    r = vscanner("burn", str(tmp_path / "in"), "--profile", "syngo-mr-xa11b", "--out", f"{stick}/", "-q")
    assert "updated the file-set with 0 instance(s)" in r.stdout and "2 already there" in r.stdout
    require("mcopy")
    r = vscanner("burn", str(tmp_path / "in"), "--profile", "syngo-mr-xa11b", "--out", str(tmp_path / "usb.img"),
                 "-q")
    assert r.returncode == 0, r.stderr
    r = vscanner("import", str(tmp_path / "usb.img"), "--data", str(tmp_path / "s"), "--profile", "syngo-mr-xa11b")
    assert r.returncode == 0 and "imported 2 instance(s)" in r.stdout
