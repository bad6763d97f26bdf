"""Document-like and RT objects built from an exam's images: Key Object Selection, Enhanced
and Comprehensive SR measurement reports, Encapsulated PDF, CSA Non-Image, RT Plan and RT
Dose. Each is built for the products whose profile creates it, checked by dciodvfy (0
errors), parsed by dcmdump, round-tripped by pydicom, and its references checked against
the source instances."""

from __future__ import annotations

import io
import re
import shutil
import struct
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from acquisition.engine import Limits, acquire
from acquisition.iods import ObjectContext
from acquisition.iods import modules as m
from acquisition.iods.documents import BUILDERS as DOCUMENTS
from acquisition.iods.documents import csa2_header, kos_title, read_csa2_header
from acquisition.iods.rt_plan_dose import BUILDERS as RT
from acquisition.iods.rt_plan_dose import PlanParams
from acquisition.iods.uids import UIDFactory
from acquisition.protocols import ObjectRules, product_data_for
from appliance.profile import find_profile

from .peers import require, run
from .test_acquisition_iods import dciodvfy, strict_pydicom  # noqa: F401  (autouse fixture)
from .test_acquisition_worklist import ITEM as WORKLIST_ITEM

WHEN = datetime(2026, 3, 2, 8, 15, 0)
SMALL = Limits(max_matrix=64, max_slices=3, max_frames=2)
BUILDERS = {**DOCUMENTS, **RT}

# COHERENCE Dosimetrist - KonRad writes its own equipment values (§A.7.3, Table 121) and UIDs
# under the Dosimetrist Workspace root (§A.5, product 8).
KONRAD = ObjectRules(manufacturer="Siemens Medical Solutions, Oncology Care Systems",
                     model="COHERENCE Dosimetrist Workspace - KonRad", software_versions=("v2.2.x",),
                     uid_root="1.3.12.2.1107.5.7.8.3347")
EXTRA_RULES = {"coherence-primeview-3i": {"rt_plan": KONRAD, "rt_dose": KONRAD}}

# (profile, protocol whose objects are the source, kind, modality of the new series)
CASES = [
    ("oasis-velocity", "Brain routine", "kos", "KO"),
    ("syngo-mr-xa11b", "Head routine", "enhanced_sr", "SR"),
    ("syngo-mr-xa11b", "Head routine", "comprehensive_sr", "SR"),
    ("syngo-mr-xa11b", "Head routine", "encapsulated_pdf", "DOC"),
    ("syngo-ct-va50a", "Thorax routine", "enhanced_sr", "SR"),
    ("syngo-ct-va50a", "Thorax routine", "comprehensive_sr", "SR"),
    ("syngo-mi-petct-2011a", "PET/CT Whole Body", "comprehensive_sr", "SR"),
    ("syngo-mi-petct-2011a", "PET/CT Whole Body", "csa_non_image", "PT"),
    ("coherence-primeview-3i", "Cone Beam CT", "rt_plan", "RTPLAN"),
    ("coherence-primeview-3i", "Cone Beam CT", "rt_dose", "RTDOSE"),
]

# dciodvfy knows no IOD for the Siemens private CSA Non-Image class, and its dictionary
# describes (7FE1,xx10) "CSA Data" of creator SIEMENS CSA NON-IMAGE like pixel data (OW);
# the statement gives it VR OB (syngo MI.PET/CT §5.2.1.1, Table 88). These two lines, and
# only for this class, are expected; everything else must be clean.
CSA_EXPECTED = [
    "Error - Information Object Not found",
    "Error - Invalid Value Representation - Pixel Data - VR = OB, Explicit VR, Bits Allocated = 16 exceeds 8",
]

_ACQ: dict[tuple[str, str, bool], object] = {}


def _exam(profile_id: str, protocol: str, worklist: bool = False):
    """The exam's objects (acquired once per module): manual registration, or from the worklist
    item of the worklist tests with an MPPS (request and PPS references, ISO_IR 100 name)."""
    key = (profile_id, protocol, worklist)
    if key not in _ACQ:
        _ACQ[key] = acquire(find_profile(profile_id), protocol, seed=1, when=WHEN, limits=SMALL, reproducible=True,
                            worklist=WORKLIST_ITEM if worklist else None,
                            mpps_uid="1.2.826.0.1.3680043.8.498.99" if worklist else None)
    return _ACQ[key]


def context(profile_id: str, acq) -> ObjectContext:
    """The ObjectContext the engine builds for an exam of *profile_id*."""
    profile, product = find_profile(profile_id), product_data_for(profile_id)
    h, ident = product.header, profile.identity
    eq = m.Equipment(ident.manufacturer, h.model, h.device_serial_number,
                     h.software_versions or ident.software_versions, h.station_name, h.institution_name,
                     h.institution_address, h.department)
    return ObjectContext(
        patient=acq.patient, study=acq.study, equipment=eq, charset=profile.character_sets.default, created=WHEN,
        uids=UIDFactory(h.uid_root, 1, WHEN.isoformat(), reproducible=True),
        implementation_class_uid=profile.media_implementation_class_uid,
        implementation_version_name=profile.media_implementation_version_name,
        rules={**product.objects, **EXTRA_RULES.get(profile_id, {})}, private=product.private,
        timezone_offset=h.timezone_offset)


def build(profile_id: str, protocol: str, kind: str, modality: str, description: str | None = None,
          source: list | None = None, worklist: bool = False):
    """(new dataset, source datasets): the object *kind* built from the exam's objects."""
    acq = _exam(profile_id, protocol, worklist)
    ctx = context(profile_id, acq)
    source = list(acq.datasets) if source is None else source
    if kind == "rt_dose":  # the dose is computed for the plan, which is built first
        source = source + [build(profile_id, protocol, "rt_plan", "RTPLAN", source=source, worklist=worklist)[0]]
    series = m.SeriesInfo(uid=ctx.uids.new(f"series {kind}"), number=90, modality=modality,
                          description=description or kind.replace("_", " "), protocol_name=protocol,
                          when=WHEN + timedelta(minutes=20), operator=product_data_for(profile_id).header.operator,
                          frame_of_reference_uid=source[-1].get("FrameOfReferenceUID") if source else None,
                          patient_position=product_data_for(profile_id).header.patient_position)
    out = BUILDERS[kind][1](ctx, series, source)
    assert len(out) == 1
    return out[0], source


def _write(ds, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{re.sub(r'[^A-Za-z0-9]+', '_', name)}.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.mark.interop
@pytest.mark.parametrize("profile_id,protocol,kind,modality", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_object_passes_dciodvfy_dcmdump_and_round_trips(profile_id, protocol, kind, modality, tmp_path):
    sop_class = BUILDERS[kind][0]
    created = {c.uid for c in find_profile(profile_id).classes(service="storage") if c.creates}
    assert sop_class in created, f"{profile_id} does not create {kind}"
    ds, _ = build(profile_id, protocol, kind, modality)
    assert ds.SOPClassUID == sop_class and ds.file_meta.MediaStorageSOPClassUID == sop_class
    assert ds.Modality == modality
    path = _write(ds, tmp_path, f"{profile_id}_{kind}")
    errors, warnings, iod = dciodvfy(path)
    if kind == "csa_non_image":
        assert sorted(errors) == sorted(CSA_EXPECTED), "\n".join(errors)
    else:
        assert errors == [], f"{iod}:\n" + "\n".join(errors + warnings)
    print(f"\n{profile_id} {kind}: {iod or 'no IOD'}; warnings: {warnings}")
    dump = run([require("dcmdump"), "-q", str(path)])
    assert dump.returncode == 0 and "E:" not in dump.stderr, dump.stderr
    assert str(ds.SOPInstanceUID) in dump.stdout
    first = pydicom.dcmread(path)
    buf = io.BytesIO()
    first.save_as(buf, enforce_file_format=True)
    assert pydicom.dcmread(io.BytesIO(buf.getvalue())) == first


@pytest.mark.interop
@pytest.mark.parametrize("profile_id,protocol,kind,modality", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_worklist_exam_objects_pass_dciodvfy(profile_id, protocol, kind, modality, tmp_path):
    """With a worklist item and an MPPS: Referenced Request and PPS references, the item's name."""
    ds, source = build(profile_id, protocol, kind, modality, worklist=True)
    assert ds.StudyInstanceUID == WORKLIST_ITEM.study_instance_uid == source[0].StudyInstanceUID
    if modality in ("SR", "KO"):
        assert ds.ReferencedRequestSequence[0].AccessionNumber == WORKLIST_ITEM.accession_number
        assert ds.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == "1.2.826.0.1.3680043.8.498.99"
    assert ds.PatientName == source[0].PatientName
    errors, warnings, iod = dciodvfy(_write(ds, tmp_path, f"{profile_id}_{kind}"))
    if kind == "csa_non_image":
        assert sorted(errors) == sorted(CSA_EXPECTED), "\n".join(errors)
    else:
        assert errors == [], f"{iod}:\n" + "\n".join(errors + warnings)


def _content(items):
    for it in items:
        yield it
        yield from _content(it.get("ContentSequence", []))


def _evidence_uids(ds) -> set[str]:
    return {r.ReferencedSOPInstanceUID for st in ds.CurrentRequestedProcedureEvidenceSequence
            for se in st.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}


def test_key_object_selection_references_the_exam():
    ds, source = build("oasis-velocity", "Brain routine", "kos", "KO")
    by_uid = {d.SOPInstanceUID: d for d in source}
    assert ds.ConceptNameCodeSequence[0].CodeValue == "113000"  # "Of Interest" (CID 7010)
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "2010"
    refs = [it for it in ds.ContentSequence if it.ValueType in ("IMAGE", "COMPOSITE")]
    uids = [it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for it in refs]
    assert sorted(uids) == sorted(by_uid)
    for it in refs:
        ref = it.ReferencedSOPSequence[0]
        assert by_uid[ref.ReferencedSOPInstanceUID].SOPClassUID == ref.ReferencedSOPClassUID
    assert _evidence_uids(ds) == set(by_uid)  # TID 2010: every selected instance is evidence
    assert {se.SeriesInstanceUID for st in ds.CurrentRequestedProcedureEvidenceSequence
            for se in st.ReferencedSeriesSequence} == {d.SeriesInstanceUID for d in source}
    assert "SpecificCharacterSet" not in ds and ds.InstanceCreationDate  # default repertoire (§13.1)
    teaching, _ = build("oasis-velocity", "Brain routine", "kos", "KO", description="For Teaching",
                        source=source[:2])
    assert teaching.ConceptNameCodeSequence[0].CodeMeaning == "For Teaching"
    assert len([i for i in teaching.ContentSequence if i.ValueType == "IMAGE"]) == 2
    assert kos_title("quality issue") == ("113010", "DCM", "Quality Issue")


def _groups(sr):
    measurements = next(i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "126010")
    return list(measurements.ContentSequence)


def _value(group, concept, derivation=None) -> tuple[float, str]:
    for it in group.ContentSequence:
        if it.ValueType != "NUM" or it.ConceptNameCodeSequence[0].CodeValue != concept:
            continue
        mods = {c.ConceptCodeSequence[0].CodeValue for c in it.get("ContentSequence", [])
                if c.ConceptNameCodeSequence[0].CodeValue == "121401"}
        if derivation is None or derivation in mods:
            mv = it.MeasuredValueSequence[0]
            return float(mv.NumericValue), mv.MeasurementUnitsCodeSequence[0].CodeValue
    raise AssertionError(f"no NUM {concept} {derivation}")


def _region(group):
    return next(i for i in group.ContentSequence if i.ValueType == "SCOORD")


@pytest.mark.parametrize("profile_id,protocol,kind", [
    ("syngo-mr-xa11b", "Head routine", "enhanced_sr"),
    ("syngo-ct-va50a", "Thorax routine", "comprehensive_sr"),
])
def test_measurement_report_measures_the_referenced_image(profile_id, protocol, kind):
    sr, source = build(profile_id, protocol, kind, "SR")
    by_uid = {d.SOPInstanceUID: d for d in source}
    assert sr.ConceptNameCodeSequence[0].CodeValue == "126000"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "UNVERIFIED"
    refs = [i.ReferencedSOPSequence[0] for i in _content(sr.ContentSequence) if "ReferencedSOPSequence" in i]
    assert refs and all(r.ReferencedSOPInstanceUID in by_uid for r in refs)
    assert all(by_uid[r.ReferencedSOPInstanceUID].SOPClassUID == r.ReferencedSOPClassUID for r in refs)
    assert {r.ReferencedSOPInstanceUID for r in refs} == _evidence_uids(sr)
    groups = _groups(sr)
    measured = {d.SeriesInstanceUID for d in source if d.Modality in ("CT", "MR")
                and "LOCALIZER" not in list(d.get("ImageType", []))[2:3]}
    assert len(groups) == len(measured)  # one group per measured series (not the topogram, not SC)
    for group in groups:
        _check_region_mean(group, by_uid)


def _check_region_mean(group, by_uid):
    """The group's mean and area, recomputed from the referenced pixels inside its circle."""
    scoord = _region(group)
    image_ref = scoord.ContentSequence[0].ReferencedSOPSequence[0]
    image = by_uid[image_ref.ReferencedSOPInstanceUID]
    assert scoord.GraphicType == "CIRCLE"
    cx, cy, px, _ = scoord.GraphicData
    if "PerFrameFunctionalGroupsSequence" in image:
        frame = int(image_ref.ReferencedFrameNumber) - 1
        pixels = image.pixel_array[frame].astype(float)
        shared = image.SharedFunctionalGroupsSequence[0]
        item = image.PerFrameFunctionalGroupsSequence[frame]
        measures = (item if "PixelMeasuresSequence" in item else shared).PixelMeasuresSequence[0]
        spacing = [float(v) for v in measures.PixelSpacing]
    else:
        pixels = image.pixel_array * float(image.RescaleSlope) + float(image.RescaleIntercept)
        spacing = [float(v) for v in image.PixelSpacing]
    r, c = np.mgrid[0:pixels.shape[0], 0:pixels.shape[1]]
    mask = ((r + 0.5 - cy) * spacing[0]) ** 2 + ((c + 0.5 - cx) * spacing[1]) ** 2 <= ((px - cx) * spacing[1]) ** 2
    quantity = "112031" if image.Modality == "CT" else "110852"
    mean, unit = _value(group, quantity, "373098007")
    assert mean == pytest.approx(pixels[mask].mean(), rel=1e-3, abs=0.05)
    assert unit == ("[hnsf'U]" if image.Modality == "CT" else "1")
    area, unit = _value(group, "42798000")
    assert unit == "mm2" and area == pytest.approx(mask.sum() * spacing[0] * spacing[1], rel=1e-3)


def test_pet_ct_report_has_suv_at_the_hot_spot():
    sr, source = build("syngo-mi-petct-2011a", "PET/CT Whole Body", "comprehensive_sr", "SR")
    pet_group, ct_group = _groups(sr)
    suv_max, unit = _value(pet_group, "126401", "56851009")
    suv_mean, _ = _value(pet_group, "126401", "373098007")
    assert unit == "g/ml{SUVbw}" and 0 < suv_mean < suv_max < 100
    finding = next(i for i in pet_group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121071")
    assert finding.ConceptCodeSequence[0].CodeMeaning == "Lesion"
    # SUVbw max = hottest voxel of the series x weight / decayed dose
    pet = [d for d in source if d.Modality == "PT"]
    hottest = max(float((d.pixel_array * float(d.RescaleSlope)).max()) for d in pet)
    p = pet[0]
    rp = p.RadiopharmaceuticalInformationSequence[0]
    injected = datetime.strptime(rp.RadiopharmaceuticalStartDateTime[:14], "%Y%m%d%H%M%S")
    start = datetime.strptime(p.SeriesDate + p.SeriesTime[:6], "%Y%m%d%H%M%S")
    half_lives = (start - injected).total_seconds() / float(rp.RadionuclideHalfLife)
    decayed = float(rp.RadionuclideTotalDose) * 0.5 ** half_lives
    assert suv_max == pytest.approx(hottest * float(p.PatientWeight) * 1000 / decayed, rel=1e-3)
    hu_mean, unit = _value(ct_group, "112031", "373098007")
    assert unit == "[hnsf'U]" and -1100 < hu_mean < 3000
    ct_image = _region(ct_group).ContentSequence[0].ReferencedSOPSequence[0]
    assert ct_image.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"


def test_encapsulated_pdf_is_a_valid_pdf(tmp_path):
    ds, source = build("syngo-mr-xa11b", "Head routine", "encapsulated_pdf", "DOC")
    pdf = bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    assert len(ds.EncapsulatedDocument) % 2 == 0
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf" and ds.BurnedInAnnotation == "YES"
    # the cross-reference table points at each object
    xref = int(re.search(rb"startxref\s+(\d+)", pdf).group(1))
    assert pdf[xref:xref + 4] == b"xref"
    count = int(re.match(rb"xref\s+0 (\d+)", pdf[xref:]).group(1))
    entries = re.findall(rb"(\d{10}) 00000 n \n", pdf[xref:])
    assert len(entries) == count - 1
    for number, offset in enumerate(entries, start=1):
        assert pdf[int(offset):].startswith(b"%d 0 obj" % number)
    stream = re.search(rb"/Length (\d+) >>\nstream\n", pdf)
    length = int(stream.group(1))
    assert pdf[stream.end() + length:].startswith(b"\nendstream")
    text = pdf.decode("latin-1")
    assert str(ds.PatientName).replace("^", " ") in text and ds.PatientID in text
    for d in source:
        assert str(d.SeriesDescription) in text
    assert {r.ReferencedSOPInstanceUID for r in ds.SourceInstanceSequence} == {d.SOPInstanceUID for d in source}
    gs = shutil.which("gs")
    if gs:  # a PDF interpreter reads the page back (Ghostscript, when installed)
        (tmp_path / "report.pdf").write_bytes(pdf)
        result = run([gs, "-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-dPDFSTOPONERROR", "-sDEVICE=txtwrite",
                      "-sOutputFile=-", str(tmp_path / "report.pdf")])
        assert result.returncode == 0, result.stderr
        assert re.search(r"Patient ID\s+" + re.escape(ds.PatientID), result.stdout), result.stdout
        assert f"{ds.ManufacturerModelName} examination report" in result.stdout


def test_csa_non_image_holds_the_protocol_in_csa_data(tmp_path):
    ds, source = build("syngo-mi-petct-2011a", "PET/CT Whole Body", "csa_non_image", "PT")
    assert ds.SOPClassUID == "1.3.12.2.1107.5.9.1" and ds.ImageType == ["ORIGINAL", "PRIMARY", "PETCT_SPL"]
    block = ds.private_block(0x0029, "SIEMENS CSA NON-IMAGE")
    assert block[0x08].value == "PETCT_SPL" and block[0x08].VR == "CS"
    data = ds.private_block(0x7FE1, "SIEMENS CSA NON-IMAGE")[0x10]
    assert data.VR == "OB"
    header = read_csa2_header(block[0x10].value)
    assert header["DataType"] == ["PETCT_SPL"] and int(header["DataLength"][0]) == len(data.value)
    text = data.value.decode("latin-1")
    assert text.startswith("### CSA PROTOCOL BEGIN ###") and "sPET.dTotalDoseBq" in text
    assert {r.ReferencedSOPInstanceUID for r in ds.ReferencedImageSequence} <= {d.SOPInstanceUID for d in source}
    path = _write(ds, tmp_path, "csa")
    dump = run([require("dcmdump"), "-q", str(path)])
    assert dump.returncode == 0 and "SIEMENS CSA NON-IMAGE" in dump.stdout
    assert re.search(r"\(7fe1,1010\) OB ", dump.stdout), dump.stdout[-2000:]
    # the CSA2 layout (SV10, tag count, 77) of an empty header as the protocols file writes it
    assert csa2_header([]) == b"SV10\x04\x03\x02\x01" + struct.pack("<2I", 0, 77)


def test_rt_plan_and_dose_are_consistent_with_the_ct():
    profile_id, protocol = "coherence-primeview-3i", "Cone Beam CT"
    dose_ds, source = build(profile_id, protocol, "rt_dose", "RTDOSE")
    plan = next(d for d in source if d.Modality == "RTPLAN")
    ss = next(d for d in source if d.Modality == "RTSTRUCT")
    cts = sorted((d for d in source if d.Modality == "CT"), key=lambda d: float(d.ImagePositionPatient[2]))
    # plan: KonRad values (Tables 121-124) and the structure set reference
    assert plan.Manufacturer == KONRAD.manufacturer and plan.SOPInstanceUID.startswith(KONRAD.uid_root + ".")
    assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == ss.SOPInstanceUID
    assert plan.RTPlanGeometry == "PATIENT"
    (fg,) = plan.FractionGroupSequence
    assert fg.FractionGroupNumber == 1 and fg.NumberOfBeams == len(plan.BeamSequence) == 2
    for beam in plan.BeamSequence:
        assert beam.RadiationType == "PHOTON" and beam.PrimaryDosimeterUnit == "MU"
        cp = beam.ControlPointSequence[0]
        types = [d.RTBeamLimitingDeviceType for d in cp.BeamLimitingDevicePositionSequence]
        assert types == ["ASYMX", "ASYMY", "MLCX"]
    iso = np.array([float(v) for v in plan.BeamSequence[0].ControlPointSequence[0].IsocenterPosition])
    # dose: references, units, grid on the CT planes
    assert dose_ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.SOPInstanceUID
    assert (dose_ds.DoseUnits, dose_ds.DoseType, dose_ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert (dose_ds.BitsAllocated, dose_ds.BitsStored, dose_ds.HighBit, dose_ds.PixelRepresentation) == (16, 16, 15, 0)
    assert dose_ds.FrameIncrementPointer == 0x3004000C
    offsets = [float(v) for v in dose_ds.GridFrameOffsetVector]
    assert len(offsets) == dose_ds.NumberOfFrames == len(cts) and offsets[0] == 0 and np.all(np.diff(offsets) > 0)
    z0 = float(dose_ds.ImagePositionPatient[2])
    assert np.allclose([z0 + o for o in offsets], [float(d.ImagePositionPatient[2]) for d in cts])
    assert dose_ds.FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    assert ss.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == cts[0].FrameOfReferenceUID
    dose = dose_ds.pixel_array * float(dose_ds.DoseGridScaling)
    prescribed = fg.NumberOfFractionsPlanned * PlanParams().dose_per_fraction
    ps = [float(v) for v in dose_ds.PixelSpacing]
    ipp = np.array([float(v) for v in dose_ds.ImagePositionPatient])
    at_iso = ndimage.map_coordinates(dose, [[np.interp(iso[2] - z0, offsets, np.arange(len(offsets)))],
                                            [(iso[1] - ipp[1]) / ps[0]], [(iso[0] - ipp[0]) / ps[1]]], order=1)[0]
    assert at_iso == pytest.approx(prescribed, rel=0.05)  # the meterset delivers the prescription
    assert prescribed < dose.max() < 1.5 * prescribed  # entrance hot spots of opposed beams
    assert dose[:, 0, 0].max() == 0 and dose[:, :, 0].max() == 0  # no dose outside the patient
    # the beams' open area: no dose far outside the jaws along X
    col = int(round((iso[0] - ipp[0]) / ps[1]))
    row = int(round((iso[1] - ipp[1]) / ps[0]))
    assert dose[:, row, col + int(80 / ps[1])].max() < 0.05 * prescribed


def test_builders_name_what_is_missing():
    from appliance.errors import UsageError

    acq = _exam("coherence-primeview-3i", "Cone Beam CT")
    ct_only = [d for d in acq.datasets if d.Modality == "CT"]
    with pytest.raises(UsageError, match="RT Structure Set"):
        build("coherence-primeview-3i", "Cone Beam CT", "rt_plan", "RTPLAN", source=ct_only)
    with pytest.raises(UsageError, match="needs"):
        build("oasis-velocity", "Brain routine", "kos", "KO", source=[])
    sc_only = [d for d in _exam("oasis-velocity", "Brain routine").datasets if d.Modality == "OT"]
    with pytest.raises(UsageError, match="CT, MR or PET"):
        build("syngo-mr-xa11b", "Head routine", "enhanced_sr", "SR", source=sc_only)


def test_product_values_come_from_the_object_rules():
    acq = _exam("syngo-mr-xa11b", "Head routine")
    ctx = context("syngo-mr-xa11b", acq)
    ctx = replace(ctx, rules={**ctx.rules, "encapsulated_pdf": ObjectRules(instance_number_start=7,
                                                                           fixed={"SeriesDescription": "Report"})})
    series = m.SeriesInfo(uid=ctx.uids.new("s"), number=99, modality="DOC", description="x", protocol_name="p",
                          when=WHEN)
    (ds,) = BUILDERS["encapsulated_pdf"][1](ctx, series, list(acq.datasets))
    assert ds.InstanceNumber == 7 and ds.SeriesDescription == "Report"
    assert ds.file_meta.ImplementationClassUID == find_profile("syngo-mr-xa11b").media_implementation_class_uid
