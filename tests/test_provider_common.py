"""The provider side: shared helpers for tests/test_provider_*.py, and the pure policy
functions tested without sockets (association acceptance, C-FIND matching, resources).

The helpers start `vscanner serve` with serve options (``--config``, ``--accept-any-calling-aet``,
``--store-quota``), a DCMTK storescp as C-MOVE destination, and build small studies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from appliance.net.policy import REJECT_CALLED_AE, REJECT_CALLING_AE, AcceptancePolicy
from appliance.net.query_retrieve_scp import QueryError, match_element, parse_query
from appliance.net.storage_scp import check_resources
from appliance.profile import find_profile
from appliance.store import Store

from .data import ct_image, mr_image
from .peers import PeerProcess, ServeProcess, free_port, require, run


# --- helpers ----------------------------------------------------------------------------------


class Provider(ServeProcess):
    """`vscanner serve` in a subprocess with serve options (``--config`` ...) and global ones."""

    def __init__(self, profile: str, data: Path, aet: str, log: Path, serve_args: list[str] = (),
                 global_args: list[str] = ()) -> None:
        super().__init__(profile, data, aet, log, extra=list(global_args), serve_args=list(serve_args))


@pytest.fixture
def provider(tmp_path: Path, request: pytest.FixtureRequest):
    """Factory: start `vscanner serve` with serve options; all are stopped at teardown.

    ``provider(profile, aet="VSCANNER", config=None, args=(), data=None)``; *config* is a
    site configuration file passed as ``--config``.
    """
    started: list[Provider] = []

    def start(profile: str, aet: str = "VSCANNER", config: Path | None = None, args: list[str] = (),
              data: Path | None = None) -> Provider:
        n = len(started)
        global_args = ["--config", str(config)] if config else []
        p = Provider(profile, data or tmp_path / f"provider{n}", aet, tmp_path / f"provider{n}.log", list(args),
                     global_args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
        if getattr(request.node, "rep_call_failed", False):
            print(p.log())


class StoreSCP(PeerProcess):
    """DCMTK storescp as a C-MOVE destination, on a free port, writing into *folder*."""

    def __init__(self, folder: Path, aet: str = "ARCHIVE", log: Path | None = None) -> None:
        binary = require("storescp")
        self.aet, self.folder = aet, folder
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        super().__init__([binary, "-v", "-aet", aet, "-od", str(folder), str(port)],
                         log or folder.with_suffix(".log"), port)

    def received(self) -> list[Dataset]:
        return [dcmread(f) for f in sorted(self.folder.iterdir()) if f.is_file()]


@pytest.fixture
def storescp(tmp_path: Path):
    started: list[StoreSCP] = []

    def start(aet: str = "ARCHIVE") -> StoreSCP:
        s = StoreSCP(tmp_path / f"storescp{len(started)}", aet)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def site_config(path: Path, nodes: dict[str, tuple[str, int]], roles: tuple[str, ...] = ("archive",)) -> Path:
    """Write a site configuration with *nodes* ``{name: (AE title, port)}`` on 127.0.0.1."""
    lines = []
    for name, (aet, port) in nodes.items():
        lines += [f"[nodes.{name}]", f'ae_title = "{aet}"', 'host = "127.0.0.1"', f"port = {port}",
                  "roles = [" + ", ".join(f'"{r}"' for r in roles) + "]", ""]
    path.write_text("\n".join(lines))
    return path


def make_study(kind: str = "MR", series: int = 2, images: int = 2, patient_id: str = "PID0001",
               patient_name: str = "Müller^Jörg", description: str = "BRAIN^ROUTINE", study_date: str = "20261130",
               accession: str = "ACC0001") -> list[Dataset]:
    """A study of *series* x *images* small instances (MR or CT), all sharing study attributes."""
    build = mr_image if kind == "MR" else ct_image
    study_uid = generate_uid()
    out = []
    for s in range(series):
        series_uid = generate_uid()
        for i in range(images):
            ds = build(seed=10 * s + i)
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = s + 1
            ds.InstanceNumber = i + 1
            ds.PatientID = patient_id
            ds.PatientName = patient_name
            ds.StudyDescription = description
            ds.StudyDate = study_date
            ds.AccessionNumber = accession
            out.append(ds)
    return out


def seed_store(folder: Path, datasets: list[Dataset]) -> Path:
    """Put *datasets* into a store folder (before `serve` starts on it)."""
    with Store(folder) as store:
        for ds in datasets:
            ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            store.add_dataset(ds, source_ae="SEED")
    return folder


def findscu(provider: Provider, model: str, keys: list[str], out: Path, aet: str = "DCMTK",
            expect_ok: bool = True) -> list[Dataset]:
    """Run DCMTK findscu (-P, -S or -O) and return the response identifiers."""
    binary = require("findscu")
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("rsp*.dcm"):
        f.unlink()
    cmd = [binary, "-v", model, "-aet", aet, "-aec", provider.aet, "-X", "-od", str(out)]
    for k in keys:
        cmd += ["-k", k]
    r = run(cmd + ["127.0.0.1", str(provider.port)])
    if expect_ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return [dcmread(f) for f in sorted(out.glob("rsp*.dcm"))]


# --- unit tests of the pure policies ------------------------------------------------------------


def test_calling_ae_policy_configured_rejects_unknown_with_standard_codes():
    profile = find_profile("syngo-mr-xa11b")
    policy = AcceptancePolicy.from_profile(profile, "MRC", ["PACS", "WS1"])
    assert policy.check("PACS", "MRC") is None
    rejection = policy.check("INTRUDER", "MRC")
    assert (rejection.result, rejection.source, rejection.reason) == REJECT_CALLING_AE
    rejection = policy.check("PACS", "OTHER")
    assert (rejection.result, rejection.source, rejection.reason) == REJECT_CALLED_AE
    # the "answer any AET" switch
    assert AcceptancePolicy.from_profile(profile, "MRC", ["PACS"], accept_any_calling_ae=True).check("X", "MRC") is None
    # no site configuration: the configured policy cannot be enforced, and says so
    open_policy = AcceptancePolicy.from_profile(profile, "MRC", None)
    assert open_policy.check("X", "MRC") is None and "no site configuration" in open_policy.describe()
    # a configured site with no nodes accepts nobody
    assert AcceptancePolicy.from_profile(profile, "MRC", []).check("PACS", "MRC") is not None


def test_calling_ae_policy_any_accepts_everyone():
    profile = find_profile("syngo-mi-petct-2011a")
    policy = AcceptancePolicy.from_profile(profile, "PET", ["PACS"])
    assert policy.check("ANYBODY", "NOT-PET") is None


def _elem(keyword: str, value) -> DataElement:
    ds = Dataset()
    setattr(ds, keyword, value)
    return ds[keyword]


@pytest.mark.parametrize("pid, query, stored, expected", [
    ("syngo-mr-xa11b", "MÜLLER*", "Müller^Jörg", False),        # case-sensitive by default
    ("syngo-mi-petct-2011a", "müller*", "Müller^Jörg", True),   # PN case-insensitive (§3.4.3.1.3)
    ("syngo-mr-xa11b", "M?ller^Jörg", "Müller^Jörg", True),     # '?' = one character
    ("syngo-mr-xa11b", "?ller*", "Müller^Jörg", False),
    ("coherence-primeview-3i", "?ller*", "Müller^Jörg", True),  # '?' treated as '*' (§9.1.3.1.3)
    ("coherence-primeview-3i", "müller*", "Müller^Jörg", False),  # case-sensitive (§9.1.3.1.3)
    ("syngo-mr-xa11b", "Müller^Jörg", "Müller^Jörg^^", True),   # trailing separators insignificant
    ("syngo-mr-xa11b", "*", "", True),                          # lone '*' is universal
    ("syngo-mr-xa11b", "M*", "", False),                        # no value: only universal matches
])
def test_patient_name_matching(pid, query, stored, expected):
    profile = find_profile(pid)
    stored_elem = _elem("PatientName", stored) if stored else None
    assert match_element(_elem("PatientName", query), stored_elem, profile) is expected


@pytest.mark.parametrize("keyword, query, stored, expected", [
    ("StudyDate", "20261101-20261130", "20261130", True),
    ("StudyDate", "20261201-", "20261130", False),
    ("StudyDate", "-20261130", "20261130", True),
    ("StudyTime", "0800-0900", "090000", True),
    ("StudyTime", "0800-0859", "090000", False),
    ("StudyTime", "09", "090000", True),
    ("StudyInstanceUID", ["1.2.3", "1.2.4"], "1.2.4", True),    # list of UIDs
    ("StudyInstanceUID", "1.2.3", "1.2.30", False),
    ("ModalitiesInStudy", ["CT", "PT"], ["PT"], True),           # several values: any of them
    ("ModalitiesInStudy", "MR", ["CT", "PT"], False),
    ("StudyDescription", "brain*", "BRAIN^ROUTINE", False),      # non-PN: case-sensitive
    ("SeriesNumber", "2", "2", True),
])
def test_standard_matching(keyword, query, stored, expected):
    profile = find_profile("syngo-mr-xa11b")
    assert match_element(_elem(keyword, query), _elem(keyword, stored), profile) is expected


def test_sequence_matching():
    profile = find_profile("syngo-mr-xa11b")
    item = Dataset()
    item.RequestedProcedureID = "RP1"
    stored = _elem("RequestAttributesSequence", [item])
    query_item = Dataset()
    query_item.RequestedProcedureID = "RP*"
    assert match_element(_elem("RequestAttributesSequence", [query_item]), stored, profile)
    query_item.RequestedProcedureID = "XX"
    assert not match_element(_elem("RequestAttributesSequence", [query_item]), stored, profile)
    assert match_element(_elem("RequestAttributesSequence", [Dataset()]), None, profile)  # universal


def test_query_levels_and_hierarchy_follow_the_profile():
    ct = find_profile("syngo-ct-va50a")            # Study Root only
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    with pytest.raises(QueryError) as exc:         # hierarchical: the study's unique key is required
        parse_query(ct, "STUDY", ds)
    assert exc.value.status == 0xA900
    ds.StudyInstanceUID = "1.2.3"
    assert parse_query(ct, "STUDY", ds).level == "SERIES"
    ds.QueryRetrieveLevel = "PATIENT"              # not a level of Study Root
    with pytest.raises(QueryError):
        parse_query(ct, "STUDY", ds)
    oasis = find_profile("oasis-velocity")
    ds.QueryRetrieveLevel = "SERIES"
    del ds.StudyInstanceUID
    assert parse_query(find_profile("syngo-mr-xa11b"), "STUDY", ds, relational=True).relational
    ds.QueryRetrieveLevel = "IMAGE"
    with pytest.raises(QueryError):                # Patient/Study Only has no IMAGE level
        parse_query(oasis, "PATIENT_STUDY_ONLY", ds)


def test_resources_threshold():
    assert check_resources(100, 900, 10**9, quota=1000, min_free_space=None) is None
    assert "quota" in check_resources(101, 900, 10**9, quota=1000, min_free_space=None)
    assert "free" in check_resources(100, 0, 150, quota=None, min_free_space=100)
