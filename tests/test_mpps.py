"""MPPS SCU: the N-CREATE / N-SET data sets each product sends (pure), and the exchange with a
pynetdicom MPPS SCP inside the test that enforces the state machine (N-CREATE IN PROGRESS,
then one final N-SET; any N-SET after COMPLETED or DISCONTINUED is refused with 0x0110)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EnhancedSRStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from appliance.config import Node
from appliance.errors import UsageError
from appliance.net import mpps
from appliance.net.worklist import WorklistItem
from appliance.profile import find_profile
from appliance.store import Store

from .data import ct_image, mr_image
from .peers import free_port

PROFILES = ["syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a"]
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


def _worklist_item(charset=("", "ISO 2022 IR 87"), name: str = JAPANESE,
                   description: str = "頭部 MRI") -> WorklistItem:
    ds = Dataset()
    ds.SpecificCharacterSet = list(charset) if isinstance(charset, tuple) else charset
    ds.PatientName = name
    ds.PatientID = "JP1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.AccessionNumber = "ACC1"
    ds.ReferringPhysicianName = "Ref^Doc"
    ds.StudyInstanceUID = generate_uid()
    ds.RequestedProcedureID = "RP1"
    ds.RequestedProcedureDescription = description
    ds.PlacerOrderNumberImagingServiceRequest = "PLACER1"
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedStudySequence = [ref]
    code = Dataset()
    code.CodeValue = "P1"
    code.CodingSchemeDesignator = "99TEST"
    code.CodeMeaning = "Brain"
    ds.RequestedProcedureCodeSequence = [code]
    sps = Dataset()
    sps.Modality = "MR"
    sps.ScheduledStationAETitle = "VSCANNER"
    sps.ScheduledProcedureStepStartDate = "20261130"
    sps.ScheduledProcedureStepStartTime = "0930"
    sps.ScheduledProcedureStepDescription = "Brain routine"
    sps.ScheduledProcedureStepID = "SPS1"
    sps.ScheduledProcedureStepLocation = "ROOM1"
    sps.ScheduledProtocolCodeSequence = [code]
    ds.ScheduledProcedureStepSequence = [sps]
    return WorklistItem.from_dataset(ds)


def _allowed(keywords) -> set[str]:
    return set(keywords) | {"SpecificCharacterSet", "PerformedProcedureStepStatus"}


# --- pure -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", PROFILES)
def test_create_sends_the_profiles_attributes_with_worklist_values(pid: str) -> None:
    p = find_profile(pid)
    item = _worklist_item()
    start = dt.datetime(2026, 11, 30, 9, 41, 5)
    ds = mpps.build_create(p, "VSCANNER", item, start=start, station_name="CONSOLE1")
    sent = {e.keyword for e in ds}
    assert sent <= _allowed(p.mpps.create_attributes), sent - _allowed(p.mpps.create_attributes)
    assert ds.PerformedProcedureStepStatus == "IN PROGRESS"
    for kw in ("ScheduledStepAttributesSequence", "PatientName", "PerformedProcedureStepID",
               "PerformedStationAETitle", "PerformedProcedureStepStartDate", "Modality"):
        if kw in p.mpps.create_attributes:
            assert kw in ds, kw
    if "ScheduledStepAttributesSequence" in ds:
        sched = ds.ScheduledStepAttributesSequence[0]
        assert sched.StudyInstanceUID == item.study_instance_uid
        assert sched.AccessionNumber == "ACC1" and sched.RequestedProcedureID == "RP1"
        assert sched.ScheduledProcedureStepID == "SPS1"
        assert sched.ScheduledProtocolCodeSequence[0].CodeValue == "P1"
        assert len(sched.ReferencedStudySequence) == 1
    if "PerformedProcedureStepID" in ds:
        assert ds.PerformedProcedureStepID == "SPS1"  # the SPS ID becomes the PPS ID
    if "PerformedStationAETitle" in ds:
        assert ds.PerformedStationAETitle == "VSCANNER"
    if "StudyID" in ds:
        assert ds.StudyID == "RP1"  # Requested Procedure ID -> Study ID
    if "PerformedProcedureStepStartDate" in ds:
        assert ds.PerformedProcedureStepStartDate == "20261130" and ds.PerformedProcedureStepStartTime == "094105"
    if "PerformedProcedureStepEndDate" in ds:
        assert ds.PerformedProcedureStepEndDate == ""  # empty until the step ends
    if "PerformedLocation" in ds:
        assert ds.PerformedLocation == "ROOM1"
    if "PerformedSeriesSequence" in ds:
        assert len(ds.PerformedSeriesSequence) == 0
    assert list(ds.SpecificCharacterSet) == ["", "ISO 2022 IR 87"]
    assert str(ds.PatientName) == JAPANESE


def test_dose_attributes_only_where_the_statement_lists_them() -> None:
    extra = {"TotalNumberOfExposures": 3, "CommentsOnRadiationDose": "low dose"}
    petct = mpps.build_create(find_profile("syngo-mi-petct-2011a"), "PETCT", _worklist_item(), extra=extra)
    assert petct.TotalNumberOfExposures == 3 and petct.CommentsOnRadiationDose == "low dose"
    mr = mpps.build_create(find_profile("syngo-mr-xa11b"), "MR", _worklist_item(), extra=extra)
    assert "TotalNumberOfExposures" not in mr and "CommentsOnRadiationDose" not in mr


def test_unscheduled_step_and_modality_default() -> None:
    p = find_profile("syngo-ct-va50a")
    ds = mpps.build_create(p, "CT01", None, patient={"PatientName": "Müller^Jörg", "PatientID": "P9"})
    assert ds.Modality == "CT"
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    sched = ds.ScheduledStepAttributesSequence[0]
    assert len(sched.StudyInstanceUID) > 10 and sched.ScheduledProcedureStepID == ""
    assert ds.PerformedProcedureStepID.startswith("PPS")
    with pytest.raises(UsageError):
        mpps.build_create(p, "CT01", None, patient={"StudyInstanceUID": "not-a-uid"})


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "store")
    study = generate_uid()
    series_a, series_b = generate_uid(), generate_uid()
    for i in range(3):
        ds = mr_image(seed=i)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series_a, i + 1
        ds.SeriesDescription, ds.ProtocolName, ds.OperatorsName = "t1_se_tra", "Brain T1", "Tech^One"
        s.add_dataset(ds)
    ds = ct_image(seed=7)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_b
    s.add_dataset(ds)
    sr = Dataset()
    sr.SOPClassUID, sr.SOPInstanceUID = EnhancedSRStorage, generate_uid()
    sr.StudyInstanceUID, sr.SeriesInstanceUID = study, series_b
    sr.Modality = "SR"
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    s.add_dataset(sr)
    other = mr_image(seed=9)  # another study: not referenced
    s.add_dataset(other)
    s.study = study
    s.series = (series_a, series_b)
    yield s
    s.close()


def test_performed_series_reference_the_stored_images(store) -> None:
    series = mpps.performed_series_from_store(store, store.study, retrieve_ae_title="ARCHIVE")
    by_uid = {s.series_instance_uid: s for s in series}
    assert set(by_uid) == set(store.series)
    a = by_uid[store.series[0]]
    assert len(a.images) == 3 and not a.non_images
    assert a.series_description == "t1_se_tra" and a.protocol_name == "Brain T1" and a.operators_name == "Tech^One"
    b = by_uid[store.series[1]]
    assert len(b.images) == 1 and b.non_images[0][0] == EnhancedSRStorage
    ds = mpps.build_set(find_profile("syngo-ct-va50a"), "COMPLETED", series, end=dt.datetime(2026, 11, 30, 10, 0))
    assert ds.PerformedProcedureStepEndDate == "20261130" and ds.PerformedProcedureStepEndTime == "100000"
    items = {i.SeriesInstanceUID: i for i in ds.PerformedSeriesSequence}
    refs = {r.ReferencedSOPInstanceUID for r in items[store.series[0]].ReferencedImageSequence}
    assert refs == {uid for _cls, uid in a.images}
    assert items[store.series[0]].RetrieveAETitle == "ARCHIVE"
    assert len(items[store.series[1]].ReferencedNonImageCompositeSOPInstanceSequence) == 1


@pytest.mark.parametrize("pid", PROFILES)
def test_set_sends_the_profiles_attributes(pid: str) -> None:
    p = find_profile(pid)
    ds = mpps.build_set(p, "DISCONTINUED", [mpps.PerformedSeries(generate_uid())],
                        extra={"PerformedProcedureStepDescription": "stopped", "TotalNumberOfExposures": 2})
    assert {e.keyword for e in ds} <= _allowed(p.mpps.set_attributes)
    assert ds.PerformedProcedureStepStatus == "DISCONTINUED"
    with pytest.raises(UsageError, match="not one"):
        mpps.build_set(p, "CANCELLED")


# --- against a pynetdicom MPPS SCP that checks the state machine -------------------------------


class MPPSSCP:
    """An in-test MPPS SCP: N-CREATE must be IN PROGRESS with the required attributes, N-SET
    is only allowed while IN PROGRESS (PS3.4 F.7.2.2: 0x0110 once COMPLETED/DISCONTINUED)."""

    REQUIRED_CREATE = ("ScheduledStepAttributesSequence", "PerformedProcedureStepID", "PerformedStationAETitle",
                       "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
                       "PerformedProcedureStepStatus", "Modality")

    def __init__(self) -> None:
        self.port = free_port()
        self.instances: dict[str, Dataset] = {}
        self.log: list[tuple[str, str, str]] = []  # (operation, uid, status after)
        self.associations: list[str] = []
        self.lock = threading.Lock()
        ae = AE(ae_title="MPPSSCP")
        ae.add_supported_context(ModalityPerformedProcedureStep)
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_N_CREATE, self.on_create), (evt.EVT_N_SET, self.on_set),
                          (evt.EVT_ACCEPTED, self.on_accepted)],
        )
        self.node = Node(ae_title="MPPSSCP", host="127.0.0.1", port=self.port)

    def on_accepted(self, event) -> None:
        self.associations.append(event.assoc.requestor.ae_title)

    @staticmethod
    def _status(code: int, comment: str = "") -> Dataset:
        st = Dataset()
        st.Status = code
        if comment:
            st.ErrorComment = comment
        return st

    def on_create(self, event):
        req = event.request
        uid = str(req.AffectedSOPInstanceUID or "")
        ds = event.attribute_list
        with self.lock:
            if not uid:
                return self._status(0x0120, "SCU must supply the instance UID"), None
            if uid in self.instances:
                return self._status(0x0111, "duplicate SOP instance"), None
            missing = [kw for kw in self.REQUIRED_CREATE if kw not in ds]
            if missing:
                return self._status(0x0120, "missing " + ",".join(missing)[:50]), None
            if ds.PerformedProcedureStepStatus != "IN PROGRESS":
                return self._status(0x0106, "status must be IN PROGRESS"), None
            self.instances[uid] = ds
            self.log.append(("N-CREATE", uid, "IN PROGRESS"))
        return self._status(0x0000), ds

    def on_set(self, event):
        uid = str(event.request.RequestedSOPInstanceUID)
        mods = event.modification_list
        with self.lock:
            current = self.instances.get(uid)
            if current is None:
                return self._status(0x0112, "no such SOP instance"), None
            if current.PerformedProcedureStepStatus != "IN PROGRESS":
                self.log.append(("N-SET refused", uid, current.PerformedProcedureStepStatus))
                return self._status(0x0110, "Performed Procedure Step Object may no longer be updated"), None
            new = mods.get("PerformedProcedureStepStatus", "IN PROGRESS")
            if new not in ("IN PROGRESS", "COMPLETED", "DISCONTINUED"):
                return self._status(0x0106, "bad status"), None
            if new != "IN PROGRESS" and not mods.get("PerformedProcedureStepEndDate"):
                return self._status(0x0110, "end date required to complete"), None
            for elem in mods:
                current[elem.tag] = elem
            self.log.append(("N-SET", uid, new))
        return self._status(0x0000), current

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def scp():
    s = MPPSSCP()
    yield s
    s.stop()


def test_create_complete_then_a_second_set_is_refused(scp: MPPSSCP, store) -> None:
    p = find_profile("syngo-mr-xa11b")
    item = _worklist_item()
    uid = generate_uid()
    step = mpps.create(p, scp.node, "VSCANNER", mpps.build_create(p, "VSCANNER", item), instance_uid=uid)
    assert step.sop_instance_uid == uid and step.status == "IN PROGRESS"
    got = scp.instances[uid]
    assert str(got.PatientName) == JAPANESE  # encoded in ISO 2022 IR 87, decoded by the SCP
    assert got.PerformedStationAETitle == "VSCANNER"
    assert got.ScheduledStepAttributesSequence[0].StudyInstanceUID == item.study_instance_uid

    series = mpps.performed_series_from_store(store, store.study)
    done = mpps.update(p, scp.node, "VSCANNER", uid, mpps.build_set(p, "COMPLETED", series))
    assert done.status == "COMPLETED"
    final = scp.instances[uid]
    assert final.PerformedProcedureStepStatus == "COMPLETED"
    refs = {r.ReferencedSOPInstanceUID for s in final.PerformedSeriesSequence for r in s.ReferencedImageSequence}
    assert refs == {r.sop_instance_uid for r in store.instances(store.study)
                    if r.sop_class_uid != EnhancedSRStorage}

    with pytest.raises(mpps.MPPSError, match="0x0110") as exc:
        mpps.update(p, scp.node, "VSCANNER", uid, mpps.build_set(p, "DISCONTINUED"))
    assert exc.value.status == 0x0110
    assert "may no longer be updated" in str(exc.value)
    assert [op for op, _u, _s in scp.log] == ["N-CREATE", "N-SET", "N-SET refused"]
    assert scp.associations == ["VSCANNER"] * 3  # one association per operation


def test_discontinued_and_intermediate_updates(scp: MPPSSCP) -> None:
    p = find_profile("syngo-mi-petct-2011a")  # sends an IN PROGRESS N-SET per reconstruction
    step = mpps.create(p, scp.node, "PETCT", mpps.build_create(p, "PETCT", _worklist_item()))
    mpps.update(p, scp.node, "PETCT", step.sop_instance_uid, mpps.build_set(p, "IN PROGRESS"))
    mpps.update(p, scp.node, "PETCT", step.sop_instance_uid, mpps.build_set(p, "DISCONTINUED"))
    assert scp.instances[step.sop_instance_uid].PerformedProcedureStepStatus == "DISCONTINUED"
    with pytest.raises(mpps.MPPSError) as exc:
        mpps.update(p, scp.node, "PETCT", step.sop_instance_uid, mpps.build_set(p, "COMPLETED"))
    assert exc.value.status == 0x0110


def test_refused_create_is_reported(scp: MPPSSCP) -> None:
    p = find_profile("syngo-ct-va50a")
    ds = mpps.build_create(p, "CT01", _worklist_item(charset="ISO_IR 100", name="Müller^Jörg",
                                                               description="Schädel"))
    uid = generate_uid()
    mpps.create(p, scp.node, "CT01", ds, instance_uid=uid)
    with pytest.raises(mpps.MPPSError, match="0x0111") as exc:  # the SCP refuses a duplicate
        mpps.create(p, scp.node, "CT01", ds, instance_uid=uid)
    assert exc.value.status == 0x0111
    with pytest.raises(mpps.MPPSError, match="0x0112"):
        mpps.update(p, scp.node, "CT01", generate_uid(), mpps.build_set(p, "COMPLETED"))


def test_oasis_sends_no_attribute_outside_its_annex(scp: MPPSSCP) -> None:
    p = find_profile("oasis-velocity")
    limited = dataclasses.replace(p, mpps=dataclasses.replace(p.mpps, create_attributes=tuple(
        kw for kw in p.mpps.create_attributes if kw != "PerformedLocation")))
    step = mpps.create(limited, scp.node, "MR", mpps.build_create(limited, "MR", _worklist_item()))
    assert "PerformedLocation" not in scp.instances[step.sop_instance_uid]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("VSCANNER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, env=env)


def test_cli_create_and_set(scp: MPPSSCP, store) -> None:
    to = ["mpps", "--to", f"MPPSSCP@127.0.0.1:{scp.port}", "--profile", "syngo-ct-va50a", "--aet", "CT01"]
    r = _cli(*to, "create", "--patient-name", "Müller^Jörg", "--patient-id", "P1", "--study-uid", store.study)
    assert r.returncode == 0, r.stderr
    uid = r.stdout.strip()
    assert scp.instances[uid].PatientName == "Müller^Jörg"
    r = _cli(*to, "set", uid, "--status", "COMPLETED", "--data", str(store.root), "--study", store.study)
    assert r.returncode == 0, r.stderr
    assert "2 series, 5 instance(s)" in r.stdout
    assert scp.instances[uid].PerformedProcedureStepStatus == "COMPLETED"
    r = _cli(*to, "set", uid, "--status", "DISCONTINUED")
    assert r.returncode == 1
    assert "0x0110" in r.stderr and "may no longer be updated" in r.stderr
