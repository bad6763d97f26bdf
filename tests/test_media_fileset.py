"""File-sets as the products write them, checked against dciodvfy and DCMTK's dcmmkdir.

The same instance files get two DICOMDIRs: ours (pydicom FileSet with the product's rules)
and dcmmkdir's; both must pass dciodvfy and list the same patient/study/series/image
records with the same referenced File IDs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from appliance.media.application_profiles import application_profile
from appliance.media.export import choose_profile, collect_files, scan, update_file_set, write_file_set
from appliance.media.fileset import directory_tree
from appliance.profile import find_profile

from .data import ct_image, mr_image, write
from .peers import require, run

pytestmark = pytest.mark.interop


def make_exam(folder: Path, *, series: int = 3, per_series: int = 4, kind: str = "MR", patient_id: str = "PID0001",
              study_uid: str | None = None) -> list[Path]:
    """One study of *series* x *per_series* small images (several series, several instances)."""
    folder.mkdir(parents=True, exist_ok=True)
    study = study_uid or generate_uid()
    make = mr_image if kind == "MR" else ct_image
    out = []
    n = 0
    for s in range(series):
        series_uid = generate_uid()
        for i in range(per_series):
            ds = make(seed=n + (0 if kind == "MR" else 1000))
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = s + 1
            ds.InstanceNumber = i + 1
            ds.PatientID = patient_id
            ds.WindowCenter, ds.WindowWidth = 2048, 4096
            out.append(write(ds, folder / f"{kind}{n:03d}.dcm"))
            n += 1
    return out


def file_set(profile_id: str, files: list[Path], root: Path, media_profile: str | None = None, **kw):
    p = find_profile(profile_id)
    app, kept, _dropped = choose_profile(p, scan(files), media_profile)
    return write_file_set(p, app, kept, root, **kw), app


def canonical(dicomdir: Path) -> dict:
    """{patient: {study: {series: {sop uid: (file id, transfer syntax)}}}} from a DICOMDIR."""
    tree = directory_tree(dcmread(dicomdir))
    out: dict = {}
    for pat in tree:
        assert pat.type == "PATIENT"
        studies = out.setdefault(str(pat.record.PatientID), {})
        for st in pat.children:
            assert st.type == "STUDY"
            series = studies.setdefault(str(st.record.StudyInstanceUID), {})
            for se in st.children:
                assert se.type == "SERIES"
                images = series.setdefault(str(se.record.SeriesInstanceUID), {})
                for im in se.children:
                    images[str(im.record.ReferencedSOPInstanceUIDInFile)] = (
                        "\\".join(im.file_id), str(im.record.ReferencedTransferSyntaxUIDInFile))
    return out


def record_keys(dicomdir: Path) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for top in directory_tree(dcmread(dicomdir)):
        for node in top.walk():
            keys.setdefault(node.type, set()).update(e.keyword for e in node.record)
    return keys


def dciodvfy_errors(path: Path) -> list[str]:
    r = run([require("dciodvfy"), str(path)])
    return [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]


def dcmmkdir_reference(root: Path, tmp: Path, profile_flag: str = "-Pgp") -> Path:
    """Copy the file-set without its DICOMDIR and let dcmmkdir build one for the same files."""
    ref = tmp / "dcmmkdir"
    shutil.copytree(root, ref)
    (ref / "DICOMDIR").unlink()
    r = run([require("dcmmkdir"), profile_flag, "+r", "+id", str(ref), "+D", str(ref / "DICOMDIR")])
    assert r.returncode == 0, r.stdout + r.stderr
    return ref / "DICOMDIR"


def test_general_purpose_cd_matches_dcmmkdir(tmp_path):
    files = make_exam(tmp_path / "in") + make_exam(tmp_path / "in2", series=2, per_series=3, kind="CT",
                                                   patient_id="PID0002")
    result, app = file_set("syngo-mr-xa11b", files, tmp_path / "fs")
    assert app.name == "STD-GEN-CD" and result.instances == 18
    ours = tmp_path / "fs" / "DICOMDIR"
    assert dciodvfy_errors(ours) == []
    ref = dcmmkdir_reference(tmp_path / "fs", tmp_path)
    assert dciodvfy_errors(ref) == []
    assert canonical(ours) == canonical(ref)
    counts = {k: sum(1 for _ in v) for k, v in canonical(ours).items()}
    assert counts == {"PID0001": 1, "PID0002": 1}
    ours_keys, ref_keys = record_keys(ours), record_keys(ref)
    assert set(ours_keys) == set(ref_keys) == {"PATIENT", "STUDY", "SERIES", "IMAGE"}
    for level in ref_keys:
        # dcmmkdir adds Image Type to IMAGE records (a DCMTK extension dciodvfy warns about)
        assert ref_keys[level] - {"ImageType"} <= ours_keys[level], level
    # File IDs: at most 8 upper-case characters per component, no extension (PS3.10 §8.5)
    for f in (tmp_path / "fs").rglob("*"):
        assert re.fullmatch(r"[A-Z0-9_]{1,8}", f.name), f
    # File Meta: the product's media Implementation Class UID, blank Version Name (Table 62)
    meta = dcmread(ours).file_meta
    assert meta.ImplementationClassUID == "1.3.12.2.1107.5.8.15.10.20090701"
    assert meta.ImplementationVersionName == ""
    image = dcmread(tmp_path / "fs" / "PT000000" / "ST000000" / "SE000000" / "IM000000")
    assert image.file_meta.ImplementationClassUID == "1.3.12.2.1107.5.8.15.10.20090701"


def test_j2k_profile_matches_dcmmkdir_dvd_j2k(tmp_path):
    files = make_exam(tmp_path / "in")
    result, app = file_set("syngo-ct-va50a", files, tmp_path / "fs", media_profile="STD-GEN-DVD-J2K")
    assert result.transfer_syntaxes == {"1.2.840.10008.1.2.4.90": 12}
    ours = tmp_path / "fs" / "DICOMDIR"
    assert dciodvfy_errors(ours) == []
    ref = dcmmkdir_reference(tmp_path / "fs", tmp_path, "-Pd2")  # dcmmkdir checks the J2K syntaxes
    assert canonical(ours) == canonical(ref)
    ts = {v[1] for st in canonical(ours)["PID0001"].values() for se in st.values() for v in se.values()}
    assert ts == {"1.2.840.10008.1.2.4.90"}
    # every instance decodes to the original pixels (lossless)
    originals = {dcmread(f).SOPInstanceUID: dcmread(f).pixel_array for f in files}
    for sop, (file_id, _ts) in canonical(ours)["PID0001"].popitem()[1].popitem()[1].items():
        ds = dcmread(tmp_path / "fs" / Path(*file_id.split("\\")))
        assert np.array_equal(ds.pixel_array, originals[sop])


def test_petct_private_profile_icons_and_keys(tmp_path):
    files = make_exam(tmp_path / "in", kind="CT")
    result, app = file_set("syngo-mi-petct-2011a", files, tmp_path / "fs")
    assert app.name == "PRI-SYNGO-CD"
    ours = tmp_path / "fs" / "DICOMDIR"
    assert dciodvfy_errors(ours) == []
    keys = record_keys(ours)
    assert {"PatientBirthDate", "PatientSex"} <= keys["PATIENT"]
    assert {"SeriesDate", "SeriesTime"} <= keys["SERIES"]
    assert {"ImageType", "ImagePositionPatient", "PixelSpacing", "Rows", "IconImageSequence"} <= keys["IMAGE"]
    icon = next(n for t in directory_tree(dcmread(ours)) for n in t.walk() if n.type == "IMAGE").record.IconImageSequence[0]
    assert (icon.Rows, icon.Columns, icon.BitsAllocated, icon.PhotometricInterpretation) == (64, 64, 8, "MONOCHROME2")
    assert len(icon.PixelData) == 64 * 64
    ref = dcmmkdir_reference(tmp_path / "fs", tmp_path)
    assert canonical(ours) == canonical(ref)
    assert dcmread(ours).file_meta.ImplementationClassUID == "1.3.12.2.1107.5.1.4"
    assert dcmread(ours).file_meta.ImplementationVersionName == "SIEMENS_S7VA27A"


def test_fsu_adds_instances_and_rewrites_dicomdir(tmp_path):
    first = make_exam(tmp_path / "a", series=2, per_series=2)
    p = find_profile("syngo-ct-va50a")
    result, app = file_set("syngo-ct-va50a", first, tmp_path / "stick", media_profile="STD-GEN-USB-J2K")
    assert result.instances == 4
    study = dcmread(first[0]).StudyInstanceUID
    make_exam(tmp_path / "b", series=1, per_series=3, study_uid=study)
    make_exam(tmp_path / "c", series=1, per_series=2, kind="CT", patient_id="PID0009")
    upd = update_file_set(p, tmp_path / "stick", [tmp_path / "b", tmp_path / "c", *first],
                          media_profile="STD-GEN-USB-J2K")
    assert upd.instances == 5 and upd.duplicates == 4  # the first four are already there
    ours = tmp_path / "stick" / "DICOMDIR"
    assert dciodvfy_errors(ours) == []
    tree = canonical(ours)
    assert sum(len(se) for st in tree["PID0001"].values() for se in st.values()) == 7
    assert len(tree["PID0001"][study]) == 3 and "PID0009" in tree
    ref = dcmmkdir_reference(tmp_path / "stick", tmp_path, "-Pf2")
    assert canonical(ref) == tree


def test_fsu_only_where_the_statement_allows(tmp_path):
    from appliance.media import MediaError

    files = make_exam(tmp_path / "a", series=1, per_series=2)
    file_set("syngo-mr-xa11b", files, tmp_path / "cd")  # STD-GEN-CD
    with pytest.raises(MediaError, match="FSU"):
        update_file_set(find_profile("syngo-mr-xa11b"), tmp_path / "cd", files, media_profile="STD-GEN-CD")


def test_oasis_drops_unsupported_classes_and_writes_ctmr(tmp_path):
    make_exam(tmp_path / "in", series=1, per_series=3)
    ct = make_exam(tmp_path / "ct", series=1, per_series=2, kind="CT")
    p = find_profile("oasis-velocity")
    app, kept, dropped = choose_profile(p, scan(collect_files([tmp_path / "in", tmp_path / "ct"])))
    assert app.name == "STD-CTMR-DVD" and len(kept) == 3 and len(dropped) == 2
    write_file_set(p, app, kept, tmp_path / "fs")
    assert dciodvfy_errors(tmp_path / "fs" / "DICOMDIR") == []
    ref = dcmmkdir_reference(tmp_path / "fs", tmp_path, "-Pcm")  # CT/MR profile checks of DCMTK
    assert canonical(tmp_path / "fs" / "DICOMDIR") == canonical(ref)
    assert application_profile("STD-CTMR-CD").medium.kind == "CD"
    assert ct  # CT instances exist but OASIS leaves them out silently (§7.2.4)


def test_csa_non_image_gets_a_private_record(tmp_path):
    """AUG-/PRI- profiles carry Siemens CSA Non-Image objects in PRIVATE records (PET/CT T-99)."""
    from pydicom.dataset import Dataset, FileMetaDataset

    ct = dcmread(make_exam(tmp_path / "in", series=1, per_series=1, kind="CT")[0])
    csa = Dataset()
    csa.SOPClassUID, csa.SOPInstanceUID = "1.3.12.2.1107.5.9.1", generate_uid()
    for kw in ("SpecificCharacterSet", "PatientName", "PatientID", "StudyInstanceUID", "StudyDate", "StudyTime",
               "StudyID", "AccessionNumber"):
        setattr(csa, kw, ct.get(kw))
    csa.SeriesInstanceUID, csa.Modality, csa.SeriesNumber, csa.InstanceNumber = generate_uid(), "CT", 99, 1
    csa.file_meta = FileMetaDataset()
    csa.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    write(csa, tmp_path / "in" / "csa.dcm")
    result, app = file_set("syngo-mi-petct-2011a", collect_files([tmp_path / "in"]), tmp_path / "fs")
    assert app.name == "PRI-SYNGO-CD" and result.instances == 2
    assert dciodvfy_errors(tmp_path / "fs" / "DICOMDIR") == []
    private = [n for t in directory_tree(dcmread(tmp_path / "fs" / "DICOMDIR")) for n in t.walk()
               if n.type == "PRIVATE"]
    assert len(private) == 1 and private[0].record.PrivateRecordUID == "1.3.12.2.1107.5.9.1"
    assert private[0].file_id[-1].startswith("P")
    # the standard profile does not allow the private class
    with pytest.raises(Exception, match="does not allow"):
        file_set("syngo-mr-xa11b", collect_files([tmp_path / "in"]), tmp_path / "fs2", media_profile="STD-GEN-CD")
