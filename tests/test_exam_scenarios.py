"""`vscanner exam --scenario`: every example scenario's expected outcome holds; reports; errors.

- a PACS outage ends with every instance delivered after recovery;
- a FILM JAM gives the product's own message and stops the print queue where its statement
  says so (syngo MR XA11B: "Printer failure: FILM JAM", queue stopped; syngo CT: "Film jam.",
  the user must react but the queue goes on);
- disc full fails the burn cleanly (no image, no partial file) and loses nothing;
- MPPS refused and an association abort mid-send are survived.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.workflow.scenario import builtin_scenario_dir, find_scenario, load_scenario, run_scenario

EXAMPLES = sorted(p.stem for p in builtin_scenario_dir().glob("*.toml"))


@pytest.fixture(autouse=True)
def _restore_log_levels():
    import pydicom.config

    names = ["", "pynetdicom", "devices", "appliance", "openjpeg"]
    levels = {n: logging.getLogger(n).level for n in names}
    reading = pydicom.config.settings.reading_validation_mode
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)
    pydicom.config.settings.reading_validation_mode = reading


def _failures(run) -> str:  # type: ignore[no-untyped-def]
    lines = [f"{c.name}: expected {c.expected!r}, got {c.actual!r} ({c.detail})" for c in run.checks if not c.passed]
    table = run.result.table() if run.result is not None else ""
    return "\n".join(lines + [run.error, table])


def test_the_examples_are_there() -> None:
    assert {"smoke", "pacs-outage", "film-jam", "disc-full", "mpps-rejected", "abort-mid-send"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_scenario_outcome_holds(name: str) -> None:
    scenario = load_scenario(find_scenario(name))
    run = run_scenario(scenario, scenario.default_profiles[0])
    assert run.passed, _failures(run)
    assert all(f.applied_at is not None for f in run.faults)
    result = run.result
    assert result is not None
    if name == "pacs-outage":
        # the archive was really down when the send started, and everything arrived afterwards
        assert result.send_retries >= 1
        assert set(result.sent) == set(result.acquired) == set(result.committed)
    if name == "disc-full":
        assert "holds" in result.step("burn").message and not result.iso
    if name == "film-jam":
        pr = result.print_result
        assert pr.queue_stopped and "Printer failure: FILM JAM" in pr.messages  # syngo MR XA11B's catch-all


def test_film_jam_follows_each_products_statement() -> None:
    scenario = load_scenario(find_scenario("film-jam"))
    run = run_scenario(scenario, "syngo-ct-va50a")
    assert run.passed, _failures(run)
    pr = run.result.print_result
    assert "Film jam." in pr.messages and not pr.queue_stopped  # VA50A: "interact", the queue goes on


def test_cli_writes_json_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    j, x = tmp_path / "report.json", tmp_path / "report.xml"
    code = main(["exam", "--scenario", "disc-full", "--json", str(j), "--junit", str(x)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out and "[pass] nothing lost" in out
    report = json.loads(j.read_text())
    assert report["passed"] and report["runs"][0]["profile"] == "syngo-ct-va50a"
    assert report["runs"][0]["exam"]["steps"][-1]["status"] == "failed"
    assert report["runs"][0]["faults"][0]["kind"] == "disc_full"
    suite = ET.parse(x).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests")) >= 8
    assert suite.find("testcase").get("classname").startswith("vscanner.scenario.disc_full")


def test_a_failed_expectation_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "wrong.toml"
    f.write_text('name = "expects the impossible"\nprofile = "coherence-primeview-3i"\n'
                 '[exam]\nauto_print = false\nburn = false\n'
                 '[expect]\noutcome = "discontinued"\nsteps = { send = "failed" }\n')
    x = tmp_path / "r.xml"
    assert main(["exam", "--scenario", str(f), "--junit", str(x)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] outcome: expected 'discontinued', got 'completed'" in out
    failures = ET.parse(x).getroot().findall(".//failure")
    assert len(failures) == 2


def test_a_bad_scenario_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('name = "bad"\n[[faults]]\nkind = "meteor_strike"\nat = "lunch"\n'
                 '[expect]\nsteps = { scan = "ok" }\nwhatever = 1\n')
    assert main(["exam", "--scenario", str(f)]) == 2
    err = capsys.readouterr().err
    assert "faults[0].kind" in err and "meteor_strike" in err
    assert "expect.whatever" in err
    assert main(["exam", "--scenario", str(tmp_path / "missing.toml")]) == 2
