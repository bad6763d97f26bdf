"""Worklist mapping: a worklist item fills the objects as each statement's MWL table says."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from acquisition.engine import Limits, acquire
from acquisition.iods.uids import UIDFactory
from acquisition.protocols import product_data_for
from acquisition.worklist_mapping import WorklistItem, as_worklist_item, map_worklist, worklist_modules
from appliance.profile import find_profile

WHEN = datetime(2026, 3, 2, 8, 15, 0)
SMALL = Limits(max_matrix=32, max_slices=2, max_frames=1)

ITEM = WorklistItem(
    patient_name="MÜLLER^ANNA", patient_id="PID-77", patient_birth_date="19650412", patient_sex="F",
    accession_number="ACC0815", requested_procedure_id="RP-12", requested_procedure_description="CT HEAD",
    study_instance_uid="1.2.826.0.1.3680043.8.498.4711", scheduled_procedure_step_id="SPS-3",
    scheduled_procedure_step_description="Head native", referring_physician="HOUSE^GREGORY",
    patient_weight_kg=64.0, scheduled_performing_physician="CHASE^ROBERT",
    requested_procedure_codes=(("CTHD", "99RIS", "CT Head"),),
    scheduled_protocol_codes=(("P-HEAD", "99RIS", "Head protocol"),),
    names_of_intended_recipients="CAMERON^ALLISON",
)


def _map(profile_id: str, item, protocol: str = "Head routine", body_part: str = "HEAD"):
    return map_worklist(item, product_data_for(profile_id).worklist, uids=UIDFactory(None, 1, reproducible=True),
                        when=WHEN, protocol_name=protocol, body_part=body_part)


def test_syngo_ct_mapping_tables_77_to_80():
    patient, study = _map("syngo-ct-va50a", ITEM)
    assert (patient.name, patient.id, patient.birth_date, patient.sex) == ("MÜLLER^ANNA", "PID-77", "19650412", "F")
    assert patient.weight_kg == 64.0
    assert study.uid == ITEM.study_instance_uid and study.accession_number == "ACC0815"
    assert study.id == "RP-12"  # Requested Procedure ID -> Study ID
    assert study.description == "CT HEAD" and study.referring_physician == "HOUSE^GREGORY"
    assert study.procedure_codes == ()  # Procedure Code Sequence is AUTO on this product
    assert study.performing_physician == "CHASE^ROBERT"
    assert study.pps_id == "SPS-3" and study.pps_description == "Head native"
    (req,) = study.request_attributes
    assert req.RequestedProcedureID == "RP-12" and req.AccessionNumber == "ACC0815"
    assert req.StudyInstanceUID == ITEM.study_instance_uid
    assert req.ScheduledProcedureStepID == "SPS-3"
    assert req.RequestedProcedureCodeSequence[0].CodeValue == "CTHD"
    assert req.ScheduledProtocolCodeSequence[0].CodeValue == "P-HEAD"
    assert req.ReasonForTheRequestedProcedure == "" and req.RequestedProcedureComments == ""  # VNAP
    assert study.patient_study_module


def test_emergency_without_worklist_leaves_out_patient_study_on_syngo_ct():
    patient, study = _map("syngo-ct-va50a", None)
    assert not study.patient_study_module and study.request_attributes == ()
    assert study.accession_number == "" and study.uid.startswith("1.2.826.0.1.3680043.8.498.")
    _, mr_study = _map("syngo-mr-xa11b", None)
    assert mr_study.patient_study_module  # MR XA11B writes it from the creator


def test_syngo_mr_maps_codes_and_referenced_study():
    item = WorklistItem(**{**ITEM.__dict__, "referenced_study": ("1.2.840.10008.3.1.2.3.1", "1.2.3.4")})
    _, study = _map("syngo-mr-xa11b", item)
    assert [c.CodeValue for c in study.procedure_codes] == ["CTHD"]  # Requested -> Procedure Code Sequence
    assert [c.CodeValue for c in study.performed_protocol_codes] == ["P-HEAD"]
    (req,) = study.request_attributes
    assert req.ReferencedStudySequence[0].ReferencedSOPInstanceUID == "1.2.3.4"
    assert "ReasonForTheRequestedProcedure" not in req


def test_petct_study_description_and_physicians_of_record():
    _, study = _map("syngo-mi-petct-2011a", ITEM, protocol="PET/CT Whole Body", body_part="WHOLEBODY")
    assert study.description == "WHOLEBODY^PET/CT Whole Body"  # "<Body Region>^<Scan Protocol>" (T-74/75)
    assert study.physicians_of_record == "CAMERON^ALLISON"  # Names of Intended Recipients (T-60)


def _mwl_identifier() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "DOE^JOHN", "P9", "19800101", "M"
    ds.AccessionNumber, ds.RequestedProcedureID = "A9", "R9"
    ds.RequestedProcedureDescription, ds.StudyInstanceUID = "MR BRAIN", "1.2.826.0.1.3680043.8.498.99"
    ds.ReferringPhysicianName, ds.PatientWeight = "REF^DOC", "81.5"
    sps = Dataset()
    sps.ScheduledProcedureStepID, sps.ScheduledProcedureStepDescription = "S9", "Brain"
    sps.ScheduledPerformingPhysicianName = "PERF^DOC"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "MRB", "99RIS", "MR brain protocol"
    sps.ScheduledProtocolCodeSequence = Sequence([code])
    ds.ScheduledProcedureStepSequence = Sequence([sps])
    return ds


def test_items_from_a_cfind_identifier_or_the_network_scu():
    ds = _mwl_identifier()
    item = WorklistItem.from_dataset(ds)
    assert (item.patient_id, item.scheduled_procedure_step_id, item.patient_weight_kg) == ("P9", "S9", 81.5)
    assert item.scheduled_protocol_codes == (("MRB", "99RIS", "MR brain protocol"),)
    network_item = SimpleNamespace(dataset=ds, patient_id="P9")  # shape of appliance.net.worklist.WorklistItem
    assert as_worklist_item(network_item) == item == as_worklist_item(ds)
    with pytest.raises(TypeError):
        as_worklist_item(42)


def test_worklist_modules_dataset():
    ds = worklist_modules(ITEM, product_data_for("syngo-ct-va50a").worklist, uids=UIDFactory(None, reproducible=True),
                          when=WHEN, protocol_name="Head routine", referenced_pps_uid="1.2.3.9")
    assert ds.PatientID == "PID-77" and ds.StudyID == "RP-12" and ds.PatientWeight == "64"
    assert ds.RequestAttributesSequence[0].RequestedProcedureID == "RP-12"
    assert ds.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID == "1.2.3.9"
    assert ds.PerformedProcedureStepID == "SPS-3" and ds.PerformingPhysicianName == "CHASE^ROBERT"


@pytest.mark.parametrize("profile_id", ["syngo-ct-va50a", "syngo-mr-xa11b", "coherence-primeview-3i"])
def test_acquisition_from_a_worklist_item(profile_id):
    acq = acquire(find_profile(profile_id), worklist=ITEM, seed=1, when=WHEN, limits=SMALL, mpps_uid="1.2.826.0.1.5")
    for ds in acq.datasets:
        assert ds.StudyInstanceUID == ITEM.study_instance_uid
        assert ds.AccessionNumber == "ACC0815" and ds.PatientID == "PID-77" and ds.StudyID == "RP-12"
        assert str(ds.PatientName) == "MÜLLER^ANNA"
        if ds.Modality not in ("SR",):
            assert ds.RequestAttributesSequence[0].RequestedProcedureID == "RP-12"
        ref = ds.ReferencedPerformedProcedureStepSequence[0]
        assert ref.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.3"
        assert ref.ReferencedSOPInstanceUID == "1.2.826.0.1.5"  # the exam's MPPS (N-CREATE)
    dose = [d for d in acq.datasets if d.Modality == "SR"]
    for d in dose:  # the Dose SR references the request it fulfils
        assert d.ReferencedRequestSequence[0].RequestedProcedureID == "RP-12"


def test_japanese_worklist_name_survives_into_oasis_images(tmp_path):
    """OASIS supports ISO 2022 IR 87: the objects take the worklist item's character set, so
    the RIS's Japanese name is written and read back unchanged (not replaced by '?')."""
    from dataclasses import replace

    from pydicom import dcmread

    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    item = replace(ITEM, patient_name=name, specific_character_set="\\ISO 2022 IR 87")
    acq = acquire(find_profile("oasis-velocity"), worklist=item, seed=1, when=WHEN, limits=SMALL)
    acq.write(tmp_path)
    files = sorted(tmp_path.rglob("*.dcm")) or sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert files
    for f in files:
        ds = dcmread(f)
        assert list(ds.SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
        assert str(ds.PatientName) == name


def test_unsupported_worklist_character_set_falls_back_to_the_profile_default():
    from dataclasses import replace

    item = replace(ITEM, specific_character_set="ISO_IR 203")  # Latin-9: not in syngo CT's Tables 69-72
    acq = acquire(find_profile("syngo-ct-va50a"), worklist=item, seed=1, when=WHEN, limits=SMALL)
    assert {ds.SpecificCharacterSet for ds in acq.datasets} == {find_profile("syngo-ct-va50a").character_sets.default}
