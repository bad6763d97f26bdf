"""Burning ISO images, the emulated burner, USB sticks and FAT images; reading them back (FSR).

Real peers: genisoimage's ``isoinfo`` lists what we burned, ``genisoimage`` writes an image
of a DCMTK file-set that we import, mtools reads our FAT images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from appliance.media import (ClosedDisc, DiscFull, MediaError, NoDisc, NoEncoder, WriteError, burn, export_fat_image,
                             export_folder, import_media)
from appliance.media.iso import iso_size
from appliance.profile import find_profile
from appliance.store import Store
from devices.burner import Burner
from devices.usb import UsbStick

from .peers import require, run
from .test_media_fileset import dcmmkdir_reference, dciodvfy_errors, make_exam

pytestmark = pytest.mark.interop

MR = find_profile("syngo-mr-xa11b")
CT = find_profile("syngo-ct-va50a")
PETCT = find_profile("syngo-mi-petct-2011a")


def iso_listing(iso: Path) -> set[str]:
    """Files on *iso* as ``isoinfo -l`` (genisoimage) lists them: ``DIR/DIR/NAME``."""
    r = run([require("isoinfo"), "-l", "-i", str(iso)])
    assert r.returncode == 0, r.stderr
    files, folder = set(), ""
    for line in r.stdout.splitlines():
        if line.startswith("Directory listing of "):
            folder = line[len("Directory listing of "):].strip().strip("/")
        elif line.startswith("-"):
            name = line.split("]")[-1].strip().split(";")[0].rstrip(".")
            files.add(f"{folder}/{name}" if folder else name)
    return files


def instances(store: Store) -> dict[str, bytes]:
    """SOP Instance UID -> the stored data set bytes after the File Meta group."""
    out = {}
    for rec in store.instances():
        ds = dcmread(rec.path)
        out[rec.sop_instance_uid] = ds
    return out


def test_isoinfo_lists_the_burned_file_set(tmp_path):
    files = make_exam(tmp_path / "in")
    r = burn(MR, [tmp_path / "in"], out=tmp_path / "out" / "cd.iso")
    assert (r.media_profile, r.instances) == ("STD-GEN-CD", 12)
    assert r.iso == tmp_path / "out" / "cd.iso" and r.bytes == r.iso.stat().st_size
    listed = iso_listing(r.iso)
    assert "DICOMDIR" in listed
    assert len([f for f in listed if f.startswith("PT000000/ST000000/SE")]) == len(files) == 12
    assert {"PT000000/ST000000/SE000002/IM000003"} <= listed
    d = run([require("isoinfo"), "-d", "-i", str(r.iso)]).stdout
    assert "Volume id: DICOM" in d and "NO Joliet present" in d
    assert not [p for p in (tmp_path / "out").iterdir() if p.name != "cd.iso"]  # no staging left behind


def test_what_is_burned_from_folders_and_named_files(tmp_path):
    """In a folder, files that are not DICOM (short, text, no DICM prefix) and DICOMDIRs are left
    out; a named file that is not DICOM, or does not exist, is an error."""
    files = make_exam(tmp_path / "in", series=1, per_series=2)
    (tmp_path / "in" / "notes.txt").write_text("not an image\n")
    (tmp_path / "in" / "short").write_bytes(b"DICM")
    (tmp_path / "in" / "nodicm.dcm").write_bytes(b"\0" * 400)
    (tmp_path / "in" / "DICOMDIR").write_bytes(files[0].read_bytes())
    r = burn(MR, [tmp_path / "in"], out=tmp_path / "cd.iso")
    assert r.instances == 2
    r = burn(MR, [files[0]], out=tmp_path / "one.iso")
    assert r.instances == 1
    for name in ("notes.txt", "short", "nodicm.dcm"):
        with pytest.raises(MediaError, match="is not a DICOM Part 10 file"):
            burn(MR, [files[1], tmp_path / "in" / name], out=tmp_path / "bad.iso")
    with pytest.raises(MediaError, match="does not exist"):
        burn(MR, [tmp_path / "in" / "missing.dcm"], out=tmp_path / "bad.iso")
    assert not (tmp_path / "bad.iso").exists()


def test_round_trip_burn_import_identical_instances(tmp_path):
    files = make_exam(tmp_path / "in") + make_exam(tmp_path / "ct", series=2, per_series=2, kind="CT")
    r = burn(CT, [tmp_path / "in", tmp_path / "ct"], out=tmp_path / "cd.iso")
    with Store(tmp_path / "store") as store:
        result = import_media(r.iso, store)
        assert result.instances == 16 and not result.skipped
        again = import_media(r.iso, store)
        assert (again.instances, again.duplicates) == (0, 16)
        stored = instances(store)
    originals = {dcmread(f).SOPInstanceUID: dcmread(f) for f in files}
    assert set(stored) == set(originals)
    for uid, ds in stored.items():
        orig = originals[uid]
        assert ds == orig  # every data element, pixel data included
        assert ds.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
        assert ds.file_meta.ImplementationClassUID == "1.3.12.2.1107.5.1.7"  # syngo CT media identity


def test_j2k_lossless_and_lossy_decode_back(tmp_path):
    files = make_exam(tmp_path / "in", series=1, per_series=3)
    originals = {dcmread(f).SOPInstanceUID: dcmread(f).pixel_array for f in files}
    lossless = burn(MR, [tmp_path / "in"], out=tmp_path / "ll.iso", media_profile="STD-GEN-DVD-J2K")
    lossy = burn(MR, [tmp_path / "in"], out=tmp_path / "ly.iso", media_profile="STD-GEN-DVD-J2K",
                 transfer_syntax="1.2.840.10008.1.2.4.91", j2k_ratio=5)
    assert lossless.transfer_syntaxes == {"1.2.840.10008.1.2.4.90": 3}
    assert lossy.transfer_syntaxes == {"1.2.840.10008.1.2.4.91": 3}
    for iso, exact in ((lossless.iso, True), (lossy.iso, False)):
        with Store(tmp_path / iso.stem) as store:
            assert import_media(iso, store).instances == 3
            for uid, ds in instances(store).items():
                assert ds.SOPInstanceUID == uid and uid in originals  # UIDs kept
                pixels = ds.pixel_array
                if exact:
                    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
                    assert np.array_equal(pixels, originals[uid])
                    assert "LossyImageCompression" not in ds
                else:
                    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
                    assert pixels.shape == originals[uid].shape
                    err = np.abs(pixels.astype(int) - originals[uid].astype(int)).mean()
                    assert 0 < err < 1000
                    assert ds.LossyImageCompression == "01"
                    assert ds.LossyImageCompressionMethod == "ISO_15444_1"
                    assert float(ds.LossyImageCompressionRatio) > 1


def test_lossy_j2k_not_on_an_uncompressed_profile_and_no_jpeg_encoder(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=1)
    with pytest.raises(MediaError, match="not allowed"):
        burn(MR, [tmp_path / "in"], out=tmp_path / "x.iso", transfer_syntax="1.2.840.10008.1.2.4.91")
    # PET/CT's private profile allows JPEG Lossless SV1; pydicom has no encoder for it
    with pytest.raises(NoEncoder, match="imagecodecs"):
        burn(PETCT, [tmp_path / "in"], out=tmp_path / "y.iso", transfer_syntax="1.2.840.10008.1.2.4.70")
    assert not list(tmp_path.glob("*.iso"))


def test_burner_states_progress_and_verify(tmp_path):
    make_exam(tmp_path / "in")
    events = []
    burner = Burner(tmp_path / "drive", on_event=lambda e, d: events.append((e, d.get("state"))))
    assert burner.state == "empty"
    with pytest.raises(NoDisc, match="no disc"):
        burn(MR, [tmp_path / "in"], burner=burner)
    burner.load_disc("CD")
    assert burner.state == "loaded"
    seen = []
    r = burn(MR, [tmp_path / "in"], burner=burner, volume_label="Patient 1", progress=lambda *a: seen.append(a))
    assert r.iso.parent == tmp_path / "drive" and r.iso.name == "PATIENT_1.iso"
    assert r.media_profile == "STD-GEN-CD"
    states = [s for e, s in events if e == "state"]
    assert states == ["loaded", "burning", "verifying", "loaded"]
    stages = {s for s, _d, _t in seen}
    assert stages == {"prepare", "write", "verify"}
    assert seen[-1][1] == seen[-1][2]  # verify reached 100 %
    with pytest.raises(ClosedDisc, match="closed"):
        burn(MR, [tmp_path / "in"], burner=burner)
    burner.eject()
    assert burner.state == "ejected"
    with pytest.raises(NoDisc):
        burn(MR, [tmp_path / "in"], burner=burner)


def test_disc_full_leaves_no_image_and_says_what_to_do(tmp_path):
    make_exam(tmp_path / "in", series=2, per_series=10)  # ~190 KB
    burner = Burner(tmp_path / "drive")
    burner.load_disc("CD", capacity_bytes=100_000)
    with pytest.raises(DiscFull) as info:
        burn(MR, [tmp_path / "in"], burner=burner, out=Path("big.iso"))
    assert "larger medium" in str(info.value) or "larger disc" in str(info.value)
    assert info.value.exit_code == 1 and info.value.hint
    assert list((tmp_path / "drive").iterdir()) == []  # no ISO, no partial file, no staging
    # the exact image size is known before writing: the burner refuses that too
    burner2 = Burner(tmp_path / "drive2")
    make_exam(tmp_path / "small", series=1, per_series=1)
    burner2.load_disc("CD", capacity_bytes=40_000)
    with pytest.raises(DiscFull):
        burn(MR, [tmp_path / "small"], burner=burner2)
    assert list((tmp_path / "drive2").iterdir()) == []
    # without a burner: the medium's capacity from the profile (OASIS CD-R 650 MB) is used
    oasis = find_profile("oasis-velocity")
    assert oasis.media.capacity_mb == {"CD": 650}


def test_injected_faults(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=3)
    burner = Burner(tmp_path / "drive")
    burner.load_disc("DVD")
    burner.set_error("write_error")
    with pytest.raises(WriteError, match="simulated write error"):
        burn(CT, [tmp_path / "in"], burner=burner)
    assert list((tmp_path / "drive").iterdir()) == [] and burner.state == "loaded"
    for fault, exc in (("disc_full", DiscFull), ("no_disc", NoDisc), ("closed_disc", ClosedDisc),
                       ("verify_error", MediaError)):
        burner.set_error(fault)
        with pytest.raises(exc):
            burn(CT, [tmp_path / "in"], burner=burner)
        assert list((tmp_path / "drive").iterdir()) == [], fault
    burner.set_error(None)
    r = burn(CT, [tmp_path / "in"], burner=burner)
    assert r.media_profile == "AUG-GEN-DVD" and r.iso.exists()  # the loaded DVD: the first DVD profile (Table 2)


def test_spanning_writes_independent_file_sets(tmp_path):
    # PET/CT: "no multi-volume", several independent file-sets, each with its own DICOMDIR
    for n in range(3):
        make_exam(tmp_path / "in" / str(n), series=1, per_series=6, kind="CT", patient_id=f"P{n}")
    burner = Burner(tmp_path / "drive")
    burner.load_disc("CD", capacity_bytes=250_000)
    r = burn(PETCT, [tmp_path / "in"], burner=burner)
    assert len(r.isos) == 2 and r.instances == 18  # whole studies per disc: 2 + 1
    assert [p.name for p in r.isos] == ["DICOM_1.iso", "DICOM_2.iso"]
    total = 0
    for iso in r.isos:
        assert iso.stat().st_size <= 250_000
        assert "DICOMDIR" in iso_listing(iso)
        with Store(tmp_path / ("s" + iso.stem)) as store:
            total += import_media(iso, store).instances
    assert total == 18


def test_import_a_dcmtk_file_set_burned_by_genisoimage(tmp_path):
    files = make_exam(tmp_path / "in", series=2, per_series=2)
    # a DCMTK-style file-set: our files, dcmmkdir's DICOMDIR, genisoimage's ISO ("NAME.;1" names)
    from .test_media_fileset import file_set

    file_set("syngo-mr-xa11b", files, tmp_path / "fs")
    ref = dcmmkdir_reference(tmp_path / "fs", tmp_path)
    iso = tmp_path / "dcmtk.iso"
    r = run([require("genisoimage"), "-quiet", "-iso-level", "1", "-V", "DCMTK", "-o", str(iso), str(ref.parent)])
    assert r.returncode == 0, r.stderr
    with Store(tmp_path / "store") as store:
        result = import_media(iso, store, sop_classes={c.uid for c in MR.classes(service="storage")})
        assert result.instances == 4
    # an FSR that does not support the class skips it (OASIS reads MR, not CT)
    ct = make_exam(tmp_path / "ct", series=1, per_series=2, kind="CT")
    assert ct
    r2 = burn(CT, [tmp_path / "ct"], out=tmp_path / "ct.iso")
    with Store(tmp_path / "store2") as store:
        oasis = find_profile("oasis-velocity")
        result = import_media(r2.iso, store, sop_classes={c.uid for c in oasis.classes(service="storage")})
        assert result.instances == 0 and len(result.skipped) == 2 and "CT Image Storage" in result.skipped[0][1]


def test_usb_stick_fsc_then_fsu_and_fat_image(tmp_path):
    stick = UsbStick(tmp_path / "stick", capacity_bytes=50_000_000)
    make_exam(tmp_path / "a", series=1, per_series=3)
    make_exam(tmp_path / "b", series=2, per_series=2, kind="CT", patient_id="P2")
    first = export_folder(CT, [tmp_path / "a"], stick.mount)  # FSC: the stick was empty
    assert first.instances == 3 and stick.has_file_set
    assert first.transfer_syntaxes == {"1.2.840.10008.1.2.4.90": 3}  # STD-GEN-USB-J2K compresses
    second = export_folder(CT, [tmp_path / "a", tmp_path / "b"], stick.mount)  # FSU: adds, avoids duplicates
    assert (second.instances, second.duplicates) == (4, 3)
    assert dciodvfy_errors(stick.mount / "DICOMDIR") == []
    assert not [p for p in stick.mount.iterdir() if p.name.startswith(".")]
    with Store(tmp_path / "store") as store:
        assert import_media(stick.mount, store).instances == 7
    stick.unplug()
    with pytest.raises(MediaError, match="no USB stick"):
        stick.mount
    # the same as a FAT image (mtools), read back by mtools and by the FSR
    require("mcopy")
    img = export_fat_image(CT, [tmp_path / "a", tmp_path / "b"], tmp_path / "usb.img", volume_label="patient")
    assert img.instances == 7
    listing = run(["mdir", "-i", str(tmp_path / "usb.img"), "-b", "-/", "::/"]).stdout
    assert "DICOMDIR" in listing and "IM000000" in listing
    with Store(tmp_path / "store-fat") as store:
        assert import_media(tmp_path / "usb.img", store).instances == 7


def test_deidentification_on_export(tmp_path):
    files = make_exam(tmp_path / "in", series=2, per_series=2)
    orig = dcmread(files[0])
    full = burn(CT, [tmp_path / "in"], out=tmp_path / "full.iso", deidentify="Full de-identification")
    reduced = burn(CT, [tmp_path / "in"], out=tmp_path / "red.iso", deidentify=["Reduced de-identification"])
    with Store(tmp_path / "full") as store:
        assert import_media(full.iso, store).instances == 4
        got = list(instances(store).values())
    assert {d.StudyInstanceUID for d in got} != {orig.StudyInstanceUID}
    assert len({d.StudyInstanceUID for d in got}) == 1 and len({d.SeriesInstanceUID for d in got}) == 2
    for d in got:
        assert d.PatientName == "ANONYMOUS" and d.PatientID.startswith("ANON") and d.PatientID != orig.PatientID
        assert not d.get("PatientBirthDate") and not d.get("PatientSex") and d.StudyDate == "19000101"  # Type 2: emptied
        assert d.PatientIdentityRemoved == "YES"
        assert d.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    with Store(tmp_path / "red") as store:
        import_media(reduced.iso, store)
        got = list(instances(store).values())
    for d in got:
        assert d.StudyInstanceUID == orig.StudyInstanceUID and d.StudyDate == orig.StudyDate  # retained
        assert d.PatientSex == orig.PatientSex and d.PatientName == "ANONYMOUS"
        assert not d.get("PatientBirthDate")
    with pytest.raises(MediaError, match="offers no de-identification"):
        burn(PETCT, [tmp_path / "in"], out=tmp_path / "x.iso", deidentify="Full de-identification")
    with pytest.raises(MediaError, match="not offered"):
        burn(CT, [tmp_path / "in"], out=tmp_path / "x.iso", deidentify="Retain UIDs Option")


def test_iso_size_is_exact_and_joliet(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=2)
    from appliance.media.export import write_file_set, choose_profile, scan, collect_files
    from appliance.media.iso import write_iso

    app, kept, _ = choose_profile(MR, scan(collect_files([tmp_path / "in"])))
    write_file_set(MR, app, kept, tmp_path / "fs")
    for joliet in (False, True):
        out = tmp_path / f"j{joliet}.iso"
        size = write_iso(tmp_path / "fs", out, volume_label="x", joliet=joliet)
        assert size == out.stat().st_size == iso_size(tmp_path / "fs", joliet=joliet)
    d = run([require("isoinfo"), "-d", "-i", str(tmp_path / "jTrue.iso")]).stdout
    assert "Joliet with UCS level 3 found" in d
    j = run([require("isoinfo"), "-J", "-l", "-i", str(tmp_path / "jTrue.iso")]).stdout
    assert "DICOMDIR" in j and "DICOMDIR.;1" not in j
    digest = hashlib.sha256((tmp_path / "fs" / "DICOMDIR").read_bytes()).hexdigest()
    assert digest  # the same tree imaged twice


def test_default_profile_choice_follows_the_data_and_the_medium(tmp_path):
    from appliance.media.export import choose_profile, scan, collect_files

    make_exam(tmp_path / "in", series=1, per_series=2)
    src = scan(collect_files([tmp_path / "in"]))
    assert choose_profile(MR, src)[0].name == "STD-GEN-CD"
    assert choose_profile(CT, src, medium_kind="BD")[0].name == "AUG-GEN-BD"  # Table 2 order
    assert choose_profile(PETCT, src)[0].name == "PRI-SYNGO-CD"
    assert choose_profile(find_profile("coherence-primeview-3i"), src)[0].name == "PRI-SYNGO-CD"
    assert choose_profile(find_profile("oasis-velocity"), src)[0].name == "STD-CTMR-DVD"
    with pytest.raises(MediaError, match="reads STD-GEN-CD but does not write it"):
        choose_profile(PETCT, src, "STD-GEN-CD")
    with pytest.raises(MediaError, match="does not support"):
        choose_profile(MR, src, "STD-GEN-BD")
