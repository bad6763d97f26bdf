"""`vscanner demo`: one whole exam per product against the embedded hospital.

Each run must end with exit code 0, the archive holding every acquired instance, each one
committed, the RIS's MPPS COMPLETED referencing exactly the instances sent, a film PNG in the
camera's tray and an ISO image in the burner's folder. The exam's state machine and its
honest failure paths ("not available", a missing node, discontinue) are checked too.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import Local, SiteConfig
from appliance.profile import find_profile
from appliance.store import Store
from appliance.workflow import Exam, ExamOptions, events, run_exam
from devices.hospital import Hospital

PROFILES = ["syngo-mr-xa11b", "syngo-mi-petct-2011a", "oasis-velocity", "coherence-primeview-3i", "syngo-ct-va50a"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hospital():
    """Factory: start an embedded hospital; every one is stopped at teardown."""
    started: list[Hospital] = []

    def start(profile: str, folder: Path | None = None, **kwargs) -> Hospital:  # type: ignore[no-untyped-def]
        h = Hospital(profile, folder, **kwargs)
        started.append(h)
        return h.start()

    yield start
    for h in started:
        h.stop()


@pytest.fixture(autouse=True)
def _restore_log_levels():
    """The CLI quietens loggers for its terminal output; give other tests their levels back."""
    import pydicom.config

    names = ["", "pynetdicom", "devices", "appliance", "openjpeg"]
    levels = {n: logging.getLogger(n).level for n in names}
    reading = pydicom.config.settings.reading_validation_mode
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)
    pydicom.config.settings.reading_validation_mode = reading


@pytest.mark.parametrize("pid", PROFILES)
def test_demo_completes(pid: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "demo.json"
    code = main(["demo", "--profile", pid, "--keep", str(tmp_path / "keep"), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every step succeeded" in out
    run = json.loads(report.read_text())["runs"][0]
    exam = run["exam"]
    assert exam["ok"] and exam["outcome"] == "completed"
    assert [s["status"] for s in exam["steps"]] == ["ok"] * 10, exam["steps"]
    acquired = set(exam["acquired"])
    assert acquired
    # the archive holds every acquired instance, each one committed (scanner's queue and archive's report)
    assert acquired <= set(run["pacs"]["instances"])
    assert set(exam["committed"]) == acquired and acquired <= set(run["pacs"]["committed"])
    # MPPS COMPLETED at the RIS, referencing exactly the instances sent
    step = run["ris"]["mpps"][exam["mpps_uid"]]
    assert step["status"] == "COMPLETED" and step["history"] == ["IN PROGRESS", "COMPLETED"]
    assert set(exam["sent"]) == acquired and sorted(step["referenced"]) == sorted(exam["sent"])
    # the film PNGs and the ISO exist
    films = [Path(f) for f in run["printer"]["films"]]
    assert films and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in films)
    (disc,) = [Path(d) for d in run["burner"]["discs"]]
    with open(disc, "rb") as fh:
        fh.seek(16 * 2048 + 1)
        assert fh.read(5) == b"CD001"  # an ISO 9660 primary volume descriptor
    # kept on disk after the hospital stopped: the archive's store
    with Store(Path(run["folder"]) / "pacs") as store:
        assert {r.sop_instance_uid for r in store.instances()} >= acquired


def test_demo_command_default_profile() -> None:
    proc = subprocess.run([sys.executable, "-m", "appliance", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "syngo-mr-xa11b" in proc.stdout and "every step succeeded" in proc.stdout
    table = proc.stdout[proc.stdout.index("step "):]
    for step in ("worklist", "mpps_start", "acquire", "send", "commit", "mpps_complete", "print", "burn"):
        assert any(line.startswith(step) and " ok " in line for line in table.splitlines()), step


def test_demo_unknown_profile_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--profile", "no-such-scanner"]) == 2
    assert "no profile named" in capsys.readouterr().err


def test_print_not_available_is_reported_not_faked(monkeypatch: pytest.MonkeyPatch, hospital) -> None:
    import devices.printer  # noqa: F401  (the camera itself runs; only the console's print module is missing)

    monkeypatch.setitem(sys.modules, "appliance.printing", None)
    result = run_exam(hospital("syngo-ct-va50a"))
    assert result.step("print").status == "not available"
    assert "not available" in result.step("print").message
    assert not result.ok and result.outcome == "completed_with_errors"
    assert result.step("burn").status == "ok"


def test_events_and_state_machine(hospital) -> None:
    seen: list[object] = []
    h = hospital("syngo-mr-xa11b", printer=False, burner=False)
    result = run_exam(h, on_event=seen.append, auto_print=False, discontinue=True)
    step = h.ris.steps[result.mpps_uid]
    iso = Path(result.iso)
    assert iso.is_file() and iso.parent.name == "media"  # no burner: an ISO file in the data folder
    assert step.status == "DISCONTINUED" and result.outcome == "discontinued" and result.state == "discontinued"
    states = [e.new for e in seen if isinstance(e, events.StateChanged)]
    assert states[:4] == ["worklist", "select", "mpps_start", "acquire"] and states[-1] == "discontinued"
    started = [e.step for e in seen if isinstance(e, events.StepStarted)]
    finished = {e.step: e.status for e in seen if isinstance(e, events.StepFinished)}
    assert started == ["worklist", "select", "mpps_start", "acquire", "store", "send", "commit", "mpps_complete",
                       "burn"]
    assert finished["print"] == "n/a" and finished["burn"] == "ok"  # auto-print off: the operator's choice
    assert any(isinstance(e, events.StepProgress) and e.step == "acquire" for e in seen)
    assert isinstance(seen[-1], events.ExamFinished)


def test_missing_worklist_node_fails_with_a_hint(tmp_path: Path) -> None:
    site = SiteConfig(local=Local(ae_title="MRC40251", data=str(tmp_path / "data")), nodes={})
    result = Exam(find_profile("syngo-mr-xa11b"), site, options=ExamOptions(max_wait=5)).run()
    wl = result.step("worklist")
    assert wl.status == "failed" and "role 'worklist'" in wl.message and "[nodes]" in wl.message
    assert {s.status for s in result.steps[1:]} == {"skipped"}
    assert result.outcome == "failed" and result.state == "failed" and not result.ok


def test_the_state_machine_only_moves_forward(tmp_path: Path) -> None:
    site = SiteConfig(local=Local(data=str(tmp_path)), nodes={})
    exam = Exam(find_profile("syngo-mr-xa11b"), site)
    exam._enter("acquire")
    with pytest.raises(RuntimeError):
        exam._enter("worklist")
    exam._enter("done")
    with pytest.raises(RuntimeError):
        exam._enter("burn")


def test_the_readme_python_api_example_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API"):]
    code = section[section.index("```python") + len("```python"):]
    code = code[:code.index("```")]
    assert "Hospital(" in code and "run_exam(" in code
    exec(compile(code, "README.md (Python API)", "exec"), {"print": lambda *a, **k: None})


def test_exam_against_a_configured_site(tmp_path: Path, capsys: pytest.CaptureFixture[str], hospital) -> None:
    """`vscanner --config site.toml exam`: the same exam against configured nodes (here the
    embedded hospital's, written as a site configuration); without a burner the CD image goes
    to the data folder."""
    h = hospital("syngo-mi-petct-2011a", tmp_path / "h")
    config = h.write_config(tmp_path / "site.toml")
    code = main(["--config", str(config), "exam", "--time-scale", "0.001", "--max-wait", "30"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(h.pacs.instances()) >= 1 and list(h.ris.steps.values())[0].status == "COMPLETED"
    assert list((tmp_path / "h" / "scanner" / "media").glob("*.iso"))
    assert main(["exam"]) == 2  # no site configuration: a usage error with a hint


def test_cancel_during_acquisition_discontinues_the_step(hospital) -> None:
    h = hospital("syngo-ct-va50a", printer=False, burner=False)
    holder: dict[str, Exam] = {}

    def on_event(e: object) -> None:
        if isinstance(e, events.StepStarted) and e.step == "acquire":
            holder["exam"].cancel()

    exam = Exam(h.profile, h.site, options=ExamOptions(time_scale=0.001, max_wait=20), on_event=on_event)
    holder["exam"] = exam
    result = exam.run()
    assert result.step("acquire").status == "failed" and "operator" in result.step("acquire").message
    assert result.step("send").status == "skipped" and result.step("mpps_complete").status == "ok"
    assert h.ris.steps[result.mpps_uid].status == "DISCONTINUED"
    assert result.outcome == "cancelled" and result.state == "cancelled" and not result.ok


@pytest.mark.interop
def test_japanese_patient_reaches_the_archive_intact_and_valid(hospital, tmp_path: Path) -> None:
    """OASIS: the RIS schedules in ISO 2022 IR 87; the images carry the same name and
    character set into the PACS, and dciodvfy finds no error in them."""
    from pydicom import dcmread

    from tests.peers import require, run

    dciodvfy = require("dciodvfy")
    h = hospital("oasis-velocity", tmp_path / "h")
    result = run_exam(h)
    assert result.ok, result.table()
    records = h.pacs.store.instances()
    assert records
    for rec in records[:3]:
        ds = dcmread(rec.path)
        assert "ISO 2022 IR 87" in list(ds.SpecificCharacterSet)
        assert "=" in str(ds.PatientName) and any(ord(c) > 0x3000 for c in str(ds.PatientName))
        out = run([dciodvfy, str(rec.path)])
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, errors
