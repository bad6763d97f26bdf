"""``vscanner acquire``: list protocols, write a series, refuse bad input with exit code 2."""

from __future__ import annotations

import pydicom
import pytest

from appliance.cli import main


def test_list_protocols(capsys):
    assert main(["acquire", "--profile", "syngo-ct-va50a", "--list-protocols"]) == 0
    out = capsys.readouterr().out
    assert "Head routine" in out and "Water phantom QA" in out and "ct_localizer" in out


def test_acquire_writes_series_and_prints_counts(tmp_path, capsys):
    out_dir = tmp_path / "exam"
    rc = main(["acquire", "--profile", "syngo-mr-xa11b", "--protocol", "head routine", "--legacy",
               "--patient-name", "ROE^RICHARD", "--patient-id", "P123", "--seed", "4",
               "--max-matrix", "32", "--max-slices", "2", "--out", str(out_dir)])
    assert rc == 0
    out = capsys.readouterr().out
    files = sorted(out_dir.rglob("*.dcm"))
    assert len(files) == 6 + 2 * 3  # localizer 3 x 2, three 2-slice series
    total = sum(f.stat().st_size for f in files)
    assert f"total: 4 series, {len(files)} files, {total:,} bytes" in out
    assert "MR Image Storage" in out
    ds = pydicom.dcmread(files[0])
    assert str(ds.PatientName) == "ROE^RICHARD" and ds.PatientID == "P123"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"


@pytest.mark.parametrize("args,message", [
    (["--protocol", "Knee"], "no protocol 'Knee'"),
    (["--enhanced"], "does not create Enhanced CT Image Storage"),
    (["--max-slices", "0"], "--max-slices must be a positive integer"),
    ([], "--out is required"),
])
def test_bad_input_exits_2_with_a_hint(tmp_path, capsys, args, message):
    argv = ["acquire", "--profile", "syngo-ct-va50a", *args]
    if "--out is required" not in message:
        argv += ["--out", str(tmp_path / "x")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err
    assert not (tmp_path / "x").exists()


def test_unknown_profile_exits_2(capsys):
    assert main(["acquire", "--profile", "no-such-scanner", "--list-protocols"]) == 2
    assert "no profile named" in capsys.readouterr().err
