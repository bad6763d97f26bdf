"""The fast file-set path of a burn: DICOMDIRs built from the encoded headers, files streamed
into the image without staging copies -- checked against pydicom's FileSet, byte for byte.

DicomdirBuilder writes the DICOMDIR that ProductFileSet (pydicom's FileSet with the
product's rules) writes for the same instances; the instance files of a new file-set hold
the same data sets; an instance that needs no change is never decoded nor copied to a
staging folder; the image holds the same bytes whether the kernel copies them
(copy_file_range) or Python does.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from appliance.media import burn, export, iso
from appliance.media.export import choose_profile, scan, write_file_set
from appliance.media.fileset import DicomdirBuilder, ProductFileSet, make_icon, read_instance_header
from appliance.media.iso import IsoReader
from appliance.profile import find_profile

from .data import ct_image, mr_image, write

UID_FS = "1.2.826.0.1.3680043.8.498.1"
KEYS = {"PATIENT": ("PatientBirthDate", "PatientSex"),
        "SERIES": ("SeriesDate", "SeriesTime", "InstitutionName", "SeriesDescription"),
        "IMAGE": ("ImageType", "SOPClassUID", "SOPInstanceUID", "ContentDate", "ReferencedImageSequence",
                  "ImagePositionPatient", "Rows", "Columns", "PixelSpacing", "CalibrationImage")}


def exam(folder: Path) -> list[Path]:
    """Two patients, three studies, MR and CT; one header larger than the first read, one
    undefined length sequence, one Implicit VR file, one RT Dose (not an IMAGE record)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    study, series = generate_uid(), generate_uid()
    for i in range(4):
        ds = mr_image(seed=i)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, i + 1
        ds.SeriesDescription = "t1 tse"
        ds.ImagePositionPatient, ds.PixelSpacing = [0, 0, i * 5.0], [0.5, 0.5]
        if i == 1:
            ref = Dataset()
            ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = ds.SOPClassUID, generate_uid()
            ds.ReferencedImageSequence = Sequence([ref])
            ds["ReferencedImageSequence"].is_undefined_length = True
        if i == 2:
            ds.add_new(0x00291010, "OB", b"\x01" * 20001)  # a private header beyond the first 8 KiB read
            ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
        files.append(write(ds, folder / f"mr{i}.dcm"))
    for i in range(3):
        ds = ct_image(seed=10 + i)
        ds.PatientID, ds.PatientName, ds.InstanceNumber = "PID0002", "Other^Patient", i + 1
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        files.append(write(ds, folder / f"ct{i}.dcm"))
    implicit = mr_image(seed=40)
    implicit.StudyInstanceUID, implicit.SeriesInstanceUID, implicit.InstanceNumber = study, series, 9
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    files.append(write(implicit, folder / "implicit.dcm"))
    dose = mr_image(seed=41)
    dose.SOPClassUID, dose.Modality, dose.DoseSummationType = "1.2.840.10008.5.1.4.1.1.481.2", "RTDOSE", "PLAN"
    dose.StudyInstanceUID, dose.SeriesInstanceUID = study, generate_uid()
    files.append(write(dose, folder / "dose.dcm"))
    return files


def reference(files: list[Path], **kw) -> tuple[bytes, dict[str, bytes]]:
    """The DICOMDIR and instance files pydicom's FileSet writes (the path before the builder)."""
    fs = ProductFileSet(**kw)
    fs.UID = UID_FS
    fs.ID = "VSCANNER"
    for f in files:
        ds = dcmread(f)
        if kw.get("icon_size"):
            fs.icons[str(ds.SOPInstanceUID)] = make_icon(ds, kw["icon_size"])
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.ImplementationClassUID = kw["implementation_class_uid"]  # as write_file_set did
        ds.file_meta.ImplementationVersionName = kw["implementation_version_name"]
        fs.add(ds)
    with tempfile.TemporaryDirectory() as d:
        fs.write(d)
        out = {str(i.SOPInstanceUID): Path(i.path).read_bytes() for i in fs}
        return (Path(d) / "DICOMDIR").read_bytes(), out


def built(files: list[Path], **kw) -> tuple[bytes, int]:
    b = DicomdirBuilder(file_set_id="VSCANNER", **kw)
    b.uid = UID_FS
    fast = 0
    for f in files:
        try:
            h = read_instance_header(f)
        except Exception:
            h = None
        if h is not None and b.add_header(h, h.transfer_syntax):
            fast += 1
            continue
        ds = dcmread(f)
        if kw.get("icon_size"):
            b.icons[str(ds.SOPInstanceUID)] = make_icon(ds, kw["icon_size"])
        b.add_dataset(ds)
    return b.finish(), fast


@pytest.mark.parametrize("options", [
    {},
    {"dicomdir_keys": KEYS},
    {"dicomdir_keys": KEYS, "icon_size": 64, "private_classes": frozenset({"1.2.840.10008.5.1.4.1.1.4"})},
], ids=["general", "keys", "icons-private"])
def test_dicomdir_is_byte_identical_to_pydicoms_fileset(tmp_path, options):
    files = exam(tmp_path / "in")
    kw = dict(implementation_class_uid="1.2.826.0.1.3680043.8.498.2", implementation_version_name="VS_1", **options)
    ref, _ = reference(files, **kw)
    ours, fast = built(files, **kw)
    assert ours == ref
    if not options.get("icon_size"):
        assert fast == len(files) - 2  # all but the Implicit VR file and the RT Dose
    assert dcmread(tmp_path / "in" / "mr0.dcm").SOPInstanceUID  # the sources are untouched


def test_new_file_set_holds_the_same_files_and_decodes_nothing(tmp_path, monkeypatch):
    files = exam(tmp_path / "in")[:7]  # the Explicit VR images
    p = find_profile("syngo-mr-xa11b")
    app, kept, _ = choose_profile(p, scan(files))
    ref_dir, ref_files = reference([s.path for s in kept], implementation_class_uid=p.media_implementation_class_uid,
                                   implementation_version_name=p.media_implementation_version_name)

    def no_decoding(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("an instance that needs no change was decoded")

    monkeypatch.setattr(export, "dcmread", no_decoding)
    result = write_file_set(p, app, kept, tmp_path / "fs")
    assert result.instances == 7
    for sop, file_id in result.file_ids.items():
        ours = (tmp_path / "fs").joinpath(*file_id.split("\\")).read_bytes()
        assert ours == ref_files[sop], file_id
    assert not [f for f in (tmp_path / "fs").rglob("*") if f.name.startswith(".")]  # no staging left
    def records(ds: Dataset) -> list[dict]:  # offsets differ: the File-set IDs and UIDs do
        return [{k: v for k, v in r.to_json_dict().items() if k not in ("00041400", "00041420")}
                for r in ds.DirectoryRecordSequence]

    assert records(dcmread(tmp_path / "fs" / "DICOMDIR")) == records(dcmread(io.BytesIO(ref_dir)))


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "read-write"])
def test_image_holds_the_files_whichever_way_they_are_copied(tmp_path, monkeypatch, kernel_copy):
    files = exam(tmp_path / "in")
    monkeypatch.setattr(iso, "_COPY_FILE_RANGE", [kernel_copy and iso._COPY_FILE_RANGE[0]])
    r = burn(find_profile("syngo-ct-va50a"), [tmp_path / "in"], out=tmp_path / "cd.iso")
    assert r.instances == len(files)
    originals = {str(dcmread(f).SOPInstanceUID): dcmread(f) for f in files}
    with IsoReader(r.iso) as reader:
        dicomdir = dcmread(io.BytesIO(reader.read("DICOMDIR")))
        leaves = [rec for rec in dicomdir.DirectoryRecordSequence if "ReferencedFileID" in rec]
        assert len(leaves) == len(files)
        for rec in leaves:
            ds = dcmread(io.BytesIO(reader.read(list(rec.ReferencedFileID))))
            src = originals[str(rec.ReferencedSOPInstanceUIDInFile)]
            assert ds.PixelData == src.PixelData
            assert ds.file_meta.ImplementationClassUID == find_profile("syngo-ct-va50a").media_implementation_class_uid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cd.iso", "in"]  # nothing staged is left
