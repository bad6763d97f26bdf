"""Query/Retrieve SCU: the models, levels and keys each product uses (pure), and real C-FIND,
C-MOVE (to vscanner itself) and C-GET against DCMTK ``dcmqrscp`` and Orthanc; retrieved
instances must land in vscanner's store with identical pixel data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from appliance.config import Node
from appliance.errors import NetworkError, UsageError
from appliance.net import query_retrieve_scu as qr
from appliance.profile import find_profile
from appliance.store import Store

from .data import ct_image, mr_image, write
from .peers import PEER_ENV, ServeProcess, free_port, require, wait_for_port

PROFILES = ["syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a"]
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"
GERMAN = "Müller^Jörg"


# --- pure ---------------------------------------------------------------------------------------


def test_levels_and_models_follow_the_statements() -> None:
    mr = find_profile("syngo-mr-xa11b")
    assert qr.available_levels(mr, "STUDY") == ["STUDY", "SERIES"]  # "no instance level", no PATIENT
    assert qr.choose_model(mr, "SERIES") == "STUDY"
    with pytest.raises(UsageError, match="PATIENT level"):
        qr.choose_model(mr, "PATIENT")
    ct = find_profile("syngo-ct-va50a")
    with pytest.raises(UsageError, match="does not use the PATIENT model"):
        qr.choose_model(ct, "STUDY", model="PATIENT")
    coh = find_profile("coherence-primeview-3i")
    assert qr.choose_model(coh, "PATIENT") == "PATIENT"  # Patient Root only for PATIENT level
    assert qr.choose_model(coh, "STUDY") == "STUDY"
    assert qr.choose_model(coh, "IMAGE") == "STUDY"
    assert qr.choose_model(coh, "STUDY", model="PATIENT") == "PATIENT"
    assert qr.choose_model(coh, "STUDY", "MOVE") == "STUDY"
    for pid in PROFILES:  # none of the five products does C-GET as SCU
        with pytest.raises(UsageError, match="does not do C-GET"):
            qr.choose_model(find_profile(pid), "STUDY", "GET")


def test_identifier_holds_the_levels_keys_and_refuses_others() -> None:
    ct = find_profile("syngo-ct-va50a")
    ds = qr.build_identifier(ct, "STUDY", {"PatientName": "Mü*"})
    assert ds.QueryRetrieveLevel == "STUDY"
    for kw in ct.query_retrieve.keys_scu["STUDY"]:
        assert kw in ds
    assert ds.PatientName == "Mü*" and ds.SpecificCharacterSet == "ISO_IR 100"
    series = qr.build_identifier(ct, "SERIES", {"StudyInstanceUID": "1.2.3"})
    assert series.StudyInstanceUID == "1.2.3" and "SeriesInstanceUID" in series
    assert "RequestAttributesSequence" in series and len(series.RequestAttributesSequence) == 0
    assert "PatientName" not in series
    with pytest.raises(UsageError, match="does not send SOPClassUID"):
        qr.build_identifier(ct, "STUDY", {"SOPClassUID": "1.2"})
    # relational products may narrow lower levels by upper-level keys
    assert qr.build_identifier(ct, "SERIES", {"PatientID": "X"}).PatientID == "X"
    with pytest.raises(UsageError):  # a hierarchical product may not
        qr.build_identifier(find_profile("oasis-velocity"), "SERIES", {"PatientID": "X"})


def test_hierarchical_products_need_the_unique_keys_above() -> None:
    oasis = find_profile("oasis-velocity")
    assert qr.is_relational("STUDY", "SERIES", {})
    assert not qr.is_relational("STUDY", "SERIES", {"StudyInstanceUID": "1.2"})
    assert qr.is_relational("STUDY", "SERIES", {"StudyInstanceUID": "1.2*"})
    with pytest.raises(UsageError, match="hierarchical queries only"):
        qr.find(oasis, Node(ae_title="X", host="127.0.0.1", port=1), "VSCANNER", "SERIES")


def test_parse_keys() -> None:
    assert qr.parse_keys(["PatientID=1", "StudyDate=20260101-", "PatientName"]) == {
        "PatientID": "1", "StudyDate": "20260101-", "PatientName": ""}
    with pytest.raises(UsageError, match="not a DICOM attribute keyword"):
        qr.parse_keys(["Nope=1"])


# --- test data and peers ------------------------------------------------------------------------


class Corpus:
    """Two patients: study A (MR, 2 series: 3 + 1 images, ISO_IR 100) and study B (CT, 1 image,
    ISO 2022 IR 87 Japanese name)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.study_a, self.study_b = generate_uid(), generate_uid()
        self.series_a1, self.series_a2, self.series_b = generate_uid(), generate_uid(), generate_uid()
        self.files: dict[str, Path] = {}
        self.by_series: dict[str, list[str]] = {}
        n = 0
        for series, count in ((self.series_a1, 3), (self.series_a2, 1)):
            for i in range(count):
                ds = mr_image(seed=n)
                ds.StudyInstanceUID, ds.SeriesInstanceUID = self.study_a, series
                ds.SeriesNumber, ds.InstanceNumber = (1 if series == self.series_a1 else 2), i + 1
                self._add(ds, folder, n)
                n += 1
        ds = ct_image(seed=n)
        ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
        ds.PatientName, ds.PatientID = JAPANESE, "JP1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = self.study_b, self.series_b
        self._add(ds, folder, n)

    def _add(self, ds, folder: Path, n: int) -> None:
        path = write(ds, folder / f"IM{n:04d}.dcm")
        self.files[str(ds.SOPInstanceUID)] = path
        self.by_series.setdefault(str(ds.SeriesInstanceUID), []).append(str(ds.SOPInstanceUID))

    def study_instances(self, study: str) -> set[str]:
        series = (self.series_a1, self.series_a2) if study == self.study_a else (self.series_b,)
        return {uid for s in series for uid in self.by_series[s]}


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


class QRSCP:
    """DCMTK dcmqrscp, AE QRSCP, with its own config (the stock one setuids); it listens on all
    interfaces. HostTable declares VSCANNER at 127.0.0.1:*dest_port* as move destination."""

    ae_title = "QRSCP"

    def __init__(self, root: Path, corpus: Corpus, dest_port: int, dest_aet: str = "VSCANNER") -> None:
        binary = require("dcmqrscp")
        index = require("dcmqridx")
        self.port = free_port()
        storage = (root / "db" / self.ae_title).resolve()
        storage.mkdir(parents=True)
        self.config = root / "dcmqrscp.cfg"
        self.config.write_text(f"""\
NetworkTCPPort  = {self.port}
MaxPDUSize      = 131072
MaxAssociations = 16
HostTable BEGIN
vscanner = ({dest_aet}, 127.0.0.1, {dest_port})
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
{self.ae_title}   {storage}   RW (200, 1024mb)   ANY
AETable END
""")
        copies = []
        for uid, path in corpus.files.items():
            dest = storage / f"{uid}.dcm"
            shutil.copyfile(path, dest)
            copies.append(str(dest))
        r = subprocess.run([index, str(storage), *copies], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.log_path = root / "dcmqrscp.log"
        self._log = open(self.log_path, "wb")
        # Fork mode (the default): dcmqrscp 3.6.7 in --single-process mode dies (SIGSEGV) after
        # answering a C-FIND whose matches are in ISO 2022 IR 87; a forked child dying is harmless.
        self.proc = subprocess.Popen([binary, "-v", "-c", str(self.config)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=PEER_ENV, cwd=root)
        wait_for_port(self.port, self.proc)
        self.node = Node(ae_title=self.ae_title, host="127.0.0.1", port=self.port)
        self.address = f"{self.ae_title}@127.0.0.1:{self.port}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


class OrthancPeer:
    """Orthanc with the instances uploaded over its REST API (127.0.0.1 only), UTF-8 answers."""

    ae_title = "ORTHANC"

    def __init__(self, root: Path, corpus: Corpus, dest_port: int) -> None:
        binary = require("Orthanc")
        self.port, self.http = free_port(), free_port()
        db = root / "orthanc-db"
        db.mkdir(parents=True)
        cfg = {
            "Name": "vscanner-test", "StorageDirectory": str(db), "IndexDirectory": str(db),
            "DicomAet": self.ae_title, "DicomPort": self.port, "HttpPort": self.http,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True, "Plugins": [],
            "DefaultEncoding": "Utf8", "SaveJobs": False,
            "DicomModalities": {"vscanner": ["VSCANNER", "127.0.0.1", dest_port]},
        }
        self.config = root / "orthanc.json"
        self.config.write_text(json.dumps(cfg))
        self.log_path = root / "orthanc.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, str(self.config)], stdout=self._log, stderr=subprocess.STDOUT,
                                     env=PEER_ENV, cwd=root)
        try:
            wait_for_port(self.http, self.proc, timeout=30)
            wait_for_port(self.port, self.proc, timeout=30)
            for path in corpus.files.values():
                req = urllib.request.Request(f"http://127.0.0.1:{self.http}/instances", data=path.read_bytes(),
                                             method="POST")
                with urllib.request.urlopen(req, timeout=30) as resp:
                    assert resp.status == 200
        except Exception:
            self.stop()
            raise
        self.node = Node(ae_title=self.ae_title, host="127.0.0.1", port=self.port)
        self.address = f"{self.ae_title}@127.0.0.1:{self.port}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        _stop(self.proc, timeout=20)  # Orthanc takes 2-3 s to stop
        self._log.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return Corpus(tmp_path / "corpus")


def _keep_log_on_failure(request: pytest.FixtureRequest, peer) -> None:
    if getattr(request.node, "rep_call_failed", False):
        print(f"--- {type(peer).__name__} log ({peer.log_path}) ---\n{peer.log()}")


@pytest.fixture
def dest_port() -> int:
    return free_port()


@pytest.fixture
def dcmqrscp(tmp_path: Path, corpus: Corpus, dest_port: int, request: pytest.FixtureRequest):
    peer = QRSCP(tmp_path / "qr", corpus, dest_port)
    yield peer
    peer.stop()
    _keep_log_on_failure(request, peer)


@pytest.fixture
def orthanc(tmp_path: Path, corpus: Corpus, dest_port: int, request: pytest.FixtureRequest):
    peer = OrthancPeer(tmp_path / "orthanc", corpus, dest_port)
    yield peer
    peer.stop()
    _keep_log_on_failure(request, peer)


@pytest.fixture
def get_profile(tmp_path: Path) -> Path:
    """COHERENCE with its Patient/Study Root GET rows turned into SCU roles: a product that does
    C-GET (none of the five does), to prove the C-GET path."""
    text = Path(find_profile("coherence-primeview-3i").source).read_text()
    text = text.replace('id = "coherence-primeview-3i"', 'id = "coherence-get"')
    text, n = re.subn(r'(name = "(Patient|Study) Root Query/Retrieve Information Model - GET"[^\n]*?scu = )false',
                      r"\1true", text)
    assert n == 2
    path = tmp_path / "coherence-get.toml"
    path.write_text(text)
    return path


def _keys_for(corpus: Corpus, model: str, level: str) -> dict[str, str]:
    """Unique keys above *level* that select study A (hierarchical queries)."""
    keys = {}
    upper = qr.LEVELS[model][: qr.LEVELS[model].index(level)]
    values = {"PATIENT": ("PatientID", "PID0001"), "STUDY": ("StudyInstanceUID", corpus.study_a),
              "SERIES": ("SeriesInstanceUID", corpus.series_a1)}
    for lvl in upper:
        kw, v = values[lvl]
        keys[kw] = v
    return keys


def _expected(model: str, level: str) -> int:
    """Matches for the keys of :func:`_keys_for`: both patients / studies at the top level,
    study A's 2 series, series A1's 3 images, patient A's 1 study under the Patient Root."""
    if level == "STUDY" and model != "STUDY":
        return 1
    return {"PATIENT": 2, "STUDY": 2, "SERIES": 2, "IMAGE": 3}[level]


def _find_cases():
    for pid in PROFILES:
        p = find_profile(pid)
        for model in qr._models_for(p, "FIND"):
            for level in qr.available_levels(p, model):
                yield pytest.param(pid, model, level, id=f"{pid}-{model}-{level}")


def _same_pixels(store: Store, corpus: Corpus, uids) -> None:
    for uid in uids:
        record = store.get(uid)
        assert record is not None, f"{uid} not in the store"
        assert dcmread(record.path).PixelData == dcmread(corpus.files[uid]).PixelData


# --- dcmqrscp -----------------------------------------------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize("pid,model,level", list(_find_cases()))
def test_find_at_every_level_of_every_model(dcmqrscp: QRSCP, corpus: Corpus, pid: str, model: str,
                                            level: str) -> None:
    p = find_profile(pid)
    keys = _keys_for(corpus, model, level)
    matches = qr.find(p, dcmqrscp.node, "VSCANNER", level, keys, model=model)
    assert len(matches) == _expected(model, level), [str(m) for m in matches]
    assert all(m.QueryRetrieveLevel == level for m in matches)
    unique = qr.UNIQUE_KEYS[level]
    assert all(m.get(unique) for m in matches)
    if _expected(model, level) == 2 and level in ("PATIENT", "STUDY"):
        names = sorted(str(m.PatientName) for m in matches)
        assert names == sorted([GERMAN, JAPANESE])  # decoded from ISO_IR 100 and ISO 2022 IR 87


@pytest.mark.interop
def test_find_with_matching_values(dcmqrscp: QRSCP, corpus: Corpus) -> None:
    p = find_profile("syngo-mi-petct-2011a")
    (m,) = qr.find(p, dcmqrscp.node, "VSCANNER", "STUDY", {"PatientID": "JP1"})
    assert m.StudyInstanceUID == corpus.study_b and str(m.PatientName) == JAPANESE
    (m,) = qr.find(p, dcmqrscp.node, "VSCANNER", "STUDY", {"PatientName": "Mü*"})
    assert m.StudyInstanceUID == corpus.study_a
    series = qr.find(p, dcmqrscp.node, "VSCANNER", "SERIES", {"StudyInstanceUID": corpus.study_a,
                                                               "SeriesNumber": "2"})
    assert [s.SeriesInstanceUID for s in series] == [corpus.series_a2]


@pytest.mark.interop
def test_relational_product_still_needs_a_peer_that_accepts_it(dcmqrscp: QRSCP) -> None:
    with pytest.raises(UsageError, match="did not accept relational"):  # dcmqrscp does not negotiate it
        qr.find(find_profile("syngo-mr-xa11b"), dcmqrscp.node, "VSCANNER", "SERIES")


@pytest.mark.interop
@pytest.mark.parametrize("pid,level", [("syngo-mr-xa11b", "STUDY"), ("syngo-ct-va50a", "SERIES"),
                                       ("oasis-velocity", "IMAGE"), ("coherence-primeview-3i", "PATIENT")])
def test_move_to_ourselves_lands_in_the_store(dcmqrscp: QRSCP, corpus: Corpus, dest_port: int, tmp_path: Path,
                                              pid: str, level: str) -> None:
    p = find_profile(pid)
    model = "PATIENT" if level == "PATIENT" else None
    keys = {"PATIENT": {"PatientID": "PID0001"},
            "STUDY": {"StudyInstanceUID": corpus.study_a},
            "SERIES": {"StudyInstanceUID": corpus.study_a, "SeriesInstanceUID": corpus.series_a1},
            "IMAGE": {"StudyInstanceUID": corpus.study_a, "SeriesInstanceUID": corpus.series_a1,
                      "SOPInstanceUID": corpus.by_series[corpus.series_a1][1]}}[level]
    expected = {"PATIENT": corpus.study_instances(corpus.study_a), "STUDY": corpus.study_instances(corpus.study_a),
                "SERIES": set(corpus.by_series[corpus.series_a1]),
                "IMAGE": {corpus.by_series[corpus.series_a1][1]}}[level]
    data = tmp_path / "vscanner-store"
    result = qr.move(p, dcmqrscp.node, "VSCANNER", level, keys, data=data, listen_port=dest_port, model=model)
    assert result.ok and result.completed == len(expected) and result.failed == 0
    assert set(result.instances) == expected
    with Store(data) as store:
        assert {r.sop_instance_uid for r in store.instances()} == expected
        _same_pixels(store, corpus, expected)
    # the in-process storage SCP is gone again
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", dest_port), timeout=1).close()


@pytest.mark.interop
def test_move_with_a_site_configuration_applies_the_calling_ae_policy(dcmqrscp: QRSCP, corpus: Corpus,
                                                                     dest_port: int, tmp_path: Path) -> None:
    from appliance.config import Local, SiteConfig

    mr = find_profile("syngo-mr-xa11b")  # accepts only configured calling AE titles
    assert mr.network.calling_ae_policy == "configured"
    site = SiteConfig(local=Local(), source="site.toml",
                      nodes={"printer": Node(ae_title="PRINTER", host="127.0.0.1", port=1, name="printer")})
    result = qr.move(mr, dcmqrscp.node, "VSCANNER", "STUDY", {"StudyInstanceUID": corpus.study_b},
                     data=tmp_path / "s", listen_port=dest_port, site=site)
    assert result.ok and set(result.instances) == corpus.study_instances(corpus.study_b)


@pytest.mark.interop
def test_move_to_a_running_vscanner_serve(tmp_path: Path, corpus: Corpus) -> None:
    serve = ServeProcess("syngo-ct-va50a", tmp_path / "serve-store", "VSCANNER", tmp_path / "serve.log")
    peer = None
    try:
        peer = QRSCP(tmp_path / "qr", corpus, serve.port)
        p = find_profile("syngo-ct-va50a")
        result = qr.move(p, peer.node, "VSCANNER", "STUDY", {"StudyInstanceUID": corpus.study_b},
                         data=tmp_path / "unused", listen_port=serve.port)
        assert result.ok and result.completed == 1 and "already runs" in result.note
        assert not (tmp_path / "unused").exists()
        with Store(tmp_path / "serve-store") as store:
            assert {r.sop_instance_uid for r in store.instances()} == corpus.study_instances(corpus.study_b)
            _same_pixels(store, corpus, corpus.study_instances(corpus.study_b))
    finally:
        if peer is not None:
            peer.stop()
        serve.stop()


@pytest.mark.interop
def test_move_to_an_unknown_destination_is_reported(dcmqrscp: QRSCP, corpus: Corpus, tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="failure status 0xA801") as exc:
        qr.move(find_profile("syngo-mr-xa11b"), dcmqrscp.node, "NOTKNOWN", "STUDY",
                {"StudyInstanceUID": corpus.study_a}, data=tmp_path / "s", listen_port=free_port())
    assert "move destination" in str(exc.value)


@pytest.mark.interop
def test_get_lands_in_the_store(dcmqrscp: QRSCP, corpus: Corpus, get_profile: Path, tmp_path: Path) -> None:
    p = find_profile(str(get_profile))
    data = tmp_path / "get-store"
    result = qr.get(p, dcmqrscp.node, "VSCANNER", "STUDY", {"StudyInstanceUID": corpus.study_b}, data=data)
    assert result.ok and set(result.instances) == corpus.study_instances(corpus.study_b)
    result = qr.get(p, dcmqrscp.node, "VSCANNER", "PATIENT", {"PatientID": "PID0001"}, data=data)
    assert set(result.instances) == corpus.study_instances(corpus.study_a)
    with Store(data) as store:
        assert len(store.instances()) == 5
        _same_pixels(store, corpus, corpus.files)


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("VSCANNER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=timeout, env=env)


@pytest.mark.interop
def test_cli_query_and_retrieve(dcmqrscp: QRSCP, corpus: Corpus, dest_port: int, get_profile: Path,
                                tmp_path: Path) -> None:
    common = ["--from", dcmqrscp.address, "--profile", "syngo-mi-petct-2011a", "--aet", "VSCANNER"]
    r = _cli("query", *common, "--level", "STUDY")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2 and JAPANESE in r.stdout and GERMAN in r.stdout
    assert f"StudyInstanceUID={corpus.study_a}" in r.stdout
    r = _cli("query", *common, "--level", "series", "-k", f"StudyInstanceUID={corpus.study_a}", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)) == 2
    r = _cli("query", *common, "--level", "SERIES")
    assert r.returncode == 2 and "StudyInstanceUID" in r.stderr

    data = tmp_path / "cli-store"
    r = _cli("retrieve", *common, "--level", "STUDY", "-k", f"StudyInstanceUID={corpus.study_a}",
             "--data", str(data), "--port", str(dest_port))
    assert r.returncode == 0, r.stderr
    assert "4 completed, 0 failed" in r.stdout
    with Store(data) as store:
        assert {x.sop_instance_uid for x in store.instances()} == corpus.study_instances(corpus.study_a)

    r = _cli("retrieve", *common, "--level", "STUDY", "-k", f"StudyInstanceUID={corpus.study_b}",
             "--method", "get", "--data", str(data))
    assert r.returncode == 2 and "does not do C-GET" in r.stderr
    r = _cli("retrieve", "--from", dcmqrscp.address, "--profile", str(get_profile), "--level", "STUDY",
             "-k", f"StudyInstanceUID={corpus.study_b}", "--method", "get", "--data", str(data))
    assert r.returncode == 0, r.stderr
    with Store(data) as store:
        assert len(store.instances()) == 5


# --- Orthanc ------------------------------------------------------------------------------------


@pytest.mark.interop
def test_orthanc_find_move_get(orthanc: OrthancPeer, corpus: Corpus, dest_port: int, get_profile: Path,
                               tmp_path: Path) -> None:
    p = find_profile(str(get_profile))  # COHERENCE + GET: Patient and Study Root, all levels
    node = orthanc.node
    patients = qr.find(p, node, "VSCANNER", "PATIENT")
    assert sorted(str(m.PatientName) for m in patients) == sorted([GERMAN, JAPANESE])  # UTF-8 answers
    studies = qr.find(p, node, "VSCANNER", "STUDY", {"PatientID": "JP1"})
    assert [s.StudyInstanceUID for s in studies] == [corpus.study_b]
    assert studies[0].SpecificCharacterSet == "ISO_IR 192" and str(studies[0].PatientName) == JAPANESE
    series = qr.find(p, node, "VSCANNER", "SERIES", {"StudyInstanceUID": corpus.study_a})
    assert {s.SeriesInstanceUID for s in series} == {corpus.series_a1, corpus.series_a2}
    images = qr.find(p, node, "VSCANNER", "IMAGE", {"StudyInstanceUID": corpus.study_a,
                                                    "SeriesInstanceUID": corpus.series_a1})
    assert {i.SOPInstanceUID for i in images} == set(corpus.by_series[corpus.series_a1])

    data = tmp_path / "orthanc-move"
    result = qr.move(p, node, "VSCANNER", "STUDY", {"StudyInstanceUID": corpus.study_a}, data=data,
                     listen_port=dest_port)
    assert result.ok and set(result.instances) == corpus.study_instances(corpus.study_a)
    with Store(data) as store:
        _same_pixels(store, corpus, corpus.study_instances(corpus.study_a))

    data = tmp_path / "orthanc-get"
    result = qr.get(p, node, "VSCANNER", "SERIES", {"StudyInstanceUID": corpus.study_b,
                                                    "SeriesInstanceUID": corpus.series_b}, data=data)
    assert result.ok and set(result.instances) == corpus.study_instances(corpus.study_b)
    with Store(data) as store:
        _same_pixels(store, corpus, corpus.study_instances(corpus.study_b))


@pytest.mark.interop
def test_orthanc_with_a_study_root_only_product(orthanc: OrthancPeer, corpus: Corpus, dest_port: int,
                                                tmp_path: Path) -> None:
    ct = find_profile("syngo-ct-va50a")  # Study Root only, STUDY and SERIES levels
    studies = qr.find(ct, orthanc.node, "VSCANNER", "STUDY", {"StudyDate": "20261101-20261231"})
    assert {s.StudyInstanceUID for s in studies} == {corpus.study_a, corpus.study_b}
    result = qr.move(ct, orthanc.node, "VSCANNER", "SERIES",
                     {"StudyInstanceUID": corpus.study_a, "SeriesInstanceUID": corpus.series_a2},
                     data=tmp_path / "s", listen_port=dest_port)
    assert result.ok and result.instances == corpus.by_series[corpus.series_a2]
